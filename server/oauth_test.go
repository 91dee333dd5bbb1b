package server

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/accesstoken"
	"github.com/latchkey/latchkey/catalog"
	"github.com/latchkey/latchkey/verify"
)

// oauth posts a token request (form) with optional Basic credentials and decodes the answer.
func (e *regEnv) oauth(t *testing.T, form url.Values, basic []string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.http.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != nil {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp := e.send(t, req)
	var out map[string]any
	if err := json.Unmarshal(resp.body, &out); err != nil {
		t.Fatalf("token endpoint answered %d %.300s", resp.status, resp.body)
	}
	if resp.header.Get("Cache-Control") != "no-store" {
		t.Errorf("token endpoint answer without Cache-Control: no-store")
	}
	return resp.status, out
}

// accessToken gets an access token for the fixture's service token with scope.
func (e *regEnv) accessToken(t *testing.T, scope string) string {
	t.Helper()
	f := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	status, out := e.oauth(t, f, []string{e.fx.Svc[len("lksvc_") : len("lksvc_")+8], e.fx.Svc})
	if status != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", status, out)
	}
	return out["access_token"].(string)
}

func jobsOn(project int64) map[string]string {
	return map[string]string{"X-Original-Method": "GET", "X-Original-Uri": "/api/projects/" + strconv.FormatInt(project, 10) + "/jobs/5"}
}

func runsOn(project int64) map[string]string {
	return map[string]string{"X-Original-Method": "POST", "X-Original-Uri": "/api/projects/" + strconv.FormatInt(project, 10) + "/runs"}
}

