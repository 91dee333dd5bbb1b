package verify

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
)

// Rate limits are counted in memory, per rotation family and per limit, in fixed windows aligned
// to the Unix epoch. A token's counters outlive its cache entries (a reload finds them by family
// id), so neither a refresh nor a change to the token resets what was already counted in the
// current window; a changed limit keeps its count when its window is unchanged; and a token and
// its rotated successor, both valid during the grace period, share one budget.

// Usage is what a verification counts against the token's rate limits.
type Usage struct {
	// Limit names the one limit to count against; "" counts against all of them. A name the token
	// has no limit under counts against nothing (the token is not limited under that name).
	Limit string
	// Cost is how many units the verification uses (0 means 1).
	Cost int64
}

// LimitState is where one of a token's limits stands after a verification.
type LimitState struct {
	Name   string
	Limit  int64
	Window time.Duration
	// Remaining is how many units are left in the current window, after this verification.
	Remaining int64
	// Reset is how long until the current window ends and Remaining returns to Limit.
	Reset time.Duration
}

// Limits reports the limits a verification was counted against (States[:N]).
type Limits struct {
	N      int
	States [latchkey.MaxRateLimits]LimitState
	// HasCredits says the token has credits; Credits is their balance after the verification
	// (as this node sees it).
	HasCredits bool
	Credits    int64
	// policy is the RateLimit-Policy value of States when they are all of the token's limits
	// (rendered once per change of the limits, not per verification); "" otherwise.
	policy string
}

// Policy renders the reported limits as an IETF RateLimit-Policy field value
// (draft-ietf-httpapi-ratelimit-headers): for each, its name, quota and window in seconds.
func (l *Limits) Policy() string {
	if l.policy != "" {
		return l.policy
	}
	var b []byte
	for i, st := range l.All() {
		b = appendField(b, i, st.Name, ";q=", st.Limit, ";w=", int64(st.Window/time.Second))
	}
	return string(b)
}

// AppendRateLimit appends the reported limits as an IETF RateLimit field value to b: for each,
// its name, what remains and the seconds until its window resets.
func (l *Limits) AppendRateLimit(b []byte) []byte {
	for i, st := range l.All() {
		b = appendField(b, i, st.Name, ";r=", st.Remaining, ";t=", int64(math.Ceil(st.Reset.Seconds())))
	}
	return b
}

// policyOf is the RateLimit-Policy value of limits.
func policyOf(limits []latchkey.RateLimit) string {
	var b []byte
	for i, l := range limits {
		b = appendField(b, i, l.Name, ";q=", l.Limit, ";w=", int64(l.Duration/time.Second))
	}
	return string(b)
}

// appendField appends the i-th member of a structured-field list: "name";a=x;c=y.
func appendField(b []byte, i int, name, a string, x int64, c string, y int64) []byte {
	if i > 0 {
		b = append(b, ", "...)
	}
	b = appendSFString(b, name)
	b = strconv.AppendInt(append(b, a...), x, 10)
	return strconv.AppendInt(append(b, c...), y, 10)
}

// appendSFString appends s as a structured-field string (RFC 8941 §3.3.3): printable ASCII in
// quotes, with '"' and '\' escaped; other bytes, which validated names never hold, become '?'.
func appendSFString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c > 0x7e:
			b = append(b, '?')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// All returns the reported states.
func (l *Limits) All() []LimitState { return l.States[:l.N] }

// rates holds one rotation family's counters.
type rates struct {
	family int64
	// dead is set when the table forgot these counters; an entry still holding them finds the
	// table's current ones.
	dead   atomic.Bool
	mu     sync.Mutex
	limits []latchkey.RateLimit
	policy string                        // policyOf(limits)
	window [latchkey.MaxRateLimits]int64 // the window index count belongs to
	count  [latchkey.MaxRateLimits]int64
	// others is what the other nodes counted in the same window, as of the last sync; synced is
	// the count that sync stored (of window synced window).
	others       [latchkey.MaxRateLimits]int64
	synced       [latchkey.MaxRateLimits]int64
	syncedWindow [latchkey.MaxRateLimits]int64
	// used is when the token was last counted (verifier clock), for sweeping.
	used int64
}

