package verify

import (
	"errors"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/accesstoken"
	"github.com/latchkey/latchkey/tokenfmt"
)

// Denials. None of them carries any part of the token.
var (
	ErrMissing    = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "authentication required: send Authorization: Token <token>"}
	ErrUnknown    = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "invalid token"}
	ErrRevoked    = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "token has been revoked"}
	ErrExpired    = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "token has expired"}
	ErrRotatedOut = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "token was replaced by rotation and is no longer valid"}
	ErrNotMember  = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "the token's user is no longer an active member of the account"}
	ErrIPDenied   = &latchkey.Error{Code: latchkey.EForbidden, Message: "Forbidden: Access denied from this IP address",
		Data: map[string]any{"account_access_denied": true}}
)

// Reason returns a short machine-readable reason for a verification error, as /v1/check reports
// it: missing, malformed, checksum, invalid (an access token whose signature, key, issuer,
// audience or times do not hold), not_found, revoked, expired, rotated_out, not_member, ip_denied,
// rate_limited, usage_exceeded (the token's credits are used up), unavailable (storage cannot answer now: try again), or error for anything else.
func Reason(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrMissing):
		return "missing"
	case errors.Is(err, tokenfmt.ErrMalformed), errors.Is(err, accesstoken.ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrInvalidAccessToken):
		return "invalid"
	case errors.Is(err, tokenfmt.ErrChecksum):
		return "checksum"
	case errors.Is(err, ErrUnknown):
		return "not_found"
	case errors.Is(err, ErrRevoked):
		return "revoked"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrRotatedOut):
		return "rotated_out"
	case errors.Is(err, ErrNotMember):
		return "not_member"
	case errors.Is(err, ErrIPDenied):
		return "ip_denied"
	}
	var le *latchkey.Error
	if errors.As(err, &le) {
		if le.Data["reason"] == "usage_exceeded" {
			return "usage_exceeded"
		}
		switch le.Code {
		case latchkey.EForbidden:
			return "forbidden"
		case latchkey.EUnavailable:
			return "unavailable"
		case latchkey.ERateLimited:
			return "rate_limited"
		}
	}
	return "error"
}
