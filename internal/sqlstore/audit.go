package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

const auditColumns = `id, account_id, created_at, event_type, actor_type, actor_id, actor_name, actor_ip, source,
	context, prev_hash, hash`

func scanAudit(row scanner) (*latchkey.AuditEntry, error) {
	var e latchkey.AuditEntry
	var created int64
	var raw string
	if err := row.Scan(&e.ID, &e.AccountID, &created, &e.EventType, &e.ActorType, &e.ActorID, &e.ActorName,
		&e.ActorIP, &e.Source, &raw, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.CreatedAt = fromMicros(created)
	e.RawContext = []byte(raw)
	if err := json.Unmarshal(e.RawContext, &e.Context); err != nil {
		// A tampered context must not hide the entry; verification reports it.
		e.Context = map[string]any{"_unreadable": true}
	}
	return &e, nil
}

// AppendAudit records a standalone event with the context's actor unless e names one.
func (s *Store) AppendAudit(ctx context.Context, e *latchkey.AuditEntry) error {
	return s.withTx(ctx, func(t *tx) error {
		if e.ActorType == "" {
			e.ActorType, e.ActorID, e.ActorName, e.ActorIP, e.Source = t.actor.Type, t.actor.ID, t.actor.Name, t.actor.IP, t.actor.Source
		}
		e.CreatedAt = t.now
		return t.appendAudit(e)
	})
}

// FindAuditEntries lists an account's entries, newest first.
func (s *Store) FindAuditEntries(ctx context.Context, f latchkey.AuditFilter) ([]*latchkey.AuditEntry, int, error) {
	var w where
	w.add("account_id = ?", f.AccountID)
	if f.EventType != nil {
		switch et := *f.EventType; {
		case strings.HasSuffix(et, ".*"):
			w.add(`event_type LIKE ? ESCAPE '\'`, likePrefix(strings.TrimSuffix(et, "*")))
		case !strings.Contains(et, "."):
			// A category ("service_token") means every event in it, as "service_token.*" does.
			w.add(`(event_type = ? OR event_type LIKE ? ESCAPE '\')`, et, likePrefix(et+"."))
		default:
			w.add("event_type = ?", et)
		}
	}
	if f.Actor != nil {
		if kind, id, ok := strings.Cut(*f.Actor, ":"); ok {
			n, _ := strconv.ParseInt(id, 10, 64)
			w.add("actor_type = ? AND actor_id = ?", kind, n)
		} else {
			w.add("actor_name = ?", *f.Actor)
		}
	}
	if f.Since != nil {
		w.add("created_at >= ?", micros(*f.Since))
	}
	if f.Until != nil {
		w.add("created_at < ?", micros(*f.Until))
	}
	total, err := s.count(ctx, "audit_log", &w)
	if err != nil {
		return nil, 0, s.wrap(err, "count audit entries")
	}
	rows, err := s.query(ctx, `SELECT `+auditColumns+` FROM audit_log`+w.String()+` ORDER BY id DESC`+page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, s.wrap(err, "find audit entries")
	}
	defer rows.Close()
	var out []*latchkey.AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, 0, s.wrap(err, "scan audit entry")
		}
		out = append(out, e)
	}
	return out, total, s.wrap(rows.Err(), "find audit entries")
}

