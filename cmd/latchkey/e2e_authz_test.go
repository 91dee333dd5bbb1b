package main

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

// Principals of the authorization matrix, one of each kind issue 2 names. Their effective access
// on the resources the admin API checks, from reference/permission-matrix.csv and SPEC §1:
//
//	principal                      groups licenses members project_create service_tokens projects
//	account_admin token            W      W        W       W              W              W (all)
//	security_admin token           W      W        W       -              R              R (all)
//	account_viewer token           R      R        R       -              R              R (all)
//	job_admin token on project A   -      R        -       -              -              R (A only)
//	metadata_only token            -      -        -       -              -              -
//	semantic_layer_only token      -      -        -       -              -              -
//	developer token (production)   R      R        R       -              -              R (all)
//	read_only user in Owner (PAT)  R      -        R       -              -              R (all)  (stakeholder)
//	it user (PAT)                  W      W        W       -              R              R (all)  (security_admin + billing_admin)
const (
	pAccountAdmin = "account_admin"
	pSecAdmin     = "security_admin"
	pViewer       = "account_viewer"
	pJobAdminA    = "job_admin@A"
	pMetadata     = "metadata_only"
	pSemantic     = "semantic_layer_only"
	pDevProd      = "developer+production"
	pReadOnly     = "read_only@Owner"
	pIT           = "it"
)

// principalOrder is the order subtests run in, the most privileged last so that a row's denials
// run before its one allowed mutation.
var principalOrder = []string{pSecAdmin, pViewer, pJobAdminA, pMetadata, pSemantic, pDevProd, pReadOnly, pIT, pAccountAdmin}

// userPrincipals are the principals that are users (PATs); the others are service tokens.
var userPrincipals = []string{pReadOnly, pIT}

// want maps principals to the status a request must get.
type want map[string]int

// all expects status for every principal.
func all(status int) want {
	w := want{}
	for _, p := range principalOrder {
		w[p] = status
	}
	return w
}

// users expects status for the user principals only (rows about one's own PATs).
func users(status int) want {
	w := want{}
	for _, p := range userPrincipals {
		w[p] = status
	}
	return w
}

// but overrides the status for some principals.
func (w want) but(status int, principals ...string) want {
	out := want{}
	for k, v := range w {
		out[k] = v
	}
	for _, p := range principals {
		out[p] = status
	}
	return out
}

// matrixPrincipal is one principal of the matrix with the ids its templates expand to.
type matrixPrincipal struct {
	c    *client.Client
	vars map[string]string
}

