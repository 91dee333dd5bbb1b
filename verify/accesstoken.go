package verify

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/accesstoken"
	"github.com/latchkey/latchkey/catalog"
	"github.com/latchkey/latchkey/tokenfmt"
)

// Access tokens are short-lived JWTs a latchkey token was exchanged for (the token endpoint).
// Verifying one checks its signature once, on a miss; after that a hit costs a hash of its
// signature, a compare of the rest, and the verification of its parent token from the cache,
// so that every rule of the parent applies to it (revocation, expiry, addresses, rate limits,
// credits) as fast as it does to the parent, and revoking the parent stops it at once. Its
// permissions are the parent's, narrowed to the grants it carries, recomputed whenever the
// parent's change.

// AccessTokens configures verification of access tokens.
type AccessTokens struct {
	// Issuer and Audience are the iss and aud an access token must carry.
	Issuer, Audience string
	// Key returns the public key of a kid. It is called on misses only and may refresh the key
	// set (rate-limited by the caller).
	Key accesstoken.KeyFunc
}

// AuthAccessToken is the method of a principal authenticated with an access token.
const AuthAccessToken = latchkey.AuthAccessToken

// ErrInvalidAccessToken is the refusal of an access token whose signature, key, issuer,
// audience or times do not hold (the accesstoken errors say which).
var ErrInvalidAccessToken = errors.New("invalid access token")

const (
	accessShards = 16
	// maxAccessEntries bounds the cached access tokens; a full cache forgets one at random.
	maxAccessEntries = 50_000
)

type accessShard struct {
	mu sync.RWMutex
	m  map[string]*accessEntry
}

// accessEntry is a verified access token, keyed by its signature. input is the rest of the
// token (header and claims): a hit compares it, so that a cached signature with other claims is
// no hit. Unlike opaque tokens, whose cache holds only hashes, access tokens are held whole
// while they are cached (until they expire, minutes later): hashing the signature cost more
// than the rest of a hit, and a process whose memory is read has lost its signing keys anyway.
type accessEntry struct {
	input      string
	accountID  int64
	parentHash [32]byte
	grants     []latchkey.Grant // nil: not narrowed
	exp        int64            // wall clock, Unix nanoseconds, leeway included
	// derived is the token's principal, computed from the parent's principal it holds. The
	// entry itself is never replaced in the map (a map update would keep the caller's string as
	// the key, and with it the request that carried it).
	derived atomic.Pointer[derivedPrincipal]
}

// derivedPrincipal is an access token's principal and the parent principal it came from.
type derivedPrincipal struct {
	principal, parent *latchkey.Principal
}

func (v *Verifier) verifyAccessToken(ctx context.Context, token string, ip netip.Addr, account int64, u Usage, out *Limits) (*latchkey.Principal, error) {
	dot := strings.LastIndexByte(token, '.')
	if len(token) > accesstoken.MaxLen || dot < 0 {
		v.stats.Rejected.Add(1)
		return nil, accesstoken.ErrMalformed
	}
	input, sig := token[:dot], token[dot+1:]
	sh := v.accessShard(sig)
	sh.mu.RLock()
	e := sh.m[sig]
	sh.mu.RUnlock()
	if e == nil || e.input != input {
		var err error
		if e, err = v.loadAccessToken(ctx, token, input, sig); err != nil {
			v.stats.Rejected.Add(1)
			return nil, err
		}
	}
	if account != 0 && e.accountID != account {
		return nil, ErrUnknown // as for an opaque token of another account
	}
	if v.wallOffset.Load()+v.roughNow() >= e.exp {
		return nil, ErrExpired
	}
	p, err := v.verifyHash(ctx, e.parentHash, "", tokenfmt.Parsed{}, ip, account, u, out)
	if err != nil {
		if errors.Is(err, ErrUnknown) {
			return nil, ErrRevoked // the parent is gone
		}
		return nil, err
	}
	d := e.derived.Load()
	if d == nil || d.parent != p {
		d = derive(e, p)
		e.derived.Store(d)
	}
	return d.principal, nil
}

