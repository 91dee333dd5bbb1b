package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
)

// Setting a service token's credits from its page: the balance and an optional daily or monthly
// refill. The admin layer validates and audits, as for PUT …/credits/.

// creditsForm is the credits form as filled in.
type creditsForm struct {
	Remaining, RefillAmount, RefillInterval, RefillDay string
	Errors                                             formErrors
}

// creditsFormOf fills the form from a token's credits.
func creditsFormOf(c *latchkey.Credits) *creditsForm {
	f := &creditsForm{Errors: formErrors{}, RefillDay: "1"}
	if c == nil {
		return f
	}
	f.Remaining = strconv.FormatInt(c.Remaining, 10)
	if r := c.Refill; r != nil {
		f.RefillAmount, f.RefillInterval = strconv.FormatInt(r.Amount, 10), r.Interval
		if r.Day > 0 {
			f.RefillDay = strconv.Itoa(r.Day)
		}
	}
	return f
}

// parse reads the form into credits, naming the API's fields in its errors.
func (f *creditsForm) parse() (*latchkey.Credits, error) {
	num := func(field, v string) (int64, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, latchkey.FieldError(field, "enter a whole number")
		}
		return n, nil
	}
	rem, err := num("credits.remaining", f.Remaining)
	if err != nil {
		return nil, err
	}
	c := &latchkey.Credits{Remaining: rem}
	if f.RefillInterval != "" {
		amount, err := num("credits.refill.amount", f.RefillAmount)
		if err != nil {
			return nil, err
		}
		c.Refill = &latchkey.Refill{Amount: amount, Interval: f.RefillInterval}
		if f.RefillInterval == latchkey.RefillMonthly {
			day, err := num("credits.refill.day", f.RefillDay)
			if err != nil {
				return nil, err
			}
			c.Refill.Day = int(day)
		}
	}
	return c, latchkey.ValidateCredits("credits", c)
}

// handleUIServiceTokenCredits sets (or, with remove, removes) a service token's credits.
func (s *Server) handleUIServiceTokenCredits(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	k := s.serviceTokenUI()
	tok, err := s.liveToken(r, us.p, k, false)
	if err != nil {
		return err
	}
	self := k.base + strconv.FormatInt(tok.ID, 10)
	pf := r.PostForm
	if pf.Get("remove") != "" {
		if _, err := s.admin.EditToken(r.Context(), us.p, admin.ServiceTokenRef(tok.ID), admin.TokenEdit{ClearCredits: true}); err != nil {
			return err
		}
		s.redirectFlash(w, r, self, "Credits removed: "+tok.Name+" may be used without a quota.")
		return nil
	}
	f := &creditsForm{Remaining: pf.Get("remaining"), RefillAmount: pf.Get("refill_amount"), RefillInterval: pf.Get("refill_interval"),
		RefillDay: pf.Get("refill_day"), Errors: formErrors{}}
	c, err := f.parse()
	if err == nil {
		_, err = s.admin.EditToken(r.Context(), us.p, admin.ServiceTokenRef(tok.ID), admin.TokenEdit{Credits: c})
	}
	if err != nil {
		var le *latchkey.Error
		if !errors.As(err, &le) || le.Code != latchkey.EInvalid || !strings.HasPrefix(le.Field, "credits") {
			return err
		}
		f.Errors[strings.NewReplacer("credits.refill.", "refill_", "credits.", "", "credits", "remaining").Replace(le.Field)] = uiMessage(le)
		return s.uiTokenDetailWith(w, r, us, k, admin.Capabilities(us.p).ServiceTokensManage, f)
	}
	s.redirectFlash(w, r, self, "Credits set: "+tok.Name+" has "+strconv.FormatInt(c.Remaining, 10)+" uses left.")
	return nil
}
