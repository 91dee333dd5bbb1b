// Package verify turns token strings into principals and answers authorization questions, fast
// enough to run on every API call. It is what latchkey's own server uses and what resource
// servers embed: malformed and checksum-invalid strings are refused with no storage access;
// known tokens are served from a sharded cache keyed by SHA-256 with compiled permissions; unknown
// hashes are remembered in a bounded negative cache; concurrent misses for one hash share a single
// storage read; and every committed change announced by the store invalidates what it affects.
//
// When storage cannot answer, cached answers are served past their TTL for a while (stale if
// error) and a circuit breaker fails the verifications the cache cannot answer at once, so an
// outage of the database is not an outage of every API behind latchkey; Health reports it.
package verify

import (
	"context"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/accesstoken"
	"github.com/latchkey/latchkey/catalog"
	"github.com/latchkey/latchkey/tokenfmt"
)

// Source is the part of latchkey.Store the verifier reads.
type Source interface {
	FindTokenByHash(ctx context.Context, hash []byte) (*latchkey.Token, error)
	FindTokens(ctx context.Context, f latchkey.TokenFilter) ([]*latchkey.Token, int, error)
	FindMemberGrants(ctx context.Context, accountID, userID int64) (*latchkey.Membership, []latchkey.Grant, error)
	FindUserByID(ctx context.Context, id int64) (*latchkey.User, error)
	FindAccountByID(ctx context.Context, id int64) (*latchkey.Account, error)
	FindIPRules(ctx context.Context, accountID int64) ([]*latchkey.IPRule, error)
	FindTrustPolicyByID(ctx context.Context, id int64) (*latchkey.TrustPolicy, error)
}

// Options tune a Verifier. Zero values take the defaults.
type Options struct {
	Format tokenfmt.Format
	// TTL bounds how long a cached principal is trusted without hearing of a change made through
	// latchkey (default 10 s): entries of tokens in use are re-read, or kept after a check that the
	// token's updated_at has not moved, before it ends. A change that does not move updated_at (a
	// hand edit in the database) is seen within 6 TTLs.
	TTL time.Duration
	// NegativeTTL is how long an unknown hash is remembered (default 10 s).
	NegativeTTL time.Duration
	// MaxNegative bounds the negative cache (default 100,000 entries).
	MaxNegative int
	// LegacyTTL is how long a legacy token stays cached after a successful bcrypt check (default 60 s).
	LegacyTTL time.Duration
	// StaleIfError is how long past its TTL a cached answer (a principal, a refusal, an unknown
	// token) is still served while storage is unavailable or timing out (default 15 minutes; a
	// negative value turns it off, so that an expired entry is only ever answered by storage).
	// Changes delivered through Invalidate are honoured all the same, and so are token expiry
	// and rotation grace periods; storage is asked again at most once a second per token, and a
	// verification that could be answered stale waits at most a quarter of a second for it.
	StaleIfError time.Duration
	// Now, when set, replaces the clock (tests).
	Now func() time.Time
	// OnUse is called at most once a minute per cached token with the time and client address of
	// a successful verification. It must not block.
	OnUse func(latchkey.TokenUse)
	// RateSync, when set, shares rate-limit counts with the other nodes on the same database:
	// every RateSyncInterval, Run hands it this node's count of each current window it admitted
	// requests in (and, once a minute, a time before which ended windows may be pruned), and
	// adds the other nodes' counts it returns to its own when it admits. Verifications never wait
	// for it. (latchkey.Store.SyncRateCounts with this node's name.)
	RateSync func(ctx context.Context, counts []latchkey.RateCount, pruneBefore int64) ([]int64, error)
	// RateSyncInterval is how often RateSync runs (default 100 ms). Nodes may together admit
	// up to what they are offered in one interval beyond a limit.
	RateSyncInterval time.Duration
	// CreditSync subtracts what this node spent of tokens' credits from storage and returns
	// their balances (latchkey.Store.SyncCredits); by default the Source's SyncCredits when it
	// has one. Without it credits are spent in memory only. Run calls it every
	// CreditSyncInterval (default 250 ms) and once more when it stops.
	CreditSync         func(ctx context.Context, spends []latchkey.CreditSpend) ([]int64, error)
	CreditSyncInterval time.Duration
	// CountUsage counts every verification of a known token by outcome (and notes the client
	// addresses it comes from) for TakeUsage: an atomic add per verification.
	CountUsage bool
	// OnReuse is called, once per cache lifetime, when a token rotated out past its grace period
	// is presented.
	OnReuse func(tok *latchkey.Token)
	// AccessTokens, when set, makes the verifier accept latchkey's short-lived access tokens
	// (JWTs) too.
	AccessTokens *AccessTokens
}

// Verifier verifies tokens against a Source with caching. It is safe for concurrent use.
type Verifier struct {
	// src is the Source behind the circuit breaker; every storage read goes through it.
	src    *guarded
	opt    Options
	shards [numShards]shard
	// epoch changes on every invalidation; a storage read that raced with one is not cached.
	epoch atomic.Uint64
	group singleflight.Group
	// negatives counts negative entries across shards.
	negatives atomic.Int64
	// byToken indexes cached hashes by token id, so a token change invalidates in O(1).
	idxMu    sync.Mutex
	byToken  map[int64][32]byte
	policies policyCache
	rates    rateTable
	credits  creditTable
	usage    usageTable
	access   [accessShards]accessShard
	stats    Stats
	// start anchors the verifier's clock: times are nanoseconds since start on the monotonic
	// clock, which is cheaper to read than the wall clock and immune to its jumps. The coarse
	// clock (runClock) counts from it too.
	start time.Time
	// startWall is start on the wall clock, Unix nanoseconds; wallOffset is the wall clock less
	// the verifier's clock, kept current by runClock so that a corrected wall clock moves rate
	// windows and refills with it.
	startWall  int64
	wallOffset atomic.Int64
	fake       func() time.Time
	// coarse is now() as of the last tick of runClock; coarseLive says it is ticking.
	coarse     atomic.Int64
	coarseLive atomic.Bool
	// refreshAhead is how long before an entry expires a hit starts reloading it (TTL/8).
	refreshAhead int64
	refreshQ     chan [32]byte
	refreshers   atomic.Int32
	breaker      breaker
	// staleWait is the longest a verification waits for storage when it could be answered stale.
	staleWait time.Duration
	// staleSince is when (wall clock, Unix nanoseconds) the verifier began serving entries past
	// their TTL because storage failed; 0 once storage answers again.
	staleSince atomic.Int64
	// rateLocalSince is when RateSync began to fail (wall clock, Unix nanoseconds); 0 while it
	// works.
	rateLocalSince atomic.Int64
	// creditsLocalSince is the same for CreditSync.
	creditsLocalSince atomic.Int64
}

