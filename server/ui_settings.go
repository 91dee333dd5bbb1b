package server

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/catalog"
)

// Account settings pages: Account, Projects, Users and Groups. Each handler checks the same
// permission as the matching API endpoint; pages hide what the principal may not use.

// formErrors keeps what was typed and the errors by field, for forms re-rendered after a
// validation error.
type formErrors map[string]string

// fieldErr puts a field error of err into errs, or returns err when it names no field.
func fieldErr(errs formErrors, err error, fields ...string) error {
	le, ok := err.(*latchkey.Error)
	if ok && le.Code == latchkey.EInvalid && (slices.Contains(fields, le.Field) || le.Field == "" && len(fields) > 0) {
		f := le.Field
		if f == "" {
			f = fields[0]
		}
		errs[f] = le.Message
		return nil
	}
	return err
}

// Account.

type accountData struct {
	Account *latchkey.Account
	Name    string
	Errors  formErrors
}

func (s *Server) handleUIAccount(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	a, err := s.store.FindAccountByID(r.Context(), us.p.AccountID)
	if err != nil {
		return err
	}
	s.show(w, r, us, "account", "Account", &accountData{Account: a, Name: a.Name, Errors: formErrors{}})
	return nil
}

func (s *Server) handleUIAccountUpdate(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := can(us.p, latchkey.ResAccountSettings, latchkey.AccessWrite); err != nil {
		return err
	}
	a, err := s.store.FindAccountByID(r.Context(), us.p.AccountID)
	if err != nil {
		return err
	}
	d := &accountData{Account: a, Name: r.PostForm.Get("name"), Errors: formErrors{}}
	name, err := validName("name", &d.Name, true)
	if err != nil {
		d.Errors["name"] = "Enter the account's name."
		s.showStatus(w, r, us, http.StatusBadRequest, "account", "Account", d, "")
		return nil
	}
	if _, err := s.store.UpdateAccount(r.Context(), a.ID, latchkey.AccountUpdate{Name: &name}); err != nil {
		return err
	}
	s.redirectFlash(w, r, "/settings/account", "Account renamed to "+name+".")
	return nil
}

// Projects.

type projectRow struct {
	*latchkey.Project
	CanDelete bool
}

type projectsData struct {
	Projects    []projectRow
	Pager       pager
	Name        string
	Description string
	Errors      formErrors
}

func (s *Server) projectsData(ctx context.Context, r *http.Request, p *latchkey.Principal) (*projectsData, error) {
	d := &projectsData{Errors: formErrors{}, Pager: pager{Page: pageParam(r), PerPage: latchkey.MaxLimit, Base: "/settings/projects?"}}
	active := latchkey.StateActive
	ps, total, err := s.store.FindProjects(ctx, latchkey.ProjectFilter{AccountID: p.AccountID, IDs: readableProjects(p),
		State: &active, Offset: d.Pager.Offset(), Limit: d.Pager.PerPage})
	if err != nil {
		return nil, err
	}
	d.Pager.Total = total
	for _, pr := range ps {
		d.Projects = append(d.Projects, projectRow{Project: pr, CanDelete: p.Can(latchkey.ResProjects, latchkey.AccessWrite, pr.ID, "").Allowed})
	}
	return d, nil
}

func (s *Server) handleUIProjectList(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, err := s.projectsData(r.Context(), r, us.p)
	if err != nil {
		return err
	}
	s.show(w, r, us, "projects", "Projects", d)
	return nil
}

