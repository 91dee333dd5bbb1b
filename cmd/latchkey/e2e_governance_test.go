package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
)

// govRule is an IP restriction rule as the API returns it.
type govRule struct {
	ID             int64    `json:"id"`
	Name           string   `json:"name"`
	Type           int      `json:"type"`
	RuleSetEnabled bool     `json:"rule_set_enabled"`
	IPCIDRs        []string `json:"ip_cidrs"`
	CIDRs          []struct {
		CIDR     string `json:"cidr"`
		CIDRIPv6 string `json:"cidr_ipv6"`
	} `json:"cidrs"`
}

func TestGovernanceIPRestrictions(t *testing.T) {
	ts := startServer(t, "enterprise")
	_, tok := ts.serviceToken(t, "ci", client.GrantOn("metadata_only", 0))
	base := pathf("/api/v3/accounts/%d", ts.AccountID)
	whoami := func(src string, header map[string]string) govResponse {
		t.Helper()
		return govWhoamiStatus(t, ts.URL, tok.TokenString, src, header)
	}
	wantDenied := func(what string, r govResponse) {
		t.Helper()
		if r.Status != http.StatusForbidden {
			t.Fatalf("%s: status %d (%s), want 403", what, r.Status, r.Body)
		}
		var data map[string]any
		if err := json.Unmarshal(r.Env.Data, &data); err != nil || data["account_access_denied"] != true {
			t.Errorf("%s: data = %s, want account_access_denied: true", what, r.Env.Data)
		}
	}
	wantOK := func(what string, r govResponse) {
		t.Helper()
		if r.Status != http.StatusOK {
			t.Fatalf("%s: status %d (%s), want 200", what, r.Status, r.Body)
		}
	}
	for _, src := range []string{"127.0.0.1", "127.0.0.2"} {
		wantOK("token from "+src+" before any rule", whoami(src, nil))
	}

	var deny govRule
	mustDo(t, ts.Admin, http.MethodPost, base+"/ip-restrictions/", map[string]any{"name": "block .2", "type": 2,
		"description": "a host we distrust", "ip_cidrs": []string{"127.0.0.2/32"}}, &deny)
	if deny.Type != 2 || deny.RuleSetEnabled || len(deny.IPCIDRs) != 1 || deny.CIDRs[0].CIDR != "127.0.0.2/32" {
		t.Errorf("created deny rule = %+v", deny)
	}
	wantOK("token from 127.0.0.2 while the rule set is disabled", whoami("127.0.0.2", nil))

	var v struct {
		IP             string `json:"ip"`
		Allowed        bool   `json:"allowed"`
		RuleSetEnabled bool   `json:"rule_set_enabled"`
		AllowedNow     bool   `json:"allowed_now"`
	}
	mustDo(t, ts.Admin, http.MethodGet, pathf("%s/ip-restrictions-set/%d/validate/", base, ts.AccountID), nil, &v)
	if v.IP != "127.0.0.1" || !v.Allowed {
		t.Errorf("validate for the caller = %+v, want 127.0.0.1 allowed", v)
	}
	mustDo(t, ts.Admin, http.MethodGet, pathf("%s/ip-restrictions-set/%d/validate/?ip=127.0.0.2", base, ts.AccountID), nil, &v)
	if v.Allowed || !v.AllowedNow || v.RuleSetEnabled {
		t.Errorf("validate ?ip=127.0.0.2 = %+v, want not allowed once enabled, allowed now", v)
	}

	var set struct {
		Enabled bool `json:"enabled"`
	}
	mustDo(t, ts.Admin, http.MethodPost, base+"/ip-restrictions-set/", map[string]any{"enabled": true}, &set)
	if !set.Enabled {
		t.Fatalf("enable rule set = %+v", set)
	}
	wantDenied("token from the denied 127.0.0.2", whoami("127.0.0.2", nil))
	wantOK("token from 127.0.0.1", whoami("127.0.0.1", nil))
	wantDenied("admin PAT from 127.0.0.2", govWhoamiStatus(t, ts.URL, ts.AdminToken, "127.0.0.2", nil))

	// Without trusted proxies, X-Forwarded-For is the client's word and is ignored.
	wantDenied("127.0.0.2 claiming X-Forwarded-For 127.0.0.1", whoami("127.0.0.2", map[string]string{"X-Forwarded-For": "127.0.0.1"}))
	wantOK("127.0.0.1 claiming X-Forwarded-For 127.0.0.2", whoami("127.0.0.1", map[string]string{"X-Forwarded-For": "127.0.0.2"}))

	// The same CIDR in an allow and a deny rule is refused.
	_, err := ts.Admin.Do(context.Background(), http.MethodPost, base+"/ip-restrictions/",
		map[string]any{"name": "allow .2", "type": 1, "ip_cidrs": []string{"127.0.0.2"}}, nil)
	if ae := wantAPIError(t, "allow rule for a denied CIDR", err, http.StatusBadRequest, "both an allow and a deny rule"); ae.Field != "cidrs" {
		t.Errorf("field = %q, want cidrs", ae.Field)
	}
	// An allow rule that leaves the caller out would lock them out while enforced.
	_, err = ts.Admin.Do(context.Background(), http.MethodPost, base+"/ip-restrictions/",
		map[string]any{"name": "office", "type": 1, "ip_cidrs": []string{"10.0.0.0/8"}}, nil)
	wantAPIError(t, "allow rule that excludes the caller", err, http.StatusBadRequest, "127.0.0.1", "lock you out")

	// dbt's object form, with IPv6.
	var allow govRule
	mustDo(t, ts.Admin, http.MethodPost, base+"/ip-restrictions/", map[string]any{"name": "loopback", "type": "allow",
		"cidrs": []map[string]any{{"cidr": "127.0.0.0/8"}, {"cidr_ipv6": "::1/128"}, {"cidr": "192.0.2.0/24", "state": 2}}}, &allow)
	if len(allow.CIDRs) != 2 || allow.CIDRs[0].CIDR != "127.0.0.0/8" || allow.CIDRs[1].CIDRIPv6 != "::1/128" || !allow.RuleSetEnabled {
		t.Errorf("created allow rule = %+v", allow)
	}
	// The /32 deny is more specific than the /8 allow.
	wantDenied("127.0.0.2 inside the allowed /8 but denied by a /32", whoami("127.0.0.2", nil))
	wantOK("127.0.0.3 inside the allowed /8", whoami("127.0.0.3", nil))

	// Editing the allow rule so that it no longer covers the caller is refused.
	_, err = ts.Admin.Do(context.Background(), http.MethodPut, pathf("%s/ip-restrictions/%d/", base, allow.ID),
		map[string]any{"ip_cidrs": []string{"10.0.0.0/8"}}, nil)
	wantAPIError(t, "edit that locks the caller out", err, http.StatusBadRequest, "lock you out")

	// Disabled, the same edit is fine; enabling it then is refused.
	mustDo(t, ts.Admin, http.MethodPost, base+"/ip-restrictions-set/", map[string]any{"enabled": false}, &set)
	wantOK("127.0.0.2 once the rule set is disabled", whoami("127.0.0.2", nil))
	mustDo(t, ts.Admin, http.MethodPut, pathf("%s/ip-restrictions/%d/", base, allow.ID), map[string]any{"ip_cidrs": []string{"10.0.0.0/8"}}, &allow)
	_, err = ts.Admin.Do(context.Background(), http.MethodPost, base+"/ip-restrictions-set/", map[string]any{"enabled": true}, nil)
	if ae := wantAPIError(t, "enabling a rule set that blocks the caller", err, http.StatusBadRequest, "127.0.0.1"); ae.Field != "enabled" {
		t.Errorf("field = %q, want enabled", ae.Field)
	}
	mustDo(t, ts.Admin, http.MethodDelete, pathf("%s/ip-restrictions/%d/", base, allow.ID), nil, nil)
	mustDo(t, ts.Admin, http.MethodPost, base+"/ip-restrictions-set/", map[string]any{"enabled": true}, &set)
	var rules []govRule
	mustDo(t, ts.Admin, http.MethodGet, base+"/ip-restrictions/", nil, &rules)
	if len(rules) != 1 || rules[0].ID != deny.ID || !rules[0].RuleSetEnabled {
		t.Errorf("rules after deleting the allow rule = %+v, want only the deny rule, enabled", rules)
	}

	// Behind a trusted proxy, the right-most untrusted X-Forwarded-For entry is the client.
	ts.Restart(t, "--trusted-proxies", "127.0.0.1/32")
	wantDenied("proxy forwarding 127.0.0.2", whoami("127.0.0.1", map[string]string{"X-Forwarded-For": "127.0.0.2"}))
	wantOK("proxy forwarding a spoofed 127.0.0.2 before the real 127.0.0.3",
		whoami("127.0.0.1", map[string]string{"X-Forwarded-For": "127.0.0.2, 127.0.0.3"}))
	wantOK("proxy's own request", whoami("127.0.0.1", nil))
	wantDenied("untrusted 127.0.0.2 claiming 127.0.0.1", whoami("127.0.0.2", map[string]string{"X-Forwarded-For": "127.0.0.1"}))

	// Each successful mutation left exactly one audit entry; refused ones left none.
	for _, c := range []struct {
		event string
		id    int64
		n     int
	}{
		{"ip_restrictions.rule.added", deny.ID, 1}, {"ip_restrictions.rule.added", allow.ID, 1},
		{"ip_restrictions.rule.changed", allow.ID, 1}, {"ip_restrictions.rule.removed", allow.ID, 1},
		{"ip_restrictions.rule.changed", deny.ID, 0},
	} {
		if got := govAuditFor(govAudit(t, ts, "event_type="+c.event), "rule_id", c.id); len(got) != c.n {
			t.Errorf("%s entries for rule %d = %d, want %d", c.event, c.id, len(got), c.n)
		}
	}
	if got := govAudit(t, ts, "event_type=ip_restrictions.rule.added"); len(got) != 2 {
		t.Errorf("ip_restrictions.rule.added entries = %d, want 2 (refused creations leave none)", len(got))
	}
	toggles := govAudit(t, ts, "event_type=ip_restrictions.toggled")
	if len(toggles) != 3 {
		t.Fatalf("ip_restrictions.toggled entries = %d, want 3 (on, off, on)", len(toggles))
	}
	for i, want := range []bool{true, false, true} { // oldest first
		if got := toggles[len(toggles)-1-i].Context["enabled"]; got != want {
			t.Errorf("toggle %d: enabled = %v, want %v", i, got, want)
		}
	}
	if e := toggles[0]; e.ActorType != "user" || e.ActorIP != "127.0.0.1" || e.Source != "api" {
		t.Errorf("toggle actor = %s/%s/%s, want user from 127.0.0.1 via api", e.ActorType, e.ActorIP, e.Source)
	}
}

