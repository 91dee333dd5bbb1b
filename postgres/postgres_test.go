package postgres_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/postgres"
	"github.com/latchkey/latchkey/postgres/pgtest"
	"github.com/latchkey/latchkey/storetest"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	pgtest.Admin(t) // skip once, not in every subtest
	storetest.Run(t, func(t testing.TB) latchkey.Store {
		return open(t, pgtest.Schema(t, "pool_max_conns", "10"))
	})
}

// TestMigrateConcurrently starts several stores on one empty schema at the same moment: one
// migrates, the others wait for its lock and find nothing to do.
func TestMigrateConcurrently(t *testing.T) {
	dsn := pgtest.Schema(t, "pool_max_conns", "3")
	const n = 4
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stores[i], errs[i] = postgres.Open(context.Background(), dsn)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var applied int
	if err := stores[0].DB.QueryRow(`SELECT COUNT(*) FROM goose_db_version WHERE version_id = 1`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Errorf("migration 1 recorded %d times, want once", applied)
	}
	again, err := postgres.Migrate(context.Background(), stores[1].DB)
	if err != nil || again != 0 {
		t.Errorf("Migrate on a migrated schema = %d, %v; want 0, nil", again, err)
	}
}

func TestOpenErrors(t *testing.T) {
	base := pgtest.Schema(t)
	tests := []struct {
		name, dsn, want string
	}{
		{"missing schema", strings.Replace(base, "search_path=lk_", "search_path=nope_", 1), "no schema on the search_path exists"},
		{"pool too small", base + "&pool_max_conns=1", "pool_max_conns"},
		{"password not echoed", "postgres://app:s3cret@127.0.0.1:1/x?connect_timeout=1&sslmode=disable", "app:xxxxx@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := postgres.Open(context.Background(), tt.dsn)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded, want an error", tt.name)
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Open(%s) error = %q, want it to mention %q and no password", tt.name, err, tt.want)
			}
		})
	}
}

