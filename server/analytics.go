package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
)

// Usage analytics: the verifier counts every verification by outcome in memory; every second
// the counts are gathered here into per-minute records, and every UsageFlushInterval they are
// written in one transaction, whatever the request rate.

// usageKey is one token's minute.
type usageKey struct {
	token  int64
	minute int64 // Unix seconds
}

// usageAddrKey is one token's address.
type usageAddrKey struct {
	token int64
	addr  string
}

// usagePending holds gathered counts until they are written.
type usagePending struct {
	mu     sync.Mutex
	counts map[usageKey]*latchkey.UsageRecord
	addrs  map[usageAddrKey]latchkey.AddressSeen
}

// maxPendingUsage bounds what is held while storage fails: beyond it, new minutes are dropped
// (and counted in latchkey_usage_dropped_total) until a write succeeds.
const maxPendingUsage = 200_000

func newUsagePending() *usagePending {
	return &usagePending{counts: map[usageKey]*latchkey.UsageRecord{}, addrs: map[usageAddrKey]latchkey.AddressSeen{}}
}

// add merges records and addresses; it returns how many verifications it had no room for.
func (p *usagePending) add(recs []latchkey.UsageRecord, addrs []latchkey.AddressSeen) (dropped int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range recs {
		k := usageKey{r.TokenID, r.Minute.Unix()}
		if cur, ok := p.counts[k]; ok {
			cur.Counts.Add(&r.Counts)
			continue
		}
		if len(p.counts) >= maxPendingUsage {
			dropped += r.Counts.Total()
			continue
		}
		p.counts[k] = &r
	}
	for _, a := range addrs {
		k := usageAddrKey{a.TokenID, a.Address}
		if cur, ok := p.addrs[k]; ok {
			if a.FirstSeen.Before(cur.FirstSeen) {
				cur.FirstSeen = a.FirstSeen
			}
			if a.LastSeen.After(cur.LastSeen) {
				cur.LastSeen = a.LastSeen
			}
			p.addrs[k] = cur
			continue
		}
		if len(p.addrs) < maxPendingUsage {
			p.addrs[k] = a
		}
	}
	return dropped
}

// take empties the pending maps.
func (p *usagePending) take() ([]latchkey.UsageRecord, []latchkey.AddressSeen) {
	p.mu.Lock()
	defer p.mu.Unlock()
	recs := make([]latchkey.UsageRecord, 0, len(p.counts))
	for _, r := range p.counts {
		recs = append(recs, *r)
	}
	addrs := make([]latchkey.AddressSeen, 0, len(p.addrs))
	for _, a := range p.addrs {
		addrs = append(addrs, a)
	}
	clear(p.counts)
	clear(p.addrs)
	return recs, addrs
}

func (p *usagePending) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.counts)
}

// usageMetrics count outcomes (no per-token labels: the stored analytics have those) and
// usage writes.
type usageMetrics struct {
	outcomes *prometheus.CounterVec
	byName   [latchkey.NumOutcomes]prometheus.Counter
	writes   prometheus.Counter
	dropped  prometheus.Counter
}

func newUsageMetrics(reg *prometheus.Registry, pending *usagePending) *usageMetrics {
	m := &usageMetrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_verification_outcomes_total",
			Help: "Verifications of known tokens by outcome (ok, forbidden, rate_limited, usage_exceeded, ip_denied, expired, revoked), as usage analytics count them."},
			[]string{"outcome"}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{Name: "latchkey_usage_writes_total",
			Help: "Storage transactions that wrote usage analytics (one per flush interval at most)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "latchkey_usage_dropped_total",
			Help: "Verifications left out of usage analytics because storage failed for long enough that the pending buffer filled."}),
	}
	for i, n := range latchkey.OutcomeNames {
		m.byName[i] = m.outcomes.WithLabelValues(n)
	}
	reg.MustRegister(m.outcomes, m.writes, m.dropped,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latchkey_usage_pending",
			Help: "Token-minutes of usage analytics gathered in memory, not yet written."},
			func() float64 { return float64(pending.len()) }))
	return m
}

// gatherUsage takes what the verifier counted and files it under the current minute.
func (s *Server) gatherUsage(now time.Time) {
	deltas := s.verify.TakeUsage()
	if len(deltas) == 0 {
		return
	}
	minute := now.UTC().Truncate(time.Minute)
	recs := make([]latchkey.UsageRecord, 0, len(deltas))
	var addrs []latchkey.AddressSeen
	var sums latchkey.UsageCounts
	for _, d := range deltas {
		if d.Counts.Total() > 0 {
			recs = append(recs, latchkey.UsageRecord{TokenID: d.TokenID, AccountID: d.AccountID, Minute: minute, Counts: d.Counts})
			sums.Add(&d.Counts)
		}
		addrs = append(addrs, d.Addresses...)
	}
	um := s.usageMetrics
	for i, n := range sums {
		if n > 0 {
			um.byName[i].Add(float64(n))
		}
	}
	if dropped := s.usagePending.add(recs, addrs); dropped > 0 {
		um.dropped.Add(float64(dropped))
	}
}

