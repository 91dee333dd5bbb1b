package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
)

// Governance pages of Account settings: IP restrictions (list, add, delete, enforce, through
// the same rules as the API) and the audit log.

type ipRulesData struct {
	Enabled, Available, CanWrite bool
	Unavailable                  string
	Caller                       string
	Rules                        []*latchkey.IPRule
	// The new-rule form, kept on errors.
	Name, Type, CIDRs, Description string
	Errors                         formErrors
}

func (s *Server) ipRulesData(r *http.Request, p *latchkey.Principal) (*ipRulesData, *latchkey.Account, error) {
	ctx := r.Context()
	caps := admin.Capabilities(p)
	d := &ipRulesData{Caller: admin.AddrLabel(state(ctx).ip), Errors: formErrors{}}
	a, rules, err := s.admin.IPRules(ctx, p)
	if latchkey.ErrorCodeOf(err) == latchkey.EForbidden && caps.IPRestrictionsRead {
		// Allowed to read, but not on this plan: the page says so.
		d.Unavailable = uiMessage(err)
		return d, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	d.Available, d.Enabled = true, a.Settings.IPRestrictionsEnabled
	d.CanWrite = caps.IPRestrictionsWrite
	for _, rule := range rules {
		if rule.State == latchkey.StateActive {
			d.Rules = append(d.Rules, rule)
		}
	}
	return d, a, nil
}

func (s *Server) handleUIIPRestrictions(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, _, err := s.ipRulesData(r, us.p)
	if err != nil {
		return err
	}
	s.show(w, r, us, "ip_restrictions", "IP restrictions", d)
	return nil
}

// handleUIIPRuleAdd adds a rule from the form; errors come back next to their fields with what
// was typed.
func (s *Server) handleUIIPRuleAdd(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, a, err := s.ipRulesData(r, us.p)
	if err != nil {
		return err
	}
	if a == nil {
		return latchkey.Errorf(latchkey.EForbidden, "%s", d.Unavailable)
	}
	f := r.PostForm
	d.Name, d.Type, d.CIDRs, d.Description = f.Get("name"), f.Get("type"), f.Get("cidrs"), f.Get("description")
	rule := &latchkey.IPRule{Name: d.Name, Type: latchkey.IPRuleAllow, Description: d.Description}
	if d.Type == "deny" {
		rule.Type = latchkey.IPRuleDeny
	}
	for _, c := range splitCIDRs(d.CIDRs) {
		p, err := latchkey.ParseCIDR(c)
		if err != nil {
			d.Errors["cidrs"] = err.Error()
			break
		}
		rule.CIDRs = append(rule.CIDRs, latchkey.IPRuleCIDR{CIDR: p.String()})
	}
	if d.Errors["cidrs"] == "" {
		_, err = s.admin.CreateIPRule(r.Context(), us.p, state(r.Context()).ip, rule, nil)
		if err == nil {
			s.redirectFlash(w, r, "/settings/ip-restrictions", "Added rule "+rule.Name+".")
			return nil
		}
		if err := fieldErr(d.Errors, err, "cidrs", "name", "type", "description"); err != nil {
			return err
		}
	}
	s.showStatus(w, r, us, http.StatusBadRequest, "ip_restrictions", "IP restrictions", d, "The rule was not added: fix the fields marked below.")
	return nil
}

// splitCIDRs splits a form's list of ranges, one per line or comma-separated (spaces and tabs
// separate too), into its entries, unparsed.
func splitCIDRs(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' || r == ' ' || r == '\t' })
}

// ipRuleDeleteData is the confirmation page of a rule's deletion.
type ipRuleDeleteData struct {
	Rule     *latchkey.IPRule
	Enforced bool
}

// handleUIIPRuleDeleteConfirm asks before deleting a rule, unless the deletion would be refused
// (it would lock the caller out): then the rules page says why.
func (s *Server) handleUIIPRuleDeleteConfirm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := pathID(r, "rule_id")
	if err != nil {
		return err
	}
	a, rule, err := s.admin.IPRule(r.Context(), us.p, id)
	if err != nil {
		return err
	}
	if _, _, err := s.admin.DeleteIPRule(admin.DryRun(r.Context()), us.p, state(r.Context()).ip, id); err != nil {
		return s.ipRefused(w, r, us, err, "The rule was not deleted: ")
	}
	s.show(w, r, us, "ip_rule_delete", "Delete "+rule.Name, &ipRuleDeleteData{Rule: rule, Enforced: a.Settings.IPRestrictionsEnabled})
	return nil
}

