package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
)

// noticeEnv is a server over a real SQLite file whose clock (the store's and the admin
// layer's) a test moves, with one account (Acme) and its owner.
type noticeEnv struct {
	store *sqlite.Store
	srv   *Server
	cfg   Config
	owner *latchkey.User
	acct  *latchkey.Account

	mu  sync.Mutex
	now time.Time
}

func newNoticeEnv(t *testing.T, cfg Config) *noticeEnv {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &noticeEnv{store: store, now: time.Now().UTC().Truncate(time.Second)}
	store.SetClock(e.clock)
	cfg.Store = store
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e.cfg = cfg
	e.restart(t)
	res, err := e.srv.admin.CreateAccount(context.Background(), admin.Bootstrap{Account: "Acme", Plan: latchkey.PlanEnterprise,
		Email: "ada@acme.test", Password: "correct horse battery staple"})
	if err != nil {
		t.Fatal(err)
	}
	e.owner, e.acct = res.User, res.Account
	return e
}

func (e *noticeEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *noticeEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

// restart replaces the server with a new one over the same store: nothing it remembered in
// memory survives.
func (e *noticeEnv) restart(t *testing.T) {
	t.Helper()
	srv, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.admin.Now = e.clock
	e.srv = srv
}

// token stores a token of kind created by user (its owner, for a PAT) expiring after
// expiresIn (never when 0).
func (e *noticeEnv) token(t *testing.T, kind latchkey.TokenKind, name string, user int64, expiresIn time.Duration) *latchkey.Token {
	t.Helper()
	m, err := tokenfmt.Default.Mint(kind)
	if err != nil {
		t.Fatal(err)
	}
	tok := &latchkey.Token{AccountID: e.acct.ID, Kind: kind, UID: m.UID, Hash: m.Hash, Name: name,
		CreatedBy: fmt.Sprintf("user:%d", user)}
	if kind == latchkey.KindPAT {
		tok.UserID = user
	} else {
		tok.Grants = []latchkey.Grant{{PermissionSet: "metadata_only", AllProjects: true}}
	}
	if expiresIn != 0 {
		at := e.clock().Add(expiresIn)
		tok.ExpiresAt = &at
	}
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "user", ID: user, Name: "test", Source: "api"})
	if err := e.store.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

