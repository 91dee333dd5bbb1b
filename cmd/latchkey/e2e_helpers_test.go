package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

// call sends one request with c and returns the HTTP status (the envelope's status code on
// success) and the error envelope's details on failure.
func call(c *client.Client, method, path string, body any) (int, *client.APIError) {
	env, err := c.Do(context.Background(), method, path, body, nil)
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae.StatusCode, ae
	}
	if err != nil {
		return -1, &client.APIError{Message: err.Error()}
	}
	return env.Status.Code, nil
}

// mustDo sends a request that must succeed and decodes its data into out (may be nil).
func mustDo(t testing.TB, c *client.Client, method, path string, body, out any) *apitype.Envelope {
	t.Helper()
	env, err := c.Do(context.Background(), method, path, body, out)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return env
}

// wantAPIError checks that err is an *client.APIError with status and, when msgParts are given,
// a user_message containing each of them.
func wantAPIError(t testing.TB, what string, err error, status int, msgParts ...string) *client.APIError {
	t.Helper()
	var ae *client.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("%s: error %v, want status %d", what, err, status)
	}
	if ae.StatusCode != status {
		t.Fatalf("%s: status %d (%s), want %d", what, ae.StatusCode, ae.Message, status)
	}
	for _, p := range msgParts {
		if !strings.Contains(ae.Message, p) {
			t.Errorf("%s: user_message %q, want it to contain %q", what, ae.Message, p)
		}
	}
	return ae
}

// rawResponse is an HTTP response read in full, with its envelope decoded when it has one.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
	Env    apitype.Envelope
	// EnvErr is the error decoding Body as an envelope.
	EnvErr error
}

// rawDo sends a request with full control over the Authorization header (empty: none) and the
// body bytes (nil: none), for the compatibility surface the client package hides.
func rawDo(t testing.TB, baseURL, method, path, authorization string, body []byte) rawResponse {
	t.Helper()
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, baseURL+path, rdr)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
	r.EnvErr = json.Unmarshal(b, &r.Env)
	return r
}

// jsonKeys decodes data (an object or an array of objects) and reports whether any object,
// at any depth, has key.
func hasJSONKey(t testing.TB, data []byte, key string) bool {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == key || walk(e) {
					return true
				}
			}
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// addAccount bootstraps one more account in the running server's database with `latchkey
// init`, its admin being the first account's admin user (so no new password hash), and returns
// its id and a client with its admin PAT.
func (ts *testServer) addAccount(t testing.TB, name, plan string) (int64, *client.Client) {
	t.Helper()
	dir := t.TempDir()
	pwFile, tokFile := filepath.Join(dir, "pw"), filepath.Join(dir, "admin.token")
	if err := os.WriteFile(pwFile, []byte(testAdminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, nil, "init", "--db", ts.DB, "--account", name, "--plan", plan, "--email", ts.AdminEmail,
		"--password-file", pwFile, "--token-file", tokFile)
	if err != nil {
		t.Fatalf("latchkey init (second account): %v\n%s", err, out)
	}
	id, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		t.Fatalf("latchkey init printed %q, want the account id", out)
	}
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	return id, client.New(ts.URL, strings.TrimSpace(string(tok)))
}

// adminUserID returns the id of the bootstrap admin user.
func (ts *testServer) adminUserID(t testing.TB) int64 {
	t.Helper()
	w, err := ts.Admin.Whoami(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return w.UserID
}

// membershipID returns a user's membership (dbt "permission") id in the server's account.
func (ts *testServer) membershipID(t testing.TB, userID int64) int64 {
	t.Helper()
	var u apitype.User
	mustDo(t, ts.Admin, http.MethodGet, pathf("/api/v3/accounts/%d/users/%d/", ts.AccountID, userID), nil, &u)
	for _, m := range u.Permissions {
		if m.AccountID == ts.AccountID {
			return m.ID
		}
	}
	t.Fatalf("user %d has no membership in account %d", userID, ts.AccountID)
	return 0
}

// project creates a project with the admin client.
func (ts *testServer) project(t testing.TB, name string) int64 {
	t.Helper()
	p, err := ts.Admin.CreateProject(context.Background(), ts.AccountID, name, "")
	if err != nil {
		t.Fatalf("CreateProject(%s): %v", name, err)
	}
	return p.ID
}

// group creates a group with grants with the admin client.
func (ts *testServer) group(t testing.TB, name string, grants ...apitype.Grant) int64 {
	t.Helper()
	if grants == nil {
		grants = []apitype.Grant{}
	}
	g, err := ts.Admin.CreateGroup(context.Background(), ts.AccountID, name, grants)
	if err != nil {
		t.Fatalf("CreateGroup(%s): %v", name, err)
	}
	return g.ID
}

// passwordlessUser adds a member who cannot sign in (no password hash to compute), for tests
// that act on a user rather than as one.
func (ts *testServer) passwordlessUser(t testing.TB, email, license string, groupIDs []int64) *apitype.User {
	t.Helper()
	u, err := ts.Admin.CreateUser(context.Background(), ts.AccountID, client.CreateUserRequest{Email: email, LicenseType: license, GroupIDs: groupIDs})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}
