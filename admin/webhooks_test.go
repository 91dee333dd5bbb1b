package admin_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
)

func webhookInput(name string, events ...string) admin.WebhookInput {
	if events == nil {
		events = []string{"service_token.*"}
	}
	return admin.WebhookInput{Name: name, ClientURL: "https://hooks.example.com/latchkey", EventTypes: events}
}

// Managing webhooks takes webhooks:write; choosing events also takes audit_logs:read, as events
// carry what the audit log holds. A Member has the first and not the second.
func TestWebhookRights(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		member := w.add("member@acme.test", latchkey.LicenseDeveloper, "Member")
		reader := w.add("reader@acme.test", latchkey.LicenseReadOnly)

		ctx, p := w.as(member)
		if caps := admin.Capabilities(p); !caps.WebhooksManage || caps.AuditLogsRead {
			t.Fatalf("a Member's caps: WebhooksManage %v, AuditLogsRead %v; want true, false", caps.WebhooksManage, caps.AuditLogsRead)
		}
		_, _, err := w.svc.CreateWebhook(ctx, p, webhookInput("member hook"))
		wantCode(t, "CreateWebhook as a Member without audit_logs:read", err, latchkey.EForbidden)
		var le *latchkey.Error
		if !asError(err, &le) || le.Field != "event_types" || !strings.Contains(le.Message, "audit_logs:read") {
			t.Errorf("CreateWebhook as a Member = %v, want a 403 on event_types naming audit_logs:read", err)
		}

		rctx, rp := w.as(reader)
		_, err = w.svc.Webhooks(rctx, rp)
		wantCode(t, "Webhooks as a read-only member", err, latchkey.EForbidden)

		octx, op := w.as(w.owner.ID)
		sub, secret, err := w.svc.CreateWebhook(octx, op, webhookInput("ops", "service_token.*", "user.signed_in", "service_token.*"))
		if err != nil {
			t.Fatalf("CreateWebhook as the owner: %v", err)
		}
		if !strings.HasPrefix(secret, "whsec_") || !sub.Active || len(sub.EventTypes) != 2 {
			t.Errorf("CreateWebhook = active %v, events %v, secret %q; want active, the repeat dropped, a whsec_ secret", sub.Active, sub.EventTypes, secret)
		}

		// The Member reads and renames it, and sends back the same events; changing them is refused.
		subs, err := w.svc.Webhooks(ctx, p)
		if err != nil || len(subs) != 1 {
			t.Fatalf("Webhooks as a Member = %v, %v", subs, err)
		}
		in := webhookInput("ops (renamed)", sub.EventTypes...)
		if got, err := w.svc.UpdateWebhook(ctx, p, sub.ID, in); err != nil || got.Name != "ops (renamed)" {
			t.Errorf("UpdateWebhook(name) as a Member = %v, %v", got, err)
		}
		_, err = w.svc.UpdateWebhook(ctx, p, sub.ID, webhookInput("ops", "*"))
		wantCode(t, "UpdateWebhook(event_types) as a Member", err, latchkey.EForbidden)
		if _, err := w.svc.SetWebhookActive(ctx, p, sub.ID, false); err != nil {
			t.Errorf("SetWebhookActive(false) as a Member: %v", err)
		}

		// What would hand the account's events to the Member is refused: pointing the owner's
		// subscription elsewhere, learning or choosing its secret, reading or resending the log.
		steal := webhookInput("ops (renamed)", sub.EventTypes...)
		steal.ClientURL = "https://attacker.example.net/collect"
		_, err = w.svc.UpdateWebhook(ctx, p, sub.ID, steal)
		wantField(t, "UpdateWebhook(client_url) as a Member", err, latchkey.EForbidden, "client_url")
		chosen := webhookInput("ops (renamed)", sub.EventTypes...)
		chosen.HMACSecret = "whsec_" + strings.Repeat("QUFB", 11)
		_, err = w.svc.UpdateWebhook(ctx, p, sub.ID, chosen)
		wantField(t, "UpdateWebhook(hmac_secret) as a Member", err, latchkey.EForbidden, "hmac_secret")
		_, _, err = w.svc.RotateWebhookSecret(ctx, p, sub.ID)
		wantCode(t, "RotateWebhookSecret as a Member", err, latchkey.EForbidden)
		_, _, err = w.svc.WebhookDeliveries(ctx, p, latchkey.WebhookDeliveryFilter{SubscriptionID: &sub.ID})
		wantCode(t, "WebhookDeliveries as a Member", err, latchkey.EForbidden)
		_, _, err = w.svc.WebhookDelivery(ctx, p, 1)
		wantCode(t, "WebhookDelivery as a Member", err, latchkey.EForbidden)
		_, err = w.svc.Redeliver(ctx, p, 1)
		wantCode(t, "Redeliver as a Member", err, latchkey.EForbidden)
		if _, err := w.svc.LastWebhookDelivery(ctx, p, sub.ID); err != nil {
			t.Errorf("LastWebhookDelivery as a Member (the summary any manager sees): %v", err)
		}
		after, err := w.svc.Webhook(octx, op, sub.ID)
		if err != nil || after.ClientURL != sub.ClientURL || after.Secret != sub.Secret || after.PrevSecretUntil != nil {
			t.Errorf("after the Member's refused changes: %+v, %v; want the owner's URL and secret untouched", after, err)
		}

		// The owner may do all of it.
		moved := webhookInput("ops", sub.EventTypes...)
		moved.ClientURL = "https://hooks2.example.com/latchkey"
		if got, err := w.svc.UpdateWebhook(octx, op, sub.ID, moved); err != nil || got.ClientURL != moved.ClientURL {
			t.Errorf("UpdateWebhook(client_url) as the owner = %v, %v", got, err)
		}
		if _, _, err := w.svc.RotateWebhookSecret(octx, op, sub.ID); err != nil {
			t.Errorf("RotateWebhookSecret as the owner: %v", err)
		}
		if _, _, err := w.svc.WebhookDeliveries(octx, op, latchkey.WebhookDeliveryFilter{SubscriptionID: &sub.ID}); err != nil {
			t.Errorf("WebhookDeliveries as the owner: %v", err)
		}
	})
}