// loadTimeout bounds one storage read of a token.
const loadTimeout = 10 * time.Second

// Stats counts verifier events for metrics. Cache hits are not counted: an atomic add shared by
// every core would cost more than the rest of a hit. (Stale answers are, one by one: that cost
// is only paid while storage fails.)
type Stats struct {
	// Refreshes counts background reloads of entries in use near the end of their life.
	Misses, Rejected, Legacy, Refreshes atomic.Uint64
	// Stale counts verifications answered from an entry past its TTL because storage could not
	// answer (see Options.StaleIfError).
	Stale atomic.Uint64
	// FastFails counts verifications refused at once with ErrBreakerOpen, without asking storage.
	FastFails atomic.Uint64
}

const numShards = 64

// key is the first half of a token's SHA-256: 128 bits are as unique as 256 for this purpose (a
// collision needs ~2^64 tokens, a forged match a 2^128 preimage search) and halve the bytes a
// lookup hashes and compares.
type key [16]byte

func keyOf(h *[32]byte) key { return key(h[:16]) }

type shard struct {
	mu sync.RWMutex
	m  map[key]slot
}

// slot is a cache entry as stored in the map. What every hit needs is inline, so that a hit costs
// the map lookup and no further pointer chase; the rest waits behind detail. Keeping it at 32
// bytes matters: with a 16-byte key a map slot is no bigger than a [32]byte → pointer map's,
// and map memory is most of a lookup's cost once the cache outgrows the CPU's.
type slot struct {
	principal *latchkey.Principal
	until     int64 // cache expiry on the verifier's clock
	detail    *detail
	minute    int32 // last minute (plus one) a use was reported, written under the shard lock
	flags     uint8
}

// Slot flags.
const (
	flagDenied     uint8 = 1 << iota // detail.err answers
	flagNegative                     // an unknown hash (also flagDenied)
	flagLimit                        // limit applies
	flagCIDRs                        // detail.cidrs applies
	flagPolicy                       // detail.policy applies
	flagRefreshing                   // a background reload of this entry is under way, or failed
	flagStale                        // served past its TTL because storage failed: detail.staleUntil
	flagRates                        // detail.rates or detail.credits count the token's use
)

// detail is the part of a cache entry that only some verifications read.
type detail struct {
	err error
	// limit is the earliest of the token's expiry and the end of its rotation grace period;
	// limit, expires and grace are wall-clock Unix nanoseconds.
	limit     int64
	accountID int64
	userID    int64
	tokenID   int64
	expires   int64 // when hasExpiry
	grace     int64 // when rotated
	hasExpiry bool
	rotated   bool
	legacy    bool  // found by bcrypt, not by hash: never refreshed by hash
	updated   int64 // the token's updated_at in Unix microseconds: its version
	loaded    int64 // when the token was last read in full, on the verifier's clock
	cidrs     []netip.Prefix
	policy    *latchkey.IPPolicy // the account's enforced IP rules
	rates     *rates             // the token's rate-limit counters (flagRates)
	credits   *credit            // the token's family's credits (flagRates)
	usage     *usageCounter      // the token's usage counters (Options.CountUsage)
	token     *latchkey.Token    // kept for OnReuse on rotated tokens only
	reported  atomic.Bool
	// staleUntil is the end of the entry's stale-if-error window, on the verifier's clock, when
	// flagStale is set.
	staleUntil int64
}

// stale returns a copy of d for an entry served past its TTL until staleUntil.
func (d *detail) stale(staleUntil int64) *detail {
	c := &detail{err: d.err, limit: d.limit, accountID: d.accountID, userID: d.userID, tokenID: d.tokenID,
		expires: d.expires, grace: d.grace, hasExpiry: d.hasExpiry, rotated: d.rotated, legacy: d.legacy,
		updated: d.updated, loaded: d.loaded, cidrs: d.cidrs, policy: d.policy, rates: d.rates, credits: d.credits, usage: d.usage, token: d.token, staleUntil: staleUntil}
	c.reported.Store(d.reported.Load())
	return c
}

// New returns a Verifier reading from src.
func New(src Source, opt Options) *Verifier {
	if opt.Format.ServicePrefix == "" {
		opt.Format = tokenfmt.Default
	}
	if opt.TTL <= 0 {
		opt.TTL = 10 * time.Second
	}
	if opt.NegativeTTL <= 0 {
		opt.NegativeTTL = 10 * time.Second
	}
	if opt.MaxNegative <= 0 {
		opt.MaxNegative = 100_000
	}
	if opt.LegacyTTL <= 0 {
		opt.LegacyTTL = time.Minute
	}
	if opt.CreditSyncInterval <= 0 {
		opt.CreditSyncInterval = 250 * time.Millisecond
	}
	if opt.RateSyncInterval <= 0 {
		opt.RateSyncInterval = 100 * time.Millisecond
	}
	if opt.StaleIfError == 0 {
		opt.StaleIfError = 15 * time.Minute
	}
	start := time.Now()
	if opt.Now != nil {
		start = opt.Now()
	}
	v := &Verifier{opt: opt, start: start, startWall: start.UnixNano(), fake: opt.Now, byToken: map[int64][32]byte{},
		refreshAhead: int64(opt.TTL / 8), refreshQ: make(chan [32]byte, 4096), staleWait: staleWait}
	v.src = newGuarded(src, v)
	v.wallOffset.Store(v.startWall)
	if cs, ok := src.(interface {
		SyncCredits(context.Context, []latchkey.CreditSpend, time.Time) ([]int64, error)
	}); ok && v.opt.CreditSync == nil {
		v.opt.CreditSync = func(ctx context.Context, spends []latchkey.CreditSpend) ([]int64, error) {
			return cs.SyncCredits(ctx, spends, time.Unix(0, v.wallNow()))
		}
	}
	for i := range v.shards {
		v.shards[i].m = map[key]slot{}
	}
	// Account policies change rarely and are invalidated by ChangeAccount; a TTL below a second
	// would only reread them.
	v.policies.init(v.src, max(opt.TTL, time.Second))
	return v
}

