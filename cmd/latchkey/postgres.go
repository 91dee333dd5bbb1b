package main

import (
	"context"
	"log/slog"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/postgres"
)

// openPostgres opens --db postgres://… (see docs/deploy.md). Pool sizing goes in the URL's
// pool_* parameters, so serve, migrate and init take it the same way.
func openPostgres(ctx context.Context, dsn string, log *slog.Logger, opt postgres.Options) (latchkey.Store, error) {
	opt.Logger = log
	return postgres.OpenWith(ctx, dsn, opt)
}

// exclusiveStore is a store shared by several nodes that can run a section on one node at a
// time (postgres.Store, with an advisory lock).
type exclusiveStore interface {
	Exclusive(ctx context.Context, name string, fn func(ctx context.Context) error) error
}

// exclusive runs fn while no other node runs the section called name. A store only one node
// uses (SQLite) runs fn directly.
func exclusive(ctx context.Context, s latchkey.Store, name string, fn func(ctx context.Context) error) error {
	if x, ok := s.(exclusiveStore); ok {
		return x.Exclusive(ctx, name, fn)
	}
	return fn(ctx)
}
