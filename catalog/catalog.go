// Package catalog owns latchkey's permission catalog as data: the permission sets and what each
// grants per resource (transcribed from the reference permission matrix), their aliases, which
// sets each plan lets a service token hold, and what each license implies. It compiles grants into
// latchkey.Permissions and checks that a principal never grants more than it holds.
package catalog

import (
	"fmt"
	"sort"
	"strings"

	"github.com/latchkey/latchkey"
)

// Set is a named bundle of (resource → access) pairs.
type Set struct {
	Name        string
	Title       string
	Description string
	Access      [latchkey.NumResources]latchkey.Access
	// Raisable marks R* cells: read, raised to write in the grant's writable environments.
	Raisable [latchkey.NumResources]bool
}

// AcceptsWritableEnvs reports whether grants of this set may carry writable_environment_categories.
func (s *Set) AcceptsWritableEnvs() bool {
	for _, r := range s.Raisable {
		if r {
			return true
		}
	}
	return false
}

// setInfo lists every permission set in the column order of the matrix below.
var setInfo = []struct{ name, title, description string }{
	{"account_admin", "Account Admin", "Full access to every account setting and project."},
	{"account_viewer", "Account Viewer", "Read-only access to account settings, billing and audit logs."},
	{"billing_admin", "Billing Admin", "Manage billing and view public models."},
	{"cost_insights_admin", "Cost Insights Admin", "Manage cost insights; read connections, jobs and projects."},
	{"cost_insights_viewer", "Cost Insights Viewer", "View cost insights, connections, jobs and projects."},
	{"manage_marketplace_apps", "Manage Marketplace Apps", "Manage marketplace apps only."},
	{"notification_manager", "Notification Manager", "Manage job notifications."},
	{"project_creator", "Project Creator", "Create projects and manage their settings, jobs and runs."},
	{"security_admin", "Security Admin", "Manage SSO, IP restrictions, licenses, members and groups."},
	{"admin", "Admin", "Manage projects, environments, jobs and runs, without account billing or security."},
	{"analyst", "Analyst", "Develop and view; run jobs only in writable environments."},
	{"analyst_read", "Analyst (read)", "Read most project and account resources."},
	{"database_admin", "Database Admin", "Manage credentials, connections and configs; jobs and runs in writable environments."},
	{"developer", "Developer", "Develop in the IDE; jobs and runs in writable environments."},
	{"fusion_admin", "Fusion Admin", "Run Fusion upgrades on projects."},
	{"git_admin", "Git Admin", "Manage repositories and projects; jobs and runs in writable environments."},
	{"job_admin", "Job Admin", "Create, edit and run jobs; view and manage runs."},
	{"job_creator", "Job Creator", "Create and edit jobs and trigger runs."},
	{"job_runner", "Job Runner", "Trigger runs of existing jobs."},
	{"job_viewer", "Job Viewer", "View jobs, runs and environments."},
	{"metadata_only", "Metadata Only", "Read metadata through the Discovery API."},
	{"semantic_layer_only", "Semantic Layer Only", "Query the Semantic Layer."},
	{"stakeholder", "Stakeholder", "Read-only access to projects, jobs and runs."},
	{"team_admin", "Team Admin", "Manage a project team; jobs and runs in writable environments."},
	{"webhooks_only", "Webhooks Only", "Manage webhooks."},
	{"member", "Member", "Broad access for members: projects, jobs, runs and most account settings."},
}

