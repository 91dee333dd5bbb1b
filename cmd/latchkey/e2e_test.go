package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

func TestServeBootstrapsEmptyDatabase(t *testing.T) {
	ts := &testServer{DB: t.TempDir() + "/fresh.db"}
	ts.start(t)
	out := ts.Stdout.String()
	for _, want := range []string{"Sign in at", "Email", "Password", "Admin token lkpat_"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve output lacks %q:\n%s", want, out)
		}
	}
	var tok string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "Admin" && f[1] == "token" {
			tok = f[2]
		}
	}
	w, err := client.New(ts.URL, tok).Whoami(context.Background())
	if err != nil {
		t.Fatalf("whoami with the bootstrap token: %v", err)
	}
	if w.Kind != "user" || w.LicenseType != "developer" || w.Account.Plan != "enterprise" {
		t.Errorf("bootstrap admin = %+v", w)
	}
	// A second start on the same database bootstraps nothing.
	ts.Restart(t)
	if strings.Contains(ts.Stdout.String(), "Admin token") {
		t.Errorf("second start bootstrapped again")
	}
}

func TestServiceTokenLifecycle(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	pa, err := ts.Admin.CreateProject(ctx, ts.AccountID, "analytics", "")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := ts.Admin.CreateProject(ctx, ts.AccountID, "marketing", "")
	if err != nil {
		t.Fatal(err)
	}
	c, tok := ts.serviceToken(t, "ci", client.GrantOn("job_admin", pa.ID), client.GrantOn("metadata_only", 0))
	if !strings.HasPrefix(tok.TokenString, "lksvc_"+tok.UID) {
		t.Fatalf("token_string = %.12s…, want lksvc_+uid", tok.TokenString)
	}
	// The token reads project A, not project B.
	if _, err := c.Do(ctx, http.MethodGet, pathf("/api/v3/accounts/%d/projects/%d/", ts.AccountID, pa.ID), nil, nil); err != nil {
		t.Errorf("job_admin token reading its project: %v", err)
	}
	_, err = c.Do(ctx, http.MethodGet, pathf("/api/v3/accounts/%d/projects/%d/", ts.AccountID, pb.ID), nil, nil)
	wantStatus(t, "job_admin token reading another project", err, http.StatusNotFound)
	projects, _, err := c.Projects(ctx, ts.AccountID, client.ListOptions{})
	if err != nil || len(projects) != 1 || projects[0].ID != pa.ID {
		t.Errorf("project list for job_admin on A = %v, %v; want only A", projects, err)
	}
	// token_string is never returned again.
	got, err := ts.Admin.ServiceToken(ctx, ts.AccountID, tok.ID)
	if err != nil || got.TokenString != "" {
		t.Fatalf("GET token = %+v, %v; want no token_string", got, err)
	}
	list, _, err := ts.Admin.ServiceTokens(ctx, ts.AccountID, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range list {
		if l.TokenString != "" {
			t.Errorf("list returned a token_string")
		}
	}
	// Rename with PUT and with POST.
	if r, err := ts.Admin.RenameServiceToken(ctx, ts.AccountID, tok.ID, "ci-renamed"); err != nil || r.Name != "ci-renamed" {
		t.Fatalf("rename: %v, %v", r, err)
	}
	var r apitype.Token
	if _, err := ts.Admin.Do(ctx, http.MethodPost, pathf("/api/v3/accounts/%d/service-tokens/%d/", ts.AccountID, tok.ID),
		map[string]any{"name": "ci-posted", "account_id": ts.AccountID, "uid": "ignored", "description": "ignored"}, &r); err != nil || r.Name != "ci-posted" {
		t.Fatalf("rename by POST: %+v, %v", r, err)
	}
	// Delete: the token stops working at once and still reads by id with state 2.
	if _, err := ts.Admin.DeleteServiceToken(ctx, ts.AccountID, tok.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.Whoami(ctx)
	wantStatus(t, "deleted token", err, http.StatusUnauthorized)
	got, err = ts.Admin.ServiceToken(ctx, ts.AccountID, tok.ID)
	if err != nil || got.State != 2 {
		t.Fatalf("deleted token by id = %+v, %v; want state 2", got, err)
	}
}

func TestTwoStepCreation(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	var tok apitype.Token
	_, err := ts.Admin.Do(ctx, http.MethodPost, pathf("/api/v3/accounts/%d/service-tokens/", ts.AccountID),
		map[string]any{"account_id": ts.AccountID, "name": "two-step", "state": 1, "id": nil}, &tok)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(ts.URL, tok.TokenString)
	_, err = c.Do(ctx, http.MethodGet, pathf("/api/v3/accounts/%d/service-tokens/", ts.AccountID), nil, nil)
	wantStatus(t, "token without grants listing tokens", err, http.StatusForbidden)
	body := []map[string]any{{"account_id": ts.AccountID, "service_token_id": tok.ID, "permission_set": "account_viewer", "all_projects": true}}
	var perms []apitype.Permission
	if _, err := ts.Admin.Do(ctx, http.MethodPost, pathf("/api/v3/accounts/%d/service-tokens/%d/permissions/", ts.AccountID, tok.ID), body, &perms); err != nil {
		t.Fatal(err)
	}
	if len(perms) != 1 || perms[0].PermissionSet != "account_viewer" || perms[0].ServiceTokenID == nil || *perms[0].ServiceTokenID != tok.ID {
		t.Fatalf("permissions = %+v", perms)
	}
	if _, err := c.Do(ctx, http.MethodGet, pathf("/api/v3/accounts/%d/service-tokens/", ts.AccountID), nil, nil); err != nil {
		t.Errorf("after adding account_viewer the token cannot list tokens: %v", err)
	}
	// dbt compatibility: POST again when grants exist is a 400.
	_, err = ts.Admin.Do(ctx, http.MethodPost, pathf("/api/v3/accounts/%d/service-tokens/%d/permissions/", ts.AccountID, tok.ID), body, nil)
	wantStatus(t, "second POST of permissions", err, http.StatusBadRequest)
	// PUT replaces.
	perms, err = ts.Admin.ReplaceServiceTokenPermissions(ctx, ts.AccountID, tok.ID, []apitype.Grant{client.GrantOn("metadata_only", 0)})
	if err != nil || len(perms) != 1 || perms[0].PermissionSet != "metadata_only" {
		t.Fatalf("PUT permissions = %+v, %v", perms, err)
	}
	_, err = c.Do(ctx, http.MethodGet, pathf("/api/v3/accounts/%d/service-tokens/", ts.AccountID), nil, nil)
	wantStatus(t, "after replacing grants with metadata_only", err, http.StatusForbidden)
}

func TestDatabaseAndLogsHoldNoTokenStrings(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	var secrets []string
	secrets = append(secrets, ts.AdminToken)
	for _, name := range []string{"one", "two", "three"} {
		c, tok := ts.serviceToken(t, name, client.GrantOn("account_admin", 0))
		secrets = append(secrets, tok.TokenString)
		if _, err := c.Whoami(ctx); err != nil {
			t.Fatal(err)
		}
		// A wrong token that looks right must not be logged either.
		bad := client.New(ts.URL, tok.TokenString[:len(tok.TokenString)-1]+"x")
		_, _ = bad.Whoami(ctx)
		secrets = append(secrets, bad.Token)
		rot, err := ts.Admin.RotateServiceToken(ctx, ts.AccountID, tok.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, rot.TokenString)
	}
	ts.Stop(t)
	files, _ := os.ReadDir(strings.TrimSuffix(ts.DB, "/latchkey.db"))
	for _, f := range files {
		if !strings.HasPrefix(f.Name(), "latchkey.db") {
			continue
		}
		b, err := os.ReadFile(strings.TrimSuffix(ts.DB, "latchkey.db") + f.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s contains a token string", f.Name())
			}
		}
	}
	logs := ts.Stderr.String()
	if !strings.Contains(logs, "request_id=") {
		t.Fatalf("no request log captured:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the server log contains a token string")
		}
	}
}
