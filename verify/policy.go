package verify

import (
	"context"
	"sync"
	"time"

	"github.com/latchkey/latchkey"
)

// policyCache holds each account's enforced IP policy (nil when the account enforces none),
// refreshed after TTL and on account changes.
type policyCache struct {
	src Source
	ttl time.Duration
	mu  sync.RWMutex
	m   map[int64]*policyEntry
	// epoch changes on every invalidation, under mu; a read that raced with one is not kept.
	epoch uint64
}

type policyEntry struct {
	pol   *latchkey.IPPolicy
	until int64
}

func (c *policyCache) init(src Source, ttl time.Duration) {
	c.src, c.ttl, c.m = src, ttl, map[int64]*policyEntry{}
}

// get returns the account's policy, or nil when it enforces none. When storage fails it keeps
// the last known policy, and without one it returns the error: IP restrictions fail closed.
func (c *policyCache) get(ctx context.Context, accountID int64, now int64) (*latchkey.IPPolicy, error) {
	c.mu.RLock()
	e := c.m[accountID]
	c.mu.RUnlock()
	if e != nil && now < e.until {
		return e.pol, nil
	}
	c.mu.RLock()
	epoch := c.epoch
	c.mu.RUnlock()
	pol, err := c.load(ctx, accountID)
	if err != nil {
		if e != nil {
			return e.pol, nil
		}
		return nil, err
	}
	c.mu.Lock()
	if c.epoch == epoch {
		c.m[accountID] = &policyEntry{pol: pol, until: now + int64(c.ttl)}
	}
	c.mu.Unlock()
	return pol, nil
}

func (c *policyCache) load(ctx context.Context, accountID int64) (*latchkey.IPPolicy, error) {
	a, err := c.src.FindAccountByID(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if !a.Settings.IPRestrictionsEnabled {
		return nil, nil
	}
	rules, err := c.src.FindIPRules(ctx, accountID)
	if err != nil {
		return nil, err
	}
	return latchkey.CompileIPRules(rules)
}

func (c *policyCache) invalidate(ch latchkey.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if ch.Kind == latchkey.ChangeAll {
		clear(c.m)
		return
	}
	delete(c.m, ch.AccountID)
}

// AccountPolicy returns the IP policy enforced for an account right now (nil for none).
func (v *Verifier) AccountPolicy(ctx context.Context, accountID int64) (*latchkey.IPPolicy, error) {
	return v.policies.get(ctx, accountID, v.now())
}
