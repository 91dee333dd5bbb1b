// Package apitype holds the wire format of latchkey's admin API: the JSON shapes the server
// renders and the client and CLI read, and the functions that render domain objects into them.
// Field names follow dbt Cloud's admin API where one exists. A shape changes here or nowhere.
package apitype

import "encoding/json"

// Envelope wraps every JSON response.
type Envelope struct {
	Status Status          `json:"status"`
	Data   json.RawMessage `json:"data"`
	Extra  json.RawMessage `json:"extra,omitempty"`
}

// Status is the envelope's status member.
type Status struct {
	Code             int    `json:"code"`
	IsSuccess        bool   `json:"is_success"`
	UserMessage      string `json:"user_message"`
	DeveloperMessage string `json:"developer_message"`
}

// ListExtra is the extra member of list responses.
type ListExtra struct {
	Filters    map[string]any `json:"filters"`
	OrderBy    string         `json:"order_by"`
	Pagination Pagination     `json:"pagination"`
}

// Pagination counts a page.
type Pagination struct {
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
}

// Account is a tenant.
type Account struct {
	ID                      int64  `json:"id"`
	Name                    string `json:"name"`
	Plan                    string `json:"plan"`
	State                   int    `json:"state"`
	CreatedAt               string `json:"created_at"`
	UpdatedAt               string `json:"updated_at"`
	ReuseRevokesFamily      bool   `json:"reuse_revokes_family"`
	LeakAction              string `json:"leak_action"`
	MaxTokenLifetimeSeconds int64  `json:"max_token_lifetime_seconds"`
	// DefaultRotationGraceSeconds is how long a rotated-out token keeps working when a rotation
	// does not say.
	DefaultRotationGraceSeconds int64 `json:"default_rotation_grace_seconds"`
	IPRestrictionsEnabled       bool  `json:"ip_restrictions_enabled"`
	// ExpiryNoticeDays are the days before expiry at which tokens are announced as expiring.
	ExpiryNoticeDays []int `json:"expiry_notice_days"`
	// UnusedTokenDays is how long a service token may go unused before it is announced as
	// unused (0: never).
	UnusedTokenDays int `json:"unused_token_days"`
	// DefaultRateLimits apply to every service token without rate limits of its own.
	DefaultRateLimits []RateLimit `json:"default_rate_limits"`
	// MaxAccessTokenLifetimeSeconds is the longest lifetime a token-endpoint request may ask for.
	MaxAccessTokenLifetimeSeconds int64 `json:"max_access_token_lifetime_seconds"`
}

// Whoami describes the calling principal.
type Whoami struct {
	Kind        string  `json:"kind"`
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	AccountID   int64   `json:"account_id"`
	AuthMethod  string  `json:"auth_method"`
	UserID      int64   `json:"user_id,omitempty"`
	TokenID     int64   `json:"token_id,omitempty"`
	TokenUID    string  `json:"token_uid,omitempty"`
	LicenseType string  `json:"license_type,omitempty"`
	Legacy      bool    `json:"legacy"`
	ExpiresAt   *string `json:"expires_at"`
	Account     Account `json:"account"`
}

// Project is a unit of an account. The fields after updated_at are dbt Cloud's, kept for its
// clients: latchkey stores and returns them and gives them no meaning.
type Project struct {
	ID                     int64   `json:"id"`
	AccountID              int64   `json:"account_id"`
	Name                   string  `json:"name"`
	Description            string  `json:"description"`
	State                  int     `json:"state"`
	CreatedAt              string  `json:"created_at"`
	UpdatedAt              string  `json:"updated_at"`
	DbtProjectSubdirectory *string `json:"dbt_project_subdirectory"`
	Type                   int     `json:"type"`
	ConnectionID           *int64  `json:"connection_id"`
	RepositoryID           *int64  `json:"repository_id"`
	SemanticLayerConfigID  *int64  `json:"semantic_layer_config_id"`
	FreshnessJobID         *int64  `json:"freshness_job_id"`
	DocsJobID              *int64  `json:"docs_job_id"`
}

