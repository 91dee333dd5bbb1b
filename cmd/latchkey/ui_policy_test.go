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
		chromedp.SetValue(chromedp.ID("max-lifetime-input"), "2592000"))
	if resp := b.clickTo("#save-policy"); resp.Status != http.StatusOK || !strings.Contains(b.text("#flash"), "policy saved") {
		t.Fatalf("save the policy: status %d, page:\n%s", resp.Status, b.text("main"))
	}
	for sel, want := range map[string]string{"#account-leak-action": "flagged and keeps working", "#account-reuse": "refused and audited",
		"#account-max-lifetime": "30 days"} {
		if got := b.text(sel); !strings.Contains(got, want) {
			t.Errorf("%s after saving = %q, want %q", sel, got, want)
		}
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
}
