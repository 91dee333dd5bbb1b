package server

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

// Gateway trust: what a client controls decides nothing.

// forwardEnv is a golden server with forward-auth rules for gateway (the golden rules' routes)
// and the golden fixture's tokens.
func forwardEnv(t *testing.T, gateway string, trusted ...string) *regEnv {
	t.Helper()
	e := newRegEnv(t)
	text := strings.TrimPrefix(goldenForwardRules, "\ngateway: nginx")
	if gateway == "generic" {
		// No gateway guarantees a header: the environment is the rule's own.
		text = strings.ReplaceAll(text, "environment_header: X-Environment-Category", "environment: production")
	}
	rules, err := ParseForwardRules([]byte("gateway: " + gateway + "\n" + text))
	if err != nil {
		t.Fatal(err)
	}
	e.srv.cfg.ForwardAuth = rules
	for _, c := range trusted {
		e.srv.cfg.TrustedProxies = append(e.srv.cfg.TrustedProxies, netip.MustParsePrefix(c))
	}
	return e
}

func (e *regEnv) forward(t *testing.T, token string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.http.URL+ForwardAuthPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp := e.send(t, req)
	return resp.status, resp.header.Get("X-Latchkey-Reason")
}

// Behind Traefik, X-Original-* were preferred over the X-Forwarded-* Traefik sets: a client could
// make latchkey check a request it was not sending.
func TestForwardAuthReadsOnlyTheGatewaysHeaders(t *testing.T) {
	// The token holds job_admin on Analytics only: jobs on Marketing are not its.
	analytics := func(e *regEnv) string { return "/api/projects/" + strconv.FormatInt(e.fx.Project, 10) + "/jobs/5" }
	marketing := func(e *regEnv) string { return "/api/projects/" + strconv.FormatInt(e.fx.Project2, 10) + "/jobs/5" }

	t.Run("traefik", func(t *testing.T) {
		e := forwardEnv(t, "traefik")
		status, reason := e.forward(t, e.fx.Svc, map[string]string{
			"X-Forwarded-Method": "GET", "X-Forwarded-Uri": marketing(e), // what Traefik says
			"X-Original-Method": "GET", "X-Original-Uri": analytics(e), // what the client adds
		})
		if status != http.StatusForbidden || reason != "forbidden" {
			t.Errorf("forged X-Original-* behind Traefik: %d %s, want 403 forbidden", status, reason)
		}
		status, _ = e.forward(t, e.fx.Svc, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": analytics(e)})
		if status != http.StatusOK {
			t.Errorf("Traefik's own headers for an allowed request: %d, want 200", status)
		}
	})
	t.Run("nginx", func(t *testing.T) {
		e := forwardEnv(t, "nginx")
		status, _ := e.forward(t, e.fx.Svc, map[string]string{
			"X-Original-Method": "GET", "X-Original-Uri": marketing(e),
			"X-Forwarded-Method": "GET", "X-Forwarded-Uri": analytics(e),
		})
		if status != http.StatusForbidden {
			t.Errorf("forged X-Forwarded-* behind nginx: %d, want 403", status)
		}
		status, reason := e.forward(t, e.fx.Svc, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": analytics(e)})
		if status != http.StatusBadRequest || reason != "missing_headers" {
			t.Errorf("nginx profile without X-Original-*: %d %s, want 400 missing_headers", status, reason)
		}
	})
	t.Run("generic", func(t *testing.T) {
		e := forwardEnv(t, "generic")
		status, reason := e.forward(t, e.fx.Svc, map[string]string{
			"X-Forwarded-Method": "GET", "X-Forwarded-Uri": marketing(e),
			"X-Original-Method": "GET", "X-Original-Uri": analytics(e),
		})
		if status != http.StatusBadRequest || reason != "conflicting_headers" {
			t.Errorf("two conventions that disagree: %d %s, want 400 conflicting_headers", status, reason)
		}
		status, _ = e.forward(t, e.fx.Svc, map[string]string{"X-Original-Method": "GET", "X-Original-Uri": analytics(e),
			"X-Forwarded-Uri": analytics(e)})
		if status != http.StatusOK {
			t.Errorf("two conventions that agree: %d, want 200", status)
		}
	})
	t.Run("envoy", func(t *testing.T) {
		e := forwardEnv(t, "envoy")
		req, _ := http.NewRequest(http.MethodGet, e.http.URL+ForwardAuthPath+analytics(e)+"?x=1", nil)
		req.Header.Set("Authorization", "Token "+e.fx.Svc)
		req.Header.Set("X-Original-Uri", marketing(e)) // ignored: Envoy sends the path itself
		if resp := e.send(t, req); resp.status != http.StatusOK {
			t.Errorf("Envoy path_prefix request: %d, want 200", resp.status)
		}
		req, _ = http.NewRequest(http.MethodGet, e.http.URL+ForwardAuthPath+marketing(e), nil)
		req.Header.Set("Authorization", "Token "+e.fx.Svc)
		req.Header.Set("X-Original-Uri", analytics(e))
		if resp := e.send(t, req); resp.status != http.StatusForbidden {
			t.Errorf("Envoy path_prefix request for a project the token lacks: %d, want 403", resp.status)
		}
	})
	t.Run("a header sent twice", func(t *testing.T) {
		e := forwardEnv(t, "nginx")
		req, _ := http.NewRequest(http.MethodGet, e.http.URL+ForwardAuthPath, nil)
		req.Header.Set("Authorization", "Token "+e.fx.Svc)
		req.Header.Set("X-Original-Method", "GET")
		req.Header.Add("X-Original-Uri", marketing(e))
		req.Header.Add("X-Original-Uri", analytics(e))
		resp := e.send(t, req)
		if resp.status != http.StatusBadRequest || resp.header.Get("X-Latchkey-Reason") != "ambiguous_headers" {
			t.Errorf("X-Original-Uri twice: %d %s, want 400 ambiguous_headers", resp.status, resp.header.Get("X-Latchkey-Reason"))
		}
	})
}

// The example rules read environment_header from a header the nginx recipe passed through from
// the client: a client chose its own environment.
func TestEnvironmentHeaderNeedsAGatewayProfile(t *testing.T) {
	rules := "rules:\n  - methods: [POST]\n    path: /api/projects/{project_id}/runs\n    resource: runs\n    access: write\n    environment_header: X-Environment-Category\n"
	for _, gw := range []string{"", "gateway: generic\n"} {
		if _, err := ParseForwardRules([]byte(gw + rules)); err == nil || !strings.Contains(err.Error(), "environment_header needs a gateway profile") {
			t.Errorf("environment_header with %q: %v, want a refusal", gw, err)
		}
	}
	if _, err := ParseForwardRules([]byte("gateway: nginx\n" + rules)); err != nil {
		t.Errorf("environment_header with the nginx profile: %v", err)
	}
	fixed, err := ParseForwardRules([]byte("rules:\n  - methods: [POST]\n    path: /api/projects/{project_id}/runs\n    resource: runs\n    access: write\n    environment: production\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r, _, ok := fixed.match("POST", "/api/projects/1/runs"); !ok || r.env != latchkey.EnvProduction {
		t.Errorf("environment: production = %+v, want a rule fixed to production", r)
	}
}

// A malformed X-Forwarded-For from a trusted proxy fell back to the proxy's own address.
func TestForwardedForIsParsedStrictly(t *testing.T) {
	s := &Server{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}}}
	peer := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name        string
		xff, fwd    []string
		want        string
		bad         bool
		fromUntrust bool
	}{
		{name: "plain", xff: []string{"127.0.0.2"}, want: "127.0.0.2"},
		{name: "with a port", xff: []string{"127.0.0.2:5555"}, want: "127.0.0.2"},
		{name: "IPv6 bare", xff: []string{"2001:db8::1"}, want: "2001:db8::1"},
		{name: "IPv6 bracketed", xff: []string{"[2001:db8::1]"}, want: "2001:db8::1"},
		{name: "IPv6 bracketed with a port", xff: []string{"[2001:db8::1]:443"}, want: "2001:db8::1"},
		{name: "right-most untrusted", xff: []string{"198.51.100.7, 203.0.113.9, 10.1.2.3"}, want: "203.0.113.9"},
		{name: "several headers", xff: []string{"198.51.100.7", "203.0.113.9, 10.0.0.1"}, want: "203.0.113.9"},
		{name: "all trusted", xff: []string{"10.0.0.2, 10.0.0.1"}, want: "10.0.0.2"},
		{name: "none", want: "127.0.0.1"},
		{name: "IPv4 in brackets", xff: []string{"[127.0.0.2]"}, bad: true},
		{name: "unknown", xff: []string{"unknown"}, bad: true},
		{name: "trailing comma", xff: []string{"127.0.0.2, "}, bad: true},
		{name: "empty", xff: []string{""}, bad: true},
		{name: "garbage", xff: []string{"not-an-address"}, bad: true},
		{name: "bad port", xff: []string{"127.0.0.2:99999"}, bad: true},
		{name: "zone", xff: []string{"fe80::1%eth0"}, bad: true},
		{name: "Forwarded", fwd: []string{`for=192.0.2.60;proto=http;by=203.0.113.43`}, want: "192.0.2.60"},
		{name: "Forwarded IPv6 quoted", fwd: []string{`for="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::17"},
		{name: "Forwarded chain", fwd: []string{`for=192.0.2.43, for=10.0.0.5`}, want: "192.0.2.43"},
		{name: "Forwarded obfuscated", fwd: []string{`for=_hidden`}, bad: true},
		{name: "Forwarded unknown", fwd: []string{`for=unknown`}, bad: true},
		{name: "Forwarded without for", fwd: []string{`proto=https`}, bad: true},
		{name: "both agree", xff: []string{"192.0.2.1"}, fwd: []string{"for=192.0.2.1"}, want: "192.0.2.1"},
		{name: "both disagree", xff: []string{"192.0.2.1"}, fwd: []string{"for=192.0.2.99"}, bad: true},
		{name: "untrusted peer's header is ignored", xff: []string{"unknown"}, want: "198.51.100.1", fromUntrust: true},
	}
	for _, tt := range tests {
		r := &http.Request{Header: http.Header{}}
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		for _, v := range tt.fwd {
			r.Header.Add("Forwarded", v)
		}
		from := peer
		if tt.fromUntrust {
			from = netip.MustParseAddr("198.51.100.1")
		}
		got, err := s.clientIPFrom(r, from)
		switch {
		case tt.bad && (err == nil || latchkey.ErrorCodeOf(err) != latchkey.EInvalid):
			t.Errorf("%s: clientIPFrom = %v, %v; want a 400", tt.name, got, err)
		case !tt.bad && (err != nil || got.String() != tt.want):
			t.Errorf("%s: clientIPFrom = %v, %v; want %s", tt.name, got, err, tt.want)
		}
	}
}

// Over HTTP: with 127.0.0.1 trusted and 127.0.0.2 denied, every spelling of 127.0.0.2 is denied
// or refused; none is served as the proxy.
func TestMalformedForwardedForIsRefused(t *testing.T) {
	e := forwardEnv(t, "nginx", "127.0.0.1/32")
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test", Source: "system"})
	allowLoopback(t, e.goldenEnv) // the fixture also allows 10.0.0.0/8: everything else would be denied
	if err := e.store.CreateIPRule(ctx, &latchkey.IPRule{AccountID: e.fx.Account, Name: "deny", Type: latchkey.IPRuleDeny, CIDRs: latchkey.Ranges("127.0.0.2/32")}); err != nil {
		t.Fatal(err)
	}
	a, err := e.store.FindAccountByID(ctx, e.fx.Account)
	if err != nil {
		t.Fatal(err)
	}
	set := a.Settings
	set.IPRestrictionsEnabled = true
	if _, err := e.store.UpdateAccount(ctx, a.ID, latchkey.AccountUpdate{Settings: &set}); err != nil {
		t.Fatal(err)
	}
	uri := "/api/projects/" + strconv.FormatInt(e.fx.Project, 10) + "/jobs/5"
	// Controls: another client through the proxy is allowed; 127.0.0.2 itself is denied.
	if status, reason := e.forward(t, e.fx.Svc, map[string]string{"X-Original-Method": "GET", "X-Original-Uri": uri, "X-Forwarded-For": "127.0.0.3"}); status != http.StatusOK {
		t.Fatalf("forward-auth for 127.0.0.3 through the trusted proxy: %d %s, want 200", status, reason)
	}
	if status, reason := e.forward(t, e.fx.Svc, map[string]string{"X-Original-Method": "GET", "X-Original-Uri": uri, "X-Forwarded-For": "127.0.0.2"}); status != http.StatusForbidden {
		t.Fatalf("forward-auth for 127.0.0.2 through the trusted proxy: %d %s, want 403", status, reason)
	}
	for _, xff := range []string{"127.0.0.2", "127.0.0.2:5555", "[127.0.0.2]", "unknown", "127.0.0.2, "} {
		status, reason := e.forward(t, e.fx.Svc, map[string]string{"X-Original-Method": "GET", "X-Original-Uri": uri, "X-Forwarded-For": xff})
		if status == http.StatusOK {
			t.Errorf("forward-auth with X-Forwarded-For %q: 200 (%s), want it denied or refused", xff, reason)
		}
		req, _ := http.NewRequest(http.MethodGet, e.http.URL+e.path("/projects/"), nil)
		req.Header.Set("Authorization", "Token "+e.fx.AdminPAT)
		req.Header.Set("X-Forwarded-For", xff)
		if resp := e.send(t, req); resp.status == http.StatusOK {
			t.Errorf("API with X-Forwarded-For %q: 200, want it denied or refused", xff)
		}
	}
}

func FuzzParseForwardedAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:443", "::1", "unknown", "", "[127.0.0.1]", "[::1", "1.2.3.4:", "_x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseForwardedAddr(s)
		if err != nil {
			return
		}
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("ParseForwardedAddr(%q) = %v", s, a)
		}
		// What it accepted, written back in a proxy's form, reads the same.
		form := a.String()
		if a.Is6() {
			form = "[" + form + "]:1"
		}
		if b, err := ParseForwardedAddr(form); err != nil || b != a {
			t.Fatalf("ParseForwardedAddr(%q) = %v, but %q reads back as %v, %v", s, a, form, b, err)
		}
	})
}

// After a client presents dead tokens, every request from its address got 429, valid tokens
// included.
func TestFailureLimiterNeverRefusesAValidCredential(t *testing.T) {
	e := newRegEnv(t)
	e.srv.cfg.Governance.RateLimitDelay = 0
	gv := e.srv.gov()
	gv.tokenLimits = newLimiter(3, e.srv.cfg.Governance.AuthFailureRefill, 100)
	for range 10 {
		status, _ := e.api(t, e.fx.Unknown, http.MethodGet, "/api/v2/whoami/", nil)
		if status != http.StatusUnauthorized && status != http.StatusTooManyRequests {
			t.Fatalf("an unknown token: %d", status)
		}
	}
	status, env := e.api(t, e.fx.Unknown, http.MethodGet, "/api/v2/whoami/", nil)
	wantStatus(t, "an unknown token from an address that failed too often", status, env, http.StatusTooManyRequests)
	status, env = e.api(t, e.fx.AdminPAT, http.MethodGet, "/api/v2/whoami/", nil)
	wantStatus(t, "a valid token from the same address", status, env, http.StatusOK)
	status, reason := e.forward(t, e.fx.Svc, map[string]string{"X-Original-Method": "GET", "X-Original-Uri": "/api/projects/" + strconv.FormatInt(e.fx.Project, 10) + "/jobs/"})
	if status != http.StatusOK {
		t.Errorf("forward-auth with a valid token from the same address: %d %s, want 200", status, reason)
	}
}

// GET /static/%ff was an unauthenticated 500.
func TestStaticAnswers404ForWhatItCannotServe(t *testing.T) {
	e := newRegEnv(t)
	for _, p := range []string{"/static/%ff", "/static/%ff%fe.css", "/static/", "/static/nope.css", "/static/..%2fui.go"} {
		req, _ := http.NewRequest(http.MethodGet, e.http.URL+p, nil)
		if resp := e.send(t, req); resp.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.status)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/static/style.css", nil)
	if resp := e.send(t, req); resp.status != http.StatusOK {
		t.Errorf("GET /static/style.css: %d, want 200", resp.status)
	}
}

// The open redirect after sign-in: /login?next=%2F%09%2Fevil.example.
func TestSafeNext(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/settings/service-tokens", "/settings/service-tokens"},
		{"/settings/audit-log?event_type=x&page=2", "/settings/audit-log?event_type=x&page=2"},
		{"", "/"},
		{"//evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/\r/evil.example", "/"},
		{"/\t\\evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\t//evil.example", "/"},
		{" /settings", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"/%09/evil.example", "/%09/evil.example"}, // stays a path: browsers do not decode it
		{strings.Repeat("/a", 2000), "/"},
	} {
		if got := safeNext(tt.in); got != tt.want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A session-authenticated API write had to be JSON only when it had a body.
func TestSessionAPIWritesMustBeJSONWhateverTheirLength(t *testing.T) {
	e := newRegEnv(t)
	status, _ := e.uiPostAPI(t, e.fx.AdminUser, http.MethodDelete, e.path("/service-tokens/%d/", e.fx.SvcID))
	if status != http.StatusBadRequest {
		t.Errorf("a session DELETE without a JSON content type: %d, want 400", status)
	}
	if tok, _ := e.store.FindTokenByID(context.Background(), e.fx.SvcID); tok.State != latchkey.StateActive {
		t.Errorf("the token was deleted by a request that should have been refused")
	}
}

// uiPostAPI sends an API request with a session cookie and no body, as a cross-site form could.
func (e *regEnv) uiPostAPI(t *testing.T, userID int64, method, path string) (int, string) {
	t.Helper()
	return e.uiRequest(t, userID, method, path, nil)
}
