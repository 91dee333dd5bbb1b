package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

const accountColumns = `id, name, plan, state, reuse_revokes_family, leak_action, max_token_lifetime_seconds,
	default_rotation_grace_seconds, ip_restrictions_enabled, created_at, updated_at, expiry_notice_days, unused_token_days, default_rate_limits,
	max_access_token_lifetime_seconds`

func scanAccount(row scanner) (*latchkey.Account, error) {
	var a latchkey.Account
	var created, updated, lifetime, grace, atLifetime int64
	var notices, limits string
	err := row.Scan(&a.ID, &a.Name, &a.Plan, &a.State, &a.Settings.ReuseRevokesFamily, &a.Settings.LeakAction,
		&lifetime, &grace, &a.Settings.IPRestrictionsEnabled, &created, &updated, &notices, &a.Settings.UnusedTokenDays, &limits, &atLifetime)
	if err != nil {
		return nil, err
	}
	if a.Settings.DefaultRateLimits, err = latchkey.UnmarshalRateLimits(limits); err != nil {
		return nil, fmt.Errorf("account %d default_rate_limits: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(notices), &a.Settings.ExpiryNoticeDays); err != nil {
		return nil, fmt.Errorf("account %d expiry_notice_days: %w", a.ID, err)
	}
	a.Settings.MaxTokenLifetime = time.Duration(lifetime) * time.Second
	a.Settings.DefaultRotationGrace = time.Duration(grace) * time.Second
	a.Settings.MaxAccessTokenLifetime = time.Duration(atLifetime) * time.Second
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &a, nil
}

// CreateAccount stores a new account together with its Owner, Member and Everyone groups.
func (s *Store) CreateAccount(ctx context.Context, a *latchkey.Account) error {
	return s.withTx(ctx, func(t *tx) error {
		a.State, a.CreatedAt, a.UpdatedAt = latchkey.StateActive, t.now, t.now
		if reflect.ValueOf(a.Settings).IsZero() {
			a.Settings = latchkey.DefaultAccountSettings()
		}
		if a.Settings.LeakAction == "" {
			a.Settings.LeakAction = "revoke"
		}
		a.Settings.ExpiryNoticeDays = a.Settings.NoticeDays()
		id, err := t.insert(`INSERT INTO accounts (name, plan, state, reuse_revokes_family, leak_action,
			max_token_lifetime_seconds, default_rotation_grace_seconds, ip_restrictions_enabled, created_at, updated_at,
			expiry_notice_days, unused_token_days, default_rate_limits, max_access_token_lifetime_seconds)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			a.Name, a.Plan, a.State, a.Settings.ReuseRevokesFamily, a.Settings.LeakAction,
			int64(a.Settings.MaxTokenLifetime/time.Second), int64(a.Settings.DefaultRotationGrace/time.Second),
			a.Settings.IPRestrictionsEnabled, micros(t.now), micros(t.now), encodeDays(a.Settings.ExpiryNoticeDays),
			a.Settings.UnusedTokenDays, latchkey.MarshalRateLimits(a.Settings.DefaultRateLimits),
			int64(a.Settings.AccessTokenLifetimeCap()/time.Second))
		if err != nil {
			return s.wrap(err, "create account")
		}
		a.ID = id
		if err := t.audit(id, "account.created", map[string]any{"name": a.Name, "plan": string(a.Plan)}); err != nil {
			return err
		}
		builtin := []struct {
			name   string
			dflt   bool
			grants []latchkey.Grant
		}{
			{latchkey.GroupOwner, false, []latchkey.Grant{{PermissionSet: "account_admin", AllProjects: true}}},
			{latchkey.GroupMember, true, []latchkey.Grant{{PermissionSet: "member", AllProjects: true}}},
			{latchkey.GroupEveryone, true, nil},
		}
		for _, b := range builtin {
			g := &latchkey.Group{AccountID: id, Name: b.name, AssignByDefault: b.dflt, Builtin: true, Grants: b.grants}
			if err := t.createGroup(g); err != nil {
				return err
			}
		}
		return nil
	})
}

// FindAccountByID returns an account in any state.
func (s *Store) FindAccountByID(ctx context.Context, id int64) (*latchkey.Account, error) {
	a, err := scanAccount(s.queryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("account", id)
	}
	return a, s.wrap(err, "find account")
}

// FindAccounts lists accounts.
func (s *Store) FindAccounts(ctx context.Context, f latchkey.AccountFilter) ([]*latchkey.Account, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.State != nil {
		w.add("state = ?", *f.State)
	}
	if f.MemberUserID != nil {
		w.add("id IN (SELECT account_id FROM memberships WHERE user_id = ? AND state = 1)", *f.MemberUserID)
	}
	total, err := s.count(ctx, "accounts", &w)
	if err != nil {
		return nil, 0, s.wrap(err, "count accounts")
	}
	rows, err := s.query(ctx, `SELECT `+accountColumns+` FROM accounts`+w.String()+` ORDER BY id`+page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, s.wrap(err, "find accounts")
	}
	defer rows.Close()
	var out []*latchkey.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, 0, s.wrap(err, "scan account")
		}
		out = append(out, a)
	}
	return out, total, s.wrap(rows.Err(), "find accounts")
}

// UpdateAccount changes an account's name, plan or settings.
func (s *Store) UpdateAccount(ctx context.Context, id int64, upd latchkey.AccountUpdate) (*latchkey.Account, error) {
	var out *latchkey.Account
	err := s.withTx(ctx, func(t *tx) error {
		a, err := scanAccount(t.queryRow(`SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("account", id)
		}
		if err != nil {
			return s.wrap(err, "find account")
		}
		changes := map[string]any{}
		if upd.Name != nil && *upd.Name != a.Name {
			changes["name"], a.Name = *upd.Name, *upd.Name
		}
		if upd.Plan != nil && *upd.Plan != a.Plan {
			changes["plan"], a.Plan = string(*upd.Plan), *upd.Plan
		}
		toggled := false
		if upd.Settings != nil {
			old := a.Settings
			a.Settings = *upd.Settings
			if old.ReuseRevokesFamily != a.Settings.ReuseRevokesFamily {
				changes["reuse_revokes_family"] = a.Settings.ReuseRevokesFamily
			}
			if old.LeakAction != a.Settings.LeakAction {
				changes["leak_action"] = a.Settings.LeakAction
			}
			if old.MaxTokenLifetime != a.Settings.MaxTokenLifetime {
				changes["max_token_lifetime_seconds"] = int64(a.Settings.MaxTokenLifetime / time.Second)
			}
			if old.DefaultRotationGrace != a.Settings.DefaultRotationGrace {
				changes["default_rotation_grace_seconds"] = int64(a.Settings.DefaultRotationGrace / time.Second)
			}
			a.Settings.ExpiryNoticeDays = a.Settings.NoticeDays()
			if encodeDays(old.ExpiryNoticeDays) != encodeDays(a.Settings.ExpiryNoticeDays) {
				changes["expiry_notice_days"] = a.Settings.ExpiryNoticeDays
			}
			if old.UnusedTokenDays != a.Settings.UnusedTokenDays {
				changes["unused_token_days"] = a.Settings.UnusedTokenDays
			}
			if l := latchkey.MarshalRateLimits(a.Settings.DefaultRateLimits); l != latchkey.MarshalRateLimits(old.DefaultRateLimits) {
				changes["default_rate_limits"] = l
			}
			if old.AccessTokenLifetimeCap() != a.Settings.AccessTokenLifetimeCap() {
				changes["max_access_token_lifetime_seconds"] = int64(a.Settings.AccessTokenLifetimeCap() / time.Second)
			}
			toggled = old.IPRestrictionsEnabled != a.Settings.IPRestrictionsEnabled
		}
		if len(changes) == 0 && !toggled {
			out = a
			return nil
		}
		a.UpdatedAt = t.now
		_, err = t.exec(`UPDATE accounts SET name = ?, plan = ?, reuse_revokes_family = ?, leak_action = ?,
			max_token_lifetime_seconds = ?, default_rotation_grace_seconds = ?, ip_restrictions_enabled = ?, updated_at = ?,
			expiry_notice_days = ?, unused_token_days = ?, default_rate_limits = ?, max_access_token_lifetime_seconds = ?
			WHERE id = ?`,
			a.Name, a.Plan, a.Settings.ReuseRevokesFamily, a.Settings.LeakAction,
			int64(a.Settings.MaxTokenLifetime/time.Second), int64(a.Settings.DefaultRotationGrace/time.Second),
			a.Settings.IPRestrictionsEnabled, micros(t.now), encodeDays(a.Settings.ExpiryNoticeDays), a.Settings.UnusedTokenDays,
			latchkey.MarshalRateLimits(a.Settings.DefaultRateLimits), int64(a.Settings.AccessTokenLifetimeCap()/time.Second), id)
		if err != nil {
			return s.wrap(err, "update account")
		}
		if len(changes) > 0 {
			if err := t.audit(id, "account.updated", changes); err != nil {
				return err
			}
		}
		if toggled {
			if err := t.audit(id, "ip_restrictions.toggled", map[string]any{"enabled": a.Settings.IPRestrictionsEnabled}); err != nil {
				return err
			}
		}
		t.changed(latchkey.ChangeAccount, id, id)
		out = a
		return nil
	})
	return out, err
}

const projectColumns = `id, account_id, name, description, state, created_at, updated_at, refs`

// projectRefsJSON is how a project's refs are stored (projects.refs).
type projectRefsJSON struct {
	Subdirectory          *string `json:"dbt_project_subdirectory,omitempty"`
	Type                  int     `json:"type,omitempty"`
	ConnectionID          *int64  `json:"connection_id,omitempty"`
	RepositoryID          *int64  `json:"repository_id,omitempty"`
	SemanticLayerConfigID *int64  `json:"semantic_layer_config_id,omitempty"`
	FreshnessJobID        *int64  `json:"freshness_job_id,omitempty"`
	DocsJobID             *int64  `json:"docs_job_id,omitempty"`
}

func encodeRefs(r latchkey.ProjectRefs) string {
	b, _ := json.Marshal(projectRefsJSON(r))
	return string(b)
}

func scanProject(row scanner) (*latchkey.Project, error) {
	var p latchkey.Project
	var created, updated int64
	var refs string
	if err := row.Scan(&p.ID, &p.AccountID, &p.Name, &p.Description, &p.State, &created, &updated, &refs); err != nil {
		return nil, err
	}
	var rj projectRefsJSON
	if err := json.Unmarshal([]byte(refs), &rj); err != nil {
		return nil, fmt.Errorf("project %d refs: %w", p.ID, err)
	}
	p.Refs = latchkey.ProjectRefs(rj)
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &p, nil
}

// CreateProject stores a project.
func (s *Store) CreateProject(ctx context.Context, p *latchkey.Project) error {
	return s.withTx(ctx, func(t *tx) error {
		p.State, p.CreatedAt, p.UpdatedAt = latchkey.StateActive, t.now, t.now
		id, err := t.insert(`INSERT INTO projects (account_id, name, description, state, created_at, updated_at, refs)
			VALUES (?,?,?,?,?,?,?)`, p.AccountID, p.Name, p.Description, p.State, micros(t.now), micros(t.now), encodeRefs(p.Refs))
		if err != nil {
			return s.wrap(err, "create project")
		}
		p.ID = id
		return t.audit(p.AccountID, "project.created", map[string]any{"project_id": id, "name": p.Name})
	})
}

// FindProjectByID returns a project in any state.
func (s *Store) FindProjectByID(ctx context.Context, id int64) (*latchkey.Project, error) {
	p, err := scanProject(s.queryRow(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("project", id)
	}
	return p, s.wrap(err, "find project")
}

// FindProjects lists an account's projects.
func (s *Store) FindProjects(ctx context.Context, f latchkey.ProjectFilter) ([]*latchkey.Project, int, error) {
	var w where
	w.add("account_id = ?", f.AccountID)
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.IDs != nil {
		w.in("id", f.IDs)
	}
	if f.State != nil {
		w.add("state = ?", *f.State)
	}
	if f.Name != nil {
		w.add("name = ?", *f.Name)
	}
	if f.NameContains != nil {
		w.add("LOWER(name) LIKE ? ESCAPE '\\'", likeContains(*f.NameContains))
	}
	total, err := s.count(ctx, "projects", &w)
	if err != nil {
		return nil, 0, s.wrap(err, "count projects")
	}
	rows, err := s.query(ctx, `SELECT `+projectColumns+` FROM projects`+w.String()+s.orderBy(f.Order)+page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, s.wrap(err, "find projects")
	}
	defer rows.Close()
	var out []*latchkey.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, 0, s.wrap(err, "scan project")
		}
		out = append(out, p)
	}
	return out, total, s.wrap(rows.Err(), "find projects")
}

