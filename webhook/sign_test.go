package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks reference test vector (standard-webhooks/standard-webhooks, libraries'
// tests): signing must give byte-for-byte the signature every receiver library expects.
const (
	refSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	refMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	refTimestamp = 1614265330
	refBody      = `{"test": 2432232314}`
	refSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignReferenceVector(t *testing.T) {
	h, err := Sign(refMsgID, time.Unix(refTimestamp, 0), []byte(refBody), refSecret)
	if err != nil {
		t.Fatalf("Sign(reference) error: %v", err)
	}
	mac := hmac.New(sha256.New, []byte(refSecret))
	mac.Write([]byte(refBody))
	want := map[string]string{
		"webhook-id":        refMsgID,
		"webhook-timestamp": "1614265330",
		"webhook-signature": refSignature,
		"Authorization":     hex.EncodeToString(mac.Sum(nil)),
		"Content-Type":      "application/json",
		"User-Agent":        "latchkey-webhooks/1",
	}
	for name, v := range want {
		if got := h.Get(name); got != v {
			t.Errorf("Sign(reference) header %s = %q, want %q", name, got, v)
		}
	}
	if len(h) != len(want) {
		t.Errorf("Sign(reference) = %d headers %v, want %d", len(h), h, len(want))
	}
	if err := Verify(refSecret, h, []byte(refBody), time.Unix(refTimestamp+60, 0)); err != nil {
		t.Errorf("Verify(reference) = %v, want nil", err)
	}
}

func TestVerify(t *testing.T) {
	secret := NewSecret()
	at := time.Unix(1_700_000_000, 0)
	body := []byte(`{"type":"token.created","data":{"token_id":7}}`)
	signed := func(t *testing.T) http.Header {
		t.Helper()
		h, err := Sign("msg_1", at, body, secret)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		return h
	}
	tests := []struct {
		name   string
		secret string
		edit   func(h http.Header)
		body   string
		now    time.Time
		want   error
	}{
		{name: "valid", now: at},
		{name: "valid 5 min later", now: at.Add(5 * time.Minute)},
		{name: "valid 5 min earlier", now: at.Add(-5 * time.Minute)},
		{name: "wrong secret", secret: NewSecret(), now: at, want: errNoMatchingSign},
		{name: "altered body", body: `{"type":"token.deleted","data":{"token_id":7}}`, now: at, want: errNoMatchingSign},
		{name: "too old", now: at.Add(5*time.Minute + time.Second), want: errTooOld},
		{name: "too new", now: at.Add(-5*time.Minute - time.Second), want: errTooNew},
		{name: "no id", edit: func(h http.Header) { h.Del("Webhook-Id") }, now: at, want: errMissingHeader},
		{name: "no timestamp", edit: func(h http.Header) { h.Del("Webhook-Timestamp") }, now: at, want: errMissingHeader},
		{name: "no signature", edit: func(h http.Header) { h.Del("Webhook-Signature") }, now: at, want: errMissingHeader},
		{name: "other id", edit: func(h http.Header) { h.Set("Webhook-Id", "msg_2") }, now: at, want: errNoMatchingSign},
		{name: "timestamp moved", edit: func(h http.Header) { h.Set("Webhook-Timestamp", "1700000001") }, now: at, want: errNoMatchingSign},
		{name: "timestamp with sign", edit: func(h http.Header) { h.Set("Webhook-Timestamp", "+1700000000") }, now: at, want: errBadTimestamp},
		{name: "timestamp not a number", edit: func(h http.Header) { h.Set("Webhook-Timestamp", "soon") }, now: at, want: errBadTimestamp},
		{name: "timestamp overflows", edit: func(h http.Header) { h.Set("Webhook-Timestamp", "99999999999999999999") }, now: at, want: errBadTimestamp},
		{name: "timestamp far future", edit: func(h http.Header) { h.Set("Webhook-Timestamp", "9223372036854775807") }, now: at, want: errTooNew},
		{name: "other version", edit: func(h http.Header) {
			h.Set("Webhook-Signature", strings.Replace(h.Get("Webhook-Signature"), "v1,", "v2,", 1))
		}, now: at, want: errNoMatchingSign},
		{name: "among garbage", edit: func(h http.Header) {
			h.Set("Webhook-Signature", "v1,AAAA  nonsense v1a,x "+h.Get("Webhook-Signature")+" v1,")
		}, now: at},
		{name: "truncated signature", edit: func(h http.Header) {
			s := h.Get("Webhook-Signature")
			h.Set("Webhook-Signature", s[:len(s)-2])
		}, now: at, want: errNoMatchingSign},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := signed(t)
			if tt.edit != nil {
				tt.edit(h)
			}
			s, b := secret, body
			if tt.secret != "" {
				s = tt.secret
			}
			if tt.body != "" {
				b = []byte(tt.body)
			}
			if err := Verify(s, h, b, tt.now); !errors.Is(err, tt.want) {
				t.Errorf("Verify(%s) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

// During a rotation both secrets sign: a receiver holding either one accepts the delivery.
func TestSignTwoSecrets(t *testing.T) {
	current, previous := NewSecret(), NewSecret()
	at := time.Now()
	body := []byte(`{"type":"token.rotated"}`)
	h, err := Sign("msg_rot", at, body, current, previous)
	if err != nil {
		t.Fatalf("Sign(two secrets) error: %v", err)
	}
	sigs := strings.Split(h.Get("Webhook-Signature"), " ")
	if len(sigs) != 2 || !strings.HasPrefix(sigs[0], "v1,") || !strings.HasPrefix(sigs[1], "v1,") || sigs[0] == sigs[1] {
		t.Errorf("Sign(two secrets) webhook-signature = %q, want two different v1 signatures", h.Get("Webhook-Signature"))
	}
	for _, s := range []string{current, previous} {
		if err := Verify(s, h, body, at); err != nil {
			t.Errorf("Verify(one of two secrets) = %v, want nil", err)
		}
	}
	if err := Verify(NewSecret(), h, body, at); !errors.Is(err, errNoMatchingSign) {
		t.Errorf("Verify(third secret) = %v, want %v", err, errNoMatchingSign)
	}
	mac := hmac.New(sha256.New, []byte(current))
	mac.Write(body)
	if got, want := h.Get("Authorization"), hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("Sign(two secrets) Authorization = %q, want %q (keyed by the first secret)", got, want)
	}
}

func TestSignRefuses(t *testing.T) {
	good := NewSecret()
	bad := "whsec_" + strings.Repeat("A", 10) // too short; its text must not leak into the error
	tests := []struct {
		name    string
		msgID   string
		secrets []string
	}{
		{"no secret", "msg_1", nil},
		{"bad secret", "msg_1", []string{bad}},
		{"bad previous secret", "msg_1", []string{good, bad}},
		{"empty id", "", []string{good}},
		{"id with space", "msg 1", []string{good}},
		{"id with newline", "msg_1\r\nX-Evil: 1", []string{good}},
		{"id too long", strings.Repeat("m", 257), []string{good}},
	}
	for _, tt := range tests {
		h, err := Sign(tt.msgID, time.Now(), []byte("{}"), tt.secrets...)
		if err == nil {
			t.Errorf("Sign(%s) = %v, want an error", tt.name, h)
			continue
		}
		if strings.Contains(err.Error(), bad[len("whsec_"):]) || strings.Contains(err.Error(), good[len("whsec_"):]) {
			t.Errorf("Sign(%s) error %q contains a secret", tt.name, err)
		}
	}
}

func TestNewSecret(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if a == b {
		t.Errorf("NewSecret() = %q twice, want different secrets", a)
	}
	key, err := ParseSecret(a)
	if err != nil || len(key) != 32 {
		t.Errorf("ParseSecret(NewSecret()) = %d bytes, %v; want 32 bytes, nil", len(key), err)
	}
}

func TestParseSecret(t *testing.T) {
	enc := func(n int) string { return "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		in      string
		wantLen int // 0: an error
	}{
		{refSecret, 24},
		{enc(24), 24},
		{enc(32), 32},
		{enc(64), 64},
		{enc(23), 0},
		{enc(65), 0},
		{enc(1000), 0},
		{"", 0},
		{"whsec_", 0},
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 0}, // no prefix
		{"WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 0},   // prefix is case-sensitive
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!", 0},   // not base64
		{"whsec_MfKQ9r8GKYqr\nTwjUPD8ILPZIo2LaLaSw", 0}, // Go's decoder would skip the newline
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ", 0},
		{strings.TrimRight(enc(32), "="), 0},                                                      // unpadded
		{"whsec_" + base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xfb\xff", 16))), 0}, // URL alphabet
	}
	for _, tt := range tests {
		key, err := ParseSecret(tt.in)
		if tt.wantLen == 0 {
			if err == nil {
				t.Errorf("ParseSecret(%q) = %d bytes, want an error", tt.in, len(key))
			} else if len(tt.in) > len("whsec_")+3 && strings.Contains(err.Error(), tt.in[len("whsec_"):]) {
				t.Errorf("ParseSecret(%q) error %q repeats the secret", tt.in, err)
			}
			continue
		}
		if err != nil || len(key) != tt.wantLen {
			t.Errorf("ParseSecret(%q) = %d bytes, %v; want %d bytes, nil", tt.in, len(key), err, tt.wantLen)
		}
	}
}

func FuzzParseSecret(f *testing.F) {
	for _, s := range []string{refSecret, NewSecret(), "whsec_", "whsec_====", "whsec_MfKQ9r8GKYqr\nTwjUPD8ILPZIo2LaLaSw", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseSecret(s)
		if err != nil {
			return
		}
		if len(key) < minSecretBytes || len(key) > maxSecretBytes {
			t.Errorf("ParseSecret(%q) = %d bytes, want %d to %d", s, len(key), minSecretBytes, maxSecretBytes)
		}
		if again := "whsec_" + base64.StdEncoding.EncodeToString(key); again != s {
			t.Errorf("ParseSecret(%q) accepted a non-canonical secret (canonical %q)", s, again)
		}
	})
}

// FuzzVerify feeds arbitrary headers to Verify: it must not panic, and whatever id and body
// Sign accepts must verify.
func FuzzVerify(f *testing.F) {
	now := time.Unix(refTimestamp, 0)
	f.Add(refMsgID, "1614265330", refSignature, []byte(refBody))
	f.Add("", "", "", []byte(nil))
	f.Add("msg", "-1", "v1,", []byte("{}"))
	f.Add("m", "00001614265330", "v1,a v1,b  v1,,,", []byte("x"))
	f.Add("m", "1614265330", "v1 v1, ,v1 ,", []byte("x"))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("Webhook-Id", id)
		h.Set("Webhook-Timestamp", ts)
		h.Set("Webhook-Signature", sig)
		_ = Verify(refSecret, h, body, now)

		signed, err := Sign(id, now, body, refSecret)
		if err != nil {
			return
		}
		if err := Verify(refSecret, signed, body, now); err != nil {
			t.Errorf("Verify(Sign(%q, body %q)) = %v, want nil", id, body, err)
		}
	})
}
