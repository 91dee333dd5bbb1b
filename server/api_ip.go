package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
)

// IP restrictions: account rules of type allow (1) or deny (2), each a list of CIDRs, enforced
// once the account's rule set is enabled. The shapes follow dbt Cloud's API as the Terraform
// provider uses it: a rule carries cidrs as objects ({"cidr"} or {"cidr_ipv6"}) and
// rule_set_enabled, the state of the whole set. latchkey also accepts ip_cidrs as plain strings.

// parseRuleType accepts 1, 2, "1", "2", "allow" and "deny".
func parseRuleType(raw json.RawMessage) (latchkey.IPRuleType, error) {
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		if n == int(latchkey.IPRuleAllow) || n == int(latchkey.IPRuleDeny) {
			return latchkey.IPRuleType(n), nil
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch s {
		case "1", "allow":
			return latchkey.IPRuleAllow, nil
		case "2", "deny":
			return latchkey.IPRuleDeny, nil
		}
	}
	return 0, latchkey.FieldError("type", "type must be 1 (allow) or 2 (deny)")
}

// parseRuleCIDRs reads a CIDR list: plain strings, or dbt's objects {"id"?, "cidr": …} or
// {"id"?, "cidr_ipv6": …}; objects with "state": 2 (the Terraform provider's way of removing one)
// are skipped. Each CIDR is validated and stored in canonical form, remembering the member it was
// written in and how (answers use the same), and its id (an update keeps the range's id);
// duplicates collapse.
func parseRuleCIDRs(field string, raw json.RawMessage) ([]latchkey.IPRuleCIDR, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, latchkey.FieldError(field, "%s must be an array of CIDR strings or {\"cidr\": …} objects", field)
	}
	if len(items) > admin.MaxRuleCIDRs {
		return nil, latchkey.FieldError(field, "a rule holds at most %d CIDRs", admin.MaxRuleCIDRs)
	}
	out := []latchkey.IPRuleCIDR{}
	seen := map[netip.Prefix]bool{}
	for i, it := range items {
		var text, member string
		var id int64
		if err := json.Unmarshal(it, &text); err != nil {
			var obj struct {
				ID       *int64  `json:"id"`
				CIDR     *string `json:"cidr"`
				CIDRIPv6 *string `json:"cidr_ipv6"`
				State    *int    `json:"state"`
			}
			if err := json.Unmarshal(it, &obj); err != nil {
				return nil, latchkey.FieldError(field, "%s[%d] must be a CIDR string or an object with cidr or cidr_ipv6", field, i)
			}
			if obj.State != nil && *obj.State == int(latchkey.StateDeleted) {
				continue
			}
			switch {
			case obj.CIDR != nil && *obj.CIDR != "":
				text, member = *obj.CIDR, "cidr"
			case obj.CIDRIPv6 != nil && *obj.CIDRIPv6 != "":
				text, member = *obj.CIDRIPv6, "cidr_ipv6"
			default:
				return nil, latchkey.FieldError(field, "%s[%d] has neither cidr nor cidr_ipv6", field, i)
			}
			if obj.ID != nil {
				id = *obj.ID
			}
		}
		p, err := latchkey.ParseCIDR(text)
		if err != nil {
			return nil, latchkey.FieldError(field, "%s[%d]: %v", field, i, err)
		}
		if !seen[p] {
			seen[p] = true
			c := latchkey.IPRuleCIDR{ID: id, CIDR: p.String(), Field: member}
			if w := strings.TrimSpace(text); member != "" && w != c.CIDR {
				c.Written = w
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// requestCIDRs returns the CIDRs of a request (cidrs or ip_cidrs), or nil when it has none.
func requestCIDRs(req *apitype.IPRuleRequest) (*[]latchkey.IPRuleCIDR, error) {
	field, raw := "cidrs", req.CIDRs
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		field, raw = "ip_cidrs", req.IPCIDRs
	}
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	cidrs, err := parseRuleCIDRs(field, raw)
	if err != nil {
		return nil, err
	}
	if len(cidrs) == 0 {
		return nil, latchkey.FieldError(field, "a rule needs at least one CIDR")
	}
	return &cidrs, nil
}

func (s *Server) handleAPIIPRuleList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	a, rules, err := s.admin.IPRules(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]apitype.IPRule, len(rules))
	for i, rule := range rules {
		out[i] = apitype.IPRuleOf(rule, a.Settings.IPRestrictionsEnabled)
	}
	respondList(w, out, len(out), listParams{filters: map[string]any{}, orderBy: "id"})
	return nil
}

func (s *Server) handleAPIIPRuleGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "rule_id")
	if err != nil {
		return err
	}
	a, rule, err := s.admin.IPRule(r.Context(), p, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.IPRuleOf(rule, a.Settings.IPRestrictionsEnabled), nil)
	return nil
}

