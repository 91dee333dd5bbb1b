package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

// Helpers of the governance end-to-end tests. Names start with gov so they do not collide with
// the other test files of this package.

// govHTTPFrom returns an HTTP client whose connections leave from the loopback address src
// (127.0.0.2, …): the server sees that address as the socket peer.
func govHTTPFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// govClientFrom returns an API client using token from the source address src.
func govClientFrom(baseURL, token, src string) *client.Client {
	c := client.New(baseURL, token)
	c.HTTP = govHTTPFrom(src)
	return c
}

// govResponse is one raw HTTP exchange.
type govResponse struct {
	Status int
	Header http.Header
	Body   []byte
	Env    apitype.Envelope
}

// govRaw sends a request from src with extra headers (e.g. X-Forwarded-For) and returns the
// response read in full.
func govRaw(t testing.TB, src, method, rawURL string, header map[string]string, body []byte) govResponse {
	t.Helper()
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, rawURL, rdr)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := govHTTPFrom(src).Do(req)
	if err != nil {
		t.Fatalf("%s %s from %s: %v", method, rawURL, src, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := govResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
	_ = json.Unmarshal(b, &r.Env)
	return r
}

// govWhoamiStatus calls whoami with token from src and returns the HTTP status (200 on success).
func govWhoamiStatus(t testing.TB, baseURL, token, src string, header map[string]string) govResponse {
	t.Helper()
	h := map[string]string{"Authorization": "Token " + token}
	for k, v := range header {
		h[k] = v
	}
	return govRaw(t, src, http.MethodGet, baseURL+"/api/v2/whoami/", h, nil)
}

// govAuditEntry is an audit entry as the API returns it.
type govAuditEntry struct {
	ID        int64          `json:"id"`
	AccountID int64          `json:"account_id"`
	CreatedAt string         `json:"created_at"`
	EventType string         `json:"event_type"`
	ActorType string         `json:"actor_type"`
	ActorID   int64          `json:"actor_id"`
	ActorName string         `json:"actor_name"`
	ActorIP   string         `json:"actor_ip"`
	Source    string         `json:"source"`
	Context   map[string]any `json:"context"`
	PrevHash  string         `json:"prev_hash"`
	Hash      string         `json:"hash"`
}

// govAudit lists the account's audit entries matching query (e.g. "event_type=leak.reported"),
// all pages, newest first.
func govAudit(t testing.TB, ts *testServer, query string) []govAuditEntry {
	t.Helper()
	var all []govAuditEntry
	for offset := 0; ; offset += 100 {
		var page []govAuditEntry
		q := query
		if q != "" {
			q += "&"
		}
		env, err := ts.Admin.Do(context.Background(), http.MethodGet,
			pathf("/api/v3/accounts/%d/audit-logs/?%soffset=%d&limit=100", ts.AccountID, q, offset), nil, &page)
		if err != nil {
			t.Fatalf("list audit log (%s): %v", query, err)
		}
		all = append(all, page...)
		var extra apitype.ListExtra
		_ = json.Unmarshal(env.Extra, &extra)
		if len(page) < 100 || len(all) >= extra.Pagination.TotalCount {
			return all
		}
	}
}

// govAuditFor keeps the entries whose context names token id.
func govAuditFor(entries []govAuditEntry, key string, id int64) []govAuditEntry {
	var out []govAuditEntry
	for _, e := range entries {
		if v, ok := e.Context[key].(float64); ok && int64(v) == id {
			out = append(out, e)
		}
	}
	return out
}

// govWantAuditOnce checks that exactly one entry of event names the token (context token_id)
// and returns it.
func govWantAuditOnce(t testing.TB, ts *testServer, event string, tokenID int64) govAuditEntry {
	t.Helper()
	got := govAuditFor(govAudit(t, ts, "event_type="+url.QueryEscape(event)), "token_id", tokenID)
	if len(got) != 1 {
		t.Fatalf("audit entries %s for token %d: %d, want exactly 1: %+v", event, tokenID, len(got), got)
	}
	return got[0]
}

// govEventually polls cond until it holds or timeout passes.
func govEventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// govMetric returns the value of an unlabelled (or fully labelled, e.g.
// `latchkey_auth_failures_total{kind="token",reason="malformed"}`) series from /metrics, or -1.
func govMetric(t testing.TB, baseURL, series string) float64 {
	t.Helper()
	r := govRaw(t, "127.0.0.1", http.MethodGet, baseURL+"/metrics", nil, nil)
	for _, line := range strings.Split(string(r.Body), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if ok && name == series {
			var v float64
			if err := json.Unmarshal([]byte(val), &v); err == nil {
				return v
			}
		}
	}
	return -1
}
