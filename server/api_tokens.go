package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/catalog"
)

// MaxGracePeriod bounds a rotation's overlap.
const MaxGracePeriod = 7 * 24 * time.Hour

type tokenRequest struct {
	AccountID        *int64          `json:"account_id"`
	Name             *string         `json:"name"`
	State            *int            `json:"state"`
	PermissionGrants *[]grantRequest `json:"permission_grants"`
	ExpiresAt        *string         `json:"expires_at"`
	AllowedCIDRs     *[]string       `json:"allowed_cidrs"`
}

// canManageServiceTokens checks who may create or change service tokens: service_tokens:write
// and, for users, a developer or analyst license.
func canManageServiceTokens(p *latchkey.Principal) error {
	if err := can(p, latchkey.ResServiceTokens, latchkey.AccessWrite); err != nil {
		return err
	}
	if p.Kind == latchkey.PrincipalUser && p.License != latchkey.LicenseDeveloper && p.License != latchkey.LicenseAnalyst {
		return latchkey.Errorf(latchkey.EForbidden, "managing service tokens requires a developer or analyst license (yours is %s)", p.License)
	}
	return nil
}

// expiry validates an expires_at against the account's maximum lifetime; with a maximum and no
// expires_at the token gets the maximum.
func expiry(v *string, a *latchkey.Account, now time.Time) (*time.Time, error) {
	max := a.Settings.MaxTokenLifetime
	if v == nil || *v == "" {
		if max > 0 {
			t := now.Add(max).UTC().Truncate(time.Microsecond)
			return &t, nil
		}
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, *v)
	if err != nil {
		return nil, latchkey.FieldError("expires_at", "expires_at must be an RFC 3339 time such as 2027-01-31T00:00:00Z")
	}
	if !t.After(now) {
		return nil, latchkey.FieldError("expires_at", "expires_at must be in the future")
	}
	if max > 0 && t.Sub(now) > max+time.Minute {
		return nil, latchkey.FieldError("expires_at", "expires_at is beyond this account's maximum token lifetime of %s", max)
	}
	t = t.UTC().Truncate(time.Microsecond)
	return &t, nil
}

// MaxAllowedCIDRs bounds a token's IP allow list.
const MaxAllowedCIDRs = 100

