package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
)

// A token's rate limits, set through the API, are enforced by forward-auth (429 with Retry-After
// and the RateLimit fields), /v1/check (reason rate_limited with what is left), introspection
// (inactive, reason rate_limited) and latchkey's own API.
func TestRateLimitsThroughTheAPI(t *testing.T) {
	e := forwardEnv(t, "nginx")
	const month = 30 * 24 * 3600 // a window no test run crosses in practice
	limits := func(name string, limit, secs any) []map[string]any {
		return []map[string]any{{"name": name, "limit": limit, "duration_seconds": secs}}
	}
	for _, tt := range []struct {
		name   string
		limits any
		field  string
	}{
		{"zero limit", limits("api", 0, 1), "rate_limits[0].limit"},
		{"negative limit", limits("api", -1, 1), "rate_limits[0].limit"},
		{"zero window", limits("api", 1, 0), "rate_limits[0].duration_seconds"},
		{"window over 30 days", limits("api", 1, month+1), "rate_limits[0].duration_seconds"},
		{"window that overflows", limits("api", 1, int64(1)<<62), "rate_limits[0].duration_seconds"},
		{"no name", limits("", 1, 1), "rate_limits[0].name"},
		{"bad name", limits("a b", 1, 1), "rate_limits[0].name"},
		{"eleven limits", func() (out []map[string]any) {
			for i := range 11 {
				out = append(out, map[string]any{"name": "l" + strconv.Itoa(i), "limit": 1, "duration_seconds": 1})
			}
			return out
		}(), "rate_limits"},
	} {
		status, env := e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/service-tokens/"), map[string]any{"name": "bad", "rate_limits": tt.limits})
		var data struct{ Field string }
		json.Unmarshal(env.Data, &data)
		if status != http.StatusBadRequest || data.Field != tt.field {
			t.Errorf("%s: %d field %q (%s), want 400 naming %s", tt.name, status, data.Field, env.Status.UserMessage, tt.field)
		}
	}

	status, env := e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/service-tokens/"), map[string]any{
		"name":              "limited",
		"permission_grants": []map[string]any{{"permission_set": "job_admin", "project_id": e.fx.Project}},
		"rate_limits":       limits("api", 3, month),
	})
	wantStatus(t, "create a limited token", status, env, http.StatusCreated)
	var tok apitype.Token
	if err := json.Unmarshal(env.Data, &tok); err != nil {
		t.Fatal(err)
	}
	if len(tok.RateLimits) != 1 || tok.RateLimits[0] != (apitype.RateLimit{Name: "api", Limit: 3, DurationSeconds: month}) {
		t.Fatalf("created token's rate_limits = %+v", tok.RateLimits)
	}
	jobs := map[string]string{"X-Original-Method": "GET", "X-Original-Uri": "/api/projects/" + strconv.FormatInt(e.fx.Project, 10) + "/jobs/5"}
	forward := func() goldenResponse {
		req, _ := http.NewRequest(http.MethodGet, e.http.URL+ForwardAuthPath, nil)
		req.Header.Set("Authorization", "Token "+tok.TokenString)
		for k, v := range jobs {
			req.Header.Set(k, v)
		}
		return e.send(t, req)
	}
	for i := range 2 {
		r := forward()
		if r.status != http.StatusOK {
			t.Fatalf("forward-auth %d: %d %s", i+1, r.status, r.header.Get("X-Latchkey-Reason"))
		}
		if got, want := r.header.Get("RateLimit-Policy"), `"api";q=3;w=2592000`; got != want {
			t.Errorf("RateLimit-Policy = %q, want %q", got, want)
		}
		if got, want := r.header.Get("RateLimit"), `"api";r=`+strconv.Itoa(2-i)+`;t=`; !strings.HasPrefix(got, want) {
			t.Errorf("RateLimit = %q, want it to start %q", got, want)
		}
	}

	// /v1/check counts the third use and reports what is left.
	check := func() apitype.CheckResult {
		t.Helper()
		status, body := e.rawAPI(t, e.fx.AdminPAT, http.MethodPost, "/v1/check", map[string]any{
			"token": tok.TokenString, "resource": "jobs", "access": "read", "project_id": e.fx.Project, "limit": "api"})
		if status != http.StatusOK {
			t.Fatalf("/v1/check: %d %s", status, body)
		}
		var res apitype.CheckResult
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := check(); !res.Allowed || len(res.RateLimits) != 1 || res.RateLimits[0].Remaining != 0 || res.RateLimits[0].Limit != 3 {
		t.Errorf("/v1/check of the third use = %+v, want allowed with 0 remaining", res)
	}
	if res := check(); res.Allowed || res.Reason != "rate_limited" || res.RetryAfterSeconds <= 0 || len(res.RateLimits) != 1 {
		t.Errorf("/v1/check over the limit = %+v, want refused rate_limited with retry_after_seconds", res)
	}
	r := forward()
	if r.status != http.StatusTooManyRequests || r.header.Get("X-Latchkey-Reason") != "rate_limited" || r.header.Get("Retry-After") == "" ||
		!strings.HasPrefix(r.header.Get("RateLimit"), `"api";r=0;t=`) {
		t.Errorf("forward-auth over the limit: %d %s, Retry-After %q, RateLimit %q; want 429 rate_limited with both",
			r.status, r.header.Get("X-Latchkey-Reason"), r.header.Get("Retry-After"), r.header.Get("RateLimit"))
	}
	// Introspection says inactive, and why.
	req, _ := http.NewRequest(http.MethodPost, e.http.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tok.TokenString}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Token "+e.fx.AdminPAT)
	if r := e.send(t, req); r.status != http.StatusOK || string(r.body) != `{"active":false,"reason":"rate_limited"}`+"\n" {
		t.Errorf("introspection over the limit: %d %s", r.status, r.body)
	}
	// latchkey's own API refuses the token too, with Retry-After.
	status, env = e.api(t, tok.TokenString, http.MethodGet, e.path("/projects/"), nil)
	wantStatus(t, "the API with a token over its limit", status, env, http.StatusTooManyRequests)

	// Raising the limit keeps what was counted: 3 used, 2 more fit.
	status, env = e.api(t, e.fx.AdminPAT, http.MethodPut, e.path("/service-tokens/%d/", tok.ID), map[string]any{"name": "limited", "rate_limits": limits("api", 5, month)})
	wantStatus(t, "raise the limit", status, env, http.StatusOK)
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		if r := forward(); r.status != want {
			t.Errorf("forward-auth %d after raising the limit to 5: %d, want %d", i+1, r.status, want)
		}
	}
	// Removing the limits lifts them.
	status, env = e.api(t, e.fx.AdminPAT, http.MethodPut, e.path("/service-tokens/%d/", tok.ID), map[string]any{"name": "limited", "rate_limits": []any{}})
	wantStatus(t, "remove the limits", status, env, http.StatusOK)
	if r := forward(); r.status != http.StatusOK || r.header.Get("RateLimit") != "" {
		t.Errorf("forward-auth without limits: %d, RateLimit %q; want 200 without the field", r.status, r.header.Get("RateLimit"))
	}
	// A bad cost or limit name in a check is the caller's mistake.
	for _, body := range []map[string]any{{"cost": 0}, {"cost": -3}, {"limit": "a b"}} {
		body["token"], body["resource"], body["access"] = tok.TokenString, "jobs", "read"
		if status, b := e.rawAPI(t, e.fx.AdminPAT, http.MethodPost, "/v1/check", body); status != http.StatusBadRequest {
			t.Errorf("/v1/check with %v: %d %s, want 400", body, status, b)
		}
	}
}

