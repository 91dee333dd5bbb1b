package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

// TestUITokenEdit edits a service token from its page: a bad range is refused next to its field
// with the input kept; then the new name, permissions, allowed addresses and expiry are saved,
// shown on the page, audited, and enforced at once (the token, used from 127.0.0.1, is refused
// after its addresses move elsewhere and works again when they are cleared). A personal access
// token's edit page offers only its name and expiry.
func TestUITokenEdit(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	p, err := ts.Admin.CreateProject(ctx, ts.AccountID, "analytics", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "airflow",
		PermissionGrants: []apitype.Grant{client.GrantOn("metadata_only", 0)}})
	if err != nil {
		t.Fatal(err)
	}
	svc := client.New(ts.URL, tok.TokenString)
	if _, err := svc.Whoami(ctx); err != nil {
		t.Fatal(err)
	}

	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	b.open(ts.URL + "/settings/service-tokens/" + idStr(tok.ID))
	b.clickTo("#detail-edit")
	if got := b.value("#token-name") + "|" + b.value("#grant-set-0") + "|" + b.value("#token-expires"); got != "airflow|metadata_only|keep" {
		t.Errorf("edit form starts with %q, want the token's name, grant and its current expiry", got)
	}
	// A bad range: refused inline, nothing saved, the input kept.
	b.do("type a bad range", chromedp.WaitVisible("#save-token"), chromedp.SetValue(chromedp.ID("token-name"), "airflow-prod"), chromedp.SetValue(chromedp.ID("token-cidrs"), "10.0.0.0/33"))
	if resp := b.clickTo("#save-token"); resp.Status != http.StatusBadRequest {
		t.Errorf("a bad range: status %d, want 400", resp.Status)
	}
	if got := b.text("#token-cidrs-error"); !strings.Contains(got, "10.0.0.0/33") || !isSentence(got) {
		t.Errorf("error next to Allowed addresses = %q, want a sentence naming the bad range", got)
	}
	if got := b.value("#token-name"); got != "airflow-prod" {
		t.Errorf("the name typed was lost: %q", got)
	}
	if got, _ := ts.Admin.ServiceToken(ctx, ts.AccountID, tok.ID); got.Name != "airflow" {
		t.Errorf("a refused edit renamed the token to %q", got.Name)
	}

	// Move the token's addresses away from 127.0.0.1, give it Job Admin on analytics and 30 days.
	b.do("fill the edit form",
		chromedp.SetValue(chromedp.ID("token-cidrs"), "192.0.2.0/24"),
		chromedp.SetValue(chromedp.ID("token-expires"), "30"),
		chromedp.SetValue(chromedp.ID("grant-set-0"), "job_admin"),
		chromedp.SetValue(chromedp.ID("grant-project-0"), idStr(p.ID)))
	if resp := b.clickTo("#save-token"); resp.Status != http.StatusOK || !strings.Contains(b.text("#flash"), "Saved the changes") {
		t.Fatalf("save: status %d, page:\n%s", resp.Status, b.text("main"))
	}
	for sel, want := range map[string]string{
		"#token-title":   "airflow-prod",
		"#token-cidrs":   "192.0.2.0/24",
		"#token-grants":  "Job Admin on analytics",
		"#token-expires": time.Now().AddDate(0, 0, 30).UTC().Format("2006-01-02"),
	} {
		if got := b.text(sel); !strings.Contains(got, want) {
			t.Errorf("%s after saving = %q, want %q", sel, got, want)
		}
	}
	b.shot("ui-33-token-edited")
	// Enforced at once, on the same token string.
	refused := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := svc.Whoami(ctx); client.StatusOf(err) == http.StatusForbidden || client.StatusOf(err) == http.StatusUnauthorized {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("the token still works from 127.0.0.1 after its addresses moved to 192.0.2.0/24")
	}
	var entries []apitype.AuditEntry
	if _, err := ts.Admin.Do(ctx, http.MethodGet, "/api/v3/accounts/"+idStr(ts.AccountID)+"/audit-logs/?event_type=service_token", nil, &entries); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.EventType] = true
	}
	for _, ev := range []string{"service_token.renamed", "service_token.addresses_changed", "service_token.expiry_changed"} {
		if !seen[ev] {
			t.Errorf("no %s in the audit log after the edit (have %v)", ev, seen)
		}
	}
	// Clearing the addresses lets it in again.
	b.clickTo("#detail-edit")
	b.do("clear the addresses", chromedp.WaitVisible("#save-token"), chromedp.Clear(chromedp.ID("token-cidrs")))
	b.clickTo("#save-token")
	if got := b.text("#token-cidrs"); !strings.Contains(got, "any address") {
		t.Errorf("addresses after clearing = %q", got)
	}
	var werr error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, werr = svc.Whoami(ctx); werr == nil {
			break
		}
	}
	if werr != nil {
		t.Errorf("the token is still refused after its addresses were cleared: %v", werr)
	}

	// A personal access token: name and expiry only.
	pat := adminPAT(t, ts, "laptop")
	b.open(ts.URL + "/profile/tokens/" + idStr(pat.ID))
	b.clickTo("#detail-edit")
	if b.count("#token-cidrs") != 0 || b.count("#grant-set-0") != 0 {
		t.Error("a personal access token's edit page offers addresses or permissions")
	}
	b.do("rename the PAT", chromedp.WaitVisible("#save-token"), chromedp.SetValue(chromedp.ID("token-name"), "laptop 2026"))
	b.clickTo("#save-token")
	if got := b.text("#token-title"); got != "laptop 2026" {
		t.Errorf("PAT title after rename = %q", got)
	}
}

