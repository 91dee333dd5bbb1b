package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/catalog"
)

// Service tokens in the UI: list, + New Token (with the grant editor), the reveal page that shows
// a token string once, rotate with a grace period, and the trash-can delete with confirmation.
// Rotate, delete and reveal are shared with personal access tokens (ui_profile.go).
//
// A token string exists only in the response that reveals it: it is never put in a URL, a
// cookie, a log line or the store, and every page is sent with Cache-Control: no-store.

// choice is one option of a select or radio group.
type choice struct{ Value, Label string }

// tokenRow is a token as lists show it.
type tokenRow struct {
	ID         int64
	Name       string
	Display    string
	CreatedAt  time.Time
	LastUsed   *time.Time
	ExpiresAt  *time.Time
	Expired    bool
	Summary    string
	Legacy     bool
	Flagged    bool
	Replaced   bool
	GraceUntil *time.Time
	// AllowedCIDRs are the token's own address ranges (empty: any address the account allows).
	AllowedCIDRs []string
}

func (s *Server) display(t *latchkey.Token) string {
	if t.Legacy() {
		return t.LegacyPrefix + "…"
	}
	return s.format.Display(t.Kind, t.UID)
}

func (s *Server) tokenRowOf(t *latchkey.Token, namer func(int64) string, now time.Time) tokenRow {
	row := tokenRow{ID: t.ID, Name: t.Name, Display: s.display(t), CreatedAt: t.CreatedAt, LastUsed: t.LastUsedAt,
		ExpiresAt: t.ExpiresAt, Expired: t.Expired(now), Legacy: t.Legacy(), Flagged: t.Flagged,
		Replaced: t.ReplacedByID != 0, GraceUntil: t.GraceUntil}
	if len(t.AllowedCIDRs) > 0 {
		row.AllowedCIDRs = apitype.PrefixStrings(t.AllowedCIDRs)
	}
	if t.Kind == latchkey.KindServiceToken {
		row.Summary = catalog.Summary(t.Grants, namer)
	}
	return row
}

// liveTokens lists one page of a kind of token (of one user for PATs), without tokens that were
// rotated out and whose grace period is over.
func (s *Server) liveTokens(ctx context.Context, p *latchkey.Principal, kind latchkey.TokenKind, userID *int64, pg *pager) ([]tokenRow, error) {
	active := latchkey.StateActive
	toks, total, err := s.store.FindTokens(ctx, latchkey.TokenFilter{AccountID: &p.AccountID, Kind: &kind, UserID: userID,
		State: &active, Offset: pg.Offset(), Limit: pg.PerPage})
	if err != nil {
		return nil, err
	}
	pg.Total = total
	namer, err := s.projectNamer(ctx, p.AccountID)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	rows := make([]tokenRow, 0, len(toks))
	for _, t := range toks {
		if t.RotatedOut(now) {
			continue
		}
		rows = append(rows, s.tokenRowOf(t, namer, now))
	}
	return rows, nil
}

type tokenListData struct {
	Tokens []tokenRow
	Pager  pager
}

func (s *Server) handleUIServiceTokenList(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := can(us.p, latchkey.ResServiceTokens, latchkey.AccessRead); err != nil {
		return err
	}
	d := tokenListData{Pager: pager{Page: pageParam(r), PerPage: latchkey.MaxLimit, Base: "/settings/service-tokens?"}}
	var err error
	if d.Tokens, err = s.liveTokens(r.Context(), us.p, latchkey.KindServiceToken, nil, &d.Pager); err != nil {
		return err
	}
	s.show(w, r, us, "service_tokens", "Service tokens", d)
	return nil
}

// expiryChoices are the lifetimes a new token may get; with an account maximum, the default is
// that maximum and longer choices are not offered.
func expiryChoices(a *latchkey.Account) []choice {
	max := a.Settings.MaxTokenLifetime
	out := []choice{{"", "No expiry"}}
	if max > 0 {
		out[0].Label = "Account maximum (" + strconv.Itoa(int(max/(24*time.Hour))) + " days)"
	}
	for _, days := range []int{30, 90, 365} {
		if max > 0 && time.Duration(days)*24*time.Hour > max {
			continue
		}
		out = append(out, choice{strconv.Itoa(days), strconv.Itoa(days) + " days"})
	}
	return out
}

// expiresAt turns an expiry choice into the API's expires_at.
func expiresAt(v string, choices []choice, now time.Time) (*string, error) {
	if v == "" {
		return nil, nil
	}
	for _, c := range choices {
		if c.Value == v {
			days, _ := strconv.Atoi(v)
			t := now.AddDate(0, 0, days).UTC().Format(time.RFC3339)
			return &t, nil
		}
	}
	return nil, latchkey.FieldError("expires_at", "choose one of the offered lifetimes")
}

