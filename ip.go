package latchkey

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParseCIDR parses one IPv4 or IPv6 range as written in an IP rule or a token's allowed_cidrs.
// A bare address means that single address. Host bits must be zero ("10.0.0.1/8" is refused with
// a hint) so that what is stored is what was meant.
func ParseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, fmt.Errorf("empty CIDR")
	}
	if len(s) > 64 {
		return netip.Prefix{}, fmt.Errorf("CIDR is too long")
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("the address %q is not an IP address or CIDR range", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("the range %q is not a CIDR range", s)
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("the range %q mixes an IPv4-mapped address with a short prefix", s)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("the range %q has host bits set; did you mean %s?", s, m)
	}
	return p, nil
}

// IPPolicy is an account's compiled IP rules. The most specific matching range decides; an
// address no range matches is denied when any allow rule exists and allowed otherwise.
type IPPolicy struct {
	ranges   []ipRange
	anyAllow bool
}

type ipRange struct {
	prefix netip.Prefix
	allow  bool
}

// CompileIPRules validates active rules into a policy. The same range in an allow rule and a deny
// rule is refused.
func CompileIPRules(rules []*IPRule) (*IPPolicy, error) {
	pol := &IPPolicy{}
	seen := map[netip.Prefix]IPRuleType{}
	for _, r := range rules {
		if r.State == StateDeleted {
			continue
		}
		if r.Type != IPRuleAllow && r.Type != IPRuleDeny {
			return nil, FieldError("type", "rule %q has type %d; want 1 (allow) or 2 (deny)", r.Name, r.Type)
		}
		for _, c := range r.CIDRStrings() {
			p, err := ParseCIDR(c)
			if err != nil {
				return nil, FieldError("cidrs", "rule %q: %v", r.Name, err)
			}
			if t, ok := seen[p]; ok && t != r.Type {
				return nil, FieldError("cidrs", "%s appears in both an allow and a deny rule", p)
			}
			seen[p] = r.Type
			pol.ranges = append(pol.ranges, ipRange{prefix: p, allow: r.Type == IPRuleAllow})
			pol.anyAllow = pol.anyAllow || r.Type == IPRuleAllow
		}
	}
	return pol, nil
}

// Allows reports whether addr may connect. An invalid (unknown) address is allowed only when
// the policy has no allow rules and no deny rules.
func (p *IPPolicy) Allows(addr netip.Addr) bool {
	if p == nil || len(p.ranges) == 0 {
		return true
	}
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	best, decided := -1, !p.anyAllow
	for _, r := range p.ranges {
		if r.prefix.Bits() > best && r.prefix.Contains(addr) {
			best, decided = r.prefix.Bits(), r.allow
		}
	}
	return decided
}
