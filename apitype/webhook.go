package apitype

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey"
)

// WebhookIDPrefix starts a subscription's id on the wire, as dbt Cloud's ids do ("wsu_12").
const WebhookIDPrefix = "wsu_"

// WebhookID renders a subscription id ("wsu_12").
func WebhookID(id int64) string { return WebhookIDPrefix + strconv.FormatInt(id, 10) }

// ParseWebhookID reads "wsu_12" or a bare "12"; false when it is neither.
func ParseWebhookID(s string) (int64, bool) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, WebhookIDPrefix), 10, 64)
	return id, err == nil && id > 0
}

// WebhookSubscription is dbt Cloud's webhook subscription: id ("wsu_…"), account_id, name,
// description, client_url, event_types, active, hmac_secret (only in the create and rotate
// answers), http_status_code and dispatched_at of the latest delivery (null before the first),
// and times. job_ids is always empty: latchkey has no jobs. disabled_reason ("failing" when latchkey turned it off) and failing_since are
// latchkey's.
type WebhookSubscription struct {
	ID             string   `json:"id"`
	AccountID      int64    `json:"account_id"`
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	ClientURL      string   `json:"client_url"`
	EventTypes     []string `json:"event_types"`
	JobIDs         []string `json:"job_ids"`
	Active         bool     `json:"active"`
	HMACSecret     string   `json:"hmac_secret,omitempty"`
	HTTPStatusCode *string  `json:"http_status_code"`
	DispatchedAt   *string  `json:"dispatched_at"`
	DisabledReason string   `json:"disabled_reason"`
	FailingSince   *string  `json:"failing_since"`
	CreatedAt      string   `json:"created_at"`
	UpdatedAt      string   `json:"updated_at"`
}

// WebhookSubscriptionOf renders a subscription; last is its latest delivery (nil for none).
func WebhookSubscriptionOf(w *latchkey.WebhookSubscription, last *latchkey.WebhookDelivery) WebhookSubscription {
	out := WebhookSubscription{ID: WebhookID(w.ID), AccountID: w.AccountID, Name: w.Name, Description: w.Description,
		ClientURL: w.ClientURL, EventTypes: nonNil(w.EventTypes), JobIDs: []string{}, Active: w.Active, DisabledReason: w.DisabledReason,
		FailingSince: TimePtr(w.FailingSince), CreatedAt: Time(w.CreatedAt), UpdatedAt: Time(w.UpdatedAt)}
	if last != nil {
		code := strconv.Itoa(last.LastStatus)
		out.HTTPStatusCode = &code
		at := last.UpdatedAt
		if last.DeliveredAt != nil {
			at = *last.DeliveredAt
		}
		out.DispatchedAt = TimePtr(&at)
	}
	return out
}

// WebhookRequest creates or changes a subscription (dbt's body). An update replaces the fields
// given; one left out keeps its value. hmac_secret is optional: left out, a secret is generated
// on create and kept on update.
type WebhookRequest struct {
	AccountID   *int64    `json:"account_id"`
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	ClientURL   *string   `json:"client_url"`
	EventTypes  *[]string `json:"event_types"`
	Active      *bool     `json:"active"`
	HMACSecret  *string   `json:"hmac_secret"`
	// JobIDs narrows dbt's job events to some jobs; latchkey has no jobs, so it must be empty.
	JobIDs []json.RawMessage `json:"job_ids"`
}

// WebhookTest is the answer to a test: dbt's verification_error (null when the endpoint answered
// 2xx) and verification_status_code (the HTTP status as a string, "0" without an answer), and
// latchkey's delivery_id, the test's entry in the delivery log.
type WebhookTest struct {
	VerificationError      *string `json:"verification_error"`
	VerificationStatusCode string  `json:"verification_status_code"`
	DeliveryID             int64   `json:"delivery_id"`
}

// WebhookTestOf renders a test's outcome.
func WebhookTestOf(d *latchkey.WebhookDelivery, a *latchkey.WebhookAttempt) WebhookTest {
	out := WebhookTest{VerificationStatusCode: strconv.Itoa(a.Status), DeliveryID: d.ID}
	if !a.Succeeded() {
		msg := a.Error
		if msg == "" {
			msg = "the endpoint answered HTTP " + strconv.Itoa(a.Status)
		}
		out.VerificationError = &msg
	}
	return out
}

// WebhookDelivery is one event on its way to one subscription (latchkey's delivery log).
// attempt_count counts the tries; last_status (0 without an answer), last_error and
// last_response describe the latest. The delivery's own endpoint adds payload (the JSON sent)
// and attempts.
type WebhookDelivery struct {
	ID            int64             `json:"id"`
	AccountID     int64             `json:"account_id"`
	WebhookID     string            `json:"webhook_id"`
	EventID       int64             `json:"event_id"`
	EventType     string            `json:"event_type"`
	MessageID     string            `json:"message_id"`
	State         string            `json:"state"`
	AttemptCount  int               `json:"attempt_count"`
	NextAttemptAt *string           `json:"next_attempt_at"`
	LastStatus    int               `json:"last_status"`
	LastError     string            `json:"last_error"`
	LastResponse  string            `json:"last_response"`
	CreatedAt     string            `json:"created_at"`
	UpdatedAt     string            `json:"updated_at"`
	DeliveredAt   *string           `json:"delivered_at"`
	Payload       json.RawMessage   `json:"payload,omitempty"`
	Attempts      *[]WebhookAttempt `json:"attempts,omitempty"`
}

// WebhookAttempt is one try of a delivery: when, the HTTP status (0 without an answer), how long
// it took, the error, and the start of the response body.
type WebhookAttempt struct {
	At         string `json:"at"`
	Status     int    `json:"status"`
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error"`
	Response   string `json:"response"`
}

// WebhookDeliveryOf renders a delivery; with attempts (non-nil) it adds the payload and them.
func WebhookDeliveryOf(d *latchkey.WebhookDelivery, attempts []*latchkey.WebhookAttempt) WebhookDelivery {
	out := WebhookDelivery{ID: d.ID, AccountID: d.AccountID, WebhookID: WebhookID(d.SubscriptionID), EventID: d.EventID,
		EventType: d.EventType, MessageID: d.MessageID, State: string(d.State), AttemptCount: d.Attempts,
		LastStatus: d.LastStatus, LastError: d.LastError, LastResponse: d.LastResponse, CreatedAt: Time(d.CreatedAt),
		UpdatedAt: Time(d.UpdatedAt), DeliveredAt: TimePtr(d.DeliveredAt)}
	if d.State == latchkey.DeliveryPending {
		out.NextAttemptAt = TimePtr(&d.NextAttemptAt)
	}
	if attempts != nil {
		if json.Valid(d.Body) {
			out.Payload = d.Body
		}
		as := []WebhookAttempt{}
		for _, a := range attempts {
			as = append(as, WebhookAttempt{At: Time(a.At), Status: a.Status, DurationMS: a.Duration.Milliseconds(),
				Error: a.Error, Response: a.Response})
		}
		out.Attempts = &as
	}
	return out
}
