package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey"
)

func mustWebhook(t testing.TB, s latchkey.Store, accountID int64, types ...string) *latchkey.WebhookSubscription {
	t.Helper()
	w := &latchkey.WebhookSubscription{AccountID: accountID, Name: "ops", ClientURL: "https://hooks.example/latchkey",
		EventTypes: types, Active: true, Secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}
	if err := s.CreateWebhookSubscription(ctxAs("admin"), w); err != nil {
		t.Fatalf("CreateWebhookSubscription: %v", err)
	}
	return w
}

func testWebhookSubscriptions(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a, b := mustAccount(t, s, latchkey.PlanEnterprise), mustAccount(t, s, latchkey.PlanEnterprise)
	w := mustWebhook(t, s, a.ID, "service_token.*", "user.created")
	mustWebhook(t, s, b.ID, "service_token.created")
	if w.ID == 0 || w.State != latchkey.StateActive || w.CreatedAt.IsZero() {
		t.Fatalf("created subscription = %+v", w)
	}
	got, err := s.FindWebhookSubscriptionByID(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("FindWebhookSubscriptionByID (-created +found):\n%s", diff)
	}
	if list, err := s.FindWebhookSubscriptions(ctx, a.ID, nil); err != nil || len(list) != 1 || list[0].ID != w.ID {
		t.Errorf("FindWebhookSubscriptions(account a) = %d, %v; want just %d", len(list), err, w.ID)
	}
	if all, err := s.FindWebhookSubscriptions(ctx, 0, nil); err != nil || len(all) != 2 {
		t.Errorf("FindWebhookSubscriptions(every account) = %d, %v; want 2", len(all), err)
	}

	// A new secret keeps the old one signing until the overlap ends.
	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Microsecond)
	rotated, err := s.UpdateWebhookSubscription(ctx, w.ID, latchkey.WebhookSubscriptionUpdate{
		Secret: ptr("whsec_bmV3LW5ldy1uZXctbmV3LW5ldy1uZXctbmV3LW5ldw=="), PrevSecretUntil: &until,
		EventTypes: &[]string{"service_token.created"}})
	if err != nil {
		t.Fatal(err)
	}
	if rotated.PrevSecret != w.Secret || rotated.PrevSecretUntil == nil || !rotated.PrevSecretUntil.Equal(until) ||
		!cmp.Equal(rotated.EventTypes, []string{"service_token.created"}) {
		t.Errorf("after rotation = %+v", rotated)
	}
	// Nothing the audit log says of subscriptions holds a secret.
	entries, _, err := s.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: a.ID, EventType: ptr("webhook.*")})
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range entries {
		events = append(events, e.EventType)
		if strings.Contains(string(e.RawContext), "whsec_") {
			t.Errorf("audit entry %s holds a secret: %s", e.EventType, e.RawContext)
		}
	}
	if want := []string{"webhook.subscription.secret_rotated", "webhook.subscription.changed", "webhook.subscription.created"}; !cmp.Equal(events, want) {
		t.Errorf("webhook audit events = %v, want %v", events, want)
	}

	if err := s.DeleteWebhookSubscription(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	active := latchkey.StateActive
	if list, _ := s.FindWebhookSubscriptions(ctx, a.ID, &active); len(list) != 0 {
		t.Errorf("active subscriptions after delete = %d, want 0", len(list))
	}
	_, err = s.UpdateWebhookSubscription(ctx, w.ID, latchkey.WebhookSubscriptionUpdate{Name: ptr("x")})
	wantCode(t, "UpdateWebhookSubscription(deleted)", err, latchkey.ENotFound)
	_, err = s.FindWebhookSubscriptionByID(ctx, 999999)
	wantCode(t, "FindWebhookSubscriptionByID(missing)", err, latchkey.ENotFound)
}

