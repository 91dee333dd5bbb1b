package server

import (
	"net/http"
	"regexp"
	"strings"
)

// endpointDoc documents one API operation. The table is the source of the OpenAPI document and of
// docs/api.md, and a test checks it against the routes the server registers.
type endpointDoc struct {
	Method, Path string
	Summary      string
	// Needs is the permission required, in words.
	Needs string
	// Extension marks latchkey's own endpoints (not in dbt Cloud's API).
	Extension bool
	// Body and Response name component schemas ("" for none).
	Body, Response string
	Tag            string
}

const a3 = "/api/v3/accounts/{account_id}"

var apiDocs = []endpointDoc{
	{"GET", "/healthz", "Process is up (liveness; never looks at the database)", "none", true, "", "", "Operations"},
	{"GET", "/readyz", "Ready for everything: the database answers, a real write succeeds within 2 s, and (PostgreSQL) the change feed is connected; 503 otherwise. JSON detail either way: database, writes, change_feed, cache (from a probe every 5 s)", "none", true, "", "", "Operations"},
	{"GET", "/readyz/verify", "Ready to verify tokens: as /readyz, but also 200 while the database is down and the cache can answer (for gateways that only verify)", "none", true, "", "", "Operations"},
	{"GET", "/metrics", "Prometheus metrics", "none", true, "", "", "Operations"},
	{"GET", "/api/openapi.json", "This document", "none", true, "", "", "Operations"},

	{"POST", "/oauth2/token", "OAuth 2.0 token endpoint (RFC 6749, RFC 8693; form-encoded; errors as RFC 6749 §5.2 {error, error_description}): grant_type client_credentials with a service token as client_secret (its uid as client_id, HTTP Basic or in the body) or urn:ietf:params:oauth:grant-type:token-exchange with a latchkey token as subject_token (subject_token_type urn:ietf:params:oauth:token-type:access_token), or an external OIDC token (subject_token_type urn:ietf:params:oauth:token-type:jwt) that a trust policy accepts (client_id names the policy when several do), answers a short-lived access token (a JWT, 15 minutes, never past the subject's expiry); scope (grants \"set\" or \"set:project_id\", space-separated) narrows it to what the subject holds. 404 without --secret-key. See docs/short-lived.md", "a service token (client_credentials) or any latchkey token (token exchange)", true, "", "", "OAuth"},
	{"GET", "/.well-known/jwks.json", "The public keys that sign access tokens (JWK set; each key is published an hour before it signs and until the tokens it signed have expired)", "none", true, "", "", "OAuth"},
	{"GET", "/.well-known/oauth-authorization-server", "OAuth 2.0 authorization server metadata (RFC 8414): issuer, token endpoint, JWKS URL, grant types", "none", true, "", "", "OAuth"},

	{"GET", "/api/v2/accounts/", "List the accounts the caller can see", "membership (a token sees only its own account)", false, "", "AccountList", "Accounts"},
	{"GET", "/api/v2/accounts/{account_id}/", "Get an account", "membership", false, "", "Account", "Accounts"},
	{"GET", "/api/v3/accounts/", "List the accounts the caller can see (v3 path)", "membership", false, "", "AccountList", "Accounts"},
	{"GET", "/api/v3/accounts/{account_id}/", "Get an account (v3 path)", "membership", false, "", "Account", "Accounts"},
	{"GET", "/api/v2/whoami/", "Describe the calling principal", "any principal", false, "", "Whoami", "Accounts"},
	{"GET", "/api/v3/whoami/", "Describe the calling principal (v3 path)", "any principal", false, "", "Whoami", "Accounts"},

	{"GET", a3 + "/projects/", "List projects (only those the caller can read)", "projects:read", false, "", "ProjectList", "Projects"},
	{"POST", a3 + "/projects/", "Create a project", "project_create:write", false, "ProjectRequest", "Project", "Projects"},
	{"GET", a3 + "/projects/{project_id}/", "Get a project", "projects:read on the project", false, "", "Project", "Projects"},
	{"POST", a3 + "/projects/{project_id}/", "Update a project", "projects:write on the project", false, "ProjectRequest", "Project", "Projects"},
	{"PUT", a3 + "/projects/{project_id}/", "Update a project", "projects:write on the project", false, "ProjectRequest", "Project", "Projects"},
	{"DELETE", a3 + "/projects/{project_id}/", "Delete a project (state 2)", "projects:write on the project", false, "", "Project", "Projects"},

	{"GET", a3 + "/service-tokens/", "List service tokens (filters: state, expires_before)", "service_tokens:read", false, "", "TokenList", "Service tokens"},
	{"POST", a3 + "/service-tokens/", "Create a service token, in one step (permission_grants) or two (then POST …/permissions/); token_string is returned once", "service_tokens:write and, for users, a developer or analyst license; no escalation", false, "TokenRequest", "Token", "Service tokens"},
	{"GET", a3 + "/service-tokens/{token_id}/", "Get a service token", "service_tokens:read", false, "", "Token", "Service tokens"},
	{"PUT", a3 + "/service-tokens/{token_id}/", "Rename a service token, change its allowed_cidrs, expires_at, rate_limits or credits (null removes the expiry or the credits; values equal to the current ones change nothing, so the object read may be sent back), or delete it with state 2", "service_tokens:write, holding what the token holds; an expiry within the account's max_token_lifetime_seconds", false, "TokenRequest", "Token", "Service tokens"},
	{"POST", a3 + "/service-tokens/{token_id}/", "Rename a service token, change its allowed_cidrs, expires_at, rate_limits or credits (null removes the expiry or the credits; values equal to the current ones change nothing, so the object read may be sent back), or delete it with state 2", "service_tokens:write, holding what the token holds; an expiry within the account's max_token_lifetime_seconds", false, "TokenRequest", "Token", "Service tokens"},
	{"DELETE", a3 + "/service-tokens/{token_id}/", "Delete (revoke) a service token at once; it stays readable in state 2 with revoked_at, revoked_reason and revoked_by", "service_tokens:write, holding what the token holds", false, "", "Token", "Service tokens"},
	{"GET", a3 + "/service-tokens/{token_id}/permissions/", "List a token's permission rows", "service_tokens:read", false, "", "PermissionList", "Service tokens"},
	{"POST", a3 + "/service-tokens/{token_id}/permissions/", "Give grants to a token that has none (400 if it has some)", "service_tokens:write; no escalation", false, "GrantArray", "PermissionList", "Service tokens"},
	{"PUT", a3 + "/service-tokens/{token_id}/permissions/", "Replace a token's grants", "service_tokens:write, holding what the token holds; no escalation", true, "GrantArray", "PermissionList", "Service tokens"},
	{"PUT", a3 + "/service-tokens/{token_id}/credits/", "Set the token's credits (shared with its rotation family): {remaining, refill?: {amount, interval: daily or monthly, day}}; the balance becomes remaining, and what nodes spent before is forgotten. The token's own PUT ignores credits, so sending back an object read earlier cannot restore a spent balance", "service_tokens:write, holding what the token holds", true, "Credits", "Token", "Service tokens"},
	{"DELETE", a3 + "/service-tokens/{token_id}/credits/", "Remove the token's credits: unlimited use", "service_tokens:write, holding what the token holds", true, "", "Token", "Service tokens"},
	{"GET", a3 + "/service-tokens/{token_id}/usage/", "The token's verifications by outcome (ok, forbidden, rate_limited, usage_exceeded, ip_denied, expired, revoked) per minute, hour or day over from–to, every bucket listed (zeros included), their totals, and the last 5 client addresses it was used from with first and last seen. Counts reach storage every --usage-flush-interval (10 s); minutes are kept 48 hours, hours 35 days, days 400 days (serve flags)", "service_tokens:read", true, "", "TokenUsage", "Service tokens"},
	{"GET", a3 + "/usage/", "The account's verifications by outcome over from–to (every bucket listed) and its 10 most verified tokens in that period (personal access tokens only to whoever may read them)", "service_tokens:read", true, "", "AccountUsage", "Accounts"},
	{"POST", a3 + "/service-tokens/{token_id}/rotate/", "Mint a successor with the same name and grants; the old token stays valid for grace_period_seconds (0 to 604800; left out: the account's default_rotation_grace_seconds, an hour unless changed; 0 revokes it at once)", "service_tokens:write, holding what the token holds", true, "RotateRequest", "Token", "Service tokens"},

	{"GET", a3 + "/users/{user_id}/account-apikeys/", "List a user's personal access tokens", "the user, or members:write", false, "", "TokenList", "Personal access tokens"},
	{"POST", a3 + "/users/{user_id}/account-apikeys/", "Create a personal access token; token_string is returned once", "the user themself", false, "PATRequest", "Token", "Personal access tokens"},
	{"GET", a3 + "/users/{user_id}/account-apikeys/{token_id}/", "Get a personal access token", "the user, or members:write", false, "", "Token", "Personal access tokens"},
	{"POST", a3 + "/users/{user_id}/account-apikeys/{token_id}/", "Rotate a personal access token (grace_period_seconds; left out: the account's default_rotation_grace_seconds)", "the user themself", false, "RotateRequest", "Token", "Personal access tokens"},
	{"PUT", a3 + "/users/{user_id}/account-apikeys/{token_id}/", "Change a personal access token's name, expires_at or rate_limits (fields left out, and values equal to the current ones, change nothing; credits are ignored here: use …/credits/)", "the user themself; an expiry within the account's max_token_lifetime_seconds", true, "PATRequest", "Token", "Personal access tokens"},
	{"PUT", a3 + "/users/{user_id}/account-apikeys/{token_id}/credits/", "Set the personal access token's credits, as for a service token's …/credits/", "the user themself", true, "Credits", "Token", "Personal access tokens"},
	{"DELETE", a3 + "/users/{user_id}/account-apikeys/{token_id}/credits/", "Remove the personal access token's credits: unlimited use", "the user themself", true, "", "Token", "Personal access tokens"},
	{"DELETE", a3 + "/users/{user_id}/account-apikeys/{token_id}/", "Delete a personal access token", "the user, or members:write and holding what the user holds", false, "", "Token", "Personal access tokens"},
	{"GET", a3 + "/users/{user_id}/account-apikeys/{token_id}/usage/", "The personal access token's verifications by outcome over from–to and its last 5 client addresses, as for a service token's usage", "the user, or members:write", true, "", "TokenUsage", "Personal access tokens"},

	{"GET", a3 + "/groups/", "List groups", "groups:read", false, "", "GroupList", "Groups"},
	{"POST", a3 + "/groups/", "Create a group, optionally with group_permissions", "groups:write; no escalation", false, "GroupRequest", "Group", "Groups"},
	{"GET", a3 + "/groups/{group_id}/", "Get a group", "groups:read", false, "", "Group", "Groups"},
	{"POST", a3 + "/groups/{group_id}/", "Update a group (name, assign_by_default, state, group_permissions), all together or nothing; 409 when it would leave the account without an owner", "groups:write, holding the group's grants to change or delete them; no escalation", false, "GroupRequest", "Group", "Groups"},
	{"PUT", a3 + "/groups/{group_id}/", "Update a group", "groups:write, holding the group's grants to change or delete them; no escalation", false, "GroupRequest", "Group", "Groups"},
	{"DELETE", a3 + "/groups/{group_id}/", "Delete a group (state 2); built-in groups cannot be deleted; 409 when it would leave the account without an owner", "groups:write, holding the group's grants", true, "", "Group", "Groups"},
	{"POST", a3 + "/group-permissions/{group_id}/", "Replace all of a group's grants; 409 when it would leave the account without an owner", "groups:write, holding the group's grants; no escalation", false, "GrantArray", "PermissionList", "Groups"},
	{"POST", a3 + "/assign-groups/", "Set a user's groups to desired_group_ids; 409 when it would leave the account without an owner", "groups:write, holding what the user holds and the grants of groups the user joins", false, "AssignRequest", "GroupList", "Groups"},

	{"GET", a3 + "/users/", "List the account's users with their license", "members:read", false, "", "UserList", "Users"},
	{"POST", a3 + "/users/", "Add a user (created when the email is new) with a license and groups", "members:write and licenses:write", true, "UserRequest", "User", "Users"},
	{"GET", a3 + "/users/{user_id}/", "Get a user", "members:read, or the user themself", false, "", "User", "Users"},
	{"GET", "/api/v2/accounts/{account_id}/users/", "List the account's users (v2 path)", "members:read", false, "", "UserList", "Users"},
	{"GET", "/api/v2/accounts/{account_id}/users/{user_id}/", "Get a user (v2 path)", "members:read, or the user themself", false, "", "User", "Users"},
	{"POST", "/api/v2/accounts/{account_id}/permissions/{permission_id}/", "Change a member's license_type, or remove them with state 2; 409 when it would leave the account without an owner", "licenses:write, holding what the member holds and what the license gives; not on oneself", false, "LicenseRequest", "Membership", "Users"},

	{"POST", a3 + "/settings/", "Change the account's token security policy: reuse_revokes_family, leak_action (revoke or flag), max_token_lifetime_seconds (0: no cap), default_rotation_grace_seconds (0 to 604800), expiry_notice_days (1 to 5 thresholds of 1 to 365 days; default [30,7,1]), unused_token_days (0: off, to 3650; default 90), default_rate_limits (for tokens without their own)", "account_admin or security_admin (account_settings:write is not enough)", true, "SettingsRequest", "Account", "Account settings"},
	{"GET", a3 + "/ip-restrictions/", "List IP restriction rules: type 1 allow or 2 deny, cidrs as dbt objects ({cidr} or {cidr_ipv6}) and ip_cidrs as strings, rule_set_enabled", "ip_restrictions:read; Enterprise plans", false, "", "", "IP restrictions"},
	{"POST", a3 + "/ip-restrictions/", "Create a rule {name, type, description, cidrs or ip_cidrs, rule_set_enabled}; refused when a CIDR is both allowed and denied, or when enforcement would block the caller's own address", "ip_restrictions:write; Enterprise plans", false, "", "", "IP restrictions"},
	{"GET", a3 + "/ip-restrictions/{rule_id}/", "Get a rule", "ip_restrictions:read; Enterprise plans", false, "", "", "IP restrictions"},
	{"PUT", a3 + "/ip-restrictions/{rule_id}/", "Change a rule (given cidrs replace the rule's); refused when enforcement would block the caller", "ip_restrictions:write; Enterprise plans", false, "", "", "IP restrictions"},
	{"POST", a3 + "/ip-restrictions/{rule_id}/", "Change a rule (as PUT)", "ip_restrictions:write; Enterprise plans", false, "", "", "IP restrictions"},
	{"DELETE", a3 + "/ip-restrictions/{rule_id}/", "Delete a rule; refused when enforcement would then block the caller", "ip_restrictions:write; Enterprise plans", false, "", "", "IP restrictions"},
	{"POST", a3 + "/ip-restrictions-set/", "Enable or disable enforcement of the account's rules {enabled}; enabling is refused when it would block the caller's own address", "ip_restrictions:write; Enterprise plans", false, "", "", "IP restrictions"},
	{"GET", a3 + "/ip-restrictions-set/{set_id}/validate/", "Whether the caller's address (or ?ip=) is allowed by the rules, and whether it gets in now; the set id is the account id", "ip_restrictions:read; Enterprise plans", false, "", "", "IP restrictions"},
	{"GET", a3 + "/audit-logs/", "List audit entries, newest first; filters event_type (exact, or a category such as service_token or service_token.*), actor (type:id or name), since, until; limit and offset", "audit_logs:read", true, "", "", "Audit log"},
	{"GET", a3 + "/trust-policies/", "List the account's trust policies (workload identity federation: tokens of an external OIDC issuer exchanged at /oauth2/token for access tokens of a service token)", "auth_provider:read", true, "", "TrustPolicyList", "Trust policies"},
	{"POST", a3 + "/trust-policies/", "Create a trust policy: issuer (https), audience, conditions on claims (each {claim, equals} or {claim, like} with a glob; all must hold; at least one), service_token_id, optional grants narrowing its access tokens; audited as trust_policy.created", "auth_provider:write, and the right to change the service token (holding what it holds)", true, "TrustPolicyRequest", "TrustPolicy", "Trust policies"},
	{"GET", a3 + "/trust-policies/{policy_id}/", "Get a trust policy", "auth_provider:read", true, "", "TrustPolicy", "Trust policies"},
	{"PUT", a3 + "/trust-policies/{policy_id}/", "Change a trust policy's name, audience, conditions or grants (the issuer and the service token stay; a different value is a 400); audited as trust_policy.updated", "auth_provider:write, and the right to change the service token", true, "TrustPolicyRequest", "TrustPolicy", "Trust policies"},
	{"DELETE", a3 + "/trust-policies/{policy_id}/", "Delete a trust policy: no exchange under it from now on, and the access tokens it gave are refused; audited as trust_policy.deleted", "auth_provider:write", true, "", "TrustPolicy", "Trust policies"},
	{"GET", a3 + "/auth-provider/", "List the account's single sign-on provider (none or one): dbt's auth-provider shape with type oidc, login_url (/login/sso/{slug}), redirect_uri to register with the IdP, and client_secret_set (the secret itself is never returned)", "account_admin or security_admin", false, "", "AuthProviderList", "Single sign-on"},
	{"POST", a3 + "/auth-provider/", "Configure OpenID Connect sign-in {type: oidc, issuer, client_id, client_secret (write-only), slug, groups_claim (default groups), allow_password_backdoor (default true)}; one provider per account (409 for a second)", "account_admin or security_admin", false, "AuthProviderRequest", "AuthProvider", "Single sign-on"},
	{"GET", a3 + "/auth-provider/{provider_id}/", "Get the provider (also once deleted, with state 2)", "account_admin or security_admin", false, "", "AuthProvider", "Single sign-on"},
	{"POST", a3 + "/auth-provider/{provider_id}/", "Change the provider (given fields only; client_secret \"\" makes it a public client; state 2 deletes it)", "account_admin or security_admin", false, "AuthProviderRequest", "AuthProvider", "Single sign-on"},
	{"PUT", a3 + "/auth-provider/{provider_id}/", "Change the provider (as POST)", "account_admin or security_admin", false, "AuthProviderRequest", "AuthProvider", "Single sign-on"},
	{"DELETE", a3 + "/auth-provider/{provider_id}/", "Turn single sign-on off (state 2); password sign-in is no longer restricted by it", "account_admin or security_admin", false, "", "AuthProvider", "Single sign-on"},
	{"GET", a3 + "/license-maps/", "List license maps: users signing in with SSO who are in one of sso_license_mapping_groups get license_type (the most-giving one when several match)", "account_admin or security_admin", false, "", "LicenseMapList", "Single sign-on"},
	{"POST", a3 + "/license-maps/", "Create a license map {license_type, sso_license_mapping_groups}", "account_admin or security_admin", false, "LicenseMapRequest", "LicenseMap", "Single sign-on"},
	{"GET", a3 + "/license-maps/{map_id}/", "Get a license map", "account_admin or security_admin", false, "", "LicenseMap", "Single sign-on"},
	{"POST", a3 + "/license-maps/{map_id}/", "Change a license map (state 2 deletes it)", "account_admin or security_admin", false, "LicenseMapRequest", "LicenseMap", "Single sign-on"},
	{"PUT", a3 + "/license-maps/{map_id}/", "Change a license map (as POST)", "account_admin or security_admin", false, "LicenseMapRequest", "LicenseMap", "Single sign-on"},
	{"DELETE", a3 + "/license-maps/{map_id}/", "Delete a license map (state 2)", "account_admin or security_admin", false, "", "LicenseMap", "Single sign-on"},
	{"GET", a3 + "/webhooks/subscriptions/", "List webhook subscriptions (ids like wsu_12), with http_status_code and dispatched_at of each one's latest delivery (null before the first)", "webhooks:write", false, "", "WebhookList", "Webhooks"},
	{"POST", a3 + "/webhooks/subscriptions/", "Subscribe an https endpoint to events {name, description, client_url, event_types (exact types, category.* or *), active (default true), hmac_secret (optional whsec_…; generated when left out)}; hmac_secret is in this answer only. At most 20 active subscriptions per account (409)", "webhooks:write, and audit_logs:read to choose event_types, client_url or hmac_secret", false, "WebhookRequest", "Webhook", "Webhooks"},
	{"GET", a3 + "/webhooks/subscription/{webhook_id}/", "Get a webhook subscription (wsu_12 or 12)", "webhooks:write", false, "", "Webhook", "Webhooks"},
	{"PUT", a3 + "/webhooks/subscription/{webhook_id}/", "Change a webhook subscription: the fields sent replace the current ones (values equal to the current ones change nothing, so the object read may be sent back); active false turns it off and fails its pending deliveries; a new hmac_secret rotates to it", "webhooks:write, and audit_logs:read to choose event_types, client_url or hmac_secret", false, "WebhookRequest", "Webhook", "Webhooks"},
	{"POST", a3 + "/webhooks/subscription/{webhook_id}/", "Change a webhook subscription (as PUT)", "webhooks:write, and audit_logs:read to choose event_types, client_url or hmac_secret", true, "WebhookRequest", "Webhook", "Webhooks"},
	{"DELETE", a3 + "/webhooks/subscription/{webhook_id}/", "Delete a webhook subscription; its pending deliveries fail", "webhooks:write", false, "", "Webhook", "Webhooks"},
	{"POST", a3 + "/webhooks/subscription/{webhook_id}/test/", "Send a webhook.test event now, once, and answer verification_status_code (\"0\" without an answer) and verification_error (null on 2xx), with latchkey's delivery_id; 503 when webhook delivery is not running on the server", "webhooks:write", false, "", "WebhookTest", "Webhooks"},
	{"POST", a3 + "/webhooks/subscription/{webhook_id}/rotate-secret/", "Give the subscription a new signing secret, in this answer only (hmac_secret); the old one keeps signing next to it for 24 hours", "webhooks:write and audit_logs:read", true, "", "Webhook", "Webhooks"},
	{"GET", a3 + "/webhooks/subscription/{webhook_id}/deliveries/", "The subscription's delivery log, newest first (limit, offset; state pending, succeeded or failed)", "webhooks:write and audit_logs:read", true, "", "WebhookDeliveryList", "Webhooks"},
	{"GET", a3 + "/webhooks/deliveries/{delivery_id}/", "Get a delivery with its payload and attempts (at, status, duration_ms, error, response: the start of the body)", "webhooks:write and audit_logs:read", true, "", "WebhookDelivery", "Webhooks"},
	{"POST", a3 + "/webhooks/deliveries/{delivery_id}/redeliver/", "Send a delivery again, now, with the same message id (webhook-id); 409 while the subscription is off or while a node is sending it", "webhooks:write and audit_logs:read", true, "", "WebhookDelivery", "Webhooks"},
	{"POST", "/v1/check", "Is this token allowed this access? {token, resource, access, project_id?, environment_category?, client_ip?, limit?, cost?} → {allowed, reason, message, principal, rate_limits?, retry_after_seconds?}; counts against the token's rate limits and spends its credits (reason rate_limited when over a limit, usage_exceeded when out of credits); not enveloped", "service_tokens:read (the caller); tokens of other accounts answer not_found", true, "CheckRequest", "CheckResult", "Verification"},
	{"GET", "/v1/forward-auth", "For nginx auth_request, Traefik ForwardAuth, Caddy forward_auth and Envoy ext_authz (at /v1/forward-auth/<original path>): maps the original method and URI, read only from the headers of the gateway the rules name (gateway: nginx, traefik, caddy, envoy or generic), to a permission with --forward-auth-rules; 200 with X-Latchkey-Account-Id and X-Latchkey-Principal; 400 when the gateway's headers are missing, sent twice or contradictory, or the forwarded client address cannot be read; 401, 403 or 429 (any method; X-Latchkey-Reason says why; a token with rate limits gets RateLimit-Policy and RateLimit fields, and Retry-After with 429 rate_limited; a token out of credits gets 429 usage_exceeded, with Retry-After when they are refilled)", "a loopback gateway, or X-Latchkey-Forward-Secret", true, "", "", "Verification"},
	{"POST", "/oauth2/introspect", "RFC 7662 token introspection (form-encoded token=…): active, sub, token_type, exp, iat, account_id; a token over a rate limit or out of credits is inactive with reason rate_limited or usage_exceeded (and counts against its limits like any verification)", "service_tokens:read (the caller)", true, "", "", "Verification"},
	{"POST", "/v1/leaks/github", "GitHub secret-scanning partner endpoint: a signed JSON array of {token, type, url, source}; revokes (or flags) each reported latchkey token and answers [{token_hash, token_type, label}]", "a Github-Public-Key-Signature by a key from --github-keys-file (no token)", true, "", "", "Leak reports"},
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// openAPI builds the OpenAPI 3.1 document.
func openAPI(version string) map[string]any {
	paths := map[string]any{}
	for _, d := range apiDocs {
		item, _ := paths[d.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[d.Path] = item
		}
		desc := "Requires: " + d.Needs + "."
		if d.Extension {
			desc += " latchkey extension (not part of dbt Cloud's API)."
		}
		op := map[string]any{
			"summary":     d.Summary,
			"description": desc,
			"tags":        []string{d.Tag},
			"operationId": operationID(d),
			"responses":   responses(d),
		}
		if d.Tag == "Operations" || d.Tag == "OAuth" || d.Path == "/api/openapi.json" {
			op["security"] = []any{}
		}
		if d.Method == "POST" && d.Tag == "OAuth" {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/x-www-form-urlencoded": map[string]any{"schema": oauthRequestSchema}}}
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(d.Path, -1) {
			schema := map[string]any{"type": "integer"}
			if m[1] == "webhook_id" {
				schema = map[string]any{"type": "string", "pattern": "^(wsu_)?[0-9]+$", "description": "wsu_12, or the bare number"}
			}
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": schema})
		}
		if strings.HasSuffix(d.Response, "List") {
			stateDesc := "1 active (default), 2 deleted, or all"
			if d.Response == "WebhookDeliveryList" {
				stateDesc = "pending, succeeded or failed (default: every delivery)"
			}
			for _, q := range []struct{ name, typ, desc string }{
				{"limit", "integer", "Page size, 1 to 100 (default 100)"},
				{"offset", "integer", "Items to skip"},
				{"state", "string", stateDesc},
			} {
				params = append(params, map[string]any{"name": q.name, "in": "query", "schema": map[string]any{"type": q.typ}, "description": q.desc})
			}
		}
		if strings.HasSuffix(d.Response, "Usage") {
			for _, q := range []struct{ name, desc string }{
				{"from", "Start of the period, RFC 3339 (default: 24 hours before to); widened to a whole bucket"},
				{"to", "End of the period, RFC 3339 (default: now); widened to a whole bucket"},
				{"granularity", "minute, hour or day (default: minute up to 6 hours, hour up to 14 days, day beyond); at most 1500 buckets"},
			} {
				params = append(params, map[string]any{"name": q.name, "in": "query", "schema": map[string]any{"type": "string"}, "description": q.desc})
			}
		}
		if d.Method == "POST" && (strings.HasSuffix(d.Path, "/service-tokens/") || strings.HasSuffix(d.Path, "/account-apikeys/")) {
			params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header", "schema": map[string]any{"type": "string", "maxLength": 255},
				"description": "Makes a retry safe: the same caller sending the same key within 24 hours creates nothing and gets 409 with data.token_id (1 to 255 visible ASCII characters; a UUID is a good choice)"})
		}
		if params != nil {
			op["parameters"] = params
		}
		if d.Body != "" {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": ref(d.Body)}}}
		}
		item[strings.ToLower(d.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "latchkey",
			"version":     version,
			"description": "Account-owned API tokens with project-scoped permissions. Paths and shapes follow dbt Cloud's admin API; latchkey's own extensions say so. Every JSON response is wrapped in {status, data, extra}.",
		},
		"servers":    []any{map[string]any{"url": "/"}},
		"paths":      paths,
		"security":   []any{map[string]any{"token": []any{}}},
		"components": components(),
	}
}

func operationID(d endpointDoc) string {
	p := pathParam.ReplaceAllString(d.Path, "by_$1")
	p = strings.NewReplacer("/api/", "", "/", "_", "-", "_", ".", "_", "{", "", "}", "").Replace(p)
	return strings.ToLower(d.Method) + "_" + strings.Trim(p, "_")
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func responses(d endpointDoc) map[string]any {
	ok := "200"
	if d.Method == "POST" && (strings.HasSuffix(d.Path, "/projects/") || strings.HasSuffix(d.Path, "/service-tokens/") ||
		strings.HasSuffix(d.Path, "/account-apikeys/") || strings.HasSuffix(d.Path, "/groups/") || strings.HasSuffix(d.Path, "/users/") ||
		strings.HasSuffix(d.Path, "/rotate/") || strings.HasSuffix(d.Path, "/auth-provider/") || strings.HasSuffix(d.Path, "/license-maps/") || strings.HasSuffix(d.Path, "/account-apikeys/{token_id}/") ||
		strings.HasSuffix(d.Path, "/webhooks/subscriptions/")) {
		ok = "201"
	}
	rs := map[string]any{}
	if d.Response != "" {
		rs[ok] = map[string]any{"description": "Success", "content": map[string]any{"application/json": map[string]any{
			"schema": map[string]any{"allOf": []any{ref("Envelope"), map[string]any{"properties": map[string]any{"data": ref(d.Response)}}}}}}}
	} else {
		rs[ok] = map[string]any{"description": "Success"}
	}
	if d.Tag == "OAuth" {
		if d.Method == "POST" {
			rs[ok] = map[string]any{"description": "An access token", "content": map[string]any{"application/json": map[string]any{"schema": oauthTokenSchema}}}
			for code, desc := range map[string]string{"400": "invalid_request, invalid_grant, invalid_scope, invalid_target or unsupported_grant_type",
				"401": "invalid_client", "404": "The token endpoint is off (no --secret-key)", "500": "server_error", "503": "temporarily_unavailable"} {
				rs[code] = map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": oauthErrorSchema}}}
			}
		}
		return rs
	}
	if d.Tag != "Operations" {
		for code, desc := range map[string]string{"400": "Validation error; data.field names the field", "401": "Missing, malformed, unknown, revoked or expired token",
			"403": "Forbidden; the message names the missing permission (data.account_access_denied for IP restrictions)", "404": "Not found",
			"413": "Body larger than 1 MiB", "429": "Rate limited; see Retry-After", "500": "Internal error; the message carries a request id",
			"503": "Storage cannot answer now (unreachable, read-only, disk full, a lock or timeout); see Retry-After"} {
			rs[code] = map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": ref("Envelope")}}}
		}
	}
	return rs
}

func obj(props map[string]any, required ...string) map[string]any {
	o := map[string]any{"type": "object", "properties": props}
	if required != nil {
		o["required"] = required
	}
	return o
}

func list(item string) map[string]any { return map[string]any{"type": "array", "items": ref(item)} }

var (
	tInt    = map[string]any{"type": "integer"}
	tStr    = map[string]any{"type": "string"}
	tBool   = map[string]any{"type": "boolean"}
	tTime   = map[string]any{"type": []string{"string", "null"}, "format": "date-time"}
	tState  = map[string]any{"type": "integer", "enum": []int{1, 2}, "description": "1 active, 2 deleted"}
	tStrArr = map[string]any{"type": "array", "items": tStr}
	tIntNil = map[string]any{"type": []string{"integer", "null"}}
	tStrNil = map[string]any{"type": []string{"string", "null"}}
)

func components() map[string]any {
	credits := map[string]any{"type": []string{"object", "null"}, "description": "The rotation family's quota of uses: remaining, each verification taking its cost; at 0 refused with usage_exceeded until refilled; refill (optional) resets remaining to amount every day at 00:00 UTC or every month on day. null: unlimited. See docs/limits.md.",
		"properties": map[string]any{"remaining": map[string]any{"type": "integer", "minimum": 0}, "refill": map[string]any{"type": []string{"object", "null"},
			"properties": map[string]any{"amount": map[string]any{"type": "integer", "minimum": 1}, "interval": map[string]any{"type": "string", "enum": []string{"daily", "monthly"}}, "day": map[string]any{"type": "integer", "minimum": 1, "maximum": 31}}}}}
	rateLimit := obj(map[string]any{"name": map[string]any{"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9._-]+$"},
		"limit": map[string]any{"type": "integer", "minimum": 1}, "duration_seconds": map[string]any{"type": "integer", "minimum": 1, "maximum": 2592000}},
		"name", "limit", "duration_seconds")
	outcomes := map[string]any{}
	for _, n := range []string{"ok", "forbidden", "rate_limited", "usage_exceeded", "ip_denied", "expired", "revoked", "total"} {
		outcomes[n] = map[string]any{"type": "integer", "minimum": 0}
	}
	usageCounts := obj(outcomes)
	usageBucket := map[string]any{"allOf": []any{usageCounts, obj(map[string]any{"start": tTime})}}
	grant := obj(map[string]any{
		"permission_set":                  tStr,
		"all_projects":                    map[string]any{"type": "boolean", "description": "true for every project; otherwise project_id must name a project of the account (a grant naming neither is refused, never widened)"},
		"project_id":                      tIntNil,
		"writable_environment_categories": map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": []string{"all", "development", "staging", "production", "other"}}},
	}, "permission_set")
	return map[string]any{
		"securitySchemes": map[string]any{
			"token": map[string]any{"type": "apiKey", "in": "header", "name": "Authorization", "description": "Token <token> or Bearer <token>"},
		},
		"schemas": map[string]any{
			"Envelope": obj(map[string]any{
				"status": obj(map[string]any{"code": tInt, "is_success": tBool, "user_message": tStr, "developer_message": tStr}),
				"data":   map[string]any{},
				"extra":  obj(map[string]any{"pagination": obj(map[string]any{"count": tInt, "total_count": tInt}), "filters": map[string]any{"type": "object"}, "order_by": tStr}),
			}),
			"Account": obj(map[string]any{"id": tInt, "name": tStr, "plan": map[string]any{"type": "string", "enum": []string{"enterprise", "enterprise_plus", "team", "starter", "developer"}},
				"state": tState, "created_at": tTime, "updated_at": tTime, "reuse_revokes_family": tBool, "leak_action": tStr,
				"max_token_lifetime_seconds": tInt, "default_rotation_grace_seconds": tInt, "ip_restrictions_enabled": tBool,
				"expiry_notice_days": map[string]any{"type": "array", "items": tInt}, "unused_token_days": tInt,
				"default_rate_limits":               map[string]any{"type": "array", "items": rateLimit, "description": "Rate limits of every service token without limits of its own, each token counted on its own (never personal access tokens)"},
				"max_access_token_lifetime_seconds": map[string]any{"type": "integer", "description": "The longest lifetime a token-endpoint request may ask for with expires_in (access tokens live 900 s unless asked)"}}),
			"AccountList": list("Account"),
			"Whoami": obj(map[string]any{"kind": map[string]any{"type": "string", "enum": []string{"user", "service_token"}}, "id": tInt, "name": tStr,
				"account_id": tInt, "auth_method": tStr, "license_type": tStr, "token_uid": tStr, "legacy": tBool, "expires_at": tTime, "account": ref("Account")}),
			"Project": obj(map[string]any{"id": tInt, "account_id": tInt, "name": tStr, "description": tStr, "state": tState, "created_at": tTime, "updated_at": tTime,
				"dbt_project_subdirectory": tStrNil, "type": tInt, "connection_id": tIntNil, "repository_id": tIntNil,
				"semantic_layer_config_id": tIntNil, "freshness_job_id": tIntNil, "docs_job_id": tIntNil}),
			"TrustPolicy": obj(map[string]any{"id": tInt, "account_id": tInt, "name": tStr, "issuer": tStr, "audience": tStr,
				"conditions": map[string]any{"type": "array", "items": ref("ClaimCondition")}, "service_token_id": tInt, "family_id": tInt,
				"grants": map[string]any{"type": "array", "items": tStr}, "state": tState, "created_at": tTime, "updated_at": tTime}),
			"TrustPolicyList": list("TrustPolicy"),
			"ClaimCondition": obj(map[string]any{"claim": map[string]any{"type": "string", "maxLength": 100, "pattern": "^[A-Za-z0-9_.:-]+$"},
				"equals": map[string]any{"type": "string", "maxLength": 500, "description": "the claim's value, exactly"},
				"like":   map[string]any{"type": "string", "maxLength": 500, "description": "a glob: * within a path segment, ? one character, [a-z] a class"}}, "claim"),
			"TrustPolicyRequest": obj(map[string]any{"account_id": tInt, "name": tStr, "issuer": map[string]any{"type": "string", "format": "uri", "maxLength": 255},
				"audience": map[string]any{"type": "string", "maxLength": 255}, "conditions": map[string]any{"type": "array", "maxItems": 20, "items": ref("ClaimCondition")},
				"service_token_id": tInt, "grants": map[string]any{"type": "array", "maxItems": 50, "items": tStr, "description": "permission_set or permission_set:project_id"}}),
			"ProjectList": list("Project"),
			"ProjectRequest": obj(map[string]any{"name": tStr, "description": tStr, "account_id": tInt, "state": tState,
				"dbt_project_subdirectory": map[string]any{"type": []string{"string", "null"}, "description": "A relative path inside the repository (no leading /, no \\, no ..); stored, not interpreted. null clears it; left out, it is kept."},
				"type":                     map[string]any{"type": "integer", "minimum": 0, "maximum": 1000, "description": "dbt Cloud's project type; stored, not interpreted"},
				"connection_id":            tIntNil, "repository_id": tIntNil, "semantic_layer_config_id": tIntNil, "freshness_job_id": tIntNil, "docs_job_id": tIntNil}, "name"),
			"Grant":      grant,
			"GrantArray": map[string]any{"type": "array", "items": grant},
			"Permission": obj(map[string]any{"id": tInt, "account_id": tInt, "service_token_id": tInt, "group_id": tInt, "permission_set": tStr,
				"all_projects": tBool, "project_id": tIntNil, "writable_environment_categories": tStrArr, "state": tState}),
			"PermissionList": list("Permission"),
			"Token": obj(map[string]any{"id": tInt, "account_id": tInt, "user_id": tInt, "uid": tStr, "display": tStr, "name": tStr, "state": tState,
				"created_at": tTime, "updated_at": tTime, "last_used": tTime, "last_used_ip": map[string]any{"type": []string{"string", "null"}},
				"expires_at": tTime, "legacy": tBool, "family_id": tInt, "rotated_at": tTime, "grace_until": tTime, "replaced_by_id": tIntNil,
				"allowed_cidrs": tStrArr, "flagged": tBool, "permission_grants": map[string]any{"type": "array", "items": grant},
				"rate_limits": map[string]any{"type": "array", "maxItems": 10, "items": rateLimit, "description": "Named limits on how often the token may be verified: at most limit verifications (or units of a check's cost) per window of duration_seconds (1 to 2592000), windows aligned to the Unix epoch; [] for none. See docs/limits.md."},
				"credits":     credits,
				"revoked_at":  tTime, "revoked_reason": map[string]any{"type": "string", "enum": []string{"deleted", "leak_reported", "reuse_detected", "membership_removed", "rotated"}},
				"revoked_by":                map[string]any{"type": "string", "description": "user:<id>, service_token:<id> or system:<what>"},
				"service_token_permissions": list("Permission"),
				"token_string":              map[string]any{"type": "string", "description": "Only in create and rotate responses; never again."}}),
			"TokenList": list("Token"),
			"Credits":   credits,
			"TokenRequest": obj(map[string]any{"name": tStr, "account_id": tInt, "state": tState, "permission_grants": map[string]any{"type": "array", "items": grant},
				"expires_at": tTime, "allowed_cidrs": tStrArr, "rate_limits": map[string]any{"type": "array", "maxItems": 10, "items": rateLimit, "description": "Named limits on how often the token may be verified: at most limit verifications (or units of a check's cost) per window of duration_seconds (1 to 2592000), windows aligned to the Unix epoch; [] for none. See docs/limits.md."}, "credits": credits}, "name"),
			"PATRequest":    obj(map[string]any{"name": tStr, "expires_at": map[string]any{"type": "string", "format": "date-time"}, "rate_limits": map[string]any{"type": "array", "maxItems": 10, "items": rateLimit, "description": "Named limits on how often the token may be verified: at most limit verifications (or units of a check's cost) per window of duration_seconds (1 to 2592000), windows aligned to the Unix epoch; [] for none. See docs/limits.md."}, "credits": credits}, "name"),
			"RotateRequest": obj(map[string]any{"grace_period_seconds": map[string]any{"type": "integer", "minimum": 0, "maximum": 604800}, "expires_at": map[string]any{"type": "string", "format": "date-time"}}),
			"Group": obj(map[string]any{"id": tInt, "account_id": tInt, "name": tStr, "state": tState, "assign_by_default": tBool, "builtin": tBool,
				"sso_mapping_groups": tStrArr, "scim_managed": tBool, "group_permissions": list("Permission"), "users": map[string]any{"type": "array", "items": tInt}, "created_at": tTime, "updated_at": tTime}),
			"GroupList": list("Group"),
			"GroupRequest": obj(map[string]any{"name": tStr, "assign_by_default": tBool, "state": tState, "group_permissions": map[string]any{"type": "array", "items": grant},
				"sso_mapping_groups": map[string]any{"type": []string{"array", "null"}, "items": tStr, "description": "IdP groups whose members single sign-on puts in this group (and takes out of it when they are in none); up to 100 names, a repeated one kept once. Setting them needs what the group grants."}}),
			"AssignRequest": obj(map[string]any{"user_id": tInt, "desired_group_ids": map[string]any{"type": "array", "items": tInt}}, "user_id", "desired_group_ids"),
			"Membership": obj(map[string]any{"id": tInt, "account_id": tInt, "user_id": tInt, "license_type": tStr, "state": tState,
				"groups": map[string]any{"type": "array", "items": obj(map[string]any{"id": tInt, "name": tStr})}}),
			"User": obj(map[string]any{"id": tInt, "email": tStr, "first_name": tStr, "last_name": tStr, "fullname": tStr, "is_active": tBool,
				"license_type": tStr, "permissions": list("Membership")}),
			"UserList": list("User"),
			"UserRequest": obj(map[string]any{"email": tStr, "first_name": tStr, "last_name": tStr, "password": tStr,
				"license_type": map[string]any{"type": "string", "enum": []string{"developer", "read_only", "it", "analyst"}}, "group_ids": map[string]any{"type": "array", "items": tInt}}, "email", "license_type"),
			"LicenseRequest": obj(map[string]any{"license_type": tStr, "state": tState}),
			"SettingsRequest": obj(map[string]any{"reuse_revokes_family": tBool, "leak_action": map[string]any{"type": "string", "enum": []string{"revoke", "flag"}},
				"max_token_lifetime_seconds": tInt, "default_rotation_grace_seconds": map[string]any{"type": "integer", "minimum": 0, "maximum": 604800},
				"expiry_notice_days":                map[string]any{"type": "array", "minItems": 1, "maxItems": 5, "items": map[string]any{"type": "integer", "minimum": 1, "maximum": 365}},
				"unused_token_days":                 map[string]any{"type": "integer", "minimum": 0, "maximum": 3650},
				"default_rate_limits":               map[string]any{"type": "array", "maxItems": 10, "items": rateLimit, "description": "Rate limits of every service token without limits of its own ([]: none; never personal access tokens); see docs/limits.md"},
				"max_access_token_lifetime_seconds": map[string]any{"type": "integer", "minimum": 900, "maximum": 43200, "description": "The longest lifetime a token-endpoint request may ask for with expires_in (default 3600)"}}),
			"AuthProvider": obj(map[string]any{"id": tInt, "account_id": tInt, "type": map[string]any{"type": "string", "enum": []string{"oidc"}}, "slug": tStr,
				"state": tState, "allow_password_backdoor": tBool, "login_url": tStr, "redirect_uri": tStr, "issuer": tStr, "client_id": tStr,
				"client_secret_set": tBool, "groups_claim": tStr, "created_at": tTime, "updated_at": tTime}),
			"AuthProviderList": list("AuthProvider"),
			"AuthProviderRequest": obj(map[string]any{"account_id": tInt, "type": map[string]any{"type": "string", "enum": []string{"oidc"}},
				"slug":                    map[string]any{"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", "description": "Names the account in its sign-in URL /login/sso/{slug}; default: made of the account's name"},
				"issuer":                  map[string]any{"type": "string", "description": "The IdP's issuer URL (https; http only on localhost); discovery is read from {issuer}/.well-known/openid-configuration"},
				"client_id":               tStr,
				"client_secret":           map[string]any{"type": "string", "writeOnly": true, "description": "Write-only; sealed with the deployment's --secret-key. \"\" removes it (a public client, PKCE only)."},
				"groups_claim":            map[string]any{"type": "string", "description": "The ID token or userinfo claim listing the user's IdP groups (default groups)"},
				"allow_password_backdoor": map[string]any{"type": "boolean", "description": "false refuses password sign-in to the account's members except its owners (break-glass)"},
				"state":                   tState}),
			"LicenseMap":     obj(map[string]any{"id": tInt, "account_id": tInt, "license_type": tStr, "sso_license_mapping_groups": tStrArr, "state": tState}),
			"LicenseMapList": list("LicenseMap"),
			"LicenseMapRequest": obj(map[string]any{"account_id": tInt, "license_type": map[string]any{"type": "string", "enum": []string{"developer", "read_only", "it", "analyst"}},
				"sso_license_mapping_groups": tStrArr, "state": tState}),
			"Webhook": obj(map[string]any{"id": map[string]any{"type": "string", "description": "wsu_ and the number"}, "account_id": tInt, "name": tStr,
				"description": tStr, "client_url": tStr, "event_types": tStrArr, "active": tBool,
				"job_ids":          map[string]any{"type": "array", "items": tStr, "maxItems": 0, "description": "Always empty: latchkey has no jobs"},
				"hmac_secret":      map[string]any{"type": "string", "description": "The signing secret (whsec_…); only in the create and rotate-secret answers, never again."},
				"http_status_code": map[string]any{"type": []string{"string", "null"}, "description": "HTTP status of the latest delivery's latest attempt (\"0\": no answer); null before the first"},
				"dispatched_at":    tTime,
				"disabled_reason":  map[string]any{"type": "string", "description": "failing when latchkey turned the subscription off after its endpoint failed for 3 days; \"\" otherwise (extension)"},
				"failing_since":    tTime, "created_at": tTime, "updated_at": tTime}),
			"WebhookList": list("Webhook"),
			"WebhookRequest": obj(map[string]any{"account_id": tInt, "name": tStr, "description": tStr,
				"client_url":  map[string]any{"type": "string", "description": "https URL events are POSTed to"},
				"event_types": map[string]any{"type": "array", "items": tStr, "maxItems": 64, "description": "Event types, category.* or *; see the catalogue in docs"},
				"active":      tBool,
				"job_ids":     map[string]any{"type": "array", "maxItems": 0, "description": "Must be empty (latchkey has no jobs)"},
				"hmac_secret": map[string]any{"type": "string", "writeOnly": true, "description": "Optional: whsec_ and 24 to 64 bytes in standard base64; generated when left out"}}),
			"WebhookTest": obj(map[string]any{"verification_error": tStrNil, "verification_status_code": tStr, "delivery_id": tInt}),
			"WebhookDelivery": obj(map[string]any{"id": tInt, "account_id": tInt, "webhook_id": tStr, "event_id": map[string]any{"type": "integer", "description": "The audit entry the event came from; 0 for a test"},
				"event_type": tStr, "message_id": map[string]any{"type": "string", "description": "The webhook-id header, the same on every attempt and redelivery"},
				"state": map[string]any{"type": "string", "enum": []string{"pending", "succeeded", "failed"}}, "attempt_count": tInt, "next_attempt_at": tTime,
				"last_status": tInt, "last_error": tStr, "last_response": tStr, "created_at": tTime, "updated_at": tTime, "delivered_at": tTime,
				"payload":  map[string]any{"type": "object", "description": "The JSON sent (single delivery only)"},
				"attempts": map[string]any{"type": "array", "items": obj(map[string]any{"at": tTime, "status": tInt, "duration_ms": tInt, "error": tStr, "response": tStr}), "description": "Oldest first (single delivery only)"}}),
			"WebhookDeliveryList": list("WebhookDelivery"),
			"UsageCounts":         usageCounts,
			"UsageBucket":         usageBucket,
			"TokenUsage": obj(map[string]any{"token_id": tInt, "granularity": map[string]any{"type": "string", "enum": []string{"minute", "hour", "day"}},
				"from": tTime, "to": tTime, "totals": usageCounts, "buckets": map[string]any{"type": "array", "items": usageBucket},
				"addresses": map[string]any{"type": "array", "maxItems": 5, "items": obj(map[string]any{"address": tStr, "first_seen": tTime, "last_seen": tTime})}}),
			"AccountUsage": obj(map[string]any{"account_id": tInt, "granularity": map[string]any{"type": "string", "enum": []string{"minute", "hour", "day"}},
				"from": tTime, "to": tTime, "totals": usageCounts, "buckets": map[string]any{"type": "array", "items": usageBucket},
				"top_tokens": map[string]any{"type": "array", "maxItems": 10, "items": map[string]any{"allOf": []any{usageCounts,
					obj(map[string]any{"token_id": tInt, "kind": map[string]any{"type": "string", "enum": []string{"service_token", "pat"}}, "name": tStr,
						"user_id": tIntNil, "state": tState, "last_used": tTime})}}}}),
			"CheckRequest": obj(map[string]any{"token": tStr, "resource": tStr, "access": map[string]any{"type": "string", "enum": []string{"read", "write"}},
				"project_id": tInt, "environment_category": tStr, "client_ip": tStr,
				"limit": map[string]any{"type": "string", "description": "Count against this one rate limit of the token (default: all of them); a name the token has none under counts against nothing"},
				"cost":  map[string]any{"type": "integer", "minimum": 1, "description": "Units this check uses (default 1)"}}, "token", "resource", "access"),
			"CheckResult": obj(map[string]any{"allowed": tBool, "reason": tStr, "message": tStr, "principal": map[string]any{"type": []string{"object", "null"}},
				"rate_limits": map[string]any{"type": "array", "items": obj(map[string]any{"name": tStr, "limit": tInt, "duration_seconds": tInt, "remaining": tInt, "reset_seconds": tInt}),
					"description": "The token's limits this check counted against, after it; left out for a token without limits"},
				"credits_remaining":   map[string]any{"type": "integer", "description": "The token's credits after this check (left out for a token without credits)"},
				"retry_after_seconds": map[string]any{"type": "integer", "description": "With reason rate_limited: when the refusing limit's window resets"}}),
		},
	}
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSONBody(w, http.StatusOK, openAPI(s.cfg.Version))
}

// The token endpoint's shapes: RFC 6749 and RFC 8693, not latchkey's envelope.
var (
	oauthRequestSchema = map[string]any{"type": "object", "required": []string{"grant_type"}, "properties": map[string]any{
		"grant_type":           map[string]any{"type": "string", "enum": []string{"client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"}},
		"client_id":            map[string]any{"type": "string", "description": "client_credentials: the service token's uid (or HTTP Basic); token exchange of an external token: the id of the trust policy to use when several accept it"},
		"client_secret":        map[string]any{"type": "string", "description": "client_credentials: the service token (or HTTP Basic)"},
		"subject_token":        map[string]any{"type": "string", "maxLength": 16384, "description": "token exchange: a latchkey token (opaque or an access token), or an external OIDC token"},
		"subject_token_type":   map[string]any{"type": "string", "enum": []string{"urn:ietf:params:oauth:token-type:access_token", "urn:ietf:params:oauth:token-type:jwt"}},
		"requested_token_type": map[string]any{"type": "string", "enum": []string{"urn:ietf:params:oauth:token-type:access_token", "urn:ietf:params:oauth:token-type:jwt"}},
		"scope":                map[string]any{"type": "string", "description": "grants, space-separated: permission_set (all projects) or permission_set:project_id; each must be held by the subject"},
		"expires_in":           map[string]any{"type": "integer", "minimum": 60, "description": "the lifetime asked for, in seconds, up to the account's max_access_token_lifetime_seconds (default 900; never past the subject token's expiry)"},
		"audience":             map[string]any{"type": "string", "description": "token exchange: this latchkey's issuer URL, if sent"},
		"resource":             map[string]any{"type": "string", "description": "token exchange: this latchkey's issuer URL, if sent"},
	}}
	oauthTokenSchema = map[string]any{"type": "object", "required": []string{"access_token", "token_type", "expires_in"}, "properties": map[string]any{
		"access_token":      map[string]any{"type": "string", "description": "a JWT (typ at+jwt, EdDSA) to send as Authorization: Bearer"},
		"issued_token_type": map[string]any{"type": "string"},
		"token_type":        map[string]any{"type": "string", "enum": []string{"Bearer"}},
		"expires_in":        map[string]any{"type": "integer"},
		"scope":             map[string]any{"type": "string"},
	}}
	oauthErrorSchema = map[string]any{"type": "object", "required": []string{"error"}, "properties": map[string]any{
		"error":             map[string]any{"type": "string"},
		"error_description": map[string]any{"type": "string"},
	}}
)
