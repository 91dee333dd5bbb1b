package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/sqlite"
)

// The browser tests walk the web UI in a real headless Chromium (see docs/ui.md). Each test
// function drives one browser. Screenshots of each step go to a temporary directory, or to
// docs/images with LATCHKEY_UPDATE_SCREENSHOTS=1.

var tokenRE = regexp.MustCompile(`^lksvc_[0-9A-Za-z]{46}$`)

// TestUIServiceTokenFlow walks the documented flow: sign in, account name, Account settings,
// Service tokens, + New Token with two permission rows, reveal, use the token, leave and return,
// rotate with a grace period, and delete with the trash can.
func TestUIServiceTokenFlow(t *testing.T) {
	b := newBrowser(t)
	// Last-used times are written every 100 ms, so the list shows used tokens as they are.
	ts := startServer(t, "enterprise", "--last-used-flush-interval", "100ms")
	ctx := context.Background()
	analytics, err := ts.Admin.CreateProject(ctx, ts.AccountID, "analytics", "Warehouse models and marts")
	if err != nil {
		t.Fatal(err)
	}
	marketing, err := ts.Admin.CreateProject(ctx, ts.AccountID, "marketing", "Campaign reporting")
	if err != nil {
		t.Fatal(err)
	}
	// Tokens an account would already have, so the list looks like a real one.
	airflow, _ := ts.serviceToken(t, "airflow-prod", client.GrantOn("job_runner", analytics.ID), client.GrantOn("job_viewer", marketing.ID))
	ts.serviceToken(t, "looker", client.GrantOn("metadata_only", 0))
	addLegacyToken(t, ts, "old-dagster")
	if _, err := airflow.Whoami(ctx); err != nil {
		t.Fatal(err)
	}

	// Sign in, open the account menu by its name, and go to Account settings.
	b.open(ts.URL + "/settings/service-tokens")
	if got := b.text("h1"); got != "Sign in to latchkey" {
		t.Fatalf("signed-out visit shows %q, want the sign-in page", got)
	}
	b.do("fill the sign-in form",
		chromedp.SendKeys(chromedp.ID("email"), ts.AdminEmail),
		chromedp.SendKeys(chromedp.ID("password"), ts.AdminPass))
	b.shot("ui-01-sign-in")
	b.clickTo("#sign-in")
	b.do("open the home page", chromedp.Navigate(ts.URL+"/"))
	if got := b.text("#account-name"); !strings.Contains(got, "Acme") {
		t.Fatalf("left menu account name = %q, want Acme", got)
	}
	b.do("open the account menu", chromedp.Click(chromedp.ID("account-name")), chromedp.WaitVisible(chromedp.ID("account-settings-link")))
	b.shot("ui-02-account-menu")
	b.clickTo("#account-settings-link")
	if got := b.text("h1"); got != "Account" {
		t.Fatalf("Account settings opens %q, want Account", got)
	}
	if got := b.text("#account-plan"); got != "enterprise" {
		t.Errorf("account plan = %q, want enterprise", got)
	}
	b.shot("ui-03-account-settings")

	// Service tokens in the sidebar, then + New Token.
	b.clickTo("#sidebar-service-tokens")
	list := b.text("#token-table")
	for _, want := range []string{"airflow-prod", "Job Runner on analytics; Job Viewer on marketing", "looker",
		"Metadata Only on all projects", "old-dagster", "legacy format – rotate", "01234567…"} {
		if !strings.Contains(list, want) {
			t.Errorf("token list lacks %q:\n%s", want, list)
		}
	}
	b.shot("ui-04-service-tokens")
	b.clickTo("#new-token")

	// Row 1: Job Admin on analytics, with a writable environment by mistake; + Add permission
	// keeps everything typed; row 2: Metadata Only on all projects.
	b.do("fill the first permission row",
		chromedp.SendKeys(chromedp.ID("token-name"), "ci-deploy"),
		chromedp.SetValue(chromedp.ID("grant-set-0"), "job_admin"),
		chromedp.SetValue(chromedp.ID("grant-project-0"), idStr(analytics.ID)),
		chromedp.Click(chromedp.CSS(`input[name=grant_envs_0][value=production]`)))
	b.clickTo("#add-permission")
	if got := b.value("#token-name"); got != "ci-deploy" {
		t.Errorf("after Add permission the name is %q, want ci-deploy", got)
	}
	if got := b.value("#grant-set-0") + "/" + b.value("#grant-project-0"); got != "job_admin/"+idStr(analytics.ID) {
		t.Errorf("after Add permission row 1 is %s", got)
	}
	b.waitFocus("grant-set-1")
	b.do("fill the second permission row", chromedp.SetValue(chromedp.ID("grant-set-1"), "metadata_only"))
	b.shot("ui-05-new-token-form")
	if resp := b.clickTo("#create-token"); resp.Status != http.StatusBadRequest {
		t.Errorf("creating with a writable environment on job_admin: status %d, want 400", resp.Status)
	}
	if got := b.text("#grant-envs-0-error"); !strings.Contains(got, "does not take writable environment categories") {
		t.Errorf("error next to row 1's environments = %q", got)
	}
	if got := b.value("#token-name") + "|" + b.value("#grant-set-0") + "|" + b.value("#grant-project-0") + "|" + b.value("#grant-set-1") + "|" + b.value("#grant-project-1"); got != "ci-deploy|job_admin|"+idStr(analytics.ID)+"|metadata_only|all" {
		t.Errorf("after the validation error the form holds %s; nothing typed may be lost", got)
	}
	b.shot("ui-06-validation-error")
	b.do("untick the environment", chromedp.Click(chromedp.CSS(`input[name=grant_envs_0][value=production]`)))

	// Create: the reveal page shows the token once, never cached.
	resp := b.clickTo("#create-token")
	if resp.Status != http.StatusOK || !strings.Contains(header(resp, "Cache-Control"), "no-store") {
		t.Errorf("reveal page: status %d, Cache-Control %q; want 200 and no-store", resp.Status, header(resp, "Cache-Control"))
	}
	secret := b.value("#token-value")
	if !tokenRE.MatchString(secret) {
		t.Fatalf("revealed token %.10s… does not look like a service token", secret)
	}
	if got := b.text("#reveal-warning"); !strings.Contains(got, "You won't see it again") {
		t.Errorf("reveal warning = %q", got)
	}
	if got := b.text(".facts"); !strings.Contains(got, "Job Admin on analytics; Metadata Only on all projects") {
		t.Errorf("reveal page facts = %q, want the permission summary", got)
	}
	if loc := evalJS[string](b, "location.href"); strings.Contains(loc, secret) {
		t.Errorf("the token is in the URL")
	}
	b.do("press Copy", chromedp.Click(chromedp.ID("copy-token"), chromedp.NodeVisible))
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`document.getElementById("copy-status").textContent !== ""`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("Copy never reported: %v", err)
	}
	if got := b.text("#copy-status"); !strings.Contains(got, "Cop") && !strings.Contains(got, "copy") {
		t.Errorf("after Copy the status says %q", got)
	}
	b.shot("ui-07-reveal")

	// The token works with exactly those permissions.
	c := client.New(ts.URL, secret)
	if _, err := c.Do(ctx, http.MethodGet, pathf("/api/v3/accounts/%d/projects/%d/", ts.AccountID, analytics.ID), nil, nil); err != nil {
		t.Errorf("new token reading analytics (job_admin): %v", err)
	}
	_, err = c.Do(ctx, http.MethodGet, pathf("/api/v3/accounts/%d/projects/%d/", ts.AccountID, marketing.ID), nil, nil)
	wantStatus(t, "new token reading marketing", err, http.StatusNotFound)
	_, _, err = c.ServiceTokens(ctx, ts.AccountID, client.ListOptions{})
	wantStatus(t, "new token listing service tokens", err, http.StatusForbidden)
	tok := findToken(t, ts, secret)
	if tok.Name != "ci-deploy" || len(tok.PermissionGrants) != 2 {
		t.Errorf("created token = %s with %d grants, want ci-deploy with 2", tok.Name, len(tok.PermissionGrants))
	}

	// Leave and return: the token string is on no page, in no history entry, log or database file.
	b.clickTo("#reveal-done")
	if got := b.text("#token-" + idStr(tok.ID)); !strings.Contains(got, "lksvc_"+tok.UID+"…") || !strings.Contains(got, "Job Admin on analytics; Metadata Only on all projects") {
		t.Errorf("list row of the new token = %q", got)
	}
	// Back to the reveal page: it was sent no-store, so Chromium has no copy to show and asks to
	// resubmit the form instead (ERR_CACHE_MISS).
	if err := chromedp.Do(b.ctx, chromedp.NavigateBack()); err != nil && !strings.Contains(err.Error(), "ERR_CACHE_MISS") {
		t.Fatalf("go back to the reveal page: %v", err)
	}
	pages := map[string]string{"back to the reveal page": b.html()}
	for _, p := range []string{"/", "/settings/service-tokens", "/settings/audit-log", "/profile", "/settings/service-tokens/" + idStr(tok.ID) + "/rotate"} {
		b.open(ts.URL + p)
		pages[p] = b.html()
	}
	for name, html := range pages {
		if strings.Contains(html, secret) || strings.Contains(html, secret[len("lksvc_")+8:]) {
			t.Errorf("page %s shows the token string after the reveal", name)
		}
	}
	hist, err := chromedp.Run(b.ctx, chromedp.NavigationEntries())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range hist.Entries {
		if strings.Contains(e.URL, secret) {
			t.Errorf("history entry %s holds the token", e.URL)
		}
	}

	// Rotate with a 1 hour grace period: both tokens work.
	b.open(ts.URL + "/settings/service-tokens")
	b.clickTo(`a[aria-label="Rotate token ci-deploy"]`)
	b.do("choose 1 hour", chromedp.Click(chromedp.ID("grace-3600")))
	b.shot("ui-08-rotate")
	b.clickTo("#rotate-submit")
	rotated := b.value("#token-value")
	if !tokenRE.MatchString(rotated) || rotated == secret {
		t.Fatalf("rotation revealed %.10s…, want a new service token", rotated)
	}
	if got := b.text("#rotation-note"); !strings.Contains(got, "keeps working until") {
		t.Errorf("rotation note = %q", got)
	}
	b.shot("ui-09-rotate-reveal")
	for name, s := range map[string]string{"old": secret, "new": rotated} {
		if _, err := client.New(ts.URL, s).Do(ctx, http.MethodGet, pathf("/api/v3/accounts/%d/projects/%d/", ts.AccountID, analytics.ID), nil, nil); err != nil {
			t.Errorf("%s token during the grace period: %v", name, err)
		}
	}
	next := findToken(t, ts, rotated)
	b.clickTo("#reveal-done")
	if got := b.text("#token-" + idStr(tok.ID)); !strings.Contains(got, "replaced · works until") {
		t.Errorf("list row of the rotated-out token = %q, want the replaced badge", got)
	}
	if w := evalJS[int](b, "document.documentElement.scrollWidth - window.innerWidth"); w > 0 {
		t.Errorf("on a 1280 px laptop the token list overflows sideways by %d px", w)
	}
	// Both tokens were just used: the list says when (last-used times are batched).
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		b.open(ts.URL + "/settings/service-tokens")
		if !strings.Contains(b.text("#token-"+idStr(next.ID)), "Never") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after its use the rotated-in token's row says %q", b.text("#token-"+idStr(next.ID)))
		}
	}
	b.shot("ui-10-after-rotate")

	// Trash can, confirmation naming the token, and the token gets 401.
	b.clickTo(`a[aria-label="Delete token ci-deploy"]`)
	if got := b.text("h1"); !strings.Contains(got, "ci-deploy") {
		t.Errorf("confirmation heading = %q, want the token's name", got)
	}
	if got := b.text("#delete-warning"); !strings.Contains(got, "lksvc_"+next.UID+"…") {
		t.Errorf("confirmation = %q, want the uid of the token being deleted", got)
	}
	b.shot("ui-11-delete-confirm")
	b.clickTo("#confirm-delete")
	if got := b.text("#flash"); !strings.Contains(got, "ci-deploy") {
		t.Errorf("flash after delete = %q", got)
	}
	b.shot("ui-12-deleted")
	_, err = client.New(ts.URL, rotated).Whoami(ctx)
	wantStatus(t, "deleted token", err, http.StatusUnauthorized)
	b.clickTo(`a[aria-label^="Delete token ci-deploy (previous"]`)
	b.clickTo("#confirm-delete")
	_, err = client.New(ts.URL, secret).Whoami(ctx)
	wantStatus(t, "deleted rotated-out token", err, http.StatusUnauthorized)
	if n := b.count(`[id^="token-"] .token-name`); n != 3 {
		t.Errorf("after deleting ci-deploy the list has %d tokens, want 3", n)
	}

	// The same list on a phone.
	b.do("emulate a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.open(ts.URL + "/settings/service-tokens")
	b.shot("ui-13-phone")
	if w := evalJS[int](b, "document.documentElement.scrollWidth"); w > 390 {
		t.Errorf("on a 390 px phone the page is %d px wide; want no sideways scrolling", w)
	}

	ts.Stop(t)
	for _, s := range []string{secret, rotated} {
		if strings.Contains(ts.Stdout.String()+ts.Stderr.String(), s[6:]) {
			t.Errorf("server log holds a token string")
		}
		for _, f := range []string{ts.DB, ts.DB + "-wal"} {
			data, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if strings.Contains(string(data), s[6:]) {
				t.Errorf("%s holds a token string", filepath.Base(f))
			}
		}
	}
}

