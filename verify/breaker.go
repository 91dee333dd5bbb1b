package verify

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
)

// Through a storage outage the verifier answers from its cache (see Options.StaleIfError), and a
// circuit breaker keeps the verifications it cannot answer from the cache from waiting on
// storage: after breakerThreshold reads in a row have failed because storage was unavailable or
// timed out, reads are refused at once (ErrBreakerOpen) for a cool-down; then one read goes
// through as a probe. A probe that storage answers closes the breaker; one that fails opens it
// again for twice as long, up to breakerMaxCooldown.
const (
	breakerThreshold   = 5
	breakerMinCooldown = time.Second
	breakerMaxCooldown = 5 * time.Second
)

// ErrBreakerOpen answers a verification that needs storage while the verifier's circuit breaker
// is open: storage failed repeatedly, so it is not asked again until a probe succeeds.
var ErrBreakerOpen = latchkey.Unavailable("storage failed repeatedly, so the token verifier's circuit breaker "+
	"is open and only tokens it has cached are accepted for now; retry in a few seconds", nil)

// unavailable reports whether err says storage could not answer (as opposed to answering that
// something is missing or wrong), which is when a cached answer may be served past its TTL.
func unavailable(err error) bool {
	return latchkey.ErrorCodeOf(err) == latchkey.EUnavailable || errors.Is(err, context.DeadlineExceeded)
}

// breaker is the verifier's circuit breaker. open is read without the lock, so that reads
// while storage is healthy cost one atomic load; the rest changes under mu.
type breaker struct {
	failures atomic.Int64 // consecutive reads storage could not answer
	open     atomic.Bool

	mu       sync.Mutex
	probing  bool          // a probe is under way (half-open)
	openedAt int64         // wall clock, Unix nanoseconds
	retryAt  int64         // when a probe may go, on the verifier's clock
	cooldown time.Duration // how long the breaker stays open before the next probe
}

// allow says whether a read may go to storage at now (on the verifier's clock), and whether it
// is the probe of a breaker that has been open for its cool-down. A read allowed as the probe
// must be followed by done with probe set.
func (b *breaker) allow(now int64) (probe bool, err error) {
	if !b.open.Load() {
		return false, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !b.open.Load():
		return false, nil
	case b.probing || now < b.retryAt:
		return false, ErrBreakerOpen
	}
	b.probing = true
	return true, nil
}

// blocked reports whether a read at now would be refused without a probe.
func (b *breaker) blocked(now int64) bool {
	if !b.open.Load() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open.Load() && (b.probing || now < b.retryAt)
}

