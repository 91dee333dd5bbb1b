package catalog_test

import (
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/catalog"
)

func grant(set string, project int64, envs ...latchkey.EnvCategory) latchkey.Grant {
	return latchkey.Grant{PermissionSet: set, AllProjects: project == 0, ProjectID: project, WritableEnvs: envs}
}

func TestCompileDecide(t *testing.T) {
	const a, b = 1, 2
	type q struct {
		res     latchkey.Resource
		want    latchkey.Access
		project int64
		env     latchkey.EnvCategory
		allowed bool
	}
	tests := []struct {
		name    string
		license latchkey.License
		grants  []latchkey.Grant
		qs      []q
	}{
		{"job_admin on A", "", []latchkey.Grant{grant("job_admin", a)}, []q{
			{latchkey.ResJobs, latchkey.AccessWrite, a, "", true},
			{latchkey.ResJobs, latchkey.AccessRead, b, "", false},
			{latchkey.ResJobs, latchkey.AccessRead, 0, "", false},
			// account-level resources of a project grant apply account-wide
			{latchkey.ResConnections, latchkey.AccessRead, 0, "", true},
			{latchkey.ResServiceTokens, latchkey.AccessRead, 0, "", false},
		}},
		{"developer raised in production", "", []latchkey.Grant{grant("developer", 0, latchkey.EnvProduction)}, []q{
			{latchkey.ResJobs, latchkey.AccessRead, a, "", true},
			{latchkey.ResJobs, latchkey.AccessWrite, a, latchkey.EnvProduction, true},
			{latchkey.ResRuns, latchkey.AccessWrite, b, latchkey.EnvProduction, true},
			{latchkey.ResJobs, latchkey.AccessWrite, a, latchkey.EnvStaging, false},
			{latchkey.ResJobs, latchkey.AccessWrite, a, "", false},
			// only R* cells are raised
			{latchkey.ResEnvironments, latchkey.AccessWrite, a, latchkey.EnvProduction, false},
		}},
		{"developer raised everywhere", "", []latchkey.Grant{grant("developer", a, latchkey.EnvAll)}, []q{
			{latchkey.ResJobs, latchkey.AccessWrite, a, latchkey.EnvStaging, true},
			{latchkey.ResJobs, latchkey.AccessWrite, a, "", true},
			{latchkey.ResJobs, latchkey.AccessWrite, b, latchkey.EnvStaging, false},
		}},
		{"developer without raise", "", []latchkey.Grant{grant("developer", 0)}, []q{
			{latchkey.ResJobs, latchkey.AccessWrite, a, latchkey.EnvProduction, false},
		}},
		{"union of grants takes the maximum", "", []latchkey.Grant{grant("job_viewer", 0), grant("job_admin", b)}, []q{
			{latchkey.ResJobs, latchkey.AccessRead, a, "", true},
			{latchkey.ResJobs, latchkey.AccessWrite, a, "", false},
			{latchkey.ResJobs, latchkey.AccessWrite, b, "", true},
		}},
		{"read_only license ignores groups", latchkey.LicenseReadOnly, []latchkey.Grant{grant("account_admin", 0)}, []q{
			{latchkey.ResProjects, latchkey.AccessRead, a, "", true},
			{latchkey.ResProjects, latchkey.AccessWrite, a, "", false},
			{latchkey.ResServiceTokens, latchkey.AccessWrite, 0, "", false},
			{latchkey.ResAccountSettings, latchkey.AccessWrite, 0, "", false},
		}},
		{"it license", latchkey.LicenseIT, nil, []q{
			{latchkey.ResIPRestrictions, latchkey.AccessWrite, 0, "", true},
			{latchkey.ResBilling, latchkey.AccessWrite, 0, "", true},
			{latchkey.ResConnections, latchkey.AccessWrite, 0, "", true},
			{latchkey.ResServiceTokens, latchkey.AccessRead, 0, "", true},
			{latchkey.ResServiceTokens, latchkey.AccessWrite, 0, "", false},
			{latchkey.ResJobs, latchkey.AccessRead, a, "", false},
		}},
		{"alias owner", "", []latchkey.Grant{grant("owner", 0)}, []q{
			{latchkey.ResServiceTokens, latchkey.AccessWrite, 0, "", true},
			{latchkey.ResJobs, latchkey.AccessWrite, b, "", true},
		}},
		{"deleted grants give nothing", "", []latchkey.Grant{{PermissionSet: "account_admin", AllProjects: true, State: latchkey.StateDeleted}}, []q{
			{latchkey.ResProjects, latchkey.AccessRead, a, "", false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := catalog.Compile(tt.license, tt.grants)
			for _, q := range tt.qs {
				d := p.Decide(q.res, q.want, q.project, q.env)
				if d.Allowed != q.allowed {
					t.Errorf("Decide(%s, %s, %d, %q) = %v, want %v (%s)", q.res, q.want, q.project, q.env, d.Allowed, q.allowed, d.Reason())
				}
				if !d.Allowed && d.Reason() == "" {
					t.Errorf("Decide(%s, %s, %d, %q).Reason() is empty", q.res, q.want, q.project, q.env)
				}
			}
		})
	}
}

func TestDecisionReason(t *testing.T) {
	p := catalog.Compile("", []latchkey.Grant{grant("job_viewer", 1)})
	tests := []struct {
		d    latchkey.Decision
		want string
	}{
		{p.Decide(latchkey.ResServiceTokens, latchkey.AccessWrite, 0, ""), "requires service_tokens:write"},
		{p.Decide(latchkey.ResJobs, latchkey.AccessWrite, 3, ""), "requires jobs:write on project 3"},
		{p.Decide(latchkey.ResJobs, latchkey.AccessWrite, 3, latchkey.EnvProduction), "requires jobs:write on project 3 in production environments"},
		{p.Decide(latchkey.ResJobs, latchkey.AccessRead, 1, ""), ""},
	}
	for _, tt := range tests {
		if got := tt.d.Reason(); got != tt.want {
			t.Errorf("Reason() = %q, want %q", got, tt.want)
		}
	}
}

func TestCheckEscalation(t *testing.T) {
	const a, b = 1, 2
	tests := []struct {
		name    string
		granter []latchkey.Grant
		license latchkey.License
		g       latchkey.Grant
		ok      bool
	}{
		{"admin grants anything", []latchkey.Grant{grant("account_admin", 0)}, "", grant("job_admin", a), true},
		{"admin grants raise", []latchkey.Grant{grant("account_admin", 0)}, "", grant("developer", 0, latchkey.EnvAll), true},
		{"job_admin on A grants job_viewer on A", []latchkey.Grant{grant("job_admin", a)}, "", grant("job_viewer", a), true},
		{"job_admin on A cannot grant on B", []latchkey.Grant{grant("job_admin", a)}, "", grant("job_viewer", b), false},
		{"project grant does not cover all projects", []latchkey.Grant{grant("job_admin", a), grant("job_admin", b)}, "", grant("job_viewer", 0), false},
		{"metadata_only cannot grant job_admin", []latchkey.Grant{grant("metadata_only", 0)}, "", grant("job_admin", a), false},
		{"security_admin cannot grant account_admin", []latchkey.Grant{grant("security_admin", 0)}, "", grant("account_admin", 0), false},
		{"same set is fine", []latchkey.Grant{grant("developer", 0, latchkey.EnvProduction)}, "", grant("developer", a, latchkey.EnvProduction), true},
		{"wider raise refused", []latchkey.Grant{grant("developer", 0, latchkey.EnvProduction)}, "", grant("developer", a, latchkey.EnvStaging), false},
		{"raise all refused without all", []latchkey.Grant{grant("developer", 0, latchkey.EnvProduction, latchkey.EnvStaging)}, "", grant("developer", a, latchkey.EnvAll), false},
		{"read_only license cannot grant", []latchkey.Grant{grant("account_admin", 0)}, latchkey.LicenseReadOnly, grant("job_viewer", a), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := catalog.Compile(tt.license, tt.granter)
			err := catalog.CheckEscalation(p, tt.g)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckEscalation(%+v) = %v, want ok=%v", tt.g, err, tt.ok)
			}
			if err != nil && latchkey.ErrorCodeOf(err) != latchkey.EForbidden {
				t.Errorf("CheckEscalation code = %s, want forbidden", latchkey.ErrorCodeOf(err))
			}
		})
	}
}

