package apitype

import "encoding/json"

// Request bodies of the admin API. Optional members are pointers so that a member left out can be
// told from a zero value; compatibility endpoints ignore members they do not model.

// GrantRequest is one requested grant in either creation style: one step ({permission_set,
// all_projects | project_id, writable_environment_categories?}) or two step ({account_id,
// service_token_id | group_id, permission_set, all_projects, project_id?, …}). A grant must name
// its scope: "all_projects": true, or the project_id of a project in the account.
type GrantRequest struct {
	AccountID                     *int64   `json:"account_id"`
	ServiceTokenID                *int64   `json:"service_token_id"`
	GroupID                       *int64   `json:"group_id"`
	PermissionSet                 *string  `json:"permission_set"`
	AllProjects                   *bool    `json:"all_projects"`
	ProjectID                     *int64   `json:"project_id"`
	WritableEnvironmentCategories []string `json:"writable_environment_categories"`
}

// TokenRequest creates or changes a service token.
type TokenRequest struct {
	AccountID        *int64          `json:"account_id"`
	Name             *string         `json:"name"`
	State            *int            `json:"state"`
	PermissionGrants *[]GrantRequest `json:"permission_grants"`
	// ExpiresAt is an RFC 3339 time or null. On an update, left out keeps the expiry and null
	// removes it; a value equal to the current one changes nothing, so a client may send back the
	// whole object it read.
	ExpiresAt json.RawMessage `json:"expires_at,omitempty"`
	// AllowedCIDRs, on an update, replace the token's own ranges when they differ.
	AllowedCIDRs *[]string `json:"allowed_cidrs"`
	// RateLimits, on an update, replace the token's rate limits when they differ ([]: none).
	RateLimits *[]RateLimit `json:"rate_limits"`
	// Credits set a new token's credits ({"remaining", "refill"?}); an update ignores them
	// (PUT …/credits/ sets them).
	Credits json.RawMessage `json:"credits,omitempty"`
}

// RotateRequest rotates a token; both members are optional.
type RotateRequest struct {
	// GracePeriodSeconds keeps the old token valid this long (0: revoke at once; left out: the
	// account's default_rotation_grace_seconds).
	GracePeriodSeconds *json.Number `json:"grace_period_seconds"`
	ExpiresAt          *string      `json:"expires_at"`
}

// PATRequest creates a personal access token.
type PATRequest struct {
	AccountID *int64  `json:"account_id"`
	UserID    *int64  `json:"user_id"`
	Name      *string `json:"name"`
	ExpiresAt *string `json:"expires_at"`
	// RateLimits bound how often the key may be verified.
	RateLimits *[]RateLimit `json:"rate_limits"`
	// Credits are the key's quota of uses.
	Credits *Credits `json:"credits"`
}

// ProjectRequest creates or changes a project; state 2 deletes it. The dbt fields after State
// are kept as sent (null clears one; left out, it keeps its value).
type ProjectRequest struct {
	AccountID              *int64          `json:"account_id"`
	Name                   *string         `json:"name"`
	Description            *string         `json:"description"`
	State                  *int            `json:"state"`
	DbtProjectSubdirectory json.RawMessage `json:"dbt_project_subdirectory"`
	Type                   json.RawMessage `json:"type"`
	ConnectionID           json.RawMessage `json:"connection_id"`
	RepositoryID           json.RawMessage `json:"repository_id"`
	SemanticLayerConfigID  json.RawMessage `json:"semantic_layer_config_id"`
	FreshnessJobID         json.RawMessage `json:"freshness_job_id"`
	DocsJobID              json.RawMessage `json:"docs_job_id"`
}

// GroupRequest creates or changes a group; group_permissions replace its grants.
type GroupRequest struct {
	AccountID        *int64          `json:"account_id"`
	Name             *string         `json:"name"`
	AssignByDefault  *bool           `json:"assign_by_default"`
	State            *int            `json:"state"`
	GroupPermissions *[]GrantRequest `json:"group_permissions"`
	// SSOMappingGroups is stored and returned (null clears it; left out, it is kept).
	SSOMappingGroups json.RawMessage `json:"sso_mapping_groups"`
}

// AssignGroupsRequest makes desired_group_ids exactly a user's groups.
type AssignGroupsRequest struct {
	UserID          *int64  `json:"user_id"`
	DesiredGroupIDs []int64 `json:"desired_group_ids"`
}

// UserCreateRequest adds a user to an account (a latchkey extension).
type UserCreateRequest struct {
	AccountID   *int64  `json:"account_id"`
	Email       *string `json:"email"`
	FirstName   *string `json:"first_name"`
	LastName    *string `json:"last_name"`
	Password    *string `json:"password"`
	LicenseType *string `json:"license_type"`
	GroupIDs    []int64 `json:"group_ids"`
}

// LicenseRequest changes a member's license or removes them (state 2).
type LicenseRequest struct {
	AccountID   *int64  `json:"account_id"`
	UserID      *int64  `json:"user_id"`
	LicenseType *string `json:"license_type"`
	State       *int    `json:"state"`
}

// SettingsRequest changes the account's token security policy.
type SettingsRequest struct {
	AccountID                     *int64          `json:"account_id"`
	ReuseRevokesFamily            *bool           `json:"reuse_revokes_family"`
	LeakAction                    *string         `json:"leak_action"`
	MaxTokenLifetimeSeconds       json.RawMessage `json:"max_token_lifetime_seconds"`
	DefaultRotationGraceSeconds   json.RawMessage `json:"default_rotation_grace_seconds"`
	ExpiryNoticeDays              *[]int          `json:"expiry_notice_days"`
	UnusedTokenDays               *int            `json:"unused_token_days"`
	DefaultRateLimits             *[]RateLimit    `json:"default_rate_limits"`
	MaxAccessTokenLifetimeSeconds json.RawMessage `json:"max_access_token_lifetime_seconds"`
}

// IPRuleRequest creates or changes an IP restriction rule. cidrs holds dbt's objects
// ({"cidr"} or {"cidr_ipv6"}) or plain strings; ip_cidrs plain strings.
type IPRuleRequest struct {
	AccountID      *int64          `json:"account_id"`
	Name           *string         `json:"name"`
	Type           json.RawMessage `json:"type"`
	Description    *string         `json:"description"`
	CIDRs          json.RawMessage `json:"cidrs"`
	IPCIDRs        json.RawMessage `json:"ip_cidrs"`
	RuleSetEnabled *bool           `json:"rule_set_enabled"`
	// State 2 deletes the rule (as DELETE does).
	State *int `json:"state"`
}

// RuleSetRequest switches enforcement of an account's IP rules.
type RuleSetRequest struct {
	Enabled        *bool `json:"enabled"`
	RuleSetEnabled *bool `json:"rule_set_enabled"`
}
