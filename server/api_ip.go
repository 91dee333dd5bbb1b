package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
)

// IP restrictions: account rules of type allow (1) or deny (2), each a list of CIDRs, enforced
// once the account's rule set is enabled. The shapes follow dbt Cloud's API as the Terraform
// provider uses it: a rule carries cidrs as objects ({"cidr"} or {"cidr_ipv6"}) and
// rule_set_enabled, the state of the whole set. latchkey also accepts ip_cidrs as plain strings.

// Limits of one rule.
const (
	MaxRuleCIDRs          = 500
	MaxRuleDescriptionLen = 1000
)

func ruleDescription(d string) (string, error) {
	d = strings.TrimSpace(d)
	if len(d) > MaxRuleDescriptionLen {
		return "", latchkey.FieldError("description", "description must be at most %d characters", MaxRuleDescriptionLen)
	}
	return d, nil
}

// ipRuleRequest is a rule create or update body. Fields left out keep their value on update.
type ipRuleRequest struct {
	AccountID      *int64          `json:"account_id"`
	Name           *string         `json:"name"`
	Type           json.RawMessage `json:"type"`
	Description    *string         `json:"description"`
	CIDRs          json.RawMessage `json:"cidrs"`
	IPCIDRs        json.RawMessage `json:"ip_cidrs"`
	RuleSetEnabled *bool           `json:"rule_set_enabled"`
}

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

// parseRuleCIDRs reads a CIDR list: plain strings, or dbt's objects {"cidr": …} or
// {"cidr_ipv6": …}; objects with "state": 2 (the Terraform provider's way of removing one) are
// skipped. Each CIDR is validated and stored in canonical form; duplicates collapse.
func parseRuleCIDRs(field string, raw json.RawMessage) ([]string, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, latchkey.FieldError(field, "%s must be an array of CIDR strings or {\"cidr\": …} objects", field)
	}
	if len(items) > MaxRuleCIDRs {
		return nil, latchkey.FieldError(field, "a rule holds at most %d CIDRs", MaxRuleCIDRs)
	}
	out := []string{}
	seen := map[netip.Prefix]bool{}
	for i, it := range items {
		var text string
		if err := json.Unmarshal(it, &text); err != nil {
			var obj struct {
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
				text = *obj.CIDR
			case obj.CIDRIPv6 != nil && *obj.CIDRIPv6 != "":
				text = *obj.CIDRIPv6
			default:
				return nil, latchkey.FieldError(field, "%s[%d] has neither cidr nor cidr_ipv6", field, i)
			}
		}
		p, err := latchkey.ParseCIDR(text)
		if err != nil {
			return nil, latchkey.FieldError(field, "%s[%d]: %v", field, i, err)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p.String())
		}
	}
	return out, nil
}