// TestUIKeyboardCreatesToken completes the create-token flow with key presses only, checking
// that the focus moves to labelled controls with a visible focus outline.
func TestUIKeyboardCreatesToken(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	analytics, err := ts.Admin.CreateProject(ctx, ts.AccountID, "analytics", "")
	if err != nil {
		t.Fatal(err)
	}
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	b.open(ts.URL + "/settings/service-tokens")

	b.tabTo("new-token")
	b.load("press Enter on + New Token", chromedp.KeyEvent("\r"))
	if f := b.waitFocus("token-name"); f.Label != "Token name" {
		t.Fatalf("the new-token form's name field is labelled %q", f.Label)
	}
	b.press("kb-ci")
	if f := b.tabTo("grant-set-0"); f.Label != "Permission set" {
		t.Errorf("permission set select is labelled %q", f.Label)
	}
	b.press("Job") // type-ahead: Job Admin
	if f := b.tabTo("grant-project-0"); f.Label != "Projects" {
		t.Errorf("project select is labelled %q", f.Label)
	}
	b.press("an") // type-ahead: analytics
	b.tabTo("add-permission")
	b.load("press Enter on + Add permission", chromedp.KeyEvent("\r"))
	b.waitFocus("grant-set-1")
	b.press("Meta") // type-ahead: Metadata Only; projects stay on All projects
	if got := b.value("#token-name") + "|" + b.value("#grant-set-0") + "|" + b.value("#grant-project-0") + "|" + b.value("#grant-set-1") + "|" + b.value("#grant-project-1"); got != "kb-ci|job_admin|"+idStr(analytics.ID)+"|metadata_only|all" {
		t.Fatalf("keyboard-filled form holds %s", got)
	}
	b.shot("ui-kb-01-form")
	b.tabTo("create-token")
	if resp := b.load("press Enter on Create token", chromedp.KeyEvent("\r")); resp.Status != http.StatusOK {
		t.Fatalf("create by keyboard: status %d", resp.Status)
	}
	b.waitFocus("token-value")
	secret := b.value("#token-value")
	if !tokenRE.MatchString(secret) {
		t.Fatalf("keyboard flow revealed %.10s…", secret)
	}
	if got := b.text(".facts"); !strings.Contains(got, "Job Admin on analytics; Metadata Only on all projects") {
		t.Errorf("reveal facts = %q", got)
	}
	b.shot("ui-kb-02-reveal")
	if _, err := client.New(ts.URL, secret).Whoami(ctx); err != nil {
		t.Errorf("keyboard-created token: %v", err)
	}
	// Enter in the name field submits the form as Create token, not as + Add permission.
	b.open(ts.URL + "/settings/service-tokens/new")
	b.do("choose a set", chromedp.SetValue(chromedp.ID("grant-set-0"), "metadata_only"), chromedp.Focus(chromedp.ID("token-name")))
	b.press("enter-key")
	b.load("press Enter in the name field", chromedp.KeyEvent("\r"))
	if got := b.text("#reveal-title"); !strings.Contains(got, "enter-key") {
		t.Errorf("Enter in the name field led to %q, want the reveal page", got)
	}
}