// done records the outcome of a read allowed by allow, and reports whether storage answered.
// A read whose own caller gave up (context.Canceled) tells nothing about storage: it only lets
// another probe go.
func (b *breaker) done(probe bool, err error, now, wall int64) (answered bool) {
	switch {
	case errors.Is(err, context.Canceled) && !unavailable(err):
		if probe {
			b.mu.Lock()
			b.probing = false
			b.mu.Unlock()
		}
		return false
	case err != nil && unavailable(err):
		n := b.failures.Add(1)
		if !probe && (n < breakerThreshold || b.open.Load()) {
			return false
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if probe {
			b.probing = false
		}
		switch {
		case probe && b.open.Load():
			b.cooldown = min(2*b.cooldown, breakerMaxCooldown)
		case !b.open.Load() && n >= breakerThreshold:
			b.open.Store(true)
			b.openedAt, b.cooldown = wall, breakerMinCooldown
		default:
			return false // another read opened or closed the breaker meanwhile
		}
		b.retryAt = now + int64(b.cooldown)
		return false
	}
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	if probe || b.open.Load() {
		b.mu.Lock()
		b.open.Store(false)
		b.probing, b.openedAt, b.retryAt, b.cooldown = false, 0, 0, 0
		b.mu.Unlock()
	}
	return true
}

// reset closes the breaker and forgets past failures.
func (b *breaker) reset() {
	b.failures.Store(0)
	if !b.open.Load() {
		return
	}
	b.mu.Lock()
	b.open.Store(false)
	b.probing, b.openedAt, b.retryAt, b.cooldown = false, 0, 0, 0
	b.mu.Unlock()
}

// Health is the verifier's view of storage, for readiness checks and metrics.
type Health struct {
	// StaleSince is when the verifier began answering from cache entries past their TTL because
	// storage could not answer ("serving from cache since …"); zero while storage answers.
	StaleSince time.Time
	// BreakerOpen reports that verifications needing storage fail at once with ErrBreakerOpen
	// (cached tokens are still answered). It stays true while a probe is under way.
	BreakerOpen bool
	// BreakerOpenSince is when the breaker opened; zero when it is closed.
	BreakerOpenSince time.Time
	// NextProbe is when the open breaker lets one read through to test storage; zero when it is
	// closed.
	NextProbe time.Time
	// ConsecutiveFailures counts storage reads in a row that failed because storage was
	// unavailable or timed out; any read storage answers resets it.
	ConsecutiveFailures int64
	// RateLimitsLocalSince is when sharing rate-limit counts with other nodes (Options.RateSync)
	// or writing credit spending (Options.CreditSync) began to fail: since then this node
	// enforces limits and credits on what it counted itself. Zero while both work, or when they
	// are not meant to run.
	RateLimitsLocalSince time.Time
}

// Health reports whether the verifier is answering from its cache because storage fails, and
// the state of its circuit breaker. It is cheap enough for every readiness probe and scrape.
func (v *Verifier) Health() Health {
	h := Health{ConsecutiveFailures: v.breaker.failures.Load()}
	if since := v.rateLocalSince.Load(); since != 0 {
		h.RateLimitsLocalSince = time.Unix(0, since)
	}
	if since := v.creditsLocalSince.Load(); since != 0 && (h.RateLimitsLocalSince.IsZero() || since < h.RateLimitsLocalSince.UnixNano()) {
		h.RateLimitsLocalSince = time.Unix(0, since)
	}
	if since := v.staleSince.Load(); since != 0 {
		h.StaleSince = time.Unix(0, since)
	}
	if v.breaker.open.Load() {
		b := &v.breaker
		b.mu.Lock()
		if b.open.Load() {
			h.BreakerOpen = true
			h.BreakerOpenSince = time.Unix(0, b.openedAt)
			h.NextProbe = time.Unix(0, v.wallNow()+b.retryAt-v.now())
		}
		b.mu.Unlock()
	}
	return h
}

// guarded is the Source as the verifier reads it: every read passes the circuit breaker, and a
// read that storage answers ends a spell of serving stale entries.
type guarded struct {
	src Source
	v   *Verifier
	// batch and versions say whether src reads many tokens, or their versions, in one go.
	batch    batchSource
	versions versionSource
}

func newGuarded(src Source, v *Verifier) *guarded {
	g := &guarded{src: src, v: v}
	g.batch, _ = src.(batchSource)
	g.versions, _ = src.(versionSource)
	return g
}

// before asks the breaker whether a read may go.
func (g *guarded) before() (probe bool, err error) { return g.v.breaker.allow(g.v.now()) }

// after records a read's outcome.
func (g *guarded) after(probe bool, err error) {
	if g.v.breaker.done(probe, err, g.v.now(), g.v.wallNow()) && g.v.staleSince.Load() != 0 {
		g.v.staleSince.Store(0)
	}
}

// guard runs read if the breaker lets it go, and records its outcome. A read that panics is
// recorded as a failure before the panic goes on, so that a probe cannot leave the breaker
// waiting for its outcome for good.
func (g *guarded) guard(read func() error) error {
	probe, err := g.before()
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			g.after(probe, errReadPanicked)
			panic(p)
		}
	}()
	err = read()
	g.after(probe, err)
	return err
}

// errReadPanicked is what the breaker records for a read that panicked.
var errReadPanicked = latchkey.Unavailable("a storage read panicked", nil)

func (g *guarded) FindTokenByHash(ctx context.Context, hash []byte) (t *latchkey.Token, err error) {
	err = g.guard(func() error { t, err = g.src.FindTokenByHash(ctx, hash); return err })
	return t, err
}

func (g *guarded) FindTokensByHash(ctx context.Context, hashes [][]byte) (ts []*latchkey.Token, err error) {
	err = g.guard(func() error { ts, err = g.batch.FindTokensByHash(ctx, hashes); return err })
	return ts, err
}

func (g *guarded) FindTokenVersions(ctx context.Context, hashes [][]byte) (vs []latchkey.TokenVersion, err error) {
	err = g.guard(func() error { vs, err = g.versions.FindTokenVersions(ctx, hashes); return err })
	return vs, err
}

func (g *guarded) FindTokens(ctx context.Context, f latchkey.TokenFilter) (ts []*latchkey.Token, n int, err error) {
	err = g.guard(func() error { ts, n, err = g.src.FindTokens(ctx, f); return err })
	return ts, n, err
}

func (g *guarded) FindMemberGrants(ctx context.Context, accountID, userID int64) (m *latchkey.Membership, gs []latchkey.Grant, err error) {
	err = g.guard(func() error { m, gs, err = g.src.FindMemberGrants(ctx, accountID, userID); return err })
	return m, gs, err
}

func (g *guarded) FindUserByID(ctx context.Context, id int64) (u *latchkey.User, err error) {
	err = g.guard(func() error { u, err = g.src.FindUserByID(ctx, id); return err })
	return u, err
}

func (g *guarded) FindAccountByID(ctx context.Context, id int64) (a *latchkey.Account, err error) {
	err = g.guard(func() error { a, err = g.src.FindAccountByID(ctx, id); return err })
	return a, err
}

func (g *guarded) FindIPRules(ctx context.Context, accountID int64) (rs []*latchkey.IPRule, err error) {
	err = g.guard(func() error { rs, err = g.src.FindIPRules(ctx, accountID); return err })
	return rs, err
}

func (g *guarded) FindTrustPolicyByID(ctx context.Context, id int64) (tp *latchkey.TrustPolicy, err error) {
	err = g.guard(func() error { tp, err = g.src.FindTrustPolicyByID(ctx, id); return err })
	return tp, err
}
