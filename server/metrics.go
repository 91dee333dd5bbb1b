package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/latchkey/latchkey/verify"
)

// metrics are the server's Prometheus metrics, on their own registry.
type metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	verifications *prometheus.CounterVec
	// forwardOK and friends are resolved once: forward-auth counts every gateway request.
	forwardOK, forward401, forward403, forwardOther prometheus.Counter
	verifiedOK                                      prometheus.Counter
	// oauthTokens counts access tokens issued by grant type.
	oauthTokens *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_http_requests_total",
		Help: "HTTP requests by route pattern and status."}, []string{"route", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latchkey_http_request_duration_seconds",
		Help: "HTTP request latency by route pattern.", Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}},
		[]string{"route"})
	m.verifications = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_token_verifications_total",
		Help: "Token verifications by result (ok, malformed, checksum, not_found, revoked, expired, rotated_out, not_member, ip_denied, error)."},
		[]string{"result"})
	fwd := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_forward_auth_requests_total",
		Help: "Forward-auth answers by status."}, []string{"code"})
	m.forwardOK, m.forward401, m.forward403, m.forwardOther = fwd.WithLabelValues("200"), fwd.WithLabelValues("401"),
		fwd.WithLabelValues("403"), fwd.WithLabelValues("other")
	m.verifiedOK = m.verifications.WithLabelValues("ok")
	m.oauthTokens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_oauth_tokens_issued_total",
		Help: "Access tokens issued by the token endpoint, by grant type (client_credentials, token_exchange)."}, []string{"grant_type"})
	m.reg.MustRegister(m.requests, m.duration, m.verifications, fwd, m.oauthTokens,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s.verify != nil {
		st := s.verify.Stats()
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latchkey_verify_cache_misses_total", Help: "Verifications that read storage."},
				func() float64 { return float64(st.Misses.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latchkey_verify_cache_refreshes_total", Help: "Cache entries of tokens in use read again in the background before they expired."},
				func() float64 { return float64(st.Refreshes.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latchkey_verify_rejected_without_lookup_total", Help: "Malformed or checksum-invalid tokens rejected without touching storage."},
				func() float64 { return float64(st.Rejected.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latchkey_legacy_token_verifications_total", Help: "Slow-path (bcrypt) verifications of legacy-format tokens."},
				func() float64 { return float64(st.Legacy.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latchkey_verify_stale_answers_total", Help: "Verifications answered from cache entries past their TTL because storage could not answer (--stale-if-error)."},
				func() float64 { return float64(st.Stale.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latchkey_verify_breaker_fast_fails_total", Help: "Verifications of uncached tokens refused at once (503) while the verifier's circuit breaker was open."},
				func() float64 { return float64(st.FastFails.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latchkey_verify_breaker_open", Help: "1 while the verifier's circuit breaker is open: storage failed repeatedly and only cached tokens are answered."},
				func() float64 {
					if s.verify.Health().BreakerOpen {
						return 1
					}
					return 0
				}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latchkey_rate_limits_local", Help: "1 while this node cannot share rate-limit counts with the other nodes (PostgreSQL unreachable) and enforces limits on its own counts."},
				func() float64 {
					if !s.verify.Health().RateLimitsLocalSince.IsZero() {
						return 1
					}
					return 0
				}),
		)
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) observeRequest(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) verification(err error) {
	if err == nil {
		m.verifiedOK.Inc()
		return
	}
	m.verifications.WithLabelValues(verify.Reason(err)).Inc()
}

func (m *metrics) oauthIssued(grantType string) {
	if grantType == grantTokenExchange {
		grantType = "token_exchange"
	}
	m.oauthTokens.WithLabelValues(grantType).Inc()
}

func (m *metrics) forward(status int) {
	switch status {
	case http.StatusOK:
		m.forwardOK.Inc()
	case http.StatusUnauthorized:
		m.forward401.Inc()
	case http.StatusForbidden:
		m.forward403.Inc()
	default:
		m.forwardOther.Inc()
	}
}

// Registerer takes the metrics of work beside the server (webhook delivery), served with the
// server's own on /metrics.
func (s *Server) Registerer() prometheus.Registerer { return s.metrics.reg }
