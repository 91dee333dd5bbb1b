package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latchkey/latchkey"
)

// SyncRateCounts stores node's counts and returns the other nodes' sums. A node writes its
// absolute count of a window, never an increment, so a retried or repeated sync counts nothing
// twice; a count of -1 (unchanged since the node's last sync) is only read. The rows are the
// node's own, so the statements run outside the write transaction every other change shares
// (and its lock): a busy node's syncs never queue behind, or hold up, administrative writes.
func (s *Store) SyncRateCounts(ctx context.Context, node string, counts []latchkey.RateCount, pruneBefore int64) ([]int64, error) {
	if pruneBefore > 0 {
		if _, err := s.exec(ctx, `DELETE FROM rate_counts WHERE (window_idx + 1) * duration_s < ?`, pruneBefore); err != nil {
			return nil, s.wrap(err, "prune rate counts")
		}
	}
	out := make([]int64, len(counts))
	for i, c := range counts {
		if c.Used >= 0 {
			if _, err := s.exec(ctx, `INSERT INTO rate_counts (family_id, name, duration_s, window_idx, node, used) VALUES (?,?,?,?,?,?)
				ON CONFLICT (family_id, name, duration_s, window_idx, node) DO UPDATE SET used = excluded.used`,
				c.FamilyID, c.Name, c.DurationSeconds, c.Window, node, c.Used); err != nil {
				return nil, s.wrap(err, "store rate count")
			}
		}
		if err := s.queryRow(ctx, `SELECT COALESCE(SUM(used), 0) FROM rate_counts
			WHERE family_id = ? AND name = ? AND duration_s = ? AND window_idx = ? AND node <> ?`,
			c.FamilyID, c.Name, c.DurationSeconds, c.Window, node).Scan(&out[i]); err != nil {
			return nil, s.wrap(err, "read rate counts")
		}
	}
	return out, nil
}

// SyncCredits refills, debits and reads families' credits in one transaction. Each family's row
// is changed by single statements, so nodes syncing at once serialise on it; a refill is
// conditional on the period it starts, so two nodes never refill one period twice.
func (s *Store) SyncCredits(ctx context.Context, spends []latchkey.CreditSpend, now time.Time) ([]int64, error) {
	out := make([]int64, len(spends))
	err := s.withTx(ctx, func(t *tx) error {
		for i, sp := range spends {
			var remaining, amount, refilled int64
			var interval string
			var day int
			err := t.queryRow(`SELECT credits_remaining, credits_refill_amount, credits_refill_interval, credits_refill_day,
				credits_refilled_at FROM token_credits WHERE family_id = ?`, sp.FamilyID).Scan(&remaining, &amount, &interval, &day, &refilled)
			if errors.Is(err, sql.ErrNoRows) {
				out[i] = -1
				continue
			}
			if err != nil {
				return s.wrap(err, "read credits")
			}
			if interval != "" {
				start := (&latchkey.Refill{Amount: amount, Interval: interval, Day: day}).PeriodStart(now).Unix()
				if refilled < start {
					if _, err := t.exec(`UPDATE token_credits SET credits_remaining = credits_refill_amount, credits_refilled_at = ?
						WHERE family_id = ? AND credits_refilled_at < ?`, start, sp.FamilyID, start); err != nil {
						return s.wrap(err, "refill credits")
					}
				}
			}
			if sp.Spent > 0 {
				if _, err := t.exec(`UPDATE token_credits SET credits_remaining = CASE WHEN credits_remaining > ? THEN credits_remaining - ? ELSE 0 END
					WHERE family_id = ?`, sp.Spent, sp.Spent, sp.FamilyID); err != nil {
					return s.wrap(err, "spend credits")
				}
			}
			if err := t.queryRow(`SELECT credits_remaining FROM token_credits WHERE family_id = ?`, sp.FamilyID).Scan(&out[i]); err != nil {
				return s.wrap(err, "read credits")
			}
		}
		return nil
	})
	return out, err
}
