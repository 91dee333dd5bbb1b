package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

// TestUITokenDetail opens a service token's page from the list: its full creation time and
// creator, last use with the address, expiry, allowed addresses, one line per grant and, after
// a rotation, the rotation history; a deleted token's page says when, why and by whom; a
// personal access token has the same page from the profile.
func TestUITokenDetail(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise", "--last-used-flush-interval", "100ms")
	ctx := context.Background()
	p, err := ts.Admin.CreateProject(ctx, ts.AccountID, "analytics", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "airflow-prod",
		PermissionGrants: []apitype.Grant{client.GrantOn("job_admin", p.ID), client.GrantOn("metadata_only", 0)},
		AllowedCIDRs:     []string{"127.0.0.0/8"}, ExpiresAt: time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339),
		RateLimits: []apitype.RateLimit{{Name: "api", Limit: 100, DurationSeconds: 1}, {Name: "daily", Limit: 50000, DurationSeconds: 86400}},
		Credits:    &apitype.Credits{Remaining: 10000, Refill: &apitype.Refill{Amount: 10000, Interval: "monthly", Day: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(ts.URL, tok.TokenString).Whoami(ctx); err != nil {
		t.Fatal(err)
	}
	next, err := ts.Admin.RotateServiceToken(ctx, ts.AccountID, tok.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	b.open(ts.URL + "/settings/service-tokens")
	b.clickTo(`#token-` + idStr(next.ID) + ` a.token-link`)
	if got := b.text("#token-title"); got != "airflow-prod" {
		t.Errorf("title = %q", got)
	}
	for sel, want := range map[string]string{
		"#token-status":  "Active",
		"#token-created": ts.AdminEmail,
		"#token-expires": "UTC",
		"#token-cidrs":   "127.0.0.0/8",
		"#token-limits":  "api: 100 per second; daily: 50000 per day",
		"#token-credits": "left · refilled to 10000 monthly on day 1",
		"#token-grants":  "Job Admin on analytics Metadata Only on all projects",
	} {
		if got := b.text(sel); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if n := b.count("#rotation-history tbody tr"); n != 2 {
		t.Errorf("rotation history has %d rows, want 2 (the token and the one it replaced)", n)
	}
	b.shot("ui-32-token-detail")

	// The old token's page: replaced, used from this address.
	b.open(ts.URL + "/settings/service-tokens/" + idStr(tok.ID))
	for deadline := time.Now().Add(15 * time.Second); strings.Contains(b.text("#token-last-used"), "Never"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("15 s after its use the token's page says last used %q", b.text("#token-last-used"))
		}
		b.open(ts.URL + "/settings/service-tokens/" + idStr(tok.ID))
	}
	if got := b.text("#token-last-used"); !strings.Contains(got, "from 127.0.0.1") {
		t.Errorf("last used = %q, want the address", got)
	}
	if got := b.text("#token-status"); !strings.Contains(got, "replaced · works until") {
		t.Errorf("old token's status = %q", got)
	}

	// Deleted: the page stays, saying when, why and by whom.
	if _, err := ts.Admin.DeleteServiceToken(ctx, ts.AccountID, next.ID); err != nil {
		t.Fatal(err)
	}
	if resp := b.open(ts.URL + "/settings/service-tokens/" + idStr(next.ID)); resp.Status != http.StatusOK {
		t.Fatalf("a deleted token's page: %d", resp.Status)
	}
	if got := b.text("#token-status"); !strings.Contains(got, "Deleted") || !strings.Contains(got, "Person:") || !strings.Contains(got, ts.AdminEmail) {
		t.Errorf("deleted token's status = %q, want Deleted by a user", got)
	}
	if b.count("#detail-delete") != 0 || b.count("#detail-rotate") != 0 {
		t.Error("a deleted token's page offers Rotate or Delete")
	}

	// A personal access token, from the profile.
	b.open(ts.URL + "/profile")
	b.clickTo("#pat-table a.token-link")
	if got := b.text("#token-created"); !strings.Contains(got, "UTC") {
		t.Errorf("PAT page created = %q", got)
	}
	if b.count("#token-grants") != 0 {
		t.Error("a personal access token's page lists grants (it acts with its user's permissions)")
	}
}
