package admin

import (
	"context"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/password"
)

// ErrWrongCurrentPassword refuses a password change whose current password is wrong.
var ErrWrongCurrentPassword = latchkey.FieldError("current_password", "The current password is wrong.")

// ChangePassword sets the signed-in user's password, given their current one. Every session of
// the user ends, here and in other browsers (the caller signs the browser that asked in again),
// and user.password_changed is audited in each of the user's accounts, in one transaction.
func (s *Service) ChangePassword(ctx context.Context, p *latchkey.Principal, current, next string) error {
	if p.Kind != latchkey.PrincipalUser {
		return latchkey.Errorf(latchkey.EForbidden, "Only a person can change their password.")
	}
	u, err := s.store.FindUserByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	if len(current) > password.MaxLength || password.Check(u.PasswordHash, current) != nil {
		return ErrWrongCurrentPassword
	}
	if err := checkNewPassword(u, next); err != nil {
		return err
	}
	if next == current {
		return latchkey.FieldError("new_password", "The new password must differ from the current one.")
	}
	return s.setPassword(ctx, u, next, "user.password_changed")
}

// SetPassword sets the password of the user with this email without the current one, for an
// operator with access to the database (latchkey user set-password) when nobody can sign in.
// Every session of the user ends; user.password_set is audited in each of the user's accounts
// as the system (the context's actor, when it is a system actor, names who ran it).
func (s *Service) SetPassword(ctx context.Context, email, next string) (*latchkey.User, error) {
	if a := latchkey.ActorFrom(ctx); a.Type != "system" {
		ctx = latchkey.WithActor(ctx, latchkey.Actor{Type: "system", Name: "set-password", Source: "cli"})
	}
	u, err := s.store.FindUserByEmail(ctx, strings.TrimSpace(email))
	if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
		return nil, latchkey.FieldError("email", "No user has the email %q.", strings.TrimSpace(email))
	}
	if err != nil {
		return nil, err
	}
	if err := checkNewPassword(u, next); err != nil {
		return nil, err
	}
	return u, s.setPassword(ctx, u, next, "user.password_set")
}

// checkNewPassword applies the password rules to a new password for u.
func checkNewPassword(u *latchkey.User, next string) error {
	if err := password.Validate(next); err != nil {
		return latchkey.FieldError("new_password", "The new password %s.", strings.TrimPrefix(err.Error(), "password "))
	}
	if strings.Contains(strings.ToLower(next), strings.ToLower(u.Email)) {
		return latchkey.FieldError("new_password", "The new password must not contain your email address.")
	}
	return nil
}

func (s *Service) setPassword(ctx context.Context, u *latchkey.User, next, event string) error {
	hash, err := password.Hash(next)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		if _, err := s.store.UpdateUser(ctx, u.ID, latchkey.UserUpdate{PasswordHash: &hash}); err != nil {
			return err
		}
		for off := 0; ; off += latchkey.MaxLimit {
			accounts, total, err := s.store.FindAccounts(ctx, latchkey.AccountFilter{MemberUserID: &u.ID, Offset: off, Limit: latchkey.MaxLimit})
			if err != nil {
				return err
			}
			for _, a := range accounts {
				if err := s.store.AppendAudit(ctx, &latchkey.AuditEntry{AccountID: a.ID, EventType: event,
					Context: map[string]any{"user_id": u.ID, "sessions_ended": true}}); err != nil {
					return err
				}
			}
			if off+len(accounts) >= total || len(accounts) == 0 {
				return nil
			}
		}
	})
}
