package verify

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/tokenfmt"
)

// errOutage is the cause of the failures flakyStore injects.
var errOutage = errors.New("injected outage")

// flakyStore is a real SQLite store behind a switch, for faults only: while down, every read the
// verifier makes fails with latchkey.Unavailable, as the store's own reads do when its database
// cannot be reached; while hung, reads wait until released or until their context ends. Writes
// (and the change feed) go straight to the real store, as they would from another node. It
// counts the reads that reach it.
type flakyStore struct {
	latchkey.Store
	down    atomic.Bool
	panics  atomic.Bool // the next read panics
	reads   atomic.Int64
	waiting atomic.Int64
	mu      sync.Mutex
	hang    chan struct{}
}

// hangReads makes reads wait until the returned function is first called.
func (f *flakyStore) hangReads() (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.hang = ch
	f.mu.Unlock()
	return sync.OnceFunc(func() {
		f.mu.Lock()
		f.hang = nil
		f.mu.Unlock()
		close(ch)
	})
}

func (f *flakyStore) fault(ctx context.Context) error {
	f.reads.Add(1)
	if f.panics.CompareAndSwap(true, false) {
		panic("injected panic in a storage read")
	}
	f.mu.Lock()
	hang := f.hang
	f.mu.Unlock()
	if hang != nil {
		f.waiting.Add(1)
		defer f.waiting.Add(-1)
		select {
		case <-hang:
		case <-ctx.Done():
			return latchkey.Unavailable("the database did not answer in time", ctx.Err())
		}
	}
	if f.down.Load() {
		return latchkey.Unavailable("the database cannot be reached", errOutage)
	}
	return nil
}

func (f *flakyStore) FindTokenByHash(ctx context.Context, h []byte) (*latchkey.Token, error) {
	if err := f.fault(ctx); err != nil {
		return nil, err
	}
	return f.Store.FindTokenByHash(ctx, h)
}

func (f *flakyStore) FindTokensByHash(ctx context.Context, hs [][]byte) ([]*latchkey.Token, error) {
	if err := f.fault(ctx); err != nil {
		return nil, err
	}
	return f.Store.FindTokensByHash(ctx, hs)
}

func (f *flakyStore) FindTokenVersions(ctx context.Context, hs [][]byte) ([]latchkey.TokenVersion, error) {
	if err := f.fault(ctx); err != nil {
		return nil, err
	}
	return f.Store.FindTokenVersions(ctx, hs)
}

func (f *flakyStore) FindTokens(ctx context.Context, flt latchkey.TokenFilter) ([]*latchkey.Token, int, error) {
	if err := f.fault(ctx); err != nil {
		return nil, 0, err
	}
	return f.Store.FindTokens(ctx, flt)
}

func (f *flakyStore) FindMemberGrants(ctx context.Context, accountID, userID int64) (*latchkey.Membership, []latchkey.Grant, error) {
	if err := f.fault(ctx); err != nil {
		return nil, nil, err
	}
	return f.Store.FindMemberGrants(ctx, accountID, userID)
}

func (f *flakyStore) FindUserByID(ctx context.Context, id int64) (*latchkey.User, error) {
	if err := f.fault(ctx); err != nil {
		return nil, err
	}
	return f.Store.FindUserByID(ctx, id)
}

func (f *flakyStore) FindAccountByID(ctx context.Context, id int64) (*latchkey.Account, error) {
	if err := f.fault(ctx); err != nil {
		return nil, err
	}
	return f.Store.FindAccountByID(ctx, id)
}

func (f *flakyStore) FindIPRules(ctx context.Context, accountID int64) ([]*latchkey.IPRule, error) {
	if err := f.fault(ctx); err != nil {
		return nil, err
	}
	return f.Store.FindIPRules(ctx, accountID)
}

