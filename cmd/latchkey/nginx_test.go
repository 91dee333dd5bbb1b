package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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

// TestNginxAuthRequest puts a real nginx with the documented auth_request recipe
// (docs/nginx-forward-auth.conf, only its addresses changed) in front of an upstream, with
// latchkey deciding from the documented rules (gateway: nginx), and sends the gateway table
// through it: forged X-Original-*, X-Forwarded-*, environment, address and identity headers
// must change nothing.
func TestNginxAuthRequest(t *testing.T) {
	nginx := nginxBinary(t)
	f := newGatewayFixture(t, "nginx")

	recipe, err := os.ReadFile("../../docs/nginx-forward-auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := replaceAll(t, string(recipe),
		"server 127.0.0.1:8420;", "server "+strings.TrimPrefix(f.ts.URL, "http://")+";",
		"server 127.0.0.1:9000;", "server "+strings.TrimPrefix(f.upstream.URL, "http://")+";",
		"listen 8080;", fmt.Sprintf("listen 127.0.0.1:%d;", port),
	)
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
	logs := func() string {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return out.String() + string(log)
	}
	waitForPort(t, "nginx", port, logs)
	f.run(t, fmt.Sprintf("http://127.0.0.1:%d", port), logs)
}

// replaceAll replaces each old string of a recipe by its new one, failing when the recipe no
// longer contains it (the test would otherwise run against the documented addresses).
func replaceAll(t *testing.T, recipe string, oldnew ...string) string {
	t.Helper()
	for i := 0; i < len(oldnew); i += 2 {
		if strings.Count(recipe, oldnew[i]) != 1 {
			t.Fatalf("the recipe should contain %q exactly once", oldnew[i])
		}
		recipe = strings.Replace(recipe, oldnew[i], oldnew[i+1], 1)
	}
	return recipe
}
