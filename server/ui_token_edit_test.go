package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey"
)

// The edit form's rate limits: what the token's page shows reads back as the same limits, and
// every malformed or invalid line is refused naming its line.
func TestParseRateLimitsText(t *testing.T) {
	limits := []latchkey.RateLimit{
		{Name: "api", Limit: 100, Duration: time.Second},
		{Name: "bulk.v2", Limit: 5000, Duration: 10 * time.Minute},
		{Name: "daily", Limit: 1, Duration: 24 * time.Hour},
		{Name: "odd", Limit: 7, Duration: 90 * time.Second},
		{Name: "week", Limit: 9, Duration: 7 * 24 * time.Hour},
	}
	text := rateLimitsText(limits)
	got, err := parseRateLimitsText(text)
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	if diff := cmp.Diff(limits, got); diff != "" {
		t.Errorf("round trip of %q (-want +got):\n%s", text, diff)
	}
	got, err = parseRateLimitsText("\n  api : 10 per 1 hour \r\n\nb: 2 per 90s\n")
	if err != nil || !cmp.Equal(got, []latchkey.RateLimit{{Name: "api", Limit: 10, Duration: time.Hour}, {Name: "b", Limit: 2, Duration: 90 * time.Second}}) {
		t.Errorf("spaces, blank lines and a Go duration: %v, %v", got, err)
	}
	if got, err := parseRateLimitsText("  \n"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("blank text = %#v, %v; want no limits (an empty, non-nil list)", got, err)
	}
	var eleven string
	for i := range 11 {
		eleven += fmt.Sprintf("l%d: 1 per second\n", i)
	}
	for _, c := range []struct{ text, want string }{
		{"api 100 per second", "line 1: write a limit"},
		{"ok: 1 per second\napi: 100/s", "line 2: write a limit"},
		{"api: many per second", "line 1: the count must be a whole number"},
		{"api: 100 per fortnight", "line 1: the window must be"},
		{"api: 100 per 0 seconds", "line 1: the window must be"},
		{"api: 100 per -5s", "line 1: duration_seconds must be at least 1"},
		{"api: 0 per second", "line 1: limit must be at least 1"},
		{"a: 1 per second\n\napi: 1 per 31 days", "line 3: duration_seconds must be at most"},
		{"api: 1 per 1500ms", "line 1: duration_seconds must be a whole number of seconds"},
		{"a: 1 per second\na: 2 per minute", "line 2: two rate limits are named"},
		{"bad name: 1 per second", "line 1: a rate limit's name may hold only"},
		{strings.Repeat("a: 1 per second\n", 300), "too long"},
		{eleven, "at most 10 rate limits"},
	} {
		_, err := parseRateLimitsText(c.text)
		le, ok := err.(*latchkey.Error)
		if !ok || le.Field != "rate_limits" || !strings.Contains(le.Message, c.want) {
			t.Errorf("%q: %v; want a rate_limits error containing %q", c.text, err, c.want)
		}
	}
}
