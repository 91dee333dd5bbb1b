package faultstore

import "context"

// The optional methods callers look for on a store with a type assertion. A wrapper has a fixed
// method set, so Store has them all and, when the wrapped store lacks one, does what the caller
// does for a store without it.

// exclusiveStore is a store that runs a section on one node at a time (postgres.Store; see
// cmd/latchkey).
type exclusiveStore interface {
	Exclusive(ctx context.Context, name string, fn func(ctx context.Context) error) error
}

// Exclusive runs fn while no other node runs the section called name, when the wrapped store
// can tell (postgres.Store); otherwise it runs fn directly, as callers do for a store only one
// node uses. A fault (a write) may be injected before the section starts.
func (s *Store) Exclusive(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	if err := s.write(ctx, "Exclusive"); err != nil {
		return err
	}
	if x, ok := s.inner.(exclusiveStore); ok {
		return x.Exclusive(ctx, name, fn)
	}
	return fn(ctx)
}

// writeProber is a store that can make a minimal real write (the readiness probe's).
type writeProber interface {
	ProbeWrite(ctx context.Context) error
}

// ProbeWrite makes the wrapped store's probe write, unless a fault (a write) is injected. A
// wrapped store without one reports writes as working, as a caller that finds no probe does.
func (s *Store) ProbeWrite(ctx context.Context) error {
	if err := s.write(ctx, "ProbeWrite"); err != nil {
		return err
	}
	if wp, ok := s.inner.(writeProber); ok {
		return wp.ProbeWrite(ctx)
	}
	return nil
}

// databasePinger is a store whose Ping also covers a change feed, and that can check the
// database alone (postgres.Store).
type databasePinger interface {
	PingDatabase(ctx context.Context) error
	ChangeFeedConnected() bool
}

// PingDatabase checks the wrapped store's database alone (its Ping, for a store without a
// change feed of its own), unless a fault (a read) is injected.
func (s *Store) PingDatabase(ctx context.Context) error {
	if err := s.read(ctx, "PingDatabase"); err != nil {
		return err
	}
	if dp, ok := s.inner.(databasePinger); ok {
		return dp.PingDatabase(ctx)
	}
	return s.inner.Ping(ctx)
}

// ChangeFeedConnected reports whether the wrapped store hears other nodes' changes; it is never
// faulted. A store without a change feed of its own (SQLite, one node) hears every change, so
// it reports true: a readiness check over a wrapped SQLite store then shows a connected feed
// where the bare store shows none.
func (s *Store) ChangeFeedConnected() bool {
	if dp, ok := s.inner.(databasePinger); ok {
		return dp.ChangeFeedConnected()
	}
	return true
}
