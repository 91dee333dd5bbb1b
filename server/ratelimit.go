package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

// limiter is a token bucket per client address that only failures drain: an address may fail
// burst times in a row and regains one attempt every refill. Addresses that never fail cost
// nothing, so valid clients elsewhere are never slowed. IPv6 clients are keyed by their /64,
// which one host can usually rotate through. Memory is bounded: full buckets are swept and,
// when a shard is at capacity, an arbitrary entry makes room.
type limiter struct {
	burst    float64
	refill   time.Duration
	perShard int
	size     atomic.Int64
	shards   [limiterShards]limiterShard
}

const limiterShards = 16

type limiterShard struct {
	mu sync.Mutex
	m  map[netip.Prefix]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(burst int, refill time.Duration, max int) *limiter {
	l := &limiter{burst: float64(burst), refill: refill, perShard: max/limiterShards + 1}
	for i := range l.shards {
		l.shards[i].m = map[netip.Prefix]*bucket{}
	}
	return l
}

// limitKey is the bucket an address belongs to; ok is false for an unknown address, which is
// never limited (all such clients would otherwise share one bucket).
func limitKey(a netip.Addr) (netip.Prefix, bool) {
	if !a.IsValid() {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p, true
	}
	return netip.PrefixFrom(a, 32), true
}

func (l *limiter) shard(k netip.Prefix) *limiterShard {
	b := k.Addr().As16()
	var h byte
	for _, x := range b {
		h = h*31 + x
	}
	return &l.shards[h%limiterShards]
}

// level refills b up to now and returns its tokens.
func (l *limiter) level(b *bucket, now time.Time) float64 {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(l.burst, b.tokens+float64(d)/float64(l.refill))
		b.at = now
	}
	return b.tokens
}

// wait returns how long the address must wait before its next attempt, 0 when it may go on.
func (l *limiter) wait(a netip.Addr, now time.Time) time.Duration {
	if l.size.Load() == 0 {
		return 0
	}
	k, ok := limitKey(a)
	if !ok {
		return 0
	}
	sh := l.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.m[k]
	if b == nil {
		return 0
	}
	if t := l.level(b, now); t < 1 {
		return time.Duration((1 - t) * float64(l.refill))
	}
	return 0
}

// fail records a failure by the address.
func (l *limiter) fail(a netip.Addr, now time.Time) {
	k, ok := limitKey(a)
	if !ok {
		return
	}
	sh := l.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.m[k]
	if b == nil {
		if len(sh.m) >= l.perShard {
			l.evict(sh, now)
		}
		b = &bucket{tokens: l.burst, at: now}
		sh.m[k] = b
		l.size.Add(1)
	}
	l.level(b, now)
	b.tokens = math.Max(0, b.tokens-1)
}

// evict makes room in a full shard: buckets that have refilled go first; failing that, an
// arbitrary one (map order is random).
func (l *limiter) evict(sh *limiterShard, now time.Time) {
	for k, b := range sh.m {
		if l.level(b, now) >= l.burst {
			delete(sh.m, k)
			l.size.Add(-1)
		}
	}
	for k := range sh.m {
		if len(sh.m) < l.perShard {
			break
		}
		delete(sh.m, k)
		l.size.Add(-1)
	}
}

// sweep forgets addresses whose bucket has refilled.
func (l *limiter) sweep(now time.Time) {
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for k, b := range sh.m {
			if l.level(b, now) >= l.burst {
				delete(sh.m, k)
				l.size.Add(-1)
			}
		}
		sh.mu.Unlock()
	}
}

func (l *limiter) len() int { return int(l.size.Load()) }

