package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/postgres"
	"github.com/latchkey/latchkey/sqlite"
)

// isPostgres reports whether a --db value names a PostgreSQL database.
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// openStore opens and migrates the store a --db value names: a PostgreSQL URL or an SQLite file.
func openStore(ctx context.Context, dsn string) (latchkey.Store, error) {
	return openStoreLogged(ctx, dsn, slog.Default(), storeOptions{})
}

// storeOptions tune the store serve opens (zero values: the defaults).
type storeOptions struct {
	sqlite   sqlite.Options
	postgres postgres.Options
}

// openStoreLogged is openStore for a server, whose store reports connection events to log and
// is opened with o.
func openStoreLogged(ctx context.Context, dsn string, log *slog.Logger, o storeOptions) (latchkey.Store, error) {
	if dsn == "" {
		return nil, fmt.Errorf("--db is empty")
	}
	if isPostgres(dsn) {
		return openPostgres(ctx, dsn, log, o.postgres)
	}
	return sqlite.OpenWith(ctx, dsn, o.sqlite)
}

// rateNode names this process among the nodes sharing rate-limit counts: the host name and a
// random suffix, so that two processes on one host are two nodes.
func rateNode() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%x", host, b)
}
