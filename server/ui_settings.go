package server

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
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
		errs[f] = uiMessage(le)
		return nil
	}
	return err
}

// Account.

type accountData struct {
	Account *latchkey.Account
	Name    string
	// Grace is the default rotation grace in seconds, as chosen; Graces the choices.
	Grace  string
	Graces []choice
	// The token security policy form: leak action, reuse ("revoke" or "refuse"), maximum
	// lifetime in seconds ("0": none) and its choices.
	LeakAction, Reuse, MaxLifetime string
	Lifetimes                      []choice
	// AccessLifetime is the longest lifetime a short-lived access token may ask for, in
	// seconds, and AccessLifetimes its choices.
	AccessLifetime  string
	AccessLifetimes []choice
	Errors          formErrors
	// Usage is the account's usage overview (nil for those who may not read service tokens).
	Usage *accountUsageSection
}

func (s *Server) accountData(r *http.Request, us *uiSession) (*accountData, error) {
	a, err := s.admin.Account(r.Context(), us.p)
	if err != nil {
		return nil, err
	}
	reuse := "refuse"
	if a.Settings.ReuseRevokesFamily {
		reuse = "revoke"
	}
	return &accountData{Account: a, Name: a.Name, Errors: formErrors{},
		Grace:      strconv.FormatInt(int64(a.Settings.DefaultRotationGrace/time.Second), 10),
		Graces:     graceChoices(a.Settings.DefaultRotationGrace),
		LeakAction: a.Settings.LeakAction, Reuse: reuse,
		MaxLifetime:     strconv.FormatInt(int64(a.Settings.MaxTokenLifetime/time.Second), 10),
		Lifetimes:       lifetimeChoices(a.Settings.MaxTokenLifetime),
		AccessLifetime:  strconv.FormatInt(int64(a.Settings.AccessTokenLifetimeCap()/time.Second), 10),
		AccessLifetimes: accessLifetimeChoices(a.Settings.AccessTokenLifetimeCap())}, nil
}

// accessLifetimeChoices are the longest access-token lifetimes the policy form offers.
func accessLifetimeChoices(cur time.Duration) []choice {
	out := []choice{{"900", "15 minutes"}, {"3600", "1 hour"}, {"14400", "4 hours"}, {"43200", "12 hours"}}
	return withCurrent(out, cur, "")
}

// lifetimeChoices are the maximum token lifetimes the policy form offers, with the current one.
func lifetimeChoices(cur time.Duration) []choice {
	const day = 86400
	out := []choice{{"0", "No limit"}, {strconv.Itoa(7 * day), "7 days"}, {strconv.Itoa(30 * day), "30 days"},
		{strconv.Itoa(90 * day), "90 days"}, {strconv.Itoa(180 * day), "180 days"}, {strconv.Itoa(365 * day), "1 year"}}
	return withCurrent(out, cur, "")
}

