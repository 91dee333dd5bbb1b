package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/apitype"
)

func TestCLIWebhookCommands(t *testing.T) {
	ts := startServer(t, "enterprise")
	env := map[string]string{"LATCHKEY_URL": ts.URL, "LATCHKEY_TOKEN": ts.AdminToken}
	secretRE := regexp.MustCompile(`whsec_[A-Za-z0-9+/=]{44}`)

	out, err := runCLI(t, env, "webhook", "create", "--name", "siem", "--endpoint", "https://siem.example.com/hook", "--event", "service_token.*,leak.reported")
	if err != nil || !strings.Contains(out, "Created webhook wsu_1") || !strings.Contains(out, "shown once") || secretRE.FindString(out) == "" {
		t.Fatalf("webhook create: %v\n%s", err, out)
	}
	secret := secretRE.FindString(out)
	if list, err := runCLI(t, env, "webhook", "list"); err != nil || !strings.Contains(list, "wsu_1") || !strings.Contains(list, "active") || strings.Contains(list, secret) {
		t.Fatalf("webhook list: %v\n%s", err, list)
	}
	if out, err := runCLI(t, env, "webhook", "update", "wsu_1", "--active=false", "--name", "siem (paused)"); err != nil ||
		!strings.Contains(out, `"siem (paused)"`) || !strings.Contains(out, "Status: disabled") || !strings.Contains(out, "leak.reported") {
		t.Fatalf("webhook update: %v\n%s", err, out)
	}
	var w apitype.WebhookSubscription
	if js, err := runCLI(t, env, "webhook", "show", "1", "--json"); err != nil || json.Unmarshal([]byte(js), &w) != nil || w.Active || w.HMACSecret != "" {
		t.Fatalf("webhook show --json: %v\n%s", err, js)
	}
	rot, err := runCLI(t, env, "webhook", "rotate-secret", "wsu_1", "-q")
	if err != nil || !secretRE.MatchString(rot) || strings.Contains(rot, secret) {
		t.Fatalf("webhook rotate-secret -q: %v\n%s", err, rot)
	}
	// A secret of one's choosing comes from a file (or stdin), never the command line.
	dir := t.TempDir()
	bad, good := filepath.Join(dir, "bad"), filepath.Join(dir, "good")
	if err := os.WriteFile(bad, []byte("not-a-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte("whsec_"+base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, env, "webhook", "update", "wsu_1", "--secret-file", bad); err == nil || !strings.Contains(err.Error(), "hmac_secret") {
		t.Errorf("webhook update --secret-file (bad) = %v, want a 400 naming hmac_secret", err)
	}
	if out, err := runCLI(t, env, "webhook", "update", "wsu_1", "--secret-file", good); err != nil || strings.Contains(out, "whsec_") {
		t.Errorf("webhook update --secret-file: %v\n%s", err, out)
	}
	if _, err := runCLI(t, env, "webhook", "update", "wsu_1", "--secret", "whsec_x"); err == nil || !strings.Contains(err.Error(), "unknown flag") {
		t.Errorf("webhook update --secret = %v, want an unknown flag (secrets stay off the command line)", err)
	}
	// siem.example.com cannot be reached from here: the test says so, and why.
	if _, err := runCLI(t, env, "webhook", "test", "wsu_1"); err == nil || !strings.Contains(err.Error(), "test failed") || !strings.Contains(err.Error(), "siem.example.com") {
		t.Errorf("webhook test = %v, want a failed test naming the endpoint's host", err)
	}
	if out, err := runCLI(t, env, "webhook", "deliveries", "wsu_1"); err != nil || !strings.Contains(out, "EVENT") {
		t.Errorf("webhook deliveries: %v\n%s", err, out)
	}
	if _, err := runCLI(t, env, "webhook", "redeliver", "999"); err == nil || !strings.HasPrefix(err.Error(), "404 ") {
		t.Errorf("webhook redeliver 999 = %v, want 404", err)
	}
	if out, err := runCLI(t, env, "webhook", "delete", "wsu_1"); err != nil || !strings.Contains(out, "Deleted webhook wsu_1") {
		t.Fatalf("webhook delete: %v\n%s", err, out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"webhook", "create", "--name", "x", "--event", "*"}, "--endpoint and --event are required"},
		{[]string{"webhook", "create", "--name", "x", "--endpoint", "https://x.example.com/", "--event", "job.run.completed"}, "is not an event type"},
		{[]string{"webhook", "create", "--name", "x", "--endpoint", "http://x.example.com/", "--event", "*"}, "https"},
		{[]string{"webhook", "show", "abc"}, "not wsu_<number>"},
		{[]string{"webhook", "show", "wsu_1"}, "404"},
	} {
		out, err := runCLI(t, env, tt.args...)
		if err == nil || !strings.Contains(out+err.Error(), tt.want) {
			t.Errorf("latchkey %v = %v\n%s; want an error containing %q", tt.args, err, out, tt.want)
		}
	}
}