// authzFixture is the account the matrix runs against.
type authzFixture struct {
	ts         *testServer
	principals map[string]*matrixPrincipal
	vars       map[string]string
	projA      int64
	projB      int64
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

// newAuthzFixture starts an enterprise server with projects A and B and one principal of each
// kind, each with its own victims for destructive requests (so the table's rows do not depend
// on each other).
func newAuthzFixture(t *testing.T) *authzFixture {
	t.Helper()
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	f := &authzFixture{ts: ts, principals: map[string]*matrixPrincipal{}}
	f.projA, f.projB = ts.project(t, "A"), ts.project(t, "B")
	adminUser := ts.adminUserID(t)
	target, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "target",
		PermissionGrants: []apitype.Grant{client.GrantOn("metadata_only", 0)}})
	if err != nil {
		t.Fatal(err)
	}
	victimUser := ts.passwordlessUser(t, "victim@example.com", "developer", []int64{ts.groupID(t, "Everyone")})
	f.vars = map[string]string{
		"{a}": itoa(ts.AccountID), "{A}": itoa(f.projA), "{B}": itoa(f.projB), "{adminUser}": itoa(adminUser),
		"{targetToken}": itoa(target.ID), "{targetGroup}": itoa(ts.group(t, "target-group")),
		"{everyone}": itoa(ts.groupID(t, "Everyone")), "{victimUser}": itoa(victimUser.ID),
		"{victimMembership}": itoa(ts.membershipID(t, victimUser.ID)),
	}

	tokens := map[string][]apitype.Grant{
		pAccountAdmin: {client.GrantOn("account_admin", 0)},
		pSecAdmin:     {client.GrantOn("security_admin", 0)},
		pViewer:       {client.GrantOn("account_viewer", 0)},
		pJobAdminA:    {client.GrantOn("job_admin", f.projA)},
		pMetadata:     {client.GrantOn("metadata_only", 0)},
		pSemantic:     {client.GrantOn("semantic_layer_only", 0)},
		pDevProd:      {client.GrantOn("developer", 0, "production")},
	}
	for name, grants := range tokens {
		c, _ := ts.serviceToken(t, "principal "+name, grants...)
		f.principals[name] = &matrixPrincipal{c: c, vars: map[string]string{}}
	}
	roClient, roUser := ts.user(t, "readonly@example.com", "read_only", []int64{ts.groupID(t, "Owner")})
	f.principals[pReadOnly] = &matrixPrincipal{c: roClient, vars: map[string]string{"{self}": itoa(roUser.ID)}}
	itClient, itUser := ts.user(t, "it@example.com", "it", nil)
	f.principals[pIT] = &matrixPrincipal{c: itClient, vars: map[string]string{"{self}": itoa(itUser.ID)}}

	for _, name := range principalOrder {
		p := f.principals[name]
		v := p.vars
		v["{who}"] = strings.NewReplacer("@", "-", "+", "-").Replace(name)
		v["{victimProject}"] = itoa(ts.project(t, "victim of "+name))
		_, tok := ts.serviceToken(t, "victim of "+name, client.GrantOn("metadata_only", 0))
		v["{victimToken}"] = itoa(tok.ID)
		_, tok = ts.serviceToken(t, "rotated by "+name, client.GrantOn("metadata_only", 0))
		v["{rotateToken}"] = itoa(tok.ID)
		_, tok = ts.serviceToken(t, "two-step for "+name)
		v["{twoStepToken}"] = itoa(tok.ID)
		v["{victimGroup}"] = itoa(ts.group(t, "victim of "+name))
		pat, err := ts.Admin.CreatePAT(ctx, ts.AccountID, adminUser, "victim of "+name)
		if err != nil {
			t.Fatal(err)
		}
		v["{victimPAT}"] = itoa(pat.ID)
		if v["{self}"] != "" {
			self, _ := strconv.ParseInt(v["{self}"], 10, 64)
			for _, k := range []string{"{selfRotatePAT}", "{selfDeletePAT}"} {
				pat, err := p.c.CreatePAT(ctx, ts.AccountID, self, "spare")
				if err != nil {
					t.Fatalf("%s creating a spare PAT: %v", name, err)
				}
				v[k] = itoa(pat.ID)
			}
		}
	}
	return f
}

// expand replaces the {placeholders} of s for principal p.
func (f *authzFixture) expand(s string, p *matrixPrincipal) string {
	for k, v := range p.vars {
		s = strings.ReplaceAll(s, k, v)
	}
	for k, v := range f.vars {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// expandBody expands placeholders in a JSON-ish body built from maps, slices and strings;
// placeholder strings that expand to integers become numbers.
func (f *authzFixture) expandBody(b any, p *matrixPrincipal) any {
	switch x := b.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, v := range x {
			out[k] = f.expandBody(v, p)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = f.expandBody(v, p)
		}
		return out
	case string:
		s := f.expand(x, p)
		if strings.HasPrefix(x, "{") && strings.HasSuffix(x, "}") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
		}
		return s
	}
	return b
}

