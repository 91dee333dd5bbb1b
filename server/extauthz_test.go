package server

import (
	"context"
	"crypto/sha256"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/tokenfmt"
)

// extAuthzEnv is a golden server with the golden forward-auth rules under the envoy profile,
// its ext_authz service on a real gRPC server on loopback, and a client connected to it.
type extAuthzEnv struct {
	*regEnv
	client authv3.AuthorizationClient
}

func newExtAuthzEnv(t *testing.T) *extAuthzEnv {
	t.Helper()
	e := forwardEnv(t, "envoy")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, e.srv.ExtAuthz())
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return &extAuthzEnv{regEnv: e, client: authv3.NewAuthorizationClient(cc)}
}

// checkAsk is one request as Envoy would describe it.
type checkAsk struct {
	method, path string
	token        string
	headers      map[string]string // the client's request headers (lower case), besides authorization
	ext          map[string]string // the route's context_extensions
	source       string            // downstream address; 127.0.0.1 when empty
}

func (c checkAsk) request() *authv3.CheckRequest {
	h := map[string]string{":authority": "api.example", "user-agent": "test"}
	for k, v := range c.headers {
		h[k] = v
	}
	if c.token != "" {
		h["authorization"] = "Token " + c.token
	}
	method := c.method
	if method == "" {
		method = http.MethodGet
	}
	src := c.source
	if src == "" {
		src = "127.0.0.1"
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: src, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: c.path, Headers: h, Protocol: "HTTP/1.1"}},
		ContextExtensions: c.ext,
	}}
}

// checkResult is what a CheckResponse tells Envoy.
type checkResult struct {
	ok      bool
	status  int               // HTTP status of a denial (200 when ok)
	headers map[string]string // headers to set
	actions map[string]corev3.HeaderValueOption_HeaderAppendAction
	body    string
	code    codes.Code
}

func (e *extAuthzEnv) check(t *testing.T, c checkAsk) checkResult {
	t.Helper()
	resp, err := e.client.Check(context.Background(), c.request())
	if err != nil {
		t.Fatalf("Check(%s %s): %v", c.method, c.path, err)
	}
	return readCheck(t, resp)
}

