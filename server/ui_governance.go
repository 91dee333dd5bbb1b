package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/latchkey/latchkey"
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
	if err := can(p, latchkey.ResIPRestrictions, latchkey.AccessRead); err != nil {
		return nil, nil, err
	}
	ctx := r.Context()
	d := &ipRulesData{Caller: addrLabel(state(ctx).ip), Errors: formErrors{}}
	a, err := s.ipAccount(ctx, p, latchkey.AccessRead)
	if latchkey.ErrorCodeOf(err) == latchkey.EForbidden {
		d.Unavailable = latchkey.ErrorMessage(err)
		return d, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	d.Available, d.Enabled = true, a.Settings.IPRestrictionsEnabled
	d.CanWrite = can(p, latchkey.ResIPRestrictions, latchkey.AccessWrite) == nil
	rules, err := s.store.FindIPRules(ctx, p.AccountID)
	if err != nil {
		return nil, nil, err
	}
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
	if err := can(us.p, latchkey.ResIPRestrictions, latchkey.AccessWrite); err != nil {
		return err
	}
	f := r.PostForm
	d.Name, d.Type, d.CIDRs, d.Description = f.Get("name"), f.Get("type"), f.Get("cidrs"), f.Get("description")
	rule := &latchkey.IPRule{AccountID: us.p.AccountID, Type: latchkey.IPRuleAllow, State: latchkey.StateActive}
	if d.Type == "deny" {
		rule.Type = latchkey.IPRuleDeny
	}
	if rule.Name, err = validName("name", &d.Name, true); err != nil {
		d.Errors["name"] = "Enter the rule's name."
	}
	if rule.Description, err = ruleDescription(d.Description); err != nil {
		d.Errors["description"] = latchkey.ErrorMessage(err)
	}
	for _, c := range splitCIDRs(d.CIDRs) {
		p, err := latchkey.ParseCIDR(c)
		if err != nil {
			d.Errors["cidrs"] = err.Error()
			break
		}
		rule.CIDRs = append(rule.CIDRs, p.String())
	}
	if len(rule.CIDRs) == 0 && d.Errors["cidrs"] == "" {
		d.Errors["cidrs"] = "Enter at least one range, such as 203.0.113.0/24."
	}
	if len(d.Errors) == 0 {
		_, err = s.addIPRule(r.Context(), a, state(r.Context()).ip, rule, nil)
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

func (s *Server) handleUIIPRuleDelete(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	a, err := s.ipAccount(r.Context(), us.p, latchkey.AccessWrite)
	if err != nil {
		return err
	}
	rule, err := s.ipRule(r.Context(), r, us.p)
	if err != nil {
		return err
	}
	if err := s.removeIPRule(r.Context(), a, state(r.Context()).ip, rule); err != nil {
		return err
	}
	s.redirectFlash(w, r, "/settings/ip-restrictions", "Deleted rule "+rule.Name+".")
	return nil
}

func (s *Server) handleUIIPEnforcement(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	a, err := s.ipAccount(r.Context(), us.p, latchkey.AccessWrite)
	if err != nil {
		return err
	}
	enabled := r.PostForm.Get("enabled") == "on"
	if _, _, err := s.enforceIPRules(r.Context(), a, state(r.Context()).ip, enabled); err != nil {
		return err
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
	if err := can(us.p, latchkey.ResAuditLogs, latchkey.AccessRead); err != nil {
		return err
	}
	d := &auditData{EventType: strings.TrimSpace(r.URL.Query().Get("event_type"))}
	base := "/settings/audit-log?"
	if d.EventType != "" {
		base += "event_type=" + url.QueryEscape(d.EventType) + "&"
	}
	d.Pager = pager{Page: pageParam(r), PerPage: 50, Base: base}
	f := latchkey.AuditFilter{AccountID: us.p.AccountID, Offset: d.Pager.Offset(), Limit: d.Pager.PerPage}
	if d.EventType != "" {
		f.EventType = &d.EventType
	}
	entries, total, err := s.store.FindAuditEntries(r.Context(), f)
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
