package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

const tokenColumns = `id, account_id, kind, user_id, uid, name, state, hash, legacy_prefix, legacy_hash, created_at,
	updated_at, expires_at, last_used_at, last_used_ip, tokens.family_id, rotated_at, grace_until, replaced_by_id,
	allowed_cidrs, created_by, flagged, revoked_at, revoked_reason, revoked_by, rate_limits,
	c.credits_remaining, c.credits_refill_amount, c.credits_refill_interval, c.credits_refill_day, c.credits_set_at`

// tokenFrom is what tokenColumns are selected from: a token with its family's credits.
const tokenFrom = `tokens LEFT JOIN token_credits c ON c.family_id = tokens.family_id`

func scanToken(row scanner) (*latchkey.Token, error) {
	var t latchkey.Token
	var userID sql.NullInt64
	var legacyPrefix, legacyHash sql.NullString
	var created, updated int64
	var expires, lastUsed, rotated, grace, revoked sql.NullInt64
	var cidrs, limits string
	var remaining, refillAmount, refillDay, setAt sql.NullInt64
	var refillInterval sql.NullString
	err := row.Scan(&t.ID, &t.AccountID, &t.Kind, &userID, &t.UID, &t.Name, &t.State, &t.Hash, &legacyPrefix,
		&legacyHash, &created, &updated, &expires, &lastUsed, &t.LastUsedIP, &t.FamilyID, &rotated, &grace,
		&t.ReplacedByID, &cidrs, &t.CreatedBy, &t.Flagged, &revoked, &t.RevokedReason, &t.RevokedBy, &limits,
		&remaining, &refillAmount, &refillInterval, &refillDay, &setAt)
	if err != nil {
		return nil, err
	}
	t.UserID = userID.Int64
	t.LegacyPrefix, t.LegacyHash = legacyPrefix.String, legacyHash.String
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	t.ExpiresAt, t.LastUsedAt = fromNullMicros(expires), fromNullMicros(lastUsed)
	t.RotatedAt, t.GraceUntil = fromNullMicros(rotated), fromNullMicros(grace)
	t.RevokedAt = fromNullMicros(revoked)
	if t.RateLimits, err = latchkey.UnmarshalRateLimits(limits); err != nil {
		return nil, err
	}
	if remaining.Valid {
		t.Credits = &latchkey.Credits{Remaining: remaining.Int64, SetAt: fromMicros(setAt.Int64)}
		if refillInterval.String != "" {
			t.Credits.Refill = &latchkey.Refill{Amount: refillAmount.Int64, Interval: refillInterval.String, Day: int(refillDay.Int64)}
		}
	}
	if cidrs != "" {
		for _, c := range strings.Split(cidrs, ",") {
			p, err := netip.ParsePrefix(c)
			if err != nil {
				return nil, err
			}
			t.AllowedCIDRs = append(t.AllowedCIDRs, p)
		}
	}
	return &t, nil
}

