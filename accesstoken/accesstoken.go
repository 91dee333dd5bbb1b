// Package accesstoken mints and checks latchkey's short-lived access tokens: JWTs (RFC 7519) in
// the profile of RFC 9068 (header typ "at+jwt"), signed with Ed25519 (EdDSA) by a key of the
// deployment's key set, which rotates (see latchkey.SigningKey).
//
// They carry no latchkey prefix: "lkat_" in front of a JWT would break every standard JWT
// parser. A latchkey access token is recognised by its shape (three base64url segments, the
// first starting "eyJ"), its typ and its issuer.
package accesstoken

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey"
)

const (
	// Type is the typ header of an access token (RFC 9068 §2.1).
	Type = "at+jwt"
	// MaxLen bounds an access token latchkey accepts (it mints them far shorter).
	MaxLen = 8 << 10
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway = 60 * time.Second
	// MaxLifetime is the longest lifetime any account may allow.
	MaxLifetime = 12 * time.Hour
	// DefaultLifetime is a token's lifetime unless the request asks for less or the account
	// allows less.
	DefaultLifetime = 15 * time.Minute
	// MaxGrants bounds the grants one token carries.
	MaxGrants = 50
)

// Claims are an access token's claims. Grants, when present, narrow the parent token's
// permissions (each "set" on all projects or "set:project_id"); absent, the token carries what
// its parent holds.
type Claims struct {
	jwt.Claims
	// ClientID is the uid of the latchkey token the access token was obtained with (RFC 9068).
	ClientID string `json:"client_id"`
	// AccountID is the account the token acts in.
	AccountID int64 `json:"acct"`
	// TokenID is the id of that latchkey token: revoking it revokes its access tokens.
	TokenID int64 `json:"lk_tid"`
	// Grants narrow the parent's permissions; nil means not narrowed.
	Grants []string `json:"grants,omitempty"`
	// Scope is the scope granted, space-separated, as the token endpoint answered it.
	Scope string `json:"scope,omitempty"`
	// PolicyID is the trust policy an external token was exchanged under (0: none): deleting
	// the policy revokes the token.
	PolicyID int64 `json:"lk_tp,omitempty"`
}

// Errors of Parse. None holds any part of the token.
var (
	ErrMalformed   = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "malformed access token"}
	ErrSignature   = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "access token signature is not valid"}
	ErrUnknownKey  = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "access token is signed with an unknown key"}
	ErrIssuer      = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "access token is not issued by this latchkey"}
	ErrAudience    = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "access token is not meant for this audience"}
	ErrExpired     = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "token has expired"}
	ErrNotYetValid = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "access token is not valid yet"}
)

// Looks reports whether s has the shape of a JWS compact serialisation with a JSON header: it is
// how a verifier tells access tokens from opaque tokens without parsing either.
func Looks(s string) bool {
	return len(s) > 3 && s[0] == 'e' && s[1] == 'y' && s[2] == 'J' && strings.Count(s, ".") == 2
}

// Algorithms are the signature algorithms accepted: never "none", never an HMAC (a public key
// used as an HMAC secret is the classic confusion attack).
var Algorithms = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256}

// KeyFunc returns the public key of kid (nil, false when unknown).
type KeyFunc func(kid string) (any, bool)

// Parse checks raw's signature with the key its kid names, its typ, issuer, audience and times
// (with Leeway) as of now, and returns its claims. exp is required.
func Parse(raw string, keys KeyFunc, issuer, audience string, now time.Time) (*Claims, error) {
	if len(raw) > MaxLen || !Looks(raw) {
		return nil, ErrMalformed
	}
	if !canonicalSignature(raw) {
		return nil, ErrMalformed
	}
	tok, err := jwt.ParseSigned(raw, Algorithms)
	if err != nil || len(tok.Headers) != 1 {
		return nil, ErrMalformed
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, Type) && !strings.EqualFold(typ, "application/"+Type) {
		return nil, ErrMalformed
	}
	key, ok := keys(h.KeyID)
	if !ok || h.KeyID == "" {
		return nil, ErrUnknownKey
	}
	var c Claims
	if err := tok.Claims(key, &c); err != nil {
		return nil, ErrSignature
	}
	return &c, c.Check(issuer, audience, now)
}

// canonicalSignature reports whether raw's signature segment is the one base64url spelling of
// its bytes: the last character of an unpadded segment has spare bits a decoder ignores, and a
// token must have one spelling (verifiers cache by it).
func canonicalSignature(raw string) bool {
	seg := raw[strings.LastIndexByte(raw, '.')+1:]
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	return err == nil && len(b) > 0
}

