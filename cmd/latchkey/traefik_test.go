package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

// Traefik is not packaged for Debian, so its recipe (the YAML block of docs/gateways.md) is
// tested through a replay: routers chosen by rule and priority, the headers middleware, and
// forwardAuth sending exactly what Traefik's documentation says it sends to the auth server —
// the client's headers (only those named in authRequestHeaders when it is set) plus
// X-Forwarded-Method, X-Forwarded-Proto, X-Forwarded-Host, X-Forwarded-Uri and X-Forwarded-For,
// which it sets from the request itself unless trustForwardHeader is true — and on a 2xx copying
// the authResponseHeaders onto the request, replacing the client's copies.
// (https://doc.traefik.io/traefik/middlewares/http/forwardauth/,
// https://doc.traefik.io/traefik/middlewares/http/headers/)

// traefikConfig is the part of Traefik's dynamic configuration the recipe uses. Decoding is
// strict: an option the replay does not model fails the test instead of being ignored.
type traefikConfig struct {
	HTTP struct {
		Routers     map[string]traefikRouter     `yaml:"routers"`
		Middlewares map[string]traefikMiddleware `yaml:"middlewares"`
		Services    map[string]struct {
			LoadBalancer struct {
				Servers []struct {
					URL string `yaml:"url"`
				} `yaml:"servers"`
			} `yaml:"loadBalancer"`
		} `yaml:"services"`
	} `yaml:"http"`
}

type traefikRouter struct {
	Rule        string   `yaml:"rule"`
	Middlewares []string `yaml:"middlewares"`
	Service     string   `yaml:"service"`
	Priority    int      `yaml:"priority"`
}

type traefikMiddleware struct {
	ForwardAuth *traefikForwardAuth `yaml:"forwardAuth"`
	Headers     *struct {
		// CustomRequestHeaders are set on the request, replacing the client's; "" removes one.
		CustomRequestHeaders map[string]string `yaml:"customRequestHeaders"`
	} `yaml:"headers"`
}

type traefikForwardAuth struct {
	Address             string   `yaml:"address"`
	TrustForwardHeader  bool     `yaml:"trustForwardHeader"`
	AuthRequestHeaders  []string `yaml:"authRequestHeaders"`
	AuthResponseHeaders []string `yaml:"authResponseHeaders"`
}

// traefikRecipe reads the Traefik block of docs/gateways.md with latchkey and the upstream at
// the test's addresses.
func traefikRecipe(t *testing.T, latchkeyURL, upstreamURL string) traefikConfig {
	t.Helper()
	b, err := os.ReadFile("../../docs/gateways.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- traefik recipe: start -->")
	block, _, ok2 := strings.Cut(rest, "<!-- traefik recipe: end -->")
	if !ok || !ok2 {
		t.Fatal("docs/gateways.md has no traefik recipe block")
	}
	block = strings.TrimSpace(block)
	block = strings.TrimSuffix(strings.TrimPrefix(block, "```yaml"), "```")
	block = replaceAll(t, block,
		`address: "http://127.0.0.1:8420/v1/forward-auth"`, `address: "`+latchkeyURL+`/v1/forward-auth"`,
		`url: "http://127.0.0.1:9000"`, `url: "`+upstreamURL+`"`)
	var cfg traefikConfig
	dec := yaml.NewDecoder(strings.NewReader(block))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("the traefik recipe: %v", err)
	}
	return cfg
}

// traefikReplay serves as Traefik would with a configuration.
type traefikReplay struct {
	routers []traefikRoute
	cfg     traefikConfig

	mu sync.Mutex
	// authRequests are the requests forwardAuth sent, by the client's X-Test-Request.
	authRequests map[string]http.Header
}

type traefikRoute struct {
	name     string
	priority int
	match    func(path string) bool
	traefikRouter
}

var traefikRuleRE = regexp.MustCompile("^(PathPrefix|PathRegexp)\\(`([^`]+)`\\)$")

