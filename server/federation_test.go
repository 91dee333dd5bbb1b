package server

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/apitype"
)

// oidcIssuer is an OpenID Connect issuer served over loopback: discovery, a key set, and
// tokens with GitHub Actions' claims.
type oidcIssuer struct {
	url string
	key *rsa.PrivateKey
	kid string
}

func newOIDCIssuer(t *testing.T) *oidcIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss := &oidcIssuer{key: key, kid: "gh-key-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": iss.url, "jwks_uri": iss.url + "/.well-known/jwks",
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /.well-known/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: iss.kid, Algorithm: "RS256", Use: "sig"}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.url = srv.URL
	return iss
}

// githubClaims is the claim set of a GitHub Actions OIDC token for a push to ref.
func (iss *oidcIssuer) githubClaims(aud, repo, ref string) map[string]any {
	now := time.Now()
	return map[string]any{
		"jti": "3f1b2f0e-0000-4000-8000-000000000001", "sub": "repo:" + repo + ":ref:" + ref, "aud": aud,
		"ref": ref, "sha": "d6a1e5c8a8f2b0c34a7a4b3f0d1b9b2b1c4e5f60", "repository": repo, "repository_owner": strings.Split(repo, "/")[0],
		"repository_owner_id": "1342004", "run_id": "6728914311", "run_number": "42", "run_attempt": "1",
		"repository_visibility": "private", "repository_id": "700000001", "actor_id": "583231", "actor": "octocat",
		"workflow": "deploy", "head_ref": "", "base_ref": "", "event_name": "push", "ref_type": "branch", "ref_protected": "true",
		"workflow_ref": repo + "/.github/workflows/deploy.yml@" + ref, "workflow_sha": "d6a1e5c8a8f2b0c34a7a4b3f0d1b9b2b1c4e5f60",
		"job_workflow_ref": repo + "/.github/workflows/deploy.yml@" + ref, "job_workflow_sha": "d6a1e5c8a8f2b0c34a7a4b3f0d1b9b2b1c4e5f60",
		"runner_environment": "github-hosted", "iss": iss.url,
		"nbf": now.Add(-5 * time.Second).Unix(), "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
	}
}

