package bench

import (
	"context"
	"flag"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/postgres"
	"github.com/latchkey/latchkey/postgres/pgtest"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

// Verification on PostgreSQL next to SQLite, on the same machine in one run:
//
//	go test -run '^$' -bench 'VerifyStores' -benchmem ./bench/
//
// uncached: one verification of a token no cache has seen (a storage read of the token and its
// grants), single-threaded, with p50/p99 reported; cached: verifications of cached tokens from
// all CPUs, with verif/s reported. PostgreSQL is skipped when LATCHKEY_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/postgres) does not answer.

var storeTokens = flag.Int("store-tokens", 10_000, "service tokens seeded into each store")

var clientIP = netip.MustParseAddr("10.1.2.3")

func BenchmarkVerifyStores(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) latchkey.Store
	}{
		{"sqlite", func(b *testing.B) latchkey.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"postgres", func(b *testing.B) latchkey.Store {
			s, err := postgres.Open(context.Background(), pgtest.Schema(b))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			s := st.open(b)
			b.Cleanup(func() { s.Close() })
			tokens := seedTokens(b, s, *storeTokens)
			b.Run("uncached", func(b *testing.B) { benchUncached(b, s, tokens) })
			b.Run("cached", func(b *testing.B) { benchCached(b, s, tokens) })
		})
	}
}

// seedTokens stores n service tokens (two grants each, like verify's benchmarks) through the
// store and returns their strings in random order.
func seedTokens(b *testing.B, s latchkey.Store, n int) []string {
	b.Helper()
	ctx := context.Background()
	a := &latchkey.Account{Name: "bench", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := s.CreateAccount(ctx, a); err != nil {
		b.Fatal(err)
	}
	p := &latchkey.Project{AccountID: a.ID, Name: "p"}
	if err := s.CreateProject(ctx, p); err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, 0, n)
	for len(tokens) < n {
		batch := make([]*latchkey.Token, 0, 1000)
		for len(batch) < cap(batch) && len(tokens) < n {
			m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, &latchkey.Token{AccountID: a.ID, Kind: latchkey.KindServiceToken, UID: m.UID, Hash: m.Hash, Name: "bench",
				Grants: []latchkey.Grant{{PermissionSet: "job_admin", ProjectID: p.ID}, {PermissionSet: "metadata_only", AllProjects: true}}})
			tokens = append(tokens, m.String)
		}
		if err := s.CreateTokens(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	rand.Shuffle(len(tokens), func(i, j int) { tokens[i], tokens[j] = tokens[j], tokens[i] })
	return tokens
}

// benchUncached verifies each token once per verifier: every call reads storage. A fresh
// verifier (outside the timer) starts each pass over the tokens.
func benchUncached(b *testing.B, s latchkey.Store, tokens []string) {
	ctx := context.Background()
	opts := verify.Options{TTL: time.Hour}
	v := verify.New(s, opts)
	lat := make([]time.Duration, 0, 1<<16)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i == len(tokens) {
			b.StopTimer()
			v, i = verify.New(s, opts), 0
			b.StartTimer()
		}
		t0 := time.Now()
		if _, err := v.Verify(ctx, tokens[i], clientIP); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		i++
	}
	slices.Sort(lat)
	pct := func(p int) float64 { return float64(lat[max(0, (len(lat)*p+99)/100-1)].Nanoseconds()) }
	b.ReportMetric(pct(50), "p50-ns")
	b.ReportMetric(pct(99), "p99-ns")
}

// benchCached verifies cached tokens from every CPU.
func benchCached(b *testing.B, s latchkey.Store, tokens []string) {
	ctx := context.Background()
	v := verify.New(s, verify.Options{TTL: time.Hour})
	for _, t := range tokens {
		if _, err := v.Verify(ctx, t, clientIP); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(tokens))
		for pb.Next() {
			if _, err := v.Verify(ctx, tokens[i%len(tokens)], clientIP); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verif/s")
}
