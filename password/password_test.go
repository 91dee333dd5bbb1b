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
}
