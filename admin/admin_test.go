package admin_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/postgres"
	"github.com/latchkey/latchkey/postgres/pgtest"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
)

// The admin layer's rules on both stores. The HTTP-level regression tests are in
// server/regression_test.go; the seeded simulation is in sim_test.go.

// eachStore runs fn on a fresh SQLite file and a fresh PostgreSQL schema.
func eachStore(t *testing.T, fn func(t *testing.T, s latchkey.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "latchkey.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		pgtest.Admin(t)
		s, err := postgres.Open(context.Background(), pgtest.Schema(t, "pool_max_conns", "4"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
}

// world is an account with its owner and helpers to add people.
type world struct {
	t       *testing.T
	s       latchkey.Store
	svc     *admin.Service
	account *latchkey.Account
	owner   *latchkey.User
	groups  map[string]*latchkey.Group
}

func newWorld(t *testing.T, s latchkey.Store) *world {
	t.Helper()
	svc := admin.New(s, tokenfmt.Default)
	res, err := svc.CreateAccount(context.Background(), admin.Bootstrap{Account: "Acme", Plan: latchkey.PlanEnterprise,
		Email: "owner@acme.test", Password: "correct horse battery staple"})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, s: s, svc: svc, account: res.Account, owner: res.User, groups: map[string]*latchkey.Group{}}
	groups, _, err := s.FindGroups(context.Background(), latchkey.GroupFilter{AccountID: res.Account.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		w.groups[g.Name] = g
	}
	return w
}

// as returns the principal userID acts as now, and a context carrying it as the actor.
func (w *world) as(userID int64) (context.Context, *latchkey.Principal) {
	w.t.Helper()
	p, err := w.svc.UserPrincipal(context.Background(), userID, w.account.ID, latchkey.AuthPAT)
	if err != nil {
		w.t.Fatalf("UserPrincipal(%d): %v", userID, err)
	}
	return latchkey.WithActor(context.Background(), latchkey.ActorOf(p, "127.0.0.1", "api")), p
}

// add adds a member, as the owner, and returns their user id.
func (w *world) add(email string, l latchkey.License, groups ...string) int64 {
	w.t.Helper()
	ids := []int64{}
	for _, g := range groups {
		ids = append(ids, w.groups[g].ID)
	}
	ctx, p := w.as(w.owner.ID)
	u, err := w.svc.AddMember(ctx, p, admin.NewMember{Email: email, License: l, GroupIDs: ids})
	if err != nil {
		w.t.Fatalf("AddMember(%s): %v", email, err)
	}
	return u.ID
}

func (w *world) group(name string, grants ...latchkey.Grant) {
	w.t.Helper()
	ctx, p := w.as(w.owner.ID)
	g, err := w.svc.CreateGroup(ctx, p, admin.NewGroup{Name: name, Grants: grants})
	if err != nil {
		w.t.Fatalf("CreateGroup(%s): %v", name, err)
	}
	w.groups[name] = g
}

func (w *world) membership(userID int64) *latchkey.Membership {
	w.t.Helper()
	ms, err := w.s.FindMemberships(context.Background(), latchkey.MembershipFilter{AccountID: &w.account.ID, UserID: &userID})
	if err != nil || len(ms) != 1 {
		w.t.Fatalf("membership of %d: %v %v", userID, ms, err)
	}
	return ms[0]
}

func (w *world) owners() []int64 {
	w.t.Helper()
	ids, err := w.s.FindAccountAdmins(context.Background(), w.account.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	return ids
}

func wantCode(t *testing.T, what string, err error, code latchkey.ErrorCode) {
	t.Helper()
	if got := latchkey.ErrorCodeOf(err); got != code {
		t.Errorf("%s = %v (code %q), want %q", what, err, got, code)
	}
}

var allProjects = latchkey.Grant{PermissionSet: "account_admin", AllProjects: true}

// The account keeps an owner whatever path would remove the last one.
func TestOwnerInvariant(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		w.group("Admins too", allProjects)
		owner := w.owner.ID
		ctx, p := w.as(owner)
		m := w.membership(owner)
		readOnly := latchkey.LicenseReadOnly
		deleted := latchkey.StateDeleted

		_, err := w.svc.SetUserGroups(ctx, p, owner, []int64{w.groups[latchkey.GroupMember].ID})
		wantCode(t, "the last owner leaves Owner", err, latchkey.EConflict)
		if err != nil && !strings.Contains(latchkey.ErrorMessage(err), "account_admin") {
			t.Errorf("refusal %q does not name the rule", latchkey.ErrorMessage(err))
		}
		_, _, err = w.svc.SetGroupMembers(ctx, p, w.groups[latchkey.GroupOwner].ID, map[int64]bool{owner: false})
		wantCode(t, "the last owner unticks themself", err, latchkey.EConflict)

		// A second owner, through another group; then the first may go, and the second may not.
		second := w.add("second@acme.test", latchkey.LicenseDeveloper, "Admins too")
		if _, err := w.svc.SetUserGroups(ctx, p, owner, []int64{w.groups[latchkey.GroupMember].ID}); err != nil {
			t.Fatalf("an owner leaves Owner while another remains: %v", err)
		}
		ctx2, p2 := w.as(second)
		_, err = w.svc.UpdateGroup(ctx2, p2, w.groups["Admins too"].ID, admin.GroupChange{State: &deleted})
		wantCode(t, "deleting the group of the last owner", err, latchkey.EConflict)
		_, err = w.svc.UpdateGroup(ctx2, p2, w.groups["Admins too"].ID, admin.GroupChange{Grants: &[]latchkey.Grant{}})
		wantCode(t, "emptying the grants of the last owner's group", err, latchkey.EConflict)
		_, err = w.svc.UpdateGroup(ctx2, p2, w.groups["Admins too"].ID, admin.GroupChange{
			Grants: &[]latchkey.Grant{{PermissionSet: "account_admin", ProjectID: mustProject(t, w, "p").ID}}})
		wantCode(t, "narrowing the last owner's account_admin to one project", err, latchkey.EConflict)
		// The first owner comes back through Owner, then cannot demote or remove the second if
		// that leaves nobody: they can, since they are an owner again.
		if _, err := w.svc.SetUserGroups(ctx2, p2, owner, []int64{w.groups[latchkey.GroupOwner].ID}); err != nil {
			t.Fatal(err)
		}
		ctx, p = w.as(owner)
		if _, err := w.svc.UpdateMembership(ctx, p, w.membership(second).ID, latchkey.MembershipUpdate{License: &readOnly}); err != nil {
			t.Fatalf("demoting one of two owners: %v", err)
		}
		ctx2, p2 = w.as(second)
		_, err = w.svc.UpdateMembership(ctx2, p2, m.ID, latchkey.MembershipUpdate{State: &deleted})
		wantCode(t, "a read-only member removes the last owner", err, latchkey.EForbidden)
		if got := w.owners(); !slices.Equal(got, []int64{owner}) {
			t.Errorf("owners = %v, want [%d]", got, owner)
		}
	})
}

func mustProject(t *testing.T, w *world, name string) *latchkey.Project {
	t.Helper()
	ctx, p := w.as(w.owner.ID)
	pr, err := w.svc.CreateProject(ctx, p, admin.NewProject{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// Nobody changes a user, or a service token, holding access they do not hold.
func TestNoActingAboveOwnAccess(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		w.group("Security", latchkey.Grant{PermissionSet: "security_admin", AllProjects: true})
		sam := w.add("sam@acme.test", latchkey.LicenseDeveloper, "Security")
		dev := w.add("dev@acme.test", latchkey.LicenseDeveloper)
		ctx, p := w.as(sam)
		readOnly, analyst := latchkey.LicenseReadOnly, latchkey.LicenseAnalyst
		_, err := w.svc.UpdateMembership(ctx, p, w.membership(w.owner.ID).ID, latchkey.MembershipUpdate{License: &analyst})
		wantCode(t, "security admin changes an account admin's license", err, latchkey.EForbidden)
		_, err = w.svc.SetUserGroups(ctx, p, w.owner.ID, []int64{})
		wantCode(t, "security admin ungroups an account admin", err, latchkey.EForbidden)
		_, err = w.svc.UpdateMembership(ctx, p, w.membership(dev).ID, latchkey.MembershipUpdate{License: &readOnly})
		wantCode(t, "security admin hands out read_only (stakeholder everywhere)", err, latchkey.EForbidden)
		if _, err := w.svc.UpdateMembership(ctx, p, w.membership(dev).ID, latchkey.MembershipUpdate{License: &analyst}); err != nil {
			t.Errorf("security admin changes a plain member's license: %v", err)
		}
		// Service tokens: an admin of one project manages service tokens (account-level access
		// comes with any grant) but cannot change a token that holds more than they do.
		pr := mustProject(t, w, "one")
		w.group("Project admins", latchkey.Grant{PermissionSet: "account_admin", ProjectID: pr.ID})
		pa := w.add("pa@acme.test", latchkey.LicenseDeveloper, "Project admins")
		octx, op := w.as(w.owner.ID)
		wide, _, err := w.svc.CreateServiceToken(octx, op, admin.NewToken{Name: "wide", Grants: []latchkey.Grant{{PermissionSet: "job_admin", AllProjects: true}}})
		if err != nil {
			t.Fatal(err)
		}
		pctx, pp := w.as(pa)
		_, err = w.svc.DeleteToken(pctx, pp, admin.ServiceTokenRef(wide.ID))
		wantCode(t, "an admin of one project deletes an all-projects token", err, latchkey.EForbidden)
		_, _, _, err = w.svc.RotateToken(pctx, pp, admin.ServiceTokenRef(wide.ID), admin.Rotation{})
		wantCode(t, "an admin of one project rotates an all-projects token", err, latchkey.EForbidden)
		narrow, _, err := w.svc.CreateServiceToken(pctx, pp, admin.NewToken{Name: "narrow", Grants: []latchkey.Grant{{PermissionSet: "job_admin", ProjectID: pr.ID}}})
		if err != nil {
			t.Fatalf("an admin of one project creates a token on it: %v", err)
		}
		if _, err := w.svc.DeleteToken(pctx, pp, admin.ServiceTokenRef(narrow.ID)); err != nil {
			t.Errorf("an admin of one project deletes a token on it: %v", err)
		}
		// Mapping a group to SSO groups hands its grants to whoever the identity provider names.
		w.group("Everywhere jobs", latchkey.Grant{PermissionSet: "job_admin", AllProjects: true})
		sso := []string{"okta-everyone"}
		_, err = w.svc.UpdateGroup(pctx, pp, w.groups["Everywhere jobs"].ID, admin.GroupChange{SSOMappingGroups: &sso})
		wantCode(t, "an admin of one project maps an all-projects group to SSO", err, latchkey.EForbidden)
		_, err = w.svc.CreateGroup(pctx, pp, admin.NewGroup{Name: "mapped", SSOMappingGroups: sso,
			Grants: []latchkey.Grant{{PermissionSet: "job_admin", ProjectID: pr.ID}}})
		if err != nil {
			t.Errorf("an admin of one project creates an SSO-mapped group on it: %v", err)
		}
	})
}

// Names are checked the same everywhere: on PostgreSQL a NUL used to be a 500.
func TestNames(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		ctx, p := w.as(w.owner.ID)
		for _, name := range []string{"a\x00b", "a\nb", "a\u202Eb", strings.Repeat("ж", 256), " "} {
			_, err := w.svc.CreateProject(ctx, p, admin.NewProject{Name: name})
			wantCode(t, "CreateProject("+name+")", err, latchkey.EInvalid)
			_, err = w.svc.CreateGroup(ctx, p, admin.NewGroup{Name: name})
			wantCode(t, "CreateGroup("+name+")", err, latchkey.EInvalid)
			_, _, err = w.svc.CreateServiceToken(ctx, p, admin.NewToken{Name: name})
			wantCode(t, "CreateServiceToken("+name+")", err, latchkey.EInvalid)
			_, err = w.svc.RenameAccount(ctx, p, name)
			wantCode(t, "RenameAccount("+name+")", err, latchkey.EInvalid)
		}
		if _, err := w.svc.CreateProject(ctx, p, admin.NewProject{Name: strings.Repeat("😀", 255)}); err != nil {
			t.Errorf("255 emoji: %v", err)
		}
		mustProject(t, w, "dup")
		_, err := w.svc.CreateProject(ctx, p, admin.NewProject{Name: "dup"})
		wantCode(t, "a second active project named dup", err, latchkey.EConflict)
	})
}

// The token security policy needs account_admin or security_admin; a dry run commits nothing;
// rotations default to the account's grace.
func TestPolicyDryRunAndDefaultGrace(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		member := w.add("mo@acme.test", latchkey.LicenseDeveloper, latchkey.GroupMember) // account_settings:write
		mctx, mp := w.as(member)
		flag := "flag"
		_, err := w.svc.UpdateSettings(mctx, mp, admin.SettingsUpdate{LeakAction: &flag})
		wantCode(t, "a member changes the leak action", err, latchkey.EForbidden)
		if _, err := w.svc.RenameAccount(mctx, mp, "Acme Corp"); err != nil {
			t.Errorf("a member renames the account (account_settings:write): %v", err)
		}

		ctx, p := w.as(w.owner.ID)
		deleted := latchkey.StateDeleted
		if _, err := w.svc.UpdateGroup(admin.DryRun(ctx), p, w.groups[latchkey.GroupOwner].ID, admin.GroupChange{State: &deleted}); latchkey.ErrorCodeOf(err) != latchkey.EInvalid {
			t.Errorf("dry run of deleting Owner = %v, want the refusal", err)
		}
		w.group("Temp")
		if _, err := w.svc.UpdateGroup(admin.DryRun(ctx), p, w.groups["Temp"].ID, admin.GroupChange{State: &deleted}); err != nil {
			t.Errorf("dry run of deleting Temp = %v", err)
		}
		if got, _ := s.FindGroupByID(ctx, w.groups["Temp"].ID); got.State != latchkey.StateActive {
			t.Errorf("a dry run deleted group Temp")
		}

		grace := 90 * time.Second
		if _, err := w.svc.UpdateSettings(ctx, p, admin.SettingsUpdate{DefaultRotationGrace: &grace}); err != nil {
			t.Fatal(err)
		}
		tok, _, err := w.svc.CreateServiceToken(ctx, p, admin.NewToken{Name: "ci", Grants: []latchkey.Grant{{PermissionSet: "job_admin", AllProjects: true}}})
		if err != nil {
			t.Fatal(err)
		}
		_, _, applied, err := w.svc.RotateToken(ctx, p, admin.ServiceTokenRef(tok.ID), admin.Rotation{})
		if err != nil || applied != grace {
			t.Errorf("rotation without a grace period applied %v (%v), want the account default %v", applied, err, grace)
		}
		old, _ := s.FindTokenByID(ctx, tok.ID)
		if old.State != latchkey.StateActive || old.GraceUntil == nil || old.GraceUntil.Sub(*old.RotatedAt) != grace {
			t.Errorf("old token after a default rotation: state %d, grace until %v", old.State, old.GraceUntil)
		}
	})
}