// outageVerifier returns a flaky store over s and a verifier reading it whose clock stands at
// t0 plus the returned offset. Its verifications wait for storage's answer however slow (a busy
// test machine must not turn a slow read into a stale answer); TestStaleWhileStorageHangs
// restores the limit.
func outageVerifier(s latchkey.Store, opt Options) (*flakyStore, *Verifier, *atomic.Int64, time.Time) {
	f := &flakyStore{Store: s}
	t0 := time.Now()
	clock := new(atomic.Int64)
	opt.Now = func() time.Time { return t0.Add(time.Duration(clock.Load())) }
	v := New(f, opt)
	v.staleWait = time.Hour
	return f, v, clock, t0
}

// wantUnavailable fails unless err says storage is unavailable.
func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if latchkey.ErrorCodeOf(err) != latchkey.EUnavailable || Reason(err) != "unavailable" {
		t.Errorf("%s: %v, want an unavailable error", what, err)
	}
}

// TestStaleIfErrorServesThroughOutage: while storage fails, a cached principal keeps its answer
// past its TTL up to StaleIfError, and is refused (as unavailable, never as a wrong answer) after
// it; a token remembered as unknown is not (it may have been created since: only storage may
// say); once storage answers, entries are read again.
func TestStaleIfErrorServesThroughOutage(t *testing.T) {
	ctx := context.Background()
	s, strs, _ := tokenStore(t, 1, latchkey.Grant{PermissionSet: "metadata_only", AllProjects: true})
	good := strs[0]
	unknown, _, _ := tokenfmt.Default.Generate(latchkey.KindServiceToken)
	f, v, clock, t0 := outageVerifier(s, Options{TTL: 10 * time.Second, NegativeTTL: 10 * time.Second, StaleIfError: time.Minute})
	before, err := v.Verify(ctx, good, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, unknown, netip.Addr{}); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Verify(unknown) = %v, want ErrUnknown", err)
	}
	if h := v.Health(); !h.StaleSince.IsZero() || h.BreakerOpen || h.ConsecutiveFailures != 0 {
		t.Fatalf("Health() before the outage = %+v, want all clear", h)
	}

	f.down.Store(true)
	for _, at := range []time.Duration{11 * time.Second, 30 * time.Second, 69 * time.Second} {
		clock.Store(int64(at))
		if p, err := v.Verify(ctx, good, netip.Addr{}); err != nil || p != before {
			t.Errorf("at %v, storage down: Verify(cached) = %p, %v; want the cached principal %p", at, p, err, before)
		}
		_, err := v.Verify(ctx, unknown, netip.Addr{})
		wantUnavailable(t, fmt.Sprintf("at %v, storage down: Verify(unknown past its NegativeTTL)", at), err)
	}
	if n := v.Stats().Stale.Load(); n != 3 {
		t.Errorf("Stats().Stale = %d, want 3", n)
	}
	if h := v.Health(); !h.StaleSince.Equal(t0.Add(11 * time.Second)) {
		t.Errorf("Health().StaleSince = %v, want t0+11s (the first stale answer)", h.StaleSince)
	}

	// Entries live at most the TTL (10 s), so every stale window has ended by 71 s.
	clock.Store(int64(71 * time.Second))
	_, err = v.Verify(ctx, good, netip.Addr{})
	wantUnavailable(t, "Verify(cached) past StaleIfError", err)

	f.down.Store(false)
	clock.Store(int64(80 * time.Second)) // past any breaker cool-down
	if p, err := v.Verify(ctx, good, netip.Addr{}); err != nil || p.TokenID == 0 {
		t.Fatalf("Verify after storage came back = %v, %v", p, err)
	}
	stale := v.Stats().Stale.Load()
	if _, err := v.Verify(ctx, good, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if n := v.Stats().Stale.Load(); n != stale {
		t.Errorf("a fresh entry counted as stale (%d, then %d)", stale, n)
	}
	if h := v.Health(); !h.StaleSince.IsZero() || h.BreakerOpen || h.ConsecutiveFailures != 0 {
		t.Errorf("Health() after recovery = %+v, want all clear", h)
	}

	t.Run("off", func(t *testing.T) {
		f, v, clock, _ := outageVerifier(s, Options{TTL: 10 * time.Second, StaleIfError: -1})
		if _, err := v.Verify(ctx, good, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
		f.down.Store(true)
		clock.Store(int64(11 * time.Second))
		_, err := v.Verify(ctx, good, netip.Addr{})
		wantUnavailable(t, "Verify(expired entry) with StaleIfError < 0", err)
	})
}

// TestStaleHonoursInvalidation: serving stale never brings back what an invalidation removed: a
// token deleted, a token whose grants changed and a user who left the account before the outage
// are refused (unavailable) through it, not answered from their old entries, and so is a token
// deleted during it, as another node would.
func TestStaleHonoursInvalidation(t *testing.T) {
	ctx := context.Background()
	s, strs, toks := tokenStore(t, 4, latchkey.Grant{PermissionSet: "job_admin", AllProjects: true})
	deleted, regranted, kept, deletedDuring := strs[0], strs[1], strs[2], strs[3]
	accountID := toks[0].AccountID
	u := &latchkey.User{Email: "dev@example.com"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	m := &latchkey.Membership{AccountID: accountID, UserID: u.ID, License: latchkey.LicenseDeveloper}
	if err := s.CreateMembership(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	pm, err := tokenfmt.Default.Mint(latchkey.KindPAT)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, &latchkey.Token{AccountID: accountID, Kind: latchkey.KindPAT, UserID: u.ID, UID: pm.UID,
		Hash: pm.Hash, Name: "pat"}); err != nil {
		t.Fatal(err)
	}
	f, v, clock, _ := outageVerifier(s, Options{TTL: 10 * time.Second})
	t.Cleanup(s.Subscribe(v.Invalidate))
	for _, tok := range []string{deleted, regranted, kept, deletedDuring, pm.String} {
		if _, err := v.Verify(ctx, tok, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
	}

	// Committed and delivered before the outage; not read again since.
	if err := s.DeleteToken(ctx, toks[0].ID, "deleted"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReplaceTokenGrants(ctx, toks[1].ID, []latchkey.Grant{{PermissionSet: "job_viewer", AllProjects: true}}); err != nil {
		t.Fatal(err)
	}
	removed := latchkey.StateDeleted
	if _, err := s.UpdateMembership(ctx, m.ID, latchkey.MembershipUpdate{State: &removed}); err != nil {
		t.Fatal(err)
	}

	f.down.Store(true)
	clock.Store(int64(11 * time.Second))
	for _, tt := range []struct{ name, token string }{{"deleted", deleted}, {"regranted", regranted}, {"PAT of a removed member", pm.String}} {
		p, err := v.Verify(ctx, tt.token, netip.Addr{})
		if err == nil {
			t.Errorf("storage down: Verify(%s, invalidated before the outage) = %+v, want an error", tt.name, p)
			continue
		}
		wantUnavailable(t, "storage down: Verify("+tt.name+", invalidated before the outage)", err)
	}
	if _, err := v.Verify(ctx, kept, netip.Addr{}); err != nil {
		t.Errorf("storage down: Verify(unchanged token) = %v, want its stale entry", err)
	}
	if _, err := v.Verify(ctx, deletedDuring, netip.Addr{}); err != nil {
		t.Errorf("storage down: Verify(token deleted later) = %v, want its stale entry", err)
	}

	// Deleted during the outage (through a store that can still write, as another node would)
	// while its stale entry is in use.
	if err := s.DeleteToken(ctx, toks[3].ID, "deleted"); err != nil {
		t.Fatal(err)
	}
	clock.Store(int64(12 * time.Second))
	_, err = v.Verify(ctx, deletedDuring, netip.Addr{})
	wantUnavailable(t, "storage down: Verify(token deleted during the outage)", err)
	if _, err := v.Verify(ctx, kept, netip.Addr{}); err != nil {
		t.Errorf("storage down: Verify(unchanged token) after another token's invalidation = %v", err)
	}
}

// TestInvalidationDuringFailingRead: an entry invalidated while the read that would replace it
// is under way is not served stale when that read fails.
func TestInvalidationDuringFailingRead(t *testing.T) {
	ctx := context.Background()
	s, strs, toks := tokenStore(t, 1)
	f, v, clock, _ := outageVerifier(s, Options{TTL: 10 * time.Second})
	t.Cleanup(s.Subscribe(v.Invalidate))
	if _, err := v.Verify(ctx, strs[0], netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	release := f.hangReads()
	defer release()
	clock.Store(int64(11 * time.Second))
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(ctx, strs[0], netip.Addr{})
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for f.waiting.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the read did not reach storage within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.DeleteToken(ctx, toks[0].ID, "deleted"); err != nil {
		t.Fatal(err)
	}
	f.down.Store(true)
	release()
	wantUnavailable(t, "Verify(invalidated while its read failed)", <-done)
}

// TestExpiryHonouredWhileStale: a stale entry still ends with its token's expiry and with its
// rotation grace period.
func TestExpiryHonouredWhileStale(t *testing.T) {
	ctx := context.Background()
	s, strs, toks := tokenStore(t, 1)
	f, v, clock, t0 := outageVerifier(s, Options{TTL: 10 * time.Second})
	// The rotation's grace period is stamped by the store: on the verifier's clock too, so
	// that a slow machine cannot move it.
	s.SetClock(func() time.Time { return t0.Add(time.Duration(clock.Load())) })
	exp := t0.Add(30 * time.Second)
	m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, &latchkey.Token{AccountID: toks[0].AccountID, Kind: latchkey.KindServiceToken, UID: m.UID,
		Hash: m.Hash, Name: "expiring", ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	expiring := m.String
	next, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RotateToken(ctx, toks[0].ID, &latchkey.Token{UID: next.UID, Hash: next.Hash}, 25*time.Second); err != nil {
		t.Fatal(err)
	}
	rotated := strs[0]
	for _, tok := range []string{expiring, rotated} {
		if _, err := v.Verify(ctx, tok, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
	}
	f.down.Store(true)
	clock.Store(int64(20 * time.Second))
	for _, tok := range []string{expiring, rotated} {
		if _, err := v.Verify(ctx, tok, netip.Addr{}); err != nil {
			t.Errorf("storage down, before expiry and end of grace: %v, want the stale entry", err)
		}
	}
	clock.Store(int64(31 * time.Second))
	if _, err := v.Verify(ctx, expiring, netip.Addr{}); !errors.Is(err, ErrExpired) {
		t.Errorf("storage down, past expiry: %v, want ErrExpired", err)
	}
	if _, err := v.Verify(ctx, rotated, netip.Addr{}); !errors.Is(err, ErrRotatedOut) {
		t.Errorf("storage down, past the rotation grace period: %v, want ErrRotatedOut", err)
	}
}

// TestBreakerOpensFailsFastAndRecovers: after breakerThreshold reads in a row fail, verifications
// that need storage fail at once without reaching it; after the cool-down one probe goes
// through (and only one, however many verifications arrive meanwhile); a failed probe doubles
// the cool-down, and one that succeeds closes the breaker.
func TestBreakerOpensFailsFastAndRecovers(t *testing.T) {
	ctx := context.Background()
	s, strs, _ := tokenStore(t, 40)
	f, v, clock, t0 := outageVerifier(s, Options{})
	next := 0
	uncached := func() string { next++; return strs[next-1] }
	f.down.Store(true)
	for i := range breakerThreshold {
		_, err := v.Verify(ctx, uncached(), netip.Addr{})
		wantUnavailable(t, "storage down: Verify(uncached)", err)
		if errors.Is(err, ErrBreakerOpen) {
			t.Fatalf("failure %d: the breaker opened before %d failures", i+1, breakerThreshold)
		}
	}
	if n := f.reads.Load(); n != breakerThreshold {
		t.Fatalf("storage reads = %d, want %d", n, breakerThreshold)
	}
	h := v.Health()
	if !h.BreakerOpen || !h.BreakerOpenSince.Equal(t0) || h.ConsecutiveFailures != breakerThreshold ||
		!h.NextProbe.Equal(t0.Add(breakerMinCooldown)) {
		t.Errorf("Health() = %+v, want the breaker open since t0, %d failures, next probe at t0+%v", h, breakerThreshold, breakerMinCooldown)
	}

	// Open: every verification needing storage fails at once, concurrent ones included.
	var wg sync.WaitGroup
	for range 16 {
		tok := uncached()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(ctx, tok, netip.Addr{}); !errors.Is(err, ErrBreakerOpen) {
				t.Errorf("breaker open: Verify(uncached) = %v, want ErrBreakerOpen", err)
			}
		}()
	}
	wg.Wait()
	if n := f.reads.Load(); n != breakerThreshold {
		t.Errorf("breaker open: storage reads = %d, want still %d", n, breakerThreshold)
	}
	if n := v.Stats().FastFails.Load(); n != 16 {
		t.Errorf("Stats().FastFails = %d, want 16", n)
	}
	var le *latchkey.Error
	if _, err := v.Verify(ctx, uncached(), netip.Addr{}); !errors.As(err, &le) || le.Data["retry_after_seconds"] == nil {
		t.Errorf("breaker open: %v, want a *latchkey.Error with retry_after_seconds", err)
	}

	// Half-open: one probe, which fails, and the cool-down doubles.
	clock.Store(int64(breakerMinCooldown))
	_, err := v.Verify(ctx, uncached(), netip.Addr{})
	if errors.Is(err, ErrBreakerOpen) || f.reads.Load() != breakerThreshold+1 {
		t.Fatalf("after the cool-down: Verify = %v with %d reads, want a probe that reaches storage", err, f.reads.Load())
	}
	wantUnavailable(t, "failed probe", err)
	clock.Store(int64(2 * breakerMinCooldown))
	if _, err := v.Verify(ctx, uncached(), netip.Addr{}); !errors.Is(err, ErrBreakerOpen) {
		t.Errorf("one second after a failed probe: %v, want ErrBreakerOpen (the cool-down doubled)", err)
	}
	if h := v.Health(); !h.NextProbe.Equal(t0.Add(3 * breakerMinCooldown)) {
		t.Errorf("Health().NextProbe = %v, want t0+%v", h.NextProbe, 3*breakerMinCooldown)
	}

	// The next probe hangs in storage; meanwhile other verifications still fail at once.
	clock.Store(int64(3 * breakerMinCooldown))
	f.down.Store(false)
	release := f.hangReads()
	probe := make(chan error, 1)
	go func() {
		_, err := v.Verify(ctx, uncached(), netip.Addr{})
		probe <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for f.waiting.Load() == 0 {
		if time.Now().After(deadline) {
			release()
			t.Fatal("the probe did not reach storage within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	reads := f.reads.Load()
	for range 5 {
		if _, err := v.Verify(ctx, uncached(), netip.Addr{}); !errors.Is(err, ErrBreakerOpen) {
			t.Errorf("while the probe is under way: %v, want ErrBreakerOpen", err)
		}
	}
	if n := f.reads.Load(); n != reads {
		t.Errorf("while the probe is under way: %d more storage reads, want 0", n-reads)
	}
	release()
	if err := <-probe; err != nil {
		t.Fatalf("probe after storage came back = %v", err)
	}
	if h := v.Health(); h.BreakerOpen || h.ConsecutiveFailures != 0 || !h.BreakerOpenSince.IsZero() {
		t.Errorf("Health() after a successful probe = %+v, want the breaker closed", h)
	}
	reads = f.reads.Load()
	if _, err := v.Verify(ctx, uncached(), netip.Addr{}); err != nil {
		t.Errorf("breaker closed: Verify(uncached) = %v", err)
	}
	if f.reads.Load() == reads {
		t.Error("breaker closed: an uncached token did not read storage")
	}
}

// TestStaleWhileStorageHangs: a database that stops answering (rather than refusing) does not
// hold verifications of cached tokens: they are answered stale while one shared read waits, and
// the read, once storage answers, makes the entry fresh again.
func TestStaleWhileStorageHangs(t *testing.T) {
	ctx := context.Background()
	s, strs, _ := tokenStore(t, 1)
	good := strs[0]
	h := tokenfmt.Hash(good)
	f, v, clock, _ := outageVerifier(s, Options{TTL: 10 * time.Second})
	v.staleWait = staleWait
	before, err := v.Verify(ctx, good, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	release := f.hangReads()
	defer release()
	clock.Store(int64(11 * time.Second))
	const callers = 16
	done := make(chan error, callers)
	for range callers {
		go func() {
			p, err := v.Verify(ctx, good, netip.Addr{})
			if err == nil && p != before {
				err = errors.New("a principal other than the cached one")
			}
			done <- err
		}()
	}
	timeout := time.After(loadTimeout / 2)
	for range callers {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("storage hanging: Verify(cached) = %v, want the stale entry", err)
			}
		case <-timeout:
			t.Fatal("storage hanging: Verify(cached) waited for storage")
		}
	}
	if n := f.waiting.Load(); n != 1 {
		t.Errorf("%d reads waiting in storage for %d verifications, want 1 (shared, going on behind the stale answers)", n, callers)
	}
	release()
	deadline := time.Now().Add(10 * time.Second)
	for {
		sh := &v.shards[h[0]%numShards]
		sh.mu.RLock()
		sl := sh.m[keyOf(&h)]
		sh.mu.RUnlock()
		if sl.flags&flagStale == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the entry was still stale 10 s after storage answered")
		}
		time.Sleep(time.Millisecond)
	}
	stale := v.Stats().Stale.Load()
	if _, err := v.Verify(ctx, good, netip.Addr{}); err != nil || v.Stats().Stale.Load() != stale {
		t.Errorf("after storage answered: Verify = %v, stale answers %d → %d; want a fresh hit", err, stale, v.Stats().Stale.Load())
	}
}

// TestRefreshKeepsEntriesThroughOutage: background refreshes and sweeps that fail keep the entries
// they could not read, try each at most once (no retry loop against a failing store), read
// nothing while the breaker is open, and the entries are served stale once they expire.
func TestRefreshKeepsEntriesThroughOutage(t *testing.T) {
	ctx := context.Background()
	const n = 300
	s, strs, _ := tokenStore(t, n, latchkey.Grant{PermissionSet: "metadata_only", AllProjects: true})
	f, v, clock, _ := outageVerifier(s, Options{TTL: 10 * time.Second})
	useAll := func(when string) {
		t.Helper()
		for _, tok := range strs {
			if _, err := v.Verify(ctx, tok, netip.Addr{}); err != nil {
				t.Fatalf("%s: %v", when, err)
			}
		}
	}
	waitIdle := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for v.refreshers.Load() != 0 || len(v.refreshQ) != 0 {
			if time.Now().After(deadline) {
				t.Fatal("background refreshes still running after 10 s")
			}
			time.Sleep(time.Millisecond)
		}
	}
	useAll("before the outage")
	f.down.Store(true)
	base := f.reads.Load()
	clock.Store(int64(9 * time.Second)) // every entry in its last eighth, none expired
	useAll("refresh window, storage down")
	waitIdle()
	failed := f.reads.Load() - base
	if failed == 0 || failed > n {
		t.Fatalf("refreshes made %d storage reads, want some and at most one per entry", failed)
	}
	if got := v.Len(); got != n {
		t.Fatalf("cache holds %d entries after failed refreshes, want %d", got, n)
	}
	misses := v.stats.Misses.Load()
	for range 3 {
		useAll("refresh window, storage down, again")
		v.sweep()
	}
	waitIdle()
	if extra := f.reads.Load() - base - failed; extra != 0 {
		t.Errorf("hits and sweeps after failed refreshes made %d storage reads, want 0 (no retry loop)", extra)
	}
	if got := v.stats.Misses.Load() - misses; got != 0 {
		t.Errorf("%d misses before the entries expired, want 0", got)
	}

	clock.Store(int64(11 * time.Second)) // every entry expired
	reads := f.reads.Load()
	useAll("expired, storage down")
	if got := v.Stats().Stale.Load(); got != n {
		t.Errorf("Stats().Stale = %d, want %d", got, n)
	}
	if extra := f.reads.Load() - reads; extra > breakerThreshold {
		t.Errorf("expired entries made %d storage reads, want at most %d (then the breaker opens)", extra, breakerThreshold)
	}
	if !v.Health().BreakerOpen {
		t.Fatal("breaker closed after a storage outage")
	}
	reads = f.reads.Load()
	if got := v.sweep(); got != 0 || f.reads.Load() != reads {
		t.Errorf("sweep with the breaker open read %d entries (%d storage reads), want 0", got, f.reads.Load()-reads)
	}

	f.down.Store(false)
	clock.Store(int64(20 * time.Second)) // past the cool-down and every stale entry's retry time
	misses = v.stats.Misses.Load()
	useAll("storage back")
	if got := v.stats.Misses.Load() - misses; got != n {
		t.Errorf("storage back: %d misses, want %d (every stale entry read again)", got, n)
	}
	stale := v.Stats().Stale.Load()
	useAll("storage back, again")
	if got := v.Stats().Stale.Load(); got != stale {
		t.Errorf("storage back: %d more stale answers, want 0", got-stale)
	}
	if h := v.Health(); h.BreakerOpen || !h.StaleSince.IsZero() {
		t.Errorf("Health() after recovery = %+v, want all clear", h)
	}
}

// TestFlushClosesBreaker: a store whose change feed reconnects announces ChangeAll, which says
// the database answers again and empties the cache; the breaker closes then, rather than
// refusing every token (none cached any more) until its probe is due.
func TestFlushClosesBreaker(t *testing.T) {
	ctx := context.Background()
	f, v, _, strs := brokenVerifier(t)
	if _, err := v.Verify(ctx, strs[breakerThreshold], netip.Addr{}); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("after %d failures: %v, want ErrBreakerOpen", breakerThreshold, err)
	}
	f.down.Store(false)
	v.Invalidate(latchkey.Change{Kind: latchkey.ChangeAll})
	if h := v.Health(); h.BreakerOpen || h.ConsecutiveFailures != 0 || !h.StaleSince.IsZero() {
		t.Errorf("Health() after the flush = %+v, want the breaker closed", h)
	}
	if _, err := v.Verify(ctx, strs[breakerThreshold+1], netip.Addr{}); err != nil {
		t.Errorf("after the flush, with storage back: Verify(uncached) = %v, want it read from storage", err)
	}
}

// TestPanickingProbeDoesNotWedgeBreaker: a probe whose read panics is recorded as a failed probe,
// so the breaker lets the next one through after its cool-down instead of waiting for the lost
// probe's outcome for ever.
func TestPanickingProbeDoesNotWedgeBreaker(t *testing.T) {
	ctx := context.Background()
	f, v, clock, strs := brokenVerifier(t)
	f.down.Store(false)
	f.panics.Store(true)
	clock.Store(int64(breakerMinCooldown))
	func() {
		defer func() {
			if p := recover(); p == nil {
				t.Error("the probe's panic did not reach its caller")
			}
		}()
		_, _ = v.Verify(ctx, strs[breakerThreshold], netip.Addr{})
	}()
	if h := v.Health(); !h.BreakerOpen {
		t.Fatalf("after a panicking probe: Health() = %+v, want the breaker still open", h)
	}
	clock.Store(int64(breakerMinCooldown + breakerMaxCooldown))
	if _, err := v.Verify(ctx, strs[breakerThreshold+1], netip.Addr{}); err != nil {
		t.Errorf("the next probe, storage healthy: Verify = %v, want it read from storage", err)
	}
	if h := v.Health(); h.BreakerOpen {
		t.Errorf("after a successful probe: Health() = %+v, want the breaker closed", h)
	}
}

// brokenVerifier returns a verifier whose breaker has just opened: storage is down and
// breakerThreshold uncached tokens failed. Two more tokens, strs[breakerThreshold:], are uncached.
func brokenVerifier(t *testing.T) (*flakyStore, *Verifier, *atomic.Int64, []string) {
	t.Helper()
	s, strs, _ := tokenStore(t, breakerThreshold+2)
	f, v, clock, _ := outageVerifier(s, Options{})
	f.down.Store(true)
	for i := range breakerThreshold {
		_, err := v.Verify(context.Background(), strs[i], netip.Addr{})
		wantUnavailable(t, "storage down", err)
	}
	return f, v, clock, strs
}