func readCheck(t *testing.T, resp *authv3.CheckResponse) checkResult {
	t.Helper()
	r := checkResult{code: codes.Code(resp.GetStatus().GetCode()), headers: map[string]string{},
		actions: map[string]corev3.HeaderValueOption_HeaderAppendAction{}}
	var hs []*corev3.HeaderValueOption
	switch {
	case resp.GetOkResponse() != nil:
		r.ok, r.status, hs = r.code == codes.OK, http.StatusOK, resp.GetOkResponse().GetHeaders()
	case resp.GetDeniedResponse() != nil:
		d := resp.GetDeniedResponse()
		r.status, hs, r.body = int(d.GetStatus().GetCode()), d.GetHeaders(), d.GetBody()
	case resp.GetErrorResponse() != nil:
		d := resp.GetErrorResponse()
		r.status, hs, r.body = int(d.GetStatus().GetCode()), d.GetHeaders(), d.GetBody()
	default:
		t.Fatalf("a CheckResponse without an HTTP response: %v", resp)
	}
	if (r.code == codes.OK) != (resp.GetOkResponse() != nil) {
		t.Fatalf("CheckResponse status %v with %T", r.code, resp.GetHttpResponse())
	}
	for _, h := range hs {
		if _, dup := r.headers[h.GetHeader().GetKey()]; dup {
			t.Errorf("header %s set twice", h.GetHeader().GetKey())
		}
		r.headers[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
		r.actions[h.GetHeader().GetKey()] = h.GetAppendAction()
	}
	return r
}

func (e *extAuthzEnv) jobs(project int64) string {
	return "/api/projects/" + strconv.FormatInt(project, 10) + "/jobs/5"
}

func TestExtAuthzAnswersLikeForwardAuth(t *testing.T) {
	e := newExtAuthzEnv(t)
	fx := e.fx
	principal := "service_token:" + strconv.FormatInt(fx.SvcID, 10)
	tests := []struct {
		name   string
		ask    checkAsk
		status int
		reason string
		code   codes.Code
	}{
		{name: "allowed", ask: checkAsk{path: e.jobs(fx.Project), token: fx.Svc}, status: 200, code: codes.OK},
		{name: "allowed with a query", ask: checkAsk{path: e.jobs(fx.Project) + "?page=2&x=%2F", token: fx.Svc}, status: 200, code: codes.OK},
		{name: "HEAD", ask: checkAsk{method: "HEAD", path: e.jobs(fx.Project), token: fx.Svc}, status: 200, code: codes.OK},
		{name: "Bearer", ask: checkAsk{path: e.jobs(fx.Project), headers: map[string]string{"authorization": "Bearer " + fx.Svc}}, status: 200, code: codes.OK},
		{name: "another project", ask: checkAsk{path: e.jobs(fx.Project2), token: fx.Svc}, status: 403, reason: "forbidden", code: codes.PermissionDenied},
		{name: "no rule", ask: checkAsk{path: "/admin", token: fx.Svc}, status: 403, reason: "no_rule", code: codes.PermissionDenied},
		{name: "method no rule has", ask: checkAsk{method: "DELETE", path: e.jobs(fx.Project), token: fx.Svc}, status: 403, reason: "no_rule", code: codes.PermissionDenied},
		{name: "no token", ask: checkAsk{path: e.jobs(fx.Project)}, status: 401, reason: "missing", code: codes.Unauthenticated},
		{name: "unknown token", ask: checkAsk{path: e.jobs(fx.Project), token: fx.Unknown}, status: 401, reason: "not_found", code: codes.Unauthenticated},
		{name: "malformed token", ask: checkAsk{path: e.jobs(fx.Project), token: "lksvc_not-a-token"}, status: 401, reason: "malformed", code: codes.Unauthenticated},
		{name: "unsupported scheme", ask: checkAsk{path: e.jobs(fx.Project), headers: map[string]string{"authorization": "Basic eDp5"}}, status: 401, code: codes.Unauthenticated},
		{name: "two authorization headers, joined by Envoy", ask: checkAsk{path: e.jobs(fx.Project),
			headers: map[string]string{"authorization": "Token " + fx.Svc + ",Token " + fx.EmptySvc}}, status: 401, code: codes.Unauthenticated},
		{name: "dot segments", ask: checkAsk{path: "/api/projects/" + strconv.FormatInt(fx.Project2, 10) + "/../" + strconv.FormatInt(fx.Project, 10) + "/jobs/5", token: fx.Svc},
			status: 403, reason: "non_canonical_path", code: codes.PermissionDenied},
		{name: "doubled slash", ask: checkAsk{path: "/api/projects//" + strconv.FormatInt(fx.Project, 10) + "/jobs/5", token: fx.Svc},
			status: 403, reason: "non_canonical_path", code: codes.PermissionDenied},
		{name: "encoded slash", ask: checkAsk{path: "/api/projects/" + strconv.FormatInt(fx.Project, 10) + "%2Fjobs/5", token: fx.Svc},
			status: 403, reason: "non_canonical_path", code: codes.PermissionDenied},
		{name: "no path", ask: checkAsk{token: fx.Svc}, status: 400, reason: "missing_attributes", code: codes.InvalidArgument},
		{name: "bad source address", ask: checkAsk{path: e.jobs(fx.Project), token: fx.Svc, source: "not-an-address"},
			status: 400, reason: "bad_source_address", code: codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.check(t, tt.ask)
			if r.status != tt.status || r.code != tt.code {
				t.Fatalf("Check = %d (%v), want %d (%v); reason %q, body %q", r.status, r.code, tt.status, tt.code, r.headers[hdrReason], r.body)
			}
			if tt.status == http.StatusOK {
				if r.headers[hdrAccountID] != strconv.FormatInt(fx.Account, 10) || r.headers[hdrPrincipal] != principal {
					t.Errorf("identity headers = %v, want account %d and %s", r.headers, fx.Account, principal)
				}
				return
			}
			if tt.reason != "" && r.headers[hdrReason] != tt.reason {
				t.Errorf("x-latchkey-reason = %q, want %q (body %q)", r.headers[hdrReason], tt.reason, r.body)
			}
			if r.body == "" || r.headers["content-type"] != "text/plain; charset=utf-8" {
				t.Errorf("denial body %q, content-type %q: want the message as text", r.body, r.headers["content-type"])
			}
			if _, ok := r.headers[hdrPrincipal]; ok {
				t.Errorf("a denial names a principal: %v", r.headers)
			}
			if got := r.headers["www-authenticate"]; (tt.status == http.StatusUnauthorized) != (got != "") {
				t.Errorf("www-authenticate = %q on a %d", got, tt.status)
			}
		})
	}
}

