package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/tokenfmt"
)

func userCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage users directly in the database (for operators)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(userSetPasswordCmd(e))
	return cmd
}

func userSetPasswordCmd(e *env) *cobra.Command {
	var db, email, passwordFile string
	cmd := &cobra.Command{
		Use:   "set-password",
		Short: "Set a user's password without the current one (a locked-out admin)",
		Long: `set-password sets the password of the user with --email, read from --password-file (- for
standard input), working directly on the database: for an operator when nobody can sign in, e.g.
the first admin's generated password was lost. It needs no token and no running server, only
access to --db. The user's sessions end everywhere, and user.password_set is written to the audit
log of each of their accounts, as the system. Users change their own password on their profile
page in the web UI.

  latchkey user set-password --db ./latchkey.db --email admin@acme.test --password-file pw.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if email == "" || passwordFile == "" {
				return fmt.Errorf("--email and --password-file are required")
			}
			pw, err := readSecretFile(e, passwordFile)
			if err != nil {
				return fmt.Errorf("read --password-file: %w", err)
			}
			s, err := openStore(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer s.Close()
			ctx := latchkey.WithActor(cmd.Context(), latchkey.Actor{Type: "system", Name: "latchkey user set-password", Source: "cli"})
			u, err := admin.New(s, tokenfmt.Default).SetPassword(ctx, email, pw)
			if err != nil {
				if latchkey.SystemError(err) {
					return err
				}
				return fmt.Errorf("%s", latchkey.ErrorMessage(err))
			}
			fmt.Fprintf(e.stdout, "Set the password of %s (user %d); their sessions were ended.\n", u.Email, u.ID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&db, "db", "./latchkey.db", "SQLite file or postgres:// URL")
	fl.StringVar(&email, "email", "", "the user's email")
	fl.StringVar(&passwordFile, "password-file", "", "file holding the new password (- for stdin)")
	return cmd
}
