// Package verify turns token strings into principals and answers authorization questions, fast
// enough to run on every API call. It is what latchkey's own server uses and what resource
// servers embed: malformed and checksum-invalid strings are refused with no storage access;
// known tokens are served from a sharded cache keyed by SHA-256 with compiled permissions; unknown
// hashes are remembered in a bounded negative cache; concurrent misses for one hash share a single
// storage read; and every committed change announced by the store invalidates what it affects.
package verify

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"

	"github.com/latchkey/latchkey"
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
}

// Options tune a Verifier. Zero values take the defaults.
type Options struct {
	Format tokenfmt.Format
	// TTL bounds how long a cached principal is trusted without hearing of a change (default 10 s).
	TTL time.Duration
	// NegativeTTL is how long an unknown hash is remembered (default 10 s).
	NegativeTTL time.Duration
	// MaxNegative bounds the negative cache (default 100,000 entries).
	MaxNegative int
	// LegacyTTL is how long a legacy token stays cached after a successful bcrypt check (default 60 s).
	LegacyTTL time.Duration
	// Now returns the current time (tests).
	Now func() time.Time
	// OnUse is called at most once a minute per cached token with the time and client address of
	// a successful verification. It must not block.
	OnUse func(latchkey.TokenUse)
	// OnReuse is called, once per cache lifetime, when a token rotated out past its grace period
	// is presented.
	OnReuse func(tok *latchkey.Token)
}

// Verifier verifies tokens against a Source with caching. It is safe for concurrent use.
type Verifier struct {
	src    Source
	opt    Options
	shards [numShards]shard
	epoch  atomic.Uint64
	group  singleflight.Group
	// negatives counts negative entries across shards.
	negatives atomic.Int64
	policies  policyCache
	stats     Stats
}

// Stats counts verifier events for metrics.
type Stats struct {
	Hits, Misses, Rejected, Legacy atomic.Uint64
}

const numShards = 64

type shard struct {
	mu sync.RWMutex
	m  map[[32]byte]*entry
}

