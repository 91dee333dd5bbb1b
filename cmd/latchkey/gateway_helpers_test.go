package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

// The gateway tests put each documented recipe (nginx, Caddy, a replay of Traefik) in front of a
// test upstream, with latchkey deciding from docs/forward-auth-rules.example.yaml, and send the
// same table of requests through it: allowed ones, denied ones, and ones carrying a client's
// forged copies of the headers latchkey reads.

// gatewayDenied is the client address the fixture's IP rule denies; gatewayFree is another one
// it does not. Connections leave from them (loopback aliases), so the gateway sees them as the
// client.
const (
	gatewayDenied = "127.0.0.2"
	gatewayFree   = "127.0.0.3"
)

// gatewayFixture is a latchkey answering a gateway, with tokens, an IP rule and an upstream
// that records the headers of each request it receives.
type gatewayFixture struct {
	ts       *testServer
	upstream *httptest.Server
	projectA int64
	projectB int64
	viewer   *apitype.Token // jobs:read on project A
	other    *apitype.Token // no jobs permission
	devOnly  *apitype.Token // runs:write on project A in development only
	prodOnly *apitype.Token // runs:write on project A in production only

	mu   sync.Mutex
	seen map[string]http.Header // by X-Test-Request
}

// newGatewayFixture starts latchkey with the documented rules naming gateway (nginx, caddy,
// traefik), trusting the gateway's address 127.0.0.1 for X-Forwarded-For, and denies
// gatewayDenied by an account IP rule.
func newGatewayFixture(t *testing.T, gateway string) *gatewayFixture {
	t.Helper()
	ts := startServer(t, "enterprise", "--forward-auth-rules", docsRulesFile(t, gateway), "--trusted-proxies", "127.0.0.1/32")
	ctx := context.Background()
	pa, err := ts.Admin.CreateProject(ctx, ts.AccountID, "a", "")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := ts.Admin.CreateProject(ctx, ts.AccountID, "b", "")
	if err != nil {
		t.Fatal(err)
	}
	f := &gatewayFixture{ts: ts, projectA: pa.ID, projectB: pb.ID, seen: map[string]http.Header{}}
	_, f.viewer = ts.serviceToken(t, "viewer", client.GrantOn("job_viewer", pa.ID))
	_, f.other = ts.serviceToken(t, "other", client.GrantOn("metadata_only", 0))
	_, f.devOnly = ts.serviceToken(t, "dev only", client.GrantOn("developer", pa.ID, "development"))
	_, f.prodOnly = ts.serviceToken(t, "prod only", client.GrantOn("developer", pa.ID, "production"))

	base := pathf("/api/v3/accounts/%d", ts.AccountID)
	mustDo(t, ts.Admin, http.MethodPost, base+"/ip-restrictions/", map[string]any{"name": "denied client", "type": 2,
		"ip_cidrs": []string{gatewayDenied + "/32"}}, nil)
	mustDo(t, ts.Admin, http.MethodPost, base+"/ip-restrictions-set/", map[string]any{"enabled": true}, nil)

	f.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen[r.Header.Get("X-Test-Request")] = r.Header.Clone()
		f.mu.Unlock()
		fmt.Fprintf(w, "upstream saw %s %s", r.Method, r.URL.Path)
	}))
	t.Cleanup(f.upstream.Close)
	return f
}

// docsRulesFile writes docs/forward-auth-rules.example.yaml with its gateway line naming gateway.
func docsRulesFile(t testing.TB, gateway string) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/forward-auth-rules.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const line = "\ngateway: nginx\n"
	if !strings.Contains(string(b), line) {
		t.Fatalf("docs/forward-auth-rules.example.yaml has no %q line", strings.TrimSpace(line))
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), line, "\ngateway: "+gateway+"\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// gatewayCase is one request a client sends through the gateway. A 200 must reach the upstream
// with latchkey's identity headers; any other status must not reach it.
type gatewayCase struct {
	name         string
	from         string // the client's address; empty: 127.0.0.1
	token        *apitype.Token
	method, path string
	header       map[string]string // what the client adds, forged or not
	again        map[string]string // second values of headers, sent after the first
	status       int
}

