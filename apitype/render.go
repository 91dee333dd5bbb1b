package apitype

import (
	"encoding/json"
	"net/netip"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/tokenfmt"
)

// Time renders a time as the API does: RFC 3339 in UTC.
func Time(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// TimePtr renders an optional time (nil stays null).
func TimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := Time(*t)
	return &s
}

// AccountOf renders an account.
func AccountOf(a *latchkey.Account) Account {
	return Account{ID: a.ID, Name: a.Name, Plan: string(a.Plan), State: int(a.State),
		CreatedAt: Time(a.CreatedAt), UpdatedAt: Time(a.UpdatedAt),
		ReuseRevokesFamily: a.Settings.ReuseRevokesFamily, LeakAction: a.Settings.LeakAction,
		MaxTokenLifetimeSeconds:     int64(a.Settings.MaxTokenLifetime / time.Second),
		DefaultRotationGraceSeconds: int64(a.Settings.DefaultRotationGrace / time.Second),
		IPRestrictionsEnabled:       a.Settings.IPRestrictionsEnabled,
		ExpiryNoticeDays:            a.Settings.NoticeDays(), UnusedTokenDays: a.Settings.UnusedTokenDays,
		DefaultRateLimits: RateLimitsOf(a.Settings.DefaultRateLimits), MaxAccessTokenLifetimeSeconds: int64(a.Settings.AccessTokenLifetimeCap() / time.Second)}
}

