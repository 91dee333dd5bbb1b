// Package password hashes and checks user passwords with argon2id, stored as PHC strings
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
package password

import (
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Parameters of new hashes: the RFC 9106 second recommendation (64 MiB, 3 passes).
const (
	memoryKiB = 64 * 1024
	passes    = 3
	threads   = 2
	saltLen   = 16
	keyLen    = 32
)

// MinLength and MaxLength bound acceptable passwords.
const (
	MinLength = 12
	MaxLength = 1024
)

// ErrMismatch is returned by Check for a wrong password.
var ErrMismatch = errors.New("password does not match")

// commonPasswords are the 10,000 most common passwords, most common first, lower case, one per
// line: the first 10,000 of the "passwords" frequency list of zxcvbn 4.4.2 (MIT licence,
// © Dan Wheeler and Dropbox, Inc.), itself from Mark Burnett's 10 million password corpus.
//
//go:embed common-passwords.txt
var commonPasswords string

var common = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 10000)
	for _, pw := range strings.Split(strings.TrimSpace(commonPasswords), "\n") {
		m[pw] = struct{}{}
	}
	return m
})

// IsCommon reports whether pw, ignoring case, is among the 10,000 most common passwords.
func IsCommon(pw string) bool {
	_, ok := common()[strings.ToLower(pw)]
	return ok
}

// CommonCount returns how many distinct passwords the common list holds.
func CommonCount() int { return len(common()) }

// Validate checks a new password: at least MinLength characters, at most MaxLength bytes, and
// not one of the 10,000 most common passwords.
func Validate(pw string) error {
	if utf8.RuneCountInString(pw) < MinLength {
		return fmt.Errorf("password must be at least %d characters", MinLength)
	}
	if len(pw) > MaxLength {
		return fmt.Errorf("password must be at most %d characters", MaxLength)
	}
	if IsCommon(pw) {
		return errors.New("password is one of the 10,000 most common passwords; choose another")
	}
	return nil
}

// Hash returns the PHC string of pw with a fresh salt.
func Hash(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, passes, memoryKiB, threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, passes, threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Check compares pw with a PHC hash in constant time.
func Check(hash, pw string) error {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return ErrMismatch
	}
	var version int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return ErrMismatch
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m > 1<<22 || t > 16 || p == 0 {
		return ErrMismatch
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return ErrMismatch
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return ErrMismatch
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// dummy is checked against when a user does not exist, so that sign-in takes as long either way.
var dummy, _ = Hash("latchkey-dummy-password")

// CheckDummy spends the time of one Check and always fails.
func CheckDummy(pw string) error {
	_ = Check(dummy, pw)
	return ErrMismatch
}
