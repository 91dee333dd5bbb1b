package server

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/accesstoken"
	"github.com/latchkey/latchkey/sqlite"
)

// The key schedule: the first key signs at once; the next is published an hour before it
// signs; the old one stays published until what it signed has expired; a second node finds a
// key the first made when it meets its kid; after a long stop a key signs at once again.
func TestKeyringSchedule(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	secret := []byte("a secret key of at least 32 characters")
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	node := func() *Keyring {
		k := NewKeyring(store, secret, nil, 24*time.Hour)
		k.now = clock
		return k
	}
	a := node()
	ensure := func(k *Keyring) {
		t.Helper()
		if err := k.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ensure(a)
	if keys := a.Published(); len(keys) != 1 || !keys[0].ActiveFrom.Equal(now) || a.signKey.KID != keys[0].KID {
		t.Fatalf("first key: %+v", keys)
	}
	first := a.signKey
	sign := func(k *Keyring) string {
		t.Helper()
		c := &accesstoken.Claims{Claims: jwt.Claims{Issuer: "i", Audience: jwt.Audience{"i"}, IssuedAt: jwt.NewNumericDate(now),
			Expiry: jwt.NewNumericDate(now.Add(15 * time.Minute))}}
		tok, err := k.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// verifies checks tok's signature with k's keys as they are now, its times as of at.
	verifies := func(k *Keyring, tok string, at time.Time) bool {
		_, err := accesstoken.Parse(tok, k.Key, "i", "i", at)
		return err == nil
	}
	t0 := now
	old := sign(a)

	// 90 minutes before the first key's end nothing is made; an hour before, the next is, to
	// sign from the first key's end.
	now = first.SignUntil.Add(-90 * time.Minute)
	ensure(a)
	if n := len(a.Published()); n != 1 {
		t.Fatalf("%d keys 90 minutes before the end, want 1", n)
	}
	now = first.SignUntil.Add(-time.Hour)
	ensure(a)
	keys := a.Published()
	if len(keys) != 2 || !keys[1].ActiveFrom.Equal(first.SignUntil) || keys[1].ActiveFrom.Sub(keys[1].CreatedAt) < PrePublish {
		t.Fatalf("next key: %+v", keys)
	}
	next := keys[1]
	if a.signKey.KID != first.KID {
		t.Errorf("the next key signs before its time")
	}
	// Another node meets a token of the next key before reading the keys again.
	b := node()
	ensure(b)
	now = next.ActiveFrom
	ensure(a)
	if a.signKey.KID != next.KID {
		t.Fatalf("at its start the next key does not sign")
	}
	fresh := sign(a)
	b.lastFetch = now.Add(-time.Minute)
	if !verifies(b, fresh, now) || !verifies(b, old, t0) {
		t.Errorf("the other node verifies: new %v, old %v", verifies(b, fresh, now), verifies(b, old, t0))
	}
	// The first key stays published until what it signed has expired, then goes.
	now = first.PublishUntil.Add(-time.Second)
	ensure(a)
	if _, ok := a.Key(first.KID); !ok {
		t.Errorf("the first key went before its publication ended")
	}
	now = first.PublishUntil
	ensure(a)
	if _, ok := a.Key(first.KID); ok {
		t.Errorf("the first key is still published after its end")
	}
	if n, err := store.DeleteSigningKeys(ctx, now); err != nil || n != 1 {
		t.Errorf("deleted %d, %v", n, err)
	}
	// Every node stopped for a week: the next start makes a key that signs at once.
	now = now.Add(7 * 24 * time.Hour)
	c := node()
	ensure(c)
	if c.signKey == nil || !c.signKey.ActiveFrom.Equal(now) {
		t.Errorf("after a long stop: signing key %+v", c.signKey)
	}
	// A token's expiry past its key's publication is refused rather than signed.
	far := &accesstoken.Claims{Claims: jwt.Claims{Expiry: jwt.NewNumericDate(c.signKey.PublishUntil.Add(time.Hour))}}
	if _, err := c.Sign(far); err == nil {
		t.Errorf("signed a token that outlives its key")
	}
	// The sealed private key needs the deployment's secret; a node started with another one
	// makes a key it can open, which signs at once.
	if _, err := accesstoken.OpenKey([]byte("another secret of at least 32 characters"), c.signKey); err == nil {
		t.Errorf("a signing key opened with another secret")
	}
	d := NewKeyring(store, []byte("another secret of at least 32 characters"), nil, 24*time.Hour)
	d.now = clock
	ensure(d)
	if d.signKey == nil || d.signKey.KID == c.signKey.KID {
		t.Errorf("with another secret: signing key %+v", d.signKey)
	}
	sign(d)
	// Two nodes with different secrets settle on one key each, not a new key a minute.
	published := len(d.Published())
	for range 5 {
		now = now.Add(time.Minute)
		ensure(c)
		ensure(d)
	}
	if n := len(d.Published()); n != published {
		t.Errorf("two secrets: %d keys after five minutes, had %d", n, published)
	}
	sign(c)
	sign(d)
}