// planHint says which permission sets the token form offers.
func planHint(plan latchkey.Plan) string {
	return "Only the permission sets that service tokens may hold on the " + string(plan) + " plan are offered."
}

// tokenFormData is the + New Token form.
type tokenFormData struct {
	FormID   string
	Name     string
	Expiry   string
	Expiries []choice
	// CIDRs is the allowed-addresses text as typed: ranges one per line or comma-separated.
	CIDRs string
	// Errors holds messages by field: name, expires_at, allowed_cidrs.
	Errors map[string]string
	Editor grantEditor
}

func (s *Server) handleUIServiceTokenNew(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := canManageServiceTokens(us.p); err != nil {
		return err
	}
	a, err := s.store.FindAccountByID(r.Context(), us.p.AccountID)
	if err != nil {
		return err
	}
	ed, err := s.newGrantEditor(r.Context(), us.p.AccountID, catalog.PlanSets(a.Plan), []grantRow{{Project: "all"}})
	if err != nil {
		return err
	}
	ed.Focus, ed.Hint = "token-name", planHint(a.Plan)
	s.show(w, r, us, "service_token_new", "New service token", &tokenFormData{FormID: randomString(18), Expiries: expiryChoices(a), Editor: ed})
	return nil
}

// handleUIServiceTokenCreate handles every button of the + New Token form: add or remove a
// permission row (re-rendering the form), or create the token and reveal it.
func (s *Server) handleUIServiceTokenCreate(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := canManageServiceTokens(us.p); err != nil {
		return err
	}
	ctx := r.Context()
	a, err := s.store.FindAccountByID(ctx, us.p.AccountID)
	if err != nil {
		return err
	}
	f := r.PostForm
	d := &tokenFormData{FormID: f.Get("form_id"), Name: f.Get("name"), Expiry: f.Get("expires"), Expiries: expiryChoices(a),
		CIDRs: f.Get("allowed_cidrs"), Errors: map[string]string{}}
	if d.Editor, err = s.newGrantEditor(ctx, us.p.AccountID, catalog.PlanSets(a.Plan), parseGrantRows(f)); err != nil {
		return err
	}
	d.Editor.Hint = planHint(a.Plan)
	edited := d.Editor.editRows(f.Get("action"))
	if d.FormID == "" {
		d.FormID = randomString(18)
	}
	again := func(status int, msg string) error {
		s.showStatus(w, r, us, status, "service_token_new", "New service token", d, msg)
		return nil
	}
	if edited {
		return again(http.StatusOK, "")
	}
	now := time.Now()
	tok := &latchkey.Token{AccountID: us.p.AccountID, Kind: latchkey.KindServiceToken, CreatedBy: us.p.String()}
	if tok.Name, err = validName("name", &d.Name, true); err != nil {
		d.Errors["name"] = "Enter a name, e.g. the integration that will use the token."
	}
	if exp, err := expiresAt(d.Expiry, d.Expiries, now); err != nil {
		d.Errors["expires_at"] = latchkey.ErrorMessage(err)
	} else if tok.ExpiresAt, err = expiry(exp, a, now); err != nil {
		d.Errors["expires_at"] = latchkey.ErrorMessage(err)
	}
	// The API's validation of allowed_cidrs, on the typed list; none means any address.
	if cidrs := splitCIDRs(d.CIDRs); len(cidrs) > 0 {
		if tok.AllowedCIDRs, err = allowedCIDRs(&cidrs); err != nil {
			d.Errors["allowed_cidrs"] = latchkey.ErrorMessage(err)
		}
	}
	grants, ok, err := s.validateGrantRows(ctx, us.p, &d.Editor, grantOwner{plan: a.Plan}, 1)
	if err != nil {
		return err
	}
	if !ok || len(d.Errors) > 0 {
		d.Editor.focusFirstError()
		if d.Errors["allowed_cidrs"] != "" {
			d.Editor.Focus = "token-cidrs"
		}
		if d.Errors["name"] != "" {
			d.Editor.Focus = "token-name"
		}
		return again(http.StatusBadRequest, "The token was not created: fix the fields marked below.")
	}
	tok.Grants = grants
	if !usedForms.claim(d.FormID) {
		return errFormUsed
	}
	secret, err := s.createToken(ctx, tok)
	if err != nil {
		usedForms.release(d.FormID)
		if latchkey.ErrorCodeOf(err) == latchkey.EInternal {
			return err
		}
		return again(formStatus(err), latchkey.ErrorMessage(err))
	}
	s.reveal(w, r, us, &revealData{Kind: "service token", Name: tok.Name, Token: secret, Display: s.display(tok),
		ExpiresAt: tok.ExpiresAt, Summary: catalog.Summary(tok.Grants, s.namerOrNil(ctx, us.p.AccountID)),
		AllowedCIDRs: apitype.PrefixStrings(tok.AllowedCIDRs), DoneURL: "/settings/service-tokens"})
	return nil
}

