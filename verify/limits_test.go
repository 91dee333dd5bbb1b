package verify_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

// limitClock is a fake wall clock placed at the start of a whole hour, so that windows of a
// second and of an hour begin together.
func limitClock() (*time.Time, func() time.Time) {
	now := time.Now().Truncate(time.Hour).Add(time.Hour)
	return &now, func() time.Time { return now }
}

func rateLimited(t *testing.T, err error, name string, retry int64) {
	t.Helper()
	var le *latchkey.Error
	if verify.Reason(err) != "rate_limited" || !errors.As(err, &le) {
		t.Fatalf("Verify = %v, want rate_limited", err)
	}
	if le.Data["limit"] != name || le.Data["retry_after_seconds"] != retry {
		t.Errorf("refusal data = %v, want limit %q, retry_after_seconds %d", le.Data, name, retry)
	}
}

func TestRateLimitsCountAndRefuse(t *testing.T) {
	now, clock := limitClock()
	f := newFixture(t, verify.Options{Now: clock, TTL: time.Hour})
	tok, _ := f.token(t, func(tk *latchkey.Token) {
		tk.RateLimits = []latchkey.RateLimit{{Name: "api", Limit: 3, Duration: time.Second}, {Name: "hourly", Limit: 5, Duration: time.Hour}}
	})
	var lim verify.Limits
	for i := range 3 {
		if _, err := f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{}, &lim); err != nil {
			t.Fatalf("verification %d: %v", i+1, err)
		}
	}
	want := []verify.LimitState{
		{Name: "api", Limit: 3, Window: time.Second, Remaining: 0, Reset: time.Second},
		{Name: "hourly", Limit: 5, Window: time.Hour, Remaining: 2, Reset: time.Hour},
	}
	if diff := cmp.Diff(want, lim.All()); diff != "" {
		t.Errorf("limits after 3 verifications (-want +got):\n%s", diff)
	}
	_, err := f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{}, &lim)
	rateLimited(t, err, "api", 1)
	// A refused verification counts against no limit.
	if got := lim.States[1].Remaining; got != 2 {
		t.Errorf("hourly remaining after a refusal = %d, want 2 (nothing counted)", got)
	}
	// Plain Verify counts too, and is refused the same way.
	if _, err := f.v.Verify(ctx, tok, localhost); verify.Reason(err) != "rate_limited" {
		t.Errorf("Verify over the limit = %v, want rate_limited", err)
	}

	*now = now.Add(time.Second)
	// A cost of 3 fits neither: hourly has 2 left. Nothing is counted.
	_, err = f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{Cost: 3}, &lim)
	rateLimited(t, err, "hourly", 3599)
	// Counting against one named limit leaves the other alone.
	for range 3 {
		if _, err := f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{Limit: "api"}, &lim); err != nil {
			t.Fatal(err)
		}
	}
	if lim.N != 1 || lim.States[0].Name != "api" || lim.States[0].Remaining != 0 {
		t.Errorf("named check reported %+v, want api alone with 0 remaining", lim.All())
	}
	// A name the token has no limit under counts against nothing.
	if _, err := f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{Limit: "other", Cost: 100}, &lim); err != nil || lim.N != 0 {
		t.Errorf("check against an unknown limit = %v with %d limits, want accepted with none", err, lim.N)
	}
	*now = now.Add(time.Second)
	if _, err := f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{Cost: 2}, &lim); err != nil {
		t.Fatal(err)
	}
	_, err = f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{}, &lim)
	rateLimited(t, err, "hourly", 3598)
	// The next hour starts afresh.
	*now = now.Add(time.Hour)
	if _, err := f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{}, &lim); err != nil {
		t.Errorf("verification in the next hour: %v", err)
	}
}

// Changing a token's limits, rotating it, or a reload of its cache entry does not reset what was
// counted in the current window.
func TestRateLimitsSurviveReloadChangeAndRotation(t *testing.T) {
	_, clock := limitClock()
	f := newFixture(t, verify.Options{Now: clock, TTL: time.Hour})
	tok, row := f.token(t, func(tk *latchkey.Token) {
		tk.RateLimits = []latchkey.RateLimit{{Name: "api", Limit: 4, Duration: time.Minute}}
	})
	for range 3 {
		if _, err := f.v.Verify(ctx, tok, localhost); err != nil {
			t.Fatal(err)
		}
	}
	// Adding a limit reloads the entry; "api" keeps its count of 3.
	limits := []latchkey.RateLimit{{Name: "api", Limit: 4, Duration: time.Minute}, {Name: "burst", Limit: 100, Duration: time.Second}}
	if _, err := f.store.UpdateToken(ctx, row.ID, latchkey.TokenUpdate{RateLimits: &limits}); err != nil {
		t.Fatal(err)
	}
	var lim verify.Limits
	if _, err := f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{}, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.N != 2 || lim.States[0].Remaining != 0 || lim.States[1].Remaining != 99 {
		t.Fatalf("after the change: %+v, want api 0 left and burst 99", lim.All())
	}
	// The rotated successor shares the family's budget while both are valid.
	m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.RotateToken(ctx, row.ID, &latchkey.Token{UID: m.UID, Hash: m.Hash}, time.Hour); err != nil {
		t.Fatal(err)
	}
	next := m.String
	_, err = f.v.Verify(ctx, next, localhost)
	rateLimited(t, err, "api", 60)
	_, err = f.v.Verify(ctx, tok, localhost)
	rateLimited(t, err, "api", 60)
}

