package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
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
	// Limits is the rate-limits text as typed: "api: 100 per second", one per line.
	Limits string
	Editor grantEditor
	// Errors holds messages by field: name, expires_at, allowed_cidrs, rate_limits.
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
		d.Name, d.Expiry, d.CIDRs, d.Limits, rows = f.Get("name"), f.Get("expires"), f.Get("allowed_cidrs"), f.Get("rate_limits"), parseGrantRows(f)
	} else {
		d.CIDRs = strings.Join(apitype.PrefixStrings(tok.AllowedCIDRs), "\n")
		d.Limits = rateLimitsText(tok.RateLimits)
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
	if limits, err := parseRateLimitsText(d.Limits); err != nil {
		d.Errors["rate_limits"] = uiMessage(err)
	} else if !slices.Equal(limits, tok.RateLimits) {
		edit.RateLimits = &limits
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
		for _, f := range []struct{ field, id string }{{"rate_limits", "token-limits"}, {"allowed_cidrs", "token-cidrs"}, {"expires_at", "token-expires"}, {"name", "token-name"}} {
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
		var le *latchkey.Error
		if errors.As(err, &le) && le.Code == latchkey.EInvalid && strings.HasPrefix(le.Field, "rate_limits") {
			d.Errors["rate_limits"] = uiMessage(le)
			return invalid()
		}
		if fieldErr(d.Errors, err, "name", "expires_at", "allowed_cidrs") == nil {
			return invalid()
		}
		return again(formStatus(err), uiMessage(err))
	}
	s.redirectFlash(w, r, self, "Saved the changes to "+k.kind+" "+d.Name+".")
	return nil
}

// rateLimitsText writes limits as the edit form shows them, one per line, in the words of the
// token's page: "api: 100 per second".
func rateLimitsText(limits []latchkey.RateLimit) string {
	lines := make([]string, len(limits))
	for i, l := range limits {
		lines[i] = fmt.Sprintf("%s: %d per %s", l.Name, l.Limit, windowWords(l.Duration))
	}
	return strings.Join(lines, "\n")
}

// parseRateLimitsText reads the form's rate limits, one per line: "name: count per window",
// the window being second, minute, hour or day, a number of them ("10 minutes") or a Go
// duration ("90s"). Blank lines are skipped. A malformed line is refused naming its number; the
// limits are then checked with the API's rules (latchkey.ValidateRateLimits).
func parseRateLimitsText(text string) ([]latchkey.RateLimit, error) {
	if len(text) > 4096 {
		return nil, latchkey.FieldError("rate_limits", "the rate limits are too long (at most %d per token)", latchkey.MaxRateLimits)
	}
	limits := []latchkey.RateLimit{}
	var lineOf []int // limits[i] was written on line lineOf[i]
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		bad := latchkey.FieldError("rate_limits", "line %d: write a limit as “name: count per window”, e.g. “api: 100 per second”", i+1)
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, bad
		}
		count, window, ok := strings.Cut(strings.TrimSpace(rest), " per ")
		if !ok {
			return nil, bad
		}
		n, err := strconv.ParseInt(strings.TrimSpace(count), 10, 64)
		if err != nil {
			return nil, latchkey.FieldError("rate_limits", "line %d: the count must be a whole number", i+1)
		}
		d, ok := parseWindow(strings.TrimSpace(window))
		if !ok {
			return nil, latchkey.FieldError("rate_limits", "line %d: the window must be second, minute, hour, day, a number of them (“10 minutes”) or a duration such as 90s", i+1)
		}
		limits = append(limits, latchkey.RateLimit{Name: strings.TrimSpace(name), Limit: n, Duration: d})
		lineOf = append(lineOf, i+1)
	}
	err := latchkey.ValidateRateLimits("rate_limits", limits)
	var le *latchkey.Error
	if errors.As(err, &le) {
		// "rate_limits[2].limit" names the third limit: say which line that is.
		var i int
		if _, scanErr := fmt.Sscanf(le.Field, "rate_limits[%d]", &i); scanErr == nil && i >= 0 && i < len(lineOf) {
			return nil, latchkey.FieldError("rate_limits", "line %d: %s", lineOf[i], le.Message)
		}
	}
	return limits, err
}

// parseWindow reads a rate limit's window: "second", "10 minutes", "2 hours", "1 day", or a Go
// duration ("90s").
func parseWindow(s string) (time.Duration, bool) {
	units := map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}
	n, unit := int64(1), s
	if num, u, ok := strings.Cut(s, " "); ok {
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v <= 0 || v > 1_000_000 {
			return 0, false
		}
		n, unit = v, strings.TrimSpace(u)
	}
	if d, ok := units[strings.TrimSuffix(unit, "s")]; ok {
		return time.Duration(n) * d, true
	}
	if n != 1 || unit != s {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}
