package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/client"
)

// postPage posts a form with the session and returns the status and page.
func (fc *formClient) postPage(t testing.TB, path string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fc.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(fc.session)
	resp, err := (&http.Client{CheckRedirect: fc.hc.CheckRedirect}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (fc *formClient) page(t testing.TB, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fc.base+path, nil)
	req.AddCookie(fc.session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestUIIPRestrictions edits IP rules through the Account settings page: the same checks as the
// API apply (a bad range, a lockout), and what was typed survives an error.
func TestUIIPRestrictions(t *testing.T) {
	ts := startServer(t, "enterprise")
	admin := newFormClient(t, ts.URL, ts.AdminEmail, ts.AdminPass)
	csrf := admin.csrf(t, "/settings/ip-restrictions")
	form := func(kv ...string) url.Values {
		v := url.Values{"csrf_token": {csrf}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}

	status, page := admin.postPage(t, "/settings/ip-restrictions", form("name", "office", "type", "allow", "cidrs", "10.0.0.1/8"))
	if status != http.StatusBadRequest || !strings.Contains(page, "host bits set; did you mean 10.0.0.0/8?") || !strings.Contains(page, `value="office"`) {
		t.Fatalf("bad range: %d; want 400 naming the problem and keeping the name:\n%s", status, page)
	}
	if status, _ := admin.postPage(t, "/settings/ip-restrictions", form("name", "blocklist", "type", "deny", "cidrs", "127.0.0.2/32, 2001:db8::/32")); status != http.StatusSeeOther {
		t.Fatalf("add deny rule: %d, want 303", status)
	}
	if status, _ := admin.postPage(t, "/settings/ip-restrictions/enforcement", form("enabled", "on")); status != http.StatusSeeOther {
		t.Fatalf("enforce: %d, want 303", status)
	}
	page = admin.page(t, "/settings/ip-restrictions")
	if !strings.Contains(page, "blocklist") || !strings.Contains(page, "2001:db8::/32") || !strings.Contains(page, `id="ip-enforcement">enforced`) {
		t.Fatalf("page after adding and enforcing:\n%s", page)
	}
	// An allow rule that leaves the admin's own address out would lock them out: refused.
	status, page = admin.postPage(t, "/settings/ip-restrictions", form("name", "vpn", "type", "allow", "cidrs", "10.0.0.0/8"))
	if status != http.StatusBadRequest || !strings.Contains(page, "lock you out") {
		t.Fatalf("lockout rule: %d; want 400 explaining the lockout:\n%s", status, page)
	}
	rules, err := ts.Admin.Do(t.Context(), http.MethodGet, pathf("/api/v3/accounts/%d/ip-restrictions/", ts.AccountID), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var list []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	if err := jsonUnmarshal(rules.Data, &list); err != nil || len(list) != 1 {
		t.Fatalf("rules through the API = %+v, %v; want the one added in the UI", list, err)
	}
	// The trash can asks first; the rule stays until the confirmation is posted.
	if !strings.Contains(admin.page(t, "/settings/ip-restrictions"), pathf(`href="/settings/ip-restrictions/%d/delete"`, list[0].ID)) {
		t.Error("the rule's trash can does not lead to the confirmation")
	}
	page = admin.page(t, pathf("/settings/ip-restrictions/%d/delete", list[0].ID))
	if !strings.Contains(page, `id="confirm-delete"`) || !strings.Contains(page, "blocklist") || !strings.Contains(page, "enforced") {
		t.Fatalf("delete confirmation:\n%s", page)
	}
	if page := admin.page(t, "/settings/ip-restrictions"); !strings.Contains(page, "blocklist") {
		t.Error("opening the confirmation deleted the rule")
	}
	if status, _ := admin.postPage(t, pathf("/settings/ip-restrictions/%d/delete", list[0].ID), form()); status != http.StatusSeeOther {
		t.Fatalf("delete rule: %d, want 303", status)
	}
	if page := admin.page(t, "/settings/ip-restrictions"); strings.Contains(page, "blocklist") {
		t.Error("the deleted rule is still listed")
	}

	// Refused changes come back on the rules page, saying why, not on an error page.
	if status, _ := admin.postPage(t, "/settings/ip-restrictions/enforcement", form()); status != http.StatusSeeOther {
		t.Fatalf("stop enforcing: %d, want 303", status)
	}
	if status, page := admin.postPage(t, "/settings/ip-restrictions", form("name", "vpn", "type", "allow", "cidrs", "10.0.0.0/8")); status != http.StatusSeeOther {
		t.Fatalf("an allow rule leaving the admin out, not enforced: %d, want 303:\n%s", status, page)
	}
	status, page = admin.postPage(t, "/settings/ip-restrictions/enforcement", form("enabled", "on"))
	if status < 400 || status >= 500 || !strings.Contains(page, "The rules were not enforced") || !strings.Contains(page, "lock you out") ||
		!strings.Contains(page, `id="ip-rule-table"`) {
		t.Fatalf("enforcing rules that lock the admin out: %d; want a 4xx on the rules page saying why:\n%s", status, page)
	}

	// A read-only member sees the rules but may not change them.
	if _, err := ts.Admin.CreateUser(t.Context(), ts.AccountID, client.CreateUserRequest{Email: "ro@example.com", Password: testAdminPassword, LicenseType: "read_only"}); err != nil {
		t.Fatal(err)
	}
	ro := newFormClient(t, ts.URL, "ro@example.com", testAdminPassword)
	roCSRF := ro.csrf(t, "/settings/projects")
	if status, _ := ro.postPage(t, "/settings/ip-restrictions", url.Values{"csrf_token": {roCSRF}, "name": {"x"}, "cidrs": {"10.0.0.0/8"}}); status != http.StatusForbidden {
		t.Errorf("read-only member adding a rule: %d, want 403", status)
	}
}

func TestUIIPRestrictionsNeedEnterprise(t *testing.T) {
	ts := startServer(t, "team")
	admin := newFormClient(t, ts.URL, ts.AdminEmail, ts.AdminPass)
	if page := admin.page(t, "/settings/ip-restrictions"); !strings.Contains(page, "Enterprise") || strings.Contains(page, `id="new-rule-form"`) {
		t.Errorf("IP restrictions page on the team plan:\n%s", page)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
