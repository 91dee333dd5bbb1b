package server

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

// goldenCase is one request and the golden file its response must match.
type goldenCase struct {
	// route is the pattern the request is served by, exactly as registered in routes.go
	// ("GET /v1/forward-auth" for the endpoint ServeHTTP dispatches).
	route string
	// name names the golden file (testdata/golden/<name>.golden) and the subtest.
	name string
	// as is who calls: admin, reader (read_only license), svc (service token "CI deploy"), other
	// (Globex's admin), unknown (a well-formed token never stored), malformed, or "" for none.
	as string
	// method defaults to the route's.
	method string
	// path, body and header values may hold {{placeholders}} (see goldenFixture.replacer).
	path   string
	body   string
	header map[string]string
	// signLeak signs the body as a GitHub secret-scanning report.
	signLeak bool
	// setup changes the fixture before the request.
	setup func(tb testing.TB, env *goldenEnv)
	// keep, when set, filters the body before it is compared (for /metrics).
	keep func(body []byte) []byte
	// want is the expected status; 2xx cases are success cases, the rest error cases.
	want int
}

// Route and path prefixes of the v3 account API.
const (
	a3r = "/api/v3/accounts/{account_id}"
	a3p = "/api/v3/accounts/{{account}}"
)

// keepLatchkeyMetrics keeps latchkey's own metric lines (the Go and process collectors' values
// change from run to run).
func keepLatchkeyMetrics(body []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(body), "\n") {
		if strings.HasPrefix(line, "latchkey_") || strings.HasPrefix(line, "# HELP latchkey_") || strings.HasPrefix(line, "# TYPE latchkey_") {
			out.WriteString(line)
		}
	}
	return out.Bytes()
}

const leakReport = `[{"token":"{{svc_token}}","type":"latchkey_service_token","url":"https://github.com/acme/app/blob/main/.env","source":"content"},` +
	`{"token":"some_token","type":"some_type","url":"some_url","source":"some_source"}]`

// goldenCases are every case: the API's own and the Terraform provider's (terraform_golden_test.go).
var goldenCases = slices.Concat(apiCases, terraformCases)