func joinCIDRs(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func tokenEvent(kind latchkey.TokenKind, what string) string {
	if kind == latchkey.KindPAT {
		if what == "revoked" {
			what = "deleted"
		}
		return "account_scoped_pat." + what
	}
	return "service_token." + what
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// auditTime records an optional time in an audit entry: RFC 3339, or "never".
func auditTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func tokenAudit(tok *latchkey.Token) map[string]any {
	m := map[string]any{"token_id": tok.ID, "uid": tok.UID, "name": tok.Name}
	if tok.UserID != 0 {
		m["user_id"] = tok.UserID
	}
	return m
}

func (t *tx) insertToken(tok *latchkey.Token) error {
	// An import may carry the token's original creation time.
	if tok.CreatedAt.IsZero() {
		tok.CreatedAt = t.now
	}
	tok.State, tok.UpdatedAt = latchkey.StateActive, t.now
	id, err := t.insert(`INSERT INTO tokens (account_id, kind, user_id, uid, name, state, hash, legacy_prefix, legacy_hash,
		created_at, updated_at, expires_at, family_id, allowed_cidrs, created_by, rate_limits) VALUES (?,?,?,?,?,1,?,?,?,?,?,?,?,?,?,?)`,
		tok.AccountID, tok.Kind, nullID(tok.UserID), tok.UID, tok.Name, tok.Hash, nullString(tok.LegacyPrefix),
		nullString(tok.LegacyHash), micros(tok.CreatedAt), micros(t.now), nullMicros(tok.ExpiresAt), tok.FamilyID,
		joinCIDRs(tok.AllowedCIDRs), tok.CreatedBy, latchkey.MarshalRateLimits(tok.RateLimits))
	if err != nil {
		if t.s.dialect.IsUniqueViolation(err) {
			return latchkey.Errorf(latchkey.EConflict, "token uid or hash collision; try again")
		}
		return t.s.wrap(err, "create token")
	}
	tok.ID = id
	if tok.FamilyID == 0 {
		tok.FamilyID = id
		if _, err := t.exec(`UPDATE tokens SET family_id = ? WHERE id = ?`, id, id); err != nil {
			return t.s.wrap(err, "set token family")
		}
		// A new family's credits; a rotated successor shares its family's.
		if err := t.setCredits(id, tok.Credits); err != nil {
			return err
		}
	}
	return t.insertGrants(tok.AccountID, 0, id, tok.Grants)
}

// CreateToken stores a token and its grants.
func (s *Store) CreateToken(ctx context.Context, tok *latchkey.Token) error {
	return s.withTx(ctx, func(t *tx) error { return t.createToken(tok) })
}

// CreateTokens stores many tokens in one transaction.
func (s *Store) CreateTokens(ctx context.Context, toks []*latchkey.Token) error {
	return s.withTx(ctx, func(t *tx) error {
		for _, tok := range toks {
			if err := t.createToken(tok); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *tx) createToken(tok *latchkey.Token) error {
	if tok.IdempotencyKey != nil {
		// Write transactions run one at a time (SQLite's IMMEDIATE, PostgreSQL's audit lock),
		// so the read and the insert below cannot interleave with a concurrent retry.
		var id, created int64
		err := t.queryRow(`SELECT token_id, created_at FROM idempotency_keys WHERE account_id = ? AND principal = ? AND key_hash = ?`,
			tok.AccountID, tok.CreatedBy, tok.IdempotencyKey).Scan(&id, &created)
		switch {
		case err == nil && fromMicros(created).After(t.now.Add(-latchkey.IdempotencyWindow)):
			return latchkey.IdempotentReplay(id)
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return t.s.wrap(err, "find idempotency key")
		}
		if _, err := t.exec(`DELETE FROM idempotency_keys WHERE account_id = ? AND (created_at < ? OR (principal = ? AND key_hash = ?))`,
			tok.AccountID, micros(t.now.Add(-latchkey.IdempotencyWindow)), tok.CreatedBy, tok.IdempotencyKey); err != nil {
			return t.s.wrap(err, "expire idempotency keys")
		}
	}
	if err := t.insertToken(tok); err != nil {
		return err
	}
	if tok.IdempotencyKey != nil {
		if _, err := t.exec(`INSERT INTO idempotency_keys (account_id, principal, key_hash, token_id, created_at) VALUES (?,?,?,?,?)`,
			tok.AccountID, tok.CreatedBy, tok.IdempotencyKey, tok.ID, micros(t.now)); err != nil {
			return t.s.wrap(err, "record idempotency key")
		}
	}
	a := tokenAudit(tok)
	if tok.Kind == latchkey.KindServiceToken {
		a["permission_grants"] = grantsJSON(tok.Grants)
	}
	if tok.ExpiresAt != nil {
		a["expires_at"] = tok.ExpiresAt.Format(time.RFC3339)
	}
	if tok.Legacy() {
		a["legacy"] = true
	}
	t.changed(latchkey.ChangeToken, tok.AccountID, tok.ID)
	return t.audit(tok.AccountID, tokenEvent(tok.Kind, "created"), a)
}

func (s *Store) findToken(ctx context.Context, cond string, arg any) (*latchkey.Token, error) {
	tok, err := scanToken(s.queryRow(ctx, `SELECT `+tokenColumns+` FROM `+tokenFrom+` WHERE `+cond, arg))
	if err != nil {
		return nil, err
	}
	grants, err := s.loadGrants(ctx, "token_id", []int64{tok.ID})
	if err != nil {
		return nil, err
	}
	tok.Grants = grants[tok.ID]
	return tok, nil
}

// FindTokenByID returns a token in any state, with its active grants.
func (s *Store) FindTokenByID(ctx context.Context, id int64) (*latchkey.Token, error) {
	tok, err := s.findToken(ctx, "id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("token", id)
	}
	return tok, s.wrap(err, "find token")
}

// FindTokenByHash returns the token whose string hashes to hash, in any state.
func (s *Store) FindTokenByHash(ctx context.Context, hash []byte) (*latchkey.Token, error) {
	tok, err := s.findToken(ctx, "hash = ?", hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, latchkey.Errorf(latchkey.ENotFound, "token not found")
	}
	return tok, s.wrap(err, "find token")
}

// hashBatchSizes are the sizes of the IN lists of FindTokensByHash and FindTokenVersions: at most
// 128 hashes per query, and smaller batches padded to one of these, so that the prepared-statement
// cache holds a handful of shapes, not one per length.
var hashBatchSizes = []int{8, 32, 128}

// FindTokensByHash returns the tokens whose hashes are among hashes, in any state and with their
// active grants, in one token query and one grant query per 128 hashes.
func (s *Store) FindTokensByHash(ctx context.Context, hashes [][]byte) ([]*latchkey.Token, error) {
	var out []*latchkey.Token
	for len(hashes) > 0 {
		n := min(len(hashes), hashBatchSizes[len(hashBatchSizes)-1])
		args := hashArgs(hashes[:n])
		hashes = hashes[n:]
		rows, err := s.query(ctx, `SELECT `+tokenColumns+` FROM `+tokenFrom+` WHERE hash IN (?`+strings.Repeat(",?", len(args)-1)+`)`, args...)
		if err != nil {
			return nil, s.wrap(err, "find tokens by hash")
		}
		var toks []*latchkey.Token
		for rows.Next() {
			tok, err := scanToken(rows)
			if err != nil {
				rows.Close()
				return nil, s.wrap(err, "find tokens by hash")
			}
			toks = append(toks, tok)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, s.wrap(err, "find tokens by hash")
		}
		ids := make([]int64, len(toks))
		for i, t := range toks {
			ids[i] = t.ID
		}
		grants, err := s.loadGrants(ctx, "token_id", ids)
		if err != nil {
			return nil, err
		}
		for _, t := range toks {
			t.Grants = grants[t.ID]
		}
		out = append(out, toks...)
	}
	return out, nil
}

// FindTokenVersions returns the id and updated_at of the tokens whose hashes are among hashes, in
// one query per 128 hashes.
func (s *Store) FindTokenVersions(ctx context.Context, hashes [][]byte) ([]latchkey.TokenVersion, error) {
	var out []latchkey.TokenVersion
	for len(hashes) > 0 {
		n := min(len(hashes), hashBatchSizes[len(hashBatchSizes)-1])
		args := hashArgs(hashes[:n])
		hashes = hashes[n:]
		rows, err := s.query(ctx, `SELECT id, hash, updated_at FROM tokens WHERE hash IN (?`+strings.Repeat(",?", len(args)-1)+`)`, args...)
		if err != nil {
			return nil, s.wrap(err, "find token versions")
		}
		for rows.Next() {
			var v latchkey.TokenVersion
			var updated int64
			if err := rows.Scan(&v.ID, &v.Hash, &updated); err != nil {
				rows.Close()
				return nil, s.wrap(err, "find token versions")
			}
			v.UpdatedAt = fromMicros(updated)
			out = append(out, v)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, s.wrap(err, "find token versions")
		}
	}
	return out, nil
}

// hashArgs makes query arguments of a batch of at most 128 hashes, padded (repeating the last)
// to one of hashBatchSizes.
func hashArgs(batch [][]byte) []any {
	size := hashBatchSizes[len(hashBatchSizes)-1]
	for _, sz := range hashBatchSizes {
		if sz >= len(batch) {
			size = sz
			break
		}
	}
	args := make([]any, size)
	for i := range args {
		args[i] = batch[min(i, len(batch)-1)]
	}
	return args
}

// endedWhere keeps the tokens that had stopped working at at (state 2, rotated out or expired),
// or with how only those that ended that way. A token that ended several ways (revoked after
// it expired) counts under its revocation.
func endedWhere(w *where, how latchkey.TokenEnd, at int64) error {
	const (
		rotatedOut = "(replaced_by_id <> 0 AND grace_until <= ?)"
		expired    = "(expires_at IS NOT NULL AND expires_at <= ?)"
	)
	switch how {
	case "":
		w.add("(state = 2 OR "+rotatedOut+" OR "+expired+")", at, at)
	case latchkey.EndRevoked:
		w.add("state = 2 AND revoked_reason NOT IN ('leak_reported', 'reuse_detected', 'rotated')")
	case latchkey.EndLeaked:
		w.add("state = 2 AND revoked_reason = 'leak_reported'")
	case latchkey.EndReuse:
		w.add("state = 2 AND revoked_reason = 'reuse_detected'")
	case latchkey.EndRotatedOut:
		// Rotated with no grace period: revoked at once, as "rotated".
		w.add("(state = 1 AND "+rotatedOut+" OR state = 2 AND revoked_reason = 'rotated')", at)
	case latchkey.EndExpired:
		w.add("state = 1 AND NOT "+rotatedOut+" AND "+expired, at, at)
	default:
		return latchkey.Errorf(latchkey.EInvalid, "unknown way for a token to end: %q", how)
	}
	return nil
}

// FindTokens lists tokens with their grants, newest last.
func (s *Store) FindTokens(ctx context.Context, f latchkey.TokenFilter) ([]*latchkey.Token, int, error) {
	var w where
	if f.AccountID != nil {
		w.add("account_id = ?", *f.AccountID)
	}
	if f.Kind != nil {
		w.add("kind = ?", *f.Kind)
	}
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.UserID != nil {
		w.add("user_id = ?", *f.UserID)
	}
	if f.UID != nil {
		w.add("uid = ?", *f.UID)
	}
	if f.State != nil {
		w.add("state = ?", *f.State)
	}
	if f.ExpiresBefore != nil {
		w.add("expires_at IS NOT NULL AND expires_at < ?", micros(*f.ExpiresBefore))
	}
	if f.FamilyID != nil {
		w.add("tokens.family_id = ?", *f.FamilyID)
	}
	if f.LegacyPrefix != nil {
		w.add("legacy_prefix = ?", *f.LegacyPrefix)
	}
	if f.LiveAt != nil {
		at := micros(*f.LiveAt)
		w.add("state = 1 AND (replaced_by_id = 0 OR grace_until > ?) AND (expires_at IS NULL OR expires_at > ?)", at, at)
	}
	if f.EndedAt != nil {
		if err := endedWhere(&w, f.EndedHow, micros(*f.EndedAt)); err != nil {
			return nil, 0, err
		}
	}
	if f.NameContains != "" {
		w.add(`LOWER(name) LIKE ? ESCAPE '\'`, "%"+likePrefix(strings.ToLower(f.NameContains)))
	}
	total, err := s.count(ctx, "tokens", &w)
	if err != nil {
		return nil, 0, s.wrap(err, "count tokens")
	}
	rows, err := s.query(ctx, `SELECT `+tokenColumns+` FROM `+tokenFrom+w.String()+s.orderBy(f.Order)+page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, s.wrap(err, "find tokens")
	}
	defer rows.Close()
	var out []*latchkey.Token
	var ids []int64
	for rows.Next() {
		tok, err := scanToken(rows)
		if err != nil {
			return nil, 0, s.wrap(err, "scan token")
		}
		out = append(out, tok)
		ids = append(ids, tok.ID)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, s.wrap(err, "find tokens")
	}
	grants, err := s.loadGrants(ctx, "token_id", ids)
	if err != nil {
		return nil, 0, err
	}
	for _, tok := range out {
		tok.Grants = grants[tok.ID]
	}
	return out, total, nil
}

func (t *tx) lockToken(id int64) (*latchkey.Token, error) {
	tok, err := scanToken(t.queryRow(`SELECT `+tokenColumns+` FROM `+tokenFrom+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("token", id)
	}
	if err != nil {
		return nil, t.s.wrap(err, "find token")
	}
	tok.Grants, err = t.activeGrants("token_id", id)
	return tok, err
}

// UpdateToken renames, flags or changes the state of a token.
func (s *Store) UpdateToken(ctx context.Context, id int64, upd latchkey.TokenUpdate) (*latchkey.Token, error) {
	var out *latchkey.Token
	err := s.withTx(ctx, func(t *tx) error {
		tok, err := t.lockToken(id)
		if err != nil {
			return err
		}
		out = tok
		var events []string
		a := tokenAudit(tok)
		if upd.Name != nil && *upd.Name != tok.Name {
			a["from"], a["to"] = tok.Name, *upd.Name
			tok.Name = *upd.Name
			events = append(events, tokenEvent(tok.Kind, "renamed"))
		}
		if upd.Flagged != nil && *upd.Flagged != tok.Flagged {
			tok.Flagged = *upd.Flagged
			events = append(events, tokenEvent(tok.Kind, "flagged"))
		}
		if upd.AllowedCIDRs != nil && joinCIDRs(*upd.AllowedCIDRs) != joinCIDRs(tok.AllowedCIDRs) {
			a["allowed_cidrs_from"], a["allowed_cidrs_to"] = joinCIDRs(tok.AllowedCIDRs), joinCIDRs(*upd.AllowedCIDRs)
			tok.AllowedCIDRs = append([]netip.Prefix(nil), *upd.AllowedCIDRs...)
			events = append(events, tokenEvent(tok.Kind, "addresses_changed"))
		}
		if upd.RateLimits != nil && latchkey.MarshalRateLimits(*upd.RateLimits) != latchkey.MarshalRateLimits(tok.RateLimits) {
			a["rate_limits_from"], a["rate_limits_to"] = latchkey.MarshalRateLimits(tok.RateLimits), latchkey.MarshalRateLimits(*upd.RateLimits)
			tok.RateLimits = append([]latchkey.RateLimit(nil), *upd.RateLimits...)
			events = append(events, tokenEvent(tok.Kind, "rate_limits_changed"))
		}
		if upd.Credits != nil || upd.ClearCredits {
			var next *latchkey.Credits
			if !upd.ClearCredits {
				next = upd.Credits
			}
			if from, to := creditsText(tok.Credits), creditsText(next); from != to {
				a["credits_from"], a["credits_to"] = from, to
				if err := t.setCredits(tok.FamilyID, next); err != nil {
					return err
				}
				// The family shares the credits: every member's cached entry must see them.
				if err := t.changedFamily(tok.AccountID, tok.FamilyID); err != nil {
					return err
				}
				tok.Credits = next
				events = append(events, tokenEvent(tok.Kind, "credits_changed"))
			}
		}
		if upd.ExpiresAt != nil {
			var next *time.Time
			if !upd.ExpiresAt.IsZero() {
				at := upd.ExpiresAt.UTC().Truncate(time.Microsecond)
				next = &at
			}
			if !sameTime(next, tok.ExpiresAt) {
				a["expires_at_from"], a["expires_at_to"] = auditTime(tok.ExpiresAt), auditTime(next)
				tok.ExpiresAt = next
				events = append(events, tokenEvent(tok.Kind, "expiry_changed"))
			}
		}
		revoke := false
		if upd.State != nil && *upd.State != tok.State {
			if *upd.State == latchkey.StateActive {
				return latchkey.FieldError("state", "a deleted token cannot be restored")
			}
			revoke = true
		}
		if len(events) > 0 {
			tok.UpdatedAt = t.now
			if _, err := t.exec(`UPDATE tokens SET name = ?, flagged = ?, allowed_cidrs = ?, expires_at = ?, rate_limits = ?, updated_at = ? WHERE id = ?`,
				tok.Name, tok.Flagged, joinCIDRs(tok.AllowedCIDRs), nullMicros(tok.ExpiresAt), latchkey.MarshalRateLimits(tok.RateLimits),
				micros(t.now), id); err != nil {
				return s.wrap(err, "update token")
			}
			t.changed(latchkey.ChangeToken, tok.AccountID, id)
			for _, e := range events {
				if err := t.audit(tok.AccountID, e, a); err != nil {
					return err
				}
			}
		}
		if revoke {
			return t.revoke(tok, "deleted")
		}
		return nil
	})
	return out, err
}

// AddTokenGrants gives grants to a token that has none (dbt's two-step creation).
func (s *Store) AddTokenGrants(ctx context.Context, id int64, grants []latchkey.Grant) (*latchkey.Token, error) {
	return s.setTokenGrants(ctx, id, grants, false)
}

// ReplaceTokenGrants makes grants exactly the token's grants.
func (s *Store) ReplaceTokenGrants(ctx context.Context, id int64, grants []latchkey.Grant) (*latchkey.Token, error) {
	return s.setTokenGrants(ctx, id, grants, true)
}

func (s *Store) setTokenGrants(ctx context.Context, id int64, grants []latchkey.Grant, replace bool) (*latchkey.Token, error) {
	var out *latchkey.Token
	err := s.withTx(ctx, func(t *tx) error {
		tok, err := t.lockToken(id)
		if err != nil {
			return err
		}
		if tok.Kind != latchkey.KindServiceToken {
			return latchkey.Errorf(latchkey.EInvalid, "personal access tokens act with their user's permissions and hold no grants")
		}
		if tok.State != latchkey.StateActive {
			return latchkey.Errorf(latchkey.EInvalid, "token %d is deleted", id)
		}
		if !replace && len(tok.Grants) > 0 {
			return latchkey.Errorf(latchkey.EInvalid, "token %d already has permissions; use PUT to replace them", id)
		}
		if _, err := t.exec(`UPDATE grants SET state = 2, updated_at = ? WHERE token_id = ? AND state = 1`, micros(t.now), id); err != nil {
			return s.wrap(err, "remove grants")
		}
		if err := t.insertGrants(tok.AccountID, 0, id, grants); err != nil {
			return err
		}
		if _, err := t.exec(`UPDATE tokens SET updated_at = ? WHERE id = ?`, micros(t.now), id); err != nil {
			return s.wrap(err, "update token")
		}
		a := tokenAudit(tok)
		a["from"], a["to"] = grantsJSON(tok.Grants), grantsJSON(grants)
		tok.Grants, tok.UpdatedAt = grants, t.now
		out = tok
		t.changed(latchkey.ChangeToken, tok.AccountID, id)
		return t.audit(tok.AccountID, "service_token.permissions_changed", a)
	})
	return out, err
}

// DeleteToken revokes a token at once. Deleting a deleted token does nothing.
func (s *Store) DeleteToken(ctx context.Context, id int64, reason string) error {
	return s.withTx(ctx, func(t *tx) error {
		tok, err := t.lockToken(id)
		if err != nil {
			return err
		}
		return t.revoke(tok, reason)
	})
}

func (t *tx) revoke(tok *latchkey.Token, reason string) error {
	if tok.State == latchkey.StateDeleted {
		return nil
	}
	if reason == "" {
		reason = "deleted"
	}
	by := t.actor.Ref()
	if _, err := t.exec(`UPDATE tokens SET state = 2, updated_at = ?, revoked_at = ?, revoked_reason = ?, revoked_by = ?
		WHERE id = ?`, micros(t.now), micros(t.now), reason, by, tok.ID); err != nil {
		return t.s.wrap(err, "delete token")
	}
	tok.State, tok.UpdatedAt = latchkey.StateDeleted, t.now
	tok.RevokedAt, tok.RevokedReason, tok.RevokedBy = ptr(t.now), reason, by
	t.changed(latchkey.ChangeToken, tok.AccountID, tok.ID)
	a := tokenAudit(tok)
	a["reason"] = reason
	return t.audit(tok.AccountID, tokenEvent(tok.Kind, "revoked"), a)
}

// revokeUserTokens revokes a user's live PATs in an account.
func (t *tx) revokeUserTokens(accountID, userID int64) error {
	rows, err := t.query(`SELECT id FROM tokens WHERE account_id = ? AND user_id = ? AND state = 1`, accountID, userID)
	if err != nil {
		return t.s.wrap(err, "find user tokens")
	}
	ids, err := scanIDs(rows)
	if err != nil {
		return t.s.wrap(err, "find user tokens")
	}
	for _, id := range ids {
		tok, err := t.lockToken(id)
		if err != nil {
			return err
		}
		if err := t.revoke(tok, "membership_removed"); err != nil {
			return err
		}
	}
	return nil
}

// RotateToken stores next as the successor of token id, keeping the old one valid for grace.
func (s *Store) RotateToken(ctx context.Context, id int64, next *latchkey.Token, grace time.Duration) error {
	return s.withTx(ctx, func(t *tx) error {
		old, err := t.lockToken(id)
		if err != nil {
			return err
		}
		if old.State != latchkey.StateActive {
			return latchkey.Errorf(latchkey.EInvalid, "token %d is deleted and cannot be rotated", id)
		}
		if old.ReplacedByID != 0 {
			return latchkey.Errorf(latchkey.EConflict, "token %d was already rotated; rotate its replacement %d", id, old.ReplacedByID)
		}
		next.AccountID, next.Kind, next.UserID, next.Name = old.AccountID, old.Kind, old.UserID, old.Name
		next.FamilyID, next.AllowedCIDRs, next.RateLimits = old.FamilyID, old.AllowedCIDRs, old.RateLimits
		next.Grants = make([]latchkey.Grant, len(old.Grants))
		for i, g := range old.Grants {
			next.Grants[i] = latchkey.Grant{PermissionSet: g.PermissionSet, AllProjects: g.AllProjects,
				ProjectID: g.ProjectID, WritableEnvs: g.WritableEnvs}
		}
		if err := t.insertToken(next); err != nil {
			return err
		}
		until := t.now.Add(grace)
		if grace <= 0 {
			// Revoked at once: the revoked view says it was rotated out.
			if _, err := t.exec(`UPDATE tokens SET state = 2, revoked_at = ?, revoked_reason = 'rotated', revoked_by = ?
				WHERE id = ?`, micros(t.now), t.actor.Ref(), id); err != nil {
				return s.wrap(err, "rotate token")
			}
		}
		if _, err := t.exec(`UPDATE tokens SET rotated_at = ?, grace_until = ?, replaced_by_id = ?, updated_at = ?
			WHERE id = ?`, micros(t.now), micros(until), next.ID, micros(t.now), id); err != nil {
			return s.wrap(err, "rotate token")
		}
		t.changed(latchkey.ChangeToken, old.AccountID, id)
		t.changed(latchkey.ChangeToken, old.AccountID, next.ID)
		a := tokenAudit(old)
		a["new_token_id"], a["new_uid"], a["grace_period_seconds"] = next.ID, next.UID, int64(grace/time.Second)
		return t.audit(old.AccountID, tokenEvent(old.Kind, "rotated"), a)
	})
}

// RecordTokenUses writes last-used times and addresses; an older observation never overwrites a
// newer one.
func (s *Store) RecordTokenUses(ctx context.Context, uses []latchkey.TokenUse) error {
	if len(uses) == 0 {
		return nil
	}
	return s.withTx(ctx, func(t *tx) error {
		for _, u := range uses {
			if _, err := t.exec(`UPDATE tokens SET last_used_at = ?, last_used_ip = ?
				WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
				micros(u.At), u.IP, u.TokenID, micros(u.At)); err != nil {
				return s.wrap(err, "record token use")
			}
		}
		return nil
	})
}

// setCredits makes c a family's credits (nil: none). A refill's current period counts as
// refilled: what is set is the balance until the next one.
func (t *tx) setCredits(family int64, c *latchkey.Credits) error {
	if c == nil {
		if _, err := t.exec(`DELETE FROM token_credits WHERE family_id = ?`, family); err != nil {
			return t.s.wrap(err, "remove credits")
		}
		return nil
	}
	var amount, refilled int64
	var interval string
	var day int
	if r := c.Refill; r != nil {
		amount, interval, day, refilled = r.Amount, r.Interval, r.Day, r.PeriodStart(t.now).Unix()
	}
	if _, err := t.exec(`INSERT INTO token_credits (family_id, credits_remaining, credits_refill_amount, credits_refill_interval,
		credits_refill_day, credits_refilled_at, credits_set_at) VALUES (?,?,?,?,?,?,?)
		ON CONFLICT (family_id) DO UPDATE SET credits_remaining = excluded.credits_remaining,
		credits_refill_amount = excluded.credits_refill_amount, credits_refill_interval = excluded.credits_refill_interval,
		credits_refill_day = excluded.credits_refill_day, credits_refilled_at = excluded.credits_refilled_at,
		credits_set_at = excluded.credits_set_at`,
		family, c.Remaining, amount, interval, day, refilled, micros(t.now)); err != nil {
		return t.s.wrap(err, "set credits")
	}
	return nil
}

// creditsText describes credits in an audit entry: "none", "1000", or "1000, refill 5000 daily"
// ("… monthly on day 1").
func creditsText(c *latchkey.Credits) string {
	if c == nil {
		return "none"
	}
	s := strconv.FormatInt(c.Remaining, 10)
	if r := c.Refill; r != nil {
		s += ", refill " + strconv.FormatInt(r.Amount, 10) + " " + r.Interval
		if r.Interval == latchkey.RefillMonthly {
			s += " on day " + strconv.Itoa(r.Day)
		}
	}
	return s
}

// changedFamily announces a change to every token of a rotation family.
func (t *tx) changedFamily(accountID, family int64) error {
	rows, err := t.query(`SELECT id FROM tokens WHERE family_id = ?`, family)
	if err != nil {
		return t.s.wrap(err, "find token family")
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return t.s.wrap(err, "find token family")
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return t.s.wrap(err, "find token family")
	}
	for _, id := range ids {
		t.changed(latchkey.ChangeToken, accountID, id)
	}
	return nil
}
