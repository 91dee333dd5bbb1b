package latchkey_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

func TestParseCIDR(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{in: " 192.168.1.0/24 ", want: "192.168.1.0/24"},
		{in: "127.0.0.2", want: "127.0.0.2/32"},
		{in: "0.0.0.0/0", want: "0.0.0.0/0"},
		{in: "2001:db8::/32", want: "2001:db8::/32"},
		{in: "2001:db8::1", want: "2001:db8::1/128"},
		{in: "::/0", want: "::/0"},
		{in: "::ffff:10.1.2.3", want: "10.1.2.3/32"},
		{in: "::ffff:10.1.2.0/120", want: "10.1.2.0/24"},
		{in: "::ffff:0:0/96", want: "0.0.0.0/0"},
		{in: "", wantErr: "empty"},
		{in: "   ", wantErr: "empty"},
		{in: "10.0.0.1/8", wantErr: "did you mean 10.0.0.0/8"},
		{in: "2001:db8::1/32", wantErr: "host bits"},
		{in: "10.0.0.0/33", wantErr: "not a CIDR"},
		{in: "10.0.0.0/-1", wantErr: "not a CIDR"},
		{in: "10.0.0/8", wantErr: "not a CIDR"},
		{in: "example.com", wantErr: "not an IP address"},
		{in: "fe80::1%eth0", wantErr: "not an IP address"},
		{in: "fe80::%eth0/64", wantErr: "not a CIDR"},
		{in: "::ffff:10.0.0.0/95", wantErr: "IPv4-mapped"},
		{in: "10.0.0.0/8,10.1.0.0/16", wantErr: "not a CIDR"},
		{in: strings.Repeat("1", 65), wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := latchkey.ParseCIDR(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCIDR(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("ParseCIDR(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

func rule(name string, typ latchkey.IPRuleType, cidrs ...string) *latchkey.IPRule {
	return &latchkey.IPRule{Name: name, Type: typ, CIDRs: latchkey.Ranges(cidrs...), State: latchkey.StateActive}
}

func TestIPPolicyAllows(t *testing.T) {
	tests := []struct {
		name  string
		rules []*latchkey.IPRule
		addr  string // "" for an unknown address
		want  bool
	}{
		{"no rules", nil, "203.0.113.9", true},
		{"no rules, unknown address", nil, "", true},
		{"deny only, other address", []*latchkey.IPRule{rule("d", latchkey.IPRuleDeny, "127.0.0.2/32")}, "127.0.0.1", true},
		{"deny only, denied address", []*latchkey.IPRule{rule("d", latchkey.IPRuleDeny, "127.0.0.2/32")}, "127.0.0.2", false},
		{"deny only, unknown address", []*latchkey.IPRule{rule("d", latchkey.IPRuleDeny, "127.0.0.2/32")}, "", false},
		{"allow only, inside", []*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, "10.0.0.0/8")}, "10.9.8.7", true},
		{"allow only, outside", []*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, "10.0.0.0/8")}, "11.0.0.1", false},
		{"allow only, IPv6 client outside", []*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, "10.0.0.0/8")}, "2001:db8::1", false},
		{"more specific deny inside allow", []*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, "10.0.0.0/8"), rule("d", latchkey.IPRuleDeny, "10.1.0.0/16")}, "10.1.2.3", false},
		{"allow outside the deny", []*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, "10.0.0.0/8"), rule("d", latchkey.IPRuleDeny, "10.1.0.0/16")}, "10.2.0.1", true},
		{"more specific allow inside deny", []*latchkey.IPRule{rule("d", latchkey.IPRuleDeny, "10.0.0.0/8"), rule("a", latchkey.IPRuleAllow, "10.1.2.3/32")}, "10.1.2.3", true},
		{"deny wins over its wider allow", []*latchkey.IPRule{rule("d", latchkey.IPRuleDeny, "10.0.0.0/8"), rule("a", latchkey.IPRuleAllow, "10.1.2.3/32")}, "10.1.2.4", false},
		{"IPv6 allow", []*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, "2001:db8::/32")}, "2001:db8:1::5", true},
		{"IPv6 deny, IPv4 client", []*latchkey.IPRule{rule("d", latchkey.IPRuleDeny, "::/0")}, "192.0.2.1", true},
		{"IPv4-mapped client matches IPv4 rule", []*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, "192.0.2.0/24")}, "::ffff:192.0.2.7", true},
		{"deleted rule ignored", []*latchkey.IPRule{{Name: "a", Type: latchkey.IPRuleAllow, CIDRs: latchkey.Ranges("10.0.0.0/8"), State: latchkey.StateDeleted}}, "11.0.0.1", true},
		{"allow all", []*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, "0.0.0.0/0", "::/0")}, "198.51.100.1", true},
		{"allow only, unknown address", []*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, "0.0.0.0/0")}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol, err := latchkey.CompileIPRules(tt.rules)
			if err != nil {
				t.Fatalf("CompileIPRules: %v", err)
			}
			var addr netip.Addr
			if tt.addr != "" {
				addr = netip.MustParseAddr(tt.addr)
			}
			if got := pol.Allows(addr); got != tt.want {
				t.Errorf("Allows(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
	var nilPolicy *latchkey.IPPolicy
	if !nilPolicy.Allows(netip.MustParseAddr("10.0.0.1")) {
		t.Errorf("(*IPPolicy)(nil).Allows = false, want true (no policy)")
	}
}

func TestCompileIPRulesRefuses(t *testing.T) {
	tests := []struct {
		name      string
		rules     []*latchkey.IPRule
		wantField string
	}{
		{"same CIDR allowed and denied", []*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, "10.0.0.0/8"), rule("d", latchkey.IPRuleDeny, "10.0.0.0/8")}, "cidrs"},
		{"same range written differently", []*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, "10.1.2.3"), rule("d", latchkey.IPRuleDeny, "10.1.2.3/32")}, "cidrs"},
		{"same IPv6 range", []*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, "2001:db8::/32"), rule("d", latchkey.IPRuleDeny, "2001:DB8::/32")}, "cidrs"},
		{"invalid CIDR", []*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, "10.0.0.1/8")}, "cidrs"},
		{"invalid type", []*latchkey.IPRule{rule("x", 3, "10.0.0.0/8")}, "type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol, err := latchkey.CompileIPRules(tt.rules)
			var le *latchkey.Error
			if err == nil {
				t.Fatalf("CompileIPRules = %v, nil; want an error on %s", pol, tt.wantField)
			}
			if code := latchkey.ErrorCodeOf(err); code != latchkey.EInvalid {
				t.Fatalf("CompileIPRules error code = %s, want invalid", code)
			}
			le = err.(*latchkey.Error)
			if le.Field != tt.wantField {
				t.Errorf("CompileIPRules error field = %q, want %q (%v)", le.Field, tt.wantField, err)
			}
		})
	}
	// The same CIDR in two allow rules is fine.
	if _, err := latchkey.CompileIPRules([]*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, "10.0.0.0/8"), rule("b", latchkey.IPRuleAllow, "10.0.0.0/8")}); err != nil {
		t.Errorf("CompileIPRules(two allow rules, same CIDR) = %v, want nil", err)
	}
}

