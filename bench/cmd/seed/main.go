// Command seed fills a latchkey database with service tokens for benchmarks and writes their
// strings to a file (benchmark data only: never do this with real tokens).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
)

func main() {
	db := flag.String("db", "bench.db", "SQLite file to create")
	n := flag.Int("n", 10000, "number of service tokens")
	out := flag.String("tokens", "tokens.txt", "file to write the token strings to")
	limit := flag.Int64("rate-limit", 0, "give every token a rate limit named api of this many verifications per second (0: none)")
	flag.Parse()
	var limits []latchkey.RateLimit
	if *limit > 0 {
		limits = []latchkey.RateLimit{{Name: "api", Limit: *limit, Duration: time.Second}}
	}
	ctx := context.Background()
	start := time.Now()
	st, err := sqlite.Open(ctx, *db)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	a := &latchkey.Account{Name: "bench", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := st.CreateAccount(ctx, a); err != nil {
		log.Fatal(err)
	}
	p := &latchkey.Project{AccountID: a.ID, Name: "bench"}
	if err := st.CreateProject(ctx, p); err != nil {
		log.Fatal(err)
	}
	tokens := make([]string, 0, *n)
	for len(tokens) < *n {
		batch := make([]*latchkey.Token, 0, 10_000)
		for len(batch) < cap(batch) && len(tokens) < *n {
			m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
			if err != nil {
				log.Fatal(err)
			}
			batch = append(batch, &latchkey.Token{AccountID: a.ID, Kind: latchkey.KindServiceToken, UID: m.UID, Hash: m.Hash, RateLimits: limits,
				Name: "bench", Grants: []latchkey.Grant{{PermissionSet: "job_admin", ProjectID: p.ID}, {PermissionSet: "metadata_only", AllProjects: true}}})
			tokens = append(tokens, m.String)
		}
		if err := st.CreateTokens(ctx, batch); err != nil {
			log.Fatal(err)
		}
	}
	if err := os.WriteFile(*out, []byte(strings.Join(tokens, "\n")+"\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("seeded %d tokens (project %d) in %s\n", len(tokens), p.ID, time.Since(start).Round(time.Millisecond))
}
