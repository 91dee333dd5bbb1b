package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/webhook"
)

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   []byte
	event  webhook.Event
}

// receiver is a loopback endpoint that answers with status(n) for its n-th request (from 1).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	arrive chan struct{}
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	t.Helper()
	r := &receiver{arrive: make(chan struct{}, 1024)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var ev webhook.Event
		_ = json.Unmarshal(body, &ev)
		r.mu.Lock()
		r.got = append(r.got, received{header: req.Header.Clone(), body: body, event: ev})
		n := len(r.got)
		r.mu.Unlock()
		w.WriteHeader(status(n))
		r.arrive <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns the first n requests, failing the test after a generous deadline.
func (r *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		if len(r.got) >= n {
			out := append([]received(nil), r.got...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-r.arrive:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d", len(r.got), n)
		}
	}
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

type fixture struct {
	store   *sqlite.Store
	account *latchkey.Account
	disp    *webhook.Dispatcher
	ctx     context.Context
	// stop ends Run and waits for it (the test's cleanup does too).
	stop func()
}

func start(t *testing.T) *fixture { return startWith(t, webhook.Options{}, nil) }

// startWith starts a dispatcher whose client has opts (loopback allowed, a 5 s timeout unless
// opts says) and whose config tune adjusts.
func startWith(t *testing.T, opts webhook.Options, tune func(*webhook.DispatcherConfig)) *fixture {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "user", ID: 7, Name: "ada@example.com", Source: "api"})
	a := &latchkey.Account{Name: "Acme", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	opts.AllowHTTPLoopback = true
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	cfg := webhook.DispatcherConfig{Store: s, Client: webhook.NewClient(opts),
		Poll: 20 * time.Millisecond, Backoff: func(int) time.Duration { return 50 * time.Millisecond }}
	if tune != nil {
		tune(&cfg)
	}
	d := webhook.NewDispatcher(cfg)
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(rctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &fixture{store: s, account: a, disp: d, ctx: ctx, stop: stop}
}

func (f *fixture) subscribe(t *testing.T, url string, types ...string) *latchkey.WebhookSubscription {
	t.Helper()
	w := &latchkey.WebhookSubscription{AccountID: f.account.ID, Name: "ops", ClientURL: url, EventTypes: types, Active: true, Secret: webhook.NewSecret()}
	if err := f.store.CreateWebhookSubscription(f.ctx, w); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestDispatcherDeliversSignedEvents(t *testing.T) {
	f := start(t)
	r := newReceiver(t, func(int) int { return http.StatusNoContent })
	other := newReceiver(t, func(int) int { return http.StatusNoContent })
	w := f.subscribe(t, r.srv.URL+"/hook", "project.*")
	f.subscribe(t, other.srv.URL+"/hook", "service_token.created")
	p := &latchkey.Project{AccountID: f.account.ID, Name: "analytics"}
	if err := f.store.CreateProject(f.ctx, p); err != nil {
		t.Fatal(err)
	}
	got := r.wait(t, 1)[0]
	if err := webhook.Verify(w.Secret, got.header, got.body, time.Now()); err != nil {
		t.Errorf("Verify(delivery) = %v, want a valid signature", err)
	}
	ev := got.event
	if ev.Type != "project.created" || ev.AccountID != f.account.ID || ev.Actor.Name != "ada@example.com" || ev.ID == "" {
		t.Errorf("event = %+v, want project.created by ada in account %d", ev, f.account.ID)
	}
	obj, _ := ev.Data["object"].(map[string]any)
	if obj["name"] != "analytics" {
		t.Errorf("event object = %v, want the project as the API shows it", ev.Data["object"])
	}
	if got.header.Get("webhook-id") == "" || got.header.Get("Authorization") == "" {
		t.Errorf("headers = %v, want webhook-id and Authorization", got.header)
	}
	// The other subscription asked for other events: nothing reached it.
	time.Sleep(200 * time.Millisecond)
	if n := other.count(); n != 0 {
		t.Errorf("unsubscribed receiver got %d requests, want 0", n)
	}
	ds, _, err := f.store.FindWebhookDeliveries(context.Background(), latchkey.WebhookDeliveryFilter{AccountID: f.account.ID, SubscriptionID: &w.ID})
	if err != nil || len(ds) != 1 || ds[0].State != latchkey.DeliverySucceeded || ds[0].LastStatus != 204 {
		t.Errorf("deliveries = %+v, %v; want one succeeded with 204", ds, err)
	}
}

func TestDispatcherRetriesUntilSuccess(t *testing.T) {
	f := start(t)
	// 500, then a redirect (not followed), then success.
	r := newReceiver(t, func(n int) int {
		switch n {
		case 1:
			return http.StatusInternalServerError
		case 2:
			return http.StatusFound
		}
		return http.StatusOK
	})
	w := f.subscribe(t, r.srv.URL, "project.created")
	if err := f.store.CreateProject(f.ctx, &latchkey.Project{AccountID: f.account.ID, Name: "p"}); err != nil {
		t.Fatal(err)
	}
	got := r.wait(t, 3)
	for i := 1; i < 3; i++ {
		if got[i].header.Get("webhook-id") != got[0].header.Get("webhook-id") || string(got[i].body) != string(got[0].body) {
			t.Errorf("attempt %d: webhook-id %q body %s; want the first attempt's (%q)", i+1, got[i].header.Get("webhook-id"), got[i].body, got[0].header.Get("webhook-id"))
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds, _, err := f.store.FindWebhookDeliveries(context.Background(), latchkey.WebhookDeliveryFilter{AccountID: f.account.ID, SubscriptionID: &w.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 && ds[0].State == latchkey.DeliverySucceeded {
			as, _ := f.store.FindWebhookAttempts(context.Background(), ds[0].ID)
			if len(as) != 3 || as[0].Status != 500 || as[1].Status != 302 || as[2].Status != 200 {
				t.Errorf("attempts = %+v, want 500, 302, 200", as)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery = %+v, never succeeded", ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sub, _ := f.store.FindWebhookSubscriptionByID(context.Background(), w.ID); sub.FailingSince != nil {
		t.Errorf("FailingSince = %v after a success, want nil", sub.FailingSince)
	}
}

func TestDispatcherSignsWithBothSecretsDuringRotation(t *testing.T) {
	f := start(t)
	r := newReceiver(t, func(int) int { return 200 })
	w := f.subscribe(t, r.srv.URL, "project.created")
	old, next := w.Secret, webhook.NewSecret()
	until := time.Now().Add(24 * time.Hour)
	if _, err := f.store.UpdateWebhookSubscription(f.ctx, w.ID, latchkey.WebhookSubscriptionUpdate{Secret: &next, PrevSecretUntil: &until}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the dispatcher's subscription cache (1 s) sees the new secret
	if err := f.store.CreateProject(f.ctx, &latchkey.Project{AccountID: f.account.ID, Name: "p"}); err != nil {
		t.Fatal(err)
	}
	got := r.wait(t, 1)[0]
	for name, secret := range map[string]string{"old": old, "new": next} {
		if err := webhook.Verify(secret, got.header, got.body, time.Now()); err != nil {
			t.Errorf("Verify(%s secret) = %v, want valid during the overlap", name, err)
		}
	}
}

func TestDispatcherSendTest(t *testing.T) {
	f := start(t)
	r := newReceiver(t, func(int) int { return 418 })
	w := f.subscribe(t, r.srv.URL, "project.created")
	del, a, err := f.disp.SendTest(f.ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != 418 || del.State != latchkey.DeliveryFailed || del.EventType != latchkey.EventTest {
		t.Errorf("SendTest = %+v, %+v; want one failed attempt answered 418", del, a)
	}
	if got := r.wait(t, 1)[0]; got.event.Type != latchkey.EventTest {
		t.Errorf("test event type = %q", got.event.Type)
	}
	time.Sleep(300 * time.Millisecond)
	if n := r.count(); n != 1 {
		t.Errorf("test event sent %d times, want once (tests are not retried)", n)
	}
	// A failed test is not the endpoint failing deliveries: it must not start the three days
	// after which the subscription is turned off.
	if sub, err := f.store.FindWebhookSubscriptionByID(context.Background(), w.ID); err != nil || sub.FailingSince != nil {
		t.Errorf("FailingSince after a failed test = %v, %v; want nil", sub.FailingSince, err)
	}
}

// hangingReceiver holds every request until release is closed or the client gives up, and
// tells how many it held at most at once and whether any ended.
type hangingReceiver struct {
	srv     *httptest.Server
	release chan struct{}
	mu      sync.Mutex
	now     int
	most    int
	arrived int
	ended   int
}

func newHangingReceiver(t *testing.T) *hangingReceiver {
	h := &hangingReceiver{release: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.now++
		h.arrived++
		h.most = max(h.most, h.now)
		h.mu.Unlock()
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
		h.mu.Lock()
		h.now--
		h.ended++
		h.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(h.release) }); h.srv.Close() })
	return h
}

func (h *hangingReceiver) state() (arrived, most, ended int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.arrived, h.most, h.ended
}

// An endpoint that hangs holds at most PerSubscription workers: the other endpoints' events
// are delivered while its attempts are still hanging.
func TestDispatcherHangingEndpointCannotStarveOthers(t *testing.T) {
	f := startWith(t, webhook.Options{Timeout: time.Minute}, func(c *webhook.DispatcherConfig) { c.Workers = 8 })
	hang := newHangingReceiver(t)
	fast := newReceiver(t, func(int) int { return http.StatusOK })
	f.subscribe(t, hang.srv.URL, "project.created")
	f.subscribe(t, fast.srv.URL, "group.created")
	for i := range 20 {
		if err := f.store.CreateProject(f.ctx, &latchkey.Project{AccountID: f.account.ID, Name: fmt.Sprintf("p%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for arrived, _, _ := hang.state(); arrived < 2; arrived, _, _ = hang.state() {
		if time.Now().After(deadline) {
			t.Fatalf("the hanging endpoint got %d requests, want 2", arrived)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := f.store.CreateGroup(f.ctx, &latchkey.Group{AccountID: f.account.ID, Name: "analysts"}); err != nil {
		t.Fatal(err)
	}
	if got := fast.wait(t, 1)[0]; got.event.Type != "group.created" {
		t.Errorf("the other endpoint got %q, want group.created", got.event.Type)
	}
	arrived, most, ended := hang.state()
	if ended != 0 {
		t.Errorf("%d hanging attempts had ended before the other endpoint's event arrived; want it delivered while they hang", ended)
	}
	if most > 2 || arrived > 2 {
		t.Errorf("the hanging endpoint held %d requests at once (%d in all), want at most 2 (a quarter of 8 workers)", most, arrived)
	}
}

// Attempts cut short by shutdown are not recorded: the delivery stays pending with no attempt
// counted, and the endpoint is not marked failing.
func TestDispatcherShutdownRecordsNoFailure(t *testing.T) {
	f := startWith(t, webhook.Options{Timeout: time.Minute}, nil)
	hang := newHangingReceiver(t)
	w := f.subscribe(t, hang.srv.URL, "project.created")
	if err := f.store.CreateProject(f.ctx, &latchkey.Project{AccountID: f.account.ID, Name: "p"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for arrived, _, _ := hang.state(); arrived < 1; arrived, _, _ = hang.state() {
		if time.Now().After(deadline) {
			t.Fatal("the delivery never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.stop()
	ds, _, err := f.store.FindWebhookDeliveries(context.Background(), latchkey.WebhookDeliveryFilter{AccountID: f.account.ID, SubscriptionID: &w.ID})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries = %v, %v; want one", ds, err)
	}
	if ds[0].State != latchkey.DeliveryPending || ds[0].Attempts != 0 {
		t.Errorf("delivery after shutdown = %v with %d attempts, want pending with none", ds[0].State, ds[0].Attempts)
	}
	if as, err := f.store.FindWebhookAttempts(context.Background(), ds[0].ID); err != nil || len(as) != 0 {
		t.Errorf("attempts logged at shutdown = %+v, %v; want none", as, err)
	}
	if sub, err := f.store.FindWebhookSubscriptionByID(context.Background(), w.ID); err != nil || sub.FailingSince != nil {
		t.Errorf("FailingSince after shutdown = %v, %v; want nil", sub.FailingSince, err)
	}
}

func TestDispatcherDisablesEndpointFailingForThreeDays(t *testing.T) {
	f := start(t)
	r := newReceiver(t, func(int) int { return 503 })
	w := f.subscribe(t, r.srv.URL, "project.created")
	if err := f.store.CreateProject(f.ctx, &latchkey.Project{AccountID: f.account.ID, Name: "p"}); err != nil {
		t.Fatal(err)
	}
	r.wait(t, 1)
	deadline := time.Now().Add(30 * time.Second)
	for {
		sub, err := f.store.FindWebhookSubscriptionByID(context.Background(), w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if sub.FailingSince != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("FailingSince never set")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Three days on, maintenance turns the endpoint off, which is itself an event.
	f.disp.Maintain(context.Background(), time.Now().Add(latchkey.WebhookDisableAfter+time.Minute))
	sub, _ := f.store.FindWebhookSubscriptionByID(context.Background(), w.ID)
	if sub.Active || sub.DisabledReason != "failing" {
		t.Errorf("after 3 days failing: active %v, reason %q; want disabled, failing", sub.Active, sub.DisabledReason)
	}
	typ := "webhook.subscription.disabled"
	es, _, _ := f.store.FindAuditEntries(context.Background(), latchkey.AuditFilter{AccountID: f.account.ID, EventType: &typ})
	if len(es) != 1 || es[0].Context["reason"] != "failing" || es[0].ActorType != "system" {
		t.Errorf("disabled events = %+v, want one by the system with reason failing", es)
	}
}
