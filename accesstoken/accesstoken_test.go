package accesstoken

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey"
)

var secret = []byte("a secret key of at least 32 characters")

func testKey(t testing.TB, now time.Time) (*latchkey.SigningKey, *Signer) {
	t.Helper()
	k, err := NewKey(secret, now, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := OpenKey(secret, k)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(k.KID, priv)
	if err != nil {
		t.Fatal(err)
	}
	return k, s
}

// A key's private half is sealed (never its bytes in the clear) and opens only with the secret
// and for its own kid; a signed token parses back with its claims.
func TestKeysAndRoundTrip(t *testing.T) {
	now := time.Now()
	k, s := testKey(t, now)
	priv, _ := OpenKey(secret, k)
	if strings.Contains(string(k.PrivateSealed), string(priv.Seed())) {
		t.Fatal("the sealed key holds the private key in the clear")
	}
	if _, err := OpenKey([]byte("another secret of at least 32 characters"), k); err == nil {
		t.Error("opened with another secret")
	}
	moved := *k
	moved.KID = "other"
	if _, err := OpenKey(secret, &moved); err == nil {
		t.Error("opened under another kid")
	}
	if !k.PublishUntil.Equal(k.SignUntil.Add(MaxLifetime+Leeway)) || !k.SignUntil.Equal(now.Add(time.Hour)) {
		t.Errorf("schedule %+v", k)
	}
	c := &Claims{Claims: jwt.Claims{Issuer: "https://l.example", Audience: jwt.Audience{"https://l.example"},
		Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: NewID()},
		ClientID: "abcdefgh", AccountID: 7, TokenID: 9, Grants: []string{"job_admin:3"}}
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	keys := func(kid string) (any, bool) {
		if kid == k.KID {
			return ed25519.PublicKey(k.PublicKey), true
		}
		return nil, false
	}
	got, err := Parse(tok, keys, "https://l.example", "https://l.example", now)
	if err != nil || got.AccountID != 7 || got.TokenID != 9 || got.ClientID != "abcdefgh" || len(got.Grants) != 1 {
		t.Fatalf("Parse = %+v, %v", got, err)
	}
	if len(tok) > 600 {
		t.Errorf("a token with one grant is %d bytes: keep them short (the cache hashes their signature only, but gateways forward them)", len(tok))
	}
}

func TestParseGrant(t *testing.T) {
	for in, want := range map[string]latchkey.Grant{
		"job_admin":   {PermissionSet: "job_admin", AllProjects: true},
		"job_admin:*": {PermissionSet: "job_admin", AllProjects: true},
		"job_admin:3": {PermissionSet: "job_admin", ProjectID: 3},
	} {
		if g, ok := ParseGrant(in); !ok || g.PermissionSet != want.PermissionSet || g.AllProjects != want.AllProjects || g.ProjectID != want.ProjectID {
			t.Errorf("ParseGrant(%q) = %+v, %v", in, g, ok)
		}
		if g, _ := ParseGrant(in); in != "job_admin:*" && GrantString(g) != in {
			t.Errorf("GrantString(ParseGrant(%q)) = %q", in, GrantString(g))
		}
	}
	for _, in := range []string{"", ":3", "job_admin:", "job_admin:0", "job_admin:-1", "job_admin:x", strings.Repeat("a", 101)} {
		if _, ok := ParseGrant(in); ok {
			t.Errorf("ParseGrant(%q) accepted", in)
		}
	}
}

// FuzzParse: any string is refused or parsed without panicking, and nothing but what the key
// signed is accepted.
func FuzzParse(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	k, s := testKey(f, now)
	c := &Claims{Claims: jwt.Claims{Issuer: "i", Audience: jwt.Audience{"i"}, Expiry: jwt.NewNumericDate(now.Add(time.Minute))}, AccountID: 1}
	good, err := s.Sign(c)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("eyJ..")
	f.Add("eyJhbGciOiJFZERTQSIsImtpZCI6IngiLCJ0eXAiOiJhdCtqd3QifQ.e30.AAAA")
	keys := func(kid string) (any, bool) {
		if kid == k.KID {
			return ed25519.PublicKey(k.PublicKey), true
		}
		return nil, false
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := Parse(raw, keys, "i", "i", now)
		if err == nil && raw != good {
			t.Fatalf("accepted %q (%+v), which the key did not sign", raw, got)
		}
	})
}

// BenchmarkParse is an uncached verification's signature and claims check, next to the raw
// Ed25519 verification it contains:
//
//	go test -run '^$' -bench Parse -count 6 ./accesstoken/
func BenchmarkParse(b *testing.B) {
	now := time.Now()
	k, s := testKey(b, now)
	c := &Claims{Claims: jwt.Claims{Issuer: "https://l.example", Audience: jwt.Audience{"https://l.example"},
		Expiry: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now), ID: NewID()},
		ClientID: "abcdefgh", AccountID: 7, TokenID: 9, Grants: []string{"job_viewer:3"}}
	tok, err := s.Sign(c)
	if err != nil {
		b.Fatal(err)
	}
	keys := func(string) (any, bool) { return ed25519.PublicKey(k.PublicKey), true }
	b.Run("what=parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Parse(tok, keys, "https://l.example", "https://l.example", now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("what=ed25519.Verify", func(b *testing.B) {
		priv, _ := OpenKey(secret, k)
		msg := []byte(tok[:strings.LastIndexByte(tok, '.')])
		sig := ed25519.Sign(priv, msg)
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(ed25519.PublicKey(k.PublicKey), msg, sig) {
				b.Fatal("bad signature")
			}
		}
	})
}