func (s *Server) namerOrNil(ctx context.Context, accountID int64) func(int64) string {
	n, err := s.projectNamer(ctx, accountID)
	if err != nil {
		return nil
	}
	return n
}

// revealData is the page that shows a token string once.
type revealData struct {
	Kind      string
	Name      string
	Token     string
	Display   string
	Summary   string
	ExpiresAt *time.Time
	// AllowedCIDRs are the ranges a service token is limited to (empty: any address).
	AllowedCIDRs []string
	DoneURL      string
	// Rotated is set when the token replaces OldDisplay, which stays valid until GraceUntil (nil:
	// revoked at once).
	Rotated    bool
	OldDisplay string
	GraceUntil *time.Time
}

// reveal renders the token string once. The page is never cached (setPageHeaders) and the
// string is not kept anywhere after the response is written.
func (s *Server) reveal(w http.ResponseWriter, r *http.Request, us *uiSession, d *revealData) {
	w.Header().Set("Pragma", "no-cache")
	s.show(w, r, us, "token_reveal", "Copy your new "+d.Kind, d)
}

// tokenUI describes one kind of token for the shared rotate and delete pages.
type tokenUI struct {
	kind    string // "service token" or "personal access token"
	listURL string
	base    string // URL of one token without its id: base + id + "/rotate"
	// manage checks that the principal may rotate and delete this kind of token.
	manage func(p *latchkey.Principal) error
	// load finds the token named by {token_id} for the principal.
	load func(ctx context.Context, r *http.Request, p *latchkey.Principal) (*latchkey.Token, error)
}

func (s *Server) serviceTokenUI() tokenUI {
	return tokenUI{kind: "service token", listURL: "/settings/service-tokens", base: "/settings/service-tokens/",
		manage: canManageServiceTokens,
		load: func(ctx context.Context, r *http.Request, p *latchkey.Principal) (*latchkey.Token, error) {
			return s.serviceToken(ctx, r, p)
		}}
}

// liveToken loads the token and refuses deleted ones and those already replaced by rotation.
func (k tokenUI) liveToken(ctx context.Context, r *http.Request, p *latchkey.Principal, forRotate bool) (*latchkey.Token, error) {
	if err := k.manage(p); err != nil {
		return nil, err
	}
	tok, err := k.load(ctx, r, p)
	if err != nil {
		return nil, err
	}
	if tok.State != latchkey.StateActive || tok.RotatedOut(time.Now()) {
		return nil, latchkey.Errorf(latchkey.ENotFound, "%s %s was already deleted", k.kind, tok.Name)
	}
	if forRotate && tok.ReplacedByID != 0 {
		return nil, latchkey.Errorf(latchkey.EConflict, "%s %s was already rotated; rotate its replacement instead", k.kind, tok.Name)
	}
	return tok, nil
}

// graceChoices are the grace periods a rotation offers.
var graceChoices = []choice{
	{"0", "Now: the current token stops working immediately"},
	{"3600", "1 hour"},
	{"86400", "24 hours"},
	{"604800", "7 days"},
}

type rotateData struct {
	FormID string
	Kind   string
	Token  tokenRow
	Graces []choice
	Grace  string
	Action string
	Cancel string
	// ReuseRevokes is the account setting: a rotated-out token used after its grace period
	// revokes its replacement too.
	ReuseRevokes bool
}

// reuseRevokes reads the account's reuse setting for the rotate page (false when unreadable).
func (s *Server) reuseRevokes(ctx context.Context, accountID int64) bool {
	a, err := s.store.FindAccountByID(ctx, accountID)
	return err == nil && a.Settings.ReuseRevokesFamily
}

func (s *Server) handleUIServiceTokenRotateForm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	return s.uiRotateForm(w, r, us, s.serviceTokenUI())
}

func (s *Server) handleUIServiceTokenRotate(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	return s.uiRotate(w, r, us, s.serviceTokenUI())
}

func (s *Server) handleUIServiceTokenDeleteConfirm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	return s.uiDeleteConfirm(w, r, us, s.serviceTokenUI())
}

