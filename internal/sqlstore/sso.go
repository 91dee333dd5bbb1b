package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey"
)

const ssoProviderColumns = `id, account_id, type, slug, allow_password_backdoor, issuer, client_id, client_secret_sealed, groups_claim, state, created_at, updated_at`

func scanSSOProvider(row scanner) (*latchkey.SSOProvider, error) {
	var sp latchkey.SSOProvider
	var created, updated int64
	if err := row.Scan(&sp.ID, &sp.AccountID, &sp.Type, &sp.Slug, &sp.AllowPasswordBackdoor, &sp.Issuer, &sp.ClientID,
		&sp.ClientSecretSealed, &sp.GroupsClaim, &sp.State, &created, &updated); err != nil {
		return nil, err
	}
	sp.CreatedAt, sp.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &sp, nil
}

// ssoProviderAudit describes a provider for the audit log: never the client secret, only
// whether there is one.
func ssoProviderAudit(sp *latchkey.SSOProvider) map[string]any {
	return map[string]any{"auth_provider_id": sp.ID, "type": sp.Type, "slug": sp.Slug, "issuer": sp.Issuer,
		"client_id": sp.ClientID, "client_secret_set": len(sp.ClientSecretSealed) > 0, "groups_claim": sp.GroupsClaim,
		"allow_password_backdoor": sp.AllowPasswordBackdoor}
}

// checkSlugFree refuses a slug another active provider uses (checked before the write, since a
// failed statement ends a PostgreSQL transaction).
func (t *tx) checkSlugFree(slug string, id int64) error {
	var n int
	if err := t.queryRow(`SELECT COUNT(*) FROM sso_providers WHERE slug = ? AND state = 1 AND id <> ?`, slug, id).Scan(&n); err != nil {
		return t.s.wrap(err, "check sso slug")
	}
	if n > 0 {
		return &latchkey.Error{Code: latchkey.EConflict, Field: "slug", Message: fmt.Sprintf("The SSO name (slug) %q is taken by another account.", slug)}
	}
	return nil
}

// ssoConflict names what an insert of a provider collided with.
func (t *tx) ssoConflict(err error, accountID int64) error {
	if !t.s.dialect.IsUniqueViolation(err) {
		return t.s.wrap(err, "store sso provider")
	}
	return latchkey.Errorf(latchkey.EConflict, "Account %d already has an SSO auth provider; change or delete that one.", accountID)
}

// CreateSSOProvider stores an account's SSO provider.
func (s *Store) CreateSSOProvider(ctx context.Context, sp *latchkey.SSOProvider) error {
	return s.withTx(ctx, func(t *tx) error {
		sp.State, sp.CreatedAt, sp.UpdatedAt = latchkey.StateActive, t.now, t.now
		if err := t.checkSlugFree(sp.Slug, 0); err != nil {
			return err
		}
		id, err := t.insert(`INSERT INTO sso_providers (account_id, type, slug, allow_password_backdoor, issuer, client_id, client_secret_sealed, groups_claim, state, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,?,1,?,?)`, sp.AccountID, sp.Type, sp.Slug, sp.AllowPasswordBackdoor, sp.Issuer, sp.ClientID,
			sp.ClientSecretSealed, sp.GroupsClaim, micros(t.now), micros(t.now))
		if err != nil {
			return t.ssoConflict(err, sp.AccountID)
		}
		sp.ID = id
		t.changed(latchkey.ChangeAccount, sp.AccountID, sp.AccountID)
		return t.audit(sp.AccountID, "sso.provider.created", ssoProviderAudit(sp))
	})
}