// rateLimited is the 429 for an address that must wait d.
func rateLimited(what string, d time.Duration) error {
	secs := int64(math.Ceil(d.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return &latchkey.Error{Code: latchkey.ERateLimited,
		Message: fmt.Sprintf("too many failed %s from your address; try again in %d seconds", what, secs),
		Data:    map[string]any{"retry_after_seconds": secs}}
}

// verifyToken verifies a token presented from ip, with the per-address failure limiter: it
// slows failures, never credentials. A token that verifies is accepted whatever its address did
// before (a NAT, a CI fleet or an unlisted gateway shares one address among honest and broken
// clients). A failure from an address that failed too often is answered 429, held for
// RateLimitDelay; and when the token is not in the verifier's cache, its storage lookup waits
// that long first, so a flood of made-up tokens cannot drive storage.
//
// u is counted against the token's own rate limits, which out (when not nil) reports; a token
// over one is refused with rate_limited, which is not a failure of the address.
func (s *Server) verifyToken(ctx context.Context, tok string, ip netip.Addr, account int64, u verify.Usage, out *verify.Limits) (*latchkey.Principal, error) {
	gv := s.gov()
	var wait time.Duration
	if gv.tokenLimits.len() != 0 { // nobody is failing: skip reading the clock on the hot path
		wait = gv.tokenLimits.wait(ip, time.Now())
	}
	held := false
	if wait > 0 && !s.verify.Cached(tok) {
		s.tarpit(ctx)
		held = true
	}
	p, err := s.verify.VerifyUsage(ctx, tok, ip, account, u, out)
	if err == nil {
		return p, nil
	}
	s.metrics.verification(err)
	s.noteAuthFailure(tok, ip, err)
	if reason := verify.Reason(err); wait > 0 && !systemFailure(reason) && !usageRefusal(reason) {
		gv.metrics.rateLimited.WithLabelValues("token").Inc()
		if !held {
			s.tarpit(ctx)
		}
		return nil, rateLimited("authentication attempts", wait)
	}
	return nil, err
}

// tarpit holds a refusal to a rate-limited address for RateLimitDelay (or until the client
// goes away): a flood over a few connections then runs at a few requests a second per
// connection instead of as fast as the server can refuse it.
func (s *Server) tarpit(ctx context.Context) {
	d := s.cfg.Governance.RateLimitDelay
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// noteAuthFailure records a failed token authentication: it is counted in metrics, drains the
// address's bucket (unless the token was fine but used from a denied address or over its own
// rate limit, or storage failed) and, when the token exists, is summarized in its account's audit log.
func (s *Server) noteAuthFailure(tok string, ip netip.Addr, err error) {
	gv := s.gov()
	reason := verify.Reason(err)
	gv.metrics.authFailures.WithLabelValues("token", reason).Inc()
	if reason != "ip_denied" && !usageRefusal(reason) && !systemFailure(reason) {
		gv.tokenLimits.fail(ip, time.Now())
	}
	switch reason {
	case "revoked", "expired", "rotated_out", "not_member", "ip_denied":
		// The token exists, so the failure belongs to an account. Only its hash is kept.
		if !tokenfmt.IsLegacy(tok) {
			gv.summary.noteToken(tokenfmt.Hash(tok), addrString(ip), reason, time.Now())
		}
	}
}

// limitSignIn refuses (ERateLimited) sign-ins from an address that failed too often.
func (s *Server) limitSignIn(r *http.Request) error {
	gv := s.gov()
	if d := gv.signInLimits.wait(state(r.Context()).ip, time.Now()); d > 0 {
		gv.metrics.rateLimited.WithLabelValues("sign_in").Inc()
		s.tarpit(r.Context())
		return rateLimited("sign-in attempts", d)
	}
	return nil
}

// signInFailed records a failed sign-in: counted in metrics, drains the address's bucket and,
// for an existing user, is summarized as user.sign_in_failed in their accounts' audit logs (one
// entry per user and address per summary window, not one per attempt).
// The email is not kept: an unknown one may be a password typed into the wrong field.
func (s *Server) signInFailed(r *http.Request, email string, userID int64) {
	gv := s.gov()
	reason := "unknown_user"
	if userID != 0 {
		reason = "bad_password"
	}
	gv.metrics.authFailures.WithLabelValues("sign_in", reason).Inc()
	ip := state(r.Context()).ip
	gv.signInLimits.fail(ip, time.Now())
	if userID != 0 {
		gv.summary.noteSignIn(userID, addrString(ip), time.Now())
	}
}

// failureSummary aggregates failed authentications between flushes. Token failures are keyed
// by token hash until a flush resolves them to an account; memory is bounded by maxKeys.
type failureSummary struct {
	mu      sync.Mutex
	tokens  map[tokenFailureKey]*failureCount
	signIns map[signInFailureKey]*failureCount
	since   time.Time
	dropped int
}

const maxSummaryKeys = 10_000

type tokenFailureKey struct {
	hash [32]byte
	ip   string
}

type signInFailureKey struct {
	userID int64
	ip     string
}

type failureCount struct {
	n           int
	reasons     map[string]int
	first, last time.Time
}

func newFailureSummary() *failureSummary {
	return &failureSummary{tokens: map[tokenFailureKey]*failureCount{}, signIns: map[signInFailureKey]*failureCount{}, since: time.Now()}
}

func (f *failureSummary) count(c *failureCount, reason string, at time.Time) {
	c.n++
	if c.first.IsZero() {
		c.first = at
	}
	c.last = at
	if reason != "" {
		if c.reasons == nil {
			c.reasons = map[string]int{}
		}
		c.reasons[reason]++
	}
}

func (f *failureSummary) noteToken(hash [32]byte, ip, reason string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := tokenFailureKey{hash, ip}
	c := f.tokens[k]
	if c == nil {
		if len(f.tokens) >= maxSummaryKeys {
			f.dropped++
			return
		}
		c = &failureCount{}
		f.tokens[k] = c
	}
	f.count(c, reason, at)
}

func (f *failureSummary) noteSignIn(userID int64, ip string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := signInFailureKey{userID, ip}
	c := f.signIns[k]
	if c == nil {
		if len(f.signIns) >= maxSummaryKeys {
			f.dropped++
			return
		}
		c = &failureCount{}
		f.signIns[k] = c
	}
	f.count(c, "", at)
}

// take returns and resets what was gathered.
func (f *failureSummary) take(now time.Time) (map[tokenFailureKey]*failureCount, map[signInFailureKey]*failureCount, time.Time, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, si, since, dropped := f.tokens, f.signIns, f.since, f.dropped
	f.tokens, f.signIns, f.since, f.dropped = map[tokenFailureKey]*failureCount{}, map[signInFailureKey]*failureCount{}, now, 0
	return t, si, since, dropped
}

// accountFailures is one audit summary: the failures from one address against one account.
type accountFailures struct {
	n           int
	reasons     map[string]int
	tokenIDs    map[int64]bool
	first, last time.Time
}

// flushSummaries writes what failureSummary gathered: one auth.failures_summarized entry per
// account and client address for token failures, and one user.sign_in_failed entry per user,
// address and account for sign-ins.
func (s *Server) flushSummaries(ctx context.Context) error {
	gv := s.gov()
	now := time.Now()
	tokens, signIns, since, dropped := gv.summary.take(now)
	if dropped > 0 {
		s.log.Warn("audit summaries dropped failures beyond their memory bound", "dropped", dropped)
	}
	type acctIP struct {
		accountID int64
		ip        string
	}
	byAccount := map[acctIP]*accountFailures{}
	var errs []error
	for k, c := range tokens {
		tok, err := s.store.FindTokenByHash(ctx, k.hash[:])
		if err != nil {
			if latchkey.ErrorCodeOf(err) != latchkey.ENotFound {
				errs = append(errs, err)
			}
			continue
		}
		a := byAccount[acctIP{tok.AccountID, k.ip}]
		if a == nil {
			a = &accountFailures{reasons: map[string]int{}, tokenIDs: map[int64]bool{}, first: c.first, last: c.last}
			byAccount[acctIP{tok.AccountID, k.ip}] = a
		}
		a.n += c.n
		for r, n := range c.reasons {
			a.reasons[r] += n
		}
		if len(a.tokenIDs) < 20 {
			a.tokenIDs[tok.ID] = true
		}
		if c.first.Before(a.first) {
			a.first = c.first
		}
		if c.last.After(a.last) {
			a.last = c.last
		}
	}
	for k, a := range byAccount {
		ids := make([]int64, 0, len(a.tokenIDs))
		for id := range a.tokenIDs {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		e := &latchkey.AuditEntry{AccountID: k.accountID, EventType: "auth.failures_summarized",
			ActorType: "system", ActorName: "system", ActorIP: k.ip, Source: "system",
			Context: map[string]any{"ip": k.ip, "failures": a.n, "reasons": a.reasons, "token_ids": ids,
				"first_at": apitype.Time(a.first), "last_at": apitype.Time(a.last), "window_start": apitype.Time(since), "window_end": apitype.Time(now)}}
		if err := s.admin.RecordEvents(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	for k, c := range signIns {
		u, err := s.store.FindUserByID(ctx, k.userID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		active := latchkey.StateActive
		ms, err := s.store.FindMemberships(ctx, latchkey.MembershipFilter{UserID: &k.userID, State: &active})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, m := range ms {
			e := &latchkey.AuditEntry{AccountID: m.AccountID, EventType: "user.sign_in_failed",
				ActorType: "user", ActorID: u.ID, ActorName: u.FullName(), ActorIP: k.ip, Source: "ui",
				Context: map[string]any{"user_id": u.ID, "email": u.Email, "ip": k.ip, "failures": c.n,
					"first_at": apitype.Time(c.first), "last_at": apitype.Time(c.last), "window_start": apitype.Time(since), "window_end": apitype.Time(now)}}
			if err := s.admin.RecordEvents(ctx, e); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		s.log.Error("write failure summaries", "error", errs[0].Error(), "errors", len(errs))
		return fmt.Errorf("write failure summaries: %w", errs[0])
	}
	return nil
}

// systemFailure reports whether a verification reason is latchkey's own failure (a bug, or
// storage that cannot answer) rather than something wrong with the credential: such failures
// never count against the client's address, or an outage would lock gateways out after it.
func systemFailure(reason string) bool { return reason == "error" || reason == "unavailable" }

// usageRefusal reports a refusal of a valid token for its use (a rate limit, its credits): not a
// failed authentication.
func usageRefusal(reason string) bool { return reason == "rate_limited" || reason == "usage_exceeded" }
