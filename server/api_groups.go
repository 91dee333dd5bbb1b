package server

import (
	"context"
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
)

type groupRequest struct {
	AccountID        *int64          `json:"account_id"`
	Name             *string         `json:"name"`
	AssignByDefault  *bool           `json:"assign_by_default"`
	State            *int            `json:"state"`
	GroupPermissions *[]grantRequest `json:"group_permissions"`
}

func (s *Server) handleAPIGroupList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := can(p, latchkey.ResGroups, latchkey.AccessRead); err != nil {
		return err
	}
	lp, err := parseList(r)
	if err != nil {
		return err
	}
	groups, total, err := s.store.FindGroups(r.Context(), latchkey.GroupFilter{AccountID: p.AccountID, State: lp.state, Offset: lp.offset, Limit: lp.limit})
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
	if err := can(p, latchkey.ResGroups, latchkey.AccessWrite); err != nil {
		return err
	}
	var req groupRequest
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
	g := &latchkey.Group{AccountID: p.AccountID, Name: name}
	if req.AssignByDefault != nil {
		g.AssignByDefault = *req.AssignByDefault
	}
	if req.GroupPermissions != nil {
		if g.Grants, err = s.grantsFrom(r.Context(), p, *req.GroupPermissions, grantOwner{}); err != nil {
			return err
		}
	}
	if err := s.store.CreateGroup(r.Context(), g); err != nil {
		return err
	}
	respond(w, http.StatusCreated, apitype.GroupOf(g), nil)
	return nil
}

// pathGroup checks that p holds want on groups and loads the group named by {group_id}.
func (s *Server) pathGroup(r *http.Request, p *latchkey.Principal, want latchkey.Access) (*latchkey.Group, error) {
	if err := can(p, latchkey.ResGroups, want); err != nil {
		return nil, err
	}
	id, err := pathID(r, "group_id")
	if err != nil {
		return nil, err
	}
	return s.group(r.Context(), p, id)
}

func (s *Server) group(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.Group, error) {
	g, err := s.store.FindGroupByID(ctx, id)
	if err != nil || g.AccountID != p.AccountID {
		return nil, latchkey.Errorf(latchkey.ENotFound, "group %d not found", id)
	}
	return g, nil
}

func (s *Server) handleAPIGroupGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	g, err := s.pathGroup(r, p, latchkey.AccessRead)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.GroupOf(g), nil)
	return nil
}

// handleAPIGroupUpdate changes name, assign_by_default or state (2 deletes); group_permissions
// in the body replace the grants, as dbt's group update does.
func (s *Server) handleAPIGroupUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	g, err := s.pathGroup(r, p, latchkey.AccessWrite)
	if err != nil {
		return err
	}
	var req groupRequest
	if r.Method == http.MethodDelete {
		deleted := int(latchkey.StateDeleted)
		req.State = &deleted
	} else if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	var upd latchkey.GroupUpdate
	if req.Name != nil {
		name, err := validName("name", req.Name, false)
		if err != nil {
			return err
		}
		upd.Name = &name
	}
	upd.AssignByDefault = req.AssignByDefault
	if req.State != nil {
		st := latchkey.State(*req.State)
		if !st.Valid() {
			return latchkey.FieldError("state", "state must be 1 or 2")
		}
		upd.State = &st
	}
	if err := s.checkGroupUpdate(r.Context(), p, g, upd); err != nil {
		return err
	}
	if req.GroupPermissions != nil {
		if err := s.replaceGroupGrants(r, p, g, *req.GroupPermissions); err != nil {
			return err
		}
	}
	g, err = s.store.UpdateGroup(r.Context(), g.ID, upd)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.GroupOf(g), nil)
	return nil
}

func (s *Server) replaceGroupGrants(r *http.Request, p *latchkey.Principal, g *latchkey.Group, reqs []grantRequest) error {
	grants, err := s.grantsFrom(r.Context(), p, reqs, grantOwner{groupID: g.ID})
	if err != nil {
		return err
	}
	if sameGrants(g.Grants, grants) {
		return nil
	}
	_, err = s.store.ReplaceGroupGrants(r.Context(), g.ID, grants)
	return err
}

func sameGrants(a, b []latchkey.Grant) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].SameAs(b[i]) {
			return false
		}
	}
	return true
}

// handleAPIGroupPermissionsSet replaces all of a group's grants with the posted array.
func (s *Server) handleAPIGroupPermissionsSet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	g, err := s.pathGroup(r, p, latchkey.AccessWrite)
	if err != nil {
		return err
	}
	reqs, err := decodeGrantArray(r)
	if err != nil {
		return err
	}
	grants, err := s.grantsFrom(r.Context(), p, reqs, grantOwner{groupID: g.ID})
	if err != nil {
		return err
	}
	g, err = s.store.ReplaceGroupGrants(r.Context(), g.ID, grants)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.PermissionsOf(g.Grants), nil)
	return nil
}

type assignRequest struct {
	UserID          *int64  `json:"user_id"`
	DesiredGroupIDs []int64 `json:"desired_group_ids"`
}

// handleAPIAssignGroups makes desired_group_ids exactly the user's groups. Joining a group hands
// out its grants, so the caller must hold every grant of each group the user newly joins.
func (s *Server) handleAPIAssignGroups(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := can(p, latchkey.ResGroups, latchkey.AccessWrite); err != nil {
		return err
	}
	var req assignRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.UserID == nil {
		return latchkey.FieldError("user_id", "user_id is required")
	}
	if req.DesiredGroupIDs == nil {
		return latchkey.FieldError("desired_group_ids", "desired_group_ids is required (an empty array removes every group)")
	}
	ms, err := s.store.FindMemberships(r.Context(), latchkey.MembershipFilter{AccountID: &p.AccountID, UserID: req.UserID})
	if err != nil {
		return err
	}
	if len(ms) == 0 || ms[0].State != latchkey.StateActive {
		return latchkey.FieldError("user_id", "user %d is not a member of this account", *req.UserID)
	}
	current := map[int64]bool{}
	for _, id := range ms[0].GroupIDs {
		current[id] = true
	}
	var out []apitype.Group
	for _, id := range req.DesiredGroupIDs {
		g, err := s.group(r.Context(), p, id)
		if err != nil || g.State != latchkey.StateActive {
			return latchkey.FieldError("desired_group_ids", "group %d does not exist in this account", id)
		}
		if !current[id] {
			if err := checkGroupJoin(p, g); err != nil {
				return err
			}
		}
		out = append(out, apitype.GroupOf(g))
	}
	if err := s.store.SetUserGroups(r.Context(), p.AccountID, *req.UserID, req.DesiredGroupIDs); err != nil {
		return err
	}
	if out == nil {
		out = []apitype.Group{}
	}
	respond(w, http.StatusOK, out, nil)
	return nil
}
