package admin

import (
	"context"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/catalog"
)

// require returns a forbidden error naming the missing permission, or nil.
func require(p *latchkey.Principal, r latchkey.Resource, a latchkey.Access) error {
	if p == nil {
		return latchkey.Errorf(latchkey.EUnauthorized, "authentication required")
	}
	return p.Can(r, a, 0, "").Err()
}

// CanManageServiceTokens checks who may create or change service tokens: service_tokens:write
// and, for users, a developer or analyst license.
func CanManageServiceTokens(p *latchkey.Principal) error {
	if err := require(p, latchkey.ResServiceTokens, latchkey.AccessWrite); err != nil {
		return err
	}
	if p.Kind == latchkey.PrincipalUser && p.License != latchkey.LicenseDeveloper && p.License != latchkey.LicenseAnalyst {
		return latchkey.Errorf(latchkey.EForbidden, "managing service tokens requires a developer or analyst license (yours is %s)", p.License)
	}
	return nil
}

// securityPolicy is the set whose holders may change the token security policy.
const securityPolicySet = "security_admin"

// canChangeSecurityPolicy checks that p holds account_admin or security_admin: every access
// security_admin gives, on all projects.
func canChangeSecurityPolicy(p *latchkey.Principal) error {
	if err := catalog.CheckEscalation(p.Permissions, latchkey.Grant{PermissionSet: securityPolicySet, AllProjects: true}); err != nil {
		return latchkey.Errorf(latchkey.EForbidden,
			"changing the token security policy (leak action, reuse revoking the family, maximum token lifetime, default rotation grace) requires the account_admin or security_admin permission set")
	}
	return nil
}

// checkGrantsHeld refuses when grants give anything p does not hold: acting on a token or
// group means acting with what it holds.
func checkGrantsHeld(p *latchkey.Principal, grants []latchkey.Grant, what string) error {
	if d, missing := catalog.Gap(p.Permissions, catalog.Compile("", grants)); missing {
		return latchkey.Errorf(latchkey.EForbidden, "you cannot change %s: it holds access you do not (%s)", what, d.Reason())
	}
	return nil
}

// userPermissions compiles what a user holds in an account now (nothing when they are not an
// active member).
func (s *Service) userPermissions(ctx context.Context, accountID, userID int64) (*latchkey.Permissions, *latchkey.Membership, error) {
	m, grants, err := s.store.FindMemberGrants(ctx, accountID, userID)
	if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
		return &latchkey.Permissions{}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return catalog.Compile(m.License, grants), m, nil
}

// checkActsOnUser refuses when the user holds access p does not hold itself: nobody changes the
// license, memberships, state or tokens of someone above them (a security admin cannot demote an
// account admin). Acting on oneself is always allowed here; other rules decide what one may
// change about oneself.
func (s *Service) checkActsOnUser(ctx context.Context, p *latchkey.Principal, userID int64) error {
	if p.Kind == latchkey.PrincipalUser && p.UserID == userID {
		return nil
	}
	target, _, err := s.userPermissions(ctx, p.AccountID, userID)
	if err != nil {
		return err
	}
	if d, missing := catalog.Gap(p.Permissions, target); missing {
		return latchkey.Errorf(latchkey.EForbidden, "you cannot change user %d: they hold access you do not (%s)", userID, d.Reason())
	}
	return nil
}

// checkLicenseGrant refuses handing out a license that gives more than p holds: read_only
// carries stakeholder on all projects, and it carries security_admin, billing_admin and write on
// connections, whatever the groups (developer and analyst give only their groups' grants).
func checkLicenseGrant(p *latchkey.Principal, l latchkey.License) error {
	if d, missing := catalog.Gap(p.Permissions, catalog.Compile(l, nil)); missing {
		return &latchkey.Error{Code: latchkey.EForbidden, Field: "license_type",
			Message: "cannot give the " + string(l) + " license: it " + d.Reason() + ", which you do not hold"}
	}
	return nil
}

// checkGroupJoin refuses adding someone to a group whose grants p does not hold: joining a group
// hands its grants out.
func checkGroupJoin(p *latchkey.Principal, g *latchkey.Group) error {
	for _, gr := range g.Grants {
		if err := catalog.CheckEscalation(p.Permissions, gr); err != nil {
			return latchkey.Errorf(latchkey.EForbidden, "cannot add members to group %s: %s", g.Name, latchkey.ErrorMessage(err))
		}
	}
	return nil
}