// Check validates the registered claims: issuer, audience, exp (required), nbf and iat.
func (c *Claims) Check(issuer, audience string, now time.Time) error {
	if c.Expiry == nil {
		return ErrMalformed
	}
	err := c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{audience}, Time: now}, Leeway)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return ErrIssuer
	case errors.Is(err, jwt.ErrInvalidAudience):
		return ErrAudience
	case errors.Is(err, jwt.ErrExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return ErrNotYetValid
	}
	return ErrMalformed
}

// Signer signs access tokens with one key.
type Signer struct {
	kid    string
	signer jose.Signer
}

// NewSigner returns a signer with the Ed25519 private key priv, named kid.
func NewSigner(kid string, priv ed25519.PrivateKey) (*Signer, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv},
		(&jose.SignerOptions{}).WithType(Type).WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		return nil, err
	}
	return &Signer{kid: kid, signer: s}, nil
}

// KID is the signer's key id.
func (s *Signer) KID() string { return s.kid }

// Sign serialises c, signed.
func (s *Signer) Sign(c *Claims) (string, error) {
	return jwt.Signed(s.signer).Claims(c).Serialize()
}

// NewID returns a random jti: 128 bits, base64url.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewKey makes a signing key scheduled to sign from activeFrom for rotation, published from
// now until its last token has expired; its private key is sealed with secret.
func NewKey(secret []byte, now, activeFrom time.Time, rotation time.Duration) (*latchkey.SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(pub)
	kid := base64.RawURLEncoding.EncodeToString(sum[:12])
	sealed, err := seal(secret, kid, priv)
	if err != nil {
		return nil, err
	}
	until := activeFrom.Add(rotation)
	return &latchkey.SigningKey{KID: kid, Algorithm: string(jose.EdDSA), PublicKey: pub, PrivateSealed: sealed,
		CreatedAt: now, ActiveFrom: activeFrom, SignUntil: until, PublishUntil: until.Add(MaxLifetime + Leeway)}, nil
}

// OpenKey opens k's sealed private key with secret.
func OpenKey(secret []byte, k *latchkey.SigningKey) (ed25519.PrivateKey, error) {
	aead, err := aeadOf(secret)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(k.PrivateSealed) < n {
		return nil, errors.New("sealed signing key is too short")
	}
	plain, err := aead.Open(nil, k.PrivateSealed[:n], k.PrivateSealed[n:], []byte("latchkey signing key "+k.KID))
	if err != nil || len(plain) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("signing key %s cannot be opened with this deployment's secret key", k.KID)
	}
	return ed25519.PrivateKey(plain), nil
}

// seal encrypts priv with a key derived from secret (AES-256-GCM, a random nonce in front),
// bound to kid.
func seal(secret []byte, kid string, priv ed25519.PrivateKey) ([]byte, error) {
	aead, err := aeadOf(secret)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, priv, []byte("latchkey signing key "+kid)), nil
}

func aeadOf(secret []byte) (cipher.AEAD, error) {
	if len(secret) == 0 {
		return nil, errors.New("no secret key to seal signing keys with")
	}
	key := sha256.Sum256(append([]byte("latchkey signing key\x00"), secret...))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// ParseGrant reads a grant as claims and scopes write it: "set" (all projects) or
// "set:project_id".
func ParseGrant(s string) (latchkey.Grant, bool) {
	set, project, scoped := strings.Cut(s, ":")
	if set == "" || len(s) > 100 {
		return latchkey.Grant{}, false
	}
	if !scoped {
		return latchkey.Grant{PermissionSet: set, AllProjects: true}, true
	}
	if project == "*" {
		return latchkey.Grant{PermissionSet: set, AllProjects: true}, true
	}
	id, err := strconv.ParseInt(project, 10, 64)
	if err != nil || id <= 0 {
		return latchkey.Grant{}, false
	}
	return latchkey.Grant{PermissionSet: set, ProjectID: id}, true
}

// GrantStrings writes grants as ParseGrant reads them.
func GrantStrings(grants []latchkey.Grant) []string {
	out := make([]string, len(grants))
	for i, g := range grants {
		out[i] = GrantString(g)
	}
	return out
}

// GrantString writes g as ParseGrant reads it.
func GrantString(g latchkey.Grant) string {
	if g.AllProjects || g.ProjectID == 0 {
		return g.PermissionSet
	}
	return g.PermissionSet + ":" + strconv.FormatInt(g.ProjectID, 10)
}
