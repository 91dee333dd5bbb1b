package latchkey

import (
	"fmt"
	"sort"
	"strconv"
)

// Access is a level of access to a resource, ordered none < read < write.
type Access uint8

// Access levels.
const (
	AccessNone Access = iota
	AccessRead
	AccessWrite
)

func (a Access) String() string {
	switch a {
	case AccessRead:
		return "read"
	case AccessWrite:
		return "write"
	}
	return "none"
}

// ParseAccess parses "read" or "write".
func ParseAccess(s string) (Access, bool) {
	switch s {
	case "read":
		return AccessRead, true
	case "write":
		return AccessWrite, true
	}
	return AccessNone, false
}

// Level says whether a resource is granted account-wide or per project.
type Level uint8

// Resource levels.
const (
	LevelAccount Level = iota + 1
	LevelProject
)

// Resource is one protected resource of the permission catalog. cost_insights exists at both
// levels and so has two Resource values.
type Resource uint8

// Resources, in the order of the reference permission matrix.
const (
	ResAccountSettings Resource = iota
	ResAuditLogs
	ResAuthProvider
	ResBilling
	ResConnections
	ResCostInsightsAccount
	ResGroups
	ResInvitations
	ResIPRestrictions
	ResJobNotifications
	ResLicenses
	ResMarketplaceApp
	ResMembers
	ResProjectCreate
	ResPublicModels
	ResServiceTokens
	ResWebhooks
	ResEnvironmentCredentials
	ResCustomEnvVars
	ResCostInsightsProject
	ResDataPlatformConfigs
	ResDevelop
	ResEnvironments
	ResFusionUpgrade
	ResJobs
	ResMetadata
	ResPermissions
	ResProjects
	ResRepositories
	ResRuns
	ResSemanticLayerConfig

	NumResources
)

type resourceInfo struct {
	name  string
	level Level
}

var resources = [NumResources]resourceInfo{
	ResAccountSettings:        {"account_settings", LevelAccount},
	ResAuditLogs:              {"audit_logs", LevelAccount},
	ResAuthProvider:           {"auth_provider", LevelAccount},
	ResBilling:                {"billing", LevelAccount},
	ResConnections:            {"connections", LevelAccount},
	ResCostInsightsAccount:    {"cost_insights", LevelAccount},
	ResGroups:                 {"groups", LevelAccount},
	ResInvitations:            {"invitations", LevelAccount},
	ResIPRestrictions:         {"ip_restrictions", LevelAccount},
	ResJobNotifications:       {"job_notifications", LevelAccount},
	ResLicenses:               {"licenses", LevelAccount},
	ResMarketplaceApp:         {"marketplace_app", LevelAccount},
	ResMembers:                {"members", LevelAccount},
	ResProjectCreate:          {"project_create", LevelAccount},
	ResPublicModels:           {"public_models", LevelAccount},
	ResServiceTokens:          {"service_tokens", LevelAccount},
	ResWebhooks:               {"webhooks", LevelAccount},
	ResEnvironmentCredentials: {"environment_credentials", LevelProject},
	ResCustomEnvVars:          {"custom_env_vars", LevelProject},
	ResCostInsightsProject:    {"cost_insights", LevelProject},
	ResDataPlatformConfigs:    {"data_platform_configs", LevelProject},
	ResDevelop:                {"develop", LevelProject},
	ResEnvironments:           {"environments", LevelProject},
	ResFusionUpgrade:          {"fusion_upgrade", LevelProject},
	ResJobs:                   {"jobs", LevelProject},
	ResMetadata:               {"metadata", LevelProject},
	ResPermissions:            {"permissions", LevelProject},
	ResProjects:               {"projects", LevelProject},
	ResRepositories:           {"repositories", LevelProject},
	ResRuns:                   {"runs", LevelProject},
	ResSemanticLayerConfig:    {"semantic_layer_config", LevelProject},
}

// Name returns the resource's catalog name, e.g. "service_tokens".
func (r Resource) Name() string {
	if r >= NumResources {
		return "unknown"
	}
	return resources[r].name
}

// Level returns whether r is an account-level or a project-level resource.
func (r Resource) Level() Level {
	if r >= NumResources {
		return 0
	}
	return resources[r].level
}

func (r Resource) String() string { return r.Name() }

// LookupResource finds a resource by name. For cost_insights, which exists at both levels,
// project selects the project-level resource.
func LookupResource(name string, project bool) (Resource, bool) {
	found, ok := Resource(0), false
	for i := range resources {
		if resources[i].name != name {
			continue
		}
		found, ok = Resource(i), true
		if (resources[i].level == LevelProject) == project {
			return found, true
		}
	}
	return found, ok
}

// EnvCategory is an environment category used to raise R* cells to write.
type EnvCategory string

// Environment categories. EnvAll in a grant means every category.
const (
	EnvAll         EnvCategory = "all"
	EnvDevelopment EnvCategory = "development"
	EnvStaging     EnvCategory = "staging"
	EnvProduction  EnvCategory = "production"
	EnvOther       EnvCategory = "other"
)

