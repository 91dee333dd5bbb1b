package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/client"
)

// rulesFile writes forward-auth rules for the tests.
func rulesFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	rules := `gateway: nginx
default: deny
rules:
  - methods: [GET]
    path: /api/projects/{project_id}/jobs/**
    resource: jobs
    access: read
  - methods: [POST]
    path: /api/projects/{project_id}/jobs/{job_id}/run
    resource: runs
    access: write
    environment_header: X-Env
  - methods: [GET]
    path: /api/semantic/**
    resource: public_models
    access: read
`
	if err := os.WriteFile(path, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type checkResult struct {
	Allowed   bool   `json:"allowed"`
	Reason    string `json:"reason"`
	Message   string `json:"message"`
	Principal *struct {
		Kind      string `json:"kind"`
		ID        int64  `json:"id"`
		AccountID int64  `json:"account_id"`
	} `json:"principal"`
}

func postJSON(t testing.TB, url, token string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func TestCheckEndpoint(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	pa, _ := ts.Admin.CreateProject(ctx, ts.AccountID, "a", "")
	pb, _ := ts.Admin.CreateProject(ctx, ts.AccountID, "b", "")
	_, checker := ts.serviceToken(t, "gateway", client.GrantOn("account_viewer", 0))
	_, jobs := ts.serviceToken(t, "jobs", client.GrantOn("job_admin", pa.ID))
	_, dev := ts.serviceToken(t, "dev", client.GrantOn("developer", 0, "production"))
	_, weak := ts.serviceToken(t, "weak", client.GrantOn("metadata_only", 0))

	check := func(token string, body map[string]any) checkResult {
		t.Helper()
		body["token"] = token
		status, out := postJSON(t, ts.URL+"/v1/check", checker.TokenString, body)
		if status != http.StatusOK {
			t.Fatalf("/v1/check status %d: %s", status, out)
		}
		if strings.Contains(string(out), token) {
			t.Fatalf("/v1/check echoed the token")
		}
		var r checkResult
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name    string
		token   string
		body    map[string]any
		allowed bool
		reason  string
	}{
		{"job_admin writes jobs on A", jobs.TokenString, map[string]any{"resource": "jobs", "access": "write", "project_id": pa.ID}, true, "ok"},
		{"job_admin on B", jobs.TokenString, map[string]any{"resource": "jobs", "access": "read", "project_id": pb.ID}, false, "forbidden"},
		{"developer writes runs in production", dev.TokenString, map[string]any{"resource": "runs", "access": "write", "project_id": pb.ID, "environment_category": "production"}, true, "ok"},
		{"developer writes runs in staging", dev.TokenString, map[string]any{"resource": "runs", "access": "write", "project_id": pb.ID, "environment_category": "staging"}, false, "forbidden"},
		{"developer reads jobs", dev.TokenString, map[string]any{"resource": "jobs", "access": "read", "project_id": pa.ID}, true, "ok"},
		{"account-level resource", checker.TokenString, map[string]any{"resource": "service_tokens", "access": "read"}, true, "ok"},
		{"metadata_only cannot write", weak.TokenString, map[string]any{"resource": "metadata", "access": "write", "project_id": pa.ID}, false, "forbidden"},
		{"made-up token", "lksvc_" + strings.Repeat("A", 46), map[string]any{"resource": "jobs", "access": "read", "project_id": pa.ID}, false, "checksum"},
		{"garbage", "hello", map[string]any{"resource": "jobs", "access": "read", "project_id": pa.ID}, false, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := check(tt.token, tt.body)
			if r.Allowed != tt.allowed || r.Reason != tt.reason {
				t.Errorf("check = %+v, want allowed=%v reason=%s", r, tt.allowed, tt.reason)
			}
			if r.Allowed && (r.Principal == nil || r.Principal.AccountID != ts.AccountID) {
				t.Errorf("principal = %+v", r.Principal)
			}
			if !r.Allowed && r.Reason == "forbidden" && !strings.Contains(r.Message, "requires") {
				t.Errorf("message %q does not name the missing permission", r.Message)
			}
		})
	}

	// A token of another account answers not found.
	other := startServerOnDB(t, ts)
	r := check(other, map[string]any{"resource": "jobs", "access": "read", "project_id": pa.ID})
	if r.Allowed || r.Reason != "not_found" {
		t.Errorf("other account's token: %+v, want not_found", r)
	}
	// Deleting a token is seen by the next check.
	if _, err := ts.Admin.DeleteServiceToken(ctx, ts.AccountID, jobs.ID); err != nil {
		t.Fatal(err)
	}
	if r := check(jobs.TokenString, map[string]any{"resource": "jobs", "access": "read", "project_id": pa.ID}); r.Reason != "revoked" {
		t.Errorf("deleted token: %+v, want revoked", r)
	}
	// Callers need service_tokens:read; bad questions are 400s naming the field.
	status, _ := postJSON(t, ts.URL+"/v1/check", weak.TokenString, map[string]any{"token": dev.TokenString, "resource": "jobs", "access": "read"})
	if status != http.StatusForbidden {
		t.Errorf("caller without service_tokens:read: status %d, want 403", status)
	}
	status, _ = postJSON(t, ts.URL+"/v1/check", "", map[string]any{"token": dev.TokenString, "resource": "jobs", "access": "read"})
	if status != http.StatusUnauthorized {
		t.Errorf("unauthenticated caller: status %d, want 401", status)
	}
	for _, bad := range []map[string]any{
		{"token": dev.TokenString, "resource": "nope", "access": "read"},
		{"token": dev.TokenString, "resource": "jobs", "access": "admin"},
		{"token": dev.TokenString, "resource": "jobs", "access": "read", "environment_category": "qa", "project_id": 1},
		{"token": dev.TokenString, "resource": "jobs", "access": "read", "client_ip": "not-an-ip"},
		{"resource": "jobs", "access": "read"},
	} {
		if status, out := postJSON(t, ts.URL+"/v1/check", checker.TokenString, bad); status != http.StatusBadRequest {
			t.Errorf("check(%v) status %d (%s), want 400", bad, status, out)
		}
	}
}

// startServerOnDB adds a second account to ts's database (with latchkey init) and returns the
// new account's admin token.
func startServerOnDB(t testing.TB, ts *testServer) string {
	t.Helper()
	dir := t.TempDir()
	pw, tok := filepath.Join(dir, "pw"), filepath.Join(dir, "tok")
	os.WriteFile(pw, []byte(testAdminPassword), 0o600)
	if out, err := runCLI(t, nil, "init", "--db", ts.DB, "--account", "Other", "--email", "other@example.com",
		"--password-file", pw, "--token-file", tok); err != nil {
		t.Fatalf("init other account: %v\n%s", err, out)
	}
	b, err := os.ReadFile(tok)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestIntrospect(t *testing.T) {
	ts := startServer(t, "enterprise")
	_, checker := ts.serviceToken(t, "gateway", client.GrantOn("account_viewer", 0))
	_, tok := ts.serviceToken(t, "subject", client.GrantOn("metadata_only", 0))
	introspect := func(caller, token string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+caller)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, out := introspect(checker.TokenString, tok.TokenString)
	if status != 200 || out["active"] != true || out["sub"] != fmt.Sprintf("service_token:%d", tok.ID) ||
		out["token_type"] != "service_token" || out["account_id"] != float64(ts.AccountID) || out["iat"] == nil {
		t.Errorf("introspect(active) = %d %v", status, out)
	}
	if _, ok := out["exp"]; ok {
		t.Errorf("introspect of a token without expiry has exp: %v", out)
	}
	status, out = introspect(checker.TokenString, "lksvc_nope")
	if status != 200 || out["active"] != false || len(out) != 1 {
		t.Errorf("introspect(invalid) = %d %v, want only active=false", status, out)
	}
	other := startServerOnDB(t, ts)
	if _, out := introspect(checker.TokenString, other); out["active"] != false {
		t.Errorf("introspect(other account's token) = %v, want inactive", out)
	}
	if status, _ := introspect("lksvc_nope", tok.TokenString); status != http.StatusUnauthorized {
		t.Errorf("introspect with a bad caller: %d, want 401", status)
	}
}

func TestForwardAuth(t *testing.T) {
	ts := startServer(t, "enterprise", "--forward-auth-rules", rulesFile(t))
	ctx := context.Background()
	pa, _ := ts.Admin.CreateProject(ctx, ts.AccountID, "a", "")
	pb, _ := ts.Admin.CreateProject(ctx, ts.AccountID, "b", "")
	_, jobs := ts.serviceToken(t, "jobs", client.GrantOn("job_viewer", pa.ID))
	_, dev := ts.serviceToken(t, "dev", client.GrantOn("developer", pa.ID, "production"))
	ask := func(token, method, uri string, extra map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/forward-auth", nil)
		if token != "" {
			req.Header.Set("Authorization", "Token "+token)
		}
		req.Header.Set("X-Original-Method", method)
		req.Header.Set("X-Original-URI", uri)
		for k, v := range extra {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if token != "" && strings.Contains(string(b), token) {
			t.Fatalf("forward-auth body repeats the token")
		}
		return resp, string(b)
	}
	tests := []struct {
		name, token, method, uri string
		extra                    map[string]string
		status                   int
	}{
		{"read jobs on A", jobs.TokenString, "GET", fmt.Sprintf("/api/projects/%d/jobs/7?x=1", pa.ID), nil, 200},
		{"read jobs on B", jobs.TokenString, "GET", fmt.Sprintf("/api/projects/%d/jobs/", pb.ID), nil, 403},
		{"no rule", jobs.TokenString, "DELETE", fmt.Sprintf("/api/projects/%d/jobs/7", pa.ID), nil, 403},
		{"no token", "", "GET", fmt.Sprintf("/api/projects/%d/jobs/7", pa.ID), nil, 401},
		{"garbage token", "lksvc_garbage", "GET", fmt.Sprintf("/api/projects/%d/jobs/7", pa.ID), nil, 401},
		{"run in production", dev.TokenString, "POST", fmt.Sprintf("/api/projects/%d/jobs/3/run", pa.ID), map[string]string{"X-Env": "production"}, 200},
		{"run in staging", dev.TokenString, "POST", fmt.Sprintf("/api/projects/%d/jobs/3/run", pa.ID), map[string]string{"X-Env": "staging"}, 403},
		// The rules name nginx: Traefik's headers are not read, and nginx's are required.
		{"traefik headers", jobs.TokenString, "", "", map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": fmt.Sprintf("/api/projects/%d/jobs", pa.ID)}, 400},
		{"non-numeric project", jobs.TokenString, "GET", "/api/projects/abc/jobs/1", nil, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ask(tt.token, tt.method, tt.uri, tt.extra)
			if resp.StatusCode != tt.status {
				t.Fatalf("forward-auth %s %s = %d (%s), want %d", tt.method, tt.uri, resp.StatusCode, body, tt.status)
			}
			if tt.status == 200 {
				if got := resp.Header.Get("X-Latchkey-Account-Id"); got != fmt.Sprint(ts.AccountID) {
					t.Errorf("X-Latchkey-Account-Id = %q", got)
				}
				if got := resp.Header.Get("X-Latchkey-Principal"); !strings.HasPrefix(got, "service_token:") {
					t.Errorf("X-Latchkey-Principal = %q", got)
				}
			}
		})
	}
	if _, err := ts.Admin.DeleteServiceToken(ctx, ts.AccountID, jobs.ID); err != nil {
		t.Fatal(err)
	}
	if resp, _ := ask(jobs.TokenString, "GET", fmt.Sprintf("/api/projects/%d/jobs/7", pa.ID), nil); resp.StatusCode != 401 {
		t.Errorf("deleted token: %d, want 401", resp.StatusCode)
	}
}

func TestForwardAuthGatewaySecret(t *testing.T) {
	ts := startServer(t, "enterprise", "--forward-auth-rules", rulesFile(t), "--forward-auth-secret", "s3cret-gateway")
	_, tok := ts.serviceToken(t, "sem", client.GrantOn("semantic_layer_only", 0))
	for _, tt := range []struct {
		secret string
		status int
	}{{"", 403}, {"wrong", 403}, {"s3cret-gateway", 200}} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/forward-auth", nil)
		req.Header.Set("Authorization", "Token "+tok.TokenString)
		req.Header.Set("X-Original-Method", "GET")
		req.Header.Set("X-Original-URI", "/api/semantic/query")
		if tt.secret != "" {
			req.Header.Set("X-Latchkey-Forward-Secret", tt.secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("forward-auth with secret %q: %d, want %d", tt.secret, resp.StatusCode, tt.status)
		}
	}
}

// TestForwardAuthRefusesPathTricks: a path that an upstream would resolve to another project
// must not be checked as the project it spells first.
func TestForwardAuthRefusesPathTricks(t *testing.T) {
	ts := startServer(t, "enterprise", "--forward-auth-rules", rulesFile(t))
	ctx := context.Background()
	pa, _ := ts.Admin.CreateProject(ctx, ts.AccountID, "a", "")
	pb, _ := ts.Admin.CreateProject(ctx, ts.AccountID, "b", "")
	_, viewer := ts.serviceToken(t, "viewer", client.GrantOn("job_viewer", pa.ID))
	for _, uri := range []string{
		fmt.Sprintf("/api/projects/%d/jobs/../../%d/jobs/x", pa.ID, pb.ID),
		fmt.Sprintf("/api/projects/%d/jobs/%%2e%%2e/%%2e%%2e/%d/jobs/x", pa.ID, pb.ID),
		fmt.Sprintf("//api/projects/%d/jobs/x", pb.ID),
	} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/forward-auth", nil)
		req.Header.Set("Authorization", "Token "+viewer.TokenString)
		req.Header.Set("X-Original-Method", "GET")
		req.Header.Set("X-Original-URI", uri)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Latchkey-Reason") != "non_canonical_path" {
			t.Errorf("forward-auth %s = %d (%s), want 403 non_canonical_path", uri, resp.StatusCode, resp.Header.Get("X-Latchkey-Reason"))
		}
	}
}
