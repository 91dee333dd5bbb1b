package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/sqlite"
)

// TestUILayoutHolds opens every page at three window sizes with realistic data — 50 used
// tokens, a 255-character name without spaces, Unicode, long emails, every badge — and checks
// that nothing is wider than the window (document scrollWidth <= clientWidth, which is innerWidth
// less the vertical scroll bar), so actions are never pushed off screen.
func TestUILayoutHolds(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	data := seedRealisticAccount(t, ts)

	pages := []string{"/", "/profile", "/settings/account", "/settings/projects", "/settings/users", "/settings/groups",
		"/settings/service-tokens", "/settings/service-tokens?view=revoked", "/settings/service-tokens/new",
		"/settings/ip-restrictions", "/settings/audit-log",
		fmt.Sprintf("/settings/service-tokens/%d", data.Tokens[0]), fmt.Sprintf("/settings/service-tokens/%d", data.Tokens[1]),
		fmt.Sprintf("/settings/service-tokens/%d/rotate", data.Tokens[0]), fmt.Sprintf("/settings/service-tokens/%d/delete", data.Tokens[0]),
		fmt.Sprintf("/settings/groups/%d", data.Group), fmt.Sprintf("/settings/groups/%d/delete", data.Group),
		fmt.Sprintf("/settings/service-tokens/%d/edit", data.Tokens[0]), "/settings/service-tokens?view=revoked&how=revoked&q=ci-deploy",
		fmt.Sprintf("/settings/users/%d/temporary-password", data.LongMember), "/profile?view=revoked", "/profile/password",
		"/settings/webhooks", "/settings/webhooks/new", "/settings/webhooks/1", "/settings/webhooks/1/edit"}
	// A webhook with a long name and endpoint, for the webhook pages.
	if _, err := ts.Admin.CreateWebhook(context.Background(), ts.AccountID, apitype.WebhookRequest{
		Name: ptrTo(strings.Repeat("security-events-", 15)), ClientURL: ptrTo("https://siem.example.com/" + strings.Repeat("very/long/path/", 12)),
		EventTypes: &[]string{"service_token.*", "account_scoped_pat.*", "leak.reported", "user.signed_in", "user.sign_in_failed"}}); err != nil {
		t.Fatal(err)
	}
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	for _, size := range [][2]int64{{1280, 800}, {1024, 768}, {390, 844}} {
		b.do(fmt.Sprintf("resize to %dx%d", size[0], size[1]), chromedp.EmulateViewport(size[0], size[1]))
		for _, path := range pages {
			b.open(ts.URL + path)
			if path == "/settings/service-tokens" {
				b.viewShot(fmt.Sprintf("ui-layout-%dx%d-service-tokens", size[0], size[1]))
			}
			// clientWidth, not innerWidth: the window's width less its vertical scroll bar.
			got := evalJS[[]float64](b, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
			if got[0] > got[1] {
				widest := evalJS[string](b, `(() => { let w = null; for (const e of document.querySelectorAll('body *')) {
					const r = e.getBoundingClientRect(); if (r.right > document.documentElement.clientWidth + 1 && (!w || r.width < w.getBoundingClientRect().width)) w = e; }
					return w ? w.tagName + (w.id ? '#' + w.id : '') + '.' + w.className + ' in ' + w.parentElement.tagName + '.' + w.parentElement.className + ' (' + w.textContent.slice(0, 40) + ') right=' + Math.round(w.getBoundingClientRect().right) : ''; })()`)
				t.Errorf("%dx%d %s: the page is %v px wide in a %v px window (first overflowing element: %s)", size[0], size[1], path, got[0], got[1], widest)
			}
		}
	}
}

// realisticAccount is what seedRealisticAccount made.
type realisticAccount struct {
	// Project has a 210-character name; every token has a grant on it.
	Project int64
	// Tokens are 50 service tokens, oldest first: Tokens[0] has a 255-character name, Tokens[1]
	// was rotated (its page has a rotation history) and Tokens[2] deleted.
	Tokens []int64
	// Group has a 206-character name; its page lists every member, one with a 97-character email.
	Group int64
	// LongMember is the membership of the member with the 97-character email.
	LongMember int64
}

// seedRealisticAccount fills the server's account with what makes pages long, wide and varied:
// 50 used tokens, a 255-character name without spaces, Unicode, long emails, every badge.
func seedRealisticAccount(t testing.TB, ts *testServer) realisticAccount {
	t.Helper()
	ctx := context.Background()
	long := strings.Repeat("x", 255)
	p, err := ts.Admin.CreateProject(ctx, ts.AccountID, "analytics-"+strings.Repeat("p", 200), "")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{long, "日本語のトークン・本番環境用の長い名前と説明", "ci-" + strings.Repeat("deploy-", 20)}
	for i := range 47 {
		names = append(names, fmt.Sprintf("integration-%02d", i))
	}
	data := realisticAccount{Project: p.ID}
	for i, n := range names {
		grants := []apitype.Grant{client.GrantOn("job_admin", p.ID), client.GrantOn("metadata_only", 0)}
		req := client.CreateServiceTokenRequest{Name: n, PermissionGrants: grants}
		if i%7 == 0 {
			req.AllowedCIDRs = []string{"127.0.0.0/8", "2001:db8:ffff:ffff:ffff:ffff:ffff:0/112"}
		}
		if i%5 == 0 {
			req.ExpiresAt = time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)
		}
		tok, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, req)
		if err != nil {
			t.Fatal(err)
		}
		data.Tokens = append(data.Tokens, tok.ID)
	}
	if _, err := ts.Admin.RotateServiceToken(ctx, ts.AccountID, data.Tokens[1], time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Admin.DeleteServiceToken(ctx, ts.AccountID, data.Tokens[2]); err != nil {
		t.Fatal(err)
	}
	longUser, err := ts.Admin.CreateUser(ctx, ts.AccountID, client.CreateUserRequest{Email: "a.very.long.email.address." + strings.Repeat("q", 60) + "@example.com",
		Password: testAdminPassword, LicenseType: "developer"})
	if err != nil || len(longUser.Permissions) != 1 {
		t.Fatalf("create a user: %+v, %v", longUser, err)
	}
	data.LongMember = longUser.Permissions[0].ID
	g, err := ts.Admin.CreateGroup(ctx, ts.AccountID, "group-"+strings.Repeat("g", 200), []apitype.Grant{client.GrantOn("job_viewer", p.ID)})
	if err != nil {
		t.Fatal(err)
	}
	data.Group = g.ID
	// Every token was used, from an IPv6 address: the longest "Last used" there is.
	db, err := sql.Open("sqlite", sqlite.DSN(ts.DB))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE tokens SET last_used_at = ?, last_used_ip = ?`, time.Now().Add(-90*time.Minute).UnixMicro(),
		"2001:db8:ffff:ffff:ffff:ffff:ffff:fffe"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return data
}
