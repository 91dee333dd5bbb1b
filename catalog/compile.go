package catalog

import (
	"fmt"
	"sort"
	"strings"

	"github.com/latchkey/latchkey"
)

// Compile turns a principal's grants into Permissions. license is the user's license in the
// account, or "" for a service token. Per SPEC §1: read_only users get stakeholder on all projects
// and it users get security_admin + billing_admin + write on connections, whatever their groups;
// developer and analyst users (and service tokens) get the union of their grants. Grants naming a
// set that is not in the catalog give nothing.
func Compile(license latchkey.License, grants []latchkey.Grant) *latchkey.Permissions {
	p := &latchkey.Permissions{}
	switch license {
	case latchkey.LicenseReadOnly:
		grants = []latchkey.Grant{{PermissionSet: "stakeholder", AllProjects: true}}
	case latchkey.LicenseIT:
		grants = []latchkey.Grant{
			{PermissionSet: "security_admin", AllProjects: true},
			{PermissionSet: "billing_admin", AllProjects: true},
		}
		p.Account[latchkey.ResConnections] = latchkey.AccessWrite
	}
	for _, g := range grants {
		if g.State == latchkey.StateDeleted {
			continue
		}
		set, ok := byName[Canonical(g.PermissionSet)]
		if !ok {
			continue
		}
		envs := latchkey.EnvMaskOf(g.WritableEnvs)
		var scope *latchkey.Scope
		if g.AllProjects {
			scope = &p.AllProjects
		} else {
			scope = projectScope(p, g.ProjectID)
		}
		for r := range latchkey.NumResources {
			a := set.Access[r]
			if a == latchkey.AccessNone {
				continue
			}
			if r.Level() == latchkey.LevelAccount {
				p.Account[r] = max(p.Account[r], a)
				continue
			}
			scope.Access[r] = max(scope.Access[r], a)
			if set.Raisable[r] {
				scope.WritableEnvs[r] |= envs
			}
		}
	}
	p.SortProjects()
	return p
}

func projectScope(p *latchkey.Permissions, id int64) *latchkey.Scope {
	for i := range p.Projects {
		if p.Projects[i].ProjectID == id {
			return &p.Projects[i].Scope
		}
	}
	p.Projects = append(p.Projects, latchkey.ProjectScope{ProjectID: id})
	return &p.Projects[len(p.Projects)-1].Scope
}

// ValidateGrant checks one requested grant's shape: a known, supported set, its scope named (all
// projects, or a project id — never widened from nothing), and writable environment categories
// only for sets with R* cells. It does not check that the project exists.
func ValidateGrant(g latchkey.Grant) error {
	set, err := Lookup(g.PermissionSet)
	if err != nil {
		return err
	}
	if !g.AllProjects && g.ProjectID <= 0 {
		return latchkey.FieldError("project_id",
			"a grant must name its scope: \"all_projects\": true, or the \"project_id\" of a project in this account")
	}
	if g.AllProjects && g.ProjectID != 0 {
		return latchkey.FieldError("project_id", "a grant on all projects cannot also name project %d", g.ProjectID)
	}
	if len(g.WritableEnvs) > 0 && !set.AcceptsWritableEnvs() {
		return latchkey.FieldError("writable_environment_categories",
			"permission set %s does not take writable environment categories (only analyst, database_admin, developer, git_admin and team_admin do)", g.PermissionSet)
	}
	for _, c := range g.WritableEnvs {
		if !c.Valid() {
			return latchkey.FieldError("writable_environment_categories",
				"unknown environment category %q (want all, development, staging, production or other)", string(c))
		}
	}
	return nil
}

// ValidateTokenGrant checks a grant for a service token of an account on plan: ValidateGrant plus
// the plan rule.
func ValidateTokenGrant(plan latchkey.Plan, g latchkey.Grant) error {
	if err := ValidateGrant(g); err != nil {
		return err
	}
	if !PlanAllows(plan, g.PermissionSet) {
		return latchkey.FieldError("permission_set", "permission set %s is not available to service tokens on the %s plan", g.PermissionSet, plan)
	}
	return nil
}

