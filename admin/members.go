package admin

import (
	"context"
	"net/mail"
	"slices"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/password"
)

// Users lists members of p's account (members:read). f.AccountID is set to p's account.
func (s *Service) Users(ctx context.Context, p *latchkey.Principal, f latchkey.UserFilter) ([]*latchkey.User, int, error) {
	if err := require(p, latchkey.ResMembers, latchkey.AccessRead); err != nil {
		return nil, 0, err
	}
	f.AccountID = &p.AccountID
	return s.store.FindUsers(ctx, f)
}

// User returns a user of p's account: p itself, or anyone with members:read.
func (s *Service) User(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.User, error) {
	if !(p.Kind == latchkey.PrincipalUser && p.UserID == id) {
		if err := require(p, latchkey.ResMembers, latchkey.AccessRead); err != nil {
			return nil, err
		}
	}
	users, _, err := s.store.FindUsers(ctx, latchkey.UserFilter{ID: &id, AccountID: &p.AccountID})
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, notFound("user %d not found", id)
	}
	return users[0], nil
}

// Memberships lists memberships in p's account with their group ids: p's own, or anyone's with
// members:read. f.AccountID is set to p's account.
func (s *Service) Memberships(ctx context.Context, p *latchkey.Principal, f latchkey.MembershipFilter) ([]*latchkey.Membership, error) {
	if !(p.Kind == latchkey.PrincipalUser && f.UserID != nil && *f.UserID == p.UserID) {
		if err := require(p, latchkey.ResMembers, latchkey.AccessRead); err != nil {
			return nil, err
		}
	}
	f.AccountID = &p.AccountID
	return s.store.FindMemberships(ctx, f)
}

// NewMember describes a user to add to an account.
type NewMember struct {
	Email, FirstName, LastName string
	// Password is set on a user created here; an existing user keeps theirs.
	Password string
	License  latchkey.License
	// GroupIDs are the groups to join; nil means the account's default groups.
	GroupIDs []int64
	// NeedsPassword refuses creating a user without a password (who could not sign in).
	NeedsPassword bool
}

func cleanEmail(v string) (string, error) {
	addr, err := mail.ParseAddress(strings.TrimSpace(v))
	if err != nil || addr.Name != "" || len(addr.Address) > 254 {
		return "", latchkey.FieldError("email", "enter an email address such as ada@example.com")
	}
	return addr.Address, nil
}

// cleanPersonName trims a first or last name: optional, otherwise a name as CleanName has it.
func cleanPersonName(field, v string) (string, error) {
	if strings.TrimSpace(v) == "" {
		return "", nil
	}
	return latchkey.CleanName(field, v)
}

// hashPassword checks a new user's password and hashes it ("" for none). Callers hash before
// their transaction: argon2 takes a while, and the transaction holds the write lock.
func hashPassword(pw string) (string, error) {
	if pw == "" {
		return "", nil
	}
	if err := password.Validate(pw); err != nil {
		return "", latchkey.FieldError("password", "%v", err)
	}
	return password.Hash(pw)
}

func checkLicense(l latchkey.License) error {
	if !l.Valid() {
		return latchkey.FieldError("license_type", "unknown license_type %q (want developer, read_only, it or analyst)", string(l))
	}
	return nil
}