// flushUsage writes what was gathered in one transaction; on failure it is kept for the next.
func (s *Server) flushUsage(ctx context.Context) error {
	s.gatherUsage(time.Now())
	recs, addrs := s.usagePending.take()
	if len(recs) == 0 && len(addrs) == 0 {
		return nil
	}
	s.usageMetrics.writes.Inc()
	if err := s.admin.RecordUsage(ctx, recs, addrs); err != nil {
		if dropped := s.usagePending.add(recs, addrs); dropped > 0 {
			s.usageMetrics.dropped.Add(float64(dropped))
		}
		s.log.Error("record usage analytics", "error", err.Error())
		return fmt.Errorf("record usage analytics: %w", err)
	}
	return nil
}

// pruneUsage deletes buckets past each granularity's retention.
func (s *Server) pruneUsage(ctx context.Context) error {
	g := s.cfg.Governance
	now := time.Now()
	var errs []error
	for _, r := range []struct {
		g    time.Duration
		keep time.Duration
	}{{latchkey.UsageMinute, g.UsageMinuteRetention}, {latchkey.UsageHour, g.UsageHourRetention}, {latchkey.UsageDay, g.UsageDayRetention}} {
		if _, err := s.admin.PruneUsage(ctx, r.g, now.Add(-r.keep)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Error("prune usage analytics", "error", err.Error())
		return err
	}
	return nil
}

// usageQuery reads from, to and granularity, refusing any other or repeated parameter.
func usageQuery(r *http.Request) (admin.UsageQuery, error) {
	q := r.URL.Query()
	for k, vs := range q {
		switch k {
		case "from", "to", "granularity":
			if len(vs) > 1 {
				return admin.UsageQuery{}, latchkey.FieldError(k, "%s is given more than once", k)
			}
		default:
			k = sanitizePath(k)
			return admin.UsageQuery{}, latchkey.FieldError(k, "unknown parameter %q: a usage query takes from, to and granularity", k)
		}
	}
	return admin.ParseUsageQuery(q.Get("from"), q.Get("to"), q.Get("granularity"), time.Now())
}

// handleAPIServiceTokenUsage answers GET …/service-tokens/{id}/usage/?from=&to=&granularity=.
func (s *Server) handleAPIServiceTokenUsage(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathID(r, "token_id")
	if err != nil {
		return err
	}
	q, err := usageQuery(r)
	if err != nil {
		return err
	}
	return s.respondTokenUsage(w, r, p, admin.ServiceTokenRef(id), q)
}

// handleAPIPATUsage answers GET …/users/{user_id}/account-apikeys/{token_id}/usage/: the same
// for a personal access token (the user, or members:write).
func (s *Server) handleAPIPATUsage(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	ref, err := patRef(r)
	if err != nil {
		return err
	}
	q, err := usageQuery(r)
	if err != nil {
		return err
	}
	return s.respondTokenUsage(w, r, p, ref, q)
}

func (s *Server) respondTokenUsage(w http.ResponseWriter, r *http.Request, p *latchkey.Principal, ref admin.TokenRef, q admin.UsageQuery) error {
	rep, err := s.admin.TokenUsage(r.Context(), p, ref, q)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, apitype.TokenUsage{TokenID: rep.Token.ID, Granularity: admin.GranularityName(q.Granularity),
		From: apitype.Time(q.From), To: apitype.Time(q.To), Totals: apitype.UsageCountsOf(rep.Totals),
		Buckets: apitype.UsageBucketsOf(rep.Buckets), Addresses: apitype.TokenAddressesOf(rep.Addresses)}, nil)
	return nil
}

// topUsageTokens is how many tokens the account summary ranks.
const topUsageTokens = 10

// handleAPIAccountUsage answers GET /api/v3/accounts/{id}/usage/?from=&to=&granularity=.
func (s *Server) handleAPIAccountUsage(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	q, err := usageQuery(r)
	if err != nil {
		return err
	}
	rep, err := s.admin.AccountUsage(r.Context(), p, q, topUsageTokens)
	if err != nil {
		return err
	}
	out := apitype.AccountUsage{AccountID: p.AccountID, Granularity: admin.GranularityName(q.Granularity),
		From: apitype.Time(q.From), To: apitype.Time(q.To), Totals: apitype.UsageCountsOf(rep.Totals),
		Buckets: apitype.UsageBucketsOf(rep.Buckets), TopTokens: []apitype.TopToken{}}
	for _, t := range rep.Top {
		tt := apitype.TopToken{TokenID: t.Token.ID, Kind: string(t.Token.Kind), Name: t.Token.Name, State: int(t.Token.State),
			LastUsed: apitype.TimePtr(t.Token.LastUsedAt), UsageCounts: apitype.UsageCountsOf(t.Counts)}
		if t.Token.Kind == latchkey.KindPAT {
			uid := t.Token.UserID
			tt.UserID = &uid
		}
		out.TopTokens = append(out.TopTokens, tt)
	}
	respond(w, http.StatusOK, out, nil)
	return nil
}
