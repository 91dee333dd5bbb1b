package server

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := newLimiter(3, 10*time.Second, 1000)
	t0 := time.Unix(1_700_000_000, 0)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i := range 3 {
		if d := l.wait(a, t0); d != 0 {
			t.Fatalf("wait(a) before failure %d = %v, want 0", i+1, d)
		}
		l.fail(a, t0)
	}
	if d := l.wait(a, t0); d != 10*time.Second {
		t.Errorf("wait(a) after 3 failures = %v, want 10s", d)
	}
	if d := l.wait(b, t0); d != 0 {
		t.Errorf("wait(b) = %v, want 0: another address is not slowed", d)
	}
	if d := l.wait(a, t0.Add(4*time.Second)); d != 6*time.Second {
		t.Errorf("wait(a) 4s later = %v, want 6s", d)
	}
	if d := l.wait(a, t0.Add(10*time.Second)); d != 0 {
		t.Errorf("wait(a) 10s later = %v, want 0 (one attempt regained)", d)
	}
	l.fail(a, t0.Add(10*time.Second))
	if d := l.wait(a, t0.Add(10*time.Second)); d == 0 {
		t.Errorf("wait(a) after failing its regained attempt = 0, want > 0")
	}
	if l.len() != 1 {
		t.Errorf("len = %d, want 1", l.len())
	}
	l.sweep(t0.Add(time.Minute))
	if l.len() != 0 {
		t.Errorf("len after the bucket refilled and a sweep = %d, want 0", l.len())
	}
}

func TestLimiterKeys(t *testing.T) {
	l := newLimiter(1, time.Hour, 1000)
	now := time.Now()
	l.fail(netip.MustParseAddr("2001:db8:1:2::1"), now)
	if d := l.wait(netip.MustParseAddr("2001:db8:1:2:ffff::9"), now); d == 0 {
		t.Errorf("wait(same /64) = 0, want limited: IPv6 clients are keyed by /64")
	}
	if d := l.wait(netip.MustParseAddr("2001:db8:1:3::1"), now); d != 0 {
		t.Errorf("wait(other /64) = %v, want 0", d)
	}
	l.fail(netip.MustParseAddr("::ffff:198.51.100.7"), now)
	if d := l.wait(netip.MustParseAddr("198.51.100.7"), now); d == 0 {
		t.Errorf("wait(IPv4) after a failure from its IPv4-mapped form = 0, want limited")
	}
	l.fail(netip.Addr{}, now)
	if d := l.wait(netip.Addr{}, now); d != 0 {
		t.Errorf("wait(unknown address) = %v, want 0: unknown addresses are not limited", d)
	}
}

func TestLimiterBounded(t *testing.T) {
	const max = 160
	l := newLimiter(1, time.Hour, max)
	now := time.Now()
	for i := range 5000 {
		l.fail(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
	}
	if n := l.len(); n > max+limiterShards {
		t.Errorf("len after 5000 failing addresses = %d, want at most %d", n, max+limiterShards)
	}
}
