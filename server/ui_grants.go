package server

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/catalog"
)

// The grant editor is shared by the service token form and the group page: one row per grant
// (permission set, all projects or one project, writable environment categories). It works
// without JavaScript: "Add permission" and "Remove" are submit buttons that re-render the form
// with every typed value kept.

// grantRow is one row of the grant editor, as typed.
type grantRow struct {
	Set string
	// Project is "all" or a project id.
	Project string
	Envs    []string
	// Errors holds messages by field: permission_set, project_id, writable_environment_categories.
	Errors map[string]string
}

// HasEnv reports whether the row has environment category c ticked.
func (r grantRow) HasEnv(c latchkey.EnvCategory) bool { return slices.Contains(r.Envs, string(c)) }

// Err returns the row's error for field.
func (r grantRow) Err(field string) string { return r.Errors[field] }

// grantEditor is the data of the grant editor partial.
type grantEditor struct {
	Sets     []*catalog.Set
	Projects []*latchkey.Project
	Rows     []grantRow
	Envs     []latchkey.EnvCategory
	// Error is an editor-wide error (a repeated grant, no grants).
	Error string
	// ReadOnly shows the rows without inputs (the Owner group).
	ReadOnly bool
	// Hint explains which sets are offered.
	Hint string
	// Focus is the id of the control to focus when the page loads: the new row after "Add
	// permission", the first field in error after a failed submit.
	Focus string
}

// focusFirstError points Focus at the first row with an error.
func (e *grantEditor) focusFirstError() {
	for i, r := range e.Rows {
		switch {
		case r.Errors["permission_set"] != "":
			e.Focus = "grant-set-" + strconv.Itoa(i)
		case r.Errors["project_id"] != "":
			e.Focus = "grant-project-" + strconv.Itoa(i)
		case len(r.Errors) > 0:
			e.Focus = "grant-set-" + strconv.Itoa(i)
		default:
			continue
		}
		return
	}
	if e.Error != "" {
		e.Focus = "add-permission"
	}
}

// AnyEnvs reports whether any offered set accepts writable environment categories.
func (e grantEditor) AnyEnvs() bool {
	for _, s := range e.Sets {
		if s.AcceptsWritableEnvs() {
			return true
		}
	}
	return false
}

// ShowEnvs reports whether a row offers writable environment categories: when its set accepts
// them or no set is chosen yet, or when some are ticked (so a mistake stays visible).
func (e grantEditor) ShowEnvs(r grantRow) bool {
	if !e.AnyEnvs() {
		return false
	}
	if r.Set == "" || len(r.Envs) > 0 {
		return true
	}
	set, err := catalog.Lookup(r.Set)
	return err == nil && set.AcceptsWritableEnvs()
}

// EnvSets names the sets that accept writable environment categories, for the hint.
func (e grantEditor) EnvSets() string {
	var names []string
	for _, s := range e.Sets {
		if s.AcceptsWritableEnvs() {
			names = append(names, s.Title)
		}
	}
	return strings.Join(names, ", ")
}

// ProjectName returns the name of a row's project for read-only display.
func (e grantEditor) ProjectName(id string) string {
	if id == "all" || id == "" {
		return "All projects"
	}
	for _, p := range e.Projects {
		if strconv.FormatInt(p.ID, 10) == id {
			return p.Name
		}
	}
	return "project " + id
}

// newGrantEditor prepares an editor offering sets and the account's active projects.
func (s *Server) newGrantEditor(ctx context.Context, p *latchkey.Principal, sets []*catalog.Set, rows []grantRow) (grantEditor, error) {
	projects, err := s.admin.AllProjects(ctx, p, true)
	if err != nil {
		return grantEditor{}, err
	}
	return grantEditor{Sets: sets, Projects: projects, Rows: rows, Envs: latchkey.EnvCategories}, nil
}

// rowsFromGrants turns stored grants into editor rows.
func rowsFromGrants(gs []latchkey.Grant) []grantRow {
	rows := make([]grantRow, 0, len(gs))
	for _, g := range gs {
		if g.State == latchkey.StateDeleted {
			continue
		}
		row := grantRow{Set: catalog.Canonical(g.PermissionSet), Project: "all"}
		if !g.AllProjects {
			row.Project = strconv.FormatInt(g.ProjectID, 10)
		}
		for _, e := range g.WritableEnvs {
			row.Envs = append(row.Envs, string(e))
		}
		rows = append(rows, row)
	}
	return rows
}

