package server

import (
	"net/http"
	"strings"

	"github.com/latchkey/latchkey"
)

// routes lists every route.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.Handler) {
		s.patterns = append(s.patterns, pattern)
		mux.Handle(pattern, h)
	}
	api := func(pattern string, fn authedFunc) { handle(pattern, s.authed(fn)) }
	const v3 = "/api/v3/accounts/{account_id}"

	// Operations.
	handle("GET /healthz", http.HandlerFunc(s.handleHealthz))
	handle("GET /readyz", http.HandlerFunc(s.handleReadyz))
	handle("GET /readyz/verify", http.HandlerFunc(s.handleReadyzVerify))
	handle("GET /metrics", s.metrics.handler())
	handle("GET /api/openapi.json", http.HandlerFunc(s.handleOpenAPI))

	// Short-lived access tokens (docs/short-lived.md).
	handle("POST /oauth2/token", http.HandlerFunc(s.handleOAuthToken))
	handle("GET /.well-known/jwks.json", http.HandlerFunc(s.handleJWKS))
	handle("GET /.well-known/oauth-authorization-server", http.HandlerFunc(s.handleOAuthMetadata))

	// Accounts and the caller.
	api("GET /api/v2/accounts/{$}", s.handleAPIAccountList)
	api("GET /api/v2/accounts/{account_id}/{$}", s.handleAPIAccountGet)
	api("GET /api/v3/accounts/{$}", s.handleAPIAccountList)
	api("GET /api/v3/accounts/{account_id}/{$}", s.handleAPIAccountGet)
	api("GET /api/v2/whoami/{$}", s.handleAPIWhoami)
	api("GET /api/v3/whoami/{$}", s.handleAPIWhoami)

	// Projects.
	api("GET "+v3+"/projects/{$}", s.handleAPIProjectList)
	api("POST "+v3+"/projects/{$}", s.handleAPIProjectCreate)
	api("GET "+v3+"/projects/{project_id}/{$}", s.handleAPIProjectGet)
	api("POST "+v3+"/projects/{project_id}/{$}", s.handleAPIProjectUpdate)
	api("PUT "+v3+"/projects/{project_id}/{$}", s.handleAPIProjectUpdate)
	api("DELETE "+v3+"/projects/{project_id}/{$}", s.handleAPIProjectDelete)

	// Service tokens.
	api("GET "+v3+"/service-tokens/{$}", s.handleAPIServiceTokenList)
	api("POST "+v3+"/service-tokens/{$}", s.handleAPIServiceTokenCreate)
	api("GET "+v3+"/service-tokens/{token_id}/{$}", s.handleAPIServiceTokenGet)
	api("PUT "+v3+"/service-tokens/{token_id}/{$}", s.handleAPIServiceTokenUpdate)
	api("POST "+v3+"/service-tokens/{token_id}/{$}", s.handleAPIServiceTokenUpdate)
	api("DELETE "+v3+"/service-tokens/{token_id}/{$}", s.handleAPIServiceTokenDelete)
	api("GET "+v3+"/service-tokens/{token_id}/permissions/{$}", s.handleAPIServiceTokenPermissionList)
	api("POST "+v3+"/service-tokens/{token_id}/permissions/{$}", s.handleAPIServiceTokenPermissionSet)
	api("PUT "+v3+"/service-tokens/{token_id}/permissions/{$}", s.handleAPIServiceTokenPermissionSet)
	api("POST "+v3+"/service-tokens/{token_id}/rotate/{$}", s.handleAPIServiceTokenRotate)
	api("PUT "+v3+"/service-tokens/{token_id}/credits/{$}", s.handleAPIServiceTokenCreditsSet)
	api("DELETE "+v3+"/service-tokens/{token_id}/credits/{$}", s.handleAPIServiceTokenCreditsDelete)
	api("GET "+v3+"/service-tokens/{token_id}/usage/{$}", s.handleAPIServiceTokenUsage)
	api("GET "+v3+"/usage/{$}", s.handleAPIAccountUsage)

	// Personal access tokens.
	api("GET "+v3+"/users/{user_id}/account-apikeys/{$}", s.handleAPIPATList)
	api("POST "+v3+"/users/{user_id}/account-apikeys/{$}", s.handleAPIPATCreate)
	api("GET "+v3+"/users/{user_id}/account-apikeys/{token_id}/{$}", s.handleAPIPATGet)
	api("POST "+v3+"/users/{user_id}/account-apikeys/{token_id}/{$}", s.handleAPIPATRotate)
	api("PUT "+v3+"/users/{user_id}/account-apikeys/{token_id}/{$}", s.handleAPIPATUpdate)
	api("PUT "+v3+"/users/{user_id}/account-apikeys/{token_id}/credits/{$}", s.handleAPIPATCreditsSet)
	api("DELETE "+v3+"/users/{user_id}/account-apikeys/{token_id}/credits/{$}", s.handleAPIPATCreditsDelete)
	api("DELETE "+v3+"/users/{user_id}/account-apikeys/{token_id}/{$}", s.handleAPIPATDelete)
	api("GET "+v3+"/users/{user_id}/account-apikeys/{token_id}/usage/{$}", s.handleAPIPATUsage)

	// Groups.
	api("GET "+v3+"/groups/{$}", s.handleAPIGroupList)
	api("POST "+v3+"/groups/{$}", s.handleAPIGroupCreate)
	api("GET "+v3+"/groups/{group_id}/{$}", s.handleAPIGroupGet)
	api("POST "+v3+"/groups/{group_id}/{$}", s.handleAPIGroupUpdate)
	api("PUT "+v3+"/groups/{group_id}/{$}", s.handleAPIGroupUpdate)
	api("DELETE "+v3+"/groups/{group_id}/{$}", s.handleAPIGroupUpdate)
	api("POST "+v3+"/group-permissions/{group_id}/{$}", s.handleAPIGroupPermissionsSet)
	api("POST "+v3+"/assign-groups/{$}", s.handleAPIAssignGroups)

	// Users and licenses.
	api("GET "+v3+"/users/{$}", s.handleAPIUserList)
	api("POST "+v3+"/users/{$}", s.handleAPIUserCreate)
	api("GET "+v3+"/users/{user_id}/{$}", s.handleAPIUserGet)
	api("GET /api/v2/accounts/{account_id}/users/{$}", s.handleAPIUserList)
	api("GET /api/v2/accounts/{account_id}/users/{user_id}/{$}", s.handleAPIUserGet)
	api("POST /api/v2/accounts/{account_id}/permissions/{permission_id}/{$}", s.handleAPILicenseUpdate)

	api("POST "+v3+"/settings/{$}", s.handleAPIAccountSettingsUpdate)

	// IP restrictions and the audit log.
	api("GET "+v3+"/ip-restrictions/{$}", s.handleAPIIPRuleList)
	api("POST "+v3+"/ip-restrictions/{$}", s.handleAPIIPRuleCreate)
	api("GET "+v3+"/ip-restrictions/{rule_id}/{$}", s.handleAPIIPRuleGet)
	api("PUT "+v3+"/ip-restrictions/{rule_id}/{$}", s.handleAPIIPRuleUpdate)
	api("POST "+v3+"/ip-restrictions/{rule_id}/{$}", s.handleAPIIPRuleUpdate)
	api("DELETE "+v3+"/ip-restrictions/{rule_id}/{$}", s.handleAPIIPRuleDelete)
	api("POST "+v3+"/ip-restrictions-set/{$}", s.handleAPIIPRuleSetToggle)
	api("GET "+v3+"/ip-restrictions-set/{set_id}/validate/{$}", s.handleAPIIPRuleSetValidate)
	api("GET "+v3+"/audit-logs/{$}", s.handleAPIAuditLogList)

	// Workload identity federation: trust policies.
	api("GET "+v3+"/trust-policies/{$}", s.handleAPITrustPolicyList)
	api("POST "+v3+"/trust-policies/{$}", s.handleAPITrustPolicyCreate)
	api("GET "+v3+"/trust-policies/{policy_id}/{$}", s.handleAPITrustPolicyGet)
	api("PUT "+v3+"/trust-policies/{policy_id}/{$}", s.handleAPITrustPolicyUpdate)
	api("DELETE "+v3+"/trust-policies/{policy_id}/{$}", s.handleAPITrustPolicyDelete)

	// Single sign-on: the auth provider and license maps.
	api("GET "+v3+"/auth-provider/{$}", s.handleAPIAuthProviderList)
	api("POST "+v3+"/auth-provider/{$}", s.handleAPIAuthProviderCreate)
	api("GET "+v3+"/auth-provider/{provider_id}/{$}", s.handleAPIAuthProviderGet)
	api("POST "+v3+"/auth-provider/{provider_id}/{$}", s.handleAPIAuthProviderUpdate)
	api("PUT "+v3+"/auth-provider/{provider_id}/{$}", s.handleAPIAuthProviderUpdate)
	api("DELETE "+v3+"/auth-provider/{provider_id}/{$}", s.handleAPIAuthProviderDelete)
	api("GET "+v3+"/license-maps/{$}", s.handleAPILicenseMapList)
	api("POST "+v3+"/license-maps/{$}", s.handleAPILicenseMapCreate)
	api("GET "+v3+"/license-maps/{map_id}/{$}", s.handleAPILicenseMapGet)
	api("POST "+v3+"/license-maps/{map_id}/{$}", s.handleAPILicenseMapUpdate)
	api("PUT "+v3+"/license-maps/{map_id}/{$}", s.handleAPILicenseMapUpdate)
	api("DELETE "+v3+"/license-maps/{map_id}/{$}", s.handleAPILicenseMapDelete)

	// Webhooks: dbt's subscription endpoints, and latchkey's secret rotation and delivery log.
	api("GET "+v3+"/webhooks/subscriptions/{$}", s.handleAPIWebhookList)
	api("POST "+v3+"/webhooks/subscriptions/{$}", s.handleAPIWebhookCreate)
	api("GET "+v3+"/webhooks/subscription/{webhook_id}/{$}", s.handleAPIWebhookGet)
	api("PUT "+v3+"/webhooks/subscription/{webhook_id}/{$}", s.handleAPIWebhookUpdate)
	api("POST "+v3+"/webhooks/subscription/{webhook_id}/{$}", s.handleAPIWebhookUpdate)
	api("DELETE "+v3+"/webhooks/subscription/{webhook_id}/{$}", s.handleAPIWebhookDelete)
	api("POST "+v3+"/webhooks/subscription/{webhook_id}/test/{$}", s.handleAPIWebhookTest)
	api("POST "+v3+"/webhooks/subscription/{webhook_id}/rotate-secret/{$}", s.handleAPIWebhookRotateSecret)
	api("GET "+v3+"/webhooks/subscription/{webhook_id}/deliveries/{$}", s.handleAPIWebhookDeliveryList)
	api("GET "+v3+"/webhooks/deliveries/{delivery_id}/{$}", s.handleAPIWebhookDeliveryGet)
	api("POST "+v3+"/webhooks/deliveries/{delivery_id}/redeliver/{$}", s.handleAPIWebhookRedeliver)

	// Verification for gateways and resource servers, and leak reports.
	handle("POST /v1/check", s.adapt(s.handleCheck))
	// /v1/forward-auth (any method) is dispatched in ServeHTTP, ahead of this mux.
	handle("POST /oauth2/introspect", http.HandlerFunc(s.handleIntrospect))
	handle("POST /v1/leaks/github", s.adapt(s.handleLeakReportGitHub))

	// Parts of dbt Cloud's API latchkey does not serve answer 501, not 404: dbt's clients read a
	// 404 as "deleted" and would silently drop the object from their state. They are not in
	// s.patterns: docs/api.md lists them apart.
	for _, area := range unsupportedAPI {
		mux.Handle(area.path, s.adapt(func(w http.ResponseWriter, r *http.Request) error {
			return latchkey.Errorf(latchkey.ENotImplemented, "%s are not supported by latchkey (%s %s)", area.what, r.Method, r.URL.Path)
		}))
	}

	s.uiRoutes(mux)
	mux.Handle("/api/", s.adapt(func(w http.ResponseWriter, r *http.Request) error { return errNoRoute(r) }))
	return s.observe(http.NewCrossOriginProtection().Handler(withTrailingSlash(mux)))
}

// unsupportedAPI are the parts of dbt Cloud's admin API that latchkey knows of and does not serve
// (docs/compatibility.md). Each path covers everything below it, for every method.
var unsupportedAPI = []struct{ path, what string }{
	{"/api/v2/accounts/{account_id}/license-maps/", "license maps on the v2 API (use /api/v3/accounts/{account_id}/license-maps/)"},
	{"/api/v3/accounts/{account_id}/scim-config/", "SCIM configuration and tokens"},
	{"/api/private/accounts/{account_id}/", "account features and add-ons"},
	{"/api/v2/constants/", "dbt Cloud constants"},
}

// withTrailingSlash lets API clients omit the trailing slash dbt's paths carry, without a
// redirect (which would turn a POST into a GET in many clients).
func withTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if (strings.HasPrefix(p, "/api/v") || strings.HasPrefix(p, "/api/private/")) && !strings.HasSuffix(p, "/") {
			r.URL.Path = p + "/"
			if r.URL.RawPath != "" {
				r.URL.RawPath += "/"
			}
		}
		next.ServeHTTP(w, r)
	})
}
