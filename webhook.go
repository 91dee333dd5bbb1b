package latchkey

import "time"

// Events. Every audit entry is an event: the audit log is written in the same transaction as the
// change it describes, so it is latchkey's transactional outbox. Consumers (webhook fan-out,
// email notices) each keep a cursor into it (ConsumeEvents) and advance the cursor in the same
// transaction as the work they derive from the entries, so a crash between a commit and its
// delivery loses nothing. Write transactions run one at a time, so entry ids grow in commit
// order and a cursor never skips an entry committed late.

// WebhookSubscription is an account's endpoint for events (dbt Cloud's webhook subscription).
type WebhookSubscription struct {
	ID          int64
	AccountID   int64
	Name        string
	Description string
	ClientURL   string
	// EventTypes are the event types sent: exact types or "category.*".
	EventTypes []string
	Active     bool
	// Secret is the signing secret as stored ("whsec_…", sealed by the admin layer when the
	// deployment has a secret key). Never rendered after creation, logged or audited.
	Secret string
	// PrevSecret keeps signing, next to Secret, until PrevSecretUntil: a rotation's overlap.
	PrevSecret      string
	PrevSecretUntil *time.Time
	// FailingSince is when deliveries started failing without a success since; nil when the
	// last attempt succeeded. An endpoint failing for WebhookDisableAfter is disabled.
	FailingSince *time.Time
	// DisabledReason says why Active is false when latchkey turned it off ("failing"); "" when
	// a person did.
	DisabledReason string
	State          State
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// WebhookDisableAfter is how long an endpoint may fail every delivery before it is disabled.
const WebhookDisableAfter = 72 * time.Hour

// WebhookSubscriptionUpdate changes a subscription. Nil fields are left alone.
type WebhookSubscriptionUpdate struct {
	Name        *string
	Description *string
	ClientURL   *string
	EventTypes  *[]string
	Active      *bool
	// Secret replaces the signing secret; the old one keeps signing until PrevSecretUntil.
	Secret          *string
	PrevSecretUntil *time.Time
	DisabledReason  *string
}

// WebhookDeliveryState is where a delivery stands.
type WebhookDeliveryState string

// Delivery states.
const (
	// DeliveryPending: waiting for its next attempt (or being attempted).
	DeliveryPending WebhookDeliveryState = "pending"
	// DeliverySucceeded: the endpoint answered 2xx.
	DeliverySucceeded WebhookDeliveryState = "succeeded"
	// DeliveryFailed: retries ran out (or the subscription was disabled or deleted).
	DeliveryFailed WebhookDeliveryState = "failed"
)

// WebhookDelivery is one event on its way to one subscription. Body is the exact JSON sent on
// every attempt; MessageID (the webhook-id header) is the same on every attempt, redeliveries
// included, so that receivers can deduplicate.
type WebhookDelivery struct {
	ID             int64
	AccountID      int64
	SubscriptionID int64
	// EventID is the audit entry the event came from; 0 for a test delivery.
	EventID       int64
	EventType     string
	MessageID     string
	Body          []byte
	State         WebhookDeliveryState
	Attempts      int
	NextAttemptAt time.Time
	// LastStatus, LastError and LastResponse describe the latest attempt.
	LastStatus   int
	LastError    string
	LastResponse string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	DeliveredAt  *time.Time
}

// WebhookDeliveryFilter selects deliveries of one account, newest first.
type WebhookDeliveryFilter struct {
	AccountID      int64
	SubscriptionID *int64
	State          *WebhookDeliveryState
	Offset         int
	Limit          int
}

// WebhookAttempt is one try of a delivery, kept for the delivery log.
type WebhookAttempt struct {
	DeliveryID int64
	// Node is the process that made the attempt.
	Node string
	At   time.Time
	// Status is the HTTP status, 0 when there was no response.
	Status int
	// Response is the start of the response body (at most 4 KiB).
	Response string
	Error    string
	Duration time.Duration
	// NextAttemptAt is when to try again; nil ends the delivery (Succeeded when Status is 2xx,
	// Failed otherwise).
	NextAttemptAt *time.Time
	// NotSent marks an attempt that made no request (the subscription was off or could not be
	// read): it says nothing of the endpoint, so it does not move the subscription's
	// FailingSince. Neither does any attempt of a test delivery (EventID 0).
	NotSent bool
}

// Succeeded reports whether the endpoint answered 2xx.
func (a *WebhookAttempt) Succeeded() bool { return a.Status >= 200 && a.Status < 300 }
