package verify_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

// Benchmarks of the verification hot path. Compare in one run:
//
//	go test -run '^$' -bench . -benchmem ./verify/
//
// BaselineSHA256Map is the floor: the SHA-256 of the token string and a Go map lookup over the
// same number of entries. VerifyCached must stay within 2× of it at the same size, with 0
// allocations.

var sizes = []int{1_000, 100_000}

// seeded is a database with n service tokens and their strings.
type seeded struct {
	store  *sqlite.Store
	tokens []string
}

var (
	seedMu    sync.Mutex
	seedCache = map[int]*seeded{}
)

// seed returns a store with n service tokens (each with two grants). Databases are kept in the
// system temp directory between runs, because writing a million tokens takes a while.
func seed(b testing.TB, n int) *seeded {
	b.Helper()
	seedMu.Lock()
	defer seedMu.Unlock()
	if s := seedCache[n]; s != nil {
		return s
	}
	dir := filepath.Join(os.TempDir(), "latchkey-bench")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	dbPath := filepath.Join(dir, fmt.Sprintf("tokens-%d-v1.db", n))
	listPath := dbPath + ".tokens"
	ctx := context.Background()
	if list, err := os.ReadFile(listPath); err == nil {
		st, err := sqlite.Open(ctx, dbPath)
		if err == nil {
			s := &seeded{store: st, tokens: strings.Fields(string(list))}
			if len(s.tokens) == n {
				seedCache[n] = s
				return s
			}
			st.Close()
		}
	}
	os.Remove(dbPath)
	os.Remove(listPath)
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		b.Fatal(err)
	}
	a := &latchkey.Account{Name: "bench", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := st.CreateAccount(ctx, a); err != nil {
		b.Fatal(err)
	}
	p := &latchkey.Project{AccountID: a.ID, Name: "p"}
	if err := st.CreateProject(ctx, p); err != nil {
		b.Fatal(err)
	}
	s := &seeded{store: st}
	for len(s.tokens) < n {
		batch := make([]*latchkey.Token, 0, 10_000)
		for len(batch) < cap(batch) && len(s.tokens)+len(batch) < n {
			m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, &latchkey.Token{AccountID: a.ID, Kind: latchkey.KindServiceToken, UID: m.UID, Hash: m.Hash,
				Name: "bench", Grants: []latchkey.Grant{{PermissionSet: "job_admin", ProjectID: p.ID}, {PermissionSet: "metadata_only", AllProjects: true}}})
			s.tokens = append(s.tokens, m.String)
		}
		if err := st.CreateTokens(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(listPath, []byte(strings.Join(s.tokens, "\n")), 0o600); err != nil {
		b.Fatal(err)
	}
	seedCache[n] = s
	return s
}

func BenchmarkBaselineSHA256Map(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			tokens := make([]string, n)
			m := make(map[[32]byte]*latchkey.Principal, n)
			for i := range tokens {
				tokens[i], _, _ = tokenfmt.Default.Generate(latchkey.KindServiceToken)
				m[sha256.Sum256([]byte(tokens[i]))] = &latchkey.Principal{}
			}
			b.ReportAllocs()
			b.ResetTimer()
			var found int
			for i := 0; b.Loop(); i++ {
				if m[tokenfmt.Hash(tokens[i%n])] != nil {
					found++
				}
			}
			if found == 0 {
				b.Fatal("nothing found")
			}
		})
	}
}

