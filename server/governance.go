package server

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey"
)

// Governance configures rate limits on failed authentication, the batching of last-used times,
// the expiry sweep, audit summaries and leaked-token reports. Zero values take the defaults.
type Governance struct {
	// GitHubKeys verify GitHub secret-scanning reports at /v1/leaks/github, by key identifier.
	// Without keys the endpoint answers 503.
	GitHubKeys map[string]*ecdsa.PublicKey
	// AuthFailureBurst is how many failed authentications a client address may make in a row
	// before it is refused with 429 (default 20). Sign-ins and tokens are counted separately.
	AuthFailureBurst int
	// AuthFailureRefill is how long an address waits to regain one attempt (default 6 s, ten a
	// minute).
	AuthFailureRefill time.Duration
	// RateLimitDelay holds a refused (429) answer to a rate-limited address this long (default
	// 250 ms; negative for none), so that a flood from one address slows itself down instead of
	// taking the CPU honest clients need.
	RateLimitDelay time.Duration
	// MaxTrackedAddresses bounds the memory the rate limiter uses (default 100,000 addresses).
	MaxTrackedAddresses int
	// FailureSummaryInterval is the window over which failed authentications are summarized in
	// one audit entry per account and address (default 5 minutes).
	FailureSummaryInterval time.Duration
	// LastUsedFlushInterval is how often buffered last-used times are written (default 1 minute).
	LastUsedFlushInterval time.Duration
	// ExpirySweepInterval is how often tokens that expired are looked for and audited as
	// service_token.expired (default 1 minute).
	ExpirySweepInterval time.Duration
	// ExpiringWithin is the horizon of the latchkey_tokens_expiring gauge (default 7 days).
	ExpiringWithin time.Duration
	// NoticeSweepInterval is how often tokens are looked for that are about to expire or go
	// unused, to audit them as service_token.expiring and service_token.unused (default 5
	// minutes).
	NoticeSweepInterval time.Duration
	// UsageFlushInterval is how often usage analytics gathered in memory are written, in one
	// transaction (default 10 s).
	UsageFlushInterval time.Duration
	// UsageMinuteRetention, UsageHourRetention and UsageDayRetention are how long usage
	// analytics are kept per minute, hour and day (defaults 48 hours, 35 days, 400 days).
	UsageMinuteRetention, UsageHourRetention, UsageDayRetention time.Duration
}

func (g *Governance) defaults() {
	if g.AuthFailureBurst <= 0 {
		g.AuthFailureBurst = 20
	}
	if g.AuthFailureRefill <= 0 {
		g.AuthFailureRefill = 6 * time.Second
	}
	switch {
	case g.RateLimitDelay == 0:
		g.RateLimitDelay = 250 * time.Millisecond
	case g.RateLimitDelay < 0:
		g.RateLimitDelay = 0
	}
	if g.MaxTrackedAddresses <= 0 {
		g.MaxTrackedAddresses = 100_000
	}
	if g.FailureSummaryInterval <= 0 {
		g.FailureSummaryInterval = 5 * time.Minute
	}
	if g.LastUsedFlushInterval <= 0 {
		g.LastUsedFlushInterval = time.Minute
	}
	if g.ExpirySweepInterval <= 0 {
		g.ExpirySweepInterval = time.Minute
	}
	if g.NoticeSweepInterval <= 0 {
		g.NoticeSweepInterval = 5 * time.Minute
	}
	if g.UsageFlushInterval <= 0 {
		g.UsageFlushInterval = 10 * time.Second
	}
	if g.UsageMinuteRetention <= 0 {
		g.UsageMinuteRetention = 48 * time.Hour
	}
	if g.UsageHourRetention <= 0 {
		g.UsageHourRetention = 35 * 24 * time.Hour
	}
	if g.UsageDayRetention <= 0 {
		g.UsageDayRetention = 400 * 24 * time.Hour
	}
	if g.ExpiringWithin <= 0 {
		g.ExpiringWithin = 7 * 24 * time.Hour
	}
}

// governor is the running state of the governance features: the rate limiters, the last-used
// buffer, the reuse queue, the failure summaries and the expiry sweep. Run drains them.
type governor struct {
	tokenLimits  *limiter
	signInLimits *limiter
	uses         *useBuffer
	reuse        *reuseQueue
	summary      *failureSummary
	expiry       *expirySweep
	notices      *noticeSweep
	metrics      *govMetrics
}

// initGovernance sets up the rate limiters, last-used batching, reuse handling, failure
// summaries, the expiry sweep and their metrics. Nothing runs until Run.
func (s *Server) initGovernance() error {
	g := &s.cfg.Governance
	g.defaults()
	gv := &governor{
		tokenLimits:  newLimiter(g.AuthFailureBurst, g.AuthFailureRefill, g.MaxTrackedAddresses),
		signInLimits: newLimiter(g.AuthFailureBurst, g.AuthFailureRefill, g.MaxTrackedAddresses),
		uses:         newUseBuffer(),
		reuse:        newReuseQueue(),
		summary:      newFailureSummary(),
		expiry:       &expirySweep{audited: map[int64]bool{}},
		notices:      newNoticeSweep(),
	}
	s.governor = gv
	gv.metrics = newGovMetrics(s)
	s.usagePending = newUsagePending()
	s.usageMetrics = newUsageMetrics(s.metrics.reg, s.usagePending)
	return nil
}

// gov returns the running governance state.
func (s *Server) gov() *governor { return s.governor }

// FlushTimeout bounds the writes Run makes after its context is done.
const FlushTimeout = 15 * time.Second

