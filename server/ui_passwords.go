package server

import (
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
)

// Temporary passwords: an admin gives a member a random password, shown once, which the member
// must replace at their next sign-in (the ui wrapper sends them to passwordRequiredPath until
// they do).

// passwordRequiredPath is the only page a user signed in with a temporary password may open; its
// POST changes the password (handleUIPasswordChange).
const passwordRequiredPath = "/profile/password"

// temporaryPasswordData is the confirmation and the reveal page of a temporary password.
type temporaryPasswordData struct {
	User         *latchkey.User
	MembershipID int64
	// Password is set on the reveal page only.
	Password string
}

func (s *Server) handleUITemporaryPasswordConfirm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	m, u, err := s.uiMembership(r, us.p)
	if err != nil {
		return err
	}
	// Say now, not after the click, when it would be refused.
	if _, err := s.admin.SetTemporaryPassword(admin.DryRun(r.Context()), us.p, u.ID); err != nil {
		return err
	}
	s.show(w, r, us, "temporary_password", "Set a temporary password for "+u.Email, &temporaryPasswordData{User: u, MembershipID: m.ID})
	return nil
}

func (s *Server) handleUITemporaryPassword(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	m, u, err := s.uiMembership(r, us.p)
	if err != nil {
		return err
	}
	pw, err := s.admin.SetTemporaryPassword(r.Context(), us.p, u.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Pragma", "no-cache")
	s.show(w, r, us, "temporary_password", "Temporary password for "+u.Email, &temporaryPasswordData{User: u, MembershipID: m.ID, Password: pw})
	return nil
}

// handleUIPasswordRequired shows the change-password form alone: to a user signed in with a
// temporary password, or to anyone who opens it.
func (s *Server) handleUIPasswordRequired(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, err := s.profileData(r.Context(), r, us)
	if err != nil {
		return err
	}
	s.show(w, r, us, "password_required", "Choose a new password", d)
	return nil
}
