package latchkey

import (
	"slices"
	"time"
)

// State is the lifecycle state of an object, compatible with dbt Cloud's state field.
type State int

// States.
const (
	StateActive  State = 1
	StateDeleted State = 2
)

// Valid reports whether s is 1 or 2.
func (s State) Valid() bool { return s == StateActive || s == StateDeleted }

// Plan is an account's subscription plan; it decides which permission sets service tokens may hold.
type Plan string

// Plans.
const (
	PlanEnterprise     Plan = "enterprise"
	PlanEnterprisePlus Plan = "enterprise_plus"
	PlanTeam           Plan = "team"
	PlanStarter        Plan = "starter"
	PlanDeveloper      Plan = "developer"
)

// Account is a tenant. Every other object belongs to exactly one account.
type Account struct {
	ID        int64
	Name      string
	Plan      Plan
	State     State
	CreatedAt time.Time
	UpdatedAt time.Time
	Settings  AccountSettings
}

// AccountSettings are per-account policies.
type AccountSettings struct {
	// ReuseRevokesFamily revokes a rotation family's live token when a rotated-out token is
	// presented after its grace period.
	ReuseRevokesFamily bool
	// LeakAction is what a leaked-token report does: "revoke" (default) or "flag".
	LeakAction string
	// MaxTokenLifetime caps expires_at on new tokens; 0 means no cap.
	MaxTokenLifetime time.Duration
	// DefaultRotationGrace is how long a rotated-out token keeps working when a rotation does not
	// say (0: revoked at once).
	DefaultRotationGrace time.Duration
	// IPRestrictionsEnabled turns enforcement of the account's IP rules on.
	IPRestrictionsEnabled bool
	// ExpiryNoticeDays are the days before its expiry at which a live token is audited as
	// service_token.expiring (account_scoped_pat.expiring), largest first; empty means
	// DefaultExpiryNoticeDays. See NoticeDays.
	ExpiryNoticeDays []int
	// UnusedTokenDays is how long an active service token may go unused before it is audited
	// as service_token.unused; 0 turns the notice off.
	UnusedTokenDays int
	// DefaultRateLimits apply to every service token of the account that has no rate limits of
	// its own (each token counted on its own); never to personal access tokens.
	DefaultRateLimits []RateLimit
	// MaxAccessTokenLifetime is the longest lifetime a token-endpoint request may ask for (from
	// 15 minutes to 12 hours; 0 reads as DefaultMaxAccessTokenLifetime).
	MaxAccessTokenLifetime time.Duration
}

// Access-token lifetimes: what a token gets unless it asks, the default and the largest account
// maximum.
const (
	DefaultAccessTokenLifetime    = 15 * time.Minute
	DefaultMaxAccessTokenLifetime = time.Hour
	MaxAccessTokenLifetimeCap     = 12 * time.Hour
)

// AccessTokenLifetimeCap is the account's maximum access-token lifetime.
func (s AccountSettings) AccessTokenLifetimeCap() time.Duration {
	if s.MaxAccessTokenLifetime <= 0 {
		return DefaultMaxAccessTokenLifetime
	}
	return s.MaxAccessTokenLifetime
}

// Defaults and bounds of the token notices.
var DefaultExpiryNoticeDays = []int{30, 7, 1}

const (
	DefaultUnusedTokenDays = 90
	MaxExpiryNotices       = 5
	MaxExpiryNoticeDays    = 365
	MaxUnusedTokenDays     = 3650
)

// DefaultAccountSettings returns the settings of a new account.
func DefaultAccountSettings() AccountSettings {
	return AccountSettings{ReuseRevokesFamily: true, LeakAction: "revoke", DefaultRotationGrace: time.Hour,
		ExpiryNoticeDays: slices.Clone(DefaultExpiryNoticeDays), UnusedTokenDays: DefaultUnusedTokenDays,
		MaxAccessTokenLifetime: DefaultMaxAccessTokenLifetime}
}