// entry is one cached verification outcome. Immutable after insertion except lastUse and
// reuseReported.
type entry struct {
	principal *latchkey.Principal
	err       error
	until     int64 // cache expiry, unix nanoseconds
	accountID int64
	userID    int64
	tokenID   int64
	expires   int64 // token expiry, unix nanoseconds, 0 for none
	grace     int64 // end of the rotation grace period, 0 when not rotated
	cidrs     []netip.Prefix
	policy    *latchkey.IPPolicy // the account's enforced IP rules, nil for none
	token     *latchkey.Token // kept for OnReuse on rotated tokens only
	negative  bool
	lastUse   atomic.Int64 // unix minute of the last reported use
	reported  atomic.Bool
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
	if opt.Now == nil {
		opt.Now = time.Now
	}
	v := &Verifier{src: src, opt: opt}
	for i := range v.shards {
		v.shards[i].m = map[[32]byte]*entry{}
	}
	v.policies.init(src, opt.TTL)
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

// Verify checks token, used from client address ip (may be the zero Addr when unknown), and
// returns the principal it authenticates. Errors are *latchkey.Error values from this package or
// tokenfmt, or storage errors.
func (v *Verifier) Verify(ctx context.Context, token string, ip netip.Addr) (*latchkey.Principal, error) {
	if len(token) > tokenfmt.MaxLen {
		v.stats.Rejected.Add(1)
		return nil, tokenfmt.ErrMalformed
	}
	parsed, err := v.opt.Format.Parse(token)
	if err != nil {
		v.stats.Rejected.Add(1)
		return nil, err
	}
	h := tokenfmt.Hash(token)
	now := v.opt.Now().UnixNano()
	sh := &v.shards[h[0]%numShards]
	sh.mu.RLock()
	e := sh.m[h]
	sh.mu.RUnlock()
	if e == nil || now >= e.until {
		v.stats.Misses.Add(1)
		e, err = v.load(ctx, h, token, parsed)
		if err != nil {
			return nil, err
		}
	} else {
		v.stats.Hits.Add(1)
	}
	return v.check(e, now, ip)
}

// check applies the time- and address-dependent rules to a cached outcome.
func (v *Verifier) check(e *entry, now int64, ip netip.Addr) (*latchkey.Principal, error) {
	if e.err != nil {
		return nil, e.err
	}
	if e.expires != 0 && now >= e.expires {
		return nil, ErrExpired
	}
	if e.grace != 0 && now >= e.grace {
		if e.token != nil && v.opt.OnReuse != nil && e.reported.CompareAndSwap(false, true) {
			v.opt.OnReuse(e.token)
		}
		return nil, ErrRotatedOut
	}
	if len(e.cidrs) > 0 && !containsAddr(e.cidrs, ip) {
		return nil, ErrIPDenied
	}
	if e.policy != nil && !e.policy.Allows(ip) {
		return nil, ErrIPDenied
	}
	if v.opt.OnUse != nil && e.tokenID != 0 {
		minute := now / int64(time.Minute)
		if last := e.lastUse.Load(); last != minute && e.lastUse.CompareAndSwap(last, minute) {
			v.opt.OnUse(latchkey.TokenUse{TokenID: e.tokenID, At: time.Unix(0, now).UTC(), IP: addrString(ip)})
		}
	}
	return e.principal, nil
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

// load reads a token from storage, once per hash at a time, and caches the outcome unless an
// invalidation raced with the read.
func (v *Verifier) load(ctx context.Context, h [32]byte, token string, parsed tokenfmt.Parsed) (*entry, error) {
	res, err, _ := v.group.Do(string(h[:]), func() (any, error) {
		epoch := v.epoch.Load()
		var e *entry
		var err error
		if parsed.Legacy {
			e, err = v.loadLegacy(ctx, token)
		} else {
			e, err = v.loadToken(ctx, h[:])
		}
		if err != nil {
			return nil, err
		}
		if v.epoch.Load() == epoch {
			v.put(h, e)
		}
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return res.(*entry), nil
}

func (v *Verifier) put(h [32]byte, e *entry) {
	sh := &v.shards[h[0]%numShards]
	sh.mu.Lock()
	old := sh.m[h]
	sh.m[h] = e
	if e.negative && (old == nil || !old.negative) {
		if v.negatives.Add(1) > int64(v.opt.MaxNegative) {
			// Map iteration starts at a random place, so this evicts a random negative entry.
			for k, x := range sh.m {
				if x.negative && k != h {
					delete(sh.m, k)
					v.negatives.Add(-1)
					break
				}
			}
		}
	} else if old != nil && old.negative && !e.negative {
		v.negatives.Add(-1)
	}
	sh.mu.Unlock()
}

func (v *Verifier) loadToken(ctx context.Context, h []byte) (*entry, error) {
	now := v.opt.Now()
	tok, err := v.src.FindTokenByHash(ctx, h)
	if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
		return &entry{err: ErrUnknown, negative: true, until: now.Add(v.opt.NegativeTTL).UnixNano()}, nil
	}
	if err != nil {
		return nil, err
	}
	return v.entryFor(ctx, tok, now, v.opt.TTL)
}

// loadLegacy checks a legacy 40-hex token against the bcrypt hashes stored under its first
// eight characters. Success is cached for LegacyTTL under the token's SHA-256.
func (v *Verifier) loadLegacy(ctx context.Context, token string) (*entry, error) {
	now := v.opt.Now()
	v.stats.Legacy.Add(1)
	prefix := tokenfmt.LegacyPrefix(token)
	toks, _, err := v.src.FindTokens(ctx, latchkey.TokenFilter{LegacyPrefix: &prefix, Limit: latchkey.MaxLimit})
	if err != nil {
		return nil, err
	}
	for _, t := range toks {
		if bcrypt.CompareHashAndPassword([]byte(t.LegacyHash), []byte(token)) == nil {
			return v.entryFor(ctx, t, now, v.opt.LegacyTTL)
		}
	}
	return &entry{err: ErrUnknown, negative: true, until: now.Add(v.opt.NegativeTTL).UnixNano()}, nil
}

// entryFor compiles a stored token into a cache entry.
func (v *Verifier) entryFor(ctx context.Context, tok *latchkey.Token, now time.Time, ttl time.Duration) (*entry, error) {
	e := &entry{accountID: tok.AccountID, userID: tok.UserID, tokenID: tok.ID, cidrs: tok.AllowedCIDRs,
		until: now.Add(ttl).UnixNano()}
	if tok.ExpiresAt != nil {
		e.expires = tok.ExpiresAt.UnixNano()
	}
	if tok.RotatedAt != nil {
		e.grace = tok.RotatedAt.UnixNano()
		if tok.GraceUntil != nil {
			e.grace = tok.GraceUntil.UnixNano()
		}
		e.token = tok
		if e.grace <= now.UnixNano() {
			// Already past its grace: keep only what OnReuse needs.
			return e, nil
		}
		if e.grace < e.until {
			e.until = e.grace
		}
	}
	if tok.State != latchkey.StateActive {
		e.err = ErrRevoked
		return e, nil
	}
	pol, err := v.policies.get(ctx, tok.AccountID, now.UnixNano())
	if err != nil {
		return nil, err
	}
	e.policy = pol
	p := &latchkey.Principal{AccountID: tok.AccountID, TokenID: tok.ID, TokenUID: tok.UID, ExpiresAt: tok.ExpiresAt, Legacy: tok.Legacy()}
	switch tok.Kind {
	case latchkey.KindPAT:
		m, grants, err := v.src.FindMemberGrants(ctx, tok.AccountID, tok.UserID)
		if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
			e.err = ErrNotMember
			return e, nil
		}
		if err != nil {
			return nil, err
		}
		u, err := v.src.FindUserByID(ctx, tok.UserID)
		if err != nil {
			return nil, err
		}
		p.Kind, p.Method, p.UserID, p.Name, p.License = latchkey.PrincipalUser, latchkey.AuthPAT, tok.UserID, u.FullName(), m.License
		p.Permissions = catalog.Compile(m.License, grants)
	default:
		p.Kind, p.Method, p.Name = latchkey.PrincipalServiceToken, latchkey.AuthServiceToken, tok.Name
		p.Permissions = catalog.Compile("", tok.Grants)
	}
	e.principal = p
	return e, nil
}

// Invalidate drops cached outcomes a committed change affects. Stores call it through Subscribe;
// a cross-node mechanism calls it for changes made elsewhere.
func (v *Verifier) Invalidate(c latchkey.Change) {
	v.epoch.Add(1)
	if c.Kind == latchkey.ChangeAccount || c.Kind == latchkey.ChangeAll {
		v.policies.invalidate(c)
	}
	match := func(e *entry) bool {
		switch c.Kind {
		case latchkey.ChangeToken:
			return e.tokenID == c.ID
		case latchkey.ChangeUser:
			return e.userID == c.ID && (c.AccountID == 0 || e.accountID == c.AccountID)
		case latchkey.ChangeAccount:
			return e.accountID == c.AccountID
		}
		return true
	}
	for i := range v.shards {
		sh := &v.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if match(e) {
				if e.negative {
					v.negatives.Add(-1)
				}
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
