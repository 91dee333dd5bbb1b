package faultstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/internal/faultstore"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/verify"
)

// checkAnswer is what a 200 from /v1/check says.
type checkAnswer struct {
	Allowed bool
	Reason  string
	TokenID int64
}

func (a checkAnswer) String() string {
	return fmt.Sprintf("allowed %v, reason %q, token %d", a.Allowed, a.Reason, a.TokenID)
}

type checkQuestion struct{ resource, access, clientIP string }

// httpToken is a token /v1/check is asked about.
type httpToken struct {
	name, secret string
	id           int64
	// revoking is set before the token is revoked during the run, revoked once that committed.
	revoking, revoked atomic.Bool
}

// The HTTP layer under faults: a real server (verifier, rate limits and background work as
// served) over the faulty store on a loopback listener. Goroutines ask /v1/check about valid,
// IP-restricted, revoked, expired, unknown and foreign tokens, as a gateway would with the owner's
// PAT or a service token holding service_tokens:read, while tokens are revoked; meanwhile
// tokens are created, listed and deleted through the admin API. Every answer is checked:
//
//   - a 200 from /v1/check carries exactly the answer the same server gives without faults, or,
//     for a token whose revocation committed before the request, "revoked";
//   - a storage failure is a 503 with Retry-After and, from /v1/check, reason "unavailable":
//     never a 500, never another status, never a 200 with allowed false and reason "error";
//   - an admin call answered 503 changed nothing, and one answered 2xx did what it said.
func TestHTTPUnderFaults(t *testing.T) {
	eachStore(t, func(t *testing.T, inner latchkey.Store) {
		s := seed(t)
		rng := rand.New(rand.NewPCG(s, 3))
		a := newWorld(t, inner, "Acme", "owner@acme.test")
		other := newWorld(t, inner, "Globex", "owner@globex.test")
		_, checkerSvc := a.serviceToken("gateway", admin.NewToken{Grants: []latchkey.Grant{{PermissionSet: "account_viewer", AllProjects: true}}})
		checkers := []string{a.ownerPAT, checkerSvc}

		var tokens []*httpToken
		add := func(name, secret string, id int64) *httpToken {
			h := &httpToken{name: name, secret: secret, id: id}
			tokens = append(tokens, h)
			return h
		}
		for i := range 3 {
			tok, secret := a.serviceToken(fmt.Sprintf("valid-%d", i), admin.NewToken{Grants: []latchkey.Grant{jobAdmin}})
			add(tok.Name, secret, tok.ID)
		}
		tok, secret := a.serviceToken("ranged", admin.NewToken{Grants: []latchkey.Grant{jobAdmin}, AllowedCIDRs: ranges10()})
		add(tok.Name, secret, tok.ID)
		var revocable []*httpToken
		for i := range 4 {
			tok, secret := a.serviceToken(fmt.Sprintf("revoke-later-%d", i), admin.NewToken{Grants: []latchkey.Grant{jobAdmin}})
			revocable = append(revocable, add(tok.Name, secret, tok.ID))
		}
		tok, secret = a.serviceToken("revoked", admin.NewToken{Grants: []latchkey.Grant{jobAdmin}})
		ownerCtx, ownerP := a.as(a.owner.ID)
		if _, err := a.svc.DeleteToken(ownerCtx, ownerP, admin.ServiceTokenRef(tok.ID)); err != nil {
			t.Fatal(err)
		}
		add(tok.Name, secret, tok.ID)
		past := time.Now().Add(-time.Hour)
		add("expired", a.rawToken(&latchkey.Token{Kind: latchkey.KindServiceToken, Name: "expired", ExpiresAt: &past,
			Grants: []latchkey.Grant{jobAdmin}}), 0)
		add("unknown", unknownToken(t), 0)
		member := a.addMember("dev@acme.test", latchkey.LicenseDeveloper, latchkey.GroupMember)
		tok, secret = a.pat(member.ID, "dev laptop")
		add("pat", secret, tok.ID)
		tok, secret = other.serviceToken("foreign", admin.NewToken{Grants: []latchkey.Grant{jobAdmin}})
		add("foreign", secret, tok.ID)

		questions := []checkQuestion{{"jobs", "read", ""}, {"jobs", "read", "10.1.2.3"}, {"jobs", "read", "192.0.2.7"},
			{"service_tokens", "write", ""}}

		fs := faultstore.Wrap(inner, faultstore.Options{ErrorRate: *faultRate, MaxLatency: 2 * time.Millisecond, Seed: s, Disabled: true})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		v := verify.New(fs, verify.Options{TTL: 50 * time.Millisecond, NegativeTTL: 50 * time.Millisecond})
		t.Cleanup(fs.Subscribe(v.Invalidate))
		go v.Run(ctx)
		srv, err := server.New(server.Config{Store: fs, Verifier: v, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "faults"})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		runDone := make(chan error, 1)
		rctx, stop := context.WithCancel(ctx)
		go func() { runDone <- srv.Run(rctx) }()
		t.Cleanup(func() {
			fs.SetEnabled(false) // the last flush of background work is not under test
			hs.Close()
			stop()
			if err := <-runDone; err != nil {
				t.Logf("server run: %v", err)
			}
		})
		client := hs.Client()

		check := func(checker string, tok *httpToken, q checkQuestion) (*http.Response, []byte, error) {
			body := map[string]any{"token": tok.secret, "resource": q.resource, "access": q.access}
			if q.clientIP != "" {
				body["client_ip"] = q.clientIP
			}
			return do(client, http.MethodPost, hs.URL+"/v1/check", checker, body, "")
		}
		parse := func(b []byte) (checkAnswer, error) {
			var res struct {
				Allowed   bool   `json:"allowed"`
				Reason    string `json:"reason"`
				Principal *struct {
					TokenID int64 `json:"token_id"`
				} `json:"principal"`
			}
			if err := json.Unmarshal(b, &res); err != nil {
				return checkAnswer{}, err
			}
			ans := checkAnswer{Allowed: res.Allowed, Reason: res.Reason}
			if res.Principal != nil {
				ans.TokenID = res.Principal.TokenID
			}
			return ans, nil
		}

		// The answers without faults, from the same server.
		want := map[[2]int]checkAnswer{}
		for i, tok := range tokens {
			for j, q := range questions {
				resp, b, err := check(checkers[0], tok, q)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("without faults: check(%s, %+v) = %v %v %s", tok.name, q, status(resp), err, b)
				}
				if want[[2]int{i, j}], err = parse(b); err != nil {
					t.Fatal(err)
				}
			}
		}
		sanity := map[string]string{"valid-0": "ok", "revoked": "revoked", "expired": "expired", "unknown": "not_found",
			"foreign": "not_found", "pat": "ok", "revoke-later-0": "ok"}
		for i, tok := range tokens {
			if r, ok := sanity[tok.name]; ok && want[[2]int{i, 0}].Reason != r {
				t.Fatalf("without faults: check(%s) = %v, want reason %q", tok.name, want[[2]int{i, 0}], r)
			}
		}
		if got := want[[2]int{3, 2}]; got.Reason != "ip_denied" {
			t.Fatalf("without faults: check(ranged from 192.0.2.7) = %v, want reason ip_denied", got)
		}

		var fmu sync.Mutex
		var found findings
		wrong := func(key, format string, args ...any) {
			fmu.Lock()
			found.add(key, format, args...)
			fmu.Unlock()
		}
		var statuses sync.Map // status → *atomic.Int64
		count := func(route string, code int) {
			c, _ := statuses.LoadOrStore(fmt.Sprintf("%s %d", route, code), new(atomic.Int64))
			c.(*atomic.Int64).Add(1)
		}
		// expectOutage checks a failed answer: 503 with Retry-After.
		expectOutage := func(what string, resp *http.Response, b []byte) {
			if resp.StatusCode != http.StatusServiceUnavailable {
				wrong(fmt.Sprintf("%s answered %d", what, resp.StatusCode), "%s: %d %s", what, resp.StatusCode, b)
				return
			}
			if resp.Header.Get("Retry-After") == "" {
				wrong(what+" answered 503 without Retry-After", "%s: %s", what, b)
			}
		}

		fs.SetEnabled(true)
		// The checks go on until the admin calls are done and at least total have been made,
		// spaced out so that cache entries expire and storage is read.
		total := *faultOps * 6
		var done atomic.Int64
		var adminDone atomic.Bool
		var wg sync.WaitGroup
		for g := range 6 {
			wrng := rand.New(rand.NewPCG(s, uint64(g)+10))
			wg.Go(func() {
				for done.Add(1) <= int64(total) || !adminDone.Load() {
					time.Sleep(time.Duration(wrng.IntN(2000)) * time.Microsecond)
					i, j := wrng.IntN(len(tokens)), wrng.IntN(len(questions))
					tok, q := tokens[i], questions[j]
					revoked := tok.revoked.Load()
					resp, b, err := check(checkers[wrng.IntN(len(checkers))], tok, q)
					if err != nil {
						wrong("a /v1/check request failed", "%v", err)
						continue
					}
					count("check", resp.StatusCode)
					what := fmt.Sprintf("check(%s, %+v)", tok.name, q)
					if resp.StatusCode != http.StatusOK {
						expectOutage("/v1/check", resp, b)
						if ans, err := parse(b); err == nil && ans.Reason != "" && ans.Reason != "unavailable" {
							wrong(fmt.Sprintf("/v1/check answered %d with reason %q", resp.StatusCode, ans.Reason), "%s: %s", what, b)
						}
						continue
					}
					got, err := parse(b)
					if err != nil {
						wrong("/v1/check answered 200 with a body that does not parse", "%s: %s", what, b)
						continue
					}
					exp := want[[2]int{i, j}]
					late := checkAnswer{Reason: "revoked"}
					switch {
					case got == exp && !revoked:
					case got == late && tok.revoking.Load():
					default:
						wrong(fmt.Sprintf("/v1/check answered 200 wrongly (reason %q)", got.Reason), "%s = %v, want %v (revoked before the request: %v)",
							what, got, exp, revoked)
					}
				}
			})
		}

		// The admin API, one call at a time, while the checks run; revocations spread over it.
		created := map[string]int64{}
		var live []string
		var members []*latchkey.Membership
		steps := max(*faultOps/2, 12)
		revokeEvery := steps / (len(revocable) + 1)
		for step := range steps {
			if k := step/revokeEvery - 1; step%revokeEvery == 0 && k >= 0 && k < len(revocable) {
				c := revocable[k]
				c.revoking.Store(true)
				if _, err := a.svc.DeleteToken(ownerCtx, ownerP, admin.ServiceTokenRef(c.id)); err != nil {
					t.Fatalf("revoking %s: %v", c.name, err)
				}
				c.revoked.Store(true)
			}
			base := hs.URL + "/api/v3/accounts/" + strconv.FormatInt(a.account.ID, 10)
			switch op := rng.IntN(6); {
			case op == 4:
				email := fmt.Sprintf("h%d@acme.test", step)
				resp, b, err := do(client, http.MethodPost, base+"/users/", a.ownerPAT, map[string]any{"email": email, "license_type": "read_only"}, "")
				if err != nil {
					t.Fatal(err)
				}
				count("add member", resp.StatusCode)
				m := membershipOf(t, inner, a.account.ID, email)
				switch resp.StatusCode {
				case http.StatusCreated:
					if m == nil || m.State != latchkey.StateActive {
						wrong("a member added with 201 is not a member", "add %s: %s; membership %+v", email, b, m)
					} else {
						members = append(members, m)
					}
				default:
					expectOutage("POST users", resp, b)
					if m != nil {
						wrong(fmt.Sprintf("adding a member answered %d added them", resp.StatusCode), "add %s: %s; membership %+v", email, b, m)
					}
				}
			case op == 5 && len(members) > 0:
				m := members[rng.IntN(len(members))]
				cur, err := inner.FindMemberships(context.Background(), latchkey.MembershipFilter{ID: &m.ID})
				if err != nil || len(cur) != 1 {
					t.Fatalf("membership %d: %v %v", m.ID, cur, err)
				}
				license := latchkey.LicenseAnalyst
				if cur[0].License == license {
					license = latchkey.LicenseReadOnly
				}
				resp, b, err := do(client, http.MethodPost, hs.URL+"/api/v2/accounts/"+strconv.FormatInt(a.account.ID, 10)+"/permissions/"+
					strconv.FormatInt(m.ID, 10)+"/", a.ownerPAT, map[string]any{"license_type": string(license)}, "")
				if err != nil {
					t.Fatal(err)
				}
				count("license", resp.StatusCode)
				after, err := inner.FindMemberships(context.Background(), latchkey.MembershipFilter{ID: &m.ID})
				if err != nil || len(after) != 1 {
					t.Fatalf("membership %d: %v %v", m.ID, after, err)
				}
				switch resp.StatusCode {
				case http.StatusOK:
					if after[0].License != license {
						wrong("a license changed with 200 is unchanged", "license of membership %d to %s: %s; stored %s", m.ID, license, b, after[0].License)
					}
				default:
					expectOutage("POST permissions/{id}", resp, b)
					if after[0].License != cur[0].License {
						wrong(fmt.Sprintf("a license change answered %d changed it", resp.StatusCode), "license of membership %d to %s: %s; stored %s",
							m.ID, license, b, after[0].License)
					}
				}
			case op == 0 || len(live) == 0:
				name := fmt.Sprintf("http-%d", step)
				resp, b, err := do(client, http.MethodPost, base+"/service-tokens/", a.ownerPAT, map[string]any{"name": name}, "key-"+name)
				if err != nil {
					t.Fatal(err)
				}
				count("create", resp.StatusCode)
				id, stored := tokenNamed(t, inner, a.account.ID, name)
				switch resp.StatusCode {
				case http.StatusCreated:
					var env struct {
						Data struct {
							ID int64 `json:"id"`
						} `json:"data"`
					}
					if err := json.Unmarshal(b, &env); err != nil || !stored || env.Data.ID != id {
						wrong("a token created with 201 is not stored as answered", "create %s: %s; stored %v as %d", name, b, stored, id)
					}
					created[name] = id
					live = append(live, name)
				default:
					expectOutage("POST service-tokens", resp, b)
					if stored {
						wrong(fmt.Sprintf("a token creation answered %d was stored", resp.StatusCode), "create %s: %s; stored as %d", name, b, id)
					}
				}
			case op == 1:
				k := rng.IntN(len(live))
				name := live[k]
				id := created[name]
				resp, b, err := do(client, http.MethodDelete, base+"/service-tokens/"+strconv.FormatInt(id, 10)+"/", a.ownerPAT, nil, "")
				if err != nil {
					t.Fatal(err)
				}
				count("delete", resp.StatusCode)
				got, err := inner.FindTokenByID(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				switch resp.StatusCode {
				case http.StatusOK:
					if got.State != latchkey.StateDeleted {
						wrong("a token deleted with 200 is still active", "delete %s (%d): %s", name, id, b)
					}
					live = append(live[:k], live[k+1:]...)
				default:
					expectOutage("DELETE service-tokens/{id}", resp, b)
					if got.State != latchkey.StateActive {
						wrong(fmt.Sprintf("a token deletion answered %d deleted it", resp.StatusCode), "delete %s (%d): %s", name, id, b)
					}
				}
			case op == 2:
				resp, b, err := do(client, http.MethodGet, base+"/service-tokens/", a.ownerPAT, nil, "")
				if err != nil {
					t.Fatal(err)
				}
				count("list", resp.StatusCode)
				if resp.StatusCode != http.StatusOK {
					expectOutage("GET service-tokens", resp, b)
				}
			default:
				resp, b, err := do(client, http.MethodGet, hs.URL+"/api/v3/whoami/", a.ownerPAT, nil, "")
				if err != nil {
					t.Fatal(err)
				}
				count("whoami", resp.StatusCode)
				if resp.StatusCode != http.StatusOK {
					expectOutage("GET whoami", resp, b)
				}
			}
		}
		adminDone.Store(true)
		wg.Wait()
		st := fs.Stats()
		found.report(t, fmt.Sprintf("go test ./internal/faultstore -run '%s' -faults.seed %d -faults.ops %d", t.Name(), s, *faultOps))
		var summary []string
		statuses.Range(func(k, v any) bool {
			summary = append(summary, fmt.Sprintf("%s: %d", k, v.(*atomic.Int64).Load()))
			return true
		})
		sort.Strings(summary)
		t.Logf("%d checks and %d admin calls; statuses %v; store %+v", done.Load()-6, steps, summary, st)
		if st.Faults == 0 {
			t.Error("no fault was injected")
		}
	})
}

