package latchkey

import (
	"encoding/json"
	"fmt"
	"time"
)

// RateLimit is a named limit on how often a token may be verified: at most Limit verifications
// (or units of cost) in each window of Duration. Windows are fixed and aligned to the Unix epoch
// (a 60 s window starts on each whole minute), so every node, and the reset a client is told,
// agree on where a window ends.
type RateLimit struct {
	Name     string
	Limit    int64
	Duration time.Duration
}

// RateCount is one node's count of one window of a rate limit: the units it admitted in window
// number Window (Unix time / DurationSeconds) of limit Name of a rotation family.
type RateCount struct {
	FamilyID        int64
	Name            string
	DurationSeconds int64
	Window          int64
	Used            int64
}

// Bounds of a token's rate limits.
const (
	// MaxRateLimits is how many limits one token (or an account default) may have.
	MaxRateLimits = 10
	// MaxRateLimitWindow is the longest window.
	MaxRateLimitWindow = 30 * 24 * time.Hour
	// MaxRateLimitName is the longest name, in bytes.
	MaxRateLimitName = 64
	// MaxRateLimitCount is the largest limit: far beyond any real rate, small enough that sums of
	// costs never overflow.
	MaxRateLimitCount = 1 << 40
)

// rateLimitJSON is how rate limits are written on the wire and in storage.
type rateLimitJSON struct {
	Name            string `json:"name"`
	Limit           int64  `json:"limit"`
	DurationSeconds int64  `json:"duration_seconds"`
}

// ValidateRateLimits checks a list of limits as given for field (e.g. "rate_limits"): each has a
// name of letters, digits, '.', '_' or '-' unique in the list, a limit of at least 1 and a window
// of whole seconds from 1 s to 30 days; at most MaxRateLimits of them.
func ValidateRateLimits(field string, ls []RateLimit) error {
	if len(ls) > MaxRateLimits {
		return FieldError(field, "at most %d rate limits are allowed per token", MaxRateLimits)
	}
	seen := map[string]bool{}
	for i, l := range ls {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case l.Name == "":
			return FieldError(f+".name", "a rate limit needs a name")
		case len(l.Name) > MaxRateLimitName:
			return FieldError(f+".name", "a rate limit's name is at most %d characters", MaxRateLimitName)
		case !rateLimitName(l.Name):
			return FieldError(f+".name", "a rate limit's name may hold only letters, digits, '.', '_' and '-'")
		case seen[l.Name]:
			return FieldError(f+".name", "two rate limits are named %q", l.Name)
		case l.Limit <= 0:
			return FieldError(f+".limit", "limit must be at least 1")
		case l.Limit > MaxRateLimitCount:
			return FieldError(f+".limit", "limit must be at most %d", int64(MaxRateLimitCount))
		case l.Duration <= 0:
			return FieldError(f+".duration_seconds", "duration_seconds must be at least 1")
		case l.Duration > MaxRateLimitWindow:
			return FieldError(f+".duration_seconds", "duration_seconds must be at most %d (30 days)", int64(MaxRateLimitWindow/time.Second))
		case l.Duration%time.Second != 0:
			return FieldError(f+".duration_seconds", "duration_seconds must be a whole number of seconds")
		}
		seen[l.Name] = true
	}
	return nil
}

func rateLimitName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// MarshalRateLimits encodes limits as stored: a JSON array, or "" for none.
func MarshalRateLimits(ls []RateLimit) string {
	if len(ls) == 0 {
		return ""
	}
	out := make([]rateLimitJSON, len(ls))
	for i, l := range ls {
		out[i] = rateLimitJSON{Name: l.Name, Limit: l.Limit, DurationSeconds: int64(l.Duration / time.Second)}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// UnmarshalRateLimits decodes what MarshalRateLimits stored.
func UnmarshalRateLimits(s string) ([]RateLimit, error) {
	if s == "" {
		return nil, nil
	}
	var in []rateLimitJSON
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("decode rate limits: %w", err)
	}
	out := make([]RateLimit, len(in))
	for i, l := range in {
		if l.DurationSeconds <= 0 || l.DurationSeconds > int64(MaxRateLimitWindow/time.Second) {
			return nil, fmt.Errorf("decode rate limits: %q has a window of %d seconds", l.Name, l.DurationSeconds)
		}
		out[i] = RateLimit{Name: l.Name, Limit: l.Limit, Duration: time.Duration(l.DurationSeconds) * time.Second}
	}
	// What was stored passed this check; a hand edit that did not is refused, not obeyed.
	if err := ValidateRateLimits("rate_limits", out); err != nil {
		return nil, fmt.Errorf("decode rate limits: %s", ErrorMessage(err))
	}
	return out, nil
}