// AddMember adds a user to p's account with a license, creating the user when the email is new
// (members:write and licenses:write). The license and every group joined (the defaults when
// in.GroupIDs is nil) hand out access, so p must hold what they give. Errors name their field
// (email, license_type, password, group_ids).
func (s *Service) AddMember(ctx context.Context, p *latchkey.Principal, in NewMember) (*latchkey.User, error) {
	if err := require(p, latchkey.ResMembers, latchkey.AccessWrite); err != nil {
		return nil, err
	}
	if err := require(p, latchkey.ResLicenses, latchkey.AccessWrite); err != nil {
		return nil, err
	}
	email, err := cleanEmail(in.Email)
	if err != nil {
		return nil, err
	}
	first, err := cleanPersonName("first_name", in.FirstName)
	if err != nil {
		return nil, err
	}
	last, err := cleanPersonName("last_name", in.LastName)
	if err != nil {
		return nil, err
	}
	if err := checkLicense(in.License); err != nil {
		return nil, err
	}
	if err := checkLicenseGrant(p, in.License); err != nil {
		return nil, err
	}
	hash, err := hashPassword(in.Password)
	if err != nil {
		return nil, err
	}
	var u *latchkey.User
	err = s.inTx(ctx, func(ctx context.Context) error {
		groups, err := s.joinable(ctx, p, in.GroupIDs, "group_ids")
		if err != nil {
			return err
		}
		if in.GroupIDs == nil && (in.License == latchkey.LicenseDeveloper || in.License == latchkey.LicenseAnalyst) {
			// The new member joins the default groups: their grants are handed out too.
			for _, g := range groups {
				if err := checkGroupJoin(p, g); err != nil {
					return err
				}
			}
		}
		u, err = s.store.FindUserByEmail(ctx, email)
		switch latchkey.ErrorCodeOf(err) {
		case "":
		case latchkey.ENotFound:
			if hash == "" && in.NeedsPassword {
				return latchkey.FieldError("password", "A new user needs a password to sign in.")
			}
			u = &latchkey.User{Email: email, FirstName: first, LastName: last, PasswordHash: hash}
			if err := s.store.CreateUser(ctx, u); err != nil {
				return err
			}
		default:
			return err
		}
		return s.store.CreateMembership(ctx, &latchkey.Membership{AccountID: p.AccountID, UserID: u.ID, License: in.License}, in.GroupIDs)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// joinable loads the groups ids names (nil: the account's default groups) and, for named ones,
// checks that they are active groups of p's account that p may hand out.
func (s *Service) joinable(ctx context.Context, p *latchkey.Principal, ids []int64, field string) ([]*latchkey.Group, error) {
	if ids == nil {
		groups, err := s.activeGroups(ctx, p.AccountID)
		if err != nil {
			return nil, err
		}
		return slices.DeleteFunc(groups, func(g *latchkey.Group) bool { return !g.AssignByDefault }), nil
	}
	var out []*latchkey.Group
	for _, id := range ids {
		g, err := s.store.FindGroupByID(ctx, id)
		if latchkey.SystemError(err) {
			return nil, err
		}
		if err != nil || g.AccountID != p.AccountID || g.State != latchkey.StateActive {
			return nil, latchkey.FieldError(field, "group %d does not exist in this account", id)
		}
		if err := checkGroupJoin(p, g); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// activeGroups returns every active group of an account.
func (s *Service) activeGroups(ctx context.Context, accountID int64) ([]*latchkey.Group, error) {
	active := latchkey.StateActive
	return all(func(offset int) ([]*latchkey.Group, int, error) {
		return s.store.FindGroups(ctx, latchkey.GroupFilter{AccountID: accountID, State: &active, Offset: offset, Limit: latchkey.MaxLimit})
	})
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

// membership loads a membership of p's account.
func (s *Service) membership(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.Membership, error) {
	ms, err := s.store.FindMemberships(ctx, latchkey.MembershipFilter{ID: &id, AccountID: &p.AccountID})
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, notFound("permission %d not found", id)
	}
	return ms[0], nil
}

// Membership returns a membership of p's account (licenses:write, as it is read to be changed).
func (s *Service) Membership(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.Membership, error) {
	if err := require(p, latchkey.ResLicenses, latchkey.AccessWrite); err != nil {
		return nil, err
	}
	return s.membership(ctx, p, id)
}

// UpdateMembership changes a member's license or removes (state 2) or restores them
// (licenses:write). Nobody changes their own license or removes themself, nobody changes a
// member who holds access they do not, a license or restored groups hand out only what p holds,
// and the account keeps an owner.
func (s *Service) UpdateMembership(ctx context.Context, p *latchkey.Principal, id int64, upd latchkey.MembershipUpdate) (*latchkey.Membership, error) {
	if err := require(p, latchkey.ResLicenses, latchkey.AccessWrite); err != nil {
		return nil, err
	}
	if upd.License != nil {
		if err := checkLicense(*upd.License); err != nil {
			return nil, err
		}
		if err := checkLicenseGrant(p, *upd.License); err != nil {
			return nil, err
		}
	}
	if upd.State != nil && !upd.State.Valid() {
		return nil, latchkey.FieldError("state", "state must be 1 or 2")
	}
	var out *latchkey.Membership
	err := s.inTx(ctx, func(ctx context.Context) error {
		m, err := s.membership(ctx, p, id)
		if err != nil {
			return err
		}
		if p.Kind == latchkey.PrincipalUser && p.UserID == m.UserID &&
			(upd.State != nil && *upd.State != m.State || upd.License != nil && *upd.License != m.License) {
			return latchkey.Errorf(latchkey.EForbidden, "you cannot change your own license or remove yourself; ask another admin")
		}
		if err := s.checkActsOnUser(ctx, p, m.UserID); err != nil {
			return err
		}
		if upd.State != nil && *upd.State == latchkey.StateActive && m.State != latchkey.StateActive && upd.License == nil {
			if err := checkLicenseGrant(p, m.License); err != nil {
				return err
			}
		}
		if groupsSwitchOn(m, upd) {
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
		}
		err = s.keepOwner(ctx, p.AccountID, func() error {
			out, err = s.store.UpdateMembership(ctx, m.ID, upd)
			return err
		})
		if err != nil {
			return err
		}
		// Read back inside the transaction: a read after the commit could fail and report a
		// change that was made as not made.
		ms, err := s.store.FindMemberships(ctx, latchkey.MembershipFilter{ID: &out.ID})
		if err == nil && len(ms) > 0 {
			out = ms[0]
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetUserGroups makes groupIDs exactly a member's groups (groups:write). Joining a group hands
// out its grants, so p must hold every grant of each group the user newly joins; p must hold
// what the user holds to change them at all; and the account keeps an owner.
func (s *Service) SetUserGroups(ctx context.Context, p *latchkey.Principal, userID int64, groupIDs []int64) ([]*latchkey.Group, error) {
	if err := require(p, latchkey.ResGroups, latchkey.AccessWrite); err != nil {
		return nil, err
	}
	if groupIDs == nil {
		return nil, latchkey.FieldError("desired_group_ids", "desired_group_ids is required (an empty array removes every group)")
	}
	var out []*latchkey.Group
	err := s.inTx(ctx, func(ctx context.Context) error {
		ms, err := s.store.FindMemberships(ctx, latchkey.MembershipFilter{AccountID: &p.AccountID, UserID: &userID})
		if err != nil {
			return err
		}
		if len(ms) == 0 || ms[0].State != latchkey.StateActive {
			return latchkey.FieldError("user_id", "user %d is not a member of this account", userID)
		}
		if err := s.checkActsOnUser(ctx, p, userID); err != nil {
			return err
		}
		out = nil
		for _, id := range groupIDs {
			g, err := s.store.FindGroupByID(ctx, id)
			if latchkey.SystemError(err) {
				return err
			}
			if err != nil || g.AccountID != p.AccountID || g.State != latchkey.StateActive {
				return latchkey.FieldError("desired_group_ids", "group %d does not exist in this account", id)
			}
			if !slices.Contains(ms[0].GroupIDs, id) {
				if err := checkGroupJoin(p, g); err != nil {
					return err
				}
			}
			out = append(out, g)
		}
		err = s.keepOwner(ctx, p.AccountID, func() error {
			return s.store.SetUserGroups(ctx, p.AccountID, userID, groupIDs)
		})
		if err != nil {
			return err
		}
		// Answer with the groups as they are now, the user among their members.
		for i, g := range out {
			if out[i], err = s.store.FindGroupByID(ctx, g.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetGroupMembers adds and removes members of one group (groups:write): members[userID] says
// whether the user should be in it; users not named are left alone. The changes commit together
// or not at all, with the checks of SetUserGroups.
func (s *Service) SetGroupMembers(ctx context.Context, p *latchkey.Principal, groupID int64, members map[int64]bool) (added, removed int, err error) {
	if err := require(p, latchkey.ResGroups, latchkey.AccessWrite); err != nil {
		return 0, 0, err
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		added, removed = 0, 0
		g, err := s.group(ctx, p, groupID)
		if err != nil {
			return err
		}
		if g.State != latchkey.StateActive {
			return notFound("group %s was deleted", g.Name)
		}
		active := latchkey.StateActive
		ms, err := s.store.FindMemberships(ctx, latchkey.MembershipFilter{AccountID: &p.AccountID, State: &active})
		if err != nil {
			return err
		}
		return s.keepOwner(ctx, p.AccountID, func() error {
			for _, m := range ms {
				want, named := members[m.UserID]
				in := slices.Contains(m.GroupIDs, g.ID)
				if !named || in == want {
					continue
				}
				if err := s.checkActsOnUser(ctx, p, m.UserID); err != nil {
					return err
				}
				ids := slices.DeleteFunc(slices.Clone(m.GroupIDs), func(id int64) bool { return id == g.ID })
				if want {
					if err := checkGroupJoin(p, g); err != nil {
						return err
					}
					ids = append(ids, g.ID)
					added++
				} else {
					removed++
				}
				if err := s.store.SetUserGroups(ctx, p.AccountID, m.UserID, ids); err != nil {
					return err
				}
			}
			return nil
		})
	})
	return added, removed, err
}