// The answer's identity headers replace whatever the client sent under their names; a client's
// own copy is never taken for an identity.
func TestExtAuthzIdentityHeadersOverwriteTheClients(t *testing.T) {
	e := newExtAuthzEnv(t)
	forged := map[string]string{hdrPrincipal: "user:1", hdrAccountID: strconv.FormatInt(e.fx.Other, 10)}
	r := e.check(t, checkAsk{path: e.jobs(e.fx.Project), token: e.fx.Svc, headers: forged})
	if !r.ok {
		t.Fatalf("Check = %d %q, want OK", r.status, r.headers[hdrReason])
	}
	want := "service_token:" + strconv.FormatInt(e.fx.SvcID, 10)
	if r.headers[hdrPrincipal] != want || r.headers[hdrAccountID] != strconv.FormatInt(e.fx.Account, 10) {
		t.Errorf("identity headers = %v, want %s in account %d", r.headers, want, e.fx.Account)
	}
	for _, k := range []string{hdrPrincipal, hdrAccountID} {
		if r.actions[k] != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Errorf("%s append action = %v, want OVERWRITE_IF_EXISTS_OR_ADD (Envoy would keep the client's copy)", k, r.actions[k])
		}
	}
	r = e.check(t, checkAsk{path: e.jobs(e.fx.Project), headers: forged})
	if r.ok || r.status != http.StatusUnauthorized {
		t.Errorf("forged identity headers without a token: %d, want 401", r.status)
	}
}

// A rule's environment_header comes from the route's context_extensions, which only Envoy's
// configuration sets; the client's header of that name decides nothing.
func TestExtAuthzEnvironmentComesFromTheRoute(t *testing.T) {
	e := newExtAuthzEnv(t)
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test", Source: "system"})
	m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
	if err != nil {
		t.Fatal(err)
	}
	prodOnly := &latchkey.Token{AccountID: e.fx.Account, Kind: latchkey.KindServiceToken, Name: "prod deployer", UID: m.UID, Hash: m.Hash,
		CreatedBy: "system:test", Grants: []latchkey.Grant{{PermissionSet: "developer", AllProjects: true, WritableEnvs: []latchkey.EnvCategory{latchkey.EnvProduction}}}}
	if err := e.store.CreateToken(ctx, prodOnly); err != nil {
		t.Fatal(err)
	}
	runs := "/api/projects/" + strconv.FormatInt(e.fx.Project, 10) + "/runs"
	tests := []struct {
		name         string
		client, ext  map[string]string
		allowed      bool
		status       int
		reasonWanted string
	}{
		{name: "the route says production", ext: map[string]string{"X-Environment-Category": "production"}, allowed: true},
		{name: "the route says production, lower case", ext: map[string]string{"x-environment-category": "production"}, allowed: true},
		{name: "the route says development", ext: map[string]string{"X-Environment-Category": "development"}, status: 403},
		{name: "the client says production, the route development", client: map[string]string{"x-environment-category": "production"},
			ext: map[string]string{"X-Environment-Category": "development"}, status: 403},
		{name: "the client says development, the route production", client: map[string]string{"x-environment-category": "development"},
			ext: map[string]string{"X-Environment-Category": "production"}, allowed: true},
		{name: "only the client says production", client: map[string]string{"x-environment-category": "production"}, status: 403},
		{name: "the route names no valid category", ext: map[string]string{"X-Environment-Category": "all"}, status: 403},
		{name: "the route says it twice, differently", ext: map[string]string{"X-Environment-Category": "production", "x-environment-category": "development"},
			status: 400, reasonWanted: "ambiguous_headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.check(t, checkAsk{method: http.MethodPost, path: runs, token: m.String, headers: tt.client, ext: tt.ext})
			if r.ok != tt.allowed || (!tt.allowed && r.status != tt.status) {
				t.Fatalf("Check = ok %v, %d %q; want ok %v (%d)", r.ok, r.status, r.headers[hdrReason], tt.allowed, tt.status)
			}
			if tt.reasonWanted != "" && r.headers[hdrReason] != tt.reasonWanted {
				t.Errorf("reason %q, want %q", r.headers[hdrReason], tt.reasonWanted)
			}
		})
	}
}

