// Command webhooks measures webhook delivery in one process, against a real store (an SQLite file
// or PostgreSQL) and a loopback receiver that answers 204 at once:
//
//   - latency: events committed at -rate per second for -duration; the receiver notes, for
//     each event's first arrival, the time since the event's commit (its audit entry's time);
//     prints p50, p99 and max.
//   - throughput: -events events committed while the dispatcher is stopped, then the dispatcher
//     started; prints deliveries per second until the last arrives.
//   - overhead: tokens created back to back for -duration by -writers goroutines, alternately
//     without and with a subscription to every event (the dispatcher running both times);
//     prints tokens/s of each and their ratio, per round.
//
// Usage: go run ./bench/cmd/webhooks -mode latency|throughput|overhead [-db postgres://…]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/postgres"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/webhook"
)

func main() {
	mode := flag.String("mode", "latency", "latency, throughput or overhead")
	db := flag.String("db", "", "PostgreSQL URL (default: a new SQLite file in a temporary directory)")
	rate := flag.Int("rate", 200, "latency: events per second")
	duration := flag.Duration("duration", 10*time.Second, "latency and overhead: how long each run lasts")
	events := flag.Int("events", 5000, "throughput: how many events")
	writers := flag.Int("writers", 4, "overhead: goroutines creating tokens")
	rounds := flag.Int("rounds", 3, "overhead: alternating rounds")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured part here")
	flag.Parse()
	profile := func() {
		if *cpuprofile == "" {
			return
		}
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}
	defer pprof.StopCPUProfile()
	log.SetFlags(0)
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "bench", Source: "bench"})
	store, cleanup := open(ctx, *db)
	defer cleanup()
	a := &latchkey.Account{Name: "Bench", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := store.CreateAccount(ctx, a); err != nil {
		log.Fatal(err)
	}
	rx := newReceiver()
	defer rx.srv.Close()
	subscribe := func(types ...string) *latchkey.WebhookSubscription {
		w := &latchkey.WebhookSubscription{AccountID: a.ID, Name: "bench", ClientURL: rx.srv.URL, EventTypes: types, Active: true, Secret: webhook.NewSecret()}
		if err := store.CreateWebhookSubscription(ctx, w); err != nil {
			log.Fatal(err)
		}
		return w
	}
	start := func() (stop func()) {
		d := webhook.NewDispatcher(webhook.DispatcherConfig{Store: store, Client: webhook.NewClient(webhook.Options{AllowHTTPLoopback: true})})
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = d.Run(rctx); close(done) }()
		return func() { cancel(); <-done }
	}
	project := func(i int) {
		if err := store.CreateProject(ctx, &latchkey.Project{AccountID: a.ID, Name: fmt.Sprintf("p%07d", i)}); err != nil {
			log.Fatal(err)
		}
	}

	switch *mode {
	case "latency":
		subscribe("project.created")
		profile()
		stop := start()
		defer stop()
		n := int(duration.Seconds() * float64(*rate))
		tick := time.NewTicker(time.Second / time.Duration(*rate))
		began := time.Now()
		for i := range n {
			<-tick.C
			project(i)
		}
		tick.Stop()
		sent := time.Since(began)
		lat := rx.wait(n, time.Minute)
		slices.Sort(lat)
		fmt.Printf("latency: %d events at %.0f/s achieved (%s): commit to delivery p50 %s, p99 %s, max %s\n", n,
			float64(n)/sent.Seconds(), kind(*db), pct(lat, 50), pct(lat, 99), lat[len(lat)-1])
	case "throughput":
		subscribe("project.created")
		for i := range *events {
			project(i)
		}
		profile()
		began := time.Now()
		stop := start()
		defer stop()
		rx.wait(*events, 5*time.Minute)
		took := time.Since(began)
		fmt.Printf("throughput: %d deliveries in %s (%s): %.0f deliveries/s\n", *events, took.Round(time.Millisecond), kind(*db),
			float64(*events)/took.Seconds())
	case "overhead":
		profile()
		stop := start()
		defer stop()
		var sub *latchkey.WebhookSubscription
		for r := range *rounds {
			if sub != nil {
				_ = store.DeleteWebhookSubscription(ctx, sub.ID)
				sub = nil
			}
			without := createTokens(ctx, store, a.ID, *writers, *duration)
			sub = subscribe("*")
			with := createTokens(ctx, store, a.ID, *writers, *duration)
			fmt.Printf("overhead round %d (%s): %.0f tokens/s without a subscription, %.0f with one to every event: ratio %.3f (%d delivered)\n",
				r+1, kind(*db), without, with, with/without, rx.count())
		}
	default:
		log.Fatalf("unknown -mode %q", *mode)
	}
}

func kind(db string) string {
	if db == "" {
		return "SQLite"
	}
	return "PostgreSQL"
}

func open(ctx context.Context, dsn string) (latchkey.Store, func()) {
	if dsn != "" {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			log.Fatal(err)
		}
		return s, func() { s.Close() }
	}
	dir, err := os.MkdirTemp("", "latchkey-webhooks-bench")
	if err != nil {
		log.Fatal(err)
	}
	s, err := sqlite.Open(ctx, filepath.Join(dir, "latchkey.db"))
	if err != nil {
		log.Fatal(err)
	}
	return s, func() { s.Close(); os.RemoveAll(dir) }
}

// createTokens creates service tokens for d with writers goroutines and returns tokens/s.
func createTokens(ctx context.Context, s latchkey.Store, accountID int64, writers int, d time.Duration) float64 {
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
				if err != nil {
					log.Fatal(err)
				}
				t := &latchkey.Token{AccountID: accountID, Kind: latchkey.KindServiceToken, Name: "bench", UID: m.UID, Hash: m.Hash,
					Grants: []latchkey.Grant{{PermissionSet: "job_admin", AllProjects: true}}}
				if err := s.CreateToken(ctx, t); err != nil {
					log.Fatal(err)
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// receiver answers 204 and notes, for each event's first arrival, the time since its commit.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen map[string]bool
	lat  []time.Duration
}

func newReceiver() *receiver {
	r := &receiver{seen: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		now := time.Now()
		body, _ := io.ReadAll(req.Body)
		var ev webhook.Event
		if json.Unmarshal(body, &ev) == nil {
			at, err := time.Parse(time.RFC3339Nano, ev.Timestamp)
			r.mu.Lock()
			if !r.seen[ev.ID] && err == nil {
				r.seen[ev.ID] = true
				r.lat = append(r.lat, now.Sub(at))
			}
			r.mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lat)
}

func (r *receiver) wait(n int, within time.Duration) []time.Duration {
	deadline := time.Now().Add(within)
	for {
		r.mu.Lock()
		if len(r.lat) >= n {
			out := slices.Clone(r.lat)
			r.mu.Unlock()
			return out
		}
		got := len(r.lat)
		r.mu.Unlock()
		if time.Now().After(deadline) {
			log.Fatalf("only %d of %d events arrived", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)].Round(100 * time.Microsecond)
}
