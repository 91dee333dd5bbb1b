package admin

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey"
)

// Webhook subscriptions. Managing them — reading subscriptions, deliveries and attempts,
// creating, changing and deleting subscriptions, testing, redelivering, rotating secrets — takes
// webhooks:write. Events are audit-log content (emails, token names, who did what), so asking
// for events also takes what reading them in the audit log takes: audit_logs:read, to create a
// subscription or change its event types. Without it someone holding only webhooks:write could
// read the audit log through an endpoint of their own.

// Limits of webhook subscriptions.
const (
	// MaxActiveWebhooks bounds an account's active (turned on) subscriptions.
	MaxActiveWebhooks = 20
	// MaxWebhookEventTypes bounds a subscription's event types.
	MaxWebhookEventTypes = 64
	// MaxWebhookDescription bounds a description, in characters.
	MaxWebhookDescription = 1024
	// WebhookSecretOverlap is how long a rotated-out signing secret keeps signing next to the new
	// one, so receivers can switch without dropping deliveries.
	WebhookSecretOverlap = 24 * time.Hour
)

// webhookSecretPrefix starts every signing secret (the Standard Webhooks form).
const webhookSecretPrefix = "whsec_"

// sealedPrefix marks a signing secret sealed with the deployment's secret key.
const sealedPrefix = "sealed:"

// webhookSealLabel separates the webhook secrets' key and associated data from the SSO ones.
const webhookSealLabel = "latchkey webhook secret"

// WebhookInput creates or changes a subscription. An update replaces every field (PUT: dbt's
// clients send the whole object back), and values equal to the current ones change nothing.
// Active nil: on for a new subscription, unchanged for an update. HMACSecret "" generates a new
// secret on create and keeps the current one on update; a secret given must be "whsec_" and
// standard base64 of 24 to 64 bytes.
type WebhookInput struct {
	Name        string
	Description string
	ClientURL   string
	EventTypes  []string
	Active      *bool
	HMACSecret  string
}

// CanManageWebhooks checks that p may manage its account's webhooks (webhooks:write).
func CanManageWebhooks(p *latchkey.Principal) error {
	return require(p, latchkey.ResWebhooks, latchkey.AccessWrite)
}

// canSubscribe checks that p may choose the events a subscription receives: events carry what
// the audit log holds, so p must be able to read the audit log.
func canSubscribe(p *latchkey.Principal) error {
	return canReadEvents(p, "event_types", "choosing event_types")
}

// CanReadEvents checks that p may do what hands over an account's events: choosing where they
// go (client_url), who can verify them (the signing secret), and reading or resending what
// was sent (the delivery log). Events carry what the audit log holds, so each needs
// audit_logs:read next to webhooks:write; without it a member could point an owner's
// subscription at their own server and replay 30 days of the account's history.
func CanReadEvents(p *latchkey.Principal) error {
	return canReadEvents(p, "", "reading or resending webhook deliveries")
}

func canReadEvents(p *latchkey.Principal, field, what string) error {
	if require(p, latchkey.ResAuditLogs, latchkey.AccessRead) != nil {
		return &latchkey.Error{Code: latchkey.EForbidden, Field: field,
			Message: what + " requires audit_logs:read: events carry what the audit log holds (emails, token names, who did what)"}
	}
	return nil
}

// NewWebhookSecret returns a new signing secret: "whsec_" and 32 random bytes in standard base64.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return webhookSecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// checkWebhookSecret validates a signing secret someone chose.
func checkWebhookSecret(s string) error {
	raw, ok := strings.CutPrefix(s, webhookSecretPrefix)
	b, err := base64.StdEncoding.DecodeString(raw)
	if !ok || err != nil || len(b) < 24 || len(b) > 64 {
		return latchkey.FieldError("hmac_secret", `hmac_secret must be "whsec_" followed by 24 to 64 bytes in standard base64; leave it out to have one generated`)
	}
	return nil
}

