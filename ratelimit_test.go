package latchkey

import (
	"strings"
	"testing"
	"time"
)

func TestValidateRateLimits(t *testing.T) {
	ok := RateLimit{Name: "api", Limit: 100, Duration: time.Second}
	eleven := make([]RateLimit, MaxRateLimits+1)
	for i := range eleven {
		eleven[i] = RateLimit{Name: strings.Repeat("x", i+1), Limit: 1, Duration: time.Second}
	}
	tests := []struct {
		name  string
		in    []RateLimit
		field string // "" when valid
	}{
		{"none", nil, ""},
		{"one", []RateLimit{ok}, ""},
		{"thirty days", []RateLimit{{Name: "month", Limit: 1, Duration: MaxRateLimitWindow}}, ""},
		{"ten", eleven[:MaxRateLimits], ""},
		{"eleven", eleven, "rate_limits"},
		{"zero limit", []RateLimit{{Name: "a", Limit: 0, Duration: time.Second}}, "rate_limits[0].limit"},
		{"negative limit", []RateLimit{ok, {Name: "a", Limit: -5, Duration: time.Second}}, "rate_limits[1].limit"},
		{"huge limit", []RateLimit{{Name: "a", Limit: MaxRateLimitCount + 1, Duration: time.Second}}, "rate_limits[0].limit"},
		{"zero window", []RateLimit{{Name: "a", Limit: 1}}, "rate_limits[0].duration_seconds"},
		{"window over 30 days", []RateLimit{{Name: "a", Limit: 1, Duration: MaxRateLimitWindow + time.Second}}, "rate_limits[0].duration_seconds"},
		{"fractional window", []RateLimit{{Name: "a", Limit: 1, Duration: 1500 * time.Millisecond}}, "rate_limits[0].duration_seconds"},
		{"no name", []RateLimit{{Limit: 1, Duration: time.Second}}, "rate_limits[0].name"},
		{"long name", []RateLimit{{Name: strings.Repeat("n", MaxRateLimitName+1), Limit: 1, Duration: time.Second}}, "rate_limits[0].name"},
		{"name with a space", []RateLimit{{Name: "my api", Limit: 1, Duration: time.Second}}, "rate_limits[0].name"},
		{"name with a quote", []RateLimit{{Name: `a"b`, Limit: 1, Duration: time.Second}}, "rate_limits[0].name"},
		{"duplicate name", []RateLimit{ok, ok}, "rate_limits[1].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateRateLimits("rate_limits", tt.in)
			if tt.field == "" {
				if err != nil {
					t.Errorf("ValidateRateLimits(%v) = %v, want nil", tt.in, err)
				}
				return
			}
			le, isErr := err.(*Error)
			if !isErr || le.Code != EInvalid || le.Field != tt.field {
				t.Errorf("ValidateRateLimits(%v) = %#v, want an invalid error naming %s", tt.in, err, tt.field)
			}
		})
	}
}

func TestRateLimitsRoundTrip(t *testing.T) {
	in := []RateLimit{{Name: "api", Limit: 100, Duration: time.Second}, {Name: "daily", Limit: 5000, Duration: 24 * time.Hour}}
	s := MarshalRateLimits(in)
	if want := `[{"name":"api","limit":100,"duration_seconds":1},{"name":"daily","limit":5000,"duration_seconds":86400}]`; s != want {
		t.Errorf("MarshalRateLimits = %s, want %s", s, want)
	}
	out, err := UnmarshalRateLimits(s)
	if err != nil || len(out) != 2 || out[0] != in[0] || out[1] != in[1] {
		t.Errorf("UnmarshalRateLimits(%s) = %v, %v; want %v", s, out, err, in)
	}
	if MarshalRateLimits(nil) != "" {
		t.Error("no limits are not stored as the empty string")
	}
	if out, err := UnmarshalRateLimits(""); out != nil || err != nil {
		t.Errorf(`UnmarshalRateLimits("") = %v, %v`, out, err)
	}
}

// FuzzUnmarshalRateLimits: whatever is stored, decoding never panics, and what it accepts is
// valid and encodes back to an equivalent value.
func FuzzUnmarshalRateLimits(f *testing.F) {
	f.Add(`[{"name":"api","limit":100,"duration_seconds":1}]`)
	f.Add(`[{"name":"a","limit":1,"duration_seconds":0}]`)
	f.Add(`[{"name":"","limit":-1,"duration_seconds":99999999999999}]`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, s string) {
		ls, err := UnmarshalRateLimits(s)
		if err != nil {
			return
		}
		if err := ValidateRateLimits("rate_limits", ls); err != nil {
			t.Fatalf("UnmarshalRateLimits(%q) accepted invalid limits: %v", s, err)
		}
		again, err := UnmarshalRateLimits(MarshalRateLimits(ls))
		if err != nil || len(again) != len(ls) {
			t.Fatalf("round trip of %v: %v, %v", ls, again, err)
		}
		for i := range ls {
			if again[i] != ls[i] {
				t.Fatalf("round trip of %v gave %v", ls, again)
			}
		}
	})
}