// Run does the server's background work until ctx is done: it writes buffered last-used times
// and failure summaries, audits expired, expiring and unused tokens, sends email notices (with
// Config.Email.Sender), sweeps the rate limiters and handles reuse of rotated-out tokens. Then it writes what is still buffered (within FlushTimeout) and returns.
// Start it once, beside serving; stop serving requests before cancelling ctx, so that nothing
// is buffered after the final flush. Errors of a round are logged; the next round retries.
func (s *Server) Run(ctx context.Context) error {
	if s.store == nil {
		<-ctx.Done()
		return nil
	}
	gv, g := s.gov(), s.cfg.Governance
	var wg sync.WaitGroup
	every := func(interval time.Duration, fn func(ctx context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					rctx, cancel := context.WithTimeout(ctx, interval+30*time.Second)
					fn(rctx)
					cancel()
				}
			}
		}()
	}
	s.probeHealth(ctx)
	every(HealthProbeInterval, s.probeHealth)
	every(g.LastUsedFlushInterval, func(ctx context.Context) { _ = s.flushUses(ctx) })
	every(g.FailureSummaryInterval, func(ctx context.Context) { _ = s.flushSummaries(ctx) })
	every(g.ExpirySweepInterval, func(ctx context.Context) { _ = s.sweepExpired(ctx) })
	every(g.NoticeSweepInterval, func(ctx context.Context) { _ = s.sweepNotices(ctx) })
	if s.verify != nil {
		every(time.Second, func(context.Context) { s.gatherUsage(time.Now()) })
		every(g.UsageFlushInterval, func(ctx context.Context) { _ = s.flushUsage(ctx) })
		every(time.Hour, func(ctx context.Context) { _ = s.pruneUsage(ctx) })
	}
	if s.cfg.Email.Sender != nil {
		every(s.cfg.Email.Interval, func(ctx context.Context) { _ = s.runEmail(ctx) })
	}
	every(time.Minute, func(context.Context) {
		now := time.Now()
		gv.tokenLimits.sweep(now)
		gv.signInLimits.sweep(now)
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.runReuse()
	}()
	<-ctx.Done()
	gv.reuse.close() // runReuse handles what is queued, then returns
	wg.Wait()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), FlushTimeout)
	defer cancel()
	var usageErr error
	if s.verify != nil {
		usageErr = s.flushUsage(fctx)
	}
	return errors.Join(s.flushUses(fctx), s.flushSummaries(fctx), usageErr)
}

// govMetrics are the governance features' Prometheus metrics.
type govMetrics struct {
	authFailures  *prometheus.CounterVec
	rateLimited   *prometheus.CounterVec
	leakReports   *prometheus.CounterVec
	reuseDetected prometheus.Counter
	tokensExpired prometheus.Counter

	mu           sync.Mutex
	expiring     float64
	expiringAt   time.Time
	expiringFunc func(ctx context.Context) (float64, error)
}

func newGovMetrics(s *Server) *govMetrics {
	m := &govMetrics{
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_auth_failures_total",
			Help: "Failed authentications by kind (token, sign_in, sso_sign_in, leak_signature) and reason."}, []string{"kind", "reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_auth_rate_limited_total",
			Help: "Requests refused with 429 because their address failed authentication too often, by kind."}, []string{"kind"}),
		leakReports: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_leak_reports_total",
			Help: "Tokens named in leak reports, by label (true_positive, false_positive)."}, []string{"label"}),
		reuseDetected: prometheus.NewCounter(prometheus.CounterOpts{Name: "latchkey_token_reuse_detected_total",
			Help: "Rotated-out tokens presented after their grace period."}),
		tokensExpired: prometheus.NewCounter(prometheus.CounterOpts{Name: "latchkey_tokens_expired_total",
			Help: "Tokens the expiry sweep found expired and audited."}),
	}
	gv := s.gov()
	horizon := s.cfg.Governance.ExpiringWithin
	m.expiringFunc = func(ctx context.Context) (float64, error) {
		if s.store == nil {
			return 0, nil
		}
		now := time.Now()
		active := latchkey.StateActive
		within, before := now.Add(horizon), now
		_, n, err := s.store.FindTokens(ctx, latchkey.TokenFilter{State: &active, ExpiresBefore: &within, Limit: 1})
		if err != nil {
			return 0, err
		}
		_, gone, err := s.store.FindTokens(ctx, latchkey.TokenFilter{State: &active, ExpiresBefore: &before, Limit: 1})
		if err != nil {
			return 0, err
		}
		return float64(n - gone), nil
	}
	s.metrics.reg.MustRegister(m.authFailures, m.rateLimited, m.leakReports, m.reuseDetected, m.tokensExpired,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latchkey_tokens_expiring",
			Help: "Active tokens that expire within the configured horizon (default 7 days) and have not expired yet."},
			m.expiringTokens),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latchkey_last_used_pending",
			Help: "Last-used observations buffered in memory, not yet written."},
			func() float64 { return float64(gv.uses.len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latchkey_auth_rate_limit_tracked_addresses",
			Help: "Client addresses the authentication rate limiter currently tracks."},
			func() float64 { return float64(gv.tokenLimits.len() + gv.signInLimits.len()) }),
	)
	return m
}

// expiringTokens computes latchkey_tokens_expiring at scrape time, at most every 30 seconds.
func (m *govMetrics) expiringTokens() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.expiringAt) < 30*time.Second {
		return m.expiring
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if v, err := m.expiringFunc(ctx); err == nil {
		m.expiring, m.expiringAt = v, time.Now()
	}
	return m.expiring
}
