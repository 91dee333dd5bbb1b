package server

import (
	"net/http"
	"slices"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
)

// patRef names the personal access token of {user_id} (and {token_id}, when the route has it).
func patRef(r *http.Request) (admin.TokenRef, error) {
	userID, err := pathID(r, "user_id")
	if err != nil {
		return admin.TokenRef{}, err
	}
	ref := admin.PATRef(userID, 0)
	if r.PathValue("token_id") != "" {
		if ref.ID, err = pathID(r, "token_id"); err != nil {
			return ref, err
		}
	}
	return ref, nil
}

// patRequest reads a PAT's create or update body, whose account_id and user_id, when sent,
// must be the path's.
func patRequest(r *http.Request, p *latchkey.Principal, ref admin.TokenRef) (apitype.PATRequest, error) {
	var req apitype.PATRequest
	if err := decode(r, &req); err != nil {
		return req, err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return req, err
	}
	if req.UserID != nil && *req.UserID != ref.UserID {
		return req, latchkey.FieldError("user_id", "user_id %d in the body does not match user %d in the path", *req.UserID, ref.UserID)
	}
	return req, nil
}

func (s *Server) handleAPIPATCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	ref, err := patRef(r)
	if err != nil {
		return err
	}
	req, err := patRequest(r, p, ref)
	if err != nil {
		return err
	}
	if req.Name == nil {
		return latchkey.FieldError("name", "name is required")
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	in := admin.NewToken{Name: *req.Name, IdempotencyKey: key}
	if in.ExpiresAt, err = timeParam("expires_at", req.ExpiresAt); err != nil {
		return err
	}
	if req.RateLimits != nil {
		if in.RateLimits, err = rateLimitsOf("rate_limits", *req.RateLimits); err != nil {
			return err
		}
	}
	if req.Credits != nil {
		in.Credits = &latchkey.Credits{Remaining: req.Credits.Remaining}
		if r := req.Credits.Refill; r != nil {
			in.Credits.Refill = &latchkey.Refill{Amount: r.Amount, Interval: r.Interval, Day: r.Day}
		}
	}
	tok, secret, err := s.admin.CreatePAT(r.Context(), p, ref.UserID, in)
	if err != nil {
		return err
	}
	s.respondToken(w, http.StatusCreated, tok, secret)
	return nil
}

func (s *Server) handleAPIPATList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	ref, err := patRef(r)
	if err != nil {
		return err
	}
	return s.listTokens(w, r, p, ref)
}

func (s *Server) handleAPIPATGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	ref, err := patRef(r)
	if err != nil {
		return err
	}
	tok, err := s.admin.Token(r.Context(), p, ref)
	if err != nil {
		return err
	}
	s.respondToken(w, http.StatusOK, tok, "")
	return nil
}

// handleAPIPATUpdate changes a personal access token's name, expires_at or rate_limits (PUT on
// …/account-apikeys/{id}/: POST there is dbt's rotation). Fields left out, and values equal to
// the current ones, change nothing; credits are set with PUT …/credits/ and ignored here, as for
// service tokens.
func (s *Server) handleAPIPATUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	ref, err := patRef(r)
	if err != nil {
		return err
	}
	req, err := patRequest(r, p, ref)
	if err != nil {
		return err
	}
	cur, err := s.admin.Token(r.Context(), p, ref)
	if err != nil {
		return err
	}
	var edit admin.TokenEdit
	if req.Name != nil && *req.Name != cur.Name {
		edit.Name = req.Name
	}
	if req.RateLimits != nil {
		ls, err := rateLimitsOf("rate_limits", *req.RateLimits)
		if err != nil {
			return err
		}
		if !slices.Equal(ls, cur.RateLimits) {
			edit.RateLimits = &ls
		}
	}
	if req.ExpiresAt != nil {
		at, err := timeParam("expires_at", req.ExpiresAt)
		if err != nil {
			return err
		}
		// "" removes the expiry (where the account has no maximum lifetime).
		if !(at == nil && cur.ExpiresAt == nil || at != nil && cur.ExpiresAt != nil && at.Equal(*cur.ExpiresAt)) {
			edit.Expiry = &admin.Expiry{At: at}
		}
	}
	tok, err := s.admin.EditToken(r.Context(), p, ref, edit)
	if err != nil {
		return err
	}
	s.respondToken(w, http.StatusOK, tok, "")
	return nil
}

// handleAPIPATCreditsSet sets a personal access token's credits; DELETE removes them.
func (s *Server) handleAPIPATCreditsSet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	ref, err := patRef(r)
	if err != nil {
		return err
	}
	return s.setCredits(w, r, p, ref)
}

func (s *Server) handleAPIPATCreditsDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	ref, err := patRef(r)
	if err != nil {
		return err
	}
	return s.clearCredits(w, r, p, ref)
}

// handleAPIPATRotate is dbt's POST on …/account-apikeys/{id}/: a new key replaces the old one,
// which stays valid for grace_period_seconds (default: the account's default rotation grace).
func (s *Server) handleAPIPATRotate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	ref, err := patRef(r)
	if err != nil {
		return err
	}
	return s.rotate(w, r, p, ref)
}

func (s *Server) handleAPIPATDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	ref, err := patRef(r)
	if err != nil {
		return err
	}
	return s.deleteToken(w, r, p, ref)
}
