package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/email"
	"github.com/latchkey/latchkey/postgres"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/sso"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
	"github.com/latchkey/latchkey/webhook"
)

type serveOptions struct {
	db, addr, logFormat, logLevel string
	servicePrefix, patPrefix      string
	trustedProxies                []string
	secureCookies                 bool
	cacheTTL                      time.Duration
	adminEmail, account           string
	forwardRules, forwardSecret   string
	grpcAddr                      string
	requestTimeout                time.Duration
	shutdownTimeout               time.Duration
	staleIfError                  time.Duration
	sqliteBusyTimeout             time.Duration
	pgStatementTimeout            time.Duration
	pgLockTimeout                 time.Duration
	pgIdleInTxTimeout             time.Duration
	gcPercent                     int
	governance                    governanceOptions
	secretKey, publicURL, smtpURL string
	ssoTimeout                    time.Duration
	webhooks                      webhookOptions
}

// webhookOptions configure outgoing webhooks.
type webhookOptions struct {
	allowHTTPLoopback, allowPrivate bool
	workers                         int
}

func (o *webhookOptions) flags(fl *pflag.FlagSet) {
	fl.BoolVar(&o.allowHTTPLoopback, "webhooks-allow-http-loopback", false, "for development: webhook endpoints may use plain http, and then only to loopback addresses (127.0.0.1, ::1, localhost)")
	fl.BoolVar(&o.allowPrivate, "webhooks-allow-private", false, "webhook endpoints may be at private (RFC 1918, fc00::/7), loopback and CGNAT addresses, for receivers inside your network; link-local and cloud metadata addresses stay refused")
	fl.IntVar(&o.workers, "webhook-workers", 64, "how many webhook delivery attempts this node makes at once")
}

func addPrefixFlags(fl *pflag.FlagSet, service, pat *string) {
	fl.StringVar(service, "service-token-prefix", tokenfmt.Default.ServicePrefix, "prefix of service token strings")
	fl.StringVar(pat, "pat-prefix", tokenfmt.Default.PATPrefix, "prefix of personal access token strings")
}

