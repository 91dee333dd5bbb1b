package client

import "encoding/json"

// Wire types of latchkey's admin API. The server renders exactly these, so they are the contract.

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
	IPRestrictionsEnabled   bool   `json:"ip_restrictions_enabled"`
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

// Project is a unit of an account.
type Project struct {
	ID          int64  `json:"id"`
	AccountID   int64  `json:"account_id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	State       int    `json:"state"`
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
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
	ID                      int64        `json:"id"`
	AccountID               int64        `json:"account_id"`
	UserID                  *int64       `json:"user_id,omitempty"`
	UID                     string       `json:"uid"`
	Display                 string       `json:"display"`
	Name                    string       `json:"name"`
	State                   int          `json:"state"`
	CreatedAt               string       `json:"created_at"`
	UpdatedAt               string       `json:"updated_at"`
	LastUsed                *string      `json:"last_used"`
	LastUsedIP              *string      `json:"last_used_ip"`
	ExpiresAt               *string      `json:"expires_at"`
	Legacy                  bool         `json:"legacy"`
	FamilyID                int64        `json:"family_id"`
	RotatedAt               *string      `json:"rotated_at"`
	GraceUntil              *string      `json:"grace_until"`
	ReplacedByID            *int64       `json:"replaced_by_id"`
	AllowedCIDRs            []string     `json:"allowed_cidrs"`
	Flagged                 bool         `json:"flagged"`
	PermissionGrants        []Grant      `json:"permission_grants"`
	ServiceTokenPermissions []Permission `json:"service_token_permissions"`
	// TokenString is present only in create and rotate responses.
	TokenString string `json:"token_string,omitempty"`
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
