package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/latchkey/latchkey"
)

// testRateLimits: a token's rate limits are stored with it, changed (and audited) by
// UpdateToken, removed with an empty list, and carried to its successor by rotation.
func testRateLimits(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	limits := []latchkey.RateLimit{{Name: "api", Limit: 100, Duration: time.Second}, {Name: "daily", Limit: 10_000, Duration: 24 * time.Hour}}
	tok := newToken(a.ID, latchkey.KindServiceToken)
	tok.RateLimits = limits
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	stored, err := s.FindTokenByID(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(limits, stored.RateLimits); diff != "" {
		t.Errorf("stored rate limits (-want +got):\n%s", diff)
	}
	next := []latchkey.RateLimit{{Name: "api", Limit: 50, Duration: time.Minute}}
	if _, err := s.UpdateToken(ctx, tok.ID, latchkey.TokenUpdate{RateLimits: &next}); err != nil {
		t.Fatal(err)
	}
	// The same limits again change nothing and record nothing.
	if _, err := s.UpdateToken(ctx, tok.ID, latchkey.TokenUpdate{RateLimits: &next}); err != nil {
		t.Fatal(err)
	}
	if stored, err = s.FindTokenByHash(ctx, tok.Hash); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(next, stored.RateLimits); diff != "" {
		t.Errorf("rate limits after the change (-want +got):\n%s", diff)
	}
	et := "service_token.rate_limits_changed"
	entries, _, err := s.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: a.ID, EventType: &et})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d %s entries, want 1", len(entries), et)
	}
	if got, want := entries[0].Context["rate_limits_to"], `[{"name":"api","limit":50,"duration_seconds":60}]`; got != want {
		t.Errorf("audited rate_limits_to = %v, want %s", got, want)
	}
	succ := newToken(a.ID, latchkey.KindServiceToken)
	if err := s.RotateToken(ctx, tok.ID, succ, time.Minute); err != nil {
		t.Fatal(err)
	}
	if stored, err = s.FindTokenByID(ctx, succ.ID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(next, stored.RateLimits); diff != "" {
		t.Errorf("the rotated successor's rate limits (-want +got):\n%s", diff)
	}
	none := []latchkey.RateLimit{}
	if _, err := s.UpdateToken(ctx, succ.ID, latchkey.TokenUpdate{RateLimits: &none}); err != nil {
		t.Fatal(err)
	}
	if stored, err = s.FindTokenByID(ctx, succ.ID); err != nil {
		t.Fatal(err)
	}
	if len(stored.RateLimits) != 0 {
		t.Errorf("rate limits after removing them: %v", stored.RateLimits)
	}
}

// testSyncRateCounts: each node's count replaces its earlier one, each node reads the others'
// sum, and ended windows are pruned.
func testSyncRateCounts(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	c := func(window, used int64) latchkey.RateCount {
		return latchkey.RateCount{FamilyID: 7, Name: "api", DurationSeconds: 10, Window: window, Used: used}
	}
	sync := func(node string, pruneBefore int64, cs ...latchkey.RateCount) []int64 {
		t.Helper()
		got, err := s.SyncRateCounts(ctx, node, cs, pruneBefore)
		if err != nil {
			t.Fatalf("SyncRateCounts(%s): %v", node, err)
		}
		return got
	}
	if got := sync("a", 0, c(100, 5)); got[0] != 0 {
		t.Errorf("first node alone: others = %d, want 0", got[0])
	}
	if got := sync("b", 0, c(100, 3), c(101, 1)); got[0] != 5 || got[1] != 0 {
		t.Errorf("b reads %v, want [5 0]", got)
	}
	// a's count rises to 9: a replacement, not an increment of 5.
	sync("a", 0, c(100, 9))
	if got := sync("c", 0, c(100, 1)); got[0] != 12 {
		t.Errorf("c reads %d, want 9+3", got[0])
	}
	other := latchkey.RateCount{FamilyID: 7, Name: "daily", DurationSeconds: 10, Window: 100, Used: 50}
	if got := sync("a", 0, other); got[0] != 0 {
		t.Errorf("another limit of the family reads %d, want 0", got[0])
	}
	// Window 100 of 10 s ended at 1010: pruning before 1011 removes it, not window 101.
	sync("a", 1011)
	if got := sync("z", 0, c(100, 0), c(101, 0)); got[0] != 0 || got[1] != 1 {
		t.Errorf("after pruning: %v, want [0 1]", got)
	}
}

