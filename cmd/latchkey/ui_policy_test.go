package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/client"
)

// TestUITokenPolicy edits the token security policy in Account settings: the admin flags leaked
// tokens instead of revoking them, has reused rotated-out tokens only refused and caps new
// tokens at 30 days, and the page and a new token's expiry show it; a Member, whose
// account_settings:write is not enough to weaken the policy, sees no form and a forged post is
// refused.
func TestUITokenPolicy(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	b.open(ts.URL + "/settings/account")
	if got := b.text("#account-leak-action"); !strings.Contains(got, "revoked at once") {
		t.Errorf("leak action before = %q", got)
	}
	b.do("fill the policy form",
		chromedp.SetValue(chromedp.ID("leak-action-input"), "flag"),
		chromedp.SetValue(chromedp.ID("reuse-input"), "refuse"),
		chromedp.SetValue(chromedp.ID("max-lifetime-input"), "2592000"),
		chromedp.SetValue(chromedp.ID("max-access-lifetime-input"), "14400"))
	if resp := b.clickTo("#save-policy"); resp.Status != http.StatusOK || !strings.Contains(b.text("#flash"), "policy saved") {
		t.Fatalf("save the policy: status %d, page:\n%s", resp.Status, b.text("main"))
	}
	for sel, want := range map[string]string{"#account-leak-action": "flagged and keeps working", "#account-reuse": "refused and audited",
		"#account-max-lifetime": "30 days"} {
		if got := b.text(sel); !strings.Contains(got, want) {
			t.Errorf("%s after saving = %q, want %q", sel, got, want)
		}
	}
	if got := b.value("#max-access-lifetime-input"); got != "14400" {
		t.Errorf("longest access-token lifetime after saving = %q, want 14400", got)
	}
	if accts, err := ts.Admin.Accounts(t.Context()); err != nil || len(accts) != 1 || accts[0].MaxAccessTokenLifetimeSeconds != 14400 {
		t.Errorf("the API reads max_access_token_lifetime_seconds %+v, %v", accts, err)
	}
	b.shot("ui-31-token-policy")
	// The cap applies: a token asking for no expiry gets 30 days.
	tok, err := ts.Admin.CreateServiceToken(t.Context(), ts.AccountID, client.CreateServiceTokenRequest{Name: "capped", PermissionGrants: nil})
	if err != nil || tok.ExpiresAt == nil {
		t.Errorf("a token created under a 30-day cap: %+v, %v; want an expiry", tok, err)
	}

	// A Member may rename the account but not weaken the policy.
	if _, err := ts.Admin.CreateUser(t.Context(), ts.AccountID, client.CreateUserRequest{Email: "member@example.com", Password: testAdminPassword, LicenseType: "developer"}); err != nil {
		t.Fatal(err)
	}
	m := newFormClient(t, ts.URL, "member@example.com", testAdminPassword)
	if page := m.page(t, "/settings/account"); strings.Contains(page, `id="policy-form"`) {
		t.Error("a Member sees the policy form")
	}
	csrf := m.csrf(t, "/settings/account")
	status, _ := m.postPage(t, "/settings/account", url.Values{"csrf_token": {csrf}, "form": {"policy"}, "leak_action": {"revoke"},
		"reuse": {"revoke"}, "max_token_lifetime": {"0"}})
	if status != http.StatusForbidden {
		t.Errorf("a Member's forged policy post: %d, want 403", status)
	}
	// A value no choice offers is refused at its field.
	admin := newFormClient(t, ts.URL, ts.AdminEmail, ts.AdminPass)
	csrf = admin.csrf(t, "/settings/account")
	status, page := admin.postPage(t, "/settings/account", url.Values{"csrf_token": {csrf}, "form": {"policy"}, "leak_action": {"revoke"},
		"reuse": {"revoke"}, "max_token_lifetime": {"0"}, "max_access_token_lifetime": {"60"}})
	if status != http.StatusBadRequest || !strings.Contains(page, `id="max-access-lifetime-error"`) {
		t.Errorf("a 60-second maximum: %d; want 400 with the error at the field", status)
	}
}
