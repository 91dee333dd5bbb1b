package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client"
)

// nginxBinary finds nginx, skipping the test when it is absent (and failing in CI).
func nginxBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/nginx", "/usr/bin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx is not installed (CI=true requires it; .ci/run installs it)")
	}
	t.Skip("nginx is not installed; install Debian's nginx to run the gateway test")
	return ""
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

// TestNginxAuthRequest puts a real nginx with the documented auth_request recipe
// (docs/nginx-forward-auth.conf) in front of a tiny upstream, with latchkey deciding.
func TestNginxAuthRequest(t *testing.T) {
	nginx := nginxBinary(t)
	ts := startServer(t, "enterprise", "--forward-auth-rules", rulesFile(t))
	ctx := context.Background()
	pa, _ := ts.Admin.CreateProject(ctx, ts.AccountID, "a", "")
	_, allowed := ts.serviceToken(t, "allowed", client.GrantOn("job_viewer", pa.ID))
	_, other := ts.serviceToken(t, "other", client.GrantOn("metadata_only", 0))

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream saw %s as %s", r.URL.Path, r.Header.Get("X-Latchkey-Principal"))
	}))
	defer upstream.Close()

	recipe, err := os.ReadFile("../../docs/nginx-forward-auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	latchkeyAddr := strings.TrimPrefix(ts.URL, "http://")
	conf := strings.NewReplacer(
		"server 127.0.0.1:8420;", "server "+latchkeyAddr+";",
		"server 127.0.0.1:9000;", "server "+strings.TrimPrefix(upstream.URL, "http://")+";",
		"listen 8080;", fmt.Sprintf("listen 127.0.0.1:%d;", port),
	).Replace(string(recipe))
	dir := t.TempDir()
	main := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, conf)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", confPath)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %s\n%s", out, log)
		}
		time.Sleep(20 * time.Millisecond)
	}

	get := func(token, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Token "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	path := fmt.Sprintf("/api/projects/%d/jobs/42", pa.ID)
	status, body := get(allowed.TokenString, path)
	if status != 200 || !strings.Contains(body, "upstream saw "+path) || !strings.Contains(body, fmt.Sprintf("service_token:%d", allowed.ID)) {
		t.Fatalf("allowed token through nginx: %d %q, want the upstream's answer naming the principal", status, body)
	}
	if status, _ := get(other.TokenString, path); status != http.StatusForbidden {
		t.Errorf("token without the permission: %d, want 403", status)
	}
	if status, _ := get("", path); status != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", status)
	}
	if _, err := ts.Admin.DeleteServiceToken(ctx, ts.AccountID, allowed.ID); err != nil {
		t.Fatal(err)
	}
	if status, _ := get(allowed.TokenString, path); status != http.StatusUnauthorized {
		t.Errorf("deleted token on the next request: %d, want 401", status)
	}
}
