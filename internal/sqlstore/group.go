package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/latchkey/latchkey"
)

const grantColumns = `id, account_id, group_id, token_id, permission_set, all_projects, project_id, writable_envs,
	state, created_at, updated_at`

func scanGrants(rows *sql.Rows) ([]latchkey.Grant, error) {
	defer rows.Close()
	var out []latchkey.Grant
	for rows.Next() {
		var g latchkey.Grant
		var groupID, tokenID, projectID sql.NullInt64
		var envs string
		var created, updated int64
		if err := rows.Scan(&g.ID, &g.AccountID, &groupID, &tokenID, &g.PermissionSet, &g.AllProjects, &projectID,
			&envs, &g.State, &created, &updated); err != nil {
			return nil, err
		}
		g.GroupID, g.TokenID, g.ProjectID = groupID.Int64, tokenID.Int64, projectID.Int64
		g.WritableEnvs = splitEnvs(envs)
		g.CreatedAt, g.UpdatedAt = fromMicros(created), fromMicros(updated)
		out = append(out, g)
	}
	return out, rows.Err()
}

func splitEnvs(s string) []latchkey.EnvCategory {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	out := make([]latchkey.EnvCategory, len(parts))
	for i, p := range parts {
		out[i] = latchkey.EnvCategory(p)
	}
	return out
}

func joinEnvs(envs []latchkey.EnvCategory) string {
	parts := make([]string, len(envs))
	for i, e := range envs {
		parts[i] = string(e)
	}
	return strings.Join(parts, ",")
}

// grantsJSON is the audit form of grants.
func grantsJSON(grants []latchkey.Grant) []map[string]any {
	out := make([]map[string]any, 0, len(grants))
	for _, g := range grants {
		m := map[string]any{"permission_set": g.PermissionSet, "all_projects": g.AllProjects}
		if !g.AllProjects {
			m["project_id"] = g.ProjectID
		}
		if len(g.WritableEnvs) > 0 {
			m["writable_environment_categories"] = joinEnvs(g.WritableEnvs)
		}
		out = append(out, m)
	}
	return out
}

// insertGrants stores grants for a group or a token, filling their ids and times.
func (t *tx) insertGrants(accountID, groupID, tokenID int64, grants []latchkey.Grant) error {
	for i := range grants {
		g := &grants[i]
		g.AccountID, g.GroupID, g.TokenID = accountID, groupID, tokenID
		g.State, g.CreatedAt, g.UpdatedAt = latchkey.StateActive, t.now, t.now
		if g.AllProjects {
			g.ProjectID = 0
		}
		id, err := t.insert(`INSERT INTO grants (account_id, group_id, token_id, permission_set, all_projects, project_id,
			writable_envs, state, created_at, updated_at) VALUES (?,?,?,?,?,?,?,1,?,?)`,
			accountID, nullID(groupID), nullID(tokenID), g.PermissionSet, g.AllProjects, nullID(g.ProjectID),
			joinEnvs(g.WritableEnvs), micros(t.now), micros(t.now))
		if err != nil {
			return t.s.wrap(err, "create grant")
		}
		g.ID = id
	}
	return nil
}

// activeGrants reads the active grants of a group or a token.
func (t *tx) activeGrants(column string, id int64) ([]latchkey.Grant, error) {
	rows, err := t.query(`SELECT `+grantColumns+` FROM grants WHERE `+column+` = ? AND state = 1 ORDER BY id`, id)
	if err != nil {
		return nil, t.s.wrap(err, "find grants")
	}
	gs, err := scanGrants(rows)
	return gs, t.s.wrap(err, "find grants")
}

