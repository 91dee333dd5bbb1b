package admin

import (
	"context"
	"slices"

	"github.com/latchkey/latchkey"
)

// group loads a group of p's account.
func (s *Service) group(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.Group, error) {
	g, err := s.store.FindGroupByID(ctx, id)
	if latchkey.SystemError(err) {
		return nil, err
	}
	if err != nil || g.AccountID != p.AccountID {
		return nil, notFound("group %d not found", id)
	}
	return g, nil
}

// Groups lists groups of p's account (groups:read).
func (s *Service) Groups(ctx context.Context, p *latchkey.Principal, f latchkey.GroupFilter) ([]*latchkey.Group, int, error) {
	if err := require(p, latchkey.ResGroups, latchkey.AccessRead); err != nil {
		return nil, 0, err
	}
	f.AccountID = p.AccountID
	return s.store.FindGroups(ctx, f)
}

// GroupNames maps the ids of every group of p's account, deleted ones included, to names, for
// pages and answers that name a member's groups. It needs no permission beyond membership.
func (s *Service) GroupNames(ctx context.Context, p *latchkey.Principal) (map[int64]string, error) {
	groups, err := all(func(offset int) ([]*latchkey.Group, int, error) {
		return s.store.FindGroups(ctx, latchkey.GroupFilter{AccountID: p.AccountID, Offset: offset, Limit: latchkey.MaxLimit})
	})
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string, len(groups))
	for _, g := range groups {
		names[g.ID] = g.Name
	}
	return names, nil
}

// MyGroups lists the active groups p (a user) belongs to in its account.
func (s *Service) MyGroups(ctx context.Context, p *latchkey.Principal) ([]*latchkey.Group, error) {
	active := latchkey.StateActive
	groups, _, err := s.store.FindGroups(ctx, latchkey.GroupFilter{AccountID: p.AccountID, UserID: &p.UserID, State: &active, Limit: latchkey.MaxLimit})
	return groups, err
}

// Group returns a group of p's account (groups:read).
func (s *Service) Group(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.Group, error) {
	if err := require(p, latchkey.ResGroups, latchkey.AccessRead); err != nil {
		return nil, err
	}
	return s.group(ctx, p, id)
}

// checkGroupName refuses a name another active group of the account has.
func (s *Service) checkGroupName(ctx context.Context, accountID, self int64, name string) error {
	active := latchkey.StateActive
	same, _, err := s.store.FindGroups(ctx, latchkey.GroupFilter{AccountID: accountID, Name: &name, State: &active, Limit: 2})
	if err != nil {
		return err
	}
	for _, g := range same {
		if g.ID != self {
			return &latchkey.Error{Code: latchkey.EConflict, Field: "name", Message: "a group with this name already exists"}
		}
	}
	return nil
}

// NewGroup describes a group to create.
type NewGroup struct {
	Name            string
	AssignByDefault bool
	// SSOMappingGroups are dbt's sso_mapping_groups, stored and returned.
	SSOMappingGroups []string
	Grants           []latchkey.Grant
}

// MaxSSOMappingGroups bounds a group's sso_mapping_groups.
const MaxSSOMappingGroups = 100