// Caps are the actions a principal may take in its account, for pages that show only the
// buttons a principal can use. Every action is checked again when it is taken.
type Caps struct {
	AccountWrite        bool
	SecurityPolicyWrite bool
	ProjectsCreate      bool
	MembersRead         bool
	MembersWrite        bool
	LicensesWrite       bool
	GroupsRead          bool
	GroupsWrite         bool
	ServiceTokensRead   bool
	ServiceTokensManage bool
	IPRestrictionsRead  bool
	IPRestrictionsWrite bool
	AuditLogsRead       bool
	// SSOWrite: change single sign-on (account_admin on all projects; reading it takes
	// SecurityPolicyWrite).
	SSOWrite bool
	// WebhooksManage: read and manage webhook subscriptions and their deliveries (choosing
	// event types also takes AuditLogsRead).
	WebhooksManage bool
	// TrustPoliciesRead and TrustPoliciesWrite: workload identity federation (auth_provider
	// access; making a policy also takes the right to change its service token).
	TrustPoliciesRead, TrustPoliciesWrite bool
}

// Capabilities returns what p may do.
func Capabilities(p *latchkey.Principal) Caps {
	has := func(r latchkey.Resource, a latchkey.Access) bool { return require(p, r, a) == nil }
	return Caps{
		AccountWrite:        has(latchkey.ResAccountSettings, latchkey.AccessWrite),
		SecurityPolicyWrite: canChangeSecurityPolicy(p) == nil,
		ProjectsCreate:      has(latchkey.ResProjectCreate, latchkey.AccessWrite),
		MembersRead:         has(latchkey.ResMembers, latchkey.AccessRead),
		MembersWrite:        has(latchkey.ResMembers, latchkey.AccessWrite) && has(latchkey.ResLicenses, latchkey.AccessWrite),
		LicensesWrite:       has(latchkey.ResLicenses, latchkey.AccessWrite),
		GroupsRead:          has(latchkey.ResGroups, latchkey.AccessRead),
		GroupsWrite:         has(latchkey.ResGroups, latchkey.AccessWrite),
		ServiceTokensRead:   has(latchkey.ResServiceTokens, latchkey.AccessRead),
		ServiceTokensManage: CanManageServiceTokens(p) == nil,
		IPRestrictionsRead:  has(latchkey.ResIPRestrictions, latchkey.AccessRead),
		IPRestrictionsWrite: has(latchkey.ResIPRestrictions, latchkey.AccessWrite),
		AuditLogsRead:       has(latchkey.ResAuditLogs, latchkey.AccessRead),
		SSOWrite:            canChangeSSO(p) == nil,
		WebhooksManage:      CanManageWebhooks(p) == nil,
		TrustPoliciesRead:   has(latchkey.ResAuthProvider, latchkey.AccessRead),
		TrustPoliciesWrite:  has(latchkey.ResAuthProvider, latchkey.AccessWrite) && p.Method != latchkey.AuthAccessToken,
	}
}

// errNoOwner refuses a change that would leave an account without an owner.
func errNoOwner(accountID int64) error {
	return latchkey.Errorf(latchkey.EConflict,
		"refused: account %d must keep an owner — at least one active user with a developer license who holds account_admin on all projects through an active group (such as Owner); give that to someone else first", accountID)
}

// keepOwner runs fn (inside a transaction) and refuses its result when it leaves the account,
// which had an owner, without one.
func (s *Service) keepOwner(ctx context.Context, accountID int64, fn func() error) error {
	before, err := s.store.FindAccountAdmins(ctx, accountID)
	if err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	if len(before) == 0 {
		return nil
	}
	after, err := s.store.FindAccountAdmins(ctx, accountID)
	if err != nil {
		return err
	}
	if len(after) == 0 {
		return errNoOwner(accountID)
	}
	return nil
}

// CanVerify checks that p may ask about other tokens of its account (/v1/check,
// /oauth2/introspect): service_tokens:read.
func CanVerify(p *latchkey.Principal) error {
	return require(p, latchkey.ResServiceTokens, latchkey.AccessRead)
}
