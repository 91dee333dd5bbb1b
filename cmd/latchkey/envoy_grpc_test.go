package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"gopkg.in/yaml.v3"

	"github.com/latchkey/latchkey/client"
)

const envoyRecipe = "../../docs/envoy-ext-authz.yaml"

// envoyConfig is docs/envoy-ext-authz.yaml read into Envoy's own configuration types, as Envoy
// reads YAML (converted to JSON, then protobuf JSON with every field name checked).
type envoyConfig struct {
	bootstrap *bootstrapv3.Bootstrap
	hcm       *hcmv3.HttpConnectionManager
	extAuthz  *extauthzv3.ExtAuthz
	rules     string // the rules file the recipe's comment gives
}

func loadEnvoyRecipe(t *testing.T) *envoyConfig {
	t.Helper()
	b, err := os.ReadFile(envoyRecipe)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", envoyRecipe, err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("%s as JSON: %v", envoyRecipe, err)
	}
	c := &envoyConfig{bootstrap: &bootstrapv3.Bootstrap{}}
	if err := protojson.Unmarshal(js, c.bootstrap); err != nil {
		t.Fatalf("%s is not an Envoy v3 bootstrap: %v", envoyRecipe, err)
	}
	if err := c.bootstrap.ValidateAll(); err != nil {
		t.Fatalf("%s: %v", envoyRecipe, err)
	}
	listeners := c.bootstrap.GetStaticResources().GetListeners()
	if len(listeners) != 1 || len(listeners[0].GetFilterChains()) != 1 || len(listeners[0].GetFilterChains()[0].GetFilters()) != 1 {
		t.Fatalf("%s: want one listener with one HTTP connection manager", envoyRecipe)
	}
	c.hcm = &hcmv3.HttpConnectionManager{}
	unpackEnvoy(t, listeners[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().GetValue(), c.hcm)
	for _, f := range c.hcm.GetHttpFilters() {
		if f.GetName() == "envoy.filters.http.ext_authz" {
			c.extAuthz = &extauthzv3.ExtAuthz{}
			unpackEnvoy(t, f.GetTypedConfig().GetValue(), c.extAuthz)
		}
	}
	if c.extAuthz == nil {
		t.Fatalf("%s has no envoy.filters.http.ext_authz filter", envoyRecipe)
	}
	// The rules are in the header comment, after "where rules.yaml …".
	var rules []string
	in := false
	for line := range strings.SplitSeq(string(b), "\n") {
		if line == "#   gateway: envoy" {
			in = true
		}
		if in && !strings.HasPrefix(line, "#   ") {
			break
		}
		if in {
			rules = append(rules, strings.TrimPrefix(line, "#   "))
		}
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no rules in its comment", envoyRecipe)
	}
	c.rules = strings.Join(rules, "\n") + "\n"
	return c
}

// envoyValidator is what protoc-gen-validate generates for every Envoy message.
type envoyValidator interface{ ValidateAll() error }

func unpackEnvoy(t *testing.T, b []byte, m proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	if err := m.(envoyValidator).ValidateAll(); err != nil {
		t.Fatalf("%s: %T: %v", envoyRecipe, m, err)
	}
}

// contextExtensions are what Envoy puts in the CheckRequest for a route of a virtual host:
// the virtual host's context_extensions with the route's merged over them. ok is false where
// the filter is disabled.
func (c *envoyConfig) contextExtensions(t *testing.T, vhost, route string) (map[string]string, bool) {
	t.Helper()
	settings := func(cfg map[string]*anypb.Any) (*extauthzv3.ExtAuthzPerRoute, bool) {
		a, ok := cfg["envoy.filters.http.ext_authz"]
		if !ok {
			return nil, false
		}
		pr := &extauthzv3.ExtAuthzPerRoute{}
		unpackEnvoy(t, a.GetValue(), pr)
		return pr, true
	}
	out := map[string]string{}
	enabled := true
	for _, vh := range c.hcm.GetRouteConfig().GetVirtualHosts() {
		if vh.GetName() != vhost {
			continue
		}
		apply := func(pr *extauthzv3.ExtAuthzPerRoute) {
			if pr.GetDisabled() {
				enabled = false
			}
			for k, v := range pr.GetCheckSettings().GetContextExtensions() {
				out[k] = v
			}
		}
		if pr, ok := settings(vh.GetTypedPerFilterConfig()); ok {
			apply(pr)
		}
		for _, r := range vh.GetRoutes() {
			if r.GetName() != route {
				continue
			}
			if pr, ok := settings(r.GetTypedPerFilterConfig()); ok {
				apply(pr)
			}
			return out, enabled
		}
	}
	t.Fatalf("%s has no route %s in virtual host %s", envoyRecipe, route, vhost)
	return nil, false
}

