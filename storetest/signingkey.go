package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey"
)

// testSigningKeys: keys are stored with their schedule and bytes, listed while published
// (oldest first), a taken kid is a conflict, and keys past their publication are deleted.
func testSigningKeys(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	key := func(kid string, from time.Time) *latchkey.SigningKey {
		return &latchkey.SigningKey{KID: kid, Algorithm: "EdDSA", PublicKey: []byte("public-" + kid), PrivateSealed: []byte{0, 1, 2, 255},
			CreatedAt: from.Add(-time.Hour), ActiveFrom: from, SignUntil: from.Add(24 * time.Hour), PublishUntil: from.Add(36 * time.Hour)}
	}
	old, cur := key("k-old", t0), key("k-cur", t0.Add(24*time.Hour))
	for _, k := range []*latchkey.SigningKey{cur, old} {
		if err := s.CreateSigningKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSigningKey(ctx, key("k-old", t0)); latchkey.ErrorCodeOf(err) != latchkey.EConflict {
		t.Errorf("a taken kid: %v, want a conflict", err)
	}
	got, err := s.FindSigningKeys(ctx, t0.Add(30*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*latchkey.SigningKey{old, cur}, got); diff != "" {
		t.Errorf("published keys (-want +got):\n%s", diff)
	}
	// At t0 + 36 h the old key is no longer published.
	if got, err := s.FindSigningKeys(ctx, t0.Add(36*time.Hour)); err != nil || len(got) != 1 || got[0].KID != "k-cur" {
		t.Errorf("keys published at t0+36h = %v, %v; want k-cur alone", got, err)
	}
	if n, err := s.DeleteSigningKeys(ctx, t0.Add(36*time.Hour)); err != nil || n != 1 {
		t.Errorf("deleted %d, %v; want 1", n, err)
	}
	if got, err := s.FindSigningKeys(ctx, t0); err != nil || len(got) != 1 || got[0].KID != "k-cur" {
		t.Errorf("keys left after deleting = %v, %v; want k-cur", got, err)
	}
}
