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

// Governance pages of Account settings: IP restrictions and the audit log. For now they list
// what the store holds; the governance work adds editing and filters here.

type ipRulesData struct {
	Enabled bool
	Rules   []*latchkey.IPRule
}

func (s *Server) handleUIIPRestrictions(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := can(us.p, latchkey.ResIPRestrictions, latchkey.AccessRead); err != nil {
		return err
	}
	a, err := s.store.FindAccountByID(r.Context(), us.p.AccountID)
	if err != nil {
		return err
	}
	rules, err := s.store.FindIPRules(r.Context(), us.p.AccountID)
	if err != nil {
		return err
	}
	d := &ipRulesData{Enabled: a.Settings.IPRestrictionsEnabled}
	for _, rule := range rules {
		if rule.State == latchkey.StateActive {
			d.Rules = append(d.Rules, rule)
		}
	}
	s.show(w, r, us, "ip_restrictions", "IP restrictions", d)
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