func serveCmd(e *env) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the latchkey server (admin API, web UI, verification API)",
		Long: `serve runs latchkey: the dbt Cloud-compatible admin API under /api/, the web UI, the verification
endpoints (/v1/check, /v1/forward-auth, /oauth2/introspect), /healthz, /readyz and /metrics.
With --grpc-addr it also answers Envoy's ext_authz over gRPC (see docs/envoy-ext-authz.yaml).

With no --db it keeps everything in ./latchkey.db (SQLite). On an empty database it creates an
enterprise account and an admin, and prints the sign-in email, a generated password and a one-time
admin token. Stop it with Ctrl-C (SIGINT) or SIGTERM: it finishes in-flight requests first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), e, o) },
	}
	fl := cmd.Flags()
	fl.StringVar(&o.db, "db", "./latchkey.db", "SQLite file or postgres:// URL")
	fl.StringVar(&o.addr, "addr", "127.0.0.1:8420", "address to listen on")
	fl.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringSliceVar(&o.trustedProxies, "trusted-proxies", nil, "CIDRs of proxies whose X-Forwarded-For is trusted (comma-separated)")
	fl.BoolVar(&o.secureCookies, "secure-cookies", false, "always mark session cookies Secure (they are anyway when a request arrives over HTTPS, or from a trusted proxy sending X-Forwarded-Proto: https)")
	fl.DurationVar(&o.cacheTTL, "cache-ttl", 10*time.Second, "longest time a cached token is trusted without hearing of a change")
	fl.StringVar(&o.adminEmail, "admin-email", "admin@latchkey.local", "email of the admin created on an empty database")
	fl.StringVar(&o.account, "account", "Default", "name of the account created on an empty database")
	fl.StringVar(&o.forwardRules, "forward-auth-rules", "", "JSON or YAML file of /v1/forward-auth route rules")
	fl.StringVar(&o.forwardSecret, "forward-auth-secret", "", "shared secret gateways send in X-Latchkey-Forward-Secret (required for non-loopback gateways)")
	fl.StringVar(&o.grpcAddr, "grpc-addr", "", "address to serve Envoy's ext_authz over gRPC on (envoy.service.auth.v3.Authorization, with the --forward-auth-rules; off when empty)")
	fl.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long to wait for in-flight requests on shutdown")
	fl.DurationVar(&o.requestTimeout, "request-timeout", server.DefaultRequestTimeout, "how long one request may work; a change still uncommitted then is rolled back and answered 503 (at most 50s, under the 60s write timeout)")
	fl.DurationVar(&o.staleIfError, "stale-if-error", server.DefaultStaleIfError, "while the database cannot answer, how long past its --cache-ttl a cached token verification (and whoami) may still be answered; changes heard before the outage, expiry and revocation still apply; 0 turns it off")
	fl.DurationVar(&o.sqliteBusyTimeout, "sqlite-busy-timeout", sqlite.DefaultBusyTimeout, "SQLite only: how long a write waits for a lock another process holds before it is answered 503")
	fl.DurationVar(&o.pgStatementTimeout, "pg-statement-timeout", postgres.DefaultStatementTimeout, "PostgreSQL only: the longest one statement may run before it is cancelled and its request answered 503 (statement_timeout; a statement_timeout in the --db URL wins)")
	fl.DurationVar(&o.pgLockTimeout, "pg-lock-timeout", postgres.DefaultLockTimeout, "PostgreSQL only: the longest a statement waits for a lock another session holds (lock_timeout; the URL's wins)")
	fl.DurationVar(&o.pgIdleInTxTimeout, "pg-idle-in-transaction-timeout", postgres.DefaultIdleInTxTimeout, "PostgreSQL only: a session idle inside a transaction this long (a frozen or cut-off node) is ended, freeing its locks (idle_in_transaction_session_timeout; the URL's wins)")
	fl.IntVar(&o.gcPercent, "gc-percent", 400, "the Go garbage collector's target (as GOGC, which wins when set): the heap may grow to (1 + N/100) times what is live; latchkey's live heap is mostly the token cache and every request allocates, so collecting less often buys CPU with memory; -1 turns collection off (then set GOMEMLIMIT)")
	fl.StringVar(&o.secretKey, "secret-key", "", "deployment secret (at least 32 characters, the same on every node; prefer LATCHKEY_SECRET_KEY to the command line) that seals SSO client secrets, webhook signing secrets and the keys that sign short-lived access tokens in the database, and SSO sign-in cookies; without it no SSO client secret can be stored, webhook secrets are stored unsealed and the token endpoint (/oauth2/token) is off")
	fl.StringVar(&o.publicURL, "public-url", "", "latchkey's external URL, e.g. https://latchkey.example.com, for SSO sign-in and callback URLs (default: from each request's Host, and X-Forwarded-Proto from --trusted-proxies) and the issuer of access tokens (default: the URL serve listens on; set it on every node)")
	fl.StringVar(&o.smtpURL, "smtp-url", "", "SMTP server for email notices of expiring tokens and security alerts: smtp://user:pass@host:587?from=latchkey@example.com (STARTTLS, required unless the host is loopback), smtps://… (TLS) or smtp+insecure://127.0.0.1:25?from=… (loopback only); prefer LATCHKEY_SMTP_URL to the command line; no email without it")
	fl.DurationVar(&o.ssoTimeout, "sso-timeout", sso.DefaultTimeout, "how long a sign-in waits for an identity provider (discovery, token, keys, userinfo) before saying it is unavailable")
	addPrefixFlags(fl, &o.servicePrefix, &o.patPrefix)
	o.governance.flags(fl)
	o.webhooks.flags(fl)
	return cmd
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := latchkey.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

func serve(ctx context.Context, e *env, o serveOptions) error {
	log, err := newLogger(e.stderr, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	format := tokenfmt.Format{ServicePrefix: o.servicePrefix, PATPrefix: o.patPrefix}
	if err := format.Validate(); err != nil {
		return err
	}
	if o.grpcAddr != "" && o.forwardRules == "" {
		return errors.New("--grpc-addr serves Envoy's ext_authz with the forward-auth rules: give --forward-auth-rules too")
	}
	if o.requestTimeout <= 0 || o.requestTimeout > 50*time.Second {
		return fmt.Errorf("--request-timeout %s: want more than 0 and at most 50s (the server's write timeout is 60s)", o.requestTimeout)
	}
	if o.staleIfError < 0 {
		return fmt.Errorf("--stale-if-error %s: want 0 (off) or more", o.staleIfError)
	}
	if o.sqliteBusyTimeout <= 0 || o.sqliteBusyTimeout > o.requestTimeout {
		return fmt.Errorf("--sqlite-busy-timeout %s: want more than 0 and at most --request-timeout (%s)", o.sqliteBusyTimeout, o.requestTimeout)
	}
	// A statement or a lock wait must end within its request; an idle transaction has no request.
	for _, d := range []struct {
		flag   string
		v, max time.Duration
	}{{"--pg-statement-timeout", o.pgStatementTimeout, o.requestTimeout}, {"--pg-lock-timeout", o.pgLockTimeout, o.requestTimeout},
		{"--pg-idle-in-transaction-timeout", o.pgIdleInTxTimeout, math.MaxInt64}} {
		if d.v < time.Millisecond || d.v > d.max {
			return fmt.Errorf("%s %s: want at least 1ms and, for a statement or a lock wait, at most --request-timeout (%s)", d.flag, d.v, o.requestTimeout)
		}
	}
	if o.gcPercent < -1 {
		return fmt.Errorf("--gc-percent %d: want -1 (off) or a percentage", o.gcPercent)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(o.gcPercent)
	}
	proxies, err := parsePrefixes(o.trustedProxies)
	if err != nil {
		return err
	}
	start := time.Now()
	store, err := openStoreLogged(ctx, o.db, log, storeOptions{sqlite: sqlite.Options{BusyTimeout: o.sqliteBusyTimeout},
		postgres: postgres.Options{StatementTimeout: o.pgStatementTimeout, LockTimeout: o.pgLockTimeout, IdleInTxTimeout: o.pgIdleInTxTimeout}})
	if err != nil {
		return err
	}
	defer store.Close()

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	base := "http://" + ln.Addr().String()

	accounts, _, err := store.FindAccounts(ctx, latchkey.AccountFilter{Limit: 1})
	if err != nil {
		ln.Close()
		return err
	}
	if len(accounts) == 0 {
		// Nodes started together on an empty shared database take turns; the first creates the
		// account and the others, looking again, find it.
		err := exclusive(ctx, store, "bootstrap", func(ctx context.Context) error {
			accounts, _, err := store.FindAccounts(ctx, latchkey.AccountFilter{Limit: 1})
			if err != nil || len(accounts) > 0 {
				return err
			}
			pw := randomPassword()
			res, err := bootstrap(ctx, store, format, admin.Bootstrap{Account: o.account, Plan: latchkey.PlanEnterprise, Email: o.adminEmail, Password: pw})
			if err != nil {
				return fmt.Errorf("bootstrap: %w", err)
			}
			fmt.Fprintf(e.stdout, `