// TestUIAccessControl checks what signed-out, read-only and IT users see: a wrong password
// shows an error and nothing of the account; users who may not manage service tokens see no
// buttons for it, and the server refuses them anyway.
func TestUIAccessControl(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	ts.serviceToken(t, "airflow-prod", client.GrantOn("job_admin", 0))
	for _, u := range []struct{ email, license string }{{"viewer@example.com", "read_only"}, {"it@example.com", "it"}} {
		if _, err := ts.Admin.CreateUser(ctx, ts.AccountID, client.CreateUserRequest{Email: u.email, Password: testAdminPassword, LicenseType: u.license}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("wrong password", func(t *testing.T) {
		b.open(ts.URL + "/login")
		b.do("fill the sign-in form",
			chromedp.SendKeys(chromedp.ID("email"), ts.AdminEmail),
			chromedp.SendKeys(chromedp.ID("password"), "not the password"))
		resp := b.clickTo("#sign-in")
		if resp.Status != http.StatusUnauthorized {
			t.Errorf("wrong password: status %d, want 401", resp.Status)
		}
		if got := b.text("#page-error"); got != "Wrong email or password." {
			t.Errorf("wrong password shows %q", got)
		}
		if got := b.value("#email"); got != ts.AdminEmail {
			t.Errorf("email field after a wrong password = %q, want it kept", got)
		}
		html := b.html()
		for _, leak := range []string{"Acme", "account-name", "Service tokens", "airflow-prod"} {
			if strings.Contains(html, leak) {
				t.Errorf("the failed sign-in page shows %q", leak)
			}
		}
		b.shot("ui-14-wrong-password")
	})

	t.Run("read_only", func(t *testing.T) {
		b.signIn(ts.URL, "viewer@example.com", testAdminPassword)
		// The navigation shows only what the user may use.
		b.open(ts.URL + "/settings/account")
		for _, sel := range []string{"#menu-service-tokens", "#sidebar-service-tokens", `a[href="/settings/audit-log"]`, `a[href="/settings/ip-restrictions"]`} {
			if n := b.count(sel); n != 0 {
				t.Errorf("read_only user's navigation has %s", sel)
			}
		}
		if n := b.count(`a[href="/settings/projects"]`); n == 0 {
			t.Error("read_only user's navigation lost Projects, which they may read")
		}
		resp := b.open(ts.URL + "/settings/service-tokens")
		if resp.Status != http.StatusForbidden {
			t.Errorf("read_only user on Service tokens: status %d, want 403", resp.Status)
		}
		if n := b.count("#new-token"); n != 0 || strings.Contains(b.text("main"), "New Token") {
			t.Errorf("read_only user sees + New Token")
		}
		if got := b.text("#page-error"); !strings.Contains(got, "service_tokens:read") {
			t.Errorf("read_only user is told %q, want the missing permission", got)
		}
		b.shot("ui-15-read-only")
		if resp := b.open(ts.URL + "/settings/service-tokens/new"); resp.Status != http.StatusForbidden {
			t.Errorf("read_only user opening the new-token form: status %d, want 403", resp.Status)
		}
		b.signOut()
	})

	t.Run("it", func(t *testing.T) {
		b.signIn(ts.URL, "it@example.com", testAdminPassword)
		b.open(ts.URL + "/settings/account")
		if b.count("#menu-service-tokens") != 1 || b.count("#sidebar-service-tokens") != 1 {
			t.Error("IT user's navigation lacks Service tokens, which they may read")
		}
		if resp := b.open(ts.URL + "/settings/service-tokens"); resp.Status != http.StatusOK {
			t.Fatalf("IT user on Service tokens: status %d, want 200 (security_admin reads them)", resp.Status)
		}
		if got := b.text("#token-table"); !strings.Contains(got, "airflow-prod") {
			t.Errorf("IT user's token list = %q", got)
		}
		for _, sel := range []string{"#new-token", `a[aria-label^="Rotate token"]`, `a[aria-label^="Delete token"]`} {
			if n := b.count(sel); n != 0 {
				t.Errorf("IT user (no developer license) sees %d of %s", n, sel)
			}
		}
		if resp := b.open(ts.URL + "/settings/service-tokens/new"); resp.Status != http.StatusForbidden {
			t.Errorf("IT user opening the new-token form: status %d, want 403", resp.Status)
		}
		b.signOut()
	})
}

// TestUISessionAndCSRF checks the session cookie, that forms without the session's CSRF token
// or from another site are refused, that buttons hidden from a user are refused by the server
// too, and that signing out ends the session on the server. Plain HTTP, no browser.
func TestUISessionAndCSRF(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	if _, err := ts.Admin.CreateUser(ctx, ts.AccountID, client.CreateUserRequest{Email: "viewer@example.com", Password: testAdminPassword, LicenseType: "read_only"}); err != nil {
		t.Fatal(err)
	}
	admin := newFormClient(t, ts.URL, ts.AdminEmail, ts.AdminPass)
	if !admin.session.HttpOnly || admin.session.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie: HttpOnly %v, SameSite %v; want HttpOnly and Lax", admin.session.HttpOnly, admin.session.SameSite)
	}
	csrf := admin.csrf(t, "/settings/projects")
	projectNames := func() string {
		ps, _, err := ts.Admin.Projects(ctx, ts.AccountID, client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range ps {
			names = append(names, p.Name)
		}
		return strings.Join(names, ",")
	}

	for _, tc := range []struct {
		name   string
		form   url.Values
		header http.Header
		want   int
	}{
		{"no csrf_token", url.Values{"name": {"evil-1"}}, nil, http.StatusForbidden},
		{"wrong csrf_token", url.Values{"name": {"evil-2"}, "csrf_token": {"x" + csrf}}, nil, http.StatusForbidden},
		{"cross-site", url.Values{"name": {"evil-3"}, "csrf_token": {csrf}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{"other origin", url.Values{"name": {"evil-4"}, "csrf_token": {csrf}}, http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"valid", url.Values{"name": {"legit"}, "csrf_token": {csrf}}, nil, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := admin.post(t, "/settings/projects", tc.form, tc.header); got != tc.want {
				t.Errorf("POST /settings/projects (%s) = %d, want %d", tc.name, got, tc.want)
			}
		})
	}
	if got := projectNames(); got != "legit" {
		t.Errorf("projects after the posts = %q, want only legit", got)
	}

	// A read_only user sees no + New Token, and a well-formed post is refused too.
	viewer := newFormClient(t, ts.URL, "viewer@example.com", testAdminPassword)
	vcsrf := viewer.csrf(t, "/profile")
	form := url.Values{"csrf_token": {vcsrf}, "name": {"sneaky"}, "action": {"create"}, "grant_set_0": {"stakeholder"}, "grant_project_0": {"all"}}
	if got := viewer.post(t, "/settings/service-tokens/new", form, nil); got != http.StatusForbidden {
		t.Errorf("read_only user creating a service token = %d, want 403", got)
	}
	toks, _, err := ts.Admin.ServiceTokens(ctx, ts.AccountID, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 0 {
		t.Errorf("the refused post created %d tokens", len(toks))
	}

	// Signing out revokes the session on the server: the old cookie no longer works.
	if got := admin.post(t, "/logout", url.Values{"csrf_token": {csrf}}, nil); got != http.StatusSeeOther {
		t.Fatalf("sign out = %d", got)
	}
	if got, loc := admin.get(t, "/settings/projects"); got != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Errorf("old session cookie after sign-out: %d to %q, want a redirect to /login", got, loc)
	}
}

// formClient posts forms like a browser would, with a session cookie, but follows no redirects.
type formClient struct {
	base    string
	hc      *http.Client
	session *http.Cookie
}

func newFormClient(t testing.TB, base, email, password string) *formClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	fc := &formClient{base: base, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	csrf := fc.csrf(t, "/login")
	resp, err := fc.hc.PostForm(base+"/login", url.Values{"email": {email}, "password": {password}, "csrf_token": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "latchkey_session" {
			fc.session = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || fc.session == nil {
		t.Fatalf("sign in as %s: status %d, session cookie %v", email, resp.StatusCode, fc.session != nil)
	}
	return fc
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf reads the CSRF token of a page's forms.
func (fc *formClient) csrf(t testing.TB, path string) string {
	t.Helper()
	resp, err := fc.hc.Get(fc.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := csrfRE.FindSubmatch(body)
	if m == nil {
		t.Fatalf("GET %s (%d) has no csrf_token", path, resp.StatusCode)
	}
	return string(m[1])
}

func (fc *formClient) get(t testing.TB, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fc.base+path, nil)
	req.AddCookie(fc.session)
	resp, err := (&http.Client{CheckRedirect: fc.hc.CheckRedirect}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// post sends a form with only the session cookie (no jar), as a forged request would.
func (fc *formClient) post(t testing.TB, path string, form url.Values, h http.Header) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fc.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range h {
		req.Header[k] = v
	}
	req.AddCookie(fc.session)
	resp, err := (&http.Client{CheckRedirect: fc.hc.CheckRedirect}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// findToken finds the service token a token string belongs to, by its uid.
func findToken(t testing.TB, ts *testServer, secret string) apitype.Token {
	t.Helper()
	toks, _, err := ts.Admin.ServiceTokens(context.Background(), ts.AccountID, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if strings.HasPrefix(secret, "lksvc_"+tok.UID) {
			return tok
		}
	}
	t.Fatalf("no service token for %.14s…", secret)
	return apitype.Token{}
}

// addLegacyToken stores an imported legacy-format (40 hex) token directly, as an import would.
func addLegacyToken(t testing.TB, ts *testServer, name string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, ts.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	secret := "01234567" + hex.EncodeToString(raw[:])
	hash, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tok := &latchkey.Token{AccountID: ts.AccountID, Kind: latchkey.KindServiceToken, UID: "lg" + hex.EncodeToString(raw[:3]),
		Name: name, LegacyPrefix: secret[:8], LegacyHash: string(hash), CreatedBy: "import",
		Grants: []latchkey.Grant{{PermissionSet: "job_runner", AllProjects: true}}}
	if err := st.CreateToken(ctx, tok); err != nil {
		t.Fatalf("store a legacy token: %v", err)
	}
}

func idStr(n int64) string { return strconv.FormatInt(n, 10) }

// TestUISettingsPages walks the other Account settings pages and the profile: projects, users and
// licenses, groups with the grant editor and members, personal access tokens, IP restrictions,
// the audit log and the account switcher.
func TestUISettingsPages(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)

	// Projects: create, then delete with a confirmation.
	b.open(ts.URL + "/settings/projects")
	b.do("fill the new project", chromedp.SendKeys(chromedp.ID("project-name"), "analytics"),
		chromedp.SendKeys(chromedp.ID("project-description"), "Warehouse models"))
	b.clickTo("#create-project")
	b.do("fill another project", chromedp.SendKeys(chromedp.ID("project-name"), "scratch"))
	b.clickTo("#create-project")
	if got := b.text("#project-table"); !strings.Contains(got, "analytics") || !strings.Contains(got, "scratch") {
		t.Fatalf("project table = %q", got)
	}
	b.shot("ui-20-projects")
	b.clickTo(`a[aria-label="Delete project scratch"]`)
	b.clickTo("#confirm-delete")
	if got := b.text("#project-table"); strings.Contains(got, "scratch") {
		t.Errorf("deleted project still listed: %q", got)
	}
	ps, _, err := ts.Admin.Projects(ctx, ts.AccountID, client.ListOptions{})
	if err != nil || len(ps) != 1 || ps[0].Name != "analytics" {
		t.Fatalf("projects after the UI = %+v, %v", ps, err)
	}
	analytics := ps[0]

	// Users: a new user without a password is an error next to the field, with the typed values
	// kept; then add with a password, and change the license.
	b.open(ts.URL + "/settings/users")
	b.do("fill the new user", chromedp.SendKeys(chromedp.ID("user-email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.ID("user-first"), "Ada"), chromedp.SendKeys(chromedp.ID("user-last"), "Lovelace"),
		chromedp.SetValue(chromedp.ID("user-license"), "analyst"))
	if resp := b.clickTo("#add-user"); resp.Status != http.StatusBadRequest {
		t.Errorf("adding a new user without a password: status %d, want 400", resp.Status)
	}
	if got := b.text("#user-password-error"); !strings.Contains(got, "password") {
		t.Errorf("password error = %q", got)
	}
	if got := b.value("#user-email") + "|" + b.value("#user-first") + "|" + b.value("#user-license"); got != "ada@example.com|Ada|analyst" {
		t.Errorf("after the error the form holds %s", got)
	}
	b.do("set a password", chromedp.SendKeys(chromedp.ID("user-password"), testAdminPassword))
	b.clickTo("#add-user")
	if got := b.text("#user-table"); !strings.Contains(got, "Ada Lovelace") || !strings.Contains(got, "Analyst") {
		t.Fatalf("user table = %q", got)
	}
	ada := findUser(t, ts, "ada@example.com")
	mid := idStr(ada.Permissions[0].ID)
	b.do("choose read-only", chromedp.SetValue(chromedp.ID("license-"+mid), "read_only"))
	b.clickTo(`button[aria-label="Change the license of ada@example.com"]`)
	if got := b.text("#flash"); !strings.Contains(got, "read_only") {
		t.Errorf("flash after the license change = %q", got)
	}
	if got := findUser(t, ts, "ada@example.com").LicenseType; got != "read_only" {
		t.Errorf("Ada's license = %q, want read_only", got)
	}
	b.do("choose developer", chromedp.SetValue(chromedp.ID("license-"+mid), "developer"))
	b.clickTo(`button[aria-label="Change the license of ada@example.com"]`)
	b.shot("ui-21-users")

	// Groups: create, give it a grant with the grant editor, and add Ada.
	b.open(ts.URL + "/settings/groups")
	b.do("name the group", chromedp.SendKeys(chromedp.ID("group-name-new"), "Deployers"))
	b.clickTo("#create-group")
	b.clickTo("#add-permission")
	b.do("fill the grant", chromedp.SetValue(chromedp.ID("grant-set-0"), "job_admin"),
		chromedp.SetValue(chromedp.ID("grant-project-0"), idStr(analytics.ID)))
	b.clickTo("#save-group")
	if got := b.text("#flash"); !strings.Contains(got, "Saved group Deployers") {
		t.Errorf("flash after saving the group = %q", got)
	}
	b.do("tick Ada", chromedp.Click(chromedp.ID("member-"+idStr(ada.ID))))
	b.clickTo("#save-members")
	if got := b.text("#flash"); !strings.Contains(got, "1 added") {
		t.Errorf("flash after saving members = %q", got)
	}
	b.shot("ui-22-group")
	groups, _, err := ts.Admin.Groups(ctx, ts.AccountID, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var deployers *apitype.Group
	for i := range groups {
		if groups[i].Name == "Deployers" {
			deployers = &groups[i]
		}
	}
	if deployers == nil || len(deployers.GroupPermissions) != 1 || deployers.GroupPermissions[0].PermissionSet != "job_admin" ||
		deployers.GroupPermissions[0].ProjectID == nil || *deployers.GroupPermissions[0].ProjectID != analytics.ID ||
		len(deployers.Users) != 1 || deployers.Users[0] != ada.ID {
		t.Errorf("Deployers after the UI = %+v", deployers)
	}

	// Personal access tokens: create (shown once), rotate at once, delete.
	b.open(ts.URL + "/profile")
	b.do("name the PAT", chromedp.SendKeys(chromedp.ID("pat-name"), "laptop"))
	b.clickTo("#create-pat")
	pat := b.value("#token-value")
	if !strings.HasPrefix(pat, "lkpat_") {
		t.Fatalf("PAT reveal shows %.8s…", pat)
	}
	if w, err := client.New(ts.URL, pat).Whoami(ctx); err != nil || w.Kind != "user" {
		t.Errorf("new PAT whoami = %+v, %v", w, err)
	}
	b.clickTo("#reveal-done")
	b.shot("ui-23-profile")
	b.clickTo(`a[aria-label="Rotate token laptop"]`)
	b.do("choose now", chromedp.Click(chromedp.ID("grace-0")))
	b.clickTo("#rotate-submit")
	pat2 := b.value("#token-value")
	if _, err := client.New(ts.URL, pat2).Whoami(ctx); err != nil {
		t.Errorf("rotated PAT: %v", err)
	}
	if got := b.text("#rotation-note"); !strings.Contains(got, "has stopped working") {
		t.Errorf("rotation note with no grace = %q", got)
	}
	// (Presenting the old PAT now would be a reuse signal that revokes the new one as well.)
	b.clickTo("#reveal-done")
	if n := b.count(`a[aria-label^="Delete token laptop"]`); n != 1 {
		t.Errorf("after rotating with no grace the profile lists %d tokens named laptop, want 1", n)
	}
	b.clickTo(`a[aria-label="Delete token laptop"]`)
	b.clickTo("#confirm-delete")
	_, err = client.New(ts.URL, pat2).Whoami(ctx)
	wantStatus(t, "deleted PAT", err, http.StatusUnauthorized)

	// IP restrictions and the audit log list what the account has.
	if resp := b.open(ts.URL + "/settings/ip-restrictions"); resp.Status != http.StatusOK || !strings.Contains(b.text("#ip-enforcement"), "not enforced") {
		t.Errorf("IP restrictions page: status %d, %q", resp.Status, b.text("main"))
	}
	b.open(ts.URL + "/settings/audit-log")
	audit := b.text("#audit-table")
	for _, want := range []string{"project.created", "license.changed", "group.user.added", "account_scoped_pat.deleted"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
	b.shot("ui-24-audit-log")
	b.open(ts.URL + "/settings/audit-log?event_type=project.deleted")
	if got := b.count("#audit-table tbody tr"); got != 1 {
		t.Errorf("audit log filtered to project.deleted has %d rows, want 1", got)
	}

	// A second account for the same admin: the account menu switches, and the team plan offers
	// only its permission sets.
	dir := t.TempDir()
	pw, tok := filepath.Join(dir, "pw"), filepath.Join(dir, "tok")
	if err := os.WriteFile(pw, []byte(ts.AdminPass), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, nil, "init", "--db", ts.DB, "--account", "Beta", "--plan", "team", "--email", ts.AdminEmail,
		"--password-file", pw, "--token-file", tok); err != nil {
		t.Fatalf("init a second account: %v\n%s", err, out)
	}
	b.open(ts.URL + "/")
	b.do("open the account menu", chromedp.Click(chromedp.ID("account-name")))
	b.clickTo(".account-menu button")
	if got := b.text("#account-name"); !strings.Contains(got, "Beta") {
		t.Fatalf("after switching the account menu shows %q", got)
	}
	b.open(ts.URL + "/settings/service-tokens/new")
	sets := evalJS[[]string](b, `Array.from(document.querySelectorAll("#grant-set-0 option")).map(o => o.value).filter(v => v)`)
	if got := strings.Join(sets, ","); got != "account_admin,billing_admin,job_admin,metadata_only,semantic_layer_only,stakeholder,member" {
		t.Errorf("team plan offers %s", got)
	}
}

// findUser finds a member of the test account by email.
func findUser(t testing.TB, ts *testServer, email string) apitype.User {
	t.Helper()
	users, _, err := ts.Admin.Users(context.Background(), ts.AccountID, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Email == email {
			return u
		}
	}
	t.Fatalf("no user %s", email)
	return apitype.User{}
}
