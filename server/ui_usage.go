package server

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
)

// Usage charts, drawn on the server as SVG: each bucket a bar of its outcomes stacked, ok at the
// bottom. No script and no chart library: the page works without JavaScript, and nothing is
// fetched from elsewhere.

// usageRange is a period a chart can show.
type usageRange struct {
	Key         string // the range parameter
	Label       string
	Span        time.Duration
	Granularity time.Duration
}

var usageRanges = []usageRange{
	{"24h", "24 hours", 24 * time.Hour, latchkey.UsageHour},
	{"7d", "7 days", 7 * 24 * time.Hour, latchkey.UsageHour},
	{"30d", "30 days", 30 * 24 * time.Hour, latchkey.UsageDay},
}

// pickUsageRange reads ?range= (24h by default; anything else unknown falls back to it).
func pickUsageRange(r *http.Request) usageRange {
	k := r.URL.Query().Get("range")
	for _, u := range usageRanges {
		if u.Key == k {
			return u
		}
	}
	return usageRanges[0]
}

// usageQueryFor is the admin query for a range ending now: its last bucket is the current one
// (the last 30 days are 30 daily bars, today's included).
func usageQueryFor(u usageRange, now time.Time) (admin.UsageQuery, error) {
	return admin.NewUsageQuery(now.Truncate(u.Granularity).Add(-(u.Span - u.Granularity)), now, u.Granularity)
}

// chartSegment is one outcome's part of a bar.
type chartSegment struct {
	X, W  float64
	Y, H  float64
	Class string
	Title string
}

type chartBar struct {
	X, W     float64
	Segments []chartSegment
}

type chartTick struct {
	Pos   float64
	Label string
}

type legendItem struct {
	Class, Name string
	Total       int64
}

type rangeLink struct {
	Label, URL string
	Current    bool
}

// usageChart is what the chart template draws.
type usageChart struct {
	Width, Height, PlotTop, PlotBottom, PlotLeft float64
	Bars                                         []chartBar
	YTicks, XTicks                               []chartTick
	Legend                                       []legendItem
	Total                                        int64
	Title                                        string
	Ranges                                       []rangeLink
}

// Chart geometry, in SVG user units (the SVG scales to its container's width).
const (
	chartWidth  = 720.0
	chartHeight = 220.0
	chartLeft   = 48.0
	chartTop    = 8.0
	chartBottom = 190.0
)

// buildUsageChart lays out buckets (every bucket of the period, oldest first).
func buildUsageChart(title string, buckets []latchkey.UsageBucket, g time.Duration, ranges []rangeLink) *usageChart {
	c := &usageChart{Width: chartWidth, Height: chartHeight, PlotTop: chartTop, PlotBottom: chartBottom, PlotLeft: chartLeft,
		Title: title, Ranges: ranges}
	var totals latchkey.UsageCounts
	var peak int64
	for _, b := range buckets {
		totals.Add(&b.Counts)
		peak = max(peak, b.Counts.Total())
	}
	c.Total = totals.Total()
	for o := range latchkey.NumOutcomes {
		c.Legend = append(c.Legend, legendItem{Class: "u-" + latchkey.OutcomeNames[o], Name: latchkey.OutcomeNames[o], Total: totals[o]})
	}
	top := niceCeil(peak)
	plotH := chartBottom - chartTop
	for i := 0; i <= 4; i++ {
		v := top * int64(i) / 4
		c.YTicks = append(c.YTicks, chartTick{Pos: chartBottom - plotH*float64(v)/float64(top), Label: shortCount(v)})
	}
	if len(buckets) == 0 {
		return c
	}
	step := (chartWidth - chartLeft) / float64(len(buckets))
	gap := min(step*0.15, 2)
	labelEvery := max(1, len(buckets)/6)
	for i, b := range buckets {
		x := chartLeft + float64(i)*step
		bar := chartBar{X: x + gap/2, W: step - gap}
		y := chartBottom
		for o := range latchkey.NumOutcomes {
			n := b.Counts[o]
			if n == 0 {
				continue
			}
			h := plotH * float64(n) / float64(top)
			y -= h
			bar.Segments = append(bar.Segments, chartSegment{X: bar.X, W: bar.W, Y: y, H: h, Class: "u-" + latchkey.OutcomeNames[o],
				Title: fmt.Sprintf("%s: %d %s", bucketLabel(b.Start, g), n, latchkey.OutcomeNames[o])})
		}
		c.Bars = append(c.Bars, bar)
		if i%labelEvery == 0 {
			c.XTicks = append(c.XTicks, chartTick{Pos: x, Label: bucketLabel(b.Start, g)})
		}
	}
	return c
}

