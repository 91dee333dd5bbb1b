package server

import (
	"net/http"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
)

// handleAPIAccountList lists the accounts the principal can see: a token's own account, or every
// account a signed-in user belongs to.
func (s *Server) handleAPIAccountList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	lp, err := parseList(r, "id")
	if err != nil {
		return err
	}
	accounts, total, err := s.admin.Accounts(r.Context(), p, latchkey.AccountFilter{State: lp.state, Offset: lp.offset, Limit: lp.limit})
	if err != nil {
		return err
	}
	out := make([]apitype.Account, len(accounts))
	for i, a := range accounts {
		out[i] = apitype.AccountOf(a)
	}
	respondList(w, out, total, lp)
	return nil
}

func (s *Server) handleAPIAccountGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	a, err := s.admin.Account(r.Context(), p)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.AccountOf(a), nil)
	return nil
}

// handleAPIWhoami describes the calling principal.
func (s *Server) handleAPIWhoami(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	a, err := s.admin.Account(r.Context(), p)
	switch {
	case err == nil:
		s.accounts.Store(a.ID, knownAccount{a, time.Now()})
	case latchkey.ErrorCodeOf(err) == latchkey.EUnavailable:
		// The principal came from the verifier's cache; its account, read a moment ago, is
		// as good through an outage as the principal itself (--stale-if-error).
		v, ok := s.accounts.Load(p.AccountID)
		if !ok || time.Since(v.(knownAccount).at) > s.cfg.StaleIfError {
			return err
		}
		a = v.(knownAccount).account
	default:
		return err
	}
	respond(w, http.StatusOK, apitype.Whoami{Kind: string(p.Kind), ID: p.ID(), Name: p.Name, AccountID: p.AccountID,
		AuthMethod: string(p.Method), UserID: p.UserID, TokenID: p.TokenID, TokenUID: p.TokenUID,
		LicenseType: string(p.License), Legacy: p.Legacy, ExpiresAt: apitype.TimePtr(p.ExpiresAt), Account: apitype.AccountOf(a)}, nil)
	return nil
}

// knownAccount is an account as last read, for answers that may be served through a storage
// outage.
type knownAccount struct {
	account *latchkey.Account
	at      time.Time
}