// SetHooks installs the OnUse and OnReuse callbacks after construction (the server owns them
// and is built after the verifier). Call it before the verifier serves requests.
func (v *Verifier) SetHooks(onUse func(latchkey.TokenUse), onReuse func(*latchkey.Token)) {
	v.opt.OnUse, v.opt.OnReuse = onUse, onReuse
}

// Stats returns the verifier's counters.
func (v *Verifier) Stats() *Stats { return &v.stats }

// Format returns the token format the verifier accepts.
func (v *Verifier) Format() tokenfmt.Format { return v.opt.Format }

// now returns the verifier's clock: nanoseconds since start.
func (v *Verifier) now() int64 {
	if v.fake != nil {
		return int64(v.fake().Sub(v.start))
	}
	return int64(time.Since(v.start))
}

// roughNow is now, up to coarseTick behind while Run runs, for what tolerates it (see
// runClock).
func (v *Verifier) roughNow() int64 {
	if v.fake == nil && v.coarseLive.Load() {
		return v.coarse.Load()
	}
	return v.now()
}

// wallNow returns the wall clock in Unix nanoseconds, for comparing with stored times.
func (v *Verifier) wallNow() int64 {
	if v.fake != nil {
		return v.fake().UnixNano()
	}
	return time.Now().UnixNano()
}

// Verify checks token, used from client address ip (may be the zero Addr when unknown), and
// returns the principal it authenticates. Errors are *latchkey.Error values from this package or
// tokenfmt, or storage errors. A cache hit does not allocate.
func (v *Verifier) Verify(ctx context.Context, token string, ip netip.Addr) (*latchkey.Principal, error) {
	return v.verify(ctx, token, ip, 0, Usage{}, nil)
}

// VerifyInAccount is Verify for a caller that may only learn about tokens of one account
// (/v1/check, introspection): a token of another account is ErrUnknown, before any of its state
// is revealed or acted on (no last-used report, no reuse response).
func (v *Verifier) VerifyInAccount(ctx context.Context, token string, ip netip.Addr, accountID int64) (*latchkey.Principal, error) {
	return v.verify(ctx, token, ip, accountID, Usage{}, nil)
}

// VerifyUsage is Verify (or, with accountID not 0, VerifyInAccount) counting u against the
// token's rate limits and reporting them in out (when not nil; N is 0 for a token without
// limits). Verify and VerifyInAccount count a cost of 1 against every limit. A verification over
// a limit fails with a *latchkey.Error of code rate_limited whose Data holds retry_after_seconds
// and the limit's name; it is counted against none of the token's limits.
func (v *Verifier) VerifyUsage(ctx context.Context, token string, ip netip.Addr, accountID int64, u Usage, out *Limits) (*latchkey.Principal, error) {
	if out != nil {
		out.N, out.HasCredits, out.Credits = 0, false, 0
	}
	return v.verify(ctx, token, ip, accountID, u, out)
}

func (v *Verifier) verify(ctx context.Context, token string, ip netip.Addr, account int64, u Usage, out *Limits) (*latchkey.Principal, error) {
	if len(token) > tokenfmt.MaxLen {
		if v.opt.AccessTokens != nil && accesstoken.Looks(token) {
			return v.verifyAccessToken(ctx, token, ip, account, u, out)
		}
		v.stats.Rejected.Add(1)
		return nil, tokenfmt.ErrMalformed
	}
	// The alphabet check waits for a miss: a hit proves it (the cache only holds hashes of strings
	// that passed it), and a random or mistyped string fails the checksum first.
	parsed, err := v.opt.Format.ParseQuick(token)
	if err != nil {
		if v.opt.AccessTokens != nil && accesstoken.Looks(token) {
			return v.verifyAccessToken(ctx, token, ip, account, u, out)
		}
		v.stats.Rejected.Add(1)
		return nil, err
	}
	return v.verifyHash(ctx, tokenfmt.Hash(token), token, parsed, ip, account, u, out)
}

// verifyHash verifies the token of hash h: token is its string, or "" when h comes from storage
// (the parent of an access token), which skips the checks of what a client sent.
func (v *Verifier) verifyHash(ctx context.Context, h [32]byte, token string, parsed tokenfmt.Parsed, ip netip.Addr, account int64, u Usage, out *Limits) (*latchkey.Principal, error) {
	var err error
	now := v.roughNow()
	sh := &v.shards[h[0]%numShards]
	sh.mu.RLock()
	sl, ok := sh.m[keyOf(&h)]
	sh.mu.RUnlock()
	refresh := false
	if !ok || now >= sl.until {
		if !parsed.Legacy && token != "" && !tokenfmt.AlphabetOK(token) {
			v.stats.Rejected.Add(1)
			return nil, tokenfmt.ErrMalformed
		}
		v.stats.Misses.Add(1)
		if sl, err = v.miss(ctx, h, token, parsed, sl, ok); err != nil {
			return nil, err
		}
	} else if now >= sl.until-v.refreshAhead {
		refresh = sl.flags&(flagDenied|flagRefreshing|flagStale) == 0 && !parsed.Legacy
	}
	if account != 0 && (sl.detail == nil || sl.detail.accountID != account) {
		return nil, ErrUnknown
	}
	if sl.flags&^flagRefreshing != 0 {
		if err := v.check(&sl, ip, now, u, out); err != nil {
			v.countRefusal(sl.detail, err, ip)
			return nil, err
		}
	}
	if d := sl.detail; d != nil && d.usage != nil {
		v.count(d.usage, latchkey.OutcomeOK, ip)
	}
	if refresh && sl.detail != nil && !sl.detail.rotated {
		// Only after the token passed every check: a refused use does not make the server read.
		// Rotated tokens are left to expire (their entries end with the grace period).
		v.refresh(sh, h)
	}
	v.noteUse(sh, h, &sl, now, ip)
	return sl.principal, nil
}