// handleAPIIPRuleCreate adds a rule. With rule_set_enabled the body also sets the enforcement
// of the whole set, as dbt Cloud's API does.
func (s *Server) handleAPIIPRuleCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	var req apitype.IPRuleRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	rule := &latchkey.IPRule{}
	if req.Name == nil {
		return latchkey.FieldError("name", "name is required")
	}
	rule.Name = *req.Name
	if len(req.Type) == 0 {
		return latchkey.FieldError("type", "type is required: 1 (allow) or 2 (deny)")
	}
	var err error
	if rule.Type, err = parseRuleType(req.Type); err != nil {
		return err
	}
	if req.Description != nil {
		rule.Description = *req.Description
	}
	cidrs, err := requestCIDRs(&req)
	if err != nil {
		return err
	}
	if cidrs == nil {
		return latchkey.FieldError("cidrs", "cidrs is required: a list of CIDR ranges")
	}
	rule.CIDRs = *cidrs
	a, err := s.admin.CreateIPRule(r.Context(), p, state(r.Context()).ip, rule, req.RuleSetEnabled)
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, apitype.IPRuleOf(rule, a.Settings.IPRestrictionsEnabled), nil)
	return nil
}

// handleAPIIPRuleUpdate changes a rule (PUT or POST); cidrs, when given, replace the rule's.
func (s *Server) handleAPIIPRuleUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "rule_id")
	if err != nil {
		return err
	}
	var req apitype.IPRuleRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	deleting, err := deletesByState(req.State, "the rule")
	if err != nil {
		return err
	}
	if deleting {
		// dbt's clients delete by posting the object with state 2.
		a, rule, err := s.admin.DeleteIPRule(r.Context(), p, state(r.Context()).ip, id)
		if err != nil {
			return err
		}
		respond(w, http.StatusOK, apitype.IPRuleOf(rule, a.Settings.IPRestrictionsEnabled), nil)
		return nil
	}
	upd := latchkey.IPRuleUpdate{Name: req.Name, Description: req.Description}
	if len(req.Type) > 0 && !bytes.Equal(req.Type, []byte("null")) {
		t, err := parseRuleType(req.Type)
		if err != nil {
			return err
		}
		upd.Type = &t
	}
	if upd.CIDRs, err = requestCIDRs(&req); err != nil {
		return err
	}
	a, rule, err := s.admin.UpdateIPRule(r.Context(), p, state(r.Context()).ip, id, upd, req.RuleSetEnabled)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.IPRuleOf(rule, a.Settings.IPRestrictionsEnabled), nil)
	return nil
}

// handleAPIIPRuleDelete removes a rule, unless that would lock the caller out (removing the
// allow rule that admits them while other allow rules remain).
func (s *Server) handleAPIIPRuleDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "rule_id")
	if err != nil {
		return err
	}
	a, rule, err := s.admin.DeleteIPRule(r.Context(), p, state(r.Context()).ip, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.IPRuleOf(rule, a.Settings.IPRestrictionsEnabled), nil)
	return nil
}

// handleAPIIPRuleSetToggle enables or disables enforcement of the account's rules. Enabling is
// refused when the rules would block the caller's own address.
func (s *Server) handleAPIIPRuleSetToggle(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	var req apitype.RuleSetRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Enabled == nil {
		req.Enabled = req.RuleSetEnabled
	}
	if req.Enabled == nil {
		return latchkey.FieldError("enabled", "enabled is required: true or false")
	}
	a, rules, err := s.admin.SetIPEnforcement(r.Context(), p, state(r.Context()).ip, *req.Enabled)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.IPRuleSet{ID: a.ID, AccountID: a.ID, Enabled: a.Settings.IPRestrictionsEnabled, Rules: len(rules)}, nil)
	return nil
}

// handleAPIIPRuleSetValidate reports whether the caller's address (or ?ip=) would be allowed by
// the account's rules once enabled, and whether it is allowed now. The set id is the account id.
func (s *Server) handleAPIIPRuleSetValidate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	addr := state(r.Context()).ip
	if v := r.URL.Query().Get("ip"); v != "" {
		var err error
		if addr, err = netip.ParseAddr(v); err != nil || addr.Zone() != "" {
			return latchkey.FieldError("ip", "ip must be an IPv4 or IPv6 address")
		}
	}
	allowed, a, err := s.admin.ValidateIP(r.Context(), p, addr)
	if err != nil {
		return err
	}
	if id, err := pathID(r, "set_id"); err != nil || id != a.ID {
		return latchkey.Errorf(latchkey.ENotFound, "IP restriction rule set %q not found (this account's set id is %d)", r.PathValue("set_id"), a.ID)
	}
	respond(w, http.StatusOK, apitype.IPValidation{IP: admin.AddrLabel(addr), Allowed: allowed, RuleSetEnabled: a.Settings.IPRestrictionsEnabled,
		AllowedNow: allowed || !a.Settings.IPRestrictionsEnabled}, nil)
	return nil
}
