package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

// Trust policies in Account settings: a bad condition line is marked at its field with what
// was typed kept; a good policy is listed with its conditions and the token it acts as, and the
// API sees it; Delete removes it. Screenshot for docs/ui.md.
func TestUITrustPolicies(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	svc, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "etl deployer",
		PermissionGrants: []apitype.Grant{client.GrantOn("metadata_only", 0)}})
	if err != nil {
		t.Fatal(err)
	}
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	b.open(ts.URL + "/settings/trust-policies")
	if got := b.text("#sidebar-trust-policies"); got != "Trust policies" {
		t.Errorf("sidebar entry %q", got)
	}
	b.do("fill a policy with a malformed condition",
		chromedp.SetValue(chromedp.ID("tp-name"), "etl deploys"),
		chromedp.SetValue(chromedp.ID("tp-issuer"), "https://token.actions.githubusercontent.com"),
		chromedp.SetValue(chromedp.ID("tp-audience"), ts.URL),
		chromedp.SetValue(chromedp.ID("tp-conditions"), "repository=acme/etl\nref refs/heads/main"),
		chromedp.SetValue(chromedp.ID("tp-token"), idStr(svc.ID)),
		chromedp.SetValue(chromedp.ID("tp-grants"), "metadata_only"))
	if resp := b.clickTo("#add-trust-policy"); resp.Status != http.StatusBadRequest {
		t.Fatalf("malformed condition: status %d", resp.Status)
	}
	if got := b.text("#tp-conditions-error"); !strings.Contains(got, "Line 2") {
		t.Errorf("condition error = %q; want it to name line 2", got)
	}
	if got := b.value("#tp-name"); got != "etl deploys" {
		t.Errorf("the name typed was lost: %q", got)
	}
	b.do("fix the condition", chromedp.SetValue(chromedp.ID("tp-conditions"), "repository=acme/etl\nref~refs/heads/*"))
	if resp := b.clickTo("#add-trust-policy"); resp.Status != http.StatusOK || !strings.Contains(b.text("#flash"), "etl deploys") {
		t.Fatalf("add: status %d, flash %q", resp.Status, b.text("#flash"))
	}
	table := b.text("#trust-policy-table")
	for _, want := range []string{"etl deploys", "https://token.actions.githubusercontent.com", `repository == "acme/etl"`, `ref like "refs/heads/*"`, "etl deployer", "metadata_only"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
	list, err := ts.Admin.TrustPolicies(ctx, ts.AccountID)
	if err != nil || len(list) != 1 || list[0].ServiceTokenID != svc.ID || len(list[0].Conditions) != 2 {
		t.Fatalf("the API reads %+v, %v", list, err)
	}
	b.shot("ui-37-trust-policies")
	if resp := b.clickTo("#delete-trust-policy-" + idStr(list[0].ID)); resp.Status != http.StatusOK || !strings.Contains(b.text("#flash"), "Deleted trust policy") {
		t.Fatalf("delete: status %d, flash %q", resp.Status, b.text("#flash"))
	}
	if list, err := ts.Admin.TrustPolicies(ctx, ts.AccountID); err != nil || len(list) != 0 {
		t.Errorf("after delete the API reads %+v, %v", list, err)
	}
}
