package admin_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
)

// Editing a token follows creation's rules: no grant the editor could not give, no change to a
// token holding more than the editor, an expiry within the account's maximum, nothing but a
// name and an expiry on a personal access token, and nothing on a token that no longer works.
func TestEditToken(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		pr := mustProject(t, w, "one")
		w.group("Project admins", latchkey.Grant{PermissionSet: "account_admin", ProjectID: pr.ID})
		pa := w.add("pa@acme.test", latchkey.LicenseDeveloper, "Project admins")
		octx, op := w.as(w.owner.ID)
		pctx, pp := w.as(pa)
		onProject := []latchkey.Grant{{PermissionSet: "job_admin", ProjectID: pr.ID}}
		everywhere := []latchkey.Grant{{PermissionSet: "job_admin", AllProjects: true}}
		narrow, _, err := w.svc.CreateServiceToken(pctx, pp, admin.NewToken{Name: "narrow", Grants: onProject})
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.EditToken(pctx, pp, admin.ServiceTokenRef(narrow.ID), admin.TokenEdit{Grants: &everywhere})
		wantCode(t, "an admin of one project widens a token to all projects", err, latchkey.EForbidden)
		wide, _, err := w.svc.CreateServiceToken(octx, op, admin.NewToken{Name: "wide", Grants: everywhere})
		if err != nil {
			t.Fatal(err)
		}
		name := "renamed"
		_, err = w.svc.EditToken(pctx, pp, admin.ServiceTokenRef(wide.ID), admin.TokenEdit{Name: &name})
		wantCode(t, "an admin of one project renames an all-projects token", err, latchkey.EForbidden)

		// A change that fails leaves everything as it was: the rename is rolled back with it.
		bad := []latchkey.Grant{{PermissionSet: "no_such_set", ProjectID: pr.ID}}
		_, err = w.svc.EditToken(pctx, pp, admin.ServiceTokenRef(narrow.ID), admin.TokenEdit{Name: &name, Grants: &bad})
		wantCode(t, "an unknown permission set", err, latchkey.EInvalid)
		if got, _ := s.FindTokenByID(octx, narrow.ID); got.Name != "narrow" {
			t.Errorf("a refused edit renamed the token to %q", got.Name)
		}

		// Allowed: name, narrower grants, addresses and an expiry, together.
		cidrs := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		in30 := time.Now().Add(30 * 24 * time.Hour)
		got, err := w.svc.EditToken(pctx, pp, admin.ServiceTokenRef(narrow.ID), admin.TokenEdit{Name: &name,
			Grants: &[]latchkey.Grant{{PermissionSet: "metadata_only", ProjectID: pr.ID}}, AllowedCIDRs: &cidrs, Expiry: &admin.Expiry{At: &in30}})
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != name || len(got.Grants) != 1 || got.Grants[0].PermissionSet != "metadata_only" || len(got.AllowedCIDRs) != 1 || got.ExpiresAt == nil {
			t.Errorf("after the edit: %+v", got)
		}
		// The same grants again change nothing: no permission change is audited.
		before := permissionChanges(t, s, w.account.ID)
		if _, err := w.svc.EditToken(pctx, pp, admin.ServiceTokenRef(narrow.ID), admin.TokenEdit{Name: &name,
			Grants: &[]latchkey.Grant{{PermissionSet: "metadata_only", ProjectID: pr.ID}}}); err != nil {
			t.Fatal(err)
		}
		if after := permissionChanges(t, s, w.account.ID); after != before {
			t.Errorf("an edit with unchanged grants audited %d permission changes", after-before)
		}
		tooMany := make([]netip.Prefix, admin.MaxAllowedCIDRs+1)
		_, err = w.svc.EditToken(pctx, pp, admin.ServiceTokenRef(narrow.ID), admin.TokenEdit{AllowedCIDRs: &tooMany})
		wantCode(t, "too many ranges", err, latchkey.EInvalid)

		// Expiry within the account's maximum; none only without one.
		past := time.Now().Add(-time.Hour)
		_, err = w.svc.EditToken(pctx, pp, admin.ServiceTokenRef(narrow.ID), admin.TokenEdit{Expiry: &admin.Expiry{At: &past}})
		wantCode(t, "an expiry in the past", err, latchkey.EInvalid)
		max := 90 * 24 * time.Hour
		if _, err := w.svc.UpdateSettings(octx, op, admin.SettingsUpdate{MaxTokenLifetime: &max}); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.EditToken(pctx, pp, admin.ServiceTokenRef(narrow.ID), admin.TokenEdit{Expiry: &admin.Expiry{}})
		wantCode(t, "no expiry under a maximum lifetime", err, latchkey.EInvalid)
		in365 := time.Now().Add(365 * 24 * time.Hour)
		_, err = w.svc.EditToken(pctx, pp, admin.ServiceTokenRef(narrow.ID), admin.TokenEdit{Expiry: &admin.Expiry{At: &in365}})
		wantCode(t, "an expiry beyond the maximum lifetime", err, latchkey.EInvalid)

		// A personal access token: its user, name and expiry only.
		pat, _, err := w.svc.CreatePAT(pctx, pp, pa, admin.NewToken{Name: "laptop"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.EditToken(pctx, pp, admin.PATRef(pa, pat.ID), admin.TokenEdit{AllowedCIDRs: &cidrs})
		wantCode(t, "addresses on a personal access token", err, latchkey.EInvalid)
		_, err = w.svc.EditToken(octx, op, admin.PATRef(pa, pat.ID), admin.TokenEdit{Name: &name})
		wantCode(t, "the owner renames another user's personal access token", err, latchkey.EForbidden)
		if _, err := w.svc.EditToken(pctx, pp, admin.PATRef(pa, pat.ID), admin.TokenEdit{Name: &name}); err != nil {
			t.Errorf("a user renames their own personal access token: %v", err)
		}

		// Nothing on a token that a rotation replaced or that was deleted.
		if _, _, _, err := w.svc.RotateToken(octx, op, admin.ServiceTokenRef(wide.ID), admin.Rotation{}); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.EditToken(octx, op, admin.ServiceTokenRef(wide.ID), admin.TokenEdit{Name: &name})
		wantCode(t, "editing a token a rotation replaced", err, latchkey.EInvalid)
		if _, err := w.svc.DeleteToken(pctx, pp, admin.ServiceTokenRef(narrow.ID)); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.EditToken(pctx, pp, admin.ServiceTokenRef(narrow.ID), admin.TokenEdit{Name: &name})
		wantCode(t, "editing a deleted token", err, latchkey.EInvalid)
	})
}

// permissionChanges counts the account's service_token.permissions_changed entries.
func permissionChanges(t *testing.T, s latchkey.Store, accountID int64) int {
	t.Helper()
	ev := "service_token.permissions_changed"
	_, n, err := s.FindAuditEntries(context.Background(), latchkey.AuditFilter{AccountID: accountID, EventType: &ev})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
