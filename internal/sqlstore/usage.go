package sqlstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

// usageColumns are usage_counts' count columns, in latchkey.Outcome order.
const usageColumns = `ok, forbidden, rate_limited, usage_exceeded, ip_denied, expired, revoked`

// usageSums sums them, in the same order.
const usageSums = `COALESCE(SUM(ok), 0), COALESCE(SUM(forbidden), 0), COALESCE(SUM(rate_limited), 0),
	COALESCE(SUM(usage_exceeded), 0), COALESCE(SUM(ip_denied), 0), COALESCE(SUM(expired), 0), COALESCE(SUM(revoked), 0)`

// usageBatch is how many rows one INSERT writes: a flush of thousands of tokens costs a few
// statements, not one parse and one round trip per row (11 × 200 parameters stays far below
// SQLite's and PostgreSQL's limits).
const usageBatch = 200

// usageKey is one usage_counts row.
type usageKey struct {
	token, granularity, start int64
}

// RecordUsage adds counts to every granularity's bucket at once (a minute's counts go to its
// minute, hour and day), so that no roll-up job has to run and a query of any granularity is
// complete up to the last batch. Rows are merged first (two minutes of one hour are one hour
// row) and written 200 to a statement.
func (s *Store) RecordUsage(ctx context.Context, recs []latchkey.UsageRecord, addrs []latchkey.AddressSeen) error {
	if len(recs) == 0 && len(addrs) == 0 {
		return nil
	}
	counts := map[usageKey]*latchkey.UsageRecord{}
	var keys []usageKey
	for _, r := range recs {
		for _, g := range latchkey.UsageGranularities {
			k := usageKey{r.TokenID, int64(g / time.Second), r.Minute.UTC().Truncate(g).Unix()}
			c, ok := counts[k]
			if !ok {
				c = &latchkey.UsageRecord{TokenID: r.TokenID, AccountID: r.AccountID}
				counts[k] = c
				keys = append(keys, k)
			}
			for o, n := range r.Counts {
				c.Counts[o] += n
			}
		}
	}
	type addrKey struct {
		token int64
		addr  string
	}
	seen := map[addrKey]*latchkey.AddressSeen{}
	var addrKeys []addrKey
	var touched []int64
	isTouched := map[int64]bool{}
	for _, a := range addrs {
		k := addrKey{a.TokenID, a.Address}
		if m, ok := seen[k]; ok {
			if a.FirstSeen.Before(m.FirstSeen) {
				m.FirstSeen = a.FirstSeen
			}
			if a.LastSeen.After(m.LastSeen) {
				m.LastSeen = a.LastSeen
			}
			continue
		}
		seen[k] = &a
		if !isTouched[a.TokenID] {
			isTouched[a.TokenID] = true
			touched = append(touched, a.TokenID)
		}
		addrKeys = append(addrKeys, k)
	}
	return s.withTx(ctx, func(t *tx) error {
		for chunk := range slices.Chunk(keys, usageBatch) {
			args := make([]any, 0, len(chunk)*11)
			for _, k := range chunk {
				c := counts[k]
				args = append(args, k.token, c.AccountID, k.granularity, k.start)
				for _, n := range c.Counts {
					args = append(args, n)
				}
			}
			if _, err := t.exec(`INSERT INTO usage_counts (token_id, account_id, granularity_s, bucket_start, `+usageColumns+`)
				VALUES `+valueRows(len(chunk), 11)+`
				ON CONFLICT (token_id, granularity_s, bucket_start) DO UPDATE SET
				ok = usage_counts.ok + excluded.ok, forbidden = usage_counts.forbidden + excluded.forbidden,
				rate_limited = usage_counts.rate_limited + excluded.rate_limited,
				usage_exceeded = usage_counts.usage_exceeded + excluded.usage_exceeded,
				ip_denied = usage_counts.ip_denied + excluded.ip_denied, expired = usage_counts.expired + excluded.expired,
				revoked = usage_counts.revoked + excluded.revoked`, args...); err != nil {
				return s.wrap(err, "record usage")
			}
		}
		for chunk := range slices.Chunk(addrKeys, usageBatch) {
			args := make([]any, 0, len(chunk)*4)
			for _, k := range chunk {
				a := seen[k]
				args = append(args, a.TokenID, a.Address, micros(a.FirstSeen), micros(a.LastSeen))
			}
			if _, err := t.exec(`INSERT INTO token_addresses (token_id, address, first_seen, last_seen) VALUES `+valueRows(len(chunk), 4)+`
				ON CONFLICT (token_id, address) DO UPDATE SET
				first_seen = CASE WHEN excluded.first_seen < token_addresses.first_seen THEN excluded.first_seen ELSE token_addresses.first_seen END,
				last_seen = CASE WHEN excluded.last_seen > token_addresses.last_seen THEN excluded.last_seen ELSE token_addresses.last_seen END`,
				args...); err != nil {
				return s.wrap(err, "record token address")
			}
		}
		// Each touched token keeps its MaxTokenAddresses most recently seen addresses.
		for chunk := range slices.Chunk(touched, usageBatch) {
			args := make([]any, 0, len(chunk)+1)
			for _, id := range chunk {
				args = append(args, id)
			}
			args = append(args, latchkey.MaxTokenAddresses)
			if _, err := t.exec(`DELETE FROM token_addresses WHERE (token_id, address) IN (
				SELECT token_id, address FROM (
					SELECT token_id, address, ROW_NUMBER() OVER (PARTITION BY token_id ORDER BY last_seen DESC, address) AS n
					FROM token_addresses WHERE token_id IN (`+placeholders(len(chunk))+`)) ranked
				WHERE n > ?)`, args...); err != nil {
				return s.wrap(err, "prune token addresses")
			}
		}
		return nil
	})
}

