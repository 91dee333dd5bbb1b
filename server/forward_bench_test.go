package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

// discard is a ResponseWriter that keeps nothing, so the benchmarks measure the handlers.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func forwardFixture(b *testing.B) (*Server, []string) {
	return forwardFixtureWith(b, nil, verify.Options{})
}

// forwardFixtureWith gives every token the rate limits and verifies with opts.
func forwardFixtureWith(b *testing.B, limits []latchkey.RateLimit, opts verify.Options) (*Server, []string) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "f.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	a := &latchkey.Account{Name: "a", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	st.CreateAccount(ctx, a)
	p := &latchkey.Project{AccountID: a.ID, Name: "p"}
	st.CreateProject(ctx, p)
	var toks []string
	var batch []*latchkey.Token
	for range 1000 {
		m, _ := tokenfmt.Default.Mint(latchkey.KindServiceToken)
		batch = append(batch, &latchkey.Token{AccountID: a.ID, Kind: latchkey.KindServiceToken, UID: m.UID, Hash: m.Hash, Name: "t", RateLimits: limits,
			Grants: []latchkey.Grant{{PermissionSet: "job_admin", ProjectID: p.ID}}})
		toks = append(toks, m.String)
	}
	if err := st.CreateTokens(ctx, batch); err != nil {
		b.Fatal(err)
	}
	rules, err := ParseForwardRules([]byte("rules: [{methods: [GET], path: \"/api/projects/{project_id}/jobs/**\", resource: jobs, access: read}]"))
	if err != nil {
		b.Fatal(err)
	}
	v := verify.New(st, opts)
	vctx, cancel := context.WithCancel(ctx)
	b.Cleanup(cancel)
	go v.Run(vctx) // as serve runs it: the coarse clock ticks
	s, err := New(Config{Store: st, Verifier: v, ForwardAuth: rules})
	if err != nil {
		b.Fatal(err)
	}
	return s, toks
}

func forwardRequests(toks []string) []*http.Request {
	reqs := make([]*http.Request, len(toks))
	for i, t := range toks {
		r := httptest.NewRequest(http.MethodGet, "/v1/forward-auth", nil)
		r.RemoteAddr = "127.0.0.1:5555"
		r.Header.Set("Authorization", "Token "+t)
		r.Header.Set("X-Original-Method", "GET")
		r.Header.Set("X-Original-URI", "/api/projects/1/jobs/7")
		reqs[i] = r
	}
	return reqs
}

// BenchmarkForwardAuthHandler measures the forward-auth handler alone (no network), next to
// BenchmarkBaselineHandler, the same bare handler bench/cmd/baseline serves.
func BenchmarkForwardAuthHandler(b *testing.B) {
	s, toks := forwardFixture(b)
	benchForward(b, s, toks)
}

// BenchmarkForwardAuthLimits measures the handler as serve runs it (usage counted) for tokens
// without a rate limit and with one that is never hit, which adds the RateLimit fields:
//
//	go test -run '^$' -bench ForwardAuthLimits -count 6 ./server/ | benchstat -col /limits -
func BenchmarkForwardAuthLimits(b *testing.B) {
	for _, n := range []int{0, 1} {
		b.Run(fmt.Sprintf("limits=%d", n), func(b *testing.B) {
			var limits []latchkey.RateLimit
			if n > 0 {
				limits = []latchkey.RateLimit{{Name: "api", Limit: latchkey.MaxRateLimitCount, Duration: time.Second}}
			}
			s, toks := forwardFixtureWith(b, limits, verify.Options{CountUsage: true})
			benchForward(b, s, toks)
		})
	}
}

func benchForward(b *testing.B, s *Server, toks []string) {
	reqs := forwardRequests(toks)
	w := &discard{h: http.Header{}}
	for _, r := range reqs {
		s.ServeHTTP(w, r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		clear(w.h)
		s.ServeHTTP(w, reqs[i%len(reqs)])
	}
}

func BenchmarkBaselineHandler(b *testing.B) {
	_, toks := forwardFixture(b)
	known := map[[32]byte]bool{}
	for _, t := range toks {
		known[sha256.Sum256([]byte(t))] = true
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if known[sha256.Sum256([]byte(tok))] {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
	reqs := forwardRequests(toks)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		clear(w.h)
		h.ServeHTTP(w, reqs[i%len(reqs)])
	}
}