// requestCIDRs returns the CIDRs of a request (cidrs or ip_cidrs), or nil when it has none.
func (req *ipRuleRequest) requestCIDRs() (*[]string, error) {
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

// ipAccount loads the principal's account and checks that its plan includes IP restrictions.
func (s *Server) ipAccount(ctx context.Context, p *latchkey.Principal, want latchkey.Access) (*latchkey.Account, error) {
	if err := can(p, latchkey.ResIPRestrictions, want); err != nil {
		return nil, err
	}
	a, err := s.store.FindAccountByID(ctx, p.AccountID)
	if err != nil {
		return nil, err
	}
	if a.Plan != latchkey.PlanEnterprise && a.Plan != latchkey.PlanEnterprisePlus {
		return nil, latchkey.Errorf(latchkey.EForbidden, "IP restrictions are available on the Enterprise and Enterprise+ plans; this account is on the %s plan", a.Plan)
	}
	return a, nil
}

// ipRule loads a rule of the principal's account named by the path.
func (s *Server) ipRule(ctx context.Context, r *http.Request, p *latchkey.Principal) (*latchkey.IPRule, error) {
	id, err := pathID(r, "rule_id")
	if err != nil {
		return nil, err
	}
	rule, err := s.store.FindIPRuleByID(ctx, id)
	if err != nil || rule.AccountID != p.AccountID {
		return nil, latchkey.Errorf(latchkey.ENotFound, "IP restriction rule %d not found", id)
	}
	return rule, nil
}

// checkRuleSet compiles rules (refusing the same CIDR in an allow and a deny rule) and, when
// they are to be enforced, refuses a set that would block the caller's own address.
func checkRuleSet(rules []*latchkey.IPRule, enforced bool, caller netip.Addr) error {
	pol, err := latchkey.CompileIPRules(rules)
	if err != nil {
		return err
	}
	if enforced && !pol.Allows(caller) {
		return &latchkey.Error{Code: latchkey.EInvalid, Field: "cidrs", Message: fmt.Sprintf(
			"refused: these IP rules would block your own address %s and lock you out; allow it first", addrLabel(caller))}
	}
	return nil
}

func addrLabel(a netip.Addr) string {
	if !a.IsValid() {
		return "(unknown)"
	}
	return a.Unmap().String()
}

// withRule returns rules with r replacing the rule of the same id (or added), or without it
// when remove is set.
func withRule(rules []*latchkey.IPRule, r *latchkey.IPRule, remove bool) []*latchkey.IPRule {
	out := make([]*latchkey.IPRule, 0, len(rules)+1)
	for _, x := range rules {
		if x.ID != r.ID || r.ID == 0 {
			out = append(out, x)
		}
	}
	if !remove {
		out = append(out, r)
	}
	return out
}

// addIPRule stores a new rule of a's account after checking the whole set (no CIDR both allowed
// and denied; no lockout of caller while enforced). enable, when set, also switches enforcement.
func (s *Server) addIPRule(ctx context.Context, a *latchkey.Account, caller netip.Addr, rule *latchkey.IPRule, enable *bool) (*latchkey.Account, error) {
	enabled := a.Settings.IPRestrictionsEnabled
	if enable != nil {
		enabled = *enable
	}
	rules, err := s.store.FindIPRules(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	if err := checkRuleSet(withRule(rules, rule, false), enabled, caller); err != nil {
		return nil, err
	}
	if err := s.store.CreateIPRule(ctx, rule); err != nil {
		return nil, err
	}
	return s.setEnforcement(ctx, a, enabled)
}

// removeIPRule deletes a rule, refusing when the remaining enforced rules would lock caller out.
func (s *Server) removeIPRule(ctx context.Context, a *latchkey.Account, caller netip.Addr, rule *latchkey.IPRule) error {
	if rule.State != latchkey.StateActive {
		return nil
	}
	if a.Settings.IPRestrictionsEnabled {
		rules, err := s.store.FindIPRules(ctx, a.ID)
		if err != nil {
			return err
		}
		if err := checkRuleSet(withRule(rules, rule, true), true, caller); err != nil {
			return err
		}
	}
	return s.store.DeleteIPRule(ctx, rule.ID)
}

// enforceIPRules switches enforcement of a's rules; enabling is refused when they would block
// caller. It returns the account and its rules.
func (s *Server) enforceIPRules(ctx context.Context, a *latchkey.Account, caller netip.Addr, enabled bool) (*latchkey.Account, []*latchkey.IPRule, error) {
	rules, err := s.store.FindIPRules(ctx, a.ID)
	if err != nil {
		return nil, nil, err
	}
	if enabled {
		if err := checkRuleSet(rules, true, caller); err != nil {
			var le *latchkey.Error
			if errors.As(err, &le) && le.Field == "cidrs" {
				return nil, nil, &latchkey.Error{Code: le.Code, Field: "enabled", Message: le.Message}
			}
			return nil, nil, err
		}
	}
	a, err = s.setEnforcement(ctx, a, enabled)
	return a, rules, err
}

// setEnforcement turns the account's rule-set enforcement on or off when it differs.
func (s *Server) setEnforcement(ctx context.Context, a *latchkey.Account, enabled bool) (*latchkey.Account, error) {
	if a.Settings.IPRestrictionsEnabled == enabled {
		return a, nil
	}
	set := a.Settings
	set.IPRestrictionsEnabled = enabled
	return s.store.UpdateAccount(ctx, a.ID, latchkey.AccountUpdate{Settings: &set})
}

func (s *Server) handleAPIIPRuleList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	a, err := s.ipAccount(r.Context(), p, latchkey.AccessRead)
	if err != nil {
		return err
	}
	rules, err := s.store.FindIPRules(r.Context(), p.AccountID)
	if err != nil {
		return err
	}
	out := make([]apitype.IPRule, len(rules))
	for i, rule := range rules {
		out[i] = apitype.IPRuleOf(rule, a.Settings.IPRestrictionsEnabled)
	}
	respondList(w, out, len(out), listParams{filters: map[string]any{}})
	return nil
}

func (s *Server) handleAPIIPRuleGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	a, err := s.ipAccount(r.Context(), p, latchkey.AccessRead)
	if err != nil {
		return err
	}
	rule, err := s.ipRule(r.Context(), r, p)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.IPRuleOf(rule, a.Settings.IPRestrictionsEnabled), nil)
	return nil
}

