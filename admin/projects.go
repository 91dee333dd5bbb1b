package admin

import (
	"context"
	"slices"
	"strings"

	"github.com/latchkey/latchkey"
)

// readableProjects returns nil when p can read every project, or the ids it can read.
func readableProjects(p *latchkey.Principal) []int64 {
	if p.Permissions.AllProjects.Access[latchkey.ResProjects] >= latchkey.AccessRead {
		return nil
	}
	ids := []int64{}
	for _, ps := range p.Permissions.Projects {
		if ps.Access[latchkey.ResProjects] >= latchkey.AccessRead {
			ids = append(ids, ps.ProjectID)
		}
	}
	return ids
}

// Projects lists the projects of p's account that p can read (projects:read on at least one).
func (s *Service) Projects(ctx context.Context, p *latchkey.Principal, f latchkey.ProjectFilter) ([]*latchkey.Project, int, error) {
	ids := readableProjects(p)
	if ids != nil && len(ids) == 0 {
		// Not one project is readable: the principal lacks the permission, it is not an empty list.
		return nil, 0, latchkey.Errorf(latchkey.EForbidden, "requires projects:read on at least one project")
	}
	f.AccountID, f.IDs = p.AccountID, ids
	return s.store.FindProjects(ctx, f)
}

// AllProjects returns every project of p's account (active only, or in every state), for
// pickers and summaries; it needs no permission beyond membership, as names are shown wherever
// grants are.
func (s *Service) AllProjects(ctx context.Context, p *latchkey.Principal, activeOnly bool) ([]*latchkey.Project, error) {
	f := latchkey.ProjectFilter{AccountID: p.AccountID, Limit: latchkey.MaxLimit}
	if activeOnly {
		st := latchkey.StateActive
		f.State = &st
	}
	return all(func(offset int) ([]*latchkey.Project, int, error) {
		f.Offset = offset
		return s.store.FindProjects(ctx, f)
	})
}

// Project loads a project of p's account and checks want on it. A project p cannot even read
// does not exist for it, whatever it asks to do.
func (s *Service) Project(ctx context.Context, p *latchkey.Principal, id int64, want latchkey.Access) (*latchkey.Project, error) {
	pr, err := s.store.FindProjectByID(ctx, id)
	if latchkey.SystemError(err) {
		return nil, err
	}
	if err != nil || pr.AccountID != p.AccountID || !p.Can(latchkey.ResProjects, latchkey.AccessRead, id, "").Allowed {
		return nil, notFound("project %d not found", id)
	}
	if err := p.Can(latchkey.ResProjects, want, id, "").Err(); err != nil {
		return nil, err
	}
	return pr, nil
}

// CanChangeProject reports whether p may change or delete project id (projects:write on it), for
// pages that show only usable buttons.
func CanChangeProject(p *latchkey.Principal, id int64) bool {
	return p.Can(latchkey.ResProjects, latchkey.AccessWrite, id, "").Allowed
}

// checkProjectName refuses a name another active project of the account has.
func (s *Service) checkProjectName(ctx context.Context, accountID, self int64, name string) error {
	active := latchkey.StateActive
	same, _, err := s.store.FindProjects(ctx, latchkey.ProjectFilter{AccountID: accountID, Name: &name, State: &active, Limit: 2})
	if err != nil {
		return err
	}
	for _, pr := range same {
		if pr.ID != self {
			return &latchkey.Error{Code: latchkey.EConflict, Field: "name", Message: "a project named " + name + " already exists in this account"}
		}
	}
	return nil
}

// NewProject describes a project to create.
type NewProject struct {
	Name, Description string
	// Refs are dbt's fields latchkey keeps for its clients.
	Refs latchkey.ProjectRefs
}

// MaxSubdirectoryLength bounds dbt_project_subdirectory, in characters.
const MaxSubdirectoryLength = 1000

func checkRefs(r latchkey.ProjectRefs) (latchkey.ProjectRefs, error) {
	if r.Subdirectory != nil {
		d, err := cleanSubdirectory(*r.Subdirectory)
		if err != nil {
			return r, err
		}
		r.Subdirectory = &d
	}
	return r, nil
}