// loadGrants returns the active grants of many groups or tokens, keyed by owner id.
func (s *Store) loadGrants(ctx context.Context, column string, ids []int64) (map[int64][]latchkey.Grant, error) {
	out := map[int64][]latchkey.Grant{}
	if len(ids) == 0 {
		return out, nil
	}
	var w where
	w.in(column, ids)
	w.add("state = 1")
	rows, err := s.query(ctx, `SELECT `+grantColumns+` FROM grants`+w.String()+` ORDER BY id`, w.args...)
	if err != nil {
		return nil, s.wrap(err, "find grants")
	}
	gs, err := scanGrants(rows)
	if err != nil {
		return nil, s.wrap(err, "find grants")
	}
	for _, g := range gs {
		owner := g.GroupID
		if column == "token_id" {
			owner = g.TokenID
		}
		out[owner] = append(out[owner], g)
	}
	return out, nil
}

const groupColumns = `id, account_id, name, assign_by_default, builtin, state, created_at, updated_at, sso_mapping_groups`

func scanGroup(row scanner) (*latchkey.Group, error) {
	var g latchkey.Group
	var created, updated int64
	var sso string
	if err := row.Scan(&g.ID, &g.AccountID, &g.Name, &g.AssignByDefault, &g.Builtin, &g.State, &created, &updated, &sso); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(sso), &g.SSOMappingGroups); err != nil {
		return nil, fmt.Errorf("group %d sso_mapping_groups: %w", g.ID, err)
	}
	g.CreatedAt, g.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &g, nil
}

// encodeStrings stores a list of strings as a JSON array ([] for none).
func encodeStrings(ss []string) string {
	if ss == nil {
		ss = []string{}
	}
	b, _ := json.Marshal(ss)
	return string(b)
}

// decodeStrings reads a list stored by encodeStrings.
func decodeStrings(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (t *tx) createGroup(g *latchkey.Group) error {
	g.State, g.CreatedAt, g.UpdatedAt = latchkey.StateActive, t.now, t.now
	id, err := t.insert(`INSERT INTO groups (account_id, name, assign_by_default, builtin, state, created_at, updated_at, sso_mapping_groups)
		VALUES (?,?,?,?,1,?,?,?)`, g.AccountID, g.Name, g.AssignByDefault, g.Builtin, micros(t.now), micros(t.now), encodeStrings(g.SSOMappingGroups))
	if err != nil {
		if t.s.dialect.IsUniqueViolation(err) {
			return &latchkey.Error{Code: latchkey.EConflict, Field: "name", Message: "a group with this name already exists"}
		}
		return t.s.wrap(err, "create group")
	}
	g.ID = id
	if err := t.insertGrants(g.AccountID, id, 0, g.Grants); err != nil {
		return err
	}
	return t.audit(g.AccountID, "group.created", map[string]any{"group_id": id, "name": g.Name,
		"group_permissions": grantsJSON(g.Grants)})
}

// CreateGroup stores a group with its grants.
func (s *Store) CreateGroup(ctx context.Context, g *latchkey.Group) error {
	return s.withTx(ctx, func(t *tx) error { return t.createGroup(g) })
}

// FindGroupByID returns a group with its active grants and members.
func (s *Store) FindGroupByID(ctx context.Context, id int64) (*latchkey.Group, error) {
	gs, _, err := s.findGroups(ctx, &where{conds: []string{"id = ?"}, args: []any{id}}, "")
	if err != nil {
		return nil, err
	}
	if len(gs) == 0 {
		return nil, notFound("group", id)
	}
	return gs[0], nil
}

// FindGroups lists an account's groups with grants and members.
func (s *Store) FindGroups(ctx context.Context, f latchkey.GroupFilter) ([]*latchkey.Group, int, error) {
	var w where
	w.add("account_id = ?", f.AccountID)
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.Name != nil {
		w.add("name = ?", *f.Name)
	}
	if f.NameContains != nil {
		w.add("LOWER(name) LIKE ? ESCAPE '\\'", likeContains(*f.NameContains))
	}
	if f.State != nil {
		w.add("state = ?", *f.State)
	}
	if f.UserID != nil {
		w.add("id IN (SELECT group_id FROM group_members WHERE user_id = ?)", *f.UserID)
	}
	return s.findGroups(ctx, &w, s.orderBy(f.Order)+page(f.Offset, f.Limit))
}

func (s *Store) findGroups(ctx context.Context, w *where, tail string) ([]*latchkey.Group, int, error) {
	total, err := s.count(ctx, "groups", w)
	if err != nil {
		return nil, 0, s.wrap(err, "count groups")
	}
	rows, err := s.query(ctx, `SELECT `+groupColumns+` FROM groups`+w.String()+tail, w.args...)
	if err != nil {
		return nil, 0, s.wrap(err, "find groups")
	}
	defer rows.Close()
	var out []*latchkey.Group
	var ids []int64
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, 0, s.wrap(err, "scan group")
		}
		out = append(out, g)
		ids = append(ids, g.ID)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, s.wrap(err, "find groups")
	}
	grants, err := s.loadGrants(ctx, "group_id", ids)
	if err != nil {
		return nil, 0, err
	}
	for _, g := range out {
		g.Grants = grants[g.ID]
		rows, err := s.query(ctx, `SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id`, g.ID)
		if err != nil {
			return nil, 0, s.wrap(err, "find group members")
		}
		if g.UserIDs, err = scanIDs(rows); err != nil {
			return nil, 0, s.wrap(err, "find group members")
		}
	}
	return out, total, nil
}