// IP restrictions apply to the downstream address Envoy reports in source, not to an
// X-Forwarded-For the client sends.
func TestExtAuthzClientAddressIsEnvoysSource(t *testing.T) {
	e := newExtAuthzEnv(t)
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test", Source: "system"})
	a, err := e.store.FindAccountByID(ctx, e.fx.Account)
	if err != nil {
		t.Fatal(err)
	}
	set := a.Settings
	set.IPRestrictionsEnabled = true // the fixture allows 10.0.0.0/8 only
	if _, err := e.store.UpdateAccount(ctx, a.ID, latchkey.AccountUpdate{Settings: &set}); err != nil {
		t.Fatal(err)
	}
	path := e.jobs(e.fx.Project)
	if r := e.check(t, checkAsk{path: path, token: e.fx.Svc, source: "10.1.2.3"}); !r.ok {
		t.Errorf("from 10.1.2.3 (allowed): %d %q, want OK", r.status, r.headers[hdrReason])
	}
	if r := e.check(t, checkAsk{path: path, token: e.fx.Svc, source: "::ffff:10.1.2.3"}); !r.ok {
		t.Errorf("from ::ffff:10.1.2.3 (allowed): %d %q, want OK", r.status, r.headers[hdrReason])
	}
	r := e.check(t, checkAsk{path: path, token: e.fx.Svc, source: "192.0.2.7", headers: map[string]string{"x-forwarded-for": "10.1.2.3"}})
	if r.ok || r.status != http.StatusForbidden || r.headers[hdrReason] != "ip_denied" {
		t.Errorf("from 192.0.2.7 claiming X-Forwarded-For 10.1.2.3: ok %v %d %q, want 403 ip_denied", r.ok, r.status, r.headers[hdrReason])
	}
}

// A flood of dead tokens from one address is answered 429 with Retry-After; a valid token from
// that address still passes.
func TestExtAuthzFailureLimit(t *testing.T) {
	e := newExtAuthzEnv(t)
	e.srv.cfg.Governance.RateLimitDelay = 0
	e.srv.gov().tokenLimits = newLimiter(3, e.srv.cfg.Governance.AuthFailureRefill, 100)
	path := e.jobs(e.fx.Project)
	for range 5 {
		e.check(t, checkAsk{path: path, token: e.fx.Unknown, source: "192.0.2.9"})
	}
	r := e.check(t, checkAsk{path: path, token: e.fx.Unknown, source: "192.0.2.9"})
	if r.status != http.StatusTooManyRequests || r.code != codes.ResourceExhausted || r.headers["retry-after"] == "" {
		t.Errorf("a dead token from an address that failed too often: %d (%v) retry-after %q, want 429 with Retry-After", r.status, r.code, r.headers["retry-after"])
	}
	if r := e.check(t, checkAsk{path: path, token: e.fx.Svc, source: "192.0.2.9"}); !r.ok {
		t.Errorf("a valid token from that address: %d %q, want OK", r.status, r.headers[hdrReason])
	}
}

// Raw headers (encode_raw_headers) keep repeated headers apart: two different credentials are
// refused as ambiguous.
func TestExtAuthzRawHeaders(t *testing.T) {
	e := newExtAuthzEnv(t)
	raw := func(values ...string) *authv3.CheckRequest {
		req := checkAsk{path: e.jobs(e.fx.Project)}.request()
		h := req.Attributes.Request.Http
		h.Headers = nil
		h.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: ":path", RawValue: []byte(h.Path)}}}
		for _, v := range values {
			h.HeaderMap.Headers = append(h.HeaderMap.Headers, &corev3.HeaderValue{Key: "authorization", RawValue: []byte(v)})
		}
		return req
	}
	for _, tt := range []struct {
		name   string
		values []string
		status int
	}{
		{"one credential", []string{"Token " + e.fx.Svc}, 200},
		{"the same twice", []string{"Token " + e.fx.Svc, "Token " + e.fx.Svc}, 200},
		{"two different", []string{"Token " + e.fx.Svc, "Token " + e.fx.EmptySvc}, 400},
		{"none", nil, 401},
	} {
		resp, err := e.client.Check(context.Background(), raw(tt.values...))
		if err != nil {
			t.Fatal(err)
		}
		if r := readCheck(t, resp); r.status != tt.status {
			t.Errorf("%s: %d %q, want %d", tt.name, r.status, r.headers[hdrReason], tt.status)
		}
	}
}