// TestEnvoyRecipe checks docs/envoy-ext-authz.yaml against Envoy's configuration types and the
// settings latchkey relies on.
func TestEnvoyRecipe(t *testing.T) {
	c := loadEnvoyRecipe(t)
	x := c.extAuthz
	if x.GetTransportApiVersion() != corev3.ApiVersion_V3 || x.GetFailureModeAllow() || x.GetWithRequestBody() != nil {
		t.Errorf("ext_authz: transport_api_version %v, failure_mode_allow %v, with_request_body %v; want V3, false and none",
			x.GetTransportApiVersion(), x.GetFailureModeAllow(), x.GetWithRequestBody())
	}
	cluster := x.GetGrpcService().GetEnvoyGrpc().GetClusterName()
	if cluster == "" {
		t.Fatalf("ext_authz does not use a gRPC service (envoy_grpc)")
	}
	allowsAuthorization := false
	for _, p := range x.GetAllowedHeaders().GetPatterns() {
		allowsAuthorization = allowsAuthorization || p.GetExact() == "authorization"
	}
	if x.GetAllowedHeaders() != nil && !allowsAuthorization {
		t.Errorf("allowed_headers leaves out authorization: latchkey would see no credential")
	}
	found := false
	for _, cl := range c.bootstrap.GetStaticResources().GetClusters() {
		if cl.GetName() != cluster {
			continue
		}
		found = true
		if _, ok := cl.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]; !ok {
			t.Errorf("cluster %s does not speak HTTP/2 (gRPC needs it)", cluster)
		}
	}
	if !found {
		t.Errorf("no cluster %s", cluster)
	}
	if ext, _ := c.contextExtensions(t, "production", "production-api"); ext["X-Environment-Category"] != "production" {
		t.Errorf("production route's context extensions = %v", ext)
	}
	if _, enabled := c.contextExtensions(t, "staging", "staging-health"); enabled {
		t.Errorf("the health route still asks latchkey")
	}
}

