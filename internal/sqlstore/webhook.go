package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

const webhookColumns = `id, account_id, name, description, client_url, event_types, active, secret, prev_secret,
	prev_secret_until, failing_since, disabled_reason, state, created_at, updated_at`

func scanWebhook(row scanner) (*latchkey.WebhookSubscription, error) {
	var w latchkey.WebhookSubscription
	var types string
	var prevUntil, failing sql.NullInt64
	var created, updated int64
	if err := row.Scan(&w.ID, &w.AccountID, &w.Name, &w.Description, &w.ClientURL, &types, &w.Active, &w.Secret,
		&w.PrevSecret, &prevUntil, &failing, &w.DisabledReason, &w.State, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if w.EventTypes, err = decodeStrings(types); err != nil {
		return nil, fmt.Errorf("webhook subscription %d event_types: %w", w.ID, err)
	}
	w.PrevSecretUntil, w.FailingSince = fromNullMicros(prevUntil), fromNullMicros(failing)
	w.CreatedAt, w.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &w, nil
}

// webhookAudit is what the audit log says of a subscription: never its secret.
func webhookAudit(w *latchkey.WebhookSubscription) map[string]any {
	return map[string]any{"webhook_id": w.ID, "name": w.Name, "client_url": w.ClientURL,
		"event_types": w.EventTypes, "active": w.Active}
}

// CreateWebhookSubscription stores a subscription and sets its ID and times.
func (s *Store) CreateWebhookSubscription(ctx context.Context, w *latchkey.WebhookSubscription) error {
	return s.withTx(ctx, func(t *tx) error {
		w.State, w.CreatedAt, w.UpdatedAt = latchkey.StateActive, t.now, t.now
		id, err := t.insert(`INSERT INTO webhook_subscriptions (account_id, name, description, client_url, event_types,
			active, secret, prev_secret, prev_secret_until, failing_since, disabled_reason, state, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			w.AccountID, w.Name, w.Description, w.ClientURL, encodeStrings(w.EventTypes), w.Active, w.Secret, w.PrevSecret,
			nullMicros(w.PrevSecretUntil), nullMicros(w.FailingSince), w.DisabledReason, w.State, micros(t.now), micros(t.now))
		if err != nil {
			return s.wrap(err, "create webhook subscription")
		}
		w.ID = id
		return t.audit(w.AccountID, "webhook.subscription.created", webhookAudit(w))
	})
}

// FindWebhookSubscriptionByID returns a subscription in any state.
func (s *Store) FindWebhookSubscriptionByID(ctx context.Context, id int64) (*latchkey.WebhookSubscription, error) {
	w, err := scanWebhook(s.queryRow(ctx, `SELECT `+webhookColumns+` FROM webhook_subscriptions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook subscription", id)
	}
	return w, s.wrap(err, "find webhook subscription")
}

// FindWebhookSubscriptions lists subscriptions by id: an account's (every account's when
// accountID is 0), in state (any when nil).
func (s *Store) FindWebhookSubscriptions(ctx context.Context, accountID int64, state *latchkey.State) ([]*latchkey.WebhookSubscription, error) {
	var w where
	if accountID != 0 {
		w.add("account_id = ?", accountID)
	}
	if state != nil {
		w.add("state = ?", *state)
	}
	rows, err := s.query(ctx, `SELECT `+webhookColumns+` FROM webhook_subscriptions`+w.String()+` ORDER BY id`, w.args...)
	if err != nil {
		return nil, s.wrap(err, "find webhook subscriptions")
	}
	defer rows.Close()
	var out []*latchkey.WebhookSubscription
	for rows.Next() {
		sub, err := scanWebhook(rows)
		if err != nil {
			return nil, s.wrap(err, "scan webhook subscription")
		}
		out = append(out, sub)
	}
	return out, s.wrap(rows.Err(), "find webhook subscriptions")
}

func (t *tx) activeWebhook(id int64) (*latchkey.WebhookSubscription, error) {
	w, err := scanWebhook(t.queryRow(`SELECT `+webhookColumns+` FROM webhook_subscriptions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook subscription", id)
	}
	if err != nil {
		return nil, t.s.wrap(err, "find webhook subscription")
	}
	if w.State != latchkey.StateActive {
		return nil, notFound("webhook subscription", id)
	}
	return w, nil
}

// UpdateWebhookSubscription changes an active subscription. A new secret moves the current one
// to PrevSecret. Turning a subscription on clears FailingSince and DisabledReason; turning it
// off fails its pending deliveries.
func (s *Store) UpdateWebhookSubscription(ctx context.Context, id int64, upd latchkey.WebhookSubscriptionUpdate) (*latchkey.WebhookSubscription, error) {
	var out *latchkey.WebhookSubscription
	err := s.withTx(ctx, func(t *tx) error {
		w, err := t.activeWebhook(id)
		if err != nil {
			return err
		}
		var events []string
		if upd.Name != nil && *upd.Name != w.Name {
			w.Name = *upd.Name
			events = append(events, "webhook.subscription.changed")
		}
		if upd.Description != nil && *upd.Description != w.Description {
			w.Description = *upd.Description
			events = append(events, "webhook.subscription.changed")
		}
		if upd.ClientURL != nil && *upd.ClientURL != w.ClientURL {
			w.ClientURL = *upd.ClientURL
			events = append(events, "webhook.subscription.changed")
		}
		if upd.EventTypes != nil && encodeStrings(*upd.EventTypes) != encodeStrings(w.EventTypes) {
			w.EventTypes = *upd.EventTypes
			events = append(events, "webhook.subscription.changed")
		}
		if upd.Secret != nil {
			w.PrevSecret, w.Secret, w.PrevSecretUntil = w.Secret, *upd.Secret, upd.PrevSecretUntil
			events = append(events, "webhook.subscription.secret_rotated")
		}
		if upd.DisabledReason != nil {
			w.DisabledReason = *upd.DisabledReason
		}
		if upd.Active != nil && *upd.Active != w.Active {
			w.Active = *upd.Active
			if w.Active {
				w.FailingSince, w.DisabledReason = nil, ""
				events = append(events, "webhook.subscription.enabled")
			} else {
				events = append(events, "webhook.subscription.disabled")
				if err := t.failPending("subscription_id = ?", id, "the subscription was disabled"); err != nil {
					return err
				}
			}
		}
		if len(events) == 0 {
			out = w
			return nil
		}
		w.UpdatedAt = t.now
		if _, err := t.exec(`UPDATE webhook_subscriptions SET name = ?, description = ?, client_url = ?, event_types = ?,
			active = ?, secret = ?, prev_secret = ?, prev_secret_until = ?, failing_since = ?, disabled_reason = ?, updated_at = ?
			WHERE id = ?`, w.Name, w.Description, w.ClientURL, encodeStrings(w.EventTypes), w.Active, w.Secret, w.PrevSecret,
			nullMicros(w.PrevSecretUntil), nullMicros(w.FailingSince), w.DisabledReason, micros(t.now), id); err != nil {
			return s.wrap(err, "update webhook subscription")
		}
		out = w
		seen := map[string]bool{}
		for _, e := range events {
			if seen[e] {
				continue
			}
			seen[e] = true
			a := webhookAudit(w)
			if e == "webhook.subscription.disabled" && w.DisabledReason != "" {
				a["reason"] = w.DisabledReason
			}
			if err := t.audit(w.AccountID, e, a); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// DeleteWebhookSubscription sets a subscription's state to 2 and fails its pending deliveries.
func (s *Store) DeleteWebhookSubscription(ctx context.Context, id int64) error {
	return s.withTx(ctx, func(t *tx) error {
		w, err := t.activeWebhook(id)
		if err != nil {
			return err
		}
		if _, err := t.exec(`UPDATE webhook_subscriptions SET state = 2, active = ?, updated_at = ? WHERE id = ?`,
			false, micros(t.now), id); err != nil {
			return s.wrap(err, "delete webhook subscription")
		}
		if err := t.failPending("subscription_id = ?", id, "the subscription was deleted"); err != nil {
			return err
		}
		return t.audit(w.AccountID, "webhook.subscription.deleted", webhookAudit(w))
	})
}

// failPending ends the pending deliveries matching cond as failed.
func (t *tx) failPending(cond string, arg any, why string) error {
	_, err := t.exec(`UPDATE webhook_deliveries SET state = ?, last_error = ?, lease_node = '', updated_at = ?
		WHERE state = ? AND `+cond, string(latchkey.DeliveryFailed), why, micros(t.now), string(latchkey.DeliveryPending), arg)
	return t.s.wrap(err, "fail pending deliveries")
}

// ConsumeEvents runs fn in one transaction with the audit entries after consumer's cursor (at
// most limit, oldest first) and moves the cursor past them when fn succeeds; store calls made
// with fn's context join the transaction. A consumer seen for the first time starts after the
// newest entry. Write transactions run one at a time, so entry ids grow in commit order and the
// cursor never passes an entry that commits later; on PostgreSQL the same lock makes one node at
// a time consume. It returns how many entries fn was given (0 without calling fn).
func (s *Store) ConsumeEvents(ctx context.Context, consumer string, limit int, fn func(ctx context.Context, entries []*latchkey.AuditEntry) error) (int, error) {
	if limit <= 0 {
		limit = 100
	}
	// Most rounds find nothing new: tell so with two reads, without the write lock.
	if s.txOf(ctx) == nil {
		var last, newest int64
		if err := s.queryRow(ctx, `SELECT last_id FROM event_cursors WHERE name = ?`, consumer).Scan(&last); err == nil {
			if err := s.queryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM audit_log`).Scan(&newest); err != nil {
				return 0, s.wrap(err, "read events")
			}
			if newest <= last {
				return 0, nil
			}
		}
	}
	n := 0
	err := s.withTx(ctx, func(t *tx) error {
		var last int64
		err := t.queryRow(`SELECT last_id FROM event_cursors WHERE name = ?`, consumer).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) {
			if err := t.queryRow(`SELECT COALESCE(MAX(id), 0) FROM audit_log`).Scan(&last); err != nil {
				return s.wrap(err, "start event cursor")
			}
			if _, err := t.exec(`INSERT INTO event_cursors (name, last_id) VALUES (?, ?)`, consumer, last); err != nil {
				return s.wrap(err, "start event cursor")
			}
		} else if err != nil {
			return s.wrap(err, "read event cursor")
		}
		rows, err := t.query(`SELECT `+auditColumns+` FROM audit_log WHERE id > ? ORDER BY id LIMIT ?`, last, limit)
		if err != nil {
			return s.wrap(err, "read events")
		}
		var entries []*latchkey.AuditEntry
		for rows.Next() {
			e, err := scanAudit(rows)
			if err != nil {
				rows.Close()
				return s.wrap(err, "scan event")
			}
			entries = append(entries, e)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return s.wrap(err, "read events")
		}
		if len(entries) == 0 {
			return nil
		}
		if err := fn(t.ctx, entries); err != nil {
			return err
		}
		n = len(entries)
		_, err = t.exec(`UPDATE event_cursors SET last_id = ? WHERE name = ?`, entries[len(entries)-1].ID, consumer)
		return s.wrap(err, "move event cursor")
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// FindEventsAfterCursor returns consumer's cursor and up to limit audit entries after it, oldest
// first, without locking anything: entries are never changed once committed. A consumer seen for
// the first time starts after the newest entry. The consumer then moves the cursor with
// MoveEventCursor, in the transaction that stores what it made of the entries, so that the slow
// part (rendering) runs outside the write lock.
func (s *Store) FindEventsAfterCursor(ctx context.Context, consumer string, limit int) (int64, []*latchkey.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	var last int64
	err := s.queryRow(ctx, `SELECT last_id FROM event_cursors WHERE name = ?`, consumer).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		// Start the cursor (once) in a write transaction, after the newest entry.
		if _, err := s.ConsumeEvents(ctx, consumer, 1, func(context.Context, []*latchkey.AuditEntry) error { return nil }); err != nil {
			return 0, nil, err
		}
		err = s.queryRow(ctx, `SELECT last_id FROM event_cursors WHERE name = ?`, consumer).Scan(&last)
	}
	if err != nil {
		return 0, nil, s.wrap(err, "read event cursor")
	}
	rows, err := s.query(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE id > ? ORDER BY id LIMIT ?`, last, limit)
	if err != nil {
		return 0, nil, s.wrap(err, "read events")
	}
	defer rows.Close()
	var out []*latchkey.AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return 0, nil, s.wrap(err, "scan event")
		}
		out = append(out, e)
	}
	return last, out, s.wrap(rows.Err(), "read events")
}

// MoveEventCursor moves consumer's cursor from from to to; EConflict when it is no longer at
// from (another node consumed those entries first).
func (s *Store) MoveEventCursor(ctx context.Context, consumer string, from, to int64) error {
	return s.withTx(ctx, func(t *tx) error {
		res, err := t.exec(`UPDATE event_cursors SET last_id = ? WHERE name = ? AND last_id = ?`, to, consumer, from)
		if err != nil {
			return s.wrap(err, "move event cursor")
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return latchkey.Errorf(latchkey.EConflict, "event cursor %q is no longer at %d", consumer, from)
		}
		return nil
	})
}

// CreateWebhookDeliveries stores pending deliveries, due at NextAttemptAt (now when zero).
func (s *Store) CreateWebhookDeliveries(ctx context.Context, ds []*latchkey.WebhookDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	return s.withTx(ctx, func(t *tx) error {
		st, err := t.tx.PrepareContext(t.ctx, s.q(`INSERT INTO webhook_deliveries (account_id, subscription_id, event_id, event_type,
			message_id, body, state, next_attempt_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?) RETURNING id`))
		if err != nil {
			return s.wrap(err, "create webhook delivery")
		}
		defer st.Close()
		for _, d := range ds {
			d.State, d.CreatedAt, d.UpdatedAt = latchkey.DeliveryPending, t.now, t.now
			if d.NextAttemptAt.IsZero() {
				d.NextAttemptAt = t.now
			}
			if err := st.QueryRowContext(t.ctx, d.AccountID, d.SubscriptionID, d.EventID, d.EventType, d.MessageID, string(d.Body),
				string(d.State), micros(d.NextAttemptAt), micros(t.now), micros(t.now)).Scan(&d.ID); err != nil {
				return s.wrap(err, "create webhook delivery")
			}
		}
		return nil
	})
}

const deliveryColumns = `id, account_id, subscription_id, event_id, event_type, message_id, body, state, attempts,
	next_attempt_at, last_status, last_error, last_response, created_at, updated_at, delivered_at`

func scanDelivery(row scanner) (*latchkey.WebhookDelivery, error) {
	var d latchkey.WebhookDelivery
	var body, state string
	var next, created, updated int64
	var delivered sql.NullInt64
	if err := row.Scan(&d.ID, &d.AccountID, &d.SubscriptionID, &d.EventID, &d.EventType, &d.MessageID, &body, &state,
		&d.Attempts, &next, &d.LastStatus, &d.LastError, &d.LastResponse, &created, &updated, &delivered); err != nil {
		return nil, err
	}
	d.Body, d.State = []byte(body), latchkey.WebhookDeliveryState(state)
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromMicros(next), fromMicros(created), fromMicros(updated)
	d.DeliveredAt = fromNullMicros(delivered)
	return &d, nil
}

// ClaimWebhookDeliveries takes up to limit due pending deliveries for node until leaseUntil.
// A delivery is held by one node at a time; one whose lease has run out (its node died
// mid-attempt) is due again. Claims do not take the audit lock: on PostgreSQL nodes pass over
// each other's locked rows instead of waiting.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, node string, limit int, leaseUntil time.Time, skip ...int64) ([]*latchkey.WebhookDelivery, error) {
	if limit <= 0 {
		limit = 100
	}
	now := micros(s.now())
	var skipSQL string
	skipArgs := []any{now, now}
	if len(skip) > 0 {
		skipSQL = ` AND subscription_id NOT IN (?` + strings.Repeat(",?", len(skip)-1) + `)`
		for _, id := range skip {
			skipArgs = append(skipArgs, id)
		}
	}
	// Most rounds find nothing due: tell so with a read, without taking a lock.
	var due int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ?
		AND lease_until <= ?`+skipSQL+` LIMIT 1) d`, skipArgs...).Scan(&due)
	if err != nil {
		return nil, s.wrap(err, "claim webhook deliveries")
	}
	if due == 0 {
		return nil, nil
	}
	var out []*latchkey.WebhookDelivery
	err = s.plainTx(ctx, func(t *sql.Tx) error {
		rows, err := t.QueryContext(ctx, s.q(`UPDATE webhook_deliveries SET lease_node = ?, lease_until = ?
			WHERE id IN (SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ? AND lease_until <= ?`+skipSQL+`
				ORDER BY next_attempt_at, id LIMIT ?`+s.dialect.SkipLocked()+`)
			RETURNING `+deliveryColumns), append(append([]any{node, micros(leaseUntil)}, skipArgs...), limit)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.wrap(err, "claim webhook deliveries")
	}
	return out, nil
}

// ReleaseWebhookDeliveries gives back deliveries node holds and did not attempt, due at next.
func (s *Store) ReleaseWebhookDeliveries(ctx context.Context, node string, ids []int64, next time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.plainTx(ctx, func(t *sql.Tx) error {
		st, err := t.PrepareContext(ctx, s.q(`UPDATE webhook_deliveries SET lease_node = '', lease_until = 0, next_attempt_at = ?
			WHERE id = ? AND state = 'pending' AND lease_node = ?`))
		if err != nil {
			return err
		}
		defer st.Close()
		for _, id := range ids {
			if _, err := st.ExecContext(ctx, micros(next), id, node); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.wrap(err, "release webhook deliveries")
	}
	return nil
}

// RecordWebhookAttempts stores node's attempts in the delivery log and moves each delivery on:
// succeeded, failed, or pending until its NextAttemptAt. A delivery another node holds now (the
// lease of node ran out and the other took it) keeps the other node's outcome; the attempt is
// still logged. A delivery nobody holds takes the outcome (a test send, a lease that ran out
// with nobody claiming since). A subscription's FailingSince starts at its first failure and
// clears on a success; test deliveries and attempts that sent nothing leave it alone.
func (s *Store) RecordWebhookAttempts(ctx context.Context, node string, as []*latchkey.WebhookAttempt) error {
	if len(as) == 0 {
		return nil
	}
	err := s.plainTx(ctx, func(t *sql.Tx) error {
		// Parsed once per batch: parsing was most of the cost of recording on SQLite.
		var stmts [4]*sql.Stmt
		for i, q := range []string{
			`INSERT INTO webhook_attempts (delivery_id, node, at, status, response, error, duration_us) VALUES (?,?,?,?,?,?,?)`,
			`UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?, lease_node = '', lease_until = 0,
				last_status = ?, last_error = ?, last_response = ?, updated_at = ?, delivered_at = COALESCE(delivered_at, ?)
				WHERE id = ? AND state = 'pending' AND (lease_node = ? OR lease_until <= ?) RETURNING subscription_id, event_id`,
			`UPDATE webhook_subscriptions SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL`,
			`UPDATE webhook_subscriptions SET failing_since = ? WHERE id = ? AND failing_since IS NULL`,
		} {
			st, err := t.PrepareContext(ctx, s.q(q))
			if err != nil {
				return err
			}
			defer st.Close()
			stmts[i] = st
		}
		now := micros(s.now())
		// A subscription's FailingSince follows the batch's outcomes in order: a success clears
		// it; a failure sets it unless it is set already (by an earlier failure not followed by
		// a success).
		type outcome struct {
			ok           bool
			at           int64
			afterSuccess bool
		}
		last := map[int64]outcome{}
		for _, a := range as {
			if _, err := stmts[0].ExecContext(ctx, a.DeliveryID, a.Node, micros(a.At), a.Status, a.Response, a.Error, a.Duration.Microseconds()); err != nil {
				return err
			}
			state, next, delivered := latchkey.DeliveryPending, now, any(nil)
			switch {
			case a.Succeeded():
				state, delivered = latchkey.DeliverySucceeded, micros(a.At)
			case a.NextAttemptAt == nil:
				state = latchkey.DeliveryFailed
			default:
				next = micros(*a.NextAttemptAt)
			}
			var subID, eventID int64
			err := stmts[1].QueryRowContext(ctx, string(state), next, a.Status, a.Error, a.Response, now, delivered,
				a.DeliveryID, node, now).Scan(&subID, &eventID)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if eventID == 0 || a.NotSent {
				continue // a test, or no request made: nothing learnt of the endpoint
			}
			prev, seen := last[subID]
			switch {
			case a.Succeeded():
				last[subID] = outcome{ok: true}
			case !seen || prev.ok:
				last[subID] = outcome{at: micros(a.At), afterSuccess: seen}
			}
		}
		for id, o := range last {
			var err error
			switch {
			case o.ok:
				_, err = stmts[2].ExecContext(ctx, id)
			case o.afterSuccess:
				_, err = t.ExecContext(ctx, s.q(`UPDATE webhook_subscriptions SET failing_since = ? WHERE id = ?`), o.at, id)
			default:
				_, err = stmts[3].ExecContext(ctx, o.at, id)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return s.wrap(err, "record webhook attempts")
}

// FindWebhookDeliveryByID returns a delivery.
func (s *Store) FindWebhookDeliveryByID(ctx context.Context, id int64) (*latchkey.WebhookDelivery, error) {
	d, err := scanDelivery(s.queryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook delivery", id)
	}
	return d, s.wrap(err, "find webhook delivery")
}

// FindWebhookDeliveries lists an account's deliveries, newest first.
func (s *Store) FindWebhookDeliveries(ctx context.Context, f latchkey.WebhookDeliveryFilter) ([]*latchkey.WebhookDelivery, int, error) {
	var w where
	w.add("account_id = ?", f.AccountID)
	if f.SubscriptionID != nil {
		w.add("subscription_id = ?", *f.SubscriptionID)
	}
	if f.State != nil {
		w.add("state = ?", string(*f.State))
	}
	total, err := s.count(ctx, "webhook_deliveries", &w)
	if err != nil {
		return nil, 0, s.wrap(err, "count webhook deliveries")
	}
	rows, err := s.query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries`+w.String()+` ORDER BY id DESC`+page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, s.wrap(err, "find webhook deliveries")
	}
	defer rows.Close()
	var out []*latchkey.WebhookDelivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, 0, s.wrap(err, "scan webhook delivery")
		}
		out = append(out, d)
	}
	return out, total, s.wrap(rows.Err(), "find webhook deliveries")
}

// FindWebhookAttempts returns a delivery's attempts, oldest first.
func (s *Store) FindWebhookAttempts(ctx context.Context, deliveryID int64) ([]*latchkey.WebhookAttempt, error) {
	rows, err := s.query(ctx, `SELECT delivery_id, node, at, status, response, error, duration_us FROM webhook_attempts
		WHERE delivery_id = ? ORDER BY id`, deliveryID)
	if err != nil {
		return nil, s.wrap(err, "find webhook attempts")
	}
	defer rows.Close()
	var out []*latchkey.WebhookAttempt
	for rows.Next() {
		var a latchkey.WebhookAttempt
		var at, us int64
		if err := rows.Scan(&a.DeliveryID, &a.Node, &at, &a.Status, &a.Response, &a.Error, &us); err != nil {
			return nil, s.wrap(err, "scan webhook attempt")
		}
		a.At, a.Duration = fromMicros(at), time.Duration(us)*time.Microsecond
		out = append(out, &a)
	}
	return out, s.wrap(rows.Err(), "find webhook attempts")
}

// RedeliverWebhook makes a delivery of an active subscription pending and due now, keeping its
// message id so the receiver can recognise a repeat. Audited.
func (s *Store) RedeliverWebhook(ctx context.Context, id int64) error {
	return s.withTx(ctx, func(t *tx) error {
		d, err := scanDelivery(t.queryRow(`SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("webhook delivery", id)
		}
		if err != nil {
			return s.wrap(err, "find webhook delivery")
		}
		w, err := t.activeWebhook(d.SubscriptionID)
		if err != nil {
			return err
		}
		if !w.Active {
			return latchkey.Errorf(latchkey.EConflict, "The webhook %q is disabled; enable it before redelivering.", w.Name)
		}
		// A delivery a node holds is being sent right now: taking its lease away would have a
		// second node send it at the same time. Pending and not held (waiting for its next
		// attempt), it is moved to now.
		res, err := t.exec(`UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ?, lease_node = '', lease_until = 0,
			updated_at = ? WHERE id = ? AND NOT (state = 'pending' AND lease_until > ?)`, micros(t.now), micros(t.now), id, micros(t.now))
		if err != nil {
			return s.wrap(err, "redeliver webhook")
		}
		if n, err := res.RowsAffected(); err != nil {
			return s.wrap(err, "redeliver webhook")
		} else if n == 0 {
			return latchkey.Errorf(latchkey.EConflict, "Delivery %d is being sent right now; redeliver it once this attempt has ended.", id)
		}
		return t.audit(d.AccountID, "webhook.delivery.redelivered", map[string]any{"webhook_id": w.ID, "delivery_id": d.ID,
			"event_type": d.EventType, "message_id": d.MessageID})
	})
}

// PruneWebhookDeliveries deletes ended deliveries (and their attempts) last changed before
// before; it returns how many went.
func (s *Store) PruneWebhookDeliveries(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.plainTx(ctx, func(t *sql.Tx) error {
		if _, err := t.ExecContext(ctx, s.q(`DELETE FROM webhook_attempts WHERE delivery_id IN
			(SELECT id FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < ?)`), micros(before)); err != nil {
			return err
		}
		res, err := t.ExecContext(ctx, s.q(`DELETE FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < ?`), micros(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, s.wrap(err, "prune webhook deliveries")
}

// plainTx runs fn in a transaction that does not take the audit lock: for work that writes no
// audit entry and locks only its own rows (delivery claims and outcomes).
func (s *Store) plainTx(ctx context.Context, fn func(t *sql.Tx) error) (err error) {
	t, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = t.Rollback()
			panic(p)
		}
		if err != nil {
			_ = t.Rollback()
		}
	}()
	if err = fn(t); err != nil {
		return err
	}
	return t.Commit()
}