func (s *Server) handleUIProjectCreate(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := can(us.p, latchkey.ResProjectCreate, latchkey.AccessWrite); err != nil {
		return err
	}
	d, err := s.projectsData(r.Context(), r, us.p)
	if err != nil {
		return err
	}
	d.Name, d.Description = r.PostForm.Get("name"), strings.TrimSpace(r.PostForm.Get("description"))
	name, err := validName("name", &d.Name, true)
	if err == nil {
		pr := &latchkey.Project{AccountID: us.p.AccountID, Name: name, Description: d.Description}
		if err = s.store.CreateProject(r.Context(), pr); err == nil {
			s.redirectFlash(w, r, "/settings/projects", "Created project "+name+".")
			return nil
		}
	}
	if err := fieldErr(d.Errors, err, "name"); err != nil {
		if latchkey.ErrorCodeOf(err) == latchkey.EInternal {
			return err
		}
		d.Errors["name"] = latchkey.ErrorMessage(err)
	}
	s.showStatus(w, r, us, http.StatusBadRequest, "projects", "Projects", d, "The project was not created: fix the fields marked below.")
	return nil
}

func (s *Server) uiProject(r *http.Request, p *latchkey.Principal) (*latchkey.Project, error) {
	pr, err := s.project(r.Context(), r, p, latchkey.AccessWrite)
	if err != nil {
		return nil, err
	}
	if pr.State != latchkey.StateActive {
		return nil, latchkey.Errorf(latchkey.ENotFound, "project %s was already deleted", pr.Name)
	}
	return pr, nil
}

func (s *Server) handleUIProjectDeleteConfirm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	pr, err := s.uiProject(r, us.p)
	if err != nil {
		return err
	}
	s.show(w, r, us, "project_delete", "Delete "+pr.Name, pr)
	return nil
}

func (s *Server) handleUIProjectDelete(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	pr, err := s.uiProject(r, us.p)
	if err != nil {
		return err
	}
	if err := s.store.DeleteProject(r.Context(), pr.ID); err != nil {
		return err
	}
	s.redirectFlash(w, r, "/settings/projects", "Deleted project "+pr.Name+".")
	return nil
}

// Users.

type userRow struct {
	User         *latchkey.User
	MembershipID int64
	License      latchkey.License
	Groups       []string
	Self         bool
}

type usersData struct {
	Users    []userRow
	Pager    pager
	Licenses []latchkey.License
	// The add-user form.
	Email, FirstName, LastName string
	License                    latchkey.License
	Errors                     formErrors
}

func (s *Server) usersData(ctx context.Context, r *http.Request, p *latchkey.Principal) (*usersData, error) {
	d := &usersData{Licenses: licenses, License: latchkey.LicenseDeveloper, Errors: formErrors{},
		Pager: pager{Page: pageParam(r), PerPage: latchkey.MaxLimit, Base: "/settings/users?"}}
	active := latchkey.StateActive
	users, total, err := s.store.FindUsers(ctx, latchkey.UserFilter{AccountID: &p.AccountID, MembershipState: &active,
		Offset: d.Pager.Offset(), Limit: d.Pager.PerPage})
	if err != nil {
		return nil, err
	}
	d.Pager.Total = total
	ms, err := s.store.FindMemberships(ctx, latchkey.MembershipFilter{AccountID: &p.AccountID, State: &active})
	if err != nil {
		return nil, err
	}
	byUser := map[int64]*latchkey.Membership{}
	for _, m := range ms {
		byUser[m.UserID] = m
	}
	names, err := s.groupNames(ctx, p.AccountID)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		row := userRow{User: u, Self: p.UserID == u.ID}
		if m := byUser[u.ID]; m != nil {
			row.MembershipID, row.License = m.ID, m.License
			for _, id := range m.GroupIDs {
				if n, ok := names[id]; ok {
					row.Groups = append(row.Groups, n)
				}
			}
		}
		d.Users = append(d.Users, row)
	}
	return d, nil
}

// groupNames maps the account's active groups' ids to names.
func (s *Server) groupNames(ctx context.Context, accountID int64) (map[int64]string, error) {
	active := latchkey.StateActive
	groups, _, err := s.store.FindGroups(ctx, latchkey.GroupFilter{AccountID: accountID, State: &active, Limit: latchkey.MaxLimit})
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	for _, g := range groups {
		names[g.ID] = g.Name
	}
	return names, nil
}

