package latchkey

import (
	"fmt"
	"time"
)

// Usage analytics: how often each token is verified and with what outcome, kept as counts per
// minute, hour and day (never a row per request), and the last addresses it was used from.

// Outcome is what a verification of a known token came to.
type Outcome int

// Outcomes counted in usage analytics. A token that is no longer valid for any reason other
// than its expiry (deleted, rotated out past its grace period, its user no longer a member)
// counts as revoked.
const (
	OutcomeOK Outcome = iota
	OutcomeForbidden
	OutcomeRateLimited
	OutcomeUsageExceeded
	OutcomeIPDenied
	OutcomeExpired
	OutcomeRevoked
	NumOutcomes
)

// OutcomeNames are the outcomes' names on the wire, in Outcome order.
var OutcomeNames = [NumOutcomes]string{"ok", "forbidden", "rate_limited", "usage_exceeded", "ip_denied", "expired", "revoked"}

func (o Outcome) String() string {
	if o < 0 || o >= NumOutcomes {
		return fmt.Sprintf("outcome(%d)", int(o))
	}
	return OutcomeNames[o]
}

// UsageCounts counts verifications by outcome.
type UsageCounts [NumOutcomes]int64

// Total is the sum over every outcome.
func (c *UsageCounts) Total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// Add adds o's counts to c.
func (c *UsageCounts) Add(o *UsageCounts) {
	for i, v := range o {
		c[i] += v
	}
}

// UsageRecord is a token's verifications in the minute starting at Minute.
type UsageRecord struct {
	TokenID   int64
	AccountID int64
	Minute    time.Time
	Counts    UsageCounts
}

// AddressSeen is a client address a token was verified from, when first and last.
type AddressSeen struct {
	TokenID   int64
	Address   string
	FirstSeen time.Time
	LastSeen  time.Time
}

// MaxTokenAddresses is how many distinct addresses are kept per token: the most recently seen.
const MaxTokenAddresses = 5

// Usage granularities: each is stored separately, each with its own retention.
const (
	UsageMinute = time.Minute
	UsageHour   = time.Hour
	UsageDay    = 24 * time.Hour
)

// UsageGranularities lists them, finest first.
var UsageGranularities = []time.Duration{UsageMinute, UsageHour, UsageDay}

// UsageBucket is the verifications counted in the bucket starting at Start.
type UsageBucket struct {
	Start  time.Time
	Counts UsageCounts
}

// UsageFilter selects buckets of one granularity in [From, To): an account's, or one token's
// when TokenID is not 0.
type UsageFilter struct {
	AccountID   int64
	TokenID     int64
	Granularity time.Duration
	From, To    time.Time
}

// TokenUsage is one token's verifications over a period.
type TokenUsage struct {
	TokenID int64
	Counts  UsageCounts
}
