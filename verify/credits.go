package verify

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
)

// Credits are spent in memory, per rotation family, and subtracted from storage in batches
// (Options.CreditSync): a node admits a verification when the balance storage last reported,
// less what it spent since, covers the cost. Between two syncs a node does not see what the
// others spent, so the nodes together may overspend by what they spent in one sync interval.

// credit is one family's balance as this node sees it.
type credit struct {
	family int64
	// dead is set when the table forgot this balance; an entry still holding it finds the
	// table's current one (or puts it back).
	dead atomic.Bool
	mu   sync.Mutex
	// known is the balance storage last reported; pending what this node spent since.
	known, pending int64
	refill         *latchkey.Refill
	// period is the Unix second of the refill period known belongs to.
	period int64
	// setAt is when the credits were last set through the API (Unix microseconds), as of the
	// last load.
	setAt   int64
	used    int64 // verifier clock, for sweeping and for choosing what to sync
	removed bool  // storage said the family has no credits any more
}

type creditTable struct {
	mu sync.Mutex
	m  map[int64]*credit
}

// get returns a family's balance for a loaded token. Credits set through the API since the last
// load replace the balance, and what this node spent before (not yet synced) is forgotten: the
// setting is the new balance. Otherwise the balance the syncs keep is kept.
func (t *creditTable) get(tok *latchkey.Token, wall time.Time, now int64) *credit {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[int64]*credit{}
	}
	c, ok := t.m[tok.FamilyID]
	if !ok {
		c = &credit{family: tok.FamilyID, used: now}
		t.m[tok.FamilyID] = c
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if set := tok.Credits.SetAt.UnixMicro(); !ok || set > c.setAt {
		c.known, c.setAt, c.removed = tok.Credits.Remaining, set, false
		if ok {
			c.pending = 0
		}
		c.refill = tok.Credits.Refill
		if c.refill != nil {
			c.period = c.refill.PeriodStart(wall).Unix()
		}
	}
	return c
}

// admit reports whether cost fits the balance as of wall (Unix nanoseconds); when a refill
// period has turned, the balance is the refill's amount (storage refills at the next sync).
// The caller spends with spend once every other check passed, under the same lock.
func (c *credit) admit(wall int64, cost int64) error {
	if c.removed {
		return nil
	}
	if c.refill != nil {
		if start := c.refill.PeriodStart(time.Unix(0, wall)).Unix(); start > c.period {
			c.known, c.period = c.refill.Amount, start
		}
	}
	if c.known-c.pending >= cost {
		return nil
	}
	msg := "the token's credits are used up"
	data := map[string]any{"reason": "usage_exceeded"}
	if c.refill != nil {
		at := time.Unix(0, wall)
		wait := c.refill.NextRefill(at).Sub(at)
		secs := max(int64(math.Ceil(wait.Seconds())), 1)
		msg = fmt.Sprintf("the token's credits are used up until they are refilled in %d seconds", secs)
		data["retry_after_seconds"] = secs
	}
	return &latchkey.Error{Code: latchkey.ERateLimited, Message: msg, Data: data}
}

// current returns the balance c's family is spent from: c itself unless the table forgot it
// and holds a newer one. A forgotten balance put back is refreshed by the next sync.
func (t *creditTable) current(c *credit, now int64) *credit {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.m[c.family]; ok {
		return cur
	}
	c.mu.Lock()
	c.used = now
	c.mu.Unlock()
	c.dead.Store(false)
	t.m[c.family] = c
	return c
}

func (c *credit) balance() int64 {
	if c.removed {
		return -1
	}
	return max(c.known-c.pending, 0)
}

// syncCredits subtracts this node's spending from storage every CreditSyncInterval.
func (v *Verifier) syncCredits(ctx context.Context) {
	every(ctx, v.opt.CreditSyncInterval, func(time.Time) { v.syncCreditsOnce(ctx) })
	// What was spent since the last sync is written before the verifier stops.
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	v.syncCreditsOnce(stop)
}

// creditActive is how long after its last use a family's balance is still refreshed from
// storage at every sync (to see the other nodes' spending) although this node spent nothing.
const creditActive = 10 * time.Second

// syncCreditsOnce sends what each family was spent here since the last sync, with the
// families in use that spent nothing, and takes storage's balances. Families idle for a while
// are forgotten.
func (v *Verifier) syncCreditsOnce(ctx context.Context) error {
	now := v.now()
	v.credits.mu.Lock()
	var cs []*credit
	var spends []latchkey.CreditSpend
	for id, c := range v.credits.m {
		c.mu.Lock()
		switch {
		case c.pending > 0 || now-c.used < int64(creditActive):
			cs = append(cs, c)
			spends = append(spends, latchkey.CreditSpend{FamilyID: c.family, Spent: c.pending})
		case now-c.used > int64(10*time.Minute):
			c.dead.Store(true)
			delete(v.credits.m, id)
		}
		c.mu.Unlock()
	}
	v.credits.mu.Unlock()
	if len(spends) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, max(2*v.opt.CreditSyncInterval, time.Second))
	defer cancel()
	balances, err := v.opt.CreditSync(ctx, spends)
	if err == nil && len(balances) != len(spends) {
		err = fmt.Errorf("credit sync answered %d balances for %d", len(balances), len(spends))
	}
	if err != nil {
		v.creditsLocalSince.CompareAndSwap(0, v.wallNow())
		return err
	}
	v.creditsLocalSince.Store(0)
	wall := time.Unix(0, v.wallNow())
	for i, c := range cs {
		c.mu.Lock()
		c.pending = max(c.pending-spends[i].Spent, 0)
		if balances[i] < 0 {
			c.removed = true
		} else {
			c.known, c.removed = balances[i], false
			if c.refill != nil {
				c.period = c.refill.PeriodStart(wall).Unix()
			}
		}
		c.mu.Unlock()
	}
	return nil
}
