// Package webhook owns the storage-free part of latchkey's outgoing webhooks: signing secrets,
// Standard Webhooks signatures (https://www.standardwebhooks.com), one delivery attempt over
// HTTP, and the retry schedule. It keeps no state; the dispatcher stores subscriptions and
// deliveries and calls Sign, Client.Send and Backoff.
//
// Security properties:
//
//   - Every delivery carries webhook-id, webhook-timestamp and one "v1," HMAC-SHA256 signature
//     per active secret over id.timestamp.body, so a receiver can check where it came from,
//     that it was not altered, and (with Verify's 5-minute tolerance) that it is not an old
//     replay. During a rotation both secrets sign, so receivers can switch without a gap.
//   - Secrets appear only in the signatures: no error or Attempt mentions them.
//   - Client.Send connects only to addresses that pass the address rules, checked on the
//     address actually dialled, after DNS, so a name that resolves (or re-resolves) to cloud
//     metadata, link-local, loopback or private addresses is refused; redirects are never
//     followed and proxies from the environment are never used, so neither can route around
//     that check.
//   - An attempt is bounded in time (Options.Timeout) and memory (Options.MaxResponse of the
//     body, 64 KiB of headers): a slow or hostile receiver costs one bounded attempt.
package webhook
