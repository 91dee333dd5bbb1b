package main

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/sqlite"
)

// TestUIUsage: a token's page charts its verifications by outcome over 24 hours, 7 days and 30
// days and lists the addresses it was used from; Account settings shows the account's chart,
// its most used tokens, and the service tokens unused for 90 days, each deletable in one click.
func TestUIUsage(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise", "--usage-flush-interval", "200ms")
	ctx := context.Background()
	p, err := ts.Admin.CreateProject(ctx, ts.AccountID, "analytics", "")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := ts.Admin.CreateProject(ctx, ts.AccountID, "finance", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "etl-nightly",
		PermissionGrants: []apitype.Grant{client.GrantOn("job_admin", p.ID)},
		RateLimits:       []apitype.RateLimit{{Name: "api", Limit: 6, DurationSeconds: 3600}}})
	if err != nil {
		t.Fatal(err)
	}
	// 5 allowed and 1 forbidden (the other project), then 2 over the limit; from two addresses.
	for i, c := range []struct {
		project int64
		ip      string
		reason  string
	}{{p.ID, "203.0.113.7", "ok"}, {p.ID, "203.0.113.7", "ok"}, {p.ID, "198.51.100.20", "ok"}, {p2.ID, "198.51.100.20", "forbidden"},
		{p.ID, "203.0.113.7", "ok"}, {p.ID, "203.0.113.7", "ok"}, {p.ID, "203.0.113.7", "rate_limited"}, {p.ID, "203.0.113.7", "rate_limited"}} {
		res, err := ts.Admin.Check(ctx, client.CheckRequest{Token: tok.TokenString, Resource: "jobs", Access: "read", ProjectID: c.project, ClientIP: c.ip})
		if err != nil {
			t.Fatal(err)
		}
		if res.Reason != c.reason {
			t.Fatalf("check %d: reason %q, want %q", i+1, res.Reason, c.reason)
		}
	}
	idle, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "old-import",
		PermissionGrants: []apitype.Grant{client.GrantOn("job_viewer", p.ID)}})
	if err != nil {
		t.Fatal(err)
	}
	// Made 100 days ago, never used since: what a forgotten token looks like.
	backdate(t, ts, idle.ID, 100*24*time.Hour)

	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	page := ts.URL + "/settings/service-tokens/" + idStr(tok.ID)
	b.open(page)
	// Counts reach storage every 200 ms here: wait for them, generously.
	for deadline := time.Now().Add(20 * time.Second); b.count("#usage-chart rect.u-ok") == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("20 s after use the chart has no bars: %q", b.text("#usage-legend"))
		}
		b.open(page)
	}
	legend := b.text("#usage-legend")
	for _, want := range []string{"ok 5", "forbidden 1", "rate_limited 2", "revoked 0"} {
		if !strings.Contains(legend, want) {
			t.Errorf("legend %q lacks %q", legend, want)
		}
	}
	for _, cls := range []string{"u-ok", "u-forbidden", "u-rate_limited"} {
		if b.count("#usage-chart rect."+cls) == 0 {
			t.Errorf("the chart draws no %s bar", cls)
		}
	}
	addrs := b.text("#token-addresses")
	if !strings.Contains(addrs, "203.0.113.7") || !strings.Contains(addrs, "198.51.100.20") {
		t.Errorf("recent addresses = %q, want both client addresses", addrs)
	}
	b.shot("ui-40-token-usage")
	for _, rg := range []string{"7d", "30d"} {
		b.open(page + "?range=" + rg)
		if got := b.text("#usage-legend"); !strings.Contains(got, "ok 5") {
			t.Errorf("range %s legend = %q, want the same counts", rg, got)
		}
	}
	if n := b.count("#usage-chart g.bar"); n != 30 {
		t.Errorf("30-day chart has %d bars, want 30 (one per day)", n)
	}

	b.open(ts.URL + "/settings/account")
	if got := b.text("#top-tokens-table"); !strings.Contains(got, "etl-nightly") {
		t.Errorf("top tokens = %q, want etl-nightly", got)
	}
	if got := b.text("#unused-tokens-table"); !strings.Contains(got, "old-import") || strings.Contains(got, "etl-nightly") {
		t.Errorf("unused tokens = %q, want old-import alone", got)
	}
	if b.count("#usage-chart rect") == 0 {
		t.Error("the account chart draws no bars")
	}
	b.shot("ui-41-account-usage")
	b.clickTo("#delete-unused-" + idStr(idle.ID))
	got, err := ts.Admin.ServiceToken(ctx, ts.AccountID, idle.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != 2 {
		t.Errorf("after one click the unused token's state is %d, want 2 (deleted)", got.State)
	}
}

