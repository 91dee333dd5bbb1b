package server

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/catalog"
)

// Editing a token from its page: name, expiry and, for a service token, permissions and allowed
// addresses. The admin layer applies the creation rules (no grant the editor could not give, the
// account's maximum lifetime), so the page and the API cannot drift apart.

// tokenEditData is the edit form of one token.
type tokenEditData struct {
	Kind   string
	Token  tokenRow
	Action string
	Cancel string
	Name   string
	// Expiry is the chosen expiry: "keep", "never" or a number of days from now.
	Expiry   string
	Expiries []choice
	// Service says the token holds its own grants and addresses (a service token).
	Service bool
	CIDRs   string
	Editor  grantEditor
	// Errors holds messages by field: name, expires_at, allowed_cidrs.
	Errors formErrors
}

// editExpiries are the expiries an edit offers: the current one, a lifetime from now (within the
// account's maximum) and, without a maximum, none.
func editExpiries(a *latchkey.Account, tok *latchkey.Token) []choice {
	keep := "Keep: never expires"
	if tok.ExpiresAt != nil {
		keep = "Keep: " + tok.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	out := []choice{{"keep", keep}}
	for _, c := range expiryChoices(a) {
		if c.Value == "" {
			continue
		}
		out = append(out, choice{c.Value, c.Label + " from now"})
	}
	if a.Settings.MaxTokenLifetime == 0 {
		out = append(out, choice{"never", "Never"})
	}
	return out
}

func (s *Server) handleUIServiceTokenEditForm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	return s.uiTokenEdit(w, r, us, s.serviceTokenUI(), false)
}

func (s *Server) handleUIServiceTokenEdit(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	return s.uiTokenEdit(w, r, us, s.serviceTokenUI(), true)
}

func (s *Server) handleUIPATEditForm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	return s.uiTokenEdit(w, r, us, s.patUI(), false)
}

func (s *Server) handleUIPATEdit(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	return s.uiTokenEdit(w, r, us, s.patUI(), true)
}

// editableToken loads the token of {token_id} for its edit page, refusing those that cannot be
// edited and principals who could not edit it (asked of the admin layer with a dry run, so the
// page and the action agree).
func (s *Server) editableToken(r *http.Request, p *latchkey.Principal, k tokenUI) (*latchkey.Token, error) {
	id, err := pathID(r, "token_id")
	if err != nil {
		return nil, err
	}
	tok, err := s.admin.Token(r.Context(), p, k.ref(p, id))
	if err != nil {
		return nil, err
	}
	if _, err := s.admin.EditToken(admin.DryRun(r.Context()), p, k.ref(p, id), admin.TokenEdit{}); err != nil {
		return nil, err
	}
	return tok, nil
}

// uiTokenEdit shows the edit form (save false) or applies it, re-rendering it with the refusals
// next to their fields.
func (s *Server) uiTokenEdit(w http.ResponseWriter, r *http.Request, us *uiSession, k tokenUI, save bool) error {
	ctx := r.Context()
	tok, err := s.editableToken(r, us.p, k)
	if err != nil {
		return err
	}
	a, err := s.admin.Account(ctx, us.p)
	if err != nil {
		return err
	}
	self := k.base + strconv.FormatInt(tok.ID, 10)
	now := time.Now()
	d := &tokenEditData{Kind: k.kind, Token: s.tokenRowOf(tok, s.namerOrNil(ctx, us.p), now), Action: self + "/edit", Cancel: self,
		Name: tok.Name, Expiry: "keep", Expiries: editExpiries(a, tok), Service: tok.Kind == latchkey.KindServiceToken, Errors: formErrors{}}
	rows := rowsFromGrants(tok.Grants)
	if save {
		f := r.PostForm
		d.Name, d.Expiry, d.CIDRs, rows = f.Get("name"), f.Get("expires"), f.Get("allowed_cidrs"), parseGrantRows(f)
	} else {
		d.CIDRs = strings.Join(apitype.PrefixStrings(tok.AllowedCIDRs), "\n")
	}
	if d.Service {
		if d.Editor, err = s.newGrantEditor(ctx, us.p, catalog.PlanSets(a.Plan), rows); err != nil {
			return err
		}
		d.Editor.Hint = planHint(a.Plan)
	}
	title := "Edit " + tok.Name
	again := func(status int, msg string) error {
		s.showStatus(w, r, us, status, "token_edit", title, d, msg)
		return nil
	}
	if !save {
		d.Editor.Focus = "token-name"
		return again(http.StatusOK, "")
	}
	if d.Service && d.Editor.editRows(r.PostForm.Get("action")) {
		return again(http.StatusOK, "")
	}
	edit, grantsOK := admin.TokenEdit{Name: &d.Name}, true
	if _, err := latchkey.CleanName("name", d.Name); err != nil {
		d.Errors["name"] = uiMessage(err)
	}
	switch d.Expiry {
	case "keep":
	case "never":
		edit.Expiry = &admin.Expiry{}
	default:
		at, err := expiresAt(d.Expiry, d.Expiries, now)
		if err != nil || at == nil {
			d.Errors["expires_at"] = "Choose one of the offered expiries."
		} else {
			edit.Expiry = &admin.Expiry{At: at}
		}
	}
	if d.Service {
		cidrs, err := cidrList("allowed_cidrs", splitCIDRs(d.CIDRs))
		if err != nil {
			d.Errors["allowed_cidrs"] = uiMessage(err)
		}
		edit.AllowedCIDRs = &cidrs
		grants, ok, err := s.validateGrantRows(ctx, us.p, &d.Editor, a.Plan, 1)
		if err != nil {
			return err
		}
		edit.Grants, grantsOK = &grants, ok
	}
	invalid := func() error {
		d.Editor.focusFirstError()
		for _, f := range []struct{ field, id string }{{"allowed_cidrs", "token-cidrs"}, {"expires_at", "token-expires"}, {"name", "token-name"}} {
			if d.Errors[f.field] != "" {
				d.Editor.Focus = f.id
			}
		}
		return again(http.StatusBadRequest, "Nothing was changed: fix the fields marked below.")
	}
	if len(d.Errors) > 0 || !grantsOK {
		return invalid()
	}
	if _, err := s.admin.EditToken(ctx, us.p, k.ref(us.p, tok.ID), edit); err != nil {
		if latchkey.SystemError(err) {
			return err
		}
		if fieldErr(d.Errors, err, "name", "expires_at", "allowed_cidrs") == nil {
			return invalid()
		}
		return again(formStatus(err), uiMessage(err))
	}
	s.redirectFlash(w, r, self, "Saved the changes to "+k.kind+" "+d.Name+".")
	return nil
}
