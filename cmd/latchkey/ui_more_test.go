package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

// TestUIServiceTokenAllowedAddresses creates a service token limited to 127.0.0.2/32 in the
// browser: a bad range comes back next to the field with everything typed kept; the revealed
// token is refused from 127.0.0.1 and works from 127.0.0.2; the list marks it IP-limited; and a
// rotation keeps the limit.
func TestUIServiceTokenAllowedAddresses(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	_, plain := ts.serviceToken(t, "plain", client.GrantOn("metadata_only", 0))
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)

	b.open(ts.URL + "/settings/service-tokens/new")
	if got := b.text("#token-cidrs-hint"); !strings.Contains(got, "from anywhere (account IP rules still apply)") {
		t.Errorf("allowed addresses hint = %q, want it to say that empty means from anywhere", got)
	}
	b.do("fill the form with a bad range",
		chromedp.SendKeys(chromedp.ID("token-name"), "edge-proxy"),
		chromedp.SetValue(chromedp.ID("token-expires"), "30"),
		chromedp.SetValue(chromedp.ID("grant-set-0"), "metadata_only"),
		chromedp.SendKeys(chromedp.ID("token-cidrs"), "10.0.0.0/33"))
	if resp := b.clickTo("#create-token"); resp.Status != http.StatusBadRequest {
		t.Errorf("creating with 10.0.0.0/33: status %d, want 400", resp.Status)
	}
	if got := b.text("#token-cidrs-error"); !strings.Contains(got, "10.0.0.0/33") {
		t.Errorf("error next to Allowed addresses = %q, want it to name the bad range", got)
	}
	invalid := evalJS[string](b, `document.getElementById("token-cidrs").getAttribute("aria-invalid") + "|" + document.getElementById("token-cidrs").getAttribute("aria-describedby")`)
	if invalid != "true|token-cidrs-hint token-cidrs-error" {
		t.Errorf("Allowed addresses aria-invalid|aria-describedby = %q, want the field marked and described by its error", invalid)
	}
	if got := b.value("#token-name") + "|" + b.value("#token-expires") + "|" + b.value("#grant-set-0") + "|" + b.value("#grant-project-0") + "|" + b.value("#token-cidrs"); got != "edge-proxy|30|metadata_only|all|10.0.0.0/33" {
		t.Errorf("after the error the form holds %s; nothing typed may be lost", got)
	}
	b.waitFocus("token-cidrs")
	if toks, _, err := ts.Admin.ServiceTokens(ctx, ts.AccountID, client.ListOptions{}); err != nil || len(toks) != 1 {
		t.Fatalf("service tokens after the refused form = %d, %v; want only the first one", len(toks), err)
	}

	// Fixed: one address, as a CIDR. + Add permission keeps it too.
	b.do("type a good range", chromedp.SetValue(chromedp.ID("token-cidrs"), "127.0.0.2/32"))
	b.clickTo("#add-permission")
	if got := b.value("#token-cidrs"); got != "127.0.0.2/32" {
		t.Errorf("after + Add permission the allowed addresses are %q", got)
	}
	b.clickTo(`button[aria-label="Remove permission 2"]`)
	b.shot("ui-16-new-token-addresses")
	if resp := b.clickTo("#create-token"); resp.Status != http.StatusOK {
		t.Fatalf("creating with 127.0.0.2/32: status %d, want 200", resp.Status)
	}
	secret := b.value("#token-value")
	if !tokenRE.MatchString(secret) {
		t.Fatalf("revealed token %.10s… does not look like a service token", secret)
	}
	if got := revealedCIDRs(b); got != "127.0.0.2/32" {
		t.Errorf("reveal page allowed addresses = %q, want 127.0.0.2/32", got)
	}
	tok := findToken(t, ts, secret)
	if strings.Join(tok.AllowedCIDRs, ",") != "127.0.0.2/32" {
		t.Errorf("allowed_cidrs through the API = %v, want [127.0.0.2/32]", tok.AllowedCIDRs)
	}

	// Real HTTP from two loopback addresses.
	if r := govWhoamiStatus(t, ts.URL, secret, "127.0.0.1", nil); r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "Access denied from this IP address") {
		t.Errorf("IP-limited token from 127.0.0.1: status %d (%s), want 403 for the address", r.Status, r.Body)
	}
	if r := govWhoamiStatus(t, ts.URL, secret, "127.0.0.2", nil); r.Status != http.StatusOK {
		t.Errorf("IP-limited token from 127.0.0.2: status %d (%s), want 200", r.Status, r.Body)
	}

	// The list marks the token, with the ranges in the tooltip; the other token has no badge.
	b.clickTo("#reveal-done")
	row := "#token-" + idStr(tok.ID)
	if n := b.count(row + " .ip-limited"); n != 1 {
		t.Errorf("the IP-limited token's row has %d IP-limited badges, want 1", n)
	} else {
		if got := evalJS[string](b, `document.querySelector("`+row+` .ip-limited").title`); got != "Only from 127.0.0.2/32" {
			t.Errorf("IP-limited badge title = %q, want %q", got, "Only from 127.0.0.2/32")
		}
		if got := b.text(row + " .ip-limited"); !strings.HasPrefix(got, "IP-limited") {
			t.Errorf("IP-limited badge says %q", got)
		}
	}
	if n := b.count("#token-" + idStr(plain.ID) + " .ip-limited"); n != 0 {
		t.Errorf("a token without allowed addresses has %d IP-limited badges", n)
	}

	// Rotate at once: the successor keeps the limit.
	b.clickTo(`a[aria-label="Rotate token edge-proxy"]`)
	b.do("choose now", chromedp.Click(chromedp.ID("grace-0")))
	b.clickTo("#rotate-submit")
	rotated := b.value("#token-value")
	if !tokenRE.MatchString(rotated) || rotated == secret {
		t.Fatalf("rotation revealed %.10s…, want a new service token", rotated)
	}
	if got := revealedCIDRs(b); got != "127.0.0.2/32" {
		t.Errorf("rotation reveal allowed addresses = %q, want 127.0.0.2/32", got)
	}
	if got := findToken(t, ts, rotated).AllowedCIDRs; strings.Join(got, ",") != "127.0.0.2/32" {
		t.Errorf("rotated token allowed_cidrs = %v, want [127.0.0.2/32]", got)
	}
	if r := govWhoamiStatus(t, ts.URL, rotated, "127.0.0.1", nil); r.Status != http.StatusForbidden {
		t.Errorf("rotated IP-limited token from 127.0.0.1: status %d, want 403", r.Status)
	}
	if r := govWhoamiStatus(t, ts.URL, rotated, "127.0.0.2", nil); r.Status != http.StatusOK {
		t.Errorf("rotated IP-limited token from 127.0.0.2: status %d (%s), want 200", r.Status, r.Body)
	}
}