// backdate moves a token's creation into the past in the server's database (read when the list
// is loaded; no cached state depends on it).
func backdate(t *testing.T, ts *testServer, id int64, by time.Duration) {
	t.Helper()
	db, err := sql.Open("sqlite", sqlite.DSN(ts.DB))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE tokens SET created_at = ? WHERE id = ?`, time.Now().Add(-by).UnixMicro(), id); err != nil {
		t.Fatal(err)
	}
}

// TestUICredits sets a service token's credits from its page: a bad number is refused at its
// field, a monthly refill is saved and shown, and the credits can be removed again.
func TestUICredits(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	tok, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "metered", PermissionGrants: nil})
	if err != nil {
		t.Fatal(err)
	}
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	b.open(ts.URL + "/settings/service-tokens/" + idStr(tok.ID))
	if got := b.text("#token-credits"); got != "unlimited" {
		t.Errorf("credits before = %q", got)
	}
	b.do("fill a negative balance", chromedp.SetValue(chromedp.ID("credits-remaining"), "-5"))
	if resp := b.clickTo("#credits-save"); resp.Status != http.StatusBadRequest {
		t.Fatalf("negative credits: status %d", resp.Status)
	}
	if got := b.text("#credits-remaining-error"); got == "" {
		t.Error("a negative balance has no message at its field")
	}
	b.do("fill the credits form",
		chromedp.SetValue(chromedp.ID("credits-remaining"), "500"),
		chromedp.SetValue(chromedp.ID("credits-interval"), "monthly"),
		chromedp.SetValue(chromedp.ID("credits-amount"), "1000"),
		chromedp.SetValue(chromedp.ID("credits-day"), "1"))
	if resp := b.clickTo("#credits-save"); resp.Status != http.StatusOK || !strings.Contains(b.text("#flash"), "500 uses left") {
		t.Fatalf("set credits: status %d, flash %q", resp.Status, b.text("#flash"))
	}
	if got, want := b.text("#token-credits"), "500 left · refilled to 1000 monthly on day 1"; got != want {
		t.Errorf("credits after = %q, want %q", got, want)
	}
	got, err := ts.Admin.ServiceToken(ctx, ts.AccountID, tok.ID)
	if err != nil || got.Credits == nil || got.Credits.Remaining != 500 || got.Credits.Refill == nil || got.Credits.Refill.Amount != 1000 {
		t.Errorf("the API reads credits %+v, %v", got, err)
	}
	b.shot("ui-42-token-credits")
	if resp := b.clickTo("#credits-remove"); resp.Status != http.StatusOK {
		t.Fatalf("remove credits: status %d", resp.Status)
	}
	if got := b.text("#token-credits"); got != "unlimited" {
		t.Errorf("credits after removing = %q", got)
	}
}

// Rate limits are edited on a token's Edit page, one per line in the words its page shows them
// in; a bad line is marked at the field and nothing changes; a personal access token takes
// them too.
func TestUIRateLimitsEdit(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	tok, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "limited",
		PermissionGrants: []apitype.Grant{client.GrantOn("metadata_only", 0)}})
	if err != nil {
		t.Fatal(err)
	}
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	b.open(ts.URL + "/settings/service-tokens/" + idStr(tok.ID) + "/edit")
	b.do("fill a malformed limit", chromedp.SetValue(chromedp.ID("token-limits"), "api: 100 per second\nbulk 5000"))
	if resp := b.clickTo("#save-token"); resp.Status != http.StatusBadRequest {
		t.Fatalf("malformed limit: status %d", resp.Status)
	}
	if got := b.text("#token-limits-error"); !strings.Contains(got, "Line 2") {
		t.Errorf("malformed limit's message = %q; want it to name line 2", got)
	}
	if got, err := ts.Admin.ServiceToken(ctx, ts.AccountID, tok.ID); err != nil || len(got.RateLimits) != 0 {
		t.Errorf("after a refused edit the token has limits %+v, %v", got.RateLimits, err)
	}
	b.do("fill two limits", chromedp.SetValue(chromedp.ID("token-limits"), "api: 100 per second\nbulk: 5000 per 10 minutes"))
	b.shot("ui-36-token-rate-limits")
	if resp := b.clickTo("#save-token"); resp.Status != http.StatusOK {
		t.Fatalf("save limits: status %d: %s", resp.Status, b.text("main"))
	}
	if got, want := b.text("#token-limits"), "api: 100 per second; bulk: 5000 per 10 minutes"; got != want {
		t.Errorf("limits on the token's page = %q, want %q", got, want)
	}
	got, err := ts.Admin.ServiceToken(ctx, ts.AccountID, tok.ID)
	want := []apitype.RateLimit{{Name: "api", Limit: 100, DurationSeconds: 1}, {Name: "bulk", Limit: 5000, DurationSeconds: 600}}
	if err != nil || !cmp.Equal(got.RateLimits, want) {
		t.Errorf("the API reads limits %+v, %v; want %+v", got.RateLimits, err, want)
	}
	// Emptying the field removes them.
	b.open(ts.URL + "/settings/service-tokens/" + idStr(tok.ID) + "/edit")
	if got := b.value("#token-limits"); got != "api: 100 per second\nbulk: 5000 per 10 minutes" {
		t.Errorf("edit form shows %q", got)
	}
	b.do("empty the limits", chromedp.WaitVisible("#save-token"), chromedp.Clear(chromedp.ID("token-limits")))
	if resp := b.clickTo("#save-token"); resp.Status != http.StatusOK || b.text("#token-limits") != "none of its own" {
		t.Errorf("remove limits: status %d, page says %q", resp.Status, b.text("#token-limits"))
	}

	// A personal access token of the signed-in administrator.
	pat, err := ts.Admin.CreatePAT(ctx, ts.AccountID, ts.adminUserID(t), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	b.open(ts.URL + "/profile/tokens/" + idStr(pat.ID) + "/edit")
	b.do("fill a PAT limit", chromedp.SetValue(chromedp.ID("token-limits"), "api: 10 per minute"))
	if resp := b.clickTo("#save-token"); resp.Status != http.StatusOK {
		t.Fatalf("save PAT limit: status %d", resp.Status)
	}
	if got := b.text("#token-limits"); got != "api: 10 per minute" {
		t.Errorf("PAT limits on its page = %q", got)
	}
}