func TestValidateGrant(t *testing.T) {
	tests := []struct {
		g     latchkey.Grant
		field string
	}{
		{grant("job_admin", 1), ""},
		{grant("developer", 0, latchkey.EnvProduction), ""},
		{grant("job_admin", 0, latchkey.EnvProduction), "writable_environment_categories"},
		{grant("developer", 0, "qa"), "writable_environment_categories"},
		{latchkey.Grant{PermissionSet: "job_admin"}, "project_id"},
		{latchkey.Grant{PermissionSet: "job_admin", AllProjects: true, ProjectID: 3}, "project_id"},
		{grant("scim_only", 0), "permission_set"},
	}
	for _, tt := range tests {
		err := catalog.ValidateGrant(tt.g)
		var field string
		if e, ok := err.(*latchkey.Error); ok {
			field = e.Field
		} else if err != nil {
			t.Fatalf("ValidateGrant(%+v) = %T, want *latchkey.Error", tt.g, err)
		}
		if field != tt.field {
			t.Errorf("ValidateGrant(%+v) field = %q, want %q (%v)", tt.g, field, tt.field, err)
		}
	}
}

func TestDecideDoesNotAllocate(t *testing.T) {
	p := catalog.Compile("", []latchkey.Grant{grant("job_admin", 1), grant("developer", 5, latchkey.EnvProduction)})
	n := testing.AllocsPerRun(100, func() {
		p.Decide(latchkey.ResJobs, latchkey.AccessWrite, 5, latchkey.EnvProduction)
	})
	if n != 0 {
		t.Errorf("Decide allocs = %v, want 0", n)
	}
}