func (s *Server) handleUIUserList(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := can(us.p, latchkey.ResMembers, latchkey.AccessRead); err != nil {
		return err
	}
	d, err := s.usersData(r.Context(), r, us.p)
	if err != nil {
		return err
	}
	s.show(w, r, us, "users", "Users", d)
	return nil
}

// handleUIUserAdd adds a user to the account with a license, creating the user when the email
// is new, as POST …/users/ does. New members join the account's default groups.
func (s *Server) handleUIUserAdd(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := can(us.p, latchkey.ResMembers, latchkey.AccessWrite); err != nil {
		return err
	}
	if err := can(us.p, latchkey.ResLicenses, latchkey.AccessWrite); err != nil {
		return err
	}
	ctx := r.Context()
	d, err := s.usersData(ctx, r, us.p)
	if err != nil {
		return err
	}
	f := r.PostForm
	d.Email, d.FirstName, d.LastName = strings.TrimSpace(f.Get("email")), strings.TrimSpace(f.Get("first_name")), strings.TrimSpace(f.Get("last_name"))
	d.License = latchkey.License(f.Get("license_type"))
	pw := f.Get("password")
	again := func(msg string) error {
		s.showStatus(w, r, us, http.StatusBadRequest, "users", "Users", d, msg)
		return nil
	}
	// Someone signing in through the UI needs a password; the API may add users who set theirs
	// later.
	if _, err := s.store.FindUserByEmail(ctx, d.Email); latchkey.ErrorCodeOf(err) == latchkey.ENotFound && pw == "" {
		d.Errors["password"] = "A new user needs a password to sign in."
	}
	if !d.License.Valid() {
		d.Errors["license_type"] = "Choose a license."
	}
	if len(d.Errors) > 0 {
		return again("The user was not added: fix the fields marked below.")
	}
	u, err := s.addMember(ctx, us.p, newMember{Email: d.Email, FirstName: d.FirstName, LastName: d.LastName, Password: pw, License: d.License})
	if err != nil {
		if le, ok := err.(*latchkey.Error); ok && le.Field != "" {
			d.Errors[le.Field] = le.Message
			return again("The user was not added: fix the fields marked below.")
		}
		if latchkey.ErrorCodeOf(err) == latchkey.EInternal {
			return err
		}
		return again(latchkey.ErrorMessage(err))
	}
	s.redirectFlash(w, r, "/settings/users", "Added "+u.Email+" with the "+string(d.License)+" license.")
	return nil
}

// uiMembership loads the membership named by {membership_id} for a license change or removal by
// someone other than its user.
func (s *Server) uiMembership(r *http.Request, p *latchkey.Principal) (*latchkey.Membership, *latchkey.User, error) {
	if err := can(p, latchkey.ResLicenses, latchkey.AccessWrite); err != nil {
		return nil, nil, err
	}
	id, err := pathID(r, "membership_id")
	if err != nil {
		return nil, nil, err
	}
	active := latchkey.StateActive
	ms, err := s.store.FindMemberships(r.Context(), latchkey.MembershipFilter{ID: &id, AccountID: &p.AccountID, State: &active})
	if err != nil {
		return nil, nil, err
	}
	if len(ms) == 0 {
		return nil, nil, latchkey.Errorf(latchkey.ENotFound, "user %d is not a member of this account", id)
	}
	u, err := s.store.FindUserByID(r.Context(), ms[0].UserID)
	if err != nil {
		return nil, nil, err
	}
	return ms[0], u, nil
}

func (s *Server) handleUIUserLicense(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	m, u, err := s.uiMembership(r, us.p)
	if err != nil {
		return err
	}
	l := latchkey.License(r.PostForm.Get("license_type"))
	if _, err := s.changeMembership(r.Context(), us.p, m, latchkey.MembershipUpdate{License: &l}); err != nil {
		return err
	}
	s.redirectFlash(w, r, "/settings/users", u.Email+" now has the "+string(l)+" license.")
	return nil
}

