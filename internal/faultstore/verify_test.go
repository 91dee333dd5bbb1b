package faultstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/internal/faultstore"
	"github.com/latchkey/latchkey/verify"
)

// tokenCase is a token string with what verifying it may answer.
type tokenCase struct {
	name   string
	secret string
	// want is the principal an acceptance must name (nil: never to be accepted).
	want *latchkey.Principal
	// refusal is the refusal the token earns whatever else happens (nil: none).
	refusal error
	// inside10 says the token is only accepted from 10.0.0.0/8 (its own ranges or its account's
	// enforced rule).
	inside10 bool
	// expires, when set, is the token's expiry: no acceptance of a verification that started
	// at or after it; ErrExpired only from a verification that ended at or after it.
	expires *time.Time
	// revoking is set just before the token is revoked (or its user removed) during the run,
	// revoked once that committed and its change was delivered; later refuses with lateRefusal.
	revoking, revoked atomic.Bool
	lateRefusal       error
	id                int64
}

var (
	addrInside  = netip.MustParseAddr("10.1.2.3")
	addrOutside = netip.MustParseAddr("192.0.2.7")
	callerAddr  = netip.MustParseAddr("10.0.0.1")
	verifyAddrs = []netip.Addr{addrInside, addrOutside, {}}
)

// Verifications under faults: many goroutines verify valid, revoked, expired, expiring,
// rotated-out, unknown and IP-restricted tokens (service tokens and personal access tokens, in
// an account without and one with enforced IP rules), through two verifiers over the faulty
// store (a short TTL, so most verifications read storage, and a longer one, so the batched
// refresh runs), while tokens are revoked and a member removed. Every answer is checked:
//
//   - an acceptance names the token's own principal, of a token that may be accepted: never an
//     unknown, revoked, expired or rotated-out one, never from outside its address ranges, and
//     never after its revocation (or its user's removal) committed and was announced;
//   - a refusal is the token's own (revoked, expired, …) or an outage (EUnavailable), never
//     another code: a storage failure is never cached or answered as a denial.
//
// With faults off at the end, every token answers exactly as it should.
func TestVerifierUnderFaults(t *testing.T) {
	eachStore(t, func(t *testing.T, inner latchkey.Store) {
		began := time.Now()
		s := seed(t)
		rng := rand.New(rand.NewPCG(s, 1))
		a := newWorld(t, inner, "Plain", "owner@plain.test")
		b := newWorld(t, inner, "Walled", "owner@walled.test")
		var cases []*tokenCase
		add := func(c *tokenCase) *tokenCase { cases = append(cases, c); return c }
		svcPrincipal := func(tok *latchkey.Token) *latchkey.Principal {
			return &latchkey.Principal{Kind: latchkey.PrincipalServiceToken, AccountID: tok.AccountID, TokenID: tok.ID, Name: tok.Name}
		}
		patPrincipal := func(w *world, tok *latchkey.Token, u *latchkey.User) *latchkey.Principal {
			return &latchkey.Principal{Kind: latchkey.PrincipalUser, AccountID: w.account.ID, TokenID: tok.ID, UserID: u.ID, Name: u.FullName()}
		}
		ranges := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}

		for i := range 4 {
			tok, secret := a.serviceToken(fmt.Sprintf("valid-%d", i), admin.NewToken{Grants: []latchkey.Grant{jobAdmin}})
			add(&tokenCase{name: tok.Name, secret: secret, want: svcPrincipal(tok), id: tok.ID})
			tok, secret = a.serviceToken(fmt.Sprintf("ranged-%d", i), admin.NewToken{Grants: []latchkey.Grant{jobAdmin}, AllowedCIDRs: ranges})
			add(&tokenCase{name: tok.Name, secret: secret, want: svcPrincipal(tok), inside10: true, id: tok.ID})
		}
		var revocable []*tokenCase
		for i := range 6 {
			tok, secret := a.serviceToken(fmt.Sprintf("revoke-later-%d", i), admin.NewToken{Grants: []latchkey.Grant{jobAdmin}})
			revocable = append(revocable, add(&tokenCase{name: tok.Name, secret: secret, want: svcPrincipal(tok),
				lateRefusal: verify.ErrRevoked, id: tok.ID}))
		}
		for i := range 2 {
			tok, secret := a.serviceToken(fmt.Sprintf("revoked-%d", i), admin.NewToken{Grants: []latchkey.Grant{jobAdmin}})
			ctx, p := a.as(a.owner.ID)
			if _, err := a.svc.DeleteToken(ctx, p, admin.ServiceTokenRef(tok.ID)); err != nil {
				t.Fatal(err)
			}
			add(&tokenCase{name: tok.Name, secret: secret, refusal: verify.ErrRevoked})
		}
		past := time.Now().Add(-time.Hour)
		add(&tokenCase{name: "expired", secret: a.rawToken(&latchkey.Token{Kind: latchkey.KindServiceToken, Name: "expired",
			ExpiresAt: &past, Grants: []latchkey.Grant{jobAdmin}}), refusal: verify.ErrExpired})
		// Tokens that expire during the run (its length depends on the machine, so this is what
		// it is: expiries are checked against the wall clock either way).
		for i := range 2 {
			soon := time.Now().Add(time.Duration(300*(i+1)) * time.Millisecond).UTC().Truncate(time.Microsecond)
			tok := &latchkey.Token{Kind: latchkey.KindServiceToken, Name: fmt.Sprintf("expiring-%d", i), ExpiresAt: &soon,
				Grants: []latchkey.Grant{jobAdmin}}
			secret := a.rawToken(tok)
			p := svcPrincipal(tok)
			add(&tokenCase{name: tok.Name, secret: secret, want: p, expires: &soon, id: tok.ID})
		}
		{
			ctx, p := a.as(a.owner.ID)
			zero := time.Duration(0)
			old, oldSecret := a.serviceToken("rotated-old", admin.NewToken{Grants: []latchkey.Grant{jobAdmin}})
			next, nextSecret, _, err := a.svc.RotateToken(ctx, p, admin.ServiceTokenRef(old.ID), admin.Rotation{Grace: &zero})
			if err != nil {
				t.Fatal(err)
			}
			add(&tokenCase{name: "rotated-out", secret: oldSecret, refusal: verify.ErrRotatedOut})
			add(&tokenCase{name: "rotated-next", secret: nextSecret, want: svcPrincipal(next), id: next.ID})
		}
		for i := range 3 {
			add(&tokenCase{name: fmt.Sprintf("unknown-%d", i), secret: unknownToken(t), refusal: verify.ErrUnknown})
		}
		// Personal access tokens: two members who stay, one who is removed during the run.
		for i := range 2 {
			u := a.addMember(fmt.Sprintf("m%d@plain.test", i), latchkey.LicenseDeveloper, latchkey.GroupMember)
			tok, secret := a.pat(u.ID, "laptop")
			add(&tokenCase{name: fmt.Sprintf("pat-%d", i), secret: secret, want: patPrincipal(a, tok, u), id: tok.ID})
		}
		leaver := a.addMember("leaver@plain.test", latchkey.LicenseDeveloper, latchkey.GroupMember)
		leaverTok, leaverSecret := a.pat(leaver.ID, "laptop")
		leaverCase := add(&tokenCase{name: "pat-leaver", secret: leaverSecret, want: patPrincipal(a, leaverTok, leaver),
			lateRefusal: verify.ErrRevoked, id: leaverTok.ID})
		// The walled account enforces 10.0.0.0/8 for everything.
		{
			ctx, p := b.as(b.owner.ID)
			on := true
			if _, err := b.svc.CreateIPRule(ctx, p, callerAddr, &latchkey.IPRule{Name: "office", Type: latchkey.IPRuleAllow,
				CIDRs: latchkey.Ranges("10.0.0.0/8")}, &on); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 {
			tok, secret := b.serviceToken(fmt.Sprintf("walled-%d", i), admin.NewToken{Grants: []latchkey.Grant{jobAdmin}})
			add(&tokenCase{name: tok.Name, secret: secret, want: svcPrincipal(tok), inside10: true, id: tok.ID})
		}
		{
			tok, secret := b.pat(b.owner.ID, "owner laptop")
			add(&tokenCase{name: "walled-pat", secret: secret, want: patPrincipal(b, tok, b.owner), inside10: true, id: tok.ID})
		}

		setup := time.Since(began)
		fs := faultstore.Wrap(inner, faultstore.Options{ErrorRate: *faultRate, MaxLatency: 2 * time.Millisecond, Seed: s})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		verifiers := []*verify.Verifier{
			verify.New(fs, verify.Options{TTL: 5 * time.Millisecond, NegativeTTL: 5 * time.Millisecond}),
			verify.New(fs, verify.Options{TTL: 100 * time.Millisecond, NegativeTTL: 20 * time.Millisecond}),
		}
		for _, v := range verifiers {
			t.Cleanup(fs.Subscribe(v.Invalidate))
			go v.Run(ctx)
		}

		total := *faultOps * 30
		var done atomic.Int64
		var fmu sync.Mutex
		var found findings
		wrong := func(key, format string, args ...any) {
			fmu.Lock()
			found.add(key, format, args...)
			fmu.Unlock()
		}
		var accepted, refused, outages, afterRevocation atomic.Int64

		check := func(v *verify.Verifier, c *tokenCase, ip netip.Addr) {
			revoked := c.revoked.Load()
			start := time.Now()
			p, err := v.Verify(ctx, c.secret, ip)
			end := time.Now()
			if revoked {
				afterRevocation.Add(1)
			}
			what := fmt.Sprintf("Verify(%s from %v)", c.name, ip)
			if err == nil {
				accepted.Add(1)
				switch {
				case c.want == nil:
					wrong("accepted a token never to be accepted", "%s accepted as %v", what, p)
				case revoked:
					wrong("accepted a token after its revocation committed", "%s accepted as %v", what, p)
				case c.expires != nil && !start.Before(*c.expires):
					wrong("accepted an expired token", "%s accepted at %v, expired at %v", what, start, c.expires)
				case c.inside10 && !ranges[0].Contains(ip):
					wrong("accepted a token from outside its address ranges", "%s accepted", what)
				case p.Kind != c.want.Kind || p.AccountID != c.want.AccountID || p.TokenID != c.want.TokenID ||
					p.UserID != c.want.UserID || p.Name != c.want.Name:
					wrong("accepted as the wrong principal", "%s = %+v, want %+v", what, *p, *c.want)
				}
				return
			}
			if unavailable(err) {
				outages.Add(1)
				return
			}
			refused.Add(1)
			switch {
			case c.refusal != nil && errors.Is(err, c.refusal):
			case c.lateRefusal != nil && c.revoking.Load() && errors.Is(err, c.lateRefusal):
			case c == leaverCase && c.revoking.Load() && errors.Is(err, verify.ErrNotMember):
			case c.expires != nil && !end.Before(*c.expires) && errors.Is(err, verify.ErrExpired):
			case c.inside10 && !ranges[0].Contains(ip) && errors.Is(err, verify.ErrIPDenied):
			default:
				wrong(fmt.Sprintf("refused with %s (%q), neither the token's own refusal nor EUnavailable", latchkey.ErrorCodeOf(err), verify.Reason(err)),
					"%s = %v", what, err)
			}
		}

		var wg sync.WaitGroup
		for g := range 8 {
			wrng := rand.New(rand.NewPCG(s, uint64(g)+2))
			wg.Go(func() {
				for done.Add(1) <= int64(total) {
					c := cases[wrng.IntN(len(cases))]
					check(verifiers[wrng.IntN(len(verifiers))], c, verifyAddrs[wrng.IntN(len(verifyAddrs))])
					// Let entries expire between verifications, so that storage is read often.
					time.Sleep(time.Duration(wrng.IntN(1000)) * time.Microsecond)
				}
			})
		}

		// Revocations while the workers run, spread over the run: through admin on the unwrapped
		// store, or through the faulty store, retried until it succeeds. Either way, once the
		// call returns the change has committed and been delivered to the verifiers.
		ownerCtx, ownerP := a.as(a.owner.ID)
		steps := len(revocable) + 1
		for i := range steps {
			for done.Load() < int64(total*(i+1)/(steps+1)) && done.Load() < int64(total) {
				time.Sleep(time.Millisecond)
			}
			if i == len(revocable) {
				leaverCase.revoking.Store(true)
				m, err := inner.FindMemberships(ctx, latchkey.MembershipFilter{AccountID: &a.account.ID, UserID: &leaver.ID})
				if err != nil || len(m) != 1 {
					t.Fatalf("membership of the leaver: %v %v", m, err)
				}
				deleted := latchkey.StateDeleted
				if _, err := a.svc.UpdateMembership(ownerCtx, ownerP, m[0].ID, latchkey.MembershipUpdate{State: &deleted}); err != nil {
					t.Fatalf("removing the leaver: %v", err)
				}
				leaverCase.revoked.Store(true)
				continue
			}
			c := revocable[i]
			c.revoking.Store(true)
			if rng.IntN(2) == 0 {
				if _, err := a.svc.DeleteToken(ownerCtx, ownerP, admin.ServiceTokenRef(c.id)); err != nil {
					t.Fatalf("DeleteToken(%s): %v", c.name, err)
				}
			} else {
				for attempt := 1; ; attempt++ {
					err := fs.DeleteToken(ownerCtx, c.id, "deleted")
					if err == nil {
						break
					}
					if !unavailable(err) || attempt == 100 {
						t.Fatalf("DeleteToken(%s) through the faulty store, attempt %d: %v", c.name, attempt, err)
					}
				}
			}
			c.revoked.Store(true)
		}
		wg.Wait()
		st, run := fs.Stats(), time.Since(began)-setup

		// Faults off: every token answers as it should now, from whatever the run left cached,
		// once storage is asked again (a circuit breaker may wait for its probe first).
		fs.SetEnabled(false)
		deadline := time.Now().Add(30 * time.Second)
		for _, v := range verifiers {
			for _, c := range cases {
				_, err := v.Verify(ctx, c.secret, addrInside)
				for unavailable(err) && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
					_, err = v.Verify(ctx, c.secret, addrInside)
				}
				var want error
				switch {
				case c.refusal != nil:
					want = c.refusal
				case c.revoked.Load():
					want = c.lateRefusal
				case c.expires != nil && !time.Now().Before(*c.expires):
					want = verify.ErrExpired
				}
				if want == nil && err != nil || want != nil && !errors.Is(err, want) {
					wrong("wrong answer after the faults stopped", "Verify(%s) = %v, want %v", c.name, err, want)
				}
			}
		}
		found.report(t, fmt.Sprintf("go test ./internal/faultstore -run '%s' -faults.seed %d -faults.ops %d", t.Name(), s, *faultOps))
		t.Logf("setup %v; %d verifications in %v: %d accepted, %d refused, %d unavailable, %d after a revocation; store %+v",
			setup.Round(time.Millisecond), total, run.Round(time.Millisecond), accepted.Load(), refused.Load(), outages.Load(), afterRevocation.Load(), st)
		for i, v := range verifiers {
			t.Logf("verifier %d: %d misses, %d refreshes", i, v.Stats().Misses.Load(), v.Stats().Refreshes.Load())
		}
		// Outages answered to callers are not required: the verifier may serve every one of them
		// from its cache.
		if accepted.Load() == 0 || refused.Load() == 0 || afterRevocation.Load() == 0 || st.Faults == 0 {
			t.Errorf("the run did not exercise every outcome")
		}
	})
}