// UpdateProject changes a project's name or description.
func (s *Store) UpdateProject(ctx context.Context, id int64, upd latchkey.ProjectUpdate) (*latchkey.Project, error) {
	var out *latchkey.Project
	err := s.withTx(ctx, func(t *tx) error {
		p, err := scanProject(t.queryRow(`SELECT `+projectColumns+` FROM projects WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("project", id)
		}
		if err != nil {
			return s.wrap(err, "find project")
		}
		changes := map[string]any{"project_id": id}
		if upd.Name != nil && *upd.Name != p.Name {
			changes["name"], p.Name = *upd.Name, *upd.Name
		}
		if upd.Description != nil && *upd.Description != p.Description {
			changes["description"], p.Description = *upd.Description, *upd.Description
		}
		if refs := upd.Refs.Apply(p.Refs); encodeRefs(refs) != encodeRefs(p.Refs) {
			changes["refs"], p.Refs = projectRefsJSON(refs), refs
		}
		out = p
		if len(changes) == 1 {
			return nil
		}
		p.UpdatedAt = t.now
		if _, err := t.exec(`UPDATE projects SET name = ?, description = ?, refs = ?, updated_at = ? WHERE id = ?`,
			p.Name, p.Description, encodeRefs(p.Refs), micros(t.now), id); err != nil {
			return s.wrap(err, "update project")
		}
		return t.audit(p.AccountID, "project.updated", changes)
	})
	return out, err
}

// DeleteProject marks a project deleted.
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	return s.withTx(ctx, func(t *tx) error {
		var accountID int64
		var state latchkey.State
		err := t.queryRow(`SELECT account_id, state FROM projects WHERE id = ?`, id).Scan(&accountID, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("project", id)
		}
		if err != nil {
			return s.wrap(err, "find project")
		}
		if state == latchkey.StateDeleted {
			return nil
		}
		if _, err := t.exec(`UPDATE projects SET state = 2, updated_at = ? WHERE id = ?`, micros(t.now), id); err != nil {
			return s.wrap(err, "delete project")
		}
		return t.audit(accountID, "project.deleted", map[string]any{"project_id": id})
	})
}

const userColumns = `id, email, first_name, last_name, password_hash, is_active, created_at, updated_at, must_change_password, email_notices`

func scanUser(row scanner) (*latchkey.User, error) {
	var u latchkey.User
	var created, updated int64
	if err := row.Scan(&u.ID, &u.Email, &u.FirstName, &u.LastName, &u.PasswordHash, &u.IsActive, &created, &updated, &u.MustChangePassword, &u.EmailNotices); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &u, nil
}

// CreateUser stores a user; emails are unique, compared without case.
func (s *Store) CreateUser(ctx context.Context, u *latchkey.User) error {
	return s.withTx(ctx, func(t *tx) error {
		u.Email = strings.ToLower(strings.TrimSpace(u.Email))
		u.IsActive, u.EmailNotices, u.CreatedAt, u.UpdatedAt = true, true, t.now, t.now
		id, err := t.insert(`INSERT INTO users (email, first_name, last_name, password_hash, is_active, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?)`, u.Email, u.FirstName, u.LastName, u.PasswordHash, u.IsActive, micros(t.now), micros(t.now))
		if err != nil {
			if s.dialect.IsUniqueViolation(err) {
				return &latchkey.Error{Code: latchkey.EConflict, Field: "email", Message: "a user with this email already exists"}
			}
			return s.wrap(err, "create user")
		}
		u.ID = id
		return nil
	})
}

// FindUserByID returns a user.
func (s *Store) FindUserByID(ctx context.Context, id int64) (*latchkey.User, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user", id)
	}
	return u, s.wrap(err, "find user")
}

// FindUserByEmail returns the user with this email, compared without case.
func (s *Store) FindUserByEmail(ctx context.Context, email string) (*latchkey.User, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, strings.ToLower(strings.TrimSpace(email))))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, latchkey.Errorf(latchkey.ENotFound, "user not found")
	}
	return u, s.wrap(err, "find user")
}

// FindUsers lists users, optionally the members of one account.
func (s *Store) FindUsers(ctx context.Context, f latchkey.UserFilter) ([]*latchkey.User, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.Email != nil {
		w.add("email = ?", strings.ToLower(*f.Email))
	}
	if f.AccountID != nil {
		if f.MembershipState != nil {
			w.add("id IN (SELECT user_id FROM memberships WHERE account_id = ? AND state = ?)", *f.AccountID, *f.MembershipState)
		} else {
			w.add("id IN (SELECT user_id FROM memberships WHERE account_id = ?)", *f.AccountID)
		}
	}
	total, err := s.count(ctx, "users", &w)
	if err != nil {
		return nil, 0, s.wrap(err, "count users")
	}
	rows, err := s.query(ctx, `SELECT `+userColumns+` FROM users`+w.String()+` ORDER BY id`+page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, s.wrap(err, "find users")
	}
	defer rows.Close()
	var out []*latchkey.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, s.wrap(err, "scan user")
		}
		out = append(out, u)
	}
	return out, total, s.wrap(rows.Err(), "find users")
}

// UpdateUser changes a user's names, password or active flag. Deactivating a user invalidates
// their principals everywhere.
func (s *Store) UpdateUser(ctx context.Context, id int64, upd latchkey.UserUpdate) (*latchkey.User, error) {
	var out *latchkey.User
	err := s.withTx(ctx, func(t *tx) error {
		u, err := scanUser(t.queryRow(`SELECT `+userColumns+` FROM users WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user", id)
		}
		if err != nil {
			return s.wrap(err, "find user")
		}
		if upd.FirstName != nil {
			u.FirstName = *upd.FirstName
		}
		if upd.LastName != nil {
			u.LastName = *upd.LastName
		}
		if upd.PasswordHash != nil {
			u.PasswordHash = *upd.PasswordHash
		}
		if upd.IsActive != nil {
			u.IsActive = *upd.IsActive
		}
		if upd.MustChangePassword != nil {
			u.MustChangePassword = *upd.MustChangePassword
		}
		if upd.EmailNotices != nil {
			u.EmailNotices = *upd.EmailNotices
		}
		u.UpdatedAt = t.now
		if _, err := t.exec(`UPDATE users SET first_name = ?, last_name = ?, password_hash = ?, is_active = ?, must_change_password = ?,
			email_notices = ?, updated_at = ? WHERE id = ?`,
			u.FirstName, u.LastName, u.PasswordHash, u.IsActive, u.MustChangePassword, u.EmailNotices, micros(t.now), id); err != nil {
			return s.wrap(err, "update user")
		}
		if upd.PasswordHash != nil || upd.IsActive != nil {
			// A new password or a deactivation ends the user's sessions.
			if _, err := t.exec(`DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
				return s.wrap(err, "end sessions")
			}
			t.changed(latchkey.ChangeUser, 0, id)
		}
		out = u
		return nil
	})
	return out, err
}

const membershipColumns = `id, account_id, user_id, license, state, created_at, updated_at`

func scanMembership(row scanner) (*latchkey.Membership, error) {
	var m latchkey.Membership
	var created, updated int64
	if err := row.Scan(&m.ID, &m.AccountID, &m.UserID, &m.License, &m.State, &created, &updated); err != nil {
		return nil, err
	}
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &m, nil
}

// CreateMembership adds a user to an account with a license and to groups (nil: the account's
// assign-by-default groups). A removed membership is reactivated.
func (s *Store) CreateMembership(ctx context.Context, m *latchkey.Membership, groupIDs []int64) error {
	return s.withTx(ctx, func(t *tx) error {
		var existing int64
		var state latchkey.State
		err := t.queryRow(`SELECT id, state FROM memberships WHERE account_id = ? AND user_id = ?`, m.AccountID, m.UserID).Scan(&existing, &state)
		switch {
		case err == nil && state == latchkey.StateActive:
			return &latchkey.Error{Code: latchkey.EConflict, Field: "user_id", Message: "the user is already a member of this account"}
		case err == nil:
			if _, err := t.exec(`UPDATE memberships SET license = ?, state = 1, updated_at = ? WHERE id = ?`, m.License, micros(t.now), existing); err != nil {
				return s.wrap(err, "reactivate membership")
			}
			m.ID = existing
		case errors.Is(err, sql.ErrNoRows):
			m.ID, err = t.insert(`INSERT INTO memberships (account_id, user_id, license, state, created_at, updated_at) VALUES (?,?,?,1,?,?)`,
				m.AccountID, m.UserID, m.License, micros(t.now), micros(t.now))
			if err != nil {
				return s.wrap(err, "create membership")
			}
			m.CreatedAt = t.now
		default:
			return s.wrap(err, "find membership")
		}
		m.State, m.UpdatedAt = latchkey.StateActive, t.now
		if groupIDs == nil {
			rows, err := t.query(`SELECT id FROM groups WHERE account_id = ? AND state = 1 AND assign_by_default = ? ORDER BY id`, m.AccountID, true)
			if err != nil {
				return s.wrap(err, "find default groups")
			}
			groupIDs, err = scanIDs(rows)
			if err != nil {
				return s.wrap(err, "find default groups")
			}
		}
		if err := t.audit(m.AccountID, "permission.added", map[string]any{"user_id": m.UserID, "license_type": string(m.License)}); err != nil {
			return err
		}
		if err := t.setUserGroups(m.AccountID, m.UserID, groupIDs); err != nil {
			return err
		}
		m.GroupIDs = groupIDs
		t.changed(latchkey.ChangeUser, m.AccountID, m.UserID)
		return nil
	})
}

func scanIDs(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// FindMemberships lists memberships with their group ids.
func (s *Store) FindMemberships(ctx context.Context, f latchkey.MembershipFilter) ([]*latchkey.Membership, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.AccountID != nil {
		w.add("account_id = ?", *f.AccountID)
	}
	if f.UserID != nil {
		w.add("user_id = ?", *f.UserID)
	}
	if f.State != nil {
		w.add("state = ?", *f.State)
	}
	rows, err := s.query(ctx, `SELECT `+membershipColumns+` FROM memberships`+w.String()+` ORDER BY id`, w.args...)
	if err != nil {
		return nil, s.wrap(err, "find memberships")
	}
	defer rows.Close()
	var out []*latchkey.Membership
	for rows.Next() {
		m, err := scanMembership(rows)
		if err != nil {
			return nil, s.wrap(err, "scan membership")
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "find memberships")
	}
	for _, m := range out {
		rows, err := s.query(ctx, `SELECT gm.group_id FROM group_members gm JOIN groups g ON g.id = gm.group_id
			WHERE gm.account_id = ? AND gm.user_id = ? AND g.state = 1 ORDER BY gm.group_id`, m.AccountID, m.UserID)
		if err != nil {
			return nil, s.wrap(err, "find member groups")
		}
		if m.GroupIDs, err = scanIDs(rows); err != nil {
			return nil, s.wrap(err, "find member groups")
		}
	}
	return out, nil
}

// UpdateMembership changes a license or removes (state 2) a membership.
func (s *Store) UpdateMembership(ctx context.Context, id int64, upd latchkey.MembershipUpdate) (*latchkey.Membership, error) {
	var out *latchkey.Membership
	err := s.withTx(ctx, func(t *tx) error {
		m, err := scanMembership(t.queryRow(`SELECT `+membershipColumns+` FROM memberships WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("membership", id)
		}
		if err != nil {
			return s.wrap(err, "find membership")
		}
		if upd.License != nil && *upd.License != m.License {
			if err := t.audit(m.AccountID, "license.changed", map[string]any{"user_id": m.UserID,
				"from": string(m.License), "to": string(*upd.License)}); err != nil {
				return err
			}
			m.License = *upd.License
		}
		if upd.State != nil && *upd.State != m.State {
			event := "permission.removed"
			if *upd.State == latchkey.StateActive {
				event = "permission.added"
			}
			if err := t.audit(m.AccountID, event, map[string]any{"user_id": m.UserID, "license_type": string(m.License)}); err != nil {
				return err
			}
			m.State = *upd.State
			if m.State == latchkey.StateDeleted {
				// A removed member keeps no PATs or sessions in the account.
				if err := t.revokeUserTokens(m.AccountID, m.UserID); err != nil {
					return err
				}
				if _, err := t.exec(`DELETE FROM sessions WHERE user_id = ? AND account_id = ?`, m.UserID, m.AccountID); err != nil {
					return s.wrap(err, "end sessions")
				}
			}
		}
		m.UpdatedAt = t.now
		if _, err := t.exec(`UPDATE memberships SET license = ?, state = ?, updated_at = ? WHERE id = ?`,
			m.License, m.State, micros(t.now), id); err != nil {
			return s.wrap(err, "update membership")
		}
		t.changed(latchkey.ChangeUser, m.AccountID, m.UserID)
		out = m
		return nil
	})
	return out, err
}

// FindMemberGrants returns a user's active membership and all their groups' active grants.
func (s *Store) FindMemberGrants(ctx context.Context, accountID, userID int64) (*latchkey.Membership, []latchkey.Grant, error) {
	m, err := scanMembership(s.queryRow(ctx, `SELECT `+membershipColumns+` FROM memberships m
		WHERE account_id = ? AND user_id = ? AND state = 1
		AND EXISTS (SELECT 1 FROM users u WHERE u.id = m.user_id AND u.is_active = ?)`, accountID, userID, true))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, latchkey.Errorf(latchkey.ENotFound, "user %d is not an active member of account %d", userID, accountID)
	}
	if err != nil {
		return nil, nil, s.wrap(err, "find membership")
	}
	rows, err := s.query(ctx, `SELECT `+grantColumns+` FROM grants WHERE state = 1 AND group_id IN
		(SELECT gm.group_id FROM group_members gm JOIN groups g ON g.id = gm.group_id
		 WHERE gm.account_id = ? AND gm.user_id = ? AND g.state = 1) ORDER BY id`, accountID, userID)
	if err != nil {
		return nil, nil, s.wrap(err, "find member grants")
	}
	grants, err := scanGrants(rows)
	return m, grants, s.wrap(err, "find member grants")
}

// FindAccountAdmins returns the account's owners: active developer-licensed members in an active
// group with an active all-projects account_admin grant.
func (s *Store) FindAccountAdmins(ctx context.Context, accountID int64) ([]int64, error) {
	rows, err := s.query(ctx, `SELECT DISTINCT m.user_id FROM memberships m
		JOIN users u ON u.id = m.user_id
		JOIN group_members gm ON gm.account_id = m.account_id AND gm.user_id = m.user_id
		JOIN groups g ON g.id = gm.group_id
		JOIN grants gr ON gr.group_id = g.id
		WHERE m.account_id = ? AND m.state = 1 AND m.license = ? AND u.is_active = ? AND g.state = 1
		AND gr.state = 1 AND gr.all_projects = ? AND gr.permission_set IN ('account_admin', 'owner')
		ORDER BY m.user_id`, accountID, latchkey.LicenseDeveloper, true, true)
	if err != nil {
		return nil, s.wrap(err, "find account admins")
	}
	ids, err := scanIDs(rows)
	return ids, s.wrap(err, "find account admins")
}

// encodeDays is how expiry notice thresholds are stored (accounts.expiry_notice_days).
func encodeDays(days []int) string {
	if len(days) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(days)
	return string(b)
}
