package verify

import (
	"context"
	"time"
)

// coarseTick is how often the coarse clock advances.
const coarseTick = 5 * time.Millisecond

// The coarse clock is a verifier's clock that a cache hit reads with one atomic load: reading
// the monotonic clock costs ~20 ns, a tenth of a whole cached verification. Run keeps it
// current, at most coarseTick behind, which only delays a cache entry's expiry (a backstop behind
// event-driven invalidation) and a last-used report; token expiry and rotation grace are checked
// against the precise clock. Without Run, the precise clock is read instead.

// runClock advances v's coarse clock until ctx is done.
func (v *Verifier) runClock(ctx context.Context) {
	v.coarse.Store(v.now())
	v.coarseLive.Store(true)
	defer v.coarseLive.Store(false)
	t := time.NewTicker(coarseTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := v.now()
			v.coarse.Store(now)
			if v.fake == nil {
				v.wallOffset.Store(time.Now().UnixNano() - now)
			}
		}
	}
}

// every calls fn with the time every d until ctx is done.
func every(ctx context.Context, d time.Duration, fn func(now time.Time)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			fn(now)
		}
	}
}
