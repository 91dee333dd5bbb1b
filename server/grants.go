package server

import (
	"context"
	"fmt"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/catalog"
)

// grantRequest is one requested grant in either creation style: one step
// ({permission_set, project_id?, writable_environment_categories?}, no project = all projects) or
// two step ({account_id, service_token_id|group_id, permission_set, all_projects, project_id?, ...}).
type grantRequest struct {
	AccountID                     *int64   `json:"account_id"`
	ServiceTokenID                *int64   `json:"service_token_id"`
	GroupID                       *int64   `json:"group_id"`
	PermissionSet                 *string  `json:"permission_set"`
	AllProjects                   *bool    `json:"all_projects"`
	ProjectID                     *int64   `json:"project_id"`
	WritableEnvironmentCategories []string `json:"writable_environment_categories"`
}

// grantOwner says what the grants are for, to check ids in the body.
type grantOwner struct {
	tokenID, groupID int64
	// plan, when set, applies service-token plan rules.
	plan latchkey.Plan
}

// MaxGrants bounds the grants of one token or group.
const MaxGrants = 200

// grantsFrom validates requested grants: shape, ids, projects of the account, the plan (tokens)
// and no escalation beyond what p holds.
func (s *Server) grantsFrom(ctx context.Context, p *latchkey.Principal, reqs []grantRequest, owner grantOwner) ([]latchkey.Grant, error) {
	if len(reqs) > MaxGrants {
		return nil, latchkey.FieldError("permission_grants", "at most %d permission grants are allowed", MaxGrants)
	}
	out := make([]latchkey.Grant, 0, len(reqs))
	for i, gr := range reqs {
		g, err := s.grantFrom(ctx, p, gr, owner)
		if err != nil {
			if le, ok := err.(*latchkey.Error); ok {
				return nil, &latchkey.Error{Code: le.Code, Field: le.Field, Data: le.Data,
					Message: fmt.Sprintf("permission grant %d: %s", i+1, le.Message)}
			}
			return nil, err
		}
		for _, prev := range out {
			if prev.SameAs(g) {
				return nil, latchkey.FieldError("permission_set", "permission grant %d repeats an earlier grant", i+1)
			}
		}
		out = append(out, g)
	}
	return out, nil
}

func (s *Server) grantFrom(ctx context.Context, p *latchkey.Principal, gr grantRequest, owner grantOwner) (latchkey.Grant, error) {
	var g latchkey.Grant
	if err := checkAccountID(gr.AccountID, p.AccountID); err != nil {
		return g, err
	}
	if gr.ServiceTokenID != nil && owner.tokenID != 0 && *gr.ServiceTokenID != owner.tokenID {
		return g, latchkey.FieldError("service_token_id", "service_token_id %d does not match token %d in the path", *gr.ServiceTokenID, owner.tokenID)
	}
	if gr.GroupID != nil && owner.groupID != 0 && *gr.GroupID != owner.groupID {
		return g, latchkey.FieldError("group_id", "group_id %d does not match group %d in the path", *gr.GroupID, owner.groupID)
	}
	if gr.PermissionSet == nil || *gr.PermissionSet == "" {
		return g, latchkey.FieldError("permission_set", "permission_set is required")
	}
	g.PermissionSet = *gr.PermissionSet
	switch {
	case gr.AllProjects != nil && *gr.AllProjects:
		if gr.ProjectID != nil {
			return g, latchkey.FieldError("project_id", "a grant on all projects must not name a project_id")
		}
		g.AllProjects = true
	case gr.ProjectID != nil:
		g.ProjectID = *gr.ProjectID
	case gr.AllProjects != nil:
		return g, latchkey.FieldError("project_id", "project_id is required when all_projects is false")
	default:
		g.AllProjects = true
	}
	for _, c := range gr.WritableEnvironmentCategories {
		g.WritableEnvs = append(g.WritableEnvs, latchkey.EnvCategory(c))
	}
	var err error
	if owner.plan != "" {
		err = catalog.ValidateTokenGrant(owner.plan, g)
	} else {
		err = catalog.ValidateGrant(g)
	}
	if err != nil {
		return g, err
	}
	if !g.AllProjects {
		pr, err := s.store.FindProjectByID(ctx, g.ProjectID)
		if err != nil || pr.AccountID != p.AccountID || pr.State != latchkey.StateActive {
			return g, latchkey.FieldError("project_id", "project %d does not exist in this account", g.ProjectID)
		}
	}
	if err := catalog.CheckEscalation(p.Permissions, g); err != nil {
		return g, err
	}
	return g, nil
}