func (s *Server) handleUIUserRemoveConfirm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	m, u, err := s.uiMembership(r, us.p)
	if err != nil {
		return err
	}
	s.show(w, r, us, "user_remove", "Remove "+u.Email, &userRow{User: u, MembershipID: m.ID, License: m.License})
	return nil
}

func (s *Server) handleUIUserRemove(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	m, u, err := s.uiMembership(r, us.p)
	if err != nil {
		return err
	}
	deleted := latchkey.StateDeleted
	if _, err := s.changeMembership(r.Context(), us.p, m, latchkey.MembershipUpdate{State: &deleted}); err != nil {
		return err
	}
	s.redirectFlash(w, r, "/settings/users", "Removed "+u.Email+" from the account.")
	return nil
}

// Groups.

type groupRow struct {
	*latchkey.Group
	Summary string
	Members int
}

type groupsData struct {
	Groups []groupRow
	Name   string
	Errors formErrors
}

func (s *Server) groupsData(ctx context.Context, p *latchkey.Principal) (*groupsData, error) {
	active := latchkey.StateActive
	groups, _, err := s.store.FindGroups(ctx, latchkey.GroupFilter{AccountID: p.AccountID, State: &active, Limit: latchkey.MaxLimit})
	if err != nil {
		return nil, err
	}
	namer, err := s.projectNamer(ctx, p.AccountID)
	if err != nil {
		return nil, err
	}
	d := &groupsData{Errors: formErrors{}}
	for _, g := range groups {
		d.Groups = append(d.Groups, groupRow{Group: g, Summary: catalog.Summary(g.Grants, namer), Members: len(g.UserIDs)})
	}
	return d, nil
}

func (s *Server) handleUIGroupList(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := can(us.p, latchkey.ResGroups, latchkey.AccessRead); err != nil {
		return err
	}
	d, err := s.groupsData(r.Context(), us.p)
	if err != nil {
		return err
	}
	s.show(w, r, us, "groups", "Groups", d)
	return nil
}

func (s *Server) handleUIGroupCreate(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := can(us.p, latchkey.ResGroups, latchkey.AccessWrite); err != nil {
		return err
	}
	d, err := s.groupsData(r.Context(), us.p)
	if err != nil {
		return err
	}
	d.Name = r.PostForm.Get("name")
	name, err := validName("name", &d.Name, true)
	if err == nil {
		g := &latchkey.Group{AccountID: us.p.AccountID, Name: name}
		if err = s.store.CreateGroup(r.Context(), g); err == nil {
			s.redirectFlash(w, r, "/settings/groups/"+strconv.FormatInt(g.ID, 10), "Created group "+name+". Give it permissions and members below.")
			return nil
		}
	}
	if latchkey.ErrorCodeOf(err) == latchkey.EInternal {
		return err
	}
	d.Errors["name"] = latchkey.ErrorMessage(err)
	s.showStatus(w, r, us, http.StatusBadRequest, "groups", "Groups", d, "The group was not created: fix the fields marked below.")
	return nil
}

// groupDeletion loads the group named by {group_id} for deletion, with the API's checks: groups
// write access, a group still active, and no built-in group (checkGroupUpdate). It returns the
// update that deletes it.
func (s *Server) groupDeletion(r *http.Request, p *latchkey.Principal) (*latchkey.Group, latchkey.GroupUpdate, error) {
	deleted := latchkey.StateDeleted
	upd := latchkey.GroupUpdate{State: &deleted}
	g, err := s.pathGroup(r, p, latchkey.AccessWrite)
	if err != nil {
		return nil, upd, err
	}
	if g.State != latchkey.StateActive {
		return nil, upd, latchkey.Errorf(latchkey.ENotFound, "group %s was already deleted", g.Name)
	}
	if err := s.checkGroupUpdate(r.Context(), p, g, upd); err != nil {
		return nil, upd, err
	}
	return g, upd, nil
}