func wantField(t *testing.T, what string, err error, code latchkey.ErrorCode, field string) {
	t.Helper()
	wantCode(t, what, err, code)
	var le *latchkey.Error
	if asError(err, &le) && le.Field != field {
		t.Errorf("%s: field %q, want %q", what, le.Field, field)
	}
}

func asError(err error, le **latchkey.Error) bool {
	e, ok := err.(*latchkey.Error)
	*le = e
	return ok
}

// Another account's webhook is not found, whatever is asked of it.
func TestWebhookOtherAccount(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		ctx, p := w.as(w.owner.ID)
		sub, _, err := w.svc.CreateWebhook(ctx, p, webhookInput("acme"))
		if err != nil {
			t.Fatal(err)
		}
		res, err := w.svc.CreateAccount(context.Background(), admin.Bootstrap{Account: "Globex", Plan: latchkey.PlanEnterprise,
			Email: "owner@globex.test", Password: "correct horse battery staple"})
		if err != nil {
			t.Fatal(err)
		}
		gp, err := w.svc.UserPrincipal(context.Background(), res.User.ID, res.Account.ID, latchkey.AuthPAT)
		if err != nil {
			t.Fatal(err)
		}
		gctx := latchkey.WithActor(context.Background(), latchkey.ActorOf(gp, "127.0.0.1", "api"))
		_, err = w.svc.Webhook(gctx, gp, sub.ID)
		wantCode(t, "Webhook(another account's)", err, latchkey.ENotFound)
		_, err = w.svc.UpdateWebhook(gctx, gp, sub.ID, webhookInput("mine"))
		wantCode(t, "UpdateWebhook(another account's)", err, latchkey.ENotFound)
		_, _, err = w.svc.RotateWebhookSecret(gctx, gp, sub.ID)
		wantCode(t, "RotateWebhookSecret(another account's)", err, latchkey.ENotFound)
		wantCode(t, "DeleteWebhook(another account's)", w.svc.DeleteWebhook(gctx, gp, sub.ID), latchkey.ENotFound)
		_, _, err = w.svc.WebhookDeliveries(gctx, gp, latchkey.WebhookDeliveryFilter{SubscriptionID: &sub.ID})
		wantCode(t, "WebhookDeliveries(another account's webhook)", err, latchkey.ENotFound)
		if subs, err := w.svc.Webhooks(gctx, gp); err != nil || len(subs) != 0 {
			t.Errorf("Webhooks(Globex) = %v, %v; want none", subs, err)
		}
	})
}