// parseGrantRows reads the editor's rows (grant_set_N, grant_project_N, grant_envs_N) from a
// form.
func parseGrantRows(form url.Values) []grantRow {
	var rows []grantRow
	for i := 0; i <= admin.MaxGrants; i++ {
		k := strconv.Itoa(i)
		set, ok := form["grant_set_"+k]
		if !ok {
			break
		}
		row := grantRow{Set: strings.TrimSpace(first(set)), Project: form.Get("grant_project_" + k), Envs: form["grant_envs_"+k]}
		if row.Project == "" {
			row.Project = "all"
		}
		rows = append(rows, row)
	}
	return rows
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// editRows applies an editor action ("add_row" or "remove_row:N") to the editor's rows and
// moves the focus to where the user continues. It returns false for any other action (the form's
// own submit).
func (e *grantEditor) editRows(action string) bool {
	switch {
	case action == "add_row":
		if len(e.Rows) < admin.MaxGrants {
			e.Rows = append(e.Rows, grantRow{Project: "all"})
		}
		e.Focus = "grant-set-" + strconv.Itoa(len(e.Rows)-1)
		return true
	case strings.HasPrefix(action, "remove_row:"):
		i, err := strconv.Atoi(strings.TrimPrefix(action, "remove_row:"))
		if err == nil && i >= 0 && i < len(e.Rows) {
			e.Rows = append(e.Rows[:i:i], e.Rows[i+1:]...)
		}
		e.Focus = "add-permission"
		return true
	}
	return false
}

// grant turns a row into a grant: "all" is every project, anything else names one.
func (r grantRow) grant() (latchkey.Grant, error) {
	g := latchkey.Grant{PermissionSet: r.Set}
	for _, e := range r.Envs {
		g.WritableEnvs = append(g.WritableEnvs, latchkey.EnvCategory(e))
	}
	if r.Project == "all" {
		g.AllProjects = true
		return g, nil
	}
	id, err := strconv.ParseInt(r.Project, 10, 64)
	if err != nil || id <= 0 {
		return g, latchkey.FieldError("project_id", "choose All projects or one project")
	}
	g.ProjectID = id
	return g, nil
}

// rowFields are the fields a row shows errors next to.
var rowFields = map[string]bool{"permission_set": true, "project_id": true, "writable_environment_categories": true}

// validateGrantRows checks every row as the admin layer will (plan, scope, projects, no
// escalation), marking each row's errors in place, then the rows together (repeats). plan is the
// account's plan for a service token, "" for a group. ok is false when any check failed; err is
// set only for failures that are not the user's (storage).
func (s *Server) validateGrantRows(ctx context.Context, p *latchkey.Principal, ed *grantEditor, plan latchkey.Plan, minRows int) (grants []latchkey.Grant, ok bool, err error) {
	if len(ed.Rows) < minRows {
		ed.Error = "Add at least one permission."
		return nil, false, nil
	}
	if len(ed.Rows) > admin.MaxGrants {
		ed.Error = "At most " + strconv.Itoa(admin.MaxGrants) + " permissions are allowed."
		return nil, false, nil
	}
	ok = true
	for i := range ed.Rows {
		row := &ed.Rows[i]
		row.Errors = nil
		if row.Set == "" {
			row.Errors = map[string]string{"permission_set": "choose a permission set"}
			ok = false
			continue
		}
		g, err := row.grant()
		if err == nil {
			err = s.admin.CheckGrant(ctx, p, g, plan)
		}
		if latchkey.SystemError(err) {
			return nil, false, err
		}
		if err != nil {
			field := "permission_set"
			if le, isLE := err.(*latchkey.Error); isLE && rowFields[le.Field] {
				field = le.Field
			}
			row.Errors = map[string]string{field: uiMessage(err)}
			ok = false
			continue
		}
		grants = append(grants, g)
	}
	if !ok {
		return nil, false, nil
	}
	err = s.admin.CheckGrants(ctx, p, grants, plan)
	if latchkey.SystemError(err) {
		return nil, false, err
	}
	if err != nil {
		ed.Error = uiMessage(err)
		return nil, false, nil
	}
	return grants, true, nil
}