// FindSSOProviderByID returns a provider in any state.
func (s *Store) FindSSOProviderByID(ctx context.Context, id int64) (*latchkey.SSOProvider, error) {
	sp, err := scanSSOProvider(s.queryRow(ctx, `SELECT `+ssoProviderColumns+` FROM sso_providers WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("sso auth provider", id)
	}
	return sp, s.wrap(err, "find sso provider")
}

// FindSSOProviders lists providers by id.
func (s *Store) FindSSOProviders(ctx context.Context, f latchkey.SSOProviderFilter) ([]*latchkey.SSOProvider, error) {
	var w where
	if f.AccountID != nil {
		w.add("account_id = ?", *f.AccountID)
	}
	if f.Slug != nil {
		w.add("slug = ?", *f.Slug)
	}
	if f.State != nil {
		w.add("state = ?", int(*f.State))
	}
	rows, err := s.query(ctx, `SELECT `+ssoProviderColumns+` FROM sso_providers`+w.String()+` ORDER BY id`, w.args...)
	if err != nil {
		return nil, s.wrap(err, "find sso providers")
	}
	defer rows.Close()
	var out []*latchkey.SSOProvider
	for rows.Next() {
		sp, err := scanSSOProvider(rows)
		if err != nil {
			return nil, s.wrap(err, "scan sso provider")
		}
		out = append(out, sp)
	}
	return out, s.wrap(rows.Err(), "find sso providers")
}

func (t *tx) activeSSOProvider(id int64) (*latchkey.SSOProvider, error) {
	sp, err := scanSSOProvider(t.queryRow(`SELECT `+ssoProviderColumns+` FROM sso_providers WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("sso auth provider", id)
	}
	if err != nil {
		return nil, t.s.wrap(err, "find sso provider")
	}
	return sp, nil
}

// UpdateSSOProvider changes an active provider.
func (s *Store) UpdateSSOProvider(ctx context.Context, id int64, upd latchkey.SSOProviderUpdate) (*latchkey.SSOProvider, error) {
	var out *latchkey.SSOProvider
	err := s.withTx(ctx, func(t *tx) error {
		sp, err := t.activeSSOProvider(id)
		if err != nil {
			return err
		}
		if sp.State != latchkey.StateActive {
			return notFound("sso auth provider", id)
		}
		for _, f := range []struct {
			dst *string
			src *string
		}{{&sp.Slug, upd.Slug}, {&sp.Issuer, upd.Issuer}, {&sp.ClientID, upd.ClientID}, {&sp.GroupsClaim, upd.GroupsClaim}} {
			if f.src != nil {
				*f.dst = *f.src
			}
		}
		if upd.AllowPasswordBackdoor != nil {
			sp.AllowPasswordBackdoor = *upd.AllowPasswordBackdoor
		}
		if upd.ClientSecretSealed != nil {
			sp.ClientSecretSealed = *upd.ClientSecretSealed
		}
		sp.UpdatedAt = t.now
		if err := t.checkSlugFree(sp.Slug, id); err != nil {
			return err
		}
		if _, err := t.exec(`UPDATE sso_providers SET slug = ?, allow_password_backdoor = ?, issuer = ?, client_id = ?, client_secret_sealed = ?,
			groups_claim = ?, updated_at = ? WHERE id = ?`, sp.Slug, sp.AllowPasswordBackdoor, sp.Issuer, sp.ClientID, sp.ClientSecretSealed,
			sp.GroupsClaim, micros(t.now), id); err != nil {
			return s.wrap(err, "update sso provider")
		}
		out = sp
		t.changed(latchkey.ChangeAccount, sp.AccountID, sp.AccountID)
		ctx := ssoProviderAudit(sp)
		ctx["client_secret_changed"] = upd.ClientSecretSealed != nil
		return t.audit(sp.AccountID, "sso.provider.changed", ctx)
	})
	return out, err
}

// DeleteSSOProvider sets a provider's state to 2.
func (s *Store) DeleteSSOProvider(ctx context.Context, id int64) error {
	return s.withTx(ctx, func(t *tx) error {
		sp, err := t.activeSSOProvider(id)
		if err != nil || sp.State != latchkey.StateActive {
			return err
		}
		if _, err := t.exec(`UPDATE sso_providers SET state = 2, updated_at = ? WHERE id = ?`, micros(t.now), id); err != nil {
			return s.wrap(err, "delete sso provider")
		}
		t.changed(latchkey.ChangeAccount, sp.AccountID, sp.AccountID)
		return t.audit(sp.AccountID, "sso.provider.deleted", ssoProviderAudit(sp))
	})
}

const licenseMapColumns = `id, account_id, license_type, sso_groups, state, created_at, updated_at`

func scanLicenseMap(row scanner) (*latchkey.LicenseMap, error) {
	var m latchkey.LicenseMap
	var groups string
	var created, updated int64
	if err := row.Scan(&m.ID, &m.AccountID, &m.License, &groups, &m.State, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(groups), &m.SSOGroups); err != nil {
		return nil, fmt.Errorf("license map %d sso_groups: %w", m.ID, err)
	}
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &m, nil
}

func licenseMapAudit(m *latchkey.LicenseMap) map[string]any {
	return map[string]any{"license_map_id": m.ID, "license_type": string(m.License), "sso_license_mapping_groups": m.SSOGroups}
}

// CreateLicenseMap stores a license map.
func (s *Store) CreateLicenseMap(ctx context.Context, m *latchkey.LicenseMap) error {
	return s.withTx(ctx, func(t *tx) error {
		m.State, m.CreatedAt, m.UpdatedAt = latchkey.StateActive, t.now, t.now
		id, err := t.insert(`INSERT INTO license_maps (account_id, license_type, sso_groups, state, created_at, updated_at) VALUES (?,?,?,1,?,?)`,
			m.AccountID, string(m.License), encodeStrings(m.SSOGroups), micros(t.now), micros(t.now))
		if err != nil {
			return s.wrap(err, "create license map")
		}
		m.ID = id
		return t.audit(m.AccountID, "license_map.created", licenseMapAudit(m))
	})
}

// FindLicenseMapByID returns a license map in any state.
func (s *Store) FindLicenseMapByID(ctx context.Context, id int64) (*latchkey.LicenseMap, error) {
	m, err := scanLicenseMap(s.queryRow(ctx, `SELECT `+licenseMapColumns+` FROM license_maps WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("license map", id)
	}
	return m, s.wrap(err, "find license map")
}

// FindLicenseMaps lists an account's license maps by id.
func (s *Store) FindLicenseMaps(ctx context.Context, accountID int64, state *latchkey.State) ([]*latchkey.LicenseMap, error) {
	var w where
	w.add("account_id = ?", accountID)
	if state != nil {
		w.add("state = ?", int(*state))
	}
	rows, err := s.query(ctx, `SELECT `+licenseMapColumns+` FROM license_maps`+w.String()+` ORDER BY id`, w.args...)
	if err != nil {
		return nil, s.wrap(err, "find license maps")
	}
	defer rows.Close()
	var out []*latchkey.LicenseMap
	for rows.Next() {
		m, err := scanLicenseMap(rows)
		if err != nil {
			return nil, s.wrap(err, "scan license map")
		}
		out = append(out, m)
	}
	return out, s.wrap(rows.Err(), "find license maps")
}

func (t *tx) activeLicenseMap(id int64) (*latchkey.LicenseMap, error) {
	m, err := scanLicenseMap(t.queryRow(`SELECT `+licenseMapColumns+` FROM license_maps WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) || err == nil && m.State != latchkey.StateActive {
		return nil, notFound("license map", id)
	}
	return m, t.s.wrap(err, "find license map")
}

// UpdateLicenseMap changes an active license map.
func (s *Store) UpdateLicenseMap(ctx context.Context, id int64, upd latchkey.LicenseMapUpdate) (*latchkey.LicenseMap, error) {
	var out *latchkey.LicenseMap
	err := s.withTx(ctx, func(t *tx) error {
		m, err := t.activeLicenseMap(id)
		if err != nil {
			return err
		}
		if upd.License != nil {
			m.License = *upd.License
		}
		if upd.SSOGroups != nil {
			m.SSOGroups = *upd.SSOGroups
		}
		m.UpdatedAt = t.now
		if _, err := t.exec(`UPDATE license_maps SET license_type = ?, sso_groups = ?, updated_at = ? WHERE id = ?`,
			string(m.License), encodeStrings(m.SSOGroups), micros(t.now), id); err != nil {
			return s.wrap(err, "update license map")
		}
		out = m
		return t.audit(m.AccountID, "license_map.changed", licenseMapAudit(m))
	})
	return out, err
}

// DeleteLicenseMap sets a license map's state to 2.
func (s *Store) DeleteLicenseMap(ctx context.Context, id int64) error {
	return s.withTx(ctx, func(t *tx) error {
		m, err := t.activeLicenseMap(id)
		if err != nil {
			return err
		}
		if _, err := t.exec(`UPDATE license_maps SET state = 2, updated_at = ? WHERE id = ?`, micros(t.now), id); err != nil {
			return s.wrap(err, "delete license map")
		}
		return t.audit(m.AccountID, "license_map.deleted", licenseMapAudit(m))
	})
}