// loadAccessToken checks an access token met for the first time (or again after it was
// forgotten) and caches it.
func (v *Verifier) loadAccessToken(ctx context.Context, token, input, sig string) (*accessEntry, error) {
	at := v.opt.AccessTokens
	c, err := accesstoken.Parse(token, at.Key, at.Issuer, at.Audience, time.Unix(0, v.wallNow()))
	switch {
	case errors.Is(err, accesstoken.ErrExpired):
		return nil, ErrExpired
	case errors.Is(err, accesstoken.ErrMalformed):
		return nil, err
	case err != nil:
		return nil, errors.Join(ErrInvalidAccessToken, err)
	}
	e := &accessEntry{input: strings.Clone(input), accountID: c.AccountID, exp: c.Expiry.Time().Add(accesstoken.Leeway).UnixNano()}
	if c.Grants != nil {
		if len(c.Grants) > accesstoken.MaxGrants {
			return nil, accesstoken.ErrMalformed
		}
		e.grants = []latchkey.Grant{}
		for _, s := range c.Grants {
			g, ok := accesstoken.ParseGrant(s)
			if !ok {
				return nil, accesstoken.ErrMalformed
			}
			e.grants = append(e.grants, g)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
	defer cancel()
	id := c.TokenID
	toks, _, err := v.src.FindTokens(ctx, latchkey.TokenFilter{ID: &id})
	if err != nil {
		return nil, err
	}
	if len(toks) != 1 || toks[0].AccountID != c.AccountID || toks[0].UID != c.ClientID || len(toks[0].Hash) != 32 {
		return nil, ErrRevoked // the token it was exchanged for is gone
	}
	if c.PolicyID != 0 {
		// Obtained under a trust policy: only while the policy stands (a change of the policy
		// changes its account, which forgets the account's access tokens: see invalidateAccess).
		tp, err := v.src.FindTrustPolicyByID(ctx, c.PolicyID)
		if latchkey.SystemError(err) {
			return nil, err
		}
		if err != nil || tp.State != latchkey.StateActive || tp.AccountID != c.AccountID || tp.FamilyID != toks[0].FamilyID {
			return nil, ErrRevoked
		}
	}
	e.parentHash = [32]byte(toks[0].Hash)
	sh := v.accessShard(sig)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = map[string]*accessEntry{}
	}
	if len(sh.m) >= maxAccessEntries/accessShards {
		for k := range sh.m {
			delete(sh.m, k)
			break
		}
	}
	sh.m[strings.Clone(sig)] = e
	sh.mu.Unlock()
	return e, nil
}

// derive computes e's principal from its parent's principal p: p's identity and permissions,
// narrowed to e's grants (only those p still holds), expiring with the token.
func derive(e *accessEntry, p *latchkey.Principal) *derivedPrincipal {
	np := *p
	np.Method = AuthAccessToken
	if exp := time.Unix(0, e.exp-int64(accesstoken.Leeway)).UTC(); p.ExpiresAt == nil || exp.Before(*p.ExpiresAt) {
		np.ExpiresAt = &exp
	}
	if e.grants != nil {
		np.Grants = Narrow(p, e.grants)
		np.Permissions = catalog.Compile("", np.Grants)
	}
	return &derivedPrincipal{principal: np.Seal(), parent: p}
}

// Narrow keeps the grants p holds all of (catalog.Gap finds nothing p lacks). A grant is
// compiled on its own, without p's license: a license with fixed permissions (it, read_only)
// would otherwise ignore the grant and make every one look held.
func Narrow(p *latchkey.Principal, grants []latchkey.Grant) []latchkey.Grant {
	keep := []latchkey.Grant{}
	for _, g := range grants {
		if _, gap := catalog.Gap(p.Permissions, catalog.Compile("", []latchkey.Grant{g})); !gap {
			keep = append(keep, g)
		}
	}
	return keep
}

// sweepAccess forgets the access tokens past their expiry.
func (v *Verifier) sweepAccess() int {
	wall := v.wallNow()
	n := 0
	for i := range v.access {
		sh := &v.access[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if wall >= e.exp {
				delete(sh.m, k)
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n
}

// accessCached reports whether the access token is cached (its signature checked) and its
// parent too.
func (v *Verifier) accessCached(token string) bool {
	dot := strings.LastIndexByte(token, '.')
	if len(token) > accesstoken.MaxLen || dot < 0 {
		return true // refused without storage
	}
	sig := token[dot+1:]
	sh := v.accessShard(sig)
	sh.mu.RLock()
	e := sh.m[sig]
	sh.mu.RUnlock()
	if e == nil || e.input != token[:dot] {
		return false
	}
	ps := &v.shards[e.parentHash[0]%numShards]
	ps.mu.RLock()
	sl, ok := ps.m[keyOf(&e.parentHash)]
	ps.mu.RUnlock()
	return ok && v.roughNow() < sl.until
}

// accessShard is the shard of a signature.
func (v *Verifier) accessShard(sig string) *accessShard {
	var b byte
	if len(sig) > 0 {
		b = sig[len(sig)/2]
	}
	return &v.access[b%accessShards]
}

// invalidateAccess forgets the cached access tokens of c's account (every one for ChangeAll), so
// that their next use checks their trust policy again.
func (v *Verifier) invalidateAccess(c latchkey.Change) {
	for i := range v.access {
		sh := &v.access[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if c.Kind == latchkey.ChangeAll || e.accountID == c.AccountID {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// VerifyStored verifies the token whose SHA-256 is hash, as read from storage (not a string a
// client sent): every rule of Verify applies. The token endpoint uses it for the service token a
// trust policy acts as.
func (v *Verifier) VerifyStored(ctx context.Context, hash []byte, ip netip.Addr) (*latchkey.Principal, error) {
	if len(hash) != 32 {
		return nil, ErrUnknown
	}
	return v.verifyHash(ctx, [32]byte(hash), "", tokenfmt.Parsed{}, ip, 0, Usage{}, nil)
}

// Narrowed returns p with only the grants of grants it holds (see Narrow), recorded in Grants.
func Narrowed(p *latchkey.Principal, grants []latchkey.Grant) *latchkey.Principal {
	np := *p
	np.Grants = Narrow(p, grants)
	np.Permissions = catalog.Compile("", np.Grants)
	return np.Seal()
}
