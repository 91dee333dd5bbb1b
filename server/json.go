package server

import (
	"net/netip"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/tokenfmt"
)

// Wire shapes of the admin API. Field names follow dbt Cloud's admin API.

func timeJSON(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func timePtrJSON(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timeJSON(*t)
	return &s
}

func toAccountJSON(a *latchkey.Account) client.Account {
	return client.Account{ID: a.ID, Name: a.Name, Plan: string(a.Plan), State: int(a.State),
		CreatedAt: timeJSON(a.CreatedAt), UpdatedAt: timeJSON(a.UpdatedAt),
		ReuseRevokesFamily: a.Settings.ReuseRevokesFamily, LeakAction: a.Settings.LeakAction,
		MaxTokenLifetimeSeconds: int64(a.Settings.MaxTokenLifetime / time.Second),
		IPRestrictionsEnabled:   a.Settings.IPRestrictionsEnabled}
}

func toProjectJSON(p *latchkey.Project) client.Project {
	return client.Project{ID: p.ID, AccountID: p.AccountID, Name: p.Name, Description: p.Description,
		State: int(p.State), CreatedAt: timeJSON(p.CreatedAt), UpdatedAt: timeJSON(p.UpdatedAt)}
}

func envStrings(envs []latchkey.EnvCategory) []string {
	out := make([]string, len(envs))
	for i, e := range envs {
		out[i] = string(e)
	}
	return out
}

func projectPtr(g latchkey.Grant) *int64 {
	if g.AllProjects {
		return nil
	}
	id := g.ProjectID
	return &id
}

func toGrantsJSON(gs []latchkey.Grant) []client.Grant {
	out := make([]client.Grant, 0, len(gs))
	for _, g := range gs {
		out = append(out, client.Grant{PermissionSet: g.PermissionSet, AllProjects: g.AllProjects, ProjectID: projectPtr(g),
			WritableEnvironmentCategories: envStrings(g.WritableEnvs)})
	}
	return out
}

func toPermissionsJSON(gs []latchkey.Grant) []client.Permission {
	out := make([]client.Permission, 0, len(gs))
	for _, g := range gs {
		pj := client.Permission{ID: g.ID, AccountID: g.AccountID, PermissionSet: g.PermissionSet, AllProjects: g.AllProjects,
			ProjectID: projectPtr(g), WritableEnvironmentCategories: envStrings(g.WritableEnvs), State: int(g.State)}
		if g.TokenID != 0 {
			id := g.TokenID
			pj.ServiceTokenID = &id
		}
		if g.GroupID != 0 {
			id := g.GroupID
			pj.GroupID = &id
		}
		out = append(out, pj)
	}
	return out
}

func toTokenJSON(f tokenfmt.Format, t *latchkey.Token) client.Token {
	j := client.Token{ID: t.ID, AccountID: t.AccountID, UID: t.UID, Display: f.Display(t.Kind, t.UID), Name: t.Name,
		State: int(t.State), CreatedAt: timeJSON(t.CreatedAt), UpdatedAt: timeJSON(t.UpdatedAt),
		LastUsed: timePtrJSON(t.LastUsedAt), ExpiresAt: timePtrJSON(t.ExpiresAt), Legacy: t.Legacy(),
		FamilyID: t.FamilyID, RotatedAt: timePtrJSON(t.RotatedAt), GraceUntil: timePtrJSON(t.GraceUntil),
		AllowedCIDRs: prefixStrings(t.AllowedCIDRs), Flagged: t.Flagged}
	if t.Legacy() {
		j.Display = t.LegacyPrefix + "…"
	}
	if t.LastUsedIP != "" {
		ip := t.LastUsedIP
		j.LastUsedIP = &ip
	}
	if t.ReplacedByID != 0 {
		id := t.ReplacedByID
		j.ReplacedByID = &id
	}
	if t.Kind == latchkey.KindPAT {
		id := t.UserID
		j.UserID = &id
	} else {
		j.PermissionGrants = toGrantsJSON(t.Grants)
		j.ServiceTokenPermissions = toPermissionsJSON(t.Grants)
	}
	return j
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func toGroupJSON(g *latchkey.Group) client.Group {
	users := g.UserIDs
	if users == nil {
		users = []int64{}
	}
	return client.Group{ID: g.ID, AccountID: g.AccountID, Name: g.Name, State: int(g.State), AssignByDefault: g.AssignByDefault,
		Builtin: g.Builtin, SSOMappingGroups: []string{}, GroupPermissions: toPermissionsJSON(g.Grants), Users: users,
		CreatedAt: timeJSON(g.CreatedAt), UpdatedAt: timeJSON(g.UpdatedAt)}
}

func toMembershipJSON(m *latchkey.Membership, groupName func(int64) string) client.Membership {
	j := client.Membership{ID: m.ID, AccountID: m.AccountID, UserID: m.UserID, LicenseType: string(m.License), State: int(m.State),
		Groups: []client.GroupRef{}, CreatedAt: timeJSON(m.CreatedAt), UpdatedAt: timeJSON(m.UpdatedAt)}
	for _, id := range m.GroupIDs {
		j.Groups = append(j.Groups, client.GroupRef{ID: id, Name: groupName(id)})
	}
	return j
}
