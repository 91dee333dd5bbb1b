package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey"
)

func testNoticeSettings(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	if got := a.Settings; !cmp.Equal(got.ExpiryNoticeDays, []int{30, 7, 1}) || got.UnusedTokenDays != 90 {
		t.Errorf("new account's notice settings = %v, %d; want [30 7 1], 90", got.ExpiryNoticeDays, got.UnusedTokenDays)
	}
	set := a.Settings
	set.ExpiryNoticeDays, set.UnusedTokenDays = []int{1, 14}, 0
	if _, err := s.UpdateAccount(ctx, a.ID, latchkey.AccountUpdate{Settings: &set}); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindAccountByID(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(got.Settings.ExpiryNoticeDays, []int{14, 1}) || got.Settings.UnusedTokenDays != 0 {
		t.Errorf("notice settings after update = %v, %d; want [14 1], 0", got.Settings.ExpiryNoticeDays, got.Settings.UnusedTokenDays)
	}
	entries, _, err := s.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: a.ID, EventType: ptr("account.updated")})
	if err != nil || len(entries) != 1 || entries[0].Context["unused_token_days"] == nil || entries[0].Context["expiry_notice_days"] == nil {
		t.Errorf("account.updated entries = %v, %v; want one naming both settings", entries, err)
	}

	u := mustUser(t, s, "notices@example.test")
	if !u.EmailNotices {
		t.Errorf("new user's EmailNotices = false, want true")
	}
	if _, err := s.UpdateUser(ctx, u.ID, latchkey.UserUpdate{EmailNotices: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.FindUserByID(ctx, u.ID); u.EmailNotices {
		t.Errorf("EmailNotices after opting out = true, want false")
	}
}

func testEmailNotices(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	clock, ok := s.(interface{ SetClock(func() time.Time) })
	if !ok {
		t.Fatalf("%T has no SetClock", s)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	clock.SetClock(func() time.Time { return now })
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	ada, bob := mustUser(t, s, "ada@notices.test"), mustUser(t, s, "bob@notices.test")
	later := now.Add(time.Hour)
	ns := []*latchkey.EmailNotice{
		{UserID: ada.ID, AccountID: a.ID, Kind: latchkey.NoticeDigest, EventID: 1, EventType: "service_token.expiring",
			Details: map[string]any{"name": "deploy", "days": float64(7)}},
		{UserID: ada.ID, AccountID: a.ID, Kind: latchkey.NoticeDigest, EventID: 2, EventType: "service_token.expiring"},
		{UserID: bob.ID, AccountID: a.ID, Kind: latchkey.NoticeAlert, EventID: 3, EventType: "leak.reported"},
		{UserID: bob.ID, AccountID: a.ID, Kind: latchkey.NoticeDigest, EventID: 4, EventType: "service_token.expiring", SendAfter: later},
	}
	if err := s.CreateEmailNotices(ctx, ns); err != nil {
		t.Fatal(err)
	}
	// The same event for the same user again is left out.
	dup := &latchkey.EmailNotice{UserID: ada.ID, AccountID: a.ID, Kind: latchkey.NoticeDigest, EventID: 1, EventType: "service_token.expiring"}
	if err := s.CreateEmailNotices(ctx, []*latchkey.EmailNotice{dup}); err != nil || dup.ID != 0 {
		t.Errorf("CreateEmailNotices(duplicate) = %v, id %d; want nil, 0", err, dup.ID)
	}
	err := s.CreateEmailNotices(ctx, []*latchkey.EmailNotice{{UserID: ada.ID, AccountID: a.ID, Kind: "sms", EventID: 9}})
	if err == nil {
		t.Errorf("CreateEmailNotices(kind sms) = nil, want an error")
	}
	mine, err := s.FindEmailNotices(ctx, latchkey.EmailNoticeFilter{UserID: ada.ID, Kind: latchkey.NoticeDigest})
	if err != nil || len(mine) != 2 {
		t.Fatalf("FindEmailNotices(ada) = %d, %v; want 2", len(mine), err)
	}
	if diff := cmp.Diff(ns[0], mine[1]); diff != "" {
		t.Errorf("found notice (-created +found):\n%s", diff)
	}

	// Due now: ada's two digests and bob's alert, ada's together; bob's digest waits.
	lease := now.Add(time.Minute)
	got, err := s.ClaimEmailNotices(context.Background(), "n1", 10, lease)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, n := range got {
		ids = append(ids, n.ID)
	}
	if want := []int64{ns[0].ID, ns[1].ID, ns[2].ID}; !cmp.Equal(ids, want) {
		t.Errorf("ClaimEmailNotices = %v, want %v", ids, want)
	}
	if again, _ := s.ClaimEmailNotices(context.Background(), "n2", 10, lease); len(again) != 0 {
		t.Errorf("ClaimEmailNotices while leased = %d notices, want 0", len(again))
	}
	// Another node cannot finish what n1 holds.
	if err := s.MarkEmailNoticesSent(context.Background(), "n2", []int64{ns[0].ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkEmailNoticesSent(context.Background(), "n1", []int64{ns[0].ID, ns[1].ID}); err != nil {
		t.Fatal(err)
	}
	retry := now.Add(5 * time.Minute)
	if err := s.RetryEmailNotices(context.Background(), "n1", []int64{ns[2].ID}, &retry, "dial tcp: connection refused"); err != nil {
		t.Fatal(err)
	}
	sent, _ := s.FindEmailNotices(ctx, latchkey.EmailNoticeFilter{UserID: ada.ID, State: latchkey.NoticeSent})
	if len(sent) != 2 || sent[0].SentAt == nil || !sent[0].SentAt.Equal(now) || sent[0].Attempts != 1 {
		t.Errorf("sent notices = %+v; want two, sent now, one attempt", sent)
	}
	alert, _ := s.FindEmailNotices(ctx, latchkey.EmailNoticeFilter{UserID: bob.ID, Kind: latchkey.NoticeAlert})
	if len(alert) != 1 || alert[0].State != latchkey.NoticePending || !alert[0].SendAfter.Equal(retry) ||
		alert[0].Attempts != 1 || alert[0].LastError == "" {
		t.Errorf("retried alert = %+v; want pending until %v with its error", alert, retry)
	}

	// Later, bob's alert and digest are due; a lease that ran out makes a notice due again.
	now = now.Add(2 * time.Hour)
	got, err = s.ClaimEmailNotices(context.Background(), "n2", 10, now.Add(time.Minute))
	if err != nil || len(got) != 2 {
		t.Fatalf("ClaimEmailNotices later = %d, %v; want 2", len(got), err)
	}
	now = now.Add(2 * time.Minute)
	got, err = s.ClaimEmailNotices(context.Background(), "n3", 10, now.Add(time.Minute))
	if err != nil || len(got) != 2 {
		t.Fatalf("ClaimEmailNotices after the lease ran out = %d, %v; want 2", len(got), err)
	}
	if err := s.RetryEmailNotices(context.Background(), "n3", []int64{got[0].ID, got[1].ID}, nil, "gave up"); err != nil {
		t.Fatal(err)
	}
	failed, _ := s.FindEmailNotices(ctx, latchkey.EmailNoticeFilter{UserID: bob.ID, State: latchkey.NoticeFailed})
	if len(failed) != 2 {
		t.Errorf("failed notices = %d, want 2", len(failed))
	}
	if err := s.MarkEmailNoticesSent(context.Background(), "n2", []int64{got[0].ID}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.FindEmailNotices(ctx, latchkey.EmailNoticeFilter{UserID: bob.ID, State: latchkey.NoticeSent}); len(n) != 0 {
		t.Errorf("notices sent by a node that lost its lease = %d, want 0", len(n))
	}
}

func testEmailNoticesInConsumer(t *testing.T, s latchkey.Store) {
	// Notices made by an event consumer commit with its cursor, or not at all.
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	u := mustUser(t, s, "consumer@notices.test")
	if _, err := s.ConsumeEvents(context.Background(), "email-test", 100, func(context.Context, []*latchkey.AuditEntry) error { return nil }); err != nil {
		t.Fatal(err)
	}
	mustProject(t, s, a.ID, "p")
	notify := func(ctx context.Context, es []*latchkey.AuditEntry) error {
		return s.CreateEmailNotices(ctx, []*latchkey.EmailNotice{{UserID: u.ID, AccountID: a.ID, Kind: latchkey.NoticeAlert,
			EventID: es[0].ID, EventType: es[0].EventType}})
	}
	_, err := s.ConsumeEvents(context.Background(), "email-test", 100, func(ctx context.Context, es []*latchkey.AuditEntry) error {
		if err := notify(ctx, es); err != nil {
			return err
		}
		return errors.New("boom")
	})
	if err == nil {
		t.Fatal("ConsumeEvents(fn fails) = nil")
	}
	if n, _ := s.FindEmailNotices(ctx, latchkey.EmailNoticeFilter{UserID: u.ID}); len(n) != 0 {
		t.Errorf("notices after a failed consumer = %d, want 0", len(n))
	}
	if n, err := s.ConsumeEvents(context.Background(), "email-test", 100, notify); n != 1 || err != nil {
		t.Fatalf("ConsumeEvents = %d, %v", n, err)
	}
	if n, _ := s.FindEmailNotices(ctx, latchkey.EmailNoticeFilter{UserID: u.ID}); len(n) != 1 {
		t.Errorf("notices after the consumer = %d, want 1", len(n))
	}
}