func (t *tx) lockGroup(id int64) (*latchkey.Group, error) {
	g, err := scanGroup(t.queryRow(`SELECT `+groupColumns+` FROM groups WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("group", id)
	}
	return g, t.s.wrap(err, "find group")
}

// UpdateGroup renames a group, changes its default assignment or deletes it (state 2).
func (s *Store) UpdateGroup(ctx context.Context, id int64, upd latchkey.GroupUpdate) (*latchkey.Group, error) {
	err := s.withTx(ctx, func(t *tx) error {
		g, err := t.lockGroup(id)
		if err != nil {
			return err
		}
		if g.Builtin && (upd.Name != nil && *upd.Name != g.Name || upd.State != nil && *upd.State == latchkey.StateDeleted) {
			return latchkey.Errorf(latchkey.EInvalid, "the built-in group %s cannot be renamed or deleted", g.Name)
		}
		changes := map[string]any{"group_id": id}
		if upd.Name != nil && *upd.Name != g.Name {
			changes["name"], g.Name = *upd.Name, *upd.Name
		}
		if upd.AssignByDefault != nil && *upd.AssignByDefault != g.AssignByDefault {
			changes["assign_by_default"], g.AssignByDefault = *upd.AssignByDefault, *upd.AssignByDefault
		}
		if upd.SSOMappingGroups != nil && !slices.Equal(*upd.SSOMappingGroups, g.SSOMappingGroups) {
			changes["sso_mapping_groups"], g.SSOMappingGroups = *upd.SSOMappingGroups, *upd.SSOMappingGroups
		}
		event := "group.updated"
		if upd.State != nil && *upd.State != g.State {
			g.State = *upd.State
			event = "group.deleted"
			if g.State == latchkey.StateActive {
				event = "group.restored"
			}
		}
		if len(changes) == 1 && event == "group.updated" {
			return nil
		}
		if _, err := t.exec(`UPDATE groups SET name = ?, assign_by_default = ?, sso_mapping_groups = ?, state = ?, updated_at = ? WHERE id = ?`,
			g.Name, g.AssignByDefault, encodeStrings(g.SSOMappingGroups), g.State, micros(t.now), id); err != nil {
			if s.dialect.IsUniqueViolation(err) {
				return &latchkey.Error{Code: latchkey.EConflict, Field: "name", Message: "a group with this name already exists"}
			}
			return s.wrap(err, "update group")
		}
		t.changed(latchkey.ChangeAccount, g.AccountID, g.AccountID)
		return t.audit(g.AccountID, event, changes)
	})
	if err != nil {
		return nil, err
	}
	return s.FindGroupByID(ctx, id)
}

// ReplaceGroupGrants makes grants exactly the group's grants. The Owner group is immutable.
func (s *Store) ReplaceGroupGrants(ctx context.Context, groupID int64, grants []latchkey.Grant) (*latchkey.Group, error) {
	err := s.withTx(ctx, func(t *tx) error {
		g, err := t.lockGroup(groupID)
		if err != nil {
			return err
		}
		if g.Immutable() {
			return latchkey.Errorf(latchkey.EInvalid, "the Owner group's permissions cannot be changed")
		}
		old, err := t.activeGrants("group_id", groupID)
		if err != nil {
			return err
		}
		if _, err := t.exec(`UPDATE grants SET state = 2, updated_at = ? WHERE group_id = ? AND state = 1`, micros(t.now), groupID); err != nil {
			return s.wrap(err, "remove grants")
		}
		if err := t.insertGrants(g.AccountID, groupID, 0, grants); err != nil {
			return err
		}
		t.changed(latchkey.ChangeAccount, g.AccountID, g.AccountID)
		return t.audit(g.AccountID, "group.permissions_changed", map[string]any{"group_id": groupID,
			"from": grantsJSON(old), "to": grantsJSON(grants)})
	})
	if err != nil {
		return nil, err
	}
	return s.FindGroupByID(ctx, groupID)
}

// SetUserGroups makes groupIDs exactly the user's groups in the account.
func (s *Store) SetUserGroups(ctx context.Context, accountID, userID int64, groupIDs []int64) error {
	return s.withTx(ctx, func(t *tx) error {
		var n int
		if err := t.queryRow(`SELECT COUNT(*) FROM memberships WHERE account_id = ? AND user_id = ? AND state = 1`, accountID, userID).Scan(&n); err != nil {
			return s.wrap(err, "find membership")
		}
		if n == 0 {
			return &latchkey.Error{Code: latchkey.ENotFound, Field: "user_id", Message: "the user is not a member of this account"}
		}
		if err := t.setUserGroups(accountID, userID, groupIDs); err != nil {
			return err
		}
		t.changed(latchkey.ChangeUser, accountID, userID)
		return nil
	})
}

func (t *tx) setUserGroups(accountID, userID int64, groupIDs []int64) error {
	want := map[int64]bool{}
	for _, id := range groupIDs {
		var acct int64
		var state latchkey.State
		err := t.queryRow(`SELECT account_id, state FROM groups WHERE id = ?`, id).Scan(&acct, &state)
		if errors.Is(err, sql.ErrNoRows) || err == nil && (acct != accountID || state != latchkey.StateActive) {
			return &latchkey.Error{Code: latchkey.EInvalid, Field: "desired_group_ids", Message: "group " + itoa(id) + " does not exist in this account"}
		}
		if err != nil {
			return t.s.wrap(err, "find group")
		}
		want[id] = true
	}
	rows, err := t.query(`SELECT group_id FROM group_members WHERE account_id = ? AND user_id = ?`, accountID, userID)
	if err != nil {
		return t.s.wrap(err, "find group members")
	}
	have, err := scanIDs(rows)
	if err != nil {
		return t.s.wrap(err, "find group members")
	}
	for _, id := range have {
		if want[id] {
			delete(want, id)
			continue
		}
		if _, err := t.exec(`DELETE FROM group_members WHERE group_id = ? AND user_id = ?`, id, userID); err != nil {
			return t.s.wrap(err, "remove group member")
		}
		if err := t.audit(accountID, "group.user.removed", map[string]any{"group_id": id, "user_id": userID}); err != nil {
			return err
		}
	}
	for _, id := range groupIDs {
		if !want[id] {
			continue
		}
		delete(want, id)
		if _, err := t.exec(`INSERT INTO group_members (group_id, user_id, account_id) VALUES (?,?,?)`, id, userID, accountID); err != nil {
			return t.s.wrap(err, "add group member")
		}
		if err := t.audit(accountID, "group.user.added", map[string]any{"group_id": id, "user_id": userID}); err != nil {
			return err
		}
	}
	return nil
}