// A service token is exchanged for access tokens that work wherever the token does, with the
// token's permissions or fewer; client authentication and parameters are checked as RFC 6749
// says.
func TestOAuthClientCredentials(t *testing.T) {
	e := newRegEnv(t)
	uid := e.fx.Svc[len("lksvc_") : len("lksvc_")+8]
	// Both ways of authenticating the client.
	status, out := e.oauth(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {uid}, "client_secret": {e.fx.Svc}}, nil)
	if status != http.StatusOK || out["token_type"] != "Bearer" || out["expires_in"] != float64(900) {
		t.Fatalf("client_credentials in the body: %d %v", status, out)
	}
	full := out["access_token"].(string)
	if !accesstoken.Looks(full) || strings.Contains(full, e.fx.Svc) {
		t.Fatalf("access token %q is not a JWT of its own", full)
	}
	narrow := e.accessToken(t, "job_viewer:"+strconv.FormatInt(e.fx.Project, 10))

	// The full one acts as the service token: whoami, and forward-auth reads and runs jobs.
	status, env := e.api(t, full, http.MethodGet, "/api/v3/whoami/", nil)
	if status != http.StatusOK || !strings.Contains(string(env.Data), `"service_token"`) {
		t.Errorf("whoami with an access token: %d %s", status, env.Data)
	}
	for _, c := range []struct {
		name  string
		token string
		h     map[string]string
		want  int
	}{
		{"full token reads jobs", full, jobsOn(e.fx.Project), http.StatusOK},
		{"full token runs jobs", full, runsOn(e.fx.Project), http.StatusOK},
		{"narrowed token reads jobs", narrow, jobsOn(e.fx.Project), http.StatusOK},
		{"narrowed token cannot run jobs", narrow, runsOn(e.fx.Project), http.StatusForbidden},
		{"narrowed token, other project", narrow, jobsOn(e.fx.Project2), http.StatusForbidden},
	} {
		if status, reason := e.forward(t, c.token, c.h); status != c.want {
			t.Errorf("%s: forward-auth %d (%s), want %d", c.name, status, reason, c.want)
		}
	}

	// Lifetimes: 15 minutes unless asked; up to the account's maximum (1 hour by default, settable
	// from 15 minutes to 12 hours).
	if status, out := e.oauth(t, url.Values{"grant_type": {"client_credentials"}, "expires_in": {"3600"}}, []string{uid, e.fx.Svc}); status != http.StatusOK || out["expires_in"] != float64(3600) {
		t.Errorf("expires_in 3600 with the default maximum: %d %v", status, out)
	}
	if status, out := e.oauth(t, url.Values{"grant_type": {"client_credentials"}, "expires_in": {"7200"}}, []string{uid, e.fx.Svc}); status != http.StatusBadRequest || out["error"] != "invalid_request" {
		t.Errorf("expires_in over the maximum: %d %v, want invalid_request", status, out)
	}
	for _, bad := range []int{60, 43201} {
		status, env := e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/settings/"), map[string]any{"max_access_token_lifetime_seconds": bad})
		var data struct{ Field string }
		json.Unmarshal(env.Data, &data)
		if status != http.StatusBadRequest || data.Field != "max_access_token_lifetime_seconds" {
			t.Errorf("max_access_token_lifetime_seconds %d: %d %q", bad, status, data.Field)
		}
	}
	status, env = e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/settings/"), map[string]any{"max_access_token_lifetime_seconds": 43200})
	wantStatus(t, "a 12-hour maximum", status, env, http.StatusOK)
	if status, out := e.oauth(t, url.Values{"grant_type": {"client_credentials"}, "expires_in": {"43200"}}, []string{uid, e.fx.Svc}); status != http.StatusOK || out["expires_in"] != float64(43200) {
		t.Errorf("expires_in 43200 with a 12-hour maximum: %d %v", status, out)
	}

	// Bad requests, each with its RFC 6749 error.
	basic := []string{uid, e.fx.Svc}
	for _, c := range []struct {
		name   string
		form   url.Values
		basic  []string
		status int
		code   string
	}{
		{"no grant type", url.Values{}, basic, 400, "invalid_request"},
		{"unknown grant type", url.Values{"grant_type": {"authorization_code"}}, basic, 400, "unsupported_grant_type"},
		{"grant type twice", url.Values{"grant_type": {"client_credentials", "client_credentials"}}, basic, 400, "invalid_request"},
		{"no client", url.Values{"grant_type": {"client_credentials"}}, nil, 401, "invalid_client"},
		{"client twice", url.Values{"grant_type": {"client_credentials"}, "client_id": {uid}, "client_secret": {e.fx.Svc}}, basic, 400, "invalid_request"},
		{"client_id of another token", url.Values{"grant_type": {"client_credentials"}}, []string{"AAAAAAAA", e.fx.Svc}, 401, "invalid_client"},
		{"a PAT as client", url.Values{"grant_type": {"client_credentials"}}, []string{e.fx.AdminPAT[6:14], e.fx.AdminPAT}, 401, "invalid_client"},
		{"an unknown token", url.Values{"grant_type": {"client_credentials"}}, []string{uid, e.fx.Unknown}, 401, "invalid_client"},
		{"scope not held", url.Values{"grant_type": {"client_credentials"}, "scope": {"account_admin"}}, basic, 400, "invalid_scope"},
		{"scope on another project", url.Values{"grant_type": {"client_credentials"}, "scope": {"job_admin:" + strconv.FormatInt(e.fx.Project2, 10)}}, basic, 400, "invalid_scope"},
		{"scope not a grant", url.Values{"grant_type": {"client_credentials"}, "scope": {"job_admin:x"}}, basic, 400, "invalid_scope"},
		{"unknown permission set", url.Values{"grant_type": {"client_credentials"}, "scope": {"root"}}, basic, 400, "invalid_scope"},
	} {
		status, out := e.oauth(t, c.form, c.basic)
		if status != c.status || out["error"] != c.code || out["error_description"] == "" {
			t.Errorf("%s: %d %v, want %d %s with a description", c.name, status, out, c.status, c.code)
		}
		if strings.Contains(out["error_description"].(string), e.fx.Svc) {
			t.Errorf("%s: the description holds the token", c.name)
		}
	}
	// Parameters in the query, a JSON body, an oversized body.
	for _, c := range []struct {
		name, path, ctype, body string
		status                  int
	}{
		{"query string", "/oauth2/token?grant_type=client_credentials", "application/x-www-form-urlencoded", "", 400},
		{"JSON body", "/oauth2/token", "application/json", `{"grant_type":"client_credentials"}`, 400},
		{"oversized body", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=client_credentials&scope=" + strings.Repeat("a", 40<<10), 400},
	} {
		req, _ := http.NewRequest(http.MethodPost, e.http.URL+c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", c.ctype)
		if r := e.send(t, req); r.status != c.status || !strings.Contains(string(r.body), `"invalid_request"`) {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
}

// Token exchange narrows any latchkey token, an access token included, never widening it;
// revoking the service token stops its access tokens and new exchanges at once.
func TestOAuthTokenExchange(t *testing.T) {
	e := newRegEnv(t)
	exchange := func(subject, scope string) (int, map[string]any) {
		return e.oauth(t, url.Values{"grant_type": {grantTokenExchange}, "subject_token": {subject},
			"subject_token_type": {tokenTypeAccessToken}, "scope": {scope}}, nil)
	}
	project := strconv.FormatInt(e.fx.Project, 10)
	status, out := exchange(e.fx.Svc, "job_viewer:"+project)
	if status != http.StatusOK || out["issued_token_type"] != tokenTypeAccessToken || out["scope"] != "job_viewer:"+project {
		t.Fatalf("exchange: %d %v", status, out)
	}
	viewer := out["access_token"].(string)
	// From the narrowed token: the same again is fine, anything wider is not.
	if status, out := exchange(viewer, "job_viewer:"+project); status != http.StatusOK {
		t.Errorf("re-exchange within the subject: %d %v", status, out)
	}
	if status, out := exchange(viewer, "job_admin:"+project); status != http.StatusBadRequest || out["error"] != "invalid_scope" {
		t.Errorf("re-exchange asking for more: %d %v, want invalid_scope", status, out)
	}
	for _, c := range []struct {
		name string
		form url.Values
		code string
	}{
		{"no subject token", url.Values{"grant_type": {grantTokenExchange}, "subject_token_type": {tokenTypeAccessToken}}, "invalid_request"},
		{"no subject token type", url.Values{"grant_type": {grantTokenExchange}, "subject_token": {e.fx.Svc}}, "invalid_request"},
		{"unsupported subject token type", url.Values{"grant_type": {grantTokenExchange}, "subject_token": {e.fx.Svc}, "subject_token_type": {"urn:ietf:params:oauth:token-type:saml2"}}, "invalid_request"},
		{"oversized subject token", url.Values{"grant_type": {grantTokenExchange}, "subject_token": {strings.Repeat("a", maxAssertion+1)}, "subject_token_type": {tokenTypeAccessToken}}, "invalid_request"},
		{"an actor token", url.Values{"grant_type": {grantTokenExchange}, "subject_token": {e.fx.Svc}, "subject_token_type": {tokenTypeAccessToken}, "actor_token": {e.fx.Svc}, "actor_token_type": {tokenTypeAccessToken}}, "invalid_request"},
		{"another audience", url.Values{"grant_type": {grantTokenExchange}, "subject_token": {e.fx.Svc}, "subject_token_type": {tokenTypeAccessToken}, "audience": {"https://elsewhere.example"}}, "invalid_target"},
		{"a malformed subject", url.Values{"grant_type": {grantTokenExchange}, "subject_token": {"eyJhbGciOi.x.y"}, "subject_token_type": {tokenTypeAccessToken}}, "invalid_grant"},
		{"an unknown subject", url.Values{"grant_type": {grantTokenExchange}, "subject_token": {e.fx.Unknown}, "subject_token_type": {tokenTypeAccessToken}}, "invalid_grant"},
	} {
		status, out := e.oauth(t, c.form, nil)
		if status != http.StatusBadRequest || out["error"] != c.code {
			t.Errorf("%s: %d %v, want 400 %s", c.name, status, out, c.code)
		}
	}
	// A PAT is exchanged too: the token carries its user.
	status, out = exchange(e.fx.ReaderPAT, "")
	if status != http.StatusOK {
		t.Fatalf("exchange of a PAT: %d %v", status, out)
	}
	if status, env := e.api(t, out["access_token"].(string), http.MethodGet, "/api/v3/whoami/", nil); status != http.StatusOK || !strings.Contains(string(env.Data), `"user"`) {
		t.Errorf("whoami with a PAT's access token: %d %s", status, env.Data)
	}

	// Re-exchanging a narrowed token without a scope keeps its narrowing.
	status, out = exchange(viewer, "")
	if status != http.StatusOK || out["scope"] != "job_viewer:"+project {
		t.Errorf("re-exchange of a narrowed token without scope: %d %v, want its scope kept", status, out)
	} else if status, _ := e.forward(t, out["access_token"].(string), runsOn(e.fx.Project)); status != http.StatusForbidden {
		t.Errorf("the re-exchanged token runs jobs: %d, want 403", status)
	}
	// A license with fixed permissions (read_only) cannot be narrowed into more than it holds.
	if status, out := exchange(e.fx.ReaderPAT, "account_admin"); status != http.StatusBadRequest || out["error"] != "invalid_scope" {
		t.Errorf("a read_only user's PAT asking for account_admin: %d %v, want invalid_scope", status, out)
	}
	// A PAT's access token, narrowed or not, manages no tokens: no new PAT, no rotation.
	status, out = exchange(e.fx.AdminPAT, "metadata_only")
	if status != http.StatusOK {
		t.Fatalf("exchange of the admin's PAT: %d %v", status, out)
	}
	patAT := out["access_token"].(string)
	status, env := e.api(t, patAT, http.MethodPost, e.path("/users/%d/account-apikeys/", e.fx.AdminUser), map[string]any{"name": "escape"})
	wantStatus(t, "a PAT's access token creating a PAT", status, env, http.StatusForbidden)
	status, env = e.api(t, patAT, http.MethodPost, e.path("/users/%d/account-apikeys/%d/", e.fx.AdminUser, e.fx.AdminPATID), map[string]any{})
	wantStatus(t, "a PAT's access token rotating its PAT", status, env, http.StatusForbidden)
	status, env = e.api(t, patAT, http.MethodGet, e.path("/users/"), nil)
	wantStatus(t, "a metadata_only access token listing users", status, env, http.StatusForbidden)
	// /v1/check by another account: the access token is as unknown as an opaque token would be.
	status, body := e.rawAPI(t, e.fx.OtherPAT, http.MethodPost, "/v1/check", map[string]any{"token": viewer, "resource": "jobs", "access": "read"})
	if status != http.StatusOK || !strings.Contains(string(body), `"reason":"not_found"`) {
		t.Errorf("/v1/check of an access token by another account: %d %s, want reason not_found", status, body)
	}

	// Revoking the service token: its access token is refused at once, and so are new exchanges.
	if status, env := e.api(t, viewer, http.MethodGet, "/api/v3/whoami/", nil); status != http.StatusOK {
		t.Fatalf("before revocation: %d %s", status, env.Status.UserMessage)
	}
	status, env = e.api(t, e.fx.AdminPAT, http.MethodDelete, e.path("/service-tokens/%d/", e.fx.SvcID), nil)
	wantStatus(t, "revoke the service token", status, env, http.StatusOK)
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, env = e.api(t, viewer, http.MethodGet, "/api/v3/whoami/", nil)
		if status == http.StatusUnauthorized || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status != http.StatusUnauthorized || !strings.Contains(env.Status.UserMessage, "revoked") {
		t.Errorf("access token of a revoked service token: %d %q, want 401 revoked", status, env.Status.UserMessage)
	}
	if status, out := exchange(e.fx.Svc, ""); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("exchange of a revoked token: %d %v, want invalid_grant", status, out)
	}
}

// Tokens that are not what latchkey signed, or not for it, or not now, are refused.
func TestAccessTokenForgeries(t *testing.T) {
	e := newRegEnv(t)
	kr := e.srv.cfg.Keyring
	keys := kr.Published()
	priv, err := accesstoken.OpenKey([]byte("golden secret key"), keys[len(keys)-1])
	if err != nil {
		t.Fatal(err)
	}
	kid := keys[len(keys)-1].KID
	uid := e.fx.Svc[len("lksvc_") : len("lksvc_")+8]
	now := time.Now()
	claims := func() *accesstoken.Claims {
		return &accesstoken.Claims{Claims: jwt.Claims{Issuer: goldenIssuer, Audience: jwt.Audience{goldenIssuer}, Subject: "service_token:x",
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute)), ID: accesstoken.NewID()},
			ClientID: uid, AccountID: e.fx.Account, TokenID: e.fx.SvcID}
	}
	sign := func(key any, alg jose.SignatureAlgorithm, kid string, c *accesstoken.Claims) string {
		t.Helper()
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType(accesstoken.Type).WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign(priv, jose.EdDSA, kid, claims())
	if status, env := e.api(t, good, http.MethodGet, "/api/v3/whoami/", nil); status != http.StatusOK {
		t.Fatalf("a well-made token signed with the key: %d %s", status, env.Status.UserMessage)
	}
	with := func(f func(c *accesstoken.Claims)) string {
		c := claims()
		f(c)
		return sign(priv, jose.EdDSA, kid, c)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	b64 := base64.RawURLEncoding.EncodeToString
	parts := strings.Split(good, ".")
	var payload map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(raw, &payload)
	payload["acct"] = e.fx.Other
	tampered, _ := json.Marshal(payload)
	pub := keys[len(keys)-1].PublicKey
	// respell changes the spare bits of the signature's last character: the same bytes, spelt
	// differently.
	respell := func(tok string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		last := strings.IndexByte(alphabet, tok[len(tok)-1])
		return tok[:len(tok)-1] + string(alphabet[last^1])
	}
	for _, c := range []struct{ name, token, reason string }{
		{"wrong audience", with(func(c *accesstoken.Claims) { c.Audience = jwt.Audience{"https://elsewhere.example"} }), "invalid"},
		{"wrong issuer", with(func(c *accesstoken.Claims) { c.Issuer = "https://evil.example" }), "invalid"},
		{"expired", with(func(c *accesstoken.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-2 * time.Minute)) }), "expired"},
		{"nbf in the future", with(func(c *accesstoken.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(5 * time.Minute)) }), "invalid"},
		{"issued in the future", with(func(c *accesstoken.Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(5 * time.Minute)) }), "invalid"},
		{"no expiry", with(func(c *accesstoken.Claims) { c.Expiry = nil }), "malformed"},
		{"alg none", b64([]byte(`{"alg":"none","kid":"`+kid+`","typ":"at+jwt"}`)) + "." + parts[1] + ".", "malformed"},
		{"HS256 with the public key", sign(pub, jose.HS256, kid, claims()), "malformed"},
		{"another key under the kid", sign(other, jose.EdDSA, kid, claims()), "invalid"},
		{"unknown kid", sign(other, jose.EdDSA, "not-a-kid", claims()), "invalid"},
		{"tampered payload", parts[0] + "." + b64(tampered) + "." + parts[2], "invalid"},
		{"wrong typ", func() string {
			s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
			tok, _ := jwt.Signed(s).Claims(claims()).Serialize()
			return tok
		}(), "malformed"},
		{"client_id of another token", with(func(c *accesstoken.Claims) { c.ClientID = "AAAAAAAA" }), "revoked"},
		{"another account", with(func(c *accesstoken.Claims) { c.AccountID = e.fx.Other }), "revoked"},
		{"a grant not held", with(func(c *accesstoken.Claims) { c.Grants = []string{"account_admin"} }), ""},
		{"a bad grant", with(func(c *accesstoken.Claims) { c.Grants = []string{"job_admin:zz"} }), "malformed"},
		{"another spelling of the signature", respell(good), "malformed"},
	} {
		if c.reason == "" {
			// Accepted, but the grant it does not hold is dropped: no account admin rights.
			status, env := e.api(t, c.token, http.MethodGet, e.path("/users/"), nil)
			if status != http.StatusForbidden {
				t.Errorf("%s: listing users %d %s, want 403", c.name, status, env.Status.UserMessage)
			}
			continue
		}
		status, env := e.api(t, c.token, http.MethodGet, "/api/v3/whoami/", nil)
		if status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", c.name, status, env.Status.UserMessage)
		}
		if _, reason := e.forward(t, c.token, jobsOn(e.fx.Project)); reason != c.reason {
			t.Errorf("%s: forward-auth reason %q, want %q", c.name, reason, c.reason)
		}
	}
	// Within the clock skew an expired token still passes (±60 s).
	skewed := with(func(c *accesstoken.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-20 * time.Second)) })
	if status, env := e.api(t, skewed, http.MethodGet, "/api/v3/whoami/", nil); status != http.StatusOK {
		t.Errorf("expired 20 s ago (within the skew): %d %s", status, env.Status.UserMessage)
	}
}