// ProjectOf renders a project.
func ProjectOf(p *latchkey.Project) Project {
	return Project{ID: p.ID, AccountID: p.AccountID, Name: p.Name, Description: p.Description,
		State: int(p.State), CreatedAt: Time(p.CreatedAt), UpdatedAt: Time(p.UpdatedAt),
		DbtProjectSubdirectory: p.Refs.Subdirectory, Type: p.Refs.Type, ConnectionID: p.Refs.ConnectionID,
		RepositoryID: p.Refs.RepositoryID, SemanticLayerConfigID: p.Refs.SemanticLayerConfigID,
		FreshnessJobID: p.Refs.FreshnessJobID, DocsJobID: p.Refs.DocsJobID}
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

// GrantsOf renders grants in the compact form (permission_grants).
func GrantsOf(gs []latchkey.Grant) []Grant {
	out := make([]Grant, 0, len(gs))
	for _, g := range gs {
		out = append(out, Grant{PermissionSet: g.PermissionSet, AllProjects: g.AllProjects, ProjectID: projectPtr(g),
			WritableEnvironmentCategories: envStrings(g.WritableEnvs)})
	}
	return out
}

// PermissionsOf renders grants as permission rows (service_token_permissions,
// group_permissions).
func PermissionsOf(gs []latchkey.Grant) []Permission {
	out := make([]Permission, 0, len(gs))
	for _, g := range gs {
		pj := Permission{ID: g.ID, AccountID: g.AccountID, PermissionSet: g.PermissionSet, AllProjects: g.AllProjects,
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

// Display is how lists show a token: its prefix and uid ("lksvc_4fZq8Kp2…"), or a legacy
// token's first characters.
func Display(f tokenfmt.Format, t *latchkey.Token) string {
	if t.Legacy() {
		return t.LegacyPrefix + "…"
	}
	return f.Display(t.Kind, t.UID)
}

// TokenOf renders a token. TokenString is left empty: only create and rotate set it.
func TokenOf(f tokenfmt.Format, t *latchkey.Token) Token {
	j := Token{ID: t.ID, AccountID: t.AccountID, UID: t.UID, Display: Display(f, t), Name: t.Name,
		State: int(t.State), CreatedAt: Time(t.CreatedAt), UpdatedAt: Time(t.UpdatedAt),
		LastUsed: TimePtr(t.LastUsedAt), ExpiresAt: TimePtr(t.ExpiresAt), Legacy: t.Legacy(),
		FamilyID: t.FamilyID, RotatedAt: TimePtr(t.RotatedAt), GraceUntil: TimePtr(t.GraceUntil),
		AllowedCIDRs: PrefixStrings(t.AllowedCIDRs), Flagged: t.Flagged, RateLimits: RateLimitsOf(t.RateLimits),
		RevokedAt: TimePtr(t.RevokedAt), RevokedReason: t.RevokedReason, RevokedBy: t.RevokedBy}
	if c := t.Credits; c != nil {
		j.Credits = &Credits{Remaining: c.Remaining}
		if r := c.Refill; r != nil {
			j.Credits.Refill = &Refill{Amount: r.Amount, Interval: r.Interval, Day: r.Day}
		}
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
		j.PermissionGrants = GrantsOf(t.Grants)
		j.ServiceTokenPermissions = PermissionsOf(t.Grants)
	}
	return j
}

// RateLimitsOf renders rate limits ([] for none).
func RateLimitsOf(ls []latchkey.RateLimit) []RateLimit {
	out := make([]RateLimit, len(ls))
	for i, l := range ls {
		out[i] = RateLimit{Name: l.Name, Limit: l.Limit, DurationSeconds: int64(l.Duration / time.Second)}
	}
	return out
}

// PrefixStrings renders address ranges.
func PrefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// GroupOf renders a group.
func GroupOf(g *latchkey.Group) Group {
	users := g.UserIDs
	if users == nil {
		users = []int64{}
	}
	return Group{ID: g.ID, AccountID: g.AccountID, Name: g.Name, State: int(g.State), AssignByDefault: g.AssignByDefault,
		Builtin: g.Builtin, SSOMappingGroups: nonNil(g.SSOMappingGroups), GroupPermissions: PermissionsOf(g.Grants), Users: users,
		CreatedAt: Time(g.CreatedAt), UpdatedAt: Time(g.UpdatedAt)}
}

// MembershipOf renders a membership; groupName names the groups it lists.
func MembershipOf(m *latchkey.Membership, groupName func(int64) string) Membership {
	j := Membership{ID: m.ID, AccountID: m.AccountID, UserID: m.UserID, LicenseType: string(m.License), State: int(m.State),
		Groups: []GroupRef{}, CreatedAt: Time(m.CreatedAt), UpdatedAt: Time(m.UpdatedAt)}
	for _, id := range m.GroupIDs {
		j.Groups = append(j.Groups, GroupRef{ID: id, Name: groupName(id)})
	}
	return j
}

// AuditEntryOf renders an audit entry. A stored context that is not valid JSON (tampering) is
// rendered as a JSON string so it still shows.
func AuditEntryOf(e *latchkey.AuditEntry) AuditEntry {
	raw := json.RawMessage(e.RawContext)
	if len(raw) == 0 {
		b, err := json.Marshal(e.Context)
		if err != nil {
			b = []byte("{}")
		}
		raw = b
	} else if !json.Valid(raw) {
		b, _ := json.Marshal(string(raw))
		raw = b
	}
	return AuditEntry{ID: e.ID, AccountID: e.AccountID, CreatedAt: Time(e.CreatedAt), EventType: e.EventType,
		ActorType: e.ActorType, ActorID: e.ActorID, ActorName: e.ActorName, ActorIP: e.ActorIP, Source: e.Source,
		Context: raw, PrevHash: e.PrevHash, Hash: e.Hash}
}

// IPRuleOf renders an IP restriction rule; enabled is the state of the account's rule set.
func IPRuleOf(r *latchkey.IPRule, enabled bool) IPRule {
	j := IPRule{ID: r.ID, AccountID: r.AccountID, IPRestrictionRuleSetID: r.AccountID, Name: r.Name, Type: int(r.Type),
		Description: r.Description, State: int(r.State), RuleSetEnabled: enabled, EnabledForServiceTokens: true,
		CIDRs: []IPCIDR{}, IPCIDRs: []string{}, CreatedAt: Time(r.CreatedAt), UpdatedAt: Time(r.UpdatedAt)}
	for _, c := range r.CIDRs {
		// Each range in the member its client wrote it in; without one, by its family.
		cj := IPCIDR{ID: c.ID, IPRestrictionRuleID: r.ID, State: int(r.State)}
		field := c.Field
		if field == "" {
			field = "cidr"
			if p, err := latchkey.ParseCIDR(c.CIDR); err == nil && p.Addr().Is6() {
				field = "cidr_ipv6"
			}
		}
		written := c.CIDR
		if c.Written != "" {
			written = c.Written
		}
		if field == "cidr_ipv6" {
			cj.CIDRIPv6 = written
		} else {
			cj.CIDR = written
		}
		j.CIDRs = append(j.CIDRs, cj)
		j.IPCIDRs = append(j.IPCIDRs, c.CIDR)
	}
	return j
}

// nonNil renders a missing list as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// TrustPolicyOf renders a policy; live is the live token of its service token's family (0: none).
func TrustPolicyOf(p *latchkey.TrustPolicy, live int64) TrustPolicy {
	conds := make([]ClaimCondition, len(p.Conditions))
	for i, c := range p.Conditions {
		conds[i] = ClaimCondition(c)
	}
	grants := p.Grants
	if grants == nil {
		grants = []string{}
	}
	return TrustPolicy{ID: p.ID, AccountID: p.AccountID, Name: p.Name, Issuer: p.Issuer, Audience: p.Audience, Conditions: conds,
		ServiceTokenID: live, FamilyID: p.FamilyID, Grants: grants, State: int(p.State), CreatedAt: Time(p.CreatedAt), UpdatedAt: Time(p.UpdatedAt)}
}
