package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

func TestCLITokenCommands(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	p, err := ts.Admin.CreateProject(ctx, ts.AccountID, "analytics", "")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LATCHKEY_URL": ts.URL, "LATCHKEY_TOKEN": ts.AdminToken}

	out, err := runCLI(t, env, "token", "create", "--name", "ci", "--grant", "job_admin:project="+itoa(p.ID), "--grant", "metadata_only:all",
		"--grant", "developer:project="+itoa(p.ID)+":envs=production")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	tok := regexp.MustCompile(`lksvc_[0-9A-Za-z]{46}`).FindString(out)
	if tok == "" || !strings.Contains(out, "shown once") || !strings.Contains(out, "job_admin on project") {
		t.Fatalf("token create output:\n%s", out)
	}
	w, err := client.New(ts.URL, tok).Whoami(ctx)
	if err != nil || w.Kind != "service_token" || w.Name != "ci" {
		t.Fatalf("the created token: %+v, %v", w, err)
	}
	quiet, err := runCLI(t, env, "token", "create", "--name", "quiet", "--grant", "metadata_only:all", "-q")
	if err != nil || !regexp.MustCompile(`^lksvc_[0-9A-Za-z]{46}\n$`).MatchString(quiet) {
		t.Fatalf("token create -q printed %q, %v; want only the token", quiet, err)
	}

	list, err := runCLI(t, env, "token", "list")
	if err != nil || !strings.Contains(list, "ci") || !strings.Contains(list, "quiet") || strings.Contains(list, tok) {
		t.Fatalf("token list:\n%s (%v)", list, err)
	}
	var toks []apitype.Token
	js, err := runCLI(t, env, "token", "list", "--json")
	if err != nil || json.Unmarshal([]byte(js), &toks) != nil || len(toks) != 2 {
		t.Fatalf("token list --json: %v\n%s", err, js)
	}
	id := itoa(toks[0].ID)

	rot, err := runCLI(t, env, "token", "rotate", id, "--grace", "1h", "-q")
	if err != nil {
		t.Fatalf("token rotate: %v\n%s", err, rot)
	}
	newTok := strings.TrimSpace(rot)
	for _, s := range []string{tok, newTok} {
		if _, err := client.New(ts.URL, s).Whoami(ctx); err != nil {
			t.Errorf("during the grace period a token fails: %v", err)
		}
	}
	if out, err := runCLI(t, env, "token", "delete", id); err != nil || !strings.Contains(out, "Deleted") {
		t.Fatalf("token delete: %v\n%s", err, out)
	}
	if _, err := client.New(ts.URL, tok).Whoami(ctx); client.StatusOf(err) != 401 {
		t.Errorf("deleted token: %v, want 401", err)
	}

	who, err := runCLI(t, env, "whoami")
	if err != nil || !strings.Contains(who, "user") || !strings.Contains(who, "license: developer") {
		t.Errorf("whoami:\n%s (%v)", who, err)
	}
	// Clear errors for bad input, none of which echo a token.
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"LATCHKEY_URL": ts.URL}, []string{"whoami"}, "no token"},
		{env, []string{"token", "create", "--grant", "metadata_only:all"}, "--name is required"},
		{env, []string{"token", "create", "--name", "x", "--grant", "metadata_only"}, "SET:all or SET:project=ID"},
		{env, []string{"token", "create", "--name", "x", "--grant", "nope:all"}, "unknown permission set"},
		{env, []string{"token", "delete", "abc"}, "not a positive integer"},
		{map[string]string{"LATCHKEY_URL": ts.URL, "LATCHKEY_TOKEN": "lksvc_wrong"}, []string{"token", "list"}, "malformed token"},
		{nil, []string{"serve", "--db", filepath.Join(t.TempDir(), "gc.db"), "--gc-percent", "-5"}, "want -1 (off) or a percentage"},
		{nil, []string{"serve", "--db", filepath.Join(t.TempDir(), "lock.db"), "--pg-lock-timeout", "0s"}, "want at least 1ms"},
		{nil, []string{"serve", "--db", filepath.Join(t.TempDir(), "stale.db"), "--stale-if-error", "-1s"}, "want 0 (off) or more"},
		{nil, []string{"serve", "--db", filepath.Join(t.TempDir(), "key.db"), "--addr", "127.0.0.1:0", "--secret-key", "short"}, "at least 32 characters"},
		{nil, []string{"serve", "--db", filepath.Join(t.TempDir(), "url.db"), "--addr", "127.0.0.1:0", "--public-url", "latchkey.example.com"}, "absolute http(s) URL"},
	} {
		out, err := runCLI(t, tt.env, tt.args...)
		if err == nil || !strings.Contains(out+err.Error(), tt.want) {
			t.Errorf("latchkey %v = %v\n%s; want an error containing %q", tt.args, err, out, tt.want)
		}
	}
	// The server's refusal, as main prints it: "latchkey: " once, then the status and message.
	if _, err := runCLI(t, env, "token", "delete", "999999"); err == nil || !strings.HasPrefix(err.Error(), "404 ") {
		t.Errorf("latchkey token delete 999999 = %v; want an error starting with the status (main adds \"latchkey: \")", err)
	}
}

// TestHelpEverywhere checks that every command explains itself.
func TestHelpEverywhere(t *testing.T) {
	e := &env{getenv: func(string) string { return "" }}
	var cmds []*cobra.Command
	root := rootCmd(e)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		cmds = append(cmds, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for _, c := range cmds[1:] {
		path := strings.Fields(c.CommandPath())[1:]
		out, err := runCLI(t, nil, append(path, "--help")...)
		if err != nil || !strings.Contains(out, "Usage:") || c.Short == "" {
			t.Errorf("latchkey %s --help: %v\n%s", strings.Join(path, " "), err, out)
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Usage == "" {
				t.Errorf("flag --%s of %q has no help text", f.Name, c.CommandPath())
			}
		})
	}
}
