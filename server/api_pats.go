package server

import (
	"context"
	"net/http"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
)

type patRequest struct {
	AccountID *int64  `json:"account_id"`
	UserID    *int64  `json:"user_id"`
	Name      *string `json:"name"`
	ExpiresAt *string `json:"expires_at"`
}

// patOwner resolves {user_id} and checks the caller: the user themself, or (when adminOK) a
// principal with members:write.
func (s *Server) patOwner(r *http.Request, p *latchkey.Principal, adminOK bool) (int64, error) {
	userID, err := pathID(r, "user_id")
	if err != nil {
		return 0, err
	}
	if p.Kind == latchkey.PrincipalUser && p.UserID == userID {
		return userID, nil
	}
	if adminOK {
		if err := can(p, latchkey.ResMembers, latchkey.AccessWrite); err == nil {
			return userID, nil
		}
		return 0, latchkey.Errorf(latchkey.EForbidden, "requires members:write, or being user %d", userID)
	}
	return 0, latchkey.Errorf(latchkey.EForbidden, "only user %d may do this with their personal access tokens", userID)
}

func (s *Server) handleAPIPATCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	userID, err := s.patOwner(r, p, false)
	if err != nil {
		return err
	}
	var req patRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	if req.UserID != nil && *req.UserID != userID {
		return latchkey.FieldError("user_id", "user_id %d in the body does not match user %d in the path", *req.UserID, userID)
	}
	name, err := validName("name", req.Name, true)
	if err != nil {
		return err
	}
	a, err := s.store.FindAccountByID(r.Context(), p.AccountID)
	if err != nil {
		return err
	}
	tok := &latchkey.Token{AccountID: p.AccountID, Kind: latchkey.KindPAT, UserID: userID, Name: name, CreatedBy: p.String()}
	if tok.ExpiresAt, err = expiry(req.ExpiresAt, a, time.Now()); err != nil {
		return err
	}
	secret, err := s.createToken(r.Context(), tok)
	if err != nil {
		return err
	}
	j := apitype.TokenOf(s.format, tok)
	j.TokenString = secret
	respond(w, http.StatusCreated, j, nil)
	return nil
}

func (s *Server) handleAPIPATList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	userID, err := s.patOwner(r, p, true)
	if err != nil {
		return err
	}
	lp, err := parseList(r)
	if err != nil {
		return err
	}
	kind := latchkey.KindPAT
	toks, total, err := s.store.FindTokens(r.Context(), latchkey.TokenFilter{AccountID: &p.AccountID, Kind: &kind,
		UserID: &userID, State: lp.state, Offset: lp.offset, Limit: lp.limit})
	if err != nil {
		return err
	}
	out := make([]apitype.Token, len(toks))
	for i, t := range toks {
		out[i] = apitype.TokenOf(s.format, t)
	}
	respondList(w, out, total, lp)
	return nil
}

func (s *Server) pat(ctx context.Context, r *http.Request, p *latchkey.Principal, userID int64) (*latchkey.Token, error) {
	id, err := pathID(r, "token_id")
	if err != nil {
		return nil, err
	}
	tok, err := s.store.FindTokenByID(ctx, id)
	if err != nil || tok.AccountID != p.AccountID || tok.Kind != latchkey.KindPAT || tok.UserID != userID {
		return nil, latchkey.Errorf(latchkey.ENotFound, "personal access token %d not found", id)
	}
	return tok, nil
}

func (s *Server) handleAPIPATGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	userID, err := s.patOwner(r, p, true)
	if err != nil {
		return err
	}
	tok, err := s.pat(r.Context(), r, p, userID)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.TokenOf(s.format, tok), nil)
	return nil
}

// handleAPIPATRotate is dbt's POST on …/account-apikeys/{id}/: a new key replaces the old one.
// grace_period_seconds (default 0) keeps the old one valid meanwhile.
func (s *Server) handleAPIPATRotate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	userID, err := s.patOwner(r, p, false)
	if err != nil {
		return err
	}
	tok, err := s.pat(r.Context(), r, p, userID)
	if err != nil {
		return err
	}
	grace, expiresAt, err := decodeRotate(r)
	if err != nil {
		return err
	}
	j, err := s.rotate(r.Context(), p, tok, grace, expiresAt)
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, j, nil)
	return nil
}

func (s *Server) handleAPIPATDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	userID, err := s.patOwner(r, p, true)
	if err != nil {
		return err
	}
	tok, err := s.pat(r.Context(), r, p, userID)
	if err != nil {
		return err
	}
	return s.deleteToken(w, r, tok)
}