latchkey created account %q (id %d) and its first admin. These are shown once:

  Sign in at  %s/login
  Email       %s
  Password    %s
  Admin token %s

`, res.Account.Name, res.Account.ID, base, res.User.Email, pw, res.PAT)
			return nil
		})
		if err != nil {
			ln.Close()
			return err
		}
	}

	stale := o.staleIfError
	if stale == 0 {
		stale = -1 // off, for both the verifier and the server (0 means their default)
	}
	vopt := verify.Options{Format: format, TTL: o.cacheTTL, StaleIfError: stale, CountUsage: true}
	// Short-lived access tokens: their signing keys are sealed with the secret key, so the token
	// endpoint works only with one (docs/short-lived.md).
	issuer := strings.TrimSuffix(o.publicURL, "/")
	if issuer == "" {
		issuer = base
	}
	var keyring *server.Keyring
	if len(o.secretKey) >= 32 {
		keyring = server.NewKeyring(admin.New(store, format), []byte(o.secretKey), log, 0)
		if err := keyring.Ensure(ctx); err != nil {
			log.Warn("signing keys could not be loaded; the token endpoint answers errors until they are (retried every minute)", "error", err.Error())
		}
		vopt.AccessTokens = &verify.AccessTokens{Issuer: issuer, Audience: issuer, Key: keyring.Key}
	}
	if isPostgres(o.db) {
		// Nodes on one database share rate-limit counts (docs/limits.md).
		node := rateNode()
		vopt.RateSync = func(ctx context.Context, counts []latchkey.RateCount, pruneBefore int64) ([]int64, error) {
			return store.SyncRateCounts(ctx, node, counts, pruneBefore)
		}
	}
	v := verify.New(store, vopt)
	defer store.Subscribe(v.Invalidate)()
	// The verifier runs until requests have stopped (see the end), so that its last credit sync
	// writes what the last requests spent.
	verifyCtx, stopVerify := context.WithCancel(context.WithoutCancel(ctx))
	defer stopVerify()
	verifyDone := make(chan struct{})
	go func() { v.Run(verifyCtx); close(verifyDone) }()
	cfg := server.Config{Store: store, Verifier: v, Logger: log, Format: format, TrustedProxies: proxies,
		Version: buildVersion(), SecureCookies: o.secureCookies, ForwardAuthSecret: o.forwardSecret, RequestTimeout: o.requestTimeout,
		StaleIfError: stale, SecretKey: []byte(o.secretKey), PublicURL: o.publicURL, SSOTimeout: o.ssoTimeout,
		Keyring: keyring, Issuer: issuer}
	if o.secretKey != "" && len(o.secretKey) < 32 {
		ln.Close()
		return fmt.Errorf("--secret-key must be at least 32 characters (e.g. openssl rand -base64 32)")
	}
	if o.publicURL != "" {
		if u, err := url.Parse(o.publicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
			ln.Close()
			return fmt.Errorf("--public-url must be an absolute http(s) URL such as https://latchkey.example.com")
		}
	}
	// Webhooks: the dispatcher opens signing secrets as the admin layer sealed them.
	hookClient := webhook.NewClient(webhook.Options{AllowHTTPLoopback: o.webhooks.allowHTTPLoopback, AllowPrivate: o.webhooks.allowPrivate})
	sealer := admin.New(store, format)
	sealer.SecretKey = []byte(o.secretKey)
	hooks := webhook.NewDispatcher(webhook.DispatcherConfig{Store: store, Client: hookClient, Open: sealer.OpenWebhookSecret,
		Format: format, Logger: log, Workers: o.webhooks.workers})
	cfg.Webhooks, cfg.WebhookURLCheck = hooks, hookClient.CheckURL
	if o.smtpURL != "" {
		// email.New's errors never hold the password.
		if cfg.Email.Sender, err = email.New(o.smtpURL, email.Options{}); err != nil {
			ln.Close()
			return fmt.Errorf("--smtp-url: %w", err)
		}
	}
	if err := o.governance.apply(&cfg); err != nil {
		ln.Close()
		return err
	}
	if o.forwardRules != "" {
		if cfg.ForwardAuth, err = server.LoadForwardRules(o.forwardRules); err != nil {
			ln.Close()
			return err
		}
	}
	srv, err := server.New(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	srv.Registerer().MustRegister(hooks.Collectors()...)
	// Envoy's ext_authz over gRPC answers with the same rules and verifier.
	var gs *grpc.Server
	var gln net.Listener
	if o.grpcAddr != "" {
		if gln, err = net.Listen("tcp", o.grpcAddr); err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s (--grpc-addr): %w", o.grpcAddr, err)
		}
		// A CheckRequest carries the request's headers, which Envoy caps at 60 KiB by default; the
		// same 1 MiB as an HTTP body is plenty.
		gs = grpc.NewServer(grpc.MaxRecvMsgSize(1 << 20))
		authv3.RegisterAuthorizationServer(gs, srv.ExtAuthz())
		fmt.Fprintf(e.stdout, "latchkey ext_authz (gRPC) listening on %s\n", gln.Addr())
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(e.stdout, "latchkey %s serving on %s (ready in %s); sign in at %s/login\n", buildVersion(), base,
		time.Since(start).Round(time.Millisecond), base)
	log.Info("serving", "addr", ln.Addr().String(), "db", redactDSN(o.db))
	if cfg.Email.Sender != nil {
		log.Info("sending email notices", "smtp", cfg.Email.Sender.String())
	}
	if gs != nil {
		log.Info("serving ext_authz over gRPC", "addr", gln.Addr().String())
	}

	// Background work runs until the HTTP server has stopped, then flushes what it buffered.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(runCtx) }()
	if keyring != nil {
		go keyring.Run(runCtx)
	}
	hooksDone := make(chan error, 1)
	go func() { hooksDone <- hooks.Run(runCtx) }()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var gerrc chan error // nil without --grpc-addr: never ready
	if gs != nil {
		gerrc = make(chan error, 1)
		go func() { gerrc <- gs.Serve(gln) }()
	}
	select {
	case err := <-errc:
		if gs != nil {
			gs.Stop()
		}
		return err
	case err := <-gerrc:
		hs.Close()
		return fmt.Errorf("ext_authz gRPC on %s: %w", gln.Addr(), err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	grpcStopped := make(chan struct{})
	if gs != nil {
		// GracefulStop waits for calls in flight without a deadline: Stop ends them at the
		// shutdown timeout.
		go func() { gs.GracefulStop(); close(grpcStopped) }()
	}
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "error", err.Error())
	}
	if gs != nil {
		select {
		case <-grpcStopped:
		case <-sctx.Done():
			log.Warn("shutdown", "error", "ext_authz gRPC calls still in flight at the shutdown timeout")
			gs.Stop()
			<-grpcStopped
		}
	}
	stopRun()
	<-hooksDone
	if err := <-runDone; err != nil {
		log.Warn("flush on shutdown", "error", err.Error())
	}
	stopVerify()
	<-verifyDone
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// redactDSN hides a PostgreSQL password (in the user info or a password parameter) in logs.
func redactDSN(dsn string) string {
	if !isPostgres(dsn) {
		return dsn
	}
	return postgres.Redact(dsn)
}

func randomPassword() string {
	tok, _, err := tokenfmt.Default.Generate(latchkey.KindPAT)
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	n := len(tokenfmt.Default.PATPrefix) + tokenfmt.UIDLen
	return tok[n : n+20]
}

func migrateCmd(e *env) *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit",
		Long:  "migrate brings the database schema up to date. serve does the same at start; run migrate on its own before rolling out a new version to several nodes.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openStore(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer s.Close()
			fmt.Fprintln(e.stdout, "database is up to date:", redactDSN(db))
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "./latchkey.db", "SQLite file or postgres:// URL")
	return cmd
}
