package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

func webhookCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Manage webhook subscriptions and their deliveries on a running server",
		Long: `webhook manages the account's webhook subscriptions through the admin API of a running
latchkey: endpoints that receive events (service_token.created, leak.reported, user.signed_in, …)
as signed JSON POSTs. Set LATCHKEY_URL and LATCHKEY_TOKEN first; the token needs webhooks:write,
and choosing event types also needs audit_logs:read (events carry what the audit log holds).

Event types are exact types, a category such as service_token.*, or * for every event.
IDs are written wsu_12 or 12.`,
	}
	cmd.AddCommand(webhookListCmd(e), webhookCreateCmd(e), webhookShowCmd(e), webhookUpdateCmd(e), webhookDeleteCmd(e),
		webhookTestCmd(e), webhookRotateCmd(e), webhookDeliveriesCmd(e), webhookRedeliverCmd(e))
	return cmd
}

// webhookArg reads a subscription id: wsu_12 or 12.
func webhookArg(s string) (int64, error) {
	id, ok := apitype.ParseWebhookID(s)
	if !ok {
		return 0, fmt.Errorf("webhook id %q is not wsu_<number> or a number", s)
	}
	return id, nil
}

func webhookStatus(w *apitype.WebhookSubscription) string {
	switch {
	case w.Active:
		return "active"
	case w.DisabledReason == "failing":
		return "disabled (failing for 3 days)"
	}
	return "disabled"
}

func printWebhook(e *env, w *apitype.WebhookSubscription) {
	fmt.Fprintf(e.stdout, "%s %q\nEndpoint: %s\nEvents: %s\nStatus: %s\n", w.ID, w.Name, w.ClientURL, strings.Join(w.EventTypes, ", "), webhookStatus(w))
	if w.Description != "" {
		fmt.Fprintf(e.stdout, "Description: %s\n", w.Description)
	}
	if w.HTTPStatusCode != nil && w.DispatchedAt != nil {
		fmt.Fprintf(e.stdout, "Last delivery: HTTP %s at %s\n", *w.HTTPStatusCode, *w.DispatchedAt)
	}
}

func printSecret(e *env, w *apitype.WebhookSubscription, quiet bool) {
	if quiet {
		fmt.Fprintln(e.stdout, w.HMACSecret)
		return
	}
	fmt.Fprintf(e.stdout, "\nSigning secret (shown once; store it now):\n%s\n", w.HMACSecret)
}

func webhookListCmd(e *env) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List webhook subscriptions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			ws, _, err := c.Webhooks(ctx, acct, client.ListOptions{})
			if err != nil {
				return err
			}
			if r.json {
				return printJSON(e.stdout, ws)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tENDPOINT\tSTATUS\tLAST\tEVENTS")
			for i := range ws {
				last := "-"
				if ws[i].HTTPStatusCode != nil {
					last = *ws[i].HTTPStatusCode
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ws[i].ID, ws[i].Name, ws[i].ClientURL, webhookStatus(&ws[i]), last, strings.Join(ws[i].EventTypes, ","))
			}
			return tw.Flush()
		},
	}
	r.flags(cmd)
	return cmd
}

// webhookFlags are the fields of create and update.
type webhookFlags struct {
	name, description, url, secretFile string
	events                             []string
	active                             bool
}

func (f *webhookFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "name")
	fl.StringVar(&f.description, "description", "", "description")
	fl.StringVar(&f.url, "endpoint", "", "the https URL events are POSTed to")
	fl.StringSliceVar(&f.events, "event", nil, "event type, category.* or * (repeatable, or comma-separated)")
	fl.BoolVar(&f.active, "active", true, "send events (--active=false to create it turned off)")
	fl.StringVar(&f.secretFile, "secret-file", "", "file holding a signing secret whsec_… of your choosing, - for stdin (default: generated)")
}

// request returns the fields set on the command line (all of them for create).
// A chosen secret is read from a file or stdin, never taken on the command line, where the
// process list and shell history would keep it.
func (f *webhookFlags) request(e *env, cmd *cobra.Command, all bool) (apitype.WebhookRequest, error) {
	var req apitype.WebhookRequest
	set := func(name string) bool { return all || cmd.Flags().Changed(name) }
	if set("name") {
		req.Name = &f.name
	}
	if set("description") {
		req.Description = &f.description
	}
	if set("endpoint") {
		req.ClientURL = &f.url
	}
	if set("event") {
		req.EventTypes = &f.events
	}
	if set("active") {
		req.Active = &f.active
	}
	if cmd.Flags().Changed("secret-file") {
		secret, err := readSecretFile(e, f.secretFile)
		if err != nil {
			return req, fmt.Errorf("--secret-file: %w", err)
		}
		req.HMACSecret = &secret
	}
	return req, nil
}

