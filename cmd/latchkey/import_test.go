package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey/latchkey/client"
)

func TestImportLegacyTokens(t *testing.T) {
	ts := startServer(t, "team")
	ctx := context.Background()
	p, err := ts.Admin.CreateProject(ctx, ts.AccountID, "warehouse", "")
	if err != nil {
		t.Fatal(err)
	}
	plain := "0123456789abcdef0123456789abcdef01234567"
	stored := "fedcba9876543210fedcba9876543210fedcba98"
	hash, _ := bcrypt.GenerateFromPassword([]byte(stored), bcrypt.MinCost)
	byName := "aaaaaaaabbbbbbbbccccccccddddddddeeeeeeee"
	lines := []string{
		fmt.Sprintf(`{"account_id": %d, "name": "old airflow", "token": %q, "permission_grants": [{"permission_set": "job_admin", "project_id": %d}], "created_at": "2023-04-01T00:00:00Z"}`, ts.AccountID, plain, p.ID),
		fmt.Sprintf(`{"account_id": %d, "name": "old dbt", "token_bcrypt": %q, "token_prefix": %q, "permission_grants": [{"permission_set": "metadata_only", "all_projects": true}]}`, ts.AccountID, hash, stored[:8]),
		`# a comment`,
		`{not json`,
		fmt.Sprintf(`{"account_id": %d, "name": "bad token", "token": "ABCDEF"}`, ts.AccountID),
		fmt.Sprintf(`{"account_id": %d, "name": "plan", "token": "1111111111111111111111111111111111111111", "permission_grants": [{"permission_set": "security_admin", "all_projects": true}]}`, ts.AccountID),
		fmt.Sprintf(`{"account_id": %d, "name": "project", "token": "2222222222222222222222222222222222222222", "permission_grants": [{"permission_set": "job_admin", "project_id": 999}]}`, ts.AccountID),
		fmt.Sprintf(`{"account_id": %d, "token": "3333333333333333333333333333333333333333"}`, ts.AccountID),
		fmt.Sprintf(`{"account_id": %d, "name": "dup", "token": %q}`, ts.AccountID, plain),
		`{"account_id": 424242, "name": "nowhere", "token": "4444444444444444444444444444444444444444"}`,
		fmt.Sprintf(`{"account": "Acme", "name": "by name", "token": %q, "permission_grants": [{"permission_set": "readonly", "all_projects": true}]}`, byName),
	}
	file := filepath.Join(t.TempDir(), "tokens.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, nil, "import", "--db", ts.DB, "--file", file, "--bcrypt-cost", "4")
	if err == nil {
		t.Fatalf("import with bad lines succeeded; want a non-zero exit\n%s", out)
	}
	for _, want := range []string{"imported 3 legacy tokens; 7 bad lines skipped", "line 4: not a JSON object", "line 5: token is not a legacy token",
		"line 6: permission grant 1: permission set security_admin is not available to service tokens on the team plan",
		"line 7: permission grant 1: project 999 does not exist", "line 8: name is required", "line 9: the same token is on line 1",
		"line 10: account 424242 does not exist"} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{plain, stored, byName} {
		if strings.Contains(out, secret) {
			t.Errorf("import output contains a token")
		}
	}
	// Running the same file again imports nothing twice.
	out, _ = runCLI(t, nil, "import", "--db", ts.DB, "--file", file, "--bcrypt-cost", "4")
	if !strings.Contains(out, "imported 0 legacy tokens") || !strings.Contains(out, "line 1: this token was already imported") {
		t.Errorf("second import:\n%s", out)
	}

	// The imported tokens work, slowly, and are marked legacy.
	for _, tok := range []string{plain, stored, byName} {
		w, err := client.New(ts.URL, tok).Whoami(ctx)
		if err != nil {
			t.Fatalf("whoami with an imported legacy token: %v", err)
		}
		if !w.Legacy || w.Kind != "service_token" {
			t.Errorf("whoami = %+v, want a legacy service token", w)
		}
	}
	c := client.New(ts.URL, plain)
	if _, err := c.Do(ctx, http.MethodGet, pathf("/api/v3/accounts/%d/projects/%d/", ts.AccountID, p.ID), nil, nil); err != nil {
		t.Errorf("legacy job_admin token reading its project: %v", err)
	}
	list, _, err := ts.Admin.ServiceTokens(ctx, ts.AccountID, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	legacy := 0
	for _, tok := range list {
		if tok.Legacy {
			legacy++
			if tok.Name == "old airflow" && !strings.HasPrefix(tok.CreatedAt, "2023-04-01") {
				t.Errorf("created_at = %s, want the imported 2023-04-01", tok.CreatedAt)
			}
			if !strings.HasSuffix(tok.Display, "…") || strings.Contains(tok.Display, plain) {
				t.Errorf("display = %q", tok.Display)
			}
		}
	}
	if legacy != 3 {
		t.Errorf("legacy tokens listed = %d, want 3", legacy)
	}
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "latchkey_legacy_token_verifications_total 3") {
		t.Errorf("metrics do not count 3 slow-path legacy verifications (the fourth use is cached):\n%s", grepLines(string(body), "legacy"))
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