// TestChangesReachOtherStores: a change committed through one store (node) reaches another
// store's subscribers through NOTIFY, and a store does not hear its own changes twice.
func TestChangesReachOtherStores(t *testing.T) {
	dsn := pgtest.Schema(t, "pool_max_conns", "4")
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	type heard struct {
		mu      sync.Mutex
		changes []latchkey.Change
	}
	var onA, onB heard
	for _, x := range []struct {
		s *postgres.Store
		h *heard
	}{{a, &onA}, {b, &onB}} {
		defer x.s.Subscribe(func(c latchkey.Change) {
			x.h.mu.Lock()
			x.h.changes = append(x.h.changes, c)
			x.h.mu.Unlock()
		})()
	}
	count := func(h *heard, want latchkey.Change) int {
		h.mu.Lock()
		defer h.mu.Unlock()
		n := 0
		for _, c := range h.changes {
			if c == want {
				n++
			}
		}
		return n
	}

	acct := &latchkey.Account{Name: "Acme", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := a.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	tok := &latchkey.Token{AccountID: acct.ID, Kind: latchkey.KindServiceToken, UID: "notify01", Name: "n", Hash: []byte("notify-0123456789abcdef012345678"),
		Grants: []latchkey.Grant{{PermissionSet: "job_admin", AllProjects: true}}}
	if err := a.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	rules := &latchkey.IPRule{AccountID: acct.ID, Name: "office", Type: latchkey.IPRuleAllow, CIDRs: latchkey.Ranges("10.0.0.0/8")}
	if err := a.CreateIPRule(ctx, rules); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteToken(ctx, tok.ID, "deleted"); err != nil {
		t.Fatal(err)
	}
	wants := []latchkey.Change{
		{Kind: latchkey.ChangeToken, AccountID: acct.ID, ID: tok.ID},
		{Kind: latchkey.ChangeAccount, AccountID: acct.ID, ID: acct.ID},
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, want := range wants {
		for count(&onB, want) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the other store heard %v, want %v among them", onB.changes, want)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	// b heard the deletion, so a's own listener has had it too; give it a moment to
	// (wrongly) republish it.
	time.Sleep(100 * time.Millisecond)
	del := wants[0]
	if n := count(&onA, del); n != 2 { // once for create, once for delete
		t.Errorf("the writing store announced %v %d times, want 2 (create and delete, no echo)", del, n)
	}

	// A rolled-back mutation announces nothing anywhere.
	before := count(&onB, del)
	if _, err := a.UpdateToken(ctx, tok.ID, latchkey.TokenUpdate{State: ptr(latchkey.StateActive)}); err == nil {
		t.Fatal("restoring a deleted token succeeded")
	}
	time.Sleep(100 * time.Millisecond)
	if after := count(&onB, del); after != before {
		t.Errorf("a failed mutation was announced to the other store")
	}
}

func ptr[T any](v T) *T { return &v }

// TestConcurrentRotations rotates one token from two nodes at once: exactly one rotation wins,
// and the family has one live successor. (On SQLite the file lock orders them; here the
// transactions' lock does.)
func TestConcurrentRotations(t *testing.T) {
	dsn := pgtest.Schema(t, "pool_max_conns", "6")
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	acct := &latchkey.Account{Name: "Acme", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := a.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	for round := range 10 {
		tok := &latchkey.Token{AccountID: acct.ID, Kind: latchkey.KindServiceToken, UID: fmt.Sprintf("rot%05d", round), Name: "r",
			Hash: []byte(fmt.Sprintf("rotate-%026d", round)), Grants: []latchkey.Grant{{PermissionSet: "job_admin", AllProjects: true}}}
		if err := a.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*postgres.Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				next := &latchkey.Token{UID: fmt.Sprintf("r%02d%05d", i, round), Hash: []byte(fmt.Sprintf("next-%d-%025d", i, round))}
				errs[i] = s.RotateToken(ctx, tok.ID, next, time.Minute)
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch code := latchkey.ErrorCodeOf(err); {
			case err == nil:
				wins++
			case code != latchkey.EConflict:
				t.Fatalf("round %d: RotateToken error = %v (code %q), want success or %q", round, err, code, latchkey.EConflict)
			}
		}
		fam, _, err := a.FindTokens(ctx, latchkey.TokenFilter{FamilyID: &tok.FamilyID})
		if err != nil {
			t.Fatal(err)
		}
		if wins != 1 || len(fam) != 2 {
			t.Fatalf("round %d: %d rotations succeeded and the family has %d tokens, want 1 and 2", round, wins, len(fam))
		}
	}
}

// TestConcurrentRevocations removes a member (which revokes their PATs) while the PATs are being
// deleted one by one from another node, in the opposite order: no deadlock, no error, every PAT
// revoked once.
func TestConcurrentRevocations(t *testing.T) {
	dsn := pgtest.Schema(t, "pool_max_conns", "8")
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	acct := &latchkey.Account{Name: "Acme", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := a.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		u := &latchkey.User{Email: fmt.Sprintf("u%d@example.com", round)}
		if err := a.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		m := &latchkey.Membership{AccountID: acct.ID, UserID: u.ID, License: latchkey.LicenseDeveloper}
		if err := a.CreateMembership(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
		var pats []*latchkey.Token
		for i := range 6 {
			p := &latchkey.Token{AccountID: acct.ID, Kind: latchkey.KindPAT, UserID: u.ID, UID: fmt.Sprintf("p%d%06d", round, i), Name: "p",
				Hash: []byte(fmt.Sprintf("pat-%d-%026d", round, i))}
			if err := a.CreateToken(ctx, p); err != nil {
				t.Fatal(err)
			}
			pats = append(pats, p)
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(pats)+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.UpdateMembership(ctx, m.ID, latchkey.MembershipUpdate{State: ptr(latchkey.StateDeleted)})
			errs <- err
		}()
		for i := len(pats) - 1; i >= 0; i-- {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- b.DeleteToken(ctx, pats[i].ID, "deleted")
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: concurrent revocation: %v", round, err)
			}
		}
		ev := "account_scoped_pat.deleted"
		_, n, err := a.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: acct.ID, EventType: &ev})
		if err != nil || n != len(pats)*(round+1) {
			t.Fatalf("round %d: %d PAT revocations audited (%v), want %d", round, n, err, len(pats)*(round+1))
		}
	}
	if _, brk, err := latchkey.VerifyAuditChain(ctx, a); err != nil || brk != nil {
		t.Errorf("VerifyAuditChain = %+v, %v; want intact", brk, err)
	}
}

// TestAuditLogAppendOnly: the triggers refuse UPDATE, DELETE and TRUNCATE on the audit log.
func TestAuditLogAppendOnly(t *testing.T) {
	s := open(t, pgtest.Schema(t, "pool_max_conns", "2"))
	defer s.Close()
	ctx := context.Background()
	acct := &latchkey.Account{Name: "Acme", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE audit_log SET actor_name = 'mallory'`,
		`DELETE FROM audit_log`,
		`TRUNCATE audit_log`,
	} {
		t.Run(q, func(t *testing.T) {
			if _, err := s.DB.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "audit log entries cannot be") {
				t.Errorf("Exec(%q) error = %v, want the append-only refusal", q, err)
			}
		})
	}
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log`).Scan(&n); err != nil || n == 0 {
		t.Errorf("audit entries after the attempts = %d, %v; want them all kept", n, err)
	}
}

// TestExclusive: sections with the same name run one at a time across stores.
func TestExclusive(t *testing.T) {
	dsn := pgtest.Schema(t, "pool_max_conns", "3")
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	var mu sync.Mutex
	inside, most := 0, 0
	var wg sync.WaitGroup
	for i := range 6 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Exclusive(context.Background(), "bootstrap", func(ctx context.Context) error {
				mu.Lock()
				inside++
				most = max(most, inside)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
				mu.Lock()
				inside--
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Errorf("Exclusive: %v", err)
			}
		}()
	}
	wg.Wait()
	if most != 1 {
		t.Errorf("at most %d sections ran at once, want 1", most)
	}
	// The lock went back: a store with one free connection can still take it.
	if err := a.Exclusive(context.Background(), "bootstrap", func(context.Context) error { return nil }); err != nil {
		t.Errorf("Exclusive after the others: %v", err)
	}
}

