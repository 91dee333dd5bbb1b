package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// testSender is a real, minimal webhook sender for the test endpoint's tests: it logs a test
// delivery through the store, POSTs it to url over HTTP (instead of the subscription's
// client_url, which names no real server in the fixtures) and records the attempt.
type testSender struct {
	store latchkey.Store
	url   string
}

func (ts *testSender) SendTest(ctx context.Context, sub *latchkey.WebhookSubscription) (*latchkey.WebhookDelivery, *latchkey.WebhookAttempt, error) {
	body := []byte(`{"type":"webhook.test","data":{"webhook_id":"` + "wsu_" + itoa(sub.ID) + `"}}`)
	d := &latchkey.WebhookDelivery{AccountID: sub.AccountID, SubscriptionID: sub.ID, EventType: latchkey.EventTest, MessageID: "msg_test", Body: body}
	if err := ts.store.CreateWebhookDeliveries(ctx, []*latchkey.WebhookDelivery{d}); err != nil {
		return nil, nil, err
	}
	if _, err := ts.store.ClaimWebhookDeliveries(ctx, "test", 1, time.Now().Add(time.Minute)); err != nil {
		return nil, nil, err
	}
	a := &latchkey.WebhookAttempt{DeliveryID: d.ID, Node: "test", At: time.Now()}
	resp, err := http.Post(ts.url, "application/json", bytes.NewReader(body))
	if err != nil {
		a.Error = err.Error()
	} else {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		a.Status, a.Response = resp.StatusCode, string(b)
	}
	a.Duration = 0 // pinned by golden files
	if err := ts.store.RecordWebhookAttempts(ctx, "test", []*latchkey.WebhookAttempt{a}); err != nil {
		return nil, nil, err
	}
	d, err = ts.store.FindWebhookDeliveryByID(ctx, d.ID)
	return d, a, err
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// receiver starts an endpoint that answers status with body.
func receiver(tb testing.TB, status int, body string) string {
	tb.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	tb.Cleanup(hs.Close)
	return hs.URL
}

// withSender makes the golden server send tests to an endpoint answering 200.
func withSender(tb testing.TB, env *goldenEnv) {
	tb.Helper()
	env.srv.cfg.Webhooks = &testSender{store: env.store, url: receiver(tb, http.StatusOK, "thanks")}
}

// withFailingSender makes the golden server send tests to an endpoint answering 500.
func withFailingSender(tb testing.TB, env *goldenEnv) {
	tb.Helper()
	env.srv.cfg.Webhooks = &testSender{store: env.store, url: receiver(tb, http.StatusInternalServerError, "boom")}
}

// goldenWebhookSecret is the fixture subscription's signing secret (never in an answer).
const goldenWebhookSecret = "whsec_Z29sZGVuIHdlYmhvb2sgc2VjcmV0IG9mIDMyIGJ5dGVzISE="

// addWebhook subscribes https://hooks.example.com/latchkey to service token events in Acme
// (subscription 1).
func addWebhook(tb testing.TB, env *goldenEnv) {
	tb.Helper()
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "golden fixture", Source: "system"})
	if err := env.store.CreateWebhookSubscription(ctx, &latchkey.WebhookSubscription{AccountID: env.fx.Account, Name: "Security feed",
		Description: "token events to the SIEM", ClientURL: "https://hooks.example.com/latchkey",
		EventTypes: []string{"service_token.*", "leak.reported"}, Active: true, Secret: goldenWebhookSecret}); err != nil {
		tb.Fatal(err)
	}
}

// addDisabledWebhook is addWebhook, then turned off by latchkey for failing.
func addDisabledWebhook(tb testing.TB, env *goldenEnv) {
	tb.Helper()
	addWebhook(tb, env)
	addDelivery(tb, env)
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "golden fixture", Source: "system"})
	off, reason := false, "failing"
	if _, err := env.store.UpdateWebhookSubscription(ctx, 1, latchkey.WebhookSubscriptionUpdate{Active: &off, DisabledReason: &reason}); err != nil {
		tb.Fatal(err)
	}
}

