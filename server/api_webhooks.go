package server

import (
	"context"
	"net/http"
	"slices"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
)

// Webhooks: dbt Cloud's webhook subscription endpoints (ids "wsu_…"; a bare number is accepted
// in paths too), and latchkey's own for rotating a secret and reading and redelivering the
// delivery log. Rights and validation are admin's: webhooks:write, and audit_logs:read to choose
// event types.

// WebhookSender sends a subscription's test event now, once, and returns the delivery and its
// attempt (also kept in the delivery log).
type WebhookSender interface {
	SendTest(ctx context.Context, sub *latchkey.WebhookSubscription) (*latchkey.WebhookDelivery, *latchkey.WebhookAttempt, error)
}

// errWebhooksNotRunning answers a test on a server without the delivery dispatcher.
var errWebhooksNotRunning = latchkey.Errorf(latchkey.EUnavailable, "webhook delivery is not running on this server")

// webhookPathID reads {webhook_id}: "wsu_12" or "12"; anything else is not found.
func webhookPathID(r *http.Request) (int64, error) {
	id, ok := apitype.ParseWebhookID(r.PathValue("webhook_id"))
	if !ok {
		return 0, latchkey.Errorf(latchkey.ENotFound, "webhook %q not found", r.PathValue("webhook_id"))
	}
	return id, nil
}

// webhookOut renders a subscription with its latest delivery.
func (s *Server) webhookOut(ctx context.Context, p *latchkey.Principal, w *latchkey.WebhookSubscription) (apitype.WebhookSubscription, error) {
	last, err := s.admin.LastWebhookDelivery(ctx, p, w.ID)
	if err != nil {
		return apitype.WebhookSubscription{}, err
	}
	return apitype.WebhookSubscriptionOf(w, last), nil
}

// decodeWebhook reads a subscription request.
func decodeWebhook(r *http.Request, p *latchkey.Principal) (*apitype.WebhookRequest, error) {
	var req apitype.WebhookRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return nil, err
	}
	if len(req.JobIDs) > 0 {
		return nil, latchkey.FieldError("job_ids", "job_ids must be empty: latchkey has no jobs, and sends the events of its own catalogue")
	}
	return &req, nil
}

// webhookInput overlays a request on the subscription's current values (zero for a new one):
// a field left out keeps its value.
func webhookInput(cur *latchkey.WebhookSubscription, req *apitype.WebhookRequest) admin.WebhookInput {
	var in admin.WebhookInput
	if cur != nil {
		in = admin.WebhookInput{Name: cur.Name, Description: cur.Description, ClientURL: cur.ClientURL, EventTypes: slices.Clone(cur.EventTypes)}
	}
	if req.Name != nil {
		in.Name = *req.Name
	}
	if req.Description != nil {
		in.Description = *req.Description
	}
	if req.ClientURL != nil {
		in.ClientURL = *req.ClientURL
	}
	if req.EventTypes != nil {
		in.EventTypes = *req.EventTypes
	}
	in.Active = req.Active
	if req.HMACSecret != nil {
		in.HMACSecret = *req.HMACSecret
	}
	return in
}

func (s *Server) handleAPIWebhookList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	lp, err := parseList(r, "id")
	if err != nil {
		return err
	}
	subs, err := s.admin.Webhooks(r.Context(), p)
	if err != nil {
		return err
	}
	total := len(subs)
	subs = subs[min(lp.offset, total):min(lp.offset+lp.limit, total)]
	out := make([]apitype.WebhookSubscription, len(subs))
	for i, sub := range subs {
		if out[i], err = s.webhookOut(r.Context(), p, sub); err != nil {
			return err
		}
	}
	respondList(w, out, total, lp)
	return nil
}

// handleAPIWebhookCreate subscribes an endpoint; the answer holds hmac_secret, this once.
func (s *Server) handleAPIWebhookCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	req, err := decodeWebhook(r, p)
	if err != nil {
		return err
	}
	sub, secret, err := s.admin.CreateWebhook(r.Context(), p, webhookInput(nil, req))
	if err != nil {
		return err
	}
	out := apitype.WebhookSubscriptionOf(sub, nil)
	out.HMACSecret = secret
	respond(w, http.StatusCreated, out, nil)
	return nil
}

func (s *Server) handleAPIWebhookGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := webhookPathID(r)
	if err != nil {
		return err
	}
	sub, err := s.admin.Webhook(r.Context(), p, id)
	if err != nil {
		return err
	}
	out, err := s.webhookOut(r.Context(), p, sub)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, out, nil)
	return nil
}

