package server

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
)

// FuzzParseRuleCIDRs feeds parseRuleCIDRs (an IP rule's cidrs, straight from the network) any
// JSON. Whatever it accepts is a bounded list of distinct canonical ranges, each answered as
// written only when it was written some other way.
func FuzzParseRuleCIDRs(f *testing.F) {
	for _, seed := range []string{
		`["10.0.0.0/8"]`,
		`[{"cidr":"2001:DB8::/32"},{"cidr_ipv6":"2001:db9::/32","id":7}]`,
		`[{"id":1,"cidr":"10.0.0.0/8","state":2},{"cidr":"192.0.2.1"}]`,
		`[{"cidr":""},{"cidr_ipv6":" 10.0.0.1 "}]`,
		`[{"cidr":"::ffff:10.0.0.0/104"}]`,
		`{"cidr":"10.0.0.0/8"}`,
		`[null, 1, true]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		cidrs, err := parseRuleCIDRs("cidrs", raw)
		if err != nil {
			var le *latchkey.Error
			if !errors.As(err, &le) || le.Code != latchkey.EInvalid || le.Field != "cidrs" {
				t.Fatalf("error %v is not a 400 on cidrs", err)
			}
			return
		}
		if len(cidrs) > admin.MaxRuleCIDRs {
			t.Fatalf("%d ranges, more than %d", len(cidrs), admin.MaxRuleCIDRs)
		}
		seen := map[string]bool{}
		for _, c := range cidrs {
			p, err := latchkey.ParseCIDR(c.CIDR)
			if err != nil || p.String() != c.CIDR {
				t.Fatalf("range %q is not canonical (%v)", c.CIDR, err)
			}
			if seen[c.CIDR] {
				t.Fatalf("range %q twice", c.CIDR)
			}
			seen[c.CIDR] = true
			if c.Written == c.CIDR {
				t.Fatalf("range %q kept as written although it is canonical", c.CIDR)
			}
			if c.Written != "" {
				if w, err := latchkey.ParseCIDR(c.Written); err != nil || w.String() != c.CIDR {
					t.Fatalf("written %q does not name %q", c.Written, c.CIDR)
				}
			}
		}
	})
}