// Bad input is refused with a 400 naming the field.
func TestWebhookValidation(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		ctx, p := w.as(w.owner.ID)
		for _, tt := range []struct {
			name  string
			in    func(in *admin.WebhookInput)
			field string
		}{
			{"no name", func(in *admin.WebhookInput) { in.Name = "  " }, "name"},
			{"long name", func(in *admin.WebhookInput) { in.Name = strings.Repeat("n", 256) }, "name"},
			{"long description", func(in *admin.WebhookInput) { in.Description = strings.Repeat("d", 1025) }, "description"},
			{"no url", func(in *admin.WebhookInput) { in.ClientURL = "" }, "client_url"},
			{"http url", func(in *admin.WebhookInput) { in.ClientURL = "http://hooks.example.com/" }, "client_url"},
			{"not a url", func(in *admin.WebhookInput) { in.ClientURL = "hooks" }, "client_url"},
			{"no events", func(in *admin.WebhookInput) { in.EventTypes = nil }, "event_types"},
			{"unknown event", func(in *admin.WebhookInput) { in.EventTypes = []string{"service_token.created", "token.stolen"} }, "event_types"},
			{"unknown category", func(in *admin.WebhookInput) { in.EventTypes = []string{"nothing.*"} }, "event_types"},
			{"too many events", func(in *admin.WebhookInput) { in.EventTypes = make([]string, 65) }, "event_types"},
			{"secret without prefix", func(in *admin.WebhookInput) { in.HMACSecret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0" }, "hmac_secret"},
			{"short secret", func(in *admin.WebhookInput) { in.HMACSecret = "whsec_c2hvcnQ=" }, "hmac_secret"},
			{"secret not base64", func(in *admin.WebhookInput) { in.HMACSecret = "whsec_" + strings.Repeat("!", 40) }, "hmac_secret"},
		} {
			in := webhookInput("hook")
			tt.in(&in)
			_, _, err := w.svc.CreateWebhook(ctx, p, in)
			var le *latchkey.Error
			if !asError(err, &le) || le.Code != latchkey.EInvalid || le.Field != tt.field {
				t.Errorf("CreateWebhook(%s) = %v, want invalid on %s", tt.name, err, tt.field)
			}
		}
		if !strings.Contains(latchkey.ErrorMessage(func() error {
			in := webhookInput("hook", "token.stolen")
			_, _, err := w.svc.CreateWebhook(ctx, p, in)
			return err
		}()), `"token.stolen"`) {
			t.Errorf("an unknown event type's message does not name it")
		}

		// A chosen secret is kept; a URL check from cmd/latchkey replaces the default.
		chosen := "whsec_" + strings.Repeat("QUJD", 8) // 24 bytes
		_, secret, err := w.svc.CreateWebhook(ctx, p, admin.WebhookInput{Name: "chosen", ClientURL: "http://127.0.0.1:9/hook",
			EventTypes: []string{"*"}, HMACSecret: chosen})
		wantCode(t, "CreateWebhook(http loopback, default check)", err, latchkey.EInvalid)
		w.svc.WebhookURLCheck = func(string) error { return nil }
		_, secret, err = w.svc.CreateWebhook(ctx, p, admin.WebhookInput{Name: "chosen", ClientURL: "http://127.0.0.1:9/hook",
			EventTypes: []string{"*"}, HMACSecret: chosen})
		if err != nil || secret != chosen {
			t.Errorf("CreateWebhook(chosen secret) = %q, %v; want the secret kept", secret, err)
		}
	})
}

// An account has at most MaxActiveWebhooks turned on.
func TestWebhookActiveLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		ctx, p := w.as(w.owner.ID)
		var first *latchkey.WebhookSubscription
		for i := range admin.MaxActiveWebhooks {
			sub, _, err := w.svc.CreateWebhook(ctx, p, webhookInput("hook"))
			if err != nil {
				t.Fatalf("CreateWebhook #%d: %v", i+1, err)
			}
			if first == nil {
				first = sub
			}
		}
		_, _, err := w.svc.CreateWebhook(ctx, p, webhookInput("one too many"))
		wantCode(t, "CreateWebhook(21st active)", err, latchkey.EConflict)
		off := false
		in := webhookInput("spare")
		in.Active = &off
		spare, _, err := w.svc.CreateWebhook(ctx, p, in)
		if err != nil {
			t.Fatalf("CreateWebhook(inactive 21st): %v", err)
		}
		_, err = w.svc.SetWebhookActive(ctx, p, spare.ID, true)
		wantCode(t, "SetWebhookActive(21st)", err, latchkey.EConflict)
		if _, err := w.svc.SetWebhookActive(ctx, p, first.ID, false); err != nil {
			t.Fatal(err)
		}
		if got, err := w.svc.SetWebhookActive(ctx, p, spare.ID, true); err != nil || !got.Active {
			t.Errorf("SetWebhookActive(spare) after one was turned off = %v, %v", got, err)
		}
	})
}