func webhookCreateCmd(e *env) *cobra.Command {
	var r remote
	var f webhookFlags
	var quiet bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Subscribe an endpoint to events; prints the signing secret once",
		Long: `create subscribes an https endpoint to events and prints its signing secret once.

  latchkey webhook create --name siem --endpoint https://siem.example.com/latchkey --event '*'
  latchkey webhook create --name leaks --endpoint https://chat.example.com/hook --event leak.reported,service_token.flagged

--quiet prints only the secret, for scripts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.name == "" || f.url == "" || len(f.events) == 0 {
				return fmt.Errorf("--name, --endpoint and --event are required")
			}
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			req, err := f.request(e, cmd, true)
			if err != nil {
				return err
			}
			w, err := c.CreateWebhook(ctx, acct, req)
			if err != nil {
				return err
			}
			switch {
			case r.json:
				return printJSON(e.stdout, w)
			case quiet:
				printSecret(e, w, true)
			default:
				fmt.Fprint(e.stdout, "Created webhook ")
				printWebhook(e, w)
				printSecret(e, w, false)
			}
			return nil
		},
	}
	r.flags(cmd)
	f.add(cmd)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the signing secret")
	return cmd
}

func webhookShowCmd(e *env) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a webhook subscription",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := webhookArg(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			w, err := c.Webhook(ctx, acct, id)
			if err != nil {
				return err
			}
			if r.json {
				return printJSON(e.stdout, w)
			}
			printWebhook(e, w)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func webhookUpdateCmd(e *env) *cobra.Command {
	var r remote
	var f webhookFlags
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Change a webhook subscription (only the flags given)",
		Long: `update changes the fields given as flags; the others keep their value.

  latchkey webhook update wsu_3 --active=false
  latchkey webhook update wsu_3 --event 'service_token.*' --event leak.reported`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := webhookArg(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			req, err := f.request(e, cmd, false)
			if err != nil {
				return err
			}
			w, err := c.UpdateWebhook(ctx, acct, id, req)
			if err != nil {
				return err
			}
			if r.json {
				return printJSON(e.stdout, w)
			}
			fmt.Fprint(e.stdout, "Updated webhook ")
			printWebhook(e, w)
			return nil
		},
	}
	r.flags(cmd)
	f.add(cmd)
	return cmd
}

func webhookDeleteCmd(e *env) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a webhook subscription; its pending deliveries are dropped",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := webhookArg(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			if err := c.DeleteWebhook(ctx, acct, id); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Deleted webhook %s.\n", apitype.WebhookID(id))
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func webhookTestCmd(e *env) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "test ID",
		Short: "Send a webhook.test event now and show how the endpoint answered",
		Long: `test sends one webhook.test event to the endpoint now and prints its HTTP status. It fails
(exit status 1) when the endpoint did not answer 2xx. The test is kept in the delivery log.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := webhookArg(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			t, err := c.TestWebhook(ctx, acct, id)
			if err != nil {
				return err
			}
			if r.json {
				if err := printJSON(e.stdout, t); err != nil {
					return err
				}
			} else if t.VerificationError == nil {
				fmt.Fprintf(e.stdout, "Test delivered: the endpoint answered HTTP %s (delivery %d).\n", t.VerificationStatusCode, t.DeliveryID)
			}
			if t.VerificationError != nil {
				return fmt.Errorf("test failed (delivery %d): %s", t.DeliveryID, *t.VerificationError)
			}
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func webhookRotateCmd(e *env) *cobra.Command {
	var r remote
	var quiet bool
	cmd := &cobra.Command{
		Use:   "rotate-secret ID",
		Short: "Give a webhook a new signing secret; the old one keeps signing for 24 hours",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := webhookArg(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			w, err := c.RotateWebhookSecret(ctx, acct, id)
			if err != nil {
				return err
			}
			switch {
			case r.json:
				return printJSON(e.stdout, w)
			case quiet:
				printSecret(e, w, true)
			default:
				fmt.Fprintf(e.stdout, "Rotated the signing secret of %s %q; the old secret keeps signing next to it for 24 hours.\n", w.ID, w.Name)
				printSecret(e, w, false)
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the new signing secret")
	return cmd
}

func webhookDeliveriesCmd(e *env) *cobra.Command {
	var r remote
	var state string
	var limit int
	cmd := &cobra.Command{
		Use:   "deliveries ID",
		Short: "List a webhook's deliveries, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := webhookArg(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			ds, total, err := c.WebhookDeliveries(ctx, acct, id, client.ListOptions{Limit: limit, State: state})
			if err != nil {
				return err
			}
			if r.json {
				return printJSON(e.stdout, ds)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tEVENT\tSTATE\tATTEMPTS\tLAST STATUS\tLAST ERROR")
			for _, d := range ds {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s\n", d.ID, d.CreatedAt, d.EventType, d.State, d.AttemptCount, d.LastStatus, d.LastError)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if total > len(ds) {
				fmt.Fprintf(e.stdout, "(%d of %d; --limit shows more, up to 100)\n", len(ds), total)
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().StringVar(&state, "state", "", "pending, succeeded or failed (default: all)")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many, 1 to 100")
	return cmd
}

func webhookRedeliverCmd(e *env) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "redeliver DELIVERY_ID",
		Short: "Send a delivery again, now, with the same message id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("delivery id %q is not a positive integer", args[0])
			}
			ctx := cmd.Context()
			c, acct, err := r.connect(ctx)
			if err != nil {
				return err
			}
			d, err := c.Redeliver(ctx, acct, id)
			if err != nil {
				return err
			}
			if r.json {
				return printJSON(e.stdout, d)
			}
			fmt.Fprintf(e.stdout, "Delivery %d (%s to %s) is queued again.\n", d.ID, d.EventType, d.WebhookID)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}