// checkURLDefault accepts an absolute https URL: the rule when cmd/latchkey sets no
// WebhookURLCheck.
func checkURLDefault(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return errors.New("it must be an https URL")
	}
	return nil
}

// cleanWebhookInput validates in and returns it cleaned: trimmed, event types without repeats.
func (s *Service) cleanWebhookInput(in WebhookInput) (WebhookInput, error) {
	name, err := latchkey.CleanName("name", in.Name)
	if err != nil {
		return in, err
	}
	in.Name = name
	in.Description = strings.TrimSpace(in.Description)
	if n := utf8.RuneCountInString(in.Description); n > MaxWebhookDescription {
		return in, latchkey.FieldError("description", "description must be at most %d characters (it has %d)", MaxWebhookDescription, n)
	}
	in.ClientURL = strings.TrimSpace(in.ClientURL)
	if in.ClientURL == "" {
		return in, latchkey.FieldError("client_url", "client_url is required: the https URL latchkey sends events to")
	}
	if len(in.ClientURL) > 2048 {
		return in, latchkey.FieldError("client_url", "client_url must be at most 2048 bytes")
	}
	check := s.WebhookURLCheck
	if check == nil {
		check = checkURLDefault
	}
	if err := check(in.ClientURL); err != nil {
		return in, latchkey.FieldError("client_url", "client_url %q is refused: %s", in.ClientURL, strings.TrimSuffix(err.Error(), "."))
	}
	if len(in.EventTypes) == 0 {
		return in, latchkey.FieldError("event_types", "event_types must name at least one event type (such as service_token.created, service_token.* or *)")
	}
	if len(in.EventTypes) > MaxWebhookEventTypes {
		return in, latchkey.FieldError("event_types", "event_types may name at most %d event types, not %d", MaxWebhookEventTypes, len(in.EventTypes))
	}
	types := make([]string, 0, len(in.EventTypes))
	for _, t := range in.EventTypes {
		t = strings.TrimSpace(t)
		if !latchkey.ValidEventPattern(t) {
			return in, latchkey.FieldError("event_types", "event_types: %q is not an event type (see the catalogue; a category is written like service_token.*)", t)
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	in.EventTypes = types
	if in.HMACSecret != "" {
		if err := checkWebhookSecret(in.HMACSecret); err != nil {
			return in, err
		}
	}
	return in, nil
}

// checkActiveLimit refuses turning on one more subscription in an account that has
// MaxActiveWebhooks on.
func (s *Service) checkActiveLimit(ctx context.Context, accountID int64) error {
	active := latchkey.StateActive
	subs, err := s.store.FindWebhookSubscriptions(ctx, accountID, &active)
	if err != nil {
		return err
	}
	n := 0
	for _, w := range subs {
		if w.Active {
			n++
		}
	}
	if n >= MaxActiveWebhooks {
		return latchkey.Errorf(latchkey.EConflict, "an account can have at most %d active webhooks; disable or delete one first", MaxActiveWebhooks)
	}
	return nil
}

// Webhooks lists p's account's subscriptions (not the deleted ones), oldest first.
func (s *Service) Webhooks(ctx context.Context, p *latchkey.Principal) ([]*latchkey.WebhookSubscription, error) {
	if err := CanManageWebhooks(p); err != nil {
		return nil, err
	}
	active := latchkey.StateActive
	return s.store.FindWebhookSubscriptions(ctx, p.AccountID, &active)
}

// Webhook returns one subscription of p's account; deleted ones and other accounts' are not
// found.
func (s *Service) Webhook(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.WebhookSubscription, error) {
	if err := CanManageWebhooks(p); err != nil {
		return nil, err
	}
	w, err := s.store.FindWebhookSubscriptionByID(ctx, id)
	if latchkey.SystemError(err) {
		return nil, err
	}
	if err != nil || w.AccountID != p.AccountID || w.State != latchkey.StateActive {
		return nil, notFound("webhook %d not found", id)
	}
	return w, nil
}

// CreateWebhook subscribes an endpoint of p's account to events. It returns the signing secret,
// which is shown this once.
func (s *Service) CreateWebhook(ctx context.Context, p *latchkey.Principal, in WebhookInput) (*latchkey.WebhookSubscription, string, error) {
	if err := CanManageWebhooks(p); err != nil {
		return nil, "", err
	}
	if err := canSubscribe(p); err != nil {
		return nil, "", err
	}
	in, err := s.cleanWebhookInput(in)
	if err != nil {
		return nil, "", err
	}
	secret := in.HMACSecret
	if secret == "" {
		secret = NewWebhookSecret()
	}
	sealed, err := s.SealWebhookSecret(secret)
	if err != nil {
		return nil, "", err
	}
	w := &latchkey.WebhookSubscription{AccountID: p.AccountID, Name: in.Name, Description: in.Description, ClientURL: in.ClientURL,
		EventTypes: in.EventTypes, Active: in.Active == nil || *in.Active, Secret: sealed}
	err = s.inTx(ctx, func(ctx context.Context) error {
		if w.Active {
			if err := s.checkActiveLimit(ctx, p.AccountID); err != nil {
				return err
			}
		}
		return s.store.CreateWebhookSubscription(ctx, w)
	})
	if err != nil {
		return nil, "", err
	}
	return w, secret, nil
}

// UpdateWebhook replaces a subscription's fields with in's (see WebhookInput). Changing the
// event types, the client_url or the hmac_secret takes audit_logs:read (see CanReadEvents); a
// new hmac_secret rotates to it, the old one signing for WebhookSecretOverlap more.
func (s *Service) UpdateWebhook(ctx context.Context, p *latchkey.Principal, id int64, in WebhookInput) (*latchkey.WebhookSubscription, error) {
	if err := CanManageWebhooks(p); err != nil {
		return nil, err
	}
	in, err := s.cleanWebhookInput(in)
	if err != nil {
		return nil, err
	}
	var out *latchkey.WebhookSubscription
	err = s.inTx(ctx, func(ctx context.Context) error {
		w, err := s.Webhook(ctx, p, id)
		if err != nil {
			return err
		}
		upd := latchkey.WebhookSubscriptionUpdate{Name: &in.Name, Description: &in.Description}
		if !slices.Equal(in.EventTypes, w.EventTypes) {
			if err := canSubscribe(p); err != nil {
				return err
			}
			upd.EventTypes = &in.EventTypes
		}
		if in.ClientURL != w.ClientURL {
			if err := canReadEvents(p, "client_url", "changing client_url"); err != nil {
				return err
			}
			upd.ClientURL = &in.ClientURL
		}
		if in.Active != nil && *in.Active != w.Active {
			if *in.Active {
				if err := s.checkActiveLimit(ctx, p.AccountID); err != nil {
					return err
				}
			} else {
				upd.DisabledReason = ptr("")
			}
			upd.Active = in.Active
		}
		if in.HMACSecret != "" {
			current, err := s.OpenWebhookSecret(w.Secret)
			if err != nil {
				return err
			}
			if in.HMACSecret != current {
				if err := canReadEvents(p, "hmac_secret", "changing hmac_secret"); err != nil {
					return err
				}
				sealed, err := s.SealWebhookSecret(in.HMACSecret)
				if err != nil {
					return err
				}
				until := s.Now().Add(WebhookSecretOverlap)
				upd.Secret, upd.PrevSecretUntil = &sealed, &until
			}
		}
		out, err = s.store.UpdateWebhookSubscription(ctx, id, upd)
		return err
	})
	return out, err
}

// RotateWebhookSecret gives a subscription a new signing secret, returned this once; the old
// one keeps signing next to it for WebhookSecretOverlap.
func (s *Service) RotateWebhookSecret(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.WebhookSubscription, string, error) {
	if err := CanManageWebhooks(p); err != nil {
		return nil, "", err
	}
	if err := canReadEvents(p, "", "rotating a webhook's signing secret"); err != nil {
		return nil, "", err
	}
	secret := NewWebhookSecret()
	sealed, err := s.SealWebhookSecret(secret)
	if err != nil {
		return nil, "", err
	}
	var out *latchkey.WebhookSubscription
	err = s.inTx(ctx, func(ctx context.Context) error {
		if _, err := s.Webhook(ctx, p, id); err != nil {
			return err
		}
		until := s.Now().Add(WebhookSecretOverlap)
		out, err = s.store.UpdateWebhookSubscription(ctx, id, latchkey.WebhookSubscriptionUpdate{Secret: &sealed, PrevSecretUntil: &until})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, secret, nil
}

// SetWebhookActive turns a subscription on or off. Turning it off fails its pending deliveries;
// turning it on counts against MaxActiveWebhooks.
func (s *Service) SetWebhookActive(ctx context.Context, p *latchkey.Principal, id int64, active bool) (*latchkey.WebhookSubscription, error) {
	if err := CanManageWebhooks(p); err != nil {
		return nil, err
	}
	var out *latchkey.WebhookSubscription
	err := s.inTx(ctx, func(ctx context.Context) error {
		w, err := s.Webhook(ctx, p, id)
		if err != nil {
			return err
		}
		if w.Active == active {
			out = w
			return nil
		}
		upd := latchkey.WebhookSubscriptionUpdate{Active: &active}
		if active {
			if err := s.checkActiveLimit(ctx, p.AccountID); err != nil {
				return err
			}
		} else {
			upd.DisabledReason = ptr("")
		}
		out, err = s.store.UpdateWebhookSubscription(ctx, id, upd)
		return err
	})
	return out, err
}

// DeleteWebhook deletes a subscription; its pending deliveries fail.
func (s *Service) DeleteWebhook(ctx context.Context, p *latchkey.Principal, id int64) error {
	if err := CanManageWebhooks(p); err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		if _, err := s.Webhook(ctx, p, id); err != nil {
			return err
		}
		return s.store.DeleteWebhookSubscription(ctx, id)
	})
}

// WebhookForTest returns the subscription a test event is to be sent to (on or off: a test is
// how one checks an endpoint before turning it on).
func (s *Service) WebhookForTest(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.WebhookSubscription, error) {
	return s.Webhook(ctx, p, id)
}

// WebhookDeliveries lists deliveries of p's account, newest first, with the total; f.AccountID
// is p's whatever f says.
func (s *Service) WebhookDeliveries(ctx context.Context, p *latchkey.Principal, f latchkey.WebhookDeliveryFilter) ([]*latchkey.WebhookDelivery, int, error) {
	if err := CanManageWebhooks(p); err != nil {
		return nil, 0, err
	}
	if err := CanReadEvents(p); err != nil {
		return nil, 0, err
	}
	return s.webhookDeliveries(ctx, p, f)
}

// LastWebhookDelivery returns the newest delivery to a subscription of p's account, or nil:
// the "last sent, last status" a subscription's summary shows to anyone who manages webhooks.
func (s *Service) LastWebhookDelivery(ctx context.Context, p *latchkey.Principal, subID int64) (*latchkey.WebhookDelivery, error) {
	if err := CanManageWebhooks(p); err != nil {
		return nil, err
	}
	ds, _, err := s.webhookDeliveries(ctx, p, latchkey.WebhookDeliveryFilter{SubscriptionID: &subID, Limit: 1})
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	return ds[0], nil
}

func (s *Service) webhookDeliveries(ctx context.Context, p *latchkey.Principal, f latchkey.WebhookDeliveryFilter) ([]*latchkey.WebhookDelivery, int, error) {
	if f.SubscriptionID != nil {
		w, err := s.store.FindWebhookSubscriptionByID(ctx, *f.SubscriptionID)
		if latchkey.SystemError(err) {
			return nil, 0, err
		}
		if err != nil || w.AccountID != p.AccountID {
			return nil, 0, notFound("webhook %d not found", *f.SubscriptionID)
		}
	}
	f.AccountID = p.AccountID
	if f.Limit <= 0 || f.Limit > latchkey.MaxLimit {
		f.Limit = latchkey.MaxLimit
	}
	return s.store.FindWebhookDeliveries(ctx, f)
}

// WebhookDelivery returns one delivery of p's account with its attempts, oldest first.
func (s *Service) WebhookDelivery(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.WebhookDelivery, []*latchkey.WebhookAttempt, error) {
	if err := CanManageWebhooks(p); err != nil {
		return nil, nil, err
	}
	if err := CanReadEvents(p); err != nil {
		return nil, nil, err
	}
	d, err := s.store.FindWebhookDeliveryByID(ctx, id)
	if latchkey.SystemError(err) {
		return nil, nil, err
	}
	if err != nil || d.AccountID != p.AccountID {
		return nil, nil, notFound("webhook delivery %d not found", id)
	}
	as, err := s.store.FindWebhookAttempts(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return d, as, nil
}

// Redeliver sends a delivery of p's account again, with the same message id (receivers
// deduplicate on it); refused while its subscription is off.
func (s *Service) Redeliver(ctx context.Context, p *latchkey.Principal, deliveryID int64) (*latchkey.WebhookDelivery, error) {
	if err := CanManageWebhooks(p); err != nil {
		return nil, err
	}
	var out *latchkey.WebhookDelivery
	err := s.inTx(ctx, func(ctx context.Context) error {
		if _, _, err := s.WebhookDelivery(ctx, p, deliveryID); err != nil {
			return err
		}
		if err := s.store.RedeliverWebhook(ctx, deliveryID); err != nil {
			return err
		}
		var err error
		out, err = s.store.FindWebhookDeliveryByID(ctx, deliveryID)
		return err
	})
	return out, err
}

// SealWebhookSecret returns a signing secret as it is stored. With the deployment's secret key
// (--secret-key) it is "sealed:" and the standard base64 of a random nonce and the AES-256-GCM
// ciphertext; without one the secret is stored as it is, readable by anyone who can read the
// database — operators should set --secret-key (the webhooks page says when it is missing).
func (s *Service) SealWebhookSecret(secret string) (string, error) {
	if len(s.SecretKey) == 0 {
		return secret, nil
	}
	aead, err := s.webhookAEAD()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return sealedPrefix + base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(secret), []byte(webhookSealLabel))), nil
}

// OpenWebhookSecret returns the signing secret a stored value holds (see SealWebhookSecret); a
// plain "whsec_…" comes back as it is.
func (s *Service) OpenWebhookSecret(stored string) (string, error) {
	raw, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, nil
	}
	if len(s.SecretKey) == 0 {
		return "", latchkey.Errorf(latchkey.EInternal, "a webhook signing secret is sealed, and this deployment has no secret key (--secret-key) to open it")
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return "", latchkey.Errorf(latchkey.EInternal, "a sealed webhook signing secret is malformed")
	}
	aead, err := s.webhookAEAD()
	if err != nil {
		return "", err
	}
	n := aead.NonceSize()
	if len(b) < n {
		return "", latchkey.Errorf(latchkey.EInternal, "a sealed webhook signing secret is too short")
	}
	plain, err := aead.Open(nil, b[:n], b[n:], []byte(webhookSealLabel))
	if err != nil {
		return "", latchkey.Errorf(latchkey.EInternal, "a webhook signing secret cannot be opened with this deployment's secret key; rotate the webhook's secret")
	}
	return string(plain), nil
}

// webhookAEAD derives the webhook secrets' key from the deployment's secret key, apart from the
// SSO client secrets' (see aead).
func (s *Service) webhookAEAD() (cipher.AEAD, error) {
	key := sha256.Sum256(append([]byte(webhookSealLabel+"\x00"), s.SecretKey...))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func ptr[T any](v T) *T { return &v }
