package server

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/accesstoken"
	"github.com/latchkey/latchkey/catalog"
	"github.com/latchkey/latchkey/verify"
)

// The OAuth 2.0 token endpoint (RFC 6749, RFC 8693) and the documents that describe it: a
// service token is exchanged for a short-lived access token (client_credentials), and any
// latchkey token for a narrower one (token exchange). See docs/short-lived.md.

// OAuth grant and token types.
const (
	grantClientCredentials = "client_credentials"
	grantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"
	tokenTypeJWT           = "urn:ietf:params:oauth:token-type:jwt"
	// maxOAuthBody bounds a token request; maxAssertion one token in it.
	maxOAuthBody = 32 << 10
	maxAssertion = 16 << 10
)

// oauthError is an RFC 6749 §5.2 error.
type oauthError struct {
	status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
	basic       bool   // answer 401 with a Basic challenge (the client authenticated with Basic)
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func oauthErr(code, format string, args ...any) *oauthError {
	return &oauthError{status: http.StatusBadRequest, Code: code, Description: fmt.Sprintf(format, args...)}
}

// tokenResponse is an RFC 6749 §5.1 / RFC 8693 §2.2.1 answer.
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
}

// oauthIssuer is the iss of access tokens and the issuer of the metadata; Audience is the same.
func (s *Server) oauthIssuer() string { return s.cfg.Issuer }

