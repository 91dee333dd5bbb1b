package admin_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
)

func ptr[T any](v T) *T { return &v }

// Who may configure SSO: account_admin on all projects changes it, security_admin only reads it,
// and account_settings:write, which every Member holds, does neither.
func TestSSOConfigurationRights(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		w.svc.SecretKey = []byte("test secret key")
		w.group("Security", latchkey.Grant{PermissionSet: "security_admin", AllProjects: true})
		member := w.add("member@acme.test", latchkey.LicenseDeveloper, "Member")
		security := w.add("security@acme.test", latchkey.LicenseDeveloper, "Security")
		in := admin.SSOProviderInput{Issuer: ptr("https://idp.example"), ClientID: ptr("latchkey"), ClientSecret: ptr("s3cret")}

		ctx, p := w.as(member)
		_, err := w.svc.CreateSSOProvider(ctx, p, in)
		wantCode(t, "CreateSSOProvider as a Member", err, latchkey.EForbidden)
		_, err = w.svc.CreateLicenseMap(ctx, p, latchkey.LicenseDeveloper, []string{"eng"})
		wantCode(t, "CreateLicenseMap as a Member", err, latchkey.EForbidden)

		// A security admin reads the configuration but may not change it: the identity provider
		// can sign in as anyone in the account, its owners included.
		ctx, p = w.as(security)
		_, err = w.svc.CreateSSOProvider(ctx, p, in)
		wantCode(t, "CreateSSOProvider as a security admin", err, latchkey.EForbidden)
		_, err = w.svc.CreateLicenseMap(ctx, p, latchkey.LicenseDeveloper, []string{"eng"})
		wantCode(t, "CreateLicenseMap as a security admin", err, latchkey.EForbidden)
		if _, err := w.svc.SSOProviders(ctx, p); err != nil {
			t.Errorf("SSOProviders as a security admin: %v", err)
		}

		ctx, p = w.as(w.owner.ID)
		sp, err := w.svc.CreateSSOProvider(ctx, p, in)
		if err != nil {
			t.Fatalf("CreateSSOProvider as the owner: %v", err)
		}
		if sp.Slug != "acme" || !sp.AllowPasswordBackdoor || sp.GroupsClaim != "groups" {
			t.Errorf("CreateSSOProvider defaults = slug %q, backdoor %v, claim %q; want acme, true, groups", sp.Slug, sp.AllowPasswordBackdoor, sp.GroupsClaim)
		}
		if bytes.Contains(sp.ClientSecretSealed, []byte("s3cret")) {
			t.Errorf("client secret stored in plaintext")
		}
		if got, err := w.svc.SSOClientSecret(sp); err != nil || got != "s3cret" {
			t.Errorf("SSOClientSecret = %q, %v; want the secret back", got, err)
		}
		_, err = w.svc.UpdateSSOProvider(ctx, p, sp.ID, admin.SSOProviderInput{Issuer: ptr("http://idp.example")})
		wantCode(t, "UpdateSSOProvider(plain http issuer)", err, latchkey.EInvalid)
		_, err = w.svc.UpdateSSOProvider(ctx, p, sp.ID, admin.SSOProviderInput{Issuer: ptr("https://169.254.169.254/")})
		wantCode(t, "UpdateSSOProvider(metadata address issuer)", err, latchkey.EInvalid)
		_, err = w.svc.UpdateSSOProvider(ctx, p, sp.ID, admin.SSOProviderInput{Slug: ptr("-bad")})
		wantCode(t, "UpdateSSOProvider(bad slug)", err, latchkey.EInvalid)
		_, err = w.svc.CreateLicenseMap(ctx, p, "owner", []string{"eng"})
		wantCode(t, "CreateLicenseMap(unknown license)", err, latchkey.EInvalid)

		w.svc.SecretKey = nil
		_, err = w.svc.UpdateSSOProvider(ctx, p, sp.ID, admin.SSOProviderInput{ClientSecret: ptr("other")})
		wantCode(t, "UpdateSSOProvider(secret without a deployment key)", err, latchkey.EInvalid)
	})
}

