//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/postgres/pgtest"
)

// The fault durations. CI runs short ones; bench/README.md's figures come from the issue's:
//
//	go test ./cmd/latchkey -run TestStorageFaults -faults.outage 20s -faults.lock 75s -v -timeout 20m
var (
	faultsOutage = flag.Duration("faults.outage", 5*time.Second, "how long TestStorageFaults keeps PostgreSQL stopped")
	faultsLock   = flag.Duration("faults.lock", 5*time.Second, "how long TestStorageFaults holds the tokens table locked")
)

// TestStorageFaults runs the real binary on PostgreSQL and breaks the database under it as an
// operator would meet it: stopped under verification and write load, a table locked for longer
// than any write may wait, and a node frozen inside a write transaction. It asserts what
// clients see (cached tokens keep working, everything else is 503 with Retry-After, nothing is
// committed that was not answered, the other nodes carry on) and logs the timings, which
// bench/README.md reports.
func TestStorageFaults(t *testing.T) {
	pgtest.Admin(t) // skips, or fails when CI=true, without PostgreSQL
	bin := buildLatchkey(t)
	t.Run("PostgresStopped", func(t *testing.T) { testPostgresStopped(t, bin) })
	t.Run("TokensTableLocked", func(t *testing.T) { testTokensTableLocked(t, bin) })
	t.Run("FrozenNode", func(t *testing.T) { testFrozenNode(t, bin) })
}

// answer is one request's outcome as its client saw it.
type answer struct {
	status     int // -1 when no answer arrived
	retryAfter string
	took       time.Duration
	body       []byte
}

// faultHTTP waits longer than the server's write timeout, so that every answer the server gives
// is seen.
var faultHTTP = &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// send makes one JSON request to n with token (and an Idempotency-Key when key is set).
func send(t testing.TB, n *node, method, path, token string, body any, key string) answer {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+token)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	start := time.Now()
	resp, err := faultHTTP.Do(req)
	if err != nil {
		return answer{status: -1, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), took: time.Since(start), body: b}
}

// checkToken asks n's /v1/check, as the cluster's admin, whether tok may read jobs.
func (c *cluster) checkToken(t testing.TB, n *node, tok string) answer {
	return send(t, n, http.MethodPost, "/v1/check", c.adminToken, map[string]any{"token": tok, "resource": "jobs", "access": "read"}, "")
}

// createTokenOn creates a service token named name on n, as the cluster's admin.
func (c *cluster) createTokenOn(t testing.TB, n *node, name, key string) answer {
	return send(t, n, http.MethodPost, fmt.Sprintf("/api/v3/accounts/%d/service-tokens/", c.accountID), c.adminToken,
		map[string]any{"name": name, "permission_grants": []apitype.Grant{}}, key)
}

// tally counts answers by status and keeps their durations.
type tally struct {
	mu        sync.Mutex
	by        map[int]int
	noRetry   int // 503s without Retry-After
	durations []time.Duration
}

func (ta *tally) add(a answer) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	if ta.by == nil {
		ta.by = map[int]int{}
	}
	ta.by[a.status]++
	if a.status == http.StatusServiceUnavailable && a.retryAfter == "" {
		ta.noRetry++
	}
	ta.durations = append(ta.durations, a.took)
}

func (ta *tally) total() int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return len(ta.durations)
}

func (ta *tally) String() string {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	ds := slices.Clone(ta.durations)
	slices.Sort(ds)
	rank := nearestRank(ds)
	return fmt.Sprintf("%d answers %v, p50 %s p99 %s max %s", len(ds), ta.by, rank(50).Round(time.Microsecond),
		rank(99).Round(time.Microsecond), rank(100).Round(time.Microsecond))
}

