package server

import (
	"context"
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
)

// userView renders users with their membership in one account.
func (s *Server) userView(ctx context.Context, accountID int64, users []*latchkey.User) ([]apitype.User, error) {
	groups, _, err := s.store.FindGroups(ctx, latchkey.GroupFilter{AccountID: accountID, Limit: latchkey.MaxLimit})
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	for _, g := range groups {
		names[g.ID] = g.Name
	}
	ms, err := s.store.FindMemberships(ctx, latchkey.MembershipFilter{AccountID: &accountID})
	if err != nil {
		return nil, err
	}
	byUser := map[int64]*latchkey.Membership{}
	for _, m := range ms {
		byUser[m.UserID] = m
	}
	out := make([]apitype.User, 0, len(users))
	for _, u := range users {
		j := apitype.User{ID: u.ID, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, Fullname: u.FullName(),
			IsActive: u.IsActive, Permissions: []apitype.Membership{}, CreatedAt: apitype.Time(u.CreatedAt)}
		if m := byUser[u.ID]; m != nil {
			j.LicenseType = string(m.License)
			j.Permissions = append(j.Permissions, apitype.MembershipOf(m, func(id int64) string { return names[id] }))
		}
		out = append(out, j)
	}
	return out, nil
}

func (s *Server) handleAPIUserList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := can(p, latchkey.ResMembers, latchkey.AccessRead); err != nil {
		return err
	}
	lp, err := parseList(r)
	if err != nil {
		return err
	}
	users, total, err := s.store.FindUsers(r.Context(), latchkey.UserFilter{AccountID: &p.AccountID, MembershipState: lp.state,
		Offset: lp.offset, Limit: lp.limit})
	if err != nil {
		return err
	}
	out, err := s.userView(r.Context(), p.AccountID, users)
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
	if !(p.Kind == latchkey.PrincipalUser && p.UserID == id) {
		if err := can(p, latchkey.ResMembers, latchkey.AccessRead); err != nil {
			return err
		}
	}
	users, _, err := s.store.FindUsers(r.Context(), latchkey.UserFilter{ID: &id, AccountID: &p.AccountID})
	if err != nil {
		return err
	}
	if len(users) == 0 {
		return latchkey.Errorf(latchkey.ENotFound, "user %d not found", id)
	}
	out, err := s.userView(r.Context(), p.AccountID, users)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, out[0], nil)
	return nil
}

type userCreateRequest struct {
	AccountID   *int64  `json:"account_id"`
	Email       *string `json:"email"`
	FirstName   *string `json:"first_name"`
	LastName    *string `json:"last_name"`
	Password    *string `json:"password"`
	LicenseType *string `json:"license_type"`
	GroupIDs    []int64 `json:"group_ids"`
}

func parseLicense(v *string) (latchkey.License, error) {
	if v == nil {
		return "", latchkey.FieldError("license_type", "license_type is required (developer, read_only, it or analyst)")
	}
	l := latchkey.License(*v)
	if !l.Valid() {
		return "", latchkey.FieldError("license_type", "unknown license_type %q (want developer, read_only, it or analyst)", *v)
	}
	return l, nil
}

// handleAPIUserCreate (a latchkey extension) adds a user to the account with a license, creating
// the user when the email is new.
func (s *Server) handleAPIUserCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := can(p, latchkey.ResMembers, latchkey.AccessWrite); err != nil {
		return err
	}
	if err := can(p, latchkey.ResLicenses, latchkey.AccessWrite); err != nil {
		return err
	}
	var req userCreateRequest
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
	in := newMember{Email: *req.Email, License: license, GroupIDs: req.GroupIDs}
	for dst, src := range map[*string]*string{&in.FirstName: req.FirstName, &in.LastName: req.LastName, &in.Password: req.Password} {
		if src != nil {
			*dst = *src
		}
	}
	u, err := s.addMember(r.Context(), p, in)
	if err != nil {
		return err
	}
	out, err := s.userView(r.Context(), p.AccountID, []*latchkey.User{u})
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, out[0], nil)
	return nil
}

type licenseRequest struct {
	AccountID   *int64  `json:"account_id"`
	UserID      *int64  `json:"user_id"`
	LicenseType *string `json:"license_type"`
	State       *int    `json:"state"`
}

// handleAPILicenseUpdate is dbt's POST /api/v2/accounts/{a}/permissions/{id}/: change a member's
// license_type, or remove them with state 2.
func (s *Server) handleAPILicenseUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	if err := can(p, latchkey.ResLicenses, latchkey.AccessWrite); err != nil {
		return err
	}
	id, err := pathID(r, "permission_id")
	if err != nil {
		return err
	}
	ms, err := s.store.FindMemberships(r.Context(), latchkey.MembershipFilter{ID: &id, AccountID: &p.AccountID})
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return latchkey.Errorf(latchkey.ENotFound, "permission %d not found", id)
	}
	m := ms[0]
	var req licenseRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	if req.UserID != nil && *req.UserID != m.UserID {
		return latchkey.FieldError("user_id", "user_id %d does not match permission %d", *req.UserID, id)
	}
	var upd latchkey.MembershipUpdate
	if req.LicenseType != nil {
		l, err := parseLicense(req.LicenseType)
		if err != nil {
			return err
		}
		upd.License = &l
	}
	if req.State != nil {
		st := latchkey.State(*req.State)
		upd.State = &st
	}
	if m, err = s.changeMembership(r.Context(), p, m, upd); err != nil {
		return err
	}
	ms, err = s.store.FindMemberships(r.Context(), latchkey.MembershipFilter{ID: &m.ID})
	if err != nil {
		return err
	}
	groups, _, err := s.store.FindGroups(r.Context(), latchkey.GroupFilter{AccountID: p.AccountID, Limit: latchkey.MaxLimit})
	if err != nil {
		return err
	}
	names := map[int64]string{}
	for _, g := range groups {
		names[g.ID] = g.Name
	}
	respond(w, http.StatusOK, apitype.MembershipOf(ms[0], func(id int64) string { return names[id] }), nil)
	return nil
}