// addDelivery logs delivery 1 of a service_token.created event to subscription 1: one attempt
// answered 503, then one answered 200.
func addDelivery(tb testing.TB, env *goldenEnv) {
	tb.Helper()
	ctx := context.Background()
	d := &latchkey.WebhookDelivery{AccountID: env.fx.Account, SubscriptionID: 1, EventID: 7, EventType: "service_token.created",
		MessageID: "msg_golden_1", Body: []byte(`{"type":"service_token.created","data":{"token_id":5}}`)}
	if err := env.store.CreateWebhookDeliveries(ctx, []*latchkey.WebhookDelivery{d}); err != nil {
		tb.Fatal(err)
	}
	for _, a := range []*latchkey.WebhookAttempt{
		{Status: 503, Response: "upstream unavailable", Error: "the endpoint answered HTTP 503", Duration: 120 * time.Millisecond, NextAttemptAt: ptr(time.Now())},
		{Status: 200, Response: `{"ok":true}`, Duration: 45 * time.Millisecond},
	} {
		if _, err := env.store.ClaimWebhookDeliveries(ctx, "golden", 1, time.Now().Add(time.Minute)); err != nil {
			tb.Fatal(err)
		}
		a.DeliveryID, a.Node, a.At = d.ID, "golden", time.Now()
		if err := env.store.RecordWebhookAttempts(ctx, "golden", []*latchkey.WebhookAttempt{a}); err != nil {
			tb.Fatal(err)
		}
	}
}

func addWebhookAndDelivery(tb testing.TB, env *goldenEnv) { addWebhook(tb, env); addDelivery(tb, env) }

