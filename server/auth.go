package server

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/verify"
)

// sessionCookie names the browser session cookie.
const sessionCookie = "latchkey_session"

// authedFunc is a handler for an authenticated principal.
type authedFunc func(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error

// bearer extracts the token from "Authorization: Token <t>" or "Bearer <t>" (scheme
// case-insensitive). ok is false when there is no Authorization header.
func bearer(r *http.Request) (token string, ok bool, err error) {
	return bearerValue(r.Header.Get("Authorization"))
}

// bearerValue is bearer for an Authorization header value.
func bearerValue(h string) (token string, ok bool, err error) {
	if h == "" {
		return "", false, nil
	}
	scheme, tok, found := strings.Cut(strings.TrimSpace(h), " ")
	if !found || !(strings.EqualFold(scheme, "token") || strings.EqualFold(scheme, "bearer")) {
		return "", true, &latchkey.Error{Code: latchkey.EUnauthorized, Message: "unsupported Authorization scheme: use Token <token> or Bearer <token>"}
	}
	return strings.TrimSpace(tok), true, nil
}

// authenticate resolves the request's principal from its token or, failing that, its session
// cookie. accountID selects the account a session acts in (0: the session's current account).
func (s *Server) authenticate(r *http.Request, accountID int64) (*latchkey.Principal, error) {
	st := state(r.Context())
	tok, ok, err := bearer(r)
	if err != nil {
		return nil, err
	}
	if ok {
		p, err := s.verifyToken(r.Context(), tok, st.ip, 0, verify.Usage{}, nil)
		if err == nil {
			s.metrics.verification(nil)
		}
		return p, err
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		p, err := s.sessionPrincipal(r.Context(), c.Value, accountID, st)
		if err == nil && p.MustChangePassword {
			return nil, errPasswordChangeRequired
		}
		return p, err
	}
	return nil, verify.ErrMissing
}

// errPasswordChangeRequired refuses the API to a browser session signed in with a temporary
// password: the web UI's change-password page is all it may use.
var errPasswordChangeRequired = &latchkey.Error{Code: latchkey.EForbidden,
	Message: "you signed in with a temporary password: choose your own on the profile page first"}

var errSessionExpired = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "your session has expired; sign in again"}

// sessionPrincipal loads a browser session and the user's principal in accountID (or the
// session's current account).
func (s *Server) sessionPrincipal(ctx context.Context, cookie string, accountID int64, st *reqState) (*latchkey.Principal, error) {
	h := sha256.Sum256([]byte(cookie))
	sess, err := s.store.FindSession(ctx, h[:])
	if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
		return nil, errSessionExpired
	}
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if now.After(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) > s.cfg.SessionIdle {
		_ = s.admin.EndSession(ctx, h[:])
		return nil, errSessionExpired
	}
	if accountID == 0 {
		accountID = sess.AccountID
	}
	if err := admin.CheckSessionAccount(sess, accountID); err != nil {
		return nil, err
	}
	if err := s.admin.CheckPasswordSession(ctx, sess, accountID); err != nil {
		return nil, err
	}
	p, err := s.admin.UserPrincipal(ctx, sess.UserID, accountID, latchkey.AuthSession)
	if err != nil {
		return nil, err
	}
	if pol, err := s.verify.AccountPolicy(ctx, accountID); err != nil {
		return nil, err
	} else if pol != nil && !pol.Allows(st.ip) {
		return nil, verify.ErrIPDenied
	}
	if now.Sub(sess.LastSeenAt) > time.Minute || sess.AccountID != accountID {
		if err := s.admin.TouchSession(ctx, h[:], accountID); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func accountNotFound(id int64) error {
	return latchkey.Errorf(latchkey.ENotFound, "account %d not found", id)
}

// authed wraps a handler with authentication. On routes with {account_id} the principal must
// act in that account: tokens belong to one account, sessions switch to it when the user is a
// member. The audit actor is set on the request context.
func (s *Server) authed(fn authedFunc) http.Handler {
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		var accountID int64
		if v := r.PathValue("account_id"); v != "" {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil || id <= 0 {
				return latchkey.Errorf(latchkey.ENotFound, "account %q not found", v)
			}
			accountID = id
		}
		p, err := s.authenticate(r, accountID)
		if err != nil {
			return err
		}
		if accountID != 0 && p.AccountID != accountID {
			return accountNotFound(accountID)
		}
		if p.Method == latchkey.AuthSession && r.Method != http.MethodGet && r.Method != http.MethodHead &&
			!strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			// A cookie is sent with cross-site form posts; a JSON content type is not.
			return latchkey.Errorf(latchkey.EInvalid, "Content-Type must be application/json")
		}
		st := state(r.Context())
		st.principal = p
		ctx := latchkey.WithActor(r.Context(), latchkey.ActorOf(p, addrString(st.ip), source(r, p)))
		err = fn(w, r.WithContext(ctx), p)
		if p.Method != latchkey.AuthSession && latchkey.ErrorCodeOf(err) == latchkey.EForbidden {
			// The token verified (counted ok) but may not do this: usage analytics call it forbidden.
			s.verify.CountForbidden(p)
		}
		return err
	})
}

// source labels where a mutation came from for the audit log.
func source(r *http.Request, p *latchkey.Principal) string {
	switch {
	case p.Method == latchkey.AuthSession:
		return "ui"
	case strings.HasPrefix(r.UserAgent(), "latchkey-cli/"):
		return "cli"
	}
	return "api"
}
