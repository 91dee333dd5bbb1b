package latchkey

import "time"

// User is a person who signs in with email and password and can belong to several accounts.
type User struct {
	ID        int64
	Email     string
	FirstName string
	LastName  string
	// PasswordHash is an argon2id PHC string; never rendered.
	PasswordHash string
	IsActive     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// MustChangePassword is set when an admin gave the user a temporary password: the web UI
	// lets them do nothing but choose their own until they do.
	MustChangePassword bool
	// EmailNotices is the user's choice to get email about expiring tokens and security alerts;
	// every new user starts with it on.
	EmailNotices bool
}

// FullName returns "First Last", or the email when both are empty.
func (u *User) FullName() string {
	n := u.FirstName
	if u.LastName != "" {
		if n != "" {
			n += " "
		}
		n += u.LastName
	}
	if n == "" {
		return u.Email
	}
	return n
}

// UserFilter selects users. AccountID keeps members of that account (any membership state unless
// MembershipState is set).
type UserFilter struct {
	ID              *int64
	Email           *string
	AccountID       *int64
	MembershipState *State
	Offset          int
	Limit           int
}

// UserUpdate changes a user.
type UserUpdate struct {
	FirstName    *string
	LastName     *string
	PasswordHash *string
	IsActive     *bool
	// MustChangePassword sets or clears the user's obligation to choose a new password.
	MustChangePassword *bool
	// EmailNotices turns the user's email notices on or off.
	EmailNotices *bool
}

// License is a user's license in one account.
type License string

// Licenses.
const (
	LicenseDeveloper License = "developer"
	LicenseReadOnly  License = "read_only"
	LicenseIT        License = "it"
	LicenseAnalyst   License = "analyst"
)

// Valid reports whether l is a known license.
func (l License) Valid() bool {
	switch l {
	case LicenseDeveloper, LicenseReadOnly, LicenseIT, LicenseAnalyst:
		return true
	}
	return false
}

// Membership is a user's seat in an account, with its license. dbt calls it a "permission".
type Membership struct {
	ID        int64
	AccountID int64
	UserID    int64
	License   License
	State     State
	CreatedAt time.Time
	UpdatedAt time.Time
	// GroupIDs lists the account groups the user belongs to (filled by reads).
	GroupIDs []int64
}

// MembershipFilter selects memberships.
type MembershipFilter struct {
	ID        *int64
	AccountID *int64
	UserID    *int64
	State     *State
}

// MembershipUpdate changes a membership.
type MembershipUpdate struct {
	License *License
	State   *State
}