// NoticeDays returns the expiry notice thresholds, largest first.
func (s AccountSettings) NoticeDays() []int {
	if len(s.ExpiryNoticeDays) == 0 {
		return slices.Clone(DefaultExpiryNoticeDays)
	}
	d := slices.Clone(s.ExpiryNoticeDays)
	slices.Sort(d)
	slices.Reverse(d)
	return slices.Compact(d)
}

// CleanNoticeDays validates expiry notice thresholds (1 to MaxExpiryNotices values, each from
// 1 to MaxExpiryNoticeDays days) and returns them distinct, largest first.
func CleanNoticeDays(days []int) ([]int, error) {
	if len(days) < 1 || len(days) > MaxExpiryNotices {
		return nil, FieldError("expiry_notice_days", "expiry_notice_days must hold 1 to %d numbers of days", MaxExpiryNotices)
	}
	for _, d := range days {
		if d < 1 || d > MaxExpiryNoticeDays {
			return nil, FieldError("expiry_notice_days", "each of expiry_notice_days must be from 1 to %d", MaxExpiryNoticeDays)
		}
	}
	return AccountSettings{ExpiryNoticeDays: days}.NoticeDays(), nil
}

// AccountFilter selects accounts. Nil fields do not filter.
type AccountFilter struct {
	ID *int64
	// MemberUserID keeps accounts where this user has an active membership.
	MemberUserID *int64
	State        *State
	Offset       int
	Limit        int
}

// AccountUpdate changes an account. Nil fields are left alone.
type AccountUpdate struct {
	Name     *string
	Plan     *Plan
	Settings *AccountSettings
}

// Project is a unit inside an account that project-level permissions are scoped to.
type Project struct {
	ID          int64
	AccountID   int64
	Name        string
	Description string
	State       State
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Refs are the fields of dbt Cloud's project object that latchkey keeps for its clients
	// without giving them a meaning.
	Refs ProjectRefs
}

// ProjectRefs are fields of dbt Cloud's project object that a client may set (its Terraform
// provider does) and reads back: latchkey stores and returns them, and nothing else. The ids
// are opaque references to objects latchkey does not manage; nil is null.
type ProjectRefs struct {
	Subdirectory          *string
	Type                  int
	ConnectionID          *int64
	RepositoryID          *int64
	SemanticLayerConfigID *int64
	FreshnessJobID        *int64
	DocsJobID             *int64
}

// ProjectRefsPatch changes some of a project's refs: a nil field is left alone, a field
// pointing at nil sets null.
type ProjectRefsPatch struct {
	Subdirectory          **string
	Type                  *int
	ConnectionID          **int64
	RepositoryID          **int64
	SemanticLayerConfigID **int64
	FreshnessJobID        **int64
	DocsJobID             **int64
}

// Apply returns r with the patch's fields changed.
func (p ProjectRefsPatch) Apply(r ProjectRefs) ProjectRefs {
	if p.Subdirectory != nil {
		r.Subdirectory = *p.Subdirectory
	}
	if p.Type != nil {
		r.Type = *p.Type
	}
	for _, f := range []struct{ dst, src **int64 }{
		{&r.ConnectionID, p.ConnectionID}, {&r.RepositoryID, p.RepositoryID},
		{&r.SemanticLayerConfigID, p.SemanticLayerConfigID}, {&r.FreshnessJobID, p.FreshnessJobID}, {&r.DocsJobID, p.DocsJobID},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	return r
}

// Empty reports whether the patch changes nothing.
func (p ProjectRefsPatch) Empty() bool { return p == ProjectRefsPatch{} }

// ProjectFilter selects projects of one account.
type ProjectFilter struct {
	AccountID int64
	ID        *int64
	// IDs, when non-nil, keeps only these projects (used to list readable projects).
	IDs   []int64
	State *State
	// Name keeps the project with exactly this name; NameContains those whose name contains it,
	// ignoring case (dbt's name__icontains).
	Name         *string
	NameContains *string
	Order        Order
	Offset       int
	Limit        int
}

// ProjectUpdate changes a project. Nil fields are left alone.
type ProjectUpdate struct {
	Name        *string
	Description *string
	Refs        ProjectRefsPatch
}