// FuzzParseCIDR checks that what ParseCIDR accepts is canonical (masked, unmapped, no zone),
// survives a round trip through its string form, and compiles into a policy that treats the
// range's own first address as the rule says.
func FuzzParseCIDR(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "127.0.0.2", "::ffff:10.1.2.0/120", "2001:db8::/32", "::/0", "0.0.0.0/0",
		"10.0.0.1/8", "fe80::1%eth0", "1.2.3.4/032", " 1.2.3.4 ", "::ffff:0:0/96", "", "/", "1.2.3.4/", "::ffff:1.2.3.4/127"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := latchkey.ParseCIDR(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("ParseCIDR(%q) = %v: not canonical", s, p)
		}
		again, err := latchkey.ParseCIDR(p.String())
		if err != nil || again != p {
			t.Fatalf("ParseCIDR(%q) = %v, but ParseCIDR(%q) = %v, %v", s, p, p.String(), again, err)
		}
		for _, typ := range []latchkey.IPRuleType{latchkey.IPRuleAllow, latchkey.IPRuleDeny} {
			pol, err := latchkey.CompileIPRules([]*latchkey.IPRule{rule("r", typ, s)})
			if err != nil {
				t.Fatalf("CompileIPRules(%q) = %v after ParseCIDR accepted it", s, err)
			}
			if got := pol.Allows(p.Addr()); got != (typ == latchkey.IPRuleAllow) {
				t.Fatalf("rule type %d on %q: Allows(%s) = %v", typ, s, p.Addr(), got)
			}
		}
		if _, err := latchkey.CompileIPRules([]*latchkey.IPRule{rule("a", latchkey.IPRuleAllow, s), rule("d", latchkey.IPRuleDeny, p.String())}); err == nil {
			t.Fatalf("CompileIPRules accepted %q allowed and %s denied", s, p)
		}
	})
}
