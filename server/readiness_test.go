package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/postgres"
	"github.com/latchkey/latchkey/postgres/pgtest"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

// logBuffer collects a server's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

// readyz asks the server's /readyz and decodes the answer.
func readyz(t *testing.T, s *Server) (int, readyReport) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var rep readyReport
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatalf("/readyz answered %q: %v", rec.Body.String(), err)
	}
	return rec.Code, rep
}

// TestReadinessSeesBlockedWrites: a held write lock makes /readyz say writes are failing (the
// database itself still answers), logged once however many probes see it; releasing it makes
// the node ready again, logged once. On SQLite and PostgreSQL, with real locks.
func TestReadinessSeesBlockedWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (latchkey.Store, func(ctx context.Context) (release func()))
	}{
		{"sqlite", func(t *testing.T) (latchkey.Store, func(context.Context) func()) {
			path := filepath.Join(t.TempDir(), "l.db")
			st, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			return st, func(ctx context.Context) func() {
				other, err := sql.Open("sqlite", path)
				if err != nil {
					t.Fatal(err)
				}
				conn, err := other.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
					t.Fatal(err)
				}
				return func() { conn.ExecContext(ctx, `ROLLBACK`); conn.Close(); other.Close() }
			}
		}},
		{"postgres", func(t *testing.T) (latchkey.Store, func(context.Context) func()) {
			dsn := pgtest.Schema(t)
			st, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			return st, func(ctx context.Context) func() {
				other, err := sql.Open("pgx", dsn)
				if err != nil {
					t.Fatal(err)
				}
				tx, err := other.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tx.ExecContext(ctx, `LOCK TABLE health_probe IN ACCESS EXCLUSIVE MODE`); err != nil {
					t.Fatal(err)
				}
				return func() { tx.Rollback(); other.Close() }
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, lock := tc.open(t)
			defer st.Close()
			logs := &logBuffer{}
			s, err := New(Config{Store: st, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			s.probeHealth(ctx)
			if code, rep := readyz(t, s); code != http.StatusOK || rep.Writes.Status != "ok" {
				t.Fatalf("before the lock: %d %+v, want ready", code, rep)
			}

			release := lock(ctx)
			s.probeHealth(ctx)
			s.probeHealth(ctx)
			code, rep := readyz(t, s)
			if code != http.StatusServiceUnavailable || rep.Status != "not_ready" || rep.Writes.Status != "failing" || rep.Writes.Reason == "" {
				t.Errorf("while a write lock is held: %d %+v, want 503 with writes failing and why", code, rep)
			}
			if rep.Database.Status != "ok" {
				t.Errorf("while a write lock is held the database answers reads: %+v", rep.Database)
			}
			if n := logs.count("readiness: writes failing"); n != 1 {
				t.Errorf("two failing probes logged %d warnings, want 1", n)
			}

			release()
			s.probeHealth(ctx)
			if code, rep := readyz(t, s); code != http.StatusOK || rep.Writes.Status != "ok" {
				t.Errorf("after the lock: %d %+v, want ready", code, rep)
			}
			if n := logs.count("readiness: writes recovered"); n != 1 {
				t.Errorf("recovery logged %d times, want 1", n)
			}
		})
	}
}

// A node that cannot share rate-limit counts (here: the table held under an exclusive lock in
// PostgreSQL) keeps enforcing limits on its own and says so in /readyz and in a metric, until
// sharing works again.
func TestReadinessReportsLocalRateLimits(t *testing.T) {
	dsn := pgtest.Schema(t)
	st, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test", Source: "system"})
	a := &latchkey.Account{Name: "Acme", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := st.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
	if err != nil {
		t.Fatal(err)
	}
	tok := &latchkey.Token{AccountID: a.ID, Kind: latchkey.KindServiceToken, UID: m.UID, Hash: m.Hash, Name: "limited",
		RateLimits: []latchkey.RateLimit{{Name: "api", Limit: 3, Duration: 30 * 24 * time.Hour}}}
	if err := st.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	v := verify.New(st, verify.Options{RateSyncInterval: 20 * time.Millisecond,
		RateSync: func(ctx context.Context, counts []latchkey.RateCount, prune int64) ([]int64, error) {
			return st.SyncRateCounts(ctx, "node-a", counts, prune)
		}})
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go v.Run(runCtx)
	s, err := New(Config{Store: st, Verifier: v, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	localGauge := func() string {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		for _, line := range strings.Split(rec.Body.String(), "\n") {
			if strings.HasPrefix(line, "latchkey_rate_limits_local ") {
				return strings.TrimPrefix(line, "latchkey_rate_limits_local ")
			}
		}
		return "missing"
	}
	if _, err := v.Verify(ctx, m.String, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(`LOCK TABLE rate_counts IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, rep := readyz(t, s)
		if rep.Cache.RateLimitsLocalSince != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never reported local rate limits while the table was locked: %+v", rep.Cache)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := localGauge(); got != "1" {
		t.Errorf("latchkey_rate_limits_local = %s while sharing fails, want 1", got)
	}
	// Still enforced, on this node's counts: 1 used, 2 more, then refused.
	for i, want := range []string{"ok", "ok", "rate_limited"} {
		if _, err := v.Verify(ctx, m.String, netip.Addr{}); verify.Reason(err) != want {
			t.Errorf("verification %d while sharing fails = %v, want %s", i+2, err, want)
		}
	}
	lock.Rollback()
	for {
		_, rep := readyz(t, s)
		if rep.Cache.RateLimitsLocalSince == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still reports local rate limits after the lock ended: %+v", rep.Cache)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := localGauge(); got != "0" {
		t.Errorf("latchkey_rate_limits_local = %s after recovery, want 0", got)
	}
}