// valueRows is the VALUES list of n rows of width placeholders each: (?,?),(?,?).
func valueRows(n, width int) string {
	row := "(" + placeholders(width) + ")"
	return strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}

// FindUsage sums the selected buckets (over the account's tokens, or one token's).
func (s *Store) FindUsage(ctx context.Context, f latchkey.UsageFilter) ([]latchkey.UsageBucket, error) {
	q := `SELECT bucket_start, ` + usageSums + ` FROM usage_counts
		WHERE account_id = ? AND granularity_s = ? AND bucket_start >= ? AND bucket_start < ?`
	args := []any{f.AccountID, int64(f.Granularity / time.Second), f.From.Unix(), f.To.Unix()}
	if f.TokenID != 0 {
		q += ` AND token_id = ?`
		args = append(args, f.TokenID)
	}
	rows, err := s.query(ctx, q+` GROUP BY bucket_start ORDER BY bucket_start`, args...)
	if err != nil {
		return nil, s.wrap(err, "find usage")
	}
	defer rows.Close()
	var out []latchkey.UsageBucket
	for rows.Next() {
		var start int64
		var b latchkey.UsageBucket
		c := &b.Counts
		if err := rows.Scan(&start, &c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6]); err != nil {
			return nil, s.wrap(err, "find usage")
		}
		b.Start = time.Unix(start, 0).UTC()
		out = append(out, b)
	}
	return out, s.wrap(rows.Err(), "find usage")
}

// FindTopTokens sums each token's buckets and keeps the largest totals.
func (s *Store) FindTopTokens(ctx context.Context, f latchkey.UsageFilter, limit int) ([]latchkey.TokenUsage, error) {
	rows, err := s.query(ctx, `SELECT token_id, `+usageSums+` FROM usage_counts
		WHERE account_id = ? AND granularity_s = ? AND bucket_start >= ? AND bucket_start < ?
		GROUP BY token_id
		ORDER BY SUM(ok + forbidden + rate_limited + usage_exceeded + ip_denied + expired + revoked) DESC, token_id
		LIMIT ?`, f.AccountID, int64(f.Granularity/time.Second), f.From.Unix(), f.To.Unix(), limit)
	if err != nil {
		return nil, s.wrap(err, "find top tokens")
	}
	defer rows.Close()
	var out []latchkey.TokenUsage
	for rows.Next() {
		var u latchkey.TokenUsage
		c := &u.Counts
		if err := rows.Scan(&u.TokenID, &c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6]); err != nil {
			return nil, s.wrap(err, "find top tokens")
		}
		out = append(out, u)
	}
	return out, s.wrap(rows.Err(), "find top tokens")
}

// FindTokenAddresses lists a token's recorded addresses, latest first.
func (s *Store) FindTokenAddresses(ctx context.Context, tokenID int64) ([]latchkey.AddressSeen, error) {
	rows, err := s.query(ctx, `SELECT address, first_seen, last_seen FROM token_addresses WHERE token_id = ?
		ORDER BY last_seen DESC, address LIMIT ?`, tokenID, latchkey.MaxTokenAddresses)
	if err != nil {
		return nil, s.wrap(err, "find token addresses")
	}
	defer rows.Close()
	var out []latchkey.AddressSeen
	for rows.Next() {
		a := latchkey.AddressSeen{TokenID: tokenID}
		var first, last int64
		if err := rows.Scan(&a.Address, &first, &last); err != nil {
			return nil, s.wrap(err, "find token addresses")
		}
		a.FirstSeen, a.LastSeen = fromMicros(first), fromMicros(last)
		out = append(out, a)
	}
	return out, s.wrap(rows.Err(), "find token addresses")
}

// PruneUsage deletes one granularity's buckets older than before. The rows are analytics, not
// objects: no audit entry, no change.
func (s *Store) PruneUsage(ctx context.Context, granularity time.Duration, before time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM usage_counts WHERE granularity_s = ? AND bucket_start < ?`,
		int64(granularity/time.Second), before.Unix())
	if err != nil {
		return 0, s.wrap(err, "prune usage")
	}
	n, _ := res.RowsAffected()
	return n, nil
}
