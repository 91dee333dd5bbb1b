// Package latchkey holds the domain vocabulary of latchkey: accounts, projects, users, groups,
// permission grants, tokens, principals and the Store contract that persists them. It imports only
// the standard library; concrete storage, HTTP and CLI live in sub-packages.
package latchkey

import (
	"errors"
	"fmt"
)

// ErrorCode classifies an Error. The HTTP layer maps each code to one status.
type ErrorCode string

// Error codes.
const (
	EInvalid      ErrorCode = "invalid"
	EUnauthorized ErrorCode = "unauthorized"
	EForbidden    ErrorCode = "forbidden"
	ENotFound     ErrorCode = "not_found"
	EConflict     ErrorCode = "conflict"
	ETooLarge     ErrorCode = "too_large"
	ERateLimited  ErrorCode = "rate_limited"
	EUnavailable  ErrorCode = "unavailable"
	// ENotImplemented answers parts of dbt Cloud's API that latchkey does not serve.
	ENotImplemented ErrorCode = "not_implemented"
	EInternal       ErrorCode = "internal"
)

// RetryAfterUnavailable is how long, in seconds, a client is told to wait after a 503.
const RetryAfterUnavailable = 1

// Unavailable is the error for storage that cannot answer now: a 503 with Retry-After, never a
// 500. reason is shown to the caller; cause (which may name hosts or files) is kept for logs
// through Unwrap.
func Unavailable(reason string, cause error) *Error {
	return &Error{Code: EUnavailable, Message: "storage unavailable: " + reason,
		Data: map[string]any{"retry_after_seconds": RetryAfterUnavailable}, cause: cause}
}

// Error is latchkey's domain error. Message is written for the person reading it and never holds a
// secret; Field names the offending input for validation errors.
type Error struct {
	Code    ErrorCode
	Message string
	Field   string
	// Data is extra structured detail rendered into the response's data member, e.g.
	// {"account_access_denied": true} for IP-restricted requests.
	Data map[string]any
	// cause is the underlying error, for logs only (Error and Unwrap); never rendered.
	cause error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Code, e.Message)
	if e.Field != "" {
		msg += " (" + e.Field + ")"
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.cause }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EInvalid error naming field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// SystemError reports whether err is a failure of latchkey or its storage (internal, or
// unavailable) rather than an answer about the request. Such errors are passed on as they are:
// never turned into "not found", "wrong password" or a message about the input.
func SystemError(err error) bool {
	c := ErrorCodeOf(err)
	return c == EInternal || c == EUnavailable
}

// ErrorCodeOf returns the code of the first *Error in err's chain, EInternal for any other
// non-nil error and "" for nil.
func ErrorCodeOf(err error) ErrorCode {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the user-facing message of err: the Message of an *Error, or a generic
// text for anything else, so internal details never reach a user.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
