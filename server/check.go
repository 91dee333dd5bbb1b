package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/accesstoken"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/verify"
)

// checker authenticates a caller of /v1/check and /oauth2/introspect: a principal of the account
// holding service_tokens:read.
func (s *Server) checker(r *http.Request) (*latchkey.Principal, error) {
	p, err := s.authenticate(r, 0)
	if err != nil {
		return nil, err
	}
	if err := admin.CanVerify(p); err != nil {
		return nil, err
	}
	state(r.Context()).principal = p
	return p, nil
}

func toCheckPrincipal(p *latchkey.Principal) *apitype.CheckPrincipal {
	return &apitype.CheckPrincipal{Kind: string(p.Kind), ID: p.ID(), Name: p.Name, AccountID: p.AccountID, TokenID: p.TokenID,
		TokenUID: p.TokenUID, UserID: p.UserID, LicenseType: string(p.License), ExpiresAt: apitype.TimePtr(p.ExpiresAt), Legacy: p.Legacy}
}

// question is a parsed authorization question.
type question struct {
	resource latchkey.Resource
	access   latchkey.Access
	project  int64
	env      latchkey.EnvCategory
}

func parseQuestion(resource, access string, project int64, env string) (question, error) {
	var q question
	res, ok := latchkey.LookupResource(resource, project != 0)
	if !ok {
		return q, latchkey.FieldError("resource", "unknown resource %q", resource)
	}
	a, ok := latchkey.ParseAccess(access)
	if !ok {
		return q, latchkey.FieldError("access", "access must be read or write")
	}
	if project < 0 {
		return q, latchkey.FieldError("project_id", "project_id must be positive")
	}
	if res.Level() == latchkey.LevelAccount {
		project = 0
	}
	q = question{resource: res, access: a, project: project, env: latchkey.EnvCategory(env)}
	if env != "" && (!q.env.Valid() || q.env == latchkey.EnvAll) {
		return q, latchkey.FieldError("environment_category", "environment_category must be development, staging, production or other")
	}
	return q, nil
}

// decide verifies token for the checking principal's account and answers q. A verification
// that could not be made is not an answer: it is returned as an error (503 when storage cannot
// answer now, 500 for a bug), never as 200 with allowed false.
func (s *Server) decide(ctx context.Context, caller *latchkey.Principal, token string, ip netip.Addr, q question, u verify.Usage) (apitype.CheckResult, error) {
	var lim verify.Limits
	p, err := s.verify.VerifyUsage(ctx, token, ip, caller.AccountID, u, &lim)
	s.metrics.verification(err)
	var limits []apitype.CheckRateLimit
	for _, st := range lim.All() {
		limits = append(limits, apitype.CheckRateLimit{Name: st.Name, Limit: st.Limit, DurationSeconds: int64(st.Window / time.Second),
			Remaining: st.Remaining, ResetSeconds: int64(math.Ceil(st.Reset.Seconds()))})
	}
	if err != nil {
		switch reason := verify.Reason(err); reason {
		case "error", "unavailable":
			return apitype.CheckResult{Reason: reason, Message: "the token could not be checked: " + latchkey.ErrorMessage(err)}, err
		default:
			out := apitype.CheckResult{Reason: reason, Message: latchkey.ErrorMessage(err), RateLimits: limits}
			if lim.HasCredits {
				out.CreditsRemaining = &lim.Credits
			}
			if usageRefusal(reason) {
				var le *latchkey.Error
				if errors.As(err, &le) {
					out.RetryAfterSeconds, _ = le.Data["retry_after_seconds"].(int64)
				}
			}
			return out, nil
		}
	}
	d := p.Can(q.resource, q.access, q.project, q.env)
	out := apitype.CheckResult{Allowed: d.Allowed, Reason: "ok", Message: "allowed", Principal: toCheckPrincipal(p), RateLimits: limits}
	if lim.HasCredits {
		out.CreditsRemaining = &lim.Credits
	}
	if !d.Allowed {
		s.verify.CountForbidden(p)
		out.Reason, out.Message = "forbidden", d.Reason()
	}
	return out, nil
}