// matrix is the reference permission matrix: one row per resource, one cell per set in setInfo
// order. W write, R read, R* read raised to write in writable environments, - none.
var matrix = []struct {
	res   latchkey.Resource
	cells string
}{
	{latchkey.ResAccountSettings, "W  R  -  -  -  -  -  R  R  R  -  R  R  -  -  R  -  -  -  -  -  -  -  R  -  W"},
	{latchkey.ResAuditLogs, "R  R  -  -  -  -  -  -  R  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -"},
	{latchkey.ResAuthProvider, "W  R  -  -  -  -  -  -  W  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -"},
	{latchkey.ResBilling, "W  R  W  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -"},
	{latchkey.ResConnections, "W  -  -  R  R  -  R  W  -  R  R  R  R  R  -  R  R  R  -  -  -  -  R  R  -  W"},
	{latchkey.ResCostInsightsAccount, "R  R  -  R  R  -  -  R  -  -  -  R  R  -  -  R  R  -  -  -  -  -  R  R  -  -"},
	{latchkey.ResGroups, "W  R  -  -  -  -  -  R  W  R  -  R  R  R  -  R  -  -  -  -  -  -  R  R  -  R"},
	{latchkey.ResInvitations, "W  R  -  -  -  -  -  W  W  W  R  R  R  R  -  R  R  -  -  R  -  -  R  R  -  W"},
	{latchkey.ResIPRestrictions, "W  R  -  -  -  -  -  -  W  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -"},
	{latchkey.ResJobNotifications, "W  R  -  -  -  -  W  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -"},
	{latchkey.ResLicenses, "W  R  -  -  -  -  -  W  W  W  R  R  R  R  -  R  R  -  -  R  -  -  -  R  -  R"},
	{latchkey.ResMarketplaceApp, "-  -  -  -  -  W  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -"},
	{latchkey.ResMembers, "W  R  -  -  -  -  R  W  W  W  -  R  R  R  -  R  -  -  -  -  -  -  R  R  -  R"},
	{latchkey.ResProjectCreate, "W  -  -  -  -  -  -  W  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  W"},
	{latchkey.ResPublicModels, "R  R  R  -  -  -  -  R  R  R  R  R  R  R  -  R  R  R  -  R  R  R  R  R  R  R"},
	{latchkey.ResServiceTokens, "W  R  -  -  -  -  -  -  R  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -"},
	{latchkey.ResWebhooks, "W  -  -  -  -  -  -  -  -  W  -  -  -  W  -  -  -  -  -  -  -  -  -  -  W  W"},
	{latchkey.ResEnvironmentCredentials, "W  R  -  -  -  -  -  W  -  W  R  R  W  R  -  R  W  R  -  -  -  -  R  R  -  W"},
	{latchkey.ResCustomEnvVars, "W  R  -  -  -  -  -  W  -  W  W  R  W  W  -  W  W  R  -  R  -  -  R  W  -  W"},
	{latchkey.ResCostInsightsProject, "R  R  -  R  R  -  -  R  -  -  -  -  R  -  -  R  R  -  -  -  -  -  -  R  -  -"},
	{latchkey.ResDataPlatformConfigs, "W  R  -  -  -  -  -  W  -  W  W  R  W  W  -  R  W  R  -  -  -  -  R  R  -  W"},
	{latchkey.ResDevelop, "W  -  -  -  -  -  -  W  -  W  W  -  -  W  -  -  -  -  -  -  -  -  -  -  -  W"},
	{latchkey.ResEnvironments, "W  R  -  -  -  -  -  W  -  W  R  R  R  R  -  R  W  R  -  R  -  -  R  R  -  W"},
	{latchkey.ResFusionUpgrade, "W  -  -  -  -  -  -  -  -  -  -  -  -  -  W  -  -  -  -  -  -  -  -  -  -  -"},
	{latchkey.ResJobs, "W  R  -  R  R  -  -  W  -  W  R* -  R* R* -  R* W  W  R  R  -  -  R  R* -  W"},
	{latchkey.ResMetadata, "R  R  -  R  R  -  -  R  -  R  R  R  R  R  -  R  R  R  -  R  R  -  R  R  -  R"},
	{latchkey.ResPermissions, "W  R  -  -  -  -  -  W  W  W  -  -  R  R  -  R  -  -  -  -  -  -  -  R  -  R"},
	{latchkey.ResProjects, "W  R  -  R  R  -  -  W  R  W  R  R  W  R  -  W  R  R  -  R  -  -  R  W  -  W"},
	{latchkey.ResRepositories, "W  R  -  -  -  -  -  W  -  W  R  R  R  R  -  W  -  R  -  -  -  -  R  R  -  W"},
	{latchkey.ResRuns, "W  R  -  -  -  -  -  W  -  W  R* -  R* R* -  R* W  W  W  R  -  -  R  R* -  W"},
	{latchkey.ResSemanticLayerConfig, "W  R  -  -  -  -  -  W  -  W  R  R  W  R  -  R  R  R  -  -  -  W  R  R  -  W"},
}