var apiCases = []goldenCase{
	// Operations.
	{route: "GET /healthz", name: "healthz", path: "/healthz", want: 200},
	{route: "GET /healthz", name: "healthz_wrong_method", method: "POST", path: "/healthz", want: 405},
	{route: "GET /readyz", name: "readyz", path: "/readyz", want: 200},
	{route: "GET /readyz/verify", name: "readyz_verify", path: "/readyz/verify", want: 200},
	{route: "GET /readyz/verify", name: "readyz_verify_database_down", path: "/readyz/verify", want: 503, setup: closeStore},
	{route: "GET /readyz", name: "readyz_database_down", path: "/readyz", want: 503, setup: closeStore},
	{route: "GET /metrics", name: "metrics", path: "/metrics", keep: keepLatchkeyMetrics, want: 200},
	{route: "GET /metrics", name: "metrics_wrong_method", method: "POST", path: "/metrics", want: 405},
	{route: "GET /api/openapi.json", name: "openapi", path: "/api/openapi.json", want: 200},
	{route: "GET /api/openapi.json", name: "openapi_wrong_method", method: "POST", path: "/api/openapi.json", want: 404},
	{route: "POST /oauth2/token", name: "oauth_client_credentials", path: "/oauth2/token", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		body: "grant_type=client_credentials&client_id={{svc_uid}}&client_secret={{svc_token}}&scope=job_viewer:{{project}}", want: 200},
	{route: "POST /oauth2/token", name: "oauth_unsupported_grant", path: "/oauth2/token", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		body: "grant_type=password&username=a&password=b", want: 400},
	{route: "POST /oauth2/token", name: "oauth_wrong_client_secret", path: "/oauth2/token", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		body: "grant_type=client_credentials&client_id={{svc_uid}}&client_secret={{unknown_token}}", want: 401},
	{route: "POST /oauth2/token", name: "oauth_exchange_too_wide", path: "/oauth2/token", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		body: "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token={{svc_token}}&subject_token_type=urn:ietf:params:oauth:token-type:access_token&scope=account_admin", want: 400},
	{route: "GET /.well-known/jwks.json", name: "jwks", path: "/.well-known/jwks.json", want: 200},
	{route: "GET /.well-known/jwks.json", name: "jwks_wrong_method", method: "POST", path: "/.well-known/jwks.json", want: 405},
	{route: "GET /.well-known/oauth-authorization-server", name: "oauth_metadata", path: "/.well-known/oauth-authorization-server", want: 200},
	{route: "GET /.well-known/oauth-authorization-server", name: "oauth_metadata_wrong_method", method: "POST", path: "/.well-known/oauth-authorization-server", want: 405},
	{route: "/api/", name: "api_no_such_endpoint", method: "GET", as: "admin", path: "/api/v3/nothing/", want: 404},
	// Parts of dbt's API latchkey does not serve: 501, so dbt's clients do not read "deleted".
	{route: "/api/v2/accounts/{account_id}/license-maps/", name: "license_maps_v2_get_unsupported", method: "GET", as: "admin", path: "/api/v2/accounts/{{account}}/license-maps/4/", want: 501},
	{route: "/api/v3/accounts/{account_id}/scim-config/", name: "scim_config_get_unsupported", method: "GET", as: "admin", path: a3p + "/scim-config/", want: 501},
	{route: "/api/private/accounts/{account_id}/", name: "account_features_get_unsupported", method: "GET", as: "admin", path: "/api/private/accounts/{{account}}/features", want: 501},
	{route: "/api/v2/constants/", name: "constants_get_unsupported", method: "GET", as: "admin", path: "/api/v2/constants/", want: 501},

	// Accounts and the caller.
	{route: "GET /api/v2/accounts/{$}", name: "v2_accounts_list", as: "admin", path: "/api/v2/accounts/", want: 200},
	{route: "GET /api/v2/accounts/{$}", name: "v2_accounts_list_no_token", path: "/api/v2/accounts/", want: 401},
	{route: "GET /api/v2/accounts/{account_id}/{$}", name: "v2_account_get", as: "admin", path: "/api/v2/accounts/{{account}}/", want: 200},
	{route: "GET /api/v2/accounts/{account_id}/{$}", name: "v2_account_get_other_account", as: "admin", path: "/api/v2/accounts/{{other}}/", want: 404},
	{route: "GET /api/v3/accounts/{$}", name: "v3_accounts_list", as: "other", path: "/api/v3/accounts", want: 200},
	{route: "GET /api/v3/accounts/{$}", name: "v3_accounts_list_bad_scheme", path: "/api/v3/accounts/",
		header: map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="}, want: 401},
	{route: "GET /api/v3/accounts/{account_id}/{$}", name: "v3_account_get", as: "svc", path: a3p + "/", want: 200},
	{route: "GET /api/v3/accounts/{account_id}/{$}", name: "v3_account_get_bad_id", as: "admin", path: "/api/v3/accounts/abc/", want: 404},
	{route: "GET /api/v2/whoami/{$}", name: "v2_whoami_service_token", as: "svc", path: "/api/v2/whoami/", want: 200},
	{route: "GET /api/v2/whoami/{$}", name: "v2_whoami_unknown_token", as: "unknown", path: "/api/v2/whoami/", want: 401},
	{route: "GET /api/v3/whoami/{$}", name: "v3_whoami_pat", as: "admin", path: "/api/v3/whoami/", want: 200},
	{route: "GET /api/v3/whoami/{$}", name: "v3_whoami_malformed_token", as: "malformed", path: "/api/v3/whoami/", want: 401},

	// Projects.
	// 4. name and name__icontains filter the lists the provider searches.
	{route: "GET " + a3r + "/projects/{$}", name: "projects_list_name_icontains", as: "admin", path: a3p + "/projects/?name__icontains=ANALY", want: 200},
	{route: "GET " + a3r + "/projects/{$}", name: "projects_list_name", as: "admin", path: a3p + "/projects/?name=Marketing", want: 200},
	{route: "GET " + a3r + "/groups/{$}", name: "groups_list_name_icontains", as: "admin", path: a3p + "/groups/?name__icontains=team", want: 200},
	{route: "GET " + a3r + "/groups/{$}", name: "groups_list_name", as: "admin", path: a3p + "/groups/?name=Owner", want: 200},
	// dbtcloud_groups passes its state argument through as a word.
	{route: "GET " + a3r + "/groups/{$}", name: "groups_list_state_active", as: "admin", path: a3p + "/groups/?name__icontains=e&state=active", want: 200},
	{route: "GET " + a3r + "/groups/{$}", name: "groups_list_bad_state", as: "admin", path: a3p + "/groups/?state=gone", want: 400},
	// dbtcloud_projects: name__icontains, limit, order_by and include_related (ignored) together.
	{route: "GET " + a3r + "/projects/{$}", name: "projects_list_order_by_name", as: "admin",
		path: a3p + `/projects/?name__icontains=a&limit=100&order_by=-name&include_related=["repository","connection"]`, want: 200},
	{route: "GET " + a3r + "/projects/{$}", name: "projects_list_bad_order_by", as: "admin", path: a3p + "/projects/?order_by=secret", want: 400},
	{route: "GET " + a3r + "/service-tokens/{$}", name: "service_tokens_list_order_by_created", as: "admin", path: a3p + "/service-tokens/?order_by=-created_at", want: 200},
	{route: "GET " + a3r + "/projects/{$}", name: "projects_list", as: "admin", path: a3p + "/projects/", want: 200},
	{route: "GET " + a3r + "/projects/{$}", name: "projects_list_scoped_token", as: "svc", path: a3p + "/projects?limit=10&offset=0", want: 200},
	{route: "GET " + a3r + "/projects/{$}", name: "projects_list_bad_state", as: "admin", path: a3p + "/projects/?state=9", want: 400},
	{route: "GET " + a3r + "/projects/{$}", name: "projects_list_bad_limit", as: "admin", path: a3p + "/projects/?limit=0", want: 400},
	{route: "GET " + a3r + "/projects/{$}", name: "projects_list_other_account", as: "admin", path: "/api/v3/accounts/{{other}}/projects/", want: 404},
	{route: "POST " + a3r + "/projects/{$}", name: "projects_create", as: "admin", path: a3p + "/projects/",
		body: `{"name":"Finance","description":"ledgers <and> reports","account_id":{{account}}}`, want: 201},
	{route: "POST " + a3r + "/projects/{$}", name: "projects_create_forbidden", as: "reader", path: a3p + "/projects/",
		body: `{"name":"Finance"}`, want: 403},
	{route: "POST " + a3r + "/projects/{$}", name: "projects_create_no_name", as: "admin", path: a3p + "/projects/",
		body: `{"description":"x"}`, want: 400},
	{route: "POST " + a3r + "/projects/{$}", name: "projects_create_wrong_type", as: "admin", path: a3p + "/projects/",
		body: `{"name":42}`, want: 400},
	{route: "POST " + a3r + "/projects/{$}", name: "projects_create_not_json", as: "admin", path: a3p + "/projects/",
		body: `{"name":`, want: 400},
	{route: "POST " + a3r + "/projects/{$}", name: "projects_create_too_large", as: "admin", path: a3p + "/projects/",
		body: `{"name":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, want: 413},
	{route: "GET " + a3r + "/projects/{project_id}/{$}", name: "project_get", as: "admin", path: a3p + "/projects/{{project}}/", want: 200},
	{route: "GET " + a3r + "/projects/{project_id}/{$}", name: "project_get_other_account", as: "admin", path: a3p + "/projects/{{other_project}}/", want: 404},
	// 5. dbt's project fields are stored and returned; 6. state 2 deletes.
	{route: "POST " + a3r + "/projects/{$}", name: "projects_create_dbt_fields", as: "admin", path: a3p + "/projects/",
		body: `{"name":"Finance","dbt_project_subdirectory":"analytics/dbt","description":"finance models","type":0,"account_id":{{account}},"state":1,"connection_id":17,"repository_id":23,"semantic_layer_config_id":null,"freshness_job_id":41,"docs_job_id":42}`, want: 201},
	{route: "POST " + a3r + "/projects/{project_id}/{$}", name: "project_update_keeps_dbt_fields", as: "admin", path: a3p + "/projects/{{project}}/",
		body: `{"name":"Analytics","dbt_project_subdirectory":"dbt","repository_id":5}`, want: 200},
	{route: "POST " + a3r + "/projects/{project_id}/{$}", name: "project_update_state_2_deletes", as: "admin", path: a3p + "/projects/{{project2}}/",
		body: `{"id":{{project2}},"account_id":{{account}},"name":"Marketing","state":2}`, want: 200},
	{route: "POST " + a3r + "/projects/{project_id}/{$}", name: "project_update_bad_subdirectory", as: "admin", path: a3p + "/projects/{{project}}/",
		body: `{"dbt_project_subdirectory":7}`, want: 400},
	{route: "POST " + a3r + "/projects/{project_id}/{$}", name: "project_update_subdirectory_escapes", as: "admin", path: a3p + "/projects/{{project}}/",
		body: `{"dbt_project_subdirectory":"models/../../etc"}`, want: 400},
	{route: "POST " + a3r + "/projects/{project_id}/{$}", name: "project_update_post", as: "admin", path: a3p + "/projects/{{project}}/",
		body: `{"name":"Analytics v2"}`, want: 200},
	{route: "POST " + a3r + "/projects/{project_id}/{$}", name: "project_update_post_forbidden", as: "reader", path: a3p + "/projects/{{project}}/",
		body: `{"name":"Mine"}`, want: 403},
	{route: "PUT " + a3r + "/projects/{project_id}/{$}", name: "project_update_put", as: "admin", path: a3p + "/projects/{{project2}}/",
		body: `{"name":"Marketing","description":"campaign models"}`, want: 200},
	{route: "PUT " + a3r + "/projects/{project_id}/{$}", name: "project_update_put_account_mismatch", as: "admin", path: a3p + "/projects/{{project2}}/",
		body: `{"account_id":{{other}},"name":"Marketing"}`, want: 400},
	{route: "DELETE " + a3r + "/projects/{project_id}/{$}", name: "project_delete", as: "admin", path: a3p + "/projects/{{project2}}/", want: 200},
	{route: "DELETE " + a3r + "/projects/{project_id}/{$}", name: "project_delete_missing", as: "admin", path: a3p + "/projects/999/", want: 404},

	// Service tokens.
	{route: "GET " + a3r + "/service-tokens/{$}", name: "service_tokens_list", as: "admin", path: a3p + "/service-tokens/", want: 200},
	{route: "GET " + a3r + "/service-tokens/{$}", name: "service_tokens_list_forbidden", as: "reader", path: a3p + "/service-tokens/", want: 403},
	{route: "GET " + a3r + "/service-tokens/{$}", name: "service_tokens_list_bad_expires_before", as: "admin",
		path: a3p + "/service-tokens/?expires_before=tomorrow", want: 400},
	{route: "POST " + a3r + "/service-tokens/{$}", name: "service_tokens_create", as: "admin", path: a3p + "/service-tokens/",
		body: `{"name":"Nightly","permission_grants":[{"permission_set":"job_runner","project_id":{{project}}},{"permission_set":"metadata_only","all_projects":true}],` +
			`"allowed_cidrs":["10.0.0.0/8"],"expires_at":"2099-01-01T00:00:00Z"}`, want: 201},
	{route: "POST " + a3r + "/service-tokens/{$}", name: "service_tokens_create_two_step", as: "admin", path: a3p + "/service-tokens/",
		body: `{"account_id":{{account}},"name":"Two-step 2","state":1}`, want: 201},
	// A retry with the same Idempotency-Key (its first answer lost) creates nothing: 409 with the
	// first token's id. A different key, or none, creates again.
	retried(goldenCase{route: "POST " + a3r + "/service-tokens/{$}", name: "service_tokens_create_idempotent_retry", as: "admin", path: a3p + "/service-tokens/",
		body: `{"account_id":{{account}},"name":"deploy bot","state":1}`, header: map[string]string{"Idempotency-Key": "7d3f2c1e-9b8a-4c5d-8e7f-0a1b2c3d4e5f"}, want: 409}),
	{route: "POST " + a3r + "/service-tokens/{$}", name: "service_tokens_create_idempotency_key", as: "admin", path: a3p + "/service-tokens/",
		body: `{"name":"deploy bot"}`, header: map[string]string{"Idempotency-Key": "7d3f2c1e-9b8a-4c5d-8e7f-0a1b2c3d4e5f"}, want: 201},
	{route: "POST " + a3r + "/service-tokens/{$}", name: "service_tokens_create_bad_idempotency_key", as: "admin", path: a3p + "/service-tokens/",
		body: `{"name":"deploy bot"}`, header: map[string]string{"Idempotency-Key": "two words"}, want: 400},
	{route: "POST " + a3r + "/service-tokens/{$}", name: "service_tokens_create_forbidden", as: "reader", path: a3p + "/service-tokens/",
		body: `{"name":"Nightly"}`, want: 403},
	{route: "POST " + a3r + "/service-tokens/{$}", name: "service_tokens_create_unknown_set", as: "admin", path: a3p + "/service-tokens/",
		body: `{"name":"Nightly","permission_grants":[{"permission_set":"wizard"}]}`, want: 400},
	{route: "POST " + a3r + "/service-tokens/{$}", name: "service_tokens_create_plan_refuses_set", as: "other",
		path: "/api/v3/accounts/{{other}}/service-tokens/", body: `{"name":"Dev","permission_grants":[{"permission_set":"developer","all_projects":true}]}`, want: 400},
	{route: "GET " + a3r + "/service-tokens/{token_id}/{$}", name: "service_token_get", as: "admin", path: a3p + "/service-tokens/{{svc_id}}/", want: 200},
	{route: "GET " + a3r + "/service-tokens/{token_id}/{$}", name: "service_token_get_pat_id", as: "admin", path: a3p + "/service-tokens/{{admin_pat_id}}/", want: 404},
	{route: "PUT " + a3r + "/service-tokens/{token_id}/{$}", name: "service_token_update_put", as: "admin", path: a3p + "/service-tokens/{{svc_id}}/",
		body: `{"name":"CI deploy (prod)"}`, want: 200},
	{route: "PUT " + a3r + "/service-tokens/{token_id}/{$}", name: "service_token_update_put_addresses_expiry", as: "admin", path: a3p + "/service-tokens/{{svc_id}}/",
		body: `{"name":"CI deploy","allowed_cidrs":["10.0.0.0/8","2001:db8::/32"],"expires_at":"2099-01-31T00:00:00Z"}`, want: 200},
	{route: "PUT " + a3r + "/service-tokens/{token_id}/{$}", name: "service_token_update_put_expiry_past", as: "admin", path: a3p + "/service-tokens/{{svc_id}}/",
		body: `{"expires_at":"2020-01-31T00:00:00Z"}`, want: 400},
	{route: "PUT " + a3r + "/service-tokens/{token_id}/{$}", name: "service_token_update_put_expiry_not_time", as: "admin", path: a3p + "/service-tokens/{{svc_id}}/",
		body: `{"expires_at":1735689600}`, want: 400},
	{route: "PUT " + a3r + "/service-tokens/{token_id}/{$}", name: "service_token_update_put_bad_range", as: "admin", path: a3p + "/service-tokens/{{svc_id}}/",
		body: `{"allowed_cidrs":["10.0.0.0/33"]}`, want: 400},
	{route: "PUT " + a3r + "/service-tokens/{token_id}/{$}", name: "service_token_update_put_bad_state", as: "admin", path: a3p + "/service-tokens/{{svc_id}}/",
		body: `{"state":3}`, want: 400},
	{route: "POST " + a3r + "/service-tokens/{token_id}/{$}", name: "service_token_update_post_delete", as: "admin", path: a3p + "/service-tokens/{{empty_svc_id}}/",
		body: `{"state":2}`, want: 200},
	{route: "POST " + a3r + "/service-tokens/{token_id}/{$}", name: "service_token_update_post_restore_deleted", as: "admin", path: a3p + "/service-tokens/{{svc_id}}/",
		body: `{"state":1}`, want: 400, setup: deleteServiceToken},
	{route: "POST " + a3r + "/service-tokens/{token_id}/{$}", name: "service_token_update_post_forbidden", as: "svc", path: a3p + "/service-tokens/{{svc_id}}/",
		body: `{"name":"mine now"}`, want: 403},
	{route: "DELETE " + a3r + "/service-tokens/{token_id}/{$}", name: "service_token_delete", as: "admin", path: a3p + "/service-tokens/{{svc_id}}/", want: 200},
	{route: "DELETE " + a3r + "/service-tokens/{token_id}/{$}", name: "service_token_delete_other_account", as: "admin",
		path: a3p + "/service-tokens/{{other_svc_id}}/", want: 404},
	{route: "GET " + a3r + "/service-tokens/{token_id}/permissions/{$}", name: "service_token_permissions_list", as: "admin",
		path: a3p + "/service-tokens/{{svc_id}}/permissions/", want: 200},
	{route: "GET " + a3r + "/service-tokens/{token_id}/permissions/{$}", name: "service_token_permissions_list_bad_id", as: "admin",
		path: a3p + "/service-tokens/abc/permissions/", want: 404},
	{route: "POST " + a3r + "/service-tokens/{token_id}/permissions/{$}", name: "service_token_permissions_add", as: "admin",
		path: a3p + "/service-tokens/{{empty_svc_id}}/permissions/",
		body: `[{"account_id":{{account}},"service_token_id":{{empty_svc_id}},"permission_set":"job_viewer","all_projects":true},` +
			`{"account_id":{{account}},"service_token_id":{{empty_svc_id}},"permission_set":"developer","all_projects":false,"project_id":{{project}},"writable_environment_categories":["development"]}]`,
		want: 200},
	{route: "POST " + a3r + "/service-tokens/{token_id}/permissions/{$}", name: "service_token_permissions_add_has_grants", as: "admin",
		path: a3p + "/service-tokens/{{svc_id}}/permissions/", body: `[{"permission_set":"job_viewer","all_projects":true}]`, want: 400},
	{route: "PUT " + a3r + "/service-tokens/{token_id}/permissions/{$}", name: "service_token_permissions_replace", as: "admin",
		path: a3p + "/service-tokens/{{svc_id}}/permissions/", body: `{"permission_grants":[{"permission_set":"stakeholder","project_id":{{project2}}}]}`, want: 200},
	{route: "PUT " + a3r + "/service-tokens/{token_id}/permissions/{$}", name: "service_token_permissions_replace_not_array", as: "admin",
		path: a3p + "/service-tokens/{{svc_id}}/permissions/", body: `{"foo":1}`, want: 400},
	{route: "PUT " + a3r + "/service-tokens/{token_id}/credits/{$}", name: "service_token_credits_set", as: "admin", path: a3p + "/service-tokens/{{svc_id}}/credits/",
		body: `{"remaining":500,"refill":{"amount":1000,"interval":"monthly","day":1}}`, want: 200},
	{route: "PUT " + a3r + "/service-tokens/{token_id}/credits/{$}", name: "service_token_credits_set_bad", as: "admin", path: a3p + "/service-tokens/{{svc_id}}/credits/",
		body: `{"remaining":5,"refill":{"amount":1000,"interval":"weekly"}}`, want: 400},
	{route: "DELETE " + a3r + "/service-tokens/{token_id}/credits/{$}", name: "service_token_credits_delete", as: "admin", path: a3p + "/service-tokens/{{svc_id}}/credits/", want: 200},
	{route: "DELETE " + a3r + "/service-tokens/{token_id}/credits/{$}", name: "service_token_credits_delete_forbidden", as: "reader", path: a3p + "/service-tokens/{{svc_id}}/credits/", want: 403},
	{route: "GET " + a3r + "/service-tokens/{token_id}/usage/{$}", name: "service_token_usage", as: "admin",
		path: a3p + "/service-tokens/{{svc_id}}/usage/?from=2026-01-01T00:00:00Z&to=2026-01-01T03:00:00Z&granularity=hour", want: 200},
	{route: "GET " + a3r + "/service-tokens/{token_id}/usage/{$}", name: "service_token_usage_forbidden", as: "reader",
		path: a3p + "/service-tokens/{{svc_id}}/usage/", want: 403},
	{route: "GET " + a3r + "/service-tokens/{token_id}/usage/{$}", name: "service_token_usage_bad_granularity", as: "admin",
		path: a3p + "/service-tokens/{{svc_id}}/usage/?granularity=week", want: 400},
	{route: "GET " + a3r + "/service-tokens/{token_id}/usage/{$}", name: "service_token_usage_too_many_buckets", as: "admin",
		path: a3p + "/service-tokens/{{svc_id}}/usage/?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&granularity=minute", want: 400},
	{route: "GET " + a3r + "/usage/{$}", name: "account_usage", as: "admin",
		path: a3p + "/usage/?from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z&granularity=day", want: 200},
	{route: "GET " + a3r + "/usage/{$}", name: "account_usage_unknown_parameter", as: "admin",
		path: a3p + "/usage/?since=yesterday", want: 400},
	{route: "POST " + a3r + "/service-tokens/{token_id}/rotate/{$}", name: "service_token_rotate", as: "admin",
		path: a3p + "/service-tokens/{{svc_id}}/rotate/", body: `{"grace_period_seconds":600}`, want: 201},
	{route: "POST " + a3r + "/service-tokens/{token_id}/rotate/{$}", name: "service_token_rotate_bad_grace", as: "admin",
		path: a3p + "/service-tokens/{{svc_id}}/rotate/", body: `{"grace_period_seconds":9999999}`, want: 400},

	// Personal access tokens.
	{route: "GET " + a3r + "/users/{user_id}/account-apikeys/{$}", name: "pats_list", as: "admin", path: a3p + "/users/{{admin_user}}/account-apikeys/", want: 200},
	{route: "GET " + a3r + "/users/{user_id}/account-apikeys/{$}", name: "pats_list_forbidden", as: "reader", path: a3p + "/users/{{admin_user}}/account-apikeys/", want: 403},
	{route: "POST " + a3r + "/users/{user_id}/account-apikeys/{$}", name: "pats_create", as: "reader", path: a3p + "/users/{{reader_user}}/account-apikeys/",
		body: `{"name":"dbt cli","expires_at":"2099-06-30T12:00:00Z"}`, want: 201},
	retried(goldenCase{route: "POST " + a3r + "/users/{user_id}/account-apikeys/{$}", name: "pats_create_idempotent_retry", as: "reader", path: a3p + "/users/{{reader_user}}/account-apikeys/",
		body: `{"name":"dbt cli"}`, header: map[string]string{"Idempotency-Key": "laptop-2026-12-02"}, want: 409}),
	{route: "POST " + a3r + "/users/{user_id}/account-apikeys/{$}", name: "pats_create_for_someone_else", as: "admin", path: a3p + "/users/{{reader_user}}/account-apikeys/",
		body: `{"name":"not yours"}`, want: 403},
	{route: "POST " + a3r + "/users/{user_id}/account-apikeys/{$}", name: "pats_create_past_expiry", as: "admin", path: a3p + "/users/{{admin_user}}/account-apikeys/",
		body: `{"name":"old","expires_at":"2001-01-01T00:00:00Z"}`, want: 400},
	{route: "GET " + a3r + "/users/{user_id}/account-apikeys/{token_id}/{$}", name: "pat_get", as: "admin",
		path: a3p + "/users/{{reader_user}}/account-apikeys/{{reader_pat_id}}/", want: 200},
	{route: "GET " + a3r + "/users/{user_id}/account-apikeys/{token_id}/{$}", name: "pat_get_service_token_id", as: "admin",
		path: a3p + "/users/{{admin_user}}/account-apikeys/{{svc_id}}/", want: 404},
	{route: "GET " + a3r + "/users/{user_id}/account-apikeys/{token_id}/usage/{$}", name: "pat_usage", as: "admin",
		path: a3p + "/users/{{reader_user}}/account-apikeys/{{reader_pat_id}}/usage/?from=2026-01-01T00:00:00Z&to=2026-01-01T02:00:00Z&granularity=hour", want: 200},
	{route: "GET " + a3r + "/users/{user_id}/account-apikeys/{token_id}/usage/{$}", name: "pat_usage_service_token_id", as: "admin",
		path: a3p + "/users/{{admin_user}}/account-apikeys/{{svc_id}}/usage/", want: 404},
	{route: "PUT " + a3r + "/users/{user_id}/account-apikeys/{token_id}/{$}", name: "pat_update", as: "reader",
		path: a3p + "/users/{{reader_user}}/account-apikeys/{{reader_pat_id}}/", body: `{"name":"reader laptop","rate_limits":[{"name":"api","limit":100,"duration_seconds":1}]}`, want: 200},
	{route: "PUT " + a3r + "/users/{user_id}/account-apikeys/{token_id}/{$}", name: "pat_update_bad_limit", as: "reader",
		path: a3p + "/users/{{reader_user}}/account-apikeys/{{reader_pat_id}}/", body: `{"rate_limits":[{"name":"api","limit":0,"duration_seconds":1}]}`, want: 400},
	{route: "PUT " + a3r + "/users/{user_id}/account-apikeys/{token_id}/{$}", name: "pat_update_someone_else", as: "admin",
		path: a3p + "/users/{{reader_user}}/account-apikeys/{{reader_pat_id}}/", body: `{"rate_limits":[]}`, want: 403},
	{route: "PUT " + a3r + "/users/{user_id}/account-apikeys/{token_id}/credits/{$}", name: "pat_credits_set", as: "reader",
		path: a3p + "/users/{{reader_user}}/account-apikeys/{{reader_pat_id}}/credits/", body: `{"remaining":500,"refill":{"amount":500,"interval":"daily"}}`, want: 200},
	{route: "PUT " + a3r + "/users/{user_id}/account-apikeys/{token_id}/credits/{$}", name: "pat_credits_set_bad", as: "reader",
		path: a3p + "/users/{{reader_user}}/account-apikeys/{{reader_pat_id}}/credits/", body: `{"remaining":-1}`, want: 400},
	{route: "DELETE " + a3r + "/users/{user_id}/account-apikeys/{token_id}/credits/{$}", name: "pat_credits_delete_someone_else", as: "admin",
		path: a3p + "/users/{{reader_user}}/account-apikeys/{{reader_pat_id}}/credits/", want: 403},
	{route: "DELETE " + a3r + "/users/{user_id}/account-apikeys/{token_id}/credits/{$}", name: "pat_credits_delete", as: "reader",
		path: a3p + "/users/{{reader_user}}/account-apikeys/{{reader_pat_id}}/credits/", want: 200},
	{route: "POST " + a3r + "/users/{user_id}/account-apikeys/{token_id}/{$}", name: "pat_rotate", as: "admin",
		path: a3p + "/users/{{admin_user}}/account-apikeys/{{admin_pat_id}}/", body: `{"grace_period_seconds":3600}`, want: 201},
	{route: "POST " + a3r + "/users/{user_id}/account-apikeys/{token_id}/{$}", name: "pat_rotate_someone_else", as: "admin",
		path: a3p + "/users/{{reader_user}}/account-apikeys/{{reader_pat_id}}/", want: 403},
	{route: "DELETE " + a3r + "/users/{user_id}/account-apikeys/{token_id}/{$}", name: "pat_delete", as: "admin",
		path: a3p + "/users/{{reader_user}}/account-apikeys/{{reader_pat_id}}/", want: 200},
	{route: "DELETE " + a3r + "/users/{user_id}/account-apikeys/{token_id}/{$}", name: "pat_delete_missing", as: "admin",
		path: a3p + "/users/{{admin_user}}/account-apikeys/999/", want: 404},

	// Groups.
	{route: "GET " + a3r + "/groups/{$}", name: "groups_list", as: "admin", path: a3p + "/groups/", want: 200},
	{route: "GET " + a3r + "/groups/{$}", name: "groups_list_forbidden", as: "svc", path: a3p + "/groups/", want: 403},
	{route: "POST " + a3r + "/groups/{$}", name: "groups_create", as: "admin", path: a3p + "/groups/",
		body: `{"name":"Platform","assign_by_default":false,"group_permissions":[{"permission_set":"job_admin","project_id":{{project}}}]}`, want: 201},
	// dbtcloud_group's create body; sso_mapping_groups is stored and returned.
	{route: "POST " + a3r + "/groups/{$}", name: "groups_create_sso_mapping", as: "admin", path: a3p + "/groups/",
		body: `{"id":null,"name":"Analysts","account_id":{{account}},"state":1,"assign_by_default":false,"sso_mapping_groups":["okta-analysts","okta-analysts","Data Eng"],"scim_managed":false}`, want: 201},
	{route: "POST " + a3r + "/groups/{$}", name: "groups_create_sso_mapping_not_strings", as: "admin", path: a3p + "/groups/",
		body: `{"name":"Analysts","sso_mapping_groups":"okta-analysts"}`, want: 400},
	{route: "POST " + a3r + "/groups/{group_id}/{$}", name: "group_update_sso_mapping", as: "admin", path: a3p + "/groups/{{data_group}}/",
		body: `{"id":{{data_group}},"name":"Data team","account_id":{{account}},"state":1,"assign_by_default":false,"sso_mapping_groups":["okta-data"],"scim_managed":false}`, want: 200},
	{route: "POST " + a3r + "/groups/{$}", name: "groups_create_empty_name", as: "admin", path: a3p + "/groups/", body: `{"name":"  "}`, want: 400},
	{route: "POST " + a3r + "/groups/{$}", name: "groups_create_duplicate", as: "admin", path: a3p + "/groups/", body: `{"name":"Data team"}`, want: 409},
	{route: "GET " + a3r + "/groups/{group_id}/{$}", name: "group_get", as: "admin", path: a3p + "/groups/{{data_group}}/", want: 200},
	{route: "GET " + a3r + "/groups/{group_id}/{$}", name: "group_get_other_account", as: "admin", path: a3p + "/groups/{{other_owner_group}}/", want: 404},
	{route: "POST " + a3r + "/groups/{group_id}/{$}", name: "group_update_post", as: "admin", path: a3p + "/groups/{{data_group}}/",
		body: `{"name":"Data & analytics"}`, want: 200},
	{route: "POST " + a3r + "/groups/{group_id}/{$}", name: "group_update_post_rename_builtin", as: "admin", path: a3p + "/groups/{{owner_group}}/",
		body: `{"name":"Bosses"}`, want: 400},
	{route: "PUT " + a3r + "/groups/{group_id}/{$}", name: "group_update_put", as: "admin", path: a3p + "/groups/{{data_group}}/",
		body: `{"assign_by_default":true,"group_permissions":[{"permission_set":"analyst","project_id":{{project}}},{"permission_set":"stakeholder","all_projects":true}]}`, want: 200},
	{route: "PUT " + a3r + "/groups/{group_id}/{$}", name: "group_update_put_forbidden", as: "reader", path: a3p + "/groups/{{data_group}}/",
		body: `{"name":"Readers rule"}`, want: 403},
	{route: "DELETE " + a3r + "/groups/{group_id}/{$}", name: "group_delete", as: "admin", path: a3p + "/groups/{{data_group}}/", want: 200},
	{route: "DELETE " + a3r + "/groups/{group_id}/{$}", name: "group_delete_builtin", as: "admin", path: a3p + "/groups/{{member_group}}/", want: 400},
	{route: "POST " + a3r + "/group-permissions/{group_id}/{$}", name: "group_permissions_set", as: "admin", path: a3p + "/group-permissions/{{data_group}}/",
		body: `[{"group_id":{{data_group}},"permission_set":"developer","project_id":{{project2}},"writable_environment_categories":["development","staging"]}]`, want: 200},
	{route: "POST " + a3r + "/group-permissions/{group_id}/{$}", name: "group_permissions_set_unknown_project", as: "admin", path: a3p + "/group-permissions/{{data_group}}/",
		body: `[{"permission_set":"developer","project_id":999}]`, want: 400},
	{route: "POST " + a3r + "/group-permissions/{group_id}/{$}", name: "group_permissions_set_owner", as: "admin", path: a3p + "/group-permissions/{{owner_group}}/",
		body: `[{"permission_set":"member"}]`, want: 400},
	{route: "POST " + a3r + "/assign-groups/{$}", name: "assign_groups", as: "admin", path: a3p + "/assign-groups/",
		body: `{"user_id":{{reader_user}},"desired_group_ids":[{{member_group}},{{data_group}}]}`, want: 200},
	{route: "POST " + a3r + "/assign-groups/{$}", name: "assign_groups_no_user", as: "admin", path: a3p + "/assign-groups/",
		body: `{"desired_group_ids":[]}`, want: 400},

	// Users and licenses.
	{route: "GET " + a3r + "/users/{$}", name: "users_list", as: "admin", path: a3p + "/users/", want: 200},
	{route: "GET " + a3r + "/users/{$}", name: "users_list_forbidden", as: "svc", path: a3p + "/users/", want: 403},
	{route: "POST " + a3r + "/users/{$}", name: "users_create", as: "admin", path: a3p + "/users/",
		body: `{"email":"Nia.New@Acme.test","first_name":"Nia","last_name":"New","license_type":"analyst","group_ids":[{{member_group}}]}`, want: 201},
	{route: "POST " + a3r + "/users/{$}", name: "users_create_bad_email", as: "admin", path: a3p + "/users/",
		body: `{"email":"Nia <nia@acme.test>","license_type":"analyst"}`, want: 400},
	{route: "POST " + a3r + "/users/{$}", name: "users_create_forbidden", as: "reader", path: a3p + "/users/",
		body: `{"email":"nia@acme.test","license_type":"analyst"}`, want: 403},
	{route: "GET " + a3r + "/users/{user_id}/{$}", name: "user_get", as: "admin", path: a3p + "/users/{{reader_user}}/", want: 200},
	{route: "GET " + a3r + "/users/{user_id}/{$}", name: "user_get_self_read_only", as: "reader", path: a3p + "/users/{{reader_user}}/", want: 200},
	{route: "GET " + a3r + "/users/{user_id}/{$}", name: "user_get_other_account", as: "admin", path: a3p + "/users/{{other_user}}/", want: 404},
	// dbt Cloud compatibility (issue 11), each the request dbt's Terraform provider sends.
	// 1. The provider reads a user's groups through the v2 path.
	{route: "GET /api/v2/accounts/{account_id}/users/{$}", name: "v2_users_list", as: "admin", path: "/api/v2/accounts/{{account}}/users/", want: 200},
	{route: "GET /api/v2/accounts/{account_id}/users/{$}", name: "v2_users_list_forbidden", as: "svc", path: "/api/v2/accounts/{{account}}/users/", want: 403},
	{route: "GET /api/v2/accounts/{account_id}/users/{user_id}/{$}", name: "v2_user_get", as: "admin", path: "/api/v2/accounts/{{account}}/users/{{admin_user}}/", want: 200},
	{route: "GET /api/v2/accounts/{account_id}/users/{user_id}/{$}", name: "v2_user_get_other_account", as: "admin", path: "/api/v2/accounts/{{account}}/users/{{other_user}}/", want: 404},
	{route: "POST /api/v2/accounts/{account_id}/permissions/{permission_id}/{$}", name: "license_update", as: "admin",
		path: "/api/v2/accounts/{{account}}/permissions/{{reader_membership}}/", body: `{"license_type":"analyst","user_id":{{reader_user}}}`, want: 200},
	{route: "POST /api/v2/accounts/{account_id}/permissions/{permission_id}/{$}", name: "license_update_unknown_license", as: "admin",
		path: "/api/v2/accounts/{{account}}/permissions/{{reader_membership}}/", body: `{"license_type":"wizard"}`, want: 400},
	{route: "POST /api/v2/accounts/{account_id}/permissions/{permission_id}/{$}", name: "license_update_other_account", as: "admin",
		path: "/api/v2/accounts/{{account}}/permissions/{{other_membership}}/", body: `{"state":2}`, want: 404},

	// Account settings.
	{route: "POST " + a3r + "/settings/{$}", name: "settings_update", as: "admin", path: a3p + "/settings/",
		body: `{"reuse_revokes_family":false,"leak_action":"flag","max_token_lifetime_seconds":7776000}`, want: 200},
	{route: "POST " + a3r + "/settings/{$}", name: "settings_update_bad_leak_action", as: "admin", path: a3p + "/settings/",
		body: `{"leak_action":"shout"}`, want: 400},
	{route: "POST " + a3r + "/settings/{$}", name: "settings_update_forbidden", as: "reader", path: a3p + "/settings/",
		body: `{"leak_action":"flag"}`, want: 403},

	// IP restrictions.
	{route: "GET " + a3r + "/ip-restrictions/{$}", name: "ip_rules_list", as: "admin", path: a3p + "/ip-restrictions/", want: 200},
	{route: "GET " + a3r + "/ip-restrictions/{$}", name: "ip_rules_list_forbidden", as: "reader", path: a3p + "/ip-restrictions/", want: 403},
	{route: "GET " + a3r + "/ip-restrictions/{$}", name: "ip_rules_list_team_plan", as: "other", path: "/api/v3/accounts/{{other}}/ip-restrictions/", want: 403},
	{route: "POST " + a3r + "/ip-restrictions/{$}", name: "ip_rules_create", as: "admin", path: a3p + "/ip-restrictions/",
		body: `{"name":"VPN","type":1,"description":"vpn exits","cidrs":[{"cidr":"192.168.0.0/16"},{"cidr_ipv6":"2001:db8::/32"},{"cidr":"172.16.0.0/12","state":2}]}`, want: 201},
	{route: "POST " + a3r + "/ip-restrictions/{$}", name: "ip_rules_create_host_bits", as: "admin", path: a3p + "/ip-restrictions/",
		body: `{"name":"Bad","type":"allow","ip_cidrs":["10.0.0.1/8"]}`, want: 400},
	{route: "POST " + a3r + "/ip-restrictions/{$}", name: "ip_rules_create_lockout", as: "admin", path: a3p + "/ip-restrictions/",
		body: `{"name":"Block me","type":2,"ip_cidrs":["127.0.0.1"],"rule_set_enabled":true}`, want: 400},
	{route: "GET " + a3r + "/ip-restrictions/{rule_id}/{$}", name: "ip_rule_get", as: "admin", path: a3p + "/ip-restrictions/{{ip_rule}}/", want: 200},
	{route: "GET " + a3r + "/ip-restrictions/{rule_id}/{$}", name: "ip_rule_get_missing", as: "admin", path: a3p + "/ip-restrictions/999/", want: 404},
	{route: "PUT " + a3r + "/ip-restrictions/{rule_id}/{$}", name: "ip_rule_update_put", as: "admin", path: a3p + "/ip-restrictions/{{ip_rule}}/",
		body: `{"name":"Office (HQ)","ip_cidrs":["10.0.0.0/8","172.16.0.0/12"]}`, want: 200},
	{route: "PUT " + a3r + "/ip-restrictions/{rule_id}/{$}", name: "ip_rule_update_put_bad_type", as: "admin", path: a3p + "/ip-restrictions/{{ip_rule}}/",
		body: `{"type":3}`, want: 400},
	{route: "POST " + a3r + "/ip-restrictions/{rule_id}/{$}", name: "ip_rule_update_post", as: "admin", path: a3p + "/ip-restrictions/{{ip_rule}}/",
		body: `{"description":"head office","type":"deny"}`, want: 200},
	// 2. An IPv6 range sent in cidr comes back in cidr.
	{route: "POST " + a3r + "/ip-restrictions/{$}", name: "ip_rules_create_ipv6_in_cidr", as: "admin", path: a3p + "/ip-restrictions/",
		body: `{"name":"v6 office","type":1,"description":"","cidrs":[{"cidr":"2001:db8::/32"},{"cidr_ipv6":"2001:db9::/32"},{"cidr":"192.0.2.0/24"}],"rule_set_enabled":false}`, want: 201},
	// A range not in canonical form is answered as written (the provider compares text); ip_cidrs
	// and enforcement use the canonical form.
	{route: "POST " + a3r + "/ip-restrictions/{$}", name: "ip_rules_create_answers_ranges_as_written", as: "admin", path: a3p + "/ip-restrictions/",
		body: `{"name":"written","type":1,"description":"","cidrs":[{"cidr":"192.0.2.1"},{"cidr":"2001:DB8::/32"},{"cidr_ipv6":"2001:0db9::/32"}],"rule_set_enabled":false}`, want: 201},
	// 3. An update that keeps a range (by id) keeps its id; a new range gets a new one.
	{route: "POST " + a3r + "/ip-restrictions/{rule_id}/{$}", name: "ip_rule_update_keeps_range_ids", as: "admin", path: a3p + "/ip-restrictions/{{ip_rule}}/",
		body: `{"id":{{ip_rule}},"account_id":{{account}},"name":"Office","type":1,"description":"office network","cidrs":[{"id":1,"ip_restriction_rule_id":{{ip_rule}},"cidr":"10.0.0.0/8","cidr_ipv6":""},{"cidr":"198.51.100.0/24"}],"rule_set_enabled":false}`, want: 200},
	// 6. The provider deletes by posting the object with state 2.
	{route: "POST " + a3r + "/ip-restrictions/{rule_id}/{$}", name: "ip_rule_update_state_2_deletes", as: "admin", path: a3p + "/ip-restrictions/{{ip_rule}}/",
		body: `{"id":{{ip_rule}},"account_id":{{account}},"name":"Office","type":1,"cidrs":[{"id":1,"cidr":"10.0.0.0/8"}],"state":2}`, want: 200},
	{route: "POST " + a3r + "/ip-restrictions/{rule_id}/{$}", name: "ip_rule_update_post_missing", as: "admin", path: a3p + "/ip-restrictions/999/",
		body: `{"description":"x"}`, want: 404},
	{route: "DELETE " + a3r + "/ip-restrictions/{rule_id}/{$}", name: "ip_rule_delete", as: "admin", path: a3p + "/ip-restrictions/{{ip_rule}}/", want: 200},
	{route: "DELETE " + a3r + "/ip-restrictions/{rule_id}/{$}", name: "ip_rule_delete_bad_id", as: "admin", path: a3p + "/ip-restrictions/abc/", want: 404},
	{route: "POST " + a3r + "/ip-restrictions-set/{$}", name: "ip_rule_set_disable", as: "admin", path: a3p + "/ip-restrictions-set/",
		body: `{"enabled":false}`, want: 200},
	{route: "POST " + a3r + "/ip-restrictions-set/{$}", name: "ip_rule_set_enable", as: "admin", path: a3p + "/ip-restrictions-set/",
		body: `{"rule_set_enabled":true}`, want: 200, setup: allowLoopback},
	{route: "POST " + a3r + "/ip-restrictions-set/{$}", name: "ip_rule_set_enable_lockout", as: "admin", path: a3p + "/ip-restrictions-set/",
		body: `{"enabled":true}`, want: 400},
	{route: "POST " + a3r + "/ip-restrictions-set/{$}", name: "ip_rule_set_no_enabled", as: "admin", path: a3p + "/ip-restrictions-set/",
		body: `{}`, want: 400},
	{route: "GET " + a3r + "/ip-restrictions-set/{set_id}/validate/{$}", name: "ip_rule_set_validate", as: "admin",
		path: a3p + "/ip-restrictions-set/{{account}}/validate/?ip=10.1.2.3", want: 200},
	{route: "GET " + a3r + "/ip-restrictions-set/{set_id}/validate/{$}", name: "ip_rule_set_validate_caller", as: "admin",
		path: a3p + "/ip-restrictions-set/{{account}}/validate/", want: 200},
	{route: "GET " + a3r + "/ip-restrictions-set/{set_id}/validate/{$}", name: "ip_rule_set_validate_wrong_set", as: "admin",
		path: a3p + "/ip-restrictions-set/999/validate/", want: 404},
	{route: "GET " + a3r + "/ip-restrictions-set/{set_id}/validate/{$}", name: "ip_rule_set_validate_bad_ip", as: "admin",
		path: a3p + "/ip-restrictions-set/{{account}}/validate/?ip=fe80::1%25eth0", want: 400},

	// The audit log.
	{route: "GET " + a3r + "/audit-logs/{$}", name: "audit_logs_projects", as: "admin", path: a3p + "/audit-logs/?event_type=project.*", want: 200},
	{route: "GET " + a3r + "/audit-logs/{$}", name: "audit_logs_page", as: "admin", path: a3p + "/audit-logs/?limit=3&offset=1&actor=golden%20fixture", want: 200},
	{route: "GET " + a3r + "/audit-logs/{$}", name: "audit_logs_bad_since", as: "admin", path: a3p + "/audit-logs/?since=yesterday", want: 400},
	{route: "GET " + a3r + "/audit-logs/{$}", name: "audit_logs_forbidden", as: "reader", path: a3p + "/audit-logs/", want: 403},

	// Verification.
	{route: "POST /v1/check", name: "check_allowed", as: "admin", path: "/v1/check",
		body: `{"token":"{{svc_token}}","resource":"jobs","access":"write","project_id":{{project}},"environment_category":"production","client_ip":"10.1.2.3"}`, want: 200},
	{route: "POST /v1/check", name: "check_caller_forbidden", as: "svc", path: "/v1/check",
		body: `{"token":"{{reader_pat}}","resource":"jobs","access":"write","project_id":{{project2}}}`, want: 403},
	{route: "POST /v1/check", name: "check_denied", as: "admin", path: "/v1/check",
		body: `{"token":"{{svc_token}}","resource":"jobs","access":"write","project_id":{{project2}}}`, want: 200},
	{route: "POST /v1/check", name: "check_pat", as: "admin", path: "/v1/check",
		body: `{"token":"{{reader_pat}}","resource":"projects","access":"read","project_id":{{project}}}`, want: 200},
	{route: "POST /v1/check", name: "check_other_account_token", as: "admin", path: "/v1/check",
		body: `{"token":"{{other_svc_token}}","resource":"jobs","access":"read"}`, want: 200},
	{route: "POST /v1/check", name: "check_no_token_field", as: "admin", path: "/v1/check",
		body: `{"resource":"jobs","access":"read"}`, want: 400},
	{route: "POST /v1/check", name: "check_unknown_resource", as: "admin", path: "/v1/check",
		body: `{"token":"{{svc_token}}","resource":"spaceships","access":"read"}`, want: 400},
	{route: "POST /v1/check", name: "check_no_caller", path: "/v1/check",
		body: `{"token":"{{svc_token}}","resource":"jobs","access":"read"}`, want: 401},
	{route: "POST /oauth2/introspect", name: "introspect_service_token", as: "admin", path: "/oauth2/introspect",
		body: "token={{svc_token}}", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, want: 200},
	{route: "POST /oauth2/introspect", name: "introspect_pat", as: "admin", path: "/oauth2/introspect",
		body: "token={{reader_pat}}", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, want: 200},
	{route: "POST /oauth2/introspect", name: "introspect_unknown_token", as: "admin", path: "/oauth2/introspect",
		body: "token={{unknown_token}}", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, want: 200},
	{route: "POST /oauth2/introspect", name: "introspect_no_token", as: "admin", path: "/oauth2/introspect",
		body: "token_type_hint=access_token", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, want: 400},
	{route: "POST /oauth2/introspect", name: "introspect_forbidden", as: "reader", path: "/oauth2/introspect",
		body: "token={{svc_token}}", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, want: 403},
	{route: "POST /oauth2/introspect", name: "introspect_no_caller", path: "/oauth2/introspect",
		body: "token={{svc_token}}", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, want: 401},
	{route: "GET /v1/forward-auth", name: "forward_auth_allowed", as: "svc", path: "/v1/forward-auth",
		header: map[string]string{"X-Original-Method": "GET", "X-Original-Uri": "/api/projects/{{project}}/jobs/42?expand=true"}, want: 200},
	{route: "GET /v1/forward-auth", name: "forward_auth_forbidden", as: "svc", path: "/v1/forward-auth",
		header: map[string]string{"X-Original-Method": "GET", "X-Original-Uri": "/api/projects/{{project2}}/jobs/"}, want: 403},
	// The golden rules name nginx: only X-Original-* count, and they are required.
	{route: "GET /v1/forward-auth", name: "forward_auth_missing_headers", as: "svc", path: "/v1/forward-auth",
		header: map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/projects/{{project}}/jobs/"}, want: 400},
	{route: "GET /v1/forward-auth", name: "forward_auth_forbidden_environment", as: "reader", method: "POST", path: "/v1/forward-auth",
		header: map[string]string{"X-Original-Method": "POST", "X-Original-Uri": "/api/projects/{{project}}/runs", "X-Environment-Category": "production"}, want: 403},
	{route: "GET /v1/forward-auth", name: "forward_auth_no_rule", as: "svc", path: "/v1/forward-auth",
		header: map[string]string{"X-Original-Method": "DELETE", "X-Original-Uri": "/admin/everything"}, want: 403},
	{route: "GET /v1/forward-auth", name: "forward_auth_non_canonical", as: "svc", path: "/v1/forward-auth",
		header: map[string]string{"X-Original-Method": "GET", "X-Original-Uri": "/api/projects/{{project}}/jobs/../../{{project2}}/jobs/"}, want: 403},
	{route: "GET /v1/forward-auth", name: "forward_auth_no_token", path: "/v1/forward-auth",
		header: map[string]string{"X-Original-Method": "GET", "X-Original-Uri": "/api/projects/{{project}}/jobs/"}, want: 401},
	{route: "GET /v1/forward-auth", name: "forward_auth_unknown_token", as: "unknown", path: "/v1/forward-auth",
		header: map[string]string{"X-Original-Method": "GET", "X-Original-Uri": "/api/projects/{{project}}/jobs/"}, want: 401},

	// Single sign-on: the auth provider (dbt's shape, type oidc) and license maps. Both need
	// account_admin or security_admin; Rita (read_only) is refused.
	{route: "GET " + a3r + "/auth-provider/{$}", name: "auth_provider_list", as: "admin", path: a3p + "/auth-provider/", setup: addSSOProvider, want: 200},
	{route: "GET " + a3r + "/auth-provider/{$}", name: "auth_provider_list_forbidden", as: "reader", path: a3p + "/auth-provider/", want: 403},
	{route: "POST " + a3r + "/auth-provider/{$}", name: "auth_provider_create", as: "admin", path: a3p + "/auth-provider/",
		body: `{"account_id":{{account}},"type":"oidc","slug":"acme","issuer":"https://idp.example.com","client_id":"latchkey","client_secret":"s3cret-never-shown","allow_password_backdoor":false}`, want: 201},
	{route: "POST " + a3r + "/auth-provider/{$}", name: "auth_provider_create_saml", as: "admin", path: a3p + "/auth-provider/",
		body: `{"type":"saml","entity_id":"https://idp.example.com/metadata","sso_url":"https://idp.example.com/sso/saml"}`, want: 400},
	{route: "POST " + a3r + "/auth-provider/{$}", name: "auth_provider_create_second", as: "admin", path: a3p + "/auth-provider/", setup: addSSOProvider,
		body: `{"issuer":"https://other.example.com","client_id":"x","slug":"acme-2"}`, want: 409},
	{route: "POST " + a3r + "/auth-provider/{$}", name: "auth_provider_create_http_issuer", as: "admin", path: a3p + "/auth-provider/",
		body: `{"issuer":"http://idp.example.com","client_id":"latchkey"}`, want: 400},
	{route: "GET " + a3r + "/auth-provider/{provider_id}/{$}", name: "auth_provider_get", as: "admin", path: a3p + "/auth-provider/1/", setup: addSSOProvider, want: 200},
	{route: "GET " + a3r + "/auth-provider/{provider_id}/{$}", name: "auth_provider_get_other_account", as: "other", path: "/api/v3/accounts/{{other}}/auth-provider/1/", setup: addSSOProvider, want: 404},
	{route: "POST " + a3r + "/auth-provider/{provider_id}/{$}", name: "auth_provider_update", as: "admin", path: a3p + "/auth-provider/1/", setup: addSSOProvider,
		body: `{"allow_password_backdoor":false,"groups_claim":"roles","client_secret":"rotated-secret"}`, want: 200},
	{route: "POST " + a3r + "/auth-provider/{provider_id}/{$}", name: "auth_provider_update_bad_slug", as: "admin", path: a3p + "/auth-provider/1/", setup: addSSOProvider,
		body: `{"slug":"Not A Slug"}`, want: 400},
	{route: "PUT " + a3r + "/auth-provider/{provider_id}/{$}", name: "auth_provider_put", as: "admin", path: a3p + "/auth-provider/1/", setup: addSSOProvider,
		body: `{"slug":"acme-corp","client_secret":""}`, want: 200},
	{route: "PUT " + a3r + "/auth-provider/{provider_id}/{$}", name: "auth_provider_put_forbidden", as: "reader", path: a3p + "/auth-provider/1/", setup: addSSOProvider,
		body: `{"allow_password_backdoor":false}`, want: 403},
	{route: "DELETE " + a3r + "/auth-provider/{provider_id}/{$}", name: "auth_provider_delete", as: "admin", path: a3p + "/auth-provider/1/", setup: addSSOProvider, want: 200},
	{route: "DELETE " + a3r + "/auth-provider/{provider_id}/{$}", name: "auth_provider_delete_missing", as: "admin", path: a3p + "/auth-provider/7/", want: 404},
	{route: "GET " + a3r + "/license-maps/{$}", name: "license_maps_list", as: "admin", path: a3p + "/license-maps/", setup: addLicenseMap, want: 200},
	{route: "GET " + a3r + "/license-maps/{$}", name: "license_maps_list_forbidden", as: "svc", path: a3p + "/license-maps/", want: 403},
	// The Terraform provider's body for dbtcloud_license_map.
	{route: "POST " + a3r + "/license-maps/{$}", name: "license_maps_create", method: "POST", as: "admin", path: a3p + "/license-maps/",
		body: `{"id":null,"license_type":"developer","account_id":{{account}},"state":1,"sso_license_mapping_groups":["analysts"]}`, want: 201},
	{route: "POST " + a3r + "/license-maps/{$}", name: "license_maps_create_bad_license", as: "admin", path: a3p + "/license-maps/",
		body: `{"license_type":"owner","sso_license_mapping_groups":["analysts"]}`, want: 400},
	{route: "GET " + a3r + "/license-maps/{map_id}/{$}", name: "license_maps_get", as: "admin", path: a3p + "/license-maps/1/", setup: addLicenseMap, want: 200},
	{route: "GET " + a3r + "/license-maps/{map_id}/{$}", name: "license_maps_get_missing", as: "admin", path: a3p + "/license-maps/4/", want: 404},
	{route: "POST " + a3r + "/license-maps/{map_id}/{$}", name: "license_maps_update", as: "admin", path: a3p + "/license-maps/1/", setup: addLicenseMap,
		body: `{"id":1,"license_type":"read_only","account_id":{{account}},"state":1,"sso_license_mapping_groups":["viewers","auditors"]}`, want: 200},
	{route: "POST " + a3r + "/license-maps/{map_id}/{$}", name: "license_maps_update_other_account", as: "admin", path: a3p + "/license-maps/1/", setup: addLicenseMap,
		body: `{"account_id":{{other}},"license_type":"it"}`, want: 400},
	{route: "PUT " + a3r + "/license-maps/{map_id}/{$}", name: "license_maps_put", as: "admin", path: a3p + "/license-maps/1/", setup: addLicenseMap,
		body: `{"license_type":"it"}`, want: 200},
	{route: "PUT " + a3r + "/license-maps/{map_id}/{$}", name: "license_maps_put_forbidden", as: "reader", path: a3p + "/license-maps/1/", setup: addLicenseMap,
		body: `{"license_type":"developer"}`, want: 403},
	{route: "DELETE " + a3r + "/license-maps/{map_id}/{$}", name: "license_maps_delete", as: "admin", path: a3p + "/license-maps/1/", setup: addLicenseMap, want: 200},
	{route: "DELETE " + a3r + "/license-maps/{map_id}/{$}", name: "license_maps_delete_twice", as: "admin", path: a3p + "/license-maps/1/",
		setup: func(tb testing.TB, env *goldenEnv) { addLicenseMap(tb, env); deleteLicenseMap(tb, env) }, want: 404},

	// Trust policies (workload identity federation). addTrustPolicy makes policy 1.
	{route: "GET " + a3r + "/trust-policies/{$}", name: "trust_policies_list", as: "admin", path: a3p + "/trust-policies/", setup: addTrustPolicy, want: 200},
	{route: "GET " + a3r + "/trust-policies/{$}", name: "trust_policies_list_forbidden", as: "reader", path: a3p + "/trust-policies/", want: 403},
	{route: "POST " + a3r + "/trust-policies/{$}", name: "trust_policy_create", as: "admin", path: a3p + "/trust-policies/", body: `{"name":"etl deploys","issuer":"https://token.actions.githubusercontent.com","audience":"https://latchkey.example","conditions":[{"claim":"repository","equals":"acme/etl"},{"claim":"ref","like":"refs/heads/*"}],"service_token_id":{{svc_id}},"grants":["job_viewer:{{project}}"]}`, want: 201},
	{route: "POST " + a3r + "/trust-policies/{$}", name: "trust_policy_create_http_issuer", as: "admin", path: a3p + "/trust-policies/",
		body: `{"name":"x","issuer":"http://issuer.example","audience":"a","conditions":[{"claim":"sub","equals":"x"}],"service_token_id":{{svc_id}}}`, want: 400},
	{route: "GET " + a3r + "/trust-policies/{policy_id}/{$}", name: "trust_policy_get", as: "admin", path: a3p + "/trust-policies/" + "1/", setup: addTrustPolicy, want: 200},
	{route: "GET " + a3r + "/trust-policies/{policy_id}/{$}", name: "trust_policy_get_missing", as: "admin", path: a3p + "/trust-policies/" + "1/", want: 404},
	{route: "PUT " + a3r + "/trust-policies/{policy_id}/{$}", name: "trust_policy_update", as: "admin", path: a3p + "/trust-policies/" + "1/", setup: addTrustPolicy,
		body: `{"conditions":[{"claim":"repository","equals":"acme/etl"},{"claim":"ref","equals":"refs/heads/main"}]}`, want: 200},
	{route: "PUT " + a3r + "/trust-policies/{policy_id}/{$}", name: "trust_policy_update_issuer", as: "admin", path: a3p + "/trust-policies/" + "1/", setup: addTrustPolicy,
		body: `{"issuer":"https://gitlab.example"}`, want: 400},
	{route: "DELETE " + a3r + "/trust-policies/{policy_id}/{$}", name: "trust_policy_delete", as: "admin", path: a3p + "/trust-policies/" + "1/", setup: addTrustPolicy, want: 200},
	{route: "DELETE " + a3r + "/trust-policies/{policy_id}/{$}", name: "trust_policy_delete_forbidden", as: "reader", path: a3p + "/trust-policies/" + "1/", setup: addTrustPolicy, want: 403},

	// Webhooks. The fixture's subscription is wsu_1 (addWebhook); delivery 1 has two attempts.
	{route: "GET " + a3r + "/webhooks/subscriptions/{$}", name: "webhooks_list", as: "admin", path: a3p + "/webhooks/subscriptions/", setup: addWebhookAndDelivery, want: 200},
	{route: "GET " + a3r + "/webhooks/subscriptions/{$}", name: "webhooks_list_forbidden", as: "reader", path: a3p + "/webhooks/subscriptions/", want: 403},
	// The Terraform provider's body for dbtcloud_webhook (job_ids is ignored).
	{route: "POST " + a3r + "/webhooks/subscriptions/{$}", name: "webhooks_create", as: "admin", path: a3p + "/webhooks/subscriptions/",
		body: `{"name":"Audit to SIEM","description":"all events","client_url":"https://siem.example.com/hooks/latchkey","event_types":["*"],"job_ids":[],"active":true}`, want: 201},
	{route: "POST " + a3r + "/webhooks/subscriptions/{$}", name: "webhooks_create_chosen_secret", as: "admin", path: a3p + "/webhooks/subscriptions/",
		body: `{"name":"Chosen","client_url":"https://siem.example.com/h","event_types":["service_token.created","service_token.created"],"hmac_secret":"` + goldenWebhookSecret + `"}`, want: 201},
	{route: "POST " + a3r + "/webhooks/subscriptions/{$}", name: "webhooks_create_unknown_event", as: "admin", path: a3p + "/webhooks/subscriptions/",
		body: `{"name":"Runs","client_url":"https://siem.example.com/h","event_types":["job.run.completed"]}`, want: 400},
	{route: "POST " + a3r + "/webhooks/subscriptions/{$}", name: "webhooks_create_http_url", as: "admin", path: a3p + "/webhooks/subscriptions/",
		body: `{"name":"Plain","client_url":"http://siem.example.com/h","event_types":["*"]}`, want: 400},
	{route: "POST " + a3r + "/webhooks/subscriptions/{$}", name: "webhooks_create_bad_secret", as: "admin", path: a3p + "/webhooks/subscriptions/",
		body: `{"name":"Weak","client_url":"https://siem.example.com/h","event_types":["*"],"hmac_secret":"hunter2"}`, want: 400},
	{route: "POST " + a3r + "/webhooks/subscriptions/{$}", name: "webhooks_create_job_ids", as: "admin", path: a3p + "/webhooks/subscriptions/",
		body: `{"name":"Runs","client_url":"https://siem.example.com/h","event_types":["*"],"job_ids":[12]}`, want: 400},
	{route: "POST " + a3r + "/webhooks/subscriptions/{$}", name: "webhooks_create_forbidden", as: "svc", path: a3p + "/webhooks/subscriptions/",
		body: `{"name":"Mine","client_url":"https://siem.example.com/h","event_types":["*"]}`, want: 403},
	{route: "GET " + a3r + "/webhooks/subscription/{webhook_id}/{$}", name: "webhook_get", as: "admin", path: a3p + "/webhooks/subscription/wsu_1/", setup: addWebhookAndDelivery, want: 200},
	{route: "GET " + a3r + "/webhooks/subscription/{webhook_id}/{$}", name: "webhook_get_bare_id", as: "admin", path: a3p + "/webhooks/subscription/1", setup: addWebhook, want: 200},
	{route: "GET " + a3r + "/webhooks/subscription/{webhook_id}/{$}", name: "webhook_get_other_account", as: "other", path: "/api/v3/accounts/{{other}}/webhooks/subscription/wsu_1/", setup: addWebhook, want: 404},
	{route: "GET " + a3r + "/webhooks/subscription/{webhook_id}/{$}", name: "webhook_get_bad_id", as: "admin", path: a3p + "/webhooks/subscription/wsu_x/", want: 404},
	// dbt's clients PUT the whole object back; unchanged values change nothing.
	{route: "PUT " + a3r + "/webhooks/subscription/{webhook_id}/{$}", name: "webhook_update_put", as: "admin", path: a3p + "/webhooks/subscription/wsu_1/", setup: addWebhook,
		body: `{"name":"Security feed","description":"token events to the SIEM","client_url":"https://hooks.example.com/v2","event_types":["service_token.*","leak.reported"],"active":false,"job_ids":[]}`, want: 200},
	{route: "PUT " + a3r + "/webhooks/subscription/{webhook_id}/{$}", name: "webhook_update_put_no_events", as: "admin", path: a3p + "/webhooks/subscription/wsu_1/", setup: addWebhook,
		body: `{"event_types":[]}`, want: 400},
	{route: "POST " + a3r + "/webhooks/subscription/{webhook_id}/{$}", name: "webhook_update_post", as: "admin", path: a3p + "/webhooks/subscription/1/", setup: addDisabledWebhook,
		body: `{"active":true}`, want: 200},
	{route: "POST " + a3r + "/webhooks/subscription/{webhook_id}/{$}", name: "webhook_update_post_forbidden", as: "reader", path: a3p + "/webhooks/subscription/1/", setup: addWebhook,
		body: `{"name":"mine"}`, want: 403},
	{route: "DELETE " + a3r + "/webhooks/subscription/{webhook_id}/{$}", name: "webhook_delete", as: "admin", path: a3p + "/webhooks/subscription/wsu_1/", setup: addWebhook, want: 200},
	{route: "DELETE " + a3r + "/webhooks/subscription/{webhook_id}/{$}", name: "webhook_delete_missing", as: "admin", path: a3p + "/webhooks/subscription/wsu_9/", want: 404},
	{route: "POST " + a3r + "/webhooks/subscription/{webhook_id}/test/{$}", name: "webhook_test", as: "admin", path: a3p + "/webhooks/subscription/wsu_1/test/",
		setup: func(tb testing.TB, env *goldenEnv) { addWebhook(tb, env); withSender(tb, env) }, want: 200},
	{route: "POST " + a3r + "/webhooks/subscription/{webhook_id}/test/{$}", name: "webhook_test_endpoint_fails", as: "admin", path: a3p + "/webhooks/subscription/wsu_1/test/",
		setup: func(tb testing.TB, env *goldenEnv) { addWebhook(tb, env); withFailingSender(tb, env) }, want: 200},
	{route: "POST " + a3r + "/webhooks/subscription/{webhook_id}/test/{$}", name: "webhook_test_not_running", as: "admin", path: a3p + "/webhooks/subscription/wsu_1/test/", setup: addWebhook, want: 503},
	{route: "POST " + a3r + "/webhooks/subscription/{webhook_id}/rotate-secret/{$}", name: "webhook_rotate_secret", as: "admin", path: a3p + "/webhooks/subscription/wsu_1/rotate-secret/", setup: addWebhook, want: 200},
	{route: "POST " + a3r + "/webhooks/subscription/{webhook_id}/rotate-secret/{$}", name: "webhook_rotate_secret_forbidden", as: "svc", path: a3p + "/webhooks/subscription/wsu_1/rotate-secret/", setup: addWebhook, want: 403},
	{route: "GET " + a3r + "/webhooks/subscription/{webhook_id}/deliveries/{$}", name: "webhook_deliveries_list", as: "admin", path: a3p + "/webhooks/subscription/wsu_1/deliveries/?limit=10", setup: addWebhookAndDelivery, want: 200},
	{route: "GET " + a3r + "/webhooks/subscription/{webhook_id}/deliveries/{$}", name: "webhook_deliveries_list_bad_state", as: "admin", path: a3p + "/webhooks/subscription/wsu_1/deliveries/?state=2", setup: addWebhook, want: 400},
	{route: "GET " + a3r + "/webhooks/deliveries/{delivery_id}/{$}", name: "webhook_delivery_get", as: "admin", path: a3p + "/webhooks/deliveries/1/", setup: addWebhookAndDelivery, want: 200},
	{route: "GET " + a3r + "/webhooks/deliveries/{delivery_id}/{$}", name: "webhook_delivery_get_other_account", as: "other", path: "/api/v3/accounts/{{other}}/webhooks/deliveries/1/", setup: addWebhookAndDelivery, want: 404},
	{route: "POST " + a3r + "/webhooks/deliveries/{delivery_id}/redeliver/{$}", name: "webhook_redeliver", as: "admin", path: a3p + "/webhooks/deliveries/1/redeliver/", setup: addWebhookAndDelivery, want: 200},
	{route: "POST " + a3r + "/webhooks/deliveries/{delivery_id}/redeliver/{$}", name: "webhook_redeliver_disabled", as: "admin", path: a3p + "/webhooks/deliveries/1/redeliver/", setup: addDisabledWebhook, want: 409},

	// Leak reports.
	{route: "POST /v1/leaks/github", name: "leaks_github", path: "/v1/leaks/github", body: leakReport, signLeak: true, want: 200},
	{route: "POST /v1/leaks/github", name: "leaks_github_bad_signature", path: "/v1/leaks/github", body: leakReport,
		header: map[string]string{"Github-Public-Key-Identifier": goldenKeyID, "Github-Public-Key-Signature": "bm90IGEgc2lnbmF0dXJl"}, want: 401},
	{route: "POST /v1/leaks/github", name: "leaks_github_unknown_key", path: "/v1/leaks/github", body: leakReport,
		header: map[string]string{"Github-Public-Key-Identifier": "someone-else"}, signLeak: true, want: 401},
	{route: "POST /v1/leaks/github", name: "leaks_github_not_array", path: "/v1/leaks/github", body: `{"token":"{{svc_token}}"}`, signLeak: true, want: 400},
}

// allowLoopback adds an allow rule for the loopback network, so that enforcement can be enabled.
// closeStore closes the database under the server and runs its readiness checks, as its probe
// loop would within HealthProbeInterval: /readyz answers from the checks' last findings, and the
// loop's first probe may have found the database working just before.
func closeStore(tb testing.TB, env *goldenEnv) {
	env.store.Close()
	env.srv.probeHealth(context.Background())
}

func allowLoopback(tb testing.TB, env *goldenEnv) {
	tb.Helper()
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "golden fixture", Source: "system"})
	if err := env.store.CreateIPRule(ctx, &latchkey.IPRule{AccountID: env.fx.Account, Name: "Loopback", Type: latchkey.IPRuleAllow,
		CIDRs: latchkey.Ranges("127.0.0.0/8", "::1")}); err != nil {
		tb.Fatal(err)
	}
}

// addSSOProvider configures OpenID Connect sign-in for Acme (provider 1, slug acme, with a client
// secret).
func addSSOProvider(tb testing.TB, env *goldenEnv) {
	tb.Helper()
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "golden fixture", Source: "system"})
	if err := env.store.CreateSSOProvider(ctx, &latchkey.SSOProvider{AccountID: env.fx.Account, Type: latchkey.SSOProviderOIDC, Slug: "acme",
		AllowPasswordBackdoor: true, Issuer: "https://idp.example.com", ClientID: "latchkey", ClientSecretSealed: []byte("sealed"),
		GroupsClaim: latchkey.DefaultGroupsClaim}); err != nil {
		tb.Fatal(err)
	}
}

// addLicenseMap maps the IdP group "engineers" to the developer license in Acme (map 1).
func addTrustPolicy(tb testing.TB, env *goldenEnv) {
	tb.Helper()
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "golden fixture", Source: "system"})
	toks, _, err := env.store.FindTokens(ctx, latchkey.TokenFilter{ID: &env.fx.SvcID})
	if err != nil || len(toks) != 1 {
		tb.Fatal(err)
	}
	if err := env.store.CreateTrustPolicy(ctx, &latchkey.TrustPolicy{AccountID: env.fx.Account, Name: "etl deploys",
		Issuer: "https://token.actions.githubusercontent.com", Audience: goldenIssuer, FamilyID: toks[0].FamilyID,
		Conditions: []latchkey.ClaimCondition{{Claim: "repository", Equals: "acme/etl"}}}); err != nil {
		tb.Fatal(err)
	}
}

func addLicenseMap(tb testing.TB, env *goldenEnv) {
	tb.Helper()
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "golden fixture", Source: "system"})
	if err := env.store.CreateLicenseMap(ctx, &latchkey.LicenseMap{AccountID: env.fx.Account, License: latchkey.LicenseDeveloper,
		SSOGroups: []string{"engineers"}}); err != nil {
		tb.Fatal(err)
	}
}

func deleteLicenseMap(tb testing.TB, env *goldenEnv) {
	tb.Helper()
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "golden fixture", Source: "system"})
	if err := env.store.DeleteLicenseMap(ctx, 1); err != nil {
		tb.Fatal(err)
	}
}

// deleteServiceToken revokes the service token "CI deploy".
func deleteServiceToken(tb testing.TB, env *goldenEnv) {
	tb.Helper()
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "golden fixture", Source: "system"})
	if err := env.store.DeleteToken(ctx, env.fx.SvcID, "deleted"); err != nil {
		tb.Fatal(err)
	}
}

// request builds a case's request against env.
func (c goldenCase) request(tb testing.TB, env *goldenEnv) *http.Request {
	tb.Helper()
	rep := env.fx.replacer()
	method := c.method
	if method == "" {
		method, _, _ = strings.Cut(c.route, " ")
	}
	body := []byte(rep.Replace(c.body))
	req, err := http.NewRequest(method, env.http.URL+rep.Replace(c.path), bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := env.fx.token(c.as); tok != "" {
		req.Header.Set("Authorization", "Token "+tok)
	}
	if c.signLeak {
		req.Header.Set("Github-Public-Key-Identifier", goldenKeyID)
		req.Header.Set("Github-Public-Key-Signature", signLeakReport(tb, body))
	}
	for k, v := range c.header {
		req.Header.Set(k, rep.Replace(v))
	}
	return req
}

// TestGolden sends each case's request to a server of its own, on its own copy of the fixture's
// database, and compares the status and the normalised response with the case's golden file.
func TestGolden(t *testing.T) {
	names := map[string]bool{}
	for _, c := range goldenCases {
		if names[c.name] {
			t.Fatalf("two golden cases are named %q", c.name)
		}
		names[c.name] = true
	}
	tmpl := newGoldenTemplate(t)
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := newGoldenEnv(t, tmpl)
			if c.setup != nil {
				c.setup(t, env)
			}
			resp := env.send(t, c.request(t, env))
			label := c.route + " (" + c.name + ")"
			if resp.status != c.want {
				t.Errorf("%s: status = %d, want %d\n%s", label, resp.status, c.want, normaliseGolden(resp.body))
			}
			if c.keep != nil {
				resp.body = c.keep(resp.body)
			}
			checkGolden(t, label, c.name, resp.render())
		})
	}
}

// goldenExtraRoutes are routes served outside s.patterns that golden cases may name.
var goldenExtraRoutes = map[string]bool{
	"GET /v1/forward-auth": true, // dispatched in ServeHTTP, ahead of the mux
	"/api/":                true, // the JSON 404 for unknown API paths
}

// TestGoldenCoversEveryRoute checks that every route the server registers (UI routes aside: they
// are registered by uiRoutes straight on the mux and are not in s.patterns), and forward-auth,
// has a golden success case and a golden error case; that every case names a real route; and
// that every golden file belongs to a case.
func TestGoldenCoversEveryRoute(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	for r := range goldenExtraRoutes {
		routes[r] = true
	}
	for _, u := range unsupportedAPI {
		routes[u.path] = true
	}
	for _, p := range s.patterns {
		routes[p] = true
	}
	success, failure := map[string]bool{}, map[string]bool{}
	for _, c := range goldenCases {
		if !routes[c.route] {
			t.Errorf("golden case %q names route %q, which the server does not register", c.name, c.route)
		}
		if c.want < 400 {
			success[c.route] = true
		} else {
			failure[c.route] = true
		}
	}
	required := append([]string{"GET /v1/forward-auth"}, s.patterns...)
	for _, r := range required {
		if !success[r] {
			t.Errorf("route %q has no golden success case", r)
		}
		if !failure[r] {
			t.Errorf("route %q has no golden error case", r)
		}
	}

	files, err := filepath.Glob(filepath.Join(goldenDir, "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range goldenCases {
		names[c.name] = true
	}
	var orphans []string
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".golden"); !names[name] {
			orphans = append(orphans, f)
		}
	}
	sort.Strings(orphans)
	for _, f := range orphans {
		if *update {
			if err := os.Remove(f); err != nil {
				t.Error(err)
			}
			continue
		}
		t.Errorf("%s belongs to no golden case; delete it or run: go test ./server -run Golden -update", f)
	}
}

// retried is c sent a second time: its setup sends c's request once first, which must create.
func retried(c goldenCase) goldenCase {
	first := c
	c.setup = func(tb testing.TB, env *goldenEnv) {
		tb.Helper()
		if resp := env.send(tb, first.request(tb, env)); resp.status != http.StatusCreated {
			tb.Fatalf("%s: the first request answered %d, want 201\n%s", c.name, resp.status, resp.body)
		}
	}
	return c
}