// groupDeleteData is the confirmation page of a group delete.
type groupDeleteData struct {
	Group   *latchkey.Group
	Summary string
	Members int
}

func (s *Server) handleUIGroupDeleteConfirm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	g, _, err := s.groupDeletion(r, us.p)
	if err != nil {
		return err
	}
	d := &groupDeleteData{Group: g, Summary: catalog.Summary(g.Grants, s.namerOrNil(r.Context(), us.p.AccountID)), Members: len(g.UserIDs)}
	s.show(w, r, us, "group_delete", "Delete "+g.Name, d)
	return nil
}

// handleUIGroupDelete deletes a group as DELETE …/groups/{id}/ does: the same checks and the
// same store call, which writes the one group.deleted audit entry.
func (s *Server) handleUIGroupDelete(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	g, upd, err := s.groupDeletion(r, us.p)
	if err != nil {
		return err
	}
	if _, err := s.store.UpdateGroup(r.Context(), g.ID, upd); err != nil {
		return err
	}
	s.redirectFlash(w, r, "/settings/groups", "Deleted group "+g.Name+". Its members no longer get its permissions.")
	return nil
}

type memberChoice struct {
	UserID  int64
	Email   string
	Name    string
	InGroup bool
}

type groupData struct {
	Group           *latchkey.Group
	Name            string
	AssignByDefault bool
	Editor          grantEditor
	Members         []memberChoice
	Errors          formErrors
}

func (s *Server) groupData(ctx context.Context, r *http.Request, p *latchkey.Principal) (*groupData, error) {
	g, err := s.pathGroup(r, p, latchkey.AccessRead)
	if err != nil {
		return nil, err
	}
	if g.State != latchkey.StateActive {
		return nil, latchkey.Errorf(latchkey.ENotFound, "group %s was deleted", g.Name)
	}
	d := &groupData{Group: g, Name: g.Name, AssignByDefault: g.AssignByDefault, Errors: formErrors{}}
	if d.Editor, err = s.newGrantEditor(ctx, p.AccountID, catalog.Sets(), rowsFromGrants(g.Grants)); err != nil {
		return nil, err
	}
	d.Editor.ReadOnly = g.Immutable() || can(p, latchkey.ResGroups, latchkey.AccessWrite) != nil
	active := latchkey.StateActive
	users, _, err := s.store.FindUsers(ctx, latchkey.UserFilter{AccountID: &p.AccountID, MembershipState: &active, Limit: latchkey.MaxLimit})
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		d.Members = append(d.Members, memberChoice{UserID: u.ID, Email: u.Email, Name: u.FullName(), InGroup: slices.Contains(g.UserIDs, u.ID)})
	}
	return d, nil
}

func (s *Server) handleUIGroupEdit(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := can(us.p, latchkey.ResGroups, latchkey.AccessRead); err != nil {
		return err
	}
	d, err := s.groupData(r.Context(), r, us.p)
	if err != nil {
		return err
	}
	s.show(w, r, us, "group", d.Group.Name, d)
	return nil
}