func TestGovernanceIPRestrictionsNeedEnterprise(t *testing.T) {
	ts := startServer(t, "team")
	base := pathf("/api/v3/accounts/%d", ts.AccountID)
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, base + "/ip-restrictions/"},
		{http.MethodPost, base + "/ip-restrictions-set/"},
		{http.MethodGet, pathf("%s/ip-restrictions-set/%d/validate/", base, ts.AccountID)},
	} {
		_, err := ts.Admin.Do(context.Background(), c.method, c.path, map[string]any{"enabled": true}, nil)
		wantAPIError(t, c.method+" "+c.path+" on a team plan", err, http.StatusForbidden, "Enterprise", "team")
	}
}

func TestGovernanceRotationAndReuse(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	works := func(tok string) int { return govWhoamiStatus(t, ts.URL, tok, "127.0.0.1", nil).Status }
	state := func(id int64) int {
		t.Helper()
		got, err := ts.Admin.ServiceToken(ctx, ts.AccountID, id)
		if err != nil {
			t.Fatal(err)
		}
		return got.State
	}

	// Grace 0: the old token stops at once. Presenting it afterwards is reuse, which (the
	// default) revokes the family's live token too.
	_, a := ts.serviceToken(t, "deployer", client.GrantOn("metadata_only", 0))
	b, err := ts.Admin.RotateServiceToken(ctx, ts.AccountID, a.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.TokenString == "" || b.FamilyID != a.FamilyID || b.Name != a.Name {
		t.Fatalf("rotated token = %+v, want a token string, the same family and name", b)
	}
	if s := works(b.TokenString); s != http.StatusOK {
		t.Fatalf("new token: status %d, want 200", s)
	}
	for range 3 {
		if s := works(a.TokenString); s != http.StatusUnauthorized {
			t.Fatalf("old token after a rotation with grace 0: status %d, want 401", s)
		}
	}
	govEventually(t, 10*time.Second, "reuse detection to revoke the live token", func() bool { return state(b.ID) == 2 })
	if s := works(b.TokenString); s != http.StatusUnauthorized {
		t.Errorf("live token after its family's old token was reused: status %d, want 401", s)
	}
	govWantAuditOnce(t, ts, "service_token.rotated", a.ID)
	reuse := govWantAuditOnce(t, ts, "service_token.reuse_detected", a.ID)
	if ids, _ := reuse.Context["revoked_token_ids"].([]any); len(ids) != 1 || ids[0] != float64(b.ID) {
		t.Errorf("reuse_detected context = %v, want revoked_token_ids [%d]", reuse.Context, b.ID)
	}
	if rev := govWantAuditOnce(t, ts, "service_token.revoked", b.ID); rev.Context["reason"] != "reuse_detected" || rev.ActorType != "system" {
		t.Errorf("revocation entry = %+v, want reason reuse_detected by the system", rev)
	}

	// Grace 2 s, with the account setting off: the old token works during the grace and not
	// after; its reuse is audited but leaves the new token alone.
	var acct apitype.Account
	mustDo(t, ts.Admin, http.MethodPost, pathf("/api/v3/accounts/%d/settings/", ts.AccountID), map[string]any{"reuse_revokes_family": false}, &acct)
	if acct.ReuseRevokesFamily {
		t.Fatalf("settings = %+v, want reuse_revokes_family false", acct)
	}
	_, c := ts.serviceToken(t, "orchestrator", client.GrantOn("metadata_only", 0))
	d, err := ts.Admin.RotateServiceToken(ctx, ts.AccountID, c.ID, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d.FamilyID != c.FamilyID {
		t.Errorf("family ids %d and %d differ", c.FamilyID, d.FamilyID)
	}
	if s := works(c.TokenString); s != http.StatusOK {
		t.Fatalf("old token during its grace period: status %d, want 200", s)
	}
	if s := works(d.TokenString); s != http.StatusOK {
		t.Fatalf("new token: status %d, want 200", s)
	}
	govEventually(t, 10*time.Second, "the old token to be refused after its grace", func() bool {
		return works(c.TokenString) == http.StatusUnauthorized
	})
	govEventually(t, 10*time.Second, "reuse to be audited", func() bool {
		return len(govAuditFor(govAudit(t, ts, "event_type=service_token.reuse_detected"), "token_id", c.ID)) == 1
	})
	if s := works(d.TokenString); s != http.StatusOK || state(d.ID) != 1 {
		t.Errorf("new token with reuse_revokes_family off: status %d, state %d; want 200, 1", s, state(d.ID))
	}
	govWantAuditOnce(t, ts, "service_token.rotated", c.ID)
	if got := govAuditFor(govAudit(t, ts, "event_type=service_token.revoked"), "token_id", d.ID); len(got) != 0 {
		t.Errorf("revocations of the new token = %d, want 0 with the setting off", len(got))
	}
	updates := govAudit(t, ts, "event_type=account.updated")
	if len(updates) != 1 || updates[0].Context["reuse_revokes_family"] != false {
		t.Errorf("account.updated entries = %+v, want one turning reuse_revokes_family off", updates)
	}
}

func TestGovernanceExpiryAndLastUsed(t *testing.T) {
	flags := []string{"--expiry-sweep-interval", "200ms"}
	ts := startServer(t, "enterprise", flags...)
	ctx := context.Background()
	base := pathf("/api/v3/accounts/%d", ts.AccountID)
	create := func(name string, expires time.Time) (*apitype.Token, error) {
		req := client.CreateServiceTokenRequest{Name: name, PermissionGrants: []apitype.Grant{client.GrantOn("metadata_only", 0)}}
		if !expires.IsZero() {
			req.ExpiresAt = expires.UTC().Format(time.RFC3339Nano)
		}
		return ts.Admin.CreateServiceToken(ctx, ts.AccountID, req)
	}

	// A token created to expire in two seconds works, then is refused as expired.
	short, err := create("short-lived", time.Now().Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if r := govWhoamiStatus(t, ts.URL, short.TokenString, "127.0.0.1", nil); r.Status != http.StatusOK {
		t.Fatalf("token before its expiry: status %d, want 200", r.Status)
	}
	govEventually(t, 10*time.Second, "the token to expire", func() bool {
		r := govWhoamiStatus(t, ts.URL, short.TokenString, "127.0.0.1", nil)
		return r.Status == http.StatusUnauthorized && strings.Contains(r.Env.Status.UserMessage, "expired")
	})
	govEventually(t, 10*time.Second, "the expiry sweep to audit service_token.expired", func() bool {
		return len(govAuditFor(govAudit(t, ts, "event_type=service_token.expired"), "token_id", short.ID)) > 0
	})

	// expires_before and the expiring gauge.
	soon, err := create("expires-in-3-days", time.Now().Add(72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	listIDs := func(before time.Time) map[int64]bool {
		var toks []apitype.Token
		mustDo(t, ts.Admin, http.MethodGet, base+"/service-tokens/?expires_before="+url.QueryEscape(before.UTC().Format(time.RFC3339)), nil, &toks)
		ids := map[int64]bool{}
		for _, tk := range toks {
			ids[tk.ID] = true
		}
		return ids
	}
	if ids := listIDs(time.Now().Add(96 * time.Hour)); !ids[soon.ID] || !ids[short.ID] {
		t.Errorf("expires_before +4 days = %v, want tokens %d and %d", ids, soon.ID, short.ID)
	}
	if ids := listIDs(time.Now().Add(24 * time.Hour)); ids[soon.ID] || !ids[short.ID] {
		t.Errorf("expires_before +1 day = %v, want %d and not %d", ids, short.ID, soon.ID)
	}
	if v := govMetric(t, ts.URL, "latchkey_tokens_expiring"); v != 1 {
		t.Errorf("latchkey_tokens_expiring = %v, want 1 (the 3-day token; the expired one no longer counts)", v)
	}

	// The account's longest lifetime caps expires_at and fills it in.
	var acct apitype.Account
	mustDo(t, ts.Admin, http.MethodPost, base+"/settings/", map[string]any{"max_token_lifetime_seconds": 3600}, &acct)
	if acct.MaxTokenLifetimeSeconds != 3600 {
		t.Fatalf("settings = %+v, want max_token_lifetime_seconds 3600", acct)
	}
	_, err = create("too-long", time.Now().Add(2*time.Hour))
	if ae := wantAPIError(t, "expires_at beyond the maximum lifetime", err, http.StatusBadRequest); ae.Field != "expires_at" {
		t.Errorf("field = %q, want expires_at", ae.Field)
	}
	capped, err := create("capped", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if capped.ExpiresAt == nil {
		t.Fatalf("token created under a maximum lifetime has no expires_at")
	}
	if exp, _ := time.Parse(time.RFC3339, *capped.ExpiresAt); time.Until(exp) > time.Hour || time.Until(exp) < 50*time.Minute {
		t.Errorf("capped expires_at = %s, want about an hour from now", *capped.ExpiresAt)
	}
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"leak_action": "ignore"}, "leak_action"},
		{map[string]any{"max_token_lifetime_seconds": -1}, "max_token_lifetime_seconds"},
		{map[string]any{"max_token_lifetime_seconds": "soon"}, "max_token_lifetime_seconds"},
	} {
		_, err := ts.Admin.Do(ctx, http.MethodPost, base+"/settings/", c.body, nil)
		if ae := wantAPIError(t, "settings "+c.field, err, http.StatusBadRequest); ae.Field != c.field {
			t.Errorf("settings %v: field %q, want %q", c.body, ae.Field, c.field)
		}
	}
	stc, _ := ts.serviceToken(t, "reader", client.GrantOn("metadata_only", 0))
	_, err = stc.Do(ctx, http.MethodPost, base+"/settings/", map[string]any{"leak_action": "flag"}, nil)
	wantAPIError(t, "settings without security rights", err, http.StatusForbidden, "security_admin")
	if got := govAudit(t, ts, "event_type=account.updated"); len(got) != 1 || got[0].Context["max_token_lifetime_seconds"] != float64(3600) {
		t.Errorf("account.updated entries = %+v, want exactly one setting the maximum lifetime", got)
	}

	// last_used is collected off the request path and written in batches: not after each
	// request, but on the next flush (here, the graceful shutdown).
	usage, err := create("usage", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r := govWhoamiStatus(t, ts.URL, usage.TokenString, "127.0.0.1", nil); r.Status != http.StatusOK {
			t.Fatalf("whoami: %d", r.Status)
		}
	}
	got, err := ts.Admin.ServiceToken(ctx, ts.AccountID, usage.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastUsed != nil {
		t.Errorf("last_used right after use = %s, want null until the batch is written", *got.LastUsed)
	}
	ts.Restart(t, flags...)
	got, err = ts.Admin.ServiceToken(ctx, ts.AccountID, usage.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastUsed == nil || got.LastUsedIP == nil || *got.LastUsedIP != "127.0.0.1" {
		t.Errorf("after a graceful restart: last_used %v, last_used_ip %v; want a time and 127.0.0.1", got.LastUsed, got.LastUsedIP)
	}

	// The expiry was audited once, across sweeps and across the restart.
	time.Sleep(time.Second)
	govWantAuditOnce(t, ts, "service_token.expired", short.ID)
}

func TestGovernanceBruteForce(t *testing.T) {
	flags := []string{"--auth-failure-burst", "5", "--auth-failure-refill", "1m", "--auth-failure-summary-interval", "1h"}
	ts := startServer(t, "enterprise", flags...)
	_, good := ts.serviceToken(t, "ci", client.GrantOn("metadata_only", 0))
	const bad = "not-a-real-token"
	status := func(tok, src string) govResponse { return govWhoamiStatus(t, ts.URL, tok, src, nil) }

	for i := range 5 {
		if r := status(bad, "127.0.0.2"); r.Status != http.StatusUnauthorized {
			t.Fatalf("bad token %d from 127.0.0.2: status %d, want 401", i+1, r.Status)
		}
	}
	r := status(bad, "127.0.0.2")
	if r.Status != http.StatusTooManyRequests || r.Env.Status.DeveloperMessage != "rate_limited" {
		t.Fatalf("6th bad token from 127.0.0.2: status %d (%s), want 429", r.Status, r.Body)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After = %q, want 1 to 60 seconds", r.Header.Get("Retry-After"))
	}
	// The limiter slows failures, not credentials: a good token from the same address passes.
	if r := status(good.TokenString, "127.0.0.2"); r.Status != http.StatusOK {
		t.Errorf("good token from the blocked address: status %d, want 200", r.Status)
	}
	if r := status(good.TokenString, "127.0.0.3"); r.Status != http.StatusOK {
		t.Errorf("good token from another address: status %d, want 200", r.Status)
	}
	if r := status(bad, "127.0.0.3"); r.Status != http.StatusUnauthorized {
		t.Errorf("one bad token from another address: status %d, want 401", r.Status)
	}
	if v := govMetric(t, ts.URL, `latchkey_auth_failures_total{kind="token",reason="malformed"}`); v != 7 {
		t.Errorf("malformed-token failures counted = %v, want 7 (the refused one is counted too)", v)
	}
	if v := govMetric(t, ts.URL, `latchkey_auth_rate_limited_total{kind="token"}`); v != 1 {
		t.Errorf("rate-limited requests counted = %v, want 1", v)
	}

	// Failures with a token that exists belong to its account and are summarized there.
	_, revoked := ts.serviceToken(t, "old", client.GrantOn("metadata_only", 0))
	if _, err := ts.Admin.DeleteServiceToken(context.Background(), ts.AccountID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r := status(revoked.TokenString, "127.0.0.4"); r.Status != http.StatusUnauthorized {
			t.Fatalf("revoked token: status %d, want 401", r.Status)
		}
	}

	// Sign-ins are limited the same way, per address.
	for i := range 5 {
		if s := govSignIn(t, ts.URL, "127.0.0.5", ts.AdminEmail, "wrong password"); s != http.StatusUnauthorized {
			t.Fatalf("bad password %d: status %d, want 401", i+1, s)
		}
	}
	if s := govSignIn(t, ts.URL, "127.0.0.5", ts.AdminEmail, testAdminPassword); s != http.StatusTooManyRequests {
		t.Errorf("sign-in from the blocked address: status %d, want 429", s)
	}
	if s := govSignIn(t, ts.URL, "127.0.0.6", ts.AdminEmail, testAdminPassword); s != http.StatusSeeOther {
		t.Errorf("sign-in from another address: status %d, want 303", s)
	}

	// Summaries are written once per window (forced here by a graceful restart), one entry per
	// account and address: not one per attempt.
	ts.Restart(t, flags...)
	var summaries []govAuditEntry
	for _, e := range govAudit(t, ts, "event_type=auth.failures_summarized") {
		if e.Context["ip"] == "127.0.0.4" {
			summaries = append(summaries, e)
		}
		if e.Context["ip"] == "127.0.0.2" {
			t.Errorf("malformed tokens were attributed to an account: %+v", e)
		}
	}
	if len(summaries) != 1 || summaries[0].Context["failures"] != float64(3) {
		t.Fatalf("failure summaries for 127.0.0.4 = %+v, want one with 3 failures", summaries)
	}
	if ids, _ := summaries[0].Context["token_ids"].([]any); len(ids) != 1 || ids[0] != float64(revoked.ID) {
		t.Errorf("summary token_ids = %v, want [%d]", summaries[0].Context["token_ids"], revoked.ID)
	}
	signIns := govAudit(t, ts, "event_type=user.sign_in_failed")
	if len(signIns) != 1 || signIns[0].Context["failures"] != float64(5) || signIns[0].ActorIP != "127.0.0.5" {
		t.Errorf("user.sign_in_failed entries = %+v, want one with 5 failures from 127.0.0.5", signIns)
	}
}

var govCSRFRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// govSignIn posts the sign-in form from src and returns the status.
func govSignIn(t testing.TB, baseURL, src, email, password string) int {
	t.Helper()
	get := govRaw(t, src, http.MethodGet, baseURL+"/login", nil, nil)
	m := govCSRFRE.FindSubmatch(get.Body)
	var cookie string
	for _, c := range (&http.Response{Header: get.Header}).Cookies() {
		cookie += c.Name + "=" + c.Value + "; "
	}
	if m == nil || cookie == "" {
		t.Fatalf("sign-in page has no CSRF token (status %d)", get.Status)
	}
	form := url.Values{"email": {email}, "password": {password}, "csrf_token": {string(m[1])}}
	hc := govHTTPFrom(src)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequest(http.MethodPost, baseURL+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", cookie)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// govSignReport signs body as GitHub does: base64 of an ASN.1 ECDSA signature over SHA-256.
func govSignReport(t testing.TB, key *ecdsa.PrivateKey, body []byte) string {
	t.Helper()
	digest := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func TestGovernanceLeakReports(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keysFile := filepath.Join(t.TempDir(), "github-keys.pem")
	if err := os.WriteFile(keysFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Key-Identifier": "test-key-1"}, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, "enterprise", "--github-keys-file", keysFile)
	ctx := context.Background()
	base := pathf("/api/v3/accounts/%d", ts.AccountID)
	_, leaky := ts.serviceToken(t, "leaky", client.GrantOn("metadata_only", 0))
	unknown, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
	if err != nil {
		t.Fatal(err)
	}
	report := func(tokens ...string) []byte {
		var ms []map[string]string
		for _, tk := range tokens {
			ms = append(ms, map[string]string{"token": tk, "type": "latchkey_service_token",
				"url": "https://github.com/acme/app/blob/0123abc/deploy.yml", "source": "content"})
		}
		b, err := json.Marshal(ms)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	post := func(body []byte, keyID, sig string) govResponse {
		h := map[string]string{"Content-Type": "application/json"}
		if keyID != "" {
			h["Github-Public-Key-Identifier"] = keyID
		}
		if sig != "" {
			h["Github-Public-Key-Signature"] = sig
		}
		return govRaw(t, "127.0.0.1", http.MethodPost, ts.URL+"/v1/leaks/github", h, body)
	}

	// Badly signed or unsigned reports are refused and change nothing.
	body := report(leaky.TokenString)
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, keyID, sig string
	}{
		{"signed by another key", "test-key-1", govSignReport(t, otherKey, body)},
		{"signature of another body", "test-key-1", govSignReport(t, key, report(unknown.String))},
		{"unknown key id", "other-key", govSignReport(t, key, body)},
		{"no signature", "", ""},
	} {
		if r := post(body, c.keyID, c.sig); r.Status != http.StatusUnauthorized {
			t.Errorf("leak report %s: status %d (%s), want 401", c.name, r.Status, r.Body)
		}
	}
	if r := govWhoamiStatus(t, ts.URL, leaky.TokenString, "127.0.0.1", nil); r.Status != http.StatusOK {
		t.Fatalf("token after refused reports: status %d, want 200", r.Status)
	}

	// A signed report revokes the token and labels each match.
	body = report(leaky.TokenString, unknown.String, "ghp_notours")
	r := post(body, "test-key-1", govSignReport(t, key, body))
	if r.Status != http.StatusOK {
		t.Fatalf("signed leak report: status %d (%s), want 200", r.Status, r.Body)
	}
	var labels []map[string]string
	if err := json.Unmarshal(r.Body, &labels); err != nil {
		t.Fatalf("leak report answer %s: %v", r.Body, err)
	}
	for i, c := range []struct{ token, label string }{{leaky.TokenString, "true_positive"}, {unknown.String, "false_positive"}, {"ghp_notours", "false_positive"}} {
		sum := sha256.Sum256([]byte(c.token))
		if i >= len(labels) || labels[i]["label"] != c.label || labels[i]["token_hash"] != hex.EncodeToString(sum[:]) || labels[i]["token_type"] != "latchkey_service_token" {
			t.Errorf("label %d = %v, want %s with the token's SHA-256", i, labels, c.label)
		}
	}
	if strings.Contains(string(r.Body), leaky.TokenString) {
		t.Errorf("leak report answer repeats the token")
	}
	if r := govWhoamiStatus(t, ts.URL, leaky.TokenString, "127.0.0.1", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("reported token: status %d, want 401", r.Status)
	}
	leak := govWantAuditOnce(t, ts, "leak.reported", leaky.ID)
	if leak.Context["url"] != "https://github.com/acme/app/blob/0123abc/deploy.yml" || leak.Context["action"] != "revoked" {
		t.Errorf("leak.reported context = %v", leak.Context)
	}
	if rev := govWantAuditOnce(t, ts, "service_token.revoked", leaky.ID); rev.Context["reason"] != "leak_reported" {
		t.Errorf("revocation reason = %v, want leak_reported", rev.Context["reason"])
	}

	// With leak_action "flag" a reported token keeps working and is flagged.
	mustDo(t, ts.Admin, http.MethodPost, base+"/settings/", map[string]any{"leak_action": "flag"}, nil)
	_, flagged := ts.serviceToken(t, "flag-me", client.GrantOn("metadata_only", 0))
	body = report(flagged.TokenString)
	if r := post(body, "test-key-1", govSignReport(t, key, body)); r.Status != http.StatusOK {
		t.Fatalf("signed leak report: status %d, want 200", r.Status)
	}
	if r := govWhoamiStatus(t, ts.URL, flagged.TokenString, "127.0.0.1", nil); r.Status != http.StatusOK {
		t.Errorf("flagged token: status %d, want 200", r.Status)
	}
	if got, err := ts.Admin.ServiceToken(ctx, ts.AccountID, flagged.ID); err != nil || !got.Flagged || got.State != 1 {
		t.Errorf("flagged token = %+v, %v; want flagged and active", got, err)
	}
	govWantAuditOnce(t, ts, "service_token.flagged", flagged.ID)
	if leak := govWantAuditOnce(t, ts, "leak.reported", flagged.ID); leak.Context["action"] != "flagged" {
		t.Errorf("leak.reported action = %v, want flagged", leak.Context["action"])
	}

	// No token string reached the audit log or the logs.
	export, err := runCLI(t, nil, "audit", "export", "--db", ts.DB)
	if err != nil {
		t.Fatalf("audit export: %v\n%s", err, export)
	}
	for _, tk := range []string{leaky.TokenString, flagged.TokenString, unknown.String, ts.AdminToken} {
		if strings.Contains(export, tk) || strings.Contains(ts.Stderr.String(), tk) {
			t.Errorf("a token string appears in the audit log or the server log")
		}
	}
}

func TestGovernanceAuditLog(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	base := pathf("/api/v3/accounts/%d", ts.AccountID)
	if _, err := ts.Admin.CreateProject(ctx, ts.AccountID, "analytics", ""); err != nil {
		t.Fatal(err)
	}
	reader, tok := ts.serviceToken(t, "reader", client.GrantOn("metadata_only", 0))
	if _, err := ts.Admin.RenameServiceToken(ctx, ts.AccountID, tok.ID, "reader-2"); err != nil {
		t.Fatal(err)
	}
	me, err := ts.Admin.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin := me.UserID

	all := govAudit(t, ts, "")
	if len(all) < 3 {
		t.Fatalf("audit log holds %d entries, want at least 3", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Fatalf("audit log is not newest first: %d then %d", all[i-1].ID, all[i].ID)
		}
	}
	for _, c := range []struct {
		query string
		check func(govAuditEntry) bool
		min   int
	}{
		{"event_type=service_token.created", func(e govAuditEntry) bool { return e.EventType == "service_token.created" }, 1},
		{"event_type=service_token.*", func(e govAuditEntry) bool { return strings.HasPrefix(e.EventType, "service_token.") }, 2},
		{pathf("actor=user:%d", admin), func(e govAuditEntry) bool { return e.ActorType == "user" && e.ActorID == admin }, 3},
		{"since=" + url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)), func(govAuditEntry) bool { return true }, len(all)},
	} {
		got := govAudit(t, ts, c.query)
		if len(got) < c.min {
			t.Errorf("audit log ?%s: %d entries, want at least %d", c.query, len(got), c.min)
		}
		for _, e := range got {
			if !c.check(e) {
				t.Errorf("audit log ?%s returned %+v", c.query, e)
			}
		}
	}
	if got := govAudit(t, ts, "until="+url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))); len(got) != 0 {
		t.Errorf("audit log until an hour ago: %d entries, want 0", len(got))
	}
	var page []govAuditEntry
	env := mustDo(t, ts.Admin, http.MethodGet, base+"/audit-logs/?limit=1&offset=1", nil, &page)
	var extra apitype.ListExtra
	_ = json.Unmarshal(env.Extra, &extra)
	if len(page) != 1 || page[0].ID != all[1].ID || extra.Pagination.TotalCount != len(all) {
		t.Errorf("page limit=1 offset=1 = %+v (total %d), want entry %d of %d", page, extra.Pagination.TotalCount, all[1].ID, len(all))
	}
	_, err = ts.Admin.Do(ctx, http.MethodGet, base+"/audit-logs/?since=yesterday", nil, nil)
	if ae := wantAPIError(t, "bad since", err, http.StatusBadRequest); ae.Field != "since" {
		t.Errorf("field = %q, want since", ae.Field)
	}
	_, err = reader.Do(ctx, http.MethodGet, base+"/audit-logs/", nil, nil)
	wantAPIError(t, "audit log without audit_logs:read", err, http.StatusForbidden, "audit_logs")

	// No interface edits or deletes entries.
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		for _, p := range []string{base + "/audit-logs/", pathf("%s/audit-logs/%d/", base, all[0].ID)} {
			r := govRaw(t, "127.0.0.1", m, ts.URL+p, map[string]string{"Authorization": "Token " + ts.AdminToken, "Content-Type": "application/json"}, []byte(`{}`))
			if r.Status < 400 {
				t.Errorf("%s %s: status %d, want an error", m, p, r.Status)
			}
		}
	}
	if n := len(govAudit(t, ts, "")); n != len(all) {
		t.Errorf("audit log holds %d entries after write attempts, want %d", n, len(all))
	}

	// Export: JSON lines, oldest first, every field.
	out, err := runCLI(t, nil, "audit", "export", "--since", "1h", "--db", ts.DB)
	if err != nil {
		t.Fatalf("audit export: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(all) {
		t.Fatalf("audit export printed %d lines, want %d", len(lines), len(all))
	}
	for i, line := range lines {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("export line %d is not JSON: %v", i+1, err)
		}
		for _, f := range []string{"id", "account_id", "created_at", "event_type", "actor_type", "actor_id", "actor_name", "actor_ip", "source", "context", "prev_hash", "hash"} {
			if _, ok := fields[f]; !ok {
				t.Errorf("export line %d lacks %s: %s", i+1, f, line)
			}
		}
		if want := all[len(all)-1-i].ID; fields["id"] != float64(want) {
			t.Errorf("export line %d has id %v, want %d (oldest first)", i+1, fields["id"], want)
		}
	}
	if out, err := runCLI(t, nil, "audit", "export", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--db", ts.DB); err != nil || out != "" {
		t.Errorf("audit export --since in the future = %q, %v; want nothing", out, err)
	}

	// Verify: intact, then broken by an edit made behind latchkey's back.
	if out, err := runCLI(t, nil, "audit", "verify", "--db", ts.DB); err != nil || !strings.Contains(out, "intact") {
		t.Fatalf("audit verify on an untouched log = %q, %v", out, err)
	}
	db, err := sql.Open("sqlite", sqlite.DSN(ts.DB))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	victim := all[len(all)/2].ID
	if _, err := db.Exec(`UPDATE audit_log SET actor_name = 'mallory' WHERE id = ?`, victim); err == nil {
		t.Fatalf("UPDATE audit_log succeeded with the append-only trigger in place")
	}
	if _, err := db.Exec(`DROP TRIGGER audit_log_no_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_log SET actor_name = 'mallory' WHERE id = ?`, victim); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, nil, "audit", "verify", "--db", ts.DB)
	if err == nil {
		t.Fatalf("audit verify after tampering succeeded: %q", out)
	}
	if want := pathf("entry %d", victim); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "altered") {
		t.Errorf("audit verify error = %q, want it to name %s as altered", err, want)
	}
}
