package verify

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
)

// readCounter counts token reads from a real SQLite store.
type readCounter struct {
	latchkey.Store
	reads, batches, batched, versionBatches atomic.Int64
}

func (c *readCounter) FindTokenVersions(ctx context.Context, hs [][]byte) ([]latchkey.TokenVersion, error) {
	c.versionBatches.Add(1)
	return c.Store.FindTokenVersions(ctx, hs)
}

func (c *readCounter) FindTokenByHash(ctx context.Context, h []byte) (*latchkey.Token, error) {
	c.reads.Add(1)
	return c.Store.FindTokenByHash(ctx, h)
}

func (c *readCounter) FindTokensByHash(ctx context.Context, hs [][]byte) ([]*latchkey.Token, error) {
	c.batches.Add(1)
	c.batched.Add(int64(len(hs)))
	return c.Store.FindTokensByHash(ctx, hs)
}

// waitRefreshed waits until no entry is marked for refreshing.
func waitRefreshed(t *testing.T, v *Verifier) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		marked := 0
		for i := range v.shards {
			sh := &v.shards[i]
			sh.mu.RLock()
			for _, sl := range sh.m {
				if sl.flags&flagRefreshing != 0 {
					marked++
				}
			}
			sh.mu.RUnlock()
		}
		if marked == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries still refreshing after 10 s", marked)
		}
		time.Sleep(time.Millisecond)
	}
}

// tokenStore opens a SQLite store with one account holding n service tokens with grants, and
// returns the store, the token strings and the stored tokens.
func tokenStore(t *testing.T, n int, grants ...latchkey.Grant) (*sqlite.Store, []string, []*latchkey.Token) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	acct := &latchkey.Account{Name: "Acme", Plan: latchkey.PlanTeam, Settings: latchkey.DefaultAccountSettings()}
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	strs := make([]string, n)
	toks := make([]*latchkey.Token, n)
	for i := range n {
		m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
		if err != nil {
			t.Fatal(err)
		}
		strs[i] = m.String
		toks[i] = &latchkey.Token{AccountID: acct.ID, Kind: latchkey.KindServiceToken, UID: m.UID, Hash: m.Hash, Name: "t",
			Grants: append([]latchkey.Grant(nil), grants...)}
	}
	if err := s.CreateTokens(ctx, toks); err != nil {
		t.Fatal(err)
	}
	return s, strs, toks
}

// fakeClockVerifier returns a verifier over src whose clock stands at t0 plus the returned offset.
func fakeClockVerifier(src Source, ttl time.Duration) (*Verifier, *atomic.Int64, time.Time) {
	t0 := time.Now()
	clock := new(atomic.Int64)
	return New(src, Options{TTL: ttl, Now: func() time.Time { return t0.Add(time.Duration(clock.Load())) }}), clock, t0
}

