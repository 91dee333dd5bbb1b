package catalog_test

import (
	"encoding/csv"
	"os"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/catalog"
)

// TestMatrixPinsEveryCell compares every cell of the encoded catalog with the reference
// permission matrix (testdata/permission-matrix.csv, a verbatim copy of the product's reference).
func TestMatrixPinsEveryCell(t *testing.T) {
	f, err := os.Open("testdata/permission-matrix.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := rows[0]
	setNames := header[2:]
	if got, want := len(catalog.Sets()), len(setNames); got != want {
		t.Fatalf("len(Sets()) = %d, want %d", got, want)
	}
	for i, s := range catalog.Sets() {
		if s.Name != setNames[i] {
			t.Errorf("Sets()[%d].Name = %q, want %q", i, s.Name, setNames[i])
		}
	}
	seen := map[latchkey.Resource]bool{}
	cells := 0
	for _, row := range rows[1:] {
		name, level := row[0], row[1]
		res, ok := latchkey.LookupResource(name, level == "project")
		if !ok {
			t.Fatalf("resource %s/%s is not in the catalog", name, level)
		}
		wantLevel := map[string]latchkey.Level{"account": latchkey.LevelAccount, "project": latchkey.LevelProject}[level]
		if res.Level() != wantLevel {
			t.Errorf("%s.Level() = %v, want %v", name, res.Level(), wantLevel)
		}
		seen[res] = true
		for i, cell := range row[2:] {
			set, err := catalog.Lookup(setNames[i])
			if err != nil {
				t.Fatal(err)
			}
			got := cellOf(set, res)
			if got != strings.TrimSpace(cell) {
				t.Errorf("cell(%s, %s/%s) = %q, want %q", set.Name, name, level, got, cell)
			}
			cells++
		}
	}
	if len(seen) != int(latchkey.NumResources) {
		t.Errorf("matrix covers %d resources, catalog has %d", len(seen), latchkey.NumResources)
	}
	if want := int(latchkey.NumResources) * len(setNames); cells != want {
		t.Errorf("checked %d cells, want %d", cells, want)
	}
}

func cellOf(s *catalog.Set, r latchkey.Resource) string {
	switch {
	case s.Raisable[r]:
		return "R*"
	case s.Access[r] == latchkey.AccessWrite:
		return "W"
	case s.Access[r] == latchkey.AccessRead:
		return "R"
	}
	return "-"
}

func TestAliases(t *testing.T) {
	tests := []struct{ alias, want string }{
		{"owner", "account_admin"},
		{"readonly", "stakeholder"},
		{"cost_management_admin", "cost_insights_admin"},
		{"cost_management_viewer", "cost_insights_viewer"},
		{"job_admin", "job_admin"},
	}
	for _, tt := range tests {
		s, err := catalog.Lookup(tt.alias)
		if err != nil {
			t.Fatalf("Lookup(%q) error %v", tt.alias, err)
		}
		if s.Name != tt.want {
			t.Errorf("Lookup(%q).Name = %q, want %q", tt.alias, s.Name, tt.want)
		}
	}
	for _, bad := range []string{"scim_only", "nope", ""} {
		if _, err := catalog.Lookup(bad); latchkey.ErrorCodeOf(err) != latchkey.EInvalid {
			t.Errorf("Lookup(%q) code = %v, want invalid", bad, latchkey.ErrorCodeOf(err))
		}
	}
}

func TestPlanAllows(t *testing.T) {
	team := map[string]bool{"account_admin": true, "owner": true, "billing_admin": true, "job_admin": true,
		"metadata_only": true, "member": true, "readonly": true, "stakeholder": true, "semantic_layer_only": true}
	for _, s := range catalog.Sets() {
		names := []string{s.Name}
		for alias, canon := range catalog.Aliases {
			if canon == s.Name {
				names = append(names, alias)
			}
		}
		for _, n := range names {
			check := func(plan latchkey.Plan, want bool) {
				if got := catalog.PlanAllows(plan, n); got != want {
					t.Errorf("PlanAllows(%s, %s) = %v, want %v", plan, n, got, want)
				}
			}
			check(latchkey.PlanEnterprise, n != "fusion_admin")
			check(latchkey.PlanEnterprisePlus, n != "fusion_admin")
			check(latchkey.PlanTeam, team[n])
			check(latchkey.PlanStarter, n == "semantic_layer_only")
			check(latchkey.PlanDeveloper, n == "semantic_layer_only")
		}
	}
	if catalog.PlanAllows(latchkey.PlanEnterprise, "scim_only") {
		t.Error("PlanAllows(enterprise, scim_only) = true, want false")
	}
	err := catalog.ValidateTokenGrant(latchkey.PlanTeam, latchkey.Grant{PermissionSet: "security_admin", AllProjects: true})
	if latchkey.ErrorCodeOf(err) != latchkey.EInvalid || !strings.Contains(err.Error(), "security_admin") || !strings.Contains(err.Error(), "team") {
		t.Errorf("ValidateTokenGrant(team, security_admin) = %v, want invalid naming set and plan", err)
	}
}
