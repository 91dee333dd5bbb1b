package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/catalog"
	"github.com/latchkey/latchkey/password"
	"github.com/latchkey/latchkey/tokenfmt"
)

// bootstrapInput describes a new account and its first admin.
type bootstrapInput struct {
	Account  string
	Plan     latchkey.Plan
	Email    string
	Password string
}

// bootstrapResult is what the caller must hand to the admin: the PAT is shown once.
type bootstrapResult struct {
	Account *latchkey.Account
	User    *latchkey.User
	PAT     string
}

// bootstrap creates an account and its first admin (developer license, in every built-in group,
// Owner included) with a personal access token. An existing user with the email is reused and
// keeps their password.
func bootstrap(ctx context.Context, s latchkey.Store, f tokenfmt.Format, in bootstrapInput) (*bootstrapResult, error) {
	if !catalog.ValidPlan(in.Plan) {
		return nil, fmt.Errorf("unknown plan %q (want one of %v)", in.Plan, catalog.Plans())
	}
	if strings.TrimSpace(in.Account) == "" {
		return nil, fmt.Errorf("the account name is empty")
	}
	ctx = latchkey.WithActor(ctx, latchkey.Actor{Type: "system", Name: "bootstrap", Source: "cli"})
	a := &latchkey.Account{Name: strings.TrimSpace(in.Account), Plan: in.Plan, Settings: latchkey.DefaultAccountSettings()}
	u, err := s.FindUserByEmail(ctx, in.Email)
	switch latchkey.ErrorCodeOf(err) {
	case "":
	case latchkey.ENotFound:
		if err := password.Validate(in.Password); err != nil {
			return nil, err
		}
		hash, err := password.Hash(in.Password)
		if err != nil {
			return nil, err
		}
		u = &latchkey.User{Email: in.Email, FirstName: "Admin", PasswordHash: hash}
		if err := s.CreateUser(ctx, u); err != nil {
			return nil, fmt.Errorf("create admin user: %w", err)
		}
	default:
		return nil, err
	}
	if err := s.CreateAccount(ctx, a); err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	groups, _, err := s.FindGroups(ctx, latchkey.GroupFilter{AccountID: a.ID})
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, g := range groups {
		ids = append(ids, g.ID)
	}
	if err := s.CreateMembership(ctx, &latchkey.Membership{AccountID: a.ID, UserID: u.ID, License: latchkey.LicenseDeveloper}, ids); err != nil {
		return nil, fmt.Errorf("add admin to account: %w", err)
	}
	m, err := f.Mint(latchkey.KindPAT)
	if err != nil {
		return nil, err
	}
	pat := &latchkey.Token{AccountID: a.ID, Kind: latchkey.KindPAT, UserID: u.ID, UID: m.UID, Hash: m.Hash,
		Name: "bootstrap admin token", CreatedBy: "system:bootstrap"}
	if err := s.CreateToken(ctx, pat); err != nil {
		return nil, fmt.Errorf("create admin token: %w", err)
	}
	return &bootstrapResult{Account: a, User: u, PAT: m.String}, nil
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
			res, err := bootstrap(cmd.Context(), s, f, bootstrapInput{Account: account, Plan: latchkey.Plan(plan), Email: email, Password: pw})
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
