package server

// Placeholders for the governance issue (#5); replaced by api_ip.go, api_audit.go, leaks.go,
// ratelimit.go and usage.go. Nothing here may ship.

import (
	"context"
	"net/http"

	"github.com/latchkey/latchkey"
)

var errNotYet = latchkey.Errorf(latchkey.EUnavailable, "not implemented yet")

func (s *Server) handleAPIAccountSettingsUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	return errNotYet
}
func (s *Server) handleAPIIPRuleList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	return errNotYet
}
func (s *Server) handleAPIIPRuleCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	return errNotYet
}
func (s *Server) handleAPIIPRuleGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	return errNotYet
}
func (s *Server) handleAPIIPRuleUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	return errNotYet
}
func (s *Server) handleAPIIPRuleDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	return errNotYet
}
func (s *Server) handleAPIIPRuleSetToggle(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	return errNotYet
}
func (s *Server) handleAPIIPRuleSetValidate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	return errNotYet
}
func (s *Server) handleAPIAuditLogList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	return errNotYet
}
func (s *Server) handleLeakReportGitHub(w http.ResponseWriter, r *http.Request) error {
	return errNotYet
}

// noteAuthFailure hooks failed token authentications (rate limiting and audit summaries).
func (s *Server) noteAuthFailure(r *http.Request, err error) {}

// signInFailed hooks failed sign-ins (audit and rate limiting).
func (s *Server) signInFailed(r *http.Request, email string, userID int64) {}

// limitSignIn hooks sign-in rate limiting.
func (s *Server) limitSignIn(r *http.Request) error { return nil }

// initGovernance sets up governance state (rate limiters, last-used batching, metrics).
func (s *Server) initGovernance() error { return nil }

// recordUse receives a token's use (at most once a minute per token) from the verifier.
func (s *Server) recordUse(u latchkey.TokenUse) {}

// reportReuse receives a rotated-out token presented after its grace period.
func (s *Server) reportReuse(tok *latchkey.Token) {}

// Close flushes what the server buffers (last-used times) before the process exits.
func (s *Server) Close(ctx context.Context) error { return nil }

// authLimited refuses (ERateLimited) a client address that failed authentication too often.
func (s *Server) authLimited(r *http.Request) error { return nil }

// Governance configures the governance features.
type Governance struct{}
