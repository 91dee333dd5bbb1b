package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
)

// The profile page: who you are in this account, and your personal access tokens (create,
// shown once, rotate, delete). A PAT acts with its user's permissions at the time of each
// request, so anyone signed in may manage their own.

type profileData struct {
	User    *latchkey.User
	License latchkey.License
	Groups  []string
	Tokens  []tokenRow
	Pager   pager
	// Ended is the revoked view of the user's tokens (?view=revoked), instead of Tokens.
	Ended *endedView
	// The new-token form.
	FormID   string
	Name     string
	Expiry   string
	Expiries []choice
	Errors   map[string]string
	// PasswordErrors marks the fields of the change-password form.
	PasswordErrors map[string]string
}

func (s *Server) patUI() tokenUI {
	return tokenUI{kind: "personal access token", listURL: "/profile", base: "/profile/tokens/",
		ref: func(p *latchkey.Principal, id int64) admin.TokenRef { return admin.PATRef(p.UserID, id) }}
}

func (s *Server) profileData(ctx context.Context, r *http.Request, us *uiSession) (*profileData, error) {
	u, err := s.admin.User(ctx, us.p, us.p.UserID)
	if err != nil {
		return nil, err
	}
	a, err := s.admin.Account(ctx, us.p)
	if err != nil {
		return nil, err
	}
	d := &profileData{User: u, License: us.p.License, Expiries: expiryChoices(a), Errors: map[string]string{}, PasswordErrors: map[string]string{},
		FormID: randomString(18), Pager: pager{Page: pageParam(r), PerPage: latchkey.MaxLimit, Base: "/profile?"}}
	groups, err := s.admin.MyGroups(ctx, us.p)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		d.Groups = append(d.Groups, g.Name)
	}
	if r.Method == http.MethodGet && r.URL.Query().Get("view") == "revoked" {
		d.Ended, err = s.endedTokens(r, us.p, s.patUI())
		return d, err
	}
	if d.Tokens, err = s.tokenRows(ctx, us.p, admin.PATRef(us.p.UserID, 0), nil, &d.Pager); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Server) handleUIProfile(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, err := s.profileData(r.Context(), r, us)
	if err != nil {
		return err
	}
	s.show(w, r, us, "profile", "Profile", d)
	return nil
}

// handleUIEmailNotices saves the profile's email choice: the checkbox is sent only when ticked.
func (s *Server) handleUIEmailNotices(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	on := r.PostForm.Get("email_notices") == "on"
	if _, err := s.admin.SetEmailNotices(r.Context(), us.p, on); err != nil {
		return err
	}
	msg := "You will no longer get email about expiring tokens or security alerts."
	if on {
		msg = "You will get email about expiring tokens and security alerts."
	}
	s.redirectFlash(w, r, "/profile#email", msg)
	return nil
}

func (s *Server) handleUIPATCreate(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	ctx := r.Context()
	d, err := s.profileData(ctx, r, us)
	if err != nil {
		return err
	}
	f := r.PostForm
	d.FormID, d.Name, d.Expiry = f.Get("form_id"), f.Get("name"), f.Get("expires")
	in := admin.NewToken{Name: d.Name}
	if _, err := latchkey.CleanName("name", d.Name); err != nil {
		d.Errors["name"] = uiMessage(err)
	}
	if in.ExpiresAt, err = expiresAt(d.Expiry, d.Expiries, time.Now()); err != nil {
		d.Errors["expires_at"] = uiMessage(err)
	}
	invalid := func() error {
		s.showStatus(w, r, us, http.StatusBadRequest, "profile", "Profile", d, "The token was not created: fix the fields marked below.")
		return nil
	}
	if len(d.Errors) > 0 {
		return invalid()
	}
	if !s.forms.claim(d.FormID) {
		return errFormUsed
	}
	tok, secret, err := s.admin.CreatePAT(ctx, us.p, us.p.UserID, in)
	if err != nil {
		s.forms.release(d.FormID)
		if fieldErr(d.Errors, err, "name", "expires_at") == nil {
			return invalid()
		}
		return err
	}
	s.reveal(w, r, us, &revealData{Kind: "personal access token", Name: tok.Name, Token: secret, Display: s.display(tok),
		ExpiresAt: tok.ExpiresAt, DoneURL: "/profile"})
	return nil
}

func (s *Server) handleUIPATRotateForm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	return s.uiRotateForm(w, r, us, s.patUI())
}

func (s *Server) handleUIPATRotate(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	return s.uiRotate(w, r, us, s.patUI())
}

func (s *Server) handleUIPATDeleteConfirm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	return s.uiDeleteConfirm(w, r, us, s.patUI())
}

func (s *Server) handleUIPATDelete(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	return s.uiDelete(w, r, us, s.patUI())
}

// handleUIPasswordChange changes the signed-in user's password (the current one is required and
// guessed at no faster than sign-in allows). Every session of the user ends; this browser is
// signed in again.
func (s *Server) handleUIPasswordChange(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	ctx := r.Context()
	if err := s.limitSignIn(r); err != nil {
		return err
	}
	d, err := s.profileData(ctx, r, us)
	if err != nil {
		return err
	}
	f := r.PostForm
	current, next := f.Get("current_password"), f.Get("new_password")
	refuse := func(field, msg string) error {
		d.PasswordErrors[field] = msg
		name, title := "profile", "Profile"
		if us.p.MustChangePassword {
			name, title = "password_required", "Choose a new password"
		}
		s.showStatus(w, r, us, http.StatusBadRequest, name, title, d, "Your password was not changed: fix the fields marked below.")
		return nil
	}
	if next != f.Get("confirm_password") {
		return refuse("confirm_password", "The two new passwords differ.")
	}
	err = s.admin.ChangePassword(ctx, us.p, current, next)
	if err == admin.ErrWrongCurrentPassword {
		s.signInFailed(r, "", us.p.UserID)
	}
	var le *latchkey.Error
	if errors.As(err, &le) && le.Code == latchkey.EInvalid && (le.Field == "current_password" || le.Field == "new_password") {
		return refuse(le.Field, uiMessage(le))
	}
	if err != nil {
		return err
	}
	// The change ended every session of the user, this one too.
	u, err := s.admin.User(ctx, us.p, us.p.UserID)
	if err != nil {
		return err
	}
	sess, err := s.admin.StartSession(ctx, u, us.p.AccountID, s.cfg.SessionMax)
	if err != nil {
		return err
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, sess.Cookie, s.cfg.SessionMax))
	if us.p.MustChangePassword {
		s.redirectFlash(w, r, "/", "Your new password is set.")
		return nil
	}
	s.redirectFlash(w, r, "/profile", "Your password was changed. You were signed out everywhere else.")
	return nil
}
