package verify

import (
	"context"
	"sync"
	"time"

	"github.com/latchkey/latchkey"
)

// policyCache holds each account's enforced IP policy (nil when the account enforces none) and
// its default rate limits, refreshed after TTL and on account changes.
type policyCache struct {
	src Source
	ttl time.Duration
	mu  sync.RWMutex
	m   map[int64]*policyEntry
	// epoch changes on every invalidation, under mu; a read that raced with one is not kept.
	epoch uint64
}

type policyEntry struct {
	pol    *latchkey.IPPolicy
	limits []latchkey.RateLimit // the account's default rate limits
	until  int64
}

func (c *policyCache) init(src Source, ttl time.Duration) {
	c.src, c.ttl, c.m = src, ttl, map[int64]*policyEntry{}
}

// get returns the account's policy, or nil when it enforces none. When storage fails it keeps
// the last known policy, and without one it returns the error: IP restrictions fail closed.
func (c *policyCache) get(ctx context.Context, accountID int64, now int64) (*latchkey.IPPolicy, error) {
	e, err := c.entry(ctx, accountID, now)
	if err != nil {
		return nil, err
	}
	return e.pol, nil
}

// entry is get's whole entry: the policy and the default rate limits.
func (c *policyCache) entry(ctx context.Context, accountID int64, now int64) (*policyEntry, error) {
	c.mu.RLock()
	e := c.m[accountID]
	c.mu.RUnlock()
	if e != nil && now < e.until {
		return e, nil
	}
	c.mu.RLock()
	epoch := c.epoch
	c.mu.RUnlock()
	next, err := c.load(ctx, accountID)
	if err != nil {
		if e != nil {
			return e, nil
		}
		return nil, err
	}
	next.until = now + int64(c.ttl)
	c.mu.Lock()
	if c.epoch == epoch {
		c.m[accountID] = next
	}
	c.mu.Unlock()
	return next, nil
}

func (c *policyCache) load(ctx context.Context, accountID int64) (*policyEntry, error) {
	a, err := c.src.FindAccountByID(ctx, accountID)
	if err != nil {
		return nil, err
	}
	e := &policyEntry{limits: a.Settings.DefaultRateLimits}
	if !a.Settings.IPRestrictionsEnabled {
		return e, nil
	}
	rules, err := c.src.FindIPRules(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if e.pol, err = latchkey.CompileIPRules(rules); err != nil {
		return nil, err
	}
	return e, nil
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
