package tokenfmt_test

import (
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/tokenfmt"
)

func TestGenerateParse(t *testing.T) {
	f := tokenfmt.Default
	seen := map[string]bool{}
	for _, kind := range []latchkey.TokenKind{latchkey.KindServiceToken, latchkey.KindPAT} {
		for range 200 {
			tok, uid, err := f.Generate(kind)
			if err != nil {
				t.Fatal(err)
			}
			if seen[tok] {
				t.Fatalf("Generate returned a duplicate token")
			}
			seen[tok] = true
			if want := len(f.Prefix(kind)) + 46; len(tok) != want {
				t.Fatalf("len(token) = %d, want %d", len(tok), want)
			}
			if !strings.HasPrefix(tok, f.Prefix(kind)+uid) {
				t.Fatalf("token does not start with prefix+uid")
			}
			p, err := f.Parse(tok)
			if err != nil {
				t.Fatalf("Parse(generated) error %v", err)
			}
			if p.Kind != kind || p.UID != uid || p.Legacy {
				t.Fatalf("Parse(generated) = %+v, want kind %s uid %s", p, kind, uid)
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	f := tokenfmt.Default
	tok, _, err := f.Generate(latchkey.KindServiceToken)
	if err != nil {
		t.Fatal(err)
	}
	flip := []byte(tok)
	if flip[10] == 'a' {
		flip[10] = 'b'
	} else {
		flip[10] = 'a'
	}
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", tokenfmt.ErrMalformed},
		{"unknown prefix", "xx_" + tok[6:], tokenfmt.ErrMalformed},
		{"short", tok[:len(tok)-1], tokenfmt.ErrMalformed},
		{"long", tok + "a", tokenfmt.ErrMalformed},
		{"bad char", tok[:20] + "-" + tok[21:], tokenfmt.ErrMalformed},
		{"typo", string(flip), tokenfmt.ErrChecksum},
		{"upper hex legacy", strings.Repeat("A", 40), tokenfmt.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.Parse(tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse(%s) = %v, want %v", tt.name, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), tt.in) && tt.in != "" {
				t.Errorf("error text repeats the input")
			}
		})
	}
}

func TestLegacy(t *testing.T) {
	s := "0123456789abcdef0123456789abcdef01234567"
	p, err := tokenfmt.Default.Parse(s)
	if err != nil || !p.Legacy {
		t.Fatalf("Parse(legacy) = %+v, %v; want legacy", p, err)
	}
	if got := tokenfmt.LegacyPrefix(s); got != "01234567" {
		t.Errorf("LegacyPrefix = %q", got)
	}
}

func TestHash(t *testing.T) {
	s := "lksvc_example"
	if tokenfmt.Hash(s) != sha256.Sum256([]byte(s)) {
		t.Error("Hash differs from sha256.Sum256")
	}
}

func TestRedact(t *testing.T) {
	f := tokenfmt.Default
	tok, uid, _ := f.Generate(latchkey.KindPAT)
	if got, want := f.Redact(tok), "lkpat_"+uid+"…"; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
	if got := f.Redact("garbage"); got != "(invalid token)" {
		t.Errorf("Redact(garbage) = %q", got)
	}
}

func TestCustomPrefix(t *testing.T) {
	f := tokenfmt.Format{ServicePrefix: "acme_", PATPrefix: "acmep_"}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	tok, _, _ := f.Generate(latchkey.KindServiceToken)
	if _, err := f.Parse(tok); err != nil {
		t.Errorf("Parse(custom) = %v", err)
	}
	if _, err := tokenfmt.Default.Parse(tok); err == nil {
		t.Errorf("default format accepted a custom-prefix token")
	}
	for _, bad := range []tokenfmt.Format{{"A_", "b_"}, {"a", "b_"}, {"x_", "x_"}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) = nil, want error", bad)
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	f := tokenfmt.Default
	tok, _, _ := f.Generate(latchkey.KindServiceToken)
	n := testing.AllocsPerRun(100, func() {
		_, _ = f.Parse(tok)
		_ = tokenfmt.Hash(tok)
		_, _ = f.Parse("lksvc_bogus")
	})
	if n != 0 {
		t.Errorf("Parse+Hash allocs = %v, want 0", n)
	}
}

func FuzzParse(f *testing.F) {
	tok, _, _ := tokenfmt.Default.Generate(latchkey.KindServiceToken)
	pat, _, _ := tokenfmt.Default.Generate(latchkey.KindPAT)
	for _, s := range []string{tok, pat, "", "lksvc_", strings.Repeat("a", 40), tok[:30]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := tokenfmt.Default.Parse(s)
		// ParseQuick agrees with Parse except that it leaves a string with a matching checksum
		// and a bad alphabet to AlphabetOK.
		q, qerr := tokenfmt.Default.ParseQuick(s)
		if qerr == nil && !q.Legacy && !tokenfmt.AlphabetOK(s) {
			if !errors.Is(err, tokenfmt.ErrMalformed) {
				t.Fatalf("Parse(%q) = %v for a string with a bad alphabet, want ErrMalformed", s, err)
			}
		} else if q != p || !errors.Is(qerr, err) {
			t.Fatalf("ParseQuick(%q) = %+v, %v; Parse = %+v, %v", s, q, qerr, p, err)
		}
		if err != nil {
			if !errors.Is(err, tokenfmt.ErrMalformed) && !errors.Is(err, tokenfmt.ErrChecksum) {
				t.Fatalf("Parse returned unexpected error %v", err)
			}
			return
		}
		if p.Legacy {
			if !tokenfmt.IsLegacy(s) {
				t.Fatalf("Parse(%q) says legacy, IsLegacy disagrees", s)
			}
			return
		}
		prefix := tokenfmt.Default.Prefix(p.Kind)
		if !strings.HasPrefix(s, prefix+p.UID) || len(s) != len(prefix)+46 {
			t.Fatalf("Parse(%q) accepted a string of the wrong shape: %+v", s, p)
		}
	})
}

