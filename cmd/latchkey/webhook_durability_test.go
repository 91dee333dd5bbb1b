package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/postgres"
	"github.com/latchkey/latchkey/postgres/pgtest"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/webhook"
)

// eventLog is a webhook receiver that counts each event it was sent.
type eventLog struct {
	mu   sync.Mutex
	seen map[string]int
	all  atomic.Int64
}

func newEventLog(t *testing.T) (*eventLog, string) {
	l := &eventLog{seen: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var ev webhook.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		l.mu.Lock()
		l.seen[ev.ID]++
		l.mu.Unlock()
		l.all.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return l, srv.URL
}

// TestWebhookDeliveryAfterKill kills latchkey serve with SIGKILL three times during a burst of
// 1,000 events and checks that every committed event reaches the receiver at least once
// afterwards (the audit log is the outbox, leases of the killed process run out); it reports the
// duplicates at-least-once delivery allowed.
func TestWebhookDeliveryAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary; skipped with -short")
	}
	bin := buildLatchkey(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "latchkey.db")
	pw, tokFile := filepath.Join(dir, "pw"), filepath.Join(dir, "admin.token")
	if err := os.WriteFile(pw, []byte(testAdminPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, nil, "init", "--db", db, "--account", "Acme", "--email", "admin@example.com", "--password-file", pw, "--token-file", tokFile)
	if err != nil {
		t.Fatalf("latchkey init: %v\n%s", err, out)
	}
	accountID, _ := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	raw, _ := os.ReadFile(tokFile)
	adminToken := strings.TrimSpace(string(raw))

	log, url := newEventLog(t)
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test", Source: "test"})
	s, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	sub := &latchkey.WebhookSubscription{AccountID: accountID, Name: "durability", ClientURL: url, EventTypes: []string{"project.created"},
		Active: true, Secret: webhook.NewSecret()}
	if err := s.CreateWebhookSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	s.Close()

	const total, kills = 1000, 3
	var created, seq atomic.Int64
	for round := 0; round <= kills; round++ {
		n := launchNode(t, bin, db, round, "--webhooks-allow-http-loopback")
		n.waitServing(t)
		c := client.New(n.url, adminToken)
		// Kill after another quarter of the burst, while creations and deliveries are in flight.
		stopAt := int64(total * (round + 1) / (kills + 1))
		var wg sync.WaitGroup
		var failures atomic.Int64
		var lastErr atomic.Value
		for range 8 {
			wg.Go(func() {
				for created.Load() < stopAt {
					name := fmt.Sprintf("p%05d", seq.Add(1))
					if _, err := c.CreateProject(context.Background(), accountID, name, ""); err != nil {
						// Cut off by the kill (whether it committed is read from the audit log).
						failures.Add(1)
						lastErr.Store(err.Error())
						return
					}
					created.Add(1)
				}
			})
		}
		if round < kills {
			for created.Load() < stopAt-20 && failures.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			if failures.Load() > 0 {
				t.Fatalf("creating projects failed before the kill: %v", lastErr.Load())
			}
			if err := n.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-n.exited
			n.cmd.Process = nil // nothing for cleanup to stop
			wg.Wait()
			continue
		}
		wg.Wait()
		// The last node delivers everything, including what the killed ones had leased.
		want := committedEvents(t, db, accountID)
		deadline := time.Now().Add(3 * time.Minute)
		for {
			missing := 0
			log.mu.Lock()
			for _, id := range want {
				if log.seen[id] == 0 {
					missing++
				}
			}
			log.mu.Unlock()
			if missing == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d committed events never delivered", missing, len(want))
			}
			time.Sleep(50 * time.Millisecond)
		}
		dups := 0
		log.mu.Lock()
		for _, c := range log.seen {
			dups += c - 1
		}
		log.mu.Unlock()
		if len(want) < total/2 {
			t.Errorf("only %d events committed; the burst did not run", len(want))
		}
		t.Logf("killed serve %d times during a burst: %d events committed, all delivered; %d requests, %d duplicates",
			kills, len(want), log.all.Load(), dups)
	}
}

