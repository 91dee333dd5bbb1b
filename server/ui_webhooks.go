package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
)

// Account settings: Webhooks. The list, a form for new and changed subscriptions (event types
// as checkboxes by category), the signing secret shown once, a detail page with the delivery
// log, and confirmation pages for rotating the secret and deleting. admin decides who may do
// what; the pages show only what the principal can use.

// eventCategory is one category of the event catalogue, for the form's checkboxes.
type eventCategory struct {
	Name  string
	Types []latchkey.EventType
}

// eventCategories groups latchkey.EventTypes by category, in catalogue order.
func eventCategories() []eventCategory {
	var out []eventCategory
	for _, e := range latchkey.EventTypes {
		cat, _, _ := strings.Cut(e.Type, ".")
		if len(out) == 0 || out[len(out)-1].Name != cat {
			out = append(out, eventCategory{Name: cat})
		}
		out[len(out)-1].Types = append(out[len(out)-1].Types, e)
	}
	return out
}

// webhookRow is a subscription of the list with its latest delivery (nil before the first).
type webhookRow struct {
	Sub  *latchkey.WebhookSubscription
	Last *latchkey.WebhookDelivery
}

type webhooksData struct {
	Rows []webhookRow
	// NoSecretKey: the deployment stores signing secrets unsealed (no --secret-key).
	NoSecretKey bool
}

func (s *Server) lastDelivery(r *http.Request, us *uiSession, id int64) (*latchkey.WebhookDelivery, error) {
	return s.admin.LastWebhookDelivery(r.Context(), us.p, id)
}

func (s *Server) handleUIWebhookList(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	subs, err := s.admin.Webhooks(r.Context(), us.p)
	if err != nil {
		return err
	}
	d := &webhooksData{NoSecretKey: len(s.cfg.SecretKey) == 0}
	for _, sub := range subs {
		last, err := s.lastDelivery(r, us, sub.ID)
		if err != nil {
			return err
		}
		d.Rows = append(d.Rows, webhookRow{Sub: sub, Last: last})
	}
	s.show(w, r, us, "webhooks", "Webhooks", d)
	return nil
}

// webhookFormData is the new or edit form.
type webhookFormData struct {
	// ID is the subscription being changed (0 for a new one).
	ID                           int64
	FormID                       string
	Name, Description, ClientURL string
	Events                       []string
	Active                       bool
	Categories                   []eventCategory
	Errors                       formErrors
}

// Has reports whether the form has event type (or pattern) t ticked.
func (d *webhookFormData) Has(t string) bool { return slices.Contains(d.Events, t) }

// Action is where the form posts.
func (d *webhookFormData) Action() string {
	if d.ID == 0 {
		return "/settings/webhooks/new"
	}
	return webhookURL(d.ID) + "/edit"
}

func webhookURL(id int64) string { return "/settings/webhooks/" + strconv.FormatInt(id, 10) }

// uiWebhookID reads {webhook_id} of a page's path.
func uiWebhookID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("webhook_id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, latchkey.Errorf(latchkey.ENotFound, "webhook %q not found", r.PathValue("webhook_id"))
	}
	return id, nil
}

// readWebhookForm reads the posted form into d and returns it as admin's input.
func readWebhookForm(r *http.Request, d *webhookFormData) admin.WebhookInput {
	f := r.PostForm
	d.FormID, d.Name, d.Description, d.ClientURL = f.Get("form_id"), f.Get("name"), f.Get("description"), strings.TrimSpace(f.Get("client_url"))
	d.Events, d.Active = f["event_types"], f.Get("active") == "on"
	return admin.WebhookInput{Name: d.Name, Description: d.Description, ClientURL: d.ClientURL, EventTypes: d.Events, Active: &d.Active}
}

func (s *Server) showWebhookForm(w http.ResponseWriter, r *http.Request, us *uiSession, status int, d *webhookFormData, msg string) {
	title := "New webhook"
	if d.ID != 0 {
		title = "Edit webhook"
	}
	s.showStatus(w, r, us, status, "webhook_form", title, d, msg)
}

func (s *Server) handleUIWebhookNew(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := admin.CanManageWebhooks(us.p); err != nil {
		return err
	}
	s.showWebhookForm(w, r, us, http.StatusOK, &webhookFormData{FormID: randomString(16), Active: true, Categories: eventCategories(),
		Errors: formErrors{}}, "")
	return nil
}

// webhookFields are the fields the form shows errors next to.
var webhookFields = []string{"name", "description", "client_url", "event_types"}

func (s *Server) handleUIWebhookCreate(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d := &webhookFormData{Categories: eventCategories(), Errors: formErrors{}}
	in := readWebhookForm(r, d)
	if !s.forms.claim(d.FormID) {
		return errFormUsed
	}
	sub, secret, err := s.admin.CreateWebhook(r.Context(), us.p, in)
	if err != nil {
		s.forms.release(d.FormID)
		if fieldErr(d.Errors, err, webhookFields...) != nil {
			if latchkey.SystemError(err) {
				return err
			}
			s.showWebhookForm(w, r, us, formStatus(err), d, uiMessage(err))
			return nil
		}
		s.showWebhookForm(w, r, us, http.StatusBadRequest, d, "The webhook was not created: fix the fields marked below.")
		return nil
	}
	s.show(w, r, us, "webhook_secret", "Webhook signing secret", &webhookSecretData{Sub: sub, Secret: secret})
	return nil
}