// Secrets are sealed at rest with the deployment's key, rotate with a day of overlap, and never
// reach the audit log.
func TestWebhookSecrets(t *testing.T) {
	eachStore(t, func(t *testing.T, s latchkey.Store) {
		w := newWorld(t, s)
		w.svc.SecretKey = []byte("test secret key")
		now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		w.svc.Now = func() time.Time { return now }
		ctx, p := w.as(w.owner.ID)
		sub, secret, err := w.svc.CreateWebhook(ctx, p, webhookInput("sealed"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(sub.Secret, "sealed:") || strings.Contains(sub.Secret, secret) {
			t.Errorf("stored secret = %q, want it sealed", sub.Secret)
		}
		if got, err := w.svc.OpenWebhookSecret(sub.Secret); err != nil || got != secret {
			t.Errorf("OpenWebhookSecret = %q, %v; want the secret", got, err)
		}
		if got, err := w.svc.OpenWebhookSecret(secret); err != nil || got != secret {
			t.Errorf("OpenWebhookSecret(plain) = %q, %v; want it unchanged", got, err)
		}

		rotated, next, err := w.svc.RotateWebhookSecret(ctx, p, sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		if next == secret || !strings.HasPrefix(next, "whsec_") || rotated.PrevSecret != sub.Secret ||
			rotated.PrevSecretUntil == nil || !rotated.PrevSecretUntil.Equal(now.Add(24*time.Hour)) {
			t.Errorf("RotateWebhookSecret = prev %q until %v; want the old secret for 24 h", rotated.PrevSecret, rotated.PrevSecretUntil)
		}
		// Sending back the current secret in an update changes nothing; a new one rotates to it.
		in := webhookInput("sealed", sub.EventTypes...)
		in.HMACSecret = next
		same, err := w.svc.UpdateWebhook(ctx, p, sub.ID, in)
		if err != nil || same.Secret != rotated.Secret {
			t.Errorf("UpdateWebhook(current secret) = %v; the secret changed", err)
		}
		chosen := "whsec_" + strings.Repeat("QUJD", 10)
		in.HMACSecret = chosen
		changed, err := w.svc.UpdateWebhook(ctx, p, sub.ID, in)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := w.svc.OpenWebhookSecret(changed.Secret); got != chosen {
			t.Errorf("UpdateWebhook(new secret) stored %q, want %q", got, chosen)
		}

		// Without a key secrets are stored as they are.
		w.svc.SecretKey = nil
		plain, plainSecret, err := w.svc.CreateWebhook(ctx, p, webhookInput("plain"))
		if err != nil || plain.Secret != plainSecret {
			t.Errorf("CreateWebhook without a key stored %q, %v; want the secret as is", plain.Secret, err)
		}
		if err := w.svc.DeleteWebhook(ctx, p, plain.ID); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.Webhook(ctx, p, plain.ID)
		wantCode(t, "Webhook(deleted)", err, latchkey.ENotFound)

		entries, _, err := s.FindAuditEntries(context.Background(), latchkey.AuditFilter{AccountID: w.account.ID, Limit: latchkey.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, e := range entries {
			if !strings.HasPrefix(e.EventType, "webhook.") {
				continue
			}
			seen++
			b, _ := json.Marshal(e)
			for _, leak := range []string{secret, next, chosen, plainSecret, "whsec_", "sealed:"} {
				if strings.Contains(string(b), leak) {
					t.Errorf("audit entry %s holds a secret (%q): %s", e.EventType, leak, b)
				}
			}
		}
		if seen < 5 {
			t.Errorf("%d webhook audit entries, want at least 5 (created, rotated, changed, created, deleted)", seen)
		}
	})
}