// rateTable finds a token's counters by family id. It is read when an entry is loaded, never on
// a cache hit (the entry's detail points at the counters).
type rateTable struct {
	mu sync.Mutex
	m  map[int64]*rates
}

// get returns token id's counters for limits, creating them or bringing their definitions up to
// date; a limit whose name and window are unchanged keeps its count.
func (t *rateTable) get(id int64, limits []latchkey.RateLimit, now int64) *rates {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[int64]*rates{}
	}
	r, ok := t.m[id]
	if !ok {
		r = &rates{family: id, limits: limits, policy: policyOf(limits), used: now}
		t.m[id] = r
		return r
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Equal(r.limits, limits) {
		return r
	}
	var window, count, others [latchkey.MaxRateLimits]int64
	for i, l := range limits {
		for j, o := range r.limits {
			if o.Name == l.Name && o.Duration == l.Duration {
				window[i], count[i], others[i] = r.window[j], r.count[j], r.others[j]
			}
		}
	}
	r.limits, r.window, r.count, r.others = limits, window, count, others
	r.policy = policyOf(limits)
	// The next sync stores every count again.
	r.synced, r.syncedWindow = [latchkey.MaxRateLimits]int64{}, [latchkey.MaxRateLimits]int64{}
	return r
}

// sweep forgets counters not used for longer than their longest window (and a minute): they
// count nothing in any current window, so fresh ones are the same. It returns how many it forgot.
func (t *rateTable) sweep(now int64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for id, r := range t.m {
		r.mu.Lock()
		var longest time.Duration
		for _, l := range r.limits {
			longest = max(longest, l.Duration)
		}
		idle := now-r.used > int64(longest)+int64(time.Minute)
		if idle {
			r.dead.Store(true)
			delete(t.m, id)
			n++
		}
		r.mu.Unlock()
	}
	return n
}

// take counts u against the token's limits as of wall (Unix nanoseconds) and reports them in out
// (when not nil). A verification is admitted only when every limit it counts against has room
// for its cost; then it is counted against each of them, otherwise against none.
func (r *rates) take(now, wall int64, u Usage, out *Limits) error {
	cost := u.Cost
	if cost <= 0 {
		cost = 1
	}
	r.mu.Lock()
	r.used = now
	refused := -1
	var wait int64
	for i, l := range r.limits {
		if u.Limit != "" && l.Name != u.Limit {
			continue
		}
		w := wall / int64(l.Duration)
		if r.window[i] != w {
			r.window[i], r.count[i], r.others[i] = w, 0, 0
		}
		if r.count[i]+r.others[i]+cost > l.Limit {
			if end := (w+1)*int64(l.Duration) - wall; refused < 0 || end > wait {
				refused, wait = i, end
			}
		}
	}
	if out != nil {
		out.N, out.policy = 0, ""
		if u.Limit == "" {
			out.policy = r.policy
		}
	}
	for i, l := range r.limits {
		if u.Limit != "" && l.Name != u.Limit {
			continue
		}
		if refused < 0 {
			r.count[i] += cost
		}
		if out != nil {
			out.States[out.N] = LimitState{Name: l.Name, Limit: l.Limit, Window: l.Duration,
				Remaining: max(l.Limit-r.count[i]-r.others[i], 0), Reset: time.Duration((r.window[i]+1)*int64(l.Duration) - wall)}
			out.N++
		}
	}
	var l latchkey.RateLimit
	if refused >= 0 {
		l = r.limits[refused]
	}
	r.mu.Unlock()
	if refused < 0 {
		return nil
	}
	return rateLimitedError(l, cost, time.Duration(wait))
}

