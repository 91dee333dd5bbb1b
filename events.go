package latchkey

import "strings"

// EventType is one kind of event a webhook subscription can ask for. Every audit entry is an
// event of its entry's type; scheduled events are audited by latchkey's own sweeps.
type EventType struct {
	Type        string
	Description string
}

// EventTypes is the catalogue of events, grouped by category (the part before the first dot).
var EventTypes = []EventType{
	{"service_token.created", "A service token was created."},
	{"service_token.renamed", "A service token was renamed."},
	{"service_token.permissions_changed", "A service token's permissions changed."},
	{"service_token.addresses_changed", "A service token's allowed addresses changed."},
	{"service_token.expiry_changed", "A service token's expiry changed."},
	{"service_token.rate_limits_changed", "A service token's rate limits changed (context.rate_limits_from and _to)."},
	{"service_token.credits_changed", "A service token's credits were set, changed or removed (context.credits_from and _to)."},
	{"service_token.rotated", "A service token was rotated; the old one stays valid for its grace period."},
	{"service_token.revoked", "A service token was deleted (context.reason says why: deleted, leak_reported, reuse_detected, …)."},
	{"service_token.flagged", "A service token was flagged as possibly leaked (the account's leak action is flag)."},
	{"service_token.reuse_detected", "A rotated-out service token was presented after its grace period."},
	{"service_token.expired", "A service token reached its expiry."},
	{"service_token.expiring", "A service token expires in 30, 7 or 1 days (scheduled)."},
	{"service_token.unused", "A service token has not been used for the account's unused-token period (scheduled)."},
	{"account_scoped_pat.created", "A personal access token was created."},
	{"account_scoped_pat.renamed", "A personal access token was renamed."},
	{"account_scoped_pat.expiry_changed", "A personal access token's expiry changed."},
	{"account_scoped_pat.rate_limits_changed", "A personal access token's rate limits changed."},
	{"account_scoped_pat.credits_changed", "A personal access token's credits were set, changed or removed."},
	{"account_scoped_pat.rotated", "A personal access token was rotated."},
	{"account_scoped_pat.deleted", "A personal access token was deleted (context.reason says why)."},
	{"account_scoped_pat.flagged", "A personal access token was flagged as possibly leaked."},
	{"account_scoped_pat.reuse_detected", "A rotated-out personal access token was presented after its grace period."},
	{"account_scoped_pat.expired", "A personal access token reached its expiry."},
	{"account_scoped_pat.expiring", "A personal access token expires in 30, 7 or 1 days (scheduled)."},
	{"leak.reported", "A token string was reported as published (GitHub secret scanning)."},
	{"user.signed_in", "A person signed in."},
	{"user.sign_in_failed", "A sign-in failed."},
	{"user.sso_sign_in_failed", "A single sign-on attempt failed."},
	{"user.password_changed", "A person changed their password."},
	{"user.password_set", "An operator set a person's password."},
	{"user.temporary_password_set", "An admin gave a person a temporary password."},
	{"license.changed", "A member's license changed."},
	{"permission.added", "A member joined the account."},
	{"permission.removed", "A member left the account."},
	{"group.created", "A group was created."},
	{"group.updated", "A group was renamed or its settings changed."},
	{"group.permissions_changed", "A group's permissions changed."},
	{"group.user.added", "A member was added to a group."},
	{"group.user.removed", "A member was removed from a group."},
	{"group.deleted", "A group was deleted."},
	{"group.restored", "A deleted group was restored."},
	{"project.created", "A project was created."},
	{"project.updated", "A project changed."},
	{"project.deleted", "A project was deleted."},
	{"ip_restrictions.rule.added", "An IP restriction rule was added."},
	{"ip_restrictions.rule.changed", "An IP restriction rule changed."},
	{"ip_restrictions.rule.removed", "An IP restriction rule was removed."},
	{"ip_restrictions.toggled", "IP restrictions were turned on or off."},
	{"account.updated", "The account's settings or token policy changed."},
	{"sso.provider.created", "Single sign-on was configured."},
	{"sso.provider.changed", "The single sign-on provider changed."},
	{"sso.provider.deleted", "Single sign-on was turned off."},
	{"license_map.created", "An SSO license map was added."},
	{"license_map.changed", "An SSO license map changed."},
	{"license_map.deleted", "An SSO license map was removed."},
	{"auth.failures_summarized", "Failed token verifications over a period, summarized."},
	{"webhook.subscription.created", "A webhook subscription was created."},
	{"webhook.subscription.changed", "A webhook subscription changed."},
	{"webhook.subscription.secret_rotated", "A webhook subscription's signing secret was rotated."},
	{"webhook.subscription.enabled", "A webhook subscription was turned on."},
	{"webhook.subscription.disabled", "A webhook subscription was turned off (context.reason is failing when latchkey did it)."},
	{"webhook.subscription.deleted", "A webhook subscription was deleted."},
	{"webhook.delivery.redelivered", "A webhook delivery was sent again."},
}

// EventTest is the type of the event a subscription's test sends.
const EventTest = "webhook.test"

// KnownEventType reports whether t is in the catalogue.
func KnownEventType(t string) bool {
	for _, e := range EventTypes {
		if e.Type == t {
			return true
		}
	}
	return false
}

// ValidEventPattern reports whether p names events of the catalogue: a known type, a known
// category followed by ".*" ("service_token.*"), or "*" for every event.
func ValidEventPattern(p string) bool {
	if p == "*" {
		return true
	}
	if cat, ok := strings.CutSuffix(p, ".*"); ok {
		for _, e := range EventTypes {
			if strings.HasPrefix(e.Type, cat+".") {
				return true
			}
		}
		return false
	}
	return KnownEventType(p)
}

// MatchEventType reports whether event type t is one of patterns (see ValidEventPattern).
func MatchEventType(patterns []string, t string) bool {
	for _, p := range patterns {
		if p == "*" || p == t {
			return true
		}
		if cat, ok := strings.CutSuffix(p, ".*"); ok && strings.HasPrefix(t, cat+".") {
			return true
		}
	}
	return false
}