func testConsumeEvents(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	consume := func(fn func(ctx context.Context, es []*latchkey.AuditEntry) error) (int, error) {
		return s.ConsumeEvents(context.Background(), "test", 100, fn)
	}
	// A new consumer starts after the newest entry: history is not replayed.
	if n, err := consume(func(context.Context, []*latchkey.AuditEntry) error { return errors.New("not called") }); n != 0 || err != nil {
		t.Fatalf("first ConsumeEvents = %d, %v; want 0 entries", n, err)
	}
	mustProject(t, s, a.ID, "one")
	mustProject(t, s, a.ID, "two")
	// fn's error leaves the cursor where it was; what fn wrote is rolled back.
	w := mustWebhook(t, s, a.ID, "project.created")
	_, err := consume(func(ctx context.Context, es []*latchkey.AuditEntry) error {
		if err := s.CreateWebhookDeliveries(ctx, []*latchkey.WebhookDelivery{{AccountID: a.ID, SubscriptionID: w.ID,
			EventID: es[0].ID, EventType: es[0].EventType, MessageID: "msg_rollback", Body: []byte(`{}`)}}); err != nil {
			return err
		}
		return errors.New("boom")
	})
	if err == nil || err.Error() != "boom" {
		t.Fatalf("ConsumeEvents(fn fails) = %v, want boom", err)
	}
	var got []string
	n, err := consume(func(ctx context.Context, es []*latchkey.AuditEntry) error {
		for _, e := range es {
			got = append(got, e.EventType)
		}
		return nil
	})
	if want := []string{"project.created", "project.created", "webhook.subscription.created"}; err != nil || n != 3 || !cmp.Equal(got, want) {
		t.Errorf("ConsumeEvents = %d, %v, %v; want %v", n, got, err, want)
	}
	if n, err := consume(func(context.Context, []*latchkey.AuditEntry) error { return nil }); n != 0 || err != nil {
		t.Errorf("ConsumeEvents again = %d, %v; want nothing new", n, err)
	}
	if _, total, _ := s.FindWebhookDeliveries(ctx, latchkey.WebhookDeliveryFilter{AccountID: a.ID}); total != 0 {
		t.Errorf("deliveries written by the failed consumer = %d, want 0 (rolled back)", total)
	}
}