// committedEvents returns the ids ("evt_N") of the project.created events in the database.
func committedEvents(t *testing.T, db string, accountID int64) []string {
	t.Helper()
	s, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	typ := "project.created"
	var ids []string
	for offset := 0; ; offset += latchkey.MaxLimit {
		es, total, err := s.FindAuditEntries(context.Background(), latchkey.AuditFilter{AccountID: accountID, EventType: &typ, Offset: offset, Limit: latchkey.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			ids = append(ids, fmt.Sprintf("evt_%d", e.ID))
		}
		if offset+len(es) >= total || len(es) == 0 {
			return ids
		}
	}
}

// TestWebhookDeliveryTwoNodesPostgres runs two latchkey serve processes on one PostgreSQL
// database. With both alive, every delivery attempt is made by exactly one of them (one attempt
// row per delivery, no duplicate at the receiver) and both take a share. Then one is killed with
// SIGKILL during a burst: the other delivers every committed event, the dead node's leased ones
// included, once their leases run out.
func TestWebhookDeliveryTwoNodesPostgres(t *testing.T) {
	db := pgtest.Admin(t) // skips, or fails when CI=true, without PostgreSQL
	bin := buildLatchkey(t)
	dsn := pgtest.Schema(t, "pool_max_conns", "6")
	schema := searchPath(t, dsn)
	dir := t.TempDir()
	pw, tokFile := filepath.Join(dir, "pw"), filepath.Join(dir, "admin.token")
	if err := os.WriteFile(pw, []byte(testAdminPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "init", "--db", dsn, "--account", "Acme", "--email", "admin@example.com", "--password-file", pw, "--token-file", tokFile)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("latchkey init: %v\n%s", err, out)
	}
	accountID, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	raw, _ := os.ReadFile(tokFile)
	adminToken := strings.TrimSpace(string(raw))

	log, url := newEventLog(t)
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test", Source: "test"})
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	sub := &latchkey.WebhookSubscription{AccountID: accountID, Name: "two nodes", ClientURL: url, EventTypes: []string{"project.created"},
		Active: true, Secret: webhook.NewSecret()}
	if err := s.CreateWebhookSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	s.Close()
	nodes := []*node{launchNode(t, bin, dsn, 0, "--webhooks-allow-http-loopback"), launchNode(t, bin, dsn, 1, "--webhooks-allow-http-loopback")}
	for _, n := range nodes {
		n.waitServing(t)
	}
	burst := func(n *node, from, count int, stop <-chan struct{}) {
		c := client.New(n.url, adminToken)
		var wg sync.WaitGroup
		var next atomic.Int64
		next.Store(int64(from))
		for range 4 {
			wg.Go(func() {
				for {
					i := next.Add(1)
					if i > int64(from+count) {
						return
					}
					select {
					case <-stop:
						return
					default:
					}
					if _, err := c.CreateProject(context.Background(), accountID, fmt.Sprintf("p%05d", i), ""); err != nil {
						t.Errorf("create project on %s: %v", n.name, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	waitDelivered := func(want []string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			missing := 0
			log.mu.Lock()
			for _, id := range want {
				if log.seen[id] == 0 {
					missing++
				}
			}
			log.mu.Unlock()
			if missing == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d committed events never delivered", missing, len(want))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	committed := func() []string {
		rows, err := db.Query(`SELECT id FROM `+schema+`.audit_log WHERE account_id = $1 AND event_type = 'project.created' ORDER BY id`, accountID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var ids []string
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, fmt.Sprintf("evt_%d", id))
		}
		return ids
	}

	// Both alive, changes made on both: one attempt per delivery, shared between the nodes.
	var wg sync.WaitGroup
	wg.Go(func() { burst(nodes[0], 0, 200, nil) })
	wg.Go(func() { burst(nodes[1], 200, 200, nil) })
	wg.Wait()
	waitDelivered(committed())
	var twice int
	if err := db.QueryRow(`SELECT COUNT(*) FROM (SELECT delivery_id FROM ` + schema + `.webhook_attempts GROUP BY delivery_id HAVING COUNT(*) > 1) d`).Scan(&twice); err != nil {
		t.Fatal(err)
	}
	if twice != 0 {
		t.Errorf("%d deliveries were attempted more than once with both nodes alive and the receiver answering 204", twice)
	}
	rows, err := db.Query(`SELECT node, COUNT(*) FROM ` + schema + `.webhook_attempts GROUP BY node`)
	if err != nil {
		t.Fatal(err)
	}
	shares := map[string]int{}
	for rows.Next() {
		var n string
		var c int
		if err := rows.Scan(&n, &c); err != nil {
			t.Fatal(err)
		}
		shares[n] = c
	}
	rows.Close()
	t.Logf("both nodes alive: 400 events, attempts per node %v, %d duplicates at the receiver", shares, log.all.Load()-int64(len(log.seen)))
	if dup := log.all.Load() - int64(len(log.seen)); dup != 0 {
		t.Errorf("receiver got %d duplicates with both nodes alive", dup)
	}

	// Node 1 killed mid-burst; node 2 delivers everything.
	stop := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = nodes[0].cmd.Process.Kill()
		<-nodes[0].exited
		nodes[0].cmd.Process = nil
	}()
	burst(nodes[1], 400, 600, stop)
	want := committed()
	waitDelivered(want)
	t.Logf("node 1 killed during a burst: %d events committed, all delivered by node 2; %d duplicates in all",
		len(want), log.all.Load()-int64(len(log.seen)))
}
