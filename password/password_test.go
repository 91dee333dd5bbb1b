package password_test

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/password"
)

func TestHashCheck(t *testing.T) {
	h, err := password.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Errorf("Hash = %q, want argon2id PHC string", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Error("hash contains the password")
	}
	if err := password.Check(h, "correct horse battery staple"); err != nil {
		t.Errorf("Check(right) = %v", err)
	}
	if err := password.Check(h, "wrong horse battery staple"); err == nil {
		t.Error("Check(wrong) = nil")
	}
	for _, bad := range []string{"", "$argon2id$", "$bcrypt$x$y$z$w", h[:len(h)-5]} {
		if password.Check(bad, "correct horse battery staple") == nil {
			t.Errorf("Check(%q) = nil, want error", bad)
		}
	}
	h2, _ := password.Hash("correct horse battery staple")
	if h == h2 {
		t.Error("two hashes of one password are equal; salt missing")
	}
}

func TestValidate(t *testing.T) {
	if password.Validate("short") == nil {
		t.Error("Validate(short) = nil")
	}
	if password.Validate(strings.Repeat("x", 2000)) == nil {
		t.Error("Validate(huge) = nil")
	}
	if err := password.Validate("long enough password"); err != nil {
		t.Errorf("Validate(ok) = %v", err)
	}
	// Characters, not bytes: eleven Cyrillic letters are 22 bytes and still too short.
	if password.Validate(strings.Repeat("ж", 11)) == nil {
		t.Error("Validate(11 two-byte characters) = nil")
	}
	if err := password.Validate(strings.Repeat("ж", 12)); err != nil {
		t.Errorf("Validate(12 two-byte characters) = %v", err)
	}
	// Common passwords long enough to pass the length rule are refused, whatever their case.
	for _, pw := range []string{"1qaz2wsx3edc", "QWERTY123456", "123qweasdzxc"} {
		if err := password.Validate(pw); err == nil || !strings.Contains(err.Error(), "common") {
			t.Errorf("Validate(%q) = %v, want refused as common", pw, err)
		}
	}
}

// The shipped list is the 10,000 most common passwords: as many lines, no duplicates, in lower
// case, with the most common first.
func TestCommonPasswords(t *testing.T) {
	for _, pw := range []string{"123456", "password", "qwerty", "dragon", "PassWord"} {
		if !password.IsCommon(pw) {
			t.Errorf("IsCommon(%q) = false", pw)
		}
	}
	if password.IsCommon("correct horse battery staple") {
		t.Error("a passphrase is counted as common")
	}
	if n := password.CommonCount(); n != 10000 {
		t.Errorf("the list holds %d distinct passwords, want 10,000", n)
	}
}