// Grant is the compact form of a permission grant (permission_grants).
type Grant struct {
	PermissionSet                 string   `json:"permission_set"`
	AllProjects                   bool     `json:"all_projects"`
	ProjectID                     *int64   `json:"project_id"`
	WritableEnvironmentCategories []string `json:"writable_environment_categories"`
}

// Permission is a stored grant row of a service token or a group.
type Permission struct {
	ID                            int64    `json:"id"`
	AccountID                     int64    `json:"account_id"`
	ServiceTokenID                *int64   `json:"service_token_id,omitempty"`
	GroupID                       *int64   `json:"group_id,omitempty"`
	PermissionSet                 string   `json:"permission_set"`
	AllProjects                   bool     `json:"all_projects"`
	ProjectID                     *int64   `json:"project_id"`
	WritableEnvironmentCategories []string `json:"writable_environment_categories"`
	State                         int      `json:"state"`
}

// Token is a service token or a personal access token (UserID set).
type Token struct {
	ID           int64    `json:"id"`
	AccountID    int64    `json:"account_id"`
	UserID       *int64   `json:"user_id,omitempty"`
	UID          string   `json:"uid"`
	Display      string   `json:"display"`
	Name         string   `json:"name"`
	State        int      `json:"state"`
	CreatedAt    string   `json:"created_at"`
	UpdatedAt    string   `json:"updated_at"`
	LastUsed     *string  `json:"last_used"`
	LastUsedIP   *string  `json:"last_used_ip"`
	ExpiresAt    *string  `json:"expires_at"`
	Legacy       bool     `json:"legacy"`
	FamilyID     int64    `json:"family_id"`
	RotatedAt    *string  `json:"rotated_at"`
	GraceUntil   *string  `json:"grace_until"`
	ReplacedByID *int64   `json:"replaced_by_id"`
	AllowedCIDRs []string `json:"allowed_cidrs"`
	Flagged      bool     `json:"flagged"`
	// RateLimits bound how often the token may be verified ([] when it has none).
	RateLimits []RateLimit `json:"rate_limits"`
	// Credits are the rotation family's quota of uses (null: unlimited).
	Credits *Credits `json:"credits"`
	// RevokedAt, RevokedReason ("deleted", "leak_reported", "reuse_detected", "member_removed")
	// and RevokedBy (an actor such as "user:3" or "system:reuse detection") say how a token in
	// state 2 ended.
	RevokedAt               *string      `json:"revoked_at"`
	RevokedReason           string       `json:"revoked_reason,omitempty"`
	RevokedBy               string       `json:"revoked_by,omitempty"`
	PermissionGrants        []Grant      `json:"permission_grants"`
	ServiceTokenPermissions []Permission `json:"service_token_permissions"`
	// TokenString is present only in create and rotate responses.
	TokenString string `json:"token_string,omitempty"`
}

// RateLimit is a named limit: at most limit verifications (or units of cost) in each window of
// duration_seconds, windows aligned to the Unix epoch.
type RateLimit struct {
	Name            string `json:"name"`
	Limit           int64  `json:"limit"`
	DurationSeconds int64  `json:"duration_seconds"`
}

// Credits are a token's quota: remaining uses and an optional refill.
type Credits struct {
	Remaining int64   `json:"remaining"`
	Refill    *Refill `json:"refill"`
}

// Refill resets credits to amount every day (00:00 UTC) or month (on day).
type Refill struct {
	Amount   int64  `json:"amount"`
	Interval string `json:"interval"`
	Day      int    `json:"day,omitempty"`
}

// Group holds grants; users are assigned to groups.
type Group struct {
	ID               int64        `json:"id"`
	AccountID        int64        `json:"account_id"`
	Name             string       `json:"name"`
	State            int          `json:"state"`
	AssignByDefault  bool         `json:"assign_by_default"`
	Builtin          bool         `json:"builtin"`
	SSOMappingGroups []string     `json:"sso_mapping_groups"`
	SCIMManaged      bool         `json:"scim_managed"`
	GroupPermissions []Permission `json:"group_permissions"`
	Users            []int64      `json:"users"`
	CreatedAt        string       `json:"created_at"`
	UpdatedAt        string       `json:"updated_at"`
}