// rateLimitedError is the refusal of a verification over a token's limit l.
func rateLimitedError(l latchkey.RateLimit, cost int64, wait time.Duration) error {
	secs := int64(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	msg := fmt.Sprintf("rate limit %q exceeded (%d per %s); try again in %d seconds", l.Name, l.Limit, l.Duration, secs)
	if cost > l.Limit {
		msg = fmt.Sprintf("the cost %d is more than rate limit %q allows in a window (%d per %s)", cost, l.Name, l.Limit, l.Duration)
	}
	return &latchkey.Error{Code: latchkey.ERateLimited, Message: msg,
		Data: map[string]any{"retry_after_seconds": secs, "limit": l.Name}}
}

// current returns the counters r's family counts in: r itself unless the table forgot it.
func (t *rateTable) current(r *rates, now int64) *rates {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.m[r.family]; ok {
		return cur
	}
	r.mu.Lock()
	r.used = now
	r.mu.Unlock()
	r.dead.Store(false)
	t.m[r.family] = r
	return r
}

// sweepRates forgets, once a minute, the counters not counted in within their longest window.
func (v *Verifier) sweepRates(ctx context.Context) {
	every(ctx, time.Minute, func(time.Time) { v.rates.sweep(v.now()) })
}

// syncRates shares this node's counts with the other nodes every RateSyncInterval.
func (v *Verifier) syncRates(ctx context.Context) {
	var pruned time.Time
	every(ctx, v.opt.RateSyncInterval, func(now time.Time) {
		prune := now.Sub(pruned) >= time.Minute
		if v.syncRatesOnce(ctx, prune) == nil && prune {
			pruned = now
		}
	})
}

// rateRef is one limit's window as a sync sent it.
type rateRef struct {
	r      *rates
	i      int
	limit  latchkey.RateLimit
	window int64
	count  int64 // the count sent
}

// syncRatesOnce sends this node's count of every current window it admitted requests in and
// records the other nodes' counts. With prune, windows that ended over a minute ago are
// removed from storage.
func (v *Verifier) syncRatesOnce(ctx context.Context, prune bool) error {
	wall := v.wallNow()
	v.rates.mu.Lock()
	all := make([]*rates, 0, len(v.rates.m))
	for _, r := range v.rates.m {
		all = append(all, r)
	}
	v.rates.mu.Unlock()
	var refs []rateRef
	var counts []latchkey.RateCount
	for _, r := range all {
		r.mu.Lock()
		for i, l := range r.limits {
			w := wall / int64(l.Duration)
			if r.window[i] != w {
				continue // nothing admitted here in the current window
			}
			used := r.count[i]
			if r.syncedWindow[i] == w && r.synced[i] == used {
				used = -1 // stored already: only read the others'
			}
			refs = append(refs, rateRef{r: r, i: i, limit: l, window: w, count: r.count[i]})
			counts = append(counts, latchkey.RateCount{FamilyID: r.family, Name: l.Name,
				DurationSeconds: int64(l.Duration / time.Second), Window: w, Used: used})
		}
		r.mu.Unlock()
	}
	var pruneBefore int64
	if prune {
		pruneBefore = wall/int64(time.Second) - 60
	}
	if len(counts) == 0 && pruneBefore == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, max(2*v.opt.RateSyncInterval, time.Second))
	defer cancel()
	others, err := v.opt.RateSync(ctx, counts, pruneBefore)
	if err == nil && len(others) != len(counts) {
		err = fmt.Errorf("rate sync answered %d counts for %d", len(others), len(counts))
	}
	if err != nil {
		v.rateLocalSince.CompareAndSwap(0, wall)
		return err
	}
	for k, ref := range refs {
		r := ref.r
		r.mu.Lock()
		if ref.i < len(r.limits) && r.limits[ref.i] == ref.limit && r.window[ref.i] == ref.window {
			r.others[ref.i] = others[k]
			r.synced[ref.i], r.syncedWindow[ref.i] = ref.count, ref.window
		}
		r.mu.Unlock()
	}
	v.rateLocalSince.Store(0)
	return nil
}
