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

// ValidateGrant checks one requested grant's shape: a known, supported set, a project or all
// projects, and writable environment categories only for sets with R* cells. It does not check
// that the project exists.
func ValidateGrant(g latchkey.Grant) error {
	set, err := Lookup(g.PermissionSet)
	if err != nil {
		return err
	}
	if !g.AllProjects && g.ProjectID <= 0 {
		return latchkey.FieldError("project_id", "permission set %s needs a project_id or all_projects", g.PermissionSet)
	}
	if g.AllProjects && g.ProjectID != 0 {
		return latchkey.FieldError("project_id", "a grant on all projects cannot also name project %d", g.ProjectID)
	}
	if len(g.WritableEnvs) > 0 && !set.AcceptsWritableEnvs() {
		return latchkey.FieldError("writable_environment_categories",
			"permission set %s does not accept writable_environment_categories (only analyst, database_admin, developer, git_admin and team_admin do)", g.PermissionSet)
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
	set, err := Lookup(g.PermissionSet)
	if err != nil {
		return err
	}
	want := latchkey.EnvMaskOf(g.WritableEnvs)
	for r := range latchkey.NumResources {
		a := set.Access[r]
		if a == latchkey.AccessNone {
			continue
		}
		var have latchkey.Access
		var haveEnvs latchkey.EnvMask
		switch {
		case r.Level() == latchkey.LevelAccount:
			have = granter.Account[r]
		case g.AllProjects:
			have, haveEnvs = granter.AllProjects.Access[r], granter.AllProjects.WritableEnvs[r]
		default:
			have, haveEnvs = granter.Effective(r, g.ProjectID)
		}
		if have < a {
			return escalation(g, latchkey.Decision{Resource: r, Want: a, ProjectID: g.ProjectID})
		}
		if !set.Raisable[r] || want == 0 || have == latchkey.AccessWrite {
			continue
		}
		if haveEnvs&latchkey.EnvMaskAll == 0 && want&^haveEnvs != 0 {
			return escalation(g, latchkey.Decision{Resource: r, Want: latchkey.AccessWrite, ProjectID: g.ProjectID, Env: envNames(want &^ haveEnvs)})
		}
	}
	return nil
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
