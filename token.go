package latchkey

import (
	"fmt"
	"net/netip"
	"time"
)

// TokenKind says who owns a token.
type TokenKind string

// Token kinds.
const (
	// KindServiceToken is owned by the account and holds its own grants.
	KindServiceToken TokenKind = "service_token"
	// KindPAT is a personal access token: owned by a user in one account, acting with that
	// user's effective permissions at the time of each request.
	KindPAT TokenKind = "pat"
)

// Token is a service token or a personal access token. The token string itself is never stored:
// only its SHA-256 (Hash) or, for imported legacy tokens, a bcrypt hash and the first 8 characters.
type Token struct {
	ID        int64
	AccountID int64
	Kind      TokenKind
	// UserID owns a PAT; 0 for service tokens.
	UserID int64
	// UID is the public, unique 8-character identifier embedded in the token string.
	UID   string
	Name  string
	State State
	// Hash is SHA-256 of the whole token string (nil for legacy tokens).
	Hash []byte
	// LegacyPrefix and LegacyHash identify an imported legacy (40-hex) token.
	LegacyPrefix string
	LegacyHash   string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	ExpiresAt    *time.Time
	LastUsedAt   *time.Time
	LastUsedIP   string
	// FamilyID links tokens that replaced one another by rotation; it is the first token's ID.
	FamilyID int64
	// RotatedAt is when a newer token replaced this one; it stays valid until GraceUntil.
	RotatedAt  *time.Time
	GraceUntil *time.Time
	// ReplacedByID is the token that replaced this one by rotation.
	ReplacedByID int64
	// AllowedCIDRs, when non-empty, restricts where the token may be used from.
	AllowedCIDRs []netip.Prefix
	// Grants are a service token's own permission grants (empty for PATs).
	Grants []Grant
	// RateLimits bound how often the token may be verified (empty: no limit).
	RateLimits []RateLimit
	// Credits, when set, are the rotation family's quota of uses.
	Credits *Credits
	// CreatedBy names the principal that created the token, e.g. "user:3".
	CreatedBy string
	// Flagged is set when a leak report named this token and the account only flags leaks.
	Flagged bool
	// RevokedAt, RevokedReason and RevokedBy say when, why ("deleted", "leak_reported",
	// "reuse_detected", "membership_removed", "rotated") and by whom ("user:3", "system:reuse
	// detection") a token in state 2 was revoked.
	RevokedAt     *time.Time
	RevokedReason string
	RevokedBy     string
	// IdempotencyKey, when set on creation, is SHA-256 of the creating request's Idempotency-Key:
	// a creation by the same principal with the same key within IdempotencyWindow makes nothing
	// and fails with ErrIdempotentReplay's code and the first token's id. It is not read back.
	IdempotencyKey []byte
}

// IdempotencyWindow is how long an Idempotency-Key of a token creation is remembered.
const IdempotencyWindow = 24 * time.Hour

// IdempotentReplay is the error of a creation repeated with the same Idempotency-Key: a 409
// naming the token the first request created, whose string cannot be shown again.
func IdempotentReplay(tokenID int64) *Error {
	return &Error{Code: EConflict, Message: fmt.Sprintf("a token (id %d) was already created with this Idempotency-Key; its token string was shown only in that answer — if it was lost, rotate or delete the token", tokenID),
		Data: map[string]any{"token_id": tokenID}}
}

// Legacy reports whether the token is in the old 40-hex format.
func (t *Token) Legacy() bool { return t.LegacyHash != "" }

// RotatedOut reports whether t was replaced by rotation and its grace period is over at now.
func (t *Token) RotatedOut(now time.Time) bool {
	return t.RotatedAt != nil && (t.GraceUntil == nil || !now.Before(*t.GraceUntil))
}

// Expired reports whether t has an expiry at or before now.
func (t *Token) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// TokenFilter selects tokens.
type TokenFilter struct {
	AccountID *int64
	Kind      *TokenKind
	ID        *int64
	UserID    *int64
	UID       *string
	State     *State
	// ExpiresBefore keeps tokens with an expiry before this time.
	ExpiresBefore *time.Time
	FamilyID      *int64
	// LegacyPrefix keeps legacy tokens with these first 8 characters.
	LegacyPrefix *string
	// LiveAt keeps tokens that still work at this time (state 1, not rotated out, not expired);
	// EndedAt keeps the others (state 2, rotated out or expired by then).
	LiveAt  *time.Time
	EndedAt *time.Time
	// EndedHow, with EndedAt, keeps only the tokens that ended this way.
	EndedHow TokenEnd
	// NameContains keeps tokens whose name contains this text (case-insensitive for ASCII).
	NameContains string
	Order        Order
	Offset       int
	Limit        int
}

// TokenEnd is how a token stopped working, for lists of ended tokens.
type TokenEnd string

// How tokens end.
const (
	// EndRevoked: deleted by a person or a token, or when its user left the account.
	EndRevoked TokenEnd = "revoked"
	// EndLeaked: revoked because a leak report named it.
	EndLeaked TokenEnd = "leaked"
	// EndReuse: revoked because an older token of its rotation family was used after its grace.
	EndReuse TokenEnd = "reuse"
	// EndExpired: its expiry has passed.
	EndExpired TokenEnd = "expired"
	// EndRotatedOut: a rotation replaced it and its grace period is over.
	EndRotatedOut TokenEnd = "rotated_out"
)

// TokenEnds lists every TokenEnd.
var TokenEnds = []TokenEnd{EndRevoked, EndLeaked, EndReuse, EndExpired, EndRotatedOut}

// TokenUpdate changes a token in place.
type TokenUpdate struct {
	Name    *string
	State   *State
	Flagged *bool
	// AllowedCIDRs, when not nil, replace the token's own address ranges (empty: none).
	AllowedCIDRs *[]netip.Prefix
	// ExpiresAt, when not nil, replaces the token's expiry; the zero time removes it.
	ExpiresAt *time.Time
	// RateLimits, when not nil, replace the token's rate limits (empty: none).
	RateLimits *[]RateLimit
	// Credits, when not nil, replace the family's credits; ClearCredits removes them.
	Credits      *Credits
	ClearCredits bool
}

// TokenUse is one observation of a token in use, recorded off the request path.
type TokenUse struct {
	TokenID int64
	At      time.Time
	IP      string
}

// TokenVersion identifies the stored state of a token: it changes whenever the token or its
// grants do.
type TokenVersion struct {
	ID        int64
	Hash      []byte
	UpdatedAt time.Time
}
