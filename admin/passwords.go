package admin

import (
	"context"
	"crypto/rand"
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
	return s.setPassword(ctx, u, next, "user.password_changed", false)
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
	return u, s.setPassword(ctx, u, next, "user.password_set", false)
}

// SetTemporaryPassword gives user userID of p's account a new, random password, returned once,
// that they must replace at their next sign-in; their sessions end and
// user.temporary_password_set is audited. It needs members:write over a user holding no more
// access than p, who is not p and belongs to no other account (an admin of one account must
// not take over a person's access to another).
func (s *Service) SetTemporaryPassword(ctx context.Context, p *latchkey.Principal, userID int64) (string, error) {
	if err := require(p, latchkey.ResMembers, latchkey.AccessWrite); err != nil {
		return "", err
	}
	if p.Kind == latchkey.PrincipalUser && p.UserID == userID {
		return "", latchkey.Errorf(latchkey.EInvalid, "change your own password on your profile page instead")
	}
	if err := s.checkActsOnUser(ctx, p, userID); err != nil {
		return "", err
	}
	u, err := s.User(ctx, p, userID)
	if err != nil {
		return "", err
	}
	accounts, _, err := s.store.FindAccounts(ctx, latchkey.AccountFilter{MemberUserID: &u.ID, Limit: 2})
	if err != nil {
		return "", err
	}
	for _, a := range accounts {
		if a.ID != p.AccountID {
			return "", latchkey.Errorf(latchkey.EConflict, "%s also belongs to another account, so only they can change their password (or an operator, with latchkey user set-password)", u.Email)
		}
	}
	temp := temporaryPassword()
	if err := s.setPassword(ctx, u, temp, "user.temporary_password_set", true); err != nil {
		return "", err
	}
	return temp, nil
}

// temporaryPassword returns 24 random characters from an alphabet without look-alikes, in
// groups of six for reading out: about 119 bits.
func temporaryPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 0, 27)
	for i := range 24 {
		if i > 0 && i%6 == 0 {
			b = append(b, '-')
		}
		b = append(b, alphabet[randomInt(len(alphabet))])
	}
	return string(b)
}

// randomInt returns a uniform random number in [0, n), n ≤ 256.
func randomInt(n int) int {
	var c [1]byte
	for {
		if _, err := rand.Read(c[:]); err != nil {
			panic(err) // crypto/rand does not fail on supported systems
		}
		if int(c[0]) < 256-256%n {
			return int(c[0]) % n
		}
	}
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

// setPassword stores next as u's password (temporary: to be replaced at the next sign-in), ends
// u's sessions and audits event in each of u's accounts, in one transaction.
func (s *Service) setPassword(ctx context.Context, u *latchkey.User, next, event string, temporary bool) error {
	hash, err := password.Hash(next)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		if _, err := s.store.UpdateUser(ctx, u.ID, latchkey.UserUpdate{PasswordHash: &hash, MustChangePassword: &temporary}); err != nil {
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
