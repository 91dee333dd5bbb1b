package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/sso/ssotest"
)

// testSecretKey is the deployment secret of the SSO tests' servers.
const testSecretKey = "a deployment secret of at least 32 characters"

// requestLog records the URLs the browser requests, to find the callback of an SSO sign-in and
// the state of an attempt on their way through redirects.
type requestLog struct {
	mu   sync.Mutex
	urls []string
}

func (l *requestLog) listen(b *browser) {
	b.t.Helper()
	if err := chromedp.Listen(b.ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			l.mu.Lock()
			l.urls = append(l.urls, e.Request.URL)
			l.mu.Unlock()
		}
	}); err != nil {
		b.t.Fatalf("listen to the browser's requests: %v", err)
	}
}

// last returns the last requested URL containing part.
func (l *requestLog) last(t testing.TB, part string) *url.URL {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.urls) - 1; i >= 0; i-- {
		if strings.Contains(l.urls[i], part) {
			u, err := url.Parse(l.urls[i])
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
	}
	t.Fatalf("the browser requested no URL containing %q", part)
	return nil
}

// ssoUser reads a user of the account through the API.
func ssoUser(t *testing.T, ts *testServer, email string) (apitype.User, bool) {
	t.Helper()
	var users []apitype.User
	if _, err := ts.Admin.Do(t.Context(), http.MethodGet, pathf("/api/v3/accounts/%d/users/", ts.AccountID), nil, &users); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Email == email {
			return u, true
		}
	}
	return apitype.User{}, false
}

// ssoFailures returns the reasons of the account's failed SSO sign-ins in the audit log.
func ssoFailures(t *testing.T, ts *testServer) []string {
	t.Helper()
	var entries []apitype.AuditEntry
	if _, err := ts.Admin.Do(t.Context(), http.MethodGet, pathf("/api/v3/accounts/%d/audit-logs/?event_type=user.sso_sign_in_failed", ts.AccountID), nil, &entries); err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range entries {
		var c struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(e.Context, &c)
		reasons = append(reasons, c.Reason)
	}
	slices.Sort(reasons)
	return reasons
}

// signInAtIdP goes from the sign-in page's SSO button through the test IdP's form, and returns
// the status of the page the browser lands on.
func signInAtIdP(b *browser, baseURL, email, password string) int64 {
	b.t.Helper()
	b.open(baseURL + "/login?sso=acme")
	b.clickTo("#sso-sign-in")
	b.do("fill the identity provider's form",
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), email),
		chromedp.SendKeys(chromedp.ID("password"), password))
	return b.clickTo("#idp-sign-in").Status
}

