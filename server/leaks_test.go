package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey"
)

// GitHub's documented test vector for secret-scanning signatures (docs.github.com, "Secret
// scanning partner program": the sample POST and the public key of its test key).
const (
	ghTestPayload = `[{"token":"some_token","type":"some_type","url":"some_url","source":"some_source"}]`
	ghTestKeyID   = "f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d"
	ghTestSig     = "MEUCIFLZzeK++IhS+y276SRk2Pe5LfDrfvTXu6iwKKcFGCrvAiEAhHN2kDOhy2I6eGkOFmxNkOJ+L2y8oQ9A2T9GGJo6WJY="
	ghTestKey     = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsz9ugWDj5jK5ELBK42ynytbo38gP
HzZFI03Exwz8Lh/tCfL3YxwMdLjB+bMznsanlhK0RwcGP3IDb34kQDIo3Q==
-----END PUBLIC KEY-----
`
)

func TestVerifyLeakSignatureGitHubVector(t *testing.T) {
	gh, err := json.Marshal(map[string]any{"public_keys": []map[string]any{{"key_identifier": ghTestKeyID, "key": ghTestKey, "is_current": true}}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseGitHubKeys(gh)
	if err != nil {
		t.Fatalf("ParseGitHubKeys(GitHub's format) = %v", err)
	}
	if err := VerifyLeakSignature(keys, ghTestKeyID, ghTestSig, []byte(ghTestPayload)); err != nil {
		t.Errorf("VerifyLeakSignature(GitHub's sample) = %v, want nil", err)
	}
	tests := []struct {
		name, keyID, sig, body string
	}{
		{"body changed", ghTestKeyID, ghTestSig, ghTestPayload + "\n"},
		{"unknown key", "nope", ghTestSig, ghTestPayload},
		{"no key id", "", ghTestSig, ghTestPayload},
		{"no signature", ghTestKeyID, "", ghTestPayload},
		{"not base64", ghTestKeyID, "!!!", ghTestPayload},
		{"not ASN.1", ghTestKeyID, base64.StdEncoding.EncodeToString([]byte("garbage")), ghTestPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyLeakSignature(keys, tt.keyID, tt.sig, []byte(tt.body))
			if latchkey.ErrorCodeOf(err) != latchkey.EUnauthorized {
				t.Errorf("VerifyLeakSignature = %v, want unauthorized", err)
			}
		})
	}
}

func TestParseGitHubKeys(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	bare := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	withID := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Key-Identifier": "k1"}, Bytes: der}))
	sum := sha256.Sum256(der)
	derivedID := hex.EncodeToString(sum[:])
	mapJSON, _ := json.Marshal(map[string]string{"k2": bare})
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der384, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	wrongCurve := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der384}))

	tests := []struct {
		name    string
		in      string
		wantIDs []string
		wantErr bool
	}{
		{"PEM with identifier", withID, []string{"k1"}, false},
		{"bare PEM", bare, []string{derivedID}, false},
		{"two PEM blocks", withID + bare, []string{"k1", derivedID}, false},
		{"identifier map", string(mapJSON), []string{"k2"}, false},
		{"P-384 refused", wrongCurve, nil, true},
		{"empty", "", nil, true},
		{"garbage", "hello", nil, true},
		{"empty JSON", "{}", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseGitHubKeys([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseGitHubKeys = %d keys, nil; want an error", len(keys))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseGitHubKeys = %v", err)
			}
			var ids []string
			for _, id := range tt.wantIDs {
				if keys[id] != nil {
					ids = append(ids, id)
				}
			}
			if len(keys) != len(tt.wantIDs) || len(ids) != len(tt.wantIDs) {
				t.Errorf("ParseGitHubKeys ids = %v, want %v", keys, tt.wantIDs)
			}
		})
	}
}

func TestDecodeLeakReport(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []LeakMatch
		wantErr bool
	}{
		{"GitHub sample", ghTestPayload, []LeakMatch{{Token: "some_token", Type: "some_type", URL: "some_url", Source: "some_source"}}, false},
		{"unknown members ignored", `[{"token":"t","extra":1}]`, []LeakMatch{{Token: "t"}}, false},
		{"empty array", `[]`, []LeakMatch{}, false},
		{"object, not array", `{"token":"t"}`, nil, true},
		{"null element", `[null]`, nil, true},
		{"missing token", `[{"type":"x"}]`, nil, true},
		{"number token", `[{"token":5}]`, nil, true},
		{"trailing data", `[] []`, nil, true},
		{"not JSON", `token`, nil, true},
		{"huge field", `[{"token":"` + strings.Repeat("a", maxLeakFieldSize+1) + `"}]`, nil, true},
		{"too many matches", "[" + strings.TrimSuffix(strings.Repeat(`{"token":"t"},`, MaxLeakMatches+1), ",") + "]", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeLeakReport([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("DecodeLeakReport = %v, nil; want an error", got)
				}
				if latchkey.ErrorCodeOf(err) != latchkey.EInvalid {
					t.Errorf("DecodeLeakReport error = %v, want code invalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeLeakReport = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeLeakReport mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzDecodeLeakReport checks that the decoder never panics, that what it accepts respects its
// limits, that re-encoding an accepted report decodes to the same matches, and that its errors
// never repeat the body (which holds tokens).
func FuzzDecodeLeakReport(f *testing.F) {
	for _, s := range []string{ghTestPayload, `[]`, `[{"token":"lksvc_x"}]`, `[null]`, `{"token":"t"}`, `[{"token":1}]`,
		`[{"token":"t","type":"a","url":"b","source":"c","x":[1,2]}]`, `[{"token":"a\u0000b"}]`, `[] x`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := DecodeLeakReport(body)
		if err != nil {
			var le *latchkey.Error
			if latchkey.ErrorCodeOf(err) != latchkey.EInvalid {
				t.Fatalf("DecodeLeakReport error %v: want code invalid", err)
			}
			le = err.(*latchkey.Error)
			for _, m := range []string{"token\":\"", string(body)} {
				if len(body) > 8 && strings.Contains(le.Message, m) {
					t.Fatalf("DecodeLeakReport error %q repeats the body", le.Message)
				}
			}
			return
		}
		if len(got) > MaxLeakMatches {
			t.Fatalf("DecodeLeakReport accepted %d matches", len(got))
		}
		for _, m := range got {
			if m.Token == "" || len(m.Token) > maxLeakFieldSize {
				t.Fatalf("DecodeLeakReport accepted token of length %d", len(m.Token))
			}
		}
		again, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		round, err := DecodeLeakReport(again)
		if err != nil {
			t.Fatalf("DecodeLeakReport(re-encoded %s) = %v", again, err)
		}
		if diff := cmp.Diff(got, round); diff != "" {
			t.Fatalf("round trip changed the matches (-first +second):\n%s", diff)
		}
	})
}