// handleCheck answers POST /v1/check {token, resource, access, project_id?,
// environment_category?, client_ip?} for gateways and resource servers.
func (s *Server) handleCheck(w http.ResponseWriter, r *http.Request) error {
	caller, err := s.checker(r)
	if err != nil {
		return err
	}
	var req apitype.CheckRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Token == nil || *req.Token == "" {
		return latchkey.FieldError("token", "token is required")
	}
	if req.Resource == nil || req.Access == nil {
		return latchkey.FieldError("resource", "resource and access are required")
	}
	var project int64
	if req.ProjectID != nil {
		project = *req.ProjectID
	}
	var env string
	if req.EnvironmentCategory != nil {
		env = *req.EnvironmentCategory
	}
	q, err := parseQuestion(*req.Resource, *req.Access, project, env)
	if err != nil {
		return err
	}
	var ip netip.Addr
	if req.ClientIP != nil && *req.ClientIP != "" {
		if ip, err = netip.ParseAddr(strings.TrimSpace(*req.ClientIP)); err != nil {
			return latchkey.FieldError("client_ip", "client_ip is not an IP address")
		}
	}
	u, err := usageOf(req.Limit, req.Cost)
	if err != nil {
		return err
	}
	res, err := s.decide(r.Context(), caller, *req.Token, ip, q, u)
	if err != nil {
		// Same body shape, with the status and Retry-After of the failure; logged once.
		st := state(r.Context())
		status, le := errorStatus(err, st.id)
		st.err = err
		if ra, ok := le.Data["retry_after_seconds"]; ok {
			w.Header().Set("Retry-After", fmt.Sprint(ra))
		}
		if status == http.StatusInternalServerError {
			res.Message = le.Message
		}
		writeJSONBody(w, status, res)
		return nil
	}
	writeJSONBody(w, http.StatusOK, res)
	return nil
}

// usageOf reads what a check counts against the token's rate limits.
func usageOf(limit *string, cost *int64) (verify.Usage, error) {
	var u verify.Usage
	if limit != nil && *limit != "" {
		if err := latchkey.ValidateRateLimits("limit", []latchkey.RateLimit{{Name: *limit, Limit: 1, Duration: time.Second}}); err != nil {
			return u, latchkey.FieldError("limit", "%s", latchkey.ErrorMessage(err))
		}
		u.Limit = *limit
	}
	if cost != nil {
		if *cost <= 0 || *cost > latchkey.MaxRateLimitCount {
			return u, latchkey.FieldError("cost", "cost must be from 1 to %d", int64(latchkey.MaxRateLimitCount))
		}
		u.Cost = *cost
	}
	return u, nil
}

// handleIntrospect is RFC 7662 token introspection: POST token=… (form-encoded), the caller
// authenticated like /v1/check. Tokens that are invalid, or of another account, are inactive.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	caller, err := s.checker(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSONBody(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "the body must be form-encoded"})
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		writeJSONBody(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "token is required"})
		return
	}
	// Introspection carries no client address, so a token restricted to certain addresses
	// reports inactive, like any token that would not be accepted.
	p, err := s.verify.VerifyInAccount(r.Context(), token, netip.Addr{}, caller.AccountID)
	s.metrics.verification(err)
	switch {
	case err != nil && (verify.Reason(err) == "error" || verify.Reason(err) == "unavailable"):
		s.writeError(w, r, err)
		return
	case err != nil && usageRefusal(verify.Reason(err)):
		// A token over its rate limit, or out of credits, would not be accepted now; the reason
		// says why.
		writeJSONBody(w, http.StatusOK, map[string]any{"active": false, "reason": verify.Reason(err)})
		return
	case err != nil:
		writeJSONBody(w, http.StatusOK, map[string]bool{"active": false})
		return
	}
	out := map[string]any{
		"active":     true,
		"sub":        p.String(),
		"token_type": tokenType(p),
		"iat":        p.IssuedAt.Unix(),
		"account_id": p.AccountID,
		"jti":        p.TokenUID,
		"username":   p.Name,
	}
	if p.ExpiresAt != nil {
		out["exp"] = p.ExpiresAt.Unix()
	}
	if p.Method == latchkey.AuthAccessToken {
		// A short-lived access token: its client is the token it was obtained with (jti would
		// name that token, not this one), and its scope the grants it was narrowed to.
		delete(out, "jti")
		out["client_id"] = p.TokenUID
		if p.Grants != nil {
			out["scope"] = strings.Join(accesstoken.GrantStrings(p.Grants), " ")
		}
	}
	writeJSONBody(w, http.StatusOK, out)
}

func tokenType(p *latchkey.Principal) string {
	switch p.Method {
	case latchkey.AuthPAT:
		return "personal_access_token"
	case latchkey.AuthAccessToken:
		return "access_token"
	}
	return "service_token"
}
