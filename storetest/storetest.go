// Package storetest is the behavioural suite every latchkey.Store implementation must pass. Each
// implementation's tests call Run with a function that opens a fresh, empty, migrated store.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey"
)

// Opener returns a fresh empty store; the suite closes it.
type Opener func(t testing.TB) latchkey.Store

// Run runs the suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, latchkey.Store)
	}{
		{"AccountWithBuiltinGroups", testAccount},
		{"Projects", testProjects},
		{"ProjectRefsAndNameFilters", testProjectRefsAndNameFilters},
		{"GroupSSOMappingGroups", testGroupSSOMapping},
		{"Users", testUsers},
		{"Memberships", testMemberships},
		{"Groups", testGroups},
		{"Tokens", testTokens},
		{"TokenGrants", testTokenGrants},
		{"CreateTokensAllOrNothing", testCreateTokens},
		{"RotateToken", testRotate},
		{"RecordTokenUses", testTokenUses},
		{"RemovingMemberRevokesPATs", testMemberRemovalRevokesPATs},
		{"AuditChain", testAuditChain},
		{"AuditRollsBackWithMutation", testAuditRollback},
		{"IPRules", testIPRules},
		{"SSOProviders", testSSOProviders},
		{"LicenseMaps", testLicenseMaps},
		{"Sessions", testSessions},
		{"ChangesAfterCommit", testChanges},
		{"ConcurrentWrites", testConcurrentWrites},
		{"InTxCommitsTogether", testInTx},
		{"AccountAdmins", testAccountAdmins},
		{"RevocationRecorded", testRevocationRecorded},
		{"TokenIdempotencyKey", testIdempotencyKey},
		{"EditTokenAddressesAndExpiry", testEditToken},
		{"RateLimits", testRateLimits},
		{"SyncRateCounts", testSyncRateCounts},
		{"Credits", testCredits},
		{"Usage", testUsage},
		{"SigningKeys", testSigningKeys},
		{"TrustPolicies", testTrustPolicies},
		{"EndedTokensByHowAndName", testEndedTokens},
		{"WebhookSubscriptions", testWebhookSubscriptions},
		{"ConsumeEvents", testConsumeEvents},
		{"WebhookDeliveries", testWebhookDeliveries},
		{"WebhookLeaseExpiry", testWebhookLeaseExpiry},
		{"WebhookFailingSinceInBatch", testWebhookFailingSinceInBatch},
		{"WebhookFailingSinceIgnoresTests", testWebhookFailingSinceIgnoresTests},
		{"WebhookRelease", testWebhookRelease},
		{"EventCursorMoves", testEventCursorMoves},
		{"NoticeSettings", testNoticeSettings},
		{"EmailNotices", testEmailNotices},
		{"EmailNoticesInConsumer", testEmailNoticesInConsumer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

func ctxAs(name string) context.Context {
	return latchkey.WithActor(context.Background(), latchkey.Actor{Type: "user", ID: 1, Name: name, IP: "127.0.0.1", Source: "api"})
}

func mustAccount(t testing.TB, s latchkey.Store, plan latchkey.Plan) *latchkey.Account {
	t.Helper()
	a := &latchkey.Account{Name: "Acme " + string(plan), Plan: plan, Settings: latchkey.DefaultAccountSettings()}
	if err := s.CreateAccount(ctxAs("test"), a); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	return a
}

func mustProject(t testing.TB, s latchkey.Store, accountID int64, name string) *latchkey.Project {
	t.Helper()
	p := &latchkey.Project{AccountID: accountID, Name: name}
	if err := s.CreateProject(ctxAs("test"), p); err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	return p
}

func mustUser(t testing.TB, s latchkey.Store, email string) *latchkey.User {
	t.Helper()
	u := &latchkey.User{Email: email, FirstName: "Ada", PasswordHash: "$argon2id$x"}
	if err := s.CreateUser(ctxAs("test"), u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

var tokenSeq atomic.Int64

var prefixCmp = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

func newToken(accountID int64, kind latchkey.TokenKind, grants ...latchkey.Grant) *latchkey.Token {
	n := tokenSeq.Add(1)
	h := sha256.Sum256(fmt.Appendf(nil, "token-%d-%d", time.Now().UnixNano(), n))
	return &latchkey.Token{AccountID: accountID, Kind: kind, UID: fmt.Sprintf("u%07d", n%10000000), Name: fmt.Sprintf("token %d", n),
		Hash: h[:], Grants: grants, CreatedBy: "user:1"}
}

func wantCode(t testing.TB, what string, err error, code latchkey.ErrorCode) {
	t.Helper()
	if got := latchkey.ErrorCodeOf(err); got != code {
		t.Fatalf("%s error = %v (code %q), want code %q", what, err, got, code)
	}
}

// grantShape drops ids and times so grants compare by meaning.
func grantShape(gs []latchkey.Grant) []latchkey.Grant {
	out := make([]latchkey.Grant, len(gs))
	for i, g := range gs {
		out[i] = latchkey.Grant{PermissionSet: g.PermissionSet, AllProjects: g.AllProjects, ProjectID: g.ProjectID, WritableEnvs: g.WritableEnvs}
	}
	return out
}

func testAccount(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	if a.ID == 0 || a.State != latchkey.StateActive || a.CreatedAt.IsZero() {
		t.Fatalf("CreateAccount left %+v", a)
	}
	got, err := s.FindAccountByID(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("FindAccountByID mismatch (-created +found):\n%s", diff)
	}
	if !got.Settings.ReuseRevokesFamily || got.Settings.LeakAction != "revoke" {
		t.Errorf("default settings = %+v", got.Settings)
	}
	_, err = s.FindAccountByID(ctx, a.ID+1000)
	wantCode(t, "FindAccountByID(missing)", err, latchkey.ENotFound)

	groups, total, err := s.FindGroups(ctx, latchkey.GroupFilter{AccountID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	if total != 3 {
		t.Fatalf("new account has %d groups, want 3", total)
	}
	byName := map[string]*latchkey.Group{}
	for _, g := range groups {
		byName[g.Name] = g
	}
	owner, member, everyone := byName[latchkey.GroupOwner], byName[latchkey.GroupMember], byName[latchkey.GroupEveryone]
	if owner == nil || member == nil || everyone == nil {
		t.Fatalf("groups = %v, want Owner, Member, Everyone", groups)
	}
	if diff := cmp.Diff([]latchkey.Grant{{PermissionSet: "account_admin", AllProjects: true}}, grantShape(owner.Grants)); diff != "" {
		t.Errorf("Owner grants (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]latchkey.Grant{{PermissionSet: "member", AllProjects: true}}, grantShape(member.Grants)); diff != "" {
		t.Errorf("Member grants (-want +got):\n%s", diff)
	}
	if len(everyone.Grants) != 0 || !owner.Immutable() || owner.AssignByDefault || !member.AssignByDefault || !everyone.AssignByDefault {
		t.Errorf("builtin group flags wrong: owner=%+v member=%+v everyone=%+v", owner, member, everyone)
	}

	name, plan := "Renamed", latchkey.PlanTeam
	settings := got.Settings
	settings.MaxTokenLifetime = 90 * 24 * time.Hour
	upd, err := s.UpdateAccount(ctxAs("admin"), a.ID, latchkey.AccountUpdate{Name: &name, Plan: &plan, Settings: &settings})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Name != name || upd.Plan != plan || upd.Settings.MaxTokenLifetime != settings.MaxTokenLifetime {
		t.Errorf("UpdateAccount = %+v", upd)
	}
	b := mustAccount(t, s, latchkey.PlanStarter)
	list, total, err := s.FindAccounts(ctx, latchkey.AccountFilter{Limit: 1, Offset: 1})
	if err != nil {
		t.Fatal(err)
	}
	if total != 2 || len(list) != 1 || list[0].ID != b.ID {
		t.Errorf("FindAccounts(limit 1, offset 1) = %d items, total %d", len(list), total)
	}
}

func testProjects(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	other := mustAccount(t, s, latchkey.PlanEnterprise)
	p1 := mustProject(t, s, a.ID, "analytics")
	p2 := mustProject(t, s, a.ID, "marketing")
	mustProject(t, s, other.ID, "elsewhere")
	list, total, err := s.FindProjects(ctx, latchkey.ProjectFilter{AccountID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	if total != 2 || len(list) != 2 || list[0].ID != p1.ID || list[1].ID != p2.ID {
		t.Fatalf("FindProjects = %v (total %d), want p1, p2", list, total)
	}
	desc := "all the numbers"
	if _, err := s.UpdateProject(ctx, p1.ID, latchkey.ProjectUpdate{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProject(ctx, p2.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindProjectByID(ctx, p2.ID)
	if err != nil {
		t.Fatalf("FindProjectByID(deleted) = %v; deleted objects still read by id", err)
	}
	if got.State != latchkey.StateDeleted {
		t.Errorf("deleted project state = %d, want 2", got.State)
	}
	active := latchkey.StateActive
	list, total, err = s.FindProjects(ctx, latchkey.ProjectFilter{AccountID: a.ID, State: &active})
	if err != nil {
		t.Fatal(err)
	}
	if total != 1 || list[0].Description != desc {
		t.Errorf("active projects = %v, want only p1 with description", list)
	}
	list, _, err = s.FindProjects(ctx, latchkey.ProjectFilter{AccountID: a.ID, IDs: []int64{}})
	if err != nil || len(list) != 0 {
		t.Errorf("FindProjects(IDs: empty) = %v, %v; want none", list, err)
	}
	list, _, err = s.FindProjects(ctx, latchkey.ProjectFilter{AccountID: a.ID, IDs: []int64{p2.ID}})
	if err != nil || len(list) != 1 || list[0].ID != p2.ID {
		t.Errorf("FindProjects(IDs: p2) = %v, %v", list, err)
	}
}

func testProjectRefsAndNameFilters(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("test")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	sub, conn := "models/core", int64(41)
	p := &latchkey.Project{AccountID: a.ID, Name: "Analytics 50%", Refs: latchkey.ProjectRefs{Subdirectory: &sub, Type: 1, ConnectionID: &conn}}
	if err := s.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindProjectByID(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p.Refs, got.Refs); diff != "" {
		t.Errorf("refs read back differ (-stored +read):\n%s", diff)
	}
	// A patch changes only the fields it names; a field set to nil becomes null.
	repo := int64(7)
	repoRef, nilSub := &repo, (*string)(nil)
	if _, err := s.UpdateProject(ctx, p.ID, latchkey.ProjectUpdate{Refs: latchkey.ProjectRefsPatch{RepositoryID: &repoRef, Subdirectory: &nilSub}}); err != nil {
		t.Fatal(err)
	}
	got, err = s.FindProjectByID(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := latchkey.ProjectRefs{Type: 1, ConnectionID: &conn, RepositoryID: &repo}
	if diff := cmp.Diff(want, got.Refs); diff != "" {
		t.Errorf("refs after patch differ (-want +got):\n%s", diff)
	}

	mustProject(t, s, a.ID, "analytics_raw")
	mustProject(t, s, a.ID, "Marketing")
	names := func(f latchkey.ProjectFilter) []string {
		t.Helper()
		f.AccountID = a.ID
		list, total, err := s.FindProjects(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range list {
			out = append(out, p.Name)
		}
		if f.Limit == 0 && total != len(out) {
			t.Errorf("total %d for %d projects", total, len(out))
		}
		return out
	}
	for _, tc := range []struct {
		f    latchkey.ProjectFilter
		want []string
	}{
		{latchkey.ProjectFilter{Name: ptr("Marketing")}, []string{"Marketing"}},
		{latchkey.ProjectFilter{Name: ptr("marketing")}, nil},
		{latchkey.ProjectFilter{NameContains: ptr("ANALYTICS")}, []string{"Analytics 50%", "analytics_raw"}},
		// LIKE's pattern characters match only themselves.
		{latchkey.ProjectFilter{NameContains: ptr("%")}, []string{"Analytics 50%"}},
		{latchkey.ProjectFilter{NameContains: ptr("s_r")}, []string{"analytics_raw"}},
		{latchkey.ProjectFilter{NameContains: ptr("nothing")}, nil},
		// Names sort by their bytes on every database: upper case first.
		{latchkey.ProjectFilter{Order: latchkey.Order{Field: "name"}}, []string{"Analytics 50%", "Marketing", "analytics_raw"}},
		{latchkey.ProjectFilter{Order: latchkey.Order{Field: "name", Desc: true}}, []string{"analytics_raw", "Marketing", "Analytics 50%"}},
		{latchkey.ProjectFilter{Order: latchkey.Order{Field: "id", Desc: true}, Limit: 2}, []string{"Marketing", "analytics_raw"}},
		{latchkey.ProjectFilter{Order: latchkey.Order{Field: "created_at"}, Offset: 1, Limit: 1}, []string{"analytics_raw"}},
	} {
		if got := names(tc.f); !cmp.Equal(got, tc.want) {
			t.Errorf("FindProjects(%+v) = %q, want %q", tc.f, got, tc.want)
		}
	}
	for _, tc := range []struct {
		contains string
		want     int
	}{{"OWN", 1}, {"e", 3}, {"_", 0}} {
		list, _, err := s.FindGroups(ctx, latchkey.GroupFilter{AccountID: a.ID, NameContains: &tc.contains})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != tc.want {
			t.Errorf("FindGroups(name contains %q) = %d groups, want %d", tc.contains, len(list), tc.want)
		}
	}
	groups, _, err := s.FindGroups(ctx, latchkey.GroupFilter{AccountID: a.ID, Order: latchkey.Order{Field: "name", Desc: true}})
	if err != nil {
		t.Fatal(err)
	}
	var gnames []string
	for _, g := range groups {
		gnames = append(gnames, g.Name)
	}
	if want := []string{"Owner", "Member", "Everyone"}; !cmp.Equal(gnames, want) {
		t.Errorf("groups by name descending = %q, want %q", gnames, want)
	}
	toks := []*latchkey.Token{newToken(a.ID, latchkey.KindServiceToken), newToken(a.ID, latchkey.KindServiceToken)}
	toks[0].Name, toks[1].Name = "b", "a"
	for _, tk := range toks {
		if err := s.CreateToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	list, _, err := s.FindTokens(ctx, latchkey.TokenFilter{AccountID: &a.ID, Order: latchkey.Order{Field: "name"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != toks[1].ID || list[1].ID != toks[0].ID {
		t.Errorf("tokens by name = %v, want a then b", list)
	}
}

func ptr[T any](v T) *T { return &v }

func testGroupSSOMapping(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("test")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	g := &latchkey.Group{AccountID: a.ID, Name: "Analysts", SSOMappingGroups: []string{"okta-analysts", "Data Eng"}}
	if err := s.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindGroupByID(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(got.SSOMappingGroups, g.SSOMappingGroups) {
		t.Errorf("sso_mapping_groups read back = %q, want %q", got.SSOMappingGroups, g.SSOMappingGroups)
	}
	// Left out of an update, they stay; set, they are replaced.
	rename := "Analysts EU"
	if got, err = s.UpdateGroup(ctx, g.ID, latchkey.GroupUpdate{Name: &rename}); err != nil || !cmp.Equal(got.SSOMappingGroups, g.SSOMappingGroups) {
		t.Errorf("after a rename: %q, %v; want the mapping kept", got.SSOMappingGroups, err)
	}
	none := []string{}
	if got, err = s.UpdateGroup(ctx, g.ID, latchkey.GroupUpdate{SSOMappingGroups: &none}); err != nil || len(got.SSOMappingGroups) != 0 {
		t.Errorf("after clearing: %q, %v; want none", got.SSOMappingGroups, err)
	}
	// Built-in groups start with none.
	list, _, err := s.FindGroups(ctx, latchkey.GroupFilter{AccountID: a.ID, Name: ptr("Owner")})
	if err != nil || len(list) != 1 || len(list[0].SSOMappingGroups) != 0 {
		t.Errorf("Owner's sso_mapping_groups = %v, %v; want none", list, err)
	}
}

func testUsers(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "Ada@Example.com")
	if u.Email != "ada@example.com" {
		t.Errorf("email stored as %q, want lower case", u.Email)
	}
	err := s.CreateUser(ctx, &latchkey.User{Email: "ADA@example.com"})
	wantCode(t, "CreateUser(duplicate email)", err, latchkey.EConflict)
	got, err := s.FindUserByEmail(ctx, "ada@EXAMPLE.com")
	if err != nil || got.ID != u.ID {
		t.Fatalf("FindUserByEmail = %v, %v", got, err)
	}
	_, err = s.FindUserByEmail(ctx, "nobody@example.com")
	wantCode(t, "FindUserByEmail(missing)", err, latchkey.ENotFound)
	last := "Lovelace"
	upd, err := s.UpdateUser(ctx, u.ID, latchkey.UserUpdate{LastName: &last})
	if err != nil || upd.FullName() != "Ada Lovelace" {
		t.Fatalf("UpdateUser = %v, %v", upd, err)
	}
}

func testMemberships(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	u := mustUser(t, s, "dev@example.com")
	m := &latchkey.Membership{AccountID: a.ID, UserID: u.ID, License: latchkey.LicenseDeveloper}
	if err := s.CreateMembership(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	err := s.CreateMembership(ctx, &latchkey.Membership{AccountID: a.ID, UserID: u.ID, License: latchkey.LicenseDeveloper}, nil)
	wantCode(t, "CreateMembership(twice)", err, latchkey.EConflict)

	got, grants, err := s.FindMemberGrants(ctx, a.ID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.License != latchkey.LicenseDeveloper {
		t.Errorf("license = %q", got.License)
	}
	// New members join Member and Everyone.
	if diff := cmp.Diff([]latchkey.Grant{{PermissionSet: "member", AllProjects: true}}, grantShape(grants)); diff != "" {
		t.Errorf("default member grants (-want +got):\n%s", diff)
	}
	ms, err := s.FindMemberships(ctx, latchkey.MembershipFilter{AccountID: &a.ID, UserID: &u.ID})
	if err != nil || len(ms) != 1 || len(ms[0].GroupIDs) != 2 {
		t.Fatalf("FindMemberships = %v, %v; want one membership in 2 groups", ms, err)
	}
	ro := latchkey.LicenseReadOnly
	upd, err := s.UpdateMembership(ctx, m.ID, latchkey.MembershipUpdate{License: &ro})
	if err != nil || upd.License != ro {
		t.Fatalf("UpdateMembership = %v, %v", upd, err)
	}
	users, total, err := s.FindUsers(ctx, latchkey.UserFilter{AccountID: &a.ID})
	if err != nil || total != 1 || users[0].ID != u.ID {
		t.Fatalf("FindUsers(account) = %v (%d), %v", users, total, err)
	}
	accts, _, err := s.FindAccounts(ctx, latchkey.AccountFilter{MemberUserID: &u.ID})
	if err != nil || len(accts) != 1 || accts[0].ID != a.ID {
		t.Fatalf("FindAccounts(member) = %v, %v", accts, err)
	}
	_, _, err = s.FindMemberGrants(ctx, a.ID, u.ID+100)
	wantCode(t, "FindMemberGrants(non-member)", err, latchkey.ENotFound)

	inactive := false
	if _, err := s.UpdateUser(ctx, u.ID, latchkey.UserUpdate{IsActive: &inactive}); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.FindMemberGrants(ctx, a.ID, u.ID)
	wantCode(t, "FindMemberGrants(inactive user)", err, latchkey.ENotFound)
}

func testGroups(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	p := mustProject(t, s, a.ID, "analytics")
	u := mustUser(t, s, "g@example.com")
	if err := s.CreateMembership(ctx, &latchkey.Membership{AccountID: a.ID, UserID: u.ID, License: latchkey.LicenseDeveloper}, []int64{}); err != nil {
		t.Fatal(err)
	}
	_, grants, err := s.FindMemberGrants(ctx, a.ID, u.ID)
	if err != nil || len(grants) != 0 {
		t.Fatalf("member with no groups has grants %v, %v", grants, err)
	}
	g := &latchkey.Group{AccountID: a.ID, Name: "Analysts", Grants: []latchkey.Grant{
		{PermissionSet: "developer", ProjectID: p.ID, WritableEnvs: []latchkey.EnvCategory{latchkey.EnvProduction}},
	}}
	if err := s.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	err = s.CreateGroup(ctx, &latchkey.Group{AccountID: a.ID, Name: "Analysts"})
	wantCode(t, "CreateGroup(duplicate name)", err, latchkey.EConflict)

	if err := s.SetUserGroups(ctx, a.ID, u.ID, []int64{g.ID}); err != nil {
		t.Fatal(err)
	}
	_, grants, err = s.FindMemberGrants(ctx, a.ID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(grantShape(g.Grants), grantShape(grants)); diff != "" {
		t.Errorf("member grants after assignment (-want +got):\n%s", diff)
	}
	got, err := s.FindGroupByID(ctx, g.ID)
	if err != nil || len(got.UserIDs) != 1 || got.UserIDs[0] != u.ID {
		t.Fatalf("FindGroupByID = %+v, %v; want member u", got, err)
	}
	replaced, err := s.ReplaceGroupGrants(ctx, g.ID, []latchkey.Grant{{PermissionSet: "job_viewer", AllProjects: true}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]latchkey.Grant{{PermissionSet: "job_viewer", AllProjects: true}}, grantShape(replaced.Grants)); diff != "" {
		t.Errorf("replaced grants (-want +got):\n%s", diff)
	}
	// Owner is immutable; built-in groups cannot be renamed.
	owner := latchkey.GroupOwner
	owners, _, err := s.FindGroups(ctx, latchkey.GroupFilter{AccountID: a.ID, Name: &owner})
	if err != nil || len(owners) != 1 {
		t.Fatal(err)
	}
	_, err = s.ReplaceGroupGrants(ctx, owners[0].ID, nil)
	wantCode(t, "ReplaceGroupGrants(Owner)", err, latchkey.EInvalid)
	newName := "Bosses"
	_, err = s.UpdateGroup(ctx, owners[0].ID, latchkey.GroupUpdate{Name: &newName})
	wantCode(t, "UpdateGroup(rename Owner)", err, latchkey.EInvalid)

	// A group of another account cannot be assigned.
	b := mustAccount(t, s, latchkey.PlanEnterprise)
	bGroups, _, _ := s.FindGroups(ctx, latchkey.GroupFilter{AccountID: b.ID})
	err = s.SetUserGroups(ctx, a.ID, u.ID, []int64{bGroups[0].ID})
	wantCode(t, "SetUserGroups(foreign group)", err, latchkey.EInvalid)

	deleted := latchkey.StateDeleted
	if _, err := s.UpdateGroup(ctx, g.ID, latchkey.GroupUpdate{State: &deleted}); err != nil {
		t.Fatal(err)
	}
	_, grants, _ = s.FindMemberGrants(ctx, a.ID, u.ID)
	if len(grants) != 0 {
		t.Errorf("grants of a deleted group still apply: %v", grants)
	}
}

func testTokens(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	p := mustProject(t, s, a.ID, "analytics")
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	tok := newToken(a.ID, latchkey.KindServiceToken,
		latchkey.Grant{PermissionSet: "job_admin", ProjectID: p.ID},
		latchkey.Grant{PermissionSet: "metadata_only", AllProjects: true})
	tok.ExpiresAt = &exp
	tok.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	if err := s.CreateToken(ctxAs("admin"), tok); err != nil {
		t.Fatal(err)
	}
	if tok.ID == 0 || tok.FamilyID != tok.ID || tok.State != latchkey.StateActive || tok.Grants[0].ID == 0 {
		t.Fatalf("CreateToken left %+v", tok)
	}
	byHash, err := s.FindTokenByHash(ctx, tok.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok, byHash, prefixCmp); diff != "" {
		t.Errorf("FindTokenByHash mismatch (-created +found):\n%s", diff)
	}
	byID, err := s.FindTokenByID(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok, byID, prefixCmp); diff != "" {
		t.Errorf("FindTokenByID mismatch (-created +found):\n%s", diff)
	}
	missing := sha256.Sum256([]byte("nope"))
	_, err = s.FindTokenByHash(ctx, missing[:])
	wantCode(t, "FindTokenByHash(missing)", err, latchkey.ENotFound)

	dup := newToken(a.ID, latchkey.KindServiceToken)
	dup.UID = tok.UID
	wantCode(t, "CreateToken(duplicate uid)", s.CreateToken(ctx, dup), latchkey.EConflict)

	u := mustUser(t, s, "pat@example.com")
	if err := s.CreateMembership(ctx, &latchkey.Membership{AccountID: a.ID, UserID: u.ID, License: latchkey.LicenseDeveloper}, nil); err != nil {
		t.Fatal(err)
	}
	pat := newToken(a.ID, latchkey.KindPAT)
	pat.UserID = u.ID
	if err := s.CreateToken(ctx, pat); err != nil {
		t.Fatal(err)
	}
	svc := latchkey.KindServiceToken
	list, total, err := s.FindTokens(ctx, latchkey.TokenFilter{AccountID: &a.ID, Kind: &svc})
	if err != nil || total != 1 || list[0].ID != tok.ID || len(list[0].Grants) != 2 {
		t.Fatalf("FindTokens(service) = %v (%d), %v", list, total, err)
	}
	list, _, err = s.FindTokens(ctx, latchkey.TokenFilter{UserID: &u.ID})
	if err != nil || len(list) != 1 || list[0].ID != pat.ID {
		t.Fatalf("FindTokens(user) = %v, %v", list, err)
	}
	before := exp.Add(time.Minute)
	list, _, err = s.FindTokens(ctx, latchkey.TokenFilter{AccountID: &a.ID, ExpiresBefore: &before})
	if err != nil || len(list) != 1 || list[0].ID != tok.ID {
		t.Fatalf("FindTokens(expires before) = %v, %v", list, err)
	}

	name := "renamed"
	upd, err := s.UpdateToken(ctx, tok.ID, latchkey.TokenUpdate{Name: &name})
	if err != nil || upd.Name != name {
		t.Fatalf("UpdateToken = %v, %v", upd, err)
	}
	if err := s.DeleteToken(ctx, tok.ID, "deleted"); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindTokenByHash(ctx, tok.Hash)
	if err != nil || got.State != latchkey.StateDeleted {
		t.Fatalf("deleted token reads as %v, %v; want state 2", got, err)
	}
	if err := s.DeleteToken(ctx, tok.ID, "deleted"); err != nil {
		t.Errorf("DeleteToken(deleted) = %v, want nil", err)
	}
	active := latchkey.StateActive
	_, err = s.UpdateToken(ctx, tok.ID, latchkey.TokenUpdate{State: &active})
	wantCode(t, "UpdateToken(restore)", err, latchkey.EInvalid)
	_, err = s.FindTokenByID(ctx, tok.ID+1000)
	wantCode(t, "FindTokenByID(missing)", err, latchkey.ENotFound)
}

func testTokenGrants(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	tok := newToken(a.ID, latchkey.KindServiceToken)
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	first := []latchkey.Grant{{PermissionSet: "developer", AllProjects: true, WritableEnvs: []latchkey.EnvCategory{latchkey.EnvProduction, latchkey.EnvStaging}}}
	got, err := s.AddTokenGrants(ctx, tok.ID, first)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(grantShape(first), grantShape(got.Grants)); diff != "" {
		t.Errorf("AddTokenGrants (-want +got):\n%s", diff)
	}
	_, err = s.AddTokenGrants(ctx, tok.ID, first)
	wantCode(t, "AddTokenGrants(has grants)", err, latchkey.EInvalid)
	second := []latchkey.Grant{{PermissionSet: "job_viewer", AllProjects: true}}
	if _, err := s.ReplaceTokenGrants(ctx, tok.ID, second); err != nil {
		t.Fatal(err)
	}
	read, _ := s.FindTokenByID(ctx, tok.ID)
	if diff := cmp.Diff(grantShape(second), grantShape(read.Grants)); diff != "" {
		t.Errorf("grants after replace (-want +got):\n%s", diff)
	}
	pat := newToken(a.ID, latchkey.KindPAT)
	u := mustUser(t, s, "tg@example.com")
	pat.UserID = u.ID
	if err := s.CreateToken(ctx, pat); err != nil {
		t.Fatal(err)
	}
	_, err = s.ReplaceTokenGrants(ctx, pat.ID, second)
	wantCode(t, "ReplaceTokenGrants(PAT)", err, latchkey.EInvalid)
}

func testRotate(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	old := newToken(a.ID, latchkey.KindServiceToken, latchkey.Grant{PermissionSet: "job_admin", AllProjects: true})
	old.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	if err := s.CreateToken(ctx, old); err != nil {
		t.Fatal(err)
	}
	next := newToken(0, "")
	if err := s.RotateToken(ctx, old.ID, next, time.Hour); err != nil {
		t.Fatal(err)
	}
	if next.Name != old.Name || next.FamilyID != old.ID || next.AccountID != a.ID || next.Kind != latchkey.KindServiceToken {
		t.Errorf("successor = %+v, want same name, account and family", next)
	}
	if diff := cmp.Diff(grantShape(old.Grants), grantShape(next.Grants)); diff != "" {
		t.Errorf("successor grants (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(old.AllowedCIDRs, next.AllowedCIDRs, prefixCmp); diff != "" {
		t.Errorf("successor CIDRs (-want +got):\n%s", diff)
	}
	gotOld, _ := s.FindTokenByID(ctx, old.ID)
	if gotOld.State != latchkey.StateActive || gotOld.ReplacedByID != next.ID || gotOld.RotatedAt == nil || gotOld.GraceUntil == nil {
		t.Errorf("old token after rotation with grace = %+v", gotOld)
	}
	if gotOld.RotatedOut(time.Now()) || !gotOld.RotatedOut(time.Now().Add(2*time.Hour)) {
		t.Errorf("RotatedOut wrong around the grace period")
	}
	err := s.RotateToken(ctx, old.ID, newToken(0, ""), 0)
	wantCode(t, "RotateToken(already rotated)", err, latchkey.EConflict)

	third := newToken(0, "")
	if err := s.RotateToken(ctx, next.ID, third, 0); err != nil {
		t.Fatal(err)
	}
	gotNext, _ := s.FindTokenByID(ctx, next.ID)
	if gotNext.State != latchkey.StateDeleted || !gotNext.RotatedOut(time.Now()) {
		t.Errorf("rotation with grace 0 left %+v", gotNext)
	}
	fam := old.ID
	list, _, err := s.FindTokens(ctx, latchkey.TokenFilter{FamilyID: &fam})
	if err != nil || len(list) != 3 {
		t.Errorf("family has %d tokens, %v; want 3", len(list), err)
	}
}

func testTokenUses(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	tok := newToken(a.ID, latchkey.KindServiceToken)
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now().UTC().Truncate(time.Microsecond)
	t0 := t1.Add(-time.Minute)
	if err := s.RecordTokenUses(ctx, []latchkey.TokenUse{{TokenID: tok.ID, At: t1, IP: "10.1.2.3"}, {TokenID: tok.ID, At: t0, IP: "10.9.9.9"}}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.FindTokenByID(ctx, tok.ID)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(t1) || got.LastUsedIP != "10.1.2.3" {
		t.Errorf("last used = %v from %q, want %v from 10.1.2.3", got.LastUsedAt, got.LastUsedIP, t1)
	}
}

func testMemberRemovalRevokesPATs(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	u := mustUser(t, s, "leaver@example.com")
	m := &latchkey.Membership{AccountID: a.ID, UserID: u.ID, License: latchkey.LicenseDeveloper}
	if err := s.CreateMembership(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	pat := newToken(a.ID, latchkey.KindPAT)
	pat.UserID = u.ID
	if err := s.CreateToken(ctx, pat); err != nil {
		t.Fatal(err)
	}
	deleted := latchkey.StateDeleted
	if _, err := s.UpdateMembership(ctx, m.ID, latchkey.MembershipUpdate{State: &deleted}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.FindTokenByID(ctx, pat.ID)
	if got.State != latchkey.StateDeleted {
		t.Errorf("PAT of a removed member has state %d, want 2", got.State)
	}
}

func testAuditChain(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("auditor")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	p := mustProject(t, s, a.ID, "analytics")
	tok := newToken(a.ID, latchkey.KindServiceToken, latchkey.Grant{PermissionSet: "job_admin", ProjectID: p.ID})
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteToken(ctx, tok.ID, "deleted"); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, &latchkey.AuditEntry{AccountID: a.ID, EventType: "user.sign_in_failed", Context: map[string]any{"email": "x@example.com"}}); err != nil {
		t.Fatal(err)
	}
	entries, total, err := s.FindAuditEntries(context.Background(), latchkey.AuditFilter{AccountID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range entries {
		events = append(events, e.EventType)
	}
	want := []string{"user.sign_in_failed", "service_token.revoked", "service_token.created", "project.created", "group.created", "group.created", "group.created", "account.created"}
	if diff := cmp.Diff(want, events); diff != "" || total != len(want) {
		t.Errorf("audit events newest first (-want +got), total %d:\n%s", total, diff)
	}
	created := entries[2]
	if created.ActorName != "auditor" || created.ActorType != "user" || created.ActorIP != "127.0.0.1" || created.Source != "api" {
		t.Errorf("audit actor = %+v", created)
	}
	if created.Context["uid"] != tok.UID {
		t.Errorf("audit context = %v, want uid", created.Context)
	}
	// A category, with or without ".*", is every event in it; an exact type is that one; the
	// "_" in a category is a character, not a LIKE wildcard.
	for ev, want := range map[string]int{"service_token.*": 2, "service_token": 2, "service_token.created": 1,
		"service.token": 0, "service%": 0, "servicextoken": 0, "user": 1, "project.*": 1} {
		filtered, _, err := s.FindAuditEntries(context.Background(), latchkey.AuditFilter{AccountID: a.ID, EventType: &ev})
		if err != nil || len(filtered) != want {
			t.Errorf("FindAuditEntries(event_type %q) = %d entries, %v; want %d", ev, len(filtered), err, want)
		}
	}
	n, brk, err := latchkey.VerifyAuditChain(context.Background(), s)
	if err != nil || brk != nil || n < len(want) {
		t.Errorf("VerifyAuditChain = %d, %+v, %v; want intact", n, brk, err)
	}
}

func testAuditRollback(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	_, before, _ := s.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: a.ID})
	tok := newToken(a.ID, latchkey.KindServiceToken, latchkey.Grant{PermissionSet: "job_admin", AllProjects: true})
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// A duplicate uid fails after the token row would be written: nothing, audit included, stays.
	dup := newToken(a.ID, latchkey.KindServiceToken)
	dup.UID = tok.UID
	if err := s.CreateToken(ctx, dup); err == nil {
		t.Fatal("CreateToken(duplicate uid) succeeded")
	}
	_, after, _ := s.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: a.ID})
	if after != before+1 {
		t.Errorf("audit entries went from %d to %d, want exactly one more", before, after)
	}
}

func testSSOProviders(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("sso")
	a, b := mustAccount(t, s, latchkey.PlanEnterprise), mustAccount(t, s, latchkey.PlanEnterprise)
	sp := &latchkey.SSOProvider{AccountID: a.ID, Type: latchkey.SSOProviderOIDC, Slug: "acme", Issuer: "https://idp.example",
		ClientID: "latchkey", ClientSecretSealed: []byte("sealed"), GroupsClaim: "groups"}
	if err := s.CreateSSOProvider(ctx, sp); err != nil {
		t.Fatalf("CreateSSOProvider: %v", err)
	}
	if sp.ID == 0 || sp.State != latchkey.StateActive || sp.CreatedAt.IsZero() {
		t.Fatalf("CreateSSOProvider set id %d, state %d, created %v", sp.ID, sp.State, sp.CreatedAt)
	}
	got, err := s.FindSSOProviderByID(ctx, sp.ID)
	if err != nil {
		t.Fatalf("FindSSOProviderByID: %v", err)
	}
	if diff := cmp.Diff(sp, got); diff != "" {
		t.Errorf("FindSSOProviderByID(%d) differs (-created +found):\n%s", sp.ID, diff)
	}

	second := &latchkey.SSOProvider{AccountID: a.ID, Type: latchkey.SSOProviderOIDC, Slug: "acme-2", Issuer: "https://idp.example", ClientID: "x", GroupsClaim: "groups"}
	wantCode(t, "CreateSSOProvider(second for the account)", s.CreateSSOProvider(ctx, second), latchkey.EConflict)
	other := &latchkey.SSOProvider{AccountID: b.ID, Type: latchkey.SSOProviderOIDC, Slug: "acme", Issuer: "https://idp.example", ClientID: "x", GroupsClaim: "groups"}
	wantCode(t, "CreateSSOProvider(taken slug)", s.CreateSSOProvider(ctx, other), latchkey.EConflict)
	other.Slug = "globex"
	if err := s.CreateSSOProvider(ctx, other); err != nil {
		t.Fatalf("CreateSSOProvider(other account): %v", err)
	}

	off, slug, empty := false, "acme-sso", []byte(nil)
	upd, err := s.UpdateSSOProvider(ctx, sp.ID, latchkey.SSOProviderUpdate{AllowPasswordBackdoor: &off, Slug: &slug, ClientSecretSealed: &empty})
	if err != nil {
		t.Fatalf("UpdateSSOProvider: %v", err)
	}
	if upd.AllowPasswordBackdoor || upd.Slug != slug || len(upd.ClientSecretSealed) != 0 || upd.ClientID != "latchkey" {
		t.Errorf("UpdateSSOProvider = %+v, want backdoor off, slug %q, no secret, client id kept", upd, slug)
	}
	taken := "globex"
	_, err = s.UpdateSSOProvider(ctx, sp.ID, latchkey.SSOProviderUpdate{Slug: &taken})
	wantCode(t, "UpdateSSOProvider(taken slug)", err, latchkey.EConflict)

	active := latchkey.StateActive
	found, err := s.FindSSOProviders(ctx, latchkey.SSOProviderFilter{Slug: &slug, State: &active})
	if err != nil || len(found) != 1 || found[0].AccountID != a.ID {
		t.Fatalf("FindSSOProviders(slug %q) = %v, %v; want account %d's provider", slug, found, err, a.ID)
	}

	if err := s.DeleteSSOProvider(ctx, sp.ID); err != nil {
		t.Fatalf("DeleteSSOProvider: %v", err)
	}
	gone, err := s.FindSSOProviderByID(ctx, sp.ID)
	if err != nil || gone.State != latchkey.StateDeleted {
		t.Fatalf("FindSSOProviderByID after delete = %+v, %v; want state 2", gone, err)
	}
	found, err = s.FindSSOProviders(ctx, latchkey.SSOProviderFilter{AccountID: &a.ID, State: &active})
	if err != nil || len(found) != 0 {
		t.Errorf("FindSSOProviders(active, account) after delete = %v, %v; want none", found, err)
	}
	_, err = s.UpdateSSOProvider(ctx, sp.ID, latchkey.SSOProviderUpdate{AllowPasswordBackdoor: &off})
	wantCode(t, "UpdateSSOProvider(deleted)", err, latchkey.ENotFound)
	// The account may configure SSO again, with the freed slug.
	again := &latchkey.SSOProvider{AccountID: a.ID, Type: latchkey.SSOProviderOIDC, Slug: slug, Issuer: "https://idp.example", ClientID: "x", GroupsClaim: "groups"}
	if err := s.CreateSSOProvider(ctx, again); err != nil {
		t.Fatalf("CreateSSOProvider after delete: %v", err)
	}
	_, err = s.FindSSOProviderByID(ctx, 99999)
	wantCode(t, "FindSSOProviderByID(missing)", err, latchkey.ENotFound)

	entries, _, err := s.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: a.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]int{}
	for _, e := range entries {
		events[e.EventType]++
		if bytes.Contains(e.RawContext, []byte("sealed")) {
			t.Errorf("audit entry %s holds the sealed client secret: %s", e.EventType, e.RawContext)
		}
	}
	if events["sso.provider.created"] != 2 || events["sso.provider.changed"] != 1 || events["sso.provider.deleted"] != 1 {
		t.Errorf("audit events = %v, want 2 created, 1 changed, 1 deleted", events)
	}
}

func testLicenseMaps(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("sso")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	m := &latchkey.LicenseMap{AccountID: a.ID, License: latchkey.LicenseReadOnly, SSOGroups: []string{"viewers", "auditors"}}
	if err := s.CreateLicenseMap(ctx, m); err != nil {
		t.Fatalf("CreateLicenseMap: %v", err)
	}
	got, err := s.FindLicenseMapByID(ctx, m.ID)
	if err != nil {
		t.Fatalf("FindLicenseMapByID: %v", err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("FindLicenseMapByID(%d) differs (-created +found):\n%s", m.ID, diff)
	}
	dev, groups := latchkey.LicenseDeveloper, []string{"engineers"}
	upd, err := s.UpdateLicenseMap(ctx, m.ID, latchkey.LicenseMapUpdate{License: &dev, SSOGroups: &groups})
	if err != nil || upd.License != dev || !cmp.Equal(upd.SSOGroups, groups) {
		t.Fatalf("UpdateLicenseMap = %+v, %v; want developer for engineers", upd, err)
	}
	empty := &latchkey.LicenseMap{AccountID: a.ID, License: latchkey.LicenseIT}
	if err := s.CreateLicenseMap(ctx, empty); err != nil {
		t.Fatalf("CreateLicenseMap(no groups): %v", err)
	}
	if err := s.DeleteLicenseMap(ctx, empty.ID); err != nil {
		t.Fatalf("DeleteLicenseMap: %v", err)
	}
	wantCode(t, "DeleteLicenseMap(deleted)", s.DeleteLicenseMap(ctx, empty.ID), latchkey.ENotFound)
	_, err = s.UpdateLicenseMap(ctx, empty.ID, latchkey.LicenseMapUpdate{License: &dev})
	wantCode(t, "UpdateLicenseMap(deleted)", err, latchkey.ENotFound)
	active := latchkey.StateActive
	list, err := s.FindLicenseMaps(ctx, a.ID, &active)
	if err != nil || len(list) != 1 || list[0].ID != m.ID {
		t.Fatalf("FindLicenseMaps(active) = %v, %v; want only %d", list, err, m.ID)
	}
	all, err := s.FindLicenseMaps(ctx, a.ID, nil)
	if err != nil || len(all) != 2 || all[1].State != latchkey.StateDeleted || all[1].SSOGroups == nil {
		t.Fatalf("FindLicenseMaps(any state) = %v, %v; want both, the second deleted with [] groups", all, err)
	}
}

func testIPRules(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	r := &latchkey.IPRule{AccountID: a.ID, Name: "office", Type: latchkey.IPRuleAllow, CIDRs: latchkey.Ranges("10.0.0.0/8", "2001:db8::/32")}
	if err := s.CreateIPRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	if want := []latchkey.IPRuleCIDR{{ID: 1, CIDR: "10.0.0.0/8"}, {ID: 2, CIDR: "2001:db8::/32"}}; !cmp.Equal(r.CIDRs, want) {
		t.Errorf("CreateIPRule ranges = %+v, want ids 1 and 2", r.CIDRs)
	}
	// An update keeps the ids of the ranges it keeps (by id, or by range) and gives new ones to
	// new ranges, never reusing an id.
	cidrs := []latchkey.IPRuleCIDR{{ID: 2, CIDR: "2001:db8::/32", Field: "cidr", Written: "2001:DB8::/32"}, {CIDR: "192.168.0.0/16"}}
	deny := latchkey.IPRuleDeny
	if _, err := s.UpdateIPRule(ctx, r.ID, latchkey.IPRuleUpdate{CIDRs: &cidrs, Type: &deny}); err != nil {
		t.Fatal(err)
	}
	rules, err := s.FindIPRules(ctx, a.ID)
	want := []latchkey.IPRuleCIDR{{ID: 2, CIDR: "2001:db8::/32", Field: "cidr", Written: "2001:DB8::/32"}, {ID: 3, CIDR: "192.168.0.0/16"}}
	if err != nil || len(rules) != 1 || rules[0].Type != deny || !cmp.Equal(rules[0].CIDRs, want) {
		t.Fatalf("FindIPRules = %+v, %v; want ranges %+v", rules, err, want)
	}
	again := []latchkey.IPRuleCIDR{{CIDR: "192.168.0.0/16"}, {CIDR: "10.0.0.0/8"}}
	if got, err := s.UpdateIPRule(ctx, r.ID, latchkey.IPRuleUpdate{CIDRs: &again}); err != nil ||
		!cmp.Equal(got.CIDRs, []latchkey.IPRuleCIDR{{ID: 3, CIDR: "192.168.0.0/16"}, {ID: 4, CIDR: "10.0.0.0/8"}}) {
		t.Fatalf("UpdateIPRule = %+v, %v; want 192.168.0.0/16 keeping id 3 and 10.0.0.0/8 getting id 4", got, err)
	}
	if err := s.DeleteIPRule(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	rules, _ = s.FindIPRules(ctx, a.ID)
	if len(rules) != 0 {
		t.Errorf("deleted rule still listed")
	}
	got, err := s.FindIPRuleByID(ctx, r.ID)
	if err != nil || got.State != latchkey.StateDeleted {
		t.Errorf("FindIPRuleByID(deleted) = %v, %v", got, err)
	}
}

func testSessions(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	u := mustUser(t, s, "sess@example.com")
	h := sha256.Sum256([]byte("cookie"))
	sess := &latchkey.Session{Hash: h[:], UserID: u.ID, AccountID: a.ID, CSRFSecret: "csrf", ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindSession(ctx, h[:])
	if err != nil || got.UserID != u.ID || !got.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Fatalf("FindSession = %+v, %v", got, err)
	}
	if got.SSOAccountID != 0 {
		t.Errorf("a password session has SSOAccountID %d, want 0", got.SSOAccountID)
	}
	hs := sha256.Sum256([]byte("sso cookie"))
	if err := s.CreateSession(ctx, &latchkey.Session{Hash: hs[:], UserID: u.ID, AccountID: a.ID, SSOAccountID: a.ID, CSRFSecret: "c",
		ExpiresAt: sess.ExpiresAt}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.FindSession(ctx, hs[:]); err != nil || got.SSOAccountID != a.ID {
		t.Fatalf("FindSession(SSO session) = %+v, %v; want SSOAccountID %d", got, err, a.ID)
	}
	seen := time.Now().Add(time.Minute).UTC().Truncate(time.Microsecond)
	if err := s.UpdateSession(ctx, h[:], a.ID, seen); err != nil {
		t.Fatal(err)
	}
	got, _ = s.FindSession(ctx, h[:])
	if !got.LastSeenAt.Equal(seen) {
		t.Errorf("LastSeenAt = %v, want %v", got.LastSeenAt, seen)
	}
	// A new password ends every session of the user.
	pw := "$argon2id$new"
	if _, err := s.UpdateUser(ctx, u.ID, latchkey.UserUpdate{PasswordHash: &pw}); err != nil {
		t.Fatal(err)
	}
	_, err = s.FindSession(ctx, h[:])
	wantCode(t, "FindSession(after password change)", err, latchkey.ENotFound)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, h[:]); err != nil {
		t.Fatal(err)
	}
	_, err = s.FindSession(ctx, h[:])
	wantCode(t, "FindSession(deleted)", err, latchkey.ENotFound)
}

func testChanges(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	var mu sync.Mutex
	var got []latchkey.Change
	cancel := s.Subscribe(func(c latchkey.Change) {
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
	})
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	tok := newToken(a.ID, latchkey.KindServiceToken)
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got = nil
	mu.Unlock()
	if err := s.DeleteToken(ctx, tok.ID, "deleted"); err != nil {
		t.Fatal(err)
	}
	groups, _, _ := s.FindGroups(ctx, latchkey.GroupFilter{AccountID: a.ID})
	var member *latchkey.Group
	for _, g := range groups {
		if g.Name == latchkey.GroupMember {
			member = g
		}
	}
	if _, err := s.ReplaceGroupGrants(ctx, member.ID, nil); err != nil {
		t.Fatal(err)
	}
	// Wait briefly: implementations spanning nodes may deliver asynchronously.
	want := []latchkey.Change{{Kind: latchkey.ChangeToken, AccountID: a.ID, ID: tok.ID}, {Kind: latchkey.ChangeAccount, AccountID: a.ID, ID: a.ID}}
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		ok := containsAll(got, want)
		snapshot := append([]latchkey.Change(nil), got...)
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("changes = %v, want to include %v", snapshot, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if err := s.DeleteToken(ctx, tok.ID, "deleted"); err != nil {
		t.Fatal(err)
	}
	tok2 := newToken(a.ID, latchkey.KindServiceToken)
	if err := s.CreateToken(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		t.Errorf("a cancelled subscriber still received %d changes", len(got)-n)
	}
	// A failed mutation announces nothing.
}

func containsAll(got, want []latchkey.Change) bool {
	for _, w := range want {
		found := false
		for _, g := range got {
			if g == w {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func testConcurrentWrites(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := newToken(a.ID, latchkey.KindServiceToken, latchkey.Grant{PermissionSet: "job_viewer", AllProjects: true})
			tok.Name = fmt.Sprintf("concurrent %d", i)
			errs <- s.CreateToken(ctx, tok)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent CreateToken: %v", err)
		}
	}
	_, total, err := s.FindTokens(ctx, latchkey.TokenFilter{AccountID: &a.ID})
	if err != nil || total != 40 {
		t.Fatalf("FindTokens total = %d, %v; want 40", total, err)
	}
	n, brk, err := latchkey.VerifyAuditChain(ctx, s)
	if err != nil || brk != nil {
		t.Fatalf("audit chain after concurrent writes: %d checked, break %+v, %v", n, brk, err)
	}
}

func testCreateTokens(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	var batch []*latchkey.Token
	// More than one FindTokensByHash query's worth (128), and not a multiple of any of its sizes.
	for range 150 {
		batch = append(batch, newToken(a.ID, latchkey.KindServiceToken, latchkey.Grant{PermissionSet: "metadata_only", AllProjects: true}))
	}
	if err := s.CreateTokens(ctx, batch); err != nil {
		t.Fatal(err)
	}
	hashes := [][]byte{[]byte("not a stored hash")}
	for _, tok := range batch {
		got, err := s.FindTokenByHash(ctx, tok.Hash)
		if err != nil || got.ID != tok.ID || len(got.Grants) != 1 {
			t.Fatalf("FindTokenByHash(batch token) = %+v, %v", got, err)
		}
		hashes = append(hashes, tok.Hash)
	}
	for _, n := range []int{1, 2, 9, len(hashes)} {
		found, err := s.FindTokensByHash(ctx, hashes[:n])
		if err != nil {
			t.Fatalf("FindTokensByHash(%d hashes): %v", n, err)
		}
		got := map[int64]*latchkey.Token{}
		for _, tok := range found {
			got[tok.ID] = tok
		}
		if len(found) != n-1 || len(got) != n-1 {
			t.Fatalf("FindTokensByHash(%d hashes, one unknown) found %d tokens (%d distinct), want %d", n, len(found), len(got), n-1)
		}
		for _, want := range batch[:n-1] {
			if diff := cmp.Diff(want, got[want.ID], prefixCmp); diff != "" {
				t.Fatalf("FindTokensByHash token %d mismatch (-created +found):\n%s", want.ID, diff)
			}
		}
		versions, err := s.FindTokenVersions(ctx, hashes[:n])
		if err != nil {
			t.Fatalf("FindTokenVersions(%d hashes): %v", n, err)
		}
		if len(versions) != n-1 {
			t.Fatalf("FindTokenVersions(%d hashes, one unknown) = %d versions, want %d", n, len(versions), n-1)
		}
		for _, v := range versions {
			want := got[v.ID]
			if want == nil || !bytes.Equal(v.Hash, want.Hash) || !v.UpdatedAt.Equal(want.UpdatedAt) {
				t.Fatalf("FindTokenVersions gave %+v, want the id, hash and updated_at of %+v", v, want)
			}
		}
	}
	// A grant change moves the token's version.
	time.Sleep(2 * time.Millisecond) // versions are microseconds
	if _, err := s.ReplaceTokenGrants(ctx, batch[0].ID, []latchkey.Grant{{PermissionSet: "job_viewer", AllProjects: true}}); err != nil {
		t.Fatal(err)
	}
	if v, err := s.FindTokenVersions(ctx, [][]byte{batch[0].Hash}); err != nil || len(v) != 1 || !v[0].UpdatedAt.After(batch[0].UpdatedAt) {
		t.Errorf("version after a grant change = %+v, %v; want later than %v", v, err, batch[0].UpdatedAt)
	}
	ev := "service_token.created"
	_, n, err := s.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: a.ID, EventType: &ev})
	if err != nil || n != len(batch) {
		t.Errorf("audit entries for the batch = %d, %v; want %d", n, err, len(batch))
	}
	// One bad token (a duplicate uid) keeps the whole batch out.
	bad := []*latchkey.Token{newToken(a.ID, latchkey.KindServiceToken), newToken(a.ID, latchkey.KindServiceToken)}
	bad[1].UID = batch[0].UID
	if err := s.CreateTokens(ctx, bad); err == nil {
		t.Fatal("CreateTokens with a duplicate uid succeeded")
	}
	if _, err := s.FindTokenByHash(ctx, bad[0].Hash); latchkey.ErrorCodeOf(err) != latchkey.ENotFound {
		t.Errorf("first token of a failed batch was stored: %v", err)
	}
	if _, brk, err := latchkey.VerifyAuditChain(ctx, s); err != nil || brk != nil {
		t.Errorf("audit chain after batches: %+v, %v", brk, err)
	}
}

// testInTx: changes made through InTx commit together with their audit entries, roll back
// together, see each other, and are announced only after commit; a failed call inside is undone
// on its own.
func testInTx(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	auditCount := func() int {
		t.Helper()
		_, n, err := s.FindAuditEntries(context.Background(), latchkey.AuditFilter{AccountID: a.ID, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	projectCount := func() int {
		t.Helper()
		_, n, err := s.FindProjects(context.Background(), latchkey.ProjectFilter{AccountID: a.ID, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var mu sync.Mutex
	var announced []latchkey.Change
	defer s.Subscribe(func(c latchkey.Change) { mu.Lock(); announced = append(announced, c); mu.Unlock() })()

	entries, projects := auditCount(), projectCount()
	boom := fmt.Errorf("boom")
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateProject(ctx, &latchkey.Project{AccountID: a.ID, Name: "one"}); err != nil {
			return err
		}
		// Reads inside the transaction see its writes.
		if _, n, err := s.FindProjects(ctx, latchkey.ProjectFilter{AccountID: a.ID, Limit: 1}); err != nil || n != projects+1 {
			t.Errorf("FindProjects inside InTx = %d, %v; want %d", n, err, projects+1)
		}
		name := "renamed"
		if _, err := s.UpdateAccount(ctx, a.ID, latchkey.AccountUpdate{Name: &name}); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("InTx = %v, want the error fn returned", err)
	}
	if got := projectCount(); got != projects {
		t.Errorf("after a rolled-back InTx: %d projects, want %d", got, projects)
	}
	if got := auditCount(); got != entries {
		t.Errorf("after a rolled-back InTx: %d audit entries, want %d", got, entries)
	}
	if acct, _ := s.FindAccountByID(context.Background(), a.ID); acct.Name != a.Name {
		t.Errorf("after a rolled-back InTx the account is named %q, want %q", acct.Name, a.Name)
	}
	mu.Lock()
	if len(announced) != 0 {
		t.Errorf("a rolled-back InTx announced %v", announced)
	}
	mu.Unlock()

	// A failed call inside is undone alone; the rest commits.
	dup := mustUser(t, s, "dup@example.com")
	err = s.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateProject(ctx, &latchkey.Project{AccountID: a.ID, Name: "two"}); err != nil {
			return err
		}
		if err := s.CreateUser(ctx, &latchkey.User{Email: dup.Email}); latchkey.ErrorCodeOf(err) != latchkey.EConflict {
			return fmt.Errorf("CreateUser(duplicate) inside InTx = %v, want conflict", err)
		}
		name := "after the failure"
		_, err := s.UpdateAccount(ctx, a.ID, latchkey.AccountUpdate{Name: &name})
		mu.Lock()
		defer mu.Unlock()
		if len(announced) != 0 {
			t.Errorf("changes announced before commit: %v", announced)
		}
		return err
	})
	if err != nil {
		t.Fatalf("InTx = %v", err)
	}
	if got := projectCount(); got != projects+1 {
		t.Errorf("after InTx: %d projects, want %d", got, projects+1)
	}
	if acct, _ := s.FindAccountByID(context.Background(), a.ID); acct.Name != "after the failure" {
		t.Errorf("after InTx the account is named %q", acct.Name)
	}
	if got := auditCount(); got != entries+2 {
		t.Errorf("after InTx: %d audit entries, want %d (project.created, account.updated)", got, entries+2)
	}
	mu.Lock()
	defer mu.Unlock()
	if !containsAll(announced, []latchkey.Change{{Kind: latchkey.ChangeAccount, AccountID: a.ID, ID: a.ID}}) {
		t.Errorf("after commit announced %v, want the account change", announced)
	}
	var chain []*latchkey.AuditEntry
	if err := s.AuditChain(context.Background(), time.Time{}, func(e *latchkey.AuditEntry) error { chain = append(chain, e); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(chain); i++ {
		if chain[i].PrevHash != chain[i-1].Hash {
			t.Fatalf("audit chain broken at entry %d after InTx", chain[i].ID)
		}
	}
}

// testAccountAdmins: owners are active developer-licensed members of an active group holding
// account_admin on all projects.
func testAccountAdmins(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	groups, _, err := s.FindGroups(ctx, latchkey.GroupFilter{AccountID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*latchkey.Group{}
	for _, g := range groups {
		byName[g.Name] = g
	}
	owner := byName[latchkey.GroupOwner]
	admins := func() []int64 {
		t.Helper()
		ids, err := s.FindAccountAdmins(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := admins(); len(got) != 0 {
		t.Fatalf("FindAccountAdmins(new account) = %v, want none", got)
	}
	add := func(email string, l latchkey.License, groupIDs ...int64) *latchkey.Membership {
		t.Helper()
		u := mustUser(t, s, email)
		m := &latchkey.Membership{AccountID: a.ID, UserID: u.ID, License: l}
		if err := s.CreateMembership(ctx, m, groupIDs); err != nil {
			t.Fatal(err)
		}
		return m
	}
	ada := add("ada@example.com", latchkey.LicenseDeveloper, owner.ID)
	add("ro@example.com", latchkey.LicenseReadOnly, owner.ID)
	add("member@example.com", latchkey.LicenseDeveloper, byName[latchkey.GroupMember].ID)
	custom := &latchkey.Group{AccountID: a.ID, Name: "Admins of one project",
		Grants: []latchkey.Grant{{PermissionSet: "account_admin", ProjectID: mustProject(t, s, a.ID, "p").ID}}}
	if err := s.CreateGroup(ctx, custom); err != nil {
		t.Fatal(err)
	}
	add("scoped@example.com", latchkey.LicenseDeveloper, custom.ID)
	alias := &latchkey.Group{AccountID: a.ID, Name: "Owners by alias", Grants: []latchkey.Grant{{PermissionSet: "owner", AllProjects: true}}}
	if err := s.CreateGroup(ctx, alias); err != nil {
		t.Fatal(err)
	}
	bob := add("bob@example.com", latchkey.LicenseDeveloper, alias.ID)
	if diff := cmp.Diff([]int64{ada.UserID, bob.UserID}, admins()); diff != "" {
		t.Errorf("FindAccountAdmins mismatch (-want +got):\n%s", diff)
	}
	deleted := latchkey.StateDeleted
	if _, err := s.UpdateGroup(ctx, alias.ID, latchkey.GroupUpdate{State: &deleted}); err != nil {
		t.Fatal(err)
	}
	ro := latchkey.LicenseReadOnly
	if _, err := s.UpdateMembership(ctx, ada.ID, latchkey.MembershipUpdate{License: &ro}); err != nil {
		t.Fatal(err)
	}
	if got := admins(); len(got) != 0 {
		t.Errorf("FindAccountAdmins after the group's deletion and the license change = %v, want none", got)
	}
}

// testRevocationRecorded: a revoked token records when, why and by whom; an account's default
// rotation grace is kept.
func testRevocationRecorded(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	if a.Settings.DefaultRotationGrace != time.Hour {
		t.Errorf("a new account's default rotation grace = %v, want 1h", a.Settings.DefaultRotationGrace)
	}
	set := a.Settings
	set.DefaultRotationGrace = 90 * time.Second
	if _, err := s.UpdateAccount(ctx, a.ID, latchkey.AccountUpdate{Settings: &set}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.FindAccountByID(ctx, a.ID); got.Settings.DefaultRotationGrace != 90*time.Second {
		t.Errorf("default rotation grace after update = %v, want 90s", got.Settings.DefaultRotationGrace)
	}
	tok := newToken(a.ID, latchkey.KindServiceToken)
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	sys := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "reuse detection", Source: "system"})
	if err := s.DeleteToken(sys, tok.ID, "reuse_detected"); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindTokenByID(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt == nil || got.RevokedReason != "reuse_detected" || got.RevokedBy != "system:reuse detection" {
		t.Errorf("revoked token records (%v, %q, %q), want (a time, reuse_detected, system:reuse detection)",
			got.RevokedAt, got.RevokedReason, got.RevokedBy)
	}
	old := newToken(a.ID, latchkey.KindServiceToken)
	if err := s.CreateToken(ctx, old); err != nil {
		t.Fatal(err)
	}
	oldNext := newToken(a.ID, latchkey.KindServiceToken)
	if err := s.RotateToken(ctx, old.ID, oldNext, 0); err != nil {
		t.Fatal(err)
	}
	got, err = s.FindTokenByID(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != latchkey.StateDeleted || got.RevokedReason != "rotated" || got.RevokedBy != "user:1" {
		t.Errorf("token rotated with no grace: state %d, reason %q, by %q; want 2, rotated, user:1", got.State, got.RevokedReason, got.RevokedBy)
	}
	graced := newToken(a.ID, latchkey.KindServiceToken)
	if err := s.CreateToken(ctx, graced); err != nil {
		t.Fatal(err)
	}
	successor := newToken(a.ID, latchkey.KindServiceToken)
	if err := s.RotateToken(ctx, graced.ID, successor, time.Hour); err != nil {
		t.Fatal(err)
	}
	ids := func(f latchkey.TokenFilter) []int64 { t.Helper(); return tokenIDs(t, s, a.ID, f) }
	now, later := time.Now(), time.Now().Add(2*time.Hour)
	if diff := cmp.Diff([]int64{oldNext.ID, graced.ID, successor.ID}, ids(latchkey.TokenFilter{LiveAt: &now})); diff != "" {
		t.Errorf("tokens live now (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{tok.ID, old.ID}, ids(latchkey.TokenFilter{EndedAt: &now})); diff != "" {
		t.Errorf("tokens ended now (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{tok.ID, old.ID, graced.ID}, ids(latchkey.TokenFilter{EndedAt: &later})); diff != "" {
		t.Errorf("tokens ended once the grace period is over (-want +got):\n%s", diff)
	}
}

func testIdempotencyKey(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	clock, ok := s.(interface{ SetClock(func() time.Time) })
	if !ok {
		t.Fatalf("%T has no SetClock", s)
	}
	now := time.Now()
	clock.SetClock(func() time.Time { return now })
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	key := sha256.Sum256([]byte("retry-me"))
	first := newToken(a.ID, latchkey.KindServiceToken)
	first.IdempotencyKey = key[:]
	if err := s.CreateToken(ctx, first); err != nil {
		t.Fatal(err)
	}
	// The same principal and key: nothing new, the first token's id.
	again := newToken(a.ID, latchkey.KindServiceToken)
	again.IdempotencyKey = key[:]
	err := s.CreateToken(ctx, again)
	var le *latchkey.Error
	if !errors.As(err, &le) || le.Code != latchkey.EConflict || le.Data["token_id"] != first.ID {
		t.Fatalf("a retry with the same key = %v, want a conflict naming token %d", err, first.ID)
	}
	if _, err := s.FindTokenByHash(ctx, again.Hash); latchkey.ErrorCodeOf(err) != latchkey.ENotFound {
		t.Errorf("the retry stored a token (%v)", err)
	}
	// Another principal with the same key is another request.
	other := newToken(a.ID, latchkey.KindServiceToken)
	other.IdempotencyKey, other.CreatedBy = key[:], "user:2"
	if err := s.CreateToken(ctx, other); err != nil {
		t.Errorf("another principal's key collided: %v", err)
	}
	// After the window the key is forgotten.
	now = now.Add(latchkey.IdempotencyWindow + time.Minute)
	late := newToken(a.ID, latchkey.KindServiceToken)
	late.IdempotencyKey = key[:]
	if err := s.CreateToken(ctx, late); err != nil {
		t.Errorf("a key older than the window still matched: %v", err)
	}
}

func testEditToken(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	tok := newToken(a.ID, latchkey.KindServiceToken)
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	var changes []latchkey.Change
	var mu sync.Mutex
	cancel := s.Subscribe(func(c latchkey.Change) { mu.Lock(); changes = append(changes, c); mu.Unlock() })
	defer cancel()
	cidrs := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("2001:db8::/32")}
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Microsecond)
	got, err := s.UpdateToken(ctx, tok.ID, latchkey.TokenUpdate{AllowedCIDRs: &cidrs, ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cidrs, got.AllowedCIDRs, prefixCmp); diff != "" {
		t.Errorf("allowed CIDRs after edit (-want +got):\n%s", diff)
	}
	stored, err := s.FindTokenByID(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cidrs, stored.AllowedCIDRs, prefixCmp); diff != "" {
		t.Errorf("stored allowed CIDRs (-want +got):\n%s", diff)
	}
	if stored.ExpiresAt == nil || !stored.ExpiresAt.Equal(exp) {
		t.Errorf("stored expiry = %v, want %v", stored.ExpiresAt, exp)
	}
	if !stored.UpdatedAt.After(tok.UpdatedAt) && !stored.UpdatedAt.Equal(tok.UpdatedAt) {
		t.Errorf("updated_at went back: %v before %v", stored.UpdatedAt, tok.UpdatedAt)
	}
	// Removing both: no ranges, no expiry.
	none, never := []netip.Prefix{}, time.Time{}
	if _, err := s.UpdateToken(ctx, tok.ID, latchkey.TokenUpdate{AllowedCIDRs: &none, ExpiresAt: &never}); err != nil {
		t.Fatal(err)
	}
	stored, err = s.FindTokenByID(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.AllowedCIDRs) != 0 || stored.ExpiresAt != nil {
		t.Errorf("after removing: CIDRs %v, expiry %v; want none and never", stored.AllowedCIDRs, stored.ExpiresAt)
	}
	// The same values again change nothing and record nothing.
	if _, err := s.UpdateToken(ctx, tok.ID, latchkey.TokenUpdate{AllowedCIDRs: &none, ExpiresAt: &never}); err != nil {
		t.Fatal(err)
	}
	var events []string
	for et, field := range map[string]string{"service_token.addresses_changed": "allowed_cidrs", "service_token.expiry_changed": "expires_at"} {
		entries, _, err := s.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: a.ID, EventType: &et})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			events = append(events, fmt.Sprintf("%s %v→%v", e.EventType, e.Context[field+"_from"], e.Context[field+"_to"]))
		}
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i][:24] < events[j][:24] })
	want := []string{
		"service_token.addresses_changed 10.1.0.0/16,2001:db8::/32→",
		"service_token.addresses_changed →10.1.0.0/16,2001:db8::/32",
		"service_token.expiry_changed " + exp.Format(time.RFC3339) + "→never",
		"service_token.expiry_changed never→" + exp.Format(time.RFC3339),
	}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("audit entries of the edits, newest first (-want +got):\n%s", diff)
	}
	mu.Lock()
	n := 0
	for _, c := range changes {
		if c.Kind == latchkey.ChangeToken {
			n++
		}
	}
	mu.Unlock()
	if n < 2 {
		t.Errorf("%d token changes announced for two edits, want 2 (caches must drop the old ranges and expiry)", n)
	}
}

func testEndedTokens(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	mk := func(name string) *latchkey.Token {
		t.Helper()
		tok := newToken(a.ID, latchkey.KindServiceToken)
		tok.Name = name
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	live := mk("Live_Loader")
	deleted := mk("Deleted loader")
	if err := s.DeleteToken(ctx, deleted.ID, "deleted"); err != nil {
		t.Fatal(err)
	}
	leaked := mk("Leaked 100%")
	if err := s.DeleteToken(ctx, leaked.ID, "leak_reported"); err != nil {
		t.Fatal(err)
	}
	reused := mk("reused")
	if err := s.DeleteToken(ctx, reused.ID, "reuse_detected"); err != nil {
		t.Fatal(err)
	}
	expired := mk("expired loader")
	past := time.Now().Add(-time.Minute)
	if _, err := s.UpdateToken(ctx, expired.ID, latchkey.TokenUpdate{ExpiresAt: &past}); err != nil {
		t.Fatal(err)
	}
	rotated := mk("rotated")
	if err := s.RotateToken(ctx, rotated.ID, newToken(a.ID, latchkey.KindServiceToken), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	rotatedAtOnce := mk("rotated at once")
	if err := s.RotateToken(ctx, rotatedAtOnce.ID, newToken(a.ID, latchkey.KindServiceToken), 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	ids := func(f latchkey.TokenFilter) []int64 { t.Helper(); return tokenIDs(t, s, a.ID, f) }
	now := time.Now()
	if diff := cmp.Diff([]int64{deleted.ID, leaked.ID, reused.ID, expired.ID, rotated.ID, rotatedAtOnce.ID}, ids(latchkey.TokenFilter{EndedAt: &now})); diff != "" {
		t.Errorf("ended tokens (-want +got):\n%s", diff)
	}
	for how, want := range map[latchkey.TokenEnd][]int64{
		latchkey.EndRevoked: {deleted.ID}, latchkey.EndLeaked: {leaked.ID}, latchkey.EndReuse: {reused.ID},
		latchkey.EndExpired: {expired.ID}, latchkey.EndRotatedOut: {rotated.ID, rotatedAtOnce.ID},
	} {
		if diff := cmp.Diff(want, ids(latchkey.TokenFilter{EndedAt: &now, EndedHow: how})); diff != "" {
			t.Errorf("tokens ended as %s (-want +got):\n%s", how, diff)
		}
	}
	live2 := ids(latchkey.TokenFilter{LiveAt: &now})
	if len(live2) != 3 || live2[0] != live.ID {
		t.Errorf("live tokens = %v, want %d and the two rotations' successors (expired ones are not live)", live2, live.ID)
	}
	// Name search: case-insensitive, and % and _ are literal.
	for q, want := range map[string][]int64{"loader": {live.ID, deleted.ID, expired.ID}, "LOADER": {live.ID, deleted.ID, expired.ID},
		"100%": {leaked.ID}, "e_l": {live.ID}, "%": {leaked.ID}, "nothing": {}} {
		if diff := cmp.Diff(want, ids(latchkey.TokenFilter{NameContains: q})); diff != "" {
			t.Errorf("tokens named like %q (-want +got):\n%s", q, diff)
		}
	}
	if _, _, err := s.FindTokens(ctx, latchkey.TokenFilter{EndedAt: &now, EndedHow: "stolen"}); latchkey.ErrorCodeOf(err) != latchkey.EInvalid {
		t.Errorf("an unknown way to end = %v, want invalid", err)
	}
}

// tokenIDs lists the ids of the account's tokens f keeps, in order ([] for none).
func tokenIDs(t *testing.T, s latchkey.Store, accountID int64, f latchkey.TokenFilter) []int64 {
	t.Helper()
	f.AccountID = &accountID
	toks, _, err := s.FindTokens(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	out := []int64{}
	for _, t := range toks {
		out = append(out, t.ID)
	}
	return out
}
