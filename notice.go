package latchkey

import "time"

// NoticeKind says how an email notice is sent.
type NoticeKind string

// Notice kinds.
const (
	// NoticeDigest is gathered with the recipient's other digest notices of the day (expiring
	// tokens) into one email.
	NoticeDigest NoticeKind = "digest"
	// NoticeAlert is sent on its own, as soon as it is due (security events).
	NoticeAlert NoticeKind = "alert"
)

// NoticeState is where an email notice stands.
type NoticeState string

// Notice states.
const (
	NoticePending NoticeState = "pending"
	NoticeSent    NoticeState = "sent"
	// NoticeFailed: retries ran out.
	NoticeFailed NoticeState = "failed"
)

// EmailNotice is one event on its way to one user by email. Details is what the email says of
// the event (a token's name and expiry, a revocation's reason); never a token string.
type EmailNotice struct {
	ID        int64
	UserID    int64
	AccountID int64
	Kind      NoticeKind
	// EventID is the audit entry the notice came from.
	EventID   int64
	EventType string
	Details   map[string]any
	State     NoticeState
	// SendAfter is when the notice is due; digest notices of one recipient share it.
	SendAfter time.Time
	SentAt    *time.Time
	Attempts  int
	LastError string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EmailNoticeFilter selects notices, newest SendAfter first. Zero fields do not filter.
type EmailNoticeFilter struct {
	UserID    int64
	AccountID int64
	Kind      NoticeKind
	State     NoticeState
	Limit     int
}
