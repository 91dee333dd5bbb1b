package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/webhook"
)

// hookInbox is a loopback receiver that keeps every request.
type hookInbox struct {
	mu  sync.Mutex
	got []hookRequest
}

type hookRequest struct {
	header http.Header
	body   []byte
	event  webhook.Event
}

func newHookInbox(t *testing.T) (*hookInbox, string) {
	in := &hookInbox{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var ev webhook.Event
		_ = json.Unmarshal(body, &ev)
		in.mu.Lock()
		in.got = append(in.got, hookRequest{header: r.Header.Clone(), body: body, event: ev})
		in.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return in, srv.URL
}

// waitFor returns the first request whose event matches, failing after a generous deadline.
func (in *hookInbox) waitFor(t *testing.T, match func(webhook.Event) bool) []hookRequest {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		in.mu.Lock()
		var out []hookRequest
		for _, r := range in.got {
			if match(r.event) {
				out = append(out, r)
			}
		}
		in.mu.Unlock()
		if len(out) > 0 {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatal("no matching webhook arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebhookEndToEnd subscribes through the API of a running latchkey (with a secret key, so
// the signing secret is sealed at rest), creates and revokes a token, and checks the signed
// deliveries, the test endpoint and a redelivery keeping its webhook-id.
func TestWebhookEndToEnd(t *testing.T) {
	ts := startServer(t, "enterprise", "--webhooks-allow-http-loopback", "--secret-key", strings.Repeat("k", 32))
	inbox, url := newHookInbox(t)
	ctx := context.Background()
	name, events := "tokens", []string{"service_token.*"}
	sub, err := ts.Admin.CreateWebhook(ctx, ts.AccountID, apitype.WebhookRequest{Name: &name, ClientURL: &url, EventTypes: &events})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sub.HMACSecret, "whsec_") {
		t.Fatalf("create answered secret %q, want whsec_…", sub.HMACSecret)
	}
	tok, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "deploy",
		PermissionGrants: []apitype.Grant{{PermissionSet: "job_admin", AllProjects: true}}})
	if err != nil {
		t.Fatal(err)
	}
	got := inbox.waitFor(t, func(e webhook.Event) bool { return e.Type == "service_token.created" })[0]
	if err := webhook.Verify(sub.HMACSecret, got.header, got.body, time.Now()); err != nil {
		t.Errorf("Verify(created event) = %v", err)
	}
	if strings.Contains(string(got.body), tok.TokenString) {
		t.Error("the event holds the token string")
	}
	obj, _ := got.event.Data["object"].(map[string]any)
	if obj["name"] != "deploy" || got.event.Actor.Type == "" {
		t.Errorf("event = %+v, want the token as the API shows it and the actor", got.event)
	}
	if _, err := ts.Admin.DeleteServiceToken(ctx, ts.AccountID, tok.ID); err != nil {
		t.Fatal(err)
	}
	inbox.waitFor(t, func(e webhook.Event) bool { return e.Type == "service_token.revoked" })

	id := strings.TrimPrefix(sub.ID, "wsu_")
	var subID int64
	if err := json.Unmarshal([]byte(id), &subID); err != nil {
		t.Fatal(err)
	}
	res, err := ts.Admin.TestWebhook(ctx, ts.AccountID, subID)
	if err != nil || res.VerificationError != nil || res.VerificationStatusCode != "204" {
		t.Fatalf("TestWebhook = %+v, %v; want 204 and no error", res, err)
	}
	inbox.waitFor(t, func(e webhook.Event) bool { return e.Type == "webhook.test" })

	ds, _, err := ts.Admin.WebhookDeliveries(ctx, ts.AccountID, subID, client.ListOptions{})
	if err != nil || len(ds) < 3 {
		t.Fatalf("deliveries = %d, %v; want created, revoked and the test", len(ds), err)
	}
	var created apitype.WebhookDelivery
	for _, d := range ds {
		if d.EventType == "service_token.created" {
			created = d
		}
	}
	if _, err := ts.Admin.Redeliver(ctx, ts.AccountID, created.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		again := inbox.waitFor(t, func(e webhook.Event) bool { return e.Type == "service_token.created" })
		if len(again) >= 2 {
			if again[1].header.Get("webhook-id") != again[0].header.Get("webhook-id") {
				t.Errorf("redelivery webhook-id %q, first %q: want the same", again[1].header.Get("webhook-id"), again[0].header.Get("webhook-id"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the redelivery never arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