// Tokens without limits report none and are never refused for rate.
func TestNoRateLimits(t *testing.T) {
	f := newFixture(t, verify.Options{TTL: time.Hour})
	tok, _ := f.token(t, nil)
	var lim verify.Limits
	for range 100 {
		if _, err := f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{Cost: 1 << 30}, &lim); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifyCachedWithLimitsDoesNotAllocate(t *testing.T) {
	f := newFixture(t, verify.Options{TTL: time.Hour})
	f.v.SetHooks(func(latchkey.TokenUse) {}, nil)
	good, _ := f.token(t, func(tk *latchkey.Token) {
		tk.RateLimits = []latchkey.RateLimit{{Name: "api", Limit: latchkey.MaxRateLimitCount, Duration: time.Hour}}
	})
	var lim verify.Limits
	if _, err := f.v.VerifyUsage(ctx, good, localhost, 0, verify.Usage{}, &lim); err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(200, func() {
		if _, err := f.v.VerifyUsage(ctx, good, localhost, 0, verify.Usage{}, &lim); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("cached VerifyUsage with a limit allocs = %v, want 0", n)
	}
}

// When counts cannot be shared, the verifier keeps enforcing limits on its own counts and says
// since when in Health; once sharing works again, it says so no more and adds the other nodes'
// counts.
func TestRateSyncFailureEnforcesLocally(t *testing.T) {
	var mu sync.Mutex
	failing := true
	var f *fixture
	f = newFixture(t, verify.Options{TTL: time.Hour, RateSyncInterval: 10 * time.Millisecond,
		RateSync: func(ctx context.Context, counts []latchkey.RateCount, prune int64) ([]int64, error) {
			mu.Lock()
			defer mu.Unlock()
			if failing {
				return nil, &latchkey.Error{Code: latchkey.EUnavailable, Message: "database unreachable"}
			}
			return f.store.SyncRateCounts(ctx, "this-node", counts, prune)
		}})
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.v.Run(runCtx)
	tok, row := f.token(t, func(tk *latchkey.Token) {
		tk.RateLimits = []latchkey.RateLimit{{Name: "api", Limit: 5, Duration: 30 * 24 * time.Hour}}
	})
	for range 2 {
		if _, err := f.v.Verify(ctx, tok, localhost); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.v.Health().RateLimitsLocalSince.IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("Health never reported local enforcement while the sync failed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Another node counted 2 in the same window.
	window := time.Now().UnixNano() / int64(30*24*time.Hour)
	if _, err := f.store.SyncRateCounts(ctx, "other-node", []latchkey.RateCount{{FamilyID: row.FamilyID, Name: "api",
		DurationSeconds: 30 * 24 * 3600, Window: window, Used: 2}}, 0); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	for !f.v.Health().RateLimitsLocalSince.IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("Health still reports local enforcement after the sync recovered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// 2 here + 2 there (known once the recovered sync answered): one more fits, then the shared
	// limit of 5 refuses.
	if _, err := f.v.Verify(ctx, tok, localhost); err != nil {
		t.Fatalf("fifth verification across both nodes: %v", err)
	}
	if _, err := f.v.Verify(ctx, tok, localhost); verify.Reason(err) != "rate_limited" {
		t.Errorf("verification past the shared limit of 5 = %v, want rate_limited", err)
	}
}

// An account's default rate limits apply to its tokens without limits of their own, each token
// counted on its own; a token's own limits replace them; changing them applies at once.
func TestAccountDefaultRateLimits(t *testing.T) {
	f := newFixture(t, verify.Options{TTL: time.Hour})
	set := f.account.Settings
	set.DefaultRateLimits = []latchkey.RateLimit{{Name: "default", Limit: 2, Duration: 30 * 24 * time.Hour}}
	if _, err := f.store.UpdateAccount(ctx, f.account.ID, latchkey.AccountUpdate{Settings: &set}); err != nil {
		t.Fatal(err)
	}
	plain1, _ := f.token(t, nil)
	plain2, _ := f.token(t, nil)
	own, _ := f.token(t, func(tk *latchkey.Token) {
		tk.RateLimits = []latchkey.RateLimit{{Name: "own", Limit: 4, Duration: 30 * 24 * time.Hour}}
	})
	uses := func(tok string) (n int) {
		for range 10 {
			if _, err := f.v.Verify(ctx, tok, localhost); err != nil {
				if verify.Reason(err) != "rate_limited" {
					t.Fatal(err)
				}
				return n
			}
			n++
		}
		return n
	}
	if a, b, c := uses(plain1), uses(plain2), uses(own); a != 2 || b != 2 || c != 4 {
		t.Errorf("admitted %d, %d (account default 2 each) and %d (own limit 4); want 2, 2, 4", a, b, c)
	}
	set.DefaultRateLimits = nil
	if _, err := f.store.UpdateAccount(ctx, f.account.ID, latchkey.AccountUpdate{Settings: &set}); err != nil {
		t.Fatal(err)
	}
	if n := uses(plain1); n != 10 {
		t.Errorf("after removing the default: %d of 10 admitted, want all", n)
	}
}
