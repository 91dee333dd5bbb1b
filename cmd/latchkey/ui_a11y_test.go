package main

import (
	"context"
	_ "embed"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

// axeSource is axe-core, the accessibility rules engine the tests inject into each page; see
// testdata/axe/README.md for its version and how to update it.
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// axeViolation is one rule a page breaks, with the elements that break it.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  string `json:"target"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// axeRunJS runs every rule axe-core enables by default on the whole document, and target-size
// (WCAG 2.2 AA 2.5.8, off by default), and returns the violations. A node's target is a list
// of selectors (one per shadow root or frame on the way).
const axeRunJS = `axe.run(document, {resultTypes: ["violations"], rules: {"target-size": {enabled: true}}}).then(r => r.violations.map(v => ({
  id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
  nodes: v.nodes.map(n => ({target: [].concat(n.target).flat().join(" >>> "), summary: n.failureSummary || ""}))})))`

// axeCheck runs axe-core on the current page and returns its violations.
func (b *browser) axeCheck() []axeViolation {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](axeSource)); err != nil {
		b.t.Fatalf("browser: inject axe-core: %v", err)
	}
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](axeRunJS, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("browser: run axe-core: %v", err)
	}
	return v
}

// a11yPage is one page TestUIAccessibility checks.
type a11yPage struct {
	name string
	// as is who is signed in: "" (no one), "admin" (the account's admin), "viewer" (a member
	// with the read-only license) or "reset" (a member whose password an admin reset, who may
	// only choose a new one).
	as string
	// path is the page to open; reach, when set, gets there instead (a page that only a form
	// post or a click shows) and returns the response of the page it lands on.
	path  string
	reach func(b *browser) *network.Response
	// status is the page's HTTP status.
	status int
}

