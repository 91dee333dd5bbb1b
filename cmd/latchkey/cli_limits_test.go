package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/sqlite"
)

// token create --rate-limit and token limits set, replace and remove a token's limits, which the
// server then enforces.
func TestCLIRateLimits(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	env := map[string]string{"LATCHKEY_URL": ts.URL, "LATCHKEY_TOKEN": ts.AdminToken}
	out, err := runCLI(t, env, "token", "create", "--name", "etl", "--grant", "metadata_only:all",
		"--rate-limit", "api=2/720h", "--rate-limit", "burst=100/1s", "--json")
	if err != nil {
		t.Fatalf("token create --rate-limit: %v\n%s", err, out)
	}
	var tok apitype.Token
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		t.Fatal(err)
	}
	want := []apitype.RateLimit{{Name: "api", Limit: 2, DurationSeconds: 720 * 3600}, {Name: "burst", Limit: 100, DurationSeconds: 1}}
	if len(tok.RateLimits) != 2 || tok.RateLimits[0] != want[0] || tok.RateLimits[1] != want[1] {
		t.Fatalf("created with rate_limits %+v, want %+v", tok.RateLimits, want)
	}
	c := client.New(ts.URL, tok.TokenString)
	for i := range 2 {
		if _, err := c.Whoami(ctx); err != nil {
			t.Fatalf("use %d within the limit: %v", i+1, err)
		}
	}
	if _, err := c.Whoami(ctx); client.StatusOf(err) != 429 {
		t.Fatalf("third use = %v, want 429", err)
	}
	id := itoa(tok.ID)
	out, err = runCLI(t, env, "token", "limits", id, "--rate-limit", "api=3/720h")
	if err != nil || !strings.Contains(out, "api: 3 per 720h0m0s") {
		t.Fatalf("token limits: %v\n%s", err, out)
	}
	if _, err := c.Whoami(ctx); err != nil {
		t.Errorf("use after raising the limit to 3: %v", err)
	}
	if _, err := c.Whoami(ctx); client.StatusOf(err) != 429 {
		t.Errorf("fourth use = %v, want 429", err)
	}
	out, err = runCLI(t, env, "token", "limits", id, "--none")
	if err != nil || !strings.Contains(out, "no rate limits") {
		t.Fatalf("token limits --none: %v\n%s", err, out)
	}
	if _, err := c.Whoami(ctx); err != nil {
		t.Errorf("use without limits: %v", err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "create", "--name", "x", "--rate-limit", "api"}, "NAME=LIMIT/WINDOW"},
		{[]string{"token", "create", "--name", "x", "--rate-limit", "api=ten/1s"}, "not a whole number"},
		{[]string{"token", "create", "--name", "x", "--rate-limit", "api=10/1.5s"}, "whole number of seconds"},
		{[]string{"token", "create", "--name", "x", "--rate-limit", "api=0/1s"}, "limit must be at least 1"},
		{[]string{"token", "create", "--name", "x", "--rate-limit", "api=1/1000h"}, "duration_seconds must be from 1"},
		{[]string{"token", "limits", id}, "--rate-limit (repeatable) or --none"},
		{[]string{"token", "limits", id, "--none", "--rate-limit", "a=1/1s"}, "--rate-limit (repeatable) or --none"},
	} {
		out, err := runCLI(t, env, tt.args...)
		if err == nil || !strings.Contains(out+err.Error(), tt.want) {
			t.Errorf("latchkey %v = %v\n%s; want an error containing %q", tt.args, err, out, tt.want)
		}
		if regexp.MustCompile(`lksvc_[0-9A-Za-z]{46}`).MatchString(out) {
			t.Errorf("latchkey %v printed a token", tt.args)
		}
	}
}

