package server

import (
	"context"
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
)

// userView renders users with their membership in p's account.
func (s *Server) userView(ctx context.Context, p *latchkey.Principal, users []*latchkey.User) ([]apitype.User, error) {
	names, err := s.admin.GroupNames(ctx, p)
	if err != nil {
		return nil, err
	}
	// One user (a get, or someone reading themself) or the account's members.
	var f latchkey.MembershipFilter
	if len(users) == 1 {
		f.UserID = &users[0].ID
	}
	ms, err := s.admin.Memberships(ctx, p, f)
	if err != nil {
		return nil, err
	}
	byUser := map[int64]*latchkey.Membership{}
	for _, m := range ms {
		byUser[m.UserID] = m
	}
	out := make([]apitype.User, 0, len(users))
	for _, u := range users {
		j := userJSON(u)
		if m := byUser[u.ID]; m != nil {
			j.LicenseType = string(m.License)
			j.Permissions = append(j.Permissions, apitype.MembershipOf(m, func(id int64) string { return names[id] }))
		}
		out = append(out, j)
	}
	return out, nil
}

func (s *Server) handleAPIUserList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	lp, err := parseList(r, "id")
	if err != nil {
		return err
	}
	users, total, err := s.admin.Users(r.Context(), p, latchkey.UserFilter{MembershipState: lp.state, Offset: lp.offset, Limit: lp.limit})
	if err != nil {
		return err
	}
	out, err := s.userView(r.Context(), p, users)
	if err != nil {
		return err
	}
	respondList(w, out, total, lp)
	return nil
}

func (s *Server) handleAPIUserGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "user_id")
	if err != nil {
		return err
	}
	u, err := s.admin.User(r.Context(), p, id)
	if err != nil {
		return err
	}
	out, err := s.userView(r.Context(), p, []*latchkey.User{u})
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, out[0], nil)
	return nil
}

func parseLicense(v *string) (latchkey.License, error) {
	if v == nil {
		return "", latchkey.FieldError("license_type", "license_type is required (developer, read_only, it or analyst)")
	}
	return latchkey.License(*v), nil
}

// handleAPIUserCreate (a latchkey extension) adds a user to the account with a license, creating
// the user when the email is new.
func (s *Server) handleAPIUserCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	var req apitype.UserCreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	if req.Email == nil {
		return latchkey.FieldError("email", "email is required")
	}
	license, err := parseLicense(req.LicenseType)
	if err != nil {
		return err
	}
	in := admin.NewMember{Email: *req.Email, License: license, GroupIDs: req.GroupIDs}
	for dst, src := range map[*string]*string{&in.FirstName: req.FirstName, &in.LastName: req.LastName, &in.Password: req.Password} {
		if src != nil {
			*dst = *src
		}
	}
	u, err := s.admin.AddMember(r.Context(), p, in)
	if err != nil {
		return err
	}
	out, err := s.userView(r.Context(), p, []*latchkey.User{u})
	if err != nil {
		// The member was added: answer so, without the memberships a failed read could not
		// give, rather than report a change that was made as failed.
		s.log.Warn("user added; reading it back failed", "user_id", u.ID, "error", err.Error())
		j := userJSON(u)
		j.LicenseType = string(in.License)
		out = []apitype.User{j}
	}
	respond(w, http.StatusCreated, out[0], nil)
	return nil
}

// handleAPILicenseUpdate is dbt's POST /api/v2/accounts/{a}/permissions/{id}/: change a member's
// license_type, or remove them with state 2.
func (s *Server) handleAPILicenseUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "permission_id")
	if err != nil {
		return err
	}
	var req apitype.LicenseRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	var upd latchkey.MembershipUpdate
	if req.LicenseType != nil {
		l := latchkey.License(*req.LicenseType)
		upd.License = &l
	}
	if req.State != nil {
		st := latchkey.State(*req.State)
		upd.State = &st
	}
	if req.UserID != nil {
		m, err := s.admin.Membership(r.Context(), p, id)
		if err != nil {
			return err
		}
		if *req.UserID != m.UserID {
			return latchkey.FieldError("user_id", "user_id %d does not match permission %d", *req.UserID, id)
		}
	}
	m, err := s.admin.UpdateMembership(r.Context(), p, id, upd)
	if err != nil {
		return err
	}
	names, err := s.admin.GroupNames(r.Context(), p)
	if err != nil {
		// The change was made: answer it, with the groups by id only.
		s.log.Warn("membership changed; reading group names failed", "membership_id", m.ID, "error", err.Error())
	}
	respond(w, http.StatusOK, apitype.MembershipOf(m, func(id int64) string { return names[id] }), nil)
	return nil
}

// userJSON renders a user without memberships.
func userJSON(u *latchkey.User) apitype.User {
	return apitype.User{ID: u.ID, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, Fullname: u.FullName(),
		IsActive: u.IsActive, Permissions: []apitype.Membership{}, CreatedAt: apitype.Time(u.CreatedAt)}
}