// TestUIAccessibility opens every page of the web UI — signed out, as an admin of an account
// with realistic data and as a read-only member, forms with and without errors, reveal pages,
// error pages — at a laptop and a phone width, and runs axe-core on each. Every serious or
// critical violation fails the test with its rule, elements and help link; lesser ones are
// logged.
func TestUIAccessibility(t *testing.T) {
	needChromium(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	data := seedRealisticAccount(t, ts)
	pat, err := ts.Admin.CreatePAT(ctx, ts.AccountID, ts.adminUserID(t), "laptop-cli")
	if err != nil {
		t.Fatal(err)
	}
	group := ts.group(t, "data-engineering", client.GrantOn("job_admin", data.Project), client.GrantOn("metadata_only", 0))
	owner := ts.groupID(t, "Owner")
	analyst := ts.passwordlessUser(t, "analyst@example.com", "analyst", []int64{group})
	if _, err := ts.Admin.CreateUser(ctx, ts.AccountID, client.CreateUserRequest{Email: "viewer@example.com", Password: testAdminPassword,
		LicenseType: "read_only"}); err != nil {
		t.Fatal(err)
	}
	hook, err := ts.Admin.CreateWebhook(ctx, ts.AccountID, apitype.WebhookRequest{Name: ptrTo("Security feed"),
		ClientURL: ptrTo("https://siem.example.com/hooks/latchkey"), EventTypes: &[]string{"service_token.*", "leak.reported"}})
	if err != nil {
		t.Fatal(err)
	}
	hookPath := "/settings/webhooks/" + strings.TrimPrefix(hook.ID, "wsu_")
	fc := newFormClient(t, ts.URL, ts.AdminEmail, ts.AdminPass)
	// A member whose password an admin reset: they may only choose a new one.
	temp := ts.passwordlessUser(t, "reset@example.com", "developer", nil)
	status, page := fc.postPage(t, "/settings/users/"+idStr(ts.membershipID(t, temp.ID))+"/temporary-password",
		url.Values{"csrf_token": {fc.csrf(t, "/settings/users")}})
	m := regexp.MustCompile(`id="temporary-password"[^>]* value="([^"]+)"`).FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		t.Fatalf("set a temporary password: %d\n%s", status, page)
	}
	tempPassword := html.UnescapeString(m[1])
	if status, page := fc.postPage(t, "/settings/ip-restrictions", url.Values{"csrf_token": {fc.csrf(t, "/settings/ip-restrictions")},
		"name": {"blocklist"}, "type": {"deny"}, "cidrs": {"192.0.2.0/24, 2001:db8::/32"}, "description": {"Known scanners"}}); status != http.StatusSeeOther {
		t.Fatalf("add an IP rule: %d\n%s", status, page)
	}
	var rules []apitype.IPRule
	mustDo(t, ts.Admin, http.MethodGet, pathf("/api/v3/accounts/%d/ip-restrictions/", ts.AccountID), nil, &rules)
	if len(rules) != 1 {
		t.Fatalf("IP rules = %+v, want the one added", rules)
	}
	// fresh makes a service token for a page that rotates or deletes one.
	fresh := func(name string) string {
		_, tok := ts.serviceToken(t, name, client.GrantOn("metadata_only", 0))
		return "/settings/service-tokens/" + idStr(tok.ID)
	}
	submit := func(b *browser, sel string) *network.Response { return b.clickTo(sel) }

	pages := []a11yPage{
		{name: "sign-in", path: "/login", status: http.StatusOK},
		{name: "sign-in, wrong password", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/login")
			b.do("fill the sign-in form", chromedp.SendKeys(chromedp.ID("email"), ts.AdminEmail),
				chromedp.SendKeys(chromedp.ID("password"), "not the password"))
			return submit(b, "#sign-in")
		}, status: http.StatusUnauthorized},
		{name: "sign-in, unknown single sign-on name", path: "/login?sso=no-such-account", status: http.StatusOK},

		{name: "home", as: "admin", path: "/", status: http.StatusOK},
		{name: "home, account menu open", as: "admin", reach: func(b *browser) *network.Response {
			resp := b.open(ts.URL + "/")
			b.do("open the account menu", chromedp.Click(chromedp.ID("account-name")), chromedp.WaitVisible(chromedp.ID("account-settings-link")))
			return resp
		}, status: http.StatusOK},
		{name: "profile", as: "admin", path: "/profile", status: http.StatusOK},
		{name: "profile, token name error", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/profile")
			b.do("type a blank name", chromedp.SendKeys(chromedp.ID("pat-name"), "   "))
			return submit(b, "#create-pat")
		}, status: http.StatusBadRequest},
		{name: "profile, password errors", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/profile")
			b.do("fill the password form", chromedp.SendKeys(chromedp.ID("current-password"), "not the password"),
				chromedp.SendKeys(chromedp.ID("new-password"), "a new password, long"),
				chromedp.SendKeys(chromedp.ID("confirm-password"), "another password, long"))
			return submit(b, "#change-password")
		}, status: http.StatusBadRequest},
		{name: "personal access token reveal", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/profile")
			b.do("name the token", chromedp.SendKeys(chromedp.ID("pat-name"), "a11y-pat"))
			return submit(b, "#create-pat")
		}, status: http.StatusOK},
		{name: "personal access token detail", as: "admin", path: "/profile/tokens/" + idStr(pat.ID), status: http.StatusOK},
		{name: "personal access token rotate", as: "admin", path: "/profile/tokens/" + idStr(pat.ID) + "/rotate", status: http.StatusOK},
		{name: "personal access token delete", as: "admin", path: "/profile/tokens/" + idStr(pat.ID) + "/delete", status: http.StatusOK},
		{name: "personal access token edit", as: "admin", path: "/profile/tokens/" + idStr(pat.ID) + "/edit", status: http.StatusOK},
		{name: "personal access tokens, revoked", as: "admin", path: "/profile?view=revoked", status: http.StatusOK},
		{name: "change password", as: "admin", path: "/profile/password", status: http.StatusOK},

		{name: "account", as: "admin", path: "/settings/account", status: http.StatusOK},
		{name: "account, name error", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/settings/account")
			b.do("blank the name", chromedp.SetValue(chromedp.ID("account-name-input"), "   "))
			return submit(b, `form:has(#account-name-input) button[type=submit]`)
		}, status: http.StatusBadRequest},
		{name: "projects", as: "admin", path: "/settings/projects", status: http.StatusOK},
		{name: "project delete", as: "admin", path: "/settings/projects/" + idStr(data.Project) + "/delete", status: http.StatusOK},
		{name: "users", as: "admin", path: "/settings/users", status: http.StatusOK},
		{name: "temporary password", as: "admin", path: "/settings/users/" + idStr(ts.membershipID(t, analyst.ID)) + "/temporary-password", status: http.StatusOK},
		{name: "temporary password reveal", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/settings/users/" + idStr(ts.membershipID(t, analyst.ID)) + "/temporary-password")
			return submit(b, "#confirm-temporary-password")
		}, status: http.StatusOK},
		{name: "users, add errors", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/settings/users")
			b.do("add a new user without a password", chromedp.SendKeys(chromedp.ID("user-email"), "new.person@example.com"))
			return submit(b, "#add-user")
		}, status: http.StatusBadRequest},
		{name: "user remove", as: "admin", path: "/settings/users/" + idStr(ts.membershipID(t, analyst.ID)) + "/remove", status: http.StatusOK},
		{name: "groups", as: "admin", path: "/settings/groups", status: http.StatusOK},
		{name: "group", as: "admin", path: "/settings/groups/" + idStr(group), status: http.StatusOK},
		{name: "group Owner (built-in)", as: "admin", path: "/settings/groups/" + idStr(owner), status: http.StatusOK},
		{name: "group delete", as: "admin", path: "/settings/groups/" + idStr(group) + "/delete", status: http.StatusOK},
		{name: "service tokens", as: "admin", path: "/settings/service-tokens", status: http.StatusOK},
		{name: "service tokens, revoked", as: "admin", path: "/settings/service-tokens?view=revoked", status: http.StatusOK},
		{name: "service tokens, page 2", as: "admin", path: "/settings/service-tokens?page=2", status: http.StatusOK},
		{name: "service tokens, revoked, filtered", as: "admin", path: "/settings/service-tokens?view=revoked&how=revoked&q=ci-", status: http.StatusOK},
		{name: "service tokens, revoked, no matches", as: "admin", path: "/settings/service-tokens?view=revoked&q=nothing-matches", status: http.StatusOK},
		{name: "new service token", as: "admin", path: "/settings/service-tokens/new", status: http.StatusOK},
		{name: "new service token, errors", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/settings/service-tokens/new")
			b.do("fill a row that takes no environments", chromedp.SendKeys(chromedp.ID("token-name"), "a11y-errors"),
				chromedp.SetValue(chromedp.ID("grant-set-0"), "job_admin"),
				chromedp.Click(chromedp.CSS(`input[name=grant_envs_0][value=production]`)))
			b.clickTo("#add-permission")
			b.do("fill the second row", chromedp.SetValue(chromedp.ID("grant-set-1"), "metadata_only"),
				chromedp.SetValue(chromedp.ID("token-cidrs"), "10.0.0.1/8"))
			return submit(b, "#create-token")
		}, status: http.StatusBadRequest},
		{name: "service token reveal", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/settings/service-tokens/new")
			b.do("fill the form", chromedp.SendKeys(chromedp.ID("token-name"), "a11y-reveal"),
				chromedp.SetValue(chromedp.ID("grant-set-0"), "metadata_only"))
			return submit(b, "#create-token")
		}, status: http.StatusOK},
		{name: "service token detail (rotated, Unicode name)", as: "admin", path: "/settings/service-tokens/" + idStr(data.Tokens[1]), status: http.StatusOK},
		{name: "service token detail (255-character name)", as: "admin", path: "/settings/service-tokens/" + idStr(data.Tokens[0]), status: http.StatusOK},
		{name: "service token detail (deleted)", as: "admin", path: "/settings/service-tokens/" + idStr(data.Tokens[2]), status: http.StatusOK},
		{name: "service token edit", as: "admin", path: "/settings/service-tokens/" + idStr(data.Tokens[0]) + "/edit", status: http.StatusOK},
		{name: "service token edit, errors", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/settings/service-tokens/" + idStr(data.Tokens[3]) + "/edit")
			b.do("type a bad range", chromedp.SetValue(chromedp.ID("token-cidrs"), "10.0.0.1/8"))
			return submit(b, "#save-token")
		}, status: http.StatusBadRequest},
		{name: "service token rotate", as: "admin", path: "/settings/service-tokens/" + idStr(data.Tokens[3]) + "/rotate", status: http.StatusOK},
		{name: "service token rotate reveal", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + fresh("a11y-rotate") + "/rotate")
			b.do("choose 1 hour", chromedp.Click(chromedp.ID("grace-3600")))
			return submit(b, "#rotate-submit")
		}, status: http.StatusOK},
		{name: "service token delete", as: "admin", path: "/settings/service-tokens/" + idStr(data.Tokens[3]) + "/delete", status: http.StatusOK},
		{name: "service tokens, after a delete (flash)", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + fresh("a11y-delete") + "/delete")
			return submit(b, "#confirm-delete")
		}, status: http.StatusOK},
		{name: "IP restrictions", as: "admin", path: "/settings/ip-restrictions", status: http.StatusOK},
		{name: "IP restrictions, rule errors", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/settings/ip-restrictions")
			b.do("fill a bad range", chromedp.SendKeys(chromedp.CSS(`#new-rule-form input[name=name]`), "office"),
				chromedp.SendKeys(chromedp.CSS(`#new-rule-form [name=cidrs]`), "10.0.0.1/8"))
			return submit(b, `#new-rule-form button[type=submit]`)
		}, status: http.StatusBadRequest},
		{name: "IP rule delete", as: "admin", path: "/settings/ip-restrictions/" + idStr(rules[0].ID) + "/delete", status: http.StatusOK},
		{name: "single sign-on", as: "admin", path: "/settings/sso", status: http.StatusOK},
		{name: "single sign-on, errors", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/settings/sso")
			b.do("fill a bad issuer", chromedp.SendKeys(chromedp.ID("sso-issuer"), "not a URL"),
				chromedp.SendKeys(chromedp.ID("sso-client-id"), "latchkey"))
			return submit(b, "#sso-save")
		}, status: http.StatusBadRequest},
		{name: "webhooks", as: "admin", path: "/settings/webhooks", status: http.StatusOK},
		{name: "new webhook", as: "admin", path: "/settings/webhooks/new", status: http.StatusOK},
		{name: "new webhook, errors", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/settings/webhooks/new")
			b.do("fill a plain-http URL", chromedp.SendKeys(chromedp.ID("webhook-name"), "a11y-hook"),
				chromedp.SendKeys(chromedp.ID("webhook-url"), "http://hooks.example.com/"),
				chromedp.Click(chromedp.ID("event-all")))
			return submit(b, "#webhook-save")
		}, status: http.StatusBadRequest},
		{name: "webhook secret reveal", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/settings/webhooks/new")
			b.do("fill the form", chromedp.SendKeys(chromedp.ID("webhook-name"), "a11y-reveal"),
				chromedp.SendKeys(chromedp.ID("webhook-url"), "https://hooks.example.com/"),
				chromedp.Click(chromedp.ID("event-leak-all")))
			return submit(b, "#webhook-save")
		}, status: http.StatusOK},
		{name: "webhook detail", as: "admin", path: hookPath, status: http.StatusOK},
		{name: "webhook edit", as: "admin", path: hookPath + "/edit", status: http.StatusOK},
		{name: "webhook rotate", as: "admin", path: hookPath + "/rotate", status: http.StatusOK},
		{name: "webhook delete", as: "admin", path: hookPath + "/delete", status: http.StatusOK},
		{name: "audit log", as: "admin", path: "/settings/audit-log", status: http.StatusOK},
		{name: "audit log, no matches", as: "admin", path: "/settings/audit-log?event_type=nothing.matches", status: http.StatusOK},
		{name: "not found", as: "admin", path: "/settings/service-tokens/999999999", status: http.StatusNotFound},

		{name: "home, read-only", as: "viewer", path: "/", status: http.StatusOK},
		{name: "projects, read-only", as: "viewer", path: "/settings/projects", status: http.StatusOK},
		{name: "group, read-only", as: "viewer", path: "/settings/groups/" + idStr(group), status: http.StatusOK},
		{name: "service tokens, not allowed", as: "viewer", path: "/settings/service-tokens", status: http.StatusForbidden},
		{name: "profile, read-only", as: "viewer", path: "/profile", status: http.StatusOK},

		{name: "choose a new password (temporary password)", as: "reset", path: "/profile/password", status: http.StatusOK},
		{name: "choose a new password, errors", as: "reset", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/profile/password")
			b.do("fill the password form", chromedp.SendKeys(chromedp.ID("current-password"), "not the password"),
				chromedp.SendKeys(chromedp.ID("new-password"), "a new password, long"),
				chromedp.SendKeys(chromedp.ID("confirm-password"), "a new password, long"))
			return submit(b, "#change-password")
		}, status: http.StatusBadRequest},
	}

	users := map[string][2]string{"admin": {ts.AdminEmail, testAdminPassword}, "viewer": {"viewer@example.com", testAdminPassword},
		"reset": {"reset@example.com", tempPassword}}
	for _, size := range []struct {
		name string
		w, h int64
	}{{"laptop", 1280, 800}, {"phone", 390, 844}} {
		t.Run(size.name, func(t *testing.T) {
			// About 45 pages, each loaded and checked in under a second on an idle machine;
			// the limit leaves room for a busy one.
			b := newBrowserFor(t, 5*time.Minute)
			b.do("set the window size", chromedp.EmulateViewport(size.w, size.h))
			// A page with known faults first, so a broken injection cannot pass as a clean UI.
			b.open(`data:text/html,<html><body><input type="text"><button></button></body></html>`)
			found := map[string]bool{}
			for _, v := range b.axeCheck() {
				found[v.ID] = true
			}
			for _, id := range []string{"html-has-lang", "label", "button-name"} {
				if !found[id] {
					t.Fatalf("axe-core on a page without lang, an unlabelled field and an unnamed button found %v, want %s among them", found, id)
				}
			}
			as := ""
			for _, pg := range pages {
				if pg.as != as {
					if as != "" {
						b.signOut()
					}
					if pg.as != "" {
						b.signIn(ts.URL, users[pg.as][0], users[pg.as][1])
					}
					as = pg.as
				}
				var resp *network.Response
				if pg.reach != nil {
					resp = pg.reach(b)
				} else {
					resp = b.open(ts.URL + pg.path)
				}
				if resp.Status != int64(pg.status) {
					t.Errorf("%s: status %d, want %d", pg.name, resp.Status, pg.status)
				}
				for _, v := range b.axeCheck() {
					var nodes strings.Builder
					for _, n := range v.Nodes {
						fmt.Fprintf(&nodes, "\n\t\t%s: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " "))
					}
					msg := fmt.Sprintf("%s (%s): %s %s: %s (%s)%s", pg.name, size.name, v.Impact, v.ID, v.Help, v.HelpURL, nodes.String())
					if v.Impact == "serious" || v.Impact == "critical" {
						t.Error(msg)
					} else {
						t.Log(msg)
					}
				}
			}
		})
	}
}