// token create --credits/--refill and token credits set and remove a token's credits, which the
// server then spends.
func TestCLICredits(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	env := map[string]string{"LATCHKEY_URL": ts.URL, "LATCHKEY_TOKEN": ts.AdminToken}
	out, err := runCLI(t, env, "token", "create", "--name", "metered", "--grant", "metadata_only:all", "--credits", "2", "--refill", "1000/monthly:1", "--json")
	if err != nil {
		t.Fatalf("token create --credits: %v\n%s", err, out)
	}
	var tok apitype.Token
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		t.Fatal(err)
	}
	if c := tok.Credits; c == nil || c.Remaining != 2 || c.Refill == nil || *c.Refill != (apitype.Refill{Amount: 1000, Interval: "monthly", Day: 1}) {
		t.Fatalf("created with credits %+v", tok.Credits)
	}
	c := client.New(ts.URL, tok.TokenString)
	for range 2 {
		if _, err := c.Whoami(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Whoami(ctx); client.StatusOf(err) != 429 {
		t.Fatalf("use without credits = %v, want 429", err)
	}
	id := itoa(tok.ID)
	if out, err := runCLI(t, env, "token", "credits", id, "--remaining", "1"); err != nil || !strings.Contains(out, "1 credits") {
		t.Fatalf("token credits --remaining 1: %v\n%s", err, out)
	}
	if _, err := c.Whoami(ctx); err != nil {
		t.Errorf("use after a top-up: %v", err)
	}
	if out, err := runCLI(t, env, "token", "credits", id, "--none"); err != nil || !strings.Contains(out, "no credits") {
		t.Fatalf("token credits --none: %v\n%s", err, out)
	}
	if _, err := c.Whoami(ctx); err != nil {
		t.Errorf("use without credits: %v", err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "credits", id}, "or --none"},
		{[]string{"token", "credits", id, "--refill", "lots"}, "AMOUNT/daily"},
		{[]string{"token", "credits", id, "--refill", "5/weekly"}, "interval must be"},
		{[]string{"token", "credits", id, "--remaining", "-4"}, "remaining must be from 0"},
		{[]string{"token", "create", "--name", "x", "--refill", "5/monthly:x"}, "is not a number"},
	} {
		out, err := runCLI(t, env, tt.args...)
		if err == nil || !strings.Contains(out+err.Error(), tt.want) {
			t.Errorf("latchkey %v = %v\n%s; want an error containing %q", tt.args, err, out, tt.want)
		}
	}
}

// What the last requests spent of a token's credits is in the database once serve has stopped:
// the verifier's last sync runs after the HTTP server has drained.
func TestCreditsWrittenOnShutdown(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	tok, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "metered",
		PermissionGrants: []apitype.Grant{}, Credits: &apitype.Credits{Remaining: 100}})
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(ts.URL, tok.TokenString)
	for range 5 {
		if _, err := c.Whoami(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ts.Stop(t)
	st, err := sqlite.Open(ctx, ts.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored, err := st.FindTokenByID(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Credits == nil || stored.Credits.Remaining != 95 {
		t.Errorf("stored credits after 5 uses and a shutdown = %+v, want 95", stored.Credits)
	}
}

// token usage shows a token's verifications by outcome and where it was used from, once serve
// has written them; bad flags and a bad granularity are refused with the reason.
func TestCLITokenUsage(t *testing.T) {
	ts := startServer(t, "enterprise", "--usage-flush-interval", "200ms")
	ctx := context.Background()
	env := map[string]string{"LATCHKEY_URL": ts.URL, "LATCHKEY_TOKEN": ts.AdminToken}
	tok, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "counted",
		RateLimits: []apitype.RateLimit{{Name: "api", Limit: 3, DurationSeconds: 3600}}})
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(ts.URL, tok.TokenString)
	for range 4 {
		c.Whoami(ctx) // 3 ok, 1 rate limited
	}
	id := itoa(tok.ID)
	var u apitype.TokenUsage
	for deadline := time.Now().Add(20 * time.Second); u.Totals.Total < 4; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("20 s after use, token usage reports %+v", u.Totals)
		}
		out, err := runCLI(t, env, "token", "usage", id, "--json")
		if err != nil {
			t.Fatalf("token usage --json: %v\n%s", err, out)
		}
		if err := json.Unmarshal([]byte(out), &u); err != nil {
			t.Fatal(err)
		}
	}
	if u.Totals.OK != 3 || u.Totals.RateLimited != 1 || len(u.Addresses) != 1 {
		t.Errorf("usage = %+v with addresses %+v, want 3 ok, 1 rate_limited, one address", u.Totals, u.Addresses)
	}
	out, err := runCLI(t, env, "token", "usage", id, "--since", "720h", "--granularity", "day")
	if err != nil || !strings.Contains(out, "per day") || !strings.Contains(out, "total                         4  ok 3") ||
		!strings.Contains(out, "address 127.0.0.1") {
		t.Errorf("token usage --granularity day: %v\n%s", err, out)
	}
	if out, err := runCLI(t, env, "token", "usage", id, "--granularity", "week"); err == nil || !strings.Contains(out+err.Error(), "granularity must be minute, hour or day") {
		t.Errorf("a bad granularity: %v\n%s", err, out)
	}
}