func ranges10() []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} }

// do sends a JSON request with a token (and an Idempotency-Key when key is set) and reads the
// answer.
func do(c *http.Client, method, url, token string, body any, key string) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Token "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func status(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}

// tokenNamed finds the token of the account with this name in the unwrapped store.
func tokenNamed(tb testing.TB, s latchkey.Store, accountID int64, name string) (int64, bool) {
	tb.Helper()
	toks, err := allPages(func(off int) ([]*latchkey.Token, int, error) {
		return s.FindTokens(context.Background(), latchkey.TokenFilter{AccountID: &accountID, Offset: off, Limit: latchkey.MaxLimit})
	})
	if err != nil {
		tb.Fatal(err)
	}
	for _, t := range toks {
		if t.Name == name {
			return t.ID, true
		}
	}
	return 0, false
}

// A total outage, met by a gateway that checks tokens from one address: every answer is a 503
// with Retry-After, however many there are (storage that cannot answer is not a failed
// authentication, so the client's address is not rate-limited for it), and once storage answers
// again so does the server.
func TestHTTPOutage(t *testing.T) {
	eachStore(t, func(t *testing.T, inner latchkey.Store) {
		a := newWorld(t, inner, "Acme", "owner@acme.test")
		_, secret := a.serviceToken("checked", admin.NewToken{Grants: []latchkey.Grant{jobAdmin}})
		fs, hs := outageServer(t, inner, verify.Options{})
		check := func() (*http.Response, []byte) {
			t.Helper()
			resp, b, err := do(hs.Client(), http.MethodPost, hs.URL+"/v1/check", a.ownerPAT,
				map[string]any{"token": secret, "resource": "jobs", "access": "read"}, "")
			if err != nil {
				t.Fatal(err)
			}
			return resp, b
		}
		fs.SetEnabled(true)
		// Twice the default burst of failed authentications an address may make.
		statuses := map[int]int{}
		for i := range 40 {
			resp, b := check()
			statuses[resp.StatusCode]++
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("check %d during the outage = %d (Retry-After %q) %s, want 503 with Retry-After", i+1, resp.StatusCode,
					resp.Header.Get("Retry-After"), b)
				break
			}
		}
		fs.SetEnabled(false)
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, b := check()
			if resp.StatusCode == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("30 s after the outage ended, check = %d %s; want 200", resp.StatusCode, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("statuses during the outage: %v", statuses)
	})
}