// testPostgresStopped stops PostgreSQL under two nodes answering /v1/check for tokens they have
// cached and for tokens they have never seen, and taking writes. While it is down, cached
// tokens are answered 200 from the cache (their 2 s entries expire during the outage), and
// every other request 503 with Retry-After; once it is back, everything works again by itself.
func testPostgresStopped(t *testing.T, bin string) {
	version, ok := localCluster(t)
	if !ok {
		return
	}
	c := newClusterWith(t, bin, 2, clusterOptions{args: []string{"--cache-ttl", "2s"}})
	cached := make([]string, 40)
	for i := range cached {
		cached[i] = c.createToken(t, i%2, fmt.Sprintf("cached-%d", i), client.GrantOn("job_viewer", 0)).TokenString
	}
	uncached := make([]string, 100)
	for i := range uncached {
		uncached[i] = c.createToken(t, i%2, fmt.Sprintf("uncached-%d", i), client.GrantOn("job_viewer", 0)).TokenString
	}
	for _, n := range c.nodes {
		for _, tok := range cached {
			if a := c.checkToken(t, n, tok); a.status != http.StatusOK || !bytes.Contains(a.body, []byte(`"allowed":true`)) {
				t.Fatalf("%s: check of a cached token before the outage = %d %s", n.name, a.status, a.body)
			}
		}
	}

	// phase is 1 from the moment PostgreSQL is stopped until it is started again; only requests
	// made wholly inside it are counted as the outage's.
	var phase atomic.Int32
	var cachedT, uncachedT, writesT tally
	w := newWorkers()
	defer w.stop()
	during := func(ta *tally, fn func() answer) {
		if phase.Load() != 1 {
			fn()
			return
		}
		a := fn()
		if phase.Load() == 1 {
			ta.add(a)
		}
	}
	for g := range 3 {
		w.loop(func(i int) {
			n := c.nodes[(g+i)%len(c.nodes)]
			during(&cachedT, func() answer {
				a := c.checkToken(t, n, cached[(g*7+i)%len(cached)])
				if a.status == http.StatusOK && !bytes.Contains(a.body, []byte(`"allowed":true`)) {
					t.Errorf("%s: a cached token answered 200 but not allowed: %s", n.name, a.body)
				}
				return a
			})
		})
	}
	var next atomic.Int64
	w.loop(func(i int) {
		n := c.nodes[i%len(c.nodes)]
		if phase.Load() != 1 {
			time.Sleep(10 * time.Millisecond)
			return
		}
		// A verification that storage could not answer is not cached: the tokens stay uncached.
		k := int(next.Add(1)-1) % len(uncached)
		during(&uncachedT, func() answer { return c.checkToken(t, n, uncached[k]) })
		time.Sleep(5 * time.Millisecond)
	})
	w.loop(func(i int) {
		n := c.nodes[i%len(c.nodes)]
		if phase.Load() != 1 {
			time.Sleep(10 * time.Millisecond)
			return
		}
		during(&writesT, func() answer { return c.createTokenOn(t, n, fmt.Sprintf("outage-%d", i), fmt.Sprintf("outage-%d", i)) })
		time.Sleep(20 * time.Millisecond)
	})
	time.Sleep(500 * time.Millisecond)

	var recovery, firstWrite time.Duration
	pgtest.Exclusive(t, func() {
		recovery = stopPostgres(t, version, c.nodes, 60*time.Second, func() {
			phase.Store(1)
			time.Sleep(*faultsOutage)
			phase.Store(2)
		})
		start := time.Now().Add(-recovery) // when PostgreSQL was started
		deadline := time.Now().Add(60 * time.Second)
		for i := 0; ; i++ {
			n := c.nodes[i%len(c.nodes)]
			a := c.createTokenOn(t, n, fmt.Sprintf("after-%d", i), "")
			if a.status == http.StatusCreated {
				firstWrite = time.Since(start)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("60 s after PostgreSQL started, a write on %s = %d %s", n.name, a.status, a.body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	w.stop()

	t.Logf("PostgreSQL stopped for %s under load on 2 nodes (--cache-ttl 2s):", *faultsOutage)
	t.Logf("  cached tokens   %s", &cachedT)
	t.Logf("  uncached tokens %s", &uncachedT)
	t.Logf("  writes          %s", &writesT)
	t.Logf("  after the start: every node ready in %s, first write committed in %s", recovery.Round(time.Millisecond), firstWrite.Round(time.Millisecond))

	if n := cachedT.total(); n < 100 {
		t.Errorf("only %d verifications of cached tokens during the outage; the load did not run", n)
	}
	if ok := cachedT.by[http.StatusOK]; float64(ok) < 0.999*float64(cachedT.total()) {
		t.Errorf("cached tokens during the outage: %v; want at least 99.9%% answered 200", cachedT.by)
	}
	for what, ta := range map[string]*tally{"uncached tokens": &uncachedT, "writes": &writesT} {
		if ta.total() == 0 {
			t.Errorf("no %s were tried during the outage", what)
		}
		if ta.by[http.StatusServiceUnavailable] != ta.total() || ta.noRetry != 0 {
			t.Errorf("%s during the outage: %v (%d 503s without Retry-After); want every one 503 with Retry-After", what, ta.by, ta.noRetry)
		}
	}
	var stored int
	if err := pgtest.Admin(t).QueryRow(`SELECT COUNT(*) FROM ` + searchPath(t, c.dsn) + `.tokens WHERE name LIKE 'outage-%'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Errorf("%d tokens from writes answered 503 during the outage were stored", stored)
	}
	// The stale entries are read again once the database is back: a revocation is honoured.
	tok := c.createToken(t, 0, "revoked after the outage")
	settleNotifications()
	if _, err := c.admin(0).DeleteServiceToken(context.Background(), c.accountID, tok.ID); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		deadline := time.Now().Add(30 * time.Second)
		for n.status(t, "GET", "/api/v2/whoami/", tok.TokenString) != http.StatusUnauthorized {
			if time.Now().After(deadline) {
				t.Fatalf("%s still accepts a token revoked after the outage", n.name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// testTokensTableLocked holds an ACCESS EXCLUSIVE lock on the tokens table for -faults.lock
// while clients create tokens with Idempotency-Keys on two nodes. Every write must be answered
// (201, or 503 with Retry-After once lock_timeout passes) and every token stored must be one
// whose 201 reached its client: none committed after its client was told it failed or gave up.
func testTokensTableLocked(t *testing.T, bin string) {
	c := newCluster(t, bin, 2)
	schema := searchPath(t, c.dsn)
	var (
		mu       sync.Mutex
		answered = map[string]int{} // name -> status its client saw
		lockedT  tally
		locked   atomic.Bool
		w        = newWorkers()
	)
	defer w.stop()
	for g := range 4 {
		w.loop(func(i int) {
			name := fmt.Sprintf("locked-%d-%d", g, i)
			during := locked.Load()
			a := c.createTokenOn(t, c.nodes[(g+i)%2], name, name)
			mu.Lock()
			answered[name] = a.status
			mu.Unlock()
			if during && locked.Load() {
				lockedT.add(a)
			}
			time.Sleep(10 * time.Millisecond)
		})
	}
	time.Sleep(300 * time.Millisecond)

	ctx := context.Background()
	tx, err := pgtest.Admin(t).BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`LOCK TABLE ` + schema + `.tokens IN ACCESS EXCLUSIVE MODE`); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	locked.Store(true)
	time.Sleep(*faultsLock)
	locked.Store(false)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	w.stop()

	rows, err := pgtest.Admin(t).Query(`SELECT name FROM ` + schema + `.tokens WHERE name LIKE 'locked-%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		stored[name] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var unanswered, lost, created int
	for name, st := range answered {
		switch {
		case st == http.StatusCreated:
			created++
			if !stored[name] {
				lost++
			}
		case stored[name]:
			unanswered++
			t.Errorf("token %s was stored, but its client was answered %d", name, st)
		}
	}
	t.Logf("tokens table locked for %s: %d writes, %d created; during the lock %s; committed without a delivered answer: %d",
		*faultsLock, len(answered), created, &lockedT, unanswered)
	if lost != 0 {
		t.Errorf("%d tokens answered 201 are not stored", lost)
	}
	if lockedT.total() == 0 {
		t.Fatal("no write was made while the table was locked")
	}
	for st, n := range lockedT.by {
		if st != http.StatusCreated && st != http.StatusServiceUnavailable {
			t.Errorf("%d writes during the lock answered %d; want 503 with Retry-After (or 201 once the lock went)", n, st)
		}
	}
	if lockedT.noRetry != 0 {
		t.Errorf("%d writes during the lock answered 503 without Retry-After", lockedT.noRetry)
	}
}

// testFrozenNode freezes (SIGSTOP) node 1 while it is inside a write transaction, holding the
// locks a write on node 2 needs. PostgreSQL ends the frozen node's session after
// idle_in_transaction_session_timeout (10 s); node 2's writes meanwhile fail with 503 after
// lock_timeout (2 s) instead of hanging, and succeed again once the session is gone.
func testFrozenNode(t *testing.T, bin string) {
	c := newClusterWith(t, bin, 2, clusterOptions{appNames: true})
	db := pgtest.Admin(t)
	frozen, other := c.nodes[0], c.nodes[1]
	pid := frozen.cmd.Process.Pid

	// Node 1 writes without pause; it is stopped at random moments until PostgreSQL shows its
	// session idle inside a transaction that has written.
	w := newWorkers()
	for g := range 3 {
		w.loop(func(i int) { c.createTokenOn(t, frozen, fmt.Sprintf("frozen-%d-%d", g, i), "") })
	}
	defer func() {
		_ = syscall.Kill(pid, syscall.SIGCONT)
		w.stop()
	}()
	time.Sleep(300 * time.Millisecond)
	app := appName(0)
	var stoppedAt time.Time
	for try := 0; ; try++ {
		if try == 200 {
			t.Fatal("node 1 was never caught inside a write transaction in 200 tries")
		}
		time.Sleep(time.Duration(rand.IntN(5000)) * time.Microsecond)
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stoppedAt = time.Now()
		time.Sleep(20 * time.Millisecond)
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1
			AND state = 'idle in transaction' AND backend_xid IS NOT NULL`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			t.Logf("node 1 frozen inside a write transaction after %d tries", try+1)
			break
		}
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}

	// Node 2 writes until one commits.
	var blocked tally
	var resumed time.Duration
	deadline := time.Now().Add(90 * time.Second)
	for i := 0; ; i++ {
		a := c.createTokenOn(t, other, fmt.Sprintf("other-%d", i), "")
		if a.status == http.StatusCreated {
			resumed = time.Since(stoppedAt)
			break
		}
		blocked.add(a)
		if a.status != http.StatusServiceUnavailable || a.retryAfter == "" {
			t.Errorf("a write on node 2 while node 1 is frozen = %d %s; want 503 with Retry-After", a.status, a.body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2 could not write for 90 s while node 1 was frozen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var left int
	if err := db.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction'`, app).Scan(&left); err != nil {
		t.Fatal(err)
	}
	t.Logf("node 1 frozen inside a write transaction: node 2's writes resumed %s after the freeze (idle_in_transaction_session_timeout 10s + lock_timeout 2s); meanwhile %s; frozen sessions left: %d",
		resumed.Round(time.Millisecond), &blocked, left)

	// Thawed, node 1 finds its session gone, answers, and writes again.
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		if a := c.createTokenOn(t, frozen, fmt.Sprintf("thawed-%d", i), ""); a.status == http.StatusCreated {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("node 1 cannot write 60 s after it was thawed: %d %s", a.status, a.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// workers run client loops until stopped.
type workers struct {
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

func newWorkers() *workers { return &workers{done: make(chan struct{})} }

// loop calls fn(0), fn(1), … in a goroutine of its own until stop.
func (w *workers) loop(fn func(i int)) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-w.done:
				return
			default:
			}
			fn(i)
		}
	}()
}

// stop ends the loops and waits for them; calling it again does nothing.
func (w *workers) stop() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}

// appName is the application_name node i's sessions carry when clusterOptions.appNames is set.
func appName(i int) string { return "latchkey-node-" + strconv.Itoa(i+1) }