// EnvCategories lists the valid categories in display order.
var EnvCategories = []EnvCategory{EnvAll, EnvDevelopment, EnvStaging, EnvProduction, EnvOther}

// EnvMask is a set of environment categories as bits.
type EnvMask uint8

// Bits of an EnvMask.
const (
	EnvMaskAll EnvMask = 1 << iota
	EnvMaskDevelopment
	EnvMaskStaging
	EnvMaskProduction
	EnvMaskOther
)

// Mask returns c's bit, or 0 for an unknown or empty category.
func (c EnvCategory) Mask() EnvMask {
	switch c {
	case EnvAll:
		return EnvMaskAll
	case EnvDevelopment:
		return EnvMaskDevelopment
	case EnvStaging:
		return EnvMaskStaging
	case EnvProduction:
		return EnvMaskProduction
	case EnvOther:
		return EnvMaskOther
	}
	return 0
}

// Valid reports whether c is a known category.
func (c EnvCategory) Valid() bool { return c.Mask() != 0 }

// EnvMaskOf returns the mask of a list of categories.
func EnvMaskOf(cats []EnvCategory) EnvMask {
	var m EnvMask
	for _, c := range cats {
		m |= c.Mask()
	}
	return m
}

// covers reports whether write raised by m applies in env: EnvMaskAll covers every category,
// including a request that names none.
func (m EnvMask) covers(env EnvCategory) bool {
	return m&EnvMaskAll != 0 || (env != "" && m&env.Mask() != 0)
}

// Scope is the access a principal holds on one project (or on every project).
type Scope struct {
	Access [NumResources]Access
	// WritableEnvs raises an R* read to write in these environment categories.
	WritableEnvs [NumResources]EnvMask
}

// ProjectScope is a Scope for one project.
type ProjectScope struct {
	ProjectID int64
	Scope
}

// Permissions is a principal's compiled effective access: answering a question is a few array
// loads and, for project grants, a binary search over a short slice. Build it with
// catalog.Compile; it is immutable once built and safe to share.
type Permissions struct {
	// Account holds account-level resources, granted account-wide by every grant.
	Account [NumResources]Access
	// AllProjects holds project-level access on every project, including future ones.
	AllProjects Scope
	// Projects holds project-level access from grants on single projects, sorted by ProjectID.
	// It does not repeat AllProjects.
	Projects []ProjectScope
}

// Project returns the scope for one project, or nil when no single-project grant covers it.
func (p *Permissions) Project(id int64) *Scope {
	ps := p.Projects
	lo, hi := 0, len(ps)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ps[m].ProjectID < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(ps) && ps[lo].ProjectID == id {
		return &ps[lo].Scope
	}
	return nil
}

// SortProjects orders Projects by ProjectID; Compile calls it.
func (p *Permissions) SortProjects() {
	sort.Slice(p.Projects, func(i, j int) bool { return p.Projects[i].ProjectID < p.Projects[j].ProjectID })
}

// Effective returns the access level and raised environments held on resource r in project (0
// means "on every project"; project-level resources then count only all-project grants).
func (p *Permissions) Effective(r Resource, project int64) (Access, EnvMask) {
	if r >= NumResources {
		return AccessNone, 0
	}
	if resources[r].level == LevelAccount {
		return p.Account[r], 0
	}
	a, m := p.AllProjects.Access[r], p.AllProjects.WritableEnvs[r]
	if project != 0 {
		if s := p.Project(project); s != nil {
			a = max(a, s.Access[r])
			m |= s.WritableEnvs[r]
		}
	}
	return a, m
}

// Decide answers whether these permissions allow want on r, in project (0 for account-level
// resources or "every project") and environment category env (may be empty). It does not
// allocate.
func (p *Permissions) Decide(r Resource, want Access, project int64, env EnvCategory) Decision {
	d := Decision{Resource: r, Want: want, ProjectID: project, Env: env}
	if p == nil || r >= NumResources {
		return d
	}
	a, m := p.Effective(r, project)
	d.Allowed = a >= want || (want == AccessWrite && a == AccessRead && m.covers(env))
	return d
}

// Decision is the answer to one authorization question.
type Decision struct {
	Allowed   bool
	Resource  Resource
	Want      Access
	ProjectID int64
	Env       EnvCategory
}

// Permission names the permission asked for, e.g. "jobs:write".
func (d Decision) Permission() string { return d.Resource.Name() + ":" + d.Want.String() }

// Reason explains a denial, naming the missing permission ("requires jobs:write on project 3 in
// production environments"). It is empty when the decision allows.
func (d Decision) Reason() string {
	if d.Allowed {
		return ""
	}
	s := "requires " + d.Permission()
	if d.Resource.Level() == LevelProject {
		if d.ProjectID != 0 {
			s += " on project " + strconv.FormatInt(d.ProjectID, 10)
		} else {
			s += " on all projects"
		}
		if d.Env != "" && d.Want == AccessWrite {
			s += fmt.Sprintf(" in %s environments", d.Env)
		}
	}
	return s
}

// Err returns a forbidden *Error for a denial, nil when allowed.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return &Error{Code: EForbidden, Message: d.Reason()}
}
