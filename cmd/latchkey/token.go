package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

// remote holds the flags of commands that talk to a running server.
type remote struct {
	url, token string
	account    int64
	json       bool
}

func (r *remote) flags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&r.url, "url", "http://127.0.0.1:8420", "latchkey server URL (LATCHKEY_URL)")
	fl.StringVar(&r.token, "token", "", "token to authenticate with (LATCHKEY_TOKEN)")
	fl.Int64Var(&r.account, "account", 0, "account id (default: the token's account)")
	fl.BoolVar(&r.json, "json", false, "print JSON instead of text")
}

func (r *remote) client() (*client.Client, error) {
	if r.token == "" {
		return nil, fmt.Errorf("no token: set LATCHKEY_TOKEN or pass --token")
	}
	c := client.New(r.url, r.token)
	c.UserAgent = "latchkey-cli/" + buildVersion()
	return c, nil
}

// connect returns a client and the account to act in.
func (r *remote) connect(ctx context.Context) (*client.Client, int64, error) {
	c, err := r.client()
	if err != nil {
		return nil, 0, err
	}
	acct, err := r.accountID(ctx, c)
	return c, acct, err
}

// accountID returns --account or the token's own account.
func (r *remote) accountID(ctx context.Context, c *client.Client) (int64, error) {
	if r.account != 0 {
		return r.account, nil
	}
	w, err := c.Whoami(ctx)
	if err != nil {
		return 0, err
	}
	return w.AccountID, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func tokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list, rotate and delete service tokens on a running server",
		Long: `token manages service tokens through the admin API of a running latchkey.
Set LATCHKEY_URL (default http://127.0.0.1:8420) and LATCHKEY_TOKEN (a token with
service_tokens:write, such as the admin token printed by serve) first.`,
	}
	cmd.AddCommand(tokenCreateCmd(e), tokenListCmd(e), tokenRotateCmd(e), tokenDeleteCmd(e), tokenLimitsCmd(e), tokenCreditsCmd(e), tokenUsageCmd(e))
	return cmd
}

// parseGrant reads SET:all or SET:project=ID, optionally followed by :envs=a,b.
func parseGrant(s string) (apitype.Grant, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || parts[0] == "" {
		return apitype.Grant{}, fmt.Errorf("--grant %q: want SET:all or SET:project=ID (optionally :envs=production,staging)", s)
	}
	g := apitype.Grant{PermissionSet: parts[0]}
	switch scope := parts[1]; {
	case scope == "all":
		g.AllProjects = true
	case strings.HasPrefix(scope, "project="):
		id, err := strconv.ParseInt(strings.TrimPrefix(scope, "project="), 10, 64)
		if err != nil || id <= 0 {
			return g, fmt.Errorf("--grant %q: project id must be a positive integer", s)
		}
		g.ProjectID = &id
	default:
		return g, fmt.Errorf("--grant %q: scope must be all or project=ID", s)
	}
	for _, extra := range parts[2:] {
		envs, ok := strings.CutPrefix(extra, "envs=")
		if !ok || envs == "" {
			return g, fmt.Errorf("--grant %q: unknown part %q (want envs=production,...)", s, extra)
		}
		g.WritableEnvironmentCategories = strings.Split(envs, ",")
	}
	return g, nil
}

