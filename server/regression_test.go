package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/postgres"
	"github.com/latchkey/latchkey/postgres/pgtest"
	"github.com/latchkey/latchkey/tokenfmt"
)

// Regression tests for the holes the admin layer closed, over real HTTP against the golden
// fixture (Ada is Acme's only owner; Rita is read-only) plus a security admin (Sam), an IT user
// (Ida), a member (Mo) and a user in no group (Pat), each with a PAT.

type regPerson struct {
	userID, membershipID int64
	pat                  string
}

type regEnv struct {
	*goldenEnv
	secAdmin, it, member, plain regPerson
	// secGroup grants security_admin on all projects.
	secGroup int64
}

func newRegEnv(t *testing.T) *regEnv {
	t.Helper()
	return withRegPeople(t, newGoldenEnv(t, newGoldenTemplate(t)))
}

// newRegEnvPostgres is newRegEnv on a PostgreSQL schema of its own.
func newRegEnvPostgres(t *testing.T) *regEnv {
	t.Helper()
	pgtest.Admin(t)
	store, err := postgres.Open(context.Background(), pgtest.Schema(t, "pool_max_conns", "4"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return withRegPeople(t, startGoldenServer(t, store, buildGoldenFixture(t, store)))
}

func withRegPeople(t *testing.T, g *goldenEnv) *regEnv {
	t.Helper()
	e := &regEnv{goldenEnv: g}
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test fixture", Source: "system"})
	s := e.store
	sec := &latchkey.Group{AccountID: e.fx.Account, Name: "Security", Grants: []latchkey.Grant{{PermissionSet: "security_admin", AllProjects: true}}}
	if err := s.CreateGroup(ctx, sec); err != nil {
		t.Fatal(err)
	}
	e.secGroup = sec.ID
	person := func(email string, l latchkey.License, groups []int64) regPerson {
		t.Helper()
		u := &latchkey.User{Email: email, FirstName: strings.Split(email, "@")[0]}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		m := &latchkey.Membership{AccountID: e.fx.Account, UserID: u.ID, License: l}
		if err := s.CreateMembership(ctx, m, groups); err != nil {
			t.Fatal(err)
		}
		minted, err := tokenfmt.Default.Mint(latchkey.KindPAT)
		if err != nil {
			t.Fatal(err)
		}
		pat := &latchkey.Token{AccountID: e.fx.Account, Kind: latchkey.KindPAT, UserID: u.ID, Name: "pat", UID: minted.UID, Hash: minted.Hash}
		if err := s.CreateToken(ctx, pat); err != nil {
			t.Fatal(err)
		}
		return regPerson{userID: u.ID, membershipID: m.ID, pat: minted.String}
	}
	e.secAdmin = person("sam@acme.test", latchkey.LicenseDeveloper, []int64{sec.ID})
	e.it = person("ida@acme.test", latchkey.LicenseIT, nil)
	e.member = person("mo@acme.test", latchkey.LicenseDeveloper, nil) // the default groups: Member, Everyone
	e.plain = person("pat@acme.test", latchkey.LicenseDeveloper, []int64{})
	return e
}

// api sends a JSON request with a token and decodes the envelope.
func (e *regEnv) api(t *testing.T, token, method, path string, body any) (int, apitype.Envelope) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.http.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Token "+token)
	resp := e.send(t, req)
	var env apitype.Envelope
	if err := json.Unmarshal(resp.body, &env); err != nil {
		t.Fatalf("%s %s: body is not an envelope: %v: %.300s", method, path, err, resp.body)
	}
	return resp.status, env
}

// uiPost signs userID in (a session made in the store) and posts a form to a UI page.
func (e *regEnv) uiPost(t *testing.T, userID int64, path string, form url.Values) (int, string) {
	t.Helper()
	return e.uiRequest(t, userID, http.MethodPost, path, form)
}

// uiRequest sends a request with a session cookie for userID (a session made in the store); a
// form, when given, is sent form-encoded with the session's CSRF token.
func (e *regEnv) uiRequest(t *testing.T, userID int64, method, path string, form url.Values) (int, string) {
	t.Helper()
	cookie := fmt.Sprintf("session-%d-%d", userID, time.Now().UnixNano())
	h := sha256.Sum256([]byte(cookie))
	csrf := "csrf-" + cookie
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test fixture", Source: "system"})
	if err := e.store.CreateSession(ctx, &latchkey.Session{Hash: h[:], UserID: userID, AccountID: e.fx.Account, CSRFSecret: csrf,
		ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var body io.Reader
	if form != nil {
		form.Set("csrf_token", csrf)
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.http.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	client := *e.http.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *regEnv) owners(t *testing.T) []int64 {
	t.Helper()
	ids, err := e.store.FindAccountAdmins(context.Background(), e.fx.Account)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func (e *regEnv) groupsOf(t *testing.T, userID int64) []int64 {
	t.Helper()
	ms, err := e.store.FindMemberships(context.Background(), latchkey.MembershipFilter{AccountID: &e.fx.Account, UserID: &userID})
	if err != nil || len(ms) != 1 {
		t.Fatalf("memberships of user %d: %v, %v", userID, ms, err)
	}
	return ms[0].GroupIDs
}

func (e *regEnv) path(format string, args ...any) string {
	return fmt.Sprintf("/api/v3/accounts/%d", e.fx.Account) + fmt.Sprintf(format, args...)
}

func wantStatus(t *testing.T, what string, got int, env apitype.Envelope, want int) {
	t.Helper()
	if got != want {
		t.Errorf("%s: %d (%s), want %d", what, got, env.Status.UserMessage, want)
	}
}

// The last owner could remove themself from Owner (API assign-groups and the UI's group members
// page), leaving the account with nobody holding account_admin.
func TestLastOwnerCannotLeaveOwner(t *testing.T) {
	e := newRegEnv(t)
	ada := e.fx.AdminUser
	status, env := e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/assign-groups/"),
		map[string]any{"user_id": ada, "desired_group_ids": []int64{e.fx.MemberGroup}})
	wantStatus(t, "the last owner leaves Owner through assign-groups", status, env, http.StatusConflict)
	if !strings.Contains(env.Status.UserMessage, "account_admin") {
		t.Errorf("refusal %q does not name the rule", env.Status.UserMessage)
	}
	status, body := e.uiPost(t, ada, fmt.Sprintf("/settings/groups/%d/members", e.fx.OwnerGroup),
		url.Values{"listed": {strconv.FormatInt(ada, 10)}})
	if status != http.StatusConflict || !strings.Contains(body, "account_admin") {
		t.Errorf("the last owner unticks themself on the Owner page: %d, want 409 naming the rule", status)
	}
	status, env = e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/group-permissions/%d/", e.secGroup), []any{})
	wantStatus(t, "emptying a group nobody owns through is allowed", status, env, http.StatusOK)
	if got := e.owners(t); !slices.Equal(got, []int64{ada}) {
		t.Errorf("owners = %v, want [%d]", got, ada)
	}
	if !slices.Contains(e.groupsOf(t, ada), e.fx.OwnerGroup) {
		t.Errorf("Ada left Owner")
	}
}

// A security admin could demote, ungroup and remove an account admin.
func TestSecurityAdminCannotStripAdmins(t *testing.T) {
	e := newRegEnv(t)
	ada := e.fx.AdminUser
	for _, who := range []struct {
		name string
		p    regPerson
	}{{"security admin", e.secAdmin}, {"IT license", e.it}} {
		status, env := e.api(t, who.p.pat, http.MethodPost, fmt.Sprintf("/api/v2/accounts/%d/permissions/%d/", e.fx.Account, e.fx.AdminMembership),
			map[string]any{"license_type": "read_only"})
		wantStatus(t, who.name+" sets an admin's license to read_only", status, env, http.StatusForbidden)
		status, env = e.api(t, who.p.pat, http.MethodPost, e.path("/assign-groups/"),
			map[string]any{"user_id": ada, "desired_group_ids": []int64{e.fx.MemberGroup}})
		wantStatus(t, who.name+" removes an admin from Owner", status, env, http.StatusForbidden)
		status, env = e.api(t, who.p.pat, http.MethodPost, fmt.Sprintf("/api/v2/accounts/%d/permissions/%d/", e.fx.Account, e.fx.AdminMembership),
			map[string]any{"state": 2})
		wantStatus(t, who.name+" removes an admin from the account", status, env, http.StatusForbidden)
		status, env = e.api(t, who.p.pat, http.MethodDelete, e.path("/users/%d/account-apikeys/%d/", ada, e.fx.AdminPATID), nil)
		wantStatus(t, who.name+" deletes an admin's PAT", status, env, http.StatusForbidden)
	}
	if got := e.owners(t); !slices.Equal(got, []int64{ada}) {
		t.Errorf("owners = %v, want [%d]", got, ada)
	}
	// Whom they hold as much as, they may still manage: the security admin changes the license
	// of a developer in no group (to one that hands out nothing the security admin lacks).
	status, env := e.api(t, e.secAdmin.pat, http.MethodPost, fmt.Sprintf("/api/v2/accounts/%d/permissions/%d/", e.fx.Account, e.plain.membershipID),
		map[string]any{"license_type": "analyst"})
	wantStatus(t, "security admin changes a developer in no group", status, env, http.StatusOK)
	// read_only hands out stakeholder on every project, which the security admin does not hold.
	status, env = e.api(t, e.secAdmin.pat, http.MethodPost, fmt.Sprintf("/api/v2/accounts/%d/permissions/%d/", e.fx.Account, e.plain.membershipID),
		map[string]any{"license_type": "read_only"})
	wantStatus(t, "security admin hands out read_only", status, env, http.StatusForbidden)
}

// A grant that names no scope meant all projects; a typo'd key widened a grant.
func TestGrantWithoutScopeIsRefused(t *testing.T) {
	e := newRegEnv(t)
	for _, tc := range []struct {
		what, method, path string
		body               any
	}{
		{"one-step token, typo'd projectId", http.MethodPost, e.path("/service-tokens/"),
			map[string]any{"name": "typo", "permission_grants": []any{map[string]any{"permission_set": "job_admin", "projectId": e.fx.Project}}}},
		{"one-step token, no scope", http.MethodPost, e.path("/service-tokens/"),
			map[string]any{"name": "none", "permission_grants": []any{map[string]any{"permission_set": "job_admin"}}}},
		{"two-step permissions", http.MethodPost, e.path("/service-tokens/%d/permissions/", e.fx.EmptySvcID),
			[]any{map[string]any{"permission_set": "job_admin", "projectId": e.fx.Project}}},
		{"group", http.MethodPost, e.path("/groups/"),
			map[string]any{"name": "wide", "group_permissions": []any{map[string]any{"permission_set": "job_admin"}}}},
		{"project_id 0", http.MethodPost, e.path("/group-permissions/%d/", e.fx.DataGroup),
			[]any{map[string]any{"permission_set": "job_admin", "project_id": 0}}},
	} {
		status, env := e.api(t, e.fx.AdminPAT, tc.method, tc.path, tc.body)
		wantStatus(t, tc.what, status, env, http.StatusBadRequest)
		var data struct {
			Field string `json:"field"`
		}
		_ = json.Unmarshal(env.Data, &data)
		if data.Field != "project_id" {
			t.Errorf("%s: field %q, want project_id", tc.what, data.Field)
		}
	}
	kind := latchkey.KindServiceToken
	toks, _, err := e.store.FindTokens(context.Background(), latchkey.TokenFilter{AccountID: &e.fx.Account, Kind: &kind})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if tok.Name == "typo" || tok.Name == "none" || tok.ID == e.fx.EmptySvcID && len(tok.Grants) > 0 {
			t.Errorf("token %q was stored with grants %+v", tok.Name, tok.Grants)
		}
	}
}

// Any Member (account_settings:write) could weaken the token security policy.
func TestMemberCannotWeakenTokenPolicy(t *testing.T) {
	e := newRegEnv(t)
	for _, body := range []map[string]any{
		{"leak_action": "flag"}, {"reuse_revokes_family": false}, {"max_token_lifetime_seconds": 0}, {"default_rotation_grace_seconds": 0},
	} {
		status, env := e.api(t, e.member.pat, http.MethodPost, e.path("/settings/"), body)
		wantStatus(t, fmt.Sprintf("member posts %v", body), status, env, http.StatusForbidden)
	}
	a, err := e.store.FindAccountByID(context.Background(), e.fx.Account)
	if err != nil {
		t.Fatal(err)
	}
	if a.Settings.LeakAction != "revoke" || !a.Settings.ReuseRevokesFamily || a.Settings.DefaultRotationGrace != time.Hour {
		t.Errorf("settings after a member's attempts: %+v", a.Settings)
	}
	status, env := e.api(t, e.secAdmin.pat, http.MethodPost, e.path("/settings/"), map[string]any{"leak_action": "flag"})
	wantStatus(t, "a security admin changes the leak action", status, env, http.StatusOK)
}

// The UI's group edit saved the grants and then failed on the rename (a name PostgreSQL refuses,
// a name taken meanwhile): now the name, the grants and the rest are saved together or not at all.
func TestGroupEditCommitsTogether(t *testing.T) {
	for _, store := range []struct {
		name string
		open func(*testing.T) *regEnv
	}{{"sqlite", newRegEnv}, {"postgres", newRegEnvPostgres}} {
		t.Run(store.name, func(t *testing.T) {
			e := store.open(t)
			for _, tc := range []struct {
				name string
				want int
			}{{"Data\x00team", http.StatusBadRequest}, {"Member", http.StatusConflict}} {
				status, _ := e.uiPost(t, e.fx.AdminUser, fmt.Sprintf("/settings/groups/%d", e.fx.DataGroup), url.Values{
					"name": {tc.name}, "grant_set_0": {"job_viewer"}, "grant_project_0": {"all"},
				})
				if status != tc.want {
					t.Errorf("saving group Data team as %q with new grants: %d, want %d", tc.name, status, tc.want)
				}
				g, err := e.store.FindGroupByID(context.Background(), e.fx.DataGroup)
				if err != nil {
					t.Fatal(err)
				}
				if g.Name != "Data team" || len(g.Grants) != 1 || g.Grants[0].PermissionSet != "analyst" {
					t.Errorf("after a refused save as %q the group is %q with %+v; want it unchanged", tc.name, g.Name, g.Grants)
				}
			}
		})
	}
}

// The UI's membership edit checked each change inside its loop, after earlier changes had
// committed: a refusal left a partial update.
func TestGroupMembersCommitTogether(t *testing.T) {
	e := newRegEnv(t)
	// Mo (a member) is put in Data team; the security admin then asks to take Mo out and put
	// Pat in. Sam may do neither (Data team's analyst grant, which Mo holds, is not Sam's), and
	// nothing may change.
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test fixture", Source: "system"})
	if err := e.store.SetUserGroups(ctx, e.fx.Account, e.member.userID, append(e.groupsOf(t, e.member.userID), e.fx.DataGroup)); err != nil {
		t.Fatal(err)
	}
	status, _ := e.uiPost(t, e.secAdmin.userID, fmt.Sprintf("/settings/groups/%d/members", e.fx.DataGroup), url.Values{
		"listed": {strconv.FormatInt(e.member.userID, 10), strconv.FormatInt(e.plain.userID, 10)},
		"member": {strconv.FormatInt(e.plain.userID, 10)},
	})
	if status != http.StatusForbidden {
		t.Errorf("members change the security admin may not make: %d, want 403", status)
	}
	if !slices.Contains(e.groupsOf(t, e.member.userID), e.fx.DataGroup) {
		t.Errorf("Mo was taken out of Data team by a refused change")
	}
	if slices.Contains(e.groupsOf(t, e.plain.userID), e.fx.DataGroup) {
		t.Errorf("Pat was put in Data team by a refused change")
	}
}

// A leak report's audit entry and its revocation were separate transactions.
func TestLeakReportCommitsWithItsRevocation(t *testing.T) {
	e := newRegEnv(t)
	body, _ := json.Marshal([]map[string]string{{"token": e.fx.Svc, "type": "latchkey_service_token", "url": "https://github.com/x/y", "source": "content"}})
	req, _ := http.NewRequest(http.MethodPost, e.http.URL+"/v1/leaks/github", bytes.NewReader(body))
	req.Header.Set("Github-Public-Key-Identifier", goldenKeyID)
	req.Header.Set("Github-Public-Key-Signature", signLeakReport(t, body))
	if resp := e.send(t, req); resp.status != http.StatusOK {
		t.Fatalf("leak report: %d %s", resp.status, resp.body)
	}
	entries, _, err := e.store.FindAuditEntries(context.Background(), latchkey.AuditFilter{AccountID: e.fx.Account, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var leak, revoke *latchkey.AuditEntry
	for _, en := range entries {
		switch en.EventType {
		case "leak.reported":
			leak = en
		case "service_token.revoked":
			revoke = en
		}
	}
	if leak == nil || revoke == nil {
		t.Fatalf("audit entries after a leak report: want leak.reported and service_token.revoked, got %d entries", len(entries))
	}
	// Entries of one transaction share its clock reading; separate transactions read it apart.
	if !leak.CreatedAt.Equal(revoke.CreatedAt) || revoke.ID != leak.ID+1 {
		t.Errorf("leak.reported (%d at %v) and service_token.revoked (%d at %v) were not written by one transaction",
			leak.ID, leak.CreatedAt, revoke.ID, revoke.CreatedAt)
	}
}

// Names took NUL, newlines and bidi overrides, and counted bytes as characters.
func TestNamesAreCharactersWithoutControls(t *testing.T) {
	e := newRegEnv(t)
	for _, name := range []string{"ci\x00prod", "ci\nprod", "invoice\u202Etxt.exe", strings.Repeat("ж", 256)} {
		for _, path := range []string{e.path("/projects/"), e.path("/groups/"), e.path("/service-tokens/")} {
			status, env := e.api(t, e.fx.AdminPAT, http.MethodPost, path, map[string]any{"name": name})
			wantStatus(t, fmt.Sprintf("POST %s name %q", path, name), status, env, http.StatusBadRequest)
		}
	}
	for _, name := range []string{strings.Repeat("😀", 64), strings.Repeat("ж", 150)} {
		status, env := e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/projects/"), map[string]any{"name": name})
		wantStatus(t, fmt.Sprintf("project named %d × %q", len([]rune(name)), []rune(name)[0]), status, env, http.StatusCreated)
	}
	// The UI accepts what the API accepts, with the API's words for what it refuses.
	status, body := e.uiPost(t, e.fx.AdminUser, "/settings/projects", url.Values{"name": {strings.Repeat("ы", 150)}})
	if status != http.StatusSeeOther {
		t.Errorf("UI: a 150-character Cyrillic project name: %d, want a redirect after creation:\n%.400s", status, body)
	}
	status, body = e.uiPost(t, e.fx.AdminUser, "/settings/projects", url.Values{"name": {"a\u202Eb"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "must not contain characters that change the direction of text") {
		t.Errorf("UI: a name with a bidi override: %d, want 400 with the API's message", status)
	}
	// Project names are unique among an account's active projects.
	status, env := e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/projects/"), map[string]any{"name": "Analytics"})
	wantStatus(t, "a second project named Analytics", status, env, http.StatusConflict)
}

// Rotating with the defaults revoked the old token at once, and a client still presenting it
// then revoked the new one through reuse detection.
func TestRotationDefaultsKeepTheOldTokenWorking(t *testing.T) {
	e := newRegEnv(t)
	status, env := e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/service-tokens/%d/rotate/", e.fx.SvcID), nil)
	wantStatus(t, "rotate with no body", status, env, http.StatusCreated)
	var next apitype.Token
	if err := json.Unmarshal(env.Data, &next); err != nil {
		t.Fatal(err)
	}
	if next.TokenString == "" {
		t.Fatal("rotation answered no token string")
	}
	// The old token keeps working for the account's default grace (an hour), and using it does
	// not revoke its successor.
	for range 3 {
		status, env = e.api(t, e.fx.Svc, http.MethodGet, "/api/v2/whoami/", nil)
		wantStatus(t, "the old token right after a default rotation", status, env, http.StatusOK)
	}
	status, env = e.api(t, next.TokenString, http.MethodGet, "/api/v2/whoami/", nil)
	wantStatus(t, "the new token after the old one was used", status, env, http.StatusOK)
	old, err := e.store.FindTokenByID(context.Background(), e.fx.SvcID)
	if err != nil {
		t.Fatal(err)
	}
	if old.GraceUntil == nil || old.GraceUntil.Sub(*old.RotatedAt) != time.Hour {
		t.Errorf("default rotation grace: rotated at %v, grace until %v; want an hour", old.RotatedAt, old.GraceUntil)
	}
	// An explicit 0 still means at once.
	status, env = e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/service-tokens/%d/rotate/", next.ID), map[string]any{"grace_period_seconds": 0})
	wantStatus(t, "rotate with grace 0", status, env, http.StatusCreated)
	status, env = e.api(t, next.TokenString, http.MethodGet, "/api/v2/whoami/", nil)
	wantStatus(t, "a token rotated with grace 0", status, env, http.StatusUnauthorized)
}

// Revoked tokens vanished from the UI: they now have a view with why, when and by whom.
func TestRevokedTokensStayVisible(t *testing.T) {
	e := newRegEnv(t)
	status, env := e.api(t, e.fx.AdminPAT, http.MethodDelete, e.path("/service-tokens/%d/", e.fx.SvcID), nil)
	wantStatus(t, "delete", status, env, http.StatusOK)
	cookie := "revoked-view"
	h := sha256.Sum256([]byte(cookie))
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test fixture", Source: "system"})
	if err := e.store.CreateSession(ctx, &latchkey.Session{Hash: h[:], UserID: e.fx.AdminUser, AccountID: e.fx.Account, CSRFSecret: "x",
		ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/settings/service-tokens?view=revoked", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	resp := e.send(t, req)
	page := string(resp.body)
	if resp.status != http.StatusOK || !strings.Contains(page, "CI deploy") || !strings.Contains(page, "Deleted") ||
		!strings.Contains(page, "Person: Ada Admin") {
		t.Errorf("revoked view: %d, want CI deploy listed as Deleted by Person: Ada Admin:\n%.2000s", resp.status, page)
	}
	var tok apitype.Token
	status, env = e.api(t, e.fx.AdminPAT, http.MethodGet, e.path("/service-tokens/%d/", e.fx.SvcID), nil)
	_ = json.Unmarshal(env.Data, &tok)
	if status != http.StatusOK || tok.RevokedAt == nil || tok.RevokedReason != "deleted" || tok.RevokedBy != fmt.Sprintf("user:%d", e.fx.AdminUser) {
		t.Errorf("deleted token in the API: revoked_at %v, reason %q, by %q", tok.RevokedAt, tok.RevokedReason, tok.RevokedBy)
	}
}