// A just-in-time user joins the default groups, groups with sso_mapping_groups follow the IdP's
// groups, license maps set the license, and password sign-in is refused when the backdoor is
// off, except for the account's owners.
func TestSSOSignIn(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		w.group("Analysts", latchkey.Grant{PermissionSet: "analyst", AllProjects: true})
		ctx, p := w.as(w.owner.ID)
		if _, err := w.svc.UpdateGroup(ctx, p, w.groups["Analysts"].ID, admin.GroupChange{SSOMappingGroups: &[]string{"idp-analysts"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.CreateLicenseMap(ctx, p, latchkey.LicenseAnalyst, []string{"idp-analysts"}); err != nil {
			t.Fatal(err)
		}
		sp, err := w.svc.CreateSSOProvider(ctx, p, admin.SSOProviderInput{Issuer: ptr("http://127.0.0.1:1"), ClientID: ptr("latchkey")})
		if err != nil {
			t.Fatal(err)
		}

		_, _, err = w.svc.SSOSignIn(context.Background(), sp, latchkey.SSOIdentity{Email: "new@acme.test", EmailVerified: false}, time.Hour)
		wantCode(t, "SSOSignIn(unverified email)", err, latchkey.EUnauthorized)

		id := latchkey.SSOIdentity{Subject: "1", Email: "new@acme.test", EmailVerified: true, FirstName: "New", Groups: []string{"idp-analysts"}}
		sess, u, err := w.svc.SSOSignIn(context.Background(), sp, id, time.Hour)
		if err != nil {
			t.Fatalf("SSOSignIn: %v", err)
		}
		if sess.Session.AccountID != w.account.ID || sess.Session.SSOAccountID != w.account.ID || sess.Cookie == "" {
			t.Errorf("SSOSignIn session = %+v, want one in account %d, bound to it", sess.Session, w.account.ID)
		}
		// The session acts in the provider's account only, even for a user of other accounts.
		wantCode(t, "CheckSessionAccount(another account)", admin.CheckSessionAccount(sess.Session, w.account.ID+1), latchkey.EForbidden)
		if err := admin.CheckSessionAccount(sess.Session, w.account.ID); err != nil {
			t.Errorf("CheckSessionAccount(own account) = %v", err)
		}
		m := w.membership(u.ID)
		if m.License != latchkey.LicenseAnalyst {
			t.Errorf("JIT license = %s, want analyst (license map)", m.License)
		}
		want := []int64{w.groups["Analysts"].ID, w.groups["Everyone"].ID, w.groups["Member"].ID}
		slices.Sort(want)
		got := slices.Clone(m.GroupIDs)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("JIT groups = %v, want default groups and Analysts %v", got, want)
		}

		// Leaving the IdP group takes the user out of the mapped group; the license stays.
		id.Groups = nil
		if _, _, err := w.svc.SSOSignIn(context.Background(), sp, id, time.Hour); err != nil {
			t.Fatal(err)
		}
		if m := w.membership(u.ID); slices.Contains(m.GroupIDs, w.groups["Analysts"].ID) || m.License != latchkey.LicenseAnalyst {
			t.Errorf("after leaving idp-analysts: groups %v, license %s; want out of Analysts, analyst kept", m.GroupIDs, m.License)
		}

		// Backdoor off: a member's password is refused, the owner's (break-glass) is not.
		member := w.add("pw@acme.test", latchkey.LicenseDeveloper, "Member")
		ctx, p = w.as(w.owner.ID)
		if _, err := w.svc.SetPassword(context.Background(), "pw@acme.test", "another long passphrase"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.UpdateSSOProvider(ctx, p, sp.ID, admin.SSOProviderInput{AllowPasswordBackdoor: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		u2, err := w.svc.Authenticate(context.Background(), "pw@acme.test", "another long passphrase")
		wantCode(t, "Authenticate(member, backdoor off)", err, latchkey.EUnauthorized)
		if u2 == nil || u2.ID != member {
			t.Errorf("Authenticate(member, backdoor off) user = %v, want %d for failure accounting", u2, member)
		}
		if _, err := w.svc.Authenticate(context.Background(), "owner@acme.test", "correct horse battery staple"); err != nil {
			t.Errorf("Authenticate(owner, backdoor off) = %v, want the break-glass owner let in", err)
		}
		if err := w.svc.DeleteSSOProvider(ctx, p, sp.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Authenticate(context.Background(), "pw@acme.test", "another long passphrase"); err != nil {
			t.Errorf("Authenticate(member, provider deleted) = %v, want allowed", err)
		}
	})
}

// One account's single sign-on decides only for that account: it cannot refuse a person's
// password for another account, pull an existing user of another account in by email, or bring
// back someone an admin removed; a password session stops acting where password sign-in is off;
// a stored client secret is never sent to a new issuer without being entered again.
func TestSSOStaysInItsAccount(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		w.svc.SecretKey = []byte("test secret key")
		ctx, p := w.as(w.owner.ID)
		sp, err := w.svc.CreateSSOProvider(ctx, p, admin.SSOProviderInput{Issuer: ptr("https://idp.example"), ClientID: ptr("latchkey"),
			ClientSecret: ptr("s3cret"), AllowPasswordBackdoor: ptr(false)})
		if err != nil {
			t.Fatal(err)
		}
		// Vic belongs to account Beta (password) and, added by Acme's admin, to Acme (SSO only).
		beta, err := w.svc.CreateAccount(context.Background(), admin.Bootstrap{Account: "Beta", Plan: latchkey.PlanEnterprise,
			Email: "vic@beta.test", Password: "vic's own long passphrase"})
		if err != nil {
			t.Fatal(err)
		}
		vic := beta.User.ID
		if _, err := w.svc.AddMember(ctx, p, admin.NewMember{Email: "vic@beta.test", License: latchkey.LicenseDeveloper}); err != nil {
			t.Fatal(err)
		}
		u, err := w.svc.Authenticate(context.Background(), "vic@beta.test", "vic's own long passphrase")
		if err != nil {
			t.Fatalf("Acme's SSO refused Vic's password for Beta: %v", err)
		}
		sess, err := w.svc.StartSession(context.Background(), u, 0, time.Hour)
		if err != nil || sess.Session.AccountID != beta.Account.ID {
			t.Fatalf("Vic's password session = %+v, %v; want it in Beta", sess, err)
		}
		wantCode(t, "Vic's password session acting in Acme", w.svc.CheckPasswordSession(context.Background(), sess.Session, w.account.ID), latchkey.EUnauthorized)
		if err := w.svc.CheckPasswordSession(context.Background(), sess.Session, beta.Account.ID); err != nil {
			t.Errorf("Vic's password session acting in Beta: %v", err)
		}
		_, err = w.svc.StartSession(context.Background(), u, w.account.ID, time.Hour)
		wantCode(t, "a password session started in Acme", err, latchkey.EUnauthorized)

		// Beta's people cannot be pulled into Acme by Acme's IdP.
		id := latchkey.SSOIdentity{Subject: "x", Email: "other@beta.test", EmailVerified: true}
		if _, err := w.svc.CreateAccount(context.Background(), admin.Bootstrap{Account: "Gamma", Plan: latchkey.PlanEnterprise,
			Email: "other@beta.test", Password: "another long passphrase"}); err != nil {
			t.Fatal(err)
		}
		_, _, err = w.svc.SSOSignIn(context.Background(), sp, id, time.Hour)
		wantCode(t, "Acme's IdP signing in a user of another account", err, latchkey.EForbidden)
		// Vic is a member of Acme: the IdP signs them in there. Removed, they stay out.
		if _, _, err := w.svc.SSOSignIn(context.Background(), sp, latchkey.SSOIdentity{Subject: "v", Email: "vic@beta.test", EmailVerified: true}, time.Hour); err != nil {
			t.Errorf("SSO sign-in of a member: %v", err)
		}
		deleted := latchkey.StateDeleted
		if _, err := w.svc.UpdateMembership(ctx, p, w.membership(vic).ID, latchkey.MembershipUpdate{State: &deleted}); err != nil {
			t.Fatal(err)
		}
		_, _, err = w.svc.SSOSignIn(context.Background(), sp, latchkey.SSOIdentity{Subject: "v", Email: "vic@beta.test", EmailVerified: true}, time.Hour)
		wantCode(t, "SSO sign-in of a member an admin removed", err, latchkey.EForbidden)

		// A new issuer needs the secret again.
		_, err = w.svc.UpdateSSOProvider(ctx, p, sp.ID, admin.SSOProviderInput{Issuer: ptr("https://other-idp.example")})
		wantCode(t, "a new issuer keeping the old secret", err, latchkey.EInvalid)
		if _, err := w.svc.UpdateSSOProvider(ctx, p, sp.ID, admin.SSOProviderInput{Issuer: ptr("https://other-idp.example"), ClientSecret: ptr("new")}); err != nil {
			t.Errorf("a new issuer with its secret: %v", err)
		}
	})
}