func (s *Server) handleUIServiceTokenDelete(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	return s.uiDelete(w, r, us, s.serviceTokenUI())
}

func (s *Server) uiRotateForm(w http.ResponseWriter, r *http.Request, us *uiSession, k tokenUI) error {
	tok, err := k.liveToken(r.Context(), r, us.p, true)
	if err != nil {
		return err
	}
	d := &rotateData{FormID: randomString(18), Kind: k.kind, Token: s.tokenRowOf(tok, s.namerOrNil(r.Context(), us.p.AccountID), time.Now()),
		Graces: graceChoices, Grace: "3600", Action: k.base + strconv.FormatInt(tok.ID, 10) + "/rotate", Cancel: k.listURL,
		ReuseRevokes: s.reuseRevokes(r.Context(), us.p.AccountID)}
	s.show(w, r, us, "token_rotate", "Rotate "+tok.Name, d)
	return nil
}

func (s *Server) uiRotate(w http.ResponseWriter, r *http.Request, us *uiSession, k tokenUI) error {
	ctx := r.Context()
	tok, err := k.liveToken(ctx, r, us.p, true)
	if err != nil {
		return err
	}
	// The successor holds the same grants: the rotator must hold them too.
	for _, g := range tok.Grants {
		if err := catalog.CheckEscalation(us.p.Permissions, g); err != nil {
			return err
		}
	}
	d := &rotateData{FormID: r.PostForm.Get("form_id"), Kind: k.kind, Token: s.tokenRowOf(tok, s.namerOrNil(ctx, us.p.AccountID), time.Now()),
		Graces: graceChoices, Grace: r.PostForm.Get("grace"), Action: k.base + strconv.FormatInt(tok.ID, 10) + "/rotate", Cancel: k.listURL,
		ReuseRevokes: s.reuseRevokes(ctx, us.p.AccountID)}
	var grace time.Duration
	valid := false
	for _, c := range graceChoices {
		if c.Value == d.Grace {
			n, _ := strconv.Atoi(c.Value)
			grace, valid = time.Duration(n)*time.Second, true
		}
	}
	if !valid {
		s.showStatus(w, r, us, http.StatusBadRequest, "token_rotate", "Rotate "+tok.Name, d, "Choose how long the current token keeps working.")
		return nil
	}
	if !usedForms.claim(d.FormID) {
		return errFormUsed
	}
	next, err := s.rotate(ctx, us.p, tok, grace, nil)
	if err != nil {
		usedForms.release(d.FormID)
		return err
	}
	rd := &revealData{Kind: k.kind, Name: next.Name, Token: next.TokenString, Display: next.Display, DoneURL: k.listURL,
		Rotated: true, OldDisplay: s.display(tok)}
	if tok.Kind == latchkey.KindServiceToken {
		rd.Summary = catalog.Summary(tok.Grants, s.namerOrNil(ctx, us.p.AccountID))
	}
	// The store gives the successor the allowed addresses of the token it replaces.
	rd.AllowedCIDRs = next.AllowedCIDRs
	if next.ExpiresAt != nil {
		if t, err := time.Parse(time.RFC3339, *next.ExpiresAt); err == nil {
			rd.ExpiresAt = &t
		}
	}
	if grace > 0 {
		until := time.Now().Add(grace)
		rd.GraceUntil = &until
	}
	s.reveal(w, r, us, rd)
	return nil
}

type deleteData struct {
	Kind   string
	Token  tokenRow
	Action string
	Cancel string
}

func (s *Server) uiDeleteConfirm(w http.ResponseWriter, r *http.Request, us *uiSession, k tokenUI) error {
	tok, err := k.liveToken(r.Context(), r, us.p, false)
	if err != nil {
		return err
	}
	d := &deleteData{Kind: k.kind, Token: s.tokenRowOf(tok, s.namerOrNil(r.Context(), us.p.AccountID), time.Now()),
		Action: k.base + strconv.FormatInt(tok.ID, 10) + "/delete", Cancel: k.listURL}
	s.show(w, r, us, "token_delete", "Delete "+tok.Name, d)
	return nil
}

func (s *Server) uiDelete(w http.ResponseWriter, r *http.Request, us *uiSession, k tokenUI) error {
	tok, err := k.liveToken(r.Context(), r, us.p, false)
	if err != nil {
		return err
	}
	if err := s.store.DeleteToken(r.Context(), tok.ID, "deleted"); err != nil {
		return err
	}
	s.redirectFlash(w, r, k.listURL, "Deleted "+k.kind+" "+tok.Name+" ("+s.display(tok)+"). It no longer works.")
	return nil
}
