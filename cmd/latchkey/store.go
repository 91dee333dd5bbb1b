package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sqlite"
)

// isPostgres reports whether a --db value names a PostgreSQL database.
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// openStore opens and migrates the store a --db value names: a PostgreSQL URL or an SQLite file.
func openStore(ctx context.Context, dsn string) (latchkey.Store, error) {
	return openStoreLogged(ctx, dsn, slog.Default(), sqlite.Options{})
}

// openStoreLogged is openStore for a server, whose store reports connection events to log and
// whose SQLite database is opened with lite.
func openStoreLogged(ctx context.Context, dsn string, log *slog.Logger, lite sqlite.Options) (latchkey.Store, error) {
	if dsn == "" {
		return nil, fmt.Errorf("--db is empty")
	}
	if isPostgres(dsn) {
		return openPostgres(ctx, dsn, log)
	}
	return sqlite.OpenWith(ctx, dsn, lite)
}
