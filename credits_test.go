package latchkey

import (
	"testing"
	"time"
)

func TestValidateCredits(t *testing.T) {
	for _, tt := range []struct {
		name  string
		c     *Credits
		field string
	}{
		{"none", nil, ""},
		{"plain", &Credits{Remaining: 10}, ""},
		{"zero", &Credits{Remaining: 0}, ""},
		{"daily", &Credits{Remaining: 5, Refill: &Refill{Amount: 100, Interval: "daily"}}, ""},
		{"monthly", &Credits{Remaining: 5, Refill: &Refill{Amount: 100, Interval: "monthly", Day: 31}}, ""},
		{"negative", &Credits{Remaining: -1}, "credits.remaining"},
		{"huge", &Credits{Remaining: MaxCredits + 1}, "credits.remaining"},
		{"zero refill", &Credits{Refill: &Refill{Interval: "daily"}}, "credits.refill.amount"},
		{"weekly", &Credits{Refill: &Refill{Amount: 1, Interval: "weekly"}}, "credits.refill.interval"},
		{"daily with a day", &Credits{Refill: &Refill{Amount: 1, Interval: "daily", Day: 3}}, "credits.refill.day"},
		{"monthly without a day", &Credits{Refill: &Refill{Amount: 1, Interval: "monthly"}}, "credits.refill.day"},
		{"day 32", &Credits{Refill: &Refill{Amount: 1, Interval: "monthly", Day: 32}}, "credits.refill.day"},
	} {
		err := ValidateCredits("credits", tt.c)
		le, _ := err.(*Error)
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: ValidateCredits = %v, want nil", tt.name, err)
		case tt.field != "" && (le == nil || le.Field != tt.field):
			t.Errorf("%s: ValidateCredits = %v, want an error naming %s", tt.name, err, tt.field)
		}
	}
}

func TestRefillPeriods(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct {
		r           Refill
		now         string
		start, next string
	}{
		{Refill{Interval: "daily"}, "2026-12-03T08:30:00Z", "2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z"},
		{Refill{Interval: "monthly", Day: 1}, "2026-12-03T08:30:00Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{Refill{Interval: "monthly", Day: 15}, "2026-12-03T08:30:00Z", "2026-11-15T00:00:00Z", "2026-12-15T00:00:00Z"},
		{Refill{Interval: "monthly", Day: 31}, "2027-02-10T00:00:00Z", "2027-01-31T00:00:00Z", "2027-02-28T00:00:00Z"},
		{Refill{Interval: "monthly", Day: 31}, "2027-02-28T00:00:00Z", "2027-02-28T00:00:00Z", "2027-03-31T00:00:00Z"},
		{Refill{Interval: "monthly", Day: 30}, "2027-01-05T00:00:00Z", "2026-12-30T00:00:00Z", "2027-01-30T00:00:00Z"},
	} {
		if got := tt.r.PeriodStart(at(tt.now)); !got.Equal(at(tt.start)) {
			t.Errorf("%+v PeriodStart(%s) = %s, want %s", tt.r, tt.now, got, tt.start)
		}
		if got := tt.r.NextRefill(at(tt.now)); !got.Equal(at(tt.next)) {
			t.Errorf("%+v NextRefill(%s) = %s, want %s", tt.r, tt.now, got, tt.next)
		}
	}
}
