package server

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
)

// Verifications through forward-auth are counted by outcome, written in a batch, and read back
// per token and per account; the addresses they came from are kept; Prometheus counts outcomes
// without token labels.
func TestUsageAnalyticsThroughTheAPI(t *testing.T) {
	e := forwardEnv(t, "nginx")
	const month = 30 * 24 * 3600
	status, env := e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/service-tokens/"), map[string]any{
		"name":              "counted",
		"permission_grants": []map[string]any{{"permission_set": "job_admin", "project_id": e.fx.Project}},
		"rate_limits":       []map[string]any{{"name": "api", "limit": 3, "duration_seconds": month}},
	})
	wantStatus(t, "create a token", status, env, http.StatusCreated)
	var tok apitype.Token
	if err := json.Unmarshal(env.Data, &tok); err != nil {
		t.Fatal(err)
	}
	jobs := func(project int64) map[string]string {
		return map[string]string{"X-Original-Method": "GET", "X-Original-Uri": "/api/projects/" + strconv.FormatInt(project, 10) + "/jobs/5"}
	}
	forward := func(project int64, status int) {
		t.Helper()
		if got, reason := e.forward(t, tok.TokenString, jobs(project)); got != status {
			t.Fatalf("forward-auth: %d %s, want %d", got, reason, status)
		}
	}
	forward(e.fx.Project, 200)
	forward(e.fx.Project2, 403)
	// latchkey's own API refusing the token for want of a permission counts as forbidden too.
	if status, env := e.api(t, tok.TokenString, http.MethodGet, e.path("/users/"), nil); status != http.StatusForbidden {
		t.Fatalf("the token listing users: %d %s, want 403", status, env.Status.UserMessage)
	}
	forward(e.fx.Project, 429)
	if err := e.srv.flushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}

	status, env = e.api(t, e.fx.AdminPAT, http.MethodGet, e.path("/service-tokens/%d/usage/?granularity=minute", tok.ID), nil)
	wantStatus(t, "token usage", status, env, http.StatusOK)
	var u apitype.TokenUsage
	if err := json.Unmarshal(env.Data, &u); err != nil {
		t.Fatal(err)
	}
	want := apitype.UsageCounts{OK: 1, Forbidden: 2, RateLimited: 1, Total: 4}
	if u.Totals != want {
		t.Errorf("token totals = %+v, want %+v", u.Totals, want)
	}
	var sum int64
	for _, b := range u.Buckets {
		sum += b.Total
	}
	if len(u.Buckets) < 24*60 || sum != 4 {
		t.Errorf("%d minute buckets adding up to %d, want a day of minutes adding up to 4", len(u.Buckets), sum)
	}
	if len(u.Addresses) != 1 || u.Addresses[0].Address == "" || u.Addresses[0].FirstSeen > u.Addresses[0].LastSeen {
		t.Errorf("addresses = %+v, want the one client address", u.Addresses)
	}

	status, env = e.api(t, e.fx.AdminPAT, http.MethodGet, e.path("/usage/"), nil)
	wantStatus(t, "account usage", status, env, http.StatusOK)
	var a apitype.AccountUsage
	if err := json.Unmarshal(env.Data, &a); err != nil {
		t.Fatal(err)
	}
	if a.Granularity != "hour" || len(a.TopTokens) == 0 || a.TopTokens[0].TokenID != tok.ID || a.TopTokens[0].UsageCounts != want {
		t.Errorf("account usage = %s granularity, top %+v; want hours with token %d first", a.Granularity, a.TopTokens, tok.ID)
	}
	if a.Totals.Total < 4 {
		t.Errorf("account totals %+v, want at least the token's 4", a.Totals)
	}

	req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/metrics", nil)
	body := e.send(t, req).body
	for outcome, n := range map[string]int{"forbidden": 2, "rate_limited": 1} {
		m := regexp.MustCompile(`latchkey_verification_outcomes_total\{outcome="` + outcome + `"\} (\d+)`).FindSubmatch(body)
		if m == nil || string(m[1]) != strconv.Itoa(n) {
			t.Errorf("latchkey_verification_outcomes_total{outcome=%q} = %s, want %d", outcome, m, n)
		}
	}
	if regexp.MustCompile(`latchkey_verification_outcomes_total\{[^}]*token`).Match(body) {
		t.Error("outcome counters carry a token label")
	}
}

// Usage is written once per flush interval, however many requests there are, and nothing
// counted is lost: what storage holds afterwards is every verification made.
func TestUsageWritesBoundedByTimeNotLoad(t *testing.T) {
	const interval = 500 * time.Millisecond // 2 writes a second at most
	e := withRegPeople(t, newGoldenEnv(t, newGoldenTemplate(t), func(c *Config) { c.Governance.UsageFlushInterval = interval }))
	ok := map[string]string{"X-Original-Method": "GET", "X-Original-Uri": "/api/projects/" + strconv.FormatInt(e.fx.Project, 10) + "/jobs/5"}
	start := time.Now()
	var sent atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < 2*time.Second {
				if st, reason := e.forward(t, e.fx.Svc, ok); st != http.StatusOK {
					t.Errorf("forward-auth: %d %s", st, reason)
					return
				}
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	writes := int64(testutilCounter(t, e, "latchkey_usage_writes_total"))
	// One write per interval elapsed at most (Run's own ticker), whatever the request rate.
	if limit := int64(elapsed/interval) + 1; writes > limit || writes == 0 {
		t.Errorf("%d usage writes in %v, want 1 to %d", writes, elapsed, limit)
	}
	// What is still gathered is written at the next flush; the test flushes now.
	if err := e.srv.flushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Run's own flush may be writing at the same moment: wait for it, generously.
	var total int64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, err := e.store.FindUsage(context.Background(), usageFilterAll(e.fx.Account, start))
		if err != nil {
			t.Fatal(err)
		}
		total = 0
		for _, b := range got {
			total += b.Counts.Total()
		}
		if total == sent.Load() || time.Now().After(deadline) {
			break
		}
	}
	if total != sent.Load() {
		t.Errorf("stored %d verifications, want the %d made", total, sent.Load())
	}
	t.Logf("%d verifications in %v (%.0f/s) written in %d transactions (%.2f/s)", sent.Load(), elapsed.Round(time.Millisecond),
		float64(sent.Load())/elapsed.Seconds(), writes, float64(writes)/elapsed.Seconds())
}

// testutilCounter reads a counter's value from /metrics.
func testutilCounter(t *testing.T, e *regEnv, name string) float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/metrics", nil)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(e.send(t, req).body)
	if m == nil {
		t.Fatalf("%s not in /metrics", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// usageFilterAll selects an account's minutes from a little before start to an hour after.
func usageFilterAll(account int64, start time.Time) latchkey.UsageFilter {
	return latchkey.UsageFilter{AccountID: account, Granularity: latchkey.UsageMinute,
		From: start.Add(-time.Minute).Truncate(time.Minute), To: start.Add(time.Hour)}
}
