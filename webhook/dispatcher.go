package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/tokenfmt"
)

// Consumer is the dispatcher's cursor into the audit log.
const Consumer = "webhooks"

// DispatcherConfig wires a Dispatcher.
type DispatcherConfig struct {
	Store  latchkey.Store
	Client *Client
	// Open turns a stored signing secret into the secret (admin.Service.OpenWebhookSecret).
	Open   func(stored string) (string, error)
	Format tokenfmt.Format
	Logger *slog.Logger
	// Workers is how many attempts run at once (default 64).
	Workers int
	// PerSubscription is how many of them may go to one subscription at once (default a
	// quarter of Workers), so that an endpoint that hangs cannot hold every worker while the
	// other endpoints wait.
	PerSubscription int
	// Poll is how often the dispatcher looks for work when nothing woke it (default 50 ms;
	// a round that finds nothing takes two reads and no lock).
	Poll time.Duration
	// Node names this process in leases and the delivery log (default: random).
	Node string
	// Backoff is the delay after n failed attempts (default Backoff; tests shorten it).
	Backoff func(n int) time.Duration
}

// Dispatcher turns events into deliveries and delivers them: at least once, signed, retried
// with backoff for RetryWindow, one node per attempt. Start it with Run.
type Dispatcher struct {
	cfg  DispatcherConfig
	log  *slog.Logger
	wake chan struct{}
	// lease is how long a claimed delivery is this node's: longer than an attempt can take.
	lease time.Duration

	subsMu sync.Mutex
	subs   map[int64]cachedSub

	delivered *prometheus.CounterVec
	latency   prometheus.Histogram
	// Now returns the current time; tests may replace it before Run.
	Now func() time.Time
}

type cachedSub struct {
	sub *latchkey.WebhookSubscription
	at  time.Time
}

// subTTL bounds how stale a cached subscription (URL, secret, active) may be when attempting.
const subTTL = time.Second

// NewDispatcher returns a Dispatcher.
func NewDispatcher(cfg DispatcherConfig) *Dispatcher {
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.PerSubscription <= 0 {
		cfg.PerSubscription = max(cfg.Workers/4, 1)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	if cfg.Node == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.Node = hex.EncodeToString(b[:])
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Backoff == nil {
		cfg.Backoff = Backoff
	}
	if cfg.Open == nil {
		cfg.Open = func(s string) (string, error) { return s, nil }
	}
	d := &Dispatcher{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), subs: map[int64]cachedSub{},
		lease: cfg.Client.timeout + 5*time.Second, Now: time.Now,
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_webhook_attempts_total",
			Help: "Webhook delivery attempts, by outcome (succeeded, retrying, failed)."}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "latchkey_webhook_delivery_seconds",
			Help:    "Time from an event's commit to its first successful delivery.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 60, 600, 3600}}),
	}
	return d
}

// Collectors are the dispatcher's metrics, for a Prometheus registry.
func (d *Dispatcher) Collectors() []prometheus.Collector {
	return []prometheus.Collector{d.delivered, d.latency}
}

// Node is the name this dispatcher leases deliveries under.
func (d *Dispatcher) Node() string { return d.cfg.Node }