// An account's default_rate_limits are set through the settings API (security rights, bad input
// named) and apply to service tokens without limits of their own, never to PATs.
func TestAccountDefaultRateLimitsThroughTheAPI(t *testing.T) {
	e := newRegEnv(t)
	limits := []map[string]any{{"name": "default", "limit": 2, "duration_seconds": 30 * 24 * 3600}}
	status, env := e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/settings/"), map[string]any{"default_rate_limits": []map[string]any{{"name": "x", "limit": 0, "duration_seconds": 1}}})
	var data struct{ Field string }
	json.Unmarshal(env.Data, &data)
	if status != http.StatusBadRequest || data.Field != "default_rate_limits[0].limit" {
		t.Errorf("a zero default limit: %d field %q, want 400 naming default_rate_limits[0].limit", status, data.Field)
	}
	status, env = e.api(t, e.member.pat, http.MethodPost, e.path("/settings/"), map[string]any{"default_rate_limits": []any{}})
	wantStatus(t, "a member changing default limits", status, env, http.StatusForbidden)
	status, env = e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/settings/"), map[string]any{"default_rate_limits": limits})
	wantStatus(t, "set default limits", status, env, http.StatusOK)
	var acct apitype.Account
	if err := json.Unmarshal(env.Data, &acct); err != nil {
		t.Fatal(err)
	}
	if len(acct.DefaultRateLimits) != 1 || acct.DefaultRateLimits[0].Limit != 2 {
		t.Fatalf("account default_rate_limits = %+v", acct.DefaultRateLimits)
	}
	// The fixture's service token has no limits of its own: the default applies.
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		status, env := e.api(t, e.fx.Svc, http.MethodGet, "/api/v3/whoami/", nil)
		if status != want {
			t.Errorf("service token use %d under a default limit of 2: %d (%s), want %d", i+1, status, env.Status.UserMessage, want)
		}
	}
	// PATs are people's: the default never applies to them.
	for i := range 4 {
		if status, env := e.api(t, e.fx.ReaderPAT, http.MethodGet, "/api/v3/whoami/", nil); status != http.StatusOK {
			t.Errorf("PAT use %d with a default of 2: %d (%s), want 200", i+1, status, env.Status.UserMessage)
		}
	}
}