// cases is the table every recipe must pass.
func (f *gatewayFixture) cases() []gatewayCase {
	jobsA := pathf("/api/projects/%d/jobs/42", f.projectA)
	jobsB := pathf("/api/projects/%d/jobs/42", f.projectB)
	runsA := pathf("/api/projects/%d/runs", f.projectA)
	sandboxA := pathf("/api/projects/%d/sandbox/runs", f.projectA)
	original := func(method, uri string) map[string]string {
		return map[string]string{"X-Original-Method": method, "X-Original-URI": uri}
	}
	forwarded := func(method, uri string) map[string]string {
		return map[string]string{"X-Forwarded-Method": method, "X-Forwarded-Uri": uri}
	}
	env := func(category string) map[string]string { return map[string]string{"X-Environment-Category": category} }
	return []gatewayCase{
		{name: "allowed", token: f.viewer, method: "GET", path: jobsA + "?page=2", status: 200},
		{name: "forged identity headers are replaced", token: f.viewer, method: "GET", path: jobsA,
			header: map[string]string{"X-Latchkey-Principal": "user:1", "X-Latchkey-Account-Id": "999"}, status: 200},
		{name: "token lacking the permission", token: f.other, method: "GET", path: jobsA, status: 403},
		{name: "no token", method: "GET", path: jobsA, status: 401},
		{name: "no token, forged identity headers", method: "GET", path: jobsA,
			header: map[string]string{"X-Latchkey-Principal": pathf("service_token:%d", f.viewer.ID)}, status: 401},
		// Two credentials: the gateway (nginx) or latchkey (ambiguous_headers) refuses the request.
		{name: "two different Authorization headers", token: f.other, method: "GET", path: jobsA,
			again: map[string]string{"Authorization": "Token " + f.viewer.TokenString}, status: 400},

		// The client names an allowed request in the headers latchkey reads; the real one is forbidden.
		{name: "forged X-Original-* hiding a DELETE", token: f.viewer, method: "DELETE", path: jobsA,
			header: original("GET", jobsA), status: 403},
		{name: "forged X-Original-* hiding another project", token: f.viewer, method: "GET", path: jobsB,
			header: original("GET", jobsA), status: 403},
		{name: "forged X-Forwarded-* hiding a DELETE", token: f.viewer, method: "DELETE", path: jobsA,
			header: forwarded("GET", jobsA), status: 403},
		{name: "forged X-Forwarded-* hiding another project", token: f.viewer, method: "GET", path: jobsB,
			header: forwarded("GET", jobsA), status: 403},
		{name: "forged X-Original-* and X-Forwarded-* together", token: f.viewer, method: "GET", path: jobsB,
			header: mergeHeaders(original("GET", jobsA), forwarded("GET", jobsA)), status: 403},
		{name: "forged X-Original-* on an allowed request", token: f.viewer, method: "GET", path: jobsA,
			header: original("DELETE", jobsB), status: 200},

		// The environment category comes from the route, never from the client.
		{name: "development-only token on the production route", token: f.devOnly, method: "POST", path: runsA, status: 403},
		{name: "development-only token on the production route claiming development", token: f.devOnly, method: "POST", path: runsA,
			header: env("development"), status: 403},
		// Spellings latchkey matches to the runs rule but the recipes' route patterns do not: they
		// get no category at all, never the client's.
		{name: "development-only token on the production route with a trailing slash, claiming development", token: f.devOnly,
			method: "POST", path: runsA + "/", header: env("development"), status: 403},
		{name: "development-only token on the production route as project +N, claiming development", token: f.devOnly,
			method: "POST", path: pathf("/api/projects/+%d/runs", f.projectA), header: env("development"), status: 403},
		{name: "development-only token on the development route", token: f.devOnly, method: "POST", path: sandboxA, status: 200},
		{name: "production-only token on the production route", token: f.prodOnly, method: "POST", path: runsA + "?cause=deploy", status: 200},
		{name: "production-only token on the development route claiming production", token: f.prodOnly, method: "POST", path: sandboxA,
			header: env("production"), status: 403},

		// The client's address is the one the gateway sees, whatever the client claims.
		{name: "denied address", from: gatewayDenied, token: f.viewer, method: "GET", path: jobsA, status: 403},
		{name: "denied address claiming another in X-Forwarded-For", from: gatewayDenied, token: f.viewer, method: "GET", path: jobsA,
			header: map[string]string{"X-Forwarded-For": gatewayFree}, status: 403},
		{name: "denied address claiming another in Forwarded", from: gatewayDenied, token: f.viewer, method: "GET", path: jobsA,
			header: map[string]string{"Forwarded": "for=" + gatewayFree}, status: 403},
		{name: "free address claiming the denied one", from: gatewayFree, token: f.viewer, method: "GET", path: jobsA,
			header: map[string]string{"X-Forwarded-For": gatewayDenied, "Forwarded": "for=" + gatewayDenied}, status: 200},
		{name: "free address sending an unreadable X-Forwarded-For", from: gatewayFree, token: f.viewer, method: "GET", path: jobsA,
			header: map[string]string{"X-Forwarded-For": "unknown, _hidden", "Forwarded": "for=unknown"}, status: 200},
	}
}