// niceCeil rounds a chart's peak up to four gridline steps of 1, 2, 2.5 or 5 times a power of
// ten, so that every gridline falls on a round whole number.
func niceCeil(v int64) int64 {
	want := max(1, (v+3)/4)
	p := int64(1)
	for p*10 < want {
		p *= 10
	}
	for _, m := range []int64{10, 20, 25, 50, 100} { // tenths of p
		if step := m * p / 10; m*p%10 == 0 && step >= want {
			return 4 * step
		}
	}
	return 40 * p
}

func shortCount(v int64) string {
	switch {
	case v >= 1_000_000:
		return strconv.FormatFloat(float64(v)/1e6, 'f', -1, 64) + "M"
	case v >= 10_000:
		return strconv.FormatFloat(float64(v)/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatInt(v, 10)
}

func bucketLabel(t time.Time, g time.Duration) string {
	if g >= 24*time.Hour {
		return t.UTC().Format("Jan 2")
	}
	return t.UTC().Format("Jan 2 15:04")
}

// rangeLinks links base?range= for each range, marking cur.
func rangeLinks(base string, cur usageRange) []rangeLink {
	out := make([]rangeLink, 0, len(usageRanges))
	for _, u := range usageRanges {
		out = append(out, rangeLink{Label: u.Label, URL: base + "?range=" + u.Key, Current: u.Key == cur.Key})
	}
	return out
}

// tokenUsageSection is the usage part of a token's page.
type tokenUsageSection struct {
	Chart     *usageChart
	Addresses []latchkey.AddressSeen
}

// tokenUsage builds a token's usage section; nil when usage cannot be shown.
func (s *Server) tokenUsage(r *http.Request, us *uiSession, ref admin.TokenRef, self string) (*tokenUsageSection, error) {
	rg := pickUsageRange(r)
	q, err := usageQueryFor(rg, time.Now())
	if err != nil {
		return nil, err
	}
	rep, err := s.admin.TokenUsage(r.Context(), us.p, ref, q)
	if err != nil {
		return nil, err
	}
	return &tokenUsageSection{Chart: buildUsageChart("Verifications over the last "+rg.Label, rep.Buckets, q.Granularity, rangeLinks(self, rg)),
		Addresses: rep.Addresses}, nil
}

// accountUsageSection is the usage overview of Account settings.
type accountUsageSection struct {
	Chart *usageChart
	Top   []topTokenRow
	// Unused are live service tokens not used in UnusedDays (or never, and older than that).
	Unused     []tokenRow
	UnusedDays int
	CanDelete  bool
}

type topTokenRow struct {
	Name, URL string
	Kind      string
	Counts    latchkey.UsageCounts
	Total     int64
	Refused   int64
}

// unusedAfter is how long without use makes a token worth deleting.
const unusedAfter = 90 * 24 * time.Hour

// accountUsage builds the overview; nil (no error) for someone who may not read service tokens.
func (s *Server) accountUsage(r *http.Request, us *uiSession) (*accountUsageSection, error) {
	if !admin.Capabilities(us.p).ServiceTokensRead {
		return nil, nil
	}
	ctx := r.Context()
	rg := pickUsageRange(r)
	now := time.Now()
	q, err := usageQueryFor(rg, now)
	if err != nil {
		return nil, err
	}
	rep, err := s.admin.AccountUsage(ctx, us.p, q, topUsageTokens)
	if err != nil {
		return nil, err
	}
	d := &accountUsageSection{Chart: buildUsageChart("Verifications over the last "+rg.Label, rep.Buckets, q.Granularity, rangeLinks("/settings/account", rg)),
		UnusedDays: int(unusedAfter / (24 * time.Hour)), CanDelete: admin.Capabilities(us.p).ServiceTokensManage}
	for _, t := range rep.Top {
		row := topTokenRow{Name: t.Token.Name, Kind: "service token", Counts: t.Counts, Total: t.Counts.Total(),
			Refused: t.Counts.Total() - t.Counts[latchkey.OutcomeOK]}
		row.URL = "/settings/service-tokens/" + strconv.FormatInt(t.Token.ID, 10)
		if t.Token.Kind == latchkey.KindPAT {
			row.Kind, row.URL = "personal access token", ""
		}
		d.Top = append(d.Top, row)
	}
	active := latchkey.StateActive
	cutoff := now.Add(-unusedAfter)
	namer := s.namerOrNil(ctx, us.p)
	for offset := 0; ; offset += latchkey.MaxLimit {
		page, total, err := s.admin.Tokens(ctx, us.p, admin.ServiceTokenRef(0), latchkey.TokenFilter{State: &active, Offset: offset, Limit: latchkey.MaxLimit})
		if err != nil {
			return nil, err
		}
		for _, t := range page {
			last := t.CreatedAt
			if t.LastUsedAt != nil {
				last = *t.LastUsedAt
			}
			if last.Before(cutoff) && !t.RotatedOut(now) {
				d.Unused = append(d.Unused, s.tokenRowOf(t, namer, now))
			}
		}
		if len(page) < latchkey.MaxLimit || offset+len(page) >= total {
			break
		}
	}
	return d, nil
}
