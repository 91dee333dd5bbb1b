package main

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

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

// axeRunJS runs every rule axe-core enables by default on the whole document and returns the
// violations. A node's target is a list of selectors (one per shadow root or frame on the way).
const axeRunJS = `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
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
	// as is who is signed in: "" (no one), "admin" (the account's admin) or "viewer" (a member
	// with the read-only license).
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
	fc := newFormClient(t, ts.URL, ts.AdminEmail, ts.AdminPass)
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

		{name: "account", as: "admin", path: "/settings/account", status: http.StatusOK},
		{name: "account, name error", as: "admin", reach: func(b *browser) *network.Response {
			b.open(ts.URL + "/settings/account")
			b.do("blank the name", chromedp.SetValue(chromedp.ID("account-name-input"), "   "))
			return submit(b, `form:has(#account-name-input) button[type=submit]`)
		}, status: http.StatusBadRequest},
		{name: "projects", as: "admin", path: "/settings/projects", status: http.StatusOK},
		{name: "project delete", as: "admin", path: "/settings/projects/" + idStr(data.Project) + "/delete", status: http.StatusOK},
		{name: "users", as: "admin", path: "/settings/users", status: http.StatusOK},
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
		{name: "audit log", as: "admin", path: "/settings/audit-log", status: http.StatusOK},
		{name: "audit log, no matches", as: "admin", path: "/settings/audit-log?event_type=nothing.matches", status: http.StatusOK},
		{name: "not found", as: "admin", path: "/settings/service-tokens/999999999", status: http.StatusNotFound},

		{name: "home, read-only", as: "viewer", path: "/", status: http.StatusOK},
		{name: "projects, read-only", as: "viewer", path: "/settings/projects", status: http.StatusOK},
		{name: "group, read-only", as: "viewer", path: "/settings/groups/" + idStr(group), status: http.StatusOK},
		{name: "service tokens, not allowed", as: "viewer", path: "/settings/service-tokens", status: http.StatusForbidden},
		{name: "profile, read-only", as: "viewer", path: "/profile", status: http.StatusOK},
	}

	users := map[string]string{"admin": ts.AdminEmail, "viewer": "viewer@example.com"}
	for _, size := range []struct {
		name string
		w, h int64
	}{{"laptop", 1280, 800}, {"phone", 390, 844}} {
		t.Run(size.name, func(t *testing.T) {
			b := newBrowser(t)
			b.do("set the window size", chromedp.EmulateViewport(size.w, size.h))
			as := ""
			for _, pg := range pages {
				if pg.as != as {
					if as != "" {
						b.signOut()
					}
					if pg.as != "" {
						b.signIn(ts.URL, users[pg.as], testAdminPassword)
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
