package server

import (
	"context"
	"net/mail"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/catalog"
	"github.com/latchkey/latchkey/password"
)

// Membership operations shared by the admin API and the web UI, so that both enforce the same
// rules: who may hand out a license or a group, and what a new member needs.

// newMember describes a user to add to an account.
type newMember struct {
	Email, FirstName, LastName string
	// Password is set on a user created here; an existing user keeps theirs.
	Password string
	License  latchkey.License
	// GroupIDs are the groups to join; nil means the account's default groups.
	GroupIDs []int64
}

// checkLicenseGrant refuses handing out a license that gives more than the caller holds: the it
// license carries security_admin and billing_admin whatever the groups.
func checkLicenseGrant(p *latchkey.Principal, l latchkey.License) error {
	if l != latchkey.LicenseIT {
		return nil
	}
	for _, set := range []string{"security_admin", "billing_admin"} {
		if err := catalog.CheckEscalation(p.Permissions, latchkey.Grant{PermissionSet: set, AllProjects: true}); err != nil {
			return &latchkey.Error{Code: latchkey.EForbidden, Field: "license_type",
				Message: "cannot give the it license: " + latchkey.ErrorMessage(err)}
		}
	}
	if err := can(p, latchkey.ResConnections, latchkey.AccessWrite); err != nil {
		return &latchkey.Error{Code: latchkey.EForbidden, Field: "license_type",
			Message: "cannot give the it license: it " + latchkey.ErrorMessage(err) + ", which you do not hold"}
	}
	return nil
}

// groupsSwitchOn reports whether a license change or a reactivation turns the member's group
// grants on (only developer and analyst licenses count groups).
func groupsSwitchOn(m *latchkey.Membership, upd latchkey.MembershipUpdate) bool {
	counts := func(l latchkey.License) bool { return l == latchkey.LicenseDeveloper || l == latchkey.LicenseAnalyst }
	license := m.License
	if upd.License != nil {
		license = *upd.License
	}
	if !counts(license) {
		return false
	}
	reactivated := upd.State != nil && *upd.State == latchkey.StateActive && m.State != latchkey.StateActive
	return reactivated || !counts(m.License)
}

// checkMemberGroups refuses turning on a member's group grants that the caller does not hold.
func (s *Server) checkMemberGroups(ctx context.Context, p *latchkey.Principal, m *latchkey.Membership) error {
	active := latchkey.StateActive
	groups, _, err := s.store.FindGroups(ctx, latchkey.GroupFilter{AccountID: m.AccountID, UserID: &m.UserID, State: &active, Limit: latchkey.MaxLimit})
	if err != nil {
		return err
	}
	for _, g := range groups {
		if err := checkGroupJoin(p, g); err != nil {
			return err
		}
	}
	return nil
}

// checkGroupUpdate validates a group change before anything is written: built-in groups keep
// their name and cannot be deleted, names stay unique, and making the group a default one or
// restoring it (both hand its grants out) needs the caller to hold those grants.
func (s *Server) checkGroupUpdate(ctx context.Context, p *latchkey.Principal, g *latchkey.Group, upd latchkey.GroupUpdate) error {
	if g.Builtin && (upd.Name != nil && *upd.Name != g.Name || upd.State != nil && *upd.State == latchkey.StateDeleted) {
		return latchkey.Errorf(latchkey.EInvalid, "the built-in group %s cannot be renamed or deleted", g.Name)
	}
	if upd.Name != nil && *upd.Name != g.Name {
		active := latchkey.StateActive
		same, _, err := s.store.FindGroups(ctx, latchkey.GroupFilter{AccountID: g.AccountID, Name: upd.Name, State: &active})
		if err != nil {
			return err
		}
		if len(same) > 0 {
			return &latchkey.Error{Code: latchkey.EConflict, Field: "name", Message: "a group with this name already exists"}
		}
	}
	handsOut := upd.AssignByDefault != nil && *upd.AssignByDefault && !g.AssignByDefault ||
		upd.State != nil && *upd.State == latchkey.StateActive && g.State != latchkey.StateActive
	if handsOut {
		return checkGroupJoin(p, g)
	}
	return nil
}

// checkGroupJoin refuses adding someone to a group whose grants the caller does not hold:
// joining a group hands its grants out.
func checkGroupJoin(p *latchkey.Principal, g *latchkey.Group) error {
	for _, gr := range g.Grants {
		if err := catalog.CheckEscalation(p.Permissions, gr); err != nil {
			return latchkey.Errorf(latchkey.EForbidden, "cannot add members to group %s: %s", g.Name, latchkey.ErrorMessage(err))
		}
	}
	return nil
}

