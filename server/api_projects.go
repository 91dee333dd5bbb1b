package server

import (
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
)

func checkAccountID(bodyID *int64, accountID int64) error {
	if bodyID != nil && *bodyID != accountID {
		return latchkey.FieldError("account_id", "account_id %d in the body does not match account %d in the path", *bodyID, accountID)
	}
	return nil
}

func (s *Server) handleAPIProjectList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	lp, err := parseList(r)
	if err != nil {
		return err
	}
	projects, total, err := s.admin.Projects(r.Context(), p, latchkey.ProjectFilter{State: lp.state, Offset: lp.offset, Limit: lp.limit})
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
	var req apitype.ProjectRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	if req.Name == nil {
		return latchkey.FieldError("name", "name is required")
	}
	var desc string
	if req.Description != nil {
		desc = *req.Description
	}
	pr, err := s.admin.CreateProject(r.Context(), p, *req.Name, desc)
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, apitype.ProjectOf(pr), nil)
	return nil
}

func (s *Server) handleAPIProjectGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "project_id")
	if err != nil {
		return err
	}
	pr, err := s.admin.Project(r.Context(), p, id, latchkey.AccessRead)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.ProjectOf(pr), nil)
	return nil
}

func (s *Server) handleAPIProjectUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "project_id")
	if err != nil {
		return err
	}
	var req apitype.ProjectRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	pr, err := s.admin.UpdateProject(r.Context(), p, id, latchkey.ProjectUpdate{Name: req.Name, Description: req.Description})
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.ProjectOf(pr), nil)
	return nil
}

func (s *Server) handleAPIProjectDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "project_id")
	if err != nil {
		return err
	}
	pr, err := s.admin.DeleteProject(r.Context(), p, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.ProjectOf(pr), nil)
	return nil
}