func TestGap(t *testing.T) {
	p := func(license latchkey.License, grants ...latchkey.Grant) *latchkey.Permissions {
		return catalog.Compile(license, grants)
	}
	all := func(set string, envs ...latchkey.EnvCategory) latchkey.Grant {
		return latchkey.Grant{PermissionSet: set, AllProjects: true, WritableEnvs: envs}
	}
	on := func(set string, project int64, envs ...latchkey.EnvCategory) latchkey.Grant {
		return latchkey.Grant{PermissionSet: set, ProjectID: project, WritableEnvs: envs}
	}
	tests := []struct {
		name       string
		have, want *latchkey.Permissions
		missing    bool
		permission string
	}{
		{"admin covers security admin", p("", all("account_admin")), p("", all("security_admin")), false, ""},
		{"security admin lacks account admin", p("", all("security_admin")), p("", all("account_admin")), true, "account_settings:write"},
		{"all projects cover one", p("", all("job_admin")), p("", on("job_admin", 3)), false, ""},
		{"one project does not cover all", p("", on("job_admin", 3)), p("", all("job_admin")), true, "environment_credentials:write"},
		{"one project does not cover another", p("", on("job_admin", 3)), p("", on("job_admin", 4)), true, "environment_credentials:write"},
		{"read_only license is stakeholder everywhere", p("", all("stakeholder")), p(latchkey.LicenseReadOnly), false, ""},
		{"security admin lacks what read_only gives", p("", all("security_admin")), p(latchkey.LicenseReadOnly), true, "connections:read"},
		{"it license", p("", all("security_admin"), all("billing_admin")), p(latchkey.LicenseIT), true, "connections:write"},
		{"writable environments covered", p("", all("developer", latchkey.EnvAll)), p("", on("developer", 3, latchkey.EnvProduction)), false, ""},
		{"writable environments missing", p("", all("developer", latchkey.EnvDevelopment)), p("", on("developer", 3, latchkey.EnvProduction)), true, "jobs:write"},
		{"nothing covers nothing", p(""), p(""), false, ""},
	}
	for _, tt := range tests {
		d, missing := catalog.Gap(tt.have, tt.want)
		if missing != tt.missing || missing && d.Permission() != tt.permission {
			t.Errorf("%s: Gap = %v %q, want %v %q", tt.name, missing, d.Permission(), tt.missing, tt.permission)
		}
	}
}