// webhookSecretData is the page that shows a signing secret, once.
type webhookSecretData struct {
	Sub     *latchkey.WebhookSubscription
	Secret  string
	Rotated bool
}

func (s *Server) handleUIWebhookEditForm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := uiWebhookID(r)
	if err != nil {
		return err
	}
	sub, err := s.admin.Webhook(r.Context(), us.p, id)
	if err != nil {
		return err
	}
	s.showWebhookForm(w, r, us, http.StatusOK, &webhookFormData{ID: id, Name: sub.Name, Description: sub.Description, ClientURL: sub.ClientURL,
		Events: sub.EventTypes, Active: sub.Active, Categories: eventCategories(), Errors: formErrors{}}, "")
	return nil
}

func (s *Server) handleUIWebhookEdit(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := uiWebhookID(r)
	if err != nil {
		return err
	}
	d := &webhookFormData{ID: id, Categories: eventCategories(), Errors: formErrors{}}
	in := readWebhookForm(r, d)
	if _, err := s.admin.UpdateWebhook(r.Context(), us.p, id, in); err != nil {
		if fieldErr(d.Errors, err, webhookFields...) != nil {
			if latchkey.SystemError(err) || latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
				return err
			}
			s.showWebhookForm(w, r, us, formStatus(err), d, uiMessage(err))
			return nil
		}
		s.showWebhookForm(w, r, us, http.StatusBadRequest, d, "The webhook was not changed: fix the fields marked below.")
		return nil
	}
	s.redirectFlash(w, r, webhookURL(id), "Webhook saved.")
	return nil
}

// webhookDetailData is a subscription's page with a page of its delivery log.
type webhookDetailData struct {
	Sub        *latchkey.WebhookSubscription
	Deliveries []*latchkey.WebhookDelivery
	Pager      pager
	// Test is the outcome of a test just sent (nil otherwise).
	Test *webhookTestOutcome
}

// webhookTestOutcome is what a test's endpoint answered.
type webhookTestOutcome struct {
	OK         bool
	Status     int
	Error      string
	DeliveryID int64
}

func (s *Server) webhookDetail(r *http.Request, us *uiSession, id int64) (*webhookDetailData, error) {
	sub, err := s.admin.Webhook(r.Context(), us.p, id)
	if err != nil {
		return nil, err
	}
	d := &webhookDetailData{Sub: sub}
	if admin.CanReadEvents(us.p) != nil {
		return d, nil // the page says the log needs audit_logs read
	}
	var total int
	pg := newPager(r, webhookURL(id)+"?", 0)
	d.Deliveries, total, err = s.admin.WebhookDeliveries(r.Context(), us.p, latchkey.WebhookDeliveryFilter{SubscriptionID: &id,
		Offset: pg.Offset(), Limit: pg.PerPage})
	if err != nil {
		return nil, err
	}
	pg.Total = total
	d.Pager = pg
	return d, nil
}

func (s *Server) handleUIWebhookDetail(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := uiWebhookID(r)
	if err != nil {
		return err
	}
	d, err := s.webhookDetail(r, us, id)
	if err != nil {
		return err
	}
	s.show(w, r, us, "webhook_detail", d.Sub.Name, d)
	return nil
}

// handleUIWebhookTest sends a test event now and shows the subscription's page with the
// outcome (sending again on a reload is harmless: it is only a test).
func (s *Server) handleUIWebhookTest(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := uiWebhookID(r)
	if err != nil {
		return err
	}
	sub, err := s.admin.WebhookForTest(r.Context(), us.p, id)
	if err != nil {
		return err
	}
	if s.cfg.Webhooks == nil {
		d, err := s.webhookDetail(r, us, id)
		if err != nil {
			return err
		}
		s.showStatus(w, r, us, http.StatusServiceUnavailable, "webhook_detail", sub.Name, d, uiMessage(errWebhooksNotRunning))
		return nil
	}
	dl, a, err := s.cfg.Webhooks.SendTest(r.Context(), sub)
	if err != nil {
		return err
	}
	d, err := s.webhookDetail(r, us, id)
	if err != nil {
		return err
	}
	d.Test = &webhookTestOutcome{OK: a.Succeeded(), Status: a.Status, Error: a.Error, DeliveryID: dl.ID}
	s.show(w, r, us, "webhook_detail", sub.Name, d)
	return nil
}

func (s *Server) handleUIWebhookActive(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := uiWebhookID(r)
	if err != nil {
		return err
	}
	on := r.PostForm.Get("active") == "on"
	sub, err := s.admin.SetWebhookActive(r.Context(), us.p, id, on)
	if err != nil {
		return err
	}
	msg := "Webhook " + sub.Name + " disabled: nothing is sent to it, and its pending deliveries were dropped."
	if on {
		msg = "Webhook " + sub.Name + " enabled."
	}
	s.redirectFlash(w, r, webhookURL(id), msg)
	return nil
}

