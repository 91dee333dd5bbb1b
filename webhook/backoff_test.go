package webhook

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	want := []time.Duration{ // the upper bound d for n = 1..20; each delay is in [d/2, d]
		5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 320 * time.Second, 640 * time.Second, 1280 * time.Second, 2560 * time.Second,
		5120 * time.Second, 10240 * time.Second, 20480 * time.Second, 6 * time.Hour, 6 * time.Hour,
		6 * time.Hour, 6 * time.Hour, 6 * time.Hour, 6 * time.Hour, 6 * time.Hour,
	}
	for i, d := range want {
		n := i + 1
		lo, hi := d, time.Duration(0)
		for range 2000 {
			got := Backoff(n)
			if got < d/2 || got > d {
				t.Fatalf("Backoff(%d) = %v, want in [%v, %v]", n, got, d/2, d)
			}
			lo, hi = min(lo, got), max(hi, got)
		}
		// Jitter spreads retries: 2000 draws cover most of the range.
		if spread := hi - lo; spread < d/4 {
			t.Errorf("Backoff(%d) drew only from [%v, %v], want jitter across [%v, %v]", n, lo, hi, d/2, d)
		}
	}
	for _, n := range []int{0, -1, 100, 1 << 40} {
		d := 5 * time.Second
		if n > 1 {
			d = 6 * time.Hour
		}
		if got := Backoff(n); got < d/2 || got > d {
			t.Errorf("Backoff(%d) = %v, want in [%v, %v]", n, got, d/2, d)
		}
	}
	// Retrying for the whole window takes a bounded number of attempts.
	total, attempts := time.Duration(0), 0
	for total < RetryWindow {
		attempts++
		total += Backoff(attempts)
	}
	if attempts > 40 {
		t.Errorf("attempts within RetryWindow = %d, want at most 40", attempts)
	}
}
