package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/latchkey/latchkey"
)

const trustPolicyColumns = `id, account_id, name, issuer, audience, conditions, family_id, grants, state, created_at, updated_at`

func scanTrustPolicy(row scanner) (*latchkey.TrustPolicy, error) {
	var p latchkey.TrustPolicy
	var conds, grants string
	var created, updated int64
	if err := row.Scan(&p.ID, &p.AccountID, &p.Name, &p.Issuer, &p.Audience, &conds, &p.FamilyID, &grants, &p.State, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(conds), &p.Conditions); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(grants), &p.Grants); err != nil {
		return nil, err
	}
	if p.Grants == nil {
		p.Grants = []string{}
	}
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &p, nil
}

func trustAudit(p *latchkey.TrustPolicy) map[string]any {
	conds := make([]string, len(p.Conditions))
	for i, c := range p.Conditions {
		conds[i] = c.String()
	}
	return map[string]any{"trust_policy_id": p.ID, "name": p.Name, "issuer": p.Issuer, "audience": p.Audience,
		"conditions": conds, "family_id": p.FamilyID, "grants": p.Grants}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// CreateTrustPolicy stores a policy, audited as trust_policy.created.
func (s *Store) CreateTrustPolicy(ctx context.Context, p *latchkey.TrustPolicy) error {
	return s.withTx(ctx, func(t *tx) error {
		p.State, p.CreatedAt, p.UpdatedAt = latchkey.StateActive, t.now, t.now
		if p.Grants == nil {
			p.Grants = []string{}
		}
		id, err := t.insert(`INSERT INTO trust_policies (account_id, name, issuer, audience, conditions, family_id, grants, state, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,1,?,?)`, p.AccountID, p.Name, p.Issuer, p.Audience, jsonText(p.Conditions), p.FamilyID, jsonText(p.Grants),
			micros(t.now), micros(t.now))
		if err != nil {
			return s.wrap(err, "create trust policy")
		}
		p.ID = id
		t.changed(latchkey.ChangeAccount, p.AccountID, p.AccountID)
		return t.audit(p.AccountID, "trust_policy.created", trustAudit(p))
	})
}

// FindTrustPolicyByID returns a policy in any state.
func (s *Store) FindTrustPolicyByID(ctx context.Context, id int64) (*latchkey.TrustPolicy, error) {
	p, err := scanTrustPolicy(s.queryRow(ctx, `SELECT `+trustPolicyColumns+` FROM trust_policies WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("trust policy", id)
	}
	return p, s.wrap(err, "find trust policy")
}

// FindTrustPolicies lists the active policies f selects.
func (s *Store) FindTrustPolicies(ctx context.Context, f latchkey.TrustPolicyFilter) ([]*latchkey.TrustPolicy, error) {
	q := `SELECT ` + trustPolicyColumns + ` FROM trust_policies WHERE state = 1`
	var args []any
	if f.AccountID != nil {
		q += ` AND account_id = ?`
		args = append(args, *f.AccountID)
	}
	if f.Issuer != nil {
		q += ` AND issuer = ?`
		args = append(args, *f.Issuer)
	}
	rows, err := s.query(ctx, q+` ORDER BY id LIMIT 1000`, args...)
	if err != nil {
		return nil, s.wrap(err, "find trust policies")
	}
	defer rows.Close()
	var out []*latchkey.TrustPolicy
	for rows.Next() {
		p, err := scanTrustPolicy(rows)
		if err != nil {
			return nil, s.wrap(err, "scan trust policy")
		}
		out = append(out, p)
	}
	return out, s.wrap(rows.Err(), "find trust policies")
}

// UpdateTrustPolicy changes an active policy, audited as trust_policy.updated with the policy
// before and after.
func (s *Store) UpdateTrustPolicy(ctx context.Context, id int64, upd latchkey.TrustPolicyUpdate) (*latchkey.TrustPolicy, error) {
	var out *latchkey.TrustPolicy
	err := s.withTx(ctx, func(t *tx) error {
		p, err := scanTrustPolicy(t.queryRow(`SELECT `+trustPolicyColumns+` FROM trust_policies WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) || err == nil && p.State != latchkey.StateActive {
			return notFound("trust policy", id)
		}
		if err != nil {
			return s.wrap(err, "find trust policy")
		}
		before := trustAudit(p)
		if upd.Name != nil {
			p.Name = *upd.Name
		}
		if upd.Audience != nil {
			p.Audience = *upd.Audience
		}
		if upd.Conditions != nil {
			p.Conditions = *upd.Conditions
		}
		if upd.Grants != nil {
			p.Grants = *upd.Grants
		}
		p.UpdatedAt = t.now
		if _, err := t.exec(`UPDATE trust_policies SET name = ?, audience = ?, conditions = ?, grants = ?, updated_at = ? WHERE id = ?`,
			p.Name, p.Audience, jsonText(p.Conditions), jsonText(p.Grants), micros(t.now), id); err != nil {
			return s.wrap(err, "update trust policy")
		}
		t.changed(latchkey.ChangeAccount, p.AccountID, p.AccountID)
		out = p
		return t.audit(p.AccountID, "trust_policy.updated", map[string]any{"trust_policy_id": p.ID, "before": before, "after": trustAudit(p)})
	})
	return out, err
}

// DeleteTrustPolicy deletes a policy, audited as trust_policy.deleted.
func (s *Store) DeleteTrustPolicy(ctx context.Context, id int64) error {
	return s.withTx(ctx, func(t *tx) error {
		p, err := scanTrustPolicy(t.queryRow(`SELECT `+trustPolicyColumns+` FROM trust_policies WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("trust policy", id)
		}
		if err != nil {
			return s.wrap(err, "find trust policy")
		}
		if p.State != latchkey.StateActive {
			return nil
		}
		if _, err := t.exec(`UPDATE trust_policies SET state = 2, updated_at = ? WHERE id = ?`, micros(t.now), id); err != nil {
			return s.wrap(err, "delete trust policy")
		}
		t.changed(latchkey.ChangeAccount, p.AccountID, p.AccountID)
		return t.audit(p.AccountID, "trust_policy.deleted", trustAudit(p))
	})
}