func mergeHeaders(hs ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, h := range hs {
		for k, v := range h {
			out[k] = v
		}
	}
	return out
}

// run sends the table through the gateway at base, then checks that a deleted token is refused
// on the next request.
func (f *gatewayFixture) run(t *testing.T, base string, logs func() string) {
	t.Helper()
	for _, tc := range f.cases() {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.send(t, base, tc)
			f.mu.Lock()
			seen, reached := f.seen[tc.name]
			f.mu.Unlock()
			if status != tc.status {
				t.Fatalf("%s %s from %s through the gateway = %d (%q), want %d\ngateway log:\n%s",
					tc.method, tc.path, tc.fromAddr(), status, body, tc.status, logs())
			}
			if reached != (tc.status == http.StatusOK) {
				t.Fatalf("%s %s: upstream reached = %v, want %v", tc.method, tc.path, reached, tc.status == http.StatusOK)
			}
			if !reached {
				return
			}
			// One value each, latchkey's: a client's copy is neither kept nor added to.
			if got, want := strings.Join(seen.Values("X-Latchkey-Principal"), ", "), pathf("service_token:%d", tc.token.ID); got != want {
				t.Errorf("upstream saw X-Latchkey-Principal %q, want %q", got, want)
			}
			if got, want := strings.Join(seen.Values("X-Latchkey-Account-Id"), ", "), fmt.Sprint(f.ts.AccountID); got != want {
				t.Errorf("upstream saw X-Latchkey-Account-Id %q, want %q", got, want)
			}
		})
	}
	t.Run("deleted token", func(t *testing.T) {
		tc := gatewayCase{name: "deleted token", token: f.viewer, method: "GET", path: pathf("/api/projects/%d/jobs/1", f.projectA)}
		if status, body := f.send(t, base, tc); status != http.StatusOK {
			t.Fatalf("before deletion: %d (%q), want 200", status, body)
		}
		if _, err := f.ts.Admin.DeleteServiceToken(context.Background(), f.ts.AccountID, f.viewer.ID); err != nil {
			t.Fatal(err)
		}
		tc.name += " after deletion"
		if status, body := f.send(t, base, tc); status != http.StatusUnauthorized {
			t.Fatalf("deleted token on the next request: %d (%q), want 401", status, body)
		}
	})
}

func (tc gatewayCase) fromAddr() string {
	if tc.from == "" {
		return "127.0.0.1"
	}
	return tc.from
}

// send makes the client's request and returns the status and body the client gets.
func (f *gatewayFixture) send(t *testing.T, base string, tc gatewayCase) (int, string) {
	t.Helper()
	req, err := http.NewRequest(tc.method, base+tc.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tc.token != nil {
		req.Header.Set("Authorization", "Token "+tc.token.TokenString)
	}
	for k, v := range tc.header {
		req.Header[k] = []string{v} // as spelled: X-Original-URI, not X-Original-Uri
	}
	for k, v := range tc.again {
		req.Header.Add(k, v)
	}
	req.Header.Set("X-Test-Request", tc.name)
	resp, err := govHTTPFrom(tc.fromAddr()).Do(req)
	if err != nil {
		t.Fatalf("%s %s from %s: %v", tc.method, tc.path, tc.fromAddr(), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if tc.token != nil && strings.Contains(string(b), tc.token.TokenString) {
		t.Fatalf("the answer repeats the token")
	}
	return resp.StatusCode, string(b)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitForPort waits until something listens on 127.0.0.1:port, failing with logs() after 10s.
func waitForPort(t *testing.T, what string, port int, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start:\n%s", what, logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