// No answer ever holds a subscription's signing secret but the create and rotate answers; a
// test reports the endpoint's answer and lands in the delivery log.
func TestWebhookAPISecretAndTest(t *testing.T) {
	env := newGoldenEnv(t, newGoldenTemplate(t))
	addWebhook(t, env)
	get := func(method, path string) goldenResponse {
		t.Helper()
		req, _ := http.NewRequest(method, env.http.URL+"/api/v3/accounts/"+itoa(env.fx.Account)+path, nil)
		req.Header.Set("Authorization", "Token "+env.fx.AdminPAT)
		return env.send(t, req)
	}
	for _, path := range []string{"/webhooks/subscriptions/", "/webhooks/subscription/wsu_1/", "/webhooks/subscription/1"} {
		if r := get("GET", path); r.status != 200 || bytes.Contains(r.body, []byte("whsec_")) || bytes.Contains(r.body, []byte("hmac_secret")) {
			t.Errorf("GET %s = %d %s; want 200 without the secret", path, r.status, r.body)
		}
	}
	if r := get("POST", "/webhooks/subscription/wsu_1/test/"); r.status != 503 || !bytes.Contains(r.body, []byte("not running")) {
		t.Errorf("test without a sender = %d %s; want 503", r.status, r.body)
	}
	withFailingSender(t, env)
	r := get("POST", "/webhooks/subscription/wsu_1/test/")
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"verification_status_code":"500"`)) ||
		!bytes.Contains(r.body, []byte(`"verification_error":"the endpoint answered HTTP 500"`)) {
		t.Errorf("test of a failing endpoint = %d %s", r.status, r.body)
	}
	if r := get("GET", "/webhooks/subscription/wsu_1/deliveries/?state=failed"); r.status != 200 || !bytes.Contains(r.body, []byte(`"event_type":"webhook.test"`)) {
		t.Errorf("the test's delivery is not in the log: %d %s", r.status, r.body)
	}
	if r := get("GET", "/webhooks/deliveries/1/"); r.status != 200 || !bytes.Contains(r.body, []byte(`"response":"boom"`)) {
		t.Errorf("GET the test delivery = %d %s; want its attempt with the response", r.status, r.body)
	}
}

// The webhook pages, in order: list, new form, create (the secret once), detail, test, disable,
// rotate, a delivery with its attempts, delete; a Member, who cannot read the audit log, cannot
// create one.
func TestWebhookUIPages(t *testing.T) {
	e := newRegEnv(t)
	addWebhookAndDelivery(t, e.goldenEnv)
	admin := e.fx.AdminUser
	page := func(method, path string, form url.Values, wantStatus int, want ...string) string {
		t.Helper()
		status, body := e.uiRequest(t, admin, method, path, form)
		if status != wantStatus {
			t.Fatalf("%s %s = %d, want %d\n%.2000s", method, path, status, wantStatus, body)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s %s lacks %q", method, path, w)
			}
		}
		return body
	}
	page("GET", "/settings/webhooks", nil, 200, "Security feed", "https://hooks.example.com/latchkey", `id="sidebar-webhooks"`, "Delivered · 200")
	page("GET", "/settings/webhooks/new", nil, 200, `value="service_token.*"`, `value="*"`, "service_token.rotated")
	form := url.Values{"name": {"Chat"}, "client_url": {"https://chat.example.com/hook"}, "event_types": {"leak.reported", "user.*"}, "active": {"on"},
		"form_id": {"f1"}}
	page("POST", "/settings/webhooks/new", form, 200, "Copy this signing secret now", "whsec_")
	if strings.Contains(page("GET", "/settings/webhooks/2", nil, 200, "Chat", "leak.reported"), "whsec_") {
		t.Error("the detail page shows the secret")
	}
	page("POST", "/settings/webhooks/new", form, 409) // the same form again: not a second webhook
	bad := url.Values{"name": {"Bad"}, "client_url": {"http://chat.example.com/"}, "form_id": {"f2"}}
	page("POST", "/settings/webhooks/new", bad, 400, "The endpoint URL", `id="webhook-url-error"`)
	page("POST", "/settings/webhooks/1/test", url.Values{}, 503, "Webhook delivery is not running on this server.")
	withSender(t, e.goldenEnv)
	page("POST", "/settings/webhooks/1/test", url.Values{}, 200, "Test delivered: the endpoint answered HTTP 200.")
	page("POST", "/settings/webhooks/1/active", url.Values{}, 303)
	page("GET", "/settings/webhooks/1", nil, 200, "Disabled", `id="webhook-enable"`)
	page("GET", "/settings/webhooks/1/rotate", nil, 200, "24 hours")
	page("POST", "/settings/webhooks/1/rotate", url.Values{"form_id": {"r1"}}, 200, "New signing secret", "keeps signing next to this one")
	page("GET", "/settings/webhooks/1/deliveries/1", nil, 200, `<pre class="response">upstream unavailable</pre>`, "msg_golden_1", "&#34;token_id&#34;: 5")
	page("POST", "/settings/webhooks/1/deliveries/1/redeliver", url.Values{}, 409, "disabled")

	// A Member manages webhooks but cannot read the audit log: the delivery log, the secret and
	// the endpoint stay out of reach, even when the forms are forged.
	member := func(method, path string, form url.Values, wantStatus int, want ...string) {
		t.Helper()
		status, body := e.uiRequest(t, e.member.userID, method, path, form)
		if status != wantStatus {
			t.Fatalf("a Member's %s %s = %d, want %d\n%.2000s", method, path, status, wantStatus, body)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("a Member's %s %s lacks %q", method, path, w)
			}
		}
		for _, no := range []string{`id="webhook-rotate"`, `id="delivery-table"`, "msg_golden_1"} {
			if strings.Contains(body, no) {
				t.Errorf("a Member's %s %s shows %q", method, path, no)
			}
		}
	}
	member("GET", "/settings/webhooks/1", nil, 200, `id="deliveries-hidden"`)
	member("POST", "/settings/webhooks/1/edit", url.Values{"name": {"Security feed"}, "client_url": {"https://attacker.example.net/"},
		"event_types": {"service_token.*", "leak.reported"}}, 403, "audit_logs:read")
	member("GET", "/settings/webhooks/1/deliveries/1", nil, 403)
	member("POST", "/settings/webhooks/1/deliveries/1/redeliver", url.Values{}, 403)
	member("POST", "/settings/webhooks/1/rotate", url.Values{"form_id": {"m2"}}, 403)
	page("GET", "/settings/webhooks/1/delete", nil, 200, "cannot be undone")
	page("POST", "/settings/webhooks/1/delete", url.Values{}, 303)
	page("GET", "/settings/webhooks/1", nil, 404)

	status, body := e.uiRequest(t, e.member.userID, "POST", "/settings/webhooks/new", url.Values{"name": {"M"}, "client_url": {"https://m.example.com/"},
		"event_types": {"*"}, "form_id": {"m1"}})
	if status != 403 || !strings.Contains(body, "audit_logs:read") {
		t.Errorf("a Member creating a webhook = %d, want 403 naming audit_logs:read\n%.1500s", status, body)
	}
	if _, body := e.uiRequest(t, e.member.userID, "GET", "/settings/webhooks", nil); strings.Contains(body, `id="new-webhook"`) {
		t.Error("a Member is offered New webhook")
	}
}
