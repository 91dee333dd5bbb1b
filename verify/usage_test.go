package verify_test

import (
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/verify"
)

// takeByToken indexes a TakeUsage by token id.
func takeByToken(v *verify.Verifier) map[int64]verify.UsageDelta {
	out := map[int64]verify.UsageDelta{}
	for _, d := range v.TakeUsage() {
		out[d.TokenID] = d
	}
	return out
}

func TestUsageCountsOutcomes(t *testing.T) {
	_, clock := limitClock()
	f := newFixture(t, verify.Options{Now: clock, TTL: time.Hour, CountUsage: true})
	okTok, okRow := f.token(t, nil)
	limited, limitedRow := f.token(t, func(tk *latchkey.Token) {
		tk.RateLimits = []latchkey.RateLimit{{Name: "api", Limit: 2, Duration: time.Hour}}
	})
	fenced, fencedRow := f.token(t, func(tk *latchkey.Token) {
		tk.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	gone, goneRow := f.token(t, nil)
	if err := f.store.DeleteToken(ctx, goneRow.ID, "deleted"); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	old, oldRow := f.token(t, func(tk *latchkey.Token) { tk.ExpiresAt = &past })

	a1, a2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("::ffff:192.0.2.2")
	for _, ip := range []netip.Addr{a1, a1, a2, a1} {
		if _, err := f.v.Verify(ctx, okTok, ip); err != nil {
			t.Fatal(err)
		}
	}
	p, err := f.v.Verify(ctx, okTok, a1)
	if err != nil {
		t.Fatal(err)
	}
	f.v.CountForbidden(p) // the caller refused it: 5 verified, 4 ok, 1 forbidden
	for range 3 {
		f.v.Verify(ctx, limited, localhost) // 2 admitted, 1 rate limited
	}
	f.v.Verify(ctx, fenced, localhost)
	f.v.Verify(ctx, gone, localhost)
	f.v.Verify(ctx, old, localhost)
	f.v.Verify(ctx, old, localhost)
	// Another account's caller learns nothing and counts nothing.
	if _, err := f.v.VerifyInAccount(ctx, okTok, a1, f.account.ID+1); verify.Reason(err) != "not_found" {
		t.Fatalf("VerifyInAccount from another account = %v", err)
	}

	got := takeByToken(f.v)
	want := map[int64]latchkey.UsageCounts{
		okRow.ID:      {latchkey.OutcomeOK: 4, latchkey.OutcomeForbidden: 1},
		limitedRow.ID: {latchkey.OutcomeOK: 2, latchkey.OutcomeRateLimited: 1},
		fencedRow.ID:  {latchkey.OutcomeIPDenied: 1},
		goneRow.ID:    {latchkey.OutcomeRevoked: 1},
		oldRow.ID:     {latchkey.OutcomeExpired: 2},
	}
	counts := map[int64]latchkey.UsageCounts{}
	for id, d := range got {
		counts[id] = d.Counts
		if d.AccountID != f.account.ID {
			t.Errorf("token %d counted for account %d, want %d", id, d.AccountID, f.account.ID)
		}
	}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("usage by token (-want +got):\n%s", diff)
	}
	var addrs []string
	for _, a := range got[okRow.ID].Addresses {
		addrs = append(addrs, a.Address)
		if a.FirstSeen.IsZero() || a.LastSeen.Before(a.FirstSeen) {
			t.Errorf("address %s seen %v..%v", a.Address, a.FirstSeen, a.LastSeen)
		}
	}
	sort.Strings(addrs)
	if diff := cmp.Diff([]string{"192.0.2.1", "192.0.2.2"}, addrs); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}

	// A take starts afresh: nothing more was counted.
	if again := f.v.TakeUsage(); len(again) != 0 {
		t.Errorf("second take = %+v, want nothing", again)
	}
	// A forbidden counted after its ok was taken comes off the next ok count.
	f.v.CountForbidden(p)
	f.v.Verify(ctx, okTok, a1)
	f.v.Verify(ctx, okTok, a1)
	got = takeByToken(f.v)
	if c := got[okRow.ID].Counts; c[latchkey.OutcomeOK] != 1 || c[latchkey.OutcomeForbidden] != 1 {
		t.Errorf("counts after a late forbidden = %v, want 1 ok and 1 forbidden", c)
	}
}

// TestUsageCountersForgottenAndFoundAgain: a token idle for several takes loses its counters,
// and its cached entry counts into fresh ones when it is used again.
func TestUsageCountersForgottenAndFoundAgain(t *testing.T) {
	f := newFixture(t, verify.Options{TTL: time.Hour, CountUsage: true})
	tok, row := f.token(t, nil)
	f.v.Verify(ctx, tok, localhost)
	for range 20 {
		f.v.TakeUsage()
	}
	for range 3 {
		if _, err := f.v.Verify(ctx, tok, localhost); err != nil {
			t.Fatal(err)
		}
	}
	if got := takeByToken(f.v)[row.ID].Counts; got[latchkey.OutcomeOK] != 3 {
		t.Errorf("ok after the counters were forgotten = %d, want 3", got[latchkey.OutcomeOK])
	}
}

// TestUsageOffCountsNothing: without CountUsage there is nothing to take.
func TestUsageOffCountsNothing(t *testing.T) {
	f := newFixture(t, verify.Options{})
	tok, _ := f.token(t, nil)
	p, err := f.v.Verify(ctx, tok, localhost)
	if err != nil {
		t.Fatal(err)
	}
	f.v.CountForbidden(p)
	if got := f.v.TakeUsage(); len(got) != 0 {
		t.Errorf("TakeUsage without CountUsage = %+v", got)
	}
}
