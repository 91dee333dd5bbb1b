package verify

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// The RateLimit-Policy value rendered once per change of limits equals the one rendered from
// the reported states, and names are RFC 8941 strings whatever bytes they hold.
func TestRateLimitFields(t *testing.T) {
	limits := []latchkey.RateLimit{{Name: "api", Limit: 100, Duration: time.Second}, {Name: "daily.v2", Limit: 5000, Duration: 24 * time.Hour}}
	var l Limits
	for _, rl := range limits {
		l.States[l.N] = LimitState{Name: rl.Name, Limit: rl.Limit, Window: rl.Duration, Remaining: rl.Limit - 1, Reset: 1500 * time.Millisecond}
		l.N++
	}
	const policy = `"api";q=100;w=1, "daily.v2";q=5000;w=86400`
	if got := l.Policy(); got != policy {
		t.Errorf("Policy() = %s; want %s", got, policy)
	}
	if got := policyOf(limits); got != policy {
		t.Errorf("policyOf = %s; want %s", got, policy)
	}
	if got, want := string(l.AppendRateLimit(nil)), `"api";r=99;t=2, "daily.v2";r=4999;t=2`; got != want {
		t.Errorf("AppendRateLimit = %s; want %s", got, want)
	}
	if got, want := string(appendSFString(nil, "a\"b\\c\x01é")), `"a\"b\\c???"`; got != want {
		t.Errorf("appendSFString = %s; want %s", got, want)
	}
}
