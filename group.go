package latchkey

import "time"

// Names of the groups every account starts with.
const (
	GroupOwner    = "Owner"
	GroupMember   = "Member"
	GroupEveryone = "Everyone"
)

// Group holds permission grants; users are assigned to groups.
type Group struct {
	ID        int64
	AccountID int64
	Name      string
	// AssignByDefault puts new members into the group.
	AssignByDefault bool
	// Builtin marks Owner, Member and Everyone; Owner's grants are immutable.
	Builtin bool
	// SSOMappingGroups are dbt's sso_mapping_groups: signing in with SSO puts a user in the group
	// when one of these is among their IdP groups, and takes them out when none is.
	SSOMappingGroups []string
	State            State
	CreatedAt        time.Time
	UpdatedAt        time.Time
	Grants           []Grant
	// UserIDs lists members (filled by reads).
	UserIDs []int64
}

// Immutable reports whether the group's grants may not be changed (the Owner group).
func (g *Group) Immutable() bool { return g.Builtin && g.Name == GroupOwner }

// GroupFilter selects groups of one account.
type GroupFilter struct {
	AccountID int64
	ID        *int64
	Name      *string
	// NameContains keeps groups whose name contains it, ignoring case (dbt's name__icontains).
	NameContains *string
	UserID       *int64
	State        *State
	Order        Order
	Offset       int
	Limit        int
}

// GroupUpdate changes a group.
type GroupUpdate struct {
	Name             *string
	AssignByDefault  *bool
	SSOMappingGroups *[]string
	State            *State
}

// Grant gives a permission set on all projects or one project, to a group or a service token.
type Grant struct {
	ID        int64
	AccountID int64
	// Exactly one of GroupID and TokenID is set on stored grants.
	GroupID       int64
	TokenID       int64
	PermissionSet string
	AllProjects   bool
	ProjectID     int64
	// WritableEnvs raises R* cells of the set to write in these environment categories.
	WritableEnvs []EnvCategory
	State        State
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Covers reports whether the grant applies to project id.
func (g Grant) Covers(project int64) bool { return g.AllProjects || g.ProjectID == project }

// SameAs reports whether two grants give the same thing, ignoring ids and times.
func (g Grant) SameAs(o Grant) bool {
	if g.PermissionSet != o.PermissionSet || g.AllProjects != o.AllProjects || g.ProjectID != o.ProjectID {
		return false
	}
	return EnvMaskOf(g.WritableEnvs) == EnvMaskOf(o.WritableEnvs)
}