// cleanSubdirectory accepts a dbt_project_subdirectory: text that names a path inside the
// repository. latchkey gives it no meaning, but whoever reads it back may join it to a checkout.
func cleanSubdirectory(sub string) (string, error) {
	d, err := latchkey.CleanText("dbt_project_subdirectory", sub, MaxSubdirectoryLength)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(d, "/") || strings.Contains(d, "\\") || slices.Contains(strings.Split(d, "/"), "..") {
		return "", latchkey.FieldError("dbt_project_subdirectory", "dbt_project_subdirectory must be a path inside the repository: no leading /, no \\ and no ..")
	}
	return d, nil
}

// CreateProject creates a project (project_create:write). Names are unique among the account's
// active projects.
func (s *Service) CreateProject(ctx context.Context, p *latchkey.Principal, in NewProject) (*latchkey.Project, error) {
	if err := require(p, latchkey.ResProjectCreate, latchkey.AccessWrite); err != nil {
		return nil, err
	}
	name, err := latchkey.CleanName("name", in.Name)
	if err != nil {
		return nil, err
	}
	description, err := latchkey.CleanText("description", in.Description, MaxDescriptionLength)
	if err != nil {
		return nil, err
	}
	refs, err := checkRefs(in.Refs)
	if err != nil {
		return nil, err
	}
	pr := &latchkey.Project{AccountID: p.AccountID, Name: name, Description: description, Refs: refs}
	err = s.inTx(ctx, func(ctx context.Context) error {
		if err := s.checkProjectName(ctx, p.AccountID, 0, name); err != nil {
			return err
		}
		return s.store.CreateProject(ctx, pr)
	})
	if err != nil {
		return nil, err
	}
	return pr, nil
}

// MaxDescriptionLength bounds free-text descriptions, in characters.
const MaxDescriptionLength = 1000

// UpdateProject renames a project or changes its description (projects:write on it).
func (s *Service) UpdateProject(ctx context.Context, p *latchkey.Principal, id int64, upd latchkey.ProjectUpdate) (*latchkey.Project, error) {
	if upd.Name != nil {
		name, err := latchkey.CleanName("name", *upd.Name)
		if err != nil {
			return nil, err
		}
		upd.Name = &name
	}
	if upd.Description != nil {
		d, err := latchkey.CleanText("description", *upd.Description, MaxDescriptionLength)
		if err != nil {
			return nil, err
		}
		upd.Description = &d
	}
	if sub := upd.Refs.Subdirectory; sub != nil && *sub != nil {
		d, err := cleanSubdirectory(**sub)
		if err != nil {
			return nil, err
		}
		pd := &d
		upd.Refs.Subdirectory = &pd
	}
	var out *latchkey.Project
	err := s.inTx(ctx, func(ctx context.Context) error {
		pr, err := s.Project(ctx, p, id, latchkey.AccessWrite)
		if err != nil {
			return err
		}
		if pr.State == latchkey.StateDeleted {
			return latchkey.Errorf(latchkey.EInvalid, "project %d is deleted", pr.ID)
		}
		if upd.Name != nil && *upd.Name != pr.Name {
			if err := s.checkProjectName(ctx, p.AccountID, pr.ID, *upd.Name); err != nil {
				return err
			}
		}
		out, err = s.store.UpdateProject(ctx, pr.ID, upd)
		return err
	})
	return out, err
}

// DeleteProject deletes a project (projects:write on it) and returns it in state 2. Deleting a
// deleted project does nothing.
func (s *Service) DeleteProject(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.Project, error) {
	var out *latchkey.Project
	err := s.inTx(ctx, func(ctx context.Context) error {
		pr, err := s.Project(ctx, p, id, latchkey.AccessWrite)
		if err != nil {
			return err
		}
		if err := s.store.DeleteProject(ctx, pr.ID); err != nil {
			return err
		}
		out, err = s.store.FindProjectByID(ctx, pr.ID)
		return err
	})
	return out, err
}
