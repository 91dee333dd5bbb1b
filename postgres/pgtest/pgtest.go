// Package pgtest gives tests and benchmarks a PostgreSQL schema of their own on the server named
// by LATCHKEY_TEST_POSTGRES_URL (default DefaultURL). When the server cannot be reached they skip
// with the reason, or fail when CI=true, where PostgreSQL is required.
//
// Tests in several packages (go test runs packages in parallel) share one server, and a test
// may stop it (Exclusive). Every Schema holds a shared lock on a file in the temporary directory
// for as long as the test runs; Exclusive waits for all of them, across processes.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// DefaultURL is the server tests use when LATCHKEY_TEST_POSTGRES_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// URL returns the test server's URL.
func URL() string {
	if u := os.Getenv("LATCHKEY_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultURL
}

var (
	adminOnce sync.Once
	admin     *sql.DB
	adminErr  error
)

// Admin returns a small pool on the test server's default schema, or skips (fails in CI) when
// the server is unreachable.
func Admin(t testing.TB) *sql.DB {
	t.Helper()
	// Hold the server (shared) before the first ping too: a test of another package that has
	// stopped PostgreSQL under Exclusive would otherwise fail that ping, and the failure, kept by
	// adminOnce, every PostgreSQL test of this process.
	holdShared(t)
	adminOnce.Do(func() {
		admin, adminErr = sql.Open("pgx", URL())
		if adminErr != nil {
			return
		}
		admin.SetMaxOpenConns(2)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if adminErr = admin.PingContext(ctx); adminErr != nil {
			admin.Close()
		}
	})
	if adminErr != nil {
		msg := fmt.Sprintf("PostgreSQL is not reachable at %s (set LATCHKEY_TEST_POSTGRES_URL): %v", redact(URL()), adminErr)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return admin
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Schema creates an empty schema lk_<random>, drops it when the test ends, and returns the
// server URL with search_path set to it and params (name, value pairs such as
// "pool_max_conns", "4") added.
func Schema(t testing.TB, params ...string) string {
	t.Helper()
	db := Admin(t)
	if len(params)%2 != 0 {
		t.Fatalf("pgtest.Schema: params must be name, value pairs, got %q", params)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "lk_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(URL())
	if err != nil {
		t.Fatalf("LATCHKEY_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	for i := 0; i < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// The server lock: shared while a test uses the server, exclusive while one stops it.
var (
	lockMu sync.Mutex
	shared = map[*os.File]bool{}
)

func lockPath() string { return filepath.Join(os.TempDir(), "latchkey-pgtest.lock") }

func holdShared(t testing.TB) {
	t.Helper()
	lockMu.Lock()
	defer lockMu.Unlock()
	f, err := os.OpenFile(lockPath(), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("pgtest lock: %v", err)
	}
	if err := lockFile(f, false); err != nil {
		f.Close()
		t.Fatalf("pgtest lock: %v", err)
	}
	shared[f] = true
	t.Cleanup(func() {
		lockMu.Lock()
		defer lockMu.Unlock()
		delete(shared, f)
		unlockFile(f)
		f.Close()
	})
}

// Exclusive runs fn once no other test, in this process or another, is using the server, and
// keeps them from starting until fn returns: for tests that stop or restart PostgreSQL. The
// calling test's own schemas stay.
func Exclusive(t testing.TB, fn func()) {
	t.Helper()
	lockMu.Lock()
	defer lockMu.Unlock()
	for f := range shared {
		unlockFile(f)
	}
	defer func() {
		for f := range shared {
			if err := lockFile(f, false); err != nil {
				t.Errorf("pgtest lock: %v", err)
			}
		}
	}()
	f, err := os.OpenFile(lockPath(), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("pgtest lock: %v", err)
	}
	defer f.Close()
	if err := lockFile(f, true); err != nil {
		t.Fatalf("pgtest lock: %v", err)
	}
	defer unlockFile(f)
	fn()
}