// Membership is a user's license in an account (dbt calls it a permission).
type Membership struct {
	ID          int64      `json:"id"`
	AccountID   int64      `json:"account_id"`
	UserID      int64      `json:"user_id"`
	LicenseType string     `json:"license_type"`
	State       int        `json:"state"`
	Groups      []GroupRef `json:"groups"`
	CreatedAt   string     `json:"created_at"`
	UpdatedAt   string     `json:"updated_at"`
}

// GroupRef names a group.
type GroupRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// User is a person, with their membership in the account asked about.
type User struct {
	ID          int64        `json:"id"`
	Email       string       `json:"email"`
	FirstName   string       `json:"first_name"`
	LastName    string       `json:"last_name"`
	Fullname    string       `json:"fullname"`
	IsActive    bool         `json:"is_active"`
	LicenseType string       `json:"license_type,omitempty"`
	Permissions []Membership `json:"permissions"`
	CreatedAt   string       `json:"created_at"`
}

// AuditEntry is an audit log entry on the wire: in the API, and one per line in
// `latchkey audit export`. Context is the exact JSON stored (what the chain hash covers).
type AuditEntry struct {
	ID        int64           `json:"id"`
	AccountID int64           `json:"account_id"`
	CreatedAt string          `json:"created_at"`
	EventType string          `json:"event_type"`
	ActorType string          `json:"actor_type"`
	ActorID   int64           `json:"actor_id"`
	ActorName string          `json:"actor_name"`
	ActorIP   string          `json:"actor_ip"`
	Source    string          `json:"source"`
	Context   json.RawMessage `json:"context"`
	PrevHash  string          `json:"prev_hash"`
	Hash      string          `json:"hash"`
}

// IPCIDR is one CIDR of an IP restriction rule, as dbt Cloud shapes it.
type IPCIDR struct {
	ID                  int64  `json:"id"`
	IPRestrictionRuleID int64  `json:"ip_restriction_rule_id"`
	CIDR                string `json:"cidr"`
	CIDRIPv6            string `json:"cidr_ipv6"`
	State               int    `json:"state"`
}

// IPRule is an IP restriction rule.
type IPRule struct {
	ID                      int64    `json:"id"`
	AccountID               int64    `json:"account_id"`
	IPRestrictionRuleSetID  int64    `json:"ip_restriction_rule_set_id"`
	Name                    string   `json:"name"`
	Type                    int      `json:"type"`
	Description             string   `json:"description"`
	State                   int      `json:"state"`
	RuleSetEnabled          bool     `json:"rule_set_enabled"`
	EnabledForServiceTokens bool     `json:"enabled_for_service_tokens"`
	CIDRs                   []IPCIDR `json:"cidrs"`
	IPCIDRs                 []string `json:"ip_cidrs"`
	CreatedAt               string   `json:"created_at"`
	UpdatedAt               string   `json:"updated_at"`
}

// IPRuleSet is an account's set of IP restriction rules.
type IPRuleSet struct {
	ID        int64 `json:"id"`
	AccountID int64 `json:"account_id"`
	Enabled   bool  `json:"enabled"`
	Rules     int   `json:"rules"`
}

// IPValidation answers whether an address would be allowed by the account's rules.
type IPValidation struct {
	IP             string `json:"ip"`
	Allowed        bool   `json:"allowed"`
	RuleSetEnabled bool   `json:"rule_set_enabled"`
	// AllowedNow says whether the address gets in right now: always while the set is disabled.
	AllowedNow bool `json:"allowed_now"`
}