// check applies the rarer, time- and address-dependent rules. Expiry and grace are wall-clock
// times from the database and are compared with the wall clock (the monotonic clock stops while a
// machine sleeps).
func (v *Verifier) check(sl *slot, ip netip.Addr, now int64, u Usage, out *Limits) error {
	d := sl.detail
	if sl.flags&flagStale != 0 {
		v.stats.Stale.Add(1)
	}
	if sl.flags&flagDenied != 0 {
		return d.err
	}
	if sl.flags&flagLimit != 0 {
		if wall := v.wallNow(); wall >= d.limit {
			return v.pastLimit(d, wall)
		}
	}
	if sl.flags&flagCIDRs != 0 && !containsAddr(d.cidrs, ip) {
		return ErrIPDenied
	}
	if sl.flags&flagPolicy != 0 && !d.policy.Allows(ip) {
		return ErrIPDenied
	}
	if sl.flags&flagRates != 0 {
		return v.takeUsage(d, now, u, out)
	}
	return nil
}

// takeUsage counts a verification against the token's credits and rate limits: admitted only
// when the credits cover its cost and every rate limit has room, and then counted against all
// of them. Windows and refill periods are placed by the wall clock as the verifier's (coarse)
// clock carries it from start: a few milliseconds behind at most, and immune to jumps.
func (v *Verifier) takeUsage(d *detail, now int64, u Usage, out *Limits) error {
	wall := v.wallOffset.Load() + now
	c := d.credits
	if c != nil && c.dead.Load() {
		c = v.credits.current(c, now)
	}
	if c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.used = now
		if out != nil {
			out.HasCredits, out.Credits = !c.removed, c.balance()
		}
		if err := c.admit(wall, max(u.Cost, 1)); err != nil {
			return err
		}
	}
	if r := d.rates; r != nil {
		if r.dead.Load() {
			r = v.rates.current(r, now)
		}
		if err := r.take(now, wall, u, out); err != nil {
			return err
		}
	}
	if c != nil && !c.removed {
		c.pending += max(u.Cost, 1)
		if out != nil {
			out.Credits = c.balance()
		}
	}
	return nil
}

// pastLimit answers for a token past its expiry or its rotation grace period.
func (v *Verifier) pastLimit(d *detail, wall int64) error {
	if d.hasExpiry && wall >= d.expires {
		return ErrExpired
	}
	if d.token != nil && v.opt.OnReuse != nil && d.reported.CompareAndSwap(false, true) {
		v.opt.OnReuse(d.token)
	}
	return ErrRotatedOut
}

// noteUse records, at most once a minute, that a token is in use (Run keeps such entries fresh)
// and reports it to OnUse. The slot's minute changes under the shard's write lock, once a minute
// per token.
func (v *Verifier) noteUse(sh *shard, h [32]byte, sl *slot, now int64, ip netip.Addr) {
	minute := int32(now/int64(time.Minute)) + 1
	if sl.minute == minute || sl.detail == nil || sl.detail.tokenID == 0 {
		return
	}
	k := keyOf(&h)
	sh.mu.Lock()
	cur, ok := sh.m[k]
	fresh := ok && cur.minute != minute
	if fresh {
		cur.minute = minute
		sh.m[k] = cur
	}
	sh.mu.Unlock()
	if (fresh || !ok) && v.opt.OnUse != nil {
		v.opt.OnUse(latchkey.TokenUse{TokenID: sl.detail.tokenID,
			At: time.Unix(0, v.wallNow()).UTC().Truncate(time.Microsecond), IP: addrString(ip)})
	}
}

func addrString(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.Unmap().String()
}

