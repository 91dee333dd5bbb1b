package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/tokenfmt"
)

// bootstrap creates an account and its first admin (developer license, in every built-in group,
// Owner included) with a personal access token, in one transaction (admin.CreateAccount). An
// existing user with the email is reused and keeps their password.
func bootstrap(ctx context.Context, s latchkey.Store, f tokenfmt.Format, in admin.Bootstrap) (*admin.BootstrapResult, error) {
	res, err := admin.New(s, f).CreateAccount(ctx, in)
	if err != nil {
		if latchkey.SystemError(err) {
			return nil, err
		}
		return nil, errors.New(latchkey.ErrorMessage(err))
	}
	return res, nil
}

func initCmd(e *env) *cobra.Command {
	var db, account, plan, email, passwordFile, tokenFile, servicePrefix, patPrefix string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create an account and its first admin, non-interactively",
		Long: `init creates an account, its Owner/Member/Everyone groups and a first admin user (developer
license, in every built-in group) with a personal access token, for scripts and provisioning.

The password is read from --password-file (use - for standard input); the admin token is written
to --token-file with mode 0600 and is not printed. init prints the new account's id. When a user
with the email already exists, that user becomes the new account's admin and keeps their password.

  latchkey init --db ./latchkey.db --account Acme --plan enterprise \
      --email admin@acme.test --password-file pw.txt --token-file admin.token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if email == "" || passwordFile == "" || tokenFile == "" {
				return fmt.Errorf("--email, --password-file and --token-file are required")
			}
			pw, err := readSecretFile(e, passwordFile)
			if err != nil {
				return fmt.Errorf("read --password-file: %w", err)
			}
			f := tokenfmt.Format{ServicePrefix: servicePrefix, PATPrefix: patPrefix}
			if err := f.Validate(); err != nil {
				return err
			}
			s, err := openStore(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer s.Close()
			res, err := bootstrap(cmd.Context(), s, f, admin.Bootstrap{Account: account, Plan: latchkey.Plan(plan), Email: email, Password: pw})
			if err != nil {
				return err
			}
			if err := writeSecretFile(tokenFile, res.PAT+"\n"); err != nil {
				return fmt.Errorf("write --token-file: %w", err)
			}
			fmt.Fprintln(e.stdout, res.Account.ID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&db, "db", "./latchkey.db", "SQLite file or postgres:// URL")
	fl.StringVar(&account, "account", "Default", "account name")
	fl.StringVar(&plan, "plan", "enterprise", "account plan: enterprise, enterprise_plus, team, starter or developer")
	fl.StringVar(&email, "email", "", "admin's email")
	fl.StringVar(&passwordFile, "password-file", "", "file holding the admin's password (- for stdin)")
	fl.StringVar(&tokenFile, "token-file", "", "file to write the admin's token to (mode 0600)")
	addPrefixFlags(fl, &servicePrefix, &patPrefix)
	return cmd
}

func readSecretFile(e *env, name string) (string, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = readAllLimited(e.stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// writeSecretFile writes a secret readable by its owner only, refusing to follow into an
// existing file with wider permissions.
func writeSecretFile(name, content string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