// testCredits: credits are stored with a token's family, shared by its rotated successor,
// changed (audited) and removed by UpdateToken; SyncCredits debits them (never below 0) and
// refills them once per period.
func testCredits(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	tok := newToken(a.ID, latchkey.KindServiceToken)
	tok.Credits = &latchkey.Credits{Remaining: 10, Refill: &latchkey.Refill{Amount: 100, Interval: latchkey.RefillDaily}}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	stored, err := s.FindTokenByHash(ctx, tok.Hash)
	if err != nil {
		t.Fatal(err)
	}
	noSetAt := cmpopts.IgnoreFields(latchkey.Credits{}, "SetAt")
	if diff := cmp.Diff(tok.Credits, stored.Credits, noSetAt); diff != "" {
		t.Errorf("stored credits (-want +got):\n%s", diff)
	}
	if stored.Credits.SetAt.IsZero() {
		t.Error("stored credits carry no time they were set")
	}
	now := time.Now()
	sync := func(at time.Time, spends ...latchkey.CreditSpend) []int64 {
		t.Helper()
		got, err := s.SyncCredits(ctx, spends, at)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := sync(now, latchkey.CreditSpend{FamilyID: tok.FamilyID, Spent: 4}, latchkey.CreditSpend{FamilyID: 999_999, Spent: 1}); got[0] != 6 || got[1] != -1 {
		t.Errorf("after spending 4 of 10: %v, want [6 -1]", got)
	}
	if got := sync(now, latchkey.CreditSpend{FamilyID: tok.FamilyID, Spent: 9}); got[0] != 0 {
		t.Errorf("overspent: %d, want 0 (never below)", got[0])
	}
	// The next day refills once, then spends.
	tomorrow := now.Add(24 * time.Hour)
	if got := sync(tomorrow, latchkey.CreditSpend{FamilyID: tok.FamilyID, Spent: 1}); got[0] != 99 {
		t.Errorf("the next day after spending 1: %d, want 99", got[0])
	}
	if got := sync(tomorrow, latchkey.CreditSpend{FamilyID: tok.FamilyID}); got[0] != 99 {
		t.Errorf("a second sync the same day: %d, want 99 (no second refill)", got[0])
	}
	succ := newToken(a.ID, latchkey.KindServiceToken)
	if err := s.RotateToken(ctx, tok.ID, succ, time.Minute); err != nil {
		t.Fatal(err)
	}
	if stored, err = s.FindTokenByID(ctx, succ.ID); err != nil {
		t.Fatal(err)
	}
	if stored.Credits == nil || stored.Credits.Remaining != 99 {
		t.Errorf("the successor's credits = %+v, want the family's 99", stored.Credits)
	}
	set := &latchkey.Credits{Remaining: 500}
	if _, err := s.UpdateToken(ctx, succ.ID, latchkey.TokenUpdate{Credits: set}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateToken(ctx, succ.ID, latchkey.TokenUpdate{Credits: set}); err != nil {
		t.Fatal(err)
	}
	if stored, err = s.FindTokenByID(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(set, stored.Credits, noSetAt); diff != "" {
		t.Errorf("the predecessor's credits after setting the family's (-want +got):\n%s", diff)
	}
	if _, err := s.UpdateToken(ctx, succ.ID, latchkey.TokenUpdate{ClearCredits: true}); err != nil {
		t.Fatal(err)
	}
	if stored, err = s.FindTokenByID(ctx, succ.ID); err != nil || stored.Credits != nil {
		t.Errorf("credits after removing them: %+v, %v", stored.Credits, err)
	}
	et := "service_token.credits_changed"
	entries, _, err := s.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: a.ID, EventType: &et})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%v→%v", e.Context["credits_from"], e.Context["credits_to"]))
	}
	if diff := cmp.Diff([]string{"500→none", "99, refill 100 daily→500"}, got); diff != "" {
		t.Errorf("credits_changed entries, newest first (-want +got):\n%s", diff)
	}
}