func summarize(gs []apitype.Grant) string {
	var parts []string
	for _, g := range gs {
		where := "all projects"
		if g.ProjectID != nil {
			where = "project " + strconv.FormatInt(*g.ProjectID, 10)
		}
		s := g.PermissionSet + " on " + where
		if len(g.WritableEnvironmentCategories) > 0 {
			s += " (writes in " + strings.Join(g.WritableEnvironmentCategories, ", ") + ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "no permissions"
	}
	return strings.Join(parts, "; ")
}

func tokenCreateCmd(e *env) *cobra.Command {
	var r remote
	var name string
	var grants, cidrs, limits []string
	var expiresIn time.Duration
	var quiet bool
	var credits int64
	var refill string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a service token",
		Long: `create makes a service token with the given grants and prints the token string once.

  latchkey token create --name ci --grant job_admin:project=3 --grant metadata_only:all
  latchkey token create --name deploy --grant developer:project=3:envs=production --expires-in 720h
  latchkey token create --name etl --grant job_runner:project=3 --rate-limit api=100/1s --rate-limit daily=50000/24h
  latchkey token create --name metered --grant metadata_only:all --credits 10000 --refill 10000/monthly:1

--quiet prints only the token string, for scripts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return fmt.Errorf("--name is required")
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			req := client.CreateServiceTokenRequest{Name: name, PermissionGrants: []apitype.Grant{}, AllowedCIDRs: cidrs}
			for _, s := range grants {
				g, err := parseGrant(s)
				if err != nil {
					return err
				}
				req.PermissionGrants = append(req.PermissionGrants, g)
			}
			if req.RateLimits, err = parseRateLimits(limits); err != nil {
				return err
			}
			if cmd.Flags().Changed("credits") || refill != "" {
				if req.Credits, err = parseCredits(credits, cmd.Flags().Changed("credits"), refill); err != nil {
					return err
				}
			}
			if expiresIn > 0 {
				req.ExpiresAt = time.Now().Add(expiresIn).UTC().Format(time.RFC3339)
			}
			ctx := cmd.Context()
			acct, err := r.accountID(ctx, c)
			if err != nil {
				return err
			}
			t, err := c.CreateServiceToken(ctx, acct, req)
			if err != nil {
				return err
			}
			switch {
			case r.json:
				return printJSON(e.stdout, t)
			case quiet:
				fmt.Fprintln(e.stdout, t.TokenString)
			default:
				fmt.Fprintf(e.stdout, "Created service token %d %q (%s)\nPermissions: %s\n", t.ID, t.Name, t.Display, summarize(t.PermissionGrants))
				if t.ExpiresAt != nil {
					fmt.Fprintf(e.stdout, "Expires: %s\n", *t.ExpiresAt)
				}
				fmt.Fprintf(e.stdout, "\nToken (shown once; store it now):\n%s\n", t.TokenString)
			}
			return nil
		},
	}
	r.flags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "token name")
	fl.StringArrayVar(&grants, "grant", nil, "permission grant SET:all or SET:project=ID[:envs=a,b] (repeatable)")
	fl.StringSliceVar(&cidrs, "allowed-cidrs", nil, "CIDRs the token may be used from")
	fl.DurationVar(&expiresIn, "expires-in", 0, "lifetime, e.g. 720h (default: no expiry, or the account's maximum)")
	fl.StringArrayVar(&limits, "rate-limit", nil, "rate limit NAME=LIMIT/WINDOW, e.g. api=100/1s or daily=50000/24h (repeatable; see docs/limits.md)")
	fl.Int64Var(&credits, "credits", 0, "credits: uses the token has before it is refused with usage_exceeded")
	fl.StringVar(&refill, "refill", "", "refill the credits to AMOUNT/daily or AMOUNT/monthly:DAY, e.g. 10000/monthly:1")
	fl.BoolVarP(&quiet, "quiet", "q", false, "print only the token string")
	return cmd
}

// parseCredits reads --credits and --refill; without --credits the balance starts at the
// refill's amount.
func parseCredits(remaining int64, haveRemaining bool, refill string) (*apitype.Credits, error) {
	c := &apitype.Credits{Remaining: remaining}
	if refill == "" {
		return c, nil
	}
	amount, when, ok := strings.Cut(refill, "/")
	n, err := strconv.ParseInt(amount, 10, 64)
	if !ok || err != nil {
		return nil, fmt.Errorf("--refill %q: want AMOUNT/daily or AMOUNT/monthly:DAY, e.g. 10000/monthly:1", refill)
	}
	r := &apitype.Refill{Amount: n, Interval: when}
	if interval, day, ok := strings.Cut(when, ":"); ok {
		if r.Day, err = strconv.Atoi(day); err != nil {
			return nil, fmt.Errorf("--refill %q: the day %q is not a number", refill, day)
		}
		r.Interval = interval
	}
	c.Refill = r
	if !haveRemaining {
		c.Remaining = n
	}
	return c, nil
}

func tokenCreditsCmd(e *env) *cobra.Command {
	var r remote
	var remaining int64
	var refill string
	var none bool
	cmd := &cobra.Command{
		Use:   "credits ID",
		Short: "Set or remove a service token's credits",
		Long: `credits sets a service token's credits: the uses it has left (--remaining) and, with --refill,
the amount they are reset to every day or month. --none removes them (unlimited use). The token
and its rotated successors share the balance.

  latchkey token credits 7 --remaining 5000
  latchkey token credits 7 --refill 10000/monthly:1      # starts at 10000
  latchkey token credits 7 --remaining 0 --refill 500/daily
  latchkey token credits 7 --none`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := tokenID(args)
			if err != nil {
				return err
			}
			set := cmd.Flags().Changed("remaining") || refill != ""
			if none == set {
				return fmt.Errorf("give --remaining and/or --refill, or --none")
			}
			var c *apitype.Credits
			if set {
				if c, err = parseCredits(remaining, cmd.Flags().Changed("remaining"), refill); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			cl, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			t, err := cl.SetServiceTokenCredits(ctx, acct, id, c)
			if err != nil {
				return err
			}
			if r.json {
				return printJSON(e.stdout, t)
			}
			switch c := t.Credits; {
			case c == nil:
				fmt.Fprintf(e.stdout, "Service token %d %q has no credits (unlimited use)\n", t.ID, t.Name)
			case c.Refill == nil:
				fmt.Fprintf(e.stdout, "Service token %d %q: %d credits\n", t.ID, t.Name, c.Remaining)
			default:
				when := c.Refill.Interval
				if c.Refill.Day != 0 {
					when += fmt.Sprintf(" on day %d", c.Refill.Day)
				}
				fmt.Fprintf(e.stdout, "Service token %d %q: %d credits, refilled to %d %s\n", t.ID, t.Name, c.Remaining, c.Refill.Amount, when)
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().Int64Var(&remaining, "remaining", 0, "the uses left")
	cmd.Flags().StringVar(&refill, "refill", "", "AMOUNT/daily or AMOUNT/monthly:DAY")
	cmd.Flags().BoolVar(&none, "none", false, "remove the credits")
	return cmd
}

func tokenUsageCmd(e *env) *cobra.Command {
	var r remote
	var since time.Duration
	var granularity string
	cmd := &cobra.Command{
		Use:   "usage ID",
		Short: "Show how often a service token was verified, by outcome, and from where",
		Long: `usage shows a service token's verifications over the last --since (default 24h) by outcome
(ok, forbidden, rate_limited, usage_exceeded, ip_denied, expired, revoked), one line per minute,
hour or day that has any, and the last client addresses it was used from. Counts reach storage
within about ten seconds (serve's --usage-flush-interval).

  latchkey token usage 7
  latchkey token usage 7 --since 720h --granularity day
  latchkey token usage 7 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := tokenID(args)
			if err != nil {
				return err
			}
			if since <= 0 {
				return fmt.Errorf("--since must be positive")
			}
			ctx := cmd.Context()
			cl, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			now := time.Now()
			u, err := cl.ServiceTokenUsage(ctx, acct, id, now.Add(-since), now, granularity)
			if err != nil {
				return err
			}
			if r.json {
				return printJSON(e.stdout, u)
			}
			line := func(label string, c apitype.UsageCounts) {
				fmt.Fprintf(e.stdout, "%-22s %8d  ok %d  forbidden %d  rate_limited %d  usage_exceeded %d  ip_denied %d  expired %d  revoked %d\n",
					label, c.Total, c.OK, c.Forbidden, c.RateLimited, c.UsageExceeded, c.IPDenied, c.Expired, c.Revoked)
			}
			fmt.Fprintf(e.stdout, "Service token %d, %s to %s, per %s\n", u.TokenID, u.From, u.To, u.Granularity)
			for _, b := range u.Buckets {
				if b.Total > 0 {
					line(b.Start, b.UsageCounts)
				}
			}
			line("total", u.Totals)
			if len(u.Addresses) == 0 {
				fmt.Fprintln(e.stdout, "Not used from any address yet.")
			}
			for _, a := range u.Addresses {
				fmt.Fprintf(e.stdout, "address %s  first seen %s  last seen %s\n", a.Address, a.FirstSeen, a.LastSeen)
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().DurationVar(&since, "since", 24*time.Hour, "how far back to look (at most 400 days)")
	cmd.Flags().StringVar(&granularity, "granularity", "", "minute, hour or day (default: minutes up to 6h, hours up to 14 days, days beyond)")
	return cmd
}

// parseRateLimits reads --rate-limit values: NAME=LIMIT/WINDOW with WINDOW a Go duration of
// whole seconds. The server checks names and bounds.
func parseRateLimits(vs []string) ([]apitype.RateLimit, error) {
	var out []apitype.RateLimit
	for _, v := range vs {
		name, rest, ok1 := strings.Cut(v, "=")
		n, window, ok2 := strings.Cut(rest, "/")
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("--rate-limit %q: want NAME=LIMIT/WINDOW, e.g. api=100/1s", v)
		}
		limit, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--rate-limit %q: %q is not a whole number", v, n)
		}
		d, err := time.ParseDuration(window)
		if err != nil || d%time.Second != 0 || d <= 0 {
			return nil, fmt.Errorf("--rate-limit %q: the window %q must be a whole number of seconds such as 1s, 1m or 24h", v, window)
		}
		out = append(out, apitype.RateLimit{Name: name, Limit: limit, DurationSeconds: int64(d / time.Second)})
	}
	return out, nil
}

func tokenLimitsCmd(e *env) *cobra.Command {
	var r remote
	var limits []string
	var none bool
	cmd := &cobra.Command{
		Use:   "limits ID",
		Short: "Set a service token's rate limits",
		Long: `limits replaces a service token's rate limits with the --rate-limit values given, or removes
them all with --none. What was counted in the current window is kept for a limit whose name and
window stay the same.

  latchkey token limits 7 --rate-limit api=100/1s --rate-limit daily=50000/24h
  latchkey token limits 7 --none`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := tokenID(args)
			if err != nil {
				return err
			}
			if none == (len(limits) > 0) {
				return fmt.Errorf("give --rate-limit (repeatable) or --none")
			}
			ls, err := parseRateLimits(limits)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			t, err := c.SetServiceTokenRateLimits(ctx, acct, id, ls)
			if err != nil {
				return err
			}
			if r.json {
				return printJSON(e.stdout, t)
			}
			if len(t.RateLimits) == 0 {
				fmt.Fprintf(e.stdout, "Service token %d %q has no rate limits\n", t.ID, t.Name)
				return nil
			}
			fmt.Fprintf(e.stdout, "Service token %d %q rate limits:\n", t.ID, t.Name)
			for _, l := range t.RateLimits {
				fmt.Fprintf(e.stdout, "  %s: %d per %s\n", l.Name, l.Limit, time.Duration(l.DurationSeconds)*time.Second)
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().StringArrayVar(&limits, "rate-limit", nil, "rate limit NAME=LIMIT/WINDOW, e.g. api=100/1s (repeatable)")
	cmd.Flags().BoolVar(&none, "none", false, "remove every rate limit")
	return cmd
}

func tokenListCmd(e *env) *cobra.Command {
	var r remote
	var state string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List service tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			var all []apitype.Token
			for offset := 0; ; {
				page, total, err := c.ServiceTokens(ctx, acct, client.ListOptions{Offset: offset, State: state})
				if err != nil {
					return err
				}
				all = append(all, page...)
				offset += len(page)
				if len(page) == 0 || offset >= total {
					break
				}
			}
			if r.json {
				return printJSON(e.stdout, all)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tTOKEN\tSTATE\tCREATED\tLAST USED\tPERMISSIONS")
			for _, t := range all {
				last := "never"
				if t.LastUsed != nil {
					last = *t.LastUsed
				}
				st := "active"
				if t.State == 2 {
					st = "deleted"
				}
				disp := t.Display
				if t.Legacy {
					disp += " (legacy format – rotate)"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, disp, st, t.CreatedAt, last, summarize(t.PermissionGrants))
			}
			return tw.Flush()
		},
	}
	r.flags(cmd)
	cmd.Flags().StringVar(&state, "state", "", "1 (active, default), 2 (deleted) or all")
	return cmd
}

func tokenID(args []string) (int64, error) {
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("token id %q is not a positive integer", args[0])
	}
	return id, nil
}

func tokenRotateCmd(e *env) *cobra.Command {
	var r remote
	var grace time.Duration
	var quiet bool
	cmd := &cobra.Command{
		Use:   "rotate ID",
		Short: "Replace a service token with a new one; the old one keeps working for --grace",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := tokenID(args)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			var t *apitype.Token
			if cmd.Flags().Changed("grace") {
				t, err = c.RotateServiceToken(ctx, acct, id, grace)
			} else {
				t, err = c.RotateServiceTokenDefault(ctx, acct, id)
			}
			if err != nil {
				return err
			}
			until := "keeps working for its grace period"
			if old, err := c.ServiceToken(ctx, acct, id); err == nil {
				switch {
				case old.State != 1:
					until = "is revoked"
				case old.GraceUntil != nil:
					until = "stays valid until " + *old.GraceUntil
				}
			}
			switch {
			case r.json:
				return printJSON(e.stdout, t)
			case quiet:
				fmt.Fprintln(e.stdout, t.TokenString)
			default:
				fmt.Fprintf(e.stdout, "Rotated token %d into %d %q (%s); the old token %s.\n\nNew token (shown once; store it now):\n%s\n",
					id, t.ID, t.Name, t.Display, until, t.TokenString)
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().DurationVar(&grace, "grace", 0, "how long the old token stays valid, 0 to 168h (0: revoked at once; not given: the account's default rotation grace, an hour unless changed)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the new token string")
	return cmd
}

func tokenDeleteCmd(e *env) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete (revoke) a service token at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := tokenID(args)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			t, err := c.DeleteServiceToken(ctx, acct, id)
			if err != nil {
				return err
			}
			if r.json {
				return printJSON(e.stdout, t)
			}
			fmt.Fprintf(e.stdout, "Deleted service token %d %q.\n", t.ID, t.Name)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func whoamiCmd(e *env) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who LATCHKEY_TOKEN authenticates as",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			w, err := c.Whoami(cmd.Context())
			if err != nil {
				return err
			}
			if r.json {
				return printJSON(e.stdout, w)
			}
			fmt.Fprintf(e.stdout, "%s %d %q in account %d %q (%s plan)\n", w.Kind, w.ID, w.Name, w.AccountID, w.Account.Name, w.Account.Plan)
			if w.LicenseType != "" {
				fmt.Fprintf(e.stdout, "license: %s\n", w.LicenseType)
			}
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func readAllLimited(r io.Reader) ([]byte, error) { return io.ReadAll(io.LimitReader(r, 1<<20)) }
