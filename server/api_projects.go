package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
)

type projectRequest struct {
	AccountID   *int64  `json:"account_id"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

func checkAccountID(bodyID *int64, accountID int64) error {
	if bodyID != nil && *bodyID != accountID {
		return latchkey.FieldError("account_id", "account_id %d in the body does not match account %d in the path", *bodyID, accountID)
	}
	return nil
}

// validName trims and checks an object name.
func validName(field string, v *string, required bool) (string, error) {
	if v == nil {
		if required {
			return "", latchkey.FieldError(field, "%s is required", field)
		}
		return "", nil
	}
	n := strings.TrimSpace(*v)
	if n == "" {
		return "", latchkey.FieldError(field, "%s must not be empty", field)
	}
	if len(n) > 255 {
		return "", latchkey.FieldError(field, "%s must be at most 255 characters", field)
	}
	return n, nil
}

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

func (s *Server) handleAPIProjectList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	lp, err := parseList(r)
	if err != nil {
		return err
	}
	ids := readableProjects(p)
	if ids != nil && len(ids) == 0 {
		// Not one project is readable: the principal lacks the permission, it is not an empty list.
		return latchkey.Errorf(latchkey.EForbidden, "requires projects:read on at least one project")
	}
	f := latchkey.ProjectFilter{AccountID: p.AccountID, State: lp.state, Offset: lp.offset, Limit: lp.limit, IDs: ids}
	projects, total, err := s.store.FindProjects(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]apitype.Project, len(projects))
	for i, pr := range projects {
		out[i] = apitype.ProjectOf(pr)
	}
	respondList(w, out, total, lp)
	return nil
}

func (s *Server) handleAPIProjectCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := can(p, latchkey.ResProjectCreate, latchkey.AccessWrite); err != nil {
		return err
	}
	var req projectRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	name, err := validName("name", req.Name, true)
	if err != nil {
		return err
	}
	pr := &latchkey.Project{AccountID: p.AccountID, Name: name}
	if req.Description != nil {
		pr.Description = *req.Description
	}
	if err := s.store.CreateProject(r.Context(), pr); err != nil {
		return err
	}
	respond(w, http.StatusCreated, apitype.ProjectOf(pr), nil)
	return nil
}

// project loads a project of the principal's account and checks want on it.
func (s *Server) project(ctx context.Context, r *http.Request, p *latchkey.Principal, want latchkey.Access) (*latchkey.Project, error) {
	id, err := pathID(r, "project_id")
	if err != nil {
		return nil, err
	}
	pr, err := s.store.FindProjectByID(ctx, id)
	if err != nil || pr.AccountID != p.AccountID {
		return nil, latchkey.Errorf(latchkey.ENotFound, "project %d not found", id)
	}
	// A project the principal cannot even read does not exist for it, whatever it asks to do.
	if !p.Can(latchkey.ResProjects, latchkey.AccessRead, id, "").Allowed {
		return nil, latchkey.Errorf(latchkey.ENotFound, "project %d not found", id)
	}
	if err := p.Can(latchkey.ResProjects, want, id, "").Err(); err != nil {
		return nil, err
	}
	return pr, nil
}

func (s *Server) handleAPIProjectGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	pr, err := s.project(r.Context(), r, p, latchkey.AccessRead)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.ProjectOf(pr), nil)
	return nil
}

func (s *Server) handleAPIProjectUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	pr, err := s.project(r.Context(), r, p, latchkey.AccessWrite)
	if err != nil {
		return err
	}
	var req projectRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	var upd latchkey.ProjectUpdate
	if req.Name != nil {
		name, err := validName("name", req.Name, false)
		if err != nil {
			return err
		}
		upd.Name = &name
	}
	upd.Description = req.Description
	if pr.State == latchkey.StateDeleted {
		return latchkey.Errorf(latchkey.EInvalid, "project %d is deleted", pr.ID)
	}
	pr, err = s.store.UpdateProject(r.Context(), pr.ID, upd)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.ProjectOf(pr), nil)
	return nil
}

func (s *Server) handleAPIProjectDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	pr, err := s.project(r.Context(), r, p, latchkey.AccessWrite)
	if err != nil {
		return err
	}
	if err := s.store.DeleteProject(r.Context(), pr.ID); err != nil {
		return err
	}
	pr, err = s.store.FindProjectByID(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.ProjectOf(pr), nil)
	return nil
}