// cachedVerifier returns a verifier over n seeded tokens with every token already cached.
func cachedVerifier(b *testing.B, n int) (*verify.Verifier, []string) {
	s := seed(b, n)
	v := verify.New(s.store, verify.Options{TTL: time.Hour})
	v.SetHooks(func(latchkey.TokenUse) {}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go v.Run(ctx) // as serve runs it: the coarse clock ticks

	tokens := s.tokens[:n]
	for _, t := range tokens {
		if _, err := v.Verify(context.Background(), t, localhost); err != nil {
			b.Fatal(err)
		}
	}
	return v, tokens
}

func BenchmarkVerifyCached(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			v, tokens := cachedVerifier(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := v.Verify(ctx, tokens[i%n], localhost); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyCachedParallel(b *testing.B) {
	v, tokens := cachedVerifier(b, 100_000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(tokens))
		for pb.Next() {
			if _, err := v.Verify(ctx, tokens[i%len(tokens)], localhost); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkAuthorize(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			v, tokens := cachedVerifier(b, n)
			principals := make([]*latchkey.Principal, n)
			for i, t := range tokens {
				principals[i], _ = v.Verify(context.Background(), t, localhost)
			}
			b.ReportAllocs()
			b.ResetTimer()
			allowed := 0
			for i := 0; b.Loop(); i++ {
				if principals[i%n].Can(latchkey.ResJobs, latchkey.AccessWrite, 1, latchkey.EnvProduction).Allowed {
					allowed++
				}
			}
			if allowed == 0 {
				b.Fatal("nothing allowed")
			}
		})
	}
}

func BenchmarkRejectMalformed(b *testing.B) {
	v := verify.New(nil, verify.Options{})
	good, _, _ := tokenfmt.Default.Generate(latchkey.KindServiceToken)
	typo := []byte(good)
	typo[20] ^= 1
	inputs := []string{string(typo), "lksvc_tooshort", "Basic dXNlcjpwYXNz", good[:len(good)-1] + "!"}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := v.Verify(ctx, inputs[i%len(inputs)], localhost); err == nil {
			b.Fatal("accepted a malformed token")
		}
	}
}

// BenchmarkVerifyUncachedSQLite verifies random tokens among 1,000,000 with the cache expiring
// at once, so every verification reads SQLite. It reports the p50 and p99 latency.
func BenchmarkVerifyUncachedSQLite(b *testing.B) {
	const n = 1_000_000
	s := seed(b, n)
	v := verify.New(s.store, verify.Options{TTL: time.Nanosecond})
	ctx := context.Background()
	lat := make([]time.Duration, 0, 1<<16)
	rng := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for b.Loop() {
		t := s.tokens[rng.IntN(n)]
		start := time.Now()
		if _, err := v.Verify(ctx, t, localhost); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(start))
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkLegacyVsNew compares verifying a legacy (bcrypt) token with a new-format token, both
// uncached, and both cached.
func BenchmarkLegacyVsNew(b *testing.B) {
	f := newFixture(b, verify.Options{TTL: time.Nanosecond, LegacyTTL: time.Nanosecond})
	legacy := "89abcdef0123456789abcdef0123456789abcdef"
	hash := mustBcrypt(b, legacy)
	f.token(b, func(tok *latchkey.Token) { tok.Hash, tok.LegacyPrefix, tok.LegacyHash = nil, legacy[:8], hash },
		latchkey.Grant{PermissionSet: "metadata_only", AllProjects: true})
	modern, _ := f.token(b, nil, latchkey.Grant{PermissionSet: "metadata_only", AllProjects: true})
	for _, tt := range []struct{ name, token string }{{"new/uncached", modern}, {"legacy/uncached", legacy}} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := f.v.Verify(context.Background(), tt.token, localhost); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var _ = netip.Addr{}

// BenchmarkVerifyCachedLimits compares cached verification of tokens without rate limits with
// tokens that have one or three (never hit), in one run:
//
//	go test -run '^$' -bench VerifyCachedLimits -count 10 ./verify/ | benchstat -col /limits -
func BenchmarkVerifyCachedLimits(b *testing.B) {
	for _, c := range []struct {
		n     int
		usage bool
	}{{0, false}, {1, false}, {3, false}, {0, true}, {1, true}} {
		n := c.n
		name := fmt.Sprintf("limits=%d", n)
		if c.usage {
			name += "+usage"
		}
		b.Run(name, func(b *testing.B) {
			f := newFixture(b, verify.Options{TTL: time.Hour, CountUsage: c.usage})
			f.v.SetHooks(func(latchkey.TokenUse) {}, nil)
			ctx, cancel := context.WithCancel(context.Background())
			b.Cleanup(cancel)
			go f.v.Run(ctx)
			var limits []latchkey.RateLimit
			for i := range n {
				limits = append(limits, latchkey.RateLimit{Name: fmt.Sprint("l", i), Limit: latchkey.MaxRateLimitCount, Duration: time.Duration(i+1) * time.Second})
			}
			const tokens = 1000
			strs := make([]string, 0, tokens)
			batch := make([]*latchkey.Token, 0, tokens)
			for range tokens {
				m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
				if err != nil {
					b.Fatal(err)
				}
				batch = append(batch, &latchkey.Token{AccountID: f.account.ID, Kind: latchkey.KindServiceToken, UID: m.UID, Hash: m.Hash,
					Name: "bench", RateLimits: limits, Grants: []latchkey.Grant{{PermissionSet: "job_admin", ProjectID: f.project.ID}}})
				strs = append(strs, m.String)
			}
			if err := f.store.CreateTokens(ctx, batch); err != nil {
				b.Fatal(err)
			}
			var lim verify.Limits
			for _, s := range strs {
				if _, err := f.v.VerifyUsage(ctx, s, localhost, 0, verify.Usage{}, &lim); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := f.v.VerifyUsage(ctx, strs[i%tokens], localhost, 0, verify.Usage{}, &lim); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