// revealedCIDRs returns the allowed addresses the reveal page lists, or "none".
func revealedCIDRs(b *browser) string {
	b.t.Helper()
	if b.count("#reveal-cidrs") == 0 {
		return "none"
	}
	return b.text("#reveal-cidrs")
}

// TestUIGroupDelete deletes custom groups through the confirmation page (from the group's page
// and from the list's trash can), with one audit entry each; built-in groups have no delete
// button and the server refuses a forged post, as it refuses users without groups:write.
func TestUIGroupDelete(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	temps, err := ts.Admin.CreateGroup(ctx, ts.AccountID, "Temps", []apitype.Grant{client.GrantOn("stakeholder", 0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Admin.CreateUser(ctx, ts.AccountID, client.CreateUserRequest{Email: "grace@example.com", FirstName: "Grace",
		LastName: "Hopper", Password: testAdminPassword, LicenseType: "developer", GroupIDs: []int64{temps.ID}}); err != nil {
		t.Fatal(err)
	}
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)

	groupByName := func(name string) *apitype.Group {
		t.Helper()
		gs, _, err := ts.Admin.Groups(ctx, ts.AccountID, client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range gs {
			if gs[i].Name == name {
				return &gs[i]
			}
		}
		return nil
	}
	wantDeleted := func(g *apitype.Group) {
		t.Helper()
		if got := b.text("#group-table"); strings.Contains(got, g.Name) {
			t.Errorf("the group list still shows %s: %q", g.Name, got)
		}
		if groupByName(g.Name) != nil {
			t.Errorf("the API still lists group %s", g.Name)
		}
		var got apitype.Group
		if _, err := ts.Admin.Do(ctx, http.MethodGet, pathf("/api/v3/accounts/%d/groups/%d/", ts.AccountID, g.ID), nil, &got); err != nil || got.State != 2 {
			t.Errorf("group %s through the API = state %d, %v; want state 2 (deleted)", g.Name, got.State, err)
		}
		if n := len(govAuditFor(govAudit(t, ts, "event_type=group.deleted"), "group_id", g.ID)); n != 1 {
			t.Errorf("group.deleted audit entries for %s: %d, want 1", g.Name, n)
		}
	}

	// Create a group in the UI, then delete it from its page through the confirmation.
	b.open(ts.URL + "/settings/groups")
	b.do("name the group", chromedp.SendKeys(chromedp.ID("group-name-new"), "Contractors"))
	b.clickTo("#create-group")
	contractors := groupByName("Contractors")
	if contractors == nil {
		t.Fatal("the group created in the UI is not in the API")
	}
	b.clickTo("#delete-group")
	if got := b.text("h1"); !strings.Contains(got, "Contractors") {
		t.Errorf("confirmation heading = %q, want the group's name", got)
	}
	if got := b.text("#confirm-delete"); got != "Delete group Contractors" {
		t.Errorf("confirm button = %q", got)
	}
	if got := b.text("#delete-warning"); !strings.Contains(got, "has no members") {
		t.Errorf("confirmation for a group without members = %q", got)
	}
	b.clickTo("#cancel-delete")
	if groupByName("Contractors") == nil {
		t.Fatal("Cancel deleted the group")
	}
	b.open(ts.URL + "/settings/groups/" + idStr(contractors.ID))
	b.clickTo("#delete-group")
	if resp := b.clickTo("#confirm-delete"); resp.Status != http.StatusOK {
		t.Errorf("after confirming: status %d, want the groups list", resp.Status)
	}
	if got := b.text("#flash"); !strings.Contains(got, "Deleted group Contractors") {
		t.Errorf("flash after the delete = %q", got)
	}
	wantDeleted(contractors)

	// The list's trash can leads to the same confirmation.
	b.clickTo(`a[aria-label="Delete group Temps"]`)
	if got := b.text("#delete-warning"); !strings.Contains(got, "Temps") || !strings.Contains(got, "its 1 member,") {
		t.Errorf("confirmation = %q, want the group's name and its one member", got)
	}
	b.shot("ui-25-group-delete-confirm")
	b.clickTo("#confirm-delete")
	wantDeleted(temps)
	// Its confirmation page is gone with it.
	if resp := b.open(ts.URL + "/settings/groups/" + idStr(temps.ID) + "/delete"); resp.Status != http.StatusNotFound {
		t.Errorf("confirmation of a deleted group: status %d, want 404", resp.Status)
	}

	// Built-in groups: no delete button on the list or their page.
	b.open(ts.URL + "/settings/groups")
	if n := b.count(`a[aria-label^="Delete group"]`); n != 0 {
		t.Errorf("the list has %d delete buttons with only built-in groups left", n)
	}
	member := groupByName("Member")
	if member == nil || !member.Builtin {
		t.Fatalf("built-in Member group = %+v", member)
	}
	b.open(ts.URL + "/settings/groups/" + idStr(member.ID))
	if n := b.count("#delete-group"); n != 0 {
		t.Errorf("the built-in Member group's page has a delete button")
	}

	// The server refuses anyway: a forged post for a built-in group, a post without the CSRF
	// token, and a user who may not write groups.
	keep, err := ts.Admin.CreateGroup(ctx, ts.AccountID, "Keepers", nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := newFormClient(t, ts.URL, ts.AdminEmail, ts.AdminPass)
	csrf := admin.csrf(t, "/settings/groups")
	for _, name := range []string{"Owner", "Member", "Everyone"} {
		g := groupByName(name)
		if g == nil {
			t.Fatalf("no built-in group %s", name)
		}
		if status, page := admin.postPage(t, pathf("/settings/groups/%d/delete", g.ID), url.Values{"csrf_token": {csrf}}); status != http.StatusBadRequest || !strings.Contains(page, "cannot be renamed or deleted") {
			t.Errorf("forged delete of built-in group %s: status %d, want 400 saying it cannot be deleted", name, status)
		}
		if groupByName(name) == nil {
			t.Errorf("built-in group %s was deleted", name)
		}
	}
	if status := admin.post(t, pathf("/settings/groups/%d/delete", keep.ID), url.Values{}, nil); status != http.StatusForbidden {
		t.Errorf("delete without the CSRF token: status %d, want 403", status)
	}
	if _, err := ts.Admin.CreateUser(ctx, ts.AccountID, client.CreateUserRequest{Email: "viewer@example.com", Password: testAdminPassword, LicenseType: "read_only"}); err != nil {
		t.Fatal(err)
	}
	viewer := newFormClient(t, ts.URL, "viewer@example.com", testAdminPassword)
	vcsrf := viewer.csrf(t, "/profile")
	if status := viewer.post(t, pathf("/settings/groups/%d/delete", keep.ID), url.Values{"csrf_token": {vcsrf}}, nil); status != http.StatusForbidden {
		t.Errorf("read_only user deleting a group: status %d, want 403", status)
	}
	if page := viewer.page(t, "/settings/groups"); !strings.Contains(page, "Keepers") || strings.Contains(page, "Delete group") {
		t.Errorf("a read_only user's groups page should list Keepers with no delete button:\n%s", page)
	}
	if groupByName("Keepers") == nil {
		t.Error("a refused post deleted the group")
	}
	if n := len(govAudit(t, ts, "event_type=group.deleted")); n != 2 {
		t.Errorf("group.deleted audit entries: %d, want 2 (Contractors and Temps)", n)
	}
}

// TestUIDefaultGraceRevokedViewAndOwner: an admin sets the account's default rotation grace,
// which the rotate page then preselects; a deleted token is listed in the Revoked view with why,
// when and by whom; and the last owner cannot untick themself from Owner.
func TestUIDefaultGraceRevokedViewAndOwner(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	me, err := ts.Admin.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Account settings: the default grace, an hour on a new account, becomes 24 hours.
	b.open(ts.URL + "/settings/account")
	if got := b.text("#account-default-grace"); !strings.Contains(got, "1 hour") {
		t.Errorf("default grace shown = %q, want 1 hour", got)
	}
	b.do("choose 24 hours", chromedp.SetValue(chromedp.ID("default-grace-input"), "86400"))
	b.clickTo("#grace-form button[type=submit]")
	if got := b.text("#flash"); !strings.Contains(got, "1 day") {
		t.Errorf("flash after saving the default grace = %q", got)
	}
	if got := b.text("#account-default-grace"); !strings.Contains(got, "1 day") {
		t.Errorf("default grace shown after saving = %q, want 1 day", got)
	}
	b.shot("ui-26-account-default-grace")

	// The rotate page offers the account's default first.
	ci, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "ci", PermissionGrants: []apitype.Grant{client.GrantOn("job_admin", 0)}})
	if err != nil {
		t.Fatal(err)
	}
	b.open(ts.URL + "/settings/service-tokens/" + idStr(ci.ID) + "/rotate")
	if checked := evalJS[bool](b, `document.getElementById("grace-86400").checked`); !checked {
		t.Errorf("the rotate page does not preselect the account's default grace (24 hours)")
	}
	if got := b.text(`label[for="grace-86400"]`); !strings.Contains(got, "account default") {
		t.Errorf("the default grace choice reads %q, want it marked as the account default", got)
	}
	b.clickTo("#rotate-submit")
	next := findToken(t, ts, b.value("#token-value"))
	old, err := ts.Admin.ServiceToken(ctx, ts.AccountID, ci.ID)
	if err != nil || old.GraceUntil == nil || next.ID == ci.ID {
		t.Fatalf("after rotating: old token %+v, %v", old, err)
	}

	// A deleted token stays visible in the Revoked view.
	gone, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "old airflow", PermissionGrants: []apitype.Grant{client.GrantOn("metadata_only", 0)}})
	if err != nil {
		t.Fatal(err)
	}
	b.open(ts.URL + "/settings/service-tokens")
	b.clickTo(`a[aria-label="Delete token old airflow"]`)
	b.clickTo("#confirm-delete")
	if got := b.text("#token-table"); strings.Contains(got, "old airflow") {
		t.Errorf("the active list still shows the deleted token")
	}
	b.clickTo("#view-revoked")
	row := b.text("#token-" + idStr(gone.ID))
	if !strings.Contains(row, "old airflow") || !strings.Contains(row, "Deleted") || !strings.Contains(row, "Person:") || !strings.Contains(row, ts.AdminEmail) {
		t.Errorf("revoked view row = %q, want the name, Deleted and Person: … (%s)", row, ts.AdminEmail)
	}
	// TestUIRevokedView takes the picture of this view, with every way a token ends.

	// The last owner unticks themself on the Owner group's page: refused, with the rule.
	var owner *apitype.Group
	gs, _, err := ts.Admin.Groups(ctx, ts.AccountID, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range gs {
		if gs[i].Name == "Owner" {
			owner = &gs[i]
		}
	}
	b.open(ts.URL + "/settings/groups/" + idStr(owner.ID))
	b.do("untick myself", chromedp.Click(chromedp.ID("member-"+idStr(me.UserID))))
	if resp := b.clickTo("#save-members"); resp.Status != http.StatusConflict {
		t.Errorf("the last owner leaving Owner: status %d, want 409", resp.Status)
	}
	if got := b.text("main"); !strings.Contains(got, "must keep an owner") {
		t.Errorf("the refusal does not say why: %q", got)
	}
	b.shot("ui-28-last-owner")
	if g, _, _ := ts.Admin.Groups(ctx, ts.AccountID, client.ListOptions{}); len(g) == 0 {
		t.Fatal("no groups")
	}
	w, err := ts.Admin.Whoami(ctx)
	if err != nil || w.UserID != me.UserID {
		t.Fatalf("the admin's token after the refused change: %+v, %v", w, err)
	}
}

// TestUISignInRedirectStaysOnSite: a sign-in link's next parameter can only lead to a page of
// latchkey. Browsers drop tabs and newlines from a URL and read a backslash as a slash, so
// "/\t/evil.example" would become "//evil.example": Chromium itself checks where it lands.
func TestUISignInRedirectStaysOnSite(t *testing.T) {
	ts := startServer(t, "enterprise")
	base, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	shared := newBrowser(t)
	for _, next := range []string{"%2F%09%2Fevil.example", "%2F%09%5Cevil.example", "%2F%0A%2Fevil.example", "%2F%0D%2Fevil.example",
		"%09%2F%2Fevil.example", "%2F%5Cevil.example", "%2F%2Fevil.example", "https%3A%2F%2Fevil.example%2F", "%2Fsettings%2Fservice-tokens"} {
		t.Run(next, func(t *testing.T) {
			b := *shared
			b.t = t
			if _, err := chromedp.Call(b.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
				t.Fatalf("forget the last session: %v", err)
			}
			b.open(ts.URL + "/login?next=" + next)
			b.do("sign in",
				chromedp.SendKeys(chromedp.ID("email"), ts.AdminEmail),
				chromedp.SendKeys(chromedp.ID("password"), ts.AdminPass),
				chromedp.Click(chromedp.ID("sign-in")))
			var loc string
			deadline := time.Now().Add(10 * time.Second)
			for {
				var err error
				if loc, err = chromedp.Run(b.ctx, chromedp.Location()); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(loc, "/login") || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			got, err := url.Parse(loc)
			if err != nil || got.Host != base.Host {
				t.Fatalf("after signing in with next=%s Chromium is at %q, want a page of %s", next, loc, base.Host)
			}
			want := "/"
			if next == "%2Fsettings%2Fservice-tokens" {
				want = "/settings/service-tokens"
			}
			if got.Path != want {
				t.Errorf("after signing in with next=%s Chromium is at %s, want %s", next, got.Path, want)
			}
		})
	}
}
