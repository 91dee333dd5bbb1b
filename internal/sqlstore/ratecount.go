package sqlstore

import (
	"context"

	"github.com/latchkey/latchkey"
)

// SyncRateCounts stores node's counts and returns the other nodes' sums, in one transaction.
// A node writes its absolute count of a window, never an increment, so a retried or repeated
// sync counts nothing twice.
func (s *Store) SyncRateCounts(ctx context.Context, node string, counts []latchkey.RateCount, pruneBefore int64) ([]int64, error) {
	out := make([]int64, len(counts))
	err := s.withTx(ctx, func(t *tx) error {
		if pruneBefore > 0 {
			if _, err := t.exec(`DELETE FROM rate_counts WHERE (window_idx + 1) * duration_s < ?`, pruneBefore); err != nil {
				return s.wrap(err, "prune rate counts")
			}
		}
		for i, c := range counts {
			if _, err := t.exec(`INSERT INTO rate_counts (family_id, name, duration_s, window_idx, node, used) VALUES (?,?,?,?,?,?)
				ON CONFLICT (family_id, name, duration_s, window_idx, node) DO UPDATE SET used = excluded.used`,
				c.FamilyID, c.Name, c.DurationSeconds, c.Window, node, c.Used); err != nil {
				return s.wrap(err, "store rate count")
			}
			if err := t.queryRow(`SELECT COALESCE(SUM(used), 0) FROM rate_counts
				WHERE family_id = ? AND name = ? AND duration_s = ? AND window_idx = ? AND node <> ?`,
				c.FamilyID, c.Name, c.DurationSeconds, c.Window, node).Scan(&out[i]); err != nil {
				return s.wrap(err, "read rate counts")
			}
		}
		return nil
	})
	return out, err
}
