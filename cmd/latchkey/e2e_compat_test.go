package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/tokenfmt"
)

// TestCompatSurface checks the dbt-compatible shapes and behaviours that existing automation
// relies on (SPEC §3), on one server.
func TestCompatSurface(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	acct := pathf("/api/v3/accounts/%d", ts.AccountID)
	projectID := ts.project(t, "compat")
	_, tok := ts.serviceToken(t, "compat", client.GrantOn("metadata_only", 0))
	groupID := ts.group(t, "compat")
	adminUser := ts.adminUserID(t)

	t.Run("unknown body fields are ignored", func(t *testing.T) {
		extra := map[string]any{"description": "d", "type": 1, "docs_job_id": nil, "freshness_job_id": 7, "id": nil,
			"uid": "ignored", "state": 1, "account_id": ts.AccountID, "dbt_project_subdirectory": nil, "connection": map[string]any{"x": 1}}
		with := func(kv ...any) map[string]any {
			m := map[string]any{}
			for k, v := range extra {
				m[k] = v
			}
			for i := 0; i < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		}
		var p apitype.Project
		mustDo(t, ts.Admin, http.MethodPost, acct+"/projects/", with("name", "extra fields"), &p)
		if p.Name != "extra fields" || p.Description != "d" {
			t.Errorf("project created with extra fields = %+v", p)
		}
		var st apitype.Token
		mustDo(t, ts.Admin, http.MethodPost, acct+"/service-tokens/", with("name", "extra fields",
			"permission_grants", []any{map[string]any{"permission_set": "metadata_only", "all_projects": true, "id": nil, "state": 1, "uid": "x"}}), &st)
		if st.Name != "extra fields" || len(st.PermissionGrants) != 1 || st.TokenString == "" {
			t.Errorf("token created with extra fields = %+v", st)
		}
		var g apitype.Group
		mustDo(t, ts.Admin, http.MethodPost, acct+"/groups/", with("name", "extra fields", "sso_mapping_groups", []any{"x"}), &g)
		if g.Name != "extra fields" {
			t.Errorf("group created with extra fields = %+v", g)
		}
		// Updates get the whole object back, as clients re-send what they read.
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back map[string]any
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		back["name"] = "round trip"
		mustDo(t, ts.Admin, http.MethodPost, pathf("%s/projects/%d/", acct, p.ID), back, &p)
		if p.Name != "round trip" {
			t.Errorf("project updated with its own object = %+v", p)
		}
	})

	t.Run("unknown query parameters are ignored", func(t *testing.T) {
		for _, path := range []string{
			acct + `/projects/?include_related=["environments","connection"]&foo=bar`,
			acct + "/projects/?include_related=%5B%22environments%22%5D",
			acct + "/service-tokens/?include_related=[permissions]&order_by=name",
			pathf("%s/projects/%d/?include_related=[\"repository\"]", acct, projectID),
			acct + "/users/?include_related=[permissions,licenses]",
		} {
			if got, ae := call(ts.Admin, http.MethodGet, path, nil); got != http.StatusOK {
				t.Errorf("GET %s = %d (%v), want 200", path, got, ae)
			}
		}
	})

	t.Run("account_id in the body must match the path", func(t *testing.T) {
		other := ts.AccountID + 1000
		for _, tc := range []struct {
			method, path string
			body         any
		}{
			{"POST", acct + "/projects/", map[string]any{"name": "x", "account_id": other}},
			{"POST", pathf("%s/projects/%d/", acct, projectID), map[string]any{"name": "x", "account_id": other}},
			{"POST", acct + "/service-tokens/", map[string]any{"name": "x", "account_id": other, "state": 1}},
			{"PUT", pathf("%s/service-tokens/%d/", acct, tok.ID), map[string]any{"name": "x", "account_id": other}},
			{"PUT", pathf("%s/service-tokens/%d/permissions/", acct, tok.ID),
				[]any{map[string]any{"account_id": other, "permission_set": "metadata_only", "all_projects": true}}},
			{"POST", acct + "/groups/", map[string]any{"name": "x", "account_id": other}},
			{"POST", pathf("%s/groups/%d/", acct, groupID), map[string]any{"name": "x", "account_id": other}},
			{"POST", pathf("%s/users/%d/account-apikeys/", acct, adminUser), map[string]any{"name": "x", "account_id": other}},
			{"POST", acct + "/users/", map[string]any{"email": "x@example.com", "license_type": "developer", "account_id": other}},
			{"POST", pathf("/api/v2/accounts/%d/permissions/%d/", ts.AccountID, ts.membershipID(t, adminUser)),
				map[string]any{"license_type": "developer", "account_id": other}},
		} {
			got, ae := call(ts.Admin, tc.method, tc.path, tc.body)
			if got != http.StatusBadRequest || ae.Field != "account_id" {
				t.Errorf("%s %s with account_id %d = %d field %q (%v), want 400 field account_id", tc.method, tc.path, other, got, fieldOf(ae), ae)
			}
		}
	})

	t.Run("updates by POST and PUT", func(t *testing.T) {
		for _, tc := range []struct{ path, getName string }{
			{pathf("%s/projects/%d/", acct, projectID), "name"},
			{pathf("%s/service-tokens/%d/", acct, tok.ID), "name"},
			{pathf("%s/groups/%d/", acct, groupID), "name"},
		} {
			for _, method := range []string{http.MethodPost, http.MethodPut} {
				name := "renamed by " + method
				var out map[string]any
				mustDo(t, ts.Admin, method, tc.path, map[string]any{"name": name, "id": nil}, &out)
				if out["name"] != name {
					t.Errorf("%s %s: name %v, want %q", method, tc.path, out["name"], name)
				}
				mustDo(t, ts.Admin, http.MethodGet, tc.path, nil, &out)
				if out["name"] != name {
					t.Errorf("GET %s after %s: name %v, want %q", tc.path, method, out["name"], name)
				}
			}
		}
	})

	t.Run("trailing slash is optional", func(t *testing.T) {
		for _, tc := range []struct {
			method, path string
			body         any
			want         int
		}{
			{"GET", "/api/v2/whoami", nil, 200},
			{"GET", pathf("/api/v2/accounts/%d", ts.AccountID), nil, 200},
			{"GET", acct + "/projects", nil, 200},
			{"GET", pathf("%s/projects/%d", acct, projectID), nil, 200},
			{"POST", acct + "/service-tokens", map[string]any{"name": "no slash", "permission_grants": []any{}}, 201},
			{"PUT", pathf("%s/service-tokens/%d", acct, tok.ID), map[string]any{"name": "no slash"}, 200},
			{"GET", pathf("%s/service-tokens/%d/permissions", acct, tok.ID), nil, 200},
			{"GET", acct + "/groups?limit=1", nil, 200},
		} {
			if got, ae := call(ts.Admin, tc.method, tc.path, tc.body); got != tc.want {
				t.Errorf("%s %s = %d (%v), want %d", tc.method, tc.path, got, ae, tc.want)
			}
		}
	})

	t.Run("pagination", func(t *testing.T) {
		for i := range 5 {
			ts.project(t, pathf("page %d", i))
		}
		var all []apitype.Project
		env := mustDo(t, ts.Admin, http.MethodGet, acct+"/projects/", nil, &all)
		total := extraOf(t, env).Pagination.TotalCount
		if total != len(all) || total < 6 {
			t.Fatalf("project list: %d items, total_count %d; want equal and at least 6", len(all), total)
		}
		var seen []int64
		for offset := 0; offset < total; offset += 2 {
			var page []apitype.Project
			env := mustDo(t, ts.Admin, http.MethodGet, pathf("%s/projects/?limit=2&offset=%d", acct, offset), nil, &page)
			x := extraOf(t, env)
			wantCount := min(2, total-offset)
			if len(page) != wantCount || x.Pagination.Count != wantCount || x.Pagination.TotalCount != total {
				t.Errorf("page at offset %d: %d items, pagination %+v; want %d items, count %d, total_count %d",
					offset, len(page), x.Pagination, wantCount, wantCount, total)
			}
			for _, p := range page {
				seen = append(seen, p.ID)
			}
		}
		var allIDs []int64
		for _, p := range all {
			allIDs = append(allIDs, p.ID)
		}
		if diff := cmp.Diff(allIDs, seen); diff != "" {
			t.Errorf("pages together differ from the whole list (-whole +pages):\n%s", diff)
		}
		var none []apitype.Project
		env = mustDo(t, ts.Admin, http.MethodGet, pathf("%s/projects/?offset=%d", acct, total+10), nil, &none)
		if x := extraOf(t, env); len(none) != 0 || x.Pagination.Count != 0 || x.Pagination.TotalCount != total {
			t.Errorf("page past the end: %d items, pagination %+v; want 0 of %d", len(none), x.Pagination, total)
		}
		for _, q := range []string{"limit=0", "limit=101", "limit=abc", "limit=-1", "offset=-1", "offset=x", "state=3", "state=gone", "order_by=password"} {
			got, ae := call(ts.Admin, http.MethodGet, acct+"/projects/?"+q, nil)
			field, _, _ := strings.Cut(q, "=")
			if got != http.StatusBadRequest || fieldOf(ae) != field {
				t.Errorf("GET projects?%s = %d field %q, want 400 field %s", q, got, fieldOf(ae), field)
			}
		}
		if got, ae := call(ts.Admin, http.MethodGet, acct+"/projects/?limit=100", nil); got != http.StatusOK {
			t.Errorf("GET projects?limit=100 = %d (%v), want 200", got, ae)
		}
	})

	t.Run("state filter and deleted objects", func(t *testing.T) {
		gone := ts.project(t, "to delete")
		var deleted apitype.Project
		mustDo(t, ts.Admin, http.MethodDelete, pathf("%s/projects/%d/", acct, gone), nil, &deleted)
		if deleted.State != 2 {
			t.Errorf("DELETE project returned state %d, want 2", deleted.State)
		}
		ids := func(q string) map[int64]int {
			var ps []apitype.Project
			mustDo(t, ts.Admin, http.MethodGet, acct+"/projects/"+q, nil, &ps)
			m := map[int64]int{}
			for _, p := range ps {
				m[p.ID] = p.State
			}
			return m
		}
		if _, ok := ids("")[gone]; ok {
			t.Errorf("default project list includes deleted project %d", gone)
		}
		if _, ok := ids("?state=1")[gone]; ok {
			t.Errorf("state=1 includes deleted project %d", gone)
		}
		if d := ids("?state=2"); d[gone] != 2 || d[projectID] != 0 {
			t.Errorf("state=2 = %v, want deleted project %d only among these", d, gone)
		}
		if a := ids("?state=all"); a[gone] != 2 || a[projectID] != 1 {
			t.Errorf("state=all = %v, want %d (state 2) and %d (state 1)", a, gone, projectID)
		}
		var p apitype.Project
		mustDo(t, ts.Admin, http.MethodGet, pathf("%s/projects/%d/", acct, gone), nil, &p)
		if p.State != 2 {
			t.Errorf("deleted project by id: state %d, want 2", p.State)
		}
		// Groups and service tokens read by id after deletion too.
		victim := ts.group(t, "to delete")
		mustDo(t, ts.Admin, http.MethodDelete, pathf("%s/groups/%d/", acct, victim), nil, nil)
		var g apitype.Group
		mustDo(t, ts.Admin, http.MethodGet, pathf("%s/groups/%d/", acct, victim), nil, &g)
		if g.State != 2 {
			t.Errorf("deleted group by id: state %d, want 2", g.State)
		}
		var gs []apitype.Group
		mustDo(t, ts.Admin, http.MethodGet, acct+"/groups/?state=2", nil, &gs)
		if len(gs) != 1 || gs[0].ID != victim {
			t.Errorf("groups?state=2 = %+v, want only group %d", gs, victim)
		}
		_, st := ts.serviceToken(t, "to delete")
		if _, err := ts.Admin.DeleteServiceToken(ctx, ts.AccountID, st.ID); err != nil {
			t.Fatal(err)
		}
		toks, _, err := ts.Admin.ServiceTokens(ctx, ts.AccountID, client.ListOptions{State: "2"})
		if err != nil || len(toks) != 1 || toks[0].ID != st.ID || toks[0].State != 2 {
			t.Errorf("service-tokens?state=2 = %+v, %v; want only token %d", toks, err, st.ID)
		}
		// Deleting a token is final: sending the object back with state 1 does not restore it.
		got, ae := call(ts.Admin, http.MethodPut, pathf("%s/service-tokens/%d/", acct, st.ID), map[string]any{"name": st.Name, "state": 1})
		if got != http.StatusBadRequest {
			t.Errorf("PUT state 1 on a deleted token = %d (%v), want 400", got, ae)
		}
		if back, err := ts.Admin.ServiceToken(ctx, ts.AccountID, st.ID); err != nil || back.State != 2 {
			t.Errorf("deleted token after PUT state 1 = %+v, %v; want state 2", back, err)
		}
	})

	t.Run("authorization header", func(t *testing.T) {
		for _, h := range []string{"Token " + ts.AdminToken, "Bearer " + ts.AdminToken, "token " + ts.AdminToken,
			"BEARER " + ts.AdminToken, "bEaReR " + ts.AdminToken, "Token  " + ts.AdminToken + " "} {
			r := rawDo(t, ts.URL, http.MethodGet, "/api/v2/whoami/", h, nil)
			if r.Status != http.StatusOK || !r.Env.Status.IsSuccess {
				t.Errorf("whoami with scheme %q = %d %s, want 200", strings.Fields(h)[0], r.Status, r.Env.Status.UserMessage)
			}
		}
		last := "A"
		if strings.HasSuffix(ts.AdminToken, last) {
			last = "B"
		}
		bad := ts.AdminToken[:len(ts.AdminToken)-1] + last
		unknown, err := tokenfmt.Default.Mint(latchkey.KindPAT)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ what, header string }{
			{"no header", ""},
			{"garbage token", "Token garbage"},
			{"empty token", "Token "},
			{"unknown scheme", "Basic " + ts.AdminToken},
			{"no scheme", ts.AdminToken},
			{"bad checksum", "Token " + bad},
			{"well-formed unknown token", "Token " + unknown.String},
			{"deleted token", "Token " + deletedPAT(t, ts)},
		} {
			r := rawDo(t, ts.URL, http.MethodGet, pathf("%s/projects/", acct), tc.header, nil)
			if r.EnvErr != nil {
				t.Errorf("%s: body is not the envelope: %v: %s", tc.what, r.EnvErr, r.Body)
				continue
			}
			s := r.Env.Status
			if r.Status != http.StatusUnauthorized || s.Code != 401 || s.IsSuccess || s.UserMessage == "" || s.DeveloperMessage != "unauthorized" {
				t.Errorf("%s: %d %+v, want 401 with an unauthorized envelope", tc.what, r.Status, s)
			}
			if strings.Contains(string(r.Body), ts.AdminToken[6:20]) {
				t.Errorf("%s: the response echoes the token", tc.what)
			}
		}
	})

	t.Run("cross-account access", func(t *testing.T) {
		other, otherAdmin := ts.addAccount(t, "Other", "enterprise")
		otherProject, err := otherAdmin.CreateProject(ctx, other, "theirs", "")
		if err != nil {
			t.Fatal(err)
		}
		otherTok, err := otherAdmin.CreateServiceToken(ctx, other, client.CreateServiceTokenRequest{Name: "theirs", PermissionGrants: []apitype.Grant{}})
		if err != nil {
			t.Fatal(err)
		}
		otherAcct := pathf("/api/v3/accounts/%d", other)
		for _, tc := range []struct{ method, path string }{
			// Account 1's admin PAT on account 2's paths (its user is a member of both accounts,
			// but a PAT acts in one).
			{"GET", pathf("/api/v2/accounts/%d/", other)},
			{"GET", otherAcct + "/projects/"},
			{"GET", pathf("%s/projects/%d/", otherAcct, otherProject.ID)},
			{"GET", otherAcct + "/service-tokens/"},
			{"DELETE", pathf("%s/service-tokens/%d/", otherAcct, otherTok.ID)},
			// Account 2's objects through account 1's paths.
			{"GET", pathf("%s/projects/%d/", acct, otherProject.ID)},
			{"DELETE", pathf("%s/projects/%d/", acct, otherProject.ID)},
			{"GET", pathf("%s/service-tokens/%d/", acct, otherTok.ID)},
			{"PUT", pathf("%s/service-tokens/%d/", acct, otherTok.ID)},
			{"DELETE", pathf("%s/service-tokens/%d/", acct, otherTok.ID)},
			// Accounts that do not exist or are not ids.
			{"GET", "/api/v3/accounts/999999/projects/"},
			{"GET", "/api/v3/accounts/abc/projects/"},
		} {
			var body any
			if tc.method == "PUT" {
				body = map[string]any{"name": "stolen"}
			}
			if got, ae := call(ts.Admin, tc.method, tc.path, body); got != http.StatusNotFound {
				t.Errorf("%s %s from account %d = %d (%v), want 404", tc.method, tc.path, ts.AccountID, got, ae)
			}
		}
		got, err := otherAdmin.ServiceToken(ctx, other, otherTok.ID)
		if err != nil || got.State != 1 || got.Name != "theirs" {
			t.Errorf("account %d's token after cross-account attempts = %+v, %v; want untouched", other, got, err)
		}
	})

	t.Run("request bodies", func(t *testing.T) {
		auth := "Token " + ts.AdminToken
		big, err := json.Marshal(map[string]any{"name": "big", "description": strings.Repeat("x", 1<<20+10)})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			what, method, path string
			body               []byte
			status             int
			field              string
			// typed marks wrong-type errors, whose message must name the field.
			typed bool
		}{
			{"body over 1 MiB", "POST", acct + "/projects/", big, 413, "", false},
			{"malformed JSON", "POST", acct + "/projects/", []byte(`{"name": "x",`), 400, "", false},
			{"not JSON", "POST", acct + "/service-tokens/", []byte(`name=x`), 400, "", false},
			{"two JSON values", "POST", acct + "/projects/", []byte(`{"name":"a"} {"name":"b"}`), 400, "", false},
			{"empty body", "POST", acct + "/groups/", []byte{}, 400, "", false},
			{"name is a number", "POST", acct + "/projects/", []byte(`{"name": 5}`), 400, "name", true},
			{"account_id is a string", "POST", acct + "/projects/", []byte(`{"name": "x", "account_id": "1"}`), 400, "account_id", true},
			{"permission_grants is an object", "POST", acct + "/service-tokens/", []byte(`{"name": "x", "permission_grants": {}}`), 400, "permission_grants", true},
			{"state is a string", "PUT", pathf("%s/service-tokens/%d/", acct, tok.ID), []byte(`{"state": "active"}`), 400, "state", true},
			{"user_id is a string", "POST", acct + "/assign-groups/", []byte(`{"user_id": "me", "desired_group_ids": []}`), 400, "user_id", true},
			{"name is missing", "POST", acct + "/projects/", []byte(`{"description": "x"}`), 400, "name", false},
			{"name is blank", "POST", acct + "/service-tokens/", []byte(`{"name": "  "}`), 400, "name", false},
			{"unknown permission set", "POST", acct + "/service-tokens/", []byte(`{"name": "x", "permission_grants": [{"permission_set": "wizard"}]}`), 400, "permission_set", false},
			{"unknown license", "POST", acct + "/users/", []byte(`{"email": "l@example.com", "license_type": "wizard"}`), 400, "license_type", false},
		} {
			r := rawDo(t, ts.URL, tc.method, tc.path, auth, tc.body)
			if r.EnvErr != nil {
				t.Errorf("%s: body is not the envelope: %v: %.200s", tc.what, r.EnvErr, r.Body)
				continue
			}
			var data struct {
				Field string `json:"field"`
			}
			_ = json.Unmarshal(r.Env.Data, &data)
			if r.Status != tc.status || r.Env.Status.Code != tc.status || r.Env.Status.IsSuccess || r.Env.Status.UserMessage == "" {
				t.Errorf("%s: %d %+v, want %d", tc.what, r.Status, r.Env.Status, tc.status)
			}
			if tc.field != "" && data.Field != tc.field {
				t.Errorf("%s: data.field %q (%s), want %q", tc.what, data.Field, r.Env.Status.UserMessage, tc.field)
			}
			if tc.typed && !strings.Contains(r.Env.Status.UserMessage, tc.field) {
				t.Errorf("%s: user_message %q does not name %s", tc.what, r.Env.Status.UserMessage, tc.field)
			}
		}
		// Nothing was created by the refused requests.
		var ps []apitype.Project
		mustDo(t, ts.Admin, http.MethodGet, acct+"/projects/?state=all", nil, &ps)
		for _, p := range ps {
			if p.Name == "big" || p.Name == "a" || p.Name == "b" {
				t.Errorf("a refused request created project %q", p.Name)
			}
		}
	})

	t.Run("token_string only on create and rotate", func(t *testing.T) {
		auth := "Token " + ts.AdminToken
		create := rawDo(t, ts.URL, http.MethodPost, acct+"/service-tokens/", auth, []byte(`{"name":"shown once","permission_grants":[]}`))
		var created apitype.Token
		if err := json.Unmarshal(create.Env.Data, &created); err != nil || create.Status != 201 || created.TokenString == "" {
			t.Fatalf("create: %d %s", create.Status, create.Body)
		}
		rotate := rawDo(t, ts.URL, http.MethodPost, pathf("%s/service-tokens/%d/rotate/", acct, created.ID), auth, []byte(`{"grace_period_seconds": 60}`))
		var rotated apitype.Token
		if err := json.Unmarshal(rotate.Env.Data, &rotated); err != nil || rotate.Status != 201 || rotated.TokenString == "" || rotated.TokenString == created.TokenString {
			t.Fatalf("rotate: %d, new token_string present and different: %v", rotate.Status, rotated.TokenString != "" && rotated.TokenString != created.TokenString)
		}
		// The user's own PAT endpoints.
		pc, u := ts.user(t, "pat-owner@example.com", "developer", nil)
		pat, err := pc.CreatePAT(ctx, ts.AccountID, u.ID, "listed")
		if err != nil || pat.TokenString == "" {
			t.Fatalf("CreatePAT = %+v, %v", pat, err)
		}
		for _, path := range []string{
			acct + "/service-tokens/", acct + "/service-tokens/?state=all",
			pathf("%s/service-tokens/%d/", acct, created.ID), pathf("%s/service-tokens/%d/", acct, rotated.ID),
			pathf("%s/service-tokens/%d/permissions/", acct, created.ID),
			pathf("%s/users/%d/account-apikeys/", acct, u.ID), pathf("%s/users/%d/account-apikeys/?state=all", acct, u.ID),
			pathf("%s/users/%d/account-apikeys/%d/", acct, u.ID, pat.ID),
			pathf("%s/users/%d/account-apikeys/", acct, adminUser),
			"/api/v2/whoami/",
		} {
			r := rawDo(t, ts.URL, http.MethodGet, path, auth, nil)
			if r.Status != http.StatusOK {
				t.Errorf("GET %s = %d %s", path, r.Status, r.Env.Status.UserMessage)
				continue
			}
			if hasJSONKey(t, r.Body, "token_string") {
				t.Errorf("GET %s has a token_string member", path)
			}
			for _, s := range []string{created.TokenString, rotated.TokenString, pat.TokenString, ts.AdminToken} {
				if bytes.Contains(r.Body, []byte(s)) {
					t.Errorf("GET %s contains a token string", path)
				}
			}
		}
		// Renames and deletes do not return it either.
		for _, tc := range []struct {
			method, path string
			body         []byte
		}{
			{"PUT", pathf("%s/service-tokens/%d/", acct, rotated.ID), []byte(`{"name":"renamed"}`)},
			{"PUT", pathf("%s/service-tokens/%d/permissions/", acct, rotated.ID), []byte(`[]`)},
			{"DELETE", pathf("%s/service-tokens/%d/", acct, rotated.ID), nil},
		} {
			r := rawDo(t, ts.URL, tc.method, tc.path, auth, tc.body)
			if r.Status != http.StatusOK || hasJSONKey(t, r.Body, "token_string") {
				t.Errorf("%s %s = %d, token_string present: %v", tc.method, tc.path, r.Status, hasJSONKey(t, r.Body, "token_string"))
			}
		}
	})

	t.Run("PAT rotate and delete", func(t *testing.T) {
		pc, u := ts.user(t, "rotator@example.com", "developer", nil)
		pat, err := pc.CreatePAT(ctx, ts.AccountID, u.ID, "to rotate")
		if err != nil {
			t.Fatal(err)
		}
		old := client.New(ts.URL, pat.TokenString)
		if _, err := old.Whoami(ctx); err != nil {
			t.Fatalf("new PAT: %v", err)
		}
		var next apitype.Token
		env := mustDo(t, pc, http.MethodPost, pathf("%s/users/%d/account-apikeys/%d/", acct, u.ID, pat.ID), map[string]any{"grace_period_seconds": 0}, &next)
		if env.Status.Code != http.StatusCreated || next.TokenString == "" || next.TokenString == pat.TokenString || next.ID == pat.ID {
			t.Fatalf("PAT rotate = %d, id %d (old %d), new token_string present: %v", env.Status.Code, next.ID, pat.ID, next.TokenString != "")
		}
		if next.UserID == nil || *next.UserID != u.ID || next.Name != pat.Name {
			t.Errorf("rotated PAT = user %v name %q, want user %d name %q", next.UserID, next.Name, u.ID, pat.Name)
		}
		// The successor works; then the old one is refused. (Presenting a token rotated out
		// after its grace may, by account setting, revoke its family: check the successor first.)
		fresh := client.New(ts.URL, next.TokenString)
		w, err := fresh.Whoami(ctx)
		if err != nil || w.UserID != u.ID || w.AuthMethod != "pat" {
			t.Fatalf("rotated PAT whoami = %+v, %v", w, err)
		}
		_, err = old.Whoami(ctx)
		wantStatus(t, "PAT rotated with grace 0", err, http.StatusUnauthorized)
		// Rotating again is refused: it has a successor.
		_, err = pc.Do(ctx, http.MethodPost, pathf("%s/users/%d/account-apikeys/%d/", acct, u.ID, pat.ID), map[string]any{}, nil)
		if s := client.StatusOf(err); s != http.StatusConflict && s != http.StatusBadRequest {
			t.Errorf("rotating an already rotated PAT: status %d (%v), want 409 or 400", s, err)
		}
		// Delete: gone at once, still readable by id with state 2, out of the active list.
		gone, err := pc.CreatePAT(ctx, ts.AccountID, u.ID, "to delete")
		if err != nil {
			t.Fatal(err)
		}
		goner := client.New(ts.URL, gone.TokenString)
		if _, err := goner.Whoami(ctx); err != nil {
			t.Fatal(err)
		}
		var del apitype.Token
		mustDo(t, pc, http.MethodDelete, pathf("%s/users/%d/account-apikeys/%d/", acct, u.ID, gone.ID), nil, &del)
		if del.State != 2 {
			t.Errorf("deleted PAT state %d, want 2", del.State)
		}
		_, err = goner.Whoami(ctx)
		wantStatus(t, "deleted PAT", err, http.StatusUnauthorized)
		var got apitype.Token
		mustDo(t, pc, http.MethodGet, pathf("%s/users/%d/account-apikeys/%d/", acct, u.ID, gone.ID), nil, &got)
		if got.State != 2 {
			t.Errorf("deleted PAT by id: state %d, want 2", got.State)
		}
		pats, _, err := pc.PATs(ctx, ts.AccountID, u.ID, client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pats {
			if p.ID == gone.ID {
				t.Errorf("active PAT list includes deleted PAT %d (state %d)", p.ID, p.State)
			}
		}
	})

	t.Run("PAT follows the user's access", func(t *testing.T) {
		viewers := ts.group(t, "viewers", client.GrantOn("account_viewer", 0))
		everyone, owner := ts.groupID(t, "Everyone"), ts.groupID(t, "Owner")
		pc, u := ts.user(t, "mover@example.com", "developer", []int64{viewers, everyone})
		membership := ts.membershipID(t, u.ID)
		listTokens := func() error {
			_, _, err := pc.ServiceTokens(ctx, ts.AccountID, client.ListOptions{})
			return err
		}
		if err := listTokens(); err != nil {
			t.Fatalf("account_viewer member listing tokens: %v", err)
		}
		// Removed from the group: the next request is refused.
		if _, err := ts.Admin.AssignGroups(ctx, ts.AccountID, u.ID, []int64{everyone}); err != nil {
			t.Fatal(err)
		}
		wantAPIError(t, "after leaving the group", listTokens(), http.StatusForbidden, "requires service_tokens:read")
		// Added to Owner: the next request may write.
		if _, err := ts.Admin.AssignGroups(ctx, ts.AccountID, u.ID, []int64{everyone, owner}); err != nil {
			t.Fatal(err)
		}
		if _, err := pc.CreateProject(ctx, ts.AccountID, "by an owner", ""); err != nil {
			t.Fatalf("after joining Owner, creating a project: %v", err)
		}
		// License changed to read_only: still in Owner, but only the stakeholder set now.
		if _, err := ts.Admin.UpdateLicense(ctx, ts.AccountID, membership, "read_only", 0); err != nil {
			t.Fatal(err)
		}
		_, err := pc.CreateProject(ctx, ts.AccountID, "by a read_only owner", "")
		wantAPIError(t, "read_only owner creating a project", err, http.StatusForbidden, "requires project_create:write")
		if _, _, err := pc.Projects(ctx, ts.AccountID, client.ListOptions{}); err != nil {
			t.Errorf("read_only owner listing projects: %v", err)
		}
		if w, err := pc.Whoami(ctx); err != nil || w.LicenseType != "read_only" {
			t.Errorf("whoami after the license change = %+v, %v; want read_only", w, err)
		}
		// Membership removed (state 2): every PAT of the user stops working.
		if _, err := ts.Admin.UpdateLicense(ctx, ts.AccountID, membership, "", 2); err != nil {
			t.Fatal(err)
		}
		_, err = pc.Whoami(ctx)
		wantStatus(t, "PAT of a removed member", err, http.StatusUnauthorized)
		_, _, err = pc.Projects(ctx, ts.AccountID, client.ListOptions{})
		wantStatus(t, "PAT of a removed member listing projects", err, http.StatusUnauthorized)
		// Its PATs are revoked, not just unusable while the membership is off.
		pats, _, err := ts.Admin.PATs(ctx, ts.AccountID, u.ID, client.ListOptions{State: "all"})
		if err != nil {
			t.Fatal(err)
		}
		if len(pats) == 0 {
			t.Errorf("removed member's PATs are gone from the list; want them in state 2")
		}
		for _, p := range pats {
			if p.State != 2 {
				t.Errorf("removed member's PAT %d has state %d, want 2", p.ID, p.State)
			}
		}
		// The user still exists and reads by id, with the membership in state 2.
		users, _, err := ts.Admin.Users(ctx, ts.AccountID, client.ListOptions{State: "2"})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, x := range users {
			if x.ID == u.ID {
				found = len(x.Permissions) == 1 && x.Permissions[0].State == 2
			}
		}
		if !found {
			t.Errorf("users?state=2 = %+v, want user %d with a membership in state 2", users, u.ID)
		}
	})
}

// extraOf decodes a list response's extra member.
func extraOf(t testing.TB, env *apitype.Envelope) apitype.ListExtra {
	t.Helper()
	var x apitype.ListExtra
	if err := json.Unmarshal(env.Extra, &x); err != nil {
		t.Fatalf("decode extra %s: %v", env.Extra, err)
	}
	return x
}

// fieldOf returns an API error's data.field ("" for nil).
func fieldOf(ae *client.APIError) string {
	if ae == nil {
		return ""
	}
	return ae.Field
}

// deletedPAT returns the string of a PAT that was created and deleted at once.
func deletedPAT(t testing.TB, ts *testServer) string {
	t.Helper()
	ctx := context.Background()
	uid := ts.adminUserID(t)
	pat, err := ts.Admin.CreatePAT(ctx, ts.AccountID, uid, "deleted at once")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Admin.DeletePAT(ctx, ts.AccountID, uid, pat.ID); err != nil {
		t.Fatal(err)
	}
	return pat.TokenString
}