func TestBase62Check(t *testing.T) {
	f := tokenfmt.Default
	tok, _, _ := f.Generate(latchkey.KindServiceToken)
	// Every position, every byte value: only alphabet bytes keep the string valid.
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for i := 6; i < len(tok)-6; i++ {
		for c := 0; c < 256; c++ {
			b := []byte(tok)
			b[i] = byte(c)
			_, err := f.Parse(string(b))
			valid := strings.IndexByte(alphabet, byte(c)) >= 0
			if !valid && !errors.Is(err, tokenfmt.ErrMalformed) {
				t.Fatalf("Parse(byte %#x at %d) = %v, want ErrMalformed", c, i, err)
			}
			if valid && errors.Is(err, tokenfmt.ErrMalformed) {
				t.Fatalf("Parse(byte %q at %d) = ErrMalformed, want a checksum verdict", byte(c), i)
			}
		}
	}
}

// TestParseQuickLeavesTheAlphabet: a string whose checksum matches but whose body holds a byte
// outside base62 passes ParseQuick, fails AlphabetOK, and Parse calls it malformed.
func TestParseQuickLeavesTheAlphabet(t *testing.T) {
	f := tokenfmt.Default
	tok, _, _ := f.Generate(latchkey.KindServiceToken)
	b := []byte(tok)
	b[20] = '-'
	body := b[:len(b)-tokenfmt.ChecksumLen]
	sum := crc32.ChecksumIEEE(body)
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for i := len(b) - 1; i >= len(body); i-- {
		b[i] = alphabet[sum%62]
		sum /= 62
	}
	crafted := string(b)
	if _, err := f.ParseQuick(crafted); err != nil {
		t.Fatalf("ParseQuick(crafted) = %v, want a pass (its checksum matches)", err)
	}
	if tokenfmt.AlphabetOK(crafted) {
		t.Error("AlphabetOK(crafted) = true, want false")
	}
	if _, err := f.Parse(crafted); !errors.Is(err, tokenfmt.ErrMalformed) {
		t.Errorf("Parse(crafted) = %v, want ErrMalformed", err)
	}
	if _, err := f.ParseQuick(tok); err != nil || !tokenfmt.AlphabetOK(tok) {
		t.Errorf("ParseQuick(valid) = %v, AlphabetOK = %v", err, tokenfmt.AlphabetOK(tok))
	}
}