// FuzzOAuthScope: any scope is refused with invalid_scope or read as grants the subject holds
// all of, at most MaxGrants, written back in canonical form.
func FuzzOAuthScope(f *testing.F) {
	subject := (&latchkey.Principal{Kind: latchkey.PrincipalServiceToken, AccountID: 1, TokenID: 2,
		Permissions: catalog.Compile("", []latchkey.Grant{{PermissionSet: "job_admin", ProjectID: 3}, {PermissionSet: "metadata_only", AllProjects: true}})}).Seal()
	for _, s := range []string{"", "job_admin:3", "job_viewer:3 metadata_only", "account_admin", "job_admin", "job_admin:x", "  job_viewer:3\tjob_viewer:3 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, scope string) {
		grants, out, err := oauthScope(subject, scope)
		if err != nil {
			var oe *oauthError
			if !errors.As(err, &oe) || oe.Code != "invalid_scope" {
				t.Fatalf("%q: %v, want invalid_scope", scope, err)
			}
			return
		}
		if len(grants) > accesstoken.MaxGrants || len(verify.Narrow(subject, grants)) != len(grants) {
			t.Fatalf("%q: grants %+v beyond the subject", scope, grants)
		}
		if again, out2, err := oauthScope(subject, out); err != nil || out2 != out || len(again) != len(grants) {
			t.Fatalf("%q: its answer %q reads back as %q, %v", scope, out, out2, err)
		}
	})
}