// TestUIRevokedView lists every way a token stops working — deleted by a person, reported as
// leaked, expired, rotated out — with why and by whom, filters them by reason and by name, and
// shows the same view of a user's personal access tokens on the profile.
func TestUIRevokedView(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	mk := func(name string, expires string) *apitype.Token {
		t.Helper()
		tok, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: name,
			PermissionGrants: []apitype.Grant{client.GrantOn("metadata_only", 0)}, ExpiresAt: expires})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	deleted := mk("nightly loader", "")
	if _, err := ts.Admin.DeleteServiceToken(ctx, ts.AccountID, deleted.ID); err != nil {
		t.Fatal(err)
	}
	expiring := mk("short-lived loader", time.Now().Add(3*time.Second).UTC().Format(time.RFC3339))
	rotated := mk("dbt-ci", "")
	if _, err := ts.Admin.RotateServiceToken(ctx, ts.AccountID, rotated.ID, 0); err != nil {
		t.Fatal(err)
	}
	live := mk("still working", "")
	time.Sleep(3 * time.Second)

	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	b.open(ts.URL + "/settings/service-tokens")
	if got := b.text("#token-table"); strings.Contains(got, "short-lived loader") || !strings.Contains(got, "still working") {
		t.Errorf("active list = %q, want the working token and not the expired one", got)
	}
	b.clickTo("#view-revoked")
	for id, want := range map[int64][]string{
		deleted.ID:  {"nightly loader", "Deleted", "Person:", ts.AdminEmail},
		expiring.ID: {"short-lived loader", "Expired", "Rule: expiry"},
		rotated.ID:  {"dbt-ci", "Rotated with no grace period", "Person:"},
	} {
		row := b.text("#token-" + idStr(id))
		for _, w := range want {
			if !strings.Contains(row, w) {
				t.Errorf("revoked view row of token %d = %q, want %q", id, row, w)
			}
		}
	}
	if b.count("#token-"+idStr(live.ID)) != 0 {
		t.Error("a working token is in the revoked view")
	}
	b.shot("ui-27-revoked-tokens")
	// By reason.
	b.do("filter expired", chromedp.SetValue(chromedp.ID("filter-how"), "expired"))
	b.clickTo("#filter-apply")
	if n := b.count("#revoked-table tbody tr"); n != 1 || b.count("#token-"+idStr(expiring.ID)) != 1 {
		t.Errorf("filtered by Expired: %d rows: %q", n, b.text("#revoked-table"))
	}
	// By name, with the reason cleared.
	b.clickTo("#filter-clear")
	b.do("filter by name", chromedp.SetValue(chromedp.ID("filter-q"), "LOADER"))
	b.clickTo("#filter-apply")
	if n := b.count("#revoked-table tbody tr"); n != 2 || b.count("#token-"+idStr(rotated.ID)) != 0 {
		t.Errorf("filtered by name LOADER: %d rows: %q", n, b.text("#revoked-table"))
	}
	b.do("filter that matches nothing", chromedp.SetValue(chromedp.ID("filter-q"), "no such token"))
	b.clickTo("#filter-apply")
	if got := b.text("main"); !strings.Contains(got, "No revoked service tokens match this filter.") {
		t.Errorf("an empty filter result says %q", got)
	}
	if resp := b.open(ts.URL + "/settings/service-tokens?view=revoked&how=stolen"); resp.Status != http.StatusBadRequest {
		t.Errorf("an unknown reason: %d, want 400", resp.Status)
	}
	if got := b.text("#page-error"); got != "Choose one of the offered reasons." {
		t.Errorf("an unknown reason says %q", got)
	}

	// The profile's personal access tokens have the same view.
	pat := adminPAT(t, ts, "old laptop")
	b.open(ts.URL + "/profile")
	b.clickTo(`a[aria-label="Delete token old laptop"]`)
	b.clickTo("#confirm-delete")
	b.open(ts.URL + "/profile?view=revoked")
	if row := b.text("#token-" + idStr(pat.ID)); !strings.Contains(row, "old laptop") || !strings.Contains(row, "Deleted") {
		t.Errorf("profile revoked view row = %q", row)
	}
}

// isSentence reports whether a message reads as the UI words messages: a capital first, a full
// stop last, and no API field name (snake_case) in it.
func isSentence(msg string) bool {
	msg = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(msg), "⚠"))
	r, _ := utf8.DecodeRuneInString(msg)
	return unicode.IsUpper(r) && strings.HasSuffix(msg, ".") && !regexp.MustCompile(`[a-z]_[a-z]`).MatchString(msg)
}

// adminPAT creates a personal access token of the test server's admin.
func adminPAT(t *testing.T, ts *testServer, name string) *apitype.Token {
	t.Helper()
	me, err := ts.Admin.Whoami(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	pat, err := ts.Admin.CreatePAT(t.Context(), ts.AccountID, me.UserID, name)
	if err != nil {
		t.Fatal(err)
	}
	return pat
}
