package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sqlite"
)

// These tests put the store through real faults (a lock held by another connection, a file that
// turns read-only, a directory that is not there) and check what callers see: an unavailable
// error (503) while the fault lasts, and working writes as soon as it is gone.

// openStore opens a store at path that the test closes.
func openStore(t testing.TB, path string, o sqlite.Options) *sqlite.Store {
	t.Helper()
	s, err := sqlite.OpenWith(context.Background(), path, o)
	if err != nil {
		t.Fatalf("OpenWith(%q) = %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var accounts atomic.Int64

// write is one ordinary store write: an account with its groups and audit entry, in one
// transaction.
func write(ctx context.Context, s latchkey.Store) error {
	return s.CreateAccount(ctx, &latchkey.Account{
		Name: fmt.Sprintf("acct-%d", accounts.Add(1)), Plan: latchkey.PlanEnterprise})
}

// wantUnavailable fails unless err is an unavailable error whose message says want.
func wantUnavailable(t testing.TB, what string, err error, want string) {
	t.Helper()
	if code := latchkey.ErrorCodeOf(err); code != latchkey.EUnavailable {
		t.Fatalf("%s = %v (code %q), want code %q", what, err, code, latchkey.EUnavailable)
	}
	if msg := latchkey.ErrorMessage(err); !strings.Contains(msg, want) {
		t.Errorf("%s message = %q, want it to say %q", what, msg, want)
	}
}

func TestBusyTimeoutFromOptions(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		o    sqlite.Options
		want int
	}{
		{"default", sqlite.Options{}, int(sqlite.DefaultBusyTimeout / time.Millisecond)},
		{"set", sqlite.Options{BusyTimeout: 250 * time.Millisecond}, 250},
		{"rounded up", sqlite.Options{BusyTimeout: 1500 * time.Microsecond}, 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, filepath.Join(dir, fmt.Sprintf("%d.db", i)), tt.o)
			var got int
			if err := s.DB.QueryRow("PRAGMA busy_timeout").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("OpenWith(%+v): PRAGMA busy_timeout = %d, want %d", tt.o, got, tt.want)
			}
		})
	}
	if _, err := sqlite.OpenWith(context.Background(), filepath.Join(dir, "neg.db"), sqlite.Options{BusyTimeout: -time.Second}); err == nil {
		t.Errorf("OpenWith(BusyTimeout: -1s) = nil error, want one")
	}
}

// TestWriteLockedByAnotherConnection holds SQLite's write lock from another *sql.DB, as another
// process would: a store write must give up after the busy timeout with an unavailable error that
// says the database is locked, not hang and not fail as a bug, and succeed once the lock is gone.
func TestWriteLockedByAnotherConnection(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	s := openStore(t, path, sqlite.Options{BusyTimeout: 200 * time.Millisecond})
	if err := write(ctx, s); err != nil {
		t.Fatalf("write before the lock: %v", err)
	}

	other, err := sql.Open("sqlite", sqlite.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	holder, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	// No deadline on the write's context: only the busy timeout can end its wait.
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- write(ctx, s) }()
	select {
	case err := <-done:
		t.Logf("locked write failed after %v (busy timeout 200ms): %v", time.Since(start), err)
		wantUnavailable(t, "write while another connection holds the write lock", err, "locked")
	case <-time.After(time.Minute):
		t.Fatal("write still waiting for the lock after a minute: busy timeout not applied")
	}

	if _, err := holder.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := write(ctx, s); err != nil {
		t.Fatalf("write after the lock was released: %v", err)
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not-there")
	path := filepath.Join(dir, "latchkey.db")
	_, err := sqlite.Open(context.Background(), path)
	if err == nil {
		t.Fatalf("Open(%q) = nil error, want one", path)
	}
	if want := "directory " + dir + " does not exist"; !strings.Contains(err.Error(), want) {
		t.Errorf("Open(%q) = %v, want it to say %q", path, err, want)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(%q) created the directory (stat: %v)", path, err)
	}
}
