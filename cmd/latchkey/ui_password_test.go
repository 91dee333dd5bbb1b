package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/client"
)

// TestUIChangePassword changes the signed-in user's password on the profile page: a wrong
// current password and two different new ones come back next to their fields; the change
// signs out another session of the user but keeps this browser signed in; the new password
// signs in and the old one does not. Then an operator resets it with latchkey user
// set-password.
func TestUIChangePassword(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	other, err := client.Login(ctx, ts.URL, ts.AdminEmail, ts.AdminPass)
	if err != nil {
		t.Fatal(err)
	}
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	b.open(ts.URL + "/profile#password")

	submit := func(current, next, confirm string) *network.Response {
		t.Helper()
		b.do("fill the password form",
			chromedp.SetValue(chromedp.ID("current-password"), current),
			chromedp.SetValue(chromedp.ID("new-password"), next),
			chromedp.SetValue(chromedp.ID("confirm-password"), confirm))
		return b.clickTo("#change-password")
	}
	const next = "a much longer passphrase"
	if resp := submit("not my password at all", next, next); resp.Status != http.StatusBadRequest ||
		!strings.Contains(b.text("#current-password-error"), "current password is wrong") {
		t.Errorf("wrong current password: status %d, error %q", resp.Status, b.text("#page-error"))
	}
	if resp := submit(ts.AdminPass, next, next+"!"); resp.Status != http.StatusBadRequest ||
		!strings.Contains(b.text("#confirm-password-error"), "differ") {
		t.Errorf("different new passwords: status %d", resp.Status)
	}
	// The refused field has focus, which scrolled the page; a full-page picture from the top.
	evalJS[bool](b, "window.scrollTo(0, 0), true")
	b.shot("ui-29-password-refused")
	if resp := submit(ts.AdminPass, next, next); resp.Status != http.StatusOK ||
		!strings.Contains(b.text("#flash"), "password was changed") {
		t.Fatalf("change: status %d, page:\n%s", resp.Status, b.text("main"))
	}
	b.shot("ui-30-password-changed")
	if got := b.text("#profile-name"); got == "" {
		t.Error("after the change this browser is not on its profile page")
	}
	if _, err := other.Whoami(ctx); client.StatusOf(err) != http.StatusUnauthorized {
		t.Errorf("the other session after the change: %v, want 401", err)
	}
	if _, err := client.Login(ctx, ts.URL, ts.AdminEmail, ts.AdminPass); err == nil {
		t.Error("the old password still signs in")
	}
	if _, err := client.Login(ctx, ts.URL, ts.AdminEmail, next); err != nil {
		t.Errorf("the new password does not sign in: %v", err)
	}

	// Locked out: the operator sets a password on the database directly.
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("set by the operator tonight\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, nil, "user", "set-password", "--db", ts.DB, "--email", ts.AdminEmail, "--password-file", pw)
	if err != nil || !strings.Contains(out, "sessions were ended") {
		t.Fatalf("latchkey user set-password: %v\n%s", err, out)
	}
	if _, err := client.Login(ctx, ts.URL, ts.AdminEmail, "set by the operator tonight"); err != nil {
		t.Errorf("the password set by the operator does not sign in: %v", err)
	}
	if _, err := runCLI(t, nil, "user", "set-password", "--db", ts.DB, "--email", "nobody@example.com", "--password-file", pw); err == nil ||
		!strings.Contains(err.Error(), "No user has the email") {
		t.Errorf("set-password for an unknown email = %v, want a clear refusal", err)
	}
}