// TestUISSOSignIn configures OpenID Connect single sign-on through the settings page against a
// real OpenID Provider running in the test, then signs a new person in with it in Chromium: the
// user is created just in time, joins the default groups and the group whose SSO mapping group
// they are in, gets the license a license map gives, and has a working session. Then each way
// a sign-in must fail: a wrong state, a replayed code, a wrong nonce, an unverified email and an
// identity provider that is down — each shown on the sign-in page and audited.
func TestUISSOSignIn(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise", "--secret-key", testSecretKey)
	op := ssotest.Start(t, ts.URL+"/sso/callback",
		ssotest.User{ID: "ada", Email: "ada@idp.example", Password: "ada-pw", EmailVerified: true, FirstName: "Ada", LastName: "Lovelace",
			Groups: []string{"idp-analysts", "everyone"}},
		ssotest.User{ID: "bob", Email: "bob@idp.example", Password: "bob-pw", EmailVerified: true, FirstName: "Bob"},
		ssotest.User{ID: "cy", Email: "cy@idp.example", Password: "cy-pw", EmailVerified: true, FirstName: "Cy"})
	var reqs requestLog
	reqs.listen(b)

	// A group that follows the IdP group idp-analysts.
	var group apitype.Group
	if _, err := ts.Admin.Do(t.Context(), http.MethodPost, pathf("/api/v3/accounts/%d/groups/", ts.AccountID),
		map[string]any{"name": "Analysts", "sso_mapping_groups": []string{"idp-analysts"}}, &group); err != nil {
		t.Fatal(err)
	}

	// The admin sets SSO up on the settings page.
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	b.open(ts.URL + "/settings/account")
	b.clickTo("#sidebar-sso")
	// A plain-http issuer that is not localhost is refused next to its field, what was typed kept.
	b.do("fill the SSO form with a bad issuer",
		chromedp.SendKeys(chromedp.ID("sso-issuer"), "http://idp.example.com"),
		chromedp.SendKeys(chromedp.ID("sso-client-id"), op.ClientID))
	if resp := b.clickTo("#sso-save"); resp.Status != http.StatusBadRequest {
		t.Errorf("bad issuer: status %d, want 400", resp.Status)
	}
	if got := b.text("#sso-issuer-error"); !strings.Contains(got, "must use https") {
		t.Errorf("bad issuer: the field says %q", got)
	}
	if got := b.value("#sso-client-id"); got != op.ClientID {
		t.Errorf("client ID after a refused save = %q, want it kept", got)
	}
	b.do("clear the form", chromedp.Clear(chromedp.ID("sso-issuer")), chromedp.Clear(chromedp.ID("sso-client-id")))
	b.do("fill the SSO form",
		chromedp.SendKeys(chromedp.ID("sso-issuer"), op.Issuer),
		chromedp.SendKeys(chromedp.ID("sso-client-id"), op.ClientID),
		chromedp.SendKeys(chromedp.ID("sso-client-secret"), op.ClientSecret),
		chromedp.SendKeys(chromedp.ID("sso-slug"), "acme"))
	b.clickTo("#sso-save")
	if got := b.text("#flash"); !strings.Contains(got, "saved") {
		t.Fatalf("after saving SSO settings the page says %q", got)
	}
	b.do("fill the license map form",
		chromedp.SetValue(chromedp.ID("map-license"), "analyst"),
		chromedp.SendKeys(chromedp.ID("map-groups"), "idp-analysts"))
	b.clickTo("#license-map-add")
	if got := b.text("#sso-login-url"); got != ts.URL+"/login/sso/acme" {
		t.Errorf("sign-in link = %q, want %s/login/sso/acme", got, ts.URL)
	}
	if strings.Contains(b.html(), op.ClientSecret) {
		t.Errorf("the settings page shows the client secret")
	}
	if got := b.text("#license-maps"); !strings.Contains(got, "Analyst") || !strings.Contains(got, "idp-analysts") {
		t.Errorf("license maps table = %q", got)
	}
	b.shot("ui-sso-settings")
	// The page holds its layout on a phone (TestUILayoutHolds' check, for this page).
	b.do("resize to a phone", chromedp.EmulateViewport(390, 844))
	b.open(ts.URL + "/settings/sso")
	if got := evalJS[[]float64](b, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`); got[0] > got[1] {
		t.Errorf("390x844 /settings/sso: the page is %v px wide in a %v px window", got[0], got[1])
	}
	b.do("resize back", chromedp.EmulateViewport(1280, 860))
	b.signOut()

	// The sign-in page offers the account's SSO once its name is given.
	b.open(ts.URL + "/login")
	b.do("name the account", chromedp.SendKeys(chromedp.ID("sso-account"), "acme"))
	b.clickTo("#sso-find")
	b.do("wait for the SSO button", chromedp.WaitVisible(chromedp.ID("sso-sign-in")))
	b.shot("ui-sso-sign-in")
	b.do("resize to a phone", chromedp.EmulateViewport(390, 844))
	if got := evalJS[[]float64](b, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`); got[0] > got[1] {
		t.Errorf("390x844 sign-in page with SSO: the page is %v px wide in a %v px window", got[0], got[1])
	}
	b.do("resize back", chromedp.EmulateViewport(1280, 860))

	// Success: Ada is created just in time.
	b.clickTo("#sso-sign-in")
	b.do("fill the identity provider's form",
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "ada@idp.example"),
		chromedp.SendKeys(chromedp.ID("password"), "ada-pw"))
	if status := b.clickTo("#idp-sign-in").Status; status != http.StatusOK {
		t.Fatalf("SSO sign-in landed on status %d", status)
	}
	if got := b.text("#whoami-name"); got != "Ada Lovelace" {
		t.Fatalf("signed in as %q, want Ada Lovelace\n%s", got, b.html())
	}
	callback := reqs.last(t, "/sso/callback?")
	ada, ok := ssoUser(t, ts, "ada@idp.example")
	if !ok || len(ada.Permissions) != 1 {
		t.Fatalf("Ada after SSO sign-in: %+v, want one membership", ada)
	}
	var groups []string
	for _, g := range ada.Permissions[0].Groups {
		groups = append(groups, g.Name)
	}
	slices.Sort(groups)
	if ada.Permissions[0].LicenseType != "analyst" || !slices.Equal(groups, []string{"Analysts", "Everyone", "Member"}) {
		t.Errorf("Ada's license %q and groups %v, want analyst (license map) and Analysts, Everyone, Member", ada.Permissions[0].LicenseType, groups)
	}
	if resp := b.open(ts.URL + "/profile"); resp.Status != http.StatusOK || !strings.Contains(b.html(), "ada@idp.example") {
		t.Errorf("profile with the SSO session: status %d", resp.Status)
	}
	b.signOut()
	// Signed out, the sign-in page remembers the account's SSO.
	b.open(ts.URL + "/login")
	if b.count("#sso-sign-in") != 1 {
		t.Errorf("the sign-in page does not offer the last SSO account again")
	}

	// Cy also owns another account, with a password. Her SSO session acts in Acme only: Acme's
	// IdP vouched for her, the other account's did not.
	dir := t.TempDir()
	pwFile, tokFile := filepath.Join(dir, "pw"), filepath.Join(dir, "tok")
	if err := os.WriteFile(pwFile, []byte("cy's long passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, nil, "init", "--db", ts.DB, "--account", "Other", "--email", "cy@idp.example", "--password-file", pwFile, "--token-file", tokFile)
	if err != nil {
		t.Fatalf("init the other account: %v\n%s", err, out)
	}
	otherID := strings.TrimSpace(out)
	// Acme's IdP cannot pull a person of another account into Acme by asserting her email.
	if status := signInAtIdP(b, ts.URL, "cy@idp.example", "cy-pw"); status != http.StatusForbidden {
		t.Fatalf("Cy's SSO sign-in before Acme added her: status %d, want 403", status)
	}
	if got := b.text("#page-error"); !strings.Contains(got, "not a member of this account") {
		t.Errorf("Cy refused with %q", got)
	}
	if _, err := ts.Admin.CreateUser(t.Context(), ts.AccountID, client.CreateUserRequest{Email: "cy@idp.example", LicenseType: "developer"}); err != nil {
		t.Fatal(err)
	}
	if status := signInAtIdP(b, ts.URL, "cy@idp.example", "cy-pw"); status != http.StatusOK {
		t.Fatalf("Cy's SSO sign-in: status %d", status)
	}
	if resp := b.open(ts.URL + "/api/v3/accounts/" + otherID + "/projects/"); resp.Status != http.StatusForbidden {
		t.Errorf("Cy's SSO session in her other account: status %d, want 403", resp.Status)
	}
	b.open(ts.URL + "/")
	b.signOut()

	// A wrong state: the callback does not match the attempt this browser started.
	b.clickTo("#sso-sign-in")
	b.do("reach the identity provider", chromedp.WaitVisible(chromedp.ID("username")))
	if resp := b.open(ts.URL + "/sso/callback?code=made-up&state=not-the-state"); resp.Status != http.StatusBadRequest {
		t.Errorf("wrong state: status %d, want 400", resp.Status)
	}
	if got := b.text("#page-error"); !strings.Contains(got, "wrong state") {
		t.Errorf("wrong state: the page says %q", got)
	}

	// A replayed code: a new attempt (its state is on the authorization request) with the code
	// Ada's sign-in used. The IdP refuses it.
	b.clickTo("#sso-sign-in")
	b.do("reach the identity provider", chromedp.WaitVisible(chromedp.ID("username")))
	state := reqs.last(t, "/authorize?").Query().Get("state")
	replay := ts.URL + "/sso/callback?" + url.Values{"code": {callback.Query().Get("code")}, "state": {state}}.Encode()
	if resp := b.open(replay); resp.Status != http.StatusUnauthorized {
		t.Errorf("replayed code: status %d, want 401", resp.Status)
	}
	if got := b.text("#page-error"); !strings.Contains(got, "already used") {
		t.Errorf("replayed code: the page says %q", got)
	}
	if b.count("#whoami-name") != 0 {
		t.Errorf("a replayed code signed the browser in")
	}
	// The whole callback of Ada's sign-in again: its attempt is over.
	if resp := b.open(callback.String()); resp.Status != http.StatusBadRequest || !strings.Contains(b.text("#page-error"), "expired") {
		t.Errorf("replayed callback: status %d, page %q", resp.Status, b.text("#page-error"))
	}

	// A wrong nonce in the ID token.
	op.SetWrongNonce(true)
	if status := signInAtIdP(b, ts.URL, "bob@idp.example", "bob-pw"); status != http.StatusUnauthorized {
		t.Errorf("wrong nonce: status %d, want 401", status)
	}
	if got := b.text("#page-error"); !strings.Contains(got, "wrong nonce") {
		t.Errorf("wrong nonce: the page says %q", got)
	}
	op.SetWrongNonce(false)

	// An email the IdP has not verified.
	op.SetEmailVerified("bob", false)
	if status := signInAtIdP(b, ts.URL, "bob@idp.example", "bob-pw"); status != http.StatusForbidden {
		t.Errorf("unverified email: status %d, want 403", status)
	}
	if got := b.text("#page-error"); !strings.Contains(got, "not verified your email") {
		t.Errorf("unverified email: the page says %q", got)
	}
	if _, ok := ssoUser(t, ts, "bob@idp.example"); ok {
		t.Errorf("a user with an unverified email was created")
	}

	// The IdP is down.
	op.Close()
	b.open(ts.URL + "/login?sso=acme")
	if resp := b.clickTo("#sso-sign-in"); resp.Status != http.StatusServiceUnavailable {
		t.Errorf("IdP down: status %d, want 503", resp.Status)
	}
	if got := b.text("#page-error"); !strings.Contains(got, "identity provider is unavailable") {
		t.Errorf("IdP down: the page says %q", got)
	}
	if html := b.html(); strings.Contains(html, "127.0.0.1:") && strings.Contains(b.text("#page-error"), "127.0.0.1") {
		t.Errorf("the IdP-down message names the IdP's address: %q", b.text("#page-error"))
	}

	// The replayed callback named no attempt, so no account: it is counted, not audited.
	want := []string{"code_rejected", "email_unverified", "idp_unavailable", "nonce_mismatch", "refused", "state_mismatch"}
	if got := ssoFailures(t, ts); !slices.Equal(got, want) {
		t.Errorf("audited SSO failures = %v, want %v", got, want)
	}
}

// TestUISSOPasswordSwitch turns password sign-in off for an SSO account: a member's correct
// password is refused with a pointer to SSO, while an account owner (break-glass) still signs
// in with theirs.
func TestUISSOPasswordSwitch(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise", "--secret-key", testSecretKey)
	ctx := context.Background()
	if _, err := ts.Admin.Do(ctx, http.MethodPost, pathf("/api/v3/accounts/%d/users/", ts.AccountID),
		map[string]any{"email": "mia@example.com", "password": "mia's long passphrase", "license_type": "developer"}, nil); err != nil {
		t.Fatal(err)
	}
	var sp apitype.AuthProvider
	if _, err := ts.Admin.Do(ctx, http.MethodPost, pathf("/api/v3/accounts/%d/auth-provider/", ts.AccountID),
		map[string]any{"type": "oidc", "slug": "acme", "issuer": "https://idp.example.com", "client_id": "latchkey", "allow_password_backdoor": false}, &sp); err != nil {
		t.Fatal(err)
	}

	b.open(ts.URL + "/login")
	b.do("fill the sign-in form", chromedp.SendKeys(chromedp.ID("email"), "mia@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), "mia's long passphrase"))
	if resp := b.clickTo("#sign-in"); resp.Status != http.StatusUnauthorized {
		t.Errorf("member's password with the backdoor off: status %d, want 401", resp.Status)
	}
	if got := b.text("#page-error"); !strings.Contains(got, "Password sign-in is turned off") || !strings.Contains(got, "/login/sso/acme") {
		t.Errorf("member's password refused with %q, want a pointer to /login/sso/acme", got)
	}

	// The owner is the break-glass admin.
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	b.signOut()

	// With the backdoor on again, the member's password works.
	if _, err := ts.Admin.Do(ctx, http.MethodPost, pathf("/api/v3/accounts/%d/auth-provider/%d/", ts.AccountID, sp.ID),
		map[string]any{"allow_password_backdoor": true}, nil); err != nil {
		t.Fatal(err)
	}
	b.signIn(ts.URL, "mia@example.com", "mia's long passphrase")
}

// TestUISSOChangesNeedAnOwner: a security admin sees the single sign-on settings but no form
// (whoever controls the identity provider can sign in as anyone, the owners included), and a
// forged save is refused; the owner removes a license map and turns single sign-on off, each
// after a confirmation page that says what happens.
func TestUISSOChangesNeedAnOwner(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise", "--secret-key", testSecretKey)
	ctx := context.Background()
	var sp apitype.AuthProvider
	if _, err := ts.Admin.Do(ctx, http.MethodPost, pathf("/api/v3/accounts/%d/auth-provider/", ts.AccountID),
		map[string]any{"type": "oidc", "slug": "acme", "issuer": "https://idp.example.com", "client_id": "latchkey"}, &sp); err != nil {
		t.Fatal(err)
	}
	var lm apitype.LicenseMap
	if _, err := ts.Admin.Do(ctx, http.MethodPost, pathf("/api/v3/accounts/%d/license-maps/", ts.AccountID),
		map[string]any{"license_type": "analyst", "sso_license_mapping_groups": []string{"idp-analysts"}}, &lm); err != nil {
		t.Fatal(err)
	}
	var group apitype.Group
	if _, err := ts.Admin.Do(ctx, http.MethodPost, pathf("/api/v3/accounts/%d/groups/", ts.AccountID),
		map[string]any{"name": "Security", "group_permissions": []map[string]any{{"permission_set": "security_admin", "all_projects": true}}}, &group); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Admin.CreateUser(ctx, ts.AccountID, client.CreateUserRequest{Email: "sec@example.com", Password: testAdminPassword,
		LicenseType: "developer", GroupIDs: []int64{group.ID}}); err != nil {
		t.Fatal(err)
	}

	sec := newFormClient(t, ts.URL, "sec@example.com", testAdminPassword)
	page := sec.page(t, "/settings/sso")
	if !strings.Contains(page, `id="sso-read-only"`) || strings.Contains(page, `id="sso-form"`) || strings.Contains(page, `id="license-map-form"`) {
		t.Error("a security admin's SSO page offers the forms, or does not say who may change it")
	}
	csrf := sec.csrf(t, "/settings/sso")
	if status, _ := sec.postPage(t, "/settings/sso/delete", url.Values{"csrf_token": {csrf}}); status != http.StatusForbidden {
		t.Errorf("a security admin's forged turn-off: %d, want 403", status)
	}

	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	b.open(ts.URL + "/settings/sso")
	b.clickTo(`a[aria-label^="Remove the Analyst license map"]`)
	if got := b.text("main"); !strings.Contains(got, "Remove this license map?") || !strings.Contains(got, "idp-analysts") {
		t.Errorf("license map confirmation says %q", got)
	}
	b.clickTo("#confirm-sso-delete")
	if got := b.text("#flash"); !strings.Contains(got, "License map removed") {
		t.Errorf("after removing the license map: %q", got)
	}
	b.clickTo("#sso-delete")
	if got := b.text("h1"); got != "Turn single sign-on off?" {
		t.Errorf("turn-off confirmation title = %q", got)
	}
	b.clickTo("#confirm-sso-delete")
	if got := b.text("#sso-status"); got != "Off" {
		t.Errorf("after turning it off the status is %q", got)
	}
}