// Envoy's gRPC ext_authz and RFC 7662 introspection accept access tokens with the rules and
// answers they give opaque tokens: narrowed permissions, and nothing once the parent is revoked.
func TestAccessTokensAtExtAuthzAndIntrospection(t *testing.T) {
	e := newExtAuthzEnv(t)
	narrow := e.accessToken(t, "job_viewer:"+strconv.FormatInt(e.fx.Project, 10))
	if r := e.check(t, checkAsk{path: e.jobs(e.fx.Project), token: narrow}); !r.ok {
		t.Errorf("ext_authz, jobs of the granted project: %+v", r)
	}
	if r := e.check(t, checkAsk{path: e.jobs(e.fx.Project2), token: narrow}); r.ok || r.status != http.StatusForbidden {
		t.Errorf("ext_authz, another project: %+v, want 403", r)
	}
	introspect := func(tok string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.http.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Token "+e.fx.AdminPAT)
		resp := e.send(t, req)
		var out map[string]any
		if err := json.Unmarshal(resp.body, &out); err != nil {
			t.Fatalf("introspection: %d %s", resp.status, resp.body)
		}
		return out
	}
	out := introspect(narrow)
	exp, _ := out["exp"].(float64)
	if out["active"] != true || out["token_type"] != "access_token" || out["scope"] != "job_viewer:"+strconv.FormatInt(e.fx.Project, 10) ||
		out["client_id"] != e.fx.Svc[len("lksvc_"):len("lksvc_")+8] || time.Until(time.Unix(int64(exp), 0)) > 16*time.Minute {
		t.Errorf("introspection of an access token: %v", out)
	}
	status, env := e.api(t, e.fx.AdminPAT, http.MethodDelete, e.path("/service-tokens/%d/", e.fx.SvcID), nil)
	wantStatus(t, "revoke the parent", status, env, http.StatusOK)
	deadline := time.Now().Add(10 * time.Second)
	for introspect(narrow)["active"] == true && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if out := introspect(narrow); out["active"] != false {
		t.Errorf("introspection after the parent was revoked: %v", out)
	}
	if r := e.check(t, checkAsk{path: e.jobs(e.fx.Project), token: narrow}); r.ok || r.status != http.StatusUnauthorized {
		t.Errorf("ext_authz after the parent was revoked: %+v, want 401", r)
	}
}

// FuzzOAuthForm: any body is answered without panicking, with 200 and a token or an RFC 6749
// error object, never an echo of a token sent.
func FuzzOAuthForm(f *testing.F) {
	e := newGoldenEnv(f, newGoldenTemplate(f))
	f.Add("grant_type=client_credentials&client_id=x&client_secret=y")
	f.Add("grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=eyJ.a.b&subject_token_type=urn:ietf:params:oauth:token-type:jwt")
	f.Add("grant_type=client_credentials&grant_type=client_credentials")
	f.Add("%zz=1&scope=a%20b")
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = "127.0.0.1:1234"
		e.srv.ServeHTTP(rec, req)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%q: %d, body is not JSON: %s", body, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK {
			if _, ok := out["access_token"].(string); !ok {
				t.Fatalf("%q: 200 without an access token: %v", body, out)
			}
			return
		}
		if code, _ := out["error"].(string); code == "" {
			t.Fatalf("%q: %d without an error code: %v", body, rec.Code, out)
		}
		if len(body) > 40 && strings.Contains(rec.Body.String(), body) {
			t.Fatalf("%q: the answer echoes the body", body)
		}
	})
}
