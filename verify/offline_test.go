package verify_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/accesstoken"
	"github.com/latchkey/latchkey/verify"
)

// The offline verifier checks tokens against the published key set with no call per token: it
// learns a new key when a token names it (at most once per MinRefetch however many unknown kids
// arrive), authorises only the grants a token carries, and refuses what Parse refuses.
func TestOfflineVerifier(t *testing.T) {
	secret := []byte("a secret key of at least 32 characters")
	newSigner := func() (*latchkey.SigningKey, *accesstoken.Signer) {
		k, err := accesstoken.NewKey(secret, time.Now(), time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		priv, _ := accesstoken.OpenKey(secret, k)
		s, err := accesstoken.NewSigner(k.KID, priv)
		if err != nil {
			t.Fatal(err)
		}
		return k, s
	}
	k1, s1 := newSigner()
	k2, s2 := newSigner()
	var mu sync.Mutex
	published := []*latchkey.SigningKey{k1}
	var iss string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		set := jose.JSONWebKeySet{}
		for _, k := range published {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: ed25519.PublicKey(k.PublicKey), KeyID: k.KID, Algorithm: "EdDSA", Use: "sig"})
		}
		json.NewEncoder(w).Encode(set)
	}))
	defer srv.Close()
	iss = srv.URL
	o, err := verify.NewOffline(context.Background(), iss)
	if err != nil {
		t.Fatal(err)
	}
	o.Keys.MinRefetch = time.Hour // refetches are driven by the test below
	mint := func(s *accesstoken.Signer, grants []string, exp time.Duration) string {
		now := time.Now()
		c := &accesstoken.Claims{Claims: jwt.Claims{Issuer: iss, Audience: jwt.Audience{iss}, Subject: "service_token:9",
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(exp)), ID: accesstoken.NewID()},
			ClientID: "abcdefgh", AccountID: 3, TokenID: 9, Grants: grants}
		tok, err := s.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	p, _, err := o.Verify(mint(s1, []string{"job_viewer:5"}, time.Minute))
	if err != nil || p.AccountID != 3 || p.TokenID != 9 || p.Kind != latchkey.PrincipalServiceToken {
		t.Fatalf("offline verify: %+v, %v", p, err)
	}
	if !p.Can(latchkey.ResJobs, latchkey.AccessRead, 5, "").Allowed || p.Can(latchkey.ResJobs, latchkey.AccessWrite, 5, "").Allowed || p.Can(latchkey.ResJobs, latchkey.AccessRead, 6, "").Allowed {
		t.Errorf("offline permissions are not those of job_viewer on project 5")
	}
	if p, _, err := o.Verify(mint(s1, nil, time.Minute)); err != nil || p.Can(latchkey.ResJobs, latchkey.AccessRead, 5, "").Allowed {
		t.Errorf("a token without grants authorises something offline (%v)", err)
	}
	if _, _, err := o.Verify(mint(s1, nil, -2*time.Minute)); verify.Reason(err) != "expired" {
		t.Errorf("expired token offline: %v", err)
	}
	other := &verify.Offline{Issuer: "https://elsewhere.example", Audience: "https://elsewhere.example", Keys: o.Keys}
	if _, _, err := other.Verify(mint(s1, nil, time.Minute)); err == nil {
		t.Errorf("a token of another issuer was accepted")
	}

	// A token of a key published after the last fetch: one refetch finds it. Tokens naming
	// unknown kids after that do not fetch again within MinRefetch.
	mu.Lock()
	published = append(published, k2)
	mu.Unlock()
	o.Keys.MinRefetch = 0
	before := o.Keys.Fetches()
	if _, _, err := o.Verify(mint(s2, nil, time.Minute)); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if o.Keys.Fetches() != before+1 {
		t.Errorf("fetches for the new key: %d, want 1", o.Keys.Fetches()-before)
	}
	o.Keys.MinRefetch = time.Hour
	before = o.Keys.Fetches()
	for i := range 50 {
		_, s := newSigner()
		if _, _, err := o.Verify(mint(s, nil, time.Minute)); err == nil {
			t.Fatalf("token %d of an unpublished key accepted", i)
		}
	}
	if n := o.Keys.Fetches() - before; n != 0 {
		t.Errorf("50 unknown kids within MinRefetch made %d fetches, want 0", n)
	}
}
