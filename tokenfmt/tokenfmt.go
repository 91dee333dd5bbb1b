// Package tokenfmt owns the token string format: generating tokens, parsing and checksumming
// them, hashing them for storage, and recognising the legacy 40-hex format.
//
// A token is <prefix><uid><secret><checksum>: an 8-character public uid, a 32-character secret
// from crypto/rand and a 6-character base62 CRC32 of everything before it, all in base62. The
// checksum lets scanners and latchkey reject mistyped or made-up strings without a lookup.
package tokenfmt

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"unsafe"

	"github.com/latchkey/latchkey"
)

// Lengths of the parts of a token.
const (
	UIDLen      = 8
	SecretLen   = 32
	ChecksumLen = 6
	bodyLen     = UIDLen + SecretLen + ChecksumLen
	// LegacyLen is the length of a legacy token: 40 lowercase hex characters.
	LegacyLen = 40
	// LegacyPrefixLen is how much of a legacy token is stored as its lookup index.
	LegacyPrefixLen = 8
	// MaxLen bounds any token string latchkey accepts.
	MaxLen = 128
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Errors returned by Parse. They carry no part of the token.
var (
	ErrMalformed = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "malformed token"}
	ErrChecksum  = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "invalid token checksum"}
)

// Format holds a deployment's token prefixes.
type Format struct {
	ServicePrefix string
	PATPrefix     string
}

// Default is the stock format: lksvc_ for service tokens, lkpat_ for personal access tokens.
var Default = Format{ServicePrefix: "lksvc_", PATPrefix: "lkpat_"}

// Validate checks that the prefixes are usable: 2–16 characters of [a-z0-9_], ending in "_",
// and different from each other.
func (f Format) Validate() error {
	for _, p := range []string{f.ServicePrefix, f.PATPrefix} {
		if len(p) < 2 || len(p) > 16 || p[len(p)-1] != '_' {
			return fmt.Errorf("token prefix %q: want 2-16 characters ending in _", p)
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
				return fmt.Errorf("token prefix %q: only a-z, 0-9 and _ are allowed", p)
			}
		}
	}
	if f.ServicePrefix == f.PATPrefix {
		return errors.New("service and personal token prefixes must differ")
	}
	return nil
}

// Prefix returns the prefix for kind.
func (f Format) Prefix(kind latchkey.TokenKind) string {
	if kind == latchkey.KindPAT {
		return f.PATPrefix
	}
	return f.ServicePrefix
}

// Generate returns a new token string of kind and its uid.
func (f Format) Generate(kind latchkey.TokenKind) (token, uid string, err error) {
	prefix := f.Prefix(kind)
	b := make([]byte, len(prefix)+bodyLen)
	copy(b, prefix)
	if err := randomBase62(b[len(prefix) : len(prefix)+UIDLen+SecretLen]); err != nil {
		return "", "", err
	}
	putChecksum(b[len(b)-ChecksumLen:], crc32.ChecksumIEEE(b[:len(b)-ChecksumLen]))
	s := string(b)
	return s, s[len(prefix) : len(prefix)+UIDLen], nil
}

// randomBase62 fills b with uniformly random base62 characters (rejection sampling, no bias).
func randomBase62(b []byte) error {
	var buf [64]byte
	n := 0
	for n < len(b) {
		if _, err := rand.Read(buf[:]); err != nil {
			return fmt.Errorf("read random: %w", err)
		}
		for _, c := range buf {
			if c >= 248 { // 248 = 4*62: keep the distribution uniform
				continue
			}
			b[n] = alphabet[c%62]
			n++
			if n == len(b) {
				break
			}
		}
	}
	return nil
}

func putChecksum(dst []byte, sum uint32) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = alphabet[sum%62]
		sum /= 62
	}
}

// Parsed is a syntactically valid token. UID aliases the parsed string.
type Parsed struct {
	Kind   latchkey.TokenKind
	UID    string
	Legacy bool
}

// Parse checks s's shape, alphabet and checksum without touching storage. It does not allocate.
func (f Format) Parse(s string) (Parsed, error) {
	p, err := f.ParseQuick(s)
	if err == nil && !p.Legacy && !AlphabetOK(s) {
		return Parsed{}, ErrMalformed
	}
	return p, err
}