// webhookConfirmData is the confirmation before rotating a secret or deleting a subscription.
type webhookConfirmData struct {
	Sub                                   *latchkey.WebhookSubscription
	Title, Message, Action, Button, Focus string
	FormID                                string
	Danger                                bool
}

func (s *Server) handleUIWebhookRotateConfirm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := uiWebhookID(r)
	if err != nil {
		return err
	}
	sub, err := s.admin.Webhook(r.Context(), us.p, id)
	if err != nil {
		return err
	}
	s.show(w, r, us, "webhook_confirm", "Rotate the signing secret", &webhookConfirmData{Sub: sub, Title: "Rotate the signing secret of “" + sub.Name + "”?",
		Message: "latchkey makes a new signing secret and shows it once. For 24 hours deliveries carry signatures with both the old and the new secret, so you can update the receiver without dropping any; after that only the new one signs.",
		Action:  webhookURL(id) + "/rotate", Button: "Rotate secret", FormID: randomString(16)})
	return nil
}

func (s *Server) handleUIWebhookRotate(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := uiWebhookID(r)
	if err != nil {
		return err
	}
	formID := r.PostForm.Get("form_id")
	if !s.forms.claim(formID) {
		return errFormUsed
	}
	sub, secret, err := s.admin.RotateWebhookSecret(r.Context(), us.p, id)
	if err != nil {
		s.forms.release(formID)
		return err
	}
	s.show(w, r, us, "webhook_secret", "Webhook signing secret", &webhookSecretData{Sub: sub, Secret: secret, Rotated: true})
	return nil
}

func (s *Server) handleUIWebhookDeleteConfirm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := uiWebhookID(r)
	if err != nil {
		return err
	}
	sub, err := s.admin.Webhook(r.Context(), us.p, id)
	if err != nil {
		return err
	}
	s.show(w, r, us, "webhook_confirm", "Delete a webhook", &webhookConfirmData{Sub: sub, Title: "Delete the webhook “" + sub.Name + "”?",
		Message: "Nothing more is sent to " + sub.ClientURL + ", and deliveries still waiting are dropped. This cannot be undone.",
		Action:  webhookURL(id) + "/delete", Button: "Delete webhook " + sub.Name, Danger: true})
	return nil
}

func (s *Server) handleUIWebhookDelete(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := uiWebhookID(r)
	if err != nil {
		return err
	}
	sub, err := s.admin.Webhook(r.Context(), us.p, id)
	if err != nil {
		return err
	}
	if err := s.admin.DeleteWebhook(r.Context(), us.p, id); err != nil {
		return err
	}
	s.redirectFlash(w, r, "/settings/webhooks", "Webhook "+sub.Name+" deleted.")
	return nil
}

// webhookDeliveryData is one delivery with its attempts.
type webhookDeliveryData struct {
	Sub      *latchkey.WebhookSubscription
	Delivery *latchkey.WebhookDelivery
	Attempts []*latchkey.WebhookAttempt
	Payload  string
}

func (s *Server) handleUIWebhookDelivery(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := uiWebhookID(r)
	if err != nil {
		return err
	}
	did, err := strconv.ParseInt(r.PathValue("delivery_id"), 10, 64)
	if err != nil {
		return latchkey.Errorf(latchkey.ENotFound, "delivery %q not found", r.PathValue("delivery_id"))
	}
	sub, err := s.admin.Webhook(r.Context(), us.p, id)
	if err != nil {
		return err
	}
	dl, as, err := s.admin.WebhookDelivery(r.Context(), us.p, did)
	if err != nil {
		return err
	}
	if dl.SubscriptionID != id {
		return latchkey.Errorf(latchkey.ENotFound, "delivery %d not found", did)
	}
	slices.Reverse(as) // newest first, as the log
	payload := string(dl.Body)
	var b bytes.Buffer
	if json.Indent(&b, dl.Body, "", "  ") == nil {
		payload = b.String()
	}
	s.show(w, r, us, "webhook_delivery", "Delivery "+strconv.FormatInt(did, 10), &webhookDeliveryData{Sub: sub, Delivery: dl, Attempts: as,
		Payload: payload})
	return nil
}

func (s *Server) handleUIWebhookRedeliver(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := uiWebhookID(r)
	if err != nil {
		return err
	}
	did, err := strconv.ParseInt(r.PathValue("delivery_id"), 10, 64)
	if err != nil {
		return latchkey.Errorf(latchkey.ENotFound, "delivery %q not found", r.PathValue("delivery_id"))
	}
	if _, err := s.admin.Redeliver(r.Context(), us.p, did); err != nil {
		return err
	}
	s.redirectFlash(w, r, webhookURL(id)+"/deliveries/"+strconv.FormatInt(did, 10), "Delivery queued again; it is sent within a few seconds, with the same message id.")
	return nil
}