// cleanSSOGroups checks sso_mapping_groups: names as any name, at most MaxSSOMappingGroups, a
// repeated name kept once (dbt reads them as a set).
func cleanSSOGroups(in []string) ([]string, error) {
	if len(in) > MaxSSOMappingGroups {
		return nil, latchkey.FieldError("sso_mapping_groups", "sso_mapping_groups has %d entries; at most %d", len(in), MaxSSOMappingGroups)
	}
	out := []string{}
	for _, n := range in {
		name, err := latchkey.CleanName("sso_mapping_groups", n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// CreateGroup creates a group with grants (groups:write). The grants are checked like any
// grant: explicit scope, live projects, nothing p does not hold.
func (s *Service) CreateGroup(ctx context.Context, p *latchkey.Principal, in NewGroup) (*latchkey.Group, error) {
	if err := require(p, latchkey.ResGroups, latchkey.AccessWrite); err != nil {
		return nil, err
	}
	name, err := latchkey.CleanName("name", in.Name)
	if err != nil {
		return nil, err
	}
	sso, err := cleanSSOGroups(in.SSOMappingGroups)
	if err != nil {
		return nil, err
	}
	g := &latchkey.Group{AccountID: p.AccountID, Name: name, AssignByDefault: in.AssignByDefault, SSOMappingGroups: sso, Grants: in.Grants}
	err = s.inTx(ctx, func(ctx context.Context) error {
		if err := s.checkGrants(ctx, p, in.Grants, grantTarget{}); err != nil {
			return err
		}
		if in.AssignByDefault || len(sso) > 0 {
			// A default group hands its grants to every new member; an SSO-mapped one to
			// whoever the identity provider says.
			if err := checkGroupJoin(p, g); err != nil {
				return err
			}
		}
		if err := s.checkGroupName(ctx, p.AccountID, 0, name); err != nil {
			return err
		}
		return s.store.CreateGroup(ctx, g)
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// GroupChange changes a group; nil fields are left alone.
type GroupChange struct {
	Name            *string
	AssignByDefault *bool
	// SSOMappingGroups, when set, replace the group's sso_mapping_groups.
	SSOMappingGroups *[]string
	// State 2 deletes the group, 1 restores it.
	State *latchkey.State
	// Grants, when set, become exactly the group's grants.
	Grants *[]latchkey.Grant
}

// UpdateGroup changes a group in one transaction (groups:write): name, default assignment,
// state and grants together, or nothing. Built-in groups keep their name and cannot be deleted;
// Owner's grants cannot change; names stay unique; anything that hands the group's grants out
// (making it a default group, restoring it, new grants) needs p to hold them; changing or
// deleting a group whose grants p does not hold is refused; and the account keeps an owner.
func (s *Service) UpdateGroup(ctx context.Context, p *latchkey.Principal, id int64, c GroupChange) (*latchkey.Group, error) {
	if err := require(p, latchkey.ResGroups, latchkey.AccessWrite); err != nil {
		return nil, err
	}
	if c.Name != nil {
		name, err := latchkey.CleanName("name", *c.Name)
		if err != nil {
			return nil, err
		}
		c.Name = &name
	}
	if c.State != nil && !c.State.Valid() {
		return nil, latchkey.FieldError("state", "state must be 1 or 2")
	}
	if c.SSOMappingGroups != nil {
		sso, err := cleanSSOGroups(*c.SSOMappingGroups)
		if err != nil {
			return nil, err
		}
		c.SSOMappingGroups = &sso
	}
	var out *latchkey.Group
	err := s.inTx(ctx, func(ctx context.Context) error {
		g, err := s.group(ctx, p, id)
		if err != nil {
			return err
		}
		renamed := c.Name != nil && *c.Name != g.Name
		deleting := c.State != nil && *c.State == latchkey.StateDeleted && g.State != latchkey.StateDeleted
		if g.Builtin && (renamed || deleting) {
			return latchkey.Errorf(latchkey.EInvalid, "the built-in group %s cannot be renamed or deleted", g.Name)
		}
		if g.State == latchkey.StateDeleted && (c.State == nil || *c.State != latchkey.StateActive) && (renamed || c.Grants != nil) {
			return latchkey.Errorf(latchkey.EInvalid, "group %s is deleted; restore it (state 1) to change it", g.Name)
		}
		grantsChange := c.Grants != nil && !sameGrants(g.Grants, *c.Grants)
		if grantsChange && g.Immutable() {
			return latchkey.Errorf(latchkey.EInvalid, "the Owner group's permissions cannot be changed")
		}
		if grantsChange || deleting {
			// Taking a group's grants away from its members is acting with them.
			if err := checkGrantsHeld(p, g.Grants, "group "+g.Name); err != nil {
				return err
			}
		}
		if grantsChange {
			if err := s.checkGrants(ctx, p, *c.Grants, grantTarget{}); err != nil {
				return err
			}
		}
		handsOut := c.AssignByDefault != nil && *c.AssignByDefault && !g.AssignByDefault ||
			c.State != nil && *c.State == latchkey.StateActive && g.State != latchkey.StateActive ||
			c.SSOMappingGroups != nil && !slices.Equal(*c.SSOMappingGroups, g.SSOMappingGroups) && len(*c.SSOMappingGroups) > 0
		if handsOut {
			if err := checkGroupJoin(p, g); err != nil {
				return err
			}
		}
		if renamed {
			if err := s.checkGroupName(ctx, p.AccountID, g.ID, *c.Name); err != nil {
				return err
			}
		}
		err = s.keepOwner(ctx, p.AccountID, func() error {
			if grantsChange {
				if _, err := s.store.ReplaceGroupGrants(ctx, g.ID, *c.Grants); err != nil {
					return err
				}
			}
			upd := latchkey.GroupUpdate{Name: c.Name, AssignByDefault: c.AssignByDefault, SSOMappingGroups: c.SSOMappingGroups, State: c.State}
			out, err = s.store.UpdateGroup(ctx, g.ID, upd)
			return err
		})
		return err
	})
	return out, err
}