// handleUIGroupSave handles the group form: add or remove a permission row, or save the name,
// assign-by-default and grants.
func (s *Server) handleUIGroupSave(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := can(us.p, latchkey.ResGroups, latchkey.AccessWrite); err != nil {
		return err
	}
	ctx := r.Context()
	d, err := s.groupData(ctx, r, us.p)
	if err != nil {
		return err
	}
	f := r.PostForm
	g := d.Group
	if !g.Builtin {
		d.Name = f.Get("name")
	}
	d.AssignByDefault = f.Get("assign_by_default") == "on"
	again := func(status int, msg string) error {
		s.showStatus(w, r, us, status, "group", g.Name, d, msg)
		return nil
	}
	if !d.Editor.ReadOnly {
		d.Editor.Rows = parseGrantRows(f)
		if d.Editor.editRows(f.Get("action")) {
			return again(http.StatusOK, "")
		}
	}
	name, err := validName("name", &d.Name, true)
	if err != nil {
		d.Errors["name"] = "Enter the group's name."
	}
	upd := latchkey.GroupUpdate{AssignByDefault: &d.AssignByDefault}
	if !g.Builtin {
		upd.Name = &name
	}
	if err := s.checkGroupUpdate(ctx, us.p, g, upd); err != nil {
		if err := fieldErr(d.Errors, err, "name"); err != nil {
			return again(formStatus(err), latchkey.ErrorMessage(err))
		}
	}
	var grants []latchkey.Grant
	ok := true
	if !g.Immutable() {
		if grants, ok, err = s.validateGrantRows(ctx, us.p, &d.Editor, grantOwner{groupID: g.ID}, 0); err != nil {
			return err
		}
	}
	if !ok || len(d.Errors) > 0 {
		d.Editor.focusFirstError()
		return again(http.StatusBadRequest, "The group was not saved: fix the fields marked below.")
	}
	if !g.Immutable() && !sameGrants(g.Grants, grants) {
		if _, err := s.store.ReplaceGroupGrants(ctx, g.ID, grants); err != nil {
			if latchkey.ErrorCodeOf(err) == latchkey.EInternal {
				return err
			}
			return again(formStatus(err), latchkey.ErrorMessage(err))
		}
	}
	if _, err := s.store.UpdateGroup(ctx, g.ID, upd); err != nil {
		if latchkey.ErrorCodeOf(err) == latchkey.EInternal {
			return err
		}
		if err := fieldErr(d.Errors, err, "name"); err != nil {
			return again(formStatus(err), latchkey.ErrorMessage(err))
		}
		return again(http.StatusBadRequest, "The group was not saved: fix the fields marked below.")
	}
	s.redirectFlash(w, r, "/settings/groups/"+strconv.FormatInt(g.ID, 10), "Saved group "+name+".")
	return nil
}

// handleUIGroupMembers makes the ticked users exactly the group's members. Adding someone hands
// out the group's grants, so the caller must hold them, as for POST …/assign-groups/.
func (s *Server) handleUIGroupMembers(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := can(us.p, latchkey.ResGroups, latchkey.AccessWrite); err != nil {
		return err
	}
	ctx := r.Context()
	d, err := s.groupData(ctx, r, us.p)
	if err != nil {
		return err
	}
	g := d.Group
	// Only users the form listed change: a long member list is cut at one page.
	ids := func(field string) (map[int64]bool, error) {
		out := map[int64]bool{}
		for _, v := range r.PostForm[field] {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, latchkey.FieldError(field, "unknown user %q", v)
			}
			out[id] = true
		}
		return out, nil
	}
	want, err := ids("member")
	if err != nil {
		return err
	}
	listed, err := ids("listed")
	if err != nil {
		return err
	}
	active := latchkey.StateActive
	ms, err := s.store.FindMemberships(ctx, latchkey.MembershipFilter{AccountID: &us.p.AccountID, State: &active})
	if err != nil {
		return err
	}
	added, removed := 0, 0
	for _, m := range ms {
		in := slices.Contains(m.GroupIDs, g.ID)
		if !listed[m.UserID] || in == want[m.UserID] {
			continue
		}
		ids := slices.DeleteFunc(slices.Clone(m.GroupIDs), func(id int64) bool { return id == g.ID })
		if !in {
			if err := checkGroupJoin(us.p, g); err != nil {
				return err
			}
			ids = append(ids, g.ID)
			added++
		} else {
			removed++
		}
		if err := s.store.SetUserGroups(ctx, us.p.AccountID, m.UserID, ids); err != nil {
			return err
		}
	}
	s.redirectFlash(w, r, "/settings/groups/"+strconv.FormatInt(g.ID, 10),
		"Members of "+g.Name+" saved: "+strconv.Itoa(added)+" added, "+strconv.Itoa(removed)+" removed.")
	return nil
}
