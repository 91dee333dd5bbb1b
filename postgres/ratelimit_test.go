package postgres_test

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/postgres/pgtest"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

var loopback = netip.MustParseAddr("127.0.0.1")

var rateMatrix = flag.Bool("ratelimit.matrix", false, "run the whole rate-limit accuracy matrix (limits 10, 100, 1000/s; windows 1 s and 60 s; loads 0.9× and 2×; several minutes)")

// rateCell is one cell of the accuracy matrix: a limit per window, offered load × limit spread
// evenly over the nodes, for a number of whole windows.
type rateCell struct {
	limit   int64
	window  time.Duration
	load    float64
	windows int
}

// syncLog records when a node's syncs completed, to bound what it could admit between them: a
// node admits on its own view for as long as its last sync is old, so on a loaded machine whose
// syncs run late the overshoot grows with the real gap, not the configured interval.
type syncLog struct {
	mu    sync.Mutex
	times []time.Time
}

func (l *syncLog) done() {
	l.mu.Lock()
	l.times = append(l.times, time.Now())
	l.mu.Unlock()
}

// maxGap is the longest stretch of [from, to) without a completed sync.
func (l *syncLog) maxGap(from, to time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	gap, last := time.Duration(0), from
	for _, t := range l.times {
		if t.Before(from) {
			continue
		}
		if t.After(to) {
			break
		}
		gap, last = max(gap, t.Sub(last)), t
	}
	return max(gap, to.Sub(last))
}