// TestRefreshBatchesSeeChangesMadeElsewhere: many hot entries refresh in batches; unchanged
// tokens keep their entries after a version check, and a refresh picks up a change this verifier
// was not told of (another process writing the same database) by reading that token in full.
func TestRefreshBatchesSeeChangesMadeElsewhere(t *testing.T) {
	ctx := context.Background()
	s, strs, toks := tokenStore(t, 300, latchkey.Grant{PermissionSet: "metadata_only", AllProjects: true})
	src := &readCounter{Store: s}
	// Not subscribed to the store: changes reach this verifier only by reading.
	v, clock, _ := fakeClockVerifier(src, 10*time.Second)
	useAll := func() {
		t.Helper()
		for _, tok := range strs {
			if _, err := v.Verify(ctx, tok, netip.Addr{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	useAll()
	before, err := v.Verify(ctx, strs[0], netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // versions are microseconds
	if err := s.DeleteToken(ctx, toks[7].ID, "deleted"); err != nil {
		t.Fatal(err)
	}
	clock.Store(int64(9 * time.Second)) // every entry in its last eighth, none expired
	// Hold the refresh loops back (as if all were busy) so that the whole burst queues, then let
	// one loop drain it.
	v.refreshers.Store(int32(runtime.GOMAXPROCS(0)))
	useAll()
	if r, q := v.stats.Refreshes.Load(), len(v.refreshQ); r != 300 || q != 300 {
		t.Fatalf("refreshes = %d with %d queued, want 300 and 300", r, q)
	}
	v.refreshers.Store(1)
	go v.refreshLoop()
	waitRefreshed(t, v)
	if vb, b, single := src.versionBatches.Load(), src.batches.Load(), src.reads.Load()-300; vb != 3 || b != 0 || single != 1 {
		t.Errorf("refresh checked versions in %d batches, read %d batches and %d tokens alone; want 3 version batches (128 + 128 + 44) and the one changed token read alone", vb, b, single)
	}

	clock.Store(int64(11 * time.Second)) // past every first entry's life
	misses := v.stats.Misses.Load()
	for i, tok := range strs {
		_, err := v.Verify(ctx, tok, netip.Addr{})
		if i == 7 {
			if !errors.Is(err, ErrRevoked) {
				t.Errorf("token deleted elsewhere after a refresh: %v, want ErrRevoked", err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if n := v.stats.Misses.Load() - misses; n != 0 {
		t.Errorf("%d misses after the refresh, want 0", n)
	}
	if after, err := v.Verify(ctx, strs[0], netip.Addr{}); err != nil || after != before {
		t.Errorf("an unchanged token's principal was rebuilt (%p, then %p, %v); want its entry extended", before, after, err)
	}
}

// TestHotEntriesRefreshInBackground: a token used in the last eighth of its entry's life is read
// again in the background, once, and its next uses past the old expiry are hits; a token not used
// then expires and is read on the request path as before.
func TestHotEntriesRefreshInBackground(t *testing.T) {
	ctx := context.Background()
	s, strs, _ := tokenStore(t, 2)
	hot, cold := strs[0], strs[1]
	hotHash := tokenfmt.Hash(hot)
	src := &readCounter{Store: s}
	v, clock, t0 := fakeClockVerifier(src, 10*time.Second)
	use := func(tok string) {
		t.Helper()
		if _, err := v.Verify(ctx, tok, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
	}
	use(hot)
	use(cold)
	clock.Store(int64(5 * time.Second)) // mid-life: plain hits
	use(hot)
	if n, r := v.stats.Misses.Load(), v.stats.Refreshes.Load(); n != 2 || r != 0 {
		t.Fatalf("after first uses: misses = %d, refreshes = %d, want 2 and 0", n, r)
	}

	clock.Store(int64(9 * time.Second)) // last eighth: the first hit starts one reload
	for range 20 {
		use(hot)
	}
	if n, r := v.stats.Misses.Load(), v.stats.Refreshes.Load(); n != 2 || r != 1 {
		t.Fatalf("hits in the last eighth: misses = %d, refreshes = %d, want 2 and 1", n, r)
	}
	// The reload replaces the entry (clearing its mark) in the background.
	deadline := time.Now().Add(10 * time.Second)
	for {
		sh := &v.shards[hotHash[0]%numShards]
		sh.mu.RLock()
		sl := sh.m[keyOf(&hotHash)]
		sh.mu.RUnlock()
		if sl.flags&flagRefreshing == 0 {
			if got := time.Duration(sl.until) - t0.Sub(v.start); got < 9*time.Second+10*time.Second-10*time.Second/16 || got > 19*time.Second {
				t.Fatalf("refreshed entry lives until t0+%v, want t0+9s plus the TTL less at most a sixteenth", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("background refresh did not finish within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	if n := src.reads.Load(); n != 3 {
		t.Fatalf("storage reads = %d, want 3 (two first uses, one refresh)", n)
	}

	clock.Store(int64(12 * time.Second)) // past the first entries' life
	use(hot)
	if n := v.stats.Misses.Load(); n != 2 {
		t.Errorf("hot token past its first entry's life: misses = %d, want 2 (served by the refreshed entry)", n)
	}
	use(cold)
	if n := v.stats.Misses.Load(); n != 3 {
		t.Errorf("cold token past its entry's life: misses = %d, want 3 (read on the request path)", n)
	}
}

// TestSweepKeepsTokensInUseFresh: the sweep reads again the entries of tokens used in the last
// minute or two that are near or past their expiry, even with no hit in their refresh window, and
// leaves the rest alone.
func TestSweepKeepsTokensInUseFresh(t *testing.T) {
	ctx := context.Background()
	s, strs, _ := tokenStore(t, 3)
	busy, quiet, gone := strs[0], strs[1], strs[2]
	src := &readCounter{Store: s}
	v, clock, _ := fakeClockVerifier(src, 10*time.Second)
	use := func(tok string) {
		t.Helper()
		if _, err := v.Verify(ctx, tok, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
	}
	use(gone) // used once, then never again
	clock.Store(int64(2 * time.Minute))
	use(busy)
	use(quiet)
	if n := v.sweep(); n != 0 {
		t.Fatalf("sweep of fresh entries read %d, want 0", n)
	}
	// 11 s later the entries have expired without a hit in their last eighth (a quiet spell).
	clock.Store(int64(2*time.Minute + 11*time.Second))
	if n := v.sweep(); n != 2 {
		t.Fatalf("sweep after a quiet spell read %d entries, want 2 (busy and quiet; not the one idle for two minutes)", n)
	}
	misses := v.stats.Misses.Load()
	use(busy)
	use(quiet)
	if n := v.stats.Misses.Load() - misses; n != 0 {
		t.Errorf("tokens in use after the sweep: %d misses, want 0", n)
	}
	use(gone)
	if n := v.stats.Misses.Load() - misses; n != 1 {
		t.Errorf("token idle for two minutes: %d misses, want 1", n)
	}
}

// TestExtensionsAreBounded: a change made in the database without moving updated_at (a hand edit)
// is invisible to version checks, but an entry kept by them is read in full again after maxExtend
// TTLs, so the change is seen then.
func TestExtensionsAreBounded(t *testing.T) {
	ctx := context.Background()
	s, strs, toks := tokenStore(t, 3)
	ttl := 10 * time.Second
	v, clock, _ := fakeClockVerifier(s, ttl)
	useAll := func() []error {
		errs := make([]error, len(strs))
		for i, tok := range strs {
			_, errs[i] = v.Verify(ctx, tok, netip.Addr{})
		}
		return errs
	}
	useAll()
	if _, err := s.DB.ExecContext(ctx, `UPDATE tokens SET state = 2 WHERE id = ?`, toks[0].ID); err != nil {
		t.Fatal(err)
	}
	step := ttl - ttl/20 // within every entry's last eighth, or just past it
	seenAt := time.Duration(0)
	const documented = 6 // Options.TTL: "seen within 6 TTLs"
	for k := 1; k <= 2*documented; k++ {
		now := time.Duration(k) * step
		clock.Store(int64(now))
		v.sweep()
		misses := v.stats.Misses.Load()
		errs := useAll()
		if n := v.stats.Misses.Load() - misses; n != 0 {
			t.Fatalf("at %v: %d misses after a sweep, want 0", now, n)
		}
		if errs[1] != nil || errs[2] != nil {
			t.Fatalf("at %v: unchanged tokens refused: %v, %v", now, errs[1], errs[2])
		}
		if errs[0] != nil {
			if !errors.Is(errs[0], ErrRevoked) {
				t.Fatalf("at %v: hand-revoked token: %v, want ErrRevoked", now, errs[0])
			}
			seenAt = now
			break
		}
	}
	if seenAt == 0 {
		t.Fatalf("a hand edit was never seen in %d sweeps", 2*documented)
	}
	if seenAt < ttl || seenAt > documented*ttl+step {
		t.Errorf("hand edit seen at %v, want after the first version check and within %d TTLs plus a sweep", seenAt, documented)
	}
}