func allowedCIDRs(v *[]string) ([]netip.Prefix, error) {
	if v == nil {
		return nil, nil
	}
	if len(*v) > MaxAllowedCIDRs {
		return nil, latchkey.FieldError("allowed_cidrs", "at most %d ranges are allowed", MaxAllowedCIDRs)
	}
	var out []netip.Prefix
	for _, c := range *v {
		p, err := latchkey.ParseCIDR(c)
		if err != nil {
			return nil, latchkey.FieldError("allowed_cidrs", "%v", err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (s *Server) handleAPIServiceTokenList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := can(p, latchkey.ResServiceTokens, latchkey.AccessRead); err != nil {
		return err
	}
	lp, err := parseList(r)
	if err != nil {
		return err
	}
	kind := latchkey.KindServiceToken
	f := latchkey.TokenFilter{AccountID: &p.AccountID, Kind: &kind, State: lp.state, Offset: lp.offset, Limit: lp.limit}
	if v := r.URL.Query().Get("expires_before"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return latchkey.FieldError("expires_before", "expires_before must be an RFC 3339 time")
		}
		f.ExpiresBefore = &t
		lp.filters["expires_before"] = v
	}
	toks, total, err := s.store.FindTokens(r.Context(), f)
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

// handleAPIServiceTokenCreate creates a service token in one step (with permission_grants) or
// the first of two steps (without; grants follow on …/permissions/).
func (s *Server) handleAPIServiceTokenCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := canManageServiceTokens(p); err != nil {
		return err
	}
	var req tokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	if req.State != nil && *req.State != int(latchkey.StateActive) {
		return latchkey.FieldError("state", "a new token must have state 1")
	}
	name, err := validName("name", req.Name, true)
	if err != nil {
		return err
	}
	a, err := s.store.FindAccountByID(r.Context(), p.AccountID)
	if err != nil {
		return err
	}
	tok := &latchkey.Token{AccountID: p.AccountID, Kind: latchkey.KindServiceToken, Name: name, CreatedBy: p.String()}
	if tok.ExpiresAt, err = expiry(req.ExpiresAt, a, time.Now()); err != nil {
		return err
	}
	if tok.AllowedCIDRs, err = allowedCIDRs(req.AllowedCIDRs); err != nil {
		return err
	}
	if req.PermissionGrants != nil {
		if tok.Grants, err = s.grantsFrom(r.Context(), p, *req.PermissionGrants, grantOwner{plan: a.Plan}); err != nil {
			return err
		}
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

// createToken mints a token string for tok and stores it, retrying on the (astronomically
// unlikely) uid collision. It returns the string, which is never stored.
func (s *Server) createToken(ctx context.Context, tok *latchkey.Token) (string, error) {
	for attempt := 0; ; attempt++ {
		m, err := s.format.Mint(tok.Kind)
		if err != nil {
			return "", err
		}
		tok.UID, tok.Hash = m.UID, m.Hash
		err = s.store.CreateToken(ctx, tok)
		if latchkey.ErrorCodeOf(err) == latchkey.EConflict && attempt < 3 {
			continue
		}
		if err != nil {
			return "", err
		}
		return m.String, nil
	}
}

// serviceToken loads a service token of the principal's account.
func (s *Server) serviceToken(ctx context.Context, r *http.Request, p *latchkey.Principal) (*latchkey.Token, error) {
	id, err := pathID(r, "token_id")
	if err != nil {
		return nil, err
	}
	tok, err := s.store.FindTokenByID(ctx, id)
	if err != nil || tok.AccountID != p.AccountID || tok.Kind != latchkey.KindServiceToken {
		return nil, latchkey.Errorf(latchkey.ENotFound, "service token %d not found", id)
	}
	return tok, nil
}

func (s *Server) handleAPIServiceTokenGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := can(p, latchkey.ResServiceTokens, latchkey.AccessRead); err != nil {
		return err
	}
	tok, err := s.serviceToken(r.Context(), r, p)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.TokenOf(s.format, tok), nil)
	return nil
}

// handleAPIServiceTokenUpdate renames a token (PUT or POST on …/{id}/); state 2 deletes it.
// Other fields are ignored, as clients send the whole object back.
func (s *Server) handleAPIServiceTokenUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := canManageServiceTokens(p); err != nil {
		return err
	}
	tok, err := s.serviceToken(r.Context(), r, p)
	if err != nil {
		return err
	}
	var req tokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	var upd latchkey.TokenUpdate
	if req.Name != nil {
		name, err := validName("name", req.Name, false)
		if err != nil {
			return err
		}
		upd.Name = &name
	}
	if req.State != nil {
		st := latchkey.State(*req.State)
		if !st.Valid() {
			return latchkey.FieldError("state", "state must be 1 or 2")
		}
		upd.State = &st
	}
	if tok.State == latchkey.StateDeleted && upd.Name != nil && *upd.Name != tok.Name {
		return latchkey.Errorf(latchkey.EInvalid, "service token %d is deleted", tok.ID)
	}
	tok, err = s.store.UpdateToken(r.Context(), tok.ID, upd)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.TokenOf(s.format, tok), nil)
	return nil
}

func (s *Server) handleAPIServiceTokenDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := canManageServiceTokens(p); err != nil {
		return err
	}
	tok, err := s.serviceToken(r.Context(), r, p)
	if err != nil {
		return err
	}
	return s.deleteToken(w, r, tok)
}

// deleteToken revokes a token at once and answers with it (state 2), as dbt's DELETE does.
func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, tok *latchkey.Token) error {
	if err := s.store.DeleteToken(r.Context(), tok.ID, "deleted"); err != nil {
		return err
	}
	tok, err := s.store.FindTokenByID(r.Context(), tok.ID)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.TokenOf(s.format, tok), nil)
	return nil
}

func (s *Server) handleAPIServiceTokenPermissionList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := can(p, latchkey.ResServiceTokens, latchkey.AccessRead); err != nil {
		return err
	}
	tok, err := s.serviceToken(r.Context(), r, p)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.PermissionsOf(tok.Grants), nil)
	return nil
}

