package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
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
	// RateLimits describe the token's own rate limits ("api: 100 per second"); Credits its
	// credits ("" for none).
	RateLimits []string
	Credits    string
	// Ended, EndedAt, EndReason and EndedBy describe a token that no longer works (the revoked
	// view): revoked, or rotated out and past its grace period.
	Ended     bool
	EndedAt   *time.Time
	EndReason string
	EndedBy   string
}

func (s *Server) display(t *latchkey.Token) string { return apitype.Display(s.format, t) }

// endReasons words a token's revoked_reason for people.
var endReasons = map[string]string{
	"deleted":            "Deleted",
	"leak_reported":      "Reported as leaked",
	"reuse_detected":     "Revoked: an old token of its rotation family was used after its grace period",
	"membership_removed": "Its user left the account",
	"rotated":            "Rotated with no grace period",
}

func (s *Server) tokenRowOf(t *latchkey.Token, namer func(int64) string, now time.Time) tokenRow {
	row := tokenRow{ID: t.ID, Name: t.Name, Display: s.display(t), CreatedAt: t.CreatedAt, LastUsed: t.LastUsedAt,
		ExpiresAt: t.ExpiresAt, Expired: t.Expired(now), Legacy: t.Legacy(), Flagged: t.Flagged,
		Replaced: t.ReplacedByID != 0, GraceUntil: t.GraceUntil}
	if len(t.AllowedCIDRs) > 0 {
		row.AllowedCIDRs = apitype.PrefixStrings(t.AllowedCIDRs)
	}
	for _, l := range t.RateLimits {
		row.RateLimits = append(row.RateLimits, fmt.Sprintf("%s: %d per %s", l.Name, l.Limit, windowWords(l.Duration)))
	}
	if c := t.Credits; c != nil {
		row.Credits = fmt.Sprintf("%d left", c.Remaining)
		if r := c.Refill; r != nil {
			row.Credits += fmt.Sprintf(" · refilled to %d %s", r.Amount, r.Interval)
			if r.Interval == latchkey.RefillMonthly {
				row.Credits += fmt.Sprintf(" on day %d", r.Day)
			}
		}
	}
	if t.Kind == latchkey.KindServiceToken {
		row.Summary = catalog.Summary(t.Grants, namer)
	}
	switch {
	case t.State == latchkey.StateDeleted:
		row.Ended, row.EndedAt, row.EndedBy = true, t.RevokedAt, t.RevokedBy
		row.EndReason = endReasons[t.RevokedReason]
		if row.EndReason == "" {
			row.EndReason = "Revoked"
		}
	case t.RotatedOut(now):
		row.Ended, row.EndedAt, row.EndReason, row.EndedBy = true, t.GraceUntil, "Rotated out: its grace period is over", "system:rotation grace period"
	case row.Expired:
		row.Ended, row.EndedAt, row.EndReason, row.EndedBy = true, t.ExpiresAt, "Expired", "system:expiry"
	}
	if row.EndedBy == "" && row.Ended {
		row.EndedBy = "—"
	}
	return row
}

// endedHows are the filters of the revoked view.
var endedHows = []choice{
	{"", "Any reason"},
	{string(latchkey.EndRevoked), "Deleted"},
	{string(latchkey.EndLeaked), "Reported as leaked"},
	{string(latchkey.EndReuse), "Reuse after rotation"},
	{string(latchkey.EndExpired), "Expired"},
	{string(latchkey.EndRotatedOut), "Rotated out"},
}