// TestAuthzMatrix calls every admin-API endpoint of issue 2's scope as each kind of principal
// and checks the status (and, for 403s, that the message names the missing permission).
func TestAuthzMatrix(t *testing.T) {
	f := newAuthzFixture(t)
	const v3 = "/api/v3/accounts/{a}"
	readers := []string{pAccountAdmin, pSecAdmin, pViewer, pDevProd, pReadOnly, pIT} // groups:read, members:read
	tokenReaders := []string{pAccountAdmin, pSecAdmin, pViewer, pIT}                 // service_tokens:read
	adminWriters := []string{pAccountAdmin, pSecAdmin, pIT}                          // groups, members and licenses write
	cases := []struct {
		method, path string
		body         any
		want         want
		// msg must appear in the user_message of every 403.
		msg string
	}{
		// Accounts and the caller: any principal of the account.
		{"GET", "/api/v2/accounts/", nil, all(200), ""},
		{"GET", "/api/v2/accounts/{a}/", nil, all(200), ""},
		{"GET", "/api/v3/accounts/{a}/", nil, all(200), ""},
		{"GET", "/api/v2/whoami/", nil, all(200), ""},

		// Projects: project_create:write to create; projects:read/write on the project.
		{"GET", v3 + "/projects/", nil, all(200).but(403, pMetadata, pSemantic), "requires projects:read"},
		{"POST", v3 + "/projects/", map[string]any{"name": "new {who}"}, all(403).but(201, pAccountAdmin), "requires project_create:write"},
		{"GET", v3 + "/projects/{A}/", nil, all(200).but(404, pMetadata, pSemantic), ""},
		{"GET", v3 + "/projects/{B}/", nil, all(200).but(404, pJobAdminA, pMetadata, pSemantic), ""},
		{"POST", v3 + "/projects/{A}/", map[string]any{"name": "A"}, all(403).but(200, pAccountAdmin).but(404, pMetadata, pSemantic),
			"requires projects:write on project {A}"},
		{"PUT", v3 + "/projects/{B}/", map[string]any{"description": "b"}, all(403).but(200, pAccountAdmin).but(404, pJobAdminA, pMetadata, pSemantic),
			"requires projects:write on project {B}"},
		{"DELETE", v3 + "/projects/{victimProject}/", nil, all(403).but(200, pAccountAdmin).but(404, pJobAdminA, pMetadata, pSemantic),
			"requires projects:write"},

		// Service tokens: service_tokens:read / write.
		{"GET", v3 + "/service-tokens/", nil, all(403).but(200, tokenReaders...), "requires service_tokens:read"},
		{"POST", v3 + "/service-tokens/", map[string]any{"name": "made by {who}", "permission_grants": []any{}},
			all(403).but(201, pAccountAdmin), "requires service_tokens:write"},
		{"GET", v3 + "/service-tokens/{targetToken}/", nil, all(403).but(200, tokenReaders...), "requires service_tokens:read"},
		{"PUT", v3 + "/service-tokens/{targetToken}/", map[string]any{"name": "target"}, all(403).but(200, pAccountAdmin), "requires service_tokens:write"},
		{"POST", v3 + "/service-tokens/{targetToken}/", map[string]any{"name": "target"}, all(403).but(200, pAccountAdmin), "requires service_tokens:write"},
		{"DELETE", v3 + "/service-tokens/{victimToken}/", nil, all(403).but(200, pAccountAdmin), "requires service_tokens:write"},
		{"GET", v3 + "/service-tokens/{targetToken}/permissions/", nil, all(403).but(200, tokenReaders...), "requires service_tokens:read"},
		{"POST", v3 + "/service-tokens/{twoStepToken}/permissions/",
			[]any{map[string]any{"account_id": "{a}", "service_token_id": "{twoStepToken}", "permission_set": "metadata_only", "all_projects": true}},
			all(403).but(200, pAccountAdmin), "requires service_tokens:write"},
		{"PUT", v3 + "/service-tokens/{targetToken}/permissions/", []any{map[string]any{"permission_set": "metadata_only", "all_projects": true}},
			all(403).but(200, pAccountAdmin), "requires service_tokens:write"},
		{"POST", v3 + "/service-tokens/{rotateToken}/rotate/", map[string]any{"grace_period_seconds": 0}, all(403).but(201, pAccountAdmin),
			"requires service_tokens:write"},

		// Another user's PATs: the user themself, or members:write to list, read and delete.
		{"GET", v3 + "/users/{adminUser}/account-apikeys/", nil, all(403).but(200, adminWriters...), "members:write"},
		{"POST", v3 + "/users/{adminUser}/account-apikeys/", map[string]any{"name": "not mine"}, all(403), ""},
		{"GET", v3 + "/users/{adminUser}/account-apikeys/{victimPAT}/", nil, all(403).but(200, adminWriters...), "members:write"},
		{"POST", v3 + "/users/{adminUser}/account-apikeys/{victimPAT}/", map[string]any{}, all(403), ""},
		// Deleting someone's PAT needs members:write and holding what they hold: the security
		// admin and IT may not touch an account admin's tokens.
		{"DELETE", v3 + "/users/{adminUser}/account-apikeys/{victimPAT}/", nil, all(403).but(200, pAccountAdmin), ""},
		// One's own PATs: any user, whatever the license.
		{"GET", v3 + "/users/{self}/account-apikeys/", nil, users(200), ""},
		{"POST", v3 + "/users/{self}/account-apikeys/", map[string]any{"name": "another"}, users(201), ""},
		{"GET", v3 + "/users/{self}/account-apikeys/{selfRotatePAT}/", nil, users(200), ""},
		{"POST", v3 + "/users/{self}/account-apikeys/{selfRotatePAT}/", map[string]any{}, users(201), ""},
		{"DELETE", v3 + "/users/{self}/account-apikeys/{selfDeletePAT}/", nil, users(200), ""},

		// Groups: groups:read / write.
		{"GET", v3 + "/groups/", nil, all(403).but(200, readers...), "requires groups:read"},
		{"POST", v3 + "/groups/", map[string]any{"name": "made by {who}"}, all(403).but(201, adminWriters...), "requires groups:write"},
		{"GET", v3 + "/groups/{targetGroup}/", nil, all(403).but(200, readers...), "requires groups:read"},
		{"POST", v3 + "/groups/{targetGroup}/", map[string]any{"name": "target-group"}, all(403).but(200, adminWriters...), "requires groups:write"},
		{"PUT", v3 + "/groups/{targetGroup}/", map[string]any{"assign_by_default": false}, all(403).but(200, adminWriters...), "requires groups:write"},
		{"DELETE", v3 + "/groups/{victimGroup}/", nil, all(403).but(200, adminWriters...), "requires groups:write"},
		{"POST", v3 + "/group-permissions/{targetGroup}/", []any{map[string]any{"permission_set": "security_admin", "all_projects": true}},
			all(403).but(200, adminWriters...), "requires groups:write"},
		{"POST", v3 + "/assign-groups/", map[string]any{"user_id": "{victimUser}", "desired_group_ids": []any{"{everyone}"}},
			all(403).but(200, adminWriters...), "requires groups:write"},

		// Users and licenses: members:read; adding a user needs members:write and licenses:write;
		// licenses:write changes a license.
		{"GET", v3 + "/users/", nil, all(403).but(200, readers...), "requires members:read"},
		{"GET", v3 + "/users/{adminUser}/", nil, all(403).but(200, readers...), "requires members:read"},
		{"POST", v3 + "/users/", map[string]any{"email": "{who}@new.example.com", "license_type": "developer", "group_ids": []any{"{everyone}"}},
			all(403).but(201, adminWriters...), "requires members:write"},
		{"POST", "/api/v2/accounts/{a}/permissions/{victimMembership}/", map[string]any{"license_type": "developer"},
			all(403).but(200, adminWriters...), "requires licenses:write"},
	}
	for _, tc := range cases {
		for _, name := range principalOrder {
			status, ok := tc.want[name]
			if !ok {
				continue
			}
			p := f.principals[name]
			path := f.expand(tc.path, p)
			t.Run(name+"/"+tc.method+" "+tc.path, func(t *testing.T) {
				var body any
				if tc.body != nil {
					body = f.expandBody(tc.body, p)
				}
				got, ae := call(p.c, tc.method, path, body)
				if got != status {
					msg := ""
					if ae != nil {
						msg = ae.Message
					}
					t.Fatalf("%s %s as %s = %d (%s), want %d", tc.method, path, name, got, msg, status)
				}
				if status == http.StatusForbidden && tc.msg != "" {
					if want := f.expand(tc.msg, p); !strings.Contains(ae.Message, want) {
						t.Errorf("%s %s as %s: user_message %q, want it to name %q", tc.method, path, name, ae.Message, want)
					}
				}
			})
		}
	}

	// Lists are filtered to what the principal may read.
	t.Run("project list filtered", func(t *testing.T) {
		ctx := context.Background()
		projects, total, err := f.principals[pJobAdminA].c.Projects(ctx, f.ts.AccountID, client.ListOptions{})
		if err != nil || len(projects) != 1 || projects[0].ID != f.projA || total != 1 {
			t.Errorf("Projects() as job_admin on A = %+v (total %d), %v; want only project %d", projects, total, err, f.projA)
		}
		projects, _, err = f.principals[pViewer].c.Projects(ctx, f.ts.AccountID, client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, p := range projects {
			ids = append(ids, p.ID)
		}
		if !slices.Contains(ids, f.projA) || !slices.Contains(ids, f.projB) {
			t.Errorf("Projects() as account_viewer = %v, want A (%d) and B (%d) among them", ids, f.projA, f.projB)
		}
	})

	// whoami tells each principal who it is.
	t.Run("whoami kinds", func(t *testing.T) {
		for _, name := range principalOrder {
			w, err := f.principals[name].c.Whoami(context.Background())
			if err != nil {
				t.Fatalf("Whoami() as %s: %v", name, err)
			}
			wantKind, wantLicense := "service_token", ""
			switch name {
			case pReadOnly:
				wantKind, wantLicense = "user", "read_only"
			case pIT:
				wantKind, wantLicense = "user", "it"
			}
			if w.Kind != wantKind || w.LicenseType != wantLicense || w.AccountID != f.ts.AccountID {
				t.Errorf("Whoami() as %s = kind %q license %q account %d, want %q %q %d", name, w.Kind, w.LicenseType, w.AccountID,
					wantKind, wantLicense, f.ts.AccountID)
			}
		}
	})

	// A token from another account sees none of this one.
	t.Run("other account", func(t *testing.T) {
		other, otherAdmin := f.ts.addAccount(t, "Other", "enterprise")
		for _, path := range []string{"/api/v2/accounts/{a}/", "/api/v3/accounts/{a}/projects/", "/api/v3/accounts/{a}/service-tokens/",
			"/api/v3/accounts/{a}/groups/", "/api/v3/accounts/{a}/users/"} {
			path = strings.ReplaceAll(path, "{a}", itoa(f.ts.AccountID))
			got, ae := call(otherAdmin, http.MethodGet, path, nil)
			if got != http.StatusNotFound {
				t.Errorf("GET %s with account %d's admin token = %d (%v), want 404", path, other, got, ae)
			}
		}
		accounts, err := f.principals[pAccountAdmin].c.Accounts(context.Background())
		if err != nil || len(accounts) != 1 || accounts[0].ID != f.ts.AccountID {
			t.Errorf("Accounts() as a service token = %+v, %v; want only its own account", accounts, err)
		}
	})
}

// TestAuthzPlanRules checks which permission sets each plan lets a service token hold, in both
// creation styles, and that a refusal names the set and the plan.
func TestAuthzPlanRules(t *testing.T) {
	for _, tc := range []struct {
		plan    string
		allowed []string
		refused []string
	}{
		{"starter", []string{"semantic_layer_only"}, []string{"metadata_only", "job_admin", "account_admin", "account_viewer"}},
		{"team", []string{"job_admin", "owner", "readonly", "metadata_only", "semantic_layer_only", "billing_admin", "member"},
			[]string{"security_admin", "account_viewer", "developer"}},
		{"enterprise", []string{"security_admin", "cost_management_admin", "developer"}, []string{"fusion_admin"}},
	} {
		t.Run(tc.plan, func(t *testing.T) {
			ts := startServer(t, tc.plan)
			ctx := context.Background()
			for _, set := range tc.allowed {
				tok, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: set,
					PermissionGrants: []apitype.Grant{client.GrantOn(set, 0)}})
				if err != nil {
					t.Errorf("CreateServiceToken(%s) on %s = %v, want success", set, tc.plan, err)
				} else if len(tok.PermissionGrants) != 1 {
					t.Errorf("CreateServiceToken(%s) on %s gave grants %+v", set, tc.plan, tok.PermissionGrants)
				}
			}
			twoStep, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "two-step"})
			if err != nil {
				t.Fatal(err)
			}
			for _, set := range tc.refused {
				_, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: set,
					PermissionGrants: []apitype.Grant{client.GrantOn(set, 0)}})
				ae := wantAPIError(t, "CreateServiceToken("+set+") on "+tc.plan, err, http.StatusBadRequest, set, tc.plan)
				if ae.Field != "permission_set" {
					t.Errorf("CreateServiceToken(%s) on %s: data.field = %q, want permission_set", set, tc.plan, ae.Field)
				}
				_, err = ts.Admin.Do(ctx, http.MethodPost, pathf("/api/v3/accounts/%d/service-tokens/%d/permissions/", ts.AccountID, twoStep.ID),
					[]map[string]any{{"account_id": ts.AccountID, "service_token_id": twoStep.ID, "permission_set": set, "all_projects": true}}, nil)
				wantAPIError(t, "two-step permissions("+set+") on "+tc.plan, err, http.StatusBadRequest, set, tc.plan)
			}
			// A refused grant leaves nothing behind: the two-step token still has no grants.
			got, err := ts.Admin.ServiceToken(ctx, ts.AccountID, twoStep.ID)
			if err != nil || len(got.PermissionGrants) != 0 {
				t.Errorf("two-step token after refusals = %+v, %v; want no grants", got.PermissionGrants, err)
			}
			// scim_only is known but unsupported on every plan.
			_, err = ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "scim",
				PermissionGrants: []apitype.Grant{client.GrantOn("scim_only", 0)}})
			wantAPIError(t, "CreateServiceToken(scim_only) on "+tc.plan, err, http.StatusBadRequest)
			// Plans restrict service tokens, not groups.
			if _, err := ts.Admin.CreateGroup(ctx, ts.AccountID, "jobs", []apitype.Grant{client.GrantOn("job_admin", 0)}); err != nil {
				t.Errorf("CreateGroup(job_admin) on %s = %v, want success", tc.plan, err)
			}
		})
	}
}