// decodeGrantArray reads a JSON array of grants; an object with permission_grants is accepted too.
func decodeGrantArray(r *http.Request) ([]grantRequest, error) {
	var raw json.RawMessage
	if err := decode(r, &raw); err != nil {
		return nil, err
	}
	var reqs []grantRequest
	if err := json.Unmarshal(raw, &reqs); err == nil {
		return reqs, nil
	}
	var obj struct {
		PermissionGrants *[]grantRequest `json:"permission_grants"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.PermissionGrants == nil {
		if err != nil {
			if de := decodeError(err); latchkey.ErrorCodeOf(de) == latchkey.EInvalid {
				return nil, de
			}
		}
		return nil, latchkey.Errorf(latchkey.EInvalid, "request body must be a JSON array of permission grants")
	}
	return *obj.PermissionGrants, nil
}

// handleAPIServiceTokenPermissionSet adds grants to a token without any (POST, dbt's two-step
// creation) or replaces them (PUT, a latchkey extension).
func (s *Server) handleAPIServiceTokenPermissionSet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := canManageServiceTokens(p); err != nil {
		return err
	}
	tok, err := s.serviceToken(r.Context(), r, p)
	if err != nil {
		return err
	}
	if tok.State != latchkey.StateActive {
		return latchkey.Errorf(latchkey.EInvalid, "service token %d is deleted", tok.ID)
	}
	reqs, err := decodeGrantArray(r)
	if err != nil {
		return err
	}
	a, err := s.store.FindAccountByID(r.Context(), p.AccountID)
	if err != nil {
		return err
	}
	grants, err := s.grantsFrom(r.Context(), p, reqs, grantOwner{tokenID: tok.ID, plan: a.Plan})
	if err != nil {
		return err
	}
	if r.Method == http.MethodPut {
		tok, err = s.store.ReplaceTokenGrants(r.Context(), tok.ID, grants)
	} else {
		tok, err = s.store.AddTokenGrants(r.Context(), tok.ID, grants)
	}
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.PermissionsOf(tok.Grants), nil)
	return nil
}

type rotateRequest struct {
	GracePeriodSeconds *json.Number `json:"grace_period_seconds"`
	ExpiresAt          *string      `json:"expires_at"`
}

// graceFrom validates grace_period_seconds (0 to 7 days, default 0).
func graceFrom(v *json.Number) (time.Duration, error) {
	if v == nil {
		return 0, nil
	}
	n, err := strconv.ParseInt(v.String(), 10, 64)
	if err != nil || n < 0 || time.Duration(n)*time.Second > MaxGracePeriod {
		return 0, latchkey.FieldError("grace_period_seconds", "grace_period_seconds must be an integer from 0 to %d (7 days)", int64(MaxGracePeriod/time.Second))
	}
	return time.Duration(n) * time.Second, nil
}

// decodeRotate reads an optional rotate body: grace_period_seconds and expires_at.
func decodeRotate(r *http.Request) (grace time.Duration, expiresAt *string, err error) {
	var req rotateRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return 0, nil, err
		}
	}
	grace, err = graceFrom(req.GracePeriodSeconds)
	return grace, req.ExpiresAt, err
}

// rotate mints a successor for tok that keeps it valid for grace. The successor keeps the old
// token's lifetime unless expiresAt is given. It returns the successor with its token string.
func (s *Server) rotate(ctx context.Context, p *latchkey.Principal, tok *latchkey.Token, grace time.Duration, expiresAt *string) (apitype.Token, error) {
	a, err := s.store.FindAccountByID(ctx, p.AccountID)
	if err != nil {
		return apitype.Token{}, err
	}
	now := time.Now()
	next := &latchkey.Token{CreatedBy: p.String()}
	switch {
	case expiresAt != nil:
		next.ExpiresAt, err = expiry(expiresAt, a, now)
	case tok.ExpiresAt != nil:
		// The same lifetime as the old token, within the account's current maximum.
		t := now.Add(tok.ExpiresAt.Sub(tok.CreatedAt)).UTC().Truncate(time.Microsecond)
		if max := a.Settings.MaxTokenLifetime; max > 0 && t.After(now.Add(max)) {
			t = now.Add(max).UTC().Truncate(time.Microsecond)
		}
		next.ExpiresAt = &t
	default:
		next.ExpiresAt, err = expiry(nil, a, now)
	}
	if err != nil {
		return apitype.Token{}, err
	}
	for attempt := 0; ; attempt++ {
		m, err := s.format.Mint(tok.Kind)
		if err != nil {
			return apitype.Token{}, err
		}
		next.UID, next.Hash = m.UID, m.Hash
		err = s.store.RotateToken(ctx, tok.ID, next, grace)
		if latchkey.ErrorCodeOf(err) == latchkey.EConflict && attempt < 3 {
			// A uid collision is retried; "already rotated" is final.
			if fresh, ferr := s.store.FindTokenByID(ctx, tok.ID); ferr != nil || fresh.ReplacedByID != 0 {
				return apitype.Token{}, err
			}
			continue
		}
		if err != nil {
			return apitype.Token{}, err
		}
		j := apitype.TokenOf(s.format, next)
		j.TokenString = m.String
		return j, nil
	}
}

func (s *Server) handleAPIServiceTokenRotate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := canManageServiceTokens(p); err != nil {
		return err
	}
	tok, err := s.serviceToken(r.Context(), r, p)
	if err != nil {
		return err
	}
	// The successor holds the same grants: the rotator must hold them too.
	for _, g := range tok.Grants {
		if err := catalog.CheckEscalation(p.Permissions, g); err != nil {
			return err
		}
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
