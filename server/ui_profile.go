package server

import (
	"context"
	"net/http"
	"time"

	"github.com/latchkey/latchkey"
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
	// The new-token form.
	FormID   string
	Name     string
	Expiry   string
	Expiries []choice
	Errors   map[string]string
}

func (s *Server) patUI() tokenUI {
	return tokenUI{kind: "personal access token", listURL: "/profile", base: "/profile/tokens/",
		manage: func(p *latchkey.Principal) error {
			if p.Kind != latchkey.PrincipalUser {
				return latchkey.Errorf(latchkey.EForbidden, "only users have personal access tokens")
			}
			return nil
		},
		load: func(ctx context.Context, r *http.Request, p *latchkey.Principal) (*latchkey.Token, error) {
			return s.pat(ctx, r, p, p.UserID)
		}}
}

func (s *Server) profileData(ctx context.Context, r *http.Request, us *uiSession) (*profileData, error) {
	u, err := s.store.FindUserByID(ctx, us.p.UserID)
	if err != nil {
		return nil, err
	}
	a, err := s.store.FindAccountByID(ctx, us.p.AccountID)
	if err != nil {
		return nil, err
	}
	d := &profileData{User: u, License: us.p.License, Expiries: expiryChoices(a), Errors: map[string]string{},
		FormID: randomString(18), Pager: pager{Page: pageParam(r), PerPage: latchkey.MaxLimit, Base: "/profile?"}}
	groups, _, err := s.store.FindGroups(ctx, latchkey.GroupFilter{AccountID: us.p.AccountID, UserID: &us.p.UserID, Limit: latchkey.MaxLimit})
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if g.State == latchkey.StateActive {
			d.Groups = append(d.Groups, g.Name)
		}
	}
	if d.Tokens, err = s.liveTokens(ctx, us.p, latchkey.KindPAT, &us.p.UserID, &d.Pager); err != nil {
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

func (s *Server) handleUIPATCreate(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	ctx := r.Context()
	d, err := s.profileData(ctx, r, us)
	if err != nil {
		return err
	}
	a, err := s.store.FindAccountByID(ctx, us.p.AccountID)
	if err != nil {
		return err
	}
	f := r.PostForm
	d.FormID, d.Name, d.Expiry = f.Get("form_id"), f.Get("name"), f.Get("expires")
	now := time.Now()
	tok := &latchkey.Token{AccountID: us.p.AccountID, Kind: latchkey.KindPAT, UserID: us.p.UserID, CreatedBy: us.p.String()}
	if tok.Name, err = validName("name", &d.Name, true); err != nil {
		d.Errors["name"] = "Enter a name, e.g. the laptop or script that will use the token."
	}
	if exp, err := expiresAt(d.Expiry, d.Expiries, now); err != nil {
		d.Errors["expires_at"] = latchkey.ErrorMessage(err)
	} else if tok.ExpiresAt, err = expiry(exp, a, now); err != nil {
		d.Errors["expires_at"] = latchkey.ErrorMessage(err)
	}
	if len(d.Errors) > 0 {
		s.showStatus(w, r, us, http.StatusBadRequest, "profile", "Profile", d, "The token was not created: fix the fields marked below.")
		return nil
	}
	if !usedForms.claim(d.FormID) {
		return errFormUsed
	}
	secret, err := s.createToken(ctx, tok)
	if err != nil {
		usedForms.release(d.FormID)
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
