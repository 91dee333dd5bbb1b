package server

import (
	"encoding/json"
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
)

func (s *Server) handleAPIGroupList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	lp, err := parseList(r, orderable...)
	if err != nil {
		return err
	}
	f := latchkey.GroupFilter{State: lp.state, Order: lp.order, Offset: lp.offset, Limit: lp.limit}
	if f.Name, f.NameContains, err = nameFilters(r, lp); err != nil {
		return err
	}
	groups, total, err := s.admin.Groups(r.Context(), p, f)
	if err != nil {
		return err
	}
	out := make([]apitype.Group, len(groups))
	for i, g := range groups {
		out[i] = apitype.GroupOf(g)
	}
	respondList(w, out, total, lp)
	return nil
}

func (s *Server) handleAPIGroupCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	var req apitype.GroupRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	if req.Name == nil {
		return latchkey.FieldError("name", "name is required")
	}
	in := admin.NewGroup{Name: *req.Name, AssignByDefault: req.AssignByDefault != nil && *req.AssignByDefault}
	sso, err := ssoGroups(req.SSOMappingGroups)
	if err != nil {
		return err
	}
	if sso != nil {
		in.SSOMappingGroups = *sso
	}
	if req.GroupPermissions != nil {
		var err error
		if in.Grants, err = grantsOf(*req.GroupPermissions, grantOwner{accountID: p.AccountID}); err != nil {
			return err
		}
	}
	g, err := s.admin.CreateGroup(r.Context(), p, in)
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, apitype.GroupOf(g), nil)
	return nil
}

func (s *Server) handleAPIGroupGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "group_id")
	if err != nil {
		return err
	}
	g, err := s.admin.Group(r.Context(), p, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.GroupOf(g), nil)
	return nil
}

// handleAPIGroupUpdate changes name, assign_by_default or state (2 deletes; so does DELETE);
// group_permissions in the body replace the grants, as dbt's group update does. Everything
// changes together or nothing does.
func (s *Server) handleAPIGroupUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "group_id")
	if err != nil {
		return err
	}
	var req apitype.GroupRequest
	if r.Method == http.MethodDelete {
		deleted := int(latchkey.StateDeleted)
		req.State = &deleted
	} else if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	c := admin.GroupChange{Name: req.Name, AssignByDefault: req.AssignByDefault}
	if c.SSOMappingGroups, err = ssoGroups(req.SSOMappingGroups); err != nil {
		return err
	}
	if req.State != nil {
		st := latchkey.State(*req.State)
		c.State = &st
	}
	if req.GroupPermissions != nil {
		grants, err := grantsOf(*req.GroupPermissions, grantOwner{accountID: p.AccountID, groupID: id})
		if err != nil {
			return err
		}
		c.Grants = &grants
	}
	g, err := s.admin.UpdateGroup(r.Context(), p, id, c)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.GroupOf(g), nil)
	return nil
}

// handleAPIGroupPermissionsSet replaces all of a group's grants with the posted array.
func (s *Server) handleAPIGroupPermissionsSet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "group_id")
	if err != nil {
		return err
	}
	reqs, err := decodeGrantArray(r)
	if err != nil {
		return err
	}
	grants, err := grantsOf(reqs, grantOwner{accountID: p.AccountID, groupID: id})
	if err != nil {
		return err
	}
	g, err := s.admin.UpdateGroup(r.Context(), p, id, admin.GroupChange{Grants: &grants})
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.PermissionsOf(g.Grants), nil)
	return nil
}

// handleAPIAssignGroups makes desired_group_ids exactly the user's groups.
func (s *Server) handleAPIAssignGroups(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	var req apitype.AssignGroupsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.UserID == nil {
		return latchkey.FieldError("user_id", "user_id is required")
	}
	groups, err := s.admin.SetUserGroups(r.Context(), p, *req.UserID, req.DesiredGroupIDs)
	if err != nil {
		return err
	}
	out := make([]apitype.Group, len(groups))
	for i, g := range groups {
		out[i] = apitype.GroupOf(g)
	}
	respond(w, http.StatusOK, out, nil)
	return nil
}

// ssoGroups reads sso_mapping_groups: nil when left out, empty for null.
func ssoGroups(raw json.RawMessage) (*[]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var v []string
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, latchkey.FieldError("sso_mapping_groups", "sso_mapping_groups must be an array of strings or null")
	}
	if v == nil {
		v = []string{}
	}
	return &v, nil
}