// A token's credits, set through the API, are spent at every verification point and refused
// with usage_exceeded when used up; a PUT tops them up; bad input is named.
func TestCreditsThroughTheAPI(t *testing.T) {
	e := forwardEnv(t, "nginx")
	for _, tt := range []struct {
		name    string
		credits any
		field   string
	}{
		{"negative", map[string]any{"remaining": -1}, "credits.remaining"},
		{"no remaining", map[string]any{}, "credits.remaining"},
		{"weekly", map[string]any{"remaining": 1, "refill": map[string]any{"amount": 5, "interval": "weekly"}}, "credits.refill.interval"},
		{"no amount", map[string]any{"remaining": 1, "refill": map[string]any{"interval": "daily"}}, "credits.refill.amount"},
		{"day 0", map[string]any{"remaining": 1, "refill": map[string]any{"amount": 5, "interval": "monthly"}}, "credits.refill.day"},
		{"unknown member", map[string]any{"remaining": 1, "extra": true}, "credits"},
		{"not an object", "lots", "credits"},
	} {
		status, env := e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/service-tokens/"), map[string]any{"name": "bad", "credits": tt.credits})
		var data struct{ Field string }
		json.Unmarshal(env.Data, &data)
		if status != http.StatusBadRequest || data.Field != tt.field {
			t.Errorf("%s: %d field %q (%s), want 400 naming %s", tt.name, status, data.Field, env.Status.UserMessage, tt.field)
		}
	}
	status, env := e.api(t, e.fx.AdminPAT, http.MethodPost, e.path("/service-tokens/"), map[string]any{
		"name":              "metered",
		"permission_grants": []map[string]any{{"permission_set": "job_admin", "project_id": e.fx.Project}},
		"credits":           map[string]any{"remaining": 2, "refill": map[string]any{"amount": 1000, "interval": "monthly", "day": 1}},
	})
	wantStatus(t, "create a metered token", status, env, http.StatusCreated)
	var tok apitype.Token
	if err := json.Unmarshal(env.Data, &tok); err != nil {
		t.Fatal(err)
	}
	if c := tok.Credits; c == nil || c.Remaining != 2 || c.Refill == nil || *c.Refill != (apitype.Refill{Amount: 1000, Interval: "monthly", Day: 1}) {
		t.Fatalf("created credits = %+v", tok.Credits)
	}
	check := func() apitype.CheckResult {
		t.Helper()
		status, body := e.rawAPI(t, e.fx.AdminPAT, http.MethodPost, "/v1/check", map[string]any{
			"token": tok.TokenString, "resource": "jobs", "access": "read", "project_id": e.fx.Project})
		var res apitype.CheckResult
		if status != http.StatusOK || json.Unmarshal(body, &res) != nil {
			t.Fatalf("/v1/check: %d %s", status, body)
		}
		return res
	}
	if res := check(); !res.Allowed || res.CreditsRemaining == nil || *res.CreditsRemaining != 1 {
		t.Errorf("/v1/check with 2 credits = %+v, want allowed with 1 left", res)
	}
	if res := check(); !res.Allowed || *res.CreditsRemaining != 0 {
		t.Errorf("/v1/check with 1 credit = %+v, want allowed with 0 left", res)
	}
	if res := check(); res.Allowed || res.Reason != "usage_exceeded" || res.RetryAfterSeconds <= 0 {
		t.Errorf("/v1/check with none = %+v, want usage_exceeded with retry_after_seconds (the refill)", res)
	}
	req, _ := http.NewRequest(http.MethodGet, e.http.URL+ForwardAuthPath, nil)
	req.Header.Set("Authorization", "Token "+tok.TokenString)
	req.Header.Set("X-Original-Method", "GET")
	req.Header.Set("X-Original-Uri", "/api/projects/"+strconv.FormatInt(e.fx.Project, 10)+"/jobs/5")
	if r := e.send(t, req); r.status != http.StatusTooManyRequests || r.header.Get("X-Latchkey-Reason") != "usage_exceeded" || r.header.Get("Retry-After") == "" {
		t.Errorf("forward-auth without credits: %d %s Retry-After %q, want 429 usage_exceeded with Retry-After",
			r.status, r.header.Get("X-Latchkey-Reason"), r.header.Get("Retry-After"))
	}
	status, env = e.api(t, tok.TokenString, http.MethodGet, e.path("/projects/"), nil)
	wantStatus(t, "the API without credits", status, env, http.StatusTooManyRequests)
	// Sending the object read back (with the balance it read) changes no credits.
	stale := map[string]any{"name": "metered", "credits": map[string]any{"remaining": 2, "refill": map[string]any{"amount": 1000, "interval": "monthly", "day": 1}}}
	status, env = e.api(t, e.fx.AdminPAT, http.MethodPut, e.path("/service-tokens/%d/", tok.ID), stale)
	wantStatus(t, "send the token back", status, env, http.StatusOK)
	if res := check(); res.Allowed || res.Reason != "usage_exceeded" {
		t.Errorf("/v1/check after a PUT of the object read = %+v, want still usage_exceeded", res)
	}
	// PUT …/credits/ tops up at once; DELETE removes them.
	for _, bad := range []any{nil, map[string]any{"remaining": -5}} {
		status, env = e.api(t, e.fx.AdminPAT, http.MethodPut, e.path("/service-tokens/%d/credits/", tok.ID), bad)
		wantStatus(t, fmt.Sprintf("set credits to %v", bad), status, env, http.StatusBadRequest)
	}
	status, env = e.api(t, e.fx.AdminPAT, http.MethodPut, e.path("/service-tokens/%d/credits/", tok.ID), map[string]any{"remaining": 1})
	wantStatus(t, "top up", status, env, http.StatusOK)
	if res := check(); !res.Allowed || *res.CreditsRemaining != 0 {
		t.Errorf("/v1/check after a top-up to 1 = %+v, want allowed with 0 left", res)
	}
	status, env = e.api(t, e.fx.AdminPAT, http.MethodDelete, e.path("/service-tokens/%d/credits/", tok.ID), nil)
	wantStatus(t, "remove credits", status, env, http.StatusOK)
	if res := check(); !res.Allowed || res.CreditsRemaining != nil {
		t.Errorf("/v1/check without credits = %+v, want allowed with no credits reported", res)
	}
}