// updatePolicy applies the token security policy form.
func (s *Server) updatePolicy(w http.ResponseWriter, r *http.Request, us *uiSession, d *accountData) error {
	f := r.PostForm
	d.LeakAction, d.Reuse, d.MaxLifetime = f.Get("leak_action"), f.Get("reuse"), f.Get("max_token_lifetime")
	var u admin.SettingsUpdate
	u.LeakAction = &d.LeakAction
	switch d.Reuse {
	case "revoke", "refuse":
		b := d.Reuse == "revoke"
		u.ReuseRevokesFamily = &b
	default:
		d.Errors["reuse_revokes_family"] = "Choose what a reused rotated-out token does."
	}
	n, err := strconv.ParseInt(d.MaxLifetime, 10, 64)
	if err != nil || n < 0 || n > int64(admin.MaxTokenLifetimeCap/time.Second) {
		d.Errors["max_token_lifetime_seconds"] = "Choose a maximum lifetime from the list."
	}
	lifetime := time.Duration(n) * time.Second
	u.MaxTokenLifetime = &lifetime
	if v, ok := f["max_access_token_lifetime"]; ok {
		d.AccessLifetime = first(v)
		n, err := strconv.ParseInt(d.AccessLifetime, 10, 64)
		if err != nil {
			n = -1 // refused by the admin layer, at the field
		}
		at := time.Duration(n) * time.Second
		u.MaxAccessTokenLifetime = &at
	}
	if len(d.Errors) == 0 {
		_, err := s.admin.UpdateSettings(r.Context(), us.p, u)
		if err == nil {
			s.redirectFlash(w, r, "/settings/account", "Token security policy saved.")
			return nil
		}
		if err := fieldErr(d.Errors, err, "leak_action", "reuse_revokes_family", "max_token_lifetime_seconds", "max_access_token_lifetime_seconds"); err != nil {
			return err
		}
	}
	s.showStatus(w, r, us, http.StatusBadRequest, "account", "Account", d, "The policy was not saved: fix the fields marked below.")
	return nil
}

func (s *Server) handleUIAccount(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, err := s.accountData(r, us)
	if err != nil {
		return err
	}
	if d.Usage, err = s.accountUsage(r, us); err != nil {
		return err
	}
	s.show(w, r, us, "account", "Account", d)
	return nil
}

