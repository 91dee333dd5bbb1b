package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/latchkey/latchkey"
)

func errNoRoute(r *http.Request) error {
	return latchkey.Errorf(latchkey.ENotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
}

// Readiness probing: a background loop (in Run) checks the database, a real write and the
// change feed every HealthProbeInterval, each bounded by HealthProbeTimeout; /readyz answers
// from what it last found, so a busy pool cannot make readiness flap, and a state change is
// logged once, not once per probe.
const (
	HealthProbeInterval = 5 * time.Second
	HealthProbeTimeout  = 2 * time.Second
)

// writeProber is a store that can make a real, minimal write (sqlstore.Store.ProbeWrite).
type writeProber interface {
	ProbeWrite(ctx context.Context) error
}

// databasePinger is a store whose Ping also covers its change feed; PingDatabase checks the
// database alone (postgres.Store).
type databasePinger interface {
	PingDatabase(ctx context.Context) error
	ChangeFeedConnected() bool
}

// probeState is one check's last outcome.
type probeState struct {
	known bool
	ok    bool
	since time.Time // when it last changed
	why   string    // why it is not ok
}

// checkReport is one check in /readyz's answer: status ok, failing (since when, why) or unknown.
type checkReport struct {
	Status string `json:"status"`
	Since  string `json:"since,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func (p probeState) report() checkReport {
	switch {
	case !p.known:
		return checkReport{Status: "unknown"}
	case p.ok:
		return checkReport{Status: "ok", Since: p.since.UTC().Format(time.RFC3339)}
	}
	return checkReport{Status: "failing", Since: p.since.UTC().Format(time.RFC3339), Reason: p.why}
}

// readiness holds what the probes last found.
type readiness struct {
	probing sync.Mutex // one probe at a time
	mu      sync.Mutex
	checked time.Time
	db      probeState
	writes  probeState
	feed    probeState // known only for stores with a change feed (PostgreSQL)
}

// probeHealth runs the checks once and records (and logs) what changed.
func (s *Server) probeHealth(ctx context.Context) {
	s.ready.probing.Lock()
	defer s.ready.probing.Unlock()
	s.runProbes(ctx)
}

// runProbes runs the checks; the caller holds ready.probing.
func (s *Server) runProbes(ctx context.Context) {
	rd := &s.ready
	check := func(fn func(context.Context) error) error {
		cctx, cancel := context.WithTimeout(ctx, HealthProbeTimeout)
		defer cancel()
		return fn(cctx)
	}
	var dbErr, writeErr error
	feedOK, hasFeed := true, false
	if dp, ok := s.store.(databasePinger); ok {
		dbErr = check(dp.PingDatabase)
		feedOK, hasFeed = dp.ChangeFeedConnected(), true
	} else {
		dbErr = check(s.store.Ping)
	}
	if wp, ok := s.store.(writeProber); ok {
		writeErr = check(wp.ProbeWrite)
	}
	now := time.Now()
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.checked = now
	s.noteProbe(&rd.db, "database", dbErr, now)
	s.noteProbe(&rd.writes, "writes", writeErr, now)
	if hasFeed {
		var feedErr error
		if !feedOK {
			feedErr = latchkey.Unavailable("not connected to PostgreSQL's notifications: other nodes' changes are not heard", nil)
		}
		s.noteProbe(&rd.feed, "change feed", feedErr, now)
	}
}

// noteProbe records one check's outcome, logging when it changes: a WARN (with the cause) when
// it starts failing, an INFO when it recovers.
func (s *Server) noteProbe(p *probeState, what string, err error, now time.Time) {
	ok, why := err == nil, errText(err)
	if p.known && p.ok == ok {
		p.why = why // the same state, perhaps for another reason this time: not logged again
		return
	}
	switch {
	case !ok:
		s.log.Warn("readiness: "+what+" failing", "reason", why, "error", err.Error())
	case p.known:
		s.log.Info("readiness: "+what+" recovered", "after", now.Sub(p.since).Round(time.Millisecond).String())
	}
	*p = probeState{known: true, ok: ok, since: now, why: why}
}

// errText is what a probe failure is shown as: the domain message, without causes that may
// name hosts or files (/readyz needs no credentials).
func errText(err error) string {
	if err == nil {
		return ""
	}
	if latchkey.ErrorCodeOf(err) == latchkey.EInternal {
		return "the database did not answer (see the log)"
	}
	return latchkey.ErrorMessage(err)
}

// readyReport is /readyz's answer.
type readyReport struct {
	Status     string      `json:"status"`
	Database   checkReport `json:"database"`
	Writes     checkReport `json:"writes"`
	ChangeFeed checkReport `json:"change_feed"`
	Cache      cacheReport `json:"cache"`
	CheckedAt  string      `json:"checked_at"`
}

// cacheReport is the verifier's cache in /readyz's answer. Status is "ok", "stale" (answering
// from entries past their TTL because storage fails), "breaker_open" (and verifications of
// uncached tokens are refused at once) or "none".
type cacheReport struct {
	Status     string `json:"status"`
	Entries    int    `json:"entries"`
	StaleSince string `json:"stale_since,omitempty"`
	// BreakerOpenSince and NextProbe are set while the circuit breaker is open.
	BreakerOpenSince string `json:"breaker_open_since,omitempty"`
	NextProbe        string `json:"next_probe,omitempty"`
	// ConsecutiveFailures counts storage reads in a row that could not be answered.
	ConsecutiveFailures int64 `json:"consecutive_failures,omitempty"`
	// RateLimitsLocalSince is when this node stopped being able to share rate-limit counts with
	// the other nodes (it enforces limits on its own counts meanwhile).
	RateLimitsLocalSince string `json:"rate_limits_local_since,omitempty"`
}

// report returns the last findings, probing first when there are none recent (a server whose
// Run has not started, or whose loop is stuck).
func (s *Server) report(ctx context.Context) (readyReport, bool, bool) {
	rd := &s.ready
	rd.mu.Lock()
	failing := !rd.db.ok || !rd.writes.ok || rd.feed.known && !rd.feed.ok
	// While something fails, a readiness check looks again (at most once a second) rather than
	// repeat a finding up to HealthProbeInterval old: a node is back in rotation as soon as it
	// can serve.
	never := rd.checked.IsZero()
	stale := time.Since(rd.checked) > 3*HealthProbeInterval || failing && time.Since(rd.checked) > time.Second
	rd.mu.Unlock()
	switch {
	case never:
		s.probeHealth(ctx) // there are no findings yet: wait for the first
	case stale && rd.probing.TryLock():
		// A check already under way (the loop's, or another request's) will do otherwise:
		// this one reports the findings so far rather than queue behind it.
		s.runProbes(ctx)
		rd.probing.Unlock()
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	feed := checkReport{Status: "local", Reason: "one node: changes are heard in-process"}
	feedOK := true
	if rd.feed.known {
		feed, feedOK = rd.feed.report(), rd.feed.ok
	}
	rep := readyReport{Database: rd.db.report(), Writes: rd.writes.report(), ChangeFeed: feed,
		Cache: s.cacheReport(), CheckedAt: rd.checked.UTC().Format(time.RFC3339)}
	ready := rd.db.ok && rd.writes.ok && feedOK
	// Verification can still be served while the database is down, from the cache, unless
	// stale answers are turned off.
	verifies := rd.db.ok && feedOK || s.verify != nil && s.verify.Len() > 0 && s.cfg.StaleIfError > 0
	return rep, ready, verifies
}

// cacheReport describes the verifier's cache.
func (s *Server) cacheReport() cacheReport {
	if s.verify == nil {
		return cacheReport{Status: "none"}
	}
	h := s.verify.Health()
	rep := cacheReport{Status: "ok", Entries: s.verify.Len(), ConsecutiveFailures: h.ConsecutiveFailures}
	if !h.RateLimitsLocalSince.IsZero() {
		rep.RateLimitsLocalSince = h.RateLimitsLocalSince.UTC().Format(time.RFC3339)
	}
	if !h.StaleSince.IsZero() {
		rep.Status, rep.StaleSince = "stale", h.StaleSince.UTC().Format(time.RFC3339)
	}
	if h.BreakerOpen {
		rep.Status = "breaker_open"
		rep.BreakerOpenSince = h.BreakerOpenSince.UTC().Format(time.RFC3339)
		rep.NextProbe = h.NextProbe.UTC().Format(time.RFC3339Nano)
	}
	return rep
}

// handleHealthz answers while the process is up (liveness: it never looks at the database).
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSONBody(w, http.StatusOK, map[string]any{"status": "ok", "version": s.cfg.Version})
}

// handleReadyz answers 200 when this node can serve everything — the database answers, a real
// write succeeds, and (PostgreSQL) it hears other nodes' changes — and 503 otherwise, with the
// detail either way.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	rep, ready, _ := s.report(r.Context())
	s.answerReady(w, rep, ready)
}

// handleReadyzVerify answers 200 while this node can verify tokens: with a working database,
// or from its cache when the database is down (see --stale-if-error). Gateways that only
// verify may route on it and keep a node through a database outage.
func (s *Server) handleReadyzVerify(w http.ResponseWriter, r *http.Request) {
	rep, _, verifies := s.report(r.Context())
	s.answerReady(w, rep, verifies)
}

func (s *Server) answerReady(w http.ResponseWriter, rep readyReport, ready bool) {
	status := http.StatusOK
	rep.Status = "ready"
	if !ready {
		status, rep.Status = http.StatusServiceUnavailable, "not_ready"
		w.Header().Set("Retry-After", "5")
	}
	writeJSONBody(w, status, rep)
}
