package admin

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/latchkey/latchkey"
)

// Limits of one IP restriction rule.
const (
	MaxRuleCIDRs          = 500
	MaxRuleDescriptionLen = 1000
)

// ipAccount checks want on ip_restrictions and that p's account's plan includes IP restrictions.
func (s *Service) ipAccount(ctx context.Context, p *latchkey.Principal, want latchkey.Access) (*latchkey.Account, error) {
	if err := require(p, latchkey.ResIPRestrictions, want); err != nil {
		return nil, err
	}
	a, err := s.account(ctx, p)
	if err != nil {
		return nil, err
	}
	if a.Plan != latchkey.PlanEnterprise && a.Plan != latchkey.PlanEnterprisePlus {
		return nil, latchkey.Errorf(latchkey.EForbidden, "IP restrictions are available on the Enterprise and Enterprise+ plans; this account is on the %s plan", a.Plan)
	}
	return a, nil
}

// IPRules returns p's account (its settings say whether the rules are enforced) and its rules
// in every state (ip_restrictions:read, on a plan that has them).
func (s *Service) IPRules(ctx context.Context, p *latchkey.Principal) (*latchkey.Account, []*latchkey.IPRule, error) {
	a, err := s.ipAccount(ctx, p, latchkey.AccessRead)
	if err != nil {
		return nil, nil, err
	}
	rules, err := s.store.FindIPRules(ctx, p.AccountID)
	return a, rules, err
}

// IPRule returns one rule of p's account and the account.
func (s *Service) IPRule(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.Account, *latchkey.IPRule, error) {
	a, err := s.ipAccount(ctx, p, latchkey.AccessRead)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.ipRule(ctx, p, id)
	return a, r, err
}

func (s *Service) ipRule(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.IPRule, error) {
	rule, err := s.store.FindIPRuleByID(ctx, id)
	if latchkey.SystemError(err) {
		return nil, err
	}
	if err != nil || rule.AccountID != p.AccountID {
		return nil, notFound("IP restriction rule %d not found", id)
	}
	return rule, nil
}

// checkRule validates a rule's own fields, cleaning its name and description.
func checkRule(r *latchkey.IPRule) error {
	name, err := latchkey.CleanName("name", r.Name)
	if err != nil {
		return err
	}
	r.Name = name
	if r.Type != latchkey.IPRuleAllow && r.Type != latchkey.IPRuleDeny {
		return latchkey.FieldError("type", "type must be 1 (allow) or 2 (deny)")
	}
	if r.Description, err = latchkey.CleanText("description", r.Description, MaxRuleDescriptionLen); err != nil {
		return err
	}
	if len(r.CIDRs) == 0 {
		return latchkey.FieldError("cidrs", "a rule needs at least one CIDR")
	}
	if len(r.CIDRs) > MaxRuleCIDRs {
		return latchkey.FieldError("cidrs", "a rule holds at most %d CIDRs", MaxRuleCIDRs)
	}
	return nil
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
			"refused: these IP rules would block your own address %s and lock you out; allow it first", AddrLabel(caller))}
	}
	return nil
}

