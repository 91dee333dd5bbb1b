package server

import (
	"encoding/json"
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
)

func checkAccountID(bodyID *int64, accountID int64) error {
	if bodyID != nil && *bodyID != accountID {
		return latchkey.FieldError("account_id", "account_id %d in the body does not match account %d in the path", *bodyID, accountID)
	}
	return nil
}

func (s *Server) handleAPIProjectList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	lp, err := parseList(r, orderable...)
	if err != nil {
		return err
	}
	f := latchkey.ProjectFilter{State: lp.state, Order: lp.order, Offset: lp.offset, Limit: lp.limit}
	if f.Name, f.NameContains, err = nameFilters(r, lp); err != nil {
		return err
	}
	projects, total, err := s.admin.Projects(r.Context(), p, f)
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

// refsPatch reads the dbt project fields of a request: a member left out is left alone, null
// clears it.
func refsPatch(req *apitype.ProjectRequest) (latchkey.ProjectRefsPatch, error) {
	var patch latchkey.ProjectRefsPatch
	if raw := req.DbtProjectSubdirectory; len(raw) > 0 {
		var v *string
		if err := json.Unmarshal(raw, &v); err != nil {
			return patch, latchkey.FieldError("dbt_project_subdirectory", "dbt_project_subdirectory must be a string or null")
		}
		patch.Subdirectory = &v
	}
	if raw := req.Type; len(raw) > 0 && string(raw) != "null" {
		var v int
		if err := json.Unmarshal(raw, &v); err != nil || v < 0 || v > 1000 {
			return patch, latchkey.FieldError("type", "type must be a small non-negative integer")
		}
		patch.Type = &v
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  ***int64
	}{
		{"connection_id", req.ConnectionID, &patch.ConnectionID}, {"repository_id", req.RepositoryID, &patch.RepositoryID},
		{"semantic_layer_config_id", req.SemanticLayerConfigID, &patch.SemanticLayerConfigID},
		{"freshness_job_id", req.FreshnessJobID, &patch.FreshnessJobID}, {"docs_job_id", req.DocsJobID, &patch.DocsJobID},
	} {
		if len(f.raw) == 0 {
			continue
		}
		var v *int64
		if err := json.Unmarshal(f.raw, &v); err != nil || v != nil && *v < 0 {
			return patch, latchkey.FieldError(f.name, "%s must be a non-negative integer or null", f.name)
		}
		*f.dst = &v
	}
	return patch, nil
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
	if req.State != nil && *req.State != int(latchkey.StateActive) {
		return latchkey.FieldError("state", "a new project must have state 1")
	}
	in := admin.NewProject{Name: *req.Name}
	if req.Description != nil {
		in.Description = *req.Description
	}
	patch, err := refsPatch(&req)
	if err != nil {
		return err
	}
	in.Refs = patch.Apply(latchkey.ProjectRefs{})
	pr, err := s.admin.CreateProject(r.Context(), p, in)
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

// handleAPIProjectUpdate changes a project (POST or PUT); "state": 2 deletes it, as dbt's
// clients do.
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
	upd := latchkey.ProjectUpdate{Name: req.Name, Description: req.Description}
	if upd.Refs, err = refsPatch(&req); err != nil {
		return err
	}
	deleting, err := deletesByState(req.State, "the project")
	if err != nil {
		return err
	}
	var pr *latchkey.Project
	if deleting {
		pr, err = s.admin.DeleteProject(r.Context(), p, id)
	} else {
		pr, err = s.admin.UpdateProject(r.Context(), p, id, upd)
	}
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

// deletesByState reads the state of an update: dbt's clients delete an object by sending it with
// state 2 (true), and keep it with 1 or none; any other state is refused, naming what.
func deletesByState(st *int, what string) (bool, error) {
	switch {
	case st == nil || *st == int(latchkey.StateActive):
		return false, nil
	case *st == int(latchkey.StateDeleted):
		return true, nil
	}
	return false, latchkey.FieldError("state", "state must be 1 or 2 (2 deletes %s)", what)
}
