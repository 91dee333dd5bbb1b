package verify_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/verify"
)

// Credits are spent per verification by its cost, refused with usage_exceeded when they do not
// cover it, written to storage by the sync, and refilled when a period turns.
func TestCreditsSpendRefuseSyncAndRefill(t *testing.T) {
	now := time.Now().UTC()
	wall := now
	f := newFixture(t, verify.Options{Now: func() time.Time { return wall }, TTL: time.Hour, CreditSyncInterval: time.Hour})
	tok, row := f.token(t, func(tk *latchkey.Token) {
		tk.Credits = &latchkey.Credits{Remaining: 5, Refill: &latchkey.Refill{Amount: 20, Interval: latchkey.RefillDaily}}
	})
	var lim verify.Limits
	if _, err := f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{Cost: 3}, &lim); err != nil {
		t.Fatal(err)
	}
	if !lim.HasCredits || lim.Credits != 2 {
		t.Errorf("after a cost of 3 of 5: %v %d, want 2 left", lim.HasCredits, lim.Credits)
	}
	_, err := f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{Cost: 3}, &lim)
	if verify.Reason(err) != "usage_exceeded" {
		t.Fatalf("a cost of 3 with 2 left = %v, want usage_exceeded", err)
	}
	le := err.(*latchkey.Error)
	next := (&latchkey.Refill{Interval: latchkey.RefillDaily}).NextRefill(now)
	if got, want := le.Data["retry_after_seconds"].(int64), int64(next.Sub(now).Seconds()); got < want-2 || got > want+2 {
		t.Errorf("retry_after_seconds = %d, want about %d (the next refill)", got, want)
	}
	for range 2 {
		if _, err := f.v.Verify(ctx, tok, localhost); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.v.Verify(ctx, tok, localhost); verify.Reason(err) != "usage_exceeded" {
		t.Errorf("with 0 left = %v, want usage_exceeded", err)
	}
	// Run's last sync writes what was spent.
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.v.Run(runCtx); close(done) }()
	cancel()
	<-done
	deadline := time.Now().Add(10 * time.Second)
	for {
		stored, err := f.store.FindTokenByID(ctx, row.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Credits.Remaining == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored balance = %d after the final sync, want 0", stored.Credits.Remaining)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The next day the balance is the refill's, here and in storage after a sync.
	wall = next.Add(time.Minute)
	if _, err := f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{Cost: 4}, &lim); err != nil || lim.Credits != 16 {
		t.Fatalf("the next day, a cost of 4: %v, %d left; want 16", err, lim.Credits)
	}
	got, err := f.store.SyncCredits(ctx, []latchkey.CreditSpend{{FamilyID: row.FamilyID, Spent: 4}}, wall)
	if err != nil || got[0] != 16 {
		t.Errorf("storage after the refill and the spend: %v, %v; want 16", got, err)
	}
}

// A verification refused for its rate limit spends no credits, and credits that do not cover it
// count against no rate limit.
func TestCreditsAndRateLimitsTogether(t *testing.T) {
	f := newFixture(t, verify.Options{TTL: time.Hour})
	tok, _ := f.token(t, func(tk *latchkey.Token) {
		tk.Credits = &latchkey.Credits{Remaining: 3}
		tk.RateLimits = []latchkey.RateLimit{{Name: "api", Limit: 2, Duration: 30 * 24 * time.Hour}}
	})
	var lim verify.Limits
	for range 2 {
		if _, err := f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{}, &lim); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{}, &lim); verify.Reason(err) != "rate_limited" || lim.Credits != 1 {
		t.Errorf("third use: %v with %d credits, want rate_limited with 1 credit left", err, lim.Credits)
	}
	if _, err := f.v.VerifyUsage(ctx, tok, localhost, 0, verify.Usage{Cost: 2}, &lim); verify.Reason(err) != "usage_exceeded" {
		t.Errorf("a cost of 2 with 1 credit: %v, want usage_exceeded", err)
	}
}
