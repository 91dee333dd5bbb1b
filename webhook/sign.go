package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	secretPrefix = "whsec_"
	// Secrets hold 24 to 64 random bytes: 24 is the shortest Standard Webhooks libraries
	// generate, 64 the HMAC-SHA256 block size, beyond which a key is hashed first.
	minSecretBytes = 24
	maxSecretBytes = 64
	newSecretBytes = 32

	// tolerance is how far a delivery's timestamp may be from the receiver's clock, either way.
	tolerance = 5 * time.Minute

	maxMsgIDLength = 256
	userAgent      = "latchkey-webhooks/1"
)

// Errors Verify returns; the tests tell failures apart with errors.Is.
var (
	errMissingHeader  = errors.New("missing webhook-id, webhook-timestamp or webhook-signature header")
	errBadTimestamp   = errors.New("webhook-timestamp is not a Unix time in seconds")
	errTooOld         = errors.New("webhook-timestamp is more than 5 minutes old")
	errTooNew         = errors.New("webhook-timestamp is more than 5 minutes in the future")
	errNoMatchingSign = errors.New("no v1 signature in webhook-signature matches")
)

// NewSecret returns a fresh signing secret in Standard Webhooks form: "whsec_" followed by the
// standard base64 encoding of 32 random bytes.
func NewSecret() string {
	key := make([]byte, newSecretBytes)
	rand.Read(key) // never fails: crypto/rand crashes the program rather than return short.
	return secretPrefix + base64.StdEncoding.EncodeToString(key)
}

// ParseSecret validates a secret a user supplies and returns its raw key bytes. It must be
// "whsec_" followed by padded standard base64 of 24 to 64 bytes. The error says what is wrong
// in a sentence for the hmac_secret field and never repeats the secret.
//
// The base64 must be canonical (re-encoding the key gives the same text): Go's decoder skips
// line breaks, and a secret that only Go accepts would fail in receivers' libraries.
func ParseSecret(s string) ([]byte, error) {
	enc, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, errors.New(`The HMAC secret must start with "whsec_" followed by base64, such as a secret latchkey generated.`)
	}
	if len(enc) > base64.StdEncoding.EncodedLen(maxSecretBytes) {
		return nil, fmt.Errorf("The HMAC secret is too long: it must hold %d to %d bytes.", minSecretBytes, maxSecretBytes)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || base64.StdEncoding.EncodeToString(key) != enc {
		return nil, errors.New(`The HMAC secret after "whsec_" must be standard base64 (A–Z, a–z, 0–9, + and /, padded with =).`)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("The HMAC secret holds %d bytes; it must hold %d to %d.", len(key), minSecretBytes, maxSecretBytes)
	}
	return key, nil
}

// Sign returns the headers to send with body as delivery msgID at time at:
//
//   - webhook-id: msgID, and webhook-timestamp: the Unix seconds of at;
//   - webhook-signature: "v1,<base64 HMAC-SHA256(key, msgID.timestamp.body)>" for each secret,
//     space-separated, in the order given (the current secret first, then one still in its
//     rotation overlap);
//   - Authorization: lowercase hex HMAC-SHA256 of body alone, keyed by the whole first secret
//     string ("whsec_…" as text, not its decoded bytes), which is how dbt Cloud signs its
//     webhooks with its hmac_secret, so receivers written for dbt Cloud keep working;
//   - Content-Type: application/json and User-Agent: latchkey-webhooks/1.
//
// It fails when no secret is given, a secret does not parse, or msgID is empty, longer than 256
// bytes or not visible ASCII.
func Sign(msgID string, at time.Time, body []byte, secrets ...string) (http.Header, error) {
	if len(secrets) == 0 {
		return nil, errors.New("sign: no secret")
	}
	if !validMsgID(msgID) {
		return nil, fmt.Errorf("sign: message id %q must be 1 to %d visible ASCII characters", msgID, maxMsgIDLength)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("sign: secret %d of %d: %w", i+1, len(secrets), err)
		}
		sigs[i] = "v1," + signature(key, msgID, ts, body)
	}
	auth := hmac.New(sha256.New, []byte(secrets[0]))
	auth.Write(body)

	h := http.Header{}
	h.Set("Webhook-Id", msgID)
	h.Set("Webhook-Timestamp", ts)
	h.Set("Webhook-Signature", strings.Join(sigs, " "))
	h.Set("Authorization", hex.EncodeToString(auth.Sum(nil)))
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)
	return h, nil
}

// Verify checks a delivery's Standard Webhooks headers in h against body and secret, as a
// receiver does: the timestamp must be within 5 minutes of now, either way, and one of the v1
// signatures must match. Signatures are compared in constant time.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := ParseSecret(secret)
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get("Webhook-Id"), h.Get("Webhook-Timestamp"), h.Get("Webhook-Signature")
	if id == "" || ts == "" || sigs == "" {
		return errMissingHeader
	}
	if !allDigits(ts) {
		return errBadTimestamp
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errBadTimestamp
	}
	// Compare in seconds: a Duration between now and an extreme timestamp would overflow.
	tol := int64(tolerance / time.Second)
	switch {
	case sec < now.Unix()-tol:
		return errTooOld
	case sec > now.Unix()+tol:
		return errTooNew
	}
	want := []byte(signature(key, id, ts, body))
	for _, s := range strings.Fields(sigs) {
		version, got, ok := strings.Cut(s, ",")
		if ok && version == "v1" && hmac.Equal([]byte(got), want) {
			return nil
		}
	}
	return errNoMatchingSign
}

// signature is the base64 HMAC-SHA256 of msgID.timestamp.body keyed by key.
func signature(key []byte, msgID, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msgID))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func validMsgID(id string) bool {
	if id == "" || len(id) > maxMsgIDLength {
		return false
	}
	for i := range len(id) {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