func newTraefikReplay(t *testing.T, cfg traefikConfig) *traefikReplay {
	t.Helper()
	m := &traefikReplay{cfg: cfg, authRequests: map[string]http.Header{}}
	for name, r := range cfg.HTTP.Routers {
		sub := traefikRuleRE.FindStringSubmatch(r.Rule)
		if sub == nil {
			t.Fatalf("router %s: the replay knows PathPrefix and PathRegexp rules, not %q", name, r.Rule)
		}
		rt := traefikRoute{name: name, priority: r.Priority, traefikRouter: r}
		if rt.priority == 0 {
			rt.priority = len(r.Rule) // Traefik's default: the longer rule first
		}
		switch arg := sub[2]; sub[1] {
		case "PathPrefix":
			rt.match = func(p string) bool { return strings.HasPrefix(p, arg) }
		case "PathRegexp":
			re := regexp.MustCompile(arg)
			rt.match = re.MatchString
		}
		for _, mw := range r.Middlewares {
			if _, ok := cfg.HTTP.Middlewares[mw]; !ok {
				t.Fatalf("router %s uses an undefined middleware %s", name, mw)
			}
		}
		m.routers = append(m.routers, rt)
	}
	sort.Slice(m.routers, func(i, j int) bool { return m.routers[i].priority > m.routers[j].priority })
	return m
}

func (m *traefikReplay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var route *traefikRoute
	for i := range m.routers {
		if m.routers[i].match(r.URL.Path) {
			route = &m.routers[i]
			break
		}
	}
	if route == nil {
		http.NotFound(w, r)
		return
	}
	for _, name := range route.Middlewares {
		mw := m.cfg.HTTP.Middlewares[name]
		if mw.Headers != nil {
			for k, v := range mw.Headers.CustomRequestHeaders {
				if v == "" {
					r.Header.Del(k)
				} else {
					r.Header.Set(k, v)
				}
			}
		}
		if mw.ForwardAuth != nil && !m.forwardAuth(w, r, *mw.ForwardAuth) {
			return
		}
	}
	servers := m.cfg.HTTP.Services[route.Service].LoadBalancer.Servers
	if len(servers) == 0 {
		http.Error(w, "no server", http.StatusBadGateway)
		return
	}
	u, err := url.Parse(servers[0].URL)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
}

// forwardAuth asks the auth server; it answers the client itself and returns false unless the
// answer is 2xx.
func (m *traefikReplay) forwardAuth(w http.ResponseWriter, r *http.Request, fa traefikForwardAuth) bool {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, fa.Address, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return false
	}
	req.Header = traefikAuthHeaders(r, fa)
	m.mu.Lock()
	m.authRequests[r.Header.Get("X-Test-Request")] = req.Header.Clone()
	m.mu.Unlock()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		for k, v := range resp.Header {
			if !slices.Contains(traefikHopHeaders, k) {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
		return false
	}
	for _, name := range fa.AuthResponseHeaders {
		k := http.CanonicalHeaderKey(name)
		r.Header.Del(k)
		if v := resp.Header[k]; len(v) > 0 {
			r.Header[k] = slices.Clone(v)
		}
	}
	return true
}