// membershipOf finds the membership in the account of the user with this email in the unwrapped
// store (nil when there is none).
func membershipOf(tb testing.TB, s latchkey.Store, accountID int64, email string) *latchkey.Membership {
	tb.Helper()
	u, err := s.FindUserByEmail(context.Background(), email)
	if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
		return nil
	}
	if err != nil {
		tb.Fatal(err)
	}
	ms, err := s.FindMemberships(context.Background(), latchkey.MembershipFilter{AccountID: &accountID, UserID: &u.ID})
	if err != nil {
		tb.Fatal(err)
	}
	if len(ms) == 0 {
		return nil
	}
	return ms[0]
}

// A total outage after tokens were used: a gateway's cached tokens keep being answered past
// their TTL (stale if error), whoami answers from the account read before, an unknown token and
// every write are 503 with Retry-After, /readyz is 503 while /readyz/verify stays 200 and says
// the cache is stale, and all of it ends when storage answers again.
func TestHTTPOutageServesCachedTokens(t *testing.T) {
	eachStore(t, func(t *testing.T, inner latchkey.Store) {
		a := newWorld(t, inner, "Acme", "owner@acme.test")
		_, secret := a.serviceToken("checked", admin.NewToken{Grants: []latchkey.Grant{jobAdmin}})
		_, unused := a.serviceToken("never used", admin.NewToken{Grants: []latchkey.Grant{jobAdmin}})
		const ttl = 100 * time.Millisecond
		fs, hs := outageServer(t, inner, verify.Options{TTL: ttl})
		call := func(method, path, token string, body any) (int, http.Header, []byte) {
			t.Helper()
			resp, b, err := do(hs.Client(), method, hs.URL+path, token, body, "")
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, resp.Header, b
		}
		checkBody := func(tok string) map[string]any {
			return map[string]any{"token": tok, "resource": "jobs", "access": "read"}
		}
		whoami := "/api/v3/whoami/"
		for _, c := range []struct{ path, tok string }{{"/v1/check", secret}, {whoami, a.ownerPAT}} {
			var body any
			method := http.MethodGet
			if c.path == "/v1/check" {
				method, body = http.MethodPost, checkBody(c.tok)
			}
			if code, _, b := call(method, c.path, a.ownerPAT, body); code != http.StatusOK {
				t.Fatalf("%s before the outage = %d %s", c.path, code, b)
			}
		}

		fs.SetEnabled(true)
		time.Sleep(3 * ttl) // every entry is past its TTL
		for i := range 20 {
			if code, _, b := call(http.MethodPost, "/v1/check", a.ownerPAT, checkBody(secret)); code != http.StatusOK {
				t.Fatalf("check %d of a cached token during the outage = %d %s, want 200 (stale)", i+1, code, b)
			}
			code, _, b := call(http.MethodGet, whoami, a.ownerPAT, nil)
			if code != http.StatusOK || !bytes.Contains(b, []byte(`"Acme"`)) {
				t.Fatalf("whoami %d during the outage = %d %s, want 200 naming the account", i+1, code, b)
			}
		}
		code, h, b := call(http.MethodPost, "/v1/check", a.ownerPAT, checkBody(unused))
		if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Errorf("check of an uncached token during the outage = %d (Retry-After %q) %s, want 503", code, h.Get("Retry-After"), b)
		}
		path := "/api/v3/accounts/" + strconv.FormatInt(a.account.ID, 10) + "/projects/"
		code, h, b = call(http.MethodPost, path, a.ownerPAT, map[string]any{"name": "during the outage"})
		if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Errorf("a write during the outage = %d (Retry-After %q) %s, want 503", code, h.Get("Retry-After"), b)
		}
		var rep struct {
			Status string `json:"status"`
			Cache  struct {
				Status     string `json:"status"`
				StaleSince string `json:"stale_since"`
			} `json:"cache"`
		}
		if code, _, b = call(http.MethodGet, "/readyz", "", nil); code != http.StatusServiceUnavailable {
			t.Errorf("/readyz during the outage = %d %s, want 503", code, b)
		}
		code, _, b = call(http.MethodGet, "/readyz/verify", "", nil)
		if err := json.Unmarshal(b, &rep); err != nil || code != http.StatusOK || rep.Cache.StaleSince == "" ||
			(rep.Cache.Status != "stale" && rep.Cache.Status != "breaker_open") {
			t.Errorf("/readyz/verify during the outage = %d %s, want 200 with a stale cache", code, b)
		}

		fs.SetEnabled(false)
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, _, b = call(http.MethodPost, "/v1/check", a.ownerPAT, checkBody(unused))
			if code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("30 s after the outage ended, check of the unused token = %d %s; want 200", code, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if code, _, b = call(http.MethodGet, "/readyz/verify", "", nil); json.Unmarshal(b, &rep) != nil || rep.Cache.Status != "ok" {
			t.Errorf("/readyz/verify after the outage = %d %s, want the cache ok", code, b)
		}
	})
}

// outageServer serves inner over loopback HTTP through a faultstore that, once enabled, fails
// every call (a total outage), with a verifier made with vopt. It starts with injection off.
func outageServer(t *testing.T, inner latchkey.Store, vopt verify.Options) (*faultstore.Store, *httptest.Server) {
	t.Helper()
	fs := faultstore.Wrap(inner, faultstore.Options{ErrorRate: 1, Disabled: true})
	v := verify.New(fs, vopt)
	t.Cleanup(fs.Subscribe(v.Invalidate))
	srv, err := server.New(server.Config{Store: fs, Verifier: v, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "faults"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return fs, hs
}