// ParseQuick is Parse without the alphabet check of a string whose checksum matches: it checks
// the prefix, the length and the checksum (a string with a bad checksum is still told apart as
// ErrMalformed when its alphabet is wrong). It is for a verifier that first looks the token's
// hash up in a cache of tokens it has seen pass Parse — a hit proves the alphabet — and calls
// AlphabetOK on a miss, before any storage access. Random or mistyped strings fail the checksum,
// so they are still rejected before any lookup. It does not allocate.
func (f Format) ParseQuick(s string) (Parsed, error) {
	if len(s) == LegacyLen && isLowerHex(s) {
		return Parsed{Kind: latchkey.KindServiceToken, Legacy: true}, nil
	}
	var kind latchkey.TokenKind
	var prefix string
	switch {
	case hasPrefix(s, f.ServicePrefix):
		kind, prefix = latchkey.KindServiceToken, f.ServicePrefix
	case hasPrefix(s, f.PATPrefix):
		kind, prefix = latchkey.KindPAT, f.PATPrefix
	default:
		return Parsed{}, ErrMalformed
	}
	if len(s) != len(prefix)+bodyLen {
		return Parsed{}, ErrMalformed
	}
	if !checksumOK(s) {
		if !AlphabetOK(s) {
			return Parsed{}, ErrMalformed
		}
		return Parsed{}, ErrChecksum
	}
	return Parsed{Kind: kind, UID: s[len(prefix) : len(prefix)+UIDLen]}, nil
}

// AlphabetOK reports whether the uid, secret and checksum of a token that ParseQuick accepted
// (its last 46 bytes) are all base62.
func AlphabetOK(s string) bool {
	return len(s) >= bodyLen && isBase62String(s[len(s)-bodyLen:])
}

// digitOf maps a base62 digit to its value and any other byte to 0xff.
var digitOf = func() (t [256]uint8) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = uint8(i)
	}
	return t
}()

// checksumOK reports whether the last ChecksumLen bytes of s are the base62 CRC32 of the rest
// (decoding them costs less than encoding the expected checksum to compare).
func checksumOK(s string) bool {
	sum := s[len(s)-ChecksumLen:]
	var v uint64
	for i := range ChecksumLen {
		d := digitOf[sum[i]]
		if d == 0xff {
			return false
		}
		v = v*62 + uint64(d)
	}
	return v == uint64(crc32.ChecksumIEEE(bytesOf(s[:len(s)-ChecksumLen])))
}

// Hash returns the SHA-256 of the whole token string, the only form in which it is stored.
func Hash(s string) [sha256.Size]byte { return sha256.Sum256(bytesOf(s)) }

// bytesOf views s as bytes without copying; callers must not modify the result.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// LegacyPrefix returns the stored lookup index of a legacy token.
func LegacyPrefix(s string) string { return s[:LegacyPrefixLen] }

// IsLegacy reports whether s looks like a legacy token.
func IsLegacy(s string) bool { return len(s) == LegacyLen && isLowerHex(s) }

// Redact returns a form of a token safe to show: its prefix and uid, e.g. "lksvc_4fZq8Kp2…".
func (f Format) Redact(s string) string {
	p, err := f.Parse(s)
	switch {
	case err != nil:
		return "(invalid token)"
	case p.Legacy:
		return s[:LegacyPrefixLen] + "…"
	}
	return f.Prefix(p.Kind) + p.UID + "…"
}

// Display returns how a token with uid is shown in lists: "lksvc_4fZq8Kp2…".
func (f Format) Display(kind latchkey.TokenKind, uid string) string {
	return f.Prefix(kind) + uid + "…"
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// isBase62String reports whether every byte of s is in the alphabet. It checks eight bytes at a
// time with SWAR range tests (a per-byte loop mispredicts constantly on random characters and was
// half the cost of Parse); s must be at least 8 bytes long.
func isBase62String(s string) bool {
	b := bytesOf(s)
	for len(b) > 8 {
		if !isBase62Word(binary.LittleEndian.Uint64(b)) {
			return false
		}
		b = b[8:]
	}
	// The last word overlaps bytes already checked when len(s) is not a multiple of 8.
	return isBase62Word(binary.LittleEndian.Uint64(bytesOf(s)[len(s)-8:]))
}

const (
	ones = 0x0101010101010101
	high = 0x8080808080808080
)

// isBase62Word checks eight bytes: for bytes below 0x80, x+(0x80-lo) sets a lane's high bit
// exactly when the byte is >= lo, and ^(x+(0x7f-hi)) exactly when it is <= hi, with no carry
// between lanes.
func isBase62Word(x uint64) bool {
	if x&high != 0 {
		return false
	}
	in := func(lo, hi uint64) uint64 {
		return (x + (0x80-lo)*ones) & ^(x + (0x7f-hi)*ones)
	}
	return (in('0', '9')|in('A', 'Z')|in('a', 'z'))&high == high
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Minted is a freshly generated token: the string to show once, its uid and the hash to store.
type Minted struct {
	String string
	UID    string
	Hash   []byte
}

// Mint generates a token of kind and hashes it for storage.
func (f Format) Mint(kind latchkey.TokenKind) (Minted, error) {
	s, uid, err := f.Generate(kind)
	if err != nil {
		return Minted{}, err
	}
	h := Hash(s)
	return Minted{String: s, UID: uid, Hash: h[:]}, nil
}