// CheckRequest asks /v1/check whether token may have access ("read" or "write") on resource,
// in a project and an environment category, from a client address. Optional members are
// pointers: the server tells a member left out from a zero.
type CheckRequest struct {
	Token               *string `json:"token"`
	Resource            *string `json:"resource"`
	Access              *string `json:"access"`
	ProjectID           *int64  `json:"project_id,omitempty"`
	EnvironmentCategory *string `json:"environment_category,omitempty"`
	ClientIP            *string `json:"client_ip,omitempty"`
	// Limit names the one rate limit of the token the check counts against (default: all).
	Limit *string `json:"limit,omitempty"`
	// Cost is how many units the check uses (default 1).
	Cost *int64 `json:"cost,omitempty"`
}

// CheckResult is /v1/check's answer (not enveloped). Reason is "ok", "forbidden", or why the
// token was not accepted (missing, malformed, checksum, not_found, revoked, expired,
// rotated_out, not_member, ip_denied, rate_limited).
type CheckResult struct {
	Allowed   bool            `json:"allowed"`
	Reason    string          `json:"reason"`
	Message   string          `json:"message"`
	Principal *CheckPrincipal `json:"principal"`
	// RateLimits are the token's limits the check counted against, after it (left out for a token
	// without limits).
	RateLimits []CheckRateLimit `json:"rate_limits,omitempty"`
	// RetryAfterSeconds, with reason rate_limited, is when the refusing limit's window resets;
	// with usage_exceeded, when the credits are refilled (left out without a refill).
	RetryAfterSeconds int64 `json:"retry_after_seconds,omitempty"`
	// CreditsRemaining is the token's credits after the check (left out for a token without).
	CreditsRemaining *int64 `json:"credits_remaining,omitempty"`
}

// CheckRateLimit is where one of a token's rate limits stands.
type CheckRateLimit struct {
	Name            string `json:"name"`
	Limit           int64  `json:"limit"`
	DurationSeconds int64  `json:"duration_seconds"`
	Remaining       int64  `json:"remaining"`
	// ResetSeconds is how long until the window ends and remaining returns to limit.
	ResetSeconds int64 `json:"reset_seconds"`
}

// CheckPrincipal identifies who a checked token belongs to.
type CheckPrincipal struct {
	Kind        string  `json:"kind"`
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	AccountID   int64   `json:"account_id"`
	TokenID     int64   `json:"token_id"`
	TokenUID    string  `json:"token_uid"`
	UserID      int64   `json:"user_id,omitempty"`
	LicenseType string  `json:"license_type,omitempty"`
	ExpiresAt   *string `json:"expires_at"`
	Legacy      bool    `json:"legacy"`
}

// TrustPolicy is a workload identity federation policy: tokens of issuer for audience whose
// claims meet every condition are exchanged for access tokens of the service token.
type TrustPolicy struct {
	ID         int64            `json:"id"`
	AccountID  int64            `json:"account_id"`
	Name       string           `json:"name"`
	Issuer     string           `json:"issuer"`
	Audience   string           `json:"audience"`
	Conditions []ClaimCondition `json:"conditions"`
	// ServiceTokenID is the live token of the service token's rotation family (0 when it was
	// deleted: the policy then gives nothing).
	ServiceTokenID int64    `json:"service_token_id"`
	FamilyID       int64    `json:"family_id"`
	Grants         []string `json:"grants"`
	State          int      `json:"state"`
	CreatedAt      string   `json:"created_at"`
	UpdatedAt      string   `json:"updated_at"`
}

// ClaimCondition is a condition on a claim: equals a value, or is like a glob.
type ClaimCondition struct {
	Claim  string `json:"claim"`
	Equals string `json:"equals,omitempty"`
	Like   string `json:"like,omitempty"`
}

// TrustPolicyRequest creates (every field but grants required) or changes (any of name,
// audience, conditions, grants) a policy.
type TrustPolicyRequest struct {
	AccountID      *int64            `json:"account_id,omitempty"`
	Name           *string           `json:"name"`
	Issuer         *string           `json:"issuer"`
	Audience       *string           `json:"audience"`
	Conditions     *[]ClaimCondition `json:"conditions"`
	ServiceTokenID *int64            `json:"service_token_id"`
	Grants         *[]string         `json:"grants"`
}
