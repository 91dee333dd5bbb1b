package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/catalog"
	"github.com/latchkey/latchkey/password"
)

// ErrBadLogin refuses a sign-in without saying whether the email exists.
var ErrBadLogin = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "Wrong email or password."}

// Authenticate checks an email and password. It takes as long for an unknown email as for a
// known one, and its error never says which part was wrong. user is set when the email belongs
// to a user (for failure accounting), also on failure.
func (s *Service) Authenticate(ctx context.Context, email, pw string) (user *latchkey.User, err error) {
	u, err := s.store.FindUserByEmail(ctx, email)
	if latchkey.SystemError(err) {
		return nil, err
	}
	if err != nil || len(pw) > password.MaxLength {
		_ = password.CheckDummy(pw)
		return nil, ErrBadLogin
	}
	if !u.IsActive || password.Check(u.PasswordHash, pw) != nil {
		return u, ErrBadLogin
	}
	if err := s.checkPasswordAllowed(ctx, u); err != nil {
		return u, err
	}
	return u, nil
}

// UserPrincipal compiles a user's permissions in an account: who they act as there. A user who
// is not an active member gets ENotFound for the account.
func (s *Service) UserPrincipal(ctx context.Context, userID, accountID int64, method latchkey.AuthMethod) (*latchkey.Principal, error) {
	m, grants, err := s.store.FindMemberGrants(ctx, accountID, userID)
	if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
		return nil, notFound("account %d not found", accountID)
	}
	if err != nil {
		return nil, err
	}
	u, err := s.store.FindUserByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	return &latchkey.Principal{Kind: latchkey.PrincipalUser, Method: method, AccountID: accountID, UserID: userID,
		Name: u.FullName(), License: m.License, Permissions: catalog.Compile(m.License, grants), MustChangePassword: u.MustChangePassword}, nil
}

// NewSession is a started browser session: Cookie is the only copy of its secret.
type NewSession struct {
	Cookie  string
	Session *latchkey.Session
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// StartSession signs user u in to one of their accounts (the first, when accountID is 0) for at
// most maxAge, and audits user.signed_in, in one transaction. A user who belongs to no account
// cannot sign in.
func (s *Service) StartSession(ctx context.Context, u *latchkey.User, accountID int64, maxAge time.Duration) (*NewSession, error) {
	// The user signs themself in (the context's actor, if any, gives the address).
	actor := latchkey.ActorFrom(ctx)
	actor.Type, actor.ID, actor.Name, actor.Source = string(latchkey.PrincipalUser), u.ID, u.FullName(), "ui"
	ctx = latchkey.WithActor(ctx, actor)
	var out *NewSession
	err := s.inTx(ctx, func(ctx context.Context) error {
		f := latchkey.AccountFilter{MemberUserID: &u.ID, Limit: latchkey.MaxLimit}
		if accountID != 0 {
			f.ID = &accountID
		}
		accounts, _, err := s.store.FindAccounts(ctx, f)
		if err != nil {
			return err
		}
		if len(accounts) == 0 {
			return latchkey.Errorf(latchkey.EForbidden, "Your user is not a member of any account.")
		}
		// The first account that takes a password: one whose single sign-on has password
		// sign-in off is left to single sign-on (its owners excepted).
		var start *latchkey.Account
		var refusal error
		for _, a := range accounts {
			err := s.passwordAllowedIn(ctx, u.ID, a.ID)
			if err == nil {
				start = a
				break
			}
			if latchkey.SystemError(err) {
				return err
			}
			if refusal == nil {
				refusal = err
			}
		}
		if start == nil {
			return refusal
		}
		value := randomString(32)
		h := sha256.Sum256([]byte(value))
		sess := &latchkey.Session{Hash: h[:], UserID: u.ID, AccountID: start.ID, CSRFSecret: randomString(24),
			ExpiresAt: s.Now().Add(maxAge)}
		if err := s.store.CreateSession(ctx, sess); err != nil {
			return err
		}
		if err := s.store.AppendAudit(ctx, &latchkey.AuditEntry{AccountID: sess.AccountID, EventType: "user.signed_in",
			Context: map[string]any{"user_id": u.ID}}); err != nil {
			return err
		}
		out = &NewSession{Cookie: value, Session: sess}
		return nil
	})
	return out, err
}

// TouchSession records that a session was seen now, acting in accountID.
func (s *Service) TouchSession(ctx context.Context, hash []byte, accountID int64) error {
	return s.store.UpdateSession(ctx, hash, accountID, s.Now())
}

// SwitchAccount moves p's session to another account p's user belongs to, and returns it.
func (s *Service) SwitchAccount(ctx context.Context, p *latchkey.Principal, hash []byte, accountID int64) (*latchkey.Account, error) {
	sess, err := s.store.FindSession(ctx, hash)
	if err != nil {
		return nil, err
	}
	if err := CheckSessionAccount(sess, accountID); err != nil {
		return nil, err
	}
	if err := s.CheckPasswordSession(ctx, sess, accountID); err != nil {
		return nil, err
	}
	if _, err := s.UserPrincipal(ctx, p.UserID, accountID, latchkey.AuthSession); err != nil {
		return nil, err
	}
	if err := s.TouchSession(ctx, hash, accountID); err != nil {
		return nil, err
	}
	return s.store.FindAccountByID(ctx, accountID)
}

// EndSession signs a session out (it may be gone already).
func (s *Service) EndSession(ctx context.Context, hash []byte) error {
	return s.store.DeleteSession(ctx, hash)
}

// AuditEntries lists p's account's audit log, newest first (audit_logs:read).
func (s *Service) AuditEntries(ctx context.Context, p *latchkey.Principal, f latchkey.AuditFilter) ([]*latchkey.AuditEntry, int, error) {
	if err := require(p, latchkey.ResAuditLogs, latchkey.AccessRead); err != nil {
		return nil, 0, err
	}
	f.AccountID = p.AccountID
	return s.store.FindAuditEntries(ctx, f)
}