// addMember adds a user to p's account with a license, creating the user when the email is new.
// It needs members:write and licenses:write; errors name their field (email, license_type,
// password, group_ids).
func (s *Server) addMember(ctx context.Context, p *latchkey.Principal, in newMember) (*latchkey.User, error) {
	if err := can(p, latchkey.ResMembers, latchkey.AccessWrite); err != nil {
		return nil, err
	}
	if err := can(p, latchkey.ResLicenses, latchkey.AccessWrite); err != nil {
		return nil, err
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(in.Email))
	if err != nil || addr.Name != "" || len(addr.Address) > 254 {
		return nil, latchkey.FieldError("email", "enter an email address such as ada@example.com")
	}
	if !in.License.Valid() {
		return nil, latchkey.FieldError("license_type", "unknown license_type %q (want developer, read_only, it or analyst)", string(in.License))
	}
	if err := checkLicenseGrant(p, in.License); err != nil {
		return nil, err
	}
	for _, id := range in.GroupIDs {
		g, err := s.group(ctx, p, id)
		if err != nil || g.State != latchkey.StateActive {
			return nil, latchkey.FieldError("group_ids", "group %d does not exist in this account", id)
		}
		if err := checkGroupJoin(p, g); err != nil {
			return nil, err
		}
	}
	if in.GroupIDs == nil && (in.License == latchkey.LicenseDeveloper || in.License == latchkey.LicenseAnalyst) {
		// The new member joins the default groups: their grants are handed out too.
		active := latchkey.StateActive
		groups, _, err := s.store.FindGroups(ctx, latchkey.GroupFilter{AccountID: p.AccountID, State: &active, Limit: latchkey.MaxLimit})
		if err != nil {
			return nil, err
		}
		for _, g := range groups {
			if g.AssignByDefault {
				if err := checkGroupJoin(p, g); err != nil {
					return nil, err
				}
			}
		}
	}
	u, err := s.store.FindUserByEmail(ctx, addr.Address)
	switch latchkey.ErrorCodeOf(err) {
	case "":
	case latchkey.ENotFound:
		u = &latchkey.User{Email: addr.Address, FirstName: strings.TrimSpace(in.FirstName), LastName: strings.TrimSpace(in.LastName)}
		if in.Password != "" {
			if err := password.Validate(in.Password); err != nil {
				return nil, latchkey.FieldError("password", "%v", err)
			}
			if u.PasswordHash, err = password.Hash(in.Password); err != nil {
				return nil, err
			}
		}
		if err := s.store.CreateUser(ctx, u); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	m := &latchkey.Membership{AccountID: p.AccountID, UserID: u.ID, License: in.License}
	if err := s.store.CreateMembership(ctx, m, in.GroupIDs); err != nil {
		return nil, err
	}
	return u, nil
}

// changeMembership changes a member's license or removes them (state 2). It needs
// licenses:write; nobody changes their own license or removes themself.
func (s *Server) changeMembership(ctx context.Context, p *latchkey.Principal, m *latchkey.Membership, upd latchkey.MembershipUpdate) (*latchkey.Membership, error) {
	if err := can(p, latchkey.ResLicenses, latchkey.AccessWrite); err != nil {
		return nil, err
	}
	if upd.License != nil {
		if !upd.License.Valid() {
			return nil, latchkey.FieldError("license_type", "unknown license_type %q (want developer, read_only, it or analyst)", string(*upd.License))
		}
		if err := checkLicenseGrant(p, *upd.License); err != nil {
			return nil, err
		}
	}
	if upd.State != nil && !upd.State.Valid() {
		return nil, latchkey.FieldError("state", "state must be 1 or 2")
	}
	if upd.State != nil && *upd.State == latchkey.StateActive && m.State != latchkey.StateActive && upd.License == nil {
		if err := checkLicenseGrant(p, m.License); err != nil {
			return nil, err
		}
	}
	if groupsSwitchOn(m, upd) {
		if err := s.checkMemberGroups(ctx, p, m); err != nil {
			return nil, err
		}
	}
	if p.Kind == latchkey.PrincipalUser && p.UserID == m.UserID &&
		(upd.State != nil && *upd.State != m.State || upd.License != nil && *upd.License != m.License) {
		return nil, latchkey.Errorf(latchkey.EForbidden, "you cannot change your own license or remove yourself; ask another admin")
	}
	return s.store.UpdateMembership(ctx, m.ID, upd)
}
