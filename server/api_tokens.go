package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
)

// timeParam parses an optional RFC 3339 time of a request.
func timeParam(field string, v *string) (*time.Time, error) {
	if v == nil || *v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, *v)
	if err != nil {
		return nil, latchkey.FieldError(field, "%s must be an RFC 3339 time such as 2027-01-31T00:00:00Z", field)
	}
	return &t, nil
}

// cidrList parses a token's allowed_cidrs.
func cidrList(field string, v []string) ([]netip.Prefix, error) {
	if len(v) > admin.MaxAllowedCIDRs {
		return nil, latchkey.FieldError(field, "at most %d ranges are allowed", admin.MaxAllowedCIDRs)
	}
	var out []netip.Prefix
	for _, c := range v {
		p, err := latchkey.ParseCIDR(c)
		if err != nil {
			return nil, latchkey.FieldError(field, "%v", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// rateLimitsOf reads a token's rate_limits; the domain checks them (latchkey.ValidateRateLimits)
// once windows are known to fit a time.Duration.
func rateLimitsOf(field string, v []apitype.RateLimit) ([]latchkey.RateLimit, error) {
	if len(v) > latchkey.MaxRateLimits {
		return nil, latchkey.FieldError(field, "at most %d rate limits are allowed per token", latchkey.MaxRateLimits)
	}
	out := make([]latchkey.RateLimit, len(v))
	for i, l := range v {
		if l.DurationSeconds <= 0 || l.DurationSeconds > int64(latchkey.MaxRateLimitWindow/time.Second) {
			return nil, latchkey.FieldError(fmt.Sprintf("%s[%d].duration_seconds", field, i),
				"duration_seconds must be from 1 to %d (30 days)", int64(latchkey.MaxRateLimitWindow/time.Second))
		}
		out[i] = latchkey.RateLimit{Name: l.Name, Limit: l.Limit, Duration: time.Duration(l.DurationSeconds) * time.Second}
	}
	return out, latchkey.ValidateRateLimits(field, out)
}

// creditsOf reads a token's credits member: an object, or null (present, nil: remove them).
func creditsOf(raw json.RawMessage) (c *latchkey.Credits, present bool, err error) {
	if len(raw) == 0 {
		return nil, false, nil
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil, true, nil
	}
	var in struct {
		Remaining *int64 `json:"remaining"`
		Refill    *struct {
			Amount   *int64 `json:"amount"`
			Interval string `json:"interval"`
			Day      int    `json:"day"`
		} `json:"refill"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, true, latchkey.FieldError("credits", "credits must be an object {\"remaining\": N, \"refill\": {\"amount\": N, \"interval\": \"daily\" or \"monthly\", \"day\": D}} or null")
	}
	if in.Remaining == nil {
		return nil, true, latchkey.FieldError("credits.remaining", "credits need remaining")
	}
	c = &latchkey.Credits{Remaining: *in.Remaining}
	if r := in.Refill; r != nil {
		if r.Amount == nil {
			return nil, true, latchkey.FieldError("credits.refill.amount", "a refill needs an amount")
		}
		c.Refill = &latchkey.Refill{Amount: *r.Amount, Interval: r.Interval, Day: r.Day}
	}
	return c, true, latchkey.ValidateCredits("credits", c)
}

// handleAPIServiceTokenCreditsSet sets a token's credits: PUT …/{id}/credits/ {remaining,
// refill?}. The token's own PUT ignores credits: a client sending back the object it read would
// otherwise restore the balance it read, undoing what was spent since.
func (s *Server) handleAPIServiceTokenCreditsSet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "token_id")
	if err != nil {
		return err
	}
	return s.setCredits(w, r, p, admin.ServiceTokenRef(id))
}

// handleAPIServiceTokenCreditsDelete removes a token's credits (unlimited use).
func (s *Server) handleAPIServiceTokenCreditsDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "token_id")
	if err != nil {
		return err
	}
	return s.clearCredits(w, r, p, admin.ServiceTokenRef(id))
}

// setCredits sets the credits of the token ref names (PUT …/credits/ of a service token or a
// personal access token) and answers with the token.
func (s *Server) setCredits(w http.ResponseWriter, r *http.Request, p *latchkey.Principal, ref admin.TokenRef) error {
	var raw json.RawMessage
	if err := decode(r, &raw); err != nil {
		return err
	}
	c, _, err := creditsOf(raw)
	if err != nil {
		return err
	}
	if c == nil {
		return latchkey.FieldError("credits", "send {\"remaining\": N, \"refill\": …}; DELETE removes the credits")
	}
	tok, err := s.admin.EditToken(r.Context(), p, ref, admin.TokenEdit{Credits: c})
	if err != nil {
		return err
	}
	s.respondToken(w, http.StatusOK, tok, "")
	return nil
}

// clearCredits removes the credits of the token ref names (unlimited use).
func (s *Server) clearCredits(w http.ResponseWriter, r *http.Request, p *latchkey.Principal, ref admin.TokenRef) error {
	tok, err := s.admin.EditToken(r.Context(), p, ref, admin.TokenEdit{ClearCredits: true})
	if err != nil {
		return err
	}
	s.respondToken(w, http.StatusOK, tok, "")
	return nil
}

// respondToken answers with a token; secret, when set, is its token string (create, rotate).
func (s *Server) respondToken(w http.ResponseWriter, status int, tok *latchkey.Token, secret string) {
	j := apitype.TokenOf(s.format, tok)
	j.TokenString = secret
	respond(w, status, j, nil)
}

// listTokens answers a page of service tokens or of one user's PATs.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, p *latchkey.Principal, ref admin.TokenRef) error {
	lp, err := parseList(r, orderable...)
	if err != nil {
		return err
	}
	f := latchkey.TokenFilter{State: lp.state, Order: lp.order, Offset: lp.offset, Limit: lp.limit}
	if v := r.URL.Query().Get("expires_before"); v != "" {
		if f.ExpiresBefore, err = timeParam("expires_before", &v); err != nil {
			return err
		}
		lp.filters["expires_before"] = v
	}
	toks, total, err := s.admin.Tokens(r.Context(), p, ref, f)
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

func (s *Server) handleAPIServiceTokenList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	return s.listTokens(w, r, p, admin.TokenRef{Kind: latchkey.KindServiceToken})
}

// handleAPIServiceTokenCreate creates a service token in one step (with permission_grants) or
// the first of two steps (without; grants follow on …/permissions/).
func (s *Server) handleAPIServiceTokenCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	var req apitype.TokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	if req.State != nil && *req.State != int(latchkey.StateActive) {
		return latchkey.FieldError("state", "a new token must have state 1")
	}
	if req.Name == nil {
		return latchkey.FieldError("name", "name is required")
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	in := admin.NewToken{Name: *req.Name, IdempotencyKey: key}
	if in.ExpiresAt, _, err = optionalTime("expires_at", req.ExpiresAt); err != nil {
		return err
	}
	if req.AllowedCIDRs != nil {
		if in.AllowedCIDRs, err = cidrList("allowed_cidrs", *req.AllowedCIDRs); err != nil {
			return err
		}
	}
	if req.PermissionGrants != nil {
		if in.Grants, err = grantsOf(*req.PermissionGrants, grantOwner{accountID: p.AccountID}); err != nil {
			return err
		}
	}
	if req.RateLimits != nil {
		if in.RateLimits, err = rateLimitsOf("rate_limits", *req.RateLimits); err != nil {
			return err
		}
	}
	if in.Credits, _, err = creditsOf(req.Credits); err != nil {
		return err
	}
	tok, secret, err := s.admin.CreateServiceToken(r.Context(), p, in)
	if err != nil {
		return err
	}
	s.respondToken(w, http.StatusCreated, tok, secret)
	return nil
}

func (s *Server) handleAPIServiceTokenGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "token_id")
	if err != nil {
		return err
	}
	tok, err := s.admin.Token(r.Context(), p, admin.ServiceTokenRef(id))
	if err != nil {
		return err
	}
	s.respondToken(w, http.StatusOK, tok, "")
	return nil
}

// optionalTime reads an optional RFC 3339 time: present says the member was sent (null or a
// time), at is nil for null or left out.
func optionalTime(field string, raw json.RawMessage) (at *time.Time, present bool, err error) {
	if len(raw) == 0 {
		return nil, false, nil
	}
	var v *string
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, true, latchkey.FieldError(field, "%s must be an RFC 3339 time such as 2027-01-31T00:00:00Z, or null", field)
	}
	at, err = timeParam(field, v)
	return at, true, err
}

// tokenEditOf reads what an update changes beyond the name: allowed_cidrs, expires_at and
// rate_limits, each only when sent and different from tok's, so that sending back the object read
// changes nothing.
func tokenEditOf(req *apitype.TokenRequest, tok *latchkey.Token) (admin.TokenEdit, bool, error) {
	var e admin.TokenEdit
	if req.RateLimits != nil {
		ls, err := rateLimitsOf("rate_limits", *req.RateLimits)
		if err != nil {
			return e, false, err
		}
		if !slices.Equal(ls, tok.RateLimits) {
			e.RateLimits = &ls
		}
	}
	if req.AllowedCIDRs != nil {
		cidrs, err := cidrList("allowed_cidrs", *req.AllowedCIDRs)
		if err != nil {
			return e, false, err
		}
		if !slices.Equal(cidrs, tok.AllowedCIDRs) {
			e.AllowedCIDRs = &cidrs
		}
	}
	at, present, err := optionalTime("expires_at", req.ExpiresAt)
	if err != nil {
		return e, false, err
	}
	if present && !(at == nil && tok.ExpiresAt == nil || at != nil && tok.ExpiresAt != nil && at.Equal(*tok.ExpiresAt)) {
		e.Expiry = &admin.Expiry{At: at}
	}
	return e, e.AllowedCIDRs != nil || e.Expiry != nil || e.RateLimits != nil, nil
}

// handleAPIServiceTokenUpdate renames a token (PUT or POST on …/{id}/), changes its
// allowed_cidrs and expires_at, or with state 2 deletes it. Other fields are ignored, and sent
// values equal to the current ones change nothing, as clients send the whole object back.
func (s *Server) handleAPIServiceTokenUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "token_id")
	if err != nil {
		return err
	}
	var req apitype.TokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	upd := latchkey.TokenUpdate{Name: req.Name}
	if req.State != nil {
		st := latchkey.State(*req.State)
		upd.State = &st
	}
	ref := admin.ServiceTokenRef(id)
	if (req.AllowedCIDRs != nil || len(req.ExpiresAt) > 0 || req.RateLimits != nil) && (upd.State == nil || *upd.State == latchkey.StateActive) {
		cur, err := s.admin.Token(r.Context(), p, ref)
		if err != nil {
			return err
		}
		edit, changes, err := tokenEditOf(&req, cur)
		if err != nil {
			return err
		}
		if changes {
			edit.Name = req.Name
			tok, err := s.admin.EditToken(r.Context(), p, ref, edit)
			if err != nil {
				return err
			}
			s.respondToken(w, http.StatusOK, tok, "")
			return nil
		}
	}
	tok, err := s.admin.UpdateToken(r.Context(), p, ref, upd)
	if err != nil {
		return err
	}
	s.respondToken(w, http.StatusOK, tok, "")
	return nil
}

// deleteToken revokes a token at once and answers with it (state 2), as dbt's DELETE does.
func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, p *latchkey.Principal, ref admin.TokenRef) error {
	tok, err := s.admin.DeleteToken(r.Context(), p, ref)
	if err != nil {
		return err
	}
	s.respondToken(w, http.StatusOK, tok, "")
	return nil
}

func (s *Server) handleAPIServiceTokenDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "token_id")
	if err != nil {
		return err
	}
	return s.deleteToken(w, r, p, admin.ServiceTokenRef(id))
}

func (s *Server) handleAPIServiceTokenPermissionList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "token_id")
	if err != nil {
		return err
	}
	tok, err := s.admin.Token(r.Context(), p, admin.ServiceTokenRef(id))
	if err != nil {
		return err
	}
	perms := apitype.PermissionsOf(tok.Grants)
	respondList(w, perms, len(perms), listParams{filters: map[string]any{}, orderBy: "id"})
	return nil
}

// handleAPIServiceTokenPermissionSet adds grants to a token without any (POST, dbt's two-step
// creation) or replaces them (PUT, a latchkey extension).
func (s *Server) handleAPIServiceTokenPermissionSet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "token_id")
	if err != nil {
		return err
	}
	reqs, err := decodeGrantArray(r)
	if err != nil {
		return err
	}
	grants, err := grantsOf(reqs, grantOwner{accountID: p.AccountID, tokenID: id})
	if err != nil {
		return err
	}
	tok, err := s.admin.SetServiceTokenGrants(r.Context(), p, id, grants, r.Method == http.MethodPut)
	if err != nil {
		return err
	}
	perms := apitype.PermissionsOf(tok.Grants)
	respondList(w, perms, len(perms), listParams{filters: map[string]any{}, orderBy: "id"})
	return nil
}

// decodeRotate reads an optional rotate body: grace_period_seconds (left out: the account's
// default) and expires_at.
func decodeRotate(r *http.Request) (admin.Rotation, error) {
	var req apitype.RotateRequest
	var rot admin.Rotation
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return rot, err
		}
	}
	if req.GracePeriodSeconds != nil {
		n, err := strconv.ParseInt(req.GracePeriodSeconds.String(), 10, 64)
		if err != nil || n < 0 || time.Duration(n)*time.Second > admin.MaxGracePeriod {
			return rot, latchkey.FieldError("grace_period_seconds", "grace_period_seconds must be an integer from 0 to %d (7 days)", int64(admin.MaxGracePeriod/time.Second))
		}
		g := time.Duration(n) * time.Second
		rot.Grace = &g
	}
	var err error
	rot.ExpiresAt, err = timeParam("expires_at", req.ExpiresAt)
	return rot, err
}

// rotate answers a rotation of the token ref names with the successor and its token string.
func (s *Server) rotate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal, ref admin.TokenRef) error {
	rot, err := decodeRotate(r)
	if err != nil {
		return err
	}
	next, secret, _, err := s.admin.RotateToken(r.Context(), p, ref, rot)
	if err != nil {
		return err
	}
	s.respondToken(w, http.StatusCreated, next, secret)
	return nil
}

func (s *Server) handleAPIServiceTokenRotate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "token_id")
	if err != nil {
		return err
	}
	return s.rotate(w, r, p, admin.ServiceTokenRef(id))
}
