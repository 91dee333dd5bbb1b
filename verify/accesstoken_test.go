package verify_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/accesstoken"
	"github.com/latchkey/latchkey/verify"
)

const testIssuer = "https://latchkey.test"

// accessFixture is a verifier that accepts access tokens signed by one key.
func accessFixture(tb testing.TB) (*fixture, *accesstoken.Signer) {
	tb.Helper()
	secret := []byte("a secret key of at least 32 characters")
	k, err := accesstoken.NewKey(secret, time.Now(), time.Now(), time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	priv, err := accesstoken.OpenKey(secret, k)
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := accesstoken.NewSigner(k.KID, priv)
	if err != nil {
		tb.Fatal(err)
	}
	keys := func(kid string) (any, bool) {
		if kid == k.KID {
			return ed25519.PublicKey(k.PublicKey), true
		}
		return nil, false
	}
	f := newFixture(tb, verify.Options{TTL: time.Hour, CountUsage: true,
		AccessTokens: &verify.AccessTokens{Issuer: testIssuer, Audience: testIssuer, Key: keys}})
	return f, signer
}

// mintFor signs an access token for tok (grants nil: not narrowed).
func mintFor(tb testing.TB, s *accesstoken.Signer, tok *latchkey.Token, grants []string) string {
	tb.Helper()
	now := time.Now()
	c := &accesstoken.Claims{Claims: jwt.Claims{Issuer: testIssuer, Audience: jwt.Audience{testIssuer}, Subject: "service_token:x",
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(15 * time.Minute)), ID: accesstoken.NewID()},
		ClientID: tok.UID, AccountID: tok.AccountID, TokenID: tok.ID, Grants: grants}
	raw, err := s.Sign(c)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// An access token acts as its parent, narrowed to its grants; a change to the parent's grants
// narrows it at once; revoking the parent refuses it; its signature is checked once.
func TestAccessTokens(t *testing.T) {
	f, signer := accessFixture(t)
	ctx := context.Background()
	_, tok := f.token(t, nil, latchkey.Grant{PermissionSet: "job_admin", ProjectID: f.project.ID})
	full := mintFor(t, signer, tok, nil)
	narrow := mintFor(t, signer, tok, []string{fmt.Sprintf("job_viewer:%d", f.project.ID), "account_admin"})
	p, err := f.v.Verify(ctx, full, localhost)
	if err != nil || p.TokenID != tok.ID || p.Method != verify.AuthAccessToken || !p.Can(latchkey.ResJobs, latchkey.AccessWrite, f.project.ID, "").Allowed {
		t.Fatalf("full access token: %+v, %v", p, err)
	}
	p, err = f.v.Verify(ctx, narrow, localhost)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Can(latchkey.ResJobs, latchkey.AccessRead, f.project.ID, "").Allowed || p.Can(latchkey.ResJobs, latchkey.AccessWrite, f.project.ID, "").Allowed {
		t.Errorf("narrowed token: read %v write %v; want read only", p.Can(latchkey.ResJobs, latchkey.AccessRead, f.project.ID, ""), p.Can(latchkey.ResJobs, latchkey.AccessWrite, f.project.ID, ""))
	}
	if p.Can(latchkey.ResMembers, latchkey.AccessWrite, 0, "").Allowed {
		t.Errorf("the narrowed token gained account_admin, which its parent does not hold")
	}
	if p.ExpiresAt == nil || time.Until(*p.ExpiresAt) > 16*time.Minute {
		t.Errorf("access token principal expires %v", p.ExpiresAt)
	}
	// Cached: no storage read (neither the access token's parent by id nor any token by hash)
	// on the next verifications.
	reads := f.store.byHash.Load() + f.store.byID.Load()
	for range 3 {
		if _, err := f.v.Verify(ctx, narrow, localhost); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.store.byHash.Load() + f.store.byID.Load() - reads; n != 0 {
		t.Errorf("three cached verifications read storage %d times", n)
	}
	// The parent loses its grant: the access token loses it too.
	if _, err := f.store.ReplaceTokenGrants(ctx, tok.ID, []latchkey.Grant{{PermissionSet: "metadata_only", ProjectID: f.project.ID}}); err != nil {
		t.Fatal(err)
	}
	if p, err := f.v.Verify(ctx, narrow, localhost); err != nil || p.Can(latchkey.ResJobs, latchkey.AccessRead, f.project.ID, "").Allowed {
		t.Errorf("after the parent lost job_admin the access token reads jobs: %v", err)
	}
	// Revoked parent: refused.
	deleted := latchkey.StateDeleted
	if _, err := f.store.UpdateToken(ctx, tok.ID, latchkey.TokenUpdate{State: &deleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(ctx, full, localhost); verify.Reason(err) != "revoked" {
		t.Errorf("access token of a revoked token: %v, want revoked", err)
	}
}

// BenchmarkVerifyCachedAccessToken compares cached verification of access tokens with that of
// the opaque tokens they were obtained with, in one run (1,000 tokens):
//
//	go test -run '^$' -bench VerifyCachedAccessToken -count 6 ./verify/ | benchstat -col /kind -
func BenchmarkVerifyCachedAccessToken(b *testing.B) {
	f, signer := accessFixture(b)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go f.v.Run(ctx)
	var opaque, access, narrowed []string
	for range 1000 {
		s, tok := f.token(b, nil, latchkey.Grant{PermissionSet: "job_admin", ProjectID: f.project.ID})
		opaque = append(opaque, s)
		access = append(access, mintFor(b, signer, tok, nil))
		narrowed = append(narrowed, mintFor(b, signer, tok, []string{fmt.Sprintf("job_viewer:%d", f.project.ID)}))
	}
	for _, c := range []struct {
		kind   string
		tokens []string
	}{{"opaque", opaque}, {"access", access}, {"access-narrowed", narrowed}} {
		b.Run("kind="+c.kind, func(b *testing.B) {
			for _, s := range c.tokens {
				if _, err := f.v.Verify(ctx, s, localhost); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := f.v.Verify(ctx, c.tokens[i%len(c.tokens)], localhost); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
