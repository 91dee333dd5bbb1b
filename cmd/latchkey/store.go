package main

import (
	"context"
	"fmt"
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
	if dsn == "" {
		return nil, fmt.Errorf("--db is empty")
	}
	if isPostgres(dsn) {
		return openPostgres(ctx, dsn)
	}
	return sqlite.Open(ctx, dsn)
}

// openPostgres is replaced by postgres.go when PostgreSQL support is built in.
var openPostgres = func(ctx context.Context, dsn string) (latchkey.Store, error) {
	return nil, fmt.Errorf("PostgreSQL is not supported by this build")
}