// traefikHopHeaders are the hop-by-hop headers forwardAuth does not copy.
var traefikHopHeaders = []string{"Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// traefikAuthHeaders are the headers forwardAuth sends the auth server about r.
func traefikAuthHeaders(r *http.Request, fa traefikForwardAuth) http.Header {
	h := r.Header.Clone()
	for _, k := range traefikHopHeaders {
		h.Del(k)
	}
	if len(fa.AuthRequestHeaders) > 0 {
		kept := http.Header{}
		for _, name := range fa.AuthRequestHeaders {
			if v := h.Values(name); len(v) > 0 {
				kept[http.CanonicalHeaderKey(name)] = slices.Clone(v)
			}
		}
		h = kept
	}
	// Each X-Forwarded-* from the request itself, replacing a client's copy unless the
	// configuration trusts it.
	set := func(name, own string) {
		if v := r.Header.Get(name); v != "" && fa.TrustForwardHeader {
			h.Set(name, v)
		} else {
			h.Set(name, own)
		}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := r.Header.Values("X-Forwarded-For"); fa.TrustForwardHeader && len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h.Set("X-Forwarded-For", ip)
	}
	set("X-Forwarded-Method", r.Method)
	set("X-Forwarded-Proto", "http")
	set("X-Forwarded-Host", r.Host)
	set("X-Forwarded-Uri", r.URL.RequestURI())
	return h
}

// TestTraefikForwardAuth sends the gateway table through the replay of the documented Traefik
// configuration, with latchkey deciding from the documented rules naming gateway: traefik.
func TestTraefikForwardAuth(t *testing.T) {
	f := newGatewayFixture(t, "traefik")
	replay := newTraefikReplay(t, traefikRecipe(t, f.ts.URL, f.upstream.URL))
	gw := httptest.NewServer(replay)
	defer gw.Close()
	f.run(t, gw.URL, func() string { return "" })
}

// TestTraefikForwardAuthHeaders pins what reaches latchkey: exactly the documented headers, the
// client's Authorization and the route's environment; never a client's copy of the
// X-Original-*, X-Forwarded-*, environment or Forwarded headers. It also shows why the recipe
// limits authRequestHeaders: without it, the client's Forwarded reaches latchkey (400) and so
// would any header the rules read.
func TestTraefikForwardAuthHeaders(t *testing.T) {
	f := newGatewayFixture(t, "traefik")
	cfg := traefikRecipe(t, f.ts.URL, f.upstream.URL)
	fa := cfg.HTTP.Middlewares["latchkey"].ForwardAuth
	if fa == nil {
		t.Fatal("the traefik recipe has no latchkey forwardAuth middleware")
	}
	if fa.TrustForwardHeader {
		t.Error("the traefik recipe trusts the client's X-Forwarded-* (trustForwardHeader: true)")
	}
	if want := []string{"Authorization", "X-Environment-Category"}; !slices.Equal(fa.AuthRequestHeaders, want) {
		t.Errorf("authRequestHeaders = %q, want %q", fa.AuthRequestHeaders, want)
	}
	if want := []string{"X-Latchkey-Account-Id", "X-Latchkey-Principal"}; !slices.Equal(fa.AuthResponseHeaders, want) {
		t.Errorf("authResponseHeaders = %q, want %q", fa.AuthResponseHeaders, want)
	}

	jobsA := pathf("/api/projects/%d/jobs/42", f.projectA)
	jobsB := pathf("/api/projects/%d/jobs/42", f.projectB)
	runsA := pathf("/api/projects/%d/runs", f.projectA)
	forged := map[string]string{
		"X-Original-Method": "GET", "X-Original-URI": jobsA,
		"X-Forwarded-Method": "GET", "X-Forwarded-Uri": jobsA, "X-Forwarded-Host": "elsewhere",
		"X-Environment-Category": "development", "X-Forwarded-For": gatewayDenied, "Forwarded": "for=" + gatewayDenied,
	}
	naive := *fa
	naive.AuthRequestHeaders = nil
	tests := []struct {
		name         string
		fa           traefikForwardAuth
		method, path string
		header       map[string]string
		env          string // what the route's headers middleware sets
		status       int
		reason       string
		// sent is the exact set of headers latchkey gets (nil: not checked).
		sent map[string]string
	}{
		{name: "allowed, no client copies", fa: *fa, method: "GET", path: jobsA + "?page=2", status: 200, reason: "",
			sent: map[string]string{"Authorization": "", "X-Forwarded-For": gatewayFree, "X-Forwarded-Method": "GET",
				"X-Forwarded-Proto": "http", "X-Forwarded-Host": "gateway.test", "X-Forwarded-Uri": jobsA + "?page=2"}},
		{name: "forbidden request behind forged copies", fa: *fa, method: "GET", path: jobsB, header: forged, status: 403, reason: "forbidden",
			sent: map[string]string{"Authorization": "", "X-Forwarded-For": gatewayFree, "X-Forwarded-Method": "GET",
				"X-Forwarded-Proto": "http", "X-Forwarded-Host": "gateway.test", "X-Forwarded-Uri": jobsB}},
		{name: "forbidden method behind forged copies", fa: *fa, method: "DELETE", path: jobsA, header: forged, status: 403, reason: "forbidden"},
		{name: "production route, client claims development", fa: *fa, method: "POST", path: runsA, header: forged, env: "production",
			status: 403, reason: "forbidden",
			sent: map[string]string{"Authorization": "", "X-Environment-Category": "production", "X-Forwarded-For": gatewayFree,
				"X-Forwarded-Method": "POST", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "gateway.test", "X-Forwarded-Uri": runsA}},
		// Without authRequestHeaders every client header reaches latchkey. The traefik profile
		// still reads only X-Forwarded-Method and -Uri (Traefik's own), but the client's
		// Forwarded now contradicts Traefik's X-Forwarded-For.
		{name: "without authRequestHeaders: forged X-Original-* are ignored", fa: naive, method: "GET", path: jobsB,
			header: map[string]string{"X-Original-Method": "GET", "X-Original-URI": jobsA}, status: 403, reason: "forbidden"},
		{name: "without authRequestHeaders: the client's Forwarded arrives", fa: naive, method: "GET", path: jobsA,
			header: map[string]string{"Forwarded": "for=" + gatewayDenied}, status: 400, reason: "bad_forwarded_for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := f.viewer
			if tt.env != "" {
				tok = f.devOnly
			}
			r := httptest.NewRequest(tt.method, "http://gateway.test"+tt.path, nil)
			r.RemoteAddr = gatewayFree + ":40000"
			r.Header.Set("Authorization", "Token "+tok.TokenString)
			for k, v := range tt.header {
				r.Header[k] = []string{v}
			}
			// The route's headers middleware runs before forwardAuth.
			if tt.env != "" {
				r.Header.Set("X-Environment-Category", tt.env)
			} else if slices.Contains(tt.fa.AuthRequestHeaders, "X-Environment-Category") {
				r.Header.Del("X-Environment-Category")
			}
			h := traefikAuthHeaders(r, tt.fa)
			if tt.sent != nil {
				var got, want []string
				for k, v := range h {
					got = append(got, k+": "+strings.Join(v, ","))
				}
				for k, v := range tt.sent {
					if k == "Authorization" {
						v = "Token " + tok.TokenString
					}
					want = append(want, http.CanonicalHeaderKey(k)+": "+v)
				}
				sort.Strings(got)
				sort.Strings(want)
				if !slices.Equal(got, want) {
					t.Errorf("forwardAuth sends\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
			req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/v1/forward-auth", nil)
			req.Header = h
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("X-Latchkey-Reason") != tt.reason {
				t.Errorf("latchkey answers %d %q (%s), want %d %q", resp.StatusCode, resp.Header.Get("X-Latchkey-Reason"),
					strings.TrimSpace(string(body)), tt.status, tt.reason)
			}
		})
	}

	// Through the whole replay the auth requests carry the same set: check one with forged copies.
	replay := newTraefikReplay(t, cfg)
	gw := httptest.NewServer(replay)
	defer gw.Close()
	tc := gatewayCase{name: "replayed", token: f.devOnly, method: "POST", path: runsA, header: forged, from: gatewayFree, status: 403}
	if status, body := f.send(t, gw.URL, tc); status != tc.status {
		t.Fatalf("POST %s through the replay = %d (%q), want %d", runsA, status, body, tc.status)
	}
	replay.mu.Lock()
	sent := replay.authRequests["replayed"]
	replay.mu.Unlock()
	var got []string
	for k, v := range sent {
		if k != "Authorization" {
			got = append(got, k+": "+strings.Join(v, ", "))
		}
	}
	sort.Strings(got)
	want := []string{"X-Environment-Category: production", "X-Forwarded-For: " + gatewayFree, "X-Forwarded-Host: " + strings.TrimPrefix(gw.URL, "http://"),
		"X-Forwarded-Method: POST", "X-Forwarded-Proto: http", "X-Forwarded-Uri: " + runsA}
	if !slices.Equal(got, want) || sent.Get("Authorization") != "Token "+f.devOnly.TokenString {
		t.Errorf("the replayed forwardAuth sent (besides Authorization)\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
