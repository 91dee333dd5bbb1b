package postgres

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/postgres/pgtest"
)

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2"},
		{"INSERT INTO t (a, b, c) VALUES (?,?,?)", "INSERT INTO t (a, b, c) VALUES ($1,$2,$3)"},
		{"SELECT '?' , ? FROM t", "SELECT '?' , $1 FROM t"},
		{"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"},
		{`SELECT "odd?name" FROM t WHERE x = ?`, `SELECT "odd?name" FROM t WHERE x = $1`},
		{"SELECT ? -- why?\nFROM t WHERE y = ?", "SELECT $1 -- why?\nFROM t WHERE y = $2"},
		{"SELECT ? -- trailing?", "SELECT $1 -- trailing?"},
		{"SELECT 'unterminated ?", "SELECT 'unterminated ?"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := (dialect{}).Rebind(tt.in); got != tt.want {
				t.Errorf("Rebind(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestChangesPayload(t *testing.T) {
	many := make([]latchkey.Change, 1000)
	for i := range many {
		many[i] = latchkey.Change{Kind: latchkey.ChangeToken, AccountID: 7, ID: int64(1_000_000 + i)}
	}
	tests := []struct {
		name    string
		changes []latchkey.Change
		want    []latchkey.Change
		payload string
	}{
		{"one token", []latchkey.Change{{Kind: latchkey.ChangeToken, AccountID: 3, ID: 42}},
			[]latchkey.Change{{Kind: latchkey.ChangeToken, AccountID: 3, ID: 42}}, "v1 node1 1:3:42"},
		{"duplicates dropped", []latchkey.Change{{Kind: latchkey.ChangeAccount, AccountID: 3, ID: 3}, {Kind: latchkey.ChangeUser, AccountID: 0, ID: 9}, {Kind: latchkey.ChangeAccount, AccountID: 3, ID: 3}},
			[]latchkey.Change{{Kind: latchkey.ChangeAccount, AccountID: 3, ID: 3}, {Kind: latchkey.ChangeUser, AccountID: 0, ID: 9}}, "v1 node1 3:3:3 2:0:9"},
		{"flush", []latchkey.Change{{Kind: latchkey.ChangeToken, AccountID: 3, ID: 42}, {Kind: latchkey.ChangeAll}}, flushAll, "v1 node1 *"},
		{"too many for one payload", many, flushAll, "v1 node1 *"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := encodeChanges("node1", tt.changes)
			if p != tt.payload {
				t.Errorf("encodeChanges(%d changes) = %q, want %q", len(tt.changes), p, tt.payload)
			}
			if len(p) > maxPayload {
				t.Errorf("encodeChanges(%d changes) is %d bytes, over %d", len(tt.changes), len(p), maxPayload)
			}
			node, got := decodeChanges(p)
			if node != "node1" {
				t.Errorf("decodeChanges(%q) node = %q, want node1", p, node)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decodeChanges(%q) (-want +got):\n%s", p, diff)
			}
		})
	}
}

func TestDecodeChangesUnreadableFlushes(t *testing.T) {
	for _, p := range []string{"", "v1", "v2 node 1:2:3", "v1 node 1:2", "v1 node x:2:3", "v1 node 9:2:3", "v1 node 0:1:1", "v1 node 1:2:3 garbage"} {
		t.Run(p, func(t *testing.T) {
			if _, got := decodeChanges(p); !cmp.Equal(got, flushAll) {
				t.Errorf("decodeChanges(%q) = %v, want %v", p, got, flushAll)
			}
		})
	}
}

func FuzzDecodeChanges(f *testing.F) {
	f.Add("v1 abc 1:2:3 2:0:4")
	f.Add("v1 abc *")
	f.Add("v1 abc 1:-1:99999999999999999999")
	f.Fuzz(func(t *testing.T, payload string) {
		node, changes := decodeChanges(payload)
		if len(changes) == 0 && !strings.HasPrefix(payload, payloadVersion) {
			t.Fatalf("decodeChanges(%q) = no changes, want a flush for a foreign payload", payload)
		}
		for _, c := range changes {
			if c.Kind < latchkey.ChangeToken || c.Kind > latchkey.ChangeAll {
				t.Fatalf("decodeChanges(%q) gave kind %d", payload, c.Kind)
			}
		}
		if len(changes) > 0 && changes[0].Kind != latchkey.ChangeAll {
			var unique []latchkey.Change
			seen := map[latchkey.Change]bool{}
			for _, c := range changes {
				if !seen[c] {
					seen[c] = true
					unique = append(unique, c)
				}
			}
			p := encodeChanges(node, changes)
			if strings.HasSuffix(p, " *") {
				return // too many for one payload: a flush, checked in TestChangesPayload
			}
			if _, again := decodeChanges(p); !cmp.Equal(again, unique) {
				t.Fatalf("round trip of %v = %v, want %v", changes, again, unique)
			}
		}
	})
}

func TestChannelName(t *testing.T) {
	long := strings.Repeat("s", 63)
	tests := []struct{ schema, want string }{
		{"public", "latchkey_public"},
		{"lk_abc", "latchkey_lk_abc"},
	}
	for _, tt := range tests {
		if got := channelName(tt.schema); got != tt.want {
			t.Errorf("channelName(%q) = %q, want %q", tt.schema, got, tt.want)
		}
	}
	if got := channelName(long); len(got) > 63 || got == channelName(long[:62]) {
		t.Errorf("channelName(63 bytes) = %q, want a distinct name of at most 63 bytes", got)
	}
}

func TestSplitDSN(t *testing.T) {
	def := poolConfig{DefaultMaxConns, DefaultMaxIdleConns, DefaultMaxConnLifetime, DefaultMaxConnIdleTime, DefaultConnectWait}
	tests := []struct {
		in      string
		want    string
		pool    poolConfig
		wantErr bool
	}{
		{"postgres://u@h/db?sslmode=disable", "postgres://u@h/db?sslmode=disable", def, false},
		{"postgresql://u@h/db?pool_max_conns=50&sslmode=require&pool_max_idle_conns=5&pool_max_conn_lifetime=1h&pool_max_conn_idle_time=30s&pool_connect_wait=500ms",
			"postgresql://u@h/db?sslmode=require", poolConfig{50, 5, time.Hour, 30 * time.Second, 500 * time.Millisecond}, false},
		{"postgres://h/db?pool_max_conns=4", "postgres://h/db", poolConfig{4, 4, DefaultMaxConnLifetime, DefaultMaxConnIdleTime, DefaultConnectWait}, false},
		{"postgres://h/db?pool_connect_wait=-1s", "", def, true},
		{"postgres://h/db?pool_max_conns=1", "", def, true},
		{"postgres://h/db?pool_max_conns=many", "", def, true},
		{"postgres://h/db?pool_max_conn_lifetime=forever", "", def, true},
		{"mysql://h/db", "", def, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, pool, err := splitDSN(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("splitDSN(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got != tt.want || pool != tt.pool {
				t.Errorf("splitDSN(%q) = %q, %+v; want %q, %+v", tt.in, got, pool, tt.want, tt.pool)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://app:s3cret@db:5432/lk?sslmode=require", "postgres://app:xxxxx@db:5432/lk?sslmode=require"},
		{"postgres://app@db/lk", "postgres://app@db/lk"},
		{"postgres://db/lk?password=s3cret", "postgres://db/lk?password=xxxxx"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want || strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestListenerReconnects cuts the listening connection the way a PostgreSQL restart or a
// network failure does: the store must reconnect by itself, tell subscribers to flush (it may
// have missed changes), report not-ready meanwhile, and hear later changes again.
func TestListenerReconnects(t *testing.T) {
	dsn := pgtest.Schema(t, "pool_max_conns", "4")
	ctx := context.Background()
	a, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	var mu sync.Mutex
	var got []latchkey.Change
	defer a.Subscribe(func(c latchkey.Change) {
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
	})()
	waitFor := func(what string, want latchkey.Change) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			found := false
			for _, c := range got {
				found = found || c == want
			}
			mu.Unlock()
			if found {
				return
			}
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("%s: changes heard = %v, want %v among them", what, got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	pid := a.listener.pid.Load()
	if _, err := pgtest.Admin(t).ExecContext(ctx, `SELECT pg_terminate_backend($1)`, int32(pid)); err != nil {
		t.Fatal(err)
	}
	waitFor("after the listening connection was cut", latchkey.Change{Kind: latchkey.ChangeAll})
	if n := a.listener.reconnects.Load(); n != 1 {
		t.Errorf("reconnects = %d, want 1", n)
	}
	if a.listener.pid.Load() == pid {
		t.Errorf("listener pid still %d after reconnecting", pid)
	}
	if err := a.Ping(ctx); err != nil {
		t.Errorf("Ping after reconnecting = %v", err)
	}

	acct := &latchkey.Account{Name: "Acme", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := b.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	tok := &latchkey.Token{AccountID: acct.ID, Kind: latchkey.KindServiceToken, UID: "recon001", Name: "t", Hash: []byte("0123456789abcdef0123456789abcdef")}
	if err := b.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteToken(ctx, tok.ID, "deleted"); err != nil {
		t.Fatal(err)
	}
	waitFor("a deletion on the other store after reconnecting", latchkey.Change{Kind: latchkey.ChangeToken, AccountID: acct.ID, ID: tok.ID})
}

// TestPingReportsListener: a store whose listener is down is not ready.
func TestPingReportsListener(t *testing.T) {
	s, err := Open(context.Background(), pgtest.Schema(t, "pool_max_conns", "2"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping = %v, want nil", err)
	}
	s.listener.close() // Close stops it again, harmlessly
	if err := s.Ping(context.Background()); err == nil {
		t.Errorf("Ping with the listener stopped = nil, want an error")
	}
}

// TestConnectWaitsForAFreeSlot: with every connection slot of a role taken, opening one keeps
// trying until a slot frees up (within the wait), and gives up with an error classified as
// unavailable once the wait has passed.
func TestConnectWaitsForAFreeSlot(t *testing.T) {
	admin := pgtest.Admin(t)
	role := fmt.Sprintf("latchkey_slots_%d", time.Now().UnixNano())
	if _, err := admin.Exec(`CREATE ROLE ` + role + ` LOGIN CONNECTION LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(`DROP ROLE IF EXISTS ` + role) })
	u, err := url.Parse(pgtest.URL())
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	holder, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if !holder.IsClosed() {
			holder.Close(ctx)
		}
	}()

	// No slot frees up: the attempt gives up after its wait, unavailable.
	c := waitingConnector{Connector: stdlib.GetConnector(*cfg), wait: 200 * time.Millisecond}
	if conn, err := c.Connect(ctx); err == nil {
		conn.Close()
		t.Fatal("a second connection of a role limited to one was opened")
	} else if reason, ok := Unavailable(err); !ok || !strings.Contains(reason, "no free connections") {
		t.Errorf("out of slots: %v classified %q, %v; want unavailable, no free connections", err, reason, ok)
	}

	// The slot frees up while the attempt waits: it succeeds.
	c.wait = 30 * time.Second
	go func() {
		time.Sleep(300 * time.Millisecond)
		holder.Close(ctx)
	}()
	conn, err := c.Connect(ctx)
	if err != nil {
		t.Fatalf("Connect while the only slot frees up: %v", err)
	}
	conn.Close()
}
