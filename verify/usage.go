package verify

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
)

// Usage counting (Options.CountUsage): every verification of a known token is counted by
// outcome in the token's counters, which a cache entry points at, so a hit pays for an atomic
// add and no lookup. TakeUsage hands what was counted to the caller, who stores it in batches.

// usageCounter counts one token's verifications since the last TakeUsage.
type usageCounter struct {
	token, account int64
	// dead is set when the table forgot the counter; an entry still holding it finds the
	// table's current one.
	dead   atomic.Bool
	counts [latchkey.NumOutcomes]atomic.Int64
	// unok counts verifications counted ok that the caller then refused (CountForbidden).
	unok atomic.Int64
	// lastAddr is the fingerprint of the address last noted (0: none since the last take): a
	// verification from the same address as the one before costs one load.
	lastAddr atomic.Uint64
	mu       sync.Mutex
	addrs    []addrSeen // distinct addresses since the last take, at most MaxTokenAddresses
	// carry is an ok count that came out negative in a take (a refusal counted after the
	// verification it refused was taken), subtracted from the next.
	carry int64
	// idle counts takes in a row that found nothing.
	idle int
}

type addrSeen struct {
	addr        netip.Addr
	first, last int64 // wall clock, Unix nanoseconds
}

// usageTable finds a token's counters by token id when an entry is loaded.
type usageTable struct {
	mu sync.Mutex
	m  map[int64]*usageCounter
}

func (t *usageTable) get(token, account int64) *usageCounter {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[int64]*usageCounter{}
	}
	c, ok := t.m[token]
	if !ok {
		c = &usageCounter{token: token, account: account}
		t.m[token] = c
	}
	return c
}

// current returns the counter c's token counts in: c itself unless the table forgot it.
func (t *usageTable) current(c *usageCounter) *usageCounter {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[int64]*usageCounter{}
	}
	if cur, ok := t.m[c.token]; ok {
		// A count that raced with forgetting c moves over.
		for i := range c.counts {
			if n := c.counts[i].Swap(0); n != 0 {
				cur.counts[i].Add(n)
			}
		}
		return cur
	}
	c.dead.Store(false)
	c.idle = 0
	t.m[c.token] = c
	return c
}

// addrKey fingerprints an address: exact for IPv4, a mix of the 128 bits for IPv6; never 0.
func addrKey(ip netip.Addr) uint64 {
	b := ip.As16()
	k := binary.BigEndian.Uint64(b[8:]) ^ binary.BigEndian.Uint64(b[:8])*0x9E3779B97F4A7C15
	if k == 0 {
		k = 1
	}
	return k
}

// count adds one verification with outcome o from ip. It is small enough to be inlined on the
// hit path; a new address takes noteAddr's lock.
func (v *Verifier) count(c *usageCounter, o latchkey.Outcome, ip netip.Addr) {
	if c.dead.Load() {
		c = v.usage.current(c)
	}
	c.counts[o].Add(1)
	if ip.IsValid() {
		if k := addrKey(ip); c.lastAddr.Load() != k {
			c.noteAddr(ip.Unmap(), k, v.wallNow())
		}
	}
}

// noteAddr records an address seen since the last take: a new one is added, replacing the one
// seen least recently once there are MaxTokenAddresses.
func (c *usageCounter) noteAddr(ip netip.Addr, k uint64, wall int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastAddr.Store(k)
	oldest := -1
	for i := range c.addrs {
		if c.addrs[i].addr == ip {
			c.addrs[i].last = wall
			return
		}
		if oldest < 0 || c.addrs[i].last < c.addrs[oldest].last {
			oldest = i
		}
	}
	if len(c.addrs) < latchkey.MaxTokenAddresses {
		c.addrs = append(c.addrs, addrSeen{addr: ip, first: wall, last: wall})
		return
	}
	c.addrs[oldest] = addrSeen{addr: ip, first: wall, last: wall}
}

// outcomeOf maps a refusal to the outcome it counts as; ok is false for refusals that are not
// about a known token's use (storage failures, unknown tokens).
func outcomeOf(err error) (latchkey.Outcome, bool) {
	switch {
	case errors.Is(err, ErrExpired):
		return latchkey.OutcomeExpired, true
	case errors.Is(err, ErrRevoked), errors.Is(err, ErrRotatedOut), errors.Is(err, ErrNotMember):
		return latchkey.OutcomeRevoked, true
	case errors.Is(err, ErrIPDenied):
		return latchkey.OutcomeIPDenied, true
	}
	switch Reason(err) {
	case "rate_limited":
		return latchkey.OutcomeRateLimited, true
	case "usage_exceeded":
		return latchkey.OutcomeUsageExceeded, true
	}
	return 0, false
}

// countRefusal counts a refused verification of a cached token.
func (v *Verifier) countRefusal(d *detail, err error, ip netip.Addr) {
	if d == nil || d.usage == nil {
		return
	}
	if o, ok := outcomeOf(err); ok {
		v.count(d.usage, o, ip)
	}
}

// CountForbidden moves a verification of p's token, counted ok, to forbidden: the caller
// refused the request for want of a permission. Without CountUsage it does nothing.
func (v *Verifier) CountForbidden(p *latchkey.Principal) {
	if !v.opt.CountUsage || p == nil || p.TokenID == 0 {
		return
	}
	v.usage.mu.Lock()
	c := v.usage.m[p.TokenID]
	v.usage.mu.Unlock()
	if c != nil {
		c.unok.Add(1)
		c.counts[latchkey.OutcomeForbidden].Add(1)
	}
}

// UsageDelta is what was counted of one token since the previous TakeUsage.
type UsageDelta struct {
	TokenID, AccountID int64
	Counts             latchkey.UsageCounts
	// Addresses are the distinct client addresses seen (at most MaxTokenAddresses).
	Addresses []latchkey.AddressSeen
}

// usageIdleTakes is how many empty takes in a row make the table forget a token's counters.
const usageIdleTakes = 10

// TakeUsage returns what was counted since the last call and starts counting afresh; tokens
// with nothing counted are left out. Call it regularly (every second or so): counters of tokens
// idle for a few calls are forgotten, and addresses are fingerprinted per call.
func (v *Verifier) TakeUsage() []UsageDelta {
	v.usage.mu.Lock()
	defer v.usage.mu.Unlock()
	var out []UsageDelta
	for id, c := range v.usage.m {
		d := UsageDelta{TokenID: c.token, AccountID: c.account}
		for i := range c.counts {
			d.Counts[i] = c.counts[i].Swap(0)
		}
		ok := d.Counts[latchkey.OutcomeOK] - c.unok.Swap(0) - c.carry
		c.carry = 0
		if ok < 0 {
			c.carry, ok = -ok, 0
		}
		d.Counts[latchkey.OutcomeOK] = ok
		c.mu.Lock()
		for _, a := range c.addrs {
			d.Addresses = append(d.Addresses, latchkey.AddressSeen{TokenID: c.token, Address: a.addr.String(),
				FirstSeen: time.Unix(0, a.first).UTC(), LastSeen: time.Unix(0, a.last).UTC()})
		}
		c.addrs = c.addrs[:0]
		c.lastAddr.Store(0)
		c.mu.Unlock()
		if d.Counts.Total() == 0 && len(d.Addresses) == 0 {
			if c.idle++; c.idle >= usageIdleTakes && c.carry == 0 {
				c.dead.Store(true)
				delete(v.usage.m, id)
			}
			continue
		}
		c.idle = 0
		out = append(out, d)
	}
	return out
}