// TestRateLimitsAcrossNodes runs three verifiers, each with its own connection pool, sharing
// counts through one PostgreSQL database as three serve nodes do, and checks that the requests
// admitted in each whole window stay within [95% of min(offered, limit), limit × (1 + 10% × nodes)].
// CI runs a corner of the matrix; -ratelimit.matrix runs all of it, printing admitted/limit per
// cell.
func TestRateLimitsAcrossNodes(t *testing.T) {
	pgtest.Admin(t)
	cells := []rateCell{{100, time.Second, 2, 3}, {100, time.Second, 0.9, 3}}
	if *rateMatrix {
		cells = nil
		for _, w := range []time.Duration{time.Second, time.Minute} {
			for _, l := range []int64{10, 100, 1000} {
				for _, load := range []float64{0.9, 2} {
					n := 3
					if w == time.Minute {
						n = 2
					}
					cells = append(cells, rateCell{l, w, load, n})
				}
			}
		}
	}
	const nodes = 3
	dsn := pgtest.Schema(t, "pool_max_conns", "4")
	stores := make([]latchkey.Store, nodes)
	for i := range stores {
		stores[i] = open(t, dsn)
		t.Cleanup(func() { stores[i].Close() })
	}
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test", Source: "system"})
	a := &latchkey.Account{Name: "Acme", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := stores[0].CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	for _, c := range cells {
		t.Run(fmt.Sprintf("limit=%d/window=%s/load=%.1f", c.limit, c.window, c.load), func(t *testing.T) {
			m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
			if err != nil {
				t.Fatal(err)
			}
			tok := &latchkey.Token{AccountID: a.ID, Kind: latchkey.KindServiceToken, UID: m.UID, Hash: m.Hash, Name: "limited",
				RateLimits: []latchkey.RateLimit{{Name: "api", Limit: c.limit, Duration: c.window}}}
			if err := stores[0].CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(context.Background())
			defer cancel()
			vs := make([]*verify.Verifier, nodes)
			logs := make([]syncLog, nodes)
			for i, st := range stores {
				node := fmt.Sprintf("node%d", i)
				vs[i] = verify.New(st, verify.Options{Now: time.Now, TTL: time.Hour,
					RateSync: func(ctx context.Context, counts []latchkey.RateCount, prune int64) ([]int64, error) {
						r, err := st.SyncRateCounts(ctx, node, counts, prune)
						if err == nil {
							logs[i].done()
						}
						return r, err
					}})
				go vs[i].Run(runCtx)
				if _, err := vs[i].Verify(ctx, m.String, loopback); err != nil {
					t.Fatal(err) // cached on every node before the load starts
				}
			}
			// Start at the beginning of a window, after the one the warm-up counted in.
			start := time.Now().Truncate(c.window).Add(c.window)
			time.Sleep(time.Until(start))
			end := start.Add(time.Duration(c.windows) * c.window)
			every := time.Duration(float64(c.window) * nodes / (c.load * float64(c.limit)))
			var mu sync.Mutex
			admitted := map[int64]int64{}
			var wg sync.WaitGroup
			for i, v := range vs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var lim verify.Limits
					// Each node's requests are spread evenly, the nodes' offset from each other.
					for k := 0; ; k++ {
						at := start.Add(every*time.Duration(k) + every*time.Duration(i)/nodes)
						if !at.Before(end) {
							return
						}
						time.Sleep(time.Until(at))
						if _, err := v.VerifyUsage(ctx, m.String, loopback, 0, verify.Usage{}, &lim); err == nil {
							w := time.Now().UnixNano() / int64(c.window)
							mu.Lock()
							admitted[w]++
							mu.Unlock()
						} else if verify.Reason(err) != "rate_limited" {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			offered := min(c.load, 1) * float64(c.limit)
			lo, hi := 0.95*offered, float64(c.limit)*(1+0.1*nodes)
			// The band assumes syncs every 100 ms. When the machine ran them late, each node
			// could admit what it was offered over its longest gap: widen to that, and say so.
			perNode := c.load * float64(c.limit) / nodes / c.window.Seconds() // requests per second
			late, ranLate := float64(c.limit), false
			var gaps []string
			for i := range logs {
				g := logs[i].maxGap(start, end)
				late += perNode * g.Seconds()
				ranLate = ranLate || g > 120*time.Millisecond // the 100 ms interval, and a margin
				gaps = append(gaps, g.Round(time.Millisecond).String())
			}
			if ranLate && late > hi {
				t.Logf("syncs ran late (longest gaps %v): the upper bound is %.0f, what they allow, not %.0f", gaps, late, hi)
				hi = late
			}
			var ratios []string
			for w := start.UnixNano() / int64(c.window); w < end.UnixNano()/int64(c.window); w++ {
				got := admitted[w]
				ratios = append(ratios, fmt.Sprintf("%.2f", float64(got)/float64(c.limit)))
				if float64(got) < lo || float64(got) > hi {
					t.Errorf("window %d admitted %d, want %.0f to %.0f (limit %d, offered %.0f)", w, got, lo, hi, c.limit, c.load*float64(c.limit))
				}
			}
			t.Logf("limit %d per %s, offered %.1f× over %d nodes: admitted/limit per window %v", c.limit, c.window, c.load, nodes, ratios)
		})
	}
}

// TestCreditsAcrossNodes: three verifiers on one database spend one token's 300 credits under
// 3× the load they could ever admit; together they overspend by at most what each is offered
// in one sync interval, and storage ends at 0.
func TestCreditsAcrossNodes(t *testing.T) {
	pgtest.Admin(t)
	const nodes, credits, perNode = 3, 300, 300 // perNode: requests per second offered to each node
	interval := 250 * time.Millisecond
	dsn := pgtest.Schema(t, "pool_max_conns", "4")
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test", Source: "system"})
	stores := make([]latchkey.Store, nodes)
	for i := range stores {
		stores[i] = open(t, dsn)
		t.Cleanup(func() { stores[i].Close() })
	}
	a := &latchkey.Account{Name: "Acme", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := stores[0].CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
	if err != nil {
		t.Fatal(err)
	}
	tok := &latchkey.Token{AccountID: a.ID, Kind: latchkey.KindServiceToken, UID: m.UID, Hash: m.Hash, Name: "metered",
		Credits: &latchkey.Credits{Remaining: credits}}
	if err := stores[0].CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	var admitted sync.Map
	var wg sync.WaitGroup
	start := time.Now()
	logs := make([]syncLog, nodes)
	for i, st := range stores {
		v := verify.New(st, verify.Options{TTL: time.Hour, CreditSyncInterval: interval,
			CreditSync: func(ctx context.Context, spends []latchkey.CreditSpend) ([]int64, error) {
				r, err := st.SyncCredits(ctx, spends, time.Now())
				if err == nil {
					logs[i].done()
				}
				return r, err
			}})
		running.Add(1)
		go func() { defer running.Done(); v.Run(runCtx) }()
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for k := 0; k < 3*perNode; k++ {
				time.Sleep(time.Until(start.Add(time.Duration(k) * time.Second / perNode)))
				if _, err := v.Verify(ctx, m.String, loopback); err == nil {
					n++
				} else if verify.Reason(err) != "usage_exceeded" {
					t.Error(err)
					return
				}
			}
			admitted.Store(i, n)
		}()
	}
	wg.Wait()
	cancel()
	running.Wait() // each node's last sync is written
	total := 0
	admitted.Range(func(_, n any) bool { total += n.(int); return true })
	bound := credits + nodes*int(float64(perNode)*interval.Seconds())
	t.Logf("%d credits, %d nodes each offered %d/s for 3 s, sync every %s: %d admitted (bound %d)", credits, nodes, perNode, interval, total, bound)
	// On a loaded machine syncs run late: each node could spend what it was offered over its
	// longest gap between syncs. Widen to that, and say so.
	late, ranLate := credits, false
	var gaps []string
	for i := range logs {
		g := logs[i].maxGap(start, start.Add(3*time.Second))
		late += int(float64(perNode)*g.Seconds()) + 1
		ranLate = ranLate || g > interval*6/5
		gaps = append(gaps, g.Round(time.Millisecond).String())
	}
	if ranLate && late > bound {
		t.Logf("syncs ran late (longest gaps %v): the bound is %d, what they allow", gaps, late)
		bound = late
	}
	if total < credits || total > bound {
		t.Errorf("admitted %d, want %d to %d", total, credits, bound)
	}
	stored, err := stores[0].FindTokenByID(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Credits.Remaining != 0 {
		t.Errorf("stored balance after the load = %d, want 0", stored.Credits.Remaining)
	}
}
