// Command latchkey runs the latchkey server and talks to one: serve, init, migrate, token,
// whoami, import, audit and version. Every flag can also be set with a LATCHKEY_* environment
// variable (--db is LATCHKEY_DB, --forward-auth-rules is LATCHKEY_FORWARD_AUTH_RULES).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "latchkey:", err)
		os.Exit(1)
	}
}

// env is the process environment, passed in so tests can run the CLI in-process.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// run is the whole program: main only wires in the process's context, arguments and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := rootCmd(&env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr})
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

// rootCmd is the latchkey command with every subcommand.
func rootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "latchkey",
		Short: "Account-owned API tokens with narrow, project-scoped permissions",
		Long: `latchkey gives a multi-tenant platform account-owned service tokens and personal access tokens
with project-scoped permissions, behind a dbt Cloud-compatible admin API, a web UI and a fast
verification API.

Start a server with an embedded SQLite database:

  latchkey serve

Every flag can also be set through the environment as LATCHKEY_<FLAG>, e.g. LATCHKEY_DB.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return bindEnv(cmd, e.getenv)
		},
	}
	root.AddCommand(serveCmd(e), initCmd(e), migrateCmd(e), tokenCmd(e), webhookCmd(e), trustPolicyCmd(e), whoamiCmd(e), importCmd(e), auditCmd(e), userCmd(e), versionCmd(e))
	return root
}

// bindEnv fills every flag not given on the command line from LATCHKEY_<NAME>.
func bindEnv(cmd *cobra.Command, getenv func(string) string) error {
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		name := "LATCHKEY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v := getenv(name)
		if v == "" {
			return
		}
		if f.Value.Type() == "stringArray" || f.Value.Type() == "stringSlice" {
			for _, part := range strings.Split(v, ",") {
				if err := f.Value.Set(strings.TrimSpace(part)); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", name, err))
				}
			}
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	})
	return errors.Join(errs...)
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func versionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print latchkey's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(e.stdout, "latchkey", buildVersion())
			return nil
		},
	}
}
