package main

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

// latchkey trust-policy creates, lists, shows and deletes trust policies; a malformed condition
// is refused before anything is sent, and the server's refusals name their field.
func TestCLITrustPolicy(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	svc, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "deployer",
		PermissionGrants: []apitype.Grant{client.GrantOn("metadata_only", 0)}})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LATCHKEY_URL": ts.URL, "LATCHKEY_TOKEN": ts.AdminToken}
	base := []string{"trust-policy", "create", "--name", "etl deploys", "--issuer", "https://token.actions.githubusercontent.com",
		"--audience", ts.URL, "--service-token", strconv.FormatInt(svc.ID, 10)}
	if out, err := runCLI(t, env, append(base, "--condition", "repository")...); err == nil || !strings.Contains(out+err.Error(), "claim=value") {
		t.Errorf("a malformed condition: %v %s", err, out)
	}
	if out, err := runCLI(t, env, base...); err == nil || !strings.Contains(err.Error(), "condition") {
		t.Errorf("no condition: %v %s", err, out)
	}
	out, err := runCLI(t, env, append(base, "--condition", "repository=acme/etl", "--condition", "ref~refs/heads/*", "--grant", "metadata_only")...)
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Conditions: repository=acme/etl, ref~refs/heads/*") || !strings.Contains(out, "Grants: metadata_only") {
		t.Errorf("create printed:\n%s", out)
	}
	id := strings.Fields(out)[0]
	out, err = runCLI(t, env, "trust-policy", "list")
	if err != nil || !strings.Contains(out, "etl deploys") || !strings.Contains(out, "https://token.actions.githubusercontent.com") {
		t.Errorf("list: %v\n%s", err, out)
	}
	if out, err = runCLI(t, env, "trust-policy", "show", id, "--json"); err != nil || !strings.Contains(out, `"service_token_id": `+strconv.FormatInt(svc.ID, 10)) {
		t.Errorf("show --json: %v\n%s", err, out)
	}
	if out, err = runCLI(t, env, "trust-policy", "delete", id); err != nil || !strings.Contains(out, "deleted") {
		t.Errorf("delete: %v\n%s", err, out)
	}
	if out, err = runCLI(t, env, "trust-policy", "list"); err != nil || strings.Contains(out, "etl deploys") {
		t.Errorf("list after delete: %v\n%s", err, out)
	}
}
