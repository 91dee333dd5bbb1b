package server

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sso/ssotest"
)

// TestSSOStartAndCallback checks the SSO sign-in's HTTP edges over a real OpenID Provider: the
// redirect carries PKCE S256, a nonce and a state bound to a sealed HttpOnly SameSite=Lax
// cookie; the callback refuses a missing or forged attempt, shows an IdP's error code cleaned
// of markup, and finishes an attempt at most once. (The whole flow, in Chromium, is in
// cmd/latchkey/ui_sso_test.go.)
func TestSSOStartAndCallback(t *testing.T) {
	env := newGoldenEnv(t, newGoldenTemplate(t))
	op := ssotest.Start(t, "https://latchkey.example/sso/callback")
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test", Source: "system"})
	if err := env.store.CreateSSOProvider(ctx, &latchkey.SSOProvider{AccountID: env.fx.Account, Type: latchkey.SSOProviderOIDC, Slug: "acme",
		AllowPasswordBackdoor: true, Issuer: op.Issuer, ClientID: op.ClientID, GroupsClaim: "groups"}); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, cookies ...*http.Cookie) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, env.http.URL+path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	if resp, body := get("/login/sso/nope"); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "Single sign-on is not set up") {
		t.Errorf("GET /login/sso/nope = %d, want 404 saying SSO is not set up", resp.StatusCode)
	}

	resp, _ := get("/login/sso/acme")
	to, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(to.String(), op.Issuer+"/") {
		t.Fatalf("GET /login/sso/acme = %d to %q, want 303 to the IdP", resp.StatusCode, resp.Header.Get("Location"))
	}
	q := to.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" ||
		q.Get("client_id") != op.ClientID || q.Get("redirect_uri") != "https://latchkey.example/sso/callback" || q.Get("response_type") != "code" {
		t.Errorf("authorization request = %v, want code flow with PKCE S256, nonce, state and the callback", q)
	}
	var attempt *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == ssoAttemptCookie {
			attempt = c
		}
	}
	if attempt == nil || !attempt.HttpOnly || attempt.SameSite != http.SameSiteLaxMode || attempt.MaxAge <= 0 || attempt.MaxAge > 600 ||
		strings.Contains(attempt.Value, q.Get("state")) || strings.Contains(attempt.Value, q.Get("nonce")) {
		t.Fatalf("attempt cookie = %+v, want a sealed HttpOnly SameSite=Lax cookie of at most 10 minutes", attempt)
	}

	state := q.Get("state")
	// The IdP answers with an error (markup in it is dropped).
	resp, body := get("/sso/callback?"+url.Values{"state": {state}, "error": {"access_denied<script>"}}.Encode(), attempt)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "did not sign you in (access_deniedscript)") || strings.Contains(body, "<script>") {
		t.Errorf("callback with error=access_denied = %d\n%s", resp.StatusCode, body)
	}
	// The same attempt again: finished already.
	if resp, body := get("/sso/callback?"+url.Values{"state": {state}, "code": {"x"}}.Encode(), attempt); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body, "already finished") {
		t.Errorf("callback of a finished attempt = %d, want 400 saying so", resp.StatusCode)
	}
	// No attempt, or a forged one.
	if resp, body := get("/sso/callback?code=x&state=" + state); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "expired") {
		t.Errorf("callback without an attempt = %d, want 400 saying it expired", resp.StatusCode)
	}
	forged := *attempt
	flip := byte('A')
	if forged.Value[20] == 'A' {
		flip = 'B'
	}
	forged.Value = forged.Value[:20] + string(flip) + forged.Value[21:]
	if resp, _ := get("/sso/callback?code=x&state="+state, &forged); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback with a forged attempt = %d, want 400", resp.StatusCode)
	}

	entries, _, err := env.store.FindAuditEntries(context.Background(), latchkey.AuditFilter{AccountID: env.fx.Account,
		EventType: ptr("user.sso_sign_in_failed"), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range entries {
		reasons = append(reasons, e.Context["reason"].(string))
	}
	if strings.Join(reasons, ",") != "attempt_reused,idp_error" {
		t.Errorf("audited failures (newest first) = %v, want attempt_reused, idp_error", reasons)
	}
}