func (s *Server) handleUIIPRuleDelete(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := pathID(r, "rule_id")
	if err != nil {
		return err
	}
	_, rule, err := s.admin.DeleteIPRule(r.Context(), us.p, state(r.Context()).ip, id)
	if err != nil {
		return s.ipRefused(w, r, us, err, "The rule was not deleted: ")
	}
	s.redirectFlash(w, r, "/settings/ip-restrictions", "Deleted rule "+rule.Name+".")
	return nil
}

// ipRefused shows a refused change on the rules page itself, with the reason at the top, rather
// than on an error page with no way on. Failures of latchkey or its storage get the error page.
func (s *Server) ipRefused(w http.ResponseWriter, r *http.Request, us *uiSession, err error, prefix string) error {
	if latchkey.SystemError(err) || latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
		return err
	}
	d, _, derr := s.ipRulesData(r, us.p)
	if derr != nil {
		return err
	}
	s.showStatus(w, r, us, formStatus(err), "ip_restrictions", "IP restrictions", d, prefix+uiMessage(err))
	return nil
}

func (s *Server) handleUIIPEnforcement(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	enabled := r.PostForm.Get("enabled") == "on"
	if _, _, err := s.admin.SetIPEnforcement(r.Context(), us.p, state(r.Context()).ip, enabled); err != nil {
		what := "The rules were not enforced: "
		if !enabled {
			what = "Enforcement was not switched off: "
		}
		return s.ipRefused(w, r, us, err, what)
	}
	msg := "IP restrictions are no longer enforced."
	if enabled {
		msg = "IP restrictions are now enforced."
	}
	s.redirectFlash(w, r, "/settings/ip-restrictions", msg)
	return nil
}

type auditRow struct {
	*latchkey.AuditEntry
	Actor   string
	Details string
}

type auditData struct {
	Entries   []auditRow
	Pager     pager
	EventType string
}

// auditDetails renders an entry's context as "key=value" pairs in key order. Contexts never hold
// secrets (the store's contract).
func auditDetails(c map[string]any) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v, ok := c[k].(string)
		if !ok {
			b, err := json.Marshal(c[k])
			if err != nil {
				b = []byte(fmt.Sprint(c[k]))
			}
			v = string(b)
		}
		parts = append(parts, k+"="+v)
	}
	out := strings.Join(parts, ", ")
	if len(out) > 400 {
		out = out[:400] + "…"
	}
	return out
}

func (s *Server) handleUIAuditLog(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d := &auditData{EventType: strings.TrimSpace(r.URL.Query().Get("event_type"))}
	base := "/settings/audit-log?"
	if d.EventType != "" {
		base += "event_type=" + url.QueryEscape(d.EventType) + "&"
	}
	d.Pager = pager{Page: pageParam(r), PerPage: 50, Base: base}
	f := latchkey.AuditFilter{Offset: d.Pager.Offset(), Limit: d.Pager.PerPage}
	if d.EventType != "" {
		f.EventType = &d.EventType
	}
	entries, total, err := s.admin.AuditEntries(r.Context(), us.p, f)
	if err != nil {
		return err
	}
	d.Pager.Total = total
	for _, e := range entries {
		actor := e.ActorName
		if e.ActorType != "" && e.ActorType != "system" {
			actor = fmt.Sprintf("%s (%s:%d)", e.ActorName, e.ActorType, e.ActorID)
		}
		d.Entries = append(d.Entries, auditRow{AuditEntry: e, Actor: actor, Details: auditDetails(e.Context)})
	}
	s.show(w, r, us, "audit_log", "Audit log", d)
	return nil
}
