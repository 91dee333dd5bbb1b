package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
)

func trustPolicyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trust-policy",
		Short: "Manage trust policies: CI jobs and workloads that get access tokens with no stored secret",
		Long: `trust-policy manages the account's trust policies (workload identity federation) through the
admin API of a running latchkey. A policy lets the tokens of an external OpenID Connect issuer —
GitHub Actions, GitLab CI, a Kubernetes cluster — be exchanged at /oauth2/token for short-lived
access tokens of one service token, when they are for the policy's audience and their claims
meet all its conditions. See docs/short-lived.md.

Set LATCHKEY_URL and LATCHKEY_TOKEN first; the token needs auth_provider:write and the right to
change the service token.`,
	}
	cmd.AddCommand(trustListCmd(e), trustCreateCmd(e), trustShowCmd(e), trustDeleteCmd(e))
	return cmd
}

// parseCondition reads a condition flag: claim=value (equals) or claim~glob (like).
func parseCondition(s string) (apitype.ClaimCondition, error) {
	c, ok := latchkey.ParseClaimCondition(s)
	if !ok {
		return apitype.ClaimCondition{}, fmt.Errorf("condition %q: write claim=value, or claim~glob (e.g. ref~refs/heads/*)", s)
	}
	return apitype.ClaimCondition(c), nil
}

// policyArg reads a trust policy id argument.
func policyArg(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("trust policy id %q is not a number", s)
	}
	return id, nil
}

func conditionString(c apitype.ClaimCondition) string {
	if c.Like != "" {
		return c.Claim + "~" + c.Like
	}
	return c.Claim + "=" + c.Equals
}

func printTrustPolicy(e *env, tp *apitype.TrustPolicy) {
	conds := make([]string, len(tp.Conditions))
	for i, c := range tp.Conditions {
		conds[i] = conditionString(c)
	}
	grants := "the service token's own"
	if len(tp.Grants) > 0 {
		grants = strings.Join(tp.Grants, " ")
	}
	fmt.Fprintf(e.stdout, "%d %q\nIssuer: %s\nAudience: %s\nConditions: %s\nService token: %d\nGrants: %s\n",
		tp.ID, tp.Name, tp.Issuer, tp.Audience, strings.Join(conds, ", "), tp.ServiceTokenID, grants)
}

func trustListCmd(e *env) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List trust policies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			list, err := c.TrustPolicies(ctx, acct)
			if err != nil {
				return err
			}
			if r.json {
				return printJSON(e.stdout, list)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tISSUER\tAUDIENCE\tSERVICE TOKEN\tCONDITIONS")
			for _, tp := range list {
				conds := make([]string, len(tp.Conditions))
				for i, c := range tp.Conditions {
					conds[i] = conditionString(c)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\n", tp.ID, tp.Name, tp.Issuer, tp.Audience, tp.ServiceTokenID, strings.Join(conds, ","))
			}
			return tw.Flush()
		},
	}
	r.flags(cmd)
	return cmd
}

func trustCreateCmd(e *env) *cobra.Command {
	var r remote
	var name, issuer, audience string
	var token int64
	var conds, grants []string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a trust policy",
		Example: `  latchkey trust-policy create --name "etl deploys" \
    --issuer https://token.actions.githubusercontent.com --audience https://latchkey.example.com \
    --condition repository=acme/etl --condition ref=refs/heads/main \
    --service-token 42 --grant job_runner:3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := apitype.TrustPolicyRequest{Name: &name, Issuer: &issuer, Audience: &audience, ServiceTokenID: &token}
			cs := []apitype.ClaimCondition{}
			for _, s := range conds {
				c, err := parseCondition(s)
				if err != nil {
					return err
				}
				cs = append(cs, c)
			}
			req.Conditions = &cs
			if len(grants) > 0 {
				req.Grants = &grants
			}
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			tp, err := c.CreateTrustPolicy(ctx, acct, req)
			if err != nil {
				return err
			}
			if r.json {
				return printJSON(e.stdout, tp)
			}
			printTrustPolicy(e, tp)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "name")
	fl.StringVar(&issuer, "issuer", "", "the OIDC issuer URL (https), e.g. https://token.actions.githubusercontent.com")
	fl.StringVar(&audience, "audience", "", "the aud the external token must carry (e.g. latchkey's URL)")
	fl.Int64Var(&token, "service-token", 0, "id of the service token the access tokens act as")
	fl.StringArrayVar(&conds, "condition", nil, "claim=value or claim~glob; all must hold (repeatable, at least one)")
	fl.StringSliceVar(&grants, "grant", nil, "narrow the access tokens: permission_set or permission_set:project_id (repeatable)")
	r.flags(cmd)
	return cmd
}

func trustShowCmd(e *env) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a trust policy",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := policyArg(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			tp, err := c.TrustPolicy(ctx, acct, id)
			if err != nil {
				return err
			}
			if r.json {
				return printJSON(e.stdout, tp)
			}
			printTrustPolicy(e, tp)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func trustDeleteCmd(e *env) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a trust policy: no exchange under it from now on, and its access tokens are refused",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := policyArg(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			if err := c.DeleteTrustPolicy(ctx, acct, id); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "trust policy %d deleted\n", id)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}
