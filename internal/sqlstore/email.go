package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

const noticeColumns = `id, user_id, account_id, kind, event_id, event_type, details, state, send_after, sent_at,
	attempts, last_error, created_at, updated_at`

func scanNotice(row scanner) (*latchkey.EmailNotice, error) {
	var n latchkey.EmailNotice
	var kind, details, state string
	var sendAfter, created, updated int64
	var sent sql.NullInt64
	if err := row.Scan(&n.ID, &n.UserID, &n.AccountID, &kind, &n.EventID, &n.EventType, &details, &state, &sendAfter,
		&sent, &n.Attempts, &n.LastError, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(details), &n.Details); err != nil {
		return nil, fmt.Errorf("email notice %d details: %w", n.ID, err)
	}
	n.Kind, n.State = latchkey.NoticeKind(kind), latchkey.NoticeState(state)
	n.SendAfter, n.CreatedAt, n.UpdatedAt = fromMicros(sendAfter), fromMicros(created), fromMicros(updated)
	n.SentAt = fromNullMicros(sent)
	return &n, nil
}

// CreateEmailNotices queues notices, due at SendAfter (now when zero). A notice of an event the
// user already has one for is left out (its ID stays 0): the consumer that makes them may run
// again over the same entries after a failure elsewhere in its transaction.
func (s *Store) CreateEmailNotices(ctx context.Context, ns []*latchkey.EmailNotice) error {
	if len(ns) == 0 {
		return nil
	}
	return s.withTx(ctx, func(t *tx) error {
		for _, n := range ns {
			if n.Kind != latchkey.NoticeDigest && n.Kind != latchkey.NoticeAlert {
				return fmt.Errorf("create email notice: unknown kind %q", n.Kind)
			}
			details, err := json.Marshal(n.Details)
			if err != nil || n.Details == nil {
				details = []byte("{}")
			}
			n.State, n.CreatedAt, n.UpdatedAt = latchkey.NoticePending, t.now, t.now
			if n.SendAfter.IsZero() {
				n.SendAfter = t.now
			}
			id, err := t.insert(`INSERT INTO email_notices (user_id, account_id, kind, event_id, event_type, details, state,
				send_after, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (event_id, user_id) DO NOTHING`,
				n.UserID, n.AccountID, string(n.Kind), n.EventID, n.EventType, string(details), string(n.State),
				micros(n.SendAfter), micros(t.now), micros(t.now))
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return s.wrap(err, "create email notice")
			}
			n.ID = id
		}
		return nil
	})
}

// FindEmailNotices lists notices, newest SendAfter first (at most f.Limit, default 100).
func (s *Store) FindEmailNotices(ctx context.Context, f latchkey.EmailNoticeFilter) ([]*latchkey.EmailNotice, error) {
	var w where
	if f.UserID != 0 {
		w.add("user_id = ?", f.UserID)
	}
	if f.AccountID != 0 {
		w.add("account_id = ?", f.AccountID)
	}
	if f.Kind != "" {
		w.add("kind = ?", string(f.Kind))
	}
	if f.State != "" {
		w.add("state = ?", string(f.State))
	}
	rows, err := s.query(ctx, `SELECT `+noticeColumns+` FROM email_notices`+w.String()+` ORDER BY send_after DESC, id DESC`+
		page(0, f.Limit), w.args...)
	if err != nil {
		return nil, s.wrap(err, "find email notices")
	}
	defer rows.Close()
	var out []*latchkey.EmailNotice
	for rows.Next() {
		n, err := scanNotice(rows)
		if err != nil {
			return nil, s.wrap(err, "scan email notice")
		}
		out = append(out, n)
	}
	return out, s.wrap(rows.Err(), "find email notices")
}

// ClaimEmailNotices takes up to limit due pending notices for node until leaseUntil, ordered so
// that a recipient's due notices come together (the sender makes one digest of them). A notice
// whose lease ran out (its node died mid-send) is due again. Like webhook claims, it does not
// take the audit lock.
func (s *Store) ClaimEmailNotices(ctx context.Context, node string, limit int, leaseUntil time.Time) ([]*latchkey.EmailNotice, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []*latchkey.EmailNotice
	err := s.plainTx(ctx, func(t *sql.Tx) error {
		now := micros(s.now())
		rows, err := t.QueryContext(ctx, s.q(`UPDATE email_notices SET lease_node = ?, lease_until = ?
			WHERE id IN (SELECT id FROM email_notices WHERE state = 'pending' AND send_after <= ? AND lease_until <= ?
				ORDER BY user_id, account_id, kind, send_after, id LIMIT ?`+s.dialect.SkipLocked()+`)
			RETURNING `+noticeColumns), node, micros(leaseUntil), now, now, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotice(rows)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.wrap(err, "claim email notices")
	}
	// RETURNING keeps no order.
	slices.SortFunc(out, func(a, b *latchkey.EmailNotice) int {
		return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.Kind, b.Kind),
			a.SendAfter.Compare(b.SendAfter), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// MarkEmailNoticesSent ends node's notices ids as sent. Notices node no longer holds are left
// alone.
func (s *Store) MarkEmailNoticesSent(ctx context.Context, node string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	now := micros(s.now())
	args := append([]any{string(latchkey.NoticeSent), now, now, node}, idArgs(ids)...)
	_, err := s.DB.ExecContext(ctx, s.q(`UPDATE email_notices SET state = ?, sent_at = ?, attempts = attempts + 1,
		lease_node = '', lease_until = 0, last_error = '', updated_at = ?
		WHERE state = 'pending' AND lease_node = ? AND id IN (`+placeholders(len(ids))+`)`), args...)
	return s.wrap(err, "mark email notices sent")
}

// RetryEmailNotices records a failed attempt at node's notices ids: due again at next, or
// failed for good when next is nil.
func (s *Store) RetryEmailNotices(ctx context.Context, node string, ids []int64, next *time.Time, lastErr string) error {
	if len(ids) == 0 {
		return nil
	}
	now := s.now()
	state, due := latchkey.NoticePending, now
	if next == nil {
		state = latchkey.NoticeFailed
	} else {
		due = *next
	}
	args := append([]any{string(state), micros(due), lastErr, micros(now), node}, idArgs(ids)...)
	_, err := s.DB.ExecContext(ctx, s.q(`UPDATE email_notices SET state = ?, send_after = ?, attempts = attempts + 1,
		last_error = ?, lease_node = '', lease_until = 0, updated_at = ?
		WHERE state = 'pending' AND lease_node = ? AND id IN (`+placeholders(len(ids))+`)`), args...)
	return s.wrap(err, "retry email notices")
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

func idArgs(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
