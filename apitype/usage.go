package apitype

import "github.com/latchkey/latchkey"

// UsageCounts are verifications by outcome, and their total.
type UsageCounts struct {
	OK            int64 `json:"ok"`
	Forbidden     int64 `json:"forbidden"`
	RateLimited   int64 `json:"rate_limited"`
	UsageExceeded int64 `json:"usage_exceeded"`
	IPDenied      int64 `json:"ip_denied"`
	Expired       int64 `json:"expired"`
	Revoked       int64 `json:"revoked"`
	Total         int64 `json:"total"`
}

// UsageCountsOf renders counts.
func UsageCountsOf(c latchkey.UsageCounts) UsageCounts {
	return UsageCounts{OK: c[latchkey.OutcomeOK], Forbidden: c[latchkey.OutcomeForbidden], RateLimited: c[latchkey.OutcomeRateLimited],
		UsageExceeded: c[latchkey.OutcomeUsageExceeded], IPDenied: c[latchkey.OutcomeIPDenied], Expired: c[latchkey.OutcomeExpired],
		Revoked: c[latchkey.OutcomeRevoked], Total: c.Total()}
}

// UsageBucket is the verifications in the bucket starting at Start.
type UsageBucket struct {
	Start string `json:"start"`
	UsageCounts
}

// UsageBucketsOf renders buckets.
func UsageBucketsOf(bs []latchkey.UsageBucket) []UsageBucket {
	out := make([]UsageBucket, len(bs))
	for i, b := range bs {
		out[i] = UsageBucket{Start: Time(b.Start), UsageCounts: UsageCountsOf(b.Counts)}
	}
	return out
}

// TokenAddress is a client address a token was used from.
type TokenAddress struct {
	Address   string `json:"address"`
	FirstSeen string `json:"first_seen"`
	LastSeen  string `json:"last_seen"`
}

// TokenUsage is GET …/service-tokens/{id}/usage/.
type TokenUsage struct {
	TokenID     int64          `json:"token_id"`
	Granularity string         `json:"granularity"`
	From        string         `json:"from"`
	To          string         `json:"to"`
	Totals      UsageCounts    `json:"totals"`
	Buckets     []UsageBucket  `json:"buckets"`
	Addresses   []TokenAddress `json:"addresses"`
}

// TopToken is one of an account's most used tokens.
type TopToken struct {
	TokenID  int64   `json:"token_id"`
	Kind     string  `json:"kind"`
	Name     string  `json:"name"`
	UserID   *int64  `json:"user_id"`
	State    int     `json:"state"`
	LastUsed *string `json:"last_used"`
	UsageCounts
}

// AccountUsage is GET /api/v3/accounts/{id}/usage/.
type AccountUsage struct {
	AccountID   int64         `json:"account_id"`
	Granularity string        `json:"granularity"`
	From        string        `json:"from"`
	To          string        `json:"to"`
	Totals      UsageCounts   `json:"totals"`
	Buckets     []UsageBucket `json:"buckets"`
	TopTokens   []TopToken    `json:"top_tokens"`
}

// TokenAddressesOf renders addresses.
func TokenAddressesOf(as []latchkey.AddressSeen) []TokenAddress {
	out := make([]TokenAddress, len(as))
	for i, a := range as {
		out[i] = TokenAddress{Address: a.Address, FirstSeen: Time(a.FirstSeen), LastSeen: Time(a.LastSeen)}
	}
	return out
}