// handleUIAccountUpdate renames the account (form "name"), sets its default rotation grace
// (form "default_rotation_grace") or its token security policy (form=policy).
func (s *Server) handleUIAccountUpdate(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, err := s.accountData(r, us)
	if err != nil {
		return err
	}
	if r.PostForm.Get("form") == "policy" {
		return s.updatePolicy(w, r, us, d)
	}
	if v, ok := r.PostForm["default_rotation_grace"]; ok {
		d.Grace = first(v)
		n, perr := strconv.ParseInt(d.Grace, 10, 64)
		if perr != nil {
			n = -1
		}
		grace := time.Duration(n) * time.Second
		if _, err := s.admin.UpdateSettings(r.Context(), us.p, admin.SettingsUpdate{DefaultRotationGrace: &grace}); err != nil {
			if err := fieldErr(d.Errors, err, "default_rotation_grace_seconds"); err != nil {
				return err
			}
			s.showStatus(w, r, us, http.StatusBadRequest, "account", "Account", d, "")
			return nil
		}
		s.redirectFlash(w, r, "/settings/account", "Rotations now keep the old token working for "+humanDuration(grace)+" unless told otherwise.")
		return nil
	}
	d.Name = r.PostForm.Get("name")
	a, err := s.admin.RenameAccount(r.Context(), us.p, d.Name)
	if err != nil {
		if err := fieldErr(d.Errors, err, "name"); err != nil {
			return err
		}
		s.showStatus(w, r, us, http.StatusBadRequest, "account", "Account", d, "")
		return nil
	}
	s.redirectFlash(w, r, "/settings/account", "Account renamed to "+a.Name+".")
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
	ps, total, err := s.admin.Projects(ctx, p, latchkey.ProjectFilter{State: &active, Offset: d.Pager.Offset(), Limit: d.Pager.PerPage})
	if latchkey.ErrorCodeOf(err) == latchkey.EForbidden {
		return d, nil // not one project is readable: the list is empty
	}
	if err != nil {
		return nil, err
	}
	d.Pager.Total = total
	for _, pr := range ps {
		d.Projects = append(d.Projects, projectRow{Project: pr, CanDelete: admin.CanChangeProject(p, pr.ID)})
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
	d, err := s.projectsData(r.Context(), r, us.p)
	if err != nil {
		return err
	}
	d.Name, d.Description = r.PostForm.Get("name"), strings.TrimSpace(r.PostForm.Get("description"))
	pr, err := s.admin.CreateProject(r.Context(), us.p, admin.NewProject{Name: d.Name, Description: d.Description})
	if err == nil {
		s.redirectFlash(w, r, "/settings/projects", "Created project "+pr.Name+".")
		return nil
	}
	if err := fieldErr(d.Errors, err, "name", "description"); err != nil {
		if code := latchkey.ErrorCodeOf(err); code != latchkey.EConflict {
			return err
		}
		d.Errors["name"] = uiMessage(err)
	}
	s.showStatus(w, r, us, http.StatusBadRequest, "projects", "Projects", d, "The project was not created: fix the fields marked below.")
	return nil
}

func (s *Server) uiProject(r *http.Request, p *latchkey.Principal) (*latchkey.Project, error) {
	id, err := pathID(r, "project_id")
	if err != nil {
		return nil, err
	}
	pr, err := s.admin.Project(r.Context(), p, id, latchkey.AccessWrite)
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
	if _, err := s.admin.DeleteProject(admin.DryRun(r.Context()), us.p, pr.ID); err != nil {
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
	if _, err := s.admin.DeleteProject(r.Context(), us.p, pr.ID); err != nil {
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
	users, total, err := s.admin.Users(ctx, p, latchkey.UserFilter{MembershipState: &active, Offset: d.Pager.Offset(), Limit: d.Pager.PerPage})
	if err != nil {
		return nil, err
	}
	d.Pager.Total = total
	ms, err := s.admin.Memberships(ctx, p, latchkey.MembershipFilter{State: &active})
	if err != nil {
		return nil, err
	}
	byUser := map[int64]*latchkey.Membership{}
	for _, m := range ms {
		byUser[m.UserID] = m
	}
	names, err := s.admin.GroupNames(ctx, p)
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

func (s *Server) handleUIUserList(w http.ResponseWriter, r *http.Request, us *uiSession) error {
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
	if !d.License.Valid() {
		d.Errors["license_type"] = "Choose a license."
	}
	if len(d.Errors) > 0 {
		return again("The user was not added: fix the fields marked below.")
	}
	// Someone added through the UI signs in there: a new user needs a password (the API may
	// add users who set theirs later).
	u, err := s.admin.AddMember(ctx, us.p, admin.NewMember{Email: d.Email, FirstName: d.FirstName, LastName: d.LastName,
		Password: pw, License: d.License, NeedsPassword: true})
	if err != nil {
		if le, ok := err.(*latchkey.Error); ok && le.Field != "" {
			d.Errors[le.Field] = uiMessage(le)
			return again("The user was not added: fix the fields marked below.")
		}
		if latchkey.SystemError(err) {
			return err
		}
		return again(uiMessage(err))
	}
	s.redirectFlash(w, r, "/settings/users", "Added "+u.Email+" with the "+string(d.License)+" license.")
	return nil
}

// uiMembership loads the active membership named by {membership_id} for a license change or
// removal.
func (s *Server) uiMembership(r *http.Request, p *latchkey.Principal) (*latchkey.Membership, *latchkey.User, error) {
	id, err := pathID(r, "membership_id")
	if err != nil {
		return nil, nil, err
	}
	m, err := s.admin.Membership(r.Context(), p, id)
	if err != nil {
		return nil, nil, err
	}
	if m.State != latchkey.StateActive {
		return nil, nil, latchkey.Errorf(latchkey.ENotFound, "user %d is not a member of this account", id)
	}
	u, err := s.admin.User(r.Context(), p, m.UserID)
	if err != nil {
		return nil, nil, err
	}
	return m, u, nil
}

func (s *Server) handleUIUserLicense(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	m, u, err := s.uiMembership(r, us.p)
	if err != nil {
		return err
	}
	l := latchkey.License(r.PostForm.Get("license_type"))
	if _, err := s.admin.UpdateMembership(r.Context(), us.p, m.ID, latchkey.MembershipUpdate{License: &l}); err != nil {
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
	// Say now, not after the click, when the removal would be refused.
	deleted := latchkey.StateDeleted
	if _, err := s.admin.UpdateMembership(admin.DryRun(r.Context()), us.p, m.ID, latchkey.MembershipUpdate{State: &deleted}); err != nil {
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
	if _, err := s.admin.UpdateMembership(r.Context(), us.p, m.ID, latchkey.MembershipUpdate{State: &deleted}); err != nil {
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
	groups, _, err := s.admin.Groups(ctx, p, latchkey.GroupFilter{State: &active, Limit: latchkey.MaxLimit})
	if err != nil {
		return nil, err
	}
	namer, err := s.projectNamer(ctx, p)
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
	d, err := s.groupsData(r.Context(), us.p)
	if err != nil {
		return err
	}
	s.show(w, r, us, "groups", "Groups", d)
	return nil
}

func (s *Server) handleUIGroupCreate(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, err := s.groupsData(r.Context(), us.p)
	if err != nil {
		return err
	}
	d.Name = r.PostForm.Get("name")
	g, err := s.admin.CreateGroup(r.Context(), us.p, admin.NewGroup{Name: d.Name})
	if err == nil {
		s.redirectFlash(w, r, "/settings/groups/"+strconv.FormatInt(g.ID, 10), "Created group "+g.Name+". Give it permissions and members below.")
		return nil
	}
	if err := fieldErr(d.Errors, err, "name"); err != nil {
		if latchkey.ErrorCodeOf(err) != latchkey.EConflict {
			return err
		}
		d.Errors["name"] = uiMessage(err)
	}
	s.showStatus(w, r, us, http.StatusBadRequest, "groups", "Groups", d, "The group was not created: fix the fields marked below.")
	return nil
}

// uiGroup loads the group named by {group_id} (groups:read).
func (s *Server) uiGroup(r *http.Request, p *latchkey.Principal) (*latchkey.Group, error) {
	id, err := pathID(r, "group_id")
	if err != nil {
		return nil, err
	}
	return s.admin.Group(r.Context(), p, id)
}

// groupDeleteData is the confirmation page of a group delete.
type groupDeleteData struct {
	Group   *latchkey.Group
	Summary string
	Members int
}

// handleUIGroupDeleteConfirm asks before deleting a group, unless the deletion would be refused
// (a built-in group, a group the principal could not delete): then it says why.
func (s *Server) handleUIGroupDeleteConfirm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	g, err := s.uiGroup(r, us.p)
	if err != nil {
		return err
	}
	if g.State != latchkey.StateActive {
		return latchkey.Errorf(latchkey.ENotFound, "group %s was already deleted", g.Name)
	}
	deleted := latchkey.StateDeleted
	if _, err := s.admin.UpdateGroup(admin.DryRun(r.Context()), us.p, g.ID, admin.GroupChange{State: &deleted}); err != nil {
		return err
	}
	d := &groupDeleteData{Group: g, Summary: catalog.Summary(g.Grants, s.namerOrNil(r.Context(), us.p)), Members: len(g.UserIDs)}
	s.show(w, r, us, "group_delete", "Delete "+g.Name, d)
	return nil
}

// handleUIGroupDelete deletes a group as DELETE …/groups/{id}/ does.
func (s *Server) handleUIGroupDelete(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	g, err := s.uiGroup(r, us.p)
	if err != nil {
		return err
	}
	if g.State != latchkey.StateActive {
		return latchkey.Errorf(latchkey.ENotFound, "group %s was already deleted", g.Name)
	}
	deleted := latchkey.StateDeleted
	if _, err := s.admin.UpdateGroup(r.Context(), us.p, g.ID, admin.GroupChange{State: &deleted}); err != nil {
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
	g, err := s.uiGroup(r, p)
	if err != nil {
		return nil, err
	}
	if g.State != latchkey.StateActive {
		return nil, latchkey.Errorf(latchkey.ENotFound, "group %s was deleted", g.Name)
	}
	d := &groupData{Group: g, Name: g.Name, AssignByDefault: g.AssignByDefault, Errors: formErrors{}}
	if d.Editor, err = s.newGrantEditor(ctx, p, catalog.Sets(), rowsFromGrants(g.Grants)); err != nil {
		return nil, err
	}
	d.Editor.ReadOnly = g.Immutable() || !admin.Capabilities(p).GroupsWrite
	active := latchkey.StateActive
	users, _, err := s.admin.Users(ctx, p, latchkey.UserFilter{MembershipState: &active, Limit: latchkey.MaxLimit})
	if latchkey.ErrorCodeOf(err) == latchkey.EForbidden {
		users = nil // members are listed to those who may read them
	} else if err != nil {
		return nil, err
	}
	for _, u := range users {
		d.Members = append(d.Members, memberChoice{UserID: u.ID, Email: u.Email, Name: u.FullName(), InGroup: slices.Contains(g.UserIDs, u.ID)})
	}
	return d, nil
}

func (s *Server) handleUIGroupEdit(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, err := s.groupData(r.Context(), r, us.p)
	if err != nil {
		return err
	}
	s.show(w, r, us, "group", d.Group.Name, d)
	return nil
}

// handleUIGroupSave handles the group form: add or remove a permission row, or save the name,
// assign-by-default and grants — together, or nothing.
func (s *Server) handleUIGroupSave(w http.ResponseWriter, r *http.Request, us *uiSession) error {
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
	c := admin.GroupChange{AssignByDefault: &d.AssignByDefault}
	if !g.Builtin {
		c.Name = &d.Name
		if _, err := latchkey.CleanName("name", d.Name); err != nil {
			d.Errors["name"] = uiMessage(err)
		}
	}
	ok := true
	if !g.Immutable() && !d.Editor.ReadOnly {
		var grants []latchkey.Grant
		if grants, ok, err = s.validateGrantRows(ctx, us.p, &d.Editor, "", 0); err != nil {
			return err
		}
		c.Grants = &grants
	}
	if !ok || len(d.Errors) > 0 {
		d.Editor.focusFirstError()
		return again(http.StatusBadRequest, "The group was not saved: fix the fields marked below.")
	}
	saved, err := s.admin.UpdateGroup(ctx, us.p, g.ID, c)
	if err != nil {
		if latchkey.SystemError(err) {
			return err
		}
		if err := fieldErr(d.Errors, err, "name"); err != nil {
			if le, isLE := err.(*latchkey.Error); isLE && le.Field == "name" {
				d.Errors["name"] = uiMessage(le)
				return again(formStatus(err), "The group was not saved: fix the fields marked below.")
			}
			return again(formStatus(err), uiMessage(err))
		}
		return again(http.StatusBadRequest, "The group was not saved: fix the fields marked below.")
	}
	s.redirectFlash(w, r, "/settings/groups/"+strconv.FormatInt(g.ID, 10), "Saved group "+saved.Name+".")
	return nil
}

// handleUIGroupMembers makes the ticked users exactly the group's members, among the users the
// form listed (a long member list is cut at one page), in one change.
func (s *Server) handleUIGroupMembers(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := pathID(r, "group_id")
	if err != nil {
		return err
	}
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
	members := make(map[int64]bool, len(listed))
	for id := range listed {
		members[id] = want[id]
	}
	added, removed, err := s.admin.SetGroupMembers(r.Context(), us.p, id, members)
	if err != nil {
		return err
	}
	g, err := s.admin.Group(r.Context(), us.p, id)
	if err != nil {
		return err
	}
	s.redirectFlash(w, r, "/settings/groups/"+strconv.FormatInt(g.ID, 10),
		"Members of "+g.Name+" saved: "+strconv.Itoa(added)+" added, "+strconv.Itoa(removed)+" removed.")
	return nil
}
