package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey"
)

// testUsage: counts recorded in batches add up in their minute, hour and day buckets (a second
// batch for the same minute adds to the first), per token and per account; top tokens rank by
// total; each token keeps its five latest addresses with first and last seen; pruning one
// granularity leaves the others.
func testUsage(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	other := mustAccount(t, s, latchkey.PlanEnterprise)
	t1 := newToken(a.ID, latchkey.KindServiceToken)
	t2 := newToken(a.ID, latchkey.KindServiceToken)
	t3 := newToken(other.ID, latchkey.KindServiceToken)
	for _, tok := range []*latchkey.Token{t1, t2, t3} {
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	m1 := day.Add(10*time.Hour + 5*time.Minute)
	m2 := m1.Add(time.Minute)
	m3 := day.Add(11*time.Hour + 30*time.Minute)
	rec := func(tok *latchkey.Token, at time.Time, c latchkey.UsageCounts) latchkey.UsageRecord {
		return latchkey.UsageRecord{TokenID: tok.ID, AccountID: tok.AccountID, Minute: at, Counts: c}
	}
	if err := s.RecordUsage(ctx, []latchkey.UsageRecord{
		rec(t1, m1, latchkey.UsageCounts{5, 1, 0, 0, 0, 0, 0}),
		rec(t1, m2, latchkey.UsageCounts{2, 0, 3, 0, 0, 0, 0}),
		rec(t2, m1, latchkey.UsageCounts{1, 0, 0, 0, 1, 0, 0}),
		rec(t3, m1, latchkey.UsageCounts{100, 0, 0, 0, 0, 0, 0}),
	}, nil); err != nil {
		t.Fatal(err)
	}
	// A second node's batch for the same minute adds to it.
	if err := s.RecordUsage(ctx, []latchkey.UsageRecord{
		rec(t1, m1, latchkey.UsageCounts{4, 0, 0, 2, 0, 0, 0}),
		rec(t2, m3, latchkey.UsageCounts{0, 0, 0, 0, 0, 7, 1}),
	}, nil); err != nil {
		t.Fatal(err)
	}
	find := func(f latchkey.UsageFilter) []latchkey.UsageBucket {
		t.Helper()
		f.From, f.To = day, day.Add(48*time.Hour)
		got, err := s.FindUsage(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	b := func(at time.Time, c latchkey.UsageCounts) latchkey.UsageBucket {
		return latchkey.UsageBucket{Start: at, Counts: c}
	}
	checks := []struct {
		name string
		f    latchkey.UsageFilter
		want []latchkey.UsageBucket
	}{
		{"token minutes", latchkey.UsageFilter{AccountID: a.ID, TokenID: t1.ID, Granularity: latchkey.UsageMinute},
			[]latchkey.UsageBucket{b(m1, latchkey.UsageCounts{9, 1, 0, 2, 0, 0, 0}), b(m2, latchkey.UsageCounts{2, 0, 3, 0, 0, 0, 0})}},
		{"token hours", latchkey.UsageFilter{AccountID: a.ID, TokenID: t1.ID, Granularity: latchkey.UsageHour},
			[]latchkey.UsageBucket{b(day.Add(10*time.Hour), latchkey.UsageCounts{11, 1, 3, 2, 0, 0, 0})}},
		{"account minutes", latchkey.UsageFilter{AccountID: a.ID, Granularity: latchkey.UsageMinute},
			[]latchkey.UsageBucket{b(m1, latchkey.UsageCounts{10, 1, 0, 2, 1, 0, 0}), b(m2, latchkey.UsageCounts{2, 0, 3, 0, 0, 0, 0}),
				b(m3, latchkey.UsageCounts{0, 0, 0, 0, 0, 7, 1})}},
		{"account hours", latchkey.UsageFilter{AccountID: a.ID, Granularity: latchkey.UsageHour},
			[]latchkey.UsageBucket{b(day.Add(10*time.Hour), latchkey.UsageCounts{12, 1, 3, 2, 1, 0, 0}),
				b(day.Add(11*time.Hour), latchkey.UsageCounts{0, 0, 0, 0, 0, 7, 1})}},
		{"account days", latchkey.UsageFilter{AccountID: a.ID, Granularity: latchkey.UsageDay},
			[]latchkey.UsageBucket{b(day, latchkey.UsageCounts{12, 1, 3, 2, 1, 7, 1})}},
		{"other account's token is not this account's", latchkey.UsageFilter{AccountID: a.ID, TokenID: t3.ID, Granularity: latchkey.UsageDay}, nil},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, find(c.f)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	top, err := s.FindTopTokens(ctx, latchkey.UsageFilter{AccountID: a.ID, Granularity: latchkey.UsageDay, From: day, To: day.Add(24 * time.Hour)}, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantTop := []latchkey.TokenUsage{{TokenID: t1.ID, Counts: latchkey.UsageCounts{11, 1, 3, 2, 0, 0, 0}},
		{TokenID: t2.ID, Counts: latchkey.UsageCounts{1, 0, 0, 0, 1, 7, 1}}}
	if diff := cmp.Diff(wantTop, top); diff != "" {
		t.Errorf("top tokens (-want +got):\n%s", diff)
	}
	if top, err = s.FindTopTokens(ctx, latchkey.UsageFilter{AccountID: a.ID, Granularity: latchkey.UsageDay, From: day, To: day.Add(24 * time.Hour)}, 1); err != nil || len(top) != 1 {
		t.Errorf("top 1 = %v, %v; want one token", top, err)
	}

	// Addresses: seven distinct ones over two batches; the five latest stay, and a repeated one
	// keeps its first sighting and moves its last.
	var addrs []latchkey.AddressSeen
	for i := range 6 {
		at := m1.Add(time.Duration(i) * time.Second)
		addrs = append(addrs, latchkey.AddressSeen{TokenID: t1.ID, Address: fmt.Sprintf("192.0.2.%d", i+1), FirstSeen: at, LastSeen: at})
	}
	if err := s.RecordUsage(ctx, nil, addrs); err != nil {
		t.Fatal(err)
	}
	later := m2.Add(30 * time.Second)
	if err := s.RecordUsage(ctx, nil, []latchkey.AddressSeen{
		{TokenID: t1.ID, Address: "192.0.2.3", FirstSeen: later, LastSeen: later},
		{TokenID: t1.ID, Address: "2001:db8::1", FirstSeen: later.Add(time.Second), LastSeen: later.Add(time.Second)},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindTokenAddresses(ctx, t1.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []latchkey.AddressSeen{
		{TokenID: t1.ID, Address: "2001:db8::1", FirstSeen: later.Add(time.Second), LastSeen: later.Add(time.Second)},
		{TokenID: t1.ID, Address: "192.0.2.3", FirstSeen: m1.Add(2 * time.Second), LastSeen: later},
		{TokenID: t1.ID, Address: "192.0.2.6", FirstSeen: m1.Add(5 * time.Second), LastSeen: m1.Add(5 * time.Second)},
		{TokenID: t1.ID, Address: "192.0.2.5", FirstSeen: m1.Add(4 * time.Second), LastSeen: m1.Add(4 * time.Second)},
		{TokenID: t1.ID, Address: "192.0.2.4", FirstSeen: m1.Add(3 * time.Second), LastSeen: m1.Add(3 * time.Second)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("token addresses (-want +got):\n%s", diff)
	}
	if got, err := s.FindTokenAddresses(ctx, t2.ID); err != nil || len(got) != 0 {
		t.Errorf("addresses of a token never seen = %v, %v", got, err)
	}

	// Pruning minutes before m2 leaves m2's minute, and every hour and day.
	n, err := s.PruneUsage(ctx, latchkey.UsageMinute, m2)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 { // t1, t2 and t3 at m1
		t.Errorf("pruned %d minute buckets, want 3", n)
	}
	if diff := cmp.Diff([]latchkey.UsageBucket{b(m2, latchkey.UsageCounts{2, 0, 3, 0, 0, 0, 0})},
		find(latchkey.UsageFilter{AccountID: a.ID, TokenID: t1.ID, Granularity: latchkey.UsageMinute})); diff != "" {
		t.Errorf("minutes after pruning (-want +got):\n%s", diff)
	}
	if got := find(latchkey.UsageFilter{AccountID: a.ID, Granularity: latchkey.UsageDay}); len(got) != 1 || got[0].Counts.Total() != 27 {
		t.Errorf("days after pruning minutes = %v, want one day of 27", got)
	}

	// A batch larger than one statement holds: 450 minutes of t3 (other account) and duplicate
	// addresses of two tokens in one batch are merged and written in chunks.
	later2 := day.Add(72 * time.Hour)
	var big []latchkey.UsageRecord
	for i := range 450 {
		big = append(big, rec(t3, later2.Add(time.Duration(i)*time.Minute), latchkey.UsageCounts{1, 0, 0, 0, 0, 0, 1}))
	}
	var many []latchkey.AddressSeen
	for i := range 8 {
		at := later2.Add(time.Duration(i) * time.Second)
		many = append(many, latchkey.AddressSeen{TokenID: t3.ID, Address: fmt.Sprintf("198.51.100.%d", i%7), FirstSeen: at, LastSeen: at},
			latchkey.AddressSeen{TokenID: t2.ID, Address: "203.0.113.9", FirstSeen: at, LastSeen: at})
	}
	if err := s.RecordUsage(ctx, big, many); err != nil {
		t.Fatal(err)
	}
	span := latchkey.UsageFilter{AccountID: other.ID, TokenID: t3.ID, From: later2, To: later2.Add(24 * time.Hour)}
	for _, g := range []time.Duration{latchkey.UsageMinute, latchkey.UsageHour, latchkey.UsageDay} {
		span.Granularity = g
		got, err := s.FindUsage(ctx, span)
		if err != nil {
			t.Fatal(err)
		}
		var total latchkey.UsageCounts
		for _, b := range got {
			for o, n := range b.Counts {
				total[o] += n
			}
		}
		if want := (latchkey.UsageCounts{450, 0, 0, 0, 0, 0, 450}); total != want || len(got) != 450/int(g/time.Minute)+min(450%int(g/time.Minute), 1) {
			t.Errorf("granularity %s: %d buckets totalling %v; want %v in %d", g, len(got), total, want, 450/int(g/time.Minute)+min(450%int(g/time.Minute), 1))
		}
	}
	got, err = s.FindTokenAddresses(ctx, t3.ID)
	if err != nil {
		t.Fatal(err)
	}
	// 198.51.100.0 was seen at 0 s and again at 7 s: the latest, with its first sighting kept.
	if len(got) != 5 || got[0].Address != "198.51.100.0" || !got[0].FirstSeen.Equal(later2) || !got[0].LastSeen.Equal(later2.Add(7*time.Second)) ||
		got[4].Address != "198.51.100.3" {
		t.Errorf("addresses after a batch with repeats = %+v; want 198.51.100.0 (0 s to 7 s), then .6 down to .3", got)
	}
	if got, err := s.FindTokenAddresses(ctx, t2.ID); err != nil || len(got) != 1 || !got[0].FirstSeen.Equal(later2) || !got[0].LastSeen.Equal(later2.Add(7*time.Second)) {
		t.Errorf("t2's one address seen eight times = %+v, %v", got, err)
	}
}
