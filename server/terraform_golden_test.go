package server

// terraformCases send the requests dbt Cloud's Terraform provider (dbt-labs/terraform-provider-dbtcloud,
// pkg/dbt_cloud) sends, byte for byte as far as the body goes and with its headers, for every
// request docs/compatibility.md lists as served; TestCompatibilityDoc ties each row to them.
var terraformCases = []goldenCase{
	// Provider start: the token's accounts must include the configured one.
	tf("GET /api/v2/accounts/{$}", "tf_accounts_list", "/api/v2/accounts/", "", 200),

	// dbtcloud_service_token: a two-step create, read, older versions' in-place update, delete.
	tf("POST "+a3r+"/service-tokens/{$}", "tf_service_token_create", a3p+"/service-tokens/",
		`{"id":null,"account_id":{{account}},"uid":"","name":"terraform","state":1}`, 201),
	// The one-step variant (ServiceTokenPermissionGrant): grants without all_projects. One naming a
	// project works; one naming none is refused, never widened to all projects.
	tf("POST "+a3r+"/service-tokens/{$}", "tf_service_token_create_one_step", a3p+"/service-tokens/",
		`{"name":"terraform","permission_grants":[{"permission_set":"job_admin","project_id":{{project}}},{"permission_set":"developer","project_id":{{project}},"writable_environment_categories":["development"]}]}`, 201),
	tf("POST "+a3r+"/service-tokens/{$}", "tf_service_token_create_one_step_no_project", a3p+"/service-tokens/",
		`{"name":"terraform","permission_grants":[{"permission_set":"job_viewer"}]}`, 400),
	tf("POST "+a3r+"/service-tokens/{token_id}/permissions/{$}", "tf_service_token_permissions_create", a3p+"/service-tokens/{{empty_svc_id}}/permissions/",
		`[{"account_id":{{account}},"service_token_id":{{empty_svc_id}},"all_projects":false,"project_id":{{project}},"permission_set":"developer","writable_environment_categories":["development","staging"]},`+
			`{"account_id":{{account}},"service_token_id":{{empty_svc_id}},"all_projects":true,"permission_set":"job_viewer"}]`, 200),
	// Provider versions before 4bd99fe re-post the whole list to change a token's permissions.
	tf("POST "+a3r+"/service-tokens/{token_id}/permissions/{$}", "tf_service_token_permissions_repost", a3p+"/service-tokens/{{svc_id}}/permissions/",
		`[{"account_id":{{account}},"service_token_id":{{svc_id}},"all_projects":true,"permission_set":"job_viewer"}]`, 400),
	tf("GET "+a3r+"/service-tokens/{token_id}/{$}", "tf_service_token_get", a3p+"/service-tokens/{{svc_id}}/", "", 200),
	tf("GET "+a3r+"/service-tokens/{token_id}/permissions/{$}", "tf_service_token_permissions_get", a3p+"/service-tokens/{{svc_id}}/permissions/", "", 200),
	tf("POST "+a3r+"/service-tokens/{token_id}/{$}", "tf_service_token_update", a3p+"/service-tokens/{{svc_id}}/",
		`{"id":{{svc_id}},"account_id":{{account}},"uid":"ignored","name":"CI deploy (terraform)","state":1,"service_token_permissions":[]}`, 200),
	tf("DELETE "+a3r+"/service-tokens/{token_id}/{$}", "tf_service_token_delete", a3p+"/service-tokens/{{svc_id}}/", "", 200),
	tf("GET "+a3r+"/service-tokens/{$}", "tf_service_tokens_list", a3p+"/service-tokens/?state=1", "", 200),

	// dbtcloud_group and dbtcloud_group_partial_permissions.
	tf("POST "+a3r+"/groups/{$}", "tf_group_create", a3p+"/groups/",
		`{"id":null,"name":"Analysts","account_id":{{account}},"state":1,"assign_by_default":false,"sso_mapping_groups":["okta-analysts"],"scim_managed":false}`, 201),
	tf("GET "+a3r+"/groups/{group_id}/{$}", "tf_group_get", a3p+"/groups/{{data_group}}/", "", 200),
	tf("POST "+a3r+"/groups/{group_id}/{$}", "tf_group_update", a3p+"/groups/{{data_group}}/",
		`{"id":{{data_group}},"name":"Data team","account_id":{{account}},"state":1,"assign_by_default":true,"sso_mapping_groups":["okta-data"],"scim_managed":false,`+
			`"group_permissions":[{"id":3,"account_id":{{account}},"group_id":{{data_group}},"project_id":{{project}},"all_projects":false,"state":1,"permission_set":"analyst","writable_environment_categories":["development"]}]}`, 200),
	tf("POST "+a3r+"/groups/{group_id}/{$}", "tf_group_delete", a3p+"/groups/{{data_group}}/",
		`{"id":{{data_group}},"name":"Data team","account_id":{{account}},"state":2,"assign_by_default":false,"sso_mapping_groups":[],"scim_managed":false,`+
			`"group_permissions":[{"id":3,"account_id":{{account}},"group_id":{{data_group}},"project_id":{{project}},"all_projects":false,"state":1,"permission_set":"analyst","writable_environment_categories":["development"]}]}`, 200),
	tf("GET "+a3r+"/groups/{$}", "tf_groups_list_filtered", a3p+"/groups/?name=Data%20team&name__icontains=data&state=active", "", 200),
	tf("GET "+a3r+"/groups/{$}", "tf_groups_list", a3p+"/groups/?offset=0", "", 200),
	tf("POST "+a3r+"/group-permissions/{group_id}/{$}", "tf_group_permissions_set", a3p+"/group-permissions/{{data_group}}/",
		`[{"account_id":{{account}},"group_id":{{data_group}},"all_projects":false,"project_id":{{project}},"permission_set":"analyst","writable_environment_categories":["development","staging"]},`+
			`{"account_id":{{account}},"group_id":{{data_group}},"all_projects":true,"permission_set":"stakeholder"}]`, 200),

	// dbtcloud_user_groups and the user data sources.
	tf("POST "+a3r+"/assign-groups/{$}", "tf_assign_groups", a3p+"/assign-groups/",
		`{"user_id":{{reader_user}},"desired_group_ids":[{{member_group}},{{data_group}}]}`, 200),
	tf("GET /api/v2/accounts/{account_id}/users/{user_id}/{$}", "tf_v2_user_get", "/api/v2/accounts/{{account}}/users/{{reader_user}}/", "", 200),
	tf("GET /api/v2/accounts/{account_id}/users/{$}", "tf_v2_users_list", "/api/v2/accounts/{{account}}/users/", "", 200),
	tf("GET "+a3r+"/users/{$}", "tf_users_list", a3p+"/users/?offset=0", "", 200),

	// dbtcloud_project and the project data sources.
	tf("POST "+a3r+"/projects/{$}", "tf_project_create", a3p+"/projects/",
		`{"name":"Finance","description":"ledgers","dbt_project_subdirectory":"finance/dbt","type":0,"state":1,"account_id":{{account}},"freshness_job_id":null,"docs_job_id":null}`, 201),
	tf("GET "+a3r+"/projects/{project_id}/{$}", "tf_project_get", a3p+"/projects/{{project}}/?include_related=[freshness_job_id,docs_job_id]", "", 200),
	tf("POST "+a3r+"/projects/{project_id}/{$}", "tf_project_update", a3p+"/projects/{{project}}/",
		`{"id":{{project}},"name":"Analytics","description":"all the models","dbt_project_subdirectory":"analytics","type":0,"repository_id":null,"state":1,"account_id":{{account}},"freshness_job_id":null,"docs_job_id":null,"semantic_layer_config_id":null}`, 200),
	tf("POST "+a3r+"/projects/{project_id}/{$}", "tf_project_delete", a3p+"/projects/{{project2}}/",
		`{"id":{{project2}},"name":"Marketing","description":"","dbt_project_subdirectory":null,"type":0,"state":2,"account_id":{{account}},"freshness_job_id":null,"docs_job_id":null}`, 200),
	tf("GET "+a3r+"/projects/{$}", "tf_projects_list", a3p+"/projects/?include_related=[freshness_job_id,docs_job_id]", "", 200),
	tf("GET "+a3r+"/projects/{$}", "tf_projects_list_filtered", a3p+`/projects/?name__icontains=a&limit=100&order_by=name&include_related=["repository","connection"]`, "", 200),

	// dbtcloud_ip_restrictions_rule: the provider reads one rule through the list, and updates and
	// deletes without the trailing slash.
	tf("GET "+a3r+"/ip-restrictions/{$}", "tf_ip_rules_list", a3p+"/ip-restrictions/", "", 200),
	tf("POST "+a3r+"/ip-restrictions/{$}", "tf_ip_rule_create", a3p+"/ip-restrictions/",
		`{"name":"VPN","type":1,"description":"","cidrs":[{"cidr":"192.0.2.10"},{"cidr":"2001:DB8::/32"}],"rule_set_enabled":false}`, 201),
	tf("PUT "+a3r+"/ip-restrictions/{rule_id}/{$}", "tf_ip_rule_update", a3p+"/ip-restrictions/{{ip_rule}}",
		`{"id":{{ip_rule}},"name":"Office","type":1,"description":"office network","rule_set_enabled":false,"cidrs":[{"cidr":"198.51.100.0/24"},{"id":1,"cidr":"10.0.0.0/8","state":2}]}`, 200),
	tf("DELETE "+a3r+"/ip-restrictions/{rule_id}/{$}", "tf_ip_rule_delete", a3p+"/ip-restrictions/{{ip_rule}}", "", 200),
}

// tf is a case sent as the Terraform provider sends it: with a personal access token in
// "Authorization: Token …" and the provider's headers on every request, GET and DELETE included.
func tf(route, name, path, body string, want int) goldenCase {
	return goldenCase{route: route, name: name, as: "admin", path: path, body: body, want: want,
		header: map[string]string{"Accept": "application/json", "Content-Type": "application/json", "User-Agent": "terraform-provider-dbtcloud/1.6.0"}}
}
