package latchkey

import "time"

// SigningKey is a key latchkey signs short-lived access tokens (JWTs) with. Its schedule is
// fixed when it is made: it is published (JWKS) from CreatedAt, signs from ActiveFrom (at least
// an hour later, so that verifiers holding the key set have it before the first token it
// signs; only a deployment's first key signs at once) until SignUntil, and stays published
// until PublishUntil, after the last token it signed has expired.
type SigningKey struct {
	// KID is the key's id in JWT headers and the key set.
	KID string
	// Algorithm is the JWS algorithm: "EdDSA" (Ed25519).
	Algorithm string
	// PublicKey is the public key (32 bytes for Ed25519).
	PublicKey []byte
	// PrivateSealed is the private key sealed with the deployment's secret key; never the
	// key itself.
	PrivateSealed []byte
	CreatedAt     time.Time
	ActiveFrom    time.Time
	SignUntil     time.Time
	PublishUntil  time.Time
}
