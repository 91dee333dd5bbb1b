// Package server is latchkey's HTTP layer: the dbt-compatible admin API, latchkey's extensions,
// the verification endpoints for gateways, the web UI, health checks and metrics. routes.go lists
// every route on one screen.
package server

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/sso"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

// MaxBodyBytes caps every request body.
const MaxBodyBytes = 1 << 20

// Config wires a Server.
type Config struct {
	Store    latchkey.Store
	Verifier *verify.Verifier
	Logger   *slog.Logger
	Format   tokenfmt.Format
	// TrustedProxies are peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Version is reported by /healthz and the UI footer.
	Version string
	// SecureCookies marks session cookies Secure (set when serving over TLS or behind a TLS proxy).
	SecureCookies bool
	// SessionIdle and SessionMax bound browser sessions (defaults 12 h idle, 7 days absolute).
	SessionIdle time.Duration
	SessionMax  time.Duration
	// ForwardAuth holds the route rules of /v1/forward-auth (nil disables the endpoint).
	ForwardAuth *ForwardRules
	// ForwardAuthSecret, when set, must be sent in X-Latchkey-Forward-Secret by gateways not on
	// loopback.
	ForwardAuthSecret string
	// Governance configures rate limits, last-used batching and leak reports.
	Governance Governance
	// StaleIfError is how long, while storage cannot answer, answers built from data read
	// before the outage may still be given (default DefaultStaleIfError). The verifier has its
	// own setting (verify.Options); serve sets both from --stale-if-error.
	StaleIfError time.Duration
	// RequestTimeout bounds each request's work (default DefaultRequestTimeout). It must be
	// shorter than the HTTP server's write timeout: a transaction still open when it passes is
	// rolled back and answered 503, so nothing commits that its client was never told about.
	RequestTimeout time.Duration
	// SecretKey seals SSO client secrets in the database and the browser's SSO attempt cookie;
	// every node of a deployment needs the same one. Without it no client secret can be stored
	// (public clients still work) and attempts are sealed with a key of this process only.
	SecretKey []byte
	// PublicURL is latchkey's external URL (SSO login and callback URLs); default: from each
	// request's scheme and Host.
	PublicURL string
	// Keyring signs access tokens (the token endpoint); nil turns the endpoint off.
	Keyring *Keyring
	// Issuer is the iss and aud of access tokens: PublicURL, or the URL serve listens on.
	Issuer string
	// SSOTimeout bounds each exchange with an identity provider (default sso.DefaultTimeout).
	SSOTimeout time.Duration
	// Webhooks sends webhook test events (the delivery dispatcher); nil: tests answer 503.
	Webhooks WebhookSender
	// WebhookURLCheck validates a webhook subscription's client_url (the webhook client's rules);
	// nil: https only.
	WebhookURLCheck func(raw string) error
	// Email sends notices of expiring tokens and security events (none without a Sender).
	Email EmailConfig
}

// Defaults of Config.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultStaleIfError   = 15 * time.Minute
)