// Aliases maps alternative permission-set names to their canonical set.
var Aliases = map[string]string{
	"owner":                  "account_admin",
	"readonly":               "stakeholder",
	"cost_management_admin":  "cost_insights_admin",
	"cost_management_viewer": "cost_insights_viewer",
}

// unsupported lists codes that the reference product knows and latchkey refuses.
var unsupported = map[string]string{
	"scim_only": "scim_only is not supported by latchkey",
}

var (
	sets   []*Set
	byName = map[string]*Set{}
)

func init() {
	for _, si := range setInfo {
		s := &Set{Name: si.name, Title: si.title, Description: si.description}
		sets = append(sets, s)
		byName[s.Name] = s
	}
	for _, row := range matrix {
		cells := strings.Fields(row.cells)
		if len(cells) != len(sets) {
			panic(fmt.Sprintf("catalog: row %s has %d cells, want %d", row.res, len(cells), len(sets)))
		}
		for i, c := range cells {
			switch c {
			case "W":
				sets[i].Access[row.res] = latchkey.AccessWrite
			case "R":
				sets[i].Access[row.res] = latchkey.AccessRead
			case "R*":
				sets[i].Access[row.res] = latchkey.AccessRead
				sets[i].Raisable[row.res] = true
			case "-":
			default:
				panic(fmt.Sprintf("catalog: bad cell %q for %s", c, row.res))
			}
		}
	}
}

// Sets returns every permission set in catalog order.
func Sets() []*Set { return sets }

// Canonical resolves an alias to its canonical set name; other names are returned unchanged.
func Canonical(name string) string {
	if c, ok := Aliases[name]; ok {
		return c
	}
	return name
}

// Lookup finds a permission set by name or alias. Unknown and unsupported names return an
// EInvalid error naming the permission_set field.
func Lookup(name string) (*Set, error) {
	if msg, ok := unsupported[name]; ok {
		return nil, latchkey.FieldError("permission_set", "%s", msg)
	}
	if s, ok := byName[Canonical(name)]; ok {
		return s, nil
	}
	return nil, latchkey.FieldError("permission_set", "unknown permission set %q", name)
}

// planRules says which sets each plan lets a service token hold: either every set except a few,
// or only a list. Operators change plans by editing this table.
var planRules = map[latchkey.Plan]struct {
	allExcept []string
	only      []string
}{
	latchkey.PlanEnterprise:     {allExcept: []string{"fusion_admin"}},
	latchkey.PlanEnterprisePlus: {allExcept: []string{"fusion_admin"}},
	latchkey.PlanTeam: {only: []string{"account_admin", "billing_admin", "job_admin", "metadata_only",
		"member", "stakeholder", "semantic_layer_only"}},
	latchkey.PlanStarter:   {only: []string{"semantic_layer_only"}},
	latchkey.PlanDeveloper: {only: []string{"semantic_layer_only"}},
}

// Plans lists the known plans.
func Plans() []latchkey.Plan {
	ps := make([]latchkey.Plan, 0, len(planRules))
	for p := range planRules {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// ValidPlan reports whether p is a known plan.
func ValidPlan(p latchkey.Plan) bool { _, ok := planRules[p]; return ok }

// PlanAllows reports whether a service token of an account on plan may hold set (by canonical
// name).
func PlanAllows(plan latchkey.Plan, set string) bool {
	rule, ok := planRules[plan]
	if !ok {
		return false
	}
	set = Canonical(set)
	if rule.only != nil {
		for _, s := range rule.only {
			if s == set {
				return true
			}
		}
		return false
	}
	for _, s := range rule.allExcept {
		if s == set {
			return false
		}
	}
	_, known := byName[set]
	return known
}

// PlanSets returns the sets a service token may hold on plan, in catalog order.
func PlanSets(plan latchkey.Plan) []*Set {
	var out []*Set
	for _, s := range sets {
		if PlanAllows(plan, s.Name) {
			out = append(out, s)
		}
	}
	return out
}