// TestEnvoyGRPCExtAuthz serves the recipe's rules with --grpc-addr and asks latchkey over gRPC
// what Envoy, configured as the recipe says, would ask: with the context extensions of each
// route, and the client's own headers beside them.
func TestEnvoyGRPCExtAuthz(t *testing.T) {
	c := loadEnvoyRecipe(t)
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte(c.rules), 0o600); err != nil {
		t.Fatal(err)
	}
	grpcAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ts := startServer(t, "enterprise", "--forward-auth-rules", rules, "--grpc-addr", grpcAddr)
	if !strings.Contains(ts.Stdout.String(), "ext_authz (gRPC) listening on "+grpcAddr) {
		t.Errorf("serve does not say where ext_authz listens:\n%s", ts.Stdout)
	}
	ctx := context.Background()
	pa, _ := ts.Admin.CreateProject(ctx, ts.AccountID, "a", "")
	pb, _ := ts.Admin.CreateProject(ctx, ts.AccountID, "b", "")
	_, reader := ts.serviceToken(t, "reader", client.GrantOn("job_viewer", pa.ID))
	_, deployer := ts.serviceToken(t, "deployer", client.GrantOn("developer", 0, "production"))

	cc, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	authz := authv3.NewAuthorizationClient(cc)

	type ask struct {
		vhost, route string
		method, path string
		token        string
		headers      map[string]string
	}
	check := func(a ask) *authv3.CheckResponse {
		t.Helper()
		ext, enabled := c.contextExtensions(t, a.vhost, a.route)
		if !enabled {
			t.Fatalf("route %s does not ask latchkey", a.route)
		}
		h := map[string]string{":authority": a.vhost + ".example", "user-agent": "curl/8"}
		for k, v := range a.headers {
			h[k] = v
		}
		if a.token != "" {
			h["authorization"] = "Bearer " + a.token
		}
		resp, err := authz.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 51234}}}}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: a.method, Path: a.path, Headers: h, Protocol: "HTTP/1.1"}},
			ContextExtensions: ext,
		}})
		if err != nil {
			t.Fatalf("Check(%s %s): %v", a.method, a.path, err)
		}
		return resp
	}
	outcome := func(resp *authv3.CheckResponse) (int, string) {
		if resp.GetOkResponse() != nil && resp.GetStatus().GetCode() == int32(codes.OK) {
			return http.StatusOK, ""
		}
		d := resp.GetDeniedResponse()
		if d == nil {
			d = resp.GetErrorResponse()
		}
		reason := ""
		for _, h := range d.GetHeaders() {
			if h.GetHeader().GetKey() == "x-latchkey-reason" {
				reason = h.GetHeader().GetValue()
			}
		}
		return int(d.GetStatus().GetCode()), reason
	}
	jobs := func(p int64) string { return "/api/projects/" + strconv.FormatInt(p, 10) + "/jobs/7?expand=steps" }
	runs := "/api/projects/" + strconv.FormatInt(pa.ID, 10) + "/runs"

	resp := check(ask{vhost: "production", route: "production-api", method: "GET", path: jobs(pa.ID), token: reader.TokenString,
		headers: map[string]string{"x-latchkey-principal": "user:1"}})
	if status, reason := outcome(resp); status != http.StatusOK {
		t.Fatalf("reader on project a: %d %s, want OK", status, reason)
	}
	got := map[string]string{}
	for _, h := range resp.GetOkResponse().GetHeaders() {
		got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
		if h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Errorf("%s is not set over the client's copy: %v", h.GetHeader().GetKey(), h.GetAppendAction())
		}
	}
	if want := "service_token:" + strconv.FormatInt(reader.ID, 10); got["x-latchkey-principal"] != want ||
		got["x-latchkey-account-id"] != strconv.FormatInt(ts.AccountID, 10) {
		t.Errorf("identity headers %v, want %s in account %d", got, want, ts.AccountID)
	}

	for _, tt := range []struct {
		name   string
		a      ask
		status int
		reason string
	}{
		{"reader on project b", ask{vhost: "production", route: "production-api", method: "GET", path: jobs(pb.ID), token: reader.TokenString}, 403, "forbidden"},
		{"reader without a token", ask{vhost: "production", route: "production-api", method: "GET", path: jobs(pa.ID)}, 401, "missing"},
		{"reader through a dot segment", ask{vhost: "production", route: "production-api", method: "GET",
			path: "/api/projects/" + strconv.FormatInt(pb.ID, 10) + "/../" + strconv.FormatInt(pa.ID, 10) + "/jobs/7", token: reader.TokenString}, 403, "non_canonical_path"},
		{"a production run on the production host", ask{vhost: "production", route: "production-api", method: "POST", path: runs, token: deployer.TokenString}, 200, ""},
		{"a run on the staging route", ask{vhost: "staging", route: "staging-runs", method: "POST", path: runs, token: deployer.TokenString}, 403, "forbidden"},
		{"a run on the staging route, the client claiming production", ask{vhost: "staging", route: "staging-runs", method: "POST", path: runs,
			token: deployer.TokenString, headers: map[string]string{"x-environment-category": "production"}}, 403, "forbidden"},
	} {
		if status, reason := outcome(check(tt.a)); status != tt.status || reason != tt.reason {
			t.Errorf("%s: %d %q, want %d %q", tt.name, status, reason, tt.status, tt.reason)
		}
	}

	// A revocation is seen by the next question.
	if _, err := ts.Admin.DeleteServiceToken(ctx, ts.AccountID, reader.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, reason := outcome(check(ask{vhost: "production", route: "production-api", method: "GET", path: jobs(pa.ID), token: reader.TokenString}))
		if status == http.StatusUnauthorized && reason == "revoked" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a revoked token still gets %d %q", status, reason)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Shutdown stops the gRPC server too.
	ts.Stop(t)
	if _, err := authz.Check(ctx, &authv3.CheckRequest{}); err == nil {
		t.Errorf("Check after shutdown answered")
	}
}

func TestEnvoyGRPCAddrNeedsRules(t *testing.T) {
	db := filepath.Join(t.TempDir(), "latchkey.db")
	for name, env := range map[string]map[string]string{
		"flag": nil,
		"env":  {"LATCHKEY_GRPC_ADDR": "127.0.0.1:0"},
	} {
		args := []string{"serve", "--db", db, "--addr", "127.0.0.1:0"}
		if env == nil {
			args = append(args, "--grpc-addr", "127.0.0.1:0")
		}
		// Were it to start, it stops after a few seconds rather than hang the test.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var out strings.Builder
		err := run(ctx, args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &out)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "--forward-auth-rules") {
			t.Errorf("%s: serve with a gRPC address and no rules: %v\n%s", name, err, out.String())
		}
	}
}