// events returns the account's entries of event, oldest first.
func (e *noticeEnv) events(t *testing.T, event string) []*latchkey.AuditEntry {
	t.Helper()
	entries, _, err := e.store.FindAuditEntries(context.Background(), latchkey.AuditFilter{AccountID: e.acct.ID,
		EventType: &event, Limit: latchkey.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
		entries[i], entries[j] = entries[j], entries[i]
	}
	return entries
}

// sweepTwiceAndRestart sweeps, sweeps again, restarts and sweeps: what the first sweep audits
// must not be audited again.
func (e *noticeEnv) sweepTwiceAndRestart(t *testing.T) {
	t.Helper()
	for i := range 3 {
		if i == 2 {
			e.restart(t)
		}
		if err := e.srv.sweepNotices(context.Background()); err != nil {
			t.Fatalf("sweepNotices (round %d) = %v", i+1, err)
		}
	}
}

// thresholds lists "token name: days" of the entries.
func thresholds(entries []*latchkey.AuditEntry) []string {
	var out []string
	for _, en := range entries {
		d, _ := contextInt(en.Context, "days")
		out = append(out, fmt.Sprintf("%v: %d", en.Context["name"], d))
	}
	return out
}

func TestSweepExpiringTokens(t *testing.T) {
	e := newNoticeEnv(t, Config{})
	e.token(t, latchkey.KindServiceToken, "deploy", e.owner.ID, 5*day)
	e.token(t, latchkey.KindServiceToken, "ci", e.owner.ID, 20*day)
	e.token(t, latchkey.KindServiceToken, "later", e.owner.ID, 40*day)
	e.token(t, latchkey.KindServiceToken, "forever", e.owner.ID, 0)
	e.token(t, latchkey.KindPAT, "laptop", e.owner.ID, 12*time.Hour)

	e.sweepTwiceAndRestart(t)
	// deploy, with five days left, gets the 7-day notice at once and not the 30-day one.
	if got, want := fmt.Sprint(thresholds(e.events(t, "service_token.expiring"))), "[deploy: 7 ci: 30]"; got != want {
		t.Errorf("service_token.expiring after the first sweeps = %s, want %s", got, want)
	}
	pats := e.events(t, "account_scoped_pat.expiring")
	if got, want := fmt.Sprint(thresholds(pats)), "[laptop: 1]"; got != want {
		t.Errorf("account_scoped_pat.expiring = %s, want %s", got, want)
	}
	if len(pats) == 1 {
		c := pats[0].Context
		if id, _ := contextInt(c, "user_id"); id != e.owner.ID || c["created_by"] != fmt.Sprintf("user:%d", e.owner.ID) ||
			c["expires_at"] == nil || c["uid"] == nil || pats[0].ActorType != "system" {
			t.Errorf("PAT expiring entry = %+v by %s, want user_id, created_by, expires_at and uid, by the system", c, pats[0].ActorType)
		}
	}

	// Four days later: deploy has one day left, ci sixteen (its 30-day notice is sent), later 36.
	e.advance(4*day + time.Hour)
	e.sweepTwiceAndRestart(t)
	if got, want := fmt.Sprint(thresholds(e.events(t, "service_token.expiring"))), "[deploy: 7 ci: 30 deploy: 1]"; got != want {
		t.Errorf("service_token.expiring four days on = %s, want %s", got, want)
	}
	// Ten more days: deploy expired, ci has six days left, later has 26.
	e.advance(10 * day)
	e.sweepTwiceAndRestart(t)
	if got, want := fmt.Sprint(thresholds(e.events(t, "service_token.expiring"))), "[deploy: 7 ci: 30 deploy: 1 ci: 7 later: 30]"; got != want {
		t.Errorf("service_token.expiring fourteen days on = %s, want %s", got, want)
	}

	// The account's own thresholds apply: with [3], a token with five days left waits.
	set := e.acct.Settings
	set.ExpiryNoticeDays = []int{3}
	if _, err := e.store.UpdateAccount(context.Background(), e.acct.ID, latchkey.AccountUpdate{Settings: &set}); err != nil {
		t.Fatal(err)
	}
	e.token(t, latchkey.KindServiceToken, "short", e.owner.ID, 5*day)
	e.sweepTwiceAndRestart(t)
	e.advance(2*day + time.Hour)
	e.sweepTwiceAndRestart(t)
	var short []string
	for _, s := range thresholds(e.events(t, "service_token.expiring")) {
		if s[:5] == "short" {
			short = append(short, s)
		}
	}
	if got, want := fmt.Sprint(short), "[short: 3]"; got != want {
		t.Errorf("expiring notices of a token under thresholds [3] = %s, want %s", got, want)
	}
}

func TestSweepUnusedTokens(t *testing.T) {
	e := newNoticeEnv(t, Config{})
	idle := e.token(t, latchkey.KindServiceToken, "idle", e.owner.ID, 0)
	e.token(t, latchkey.KindPAT, "pat", e.owner.ID, 0) // PATs are not announced as unused
	e.advance(89 * day)
	e.token(t, latchkey.KindServiceToken, "busy", e.owner.ID, 0)
	e.sweepTwiceAndRestart(t)
	if n := len(e.events(t, "service_token.unused")); n != 0 {
		t.Fatalf("service_token.unused before 90 days = %d entries, want 0", n)
	}
	e.advance(day + time.Hour)
	e.sweepTwiceAndRestart(t)
	got := e.events(t, "service_token.unused")
	if fmt.Sprint(thresholds(got)) != "[idle: 90]" {
		t.Fatalf("service_token.unused after 90 days = %v, want idle's only", thresholds(got))
	}
	if got[0].Context["last_used_at"] != nil || got[0].Context["idle_since"] == nil {
		t.Errorf("unused entry of a never-used token = %+v, want last_used_at null and idle_since", got[0].Context)
	}

	// Used again, then left alone for another 90 days: a new unused stretch, announced again.
	if err := e.store.RecordTokenUses(context.Background(), []latchkey.TokenUse{{TokenID: idle.ID, At: e.clock(), IP: "192.0.2.1"}}); err != nil {
		t.Fatal(err)
	}
	e.sweepTwiceAndRestart(t)
	if n := len(e.events(t, "service_token.unused")); n != 1 {
		t.Errorf("service_token.unused right after a use = %d entries, want still 1", n)
	}
	e.advance(91 * day)
	e.sweepTwiceAndRestart(t)
	if got, want := fmt.Sprint(thresholds(e.events(t, "service_token.unused"))), "[idle: 90 idle: 90 busy: 90]"; got != want {
		t.Errorf("service_token.unused after a second stretch = %s, want %s", got, want)
	}

	// 0 turns the notice off.
	set := e.acct.Settings
	set.UnusedTokenDays = 0
	if _, err := e.store.UpdateAccount(context.Background(), e.acct.ID, latchkey.AccountUpdate{Settings: &set}); err != nil {
		t.Fatal(err)
	}
	e.token(t, latchkey.KindServiceToken, "off", e.owner.ID, 0)
	e.advance(400 * day)
	e.sweepTwiceAndRestart(t)
	if n := len(e.events(t, "service_token.unused")); n != 3 {
		t.Errorf("service_token.unused with unused_token_days 0 = %d entries, want still 3", n)
	}
}

// Every node sweeps. Two sweeping at once decide from the same reads of the audit log, and the
// fence lets only one of them write: each notice is recorded once.
func TestSweepTwoNodesRecordEachNoticeOnce(t *testing.T) {
	e := newNoticeEnv(t, Config{})
	for i := range 30 {
		e.token(t, latchkey.KindServiceToken, fmt.Sprintf("t%02d", i), e.owner.ID, 5*day)
	}
	other, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	other.admin.Now = e.clock
	for round := range 5 {
		var wg sync.WaitGroup
		for _, srv := range []*Server{e.srv, other} {
			wg.Go(func() {
				if err := srv.sweepNotices(context.Background()); err != nil {
					t.Errorf("sweepNotices (round %d) = %v", round+1, err)
				}
			})
		}
		wg.Wait()
		// Forget what each remembered, so that every round decides from the audit log.
		e.restart(t)
		if other, err = New(e.cfg); err != nil {
			t.Fatal(err)
		}
		other.admin.Now = e.clock
	}
	got := e.events(t, "service_token.expiring")
	seen := map[any]int{}
	for _, en := range got {
		seen[en.Context["name"]]++
	}
	if len(got) != 30 || len(seen) != 30 {
		t.Errorf("two nodes sweeping recorded %d expiring events for %d tokens, want one for each of 30", len(got), len(seen))
	}
}
