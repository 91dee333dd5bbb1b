package server

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

func TestNiceCeil(t *testing.T) {
	for v, want := range map[int64]int64{0: 4, 3: 4, 4: 4, 5: 8, 8: 8, 9: 20, 17: 20, 21: 40, 100: 100, 101: 200, 1234: 2000, 999_999: 1_000_000} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", v, got, want)
		}
	}
}

// The chart stacks each bucket's outcomes from the bottom, scaled to the rounded peak, and
// labels every outcome in the legend with its total.
func TestBuildUsageChart(t *testing.T) {
	at := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	c := buildUsageChart("t", []latchkey.UsageBucket{
		{Start: at, Counts: latchkey.UsageCounts{latchkey.OutcomeOK: 4, latchkey.OutcomeRevoked: 4}},
		{Start: at.Add(time.Hour)},
	}, time.Hour, nil)
	if c.Total != 8 || len(c.Bars) != 2 || len(c.Bars[1].Segments) != 0 {
		t.Fatalf("chart total %d with %d bars (%v)", c.Total, len(c.Bars), c.Bars)
	}
	segs := c.Bars[0].Segments
	if len(segs) != 2 || segs[0].Class != "u-ok" || segs[1].Class != "u-revoked" {
		t.Fatalf("segments = %+v, want ok then revoked", segs)
	}
	// 8 is the peak and the top: the bar fills the plot, ok in the lower half.
	if segs[0].Y+segs[0].H != chartBottom || segs[1].Y != chartTop || segs[0].H != segs[1].H {
		t.Errorf("segments placed at %+v, want the plot split in two", segs)
	}
	if len(c.Legend) != int(latchkey.NumOutcomes) || c.Legend[0].Total != 4 || c.Legend[latchkey.OutcomeRevoked].Total != 4 {
		t.Errorf("legend = %+v", c.Legend)
	}
}