// rawAPI sends a JSON request with a token and returns the status and raw body.
func (e *regEnv) rawAPI(t *testing.T, token, method, path string, body any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, e.http.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Token "+token)
	r := e.send(t, req)
	return r.status, r.body
}

// FuzzCreditsOf: a credits member from the network never panics the parser, and what it accepts
// is valid.
func FuzzCreditsOf(f *testing.F) {
	f.Add(`{"remaining":10}`)
	f.Add(`{"remaining":1,"refill":{"amount":5,"interval":"monthly","day":31}}`)
	f.Add(`null`)
	f.Add(`{"remaining":-1,"refill":{}}`)
	f.Add(`[1,2]`)
	f.Fuzz(func(t *testing.T, s string) {
		c, _, err := creditsOf(json.RawMessage(s))
		if err != nil || c == nil {
			return
		}
		if err := latchkey.ValidateCredits("credits", c); err != nil {
			t.Fatalf("creditsOf(%q) accepted invalid credits: %v", s, err)
		}
	})
}

// A personal access token's limits and credits are changed after creation by its owner, and
// apply at once to its next uses; nobody else may change them.
func TestPATLimitsAndCreditsChangedThroughTheAPI(t *testing.T) {
	e := newRegEnv(t)
	pat := e.path("/users/%d/account-apikeys/%d/", e.fx.ReaderUser, e.fx.ReaderPATID)
	status, env := e.api(t, e.fx.ReaderPAT, http.MethodPost, e.path("/users/%d/account-apikeys/", e.fx.ReaderUser), map[string]any{"name": "second"})
	wantStatus(t, "the owner's second PAT", status, env, http.StatusCreated)
	var created apitype.Token
	if err := json.Unmarshal(env.Data, &created); err != nil || created.TokenString == "" {
		t.Fatalf("second PAT: %v %s", err, env.Data)
	}
	second := created.TokenString
	status, env = e.api(t, e.fx.AdminPAT, http.MethodPut, pat, map[string]any{"rate_limits": []any{}})
	wantStatus(t, "an administrator changing another user's PAT", status, env, http.StatusForbidden)
	status, env = e.api(t, e.fx.ReaderPAT, http.MethodPut, pat, map[string]any{"rate_limits": []map[string]any{{"name": "api", "limit": 3, "duration_seconds": 30 * 24 * 3600}}})
	wantStatus(t, "the owner setting a limit", status, env, http.StatusOK)
	// The PUT was verified before the limit existed: three uses pass, the fourth is refused.
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		if status, env := e.api(t, e.fx.ReaderPAT, http.MethodGet, "/api/v3/whoami/", nil); status != want {
			t.Errorf("PAT use %d under a limit of 3: %d (%s), want %d", i+1, status, env.Status.UserMessage, want)
		}
	}
	// The limited token cannot lift its own limit (the PUT is a use too): the owner does it with
	// another of their tokens.
	status, env = e.api(t, second, http.MethodPut, pat, map[string]any{"rate_limits": []any{}, "name": "reader script"})
	wantStatus(t, "the owner removing the limit with another PAT", status, env, http.StatusOK)
	if status, env := e.api(t, e.fx.ReaderPAT, http.MethodGet, "/api/v3/whoami/", nil); status != http.StatusOK {
		t.Errorf("PAT use after its limit was removed: %d (%s)", status, env.Status.UserMessage)
	}
	status, env = e.api(t, second, http.MethodPut, pat+"credits/", map[string]any{"remaining": 1})
	wantStatus(t, "the owner setting credits", status, env, http.StatusOK)
	for i, want := range []int{http.StatusOK, http.StatusTooManyRequests} {
		if status, env := e.api(t, e.fx.ReaderPAT, http.MethodGet, "/api/v3/whoami/", nil); status != want {
			t.Errorf("PAT use %d with 1 credit: %d (%s), want %d", i+1, status, env.Status.UserMessage, want)
		}
	}
	status, env = e.api(t, second, http.MethodDelete, pat+"credits/", nil)
	wantStatus(t, "the owner removing credits", status, env, http.StatusOK)
	if status, env := e.api(t, e.fx.ReaderPAT, http.MethodGet, "/api/v3/whoami/", nil); status != http.StatusOK {
		t.Errorf("PAT use after its credits were removed: %d (%s)", status, env.Status.UserMessage)
	}
}
