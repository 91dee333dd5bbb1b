package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

// syncBuffer is a goroutine-safe buffer for a running command's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is a latchkey started in-process through run, as the binary would be.
type testServer struct {
	URL        string
	DB         string
	AccountID  int64
	AdminEmail string
	AdminPass  string
	AdminToken string
	Admin      *client.Client
	Stdout     *syncBuffer
	Stderr     *syncBuffer
	stop       context.CancelFunc
	done       chan error
}

const testAdminPassword = "correct horse battery staple"

// runCLI runs the CLI with args and returns its output.
func runCLI(t testing.TB, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// startServer initialises a fresh SQLite database with an account (plan) and serves it on a
// random loopback port until the test ends.
func startServer(t testing.TB, plan string, extraArgs ...string) *testServer {
	t.Helper()
	dir := t.TempDir()
	ts := &testServer{DB: filepath.Join(dir, "latchkey.db"), AdminEmail: "admin@example.com", AdminPass: testAdminPassword}
	pwFile, tokFile := filepath.Join(dir, "pw"), filepath.Join(dir, "admin.token")
	if err := os.WriteFile(pwFile, []byte(testAdminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, nil, "init", "--db", ts.DB, "--account", "Acme", "--plan", plan, "--email", ts.AdminEmail,
		"--password-file", pwFile, "--token-file", tokFile)
	if err != nil {
		t.Fatalf("latchkey init: %v\n%s", err, out)
	}
	if ts.AccountID, err = strconv.ParseInt(strings.TrimSpace(out), 10, 64); err != nil {
		t.Fatalf("latchkey init printed %q, want the account id", out)
	}
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	ts.AdminToken = strings.TrimSpace(string(tok))
	ts.start(t, extraArgs...)
	ts.Admin = client.New(ts.URL, ts.AdminToken)
	return ts
}

var servingRE = regexp.MustCompile(`serving on (http://\S+)`)

func (ts *testServer) start(t testing.TB, extraArgs ...string) {
	t.Helper()
	ts.Stdout, ts.Stderr = &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ts.stop, ts.done = cancel, make(chan error, 1)
	args := append([]string{"serve", "--db", ts.DB, "--addr", "127.0.0.1:0"}, extraArgs...)
	go func() {
		ts.done <- run(ctx, args, func(string) string { return "" }, strings.NewReader(""), ts.Stdout, ts.Stderr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := servingRE.FindStringSubmatch(ts.Stdout.String()); m != nil {
			ts.URL = m[1]
			break
		}
		select {
		case err := <-ts.done:
			t.Fatalf("serve exited early: %v\nstdout:\n%s\nstderr:\n%s", err, ts.Stdout, ts.Stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start in time\nstdout:\n%s\nstderr:\n%s", ts.Stdout, ts.Stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() { ts.Stop(t) })
}

// Stop shuts the server down gracefully (idempotent).
func (ts *testServer) Stop(t testing.TB) {
	if ts.stop == nil {
		return
	}
	ts.stop()
	ts.stop = nil
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("serve did not shut down")
	}
}

// Restart stops and starts the server on the same database.
func (ts *testServer) Restart(t testing.TB, extraArgs ...string) {
	t.Helper()
	ts.Stop(t)
	ts.start(t, extraArgs...)
	ts.Admin = client.New(ts.URL, ts.AdminToken)
}

// user adds a user with a license (and groups, nil for the defaults), signs them in and
// returns a client authenticated with a fresh PAT of theirs, plus the user.
func (ts *testServer) user(t testing.TB, email, license string, groupIDs []int64) (*client.Client, *apitype.User) {
	t.Helper()
	ctx := context.Background()
	u, err := ts.Admin.CreateUser(ctx, ts.AccountID, client.CreateUserRequest{Email: email, Password: testAdminPassword,
		LicenseType: license, GroupIDs: groupIDs})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	sess, err := client.Login(ctx, ts.URL, email, testAdminPassword)
	if err != nil {
		t.Fatalf("Login(%s): %v", email, err)
	}
	pat, err := sess.CreatePAT(ctx, ts.AccountID, u.ID, "test pat")
	if err != nil {
		t.Fatalf("CreatePAT(%s): %v", email, err)
	}
	return client.New(ts.URL, pat.TokenString), u
}

// serviceToken creates a service token with grants and returns a client using it.
func (ts *testServer) serviceToken(t testing.TB, name string, grants ...apitype.Grant) (*client.Client, *apitype.Token) {
	t.Helper()
	if grants == nil {
		grants = []apitype.Grant{}
	}
	tok, err := ts.Admin.CreateServiceToken(context.Background(), ts.AccountID, client.CreateServiceTokenRequest{Name: name, PermissionGrants: grants})
	if err != nil {
		t.Fatalf("CreateServiceToken(%s): %v", name, err)
	}
	return client.New(ts.URL, tok.TokenString), tok
}

// groupID finds a group by name.
func (ts *testServer) groupID(t testing.TB, name string) int64 {
	t.Helper()
	groups, _, err := ts.Admin.Groups(context.Background(), ts.AccountID, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if g.Name == name {
			return g.ID
		}
	}
	t.Fatalf("no group %q", name)
	return 0
}

// wantStatus checks the HTTP status an API call failed (or succeeded, 0) with.
func wantStatus(t testing.TB, what string, err error, status int) {
	t.Helper()
	if got := client.StatusOf(err); got != status {
		t.Fatalf("%s: status %d (%v), want %d", what, got, err, status)
	}
}

func pathf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
