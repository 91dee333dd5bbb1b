package latchkey_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey"
)

func TestPrincipalIdentityValues(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		p := &latchkey.Principal{Kind: latchkey.PrincipalServiceToken, AccountID: 7, TokenID: 42}
		if sealed {
			p = p.Seal()
		}
		account, principal := p.IdentityValues()
		if diff := cmp.Diff([]string{"7"}, account); diff != "" {
			t.Errorf("sealed=%v: account value (-want +got):\n%s", sealed, diff)
		}
		if diff := cmp.Diff([]string{"service_token:42"}, principal); diff != "" {
			t.Errorf("sealed=%v: principal value (-want +got):\n%s", sealed, diff)
		}
		// A caller appending to a shared value must not write into the principal.
		_ = append(account, "x")
		_ = append(principal, "y")
		if a, pr := p.IdentityValues(); a[0] != "7" || len(a) != 1 || pr[0] != "service_token:42" || len(pr) != 1 {
			t.Errorf("sealed=%v: values changed after appends: %q %q", sealed, a, pr)
		}
	}
	sealed := (&latchkey.Principal{Kind: latchkey.PrincipalServiceToken, AccountID: 7, TokenID: 42}).Seal()
	if allocs := testing.AllocsPerRun(100, func() { _, _ = sealed.IdentityValues() }); allocs != 0 {
		t.Errorf("IdentityValues of a sealed principal: %v allocations, want 0", allocs)
	}
}
