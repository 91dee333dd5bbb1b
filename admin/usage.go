package admin

import (
	"context"
	"time"

	"github.com/latchkey/latchkey"
)

// UsageQuery selects usage buckets of one granularity in [From, To).
type UsageQuery struct {
	Granularity time.Duration
	From, To    time.Time
}

// Bounds of a usage query.
const (
	// MaxUsageBuckets is the most buckets one query answers.
	MaxUsageBuckets = 1500
	// MaxUsageRange is the longest period one query covers.
	MaxUsageRange = 400 * 24 * time.Hour
)

// usageGranularities names the granularities on the wire.
var usageGranularities = map[string]time.Duration{"minute": latchkey.UsageMinute, "hour": latchkey.UsageHour, "day": latchkey.UsageDay}

// GranularityName is the wire name of a granularity.
func GranularityName(g time.Duration) string {
	for n, d := range usageGranularities {
		if d == g {
			return n
		}
	}
	return g.String()
}

// ParseUsageQuery reads a query's from and to (RFC 3339; to defaults to now, from to 24 hours
// before to) and granularity (minute, hour or day; by default the finest that gives at most
// MaxUsageBuckets buckets, and no finer than an hour beyond 6 hours or a day beyond 14 days).
// The period is widened to whole buckets.
func ParseUsageQuery(from, to, granularity string, now time.Time) (UsageQuery, error) {
	var q UsageQuery
	q.To = now.UTC()
	if to != "" {
		t, err := time.Parse(time.RFC3339, to)
		if err != nil {
			return q, latchkey.FieldError("to", "to must be an RFC 3339 time such as 2027-01-31T00:00:00Z")
		}
		q.To = t.UTC()
	}
	q.From = q.To.Add(-24 * time.Hour)
	if from != "" {
		t, err := time.Parse(time.RFC3339, from)
		if err != nil {
			return q, latchkey.FieldError("from", "from must be an RFC 3339 time such as 2027-01-01T00:00:00Z")
		}
		q.From = t.UTC()
	}
	var g time.Duration
	if granularity != "" {
		var ok bool
		if g, ok = usageGranularities[granularity]; !ok {
			return q, latchkey.FieldError("granularity", "granularity must be minute, hour or day")
		}
	}
	return NewUsageQuery(q.From, q.To, g)
}

// NewUsageQuery checks a period and a granularity (0: the default ParseUsageQuery describes)
// and widens the period to whole buckets.
func NewUsageQuery(from, to time.Time, g time.Duration) (UsageQuery, error) {
	q := UsageQuery{From: from.UTC(), To: to.UTC(), Granularity: g}
	span := q.To.Sub(q.From)
	switch {
	case span <= 0:
		return q, latchkey.FieldError("from", "from must be before to")
	case span > MaxUsageRange:
		return q, latchkey.FieldError("from", "a usage query covers at most %d days", int(MaxUsageRange/(24*time.Hour)))
	}
	if q.Granularity == 0 {
		switch {
		case span <= 6*time.Hour:
			q.Granularity = latchkey.UsageMinute
		case span <= 14*24*time.Hour:
			q.Granularity = latchkey.UsageHour
		default:
			q.Granularity = latchkey.UsageDay
		}
	}
	q.From = q.From.Truncate(q.Granularity)
	if end := q.To.Truncate(q.Granularity); end.Before(q.To) {
		q.To = end.Add(q.Granularity)
	}
	if n := q.To.Sub(q.From) / q.Granularity; n > MaxUsageBuckets {
		return q, latchkey.FieldError("granularity", "%d %s buckets asked for; at most %d: choose a coarser granularity or a shorter period",
			n, GranularityName(q.Granularity), MaxUsageBuckets)
	}
	return q, nil
}

// Buckets returns one bucket per step of q, filled from got (sparse, oldest first): charts and
// clients get every bucket, zeros included.
func (q UsageQuery) Buckets(got []latchkey.UsageBucket) []latchkey.UsageBucket {
	out := make([]latchkey.UsageBucket, 0, q.To.Sub(q.From)/q.Granularity)
	i := 0
	for at := q.From; at.Before(q.To); at = at.Add(q.Granularity) {
		b := latchkey.UsageBucket{Start: at}
		for i < len(got) && got[i].Start.Before(at) {
			i++
		}
		if i < len(got) && got[i].Start.Equal(at) {
			b.Counts = got[i].Counts
		}
		out = append(out, b)
	}
	return out
}

// TokenUsageReport is one token's usage over a query's period.
type TokenUsageReport struct {
	Token     *latchkey.Token
	Query     UsageQuery
	Buckets   []latchkey.UsageBucket // every bucket of the period
	Totals    latchkey.UsageCounts
	Addresses []latchkey.AddressSeen // latest first
}

// TokenUsage reports a token's verifications by outcome over q and the addresses it was last
// used from, with the read access Token needs.
func (s *Service) TokenUsage(ctx context.Context, p *latchkey.Principal, ref TokenRef, q UsageQuery) (*TokenUsageReport, error) {
	tok, err := s.Token(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	got, err := s.store.FindUsage(ctx, latchkey.UsageFilter{AccountID: p.AccountID, TokenID: tok.ID, Granularity: q.Granularity, From: q.From, To: q.To})
	if err != nil {
		return nil, err
	}
	addrs, err := s.store.FindTokenAddresses(ctx, tok.ID)
	if err != nil {
		return nil, err
	}
	r := &TokenUsageReport{Token: tok, Query: q, Buckets: q.Buckets(got), Addresses: addrs}
	for _, b := range got {
		r.Totals.Add(&b.Counts)
	}
	return r, nil
}

// TopToken is one of an account's most used tokens.
type TopToken struct {
	Token  *latchkey.Token
	Counts latchkey.UsageCounts
}

// AccountUsageReport is an account's usage over a query's period.
type AccountUsageReport struct {
	Query   UsageQuery
	Buckets []latchkey.UsageBucket
	Totals  latchkey.UsageCounts
	// Top are the most verified tokens p may read, most first.
	Top []TopToken
}

// AccountUsage reports the account's verifications by outcome over q and its top tokens
// (service_tokens:read; personal access tokens are listed only to whoever may read them).
func (s *Service) AccountUsage(ctx context.Context, p *latchkey.Principal, q UsageQuery, top int) (*AccountUsageReport, error) {
	if err := require(p, latchkey.ResServiceTokens, latchkey.AccessRead); err != nil {
		return nil, err
	}
	f := latchkey.UsageFilter{AccountID: p.AccountID, Granularity: q.Granularity, From: q.From, To: q.To}
	got, err := s.store.FindUsage(ctx, f)
	if err != nil {
		return nil, err
	}
	r := &AccountUsageReport{Query: q, Buckets: q.Buckets(got)}
	for _, b := range got {
		r.Totals.Add(&b.Counts)
	}
	// Ask for more than top: some may be PATs p may not see, or tokens since purged.
	ranked, err := s.store.FindTopTokens(ctx, f, 3*top)
	if err != nil {
		return nil, err
	}
	for _, u := range ranked {
		if len(r.Top) == top {
			break
		}
		tok, err := s.store.FindTokenByID(ctx, u.TokenID)
		if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		if tok.AccountID != p.AccountID || tok.Kind == latchkey.KindPAT && canReadPATs(p, tok.UserID) != nil {
			continue
		}
		r.Top = append(r.Top, TopToken{Token: tok, Counts: u.Counts})
	}
	return r, nil
}