// Who may ask: loopback peers, or with --forward-auth-secret, callers sending it.
func TestExtAuthzGatewayMustBeAllowed(t *testing.T) {
	e := newExtAuthzEnv(t)
	ask := checkAsk{path: e.jobs(e.fx.Project), token: e.fx.Svc}.request()

	// A peer that is not on loopback, without a secret configured (called in process: every
	// address this test can connect from is a loopback one).
	remote := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 5555}})
	if _, err := e.srv.ExtAuthz().Check(remote, ask); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a peer off loopback without a secret: %v, want PermissionDenied", err)
	}
	local := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP("::1"), Port: 5555}})
	if resp, err := e.srv.ExtAuthz().Check(local, ask); err != nil || resp.GetOkResponse() == nil {
		t.Errorf("a peer on ::1: %v, %v; want OK", resp, err)
	}

	// With a secret, over gRPC: loopback no longer suffices.
	e.srv.cfg.ForwardAuthSecret = "s3cret-gateway"
	for _, tt := range []struct {
		name string
		md   []string
		ok   bool
	}{
		{"no secret", nil, false},
		{"a wrong secret", []string{forwardSecretMetadata, "guess"}, false},
		{"the secret twice", []string{forwardSecretMetadata, "s3cret-gateway", forwardSecretMetadata, "s3cret-gateway"}, false},
		{"the secret", []string{forwardSecretMetadata, "s3cret-gateway"}, true},
	} {
		ctx := metadata.AppendToOutgoingContext(context.Background(), tt.md...)
		resp, err := e.client.Check(ctx, ask)
		switch {
		case tt.ok && (err != nil || resp.GetOkResponse() == nil):
			t.Errorf("%s: %v, %v; want OK", tt.name, resp, err)
		case !tt.ok && status.Code(err) != codes.PermissionDenied:
			t.Errorf("%s: %v, %v; want PermissionDenied", tt.name, resp, err)
		}
	}
	if _, err := e.srv.ExtAuthz().Check(metadata.NewIncomingContext(remote, metadata.Pairs(forwardSecretMetadata, "s3cret-gateway")), ask); err != nil {
		t.Errorf("a peer off loopback with the secret: %v, want an answer", err)
	}
}

// Outcomes are counted with forward-auth's, in latchkey_forward_auth_requests_total.
func TestExtAuthzCountsOutcomes(t *testing.T) {
	e := newExtAuthzEnv(t)
	e.check(t, checkAsk{path: e.jobs(e.fx.Project), token: e.fx.Svc})
	e.check(t, checkAsk{path: e.jobs(e.fx.Project2), token: e.fx.Svc})
	e.check(t, checkAsk{path: e.jobs(e.fx.Project2), token: e.fx.Svc})
	e.check(t, checkAsk{path: e.jobs(e.fx.Project)})
	e.check(t, checkAsk{token: e.fx.Svc})
	req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/metrics", nil)
	resp := e.send(t, req)
	for code, want := range map[string]int{"200": 1, "403": 2, "401": 1, "other": 1} {
		re := regexp.MustCompile(`latchkey_forward_auth_requests_total\{code="` + code + `"\} (\d+)`)
		m := re.FindSubmatch(resp.body)
		if m == nil || string(m[1]) != strconv.Itoa(want) {
			t.Errorf("latchkey_forward_auth_requests_total{code=%q} = %s, want %d", code, m, want)
		}
	}
}

