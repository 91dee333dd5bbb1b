package latchkey

import "time"

// SSOProviderOIDC is the one type of single sign-on provider latchkey serves: OpenID Connect
// with the authorization code flow and PKCE.
const SSOProviderOIDC = "oidc"

// DefaultGroupsClaim is the ID token (or userinfo) claim that lists a user's IdP groups when a
// provider does not name another.
const DefaultGroupsClaim = "groups"

// SSOProvider is an account's single sign-on configuration (dbt Cloud's auth provider). An
// account has at most one active provider. Slug names the account in its sign-in URL
// (/login/sso/{slug}), which is how a user's browser finds the account's provider.
type SSOProvider struct {
	ID        int64
	AccountID int64
	Type      string
	Slug      string
	// AllowPasswordBackdoor, when false, refuses password sign-in to the account's members
	// except its owners (the break-glass admins).
	AllowPasswordBackdoor bool
	Issuer                string
	ClientID              string
	// ClientSecretSealed is the OIDC client secret sealed with the deployment's secret key
	// (AES-256-GCM); empty for a public client. Never rendered, logged or audited.
	ClientSecretSealed []byte
	// GroupsClaim names the claim whose values are matched against groups' SSOMappingGroups
	// and license maps.
	GroupsClaim string
	State       State
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// SSOProviderFilter selects providers. Nil fields do not filter.
type SSOProviderFilter struct {
	AccountID *int64
	Slug      *string
	State     *State
}

// SSOProviderUpdate changes a provider. Nil fields are left alone.
type SSOProviderUpdate struct {
	Slug                  *string
	AllowPasswordBackdoor *bool
	Issuer                *string
	ClientID              *string
	ClientSecretSealed    *[]byte
	GroupsClaim           *string
}

// LicenseMap gives the license License to users signing in with SSO who are in any of the IdP
// groups SSOGroups (dbt Cloud's license map).
type LicenseMap struct {
	ID        int64
	AccountID int64
	License   License
	SSOGroups []string
	State     State
	CreatedAt time.Time
	UpdatedAt time.Time
}

// LicenseMapUpdate changes a license map. Nil fields are left alone.
type LicenseMapUpdate struct {
	License   *License
	SSOGroups *[]string
}

// SSOIdentity is what a verified ID token (with the userinfo answer) says about the person
// signing in.
type SSOIdentity struct {
	Subject       string
	Email         string
	EmailVerified bool
	FirstName     string
	LastName      string
	// Groups are the values of the provider's groups claim.
	Groups []string
}
