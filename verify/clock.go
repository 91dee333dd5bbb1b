package verify

import (
	"sync"
	"sync/atomic"
	"time"
)

// coarseTick is how often the coarse clock advances.
const coarseTick = 5 * time.Millisecond

// coarse is a process-wide clock that a cache hit reads with one atomic load: reading the
// monotonic clock costs ~20 ns, a tenth of a whole cached verification. It lags real time by at
// most coarseTick, which only delays a cache entry's expiry (a backstop behind event-driven
// invalidation) and a last-used report; token expiry and rotation grace are checked against the
// precise clock.
var coarse struct {
	once  sync.Once
	start time.Time
	ns    atomic.Int64
}

func init() { coarse.start = time.Now() }

// coarseNow returns nanoseconds since coarse.start, at most coarseTick behind.
func coarseNow() int64 {
	coarse.once.Do(func() {
		coarse.ns.Store(int64(time.Since(coarse.start)))
		go func() {
			t := time.NewTicker(coarseTick)
			for range t.C {
				coarse.ns.Store(int64(time.Since(coarse.start)))
			}
		}()
	})
	return coarse.ns.Load()
}