// actorLabel words a revoked_by reference for people: "Person: Ada Lovelace", "Token: CI deploy"
// or "Rule: reuse detection". A person or token p may not see keeps its reference.
func (s *Server) actorLabel(ctx context.Context, p *latchkey.Principal, ref string, cache map[string]string) string {
	if v, ok := cache[ref]; ok {
		return v
	}
	kind, rest, _ := strings.Cut(ref, ":")
	id, _ := strconv.ParseInt(rest, 10, 64)
	label := ref
	switch kind {
	case "system":
		label = "Rule: " + rest
	case string(latchkey.PrincipalUser):
		label = "Person: user " + rest
		if u, err := s.admin.User(ctx, p, id); err == nil {
			label = "Person: " + u.Email
			if name := strings.TrimSpace(u.FirstName + " " + u.LastName); name != "" {
				label = "Person: " + name + " (" + u.Email + ")"
			}
		}
	case string(latchkey.PrincipalServiceToken):
		label = "Token: service token " + rest
		if t, err := s.admin.Token(ctx, p, admin.ServiceTokenRef(id)); err == nil {
			label = "Token: " + t.Name
		}
	}
	cache[ref] = label
	return label
}

// tokenRows lists one page of tokens (service tokens, or one user's PATs): those that still
// work, or with ended those revoked or rotated out.
func (s *Server) tokenRows(ctx context.Context, p *latchkey.Principal, ref admin.TokenRef, ended *endedFilter, pg *pager) ([]tokenRow, error) {
	now := time.Now()
	f := latchkey.TokenFilter{LiveAt: &now, Offset: pg.Offset(), Limit: pg.PerPage}
	if ended != nil {
		f = latchkey.TokenFilter{EndedAt: &now, EndedHow: latchkey.TokenEnd(ended.How), NameContains: ended.Query,
			Order: latchkey.Order{Field: "updated_at", Desc: true}, Offset: pg.Offset(), Limit: pg.PerPage}
	}
	toks, total, err := s.admin.Tokens(ctx, p, ref, f)
	if err != nil {
		return nil, err
	}
	pg.Total = total
	namer, err := s.projectNamer(ctx, p)
	if err != nil {
		return nil, err
	}
	rows := make([]tokenRow, 0, len(toks))
	actors := map[string]string{}
	for _, t := range toks {
		row := s.tokenRowOf(t, namer, now)
		if row.Ended && row.EndedBy != "—" {
			row.EndedBy = s.actorLabel(ctx, p, row.EndedBy, actors)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// endedFilter is the revoked view's filter: how the tokens ended ("" any way) and text their
// names contain.
type endedFilter struct {
	How, Query string
	Hows       []choice
}

// maxNameQuery bounds the revoked view's name filter, in bytes.
const maxNameQuery = 255

// endedFilterOf reads ?how= and ?q=; an unknown how or an over-long query is refused.
func endedFilterOf(r *http.Request) (*endedFilter, error) {
	q := r.URL.Query()
	f := &endedFilter{How: q.Get("how"), Query: strings.TrimSpace(q.Get("q")), Hows: endedHows}
	if len(f.Query) > maxNameQuery {
		return nil, latchkey.Errorf(latchkey.EInvalid, "the name filter is longer than %d characters", maxNameQuery)
	}
	for _, c := range endedHows {
		if c.Value == f.How {
			return f, nil
		}
	}
	return nil, latchkey.Errorf(latchkey.EInvalid, "choose one of the offered reasons")
}

// query is the filter as URL parameters for the pager, ending in "&".
func (f *endedFilter) query() string {
	v := url.Values{"view": {"revoked"}}
	if f.How != "" {
		v.Set("how", f.How)
	}
	if f.Query != "" {
		v.Set("q", f.Query)
	}
	return v.Encode() + "&"
}

type tokenListData struct {
	Tokens []tokenRow
	Pager  pager
	// Ended is the revoked view, instead of Tokens (nil on the active list).
	Ended *endedView
}

// endedView is the revoked view of a token list (the ended-tokens template).
type endedView struct {
	Kind    string // "service token" or "personal access token"
	ListURL string
	// Base is the URL of a token of this kind without its id.
	Base   string
	Filter *endedFilter
	Tokens []tokenRow
	Pager  pager
}

// endedTokens fills the revoked view of k's tokens from ?how=, ?q= and ?page=.
func (s *Server) endedTokens(r *http.Request, p *latchkey.Principal, k tokenUI) (*endedView, error) {
	f, err := endedFilterOf(r)
	if err != nil {
		return nil, err
	}
	v := &endedView{Kind: k.kind, ListURL: k.listURL, Base: k.base, Filter: f,
		Pager: pager{Page: pageParam(r), PerPage: latchkey.MaxLimit, Base: k.listURL + "?" + f.query()}}
	if v.Tokens, err = s.tokenRows(r.Context(), p, k.ref(p, 0), f, &v.Pager); err != nil {
		return nil, err
	}
	return v, nil
}

// handleUIServiceTokenList lists the service tokens that work, or (?view=revoked) those revoked,
// expired or rotated out, with when, why and by whom, filtered by how they ended and by name.
func (s *Server) handleUIServiceTokenList(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	var d tokenListData
	var err error
	if r.URL.Query().Get("view") == "revoked" {
		if d.Ended, err = s.endedTokens(r, us.p, s.serviceTokenUI()); err != nil {
			return err
		}
		s.show(w, r, us, "service_tokens", "Revoked service tokens", d)
		return nil
	}
	d.Pager = pager{Page: pageParam(r), PerPage: latchkey.MaxLimit, Base: "/settings/service-tokens?"}
	if d.Tokens, err = s.tokenRows(r.Context(), us.p, admin.TokenRef{Kind: latchkey.KindServiceToken}, nil, &d.Pager); err != nil {
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

// expiresAt turns an expiry choice into a time ("": the account's default).
func expiresAt(v string, choices []choice, now time.Time) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	for _, c := range choices {
		if c.Value == v {
			days, _ := strconv.Atoi(v)
			t := now.AddDate(0, 0, days).UTC()
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
	if err := admin.CanManageServiceTokens(us.p); err != nil {
		return err
	}
	a, err := s.admin.Account(r.Context(), us.p)
	if err != nil {
		return err
	}
	ed, err := s.newGrantEditor(r.Context(), us.p, catalog.PlanSets(a.Plan), []grantRow{{Project: "all"}})
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
	if err := admin.CanManageServiceTokens(us.p); err != nil {
		return err
	}
	ctx := r.Context()
	a, err := s.admin.Account(ctx, us.p)
	if err != nil {
		return err
	}
	f := r.PostForm
	d := &tokenFormData{FormID: f.Get("form_id"), Name: f.Get("name"), Expiry: f.Get("expires"), Expiries: expiryChoices(a),
		CIDRs: f.Get("allowed_cidrs"), Errors: map[string]string{}}
	if d.Editor, err = s.newGrantEditor(ctx, us.p, catalog.PlanSets(a.Plan), parseGrantRows(f)); err != nil {
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
	in := admin.NewToken{Name: d.Name}
	if _, err := latchkey.CleanName("name", d.Name); err != nil {
		d.Errors["name"] = uiMessage(err)
	}
	if in.ExpiresAt, err = expiresAt(d.Expiry, d.Expiries, time.Now()); err != nil {
		d.Errors["expires_at"] = uiMessage(err)
	}
	// The API's parsing of allowed_cidrs, on the typed list; none means any address.
	if in.AllowedCIDRs, err = cidrList("allowed_cidrs", splitCIDRs(d.CIDRs)); err != nil {
		d.Errors["allowed_cidrs"] = uiMessage(err)
	}
	grants, ok, err := s.validateGrantRows(ctx, us.p, &d.Editor, a.Plan, 1)
	if err != nil {
		return err
	}
	invalid := func() error {
		d.Editor.focusFirstError()
		if d.Errors["allowed_cidrs"] != "" {
			d.Editor.Focus = "token-cidrs"
		}
		if d.Errors["expires_at"] != "" {
			d.Editor.Focus = "token-expires"
		}
		if d.Errors["name"] != "" {
			d.Editor.Focus = "token-name"
		}
		return again(http.StatusBadRequest, "The token was not created: fix the fields marked below.")
	}
	if !ok || len(d.Errors) > 0 {
		return invalid()
	}
	in.Grants = grants
	if !s.forms.claim(d.FormID) {
		return errFormUsed
	}
	tok, secret, err := s.admin.CreateServiceToken(ctx, us.p, in)
	if err != nil {
		s.forms.release(d.FormID)
		if latchkey.SystemError(err) {
			return err
		}
		if fieldErr(d.Errors, err, "name", "expires_at", "allowed_cidrs") == nil {
			return invalid()
		}
		return again(formStatus(err), uiMessage(err))
	}
	s.reveal(w, r, us, &revealData{Kind: "service token", Name: tok.Name, Token: secret, Display: s.display(tok),
		ExpiresAt: tok.ExpiresAt, Summary: catalog.Summary(tok.Grants, s.namerOrNil(ctx, us.p)),
		AllowedCIDRs: apitype.PrefixStrings(tok.AllowedCIDRs), DoneURL: "/settings/service-tokens"})
	return nil
}

func (s *Server) namerOrNil(ctx context.Context, p *latchkey.Principal) func(int64) string {
	n, err := s.projectNamer(ctx, p)
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
	// ref names the token of {token_id} for the principal.
	ref func(p *latchkey.Principal, id int64) admin.TokenRef
}

func (s *Server) serviceTokenUI() tokenUI {
	return tokenUI{kind: "service token", listURL: "/settings/service-tokens", base: "/settings/service-tokens/",
		ref: func(_ *latchkey.Principal, id int64) admin.TokenRef { return admin.ServiceTokenRef(id) }}
}

// liveToken loads the token of {token_id} for a rotate or delete page, refusing deleted tokens,
// those already replaced by rotation, and principals who could not rotate or delete it (asked
// of the admin layer with a dry run, so the page and the action agree).
func (s *Server) liveToken(r *http.Request, p *latchkey.Principal, k tokenUI, forRotate bool) (*latchkey.Token, error) {
	id, err := pathID(r, "token_id")
	if err != nil {
		return nil, err
	}
	ref := k.ref(p, id)
	tok, err := s.admin.Token(r.Context(), p, ref)
	if err != nil {
		return nil, err
	}
	if tok.State != latchkey.StateActive || tok.RotatedOut(time.Now()) {
		return nil, latchkey.Errorf(latchkey.ENotFound, "%s %s was already deleted", k.kind, tok.Name)
	}
	if forRotate && tok.ReplacedByID != 0 {
		return nil, latchkey.Errorf(latchkey.EConflict, "%s %s was already rotated; rotate its replacement instead", k.kind, tok.Name)
	}
	dry := admin.DryRun(r.Context())
	if forRotate {
		_, _, _, err = s.admin.RotateToken(dry, p, ref, admin.Rotation{})
	} else {
		_, err = s.admin.DeleteToken(dry, p, ref)
	}
	if err != nil {
		return nil, err
	}
	return tok, nil
}

// graceChoices are the grace periods a rotation offers, with the account's default among them.
func graceChoices(def time.Duration) []choice {
	out := []choice{
		{"0", "Now: the current token stops working immediately"},
		{"3600", "1 hour"},
		{"86400", "24 hours"},
		{"604800", "7 days"},
	}
	return withCurrent(out, def, " (account default)")
}

// withCurrent makes sure a list of duration choices (values in seconds) holds cur, adding it
// when it is not one of them, and appends mark to its label.
func withCurrent(out []choice, cur time.Duration, mark string) []choice {
	v := strconv.FormatInt(int64(cur/time.Second), 10)
	for i, c := range out {
		if c.Value == v {
			out[i].Label += mark
			return out
		}
	}
	return append(out, choice{v, humanDuration(cur) + mark})
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

// rotateData prepares the rotate page of tok; the grace period offered first is the account's
// default.
func (s *Server) rotateData(r *http.Request, us *uiSession, k tokenUI, tok *latchkey.Token) (*rotateData, error) {
	a, err := s.admin.Account(r.Context(), us.p)
	if err != nil {
		return nil, err
	}
	return &rotateData{FormID: randomString(18), Kind: k.kind, Token: s.tokenRowOf(tok, s.namerOrNil(r.Context(), us.p), time.Now()),
		Graces: graceChoices(a.Settings.DefaultRotationGrace), Grace: strconv.FormatInt(int64(a.Settings.DefaultRotationGrace/time.Second), 10),
		Action: k.base + strconv.FormatInt(tok.ID, 10) + "/rotate", Cancel: k.listURL, ReuseRevokes: a.Settings.ReuseRevokesFamily}, nil
}

func (s *Server) uiRotateForm(w http.ResponseWriter, r *http.Request, us *uiSession, k tokenUI) error {
	tok, err := s.liveToken(r, us.p, k, true)
	if err != nil {
		return err
	}
	d, err := s.rotateData(r, us, k, tok)
	if err != nil {
		return err
	}
	s.show(w, r, us, "token_rotate", "Rotate "+tok.Name, d)
	return nil
}

func (s *Server) uiRotate(w http.ResponseWriter, r *http.Request, us *uiSession, k tokenUI) error {
	ctx := r.Context()
	tok, err := s.liveToken(r, us.p, k, true)
	if err != nil {
		return err
	}
	d, err := s.rotateData(r, us, k, tok)
	if err != nil {
		return err
	}
	d.FormID, d.Grace = r.PostForm.Get("form_id"), r.PostForm.Get("grace")
	var grace time.Duration
	valid := false
	for _, c := range d.Graces {
		if c.Value == d.Grace {
			n, _ := strconv.Atoi(c.Value)
			grace, valid = time.Duration(n)*time.Second, true
		}
	}
	if !valid {
		s.showStatus(w, r, us, http.StatusBadRequest, "token_rotate", "Rotate "+tok.Name, d, "Choose how long the current token keeps working.")
		return nil
	}
	if !s.forms.claim(d.FormID) {
		return errFormUsed
	}
	next, secret, grace, err := s.admin.RotateToken(ctx, us.p, k.ref(us.p, tok.ID), admin.Rotation{Grace: &grace})
	if err != nil {
		s.forms.release(d.FormID)
		return err
	}
	rd := &revealData{Kind: k.kind, Name: next.Name, Token: secret, Display: s.display(next), DoneURL: k.listURL,
		Rotated: true, OldDisplay: s.display(tok), ExpiresAt: next.ExpiresAt,
		// The successor keeps the allowed addresses of the token it replaces.
		AllowedCIDRs: apitype.PrefixStrings(next.AllowedCIDRs)}
	if tok.Kind == latchkey.KindServiceToken {
		rd.Summary = catalog.Summary(tok.Grants, s.namerOrNil(ctx, us.p))
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
	tok, err := s.liveToken(r, us.p, k, false)
	if err != nil {
		return err
	}
	d := &deleteData{Kind: k.kind, Token: s.tokenRowOf(tok, s.namerOrNil(r.Context(), us.p), time.Now()),
		Action: k.base + strconv.FormatInt(tok.ID, 10) + "/delete", Cancel: k.listURL}
	s.show(w, r, us, "token_delete", "Delete "+tok.Name, d)
	return nil
}

func (s *Server) uiDelete(w http.ResponseWriter, r *http.Request, us *uiSession, k tokenUI) error {
	tok, err := s.liveToken(r, us.p, k, false)
	if err != nil {
		return err
	}
	if _, err := s.admin.DeleteToken(r.Context(), us.p, k.ref(us.p, tok.ID)); err != nil {
		return err
	}
	s.redirectFlash(w, r, k.listURL, "Deleted "+k.kind+" "+tok.Name+" ("+s.display(tok)+"). It no longer works.")
	return nil
}

// tokenDetailData is the page of one token: everything known about it and its rotations.
type tokenDetailData struct {
	Kind  string
	Token tokenRow
	// UID, CreatedBy and LastUsedIP are shown in full here (the list abbreviates or omits them).
	UID, CreatedBy, LastUsedIP string
	// Grants lists the permissions one per line (service tokens).
	Grants []string
	// History is the token's rotation family, newest first (itself included).
	History []tokenRow
	// Live says the token still works, so it may be rotated or deleted (by those allowed).
	Live             bool
	CanManage        bool
	RotateURL        string
	DeleteURL        string
	ListURL, SelfURL string
	// Base is the URL of a token of this kind without its id.
	Base string
	// Usage is the token's usage chart and recent addresses.
	Usage *tokenUsageSection
	// Credits is the credits form of a service token, posted to CreditsURL.
	Credits    *creditsForm
	CreditsURL string
}

func (s *Server) handleUIServiceTokenDetail(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	return s.uiTokenDetail(w, r, us, s.serviceTokenUI(), admin.Capabilities(us.p).ServiceTokensManage)
}

func (s *Server) handleUIPATDetail(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	return s.uiTokenDetail(w, r, us, s.patUI(), true)
}

// uiTokenDetail shows one token, live or ended: its full creation time and creator, last use
// with the address, expiry, allowed addresses, permissions and rotation history.
func (s *Server) uiTokenDetail(w http.ResponseWriter, r *http.Request, us *uiSession, k tokenUI, canManage bool) error {
	return s.uiTokenDetailWith(w, r, us, k, canManage, nil)
}

// uiTokenDetailWith shows the page with the credits form as filled in (nil: the token's own
// credits); a form with errors is answered 400.
func (s *Server) uiTokenDetailWith(w http.ResponseWriter, r *http.Request, us *uiSession, k tokenUI, canManage bool, credits *creditsForm) error {
	ctx := r.Context()
	id, err := pathID(r, "token_id")
	if err != nil {
		return err
	}
	tok, err := s.admin.Token(ctx, us.p, k.ref(us.p, id))
	if err != nil {
		return err
	}
	now := time.Now()
	namer := s.namerOrNil(ctx, us.p)
	self := k.base + strconv.FormatInt(tok.ID, 10)
	actors := map[string]string{}
	row := s.tokenRowOf(tok, namer, now)
	if row.Ended && row.EndedBy != "—" {
		row.EndedBy = s.actorLabel(ctx, us.p, row.EndedBy, actors)
	}
	createdBy := tok.CreatedBy
	if createdBy != "" {
		createdBy = strings.TrimPrefix(strings.TrimPrefix(s.actorLabel(ctx, us.p, createdBy, actors), "Person: "), "Token: ")
	}
	d := &tokenDetailData{Kind: k.kind, Token: row, UID: tok.UID, CreatedBy: createdBy,
		LastUsedIP: tok.LastUsedIP, Live: tok.State == latchkey.StateActive && !tok.RotatedOut(now), CanManage: canManage,
		RotateURL: self + "/rotate", DeleteURL: self + "/delete", ListURL: k.listURL, SelfURL: self, Base: k.base}
	if tok.Kind == latchkey.KindServiceToken {
		for _, g := range tok.Grants {
			d.Grants = append(d.Grants, catalog.Summary([]latchkey.Grant{g}, namer))
		}
	}
	if tok.FamilyID != 0 {
		family, _, err := s.admin.Tokens(ctx, us.p, k.ref(us.p, 0), latchkey.TokenFilter{FamilyID: &tok.FamilyID, Limit: latchkey.MaxLimit})
		if err != nil {
			return err
		}
		sort.Slice(family, func(i, j int) bool { return family[i].ID > family[j].ID })
		for _, t := range family {
			d.History = append(d.History, s.tokenRowOf(t, namer, now))
		}
	}
	if d.Usage, err = s.tokenUsage(r, us, k.ref(us.p, tok.ID), self); err != nil {
		return err
	}
	if tok.Kind == latchkey.KindServiceToken {
		d.Credits, d.CreditsURL = credits, self+"/credits"
		if credits == nil {
			d.Credits = creditsFormOf(tok.Credits)
		} else if len(credits.Errors) > 0 {
			s.showStatus(w, r, us, http.StatusBadRequest, "token_detail", tok.Name, d, "The credits were not set: fix the fields marked below.")
			return nil
		}
	}
	s.show(w, r, us, "token_detail", tok.Name, d)
	return nil
}

// windowWords names a rate limit's window for people: "second", "minute", "hour", "day", or
// "90 seconds".
func windowWords(d time.Duration) string {
	switch d {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	case 24 * time.Hour:
		return "day"
	}
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return fmt.Sprintf("%d seconds", d/time.Second)
}