// Server serves latchkey's HTTP interface.
type Server struct {
	cfg     Config
	store   latchkey.Store
	admin   *admin.Service
	verify  *verify.Verifier
	log     *slog.Logger
	format  tokenfmt.Format
	handler http.Handler
	metrics *metrics
	pages   *uiTemplates
	reqSeq  atomic.Uint64
	ready   readiness
	// accounts holds accounts as last read (knownAccount by id), served while storage is down.
	accounts sync.Map
	reqPfx   string
	// patterns lists the registered routes (for the documentation check).
	patterns []string
	// governor runs the governance features (rate limits, last-used batching, sweeps).
	governor *governor
	// federation caches external issuers' key sets (trust policies).
	federation *federation
	// usagePending gathers usage analytics until they are written; usageMetrics count them.
	usagePending *usagePending
	usageMetrics *usageMetrics
	// forms remembers one-time forms already used (see formOnce), and SSO states.
	forms *formOnce
	// ssoClient talks to identity providers; ssoSealer seals SSO attempt cookies.
	ssoClient *sso.Client
	ssoSealer cipher.AEAD
	// node names this process in email notice leases.
	node string
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Format.ServicePrefix == "" {
		cfg.Format = tokenfmt.Default
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 12 * time.Hour
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = 7 * 24 * time.Hour
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.StaleIfError == 0 {
		cfg.StaleIfError = DefaultStaleIfError
	}
	cfg.Email.defaults()
	var pfx [3]byte
	_, _ = rand.Read(pfx[:])
	s := &Server{cfg: cfg, store: cfg.Store, admin: admin.New(cfg.Store, cfg.Format), verify: cfg.Verifier,
		log: cfg.Logger, format: cfg.Format, reqPfx: hex.EncodeToString(pfx[:]), forms: newFormOnce(), node: newNode(), federation: newFederation()}
	s.admin.SecretKey = cfg.SecretKey
	s.admin.WebhookURLCheck = cfg.WebhookURLCheck
	s.ssoClient = sso.New(cfg.SSOTimeout)
	var err error
	if s.ssoSealer, err = newSSOSealer(cfg.SecretKey); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(s)
	if s.verify != nil {
		s.verify.SetHooks(s.recordUse, s.reportReuse)
	}
	if err := s.initGovernance(); err != nil {
		return nil, err
	}
	ui, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	s.pages = ui
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler. Forward-auth skips the general middleware: gateways call
// it for every request they proxy, so it keeps to the verification itself.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; p == ForwardAuthPath || strings.HasPrefix(p, ForwardAuthPath+"/") {
		s.handleForwardAuth(w, r)
		return
	}
	s.handler.ServeHTTP(w, r)
}

// reqState is per-request state shared between the outer middleware and the handlers.
type reqState struct {
	// err is why the request failed with a 5xx, for its log line.
	err       error
	id        string
	ip        netip.Addr
	principal *latchkey.Principal
	start     time.Time
}

type stateKey struct{}

func state(ctx context.Context) *reqState {
	if st, ok := ctx.Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

// statusWriter records the status code for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe is the outermost middleware: request id, client address, body cap, panic recovery,
// the request log line and metrics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqState{
			id:    s.reqPfx + "-" + strconv.FormatUint(s.reqSeq.Add(1), 36),
			start: time.Now(),
		}
		ip, ipErr := s.clientIP(r)
		st.ip = ip
		sw := &statusWriter{ResponseWriter: w}
		sw.Header().Set("X-Request-Id", st.id)
		// The deadline reaches every store call: a transaction open when it passes (or when
		// the client goes away) rolls back instead of committing unseen.
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		r = r.WithContext(context.WithValue(ctx, stateKey{}, st))
		if ipErr != nil {
			// Never fall back to the proxy's own address: IP rules and rate limits would apply
			// to the wrong client.
			s.writeError(sw, r, ipErr)
			s.logRequest(r, sw.status, st)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(sw, r.Body, MaxBodyBytes)
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic", "request_id", st.id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					s.writeError(sw, r, errors.New("panic"))
				}
			}
			s.logRequest(r, sw.status, st)
		}()
		next.ServeHTTP(sw, r)
	})
}

func (s *Server) logRequest(r *http.Request, status int, st *reqState) {
	if status == 0 {
		status = http.StatusOK
	}
	d := time.Since(st.start)
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	s.metrics.observeRequest(route, status, d)
	level := slog.LevelInfo
	switch {
	case status >= 500 && status != http.StatusNotImplemented: // a 501 is a client asking for what latchkey lacks
		level = slog.LevelError
	case quietRoutes[route]:
		level = slog.LevelDebug
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", st.id),
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.String("client_ip", addrString(st.ip)),
		slog.String("principal", st.principal.String()),
	}
	if st.err != nil {
		attrs = append(attrs, slog.String("error", st.err.Error()))
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// quietRoutes are called by gateways and resource servers for every request they serve; their
// lines are logged at debug level (their outcomes are counted in metrics).
var quietRoutes = map[string]bool{"POST /v1/check": true, "POST /oauth2/introspect": true}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.Unmap().String()
}