// handleAPIIPRuleCreate adds a rule. With rule_set_enabled the body also sets the enforcement
// of the whole set, as dbt Cloud's API does.
func (s *Server) handleAPIIPRuleCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	a, err := s.ipAccount(r.Context(), p, latchkey.AccessWrite)
	if err != nil {
		return err
	}
	var req ipRuleRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	rule := &latchkey.IPRule{AccountID: p.AccountID, State: latchkey.StateActive}
	if rule.Name, err = validName("name", req.Name, true); err != nil {
		return err
	}
	if len(req.Type) == 0 {
		return latchkey.FieldError("type", "type is required: 1 (allow) or 2 (deny)")
	}
	if rule.Type, err = parseRuleType(req.Type); err != nil {
		return err
	}
	if req.Description != nil {
		if rule.Description, err = ruleDescription(*req.Description); err != nil {
			return err
		}
	}
	cidrs, err := req.requestCIDRs()
	if err != nil {
		return err
	}
	if cidrs == nil {
		return latchkey.FieldError("cidrs", "cidrs is required: a list of CIDR ranges")
	}
	rule.CIDRs = *cidrs
	if a, err = s.addIPRule(r.Context(), a, state(r.Context()).ip, rule, req.RuleSetEnabled); err != nil {
		return err
	}
	respond(w, http.StatusCreated, apitype.IPRuleOf(rule, a.Settings.IPRestrictionsEnabled), nil)
	return nil
}

// handleAPIIPRuleUpdate changes a rule (PUT or POST); cidrs, when given, replace the rule's.
func (s *Server) handleAPIIPRuleUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	a, err := s.ipAccount(r.Context(), p, latchkey.AccessWrite)
	if err != nil {
		return err
	}
	rule, err := s.ipRule(r.Context(), r, p)
	if err != nil {
		return err
	}
	if rule.State != latchkey.StateActive {
		return latchkey.Errorf(latchkey.ENotFound, "IP restriction rule %d not found", rule.ID)
	}
	var req ipRuleRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	var upd latchkey.IPRuleUpdate
	next := *rule
	if req.Name != nil {
		if next.Name, err = validName("name", req.Name, false); err != nil {
			return err
		}
		upd.Name = &next.Name
	}
	if len(req.Type) > 0 && !bytes.Equal(req.Type, []byte("null")) {
		if next.Type, err = parseRuleType(req.Type); err != nil {
			return err
		}
		upd.Type = &next.Type
	}
	if req.Description != nil {
		if next.Description, err = ruleDescription(*req.Description); err != nil {
			return err
		}
		upd.Description = &next.Description
	}
	cidrs, err := req.requestCIDRs()
	if err != nil {
		return err
	}
	if cidrs != nil {
		next.CIDRs = *cidrs
		upd.CIDRs = cidrs
	}
	enabled := a.Settings.IPRestrictionsEnabled
	if req.RuleSetEnabled != nil {
		enabled = *req.RuleSetEnabled
	}
	rules, err := s.store.FindIPRules(r.Context(), p.AccountID)
	if err != nil {
		return err
	}
	if err := checkRuleSet(withRule(rules, &next, false), enabled, state(r.Context()).ip); err != nil {
		return err
	}
	if upd != (latchkey.IPRuleUpdate{}) {
		if rule, err = s.store.UpdateIPRule(r.Context(), rule.ID, upd); err != nil {
			return err
		}
	}
	if a, err = s.setEnforcement(r.Context(), a, enabled); err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.IPRuleOf(rule, a.Settings.IPRestrictionsEnabled), nil)
	return nil
}