func containsAddr(ps []netip.Prefix, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// refresh starts a background reload of an entry that is still in use in the last eighth of its
// life, so that a token in steady use never waits for storage when its entry would have expired.
// The first such hit marks the entry and queues it; later hits see the mark. Queued entries are
// read in batches (see reload), epoch-guarded like any load. If a read fails, the entry keeps its
// mark, so that neither hits nor sweeps try again (a storage outage is not retried in a loop): it
// expires as it would have, to be read on its next use, or served stale if storage still fails.
func (v *Verifier) refresh(sh *shard, h [32]byte) {
	k := keyOf(&h)
	sh.mu.Lock()
	cur, ok := sh.m[k]
	start := ok && cur.flags&flagRefreshing == 0
	if start {
		cur.flags |= flagRefreshing
		sh.m[k] = cur
	}
	sh.mu.Unlock()
	if !start {
		return
	}
	select {
	case v.refreshQ <- h:
		v.stats.Refreshes.Add(1)
		if v.refreshers.Add(1) <= int32(runtime.GOMAXPROCS(0)) {
			go v.refreshLoop()
		} else {
			v.refreshers.Add(-1)
		}
	default:
		// The queue is full (a burst of entries reaching the end of their life together): this
		// one is unmarked for a later hit or sweep, or expires and is read on its next use.
		v.unmark(keyOf(&h))
	}
}

// Run does the verifier's background work until ctx ends; start it once beside serving. It
// keeps the coarse clock a cache hit reads (without Run every hit reads the precise clock, ~20 ns
// more), and keeps the entries of tokens in use fresh: every sixteenth of the TTL it reads
// again, in batches, the entries of tokens used in the current or the previous minute that expire
// within an eighth of the TTL (or have expired). A hit in that last eighth refreshes an entry
// too, but a token idle across it (a gateway's quiet spell, a client that calls every few
// seconds) would otherwise wait for storage on its next use.
//
// With a TTL under 80 ms there is nothing to refresh ahead of time and Run only keeps the clock.
func (v *Verifier) Run(ctx context.Context) {
	// Run returns once its helpers have: the credit sync writes what was spent last.
	var wg sync.WaitGroup
	defer wg.Wait()
	start := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	start(v.runClock)
	start(v.sweepRates)
	if v.opt.AccessTokens != nil {
		start(func(ctx context.Context) { every(ctx, time.Minute, func(time.Time) { v.sweepAccess() }) })
	}
	if v.opt.RateSync != nil {
		start(v.syncRates)
	}
	if v.opt.CreditSync != nil {
		start(v.syncCredits)
	}
	if time.Duration(v.refreshAhead) < 10*time.Millisecond {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(time.Duration(v.refreshAhead) / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			v.sweep()
		}
	}
}

// sweep refreshes the entries Run keeps fresh, and returns how many it read. While the circuit
// breaker is open it reads nothing (entries are kept, and served stale once they expire); when a
// probe is due, its first read is the probe.
func (v *Verifier) sweep() int {
	now := v.now()
	if v.breaker.blocked(now) {
		return 0
	}
	recent := int32(now / int64(time.Minute)) // noteUse's minute for the previous minute
	dueNow := func(sl slot) bool {
		return sl.flags&(flagDenied|flagRefreshing|flagStale) == 0 && sl.minute != 0 && sl.minute >= recent &&
			sl.until-now <= v.refreshAhead && sl.detail != nil && sl.detail.tokenID != 0 && !sl.detail.legacy &&
			!sl.detail.rotated
	}
	var due, candidates []key
	var ids []int64
	for i := range v.shards {
		// Scan under the read lock (verifications go on), then mark under the write lock, held
		// only for the candidates: a big shard is not locked against readers for a whole scan.
		sh := &v.shards[i]
		candidates = candidates[:0]
		sh.mu.RLock()
		for k, sl := range sh.m {
			if dueNow(sl) {
				candidates = append(candidates, k)
			}
		}
		sh.mu.RUnlock()
		if len(candidates) == 0 {
			continue
		}
		sh.mu.Lock()
		for _, k := range candidates {
			if sl, ok := sh.m[k]; ok && dueNow(sl) {
				sl.flags |= flagRefreshing
				sh.m[k] = sl
				due = append(due, k)
				ids = append(ids, sl.detail.tokenID)
			}
		}
		sh.mu.Unlock()
	}
	if len(due) == 0 {
		return 0
	}
	// The map keys are half hashes; the token index has the whole ones.
	hs := make([][32]byte, 0, len(due))
	var lost []key
	v.idxMu.Lock()
	for i, id := range ids {
		if h, ok := v.byToken[id]; ok && keyOf(&h) == due[i] {
			hs = append(hs, h)
		} else {
			lost = append(lost, due[i])
		}
	}
	v.idxMu.Unlock()
	v.unmark(lost...)
	v.stats.Refreshes.Add(uint64(len(hs)))
	for len(hs) > 0 {
		n := min(len(hs), refreshBatch)
		v.reload(hs[:n])
		hs = hs[n:]
	}
	return len(due)
}

// refreshBatch is the most queued entries one refresh reads together; refreshGather is the longest
// a refresh waits for a batch to fill.
const (
	refreshBatch  = 128
	refreshGather = 20 * time.Millisecond
)

// drainRefreshes appends queued entries to batch, up to refreshBatch, without waiting.
func (v *Verifier) drainRefreshes(batch [][32]byte) [][32]byte {
	for len(batch) < refreshBatch {
		select {
		case h := <-v.refreshQ:
			batch = append(batch, h)
		default:
			return batch
		}
	}
	return batch
}

// batchSource is a Source that reads many tokens in one go, as every latchkey.Store does.
type batchSource interface {
	FindTokensByHash(ctx context.Context, hashes [][]byte) ([]*latchkey.Token, error)
}

// refreshLoop reads queued entries, in batches, until the queue is empty. At most GOMAXPROCS loops
// run, so a burst of refreshes neither piles up goroutines nor opens a storage connection per
// entry; a batch costs one version query, plus a token and a grant query for the entries that
// must be read in full (and, for each personal access token, its membership and user).
func (v *Verifier) refreshLoop() {
	batch := make([][32]byte, 0, refreshBatch)
	for {
		batch = v.drainRefreshes(batch[:0])
		if len(batch) > 0 && len(batch) < refreshBatch {
			// Entries in steady use reach their refresh window one by one: wait a moment (a
			// small part of the window) for more to join the batch.
			time.Sleep(min(refreshGather, time.Duration(v.refreshAhead)/16))
			batch = v.drainRefreshes(batch)
		}
		if len(batch) > 0 {
			v.reload(batch)
			continue
		}
		v.refreshers.Add(-1)
		// An entry queued after the queue looked empty, while this loop still counted, started no
		// loop of its own: look once more before leaving, and stay if there is room.
		if len(v.refreshQ) == 0 {
			return
		}
		if v.refreshers.Add(1) > int32(runtime.GOMAXPROCS(0)) {
			v.refreshers.Add(-1)
			return
		}
	}
}

// hashKeys views hashes as the byte slices the store takes.
func hashKeys(hs [][32]byte) [][]byte {
	keys := make([][]byte, len(hs))
	for i := range hs {
		keys[i] = hs[i][:]
	}
	return keys
}

// maxExtend bounds, in TTLs, how long an entry is kept by version checks before it is read in full
// again: a change that did not move updated_at (a hand edit in the database) is seen within it.
const maxExtend = 6

// versionSource is a Source that reports tokens' versions, as every latchkey.Store does.
type versionSource interface {
	FindTokenVersions(ctx context.Context, hashes [][]byte) ([]latchkey.TokenVersion, error)
}

// reload reads a batch of cached hashes again and caches what it finds, unless an invalidation
// raced with the read. An entry it cannot read keeps its refreshing mark (see refresh) and is
// left to expire and be read on use.
//
// A service token whose version (updated_at, which every change to it or its grants moves) and
// account IP policy are unchanged keeps its entry, with a new expiry: reading one column is a
// fraction of reading the token and its grants and compiling them again. Everything else, and any
// entry last read in full maxExtend TTLs ago, is read in full.
func (v *Verifier) reload(hs [][32]byte) {
	if v.src.versions != nil && len(hs) > 1 {
		var ok bool
		if hs, ok = v.extend(hs); !ok {
			return
		}
	}
	v.reloadFull(hs)
}

// extend renews the entries of hs that are unchanged in storage and returns the others. It
// returns false, and leaves every entry as it is, when storage cannot answer: reading the tokens
// in full would fail too.
func (v *Verifier) extend(hs [][32]byte) ([][32]byte, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	epoch := v.epoch.Load()
	now := v.now()
	versions, err := v.src.FindTokenVersions(ctx, hashKeys(hs))
	if unavailable(err) {
		return nil, false
	}
	if err != nil {
		return hs, true
	}
	updated := make(map[[32]byte]latchkey.TokenVersion, len(versions))
	for _, tv := range versions {
		if len(tv.Hash) == len([32]byte{}) {
			updated[[32]byte(tv.Hash)] = tv
		}
	}
	var rest [][32]byte
	for _, h := range hs {
		sh := &v.shards[h[0]%numShards]
		sh.mu.RLock()
		sl, ok := sh.m[keyOf(&h)]
		sh.mu.RUnlock()
		d := sl.detail
		if !ok || d == nil || d.legacy || sl.flags&(flagDenied|flagLimit) != 0 || sl.principal == nil ||
			sl.principal.Kind != latchkey.PrincipalServiceToken {
			rest = append(rest, h)
			continue
		}
		if tv, found := updated[h]; !found || tv.ID != d.tokenID || tv.UpdatedAt.UnixMicro() != d.updated ||
			now-d.loaded >= int64(maxExtend*v.opt.TTL) {
			rest = append(rest, h)
			continue
		}
		if pol, err := v.policies.get(ctx, d.accountID, now); err != nil || pol != d.policy {
			rest = append(rest, h)
			continue
		}
		sl.until = now + int64(v.ttlFor(h))
		sl.flags &^= flagRefreshing | flagStale
		v.put(h, sl, epoch)
	}
	return rest, true
}

// reloadFull reads tokens and their grants again and compiles new entries. An entry it cannot
// read keeps its refreshing mark.
func (v *Verifier) reloadFull(hs [][32]byte) {
	if len(hs) == 0 {
		return
	}
	if v.src.batch == nil || len(hs) == 1 {
		for _, h := range hs {
			_, _ = v.load(context.Background(), h, "", tokenfmt.Parsed{})
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	epoch := v.epoch.Load()
	now := v.now()
	toks, err := v.src.FindTokensByHash(ctx, hashKeys(hs))
	if err != nil {
		return
	}
	found := make(map[[32]byte]*latchkey.Token, len(toks))
	for _, t := range toks {
		if len(t.Hash) == len([32]byte{}) {
			found[[32]byte(t.Hash)] = t
		}
	}
	for _, h := range hs {
		sl := v.negative(now)
		if t, ok := found[h]; ok {
			if sl, err = v.slotFor(ctx, t, now, v.ttlFor(h)); err != nil {
				continue
			}
		}
		v.put(h, sl, epoch)
	}
}

// unmark clears the refreshing mark of entries that could not be queued or matched, so that a
// later hit or sweep tries again.
func (v *Verifier) unmark(ks ...key) {
	for _, k := range ks {
		sh := &v.shards[k[0]%numShards]
		sh.mu.Lock()
		if sl, ok := sh.m[k]; ok && sl.flags&flagRefreshing != 0 {
			sl.flags &^= flagRefreshing
			sh.m[k] = sl
		}
		sh.mu.Unlock()
	}
}

// staleWait is the longest a verification waits for storage when its entry, past its TTL, may
// be served stale: longer than any healthy read, short enough that a database that stopped
// answering (rather than refusing) does not hold every request until loadTimeout. The read goes
// on in the background and replaces the entry if it succeeds.
const staleWait = 250 * time.Millisecond

// staleRetry is how long a stale answer is reused before storage is asked again.
const staleRetry = time.Second

// miss answers a verification whose entry is missing or past its TTL (old, when had) by reading
// storage. When storage cannot answer and the entry is within its stale-if-error window, the
// entry is served stale instead.
func (v *Verifier) miss(ctx context.Context, h [32]byte, token string, parsed tokenfmt.Parsed, old slot, had bool) (slot, error) {
	if !had || !v.staleOK(old, v.now()) {
		sl, err := v.load(ctx, h, token, parsed)
		if err == ErrBreakerOpen {
			v.stats.FastFails.Add(1)
		}
		return sl, err
	}
	ch := v.group.DoChan(v.loadFunc(ctx, h, token, parsed))
	t := time.NewTimer(v.staleWait)
	defer t.Stop()
	var r singleflight.Result
	slow := false
	select {
	case r = <-ch:
		if r.Err == nil {
			return r.Val.(slot), nil
		}
		if !unavailable(r.Err) {
			return slot{}, r.Err
		}
	case <-t.C:
		slow = true
	}
	if sl, ok := v.serveStale(h); ok {
		return sl, nil
	}
	if slow {
		// The entry went (invalidated) while storage was slow: wait for the read after all.
		if r = <-ch; r.Err == nil {
			return r.Val.(slot), nil
		}
	}
	if r.Err == ErrBreakerOpen {
		v.stats.FastFails.Add(1)
	}
	return slot{}, r.Err
}

// staleOK reports whether sl may still be served at now when storage cannot answer.
func (v *Verifier) staleOK(sl slot, now int64) bool {
	// An unknown token is not answered stale: its creation, announced while it was remembered
	// as unknown, does not reach the negative cache (invalidations are by token id), so after its
	// NegativeTTL only storage may say it is unknown.
	if v.opt.StaleIfError <= 0 || sl.detail == nil || sl.flags&flagNegative != 0 {
		return false
	}
	if sl.flags&flagStale != 0 {
		return now < sl.detail.staleUntil
	}
	return now < sl.until+int64(v.opt.StaleIfError)
}

// serveStale answers from h's entry past its TTL, storage having failed to answer, and stores it
// back to be reused for staleRetry. It works on the entry in the cache at this moment, under the
// shard's lock, so that an entry an invalidation removed is never served again, and one a
// concurrent read replaced is served as it is now.
func (v *Verifier) serveStale(h [32]byte) (slot, bool) {
	now := v.now()
	k := keyOf(&h)
	sh := &v.shards[h[0]%numShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sl, ok := sh.m[k]
	if !ok {
		return slot{}, false
	}
	if now < sl.until {
		return sl, true
	}
	if !v.staleOK(sl, now) {
		return slot{}, false
	}
	if sl.flags&flagStale == 0 {
		sl.detail = sl.detail.stale(sl.until + int64(v.opt.StaleIfError))
		sl.flags |= flagStale
	}
	sl.flags &^= flagRefreshing
	sl.until = min(now+int64(staleRetry), sl.detail.staleUntil)
	sh.m[k] = sl
	// Only while reads are failing: a read that failed before another succeeded must not mark
	// a recovered verifier stale.
	if v.staleSince.Load() == 0 && v.breaker.failures.Load() > 0 {
		v.staleSince.CompareAndSwap(0, v.wallNow())
	}
	return sl, true
}

// load reads a token from storage, once per hash at a time, and caches the outcome unless an
// invalidation raced with the read.
func (v *Verifier) load(ctx context.Context, h [32]byte, token string, parsed tokenfmt.Parsed) (slot, error) {
	res, err, _ := v.group.Do(v.loadFunc(ctx, h, token, parsed))
	if err != nil {
		return slot{}, err
	}
	return res.(slot), nil
}

// loadFunc returns the key and the function of the shared read of h. The key holds the epoch, so
// that callers that arrive after an invalidation do not join a read that started before it. The
// read runs detached from the first caller's context (with its own time limit), so one client
// going away does not fail the others waiting on the same token.
func (v *Verifier) loadFunc(ctx context.Context, h [32]byte, token string, parsed tokenfmt.Parsed) (string, func() (any, error)) {
	epoch := v.epoch.Load()
	return string(h[:]) + strconv.FormatUint(epoch, 36), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		var sl slot
		var err error
		if parsed.Legacy {
			sl, err = v.loadLegacy(ctx, token)
		} else {
			sl, err = v.loadToken(ctx, h[:])
		}
		if err != nil {
			return nil, err
		}
		v.put(h, sl, epoch)
		return sl, nil
	}
}

// put caches a slot read at epoch. It inserts first and then checks the epoch, all under the
// shard's lock: an Invalidate that began before the check makes put take its entry back, and one
// that begins after it finds the entry (index included) and removes it. Either way no stale
// entry outlives an invalidation.
func (v *Verifier) put(h [32]byte, sl slot, epoch uint64) {
	k := keyOf(&h)
	var tokenID int64
	if d := sl.detail; d != nil {
		tokenID = d.tokenID
	}
	sh := &v.shards[h[0]%numShards]
	sh.mu.Lock()
	if tokenID != 0 {
		v.idxMu.Lock()
		v.byToken[tokenID] = h
		v.idxMu.Unlock()
	}
	old, had := sh.m[k]
	if had && old.flags&flagNegative == 0 && sl.flags&flagNegative == 0 {
		// The same token read again: keep when its use was last reported.
		sl.minute = old.minute
	}
	sh.m[k] = sl
	if v.epoch.Load() != epoch {
		delete(sh.m, k)
		if tokenID != 0 {
			v.idxMu.Lock()
			if v.byToken[tokenID] == h {
				delete(v.byToken, tokenID)
			}
			v.idxMu.Unlock()
		}
		sh.mu.Unlock()
		if had && old.flags&flagNegative != 0 {
			v.negatives.Add(-1)
		}
		return
	}
	sh.mu.Unlock()
	wasNeg := had && old.flags&flagNegative != 0
	isNeg := sl.flags&flagNegative != 0
	switch {
	case isNeg && !wasNeg:
		if v.negatives.Add(1) > int64(v.opt.MaxNegative) {
			v.evictNegative(h)
		}
	case !isNeg && wasNeg:
		v.negatives.Add(-1)
	}
}

// evictNegative drops one negative entry other than keep, looking through the shards from keep's
// neighbour onwards. Map iteration starts at a random place, so the victim is random.
func (v *Verifier) evictNegative(keep [32]byte) {
	start := int(keep[0]) + 1
	for i := range numShards {
		sh := &v.shards[(start+i)%numShards]
		sh.mu.Lock()
		for k, x := range sh.m {
			if x.flags&flagNegative != 0 && k != keyOf(&keep) {
				delete(sh.m, k)
				sh.mu.Unlock()
				v.negatives.Add(-1)
				return
			}
		}
		sh.mu.Unlock()
	}
}

func (v *Verifier) negative(now int64) slot {
	return slot{flags: flagDenied | flagNegative, until: now + int64(v.opt.NegativeTTL), detail: &detail{err: ErrUnknown}}
}

func (v *Verifier) loadToken(ctx context.Context, h []byte) (slot, error) {
	now := v.now()
	tok, err := v.src.FindTokenByHash(ctx, h)
	if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
		return v.negative(now), nil
	}
	if err != nil {
		return slot{}, err
	}
	return v.slotFor(ctx, tok, now, v.ttlFor([32]byte(h)))
}

// ttlFor is the TTL of a token's entry. Entries read together (a cold start, a flush) should not
// all expire together: up to a sixteenth of the TTL comes off, by the hash.
func (v *Verifier) ttlFor(h [32]byte) time.Duration {
	return v.opt.TTL - v.opt.TTL/16*time.Duration(h[1])/256
}

// loadLegacy checks a legacy 40-hex token against the bcrypt hashes stored under its first
// eight characters. Success is cached for LegacyTTL under the token's SHA-256.
func (v *Verifier) loadLegacy(ctx context.Context, token string) (slot, error) {
	now := v.now()
	v.stats.Legacy.Add(1)
	prefix := tokenfmt.LegacyPrefix(token)
	toks, _, err := v.src.FindTokens(ctx, latchkey.TokenFilter{LegacyPrefix: &prefix, Limit: latchkey.MaxLimit})
	if err != nil {
		return slot{}, err
	}
	for _, t := range toks {
		if bcrypt.CompareHashAndPassword([]byte(t.LegacyHash), []byte(token)) == nil {
			return v.slotFor(ctx, t, now, v.opt.LegacyTTL)
		}
	}
	return v.negative(now), nil
}

// slotFor compiles a stored token into a cache slot.
func (v *Verifier) slotFor(ctx context.Context, tok *latchkey.Token, now int64, ttl time.Duration) (slot, error) {
	d := &detail{accountID: tok.AccountID, userID: tok.UserID, tokenID: tok.ID, cidrs: tok.AllowedCIDRs, legacy: tok.Legacy(),
		updated: tok.UpdatedAt.UnixMicro(), loaded: now}
	sl := slot{until: now + int64(ttl), detail: d}
	if v.opt.CountUsage && tok.ID != 0 {
		d.usage = v.usage.get(tok.ID, tok.AccountID)
	}
	wall := v.wallNow()
	if tok.ExpiresAt != nil {
		d.expires, d.hasExpiry = tok.ExpiresAt.UnixNano(), true
		d.limit, sl.flags = d.expires, flagLimit
	}
	if tok.RotatedAt != nil {
		d.grace, d.rotated, d.token = tok.RotatedAt.UnixNano(), true, tok
		if tok.GraceUntil != nil {
			d.grace = tok.GraceUntil.UnixNano()
		}
		if sl.flags&flagLimit == 0 || d.grace < d.limit {
			d.limit = d.grace
		}
		sl.flags |= flagLimit
		if d.grace <= wall {
			// Past its grace: the limit check answers (and reports reuse) before anything else.
			return sl, nil
		}
		// Look again when the grace period ends.
		sl.until = min(sl.until, now+(d.grace-wall))
	}
	if tok.State != latchkey.StateActive {
		d.err, sl.flags = ErrRevoked, sl.flags|flagDenied
		return sl, nil
	}
	if len(d.cidrs) > 0 {
		sl.flags |= flagCIDRs
	}
	acct, err := v.policies.entry(ctx, tok.AccountID, now)
	if err != nil {
		return slot{}, err
	}
	if acct.pol != nil {
		d.policy, sl.flags = acct.pol, sl.flags|flagPolicy
	}
	// A token's own rate limits, or else (service tokens only) the account's defaults.
	limits := tok.RateLimits
	if len(limits) == 0 && tok.Kind == latchkey.KindServiceToken {
		limits = acct.limits
	}
	if len(limits) > 0 {
		d.rates, sl.flags = v.rates.get(tok.FamilyID, limits, now), sl.flags|flagRates
	}
	if tok.Credits != nil {
		d.credits, sl.flags = v.credits.get(tok, time.Unix(0, v.wallNow()), now), sl.flags|flagRates
	}
	p := &latchkey.Principal{AccountID: tok.AccountID, TokenID: tok.ID, TokenUID: tok.UID, ExpiresAt: tok.ExpiresAt,
		IssuedAt: tok.CreatedAt, Legacy: tok.Legacy()}
	switch tok.Kind {
	case latchkey.KindPAT:
		m, grants, err := v.src.FindMemberGrants(ctx, tok.AccountID, tok.UserID)
		if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
			d.err, sl.flags = ErrNotMember, sl.flags|flagDenied
			return sl, nil
		}
		if err != nil {
			return slot{}, err
		}
		u, err := v.src.FindUserByID(ctx, tok.UserID)
		if err != nil {
			return slot{}, err
		}
		p.Kind, p.Method, p.UserID, p.Name, p.License = latchkey.PrincipalUser, latchkey.AuthPAT, tok.UserID, u.FullName(), m.License
		p.Permissions = catalog.Compile(m.License, grants)
	default:
		p.Kind, p.Method, p.Name = latchkey.PrincipalServiceToken, latchkey.AuthServiceToken, tok.Name
		p.Permissions = catalog.Compile("", tok.Grants)
	}
	sl.principal = p.Seal()
	return sl, nil
}

// Invalidate drops cached outcomes a committed change affects. Stores call it through Subscribe;
// a cross-node mechanism calls it for changes made elsewhere.
func (v *Verifier) Invalidate(c latchkey.Change) {
	v.epoch.Add(1)
	if c.Kind == latchkey.ChangeAccount || c.Kind == latchkey.ChangeAll {
		v.policies.invalidate(c)
		v.invalidateAccess(c)
	}
	if c.Kind == latchkey.ChangeAll {
		// A store announces "everything may have changed" when its change feed is back after
		// losing its connection, which says the database answers again; and every entry, stale
		// or not, is about to go. Waiting for the breaker's probe would refuse every token,
		// none of them cached any more, for up to its cool-down.
		v.breaker.reset()
		v.staleSince.Store(0)
	}
	if c.Kind == latchkey.ChangeToken {
		v.idxMu.Lock()
		h, ok := v.byToken[c.ID]
		delete(v.byToken, c.ID)
		v.idxMu.Unlock()
		if ok {
			sh := &v.shards[h[0]%numShards]
			sh.mu.Lock()
			if sl, ok := sh.m[keyOf(&h)]; ok && sl.detail != nil && sl.detail.tokenID == c.ID {
				delete(sh.m, keyOf(&h))
			}
			sh.mu.Unlock()
		}
		return
	}
	match := func(d *detail) bool {
		switch c.Kind {
		case latchkey.ChangeUser:
			return d.userID == c.ID && (c.AccountID == 0 || d.accountID == c.AccountID)
		case latchkey.ChangeAccount:
			return d.accountID == c.AccountID
		}
		return true
	}
	for i := range v.shards {
		sh := &v.shards[i]
		sh.mu.Lock()
		for k, sl := range sh.m {
			if sl.flags&flagNegative != 0 {
				if c.Kind == latchkey.ChangeAll {
					delete(sh.m, k)
					v.negatives.Add(-1)
				}
				continue
			}
			if match(sl.detail) {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// Len returns the number of cached outcomes (positive and negative).
func (v *Verifier) Len() int {
	n := 0
	for i := range v.shards {
		v.shards[i].mu.RLock()
		n += len(v.shards[i].m)
		v.shards[i].mu.RUnlock()
	}
	return n
}

// Cached reports whether token has a live cache entry (fresh, or served stale while storage
// fails), so that verifying it would not read storage. Callers that throttle storage lookups for
// a misbehaving address use it to let a known-good credential through at once.
func (v *Verifier) Cached(token string) bool {
	if len(token) > tokenfmt.MaxLen {
		return v.opt.AccessTokens != nil && accesstoken.Looks(token) && v.accessCached(token)
	}
	if _, err := v.opt.Format.ParseQuick(token); err != nil {
		if v.opt.AccessTokens != nil && accesstoken.Looks(token) {
			return v.accessCached(token)
		}
		return true // refused without storage
	}
	h := tokenfmt.Hash(token)
	sh := &v.shards[h[0]%numShards]
	sh.mu.RLock()
	sl, ok := sh.m[keyOf(&h)]
	sh.mu.RUnlock()
	return ok && v.roughNow() < sl.until
}
