package webhook

import (
	"math/rand/v2"
	"time"
)

// RetryWindow is how long a delivery is retried after its first attempt; the dispatcher gives
// up on it after that.
const RetryWindow = 72 * time.Hour

const (
	backoffFirst = 5 * time.Second
	backoffMax   = 6 * time.Hour
)

// Backoff returns the delay before attempt n+1 after n failed attempts: 5 s after the first,
// doubling each time up to 6 h, each delay drawn uniformly from [d/2, d] so that deliveries
// failing together (a receiver's outage) do not all come back at once. n below 1 counts as 1.
func Backoff(n int) time.Duration {
	d := backoffMax
	if n < 1 {
		n = 1
	}
	if n <= 16 { // the cap is reached at n = 14; far beyond it the shift would overflow
		d = min(backoffFirst<<(n-1), backoffMax)
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