// TestDatabaseUnreachable: with its database gone, a store fails reads and writes with errors
// (no false "not found"), while a verifier keeps answering for the tokens it has cached until
// their TTL runs out.
func TestDatabaseUnreachable(t *testing.T) {
	s := open(t, pgtest.Schema(t, "pool_max_conns", "2"))
	defer s.Close()
	ctx := context.Background()
	acct := &latchkey.Account{Name: "Acme", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for range 2 {
		m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
		if err != nil {
			t.Fatal(err)
		}
		tok := &latchkey.Token{AccountID: acct.ID, Kind: latchkey.KindServiceToken, UID: m.UID, Hash: m.Hash, Name: "t",
			Grants: []latchkey.Grant{{PermissionSet: "job_admin", AllProjects: true}}}
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, m.String)
	}
	now := time.Now()
	v := verify.New(s, verify.Options{TTL: 10 * time.Second, Now: func() time.Time { return now }})
	ip := netip.MustParseAddr("10.0.0.1")
	if _, err := v.Verify(ctx, tokens[0], ip); err != nil {
		t.Fatalf("Verify before the outage: %v", err)
	}

	s.DB.Close() // every later storage call fails, as when PostgreSQL is unreachable

	if err := s.Ping(ctx); err == nil {
		t.Error("Ping without a database = nil, want an error")
	}
	if _, err := v.Verify(ctx, tokens[0], ip); err != nil {
		t.Errorf("Verify(cached token) without a database = %v, want the cached principal", err)
	}
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"Verify(uncached token)", func() error { _, err := v.Verify(ctx, tokens[1], ip); return err }()},
		{"CreateProject", s.CreateProject(ctx, &latchkey.Project{AccountID: acct.ID, Name: "p"})},
		{"FindAccountByID", func() error { _, err := s.FindAccountByID(ctx, acct.ID); return err }()},
	} {
		if code := latchkey.ErrorCodeOf(tt.err); tt.err == nil || code == latchkey.ENotFound || code == latchkey.EUnauthorized {
			t.Errorf("%s without a database = %v (code %q), want a storage error", tt.name, tt.err, code)
		}
	}
	now = now.Add(11 * time.Second)
	if _, err := v.Verify(ctx, tokens[0], ip); err == nil {
		t.Error("Verify(cached token) past its TTL without a database succeeded, want a storage error")
	}
}

