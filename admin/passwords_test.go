package admin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
)

// TestPasswords: a user changes their password with the current one (every session ends, the
// change is audited in each of their accounts); the rules refuse short, unchanged and
// email-containing passwords, naming the field; an operator sets one by email without the
// current password.
func TestPasswords(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		ctx, p := w.as(w.owner.ID)
		const old = "correct horse battery staple"
		// A second account of the owner's: the change is audited there too.
		other, err := w.svc.CreateAccount(context.Background(), admin.Bootstrap{Account: "Beta", Plan: latchkey.PlanEnterprise,
			Email: w.owner.Email, Password: "ignored, the user exists"})
		if err != nil {
			t.Fatal(err)
		}
		sess, err := w.svc.StartSession(ctx, w.owner, w.account.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}

		for _, tt := range []struct{ current, next, field string }{
			{"wrong password entirely", "a brand new passphrase", "current_password"},
			{old, "too short", "new_password"},
			{old, old, "new_password"},
			{old, "my " + w.owner.Email + " pass", "new_password"},
		} {
			err := w.svc.ChangePassword(ctx, p, tt.current, tt.next)
			var le *latchkey.Error
			if !errors.As(err, &le) || le.Code != latchkey.EInvalid || le.Field != tt.field {
				t.Errorf("ChangePassword(%q, %q) = %v; want a 400 naming %s", tt.current, tt.next, err, tt.field)
			}
		}
		if _, err := w.svc.Authenticate(context.Background(), w.owner.Email, old); err != nil {
			t.Fatalf("after refused changes the old password fails: %v", err)
		}

		const next = "a brand new passphrase"
		if err := w.svc.ChangePassword(ctx, p, old, next); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Authenticate(context.Background(), w.owner.Email, old); err == nil {
			t.Error("the old password still signs in")
		}
		if _, err := w.svc.Authenticate(context.Background(), w.owner.Email, next); err != nil {
			t.Errorf("the new password does not sign in: %v", err)
		}
		if _, err := s.FindSession(context.Background(), sess.Session.Hash); latchkey.ErrorCodeOf(err) != latchkey.ENotFound {
			t.Errorf("the session from before the change: %v, want it ended", err)
		}
		for _, a := range []int64{w.account.ID, other.Account.ID} {
			ev := "user.password_changed"
			entries, _, err := s.FindAuditEntries(context.Background(), latchkey.AuditFilter{AccountID: a, EventType: &ev})
			if err != nil || len(entries) != 1 || entries[0].ActorID != w.owner.ID {
				t.Errorf("account %d: %d user.password_changed entries (%v), want 1 by the owner", a, len(entries), err)
			}
		}

		// The operator's way in: by email, without the current password, audited as the system.
		if _, err := w.svc.SetPassword(context.Background(), "nobody@acme.test", "whatever it is, long"); latchkey.ErrorCodeOf(err) != latchkey.EInvalid {
			t.Errorf("SetPassword(unknown email) = %v, want a 400", err)
		}
		if _, err := w.svc.SetPassword(context.Background(), w.owner.Email, "short"); latchkey.ErrorCodeOf(err) != latchkey.EInvalid {
			t.Errorf("SetPassword(short) = %v, want a 400", err)
		}
		const reset = "set by the operator at 3am"
		if _, err := w.svc.SetPassword(context.Background(), " "+w.owner.Email+" ", reset); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Authenticate(context.Background(), w.owner.Email, reset); err != nil {
			t.Errorf("the password the operator set does not sign in: %v", err)
		}
		ev := "user.password_set"
		entries, _, err := s.FindAuditEntries(context.Background(), latchkey.AuditFilter{AccountID: w.account.ID, EventType: &ev})
		if err != nil || len(entries) != 1 || entries[0].ActorType != "system" {
			t.Errorf("%d user.password_set entries (%v), want 1 by the system", len(entries), err)
		}
	})
}

// TestTemporaryPassword: an admin gives a member a random password that must be changed at the
// next sign-in (the principal says so until it is); not to themself, not to someone holding
// more access, and not to a person who also belongs to another account, whose access there an
// admin of this one must not take over.
func TestTemporaryPassword(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		ctx, p := w.as(w.owner.ID)
		dev := w.add("dev@acme.test", latchkey.LicenseDeveloper)
		temp, err := w.svc.SetTemporaryPassword(ctx, p, dev)
		if err != nil {
			t.Fatal(err)
		}
		u, err := w.svc.Authenticate(context.Background(), "dev@acme.test", temp)
		if err != nil || !u.MustChangePassword {
			t.Fatalf("sign-in with the temporary password: %+v, %v; want a user who must change it", u, err)
		}
		dctx, dp := w.as(dev)
		if !dp.MustChangePassword {
			t.Error("the principal of a user with a temporary password does not say so")
		}
		if err := w.svc.ChangePassword(dctx, dp, temp, "my own password at last"); err != nil {
			t.Fatal(err)
		}
		if _, dp = w.as(dev); dp.MustChangePassword {
			t.Error("the user must still change their password after changing it")
		}

		_, err = w.svc.SetTemporaryPassword(ctx, p, w.owner.ID)
		wantCode(t, "a temporary password for oneself", err, latchkey.EInvalid)
		w.group("Security", latchkey.Grant{PermissionSet: "security_admin", AllProjects: true})
		sam := w.add("sam@acme.test", latchkey.LicenseDeveloper, "Security")
		sctx, sp := w.as(sam)
		_, err = w.svc.SetTemporaryPassword(sctx, sp, w.owner.ID)
		wantCode(t, "a security admin resets the account admin's password", err, latchkey.EForbidden)
		_, err = w.svc.SetTemporaryPassword(ctx, p, 987654)
		if code := latchkey.ErrorCodeOf(err); code != latchkey.ENotFound && code != latchkey.EForbidden {
			t.Errorf("a temporary password for a stranger: %v", err)
		}
		// Dev also joins another account: nobody here may reset them any more.
		if _, err := w.svc.CreateAccount(context.Background(), admin.Bootstrap{Account: "Beta", Plan: latchkey.PlanEnterprise,
			Email: "dev@acme.test"}); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.SetTemporaryPassword(ctx, p, dev)
		wantCode(t, "a temporary password for a member of two accounts", err, latchkey.EConflict)
		if _, err := w.svc.Authenticate(context.Background(), "dev@acme.test", "my own password at last"); err != nil {
			t.Errorf("the refused reset changed the password: %v", err)
		}
	})
}