// Wake makes the dispatcher look for events and due deliveries now (it is called on every
// committed change; it never blocks).
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run fans events out to subscriptions and delivers them until ctx is done. Attempts cut short
// when ctx ends are not recorded: their leases run out and another round (on any node) retries
// them, with no failed attempt counted against the endpoint.
func (d *Dispatcher) Run(ctx context.Context) error {
	cancel := d.cfg.Store.Subscribe(func(latchkey.Change) { d.Wake() })
	defer cancel()
	results := make(chan *latchkey.WebhookAttempt, d.cfg.Workers)
	slots := make(chan struct{}, d.cfg.Workers)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.record(ctx, results)
	}()
	maintain := time.NewTicker(time.Minute)
	defer maintain.Stop()
	poll := time.NewTimer(0)
	defer poll.Stop()
	var inflight sync.WaitGroup
	// perSub counts this node's attempts in flight per subscription; a subscription at
	// PerSubscription is skipped by claims until one of its attempts ends.
	var perSubMu sync.Mutex
	perSub := map[int64]int{}
	for {
		select { // under steady load the loop never waits below: check the clock here too
		case <-maintain.C:
			d.Maintain(ctx, d.Now())
		default:
		}
		busy := false
		if n, err := d.FanOut(ctx); err != nil {
			if ctx.Err() == nil {
				d.log.Error("webhook fan-out", "error", err.Error())
			}
		} else if n > 0 {
			busy = true
		}
		// Claim in batches (a claim is a write): when a quarter of the workers are free, or
		// all of them.
		if free := d.cfg.Workers - len(slots); free > 0 && (free >= max(d.cfg.Workers/4, 1) || free == d.cfg.Workers) {
			perSubMu.Lock()
			var skip []int64
			for id, n := range perSub {
				if n >= d.cfg.PerSubscription {
					skip = append(skip, id)
				}
			}
			perSubMu.Unlock()
			ds, err := d.cfg.Store.ClaimWebhookDeliveries(ctx, d.cfg.Node, free, d.Now().Add(d.lease), skip...)
			if err != nil && ctx.Err() == nil {
				d.log.Error("claim webhook deliveries", "error", err.Error())
			}
			var giveBack []int64
			started := 0
			for _, del := range ds {
				sub := del.SubscriptionID
				perSubMu.Lock()
				full := perSub[sub] >= d.cfg.PerSubscription
				if !full {
					perSub[sub]++
				}
				perSubMu.Unlock()
				if full {
					giveBack = append(giveBack, del.ID)
					continue
				}
				started++
				slots <- struct{}{}
				inflight.Add(1)
				go func() {
					defer func() {
						perSubMu.Lock()
						if perSub[sub]--; perSub[sub] <= 0 {
							delete(perSub, sub)
						}
						perSubMu.Unlock()
						<-slots
						inflight.Done()
						d.Wake() // a worker is free: claim more at once
					}()
					a := d.attempt(ctx, del)
					if ctx.Err() != nil && !a.Succeeded() {
						return // cut short by shutdown: says nothing of the endpoint
					}
					results <- a
				}()
			}
			// A batch held more for one subscription than it may have in flight: those wait,
			// due now, and claims skip the subscription until an attempt of it ends.
			if err := d.cfg.Store.ReleaseWebhookDeliveries(ctx, d.cfg.Node, giveBack, d.Now()); err != nil && ctx.Err() == nil {
				d.log.Error("release webhook deliveries", "error", err.Error())
			}
			busy = busy || started > 0
		}
		if busy {
			// More may be waiting: go round again at once, unless every worker is busy.
			if len(slots) < d.cfg.Workers {
				continue
			}
		}
		poll.Reset(d.cfg.Poll)
		select {
		case <-ctx.Done():
			inflight.Wait()
			close(results)
			wg.Wait()
			return nil
		case <-d.wake:
		case <-poll.C:
		case <-maintain.C:
			d.Maintain(ctx, d.Now())
		}
	}
}

// record stores attempt outcomes in batches.
func (d *Dispatcher) record(ctx context.Context, results <-chan *latchkey.WebhookAttempt) {
	var batch []*latchkey.WebhookAttempt
	flush := func() {
		if len(batch) == 0 {
			return
		}
		// Outcomes are written even while shutting down; an unwritten one is retried later.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := d.cfg.Store.RecordWebhookAttempts(rctx, d.cfg.Node, batch); err != nil {
			d.log.Error("record webhook attempts", "attempts", len(batch), "error", err.Error())
		}
		cancel()
		batch = batch[:0]
	}
	for a := range results {
		batch = append(batch, a)
	drain:
		for len(batch) < 256 {
			select {
			case more, ok := <-results:
				if !ok {
					break drain
				}
				batch = append(batch, more)
			default:
				break drain
			}
		}
		flush()
	}
	flush()
}