// CheckEscalation refuses a grant that gives more than the granting principal holds: for every
// resource of the set, the set's access must be ≤ the granter's access on the projects the grant
// covers (all projects: the granter's all-project access), and environment raises must be covered
// by the granter's own write in those environments.
func CheckEscalation(granter *latchkey.Permissions, g latchkey.Grant) error {
	if _, err := Lookup(g.PermissionSet); err != nil {
		return err
	}
	if d, ok := Gap(granter, Compile("", []latchkey.Grant{g})); ok {
		return escalation(g, d)
	}
	return nil
}

// Gap finds access that want holds and have does not: the first resource (account-wide, on
// every project, or on one of want's projects) where want's level is higher, or where want may
// write in environment categories that have may not. ok is false when have covers all of want.
// It is the one comparison behind "no escalation": a grant may give only what its granter
// holds, and nobody changes a user who holds more than they do.
func Gap(have, want *latchkey.Permissions) (d latchkey.Decision, ok bool) {
	for r := range latchkey.NumResources {
		if r.Level() == latchkey.LevelAccount {
			if want.Account[r] > have.Account[r] {
				return latchkey.Decision{Resource: r, Want: want.Account[r]}, true
			}
			continue
		}
		scopes := []struct {
			project int64
			access  latchkey.Access
			envs    latchkey.EnvMask
		}{{0, want.AllProjects.Access[r], want.AllProjects.WritableEnvs[r]}}
		for _, ps := range want.Projects {
			a, m := want.Effective(r, ps.ProjectID)
			scopes = append(scopes, struct {
				project int64
				access  latchkey.Access
				envs    latchkey.EnvMask
			}{ps.ProjectID, a, m})
		}
		for _, sc := range scopes {
			if sc.access == latchkey.AccessNone {
				continue
			}
			a, m := have.Effective(r, sc.project)
			if a < sc.access {
				return latchkey.Decision{Resource: r, Want: sc.access, ProjectID: sc.project}, true
			}
			if sc.access == latchkey.AccessWrite || sc.envs == 0 || a == latchkey.AccessWrite || m&latchkey.EnvMaskAll != 0 {
				continue
			}
			if missing := sc.envs &^ m; missing != 0 {
				return latchkey.Decision{Resource: r, Want: latchkey.AccessWrite, ProjectID: sc.project, Env: envNames(missing)}, true
			}
		}
	}
	return latchkey.Decision{}, false
}

func escalation(g latchkey.Grant, d latchkey.Decision) error {
	where := "on all projects"
	if !g.AllProjects {
		where = fmt.Sprintf("on project %d", g.ProjectID)
	}
	return &latchkey.Error{Code: latchkey.EForbidden, Field: "permission_set",
		Message: fmt.Sprintf("cannot grant %s %s: it %s, which you do not hold", g.PermissionSet, where, d.Reason())}
}

func envNames(m latchkey.EnvMask) latchkey.EnvCategory {
	var names []string
	for _, c := range latchkey.EnvCategories {
		if m&c.Mask() != 0 {
			names = append(names, string(c))
		}
	}
	return latchkey.EnvCategory(strings.Join(names, ", "))
}

// Title returns a set's display title ("Job Admin"), or the name itself when unknown.
func Title(name string) string {
	if s, ok := byName[Canonical(name)]; ok {
		return s.Title
	}
	return name
}

// Summary renders grants for people: "Job Admin on analytics; Metadata Only on all projects".
// projectName maps project ids to names (nil or a miss falls back to "project N").
func Summary(grants []latchkey.Grant, projectName func(int64) string) string {
	var parts []string
	for _, g := range grants {
		if g.State == latchkey.StateDeleted {
			continue
		}
		where := "all projects"
		if !g.AllProjects {
			where = fmt.Sprintf("project %d", g.ProjectID)
			if projectName != nil {
				if n := projectName(g.ProjectID); n != "" {
					where = n
				}
			}
		}
		s := Title(g.PermissionSet) + " on " + where
		if len(g.WritableEnvs) > 0 {
			envs := make([]string, len(g.WritableEnvs))
			for i, e := range g.WritableEnvs {
				envs[i] = string(e)
			}
			sort.Strings(envs)
			s += " (writes in " + strings.Join(envs, ", ") + ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "No permissions"
	}
	return strings.Join(parts, "; ")
}