// AddrLabel writes an address for people, "(unknown)" when there is none.
func AddrLabel(a netip.Addr) string {
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

// checkWithRule checks a's rule set with rule added or replacing its earlier version, enforced as
// enable says (nil: as it is now), against the caller's address. It returns whether the set is to
// be enforced.
func (s *Service) checkWithRule(ctx context.Context, a *latchkey.Account, rule *latchkey.IPRule, enable *bool, caller netip.Addr) (bool, error) {
	enabled := a.Settings.IPRestrictionsEnabled
	if enable != nil {
		enabled = *enable
	}
	rules, err := s.store.FindIPRules(ctx, a.ID)
	if err != nil {
		return false, err
	}
	return enabled, checkRuleSet(withRule(rules, rule, false), enabled, caller)
}

// setEnforcement turns the account's rule-set enforcement on or off when it differs.
func (s *Service) setEnforcement(ctx context.Context, a *latchkey.Account, enabled bool) (*latchkey.Account, error) {
	if a.Settings.IPRestrictionsEnabled == enabled {
		return a, nil
	}
	set := a.Settings
	set.IPRestrictionsEnabled = enabled
	return s.store.UpdateAccount(ctx, a.ID, latchkey.AccountUpdate{Settings: &set})
}

// CreateIPRule adds a rule (ip_restrictions:write) after checking the whole set: no CIDR both
// allowed and denied, and no lockout of caller while enforced. enable, when set, also switches
// enforcement, as dbt Cloud's rule_set_enabled does. It returns the account after the change.
func (s *Service) CreateIPRule(ctx context.Context, p *latchkey.Principal, caller netip.Addr, rule *latchkey.IPRule, enable *bool) (*latchkey.Account, error) {
	rule.AccountID, rule.State = p.AccountID, latchkey.StateActive
	if err := checkRule(rule); err != nil {
		return nil, err
	}
	var out *latchkey.Account
	err := s.inTx(ctx, func(ctx context.Context) error {
		a, err := s.ipAccount(ctx, p, latchkey.AccessWrite)
		if err != nil {
			return err
		}
		enabled, err := s.checkWithRule(ctx, a, rule, enable, caller)
		if err != nil {
			return err
		}
		if err := s.store.CreateIPRule(ctx, rule); err != nil {
			return err
		}
		out, err = s.setEnforcement(ctx, a, enabled)
		return err
	})
	return out, err
}

// UpdateIPRule changes a live rule (ip_restrictions:write); nil fields of upd keep their value,
// and enable, when set, switches enforcement. The whole set is checked as by CreateIPRule.
func (s *Service) UpdateIPRule(ctx context.Context, p *latchkey.Principal, caller netip.Addr, id int64, upd latchkey.IPRuleUpdate, enable *bool) (*latchkey.Account, *latchkey.IPRule, error) {
	var acct *latchkey.Account
	var out *latchkey.IPRule
	err := s.inTx(ctx, func(ctx context.Context) error {
		a, err := s.ipAccount(ctx, p, latchkey.AccessWrite)
		if err != nil {
			return err
		}
		rule, err := s.ipRule(ctx, p, id)
		if err != nil {
			return err
		}
		if rule.State != latchkey.StateActive {
			return notFound("IP restriction rule %d not found", rule.ID)
		}
		next := *rule
		if upd.Name != nil {
			next.Name = *upd.Name
		}
		if upd.Type != nil {
			next.Type = *upd.Type
		}
		if upd.Description != nil {
			next.Description = *upd.Description
		}
		if upd.CIDRs != nil {
			next.CIDRs = *upd.CIDRs
		}
		if err := checkRule(&next); err != nil {
			return err
		}
		// Store what checkRule cleaned.
		if upd.Name != nil {
			upd.Name = &next.Name
		}
		if upd.Description != nil {
			upd.Description = &next.Description
		}
		enabled, err := s.checkWithRule(ctx, a, &next, enable, caller)
		if err != nil {
			return err
		}
		out = rule
		if upd != (latchkey.IPRuleUpdate{}) {
			if out, err = s.store.UpdateIPRule(ctx, rule.ID, upd); err != nil {
				return err
			}
		}
		acct, err = s.setEnforcement(ctx, a, enabled)
		return err
	})
	return acct, out, err
}

// DeleteIPRule deletes a rule (ip_restrictions:write), unless that would lock caller out
// (removing the allow rule that admits them while other allow rules remain). It returns the
// account and the rule in state 2; deleting a deleted rule does nothing.
func (s *Service) DeleteIPRule(ctx context.Context, p *latchkey.Principal, caller netip.Addr, id int64) (*latchkey.Account, *latchkey.IPRule, error) {
	var acct *latchkey.Account
	var out *latchkey.IPRule
	err := s.inTx(ctx, func(ctx context.Context) error {
		a, err := s.ipAccount(ctx, p, latchkey.AccessWrite)
		if err != nil {
			return err
		}
		acct = a
		rule, err := s.ipRule(ctx, p, id)
		if err != nil {
			return err
		}
		out = rule
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
		if err := s.store.DeleteIPRule(ctx, rule.ID); err != nil {
			return err
		}
		out, err = s.store.FindIPRuleByID(ctx, rule.ID)
		return err
	})
	return acct, out, err
}

// SetIPEnforcement switches enforcement of the account's rules (ip_restrictions:write); enabling
// is refused when they would block caller. It returns the account and its rules.
func (s *Service) SetIPEnforcement(ctx context.Context, p *latchkey.Principal, caller netip.Addr, enabled bool) (*latchkey.Account, []*latchkey.IPRule, error) {
	var acct *latchkey.Account
	var rules []*latchkey.IPRule
	err := s.inTx(ctx, func(ctx context.Context) error {
		a, err := s.ipAccount(ctx, p, latchkey.AccessWrite)
		if err != nil {
			return err
		}
		if rules, err = s.store.FindIPRules(ctx, a.ID); err != nil {
			return err
		}
		if enabled {
			if err := checkRuleSet(rules, true, caller); err != nil {
				var le *latchkey.Error
				if errors.As(err, &le) && le.Field == "cidrs" {
					return &latchkey.Error{Code: le.Code, Field: "enabled", Message: le.Message}
				}
				return err
			}
		}
		acct, err = s.setEnforcement(ctx, a, enabled)
		return err
	})
	return acct, rules, err
}

// ValidateIP reports whether addr would be allowed by the account's rules once enforced
// (ip_restrictions:read), and returns the account.
func (s *Service) ValidateIP(ctx context.Context, p *latchkey.Principal, addr netip.Addr) (bool, *latchkey.Account, error) {
	a, rules, err := s.IPRules(ctx, p)
	if err != nil {
		return false, nil, err
	}
	pol, err := latchkey.CompileIPRules(rules)
	if err != nil {
		return false, nil, err
	}
	return pol.Allows(addr), a, nil
}