// TestUIKeyboardTokenFlow walks a service token's life with the keyboard alone: from the token
// list, skip the menu, Tab to + New Token, type a name, choose a permission set and a project
// with the arrow keys and a writable environment with Space, create with Enter, reach Copy and
// the way back with Tab, then rotate (choosing the grace period with the arrow keys) and delete
// through the confirmation. Every control the focus passes must have a name and a focus outline
// that contrasts 3:1 with its background (see tabUntil); outcomes are read from the pages.
func TestUIKeyboardTokenFlow(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	analytics, err := ts.Admin.CreateProject(ctx, ts.AccountID, "analytics", "")
	if err != nil {
		t.Fatal(err)
	}
	ts.project(t, "marketing")
	ts.serviceToken(t, "airflow-prod", client.GrantOn("job_runner", analytics.ID))
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	b.open(ts.URL + "/settings/service-tokens")

	// The first Tab reaches the skip link, which moves the focus past the menus.
	if f := b.tabUntil("a"); f.Label != "Skip to content" {
		t.Errorf("the first Tab reaches %+v, want the skip link", f)
	}
	b.press(kb.Enter)
	b.waitFocus("main")
	b.tabUntil("a, button, input, select, textarea, summary")
	if !evalJS[bool](b, `document.activeElement.closest("main") !== null`) {
		t.Errorf("after skipping to the content Tab reaches %+v, outside the content", b.focus())
	}
	if b.focus().ID != "new-token" {
		b.tabTo("new-token")
	}
	b.load("press Enter on + New Token", chromedp.KeyEvent(kb.Enter))
	b.waitFocus("token-name")
	b.press("kb-deploy")

	// Permission set and project with the arrow keys, an environment with Space.
	b.tabTo("grant-set-0")
	b.arrowTo("grant-set-0", "developer")
	b.tabTo("grant-project-0")
	b.arrowTo("grant-project-0", idStr(analytics.ID))
	production := `input[name=grant_envs_0][value=production]`
	b.tabUntil(production)
	b.press(" ")
	if !evalJS[bool](b, fmt.Sprintf("document.querySelector(%q).checked", production)) {
		t.Fatal("Space did not tick the production environment")
	}
	b.tabTo("create-token")
	if resp := b.load("press Enter on Create token", chromedp.KeyEvent(kb.Enter)); resp.Status != http.StatusOK {
		t.Fatalf("create by keyboard: status %d, want 200 (%s)", resp.Status, b.text("main"))
	}

	// The reveal page: the token has the focus; Copy and the way back are next.
	b.waitFocus("token-value")
	secret := b.value("#token-value")
	if !tokenRE.MatchString(secret) {
		t.Fatalf("the keyboard flow revealed %.10s…, want a service token", secret)
	}
	if got := b.text(".facts"); !strings.Contains(got, "Developer on analytics (writes in production)") {
		t.Errorf("reveal facts = %q, want Developer on analytics writing in production", got)
	}
	b.tabTo("copy-token")
	b.press(kb.Enter)
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`document.getElementById("copy-status").textContent !== ""`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("Enter on Copy never reported: %v", err)
	}
	b.tabTo("reveal-done")
	b.load("press Enter on the way back", chromedp.KeyEvent(kb.Enter))
	tok := findToken(t, ts, secret)
	row := "#token-" + idStr(tok.ID)
	if got := b.text(row); !strings.Contains(got, "kb-deploy") || !strings.Contains(got, "Developer on analytics") {
		t.Fatalf("the list's row for the new token = %q", got)
	}

	// Rotate: Tab to the row's Rotate, 24 hours of grace with the arrow keys, Enter.
	b.tabUntil(`a[aria-label="Rotate token kb-deploy"]`)
	b.load("press Enter on Rotate", chromedp.KeyEvent(kb.Enter))
	if f := b.tabUntil(`input[name=grace]`); f.ID != "grace-"+b.value("input[name=grace]:checked") {
		t.Errorf("Tab into the grace periods reaches %+v, want the chosen one", f)
	}
	b.arrowToRadio("grace-86400") // from the account default, 1 hour
	b.tabTo("rotate-submit")
	b.load("press Enter on Rotate token", chromedp.KeyEvent(kb.Enter))
	b.waitFocus("token-value")
	rotated := b.value("#token-value")
	if !tokenRE.MatchString(rotated) || rotated == secret {
		t.Fatalf("the keyboard rotation revealed %.10s…, want a new service token", rotated)
	}
	if got := b.text("#rotation-note"); !strings.Contains(got, "keeps working until") {
		t.Errorf("rotation note = %q, want the grace period", got)
	}
	b.tabTo("reveal-done")
	b.load("press Enter on the way back", chromedp.KeyEvent(kb.Enter))
	if got := b.text(row); !strings.Contains(got, "replaced · works until") {
		t.Errorf("the rotated-out token's row = %q, want the replaced badge", got)
	}
	next := findToken(t, ts, rotated)

	// Delete the new token: Tab to its trash can, Enter, Tab to the confirmation, Enter.
	b.tabUntil(`a[aria-label="Delete token kb-deploy"]`)
	b.load("press Enter on the trash can", chromedp.KeyEvent(kb.Enter))
	if got := b.text("h1"); !strings.Contains(got, "kb-deploy") {
		t.Errorf("confirmation heading = %q, want the token's name", got)
	}
	b.tabTo("confirm-delete")
	b.load("press Enter on Delete", chromedp.KeyEvent(kb.Enter))
	if got := b.text("#flash"); !strings.Contains(got, "kb-deploy") {
		t.Errorf("flash after the delete = %q, want the token's name", got)
	}
	if n := b.count("#token-" + idStr(next.ID)); n != 0 {
		t.Error("the deleted token is still in the list of active tokens")
	}
	if got := b.text(row); !strings.Contains(got, "replaced") {
		t.Errorf("the rotated-out token's row = %q, want it listed until its grace period ends", got)
	}
	b.tabTo("view-revoked")
	b.load("press Enter on Revoked", chromedp.KeyEvent(kb.Enter))
	if got := b.text("#token-" + idStr(next.ID)); !strings.Contains(got, "kb-deploy") || !strings.Contains(got, "Deleted") {
		t.Errorf("the revoked view's row for the deleted token = %q, want kb-deploy, deleted", got)
	}
	_, err = client.New(ts.URL, rotated).Whoami(ctx)
	wantStatus(t, "the token deleted by keyboard", err, http.StatusUnauthorized)
}

// arrowTo presses ArrowDown (then ArrowUp) on the focused select, whose id is id, until value is
// chosen.
func (b *browser) arrowTo(id, value string) {
	b.t.Helper()
	read := fmt.Sprintf("document.getElementById(%q).value", id)
	for _, key := range []string{kb.ArrowDown, kb.ArrowUp} {
		for range 60 {
			if evalJS[string](b, read) == value {
				return
			}
			before := evalJS[string](b, read)
			b.press(key)
			if evalJS[string](b, read) == before {
				break // the first or last option
			}
		}
	}
	b.t.Fatalf("the arrow keys never chose %q in #%s (it holds %q)", value, id, evalJS[string](b, read))
}

// arrowToRadio presses ArrowDown in the focused radio group until the radio with id is
// checked and has the focus.
func (b *browser) arrowToRadio(id string) {
	b.t.Helper()
	for range 20 {
		if f := b.focus(); f.ID == id && evalJS[bool](b, fmt.Sprintf("document.getElementById(%q).checked", id)) {
			return
		}
		b.press(kb.ArrowDown)
	}
	b.t.Fatalf("the arrow keys never chose #%s (the focus is on %+v)", id, b.focus())
}
