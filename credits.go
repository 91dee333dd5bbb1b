package latchkey

import "time"

// Credits are a token's quota: Remaining uses, each verification taking its cost, refused with
// usage_exceeded at zero until a refill. A token and its rotated successors share one balance
// (it belongs to the rotation family).
type Credits struct {
	Remaining int64
	// Refill, when set, resets Remaining to Refill.Amount at the start of every period.
	Refill *Refill
	// SetAt is when the credits were last set (by a person, not by spending); read only.
	SetAt time.Time
}

// Refill is when and to what a token's credits are refilled.
type Refill struct {
	Amount int64
	// Interval is "daily" (at 00:00 UTC) or "monthly" (at 00:00 UTC on Day, or the month's last
	// day when it is shorter).
	Interval string
	Day      int
}

// Refill intervals.
const (
	RefillDaily   = "daily"
	RefillMonthly = "monthly"
)

// MaxCredits bounds a balance and a refill amount.
const MaxCredits = MaxRateLimitCount

// ValidateCredits checks credits as given for field (e.g. "credits").
func ValidateCredits(field string, c *Credits) error {
	if c == nil {
		return nil
	}
	if c.Remaining < 0 || c.Remaining > MaxCredits {
		return FieldError(field+".remaining", "remaining must be from 0 to %d", int64(MaxCredits))
	}
	r := c.Refill
	if r == nil {
		return nil
	}
	switch {
	case r.Amount <= 0 || r.Amount > MaxCredits:
		return FieldError(field+".refill.amount", "a refill's amount must be from 1 to %d", int64(MaxCredits))
	case r.Interval != RefillDaily && r.Interval != RefillMonthly:
		return FieldError(field+".refill.interval", "a refill's interval must be \"daily\" or \"monthly\"")
	case r.Interval == RefillDaily && r.Day != 0:
		return FieldError(field+".refill.day", "a daily refill takes no day")
	case r.Interval == RefillMonthly && (r.Day < 1 || r.Day > 31):
		return FieldError(field+".refill.day", "a monthly refill's day must be from 1 to 31")
	}
	return nil
}

// PeriodStart returns the start of the refill period t falls in (UTC).
func (r *Refill) PeriodStart(t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if r.Interval != RefillMonthly {
		return day
	}
	if s := r.monthly(t.Year(), t.Month()); !s.After(t) {
		return s
	}
	return r.monthly(t.Year(), t.Month()-1)
}

// monthly is a monthly refill's time in a month: Day, or the month's last day.
func (r *Refill) monthly(year int, month time.Month) time.Time {
	first := time.Date(year, month, 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(r.Day, last)-1)
}

// NextRefill returns when the period after the one t falls in starts.
func (r *Refill) NextRefill(t time.Time) time.Time {
	s := r.PeriodStart(t)
	if r.Interval != RefillMonthly {
		return s.AddDate(0, 0, 1)
	}
	return r.monthly(s.Year(), s.Month()+1)
}

// CreditSpend is what one node spent of a family's credits since its last sync.
type CreditSpend struct {
	FamilyID int64
	Spent    int64
}