// AuditChain calls fn for every entry since a time, oldest first. A zero since means the
// whole chain.
func (s *Store) AuditChain(ctx context.Context, since time.Time, fn func(*latchkey.AuditEntry) error) error {
	var after int64
	var from int64
	if !since.IsZero() {
		from = micros(since)
	}
	for {
		rows, err := s.query(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE id > ? AND created_at >= ? ORDER BY id LIMIT 1000`, after, from)
		if err != nil {
			return s.wrap(err, "read audit chain")
		}
		n := 0
		for rows.Next() {
			e, err := scanAudit(rows)
			if err != nil {
				rows.Close()
				return s.wrap(err, "scan audit entry")
			}
			n++
			after = e.ID
			if err := fn(e); err != nil {
				rows.Close()
				return err
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return s.wrap(err, "read audit chain")
		}
		if n < 1000 {
			return nil
		}
	}
}

const ipRuleColumns = `id, account_id, name, type, description, cidrs, state, created_at, updated_at`

// ruleCIDRs is how a rule's ranges are stored in ip_rules.cidrs: JSON with each range's id and
// the next id to give, so that ids are never reused. Rules written before ids were kept hold a
// comma-separated list; their ranges read as ids 1, 2, … (as they were shown then).
type ruleCIDRs struct {
	Next  int64          `json:"next"`
	CIDRs []ruleCIDRJSON `json:"cidrs"`
}

type ruleCIDRJSON struct {
	ID      int64  `json:"id"`
	CIDR    string `json:"cidr"`
	Field   string `json:"field,omitempty"`
	Written string `json:"written,omitempty"`
}

func decodeRuleCIDRs(text string) (ruleCIDRs, error) {
	var rc ruleCIDRs
	switch {
	case text == "":
		rc.Next = 1
	case strings.HasPrefix(text, "{"):
		if err := json.Unmarshal([]byte(text), &rc); err != nil {
			return rc, fmt.Errorf("ip rule ranges: %w", err)
		}
	default:
		for i, c := range strings.Split(text, ",") {
			rc.CIDRs = append(rc.CIDRs, ruleCIDRJSON{ID: int64(i + 1), CIDR: c})
		}
		rc.Next = int64(len(rc.CIDRs) + 1)
	}
	return rc, nil
}

// assignRuleCIDRs gives want's entries their ids against have's: an entry naming one of have's
// ids, or one of have's ranges, keeps that id; the others get new ids from have.Next.
func assignRuleCIDRs(have ruleCIDRs, want []latchkey.IPRuleCIDR) (ruleCIDRs, []latchkey.IPRuleCIDR) {
	byID, byCIDR := map[int64]bool{}, map[string]int64{}
	for _, c := range have.CIDRs {
		byID[c.ID] = true
		byCIDR[c.CIDR] = c.ID
	}
	out := ruleCIDRs{Next: max(have.Next, 1)}
	taken := map[int64]bool{}
	for _, c := range want {
		id := c.ID
		if !byID[id] || taken[id] {
			id = 0
			if old, ok := byCIDR[c.CIDR]; ok && !taken[old] {
				id = old
			}
		}
		if id == 0 {
			id = out.Next
			out.Next++
		}
		taken[id] = true
		out.CIDRs = append(out.CIDRs, ruleCIDRJSON{ID: id, CIDR: c.CIDR, Field: c.Field, Written: c.Written})
	}
	return out, out.domain()
}

func (rc ruleCIDRs) domain() []latchkey.IPRuleCIDR {
	out := make([]latchkey.IPRuleCIDR, len(rc.CIDRs))
	for i, c := range rc.CIDRs {
		out[i] = latchkey.IPRuleCIDR{ID: c.ID, CIDR: c.CIDR, Field: c.Field, Written: c.Written}
	}
	return out
}

func (rc ruleCIDRs) encode() string {
	b, _ := json.Marshal(rc)
	return string(b)
}

func scanIPRule(row scanner) (*latchkey.IPRule, ruleCIDRs, error) {
	var r latchkey.IPRule
	var cidrs string
	var created, updated int64
	if err := row.Scan(&r.ID, &r.AccountID, &r.Name, &r.Type, &r.Description, &cidrs, &r.State, &created, &updated); err != nil {
		return nil, ruleCIDRs{}, err
	}
	rc, err := decodeRuleCIDRs(cidrs)
	if err != nil {
		return nil, rc, err
	}
	r.CIDRs = rc.domain()
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, rc, nil
}

func ruleAudit(r *latchkey.IPRule) map[string]any {
	return map[string]any{"rule_id": r.ID, "name": r.Name, "type": int(r.Type), "cidrs": strings.Join(r.CIDRStrings(), ",")}
}

// CreateIPRule stores an IP rule.
func (s *Store) CreateIPRule(ctx context.Context, r *latchkey.IPRule) error {
	return s.withTx(ctx, func(t *tx) error {
		r.State, r.CreatedAt, r.UpdatedAt = latchkey.StateActive, t.now, t.now
		var rc ruleCIDRs
		rc, r.CIDRs = assignRuleCIDRs(ruleCIDRs{Next: 1}, r.CIDRs)
		id, err := t.insert(`INSERT INTO ip_rules (account_id, name, type, description, cidrs, state, created_at, updated_at)
			VALUES (?,?,?,?,?,1,?,?)`, r.AccountID, r.Name, r.Type, r.Description, rc.encode(), micros(t.now), micros(t.now))
		if err != nil {
			return s.wrap(err, "create ip rule")
		}
		r.ID = id
		t.changed(latchkey.ChangeAccount, r.AccountID, r.AccountID)
		return t.audit(r.AccountID, "ip_restrictions.rule.added", ruleAudit(r))
	})
}

// FindIPRuleByID returns a rule in any state.
func (s *Store) FindIPRuleByID(ctx context.Context, id int64) (*latchkey.IPRule, error) {
	r, _, err := scanIPRule(s.queryRow(ctx, `SELECT `+ipRuleColumns+` FROM ip_rules WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("ip restriction rule", id)
	}
	return r, s.wrap(err, "find ip rule")
}

// FindIPRules lists an account's active rules.
func (s *Store) FindIPRules(ctx context.Context, accountID int64) ([]*latchkey.IPRule, error) {
	rows, err := s.query(ctx, `SELECT `+ipRuleColumns+` FROM ip_rules WHERE account_id = ? AND state = 1 ORDER BY id`, accountID)
	if err != nil {
		return nil, s.wrap(err, "find ip rules")
	}
	defer rows.Close()
	var out []*latchkey.IPRule
	for rows.Next() {
		r, _, err := scanIPRule(rows)
		if err != nil {
			return nil, s.wrap(err, "scan ip rule")
		}
		out = append(out, r)
	}
	return out, s.wrap(rows.Err(), "find ip rules")
}

// UpdateIPRule changes a rule.
func (s *Store) UpdateIPRule(ctx context.Context, id int64, upd latchkey.IPRuleUpdate) (*latchkey.IPRule, error) {
	var out *latchkey.IPRule
	err := s.withTx(ctx, func(t *tx) error {
		r, rc, err := scanIPRule(t.queryRow(`SELECT `+ipRuleColumns+` FROM ip_rules WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("ip restriction rule", id)
		}
		if err != nil {
			return s.wrap(err, "find ip rule")
		}
		if r.State != latchkey.StateActive {
			return notFound("ip restriction rule", id)
		}
		if upd.Name != nil {
			r.Name = *upd.Name
		}
		if upd.Type != nil {
			r.Type = *upd.Type
		}
		if upd.Description != nil {
			r.Description = *upd.Description
		}
		if upd.CIDRs != nil {
			rc, r.CIDRs = assignRuleCIDRs(rc, *upd.CIDRs)
		}
		r.UpdatedAt = t.now
		if _, err := t.exec(`UPDATE ip_rules SET name = ?, type = ?, description = ?, cidrs = ?, updated_at = ? WHERE id = ?`,
			r.Name, r.Type, r.Description, rc.encode(), micros(t.now), id); err != nil {
			return s.wrap(err, "update ip rule")
		}
		out = r
		t.changed(latchkey.ChangeAccount, r.AccountID, r.AccountID)
		return t.audit(r.AccountID, "ip_restrictions.rule.changed", ruleAudit(r))
	})
	return out, err
}

// DeleteIPRule removes a rule.
func (s *Store) DeleteIPRule(ctx context.Context, id int64) error {
	return s.withTx(ctx, func(t *tx) error {
		r, _, err := scanIPRule(t.queryRow(`SELECT `+ipRuleColumns+` FROM ip_rules WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("ip restriction rule", id)
		}
		if err != nil {
			return s.wrap(err, "find ip rule")
		}
		if r.State != latchkey.StateActive {
			return nil
		}
		if _, err := t.exec(`UPDATE ip_rules SET state = 2, updated_at = ? WHERE id = ?`, micros(t.now), id); err != nil {
			return s.wrap(err, "delete ip rule")
		}
		t.changed(latchkey.ChangeAccount, r.AccountID, r.AccountID)
		return t.audit(r.AccountID, "ip_restrictions.rule.removed", ruleAudit(r))
	})
}

// CreateSession stores a browser session.
func (s *Store) CreateSession(ctx context.Context, sess *latchkey.Session) error {
	return s.withTx(ctx, func(t *tx) error {
		sess.CreatedAt, sess.LastSeenAt = t.now, t.now
		_, err := t.exec(`INSERT INTO sessions (hash, user_id, account_id, csrf_secret, created_at, last_seen_at, expires_at, sso_account_id)
			VALUES (?,?,?,?,?,?,?,?)`, sess.Hash, sess.UserID, sess.AccountID, sess.CSRFSecret, micros(t.now), micros(t.now), micros(sess.ExpiresAt),
			sess.SSOAccountID)
		return s.wrap(err, "create session")
	})
}

// FindSession returns a session by the hash of its cookie value.
func (s *Store) FindSession(ctx context.Context, hash []byte) (*latchkey.Session, error) {
	var sess latchkey.Session
	var created, seen, expires int64
	err := s.queryRow(ctx, `SELECT hash, user_id, account_id, csrf_secret, created_at, last_seen_at, expires_at, sso_account_id
		FROM sessions WHERE hash = ?`, hash).Scan(&sess.Hash, &sess.UserID, &sess.AccountID, &sess.CSRFSecret, &created, &seen, &expires, &sess.SSOAccountID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, latchkey.Errorf(latchkey.ENotFound, "session not found")
	}
	if err != nil {
		return nil, s.wrap(err, "find session")
	}
	sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(expires)
	return &sess, nil
}

// UpdateSession records activity and the selected account.
func (s *Store) UpdateSession(ctx context.Context, hash []byte, accountID int64, lastSeen time.Time) error {
	_, err := s.exec(ctx, `UPDATE sessions SET account_id = ?, last_seen_at = ? WHERE hash = ?`, accountID, micros(lastSeen), hash)
	return s.wrap(err, "update session")
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	_, err := s.exec(ctx, `DELETE FROM sessions WHERE hash = ?`, hash)
	return s.wrap(err, "delete session")
}