// FanOut turns the events after the dispatcher's cursor into deliveries for every active
// subscription that asks for them, stored in one transaction with moving the cursor. Reading and
// rendering happen before that transaction, outside the write lock; when another node moved the
// cursor meanwhile, nothing is stored (it made the same deliveries). It returns how many events
// it read.
func (d *Dispatcher) FanOut(ctx context.Context) (int, error) {
	from, entries, err := d.cfg.Store.FindEventsAfterCursor(ctx, Consumer, 500)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	active := latchkey.StateActive
	subs, err := d.cfg.Store.FindWebhookSubscriptions(ctx, 0, &active)
	if err != nil {
		return 0, err
	}
	byAccount := map[int64][]*latchkey.WebhookSubscription{}
	for _, s := range subs {
		if s.Active {
			byAccount[s.AccountID] = append(byAccount[s.AccountID], s)
		}
	}
	var ds []*latchkey.WebhookDelivery
	for _, e := range entries {
		var body []byte
		for _, s := range byAccount[e.AccountID] {
			// A subscription hears of what happens from its creation on, even when the
			// dispatcher reads the earlier events only after it was created.
			if e.CreatedAt.Before(s.CreatedAt) || !latchkey.MatchEventType(s.EventTypes, e.EventType) {
				continue
			}
			if body == nil {
				if body, err = json.Marshal(d.payload(ctx, e)); err != nil {
					return 0, fmt.Errorf("encode event %d: %w", e.ID, err)
				}
			}
			ds = append(ds, &latchkey.WebhookDelivery{AccountID: e.AccountID, SubscriptionID: s.ID, EventID: e.ID,
				EventType: e.EventType, MessageID: fmt.Sprintf("msg_%d_%d", e.ID, s.ID), Body: body})
		}
	}
	err = d.cfg.Store.InTx(ctx, func(ctx context.Context) error {
		if err := d.cfg.Store.MoveEventCursor(ctx, Consumer, from, entries[len(entries)-1].ID); err != nil {
			return err
		}
		return d.cfg.Store.CreateWebhookDeliveries(ctx, ds)
	})
	var le *latchkey.Error
	if errors.As(err, &le) && le.Code == latchkey.EConflict {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return len(entries), nil
}

// Event is the JSON body of every delivery.
type Event struct {
	// ID is the event's id ("evt_" and its audit entry id); the same event sent to several
	// endpoints has one ID, while the webhook-id header differs per endpoint.
	ID        string `json:"id"`
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	AccountID int64  `json:"account_id"`
	Actor     Actor  `json:"actor"`
	// Data is the audit entry's context, with "object": the object as the API shows it when
	// the event is dispatched (normally within a second of the change), where there is one.
	Data map[string]any `json:"data"`
}

// Actor is who caused an event.
type Actor struct {
	Type string `json:"type"`
	ID   int64  `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

func (d *Dispatcher) payload(ctx context.Context, e *latchkey.AuditEntry) Event {
	data := map[string]any{}
	for k, v := range e.Context {
		data[k] = v
	}
	if obj := d.object(ctx, e); obj != nil {
		data["object"] = obj
	}
	return Event{ID: fmt.Sprintf("evt_%d", e.ID), Type: e.EventType, Timestamp: apitype.Time(e.CreatedAt), AccountID: e.AccountID,
		Actor: Actor{Type: e.ActorType, ID: e.ActorID, Name: e.ActorName}, Data: data}
}

// object renders what an event is about as the API would, or nil.
func (d *Dispatcher) object(ctx context.Context, e *latchkey.AuditEntry) any {
	id := func(key string) int64 {
		if v, ok := e.Context[key].(float64); ok {
			return int64(v)
		}
		return 0
	}
	switch {
	case id("token_id") != 0:
		if t, err := d.cfg.Store.FindTokenByID(ctx, id("token_id")); err == nil && t.AccountID == e.AccountID {
			return apitype.TokenOf(d.cfg.Format, t)
		}
	case id("group_id") != 0:
		if g, err := d.cfg.Store.FindGroupByID(ctx, id("group_id")); err == nil && g.AccountID == e.AccountID {
			return apitype.GroupOf(g)
		}
	case id("project_id") != 0:
		if p, err := d.cfg.Store.FindProjectByID(ctx, id("project_id")); err == nil && p.AccountID == e.AccountID {
			return apitype.ProjectOf(p)
		}
	}
	return nil
}

// subscription returns a subscription as read within the last subTTL.
func (d *Dispatcher) subscription(ctx context.Context, id int64) (*latchkey.WebhookSubscription, error) {
	now := time.Now()
	d.subsMu.Lock()
	c, ok := d.subs[id]
	d.subsMu.Unlock()
	if ok && now.Sub(c.at) < subTTL {
		return c.sub, nil
	}
	s, err := d.cfg.Store.FindWebhookSubscriptionByID(ctx, id)
	if err != nil {
		return nil, err
	}
	d.subsMu.Lock()
	if len(d.subs) > 10000 {
		clear(d.subs)
	}
	d.subs[id] = cachedSub{sub: s, at: now}
	d.subsMu.Unlock()
	return s, nil
}

// secrets returns the secrets that sign for s now: the current one, and the previous one
// during a rotation's overlap.
func (d *Dispatcher) secrets(s *latchkey.WebhookSubscription, now time.Time) ([]string, error) {
	cur, err := d.cfg.Open(s.Secret)
	if err != nil {
		return nil, err
	}
	out := []string{cur}
	if s.PrevSecret != "" && s.PrevSecretUntil != nil && now.Before(*s.PrevSecretUntil) {
		if prev, err := d.cfg.Open(s.PrevSecret); err == nil {
			out = append(out, prev)
		}
	}
	return out, nil
}

// attempt makes one attempt of del and says what comes next.
func (d *Dispatcher) attempt(ctx context.Context, del *latchkey.WebhookDelivery) *latchkey.WebhookAttempt {
	now := d.Now()
	a := &latchkey.WebhookAttempt{DeliveryID: del.ID, Node: d.cfg.Node, At: now}
	sub, err := d.subscription(ctx, del.SubscriptionID)
	switch {
	case err != nil:
		a.Error, a.NotSent = "the subscription could not be read: "+err.Error(), true
		d.retry(a, del, now)
		return a
	case sub.State != latchkey.StateActive || !sub.Active:
		a.Error, a.NotSent = "the subscription is disabled or deleted", true
		return a
	}
	out := d.send(ctx, sub, del, now)
	a.Status, a.Response, a.Error, a.Duration = out.Status, out.Response, out.Error, out.Duration
	if out.OK() {
		d.delivered.WithLabelValues("succeeded").Inc()
		if del.Attempts == 0 && del.EventID != 0 {
			d.latency.Observe(time.Since(del.CreatedAt).Seconds())
		}
		return a
	}
	d.retry(a, del, now)
	return a
}

func (d *Dispatcher) send(ctx context.Context, sub *latchkey.WebhookSubscription, del *latchkey.WebhookDelivery, now time.Time) Attempt {
	secrets, err := d.secrets(sub, now)
	if err != nil {
		return Attempt{Error: "the signing secret cannot be opened: " + err.Error()}
	}
	h, err := Sign(del.MessageID, now, del.Body, secrets...)
	if err != nil {
		return Attempt{Error: "signing failed: " + err.Error()}
	}
	return d.cfg.Client.Send(ctx, sub.ClientURL, h, del.Body)
}

// retry sets when a failed attempt is tried again: with backoff while the delivery is younger
// than RetryWindow, never after.
func (d *Dispatcher) retry(a *latchkey.WebhookAttempt, del *latchkey.WebhookDelivery, now time.Time) {
	next := now.Add(d.cfg.Backoff(del.Attempts + 1))
	if del.EventID == 0 || next.After(del.CreatedAt.Add(RetryWindow)) {
		d.delivered.WithLabelValues("failed").Inc()
		return // a test event is sent once; others give up after the window
	}
	d.delivered.WithLabelValues("retrying").Inc()
	a.NextAttemptAt = &next
}

// Maintain disables endpoints that have failed every attempt for WebhookDisableAfter before now
// and prunes old deliveries. Run calls it every minute.
func (d *Dispatcher) Maintain(ctx context.Context, now time.Time) {
	ctx = latchkey.WithActor(ctx, latchkey.Actor{Type: "system", Name: "webhooks", Source: "system"})
	active := latchkey.StateActive
	subs, err := d.cfg.Store.FindWebhookSubscriptions(ctx, 0, &active)
	if err != nil {
		d.log.Error("webhook maintenance", "error", err.Error())
		return
	}
	for _, s := range subs {
		if !s.Active || s.FailingSince == nil || now.Sub(*s.FailingSince) < latchkey.WebhookDisableAfter {
			continue
		}
		off, failing := false, "failing"
		if _, err := d.cfg.Store.UpdateWebhookSubscription(ctx, s.ID, latchkey.WebhookSubscriptionUpdate{Active: &off, DisabledReason: &failing}); err != nil {
			var le *latchkey.Error
			if !errors.As(err, &le) || le.Code != latchkey.ENotFound {
				d.log.Error("disable failing webhook", "webhook_id", s.ID, "error", err.Error())
			}
			continue
		}
		d.log.Warn("webhook disabled after failing", "webhook_id", s.ID, "account_id", s.AccountID, "failing_since", s.FailingSince)
	}
	if _, err := d.cfg.Store.PruneWebhookDeliveries(ctx, now.Add(-DeliveryRetention)); err != nil {
		d.log.Error("prune webhook deliveries", "error", err.Error())
	}
}

// DeliveryRetention is how long ended deliveries stay in the delivery log.
const DeliveryRetention = 30 * 24 * time.Hour

// SendTest sends sub a webhook.test event now, once, and keeps it in the delivery log.
func (d *Dispatcher) SendTest(ctx context.Context, sub *latchkey.WebhookSubscription) (*latchkey.WebhookDelivery, *latchkey.WebhookAttempt, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	now := d.Now()
	ev := Event{ID: "evt_test_" + hex.EncodeToString(b[:]), Type: latchkey.EventTest, Timestamp: apitype.Time(now),
		AccountID: sub.AccountID, Actor: Actor{Type: latchkey.ActorFrom(ctx).Type, ID: latchkey.ActorFrom(ctx).ID, Name: latchkey.ActorFrom(ctx).Name},
		Data: map[string]any{"webhook_id": sub.ID, "message": "This is a test event from latchkey."}}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, nil, err
	}
	// Not due before this attempt is recorded; should this process die first, the loop sends it.
	del := &latchkey.WebhookDelivery{AccountID: sub.AccountID, SubscriptionID: sub.ID, EventType: latchkey.EventTest,
		MessageID: "msg_test_" + hex.EncodeToString(b[:]), Body: body, NextAttemptAt: now.Add(d.lease)}
	if err := d.cfg.Store.CreateWebhookDeliveries(ctx, []*latchkey.WebhookDelivery{del}); err != nil {
		return nil, nil, err
	}
	out := d.send(ctx, sub, del, now)
	a := &latchkey.WebhookAttempt{DeliveryID: del.ID, Node: d.cfg.Node, At: now, Status: out.Status, Response: out.Response,
		Error: out.Error, Duration: out.Duration}
	if err := d.cfg.Store.RecordWebhookAttempts(ctx, d.cfg.Node, []*latchkey.WebhookAttempt{a}); err != nil {
		return nil, nil, err
	}
	if got, err := d.cfg.Store.FindWebhookDeliveryByID(ctx, del.ID); err == nil {
		del = got
	}
	return del, a, nil
}
