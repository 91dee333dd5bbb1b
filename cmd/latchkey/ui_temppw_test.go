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

// TestUITemporaryPassword: an admin sets a temporary password for a member from the Users page
// (confirmation first, the password shown once); the member's old password and sessions stop
// working; signed in with the temporary one they can open nothing but the change-password page
// (nor use the API with that session), a common password is refused there, and their own
// password lets them in.
func TestUITemporaryPassword(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	const email, oldPass, newPass = "grace@example.com", "grace's first password", "grace chose this herself"
	if _, err := ts.Admin.CreateUser(ctx, ts.AccountID, client.CreateUserRequest{Email: email, FirstName: "Grace", LastName: "Hopper",
		Password: oldPass, LicenseType: "developer"}); err != nil {
		t.Fatal(err)
	}
	graceSession, err := client.Login(ctx, ts.URL, email, oldPass)
	if err != nil {
		t.Fatal(err)
	}

	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	b.open(ts.URL + "/settings/users")
	b.clickTo(`a[aria-label="Reset password for ` + email + `"]`)
	if got := b.text("h1"); !strings.Contains(got, email) {
		t.Errorf("confirmation page title = %q", got)
	}
	b.clickTo("#confirm-temporary-password")
	temp := b.value("#temporary-password")
	if len(temp) < 20 {
		t.Fatalf("temporary password %q is too short", temp)
	}
	b.shot("ui-34-temporary-password")
	if _, err := graceSession.Whoami(ctx); client.StatusOf(err) != http.StatusUnauthorized {
		t.Errorf("Grace's session after the reset: %v, want 401", err)
	}
	if _, err := client.Login(ctx, ts.URL, email, oldPass); err == nil {
		t.Error("Grace's old password still signs in")
	}
	var entries []apitype.AuditEntry
	if _, err := ts.Admin.Do(ctx, http.MethodGet, "/api/v3/accounts/"+idStr(ts.AccountID)+"/audit-logs/?event_type=user.temporary_password_set", nil, &entries); err != nil || len(entries) != 1 {
		t.Errorf("audit entries of the reset: %d, %v; want 1", len(entries), err)
	}
	for _, e := range entries {
		if strings.Contains(string(e.Context), temp) {
			t.Error("the audit entry holds the temporary password")
		}
	}

	// Grace signs in with it: only the change-password page.
	b.signOut()
	b.open(ts.URL + "/login")
	b.do("sign in with the temporary password", chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), temp))
	b.clickTo("#sign-in")
	if got := b.text("h1"); got != "Choose a new password" {
		t.Fatalf("after signing in with a temporary password the page says %q", got)
	}
	b.shot("ui-35-password-required")
	for _, path := range []string{"/settings/service-tokens", "/profile", "/"} {
		b.open(ts.URL + path)
		if got := b.text("h1"); got != "Choose a new password" {
			t.Errorf("%s with a temporary password shows %q, want the change-password page", path, got)
		}
	}
	tempSession, err := client.Login(ctx, ts.URL, email, temp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tempSession.Whoami(ctx); client.StatusOf(err) != http.StatusForbidden {
		t.Errorf("the API with a temporary-password session: %v, want 403", err)
	}
	fill := func(current, next string) {
		t.Helper()
		b.do("fill the password form", chromedp.SetValue(chromedp.ID("current-password"), current),
			chromedp.SetValue(chromedp.ID("new-password"), next), chromedp.SetValue(chromedp.ID("confirm-password"), next))
	}
	fill(temp, "1qaz2wsx3edc")
	if resp := b.clickTo("#change-password"); resp.Status != http.StatusBadRequest || !strings.Contains(b.text("#new-password-error"), "common") ||
		!isSentence(b.text("#new-password-error")) {
		t.Errorf("a common password: status %d, error %q", resp.Status, b.text("#new-password-error"))
	}
	fill(temp, newPass)
	if resp := b.clickTo("#change-password"); resp.Status != http.StatusOK || !strings.Contains(b.text("#flash"), "new password is set") {
		t.Fatalf("choosing a password: status %d, page:\n%s", resp.Status, b.text("main"))
	}
	b.open(ts.URL + "/profile")
	if got := b.text("#profile-name"); got != "Grace Hopper" {
		t.Errorf("after choosing a password the profile shows %q", got)
	}
	if _, err := client.Login(ctx, ts.URL, email, temp); err == nil {
		t.Error("the temporary password still signs in after it was replaced")
	}
	s, err := client.Login(ctx, ts.URL, email, newPass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Whoami(ctx); err != nil {
		t.Errorf("the API with Grace's own password: %v", err)
	}
}