func (iss *oidcIssuer) sign(t *testing.T, claims map[string]any, alg jose.SignatureAlgorithm, key any, kid string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A GitHub Actions job exchanges its OIDC token for an access token of the service token a
// trust policy names, narrowed to the policy's grants, with no stored secret; every other
// token is refused with invalid_grant; deleting the policy stops exchanges and its tokens.
func TestWorkloadIdentityFederation(t *testing.T) {
	e := newRegEnv(t)
	iss := newOIDCIssuer(t)
	project := strconv.FormatInt(e.fx.Project, 10)
	policy := map[string]any{"name": "etl deploys", "issuer": iss.url, "audience": goldenIssuer,
		"conditions":       []map[string]string{{"claim": "repository", "equals": "acme/etl"}, {"claim": "ref", "like": "refs/heads/*"}},
		"service_token_id": e.fx.SvcID, "grants": []string{"job_viewer:" + project}}

	// Managing policies: security rights, valid input.
	status, env := e.api(t, e.fx.ReaderPAT, http.MethodPost, e.path("/trust-policies/"), policy)
	wantStatus(t, "a reader creating a policy", status, env, http.StatusForbidden)
	for _, c := range []struct {
		name  string
		field string
		mod   func(m map[string]any)
	}{
		{"http issuer", "issuer", func(m map[string]any) { m["issuer"] = "http://token.actions.githubusercontent.com" }},
		{"no conditions", "conditions", func(m map[string]any) { m["conditions"] = []any{} }},
		{"a condition with both", "conditions[0]", func(m map[string]any) {
			m["conditions"] = []map[string]string{{"claim": "repository", "equals": "a", "like": "b*"}}
		}},
		{"a bad glob", "conditions[0].like", func(m map[string]any) { m["conditions"] = []map[string]string{{"claim": "ref", "like": "refs/["}} }},
		{"no audience", "audience", func(m map[string]any) { m["audience"] = "" }},
		{"unknown token", "service_token_id", func(m map[string]any) { m["service_token_id"] = 999999 }},
		{"bad grant", "grants", func(m map[string]any) { m["grants"] = []string{"root"} }},
	} {
		m := map[string]any{}
		for k, v := range policy {
			m[k] = v
		}
		c.mod(m)
		status, env := e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/trust-policies/"), m)
		var data struct{ Field string }
		json.Unmarshal(env.Data, &data)
		if status != http.StatusBadRequest || data.Field != c.field {
			t.Errorf("%s: %d field %q (%s), want 400 naming %s", c.name, status, data.Field, env.Status.UserMessage, c.field)
		}
	}
	status, env = e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/trust-policies/"), policy)
	wantStatus(t, "create a policy", status, env, http.StatusCreated)
	var tp apitype.TrustPolicy
	if err := json.Unmarshal(env.Data, &tp); err != nil || tp.ServiceTokenID != e.fx.SvcID || len(tp.Conditions) != 2 {
		t.Fatalf("created policy %+v, %v", tp, err)
	}

	exchange := func(subject string, extra url.Values) (int, map[string]any) {
		f := url.Values{"grant_type": {grantTokenExchange}, "subject_token": {subject}, "subject_token_type": {tokenTypeJWT}}
		for k, v := range extra {
			f[k] = v
		}
		return e.oauth(t, f, nil)
	}
	good := iss.sign(t, iss.githubClaims(goldenIssuer, "acme/etl", "refs/heads/main"), jose.RS256, iss.key, iss.kid)
	status, out := exchange(good, nil)
	if status != http.StatusOK || out["scope"] != "job_viewer:"+project {
		t.Fatalf("exchange of a GitHub Actions token: %d %v", status, out)
	}
	at := out["access_token"].(string)
	if status, reason := e.forward(t, at, jobsOn(e.fx.Project)); status != http.StatusOK {
		t.Errorf("federated token reading jobs: %d %s", status, reason)
	}
	if status, _ := e.forward(t, at, runsOn(e.fx.Project)); status != http.StatusForbidden {
		t.Errorf("federated token running jobs (the policy grants job_viewer only): %d", status)
	}

	// Refusals.
	claims := func(mod func(m map[string]any)) map[string]any {
		m := iss.githubClaims(goldenIssuer, "acme/etl", "refs/heads/main")
		mod(m)
		return m
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(&iss.key.PublicKey)
	parts := strings.Split(good, ".")
	tampered := claims(func(m map[string]any) { m["repository"] = "acme/etl"; m["ref"] = "refs/heads/evil" })
	tb, _ := json.Marshal(tampered)
	b64 := base64.RawURLEncoding.EncodeToString
	for _, c := range []struct{ name, token string }{
		{"a condition not met (a tag)", iss.sign(t, claims(func(m map[string]any) { m["ref"] = "refs/tags/v1" }), jose.RS256, iss.key, iss.kid)},
		{"another repository", iss.sign(t, claims(func(m map[string]any) { m["repository"] = "acme/etl-fork" }), jose.RS256, iss.key, iss.kid)},
		{"wrong audience", iss.sign(t, claims(func(m map[string]any) { m["aud"] = "sts.amazonaws.com" }), jose.RS256, iss.key, iss.kid)},
		{"an issuer no policy names", iss.sign(t, claims(func(m map[string]any) { m["iss"] = "https://gitlab.example" }), jose.RS256, iss.key, iss.kid)},
		{"expired", iss.sign(t, claims(func(m map[string]any) { m["exp"] = time.Now().Add(-2 * time.Minute).Unix() }), jose.RS256, iss.key, iss.kid)},
		{"nbf in the future", iss.sign(t, claims(func(m map[string]any) { m["nbf"] = time.Now().Add(5 * time.Minute).Unix() }), jose.RS256, iss.key, iss.kid)},
		{"no expiry", iss.sign(t, claims(func(m map[string]any) { delete(m, "exp") }), jose.RS256, iss.key, iss.kid)},
		{"alg none", b64([]byte(`{"alg":"none","kid":"gh-key-1","typ":"JWT"}`)) + "." + parts[1] + "."},
		{"HS256 with the public key", iss.sign(t, claims(func(map[string]any) {}), jose.HS256, pubDER, iss.kid)},
		{"unknown kid", iss.sign(t, claims(func(map[string]any) {}), jose.RS256, other, "not-published")},
		{"another key under the kid", iss.sign(t, claims(func(map[string]any) {}), jose.RS256, other, iss.kid)},
		{"tampered payload", parts[0] + "." + b64(tb) + "." + parts[2]},
		{"not a JWT", "lksvc_not-a-jwt"},
	} {
		status, out := exchange(c.token, nil)
		if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Errorf("%s: %d %v, want invalid_grant", c.name, status, out)
		}
	}
	// Within the clock skew the token still passes.
	skewed := iss.sign(t, claims(func(m map[string]any) { m["exp"] = time.Now().Add(-20 * time.Second).Unix() }), jose.RS256, iss.key, iss.kid)
	if status, out := exchange(skewed, nil); status != http.StatusOK {
		t.Errorf("expired 20 s ago (within the skew): %d %v", status, out)
	}

	// Two policies accept the token: client_id chooses.
	second := map[string]any{}
	for k, v := range policy {
		second[k] = v
	}
	second["name"], second["grants"] = "etl readers", []string{"metadata_only"}
	status, env = e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/trust-policies/"), second)
	wantStatus(t, "a second policy", status, env, http.StatusCreated)
	var tp2 apitype.TrustPolicy
	json.Unmarshal(env.Data, &tp2)
	if status, out := exchange(good, nil); status != http.StatusBadRequest || !strings.Contains(out["error_description"].(string), "client_id") {
		t.Errorf("two policies, no client_id: %d %v", status, out)
	}
	if status, out := exchange(good, url.Values{"client_id": {strconv.FormatInt(tp2.ID, 10)}}); status != http.StatusOK || out["scope"] != "metadata_only" {
		t.Errorf("client_id choosing the second policy: %d %v", status, out)
	}

	// Deleting the first policy: no new exchange under it, and its token is refused.
	status, env = e.api(t, e.fx.AdminPAT, http.MethodDelete, e.path("/trust-policies/%d/", tp.ID), nil)
	wantStatus(t, "delete the policy", status, env, http.StatusOK)
	if status, out := exchange(good, url.Values{"client_id": {strconv.FormatInt(tp.ID, 10)}}); status != http.StatusBadRequest {
		t.Errorf("exchange under a deleted policy: %d %v", status, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	var reason string
	for {
		if status, reason = e.forward(t, at, jobsOn(e.fx.Project)); status == http.StatusUnauthorized || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status != http.StatusUnauthorized || reason != "revoked" {
		t.Errorf("token of a deleted policy: %d %s, want 401 revoked", status, reason)
	}
	// The audit log has the policy's life.
	status, env = e.api(t, e.fx.AdminPAT, http.MethodGet, e.path("/audit-logs/?event_type=trust_policy.deleted"), nil)
	if status != http.StatusOK || !strings.Contains(string(env.Data), "trust_policy.deleted") {
		t.Errorf("audit log of the deletion: %d %.300s", status, env.Data)
	}
}

// The federation client connects to public addresses only (a trust policy must not make
// latchkey fetch from the operator's network), and an issuer on a loopback host to loopback
// only; a discovery document pointing from a loopback issuer to another host is refused.
func TestIssuerAddressRules(t *testing.T) {
	public, loopback := issuerDialControl(false), issuerDialControl(true)
	for _, c := range []struct {
		addr             string
		public, loopback bool
	}{
		{"8.8.8.8:443", true, false},
		{"[2001:4860:4860::8888]:443", true, false},
		{"127.0.0.1:443", false, true},
		{"[::1]:443", false, true},
		{"10.0.0.5:443", false, false},
		{"192.168.1.1:443", false, false},
		{"169.254.169.254:80", false, false},
		{"100.64.1.1:443", false, false},
		{"[fe80::1]:443", false, false},
		{"[fd00::1]:443", false, false},
		{"0.0.0.0:443", false, false},
		{"[::ffff:10.0.0.5]:443", false, false},
	} {
		if got := public("tcp", c.addr, nil) == nil; got != c.public {
			t.Errorf("%s for an internet issuer: allowed %v, want %v", c.addr, got, c.public)
		}
		if got := loopback("tcp", c.addr, nil) == nil; got != c.loopback {
			t.Errorf("%s for a loopback issuer: allowed %v, want %v", c.addr, got, c.loopback)
		}
	}
	// A loopback issuer whose discovery names a key set elsewhere.
	mux := http.NewServeMux()
	var srvURL string
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": srvURL, "jwks_uri": "https://10.0.0.5/jwks"})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	srvURL = srv.URL
	if _, err := newFederation().keysOf(t.Context(), srv.URL); err == nil {
		t.Error("a loopback issuer's key set on another host was accepted")
	}
}