// TestAuthzNoEscalation checks that principals who may hand out grants (groups, group
// memberships, licenses, service tokens) can only hand out what they hold, with 403s that
// leave nothing changed.
func TestAuthzNoEscalation(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	a, b := ts.project(t, "A"), ts.project(t, "B")
	owner, everyone, member := ts.groupID(t, "Owner"), ts.groupID(t, "Everyone"), ts.groupID(t, "Member")
	secJobA := ts.group(t, "security admins with jobs on A", client.GrantOn("security_admin", 0), client.GrantOn("job_admin", a))
	// A developer in a group with security_admin (and job_admin on A), and an it user.
	secdev, _ := ts.user(t, "secdev@example.com", "developer", []int64{secJobA, everyone})
	it, itUser := ts.user(t, "it@example.com", "it", []int64{everyone})
	victim := ts.passwordlessUser(t, "victim@example.com", "developer", []int64{everyone})
	victimMembership := ts.membershipID(t, victim.ID)
	acct := pathf("/api/v3/accounts/%d", ts.AccountID)

	grant := func(set string, project int64) []map[string]any {
		g := map[string]any{"permission_set": set}
		if project != 0 {
			g["project_id"] = project
		} else {
			g["all_projects"] = true
		}
		return []map[string]any{g}
	}
	for _, who := range []struct {
		name string
		c    *client.Client
	}{{"developer in security_admin group", secdev}, {"it user", it}} {
		t.Run(who.name, func(t *testing.T) {
			c := who.c
			// Allowed: grants it holds.
			var g apitype.Group
			mustDo(t, c, http.MethodPost, acct+"/groups/", map[string]any{"name": "plain by " + who.name}, &g)
			mustDo(t, c, http.MethodPost, acct+"/groups/", map[string]any{"name": "sec by " + who.name,
				"group_permissions": grant("security_admin", 0)}, nil)
			mustDo(t, c, http.MethodPost, acct+"/assign-groups/", map[string]any{"user_id": victim.ID, "desired_group_ids": []int64{everyone, g.ID}}, nil)
			// Refused: account_admin, in every way a group can get it or a user can join it.
			for _, tc := range []struct {
				what, method, path string
				body               any
			}{
				{"create a group granting account_admin", http.MethodPost, acct + "/groups/",
					map[string]any{"name": "admins by " + who.name, "group_permissions": grant("account_admin", 0)}},
				{"create a group granting owner (alias)", http.MethodPost, acct + "/groups/",
					map[string]any{"name": "owners by " + who.name, "group_permissions": grant("owner", 0)}},
				{"replace a group's grants with account_admin", http.MethodPost, pathf("%s/group-permissions/%d/", acct, g.ID), grant("account_admin", 0)},
				{"update a group with account_admin", http.MethodPost, pathf("%s/groups/%d/", acct, g.ID),
					map[string]any{"group_permissions": grant("account_admin", 0)}},
				{"add a user to Owner", http.MethodPost, acct + "/assign-groups/",
					map[string]any{"user_id": victim.ID, "desired_group_ids": []int64{everyone, owner}}},
				{"add a user to Member", http.MethodPost, acct + "/assign-groups/",
					map[string]any{"user_id": victim.ID, "desired_group_ids": []int64{everyone, member}}},
				{"add a new user in Owner", http.MethodPost, acct + "/users/",
					map[string]any{"email": "new-owner@example.com", "license_type": "developer", "group_ids": []int64{owner}}},
				{"create a service token", http.MethodPost, acct + "/service-tokens/",
					map[string]any{"name": "mine", "permission_grants": grant("security_admin", 0)}},
			} {
				got, ae := call(c, tc.method, tc.path, tc.body)
				if got != http.StatusForbidden {
					t.Errorf("%s as %s = %d (%v), want 403", tc.what, who.name, got, ae)
				}
			}
			// Nothing changed: the victim is not in Owner, the target group holds no grants.
			var u apitype.User
			mustDo(t, ts.Admin, http.MethodGet, pathf("%s/users/%d/", acct, victim.ID), nil, &u)
			for _, gr := range u.Permissions[0].Groups {
				if gr.ID == owner || gr.ID == member {
					t.Errorf("after refusals the victim is in %s", gr.Name)
				}
			}
			mustDo(t, ts.Admin, http.MethodGet, pathf("%s/groups/%d/", acct, g.ID), nil, &g)
			if len(g.GroupPermissions) != 0 {
				t.Errorf("after refusals group %q holds %+v", g.Name, g.GroupPermissions)
			}
		})
	}

	t.Run("job_admin on A grants on A only", func(t *testing.T) {
		var g apitype.Group
		mustDo(t, secdev, http.MethodPost, acct+"/groups/", map[string]any{"name": "jobs on A", "group_permissions": grant("job_admin", a)}, &g)
		for _, tc := range []struct {
			what string
			body []map[string]any
			msg  string
		}{
			{"job_admin on B", grant("job_admin", b), pathf("cannot grant job_admin on project %d", b)},
			{"job_admin on all projects", grant("job_admin", 0), "cannot grant job_admin on all projects"},
		} {
			_, err := secdev.Do(ctx, http.MethodPost, pathf("%s/group-permissions/%d/", acct, g.ID), tc.body, nil)
			wantAPIError(t, "group-permissions "+tc.what, err, http.StatusForbidden, tc.msg)
		}
	})

	t.Run("it license", func(t *testing.T) {
		// security_admin alone does not hold billing_admin, which the it license carries.
		_, err := secdev.Do(ctx, http.MethodPost, pathf("/api/v2/accounts/%d/permissions/%d/", ts.AccountID, victimMembership),
			map[string]any{"license_type": "it"}, nil)
		wantAPIError(t, "developer with security_admin giving the it license", err, http.StatusForbidden, "billing")
		// An it user holds what the it license carries.
		mustDo(t, it, http.MethodPost, pathf("/api/v2/accounts/%d/permissions/%d/", ts.AccountID, victimMembership),
			map[string]any{"license_type": "it"}, nil)
		// Nobody changes their own license.
		_, err = it.Do(ctx, http.MethodPost, pathf("/api/v2/accounts/%d/permissions/%d/", ts.AccountID, ts.membershipID(t, itUser.ID)),
			map[string]any{"license_type": "developer"}, nil)
		wantAPIError(t, "it user changing their own license", err, http.StatusForbidden)
		// And an it user cannot put themself in Owner.
		_, err = it.Do(ctx, http.MethodPost, acct+"/assign-groups/", map[string]any{"user_id": itUser.ID, "desired_group_ids": []int64{everyone, owner}}, nil)
		wantAPIError(t, "it user joining Owner", err, http.StatusForbidden)
	})

	t.Run("Owner is immutable", func(t *testing.T) {
		// Not even an account admin can strip or rename Owner, or delete it.
		for _, tc := range []struct {
			what, method, path string
			body               any
		}{
			{"replace Owner's grants", http.MethodPost, pathf("%s/group-permissions/%d/", acct, owner), []any{}},
			{"update Owner's grants", http.MethodPost, pathf("%s/groups/%d/", acct, owner), map[string]any{"group_permissions": grant("job_admin", a)}},
			{"rename Owner", http.MethodPut, pathf("%s/groups/%d/", acct, owner), map[string]any{"name": "Owners"}},
			{"delete Owner", http.MethodDelete, pathf("%s/groups/%d/", acct, owner), nil},
		} {
			if got, ae := call(ts.Admin, tc.method, tc.path, tc.body); got != http.StatusBadRequest && got != http.StatusForbidden {
				t.Errorf("%s as the bootstrap admin = %d (%v), want 400 or 403", tc.what, got, ae)
			}
		}
		var g apitype.Group
		mustDo(t, ts.Admin, http.MethodGet, pathf("%s/groups/%d/", acct, owner), nil, &g)
		if g.Name != "Owner" || g.State != 1 || len(g.GroupPermissions) != 1 || g.GroupPermissions[0].PermissionSet != "account_admin" ||
			!g.GroupPermissions[0].AllProjects {
			t.Errorf("Owner after the attempts = %+v", g)
		}
	})

	t.Run("service tokens", func(t *testing.T) {
		// account_admin on project A: service_tokens:write (account-level, so account-wide) but
		// project-level access on A only.
		aaA, _ := ts.serviceToken(t, "account_admin on A", client.GrantOn("account_admin", a))
		onA, err := aaA.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "jobs on A",
			PermissionGrants: []apitype.Grant{client.GrantOn("job_admin", a), client.GrantOn("developer", a, "production")}})
		if err != nil {
			t.Fatalf("account_admin on A creating job_admin on A: %v", err)
		}
		for _, tc := range []struct {
			what   string
			grants []apitype.Grant
			msg    string
		}{
			{"job_admin on B", []apitype.Grant{client.GrantOn("job_admin", b)}, pathf("on project %d", b)},
			{"job_admin on all projects", []apitype.Grant{client.GrantOn("job_admin", 0)}, "on all projects"},
			{"account_admin on all projects", []apitype.Grant{client.GrantOn("account_admin", 0)}, "on all projects"},
			{"metadata_only on all projects", []apitype.Grant{client.GrantOn("metadata_only", 0)}, "metadata:read"},
		} {
			_, err := aaA.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: tc.what, PermissionGrants: tc.grants})
			ae := wantAPIError(t, "account_admin on A creating "+tc.what, err, http.StatusForbidden, "cannot grant", tc.msg)
			if ae.Field != "permission_set" {
				t.Errorf("escalation refusal: data.field = %q, want permission_set", ae.Field)
			}
			_, err = aaA.ReplaceServiceTokenPermissions(ctx, ts.AccountID, onA.ID, tc.grants)
			wantAPIError(t, "account_admin on A replacing grants with "+tc.what, err, http.StatusForbidden, "cannot grant")
		}
		// Rotating mints a successor with the same grants, so the rotator must hold them.
		_, onB := ts.serviceToken(t, "jobs on B", client.GrantOn("job_admin", b))
		_, err = aaA.RotateServiceToken(ctx, ts.AccountID, onB.ID, 0)
		wantAPIError(t, "account_admin on A rotating a token with job_admin on B", err, http.StatusForbidden)
		if _, err := aaA.RotateServiceToken(ctx, ts.AccountID, onA.ID, 0); err != nil {
			t.Errorf("account_admin on A rotating its own token: %v", err)
		}
		// A security_admin token may write groups but cannot hand out account_admin through one.
		sec, _ := ts.serviceToken(t, "security admin", client.GrantOn("security_admin", 0))
		_, err = sec.CreateGroup(ctx, ts.AccountID, "admins by token", []apitype.Grant{client.GrantOn("account_admin", 0)})
		wantAPIError(t, "security_admin token creating an account_admin group", err, http.StatusForbidden, "cannot grant account_admin")
		_, err = sec.AssignGroups(ctx, ts.AccountID, victim.ID, []int64{everyone, owner})
		wantAPIError(t, "security_admin token adding a user to Owner", err, http.StatusForbidden)
	})
}