// handleOAuthToken is POST /oauth2/token.
func (s *Server) handleOAuthToken(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Keyring == nil {
		writeOAuthError(w, &oauthError{status: http.StatusNotFound, Code: "invalid_request",
			Description: "the token endpoint is off: start serve with --secret-key (LATCHKEY_SECRET_KEY), which seals the signing keys"})
		return
	}
	resp, err := s.oauthToken(w, r)
	if err != nil {
		var oe *oauthError
		if !errors.As(err, &oe) {
			s.log.Error("oauth token", "error", err.Error())
			oe = &oauthError{status: http.StatusInternalServerError, Code: "server_error", Description: "the token could not be issued: internal error"}
			if latchkey.ErrorCodeOf(err) == latchkey.EUnavailable {
				oe.status, oe.Code, oe.Description = http.StatusServiceUnavailable, "temporarily_unavailable", "storage cannot answer now: try again"
			}
		}
		writeOAuthError(w, oe)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSONBody(w, http.StatusOK, resp)
}

func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	if e.basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="latchkey"`)
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSONBody(w, e.status, e)
}

// oauthForm reads the form body: size-capped, urlencoded, nothing in the query, no parameter
// twice (RFC 6749 §3.2).
func oauthForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded") {
		return nil, oauthErr("invalid_request", "send the parameters as application/x-www-form-urlencoded")
	}
	if r.URL.RawQuery != "" {
		return nil, oauthErr("invalid_request", "send the parameters in the body, not the query string")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxOAuthBody)
	if err := r.ParseForm(); err != nil {
		return nil, oauthErr("invalid_request", "the body is not a form of at most %d bytes", maxOAuthBody)
	}
	for k, vs := range r.PostForm {
		if len(vs) > 1 {
			return nil, oauthErr("invalid_request", "%s is sent more than once", sanitizePath(k))
		}
	}
	return r.PostForm, nil
}

func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request) (*tokenResponse, error) {
	f, err := oauthForm(w, r)
	if err != nil {
		return nil, err
	}
	var subject *latchkey.Principal
	var subjectExp *time.Time
	var policy *latchkey.TrustPolicy
	resp := &tokenResponse{TokenType: "Bearer"}
	switch gt := f.Get("grant_type"); gt {
	case grantClientCredentials:
		if subject, err = s.oauthClient(r, f); err != nil {
			return nil, err
		}
	case grantTokenExchange:
		if subject, policy, err = s.oauthSubject(r, f); err != nil {
			return nil, err
		}
		resp.IssuedTokenType = tokenTypeAccessToken
	case "":
		return nil, oauthErr("invalid_request", "grant_type is required")
	default:
		return nil, oauthErr("unsupported_grant_type", "grant_type %s is not supported: use client_credentials or %s", sanitizePath(gt), grantTokenExchange)
	}
	subjectExp = subject.ExpiresAt
	grants, scope, err := oauthScope(subject, f.Get("scope"))
	if err != nil {
		return nil, err
	}
	if grants == nil && subject.Grants != nil {
		// A narrowed subject (an access token, or a trust policy with grants) passes its
		// narrowing on: no scope must not mean "everything the parent holds".
		grants = subject.Grants
		scope = strings.Join(accesstoken.GrantStrings(grants), " ")
	}
	lifetime, err := s.oauthLifetime(r, subject, f.Get("expires_in"))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	exp := now.Add(lifetime)
	if subjectExp != nil && subjectExp.Before(exp) {
		exp = *subjectExp
	}
	if !exp.After(now) {
		return nil, oauthErr("invalid_grant", "the token expires now")
	}
	c := &accesstoken.Claims{
		Claims: jwt.Claims{Issuer: s.oauthIssuer(), Audience: jwt.Audience{s.oauthIssuer()}, Subject: subject.String(),
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(exp), ID: accesstoken.NewID()},
		ClientID: subject.TokenUID, AccountID: subject.AccountID, TokenID: subject.TokenID, Scope: scope}
	if policy != nil {
		c.PolicyID = policy.ID
	}
	if grants != nil {
		c.Grants = accesstoken.GrantStrings(grants)
	}
	if resp.AccessToken, err = s.cfg.Keyring.Sign(c); err != nil {
		return nil, err
	}
	resp.ExpiresIn, resp.Scope = int64(time.Until(exp).Round(time.Second)/time.Second), scope
	s.metrics.oauthIssued(f.Get("grant_type"))
	return resp, nil
}

// oauthLifetime is the lifetime asked for with expires_in (seconds; not standard in a request,
// it mirrors the answer's field), from 60 s to the account's maximum, or the default 15 minutes.
func (s *Server) oauthLifetime(r *http.Request, subject *latchkey.Principal, asked string) (time.Duration, error) {
	if asked == "" {
		return latchkey.DefaultAccessTokenLifetime, nil
	}
	a, err := s.admin.Account(r.Context(), subject)
	if err != nil {
		return 0, err
	}
	limit := a.Settings.AccessTokenLifetimeCap()
	n, err := strconv.ParseInt(asked, 10, 64)
	if err != nil || n < 60 || time.Duration(n)*time.Second > limit {
		return 0, oauthErr("invalid_request", "expires_in must be a number of seconds from 60 to %d (the account's max_access_token_lifetime_seconds)", int64(limit/time.Second))
	}
	return time.Duration(n) * time.Second, nil
}

// oauthClient authenticates a client_credentials request: client_id is the service token's uid
// and client_secret the token, by HTTP Basic (RFC 6749 §2.3.1) or in the form, not both.
func (s *Server) oauthClient(r *http.Request, f url.Values) (*latchkey.Principal, error) {
	id, secret, basic := r.BasicAuth()
	if basic {
		if f.Has("client_id") || f.Has("client_secret") {
			return nil, oauthErr("invalid_request", "authenticate the client once: HTTP Basic or client_id and client_secret in the body, not both")
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, &oauthError{status: http.StatusUnauthorized, Code: "invalid_client", Description: "the Basic credentials are not form-encoded", basic: true}
		}
	} else if r.Header.Get("Authorization") != "" {
		return nil, &oauthError{status: http.StatusUnauthorized, Code: "invalid_client", Description: "authenticate with HTTP Basic or client_id and client_secret in the body"}
	} else {
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	fail := func(msg string) error {
		return &oauthError{status: http.StatusUnauthorized, Code: "invalid_client", Description: msg, basic: basic}
	}
	if id == "" || secret == "" {
		return nil, fail("client_id and client_secret (the service token's uid and the token) are required")
	}
	if len(secret) > maxAssertion {
		return nil, fail("client_secret is too long")
	}
	p, err := s.verifyToken(r.Context(), secret, state(r.Context()).ip, 0, verify.Usage{}, nil)
	if err != nil {
		if latchkey.SystemError(err) {
			return nil, err
		}
		return nil, fail("the client secret is not a valid service token: " + verify.Reason(err))
	}
	if p.Kind != latchkey.PrincipalServiceToken || p.Method != latchkey.AuthServiceToken {
		return nil, fail("client_credentials takes a service token; exchange other tokens with " + grantTokenExchange)
	}
	if p.TokenUID != id {
		return nil, fail("client_id is not the uid of the service token")
	}
	return p, nil
}

// oauthSubject reads and verifies a token exchange's subject token (RFC 8693 §2.1).
func (s *Server) oauthSubject(r *http.Request, f url.Values) (*latchkey.Principal, *latchkey.TrustPolicy, error) {
	tok, typ := f.Get("subject_token"), f.Get("subject_token_type")
	switch {
	case tok == "":
		return nil, nil, oauthErr("invalid_request", "subject_token is required")
	case typ == "":
		return nil, nil, oauthErr("invalid_request", "subject_token_type is required")
	case len(tok) > maxAssertion:
		return nil, nil, oauthErr("invalid_request", "subject_token is longer than %d bytes", maxAssertion)
	case f.Has("actor_token") || f.Has("actor_token_type"):
		return nil, nil, oauthErr("invalid_request", "actor tokens (delegation) are not supported")
	}
	if rt := f.Get("requested_token_type"); rt != "" && rt != tokenTypeAccessToken && rt != tokenTypeJWT {
		return nil, nil, oauthErr("invalid_request", "requested_token_type must be %s", tokenTypeAccessToken)
	}
	for _, name := range []string{"audience", "resource"} {
		if v := f.Get(name); v != "" && v != s.oauthIssuer() {
			return nil, nil, oauthErr("invalid_target", "%s must be %s (the only audience this latchkey issues for)", name, s.oauthIssuer())
		}
	}
	switch typ {
	case tokenTypeAccessToken:
	case tokenTypeJWT:
		return s.federatedSubject(r, tok, f)
	default:
		return nil, nil, oauthErr("invalid_request", "subject_token_type %s is not supported: use %s", sanitizePath(typ), tokenTypeAccessToken)
	}
	p, err := s.verifyToken(r.Context(), tok, state(r.Context()).ip, 0, verify.Usage{}, nil)
	if err != nil {
		if latchkey.SystemError(err) {
			return nil, nil, err
		}
		return nil, nil, oauthErr("invalid_grant", "the subject token is not valid: %s", verify.Reason(err))
	}
	if p.TokenID == 0 {
		return nil, nil, oauthErr("invalid_grant", "the subject token is not a token")
	}
	if p.Legacy {
		return nil, nil, oauthErr("invalid_grant", "a legacy-format token cannot be exchanged: rotate it first")
	}
	return p, nil, nil
}

// oauthScope reads scope: grants ("set" on all projects, "set:project_id" on one) separated by
// spaces, each of which the subject must hold all of. "" keeps the subject's permissions (nil
// grants). It returns the grants and the scope to answer.
func oauthScope(subject *latchkey.Principal, scope string) ([]latchkey.Grant, string, error) {
	fields := strings.Fields(scope)
	if len(fields) == 0 {
		return nil, "", nil
	}
	if len(fields) > accesstoken.MaxGrants {
		return nil, "", oauthErr("invalid_scope", "at most %d grants may be asked for", accesstoken.MaxGrants)
	}
	grants := make([]latchkey.Grant, 0, len(fields))
	for _, fld := range fields {
		g, ok := accesstoken.ParseGrant(fld)
		if !ok {
			return nil, "", oauthErr("invalid_scope", "%s is not a grant: write permission_set or permission_set:project_id", sanitizePath(fld))
		}
		set, err := catalog.Lookup(g.PermissionSet)
		if err != nil {
			return nil, "", oauthErr("invalid_scope", "%s is not a permission set", sanitizePath(g.PermissionSet))
		}
		g.PermissionSet = set.Name
		if slices.ContainsFunc(grants, func(x latchkey.Grant) bool {
			return x.PermissionSet == g.PermissionSet && x.AllProjects == g.AllProjects && x.ProjectID == g.ProjectID
		}) {
			continue
		}
		if len(verify.Narrow(subject, []latchkey.Grant{g})) == 0 {
			return nil, "", oauthErr("invalid_scope", "%s asks for more than the subject token holds", sanitizePath(fld))
		}
		grants = append(grants, g)
	}
	return grants, strings.Join(accesstoken.GrantStrings(grants), " "), nil
}

// handleJWKS is GET /.well-known/jwks.json: every published signing key.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	if s.cfg.Keyring != nil {
		for _, k := range s.cfg.Keyring.Published() {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: ed25519.PublicKey(k.PublicKey), KeyID: k.KID, Algorithm: k.Algorithm, Use: "sig"})
		}
	}
	// Verifiers refetch on an unknown kid; new keys are published an hour before they sign.
	writePublicJSON(w, set)
}

// handleOAuthMetadata is GET /.well-known/oauth-authorization-server (RFC 8414).
func (s *Server) handleOAuthMetadata(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Keyring == nil {
		http.Error(w, "the token endpoint is off: start serve with --secret-key", http.StatusNotFound)
		return
	}
	iss := s.oauthIssuer()
	md := map[string]any{
		"issuer":                                iss,
		"token_endpoint":                        iss + "/oauth2/token",
		"jwks_uri":                              iss + "/.well-known/jwks.json",
		"grant_types_supported":                 []string{grantClientCredentials, grantTokenExchange},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"response_types_supported":              []string{},
		"scopes_supported":                      setNames(),
		"service_documentation":                 "https://github.com/latchkey/latchkey/blob/main/docs/short-lived.md",
	}
	writePublicJSON(w, md)
}

// writePublicJSON answers a public document that clients may cache for 5 minutes.
func writePublicJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(b)
}

// setNames lists the permission sets, the grants a scope may name.
func setNames() []string {
	var out []string
	for _, set := range catalog.Sets() {
		out = append(out, set.Name)
	}
	return out
}
