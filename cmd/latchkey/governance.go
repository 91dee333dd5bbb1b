package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/latchkey/latchkey/server"
)

// governanceOptions are serve's flags for the governance features: brute-force limits, audit
// summaries, last-used batching, the expiry sweep and leaked-token reports.
type governanceOptions struct {
	githubKeysFile      string
	authFailureBurst    int
	authFailureRefill   time.Duration
	rateLimitDelay      time.Duration
	maxTrackedAddresses int
	failureSummary      time.Duration
	lastUsedFlush       time.Duration
	expirySweep         time.Duration
	expiringWithin      time.Duration
	usageFlush          time.Duration
	usageMinutes        time.Duration
	usageHours          time.Duration
	usageDays           time.Duration
}

func (g *governanceOptions) flags(fl *pflag.FlagSet) {
	fl.StringVar(&g.githubKeysFile, "github-keys-file", "", "GitHub secret-scanning public keys (GitHub's public_keys JSON, {id: PEM} JSON, or PEM blocks) for POST /v1/leaks/github")
	fl.IntVar(&g.authFailureBurst, "auth-failure-burst", 20, "failed authentications a client address may make in a row before it gets 429")
	fl.DurationVar(&g.authFailureRefill, "auth-failure-refill", 6*time.Second, "time after which a rate-limited address regains one attempt")
	fl.DurationVar(&g.rateLimitDelay, "rate-limit-delay", 250*time.Millisecond, "how long a 429 to a rate-limited address is held (0 for none), slowing floods down")
	fl.IntVar(&g.maxTrackedAddresses, "auth-failure-max-addresses", 100_000, "most client addresses the rate limiter remembers")
	fl.DurationVar(&g.failureSummary, "auth-failure-summary-interval", 5*time.Minute, "window over which failed authentications are summarized in the audit log")
	fl.DurationVar(&g.lastUsedFlush, "last-used-flush-interval", time.Minute, "how often buffered last-used times are written")
	fl.DurationVar(&g.expirySweep, "expiry-sweep-interval", time.Minute, "how often tokens that expired are looked for and audited")
	fl.DurationVar(&g.expiringWithin, "expiring-within", 7*24*time.Hour, "horizon of the latchkey_tokens_expiring gauge")
	fl.DurationVar(&g.usageFlush, "usage-flush-interval", 10*time.Second, "how often usage analytics gathered in memory are written (one transaction each time, whatever the request rate)")
	fl.DurationVar(&g.usageMinutes, "usage-retention-minutes", 48*time.Hour, "how long per-minute usage analytics are kept")
	fl.DurationVar(&g.usageHours, "usage-retention-hours", 35*24*time.Hour, "how long per-hour usage analytics are kept")
	fl.DurationVar(&g.usageDays, "usage-retention-days", 400*24*time.Hour, "how long per-day usage analytics are kept")
}

func (g *governanceOptions) apply(cfg *server.Config) error {
	gov := server.Governance{
		AuthFailureBurst:       g.authFailureBurst,
		AuthFailureRefill:      g.authFailureRefill,
		RateLimitDelay:         g.rateLimitDelay,
		MaxTrackedAddresses:    g.maxTrackedAddresses,
		FailureSummaryInterval: g.failureSummary,
		LastUsedFlushInterval:  g.lastUsedFlush,
		ExpirySweepInterval:    g.expirySweep,
		ExpiringWithin:         g.expiringWithin,
		UsageFlushInterval:     g.usageFlush,
		UsageMinuteRetention:   g.usageMinutes,
		UsageHourRetention:     g.usageHours,
		UsageDayRetention:      g.usageDays,
	}
	for name, d := range map[string]time.Duration{"--auth-failure-refill": g.authFailureRefill,
		"--auth-failure-summary-interval": g.failureSummary, "--last-used-flush-interval": g.lastUsedFlush,
		"--expiry-sweep-interval": g.expirySweep, "--expiring-within": g.expiringWithin,
		"--usage-flush-interval": g.usageFlush, "--usage-retention-minutes": g.usageMinutes, "--usage-retention-hours": g.usageHours,
		"--usage-retention-days": g.usageDays} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive", name)
		}
	}
	if g.rateLimitDelay == 0 {
		gov.RateLimitDelay = -1 // none
	}
	if g.rateLimitDelay < 0 || g.rateLimitDelay > time.Minute {
		return fmt.Errorf("--rate-limit-delay must be between 0 and 1m")
	}
	if g.authFailureBurst < 1 || g.maxTrackedAddresses < 1 {
		return fmt.Errorf("--auth-failure-burst and --auth-failure-max-addresses must be at least 1")
	}
	if g.githubKeysFile != "" {
		keys, err := server.LoadGitHubKeys(g.githubKeysFile)
		if err != nil {
			return err
		}
		gov.GitHubKeys = keys
	}
	cfg.Governance = gov
	return nil
}