// handleAPIIPRuleDelete removes a rule, unless that would lock the caller out (removing the
// allow rule that admits them while other allow rules remain).
func (s *Server) handleAPIIPRuleDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	a, err := s.ipAccount(r.Context(), p, latchkey.AccessWrite)
	if err != nil {
		return err
	}
	rule, err := s.ipRule(r.Context(), r, p)
	if err != nil {
		return err
	}
	if rule.State == latchkey.StateActive {
		if err := s.removeIPRule(r.Context(), a, state(r.Context()).ip, rule); err != nil {
			return err
		}
		if rule, err = s.store.FindIPRuleByID(r.Context(), rule.ID); err != nil {
			return err
		}
	}
	respond(w, http.StatusOK, apitype.IPRuleOf(rule, a.Settings.IPRestrictionsEnabled), nil)
	return nil
}

type ruleSetRequest struct {
	Enabled        *bool `json:"enabled"`
	RuleSetEnabled *bool `json:"rule_set_enabled"`
}

// handleAPIIPRuleSetToggle enables or disables enforcement of the account's rules. Enabling is
// refused when the rules would block the caller's own address.
func (s *Server) handleAPIIPRuleSetToggle(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	a, err := s.ipAccount(r.Context(), p, latchkey.AccessWrite)
	if err != nil {
		return err
	}
	var req ruleSetRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Enabled == nil {
		req.Enabled = req.RuleSetEnabled
	}
	if req.Enabled == nil {
		return latchkey.FieldError("enabled", "enabled is required: true or false")
	}
	a, rules, err := s.enforceIPRules(r.Context(), a, state(r.Context()).ip, *req.Enabled)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.IPRuleSet{ID: a.ID, AccountID: a.ID, Enabled: a.Settings.IPRestrictionsEnabled, Rules: len(rules)}, nil)
	return nil
}

// handleAPIIPRuleSetValidate reports whether the caller's address (or ?ip=) would be allowed by
// the account's rules once enabled, and whether it is allowed now. The set id is the account id.
func (s *Server) handleAPIIPRuleSetValidate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	a, err := s.ipAccount(r.Context(), p, latchkey.AccessRead)
	if err != nil {
		return err
	}
	if id, err := pathID(r, "set_id"); err != nil || id != a.ID {
		return latchkey.Errorf(latchkey.ENotFound, "IP restriction rule set %q not found (this account's set id is %d)", r.PathValue("set_id"), a.ID)
	}
	addr := state(r.Context()).ip
	if v := r.URL.Query().Get("ip"); v != "" {
		if addr, err = netip.ParseAddr(v); err != nil || addr.Zone() != "" {
			return latchkey.FieldError("ip", "ip must be an IPv4 or IPv6 address")
		}
	}
	rules, err := s.store.FindIPRules(r.Context(), p.AccountID)
	if err != nil {
		return err
	}
	pol, err := latchkey.CompileIPRules(rules)
	if err != nil {
		return err
	}
	allowed := pol.Allows(addr)
	respond(w, http.StatusOK, apitype.IPValidation{IP: addrLabel(addr), Allowed: allowed, RuleSetEnabled: a.Settings.IPRestrictionsEnabled,
		AllowedNow: allowed || !a.Settings.IPRestrictionsEnabled}, nil)
	return nil
}
