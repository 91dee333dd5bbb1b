package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// caddyBinary finds Caddy, skipping the test when it is absent (and failing in CI).
func caddyBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("caddy"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/caddy"); err == nil {
		return "/usr/bin/caddy"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("caddy is not installed (CI=true requires it; .ci/run installs it)")
	}
	t.Skip("caddy is not installed; install Debian's caddy to run the gateway test")
	return ""
}

// TestCaddyForwardAuth puts a real Caddy with the documented forward_auth recipe
// (docs/Caddyfile.forward-auth, only its addresses changed) in front of an upstream, with
// latchkey deciding from the documented rules naming gateway: caddy, and sends the gateway
// table through it.
func TestCaddyForwardAuth(t *testing.T) {
	caddy := caddyBinary(t)
	f := newGatewayFixture(t, "caddy")

	recipe, err := os.ReadFile("../../docs/Caddyfile.forward-auth")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	site := replaceAll(t, string(recipe),
		"forward_auth 127.0.0.1:8420 {", "forward_auth "+strings.TrimPrefix(f.ts.URL, "http://")+" {",
		"reverse_proxy 127.0.0.1:9000", "reverse_proxy "+strings.TrimPrefix(f.upstream.URL, "http://"),
		"\n:8080 {", fmt.Sprintf("\n:%d {", port),
	)
	// The global options keep test runs apart: no admin endpoint (it listens on a fixed port),
	// no automatic HTTPS, and state under the test's own directories.
	dir := t.TempDir()
	conf := "{\n\tadmin off\n\tauto_https off\n\tstorage file_system " + filepath.Join(dir, "data") + "\n}\n\n" + site
	confPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy, "run", "--config", confPath, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	logs := out.String
	waitForPort(t, "caddy", port, logs)
	f.run(t, fmt.Sprintf("http://127.0.0.1:%d", port), logs)
}
