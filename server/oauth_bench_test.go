package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/faultstore"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

// BenchmarkOAuthClientCredentials measures the token endpoint over loopback HTTP on SQLite:
// client_credentials exchanges per second from concurrent clients (the clients share the CPU),
// and the storage writes each costs (counted by a pass-through faultstore):
//
//	go test -run '^$' -bench OAuthClientCredentials -benchtime 5s -count 3 ./server/
func BenchmarkOAuthClientCredentials(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "o.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	writes := faultstore.Wrap(st, faultstore.Options{Ops: faultstore.Writes})
	a := &latchkey.Account{Name: "a", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := st.CreateAccount(ctx, a); err != nil {
		b.Fatal(err)
	}
	p := &latchkey.Project{AccountID: a.ID, Name: "p"}
	if err := st.CreateProject(ctx, p); err != nil {
		b.Fatal(err)
	}
	var clients []url.Values
	for range 100 {
		m, _ := tokenfmt.Default.Mint(latchkey.KindServiceToken)
		tok := &latchkey.Token{AccountID: a.ID, Kind: latchkey.KindServiceToken, UID: m.UID, Hash: m.Hash, Name: "t",
			Grants: []latchkey.Grant{{PermissionSet: "job_admin", ProjectID: p.ID}}}
		if err := st.CreateToken(ctx, tok); err != nil {
			b.Fatal(err)
		}
		clients = append(clients, url.Values{"grant_type": {"client_credentials"}, "client_id": {m.UID}, "client_secret": {m.String}})
	}
	kr := NewKeyring(writes, []byte("a secret key of at least 32 characters"), nil, 0)
	if err := kr.Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	const iss = "https://latchkey.bench"
	v := verify.New(writes, verify.Options{CountUsage: true, AccessTokens: &verify.AccessTokens{Issuer: iss, Audience: iss, Key: kr.Key}})
	vctx, cancel := context.WithCancel(ctx)
	b.Cleanup(cancel)
	go v.Run(vctx)
	s, err := New(Config{Store: writes, Verifier: v, Keyring: kr, Issuer: iss, Logger: slog.New(slog.DiscardHandler), Governance: Governance{AuthFailureBurst: 1 << 20, RateLimitDelay: -1}})
	if err != nil {
		b.Fatal(err)
	}
	go s.Run(vctx)
	hs := httptest.NewServer(s)
	b.Cleanup(hs.Close)
	hc := hs.Client()
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	post := func(f url.Values) {
		resp, err := hc.Post(hs.URL+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(f.Encode()))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("token endpoint: %d", resp.StatusCode)
		}
	}
	for _, f := range clients {
		post(f) // every client token cached, as in steady state
	}
	before := writes.Stats().Calls
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	var n int
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			post(clients[i%len(clients)])
			i++
		}
	})
	elapsed := time.Since(start)
	n = b.N
	b.ReportMetric(float64(n)/elapsed.Seconds(), "exchanges/s")
	b.ReportMetric(float64(writes.Stats().Calls-before)/float64(n), "writes/exchange")
}