// handleAPIWebhookUpdate changes a subscription (PUT, as dbt's clients do, or POST): the fields
// given replace the current ones, which the others keep.
func (s *Server) handleAPIWebhookUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := webhookPathID(r)
	if err != nil {
		return err
	}
	req, err := decodeWebhook(r, p)
	if err != nil {
		return err
	}
	cur, err := s.admin.Webhook(r.Context(), p, id)
	if err != nil {
		return err
	}
	sub, err := s.admin.UpdateWebhook(r.Context(), p, id, webhookInput(cur, req))
	if err != nil {
		return err
	}
	out, err := s.webhookOut(r.Context(), p, sub)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, out, nil)
	return nil
}

// handleAPIWebhookDelete deletes a subscription and answers it as it was.
func (s *Server) handleAPIWebhookDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := webhookPathID(r)
	if err != nil {
		return err
	}
	sub, err := s.admin.Webhook(r.Context(), p, id)
	if err != nil {
		return err
	}
	if err := s.admin.DeleteWebhook(r.Context(), p, id); err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.WebhookSubscriptionOf(sub, nil), nil)
	return nil
}

// handleAPIWebhookTest sends a test event now and answers how the endpoint took it.
func (s *Server) handleAPIWebhookTest(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := webhookPathID(r)
	if err != nil {
		return err
	}
	sub, err := s.admin.WebhookForTest(r.Context(), p, id)
	if err != nil {
		return err
	}
	if s.cfg.Webhooks == nil {
		return errWebhooksNotRunning
	}
	d, a, err := s.cfg.Webhooks.SendTest(r.Context(), sub)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.WebhookTestOf(d, a), nil)
	return nil
}

// handleAPIWebhookRotateSecret gives a subscription a new secret, in the answer this once; the
// old one keeps signing for a day.
func (s *Server) handleAPIWebhookRotateSecret(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := webhookPathID(r)
	if err != nil {
		return err
	}
	sub, secret, err := s.admin.RotateWebhookSecret(r.Context(), p, id)
	if err != nil {
		return err
	}
	out, err := s.webhookOut(r.Context(), p, sub)
	if err != nil {
		return err
	}
	out.HMACSecret = secret
	respond(w, http.StatusOK, out, nil)
	return nil
}

// deliveryStates are the state filters of the delivery log.
var deliveryStates = []latchkey.WebhookDeliveryState{latchkey.DeliveryPending, latchkey.DeliverySucceeded, latchkey.DeliveryFailed}

// handleAPIWebhookDeliveryList pages a subscription's delivery log, newest first; state filters
// by pending, succeeded or failed.
func (s *Server) handleAPIWebhookDeliveryList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := webhookPathID(r)
	if err != nil {
		return err
	}
	// state here is a delivery's, not an object's 1 or 2: parseList reads the rest.
	q := r.URL.Query()
	state := q.Get("state")
	q.Del("state")
	pr := r.Clone(r.Context())
	pr.URL.RawQuery = q.Encode()
	lp, err := parseList(pr, "-id")
	if err != nil {
		return err
	}
	delete(lp.filters, "state")
	f := latchkey.WebhookDeliveryFilter{SubscriptionID: &id, Offset: lp.offset, Limit: lp.limit}
	if state != "" {
		st := latchkey.WebhookDeliveryState(state)
		if !slices.Contains(deliveryStates, st) {
			return latchkey.FieldError("state", "state must be pending, succeeded or failed")
		}
		f.State = &st
		lp.filters["state"] = state
	}
	if _, err := s.admin.Webhook(r.Context(), p, id); err != nil {
		return err
	}
	ds, total, err := s.admin.WebhookDeliveries(r.Context(), p, f)
	if err != nil {
		return err
	}
	out := make([]apitype.WebhookDelivery, len(ds))
	for i, d := range ds {
		out[i] = apitype.WebhookDeliveryOf(d, nil)
	}
	respondList(w, out, total, lp)
	return nil
}

// handleAPIWebhookDeliveryGet answers a delivery with its payload and attempts.
func (s *Server) handleAPIWebhookDeliveryGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "delivery_id")
	if err != nil {
		return err
	}
	d, as, err := s.admin.WebhookDelivery(r.Context(), p, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.WebhookDeliveryOf(d, as), nil)
	return nil
}

// handleAPIWebhookRedeliver sends a delivery again, with the same message id.
func (s *Server) handleAPIWebhookRedeliver(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "delivery_id")
	if err != nil {
		return err
	}
	d, err := s.admin.Redeliver(r.Context(), p, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.WebhookDeliveryOf(d, nil), nil)
	return nil
}
