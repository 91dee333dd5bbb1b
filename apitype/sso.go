package apitype

import "github.com/latchkey/latchkey"

// AuthProvider is an account's single sign-on provider in dbt Cloud's auth-provider shape (id,
// account_id, type, slug, state, allow_password_backdoor, login_url, times), with type "oidc"
// and the OpenID Connect fields latchkey adds: issuer, client_id, groups_claim, redirect_uri
// (to register with the IdP) and client_secret_set. The client secret itself is write-only.
type AuthProvider struct {
	ID                    int64  `json:"id"`
	AccountID             int64  `json:"account_id"`
	Type                  string `json:"type"`
	Slug                  string `json:"slug"`
	State                 int    `json:"state"`
	AllowPasswordBackdoor bool   `json:"allow_password_backdoor"`
	LoginURL              string `json:"login_url"`
	RedirectURI           string `json:"redirect_uri"`
	Issuer                string `json:"issuer"`
	ClientID              string `json:"client_id"`
	ClientSecretSet       bool   `json:"client_secret_set"`
	GroupsClaim           string `json:"groups_claim"`
	CreatedAt             string `json:"created_at"`
	UpdatedAt             string `json:"updated_at"`
}

// AuthProviderOf renders a provider; base is latchkey's external URL (no trailing slash).
func AuthProviderOf(sp *latchkey.SSOProvider, base string) AuthProvider {
	return AuthProvider{ID: sp.ID, AccountID: sp.AccountID, Type: sp.Type, Slug: sp.Slug, State: int(sp.State),
		AllowPasswordBackdoor: sp.AllowPasswordBackdoor, LoginURL: base + "/login/sso/" + sp.Slug, RedirectURI: base + "/sso/callback",
		Issuer: sp.Issuer, ClientID: sp.ClientID, ClientSecretSet: len(sp.ClientSecretSealed) > 0, GroupsClaim: sp.GroupsClaim,
		CreatedAt: Time(sp.CreatedAt), UpdatedAt: Time(sp.UpdatedAt)}
}

// AuthProviderRequest creates or changes a provider. client_secret is write-only: "" removes
// it (a public client); omitted keeps it. state 2 deletes the provider (as DELETE does).
type AuthProviderRequest struct {
	AccountID             *int64  `json:"account_id"`
	Type                  *string `json:"type"`
	Slug                  *string `json:"slug"`
	AllowPasswordBackdoor *bool   `json:"allow_password_backdoor"`
	Issuer                *string `json:"issuer"`
	ClientID              *string `json:"client_id"`
	ClientSecret          *string `json:"client_secret"`
	GroupsClaim           *string `json:"groups_claim"`
	State                 *int    `json:"state"`
}

// LicenseMap maps IdP groups to a license (dbt Cloud's license map).
type LicenseMap struct {
	ID                      int64    `json:"id"`
	AccountID               int64    `json:"account_id"`
	LicenseType             string   `json:"license_type"`
	SSOLicenseMappingGroups []string `json:"sso_license_mapping_groups"`
	State                   int      `json:"state"`
}

// LicenseMapOf renders a license map.
func LicenseMapOf(m *latchkey.LicenseMap) LicenseMap {
	groups := m.SSOGroups
	if groups == nil {
		groups = []string{}
	}
	return LicenseMap{ID: m.ID, AccountID: m.AccountID, LicenseType: string(m.License), SSOLicenseMappingGroups: groups, State: int(m.State)}
}

// LicenseMapRequest creates or changes a license map; state 2 deletes it.
type LicenseMapRequest struct {
	AccountID               *int64    `json:"account_id"`
	LicenseType             *string   `json:"license_type"`
	SSOLicenseMappingGroups *[]string `json:"sso_license_mapping_groups"`
	State                   *int      `json:"state"`
}