func TestExtAuthzWithoutRules(t *testing.T) {
	e := newExtAuthzEnv(t)
	e.srv.cfg.ForwardAuth = nil
	_, err := e.client.Check(context.Background(), checkAsk{path: e.jobs(e.fx.Project), token: e.fx.Svc}.request())
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Check without rules: %v, want FailedPrecondition", err)
	}
}

// The rules' gateway profile is for the HTTP endpoint: under any profile the gRPC service reads
// the CheckRequest, never X-Original-* or X-Forwarded-* headers.
func TestExtAuthzIgnoresGatewayHeaders(t *testing.T) {
	e := newExtAuthzEnv(t)
	for _, gw := range []string{"nginx", "generic"} {
		e.srv.cfg.ForwardAuth = forwardEnv(t, gw).srv.cfg.ForwardAuth
		r := e.check(t, checkAsk{path: e.jobs(e.fx.Project2), token: e.fx.Svc, headers: map[string]string{
			"x-original-method": "GET", "x-original-uri": e.jobs(e.fx.Project), "x-forwarded-uri": e.jobs(e.fx.Project)}})
		if r.ok || r.status != http.StatusForbidden {
			t.Errorf("gateway %s: a request for project 2 with headers naming project 1: %d, want 403", gw, r.status)
		}
	}
}

func extAuthzRequests(toks []string) []*authv3.CheckRequest {
	reqs := make([]*authv3.CheckRequest, len(toks))
	for i, t := range toks {
		reqs[i] = checkAsk{path: "/api/projects/1/jobs/7", token: t}.request()
	}
	return reqs
}

// BenchmarkExtAuthzCheck measures the Check method alone (no gRPC), next to
// BenchmarkForwardAuthHandler.
func BenchmarkExtAuthzCheck(b *testing.B) {
	s, toks := forwardFixture(b)
	runVerifier(b, s)
	reqs := extAuthzRequests(toks)
	x := s.ExtAuthz()
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}})
	for _, r := range reqs {
		if resp, err := x.Check(ctx, r); err != nil || resp.GetOkResponse() == nil {
			b.Fatalf("Check = %v, %v", resp, err)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		x.Check(ctx, reqs[i%len(reqs)])
	}
}

// BenchmarkExtAuthzGRPC measures Check over a real gRPC connection on loopback, client and
// server in one process (go test -cpuprofile shows where the time goes), next to
// BenchmarkBaselineGRPC.
func BenchmarkExtAuthzGRPC(b *testing.B) {
	s, toks := forwardFixture(b)
	runVerifier(b, s)
	benchmarkGRPC(b, s.ExtAuthz(), toks)
}

// runVerifier runs the verifier's background refreshes, as serve does: without them, cache
// entries expire during a long benchmark and their reloads are measured.
func runVerifier(b *testing.B, s *Server) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.verify.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
}

func benchmarkGRPC(b *testing.B, srv authv3.AuthorizationServer, toks []string) {
	reqs := extAuthzRequests(toks)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, srv)
	go gs.Serve(ln)
	b.Cleanup(gs.Stop)
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	c := authv3.NewAuthorizationClient(cc)
	for _, r := range reqs {
		if resp, err := c.Check(context.Background(), r); err != nil || resp.GetStatus().GetCode() != int32(codes.OK) {
			b.Fatalf("Check = %v, %v", resp, err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(16)
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Check(context.Background(), reqs[next.Add(1)%int64(len(reqs))])
		}
	})
}

// bareAuthz is bench/cmd/grpcbaseline's server: SHA-256 and a map lookup.
type bareAuthz map[[32]byte]bool

func (k bareAuthz) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	_, tok, _ := strings.Cut(req.GetAttributes().GetRequest().GetHttp().GetHeaders()["authorization"], " ")
	if !k[sha256.Sum256([]byte(tok))] {
		return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.Unauthenticated)}}, nil
	}
	return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}}}, nil
}

// BenchmarkBaselineGRPC is BenchmarkExtAuthzGRPC against the bare server.
func BenchmarkBaselineGRPC(b *testing.B) {
	_, toks := forwardFixture(b)
	known := bareAuthz{}
	for _, t := range toks {
		known[sha256.Sum256([]byte(t))] = true
	}
	benchmarkGRPC(b, known, toks)
}