// TestStorageFaultsAreUnavailable: a lock held past lock_timeout, a statement past
// statement_timeout and a database that cannot be reached are "unavailable" (a 503 with
// Retry-After), never an internal error, and a write that timed out committed nothing.
func TestStorageFaultsAreUnavailable(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t, "lock_timeout", "200", "statement_timeout", "1000")
	s := open(t, dsn)
	defer s.Close()
	a := &latchkey.Account{Name: "Acme", Plan: latchkey.PlanEnterprise}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}

	// Another session holds the tokens table.
	other, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("fault"))
	tok := &latchkey.Token{AccountID: a.ID, Kind: latchkey.KindServiceToken, UID: "fault001", Name: "fault", Hash: h[:], CreatedBy: "user:1"}
	err = s.CreateToken(ctx, tok)
	wantUnavailable(t, "a write while the table is locked", err, "lock_timeout")
	if _, err := s.FindTokenByHash(ctx, h[:]); err == nil || latchkey.ErrorCodeOf(err) != latchkey.EUnavailable {
		t.Errorf("a read while the table is locked = %v, want unavailable", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindTokenByHash(ctx, h[:]); latchkey.ErrorCodeOf(err) != latchkey.ENotFound {
		t.Errorf("after the lock: the refused token reads %v, want not found (nothing committed)", err)
	}

	// A statement running past statement_timeout.
	_, err = s.DB.ExecContext(ctx, `SELECT pg_sleep(3)`)
	if reason, ok := postgres.Unavailable(err); !ok || !strings.Contains(reason, "statement_timeout") {
		t.Errorf("pg_sleep past statement_timeout: %v classified %q, %v", err, reason, ok)
	}

	// A server that is not there (nothing listens on port 1).
	_, err = postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2")
	if reason, ok := postgres.Unavailable(err); !ok {
		t.Errorf("connecting to a closed port: %v classified %q, %v", err, reason, ok)
	}
}

func wantUnavailable(t *testing.T, what string, err error, reasonPart string) {
	t.Helper()
	var le *latchkey.Error
	if !errors.As(err, &le) || le.Code != latchkey.EUnavailable {
		t.Fatalf("%s: %v, want unavailable", what, err)
	}
	if !strings.Contains(le.Message, reasonPart) || le.Data["retry_after_seconds"] == nil {
		t.Errorf("%s: %q (data %v), want a reason naming %s and a retry-after", what, le.Message, le.Data, reasonPart)
	}
}

// TestSessionTimeouts: serving connections get the defaults, Options override them (serve's
// --pg-* flags), and a timeout in the URL wins over both.
func TestSessionTimeouts(t *testing.T) {
	pgtest.Admin(t)
	ctx := context.Background()
	show := func(s *postgres.Store) []string {
		t.Helper()
		var out []string
		for _, name := range []string{"statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"} {
			var v string
			if err := s.DB.QueryRowContext(ctx, "SHOW "+name).Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	for _, tt := range []struct {
		params []string
		opt    postgres.Options
		want   []string
	}{
		{nil, postgres.Options{}, []string{"5s", "2s", "10s"}},
		{nil, postgres.Options{StatementTimeout: 7 * time.Second, LockTimeout: 300 * time.Millisecond, IdleInTxTimeout: time.Minute},
			[]string{"7s", "300ms", "1min"}},
		{[]string{"lock_timeout", "1500"}, postgres.Options{LockTimeout: 300 * time.Millisecond}, []string{"5s", "1500ms", "10s"}},
	} {
		s, err := postgres.OpenWith(ctx, pgtest.Schema(t, tt.params...), tt.opt)
		if err != nil {
			t.Fatal(err)
		}
		if got := show(s); !slices.Equal(got, tt.want) {
			t.Errorf("URL params %v, options %+v: timeouts %v, want %v", tt.params, tt.opt, got, tt.want)
		}
		s.Close()
	}
}