func testWebhookDeliveries(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	w := mustWebhook(t, s, a.ID, "project.created")
	var ds []*latchkey.WebhookDelivery
	for i := range 6 {
		ds = append(ds, &latchkey.WebhookDelivery{AccountID: a.ID, SubscriptionID: w.ID, EventID: int64(i + 1),
			EventType: "project.created", MessageID: fmt.Sprintf("msg_%d", i), Body: []byte(fmt.Sprintf(`{"n":%d}`, i))})
	}
	if err := s.CreateWebhookDeliveries(ctx, ds); err != nil {
		t.Fatal(err)
	}
	lease := time.Now().Add(time.Minute)
	// Two nodes claiming at once never get the same delivery.
	var mu sync.Mutex
	held := map[int64]string{}
	var wg sync.WaitGroup
	for _, node := range []string{"n1", "n2"} {
		wg.Go(func() {
			got, err := s.ClaimWebhookDeliveries(context.Background(), node, 4, lease)
			if err != nil {
				t.Errorf("ClaimWebhookDeliveries(%s): %v", node, err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, d := range got {
				if other, ok := held[d.ID]; ok {
					t.Errorf("delivery %d claimed by %s and %s", d.ID, other, node)
				}
				held[d.ID] = node
			}
		})
	}
	wg.Wait()
	if len(held) != 6 {
		t.Fatalf("claimed %d deliveries in all, want 6", len(held))
	}
	if more, err := s.ClaimWebhookDeliveries(ctx, "n3", 10, lease); err != nil || len(more) != 0 {
		t.Errorf("claim while all are leased = %d, %v; want none", len(more), err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	retry := now.Add(-time.Second) // due again at once
	var as []*latchkey.WebhookAttempt
	for _, d := range ds { // in order: the success first, so that the failures after it set FailingSince
		id, node := d.ID, held[d.ID]
		a := &latchkey.WebhookAttempt{DeliveryID: id, Node: node, At: now, Duration: time.Millisecond}
		switch id {
		case ds[0].ID:
			a.Status, a.Response = 204, ""
		case ds[1].ID:
			a.Status, a.Response, a.Error = 500, "oops", "500 Internal Server Error"
		case ds[2].ID:
			a.Status, a.Error, a.NextAttemptAt = 503, "503 Service Unavailable", &retry
		default:
			continue // leases that run out
		}
		as = append(as, a)
	}
	// An attempt reported by a node that does not hold the delivery is logged but changes nothing.
	as = append(as, &latchkey.WebhookAttempt{DeliveryID: ds[0].ID, Node: "stranger", At: now, Status: 500})
	for _, a := range as {
		if err := s.RecordWebhookAttempts(ctx, a.Node, []*latchkey.WebhookAttempt{a}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(d *latchkey.WebhookDelivery, state latchkey.WebhookDeliveryState, attempts int) {
		t.Helper()
		got, err := s.FindWebhookDeliveryByID(ctx, d.ID)
		if err != nil || got.State != state || got.Attempts != attempts {
			t.Errorf("delivery %d = %v, %d attempts, %v; want %v, %d", d.ID, got.State, got.Attempts, err, state, attempts)
		}
	}
	check(ds[0], latchkey.DeliverySucceeded, 1)
	check(ds[1], latchkey.DeliveryFailed, 1)
	check(ds[2], latchkey.DeliveryPending, 1)
	if log, err := s.FindWebhookAttempts(ctx, ds[0].ID); err != nil || len(log) != 2 {
		t.Errorf("attempts logged for delivery %d = %d, %v; want 2 (its own and the stranger's)", ds[0].ID, len(log), err)
	}
	sub, _ := s.FindWebhookSubscriptionByID(ctx, w.ID)
	if sub.FailingSince == nil {
		t.Errorf("subscription FailingSince = nil after failures")
	}
	// The retry is due: it is claimed again; the unfinished leases are not, until they run out.
	again, err := s.ClaimWebhookDeliveries(ctx, "n1", 10, lease)
	if err != nil || len(again) != 1 || again[0].ID != ds[2].ID || string(again[0].Body) != `{"n":2}` {
		t.Fatalf("claim after retry = %v, %v; want delivery %d", again, err, ds[2].ID)
	}
	if err := s.RecordWebhookAttempts(ctx, "n1", []*latchkey.WebhookAttempt{{DeliveryID: ds[2].ID, Node: "n1", At: now, Status: 200}}); err != nil {
		t.Fatal(err)
	}
	check(ds[2], latchkey.DeliverySucceeded, 2)
	if sub, _ := s.FindWebhookSubscriptionByID(ctx, w.ID); sub.FailingSince != nil {
		t.Errorf("subscription FailingSince = %v after a success, want nil", sub.FailingSince)
	}
	expired, err := s.ClaimWebhookDeliveries(ctx, "n3", 10, time.Now().Add(-time.Millisecond))
	if err != nil || len(expired) != 0 {
		t.Fatalf("claim before leases run out = %d, %v", len(expired), err)
	}
	if err := s.RedeliverWebhook(ctx, ds[1].ID); err != nil {
		t.Fatal(err)
	}
	check(ds[1], latchkey.DeliveryPending, 1)
	// One a node holds is being sent: redelivering it would have two nodes send it at once.
	wantCode(t, "RedeliverWebhook(held by a node)", s.RedeliverWebhook(ctx, ds[3].ID), latchkey.EConflict)
	if more, err := s.ClaimWebhookDeliveries(ctx, "n3", 10, lease); err != nil || len(more) != 1 || more[0].ID != ds[1].ID {
		t.Errorf("claim after redelivering = %v, %v; want only the redelivered %d (the held ones stay held)", more, err, ds[1].ID)
	}
	list, total, err := s.FindWebhookDeliveries(ctx, latchkey.WebhookDeliveryFilter{AccountID: a.ID, SubscriptionID: &w.ID, Limit: 2})
	if err != nil || total != 6 || len(list) != 2 || list[0].ID != ds[5].ID {
		t.Errorf("FindWebhookDeliveries = %d of %d, %v; want newest 2 of 6", len(list), total, err)
	}
	// Disabling the subscription fails what is still pending.
	if _, err := s.UpdateWebhookSubscription(ctx, w.ID, latchkey.WebhookSubscriptionUpdate{Active: ptr(false),
		DisabledReason: ptr("failing")}); err != nil {
		t.Fatal(err)
	}
	check(ds[1], latchkey.DeliveryFailed, 1)
	wantCode(t, "RedeliverWebhook(disabled subscription)", s.RedeliverWebhook(ctx, ds[1].ID), latchkey.EConflict)
	entries, _, _ := s.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: a.ID, EventType: ptr("webhook.subscription.disabled")})
	if len(entries) != 1 || entries[0].Context["reason"] != "failing" {
		t.Errorf("disabled audit entries = %+v, want one with reason failing", entries)
	}
	if n, err := s.PruneWebhookDeliveries(ctx, time.Now().Add(time.Hour)); err != nil || n != 6 {
		t.Errorf("PruneWebhookDeliveries = %d, %v; want 6 ended deliveries gone", n, err)
	}
}

func testWebhookLeaseExpiry(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	w := mustWebhook(t, s, a.ID, "project.created")
	d := &latchkey.WebhookDelivery{AccountID: a.ID, SubscriptionID: w.ID, EventType: "project.created", MessageID: "msg_x", Body: []byte(`{}`)}
	if err := s.CreateWebhookDeliveries(ctx, []*latchkey.WebhookDelivery{d}); err != nil {
		t.Fatal(err)
	}
	// A node that dies mid-attempt holds the delivery only until its lease runs out.
	if got, err := s.ClaimWebhookDeliveries(ctx, "dead", 10, time.Now().Add(50*time.Millisecond)); err != nil || len(got) != 1 {
		t.Fatalf("first claim = %d, %v", len(got), err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.ClaimWebhookDeliveries(ctx, "alive", 10, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dead node's lease never ran out")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The dead node's late report does not undo the live node's claim.
	if err := s.RecordWebhookAttempts(ctx, "dead", []*latchkey.WebhookAttempt{{DeliveryID: d.ID, Node: "dead", At: time.Now(), Status: 200}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.FindWebhookDeliveryByID(ctx, d.ID); got.State != latchkey.DeliveryPending {
		t.Errorf("state after the dead node's report = %v, want pending (held by alive)", got.State)
	}
	if err := s.RecordWebhookAttempts(ctx, "alive", []*latchkey.WebhookAttempt{{DeliveryID: d.ID, Node: "alive", At: time.Now(), Status: 200}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.FindWebhookDeliveryByID(ctx, d.ID); got.State != latchkey.DeliverySucceeded || got.DeliveredAt == nil {
		t.Errorf("state after alive's report = %v (delivered %v), want succeeded", got.State, got.DeliveredAt)
	}
}

func testWebhookFailingSinceInBatch(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	w := mustWebhook(t, s, a.ID, "project.created")
	var ds []*latchkey.WebhookDelivery
	for i := range 5 {
		ds = append(ds, &latchkey.WebhookDelivery{AccountID: a.ID, SubscriptionID: w.ID, EventID: int64(i + 1), EventType: "project.created",
			MessageID: fmt.Sprintf("msg_%d", i), Body: []byte(`{}`)})
	}
	if err := s.CreateWebhookDeliveries(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ClaimWebhookDeliveries(ctx, "n1", 10, time.Now().Add(time.Minute)); err != nil || len(got) != 5 {
		t.Fatalf("claim = %d, %v", len(got), err)
	}
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	record := func(outcomes ...int) {
		t.Helper()
		var as []*latchkey.WebhookAttempt
		for i, status := range outcomes {
			retry := at(100)
			as = append(as, &latchkey.WebhookAttempt{DeliveryID: ds[i].ID, Node: "n1", At: at(i), Status: status, NextAttemptAt: &retry})
		}
		if err := s.RecordWebhookAttempts(ctx, "n1", as); err != nil {
			t.Fatal(err)
		}
	}
	failing := func() *time.Time {
		sub, err := s.FindWebhookSubscriptionByID(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		return sub.FailingSince
	}
	// Fail, fail: failing since the first failure.
	record(500, 500)
	if f := failing(); f == nil || !f.Equal(at(0)) {
		t.Errorf("FailingSince after fail, fail = %v, want %v", f, at(0))
	}
	// Then, in one batch, a success and a failure: failing again since that failure, not since
	// the first one.
	ds = ds[2:]
	record(200, 500)
	if f := failing(); f == nil || !f.Equal(at(1)) {
		t.Errorf("FailingSince after success, fail in one batch = %v, want %v", f, at(1))
	}
	// Then a success: not failing.
	ds = ds[2:]
	record(200)
	if f := failing(); f != nil {
		t.Errorf("FailingSince after a success = %v, want nil", f)
	}
}

// A failed test send, or an attempt that made no request (the subscription was off), says
// nothing of the endpoint's deliveries: neither starts FailingSince (which disables the
// subscription after three days).
func testWebhookFailingSinceIgnoresTests(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	w := mustWebhook(t, s, a.ID, "project.created")
	test := &latchkey.WebhookDelivery{AccountID: a.ID, SubscriptionID: w.ID, EventType: latchkey.EventTest, MessageID: "msg_test", Body: []byte(`{}`)}
	real := &latchkey.WebhookDelivery{AccountID: a.ID, SubscriptionID: w.ID, EventID: 9, EventType: "project.created", MessageID: "msg_9", Body: []byte(`{}`)}
	if err := s.CreateWebhookDeliveries(ctx, []*latchkey.WebhookDelivery{test, real}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ClaimWebhookDeliveries(ctx, "n1", 10, time.Now().Add(time.Minute)); err != nil || len(got) != 2 {
		t.Fatalf("claim = %d, %v", len(got), err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := s.RecordWebhookAttempts(ctx, "n1", []*latchkey.WebhookAttempt{
		{DeliveryID: test.ID, Node: "n1", At: now, Status: 500, Error: "the endpoint answered HTTP 500"},
		{DeliveryID: real.ID, Node: "n1", At: now, Error: "the subscription is disabled or deleted", NotSent: true},
	}); err != nil {
		t.Fatal(err)
	}
	sub, err := s.FindWebhookSubscriptionByID(ctx, w.ID)
	if err != nil || sub.FailingSince != nil {
		t.Errorf("FailingSince after a failed test and an unsent attempt = %v, %v; want nil", sub.FailingSince, err)
	}
	for _, d := range []*latchkey.WebhookDelivery{test, real} {
		if got, err := s.FindWebhookDeliveryByID(ctx, d.ID); err != nil || got.State != latchkey.DeliveryFailed || got.Attempts != 1 {
			t.Errorf("delivery %s = %v after 1 attempt, %v; want failed (the attempt still counts for the delivery)", d.MessageID, got.State, err)
		}
	}
}

func testEventCursorMoves(t *testing.T, s latchkey.Store) {
	ctx := context.Background()
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	from, es, err := s.FindEventsAfterCursor(ctx, "peek", 10)
	if err != nil || len(es) != 0 {
		t.Fatalf("first FindEventsAfterCursor = %d entries, %v; want none (a new consumer starts at the newest)", len(es), err)
	}
	mustProject(t, s, a.ID, "one")
	mustProject(t, s, a.ID, "two")
	at, es, err := s.FindEventsAfterCursor(ctx, "peek", 1)
	if err != nil || at != from || len(es) != 1 || es[0].EventType != "project.created" {
		t.Fatalf("FindEventsAfterCursor(limit 1) = %d, %d entries, %v", at, len(es), err)
	}
	// Reading does not move the cursor; moving it from where it no longer is fails.
	if again, es2, _ := s.FindEventsAfterCursor(ctx, "peek", 10); again != from || len(es2) != 2 {
		t.Errorf("FindEventsAfterCursor again = %d, %d entries; want %d, 2", again, len(es2), from)
	}
	if err := s.MoveEventCursor(ctx, "peek", from, es[0].ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "MoveEventCursor(stale from)", s.MoveEventCursor(ctx, "peek", from, es[0].ID), latchkey.EConflict)
	if now, rest, err := s.FindEventsAfterCursor(ctx, "peek", 10); err != nil || now != es[0].ID || len(rest) != 1 || rest[0].ID <= es[0].ID {
		t.Errorf("after moving: cursor %d, %d entries, %v; want %d and the second project", now, len(rest), err, es[0].ID)
	}
}

// A node gives back deliveries it claimed and did not attempt: they are due again when it
// says, with no attempt counted; another node cannot give back what it does not hold.
func testWebhookRelease(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	w := mustWebhook(t, s, a.ID, "project.created")
	ds := []*latchkey.WebhookDelivery{
		{AccountID: a.ID, SubscriptionID: w.ID, EventID: 1, EventType: "project.created", MessageID: "msg_1", Body: []byte(`{}`)},
		{AccountID: a.ID, SubscriptionID: w.ID, EventID: 2, EventType: "project.created", MessageID: "msg_2", Body: []byte(`{}`)},
	}
	if err := s.CreateWebhookDeliveries(ctx, ds); err != nil {
		t.Fatal(err)
	}
	lease := time.Now().Add(time.Minute)
	if got, err := s.ClaimWebhookDeliveries(ctx, "n1", 10, lease); err != nil || len(got) != 2 {
		t.Fatalf("claim = %d, %v", len(got), err)
	}
	if err := s.ReleaseWebhookDeliveries(ctx, "n2", []int64{ds[0].ID, ds[1].ID}, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ClaimWebhookDeliveries(ctx, "n2", 10, lease); err != nil || len(got) != 0 {
		t.Errorf("claim after a stranger's release = %d, %v; want none (n1 still holds both)", len(got), err)
	}
	if err := s.ReleaseWebhookDeliveries(ctx, "n1", []int64{ds[0].ID}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseWebhookDeliveries(ctx, "n1", []int64{ds[1].ID}, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := s.ClaimWebhookDeliveries(ctx, "n2", 10, lease)
	if err != nil || len(got) != 1 || got[0].ID != ds[1].ID || got[0].Attempts != 0 {
		t.Fatalf("claim after n1's release = %v, %v; want only %d, with no attempt counted", got, err, ds[1].ID)
	}
	if log, err := s.FindWebhookAttempts(ctx, ds[1].ID); err != nil || len(log) != 0 {
		t.Errorf("attempts logged for a released delivery = %d, %v; want none", len(log), err)
	}

	// A claim that skips busy subscriptions takes only the others' deliveries.
	w2 := mustWebhook(t, s, a.ID, "project.created")
	more := []*latchkey.WebhookDelivery{
		{AccountID: a.ID, SubscriptionID: w.ID, EventID: 3, EventType: "project.created", MessageID: "msg_3", Body: []byte(`{}`)},
		{AccountID: a.ID, SubscriptionID: w2.ID, EventID: 3, EventType: "project.created", MessageID: "msg_3b", Body: []byte(`{}`)},
	}
	if err := s.CreateWebhookDeliveries(ctx, more); err != nil {
		t.Fatal(err)
	}
	got, err = s.ClaimWebhookDeliveries(ctx, "n3", 10, lease, w.ID, 999999)
	if err != nil || len(got) != 1 || got[0].ID != more[1].ID {
		t.Errorf("claim skipping subscription %d = %v, %v; want only delivery %d (of subscription %d)", w.ID, got, err, more[1].ID, w2.ID)
	}
	if got, err := s.ClaimWebhookDeliveries(ctx, "n3", 10, lease, w.ID); err != nil || len(got) != 0 {
		t.Errorf("claim skipping subscription %d again = %v, %v; want none", w.ID, got, err)
	}
	if got, err := s.ClaimWebhookDeliveries(ctx, "n3", 10, lease); err != nil || len(got) != 1 || got[0].ID != more[0].ID {
		t.Errorf("claim skipping nothing = %v, %v; want delivery %d", got, err, more[0].ID)
	}
}
