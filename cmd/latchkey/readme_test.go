package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMEWalkthrough runs the README's walkthrough verbatim against a freshly bootstrapped
// server, only pointing it at the test's address and bootstrap token.
func TestREADMEWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is required for the README walkthrough test")
		}
		t.Skip("curl is not installed")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- walkthrough: start -->")
	block, _, ok2 := strings.Cut(rest, "<!-- walkthrough: end -->")
	if !ok || !ok2 {
		t.Fatal("README has no walkthrough block")
	}
	script := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(block), "```sh"), "```"))

	ts := &testServer{DB: filepath.Join(t.TempDir(), "latchkey.db")}
	ts.start(t)
	var admin string
	for _, line := range strings.Split(ts.Stdout.String(), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "Admin" && f[1] == "token" {
			admin = f[2]
		}
	}
	if admin == "" {
		t.Fatalf("no admin token in the serve output:\n%s", ts.Stdout)
	}
	script = strings.NewReplacer("lkpat_paste_the_admin_token_here", admin, "http://127.0.0.1:8420", ts.URL).Replace(script)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{`"kind":"user"`, `"name":"analytics"`, `"token_string":"lksvc_`, "\n200\n",
		`"user_message":"requires service_tokens:read"`, "\n401\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("walkthrough output lacks %q:\n%s", want, got)
		}
	}
}
