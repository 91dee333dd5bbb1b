package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/email"
	"github.com/latchkey/latchkey/internal/smtptest"
)

// member adds a user to the account, in the Owner group when admin.
func (e *noticeEnv) member(t *testing.T, addr string, isAdmin bool) *latchkey.User {
	t.Helper()
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test fixture", Source: "system"})
	u := &latchkey.User{Email: addr, FirstName: strings.Split(addr, "@")[0]}
	if err := e.store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	var groups []int64 // nil: the default groups
	if isAdmin {
		name := latchkey.GroupOwner
		gs, _, err := e.store.FindGroups(ctx, latchkey.GroupFilter{AccountID: e.acct.ID, Name: &name})
		if err != nil || len(gs) != 1 {
			t.Fatalf("find Owner group: %v", err)
		}
		groups = []int64{gs[0].ID}
	}
	if err := e.store.CreateMembership(ctx, &latchkey.Membership{AccountID: e.acct.ID, UserID: u.ID, License: latchkey.LicenseDeveloper}, groups); err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *noticeEnv) runEmail(t *testing.T) {
	t.Helper()
	if err := e.srv.runEmail(context.Background()); err != nil {
		t.Fatalf("runEmail = %v", err)
	}
}

func newEmailEnv(t *testing.T) (*noticeEnv, *smtptest.Server) {
	t.Helper()
	mail := smtptest.Start(t, "")
	sender, err := email.New("smtp://127.0.0.1:"+mail.Port+"?from=latchkey@example.com", email.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return newNoticeEnv(t, Config{PublicURL: "https://latchkey.example", Email: EmailConfig{Sender: sender, DigestDelay: time.Minute}}), mail
}

func TestEmailDigestAndOptOut(t *testing.T) {
	e, mail := newEmailEnv(t)
	e.member(t, "bob@acme.test", true)
	cat := e.member(t, "cat@acme.test", false)
	dan := e.member(t, "dan@acme.test", true)
	if _, err := e.store.UpdateUser(context.Background(), dan.ID, latchkey.UserUpdate{EmailNotices: new(false)}); err != nil {
		t.Fatal(err)
	}
	e.token(t, latchkey.KindServiceToken, "deploy", cat.ID, 5*day)
	e.token(t, latchkey.KindServiceToken, "ci", e.owner.ID, 6*day)
	e.runEmail(t) // the account's own creation is no notice
	e.sweepTwiceAndRestart(t)
	e.runEmail(t)
	if n := len(mail.Messages()); n != 0 {
		t.Fatalf("%d emails before the digest delay, want 0", n)
	}
	e.advance(2 * time.Minute)
	e.runEmail(t)
	e.runEmail(t)
	e.sweepTwiceAndRestart(t)
	e.runEmail(t)

	for _, tt := range []struct {
		addr   string
		tokens []string
	}{
		{"ada@acme.test", []string{"deploy", "ci"}}, // admin: every token
		{"bob@acme.test", []string{"deploy", "ci"}},
		{"cat@acme.test", []string{"deploy"}}, // creator, not an admin: her token
	} {
		got := mail.To(tt.addr)
		if len(got) != 1 {
			t.Errorf("%s got %d digests, want 1", tt.addr, len(got))
			continue
		}
		m := got[0]
		for _, name := range tt.tokens {
			if !strings.Contains(m.Text, `"`+name+`"`) || !strings.Contains(m.HTML, name) {
				t.Errorf("%s's digest lacks %q:\ntext: %s\nhtml: %s", tt.addr, name, m.Text, m.HTML)
			}
		}
		if len(tt.tokens) == 2 && m.Subject != "[latchkey] 2 tokens in Acme expire soon" {
			t.Errorf("%s's subject = %q", tt.addr, m.Subject)
		}
		if len(tt.tokens) == 1 && strings.Contains(m.Text, `"ci"`) {
			t.Errorf("%s's digest names a token she neither created nor administers", tt.addr)
		}
		if !strings.Contains(m.Text, "https://latchkey.example/settings/service-tokens") {
			t.Errorf("%s's digest lacks the link: %s", tt.addr, m.Text)
		}
	}
	if got := mail.To("dan@acme.test"); len(got) != 0 {
		t.Errorf("opted-out dan got %d emails, want 0", len(got))
	}
	if n := len(mail.Messages()); n != 3 {
		t.Errorf("%d emails in all, want 3", n)
	}

	// Six days on, both tokens cross the 1-day threshold: one more digest each, the next day.
	e.advance(4*day + 12*time.Hour)
	e.sweepTwiceAndRestart(t)
	e.runEmail(t)
	e.advance(day)
	e.runEmail(t)
	if got := mail.To("ada@acme.test"); len(got) != 2 || !strings.Contains(got[1].Text, "within 1 day") {
		t.Errorf("ada's digests = %d, want a second one about the last day", len(got))
	}
}

func TestEmailAlertsAndRetry(t *testing.T) {
	e, mail := newEmailEnv(t)
	e.member(t, "bob@acme.test", true)
	leaky := e.token(t, latchkey.KindServiceToken, "deploy", e.owner.ID, 0)
	e.runEmail(t)
	if _, err := e.srv.admin.ReportLeak(context.Background(), leaky, admin.Leak{Reporter: "github", ReporterName: "github secret scanning",
		URL: "https://github.com/acme/app/blob/main/.env", Source: "commit", Type: "latchkey_service_token"}); err != nil {
		t.Fatal(err)
	}
	e.runEmail(t)
	e.runEmail(t)
	for _, addr := range []string{"ada@acme.test", "bob@acme.test"} {
		got := mail.To(addr)
		if len(got) != 1 {
			t.Fatalf("%s got %d alerts, want 1", addr, len(got))
		}
		if want := "[latchkey] Token “deploy” in Acme was revoked: reported as leaked"; got[0].Subject != want {
			t.Errorf("alert subject = %q, want %q", got[0].Subject, want)
		}
		if !strings.Contains(got[0].Text, "https://github.com/acme/app/blob/main/.env") || !strings.Contains(got[0].HTML, "Found at") {
			t.Errorf("alert lacks the leak's details:\n%s", got[0].Text)
		}
	}

	// The SMTP server goes away: the alert waits and is retried, and sent once it is back.
	mail.Close()
	second := e.token(t, latchkey.KindServiceToken, "ci", e.owner.ID, 0)
	if _, err := e.srv.admin.ReportLeak(context.Background(), second, admin.Leak{Reporter: "github", ReporterName: "github"}); err != nil {
		t.Fatal(err)
	}
	e.runEmail(t)
	pending, err := e.store.FindEmailNotices(context.Background(), latchkey.EmailNoticeFilter{State: latchkey.NoticePending})
	if err != nil || len(pending) != 2 || pending[0].Attempts != 1 || pending[0].LastError == "" {
		t.Fatalf("notices while SMTP is down = %+v, %v; want two pending after one attempt", pending, err)
	}
	back := smtptest.Start(t, mail.Addr)
	e.runEmail(t)
	if n := len(back.Messages()); n != 0 {
		t.Errorf("%d emails before the retry is due, want 0", n)
	}
	e.advance(2 * time.Minute)
	e.runEmail(t)
	e.runEmail(t)
	if n := len(back.To("ada@acme.test")); n != 1 {
		t.Errorf("ada got %d alerts after SMTP came back, want 1", n)
	}
	if n := len(back.Messages()); n != 2 {
		t.Errorf("%d emails after SMTP came back, want 2", n)
	}
}

func TestEmailGivesUpAfterThreeDays(t *testing.T) {
	e, mail := newEmailEnv(t)
	tok := e.token(t, latchkey.KindServiceToken, "deploy", e.owner.ID, 0)
	e.runEmail(t)
	mail.FailData(true)
	if _, err := e.srv.admin.ReportLeak(context.Background(), tok, admin.Leak{Reporter: "github", ReporterName: "github"}); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		e.runEmail(t)
		e.advance(3 * time.Hour)
	}
	failed, _ := e.store.FindEmailNotices(context.Background(), latchkey.EmailNoticeFilter{State: latchkey.NoticeFailed})
	if len(failed) != 1 || failed[0].Attempts < 5 || !strings.Contains(failed[0].LastError, "try again later") {
		t.Errorf("notice after three days of failures = %+v, want failed after several attempts", failed)
	}
}

func TestUIEmailNoticesOptOut(t *testing.T) {
	e := newRegEnv(t)
	status, _ := e.uiPost(t, e.member.userID, "/profile/email", url.Values{})
	if status != http.StatusSeeOther {
		t.Fatalf("POST /profile/email (unticked) = %d, want 303", status)
	}
	if u, _ := e.store.FindUserByID(context.Background(), e.member.userID); u.EmailNotices {
		t.Errorf("EmailNotices after unticking = true, want false")
	}
	_, page := e.uiRequest(t, e.member.userID, http.MethodGet, "/profile", nil)
	if !strings.Contains(page, `id="email-notices" name="email_notices" aria-describedby="email-notices-help">`) {
		t.Errorf("profile page does not show the box unticked")
	}
	if !strings.Contains(page, "including security alerts") {
		t.Errorf("profile page does not say that opting out covers security alerts")
	}
	e.uiPost(t, e.member.userID, "/profile/email", url.Values{"email_notices": {"on"}})
	if u, _ := e.store.FindUserByID(context.Background(), e.member.userID); !u.EmailNotices {
		t.Errorf("EmailNotices after ticking = false, want true")
	}
}
