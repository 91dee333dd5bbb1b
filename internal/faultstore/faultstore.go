// Package faultstore injects storage faults for tests, in the spirit of Vault's storage error
// and latency injectors: Wrap puts a latchkey.Store behind a wrapper that fails a configurable
// share of calls as an outage would (latchkey.Unavailable) and delays calls by a jittered
// latency, reproducibly from a seed, and can be switched on and off while it runs.
//
//	fs := faultstore.Wrap(store, faultstore.Options{ErrorRate: 0.2, MaxLatency: 2 * time.Millisecond, Seed: seed})
//	svc := admin.New(fs, tokenfmt.Default) // a fifth of its store calls fail
//	fs.SetEnabled(false)                   // and now none does
//
// An injected failure is returned instead of calling the wrapped store, so the call it fails
// changed nothing: when a test finds committed a change whose caller was told it failed, the
// failure was reported after the commit, by the caller. Calls made inside InTx are faulted like
// any other (they go through the wrapper with the transaction's context), and a transaction may
// also fail when it would commit, so a multi-step change fails part-way and must roll back as a
// whole.
package faultstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
)

// Ops selects the calls faults and latency apply to.
type Ops uint8

// The kinds of call. Reads are Ping, PingDatabase, the Find* methods and AuditChain; writes are
// every other call that reaches storage, InTx, Exclusive and ProbeWrite included. Close,
// Subscribe and ChangeFeedConnected are never faulted.
const (
	Reads Ops = 1 << iota
	Writes
	All = Reads | Writes
)

// Options configure a Store. The zero value injects nothing.
type Options struct {
	// ErrorRate is the share of selected calls that fail, from 0 to 1. InTx draws twice: once
	// before it begins and once when fn has succeeded (a failure at commit, which rolls back).
	ErrorRate float64
	// MinLatency and MaxLatency bound the time each selected call waits before it runs (or
	// fails), drawn uniformly from [MinLatency, MaxLatency]. A wait ends early when the call's
	// context ends; the call then goes on to the wrapped store, which answers as it would.
	MinLatency, MaxLatency time.Duration
	// Ops selects the calls faults and latency apply to (0 means All).
	Ops Ops
	// Seed seeds the generator that decides which calls fail and how long each waits: the same
	// seed and the same sequence of calls give the same faults. Concurrent callers interleave
	// their draws in the order they arrive.
	Seed uint64
	// Disabled starts the Store with injection off (see SetEnabled).
	Disabled bool
}

// ErrInjected is the cause of every injected failure: errors.Is(err, ErrInjected) tells an
// injected fault from a real outage. The error callers see is a *latchkey.Error with code
// EUnavailable, as a real outage's is.
var ErrInjected = errors.New("faultstore: injected fault")

// Stats counts what a Store did.
type Stats struct {
	// Calls counts calls that injection applied to (selected while enabled); Faults counts
	// those that failed, Delayed those that waited.
	Calls, Faults, Delayed uint64
}

// Store is a latchkey.Store that injects faults into calls to the store it wraps. It is safe
// for concurrent use.
type Store struct {
	inner latchkey.Store
	opt   Options
	on    atomic.Bool

	mu  sync.Mutex
	rng *rand.Rand

	calls, faults, delayed atomic.Uint64
}

var _ latchkey.Store = (*Store)(nil)

// Wrap returns a Store that injects faults into calls to s as o says.
func Wrap(s latchkey.Store, o Options) *Store {
	if o.Ops == 0 {
		o.Ops = All
	}
	o.ErrorRate = min(max(o.ErrorRate, 0), 1)
	if o.MaxLatency < o.MinLatency {
		o.MaxLatency = o.MinLatency
	}
	fs := &Store{inner: s, opt: o, rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))}
	fs.on.Store(!o.Disabled)
	return fs
}

// Unwrap returns the wrapped store, for reading or writing without faults.
func (s *Store) Unwrap() latchkey.Store { return s.inner }

// SetEnabled turns injection on or off; calls already waiting or failing are not affected.
func (s *Store) SetEnabled(on bool) { s.on.Store(on) }

// Enabled reports whether injection is on.
func (s *Store) Enabled() bool { return s.on.Load() }

// Stats returns the counters so far.
func (s *Store) Stats() Stats {
	return Stats{Calls: s.calls.Load(), Faults: s.faults.Load(), Delayed: s.delayed.Load()}
}

// draw decides one selected call: whether it fails and how long it waits first.
func (s *Store) draw() (fail bool, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opt.ErrorRate > 0 {
		fail = s.rng.Float64() < s.opt.ErrorRate
	}
	wait = s.opt.MinLatency
	if span := s.opt.MaxLatency - s.opt.MinLatency; span > 0 {
		wait += time.Duration(s.rng.Int64N(int64(span) + 1))
	}
	return fail, wait
}

// inject runs before a call of kind op named method: it waits for the drawn latency and
// returns the injected failure, or nil to let the call through.
func (s *Store) inject(ctx context.Context, op Ops, method string) error {
	if s.opt.Ops&op == 0 || !s.on.Load() {
		return nil
	}
	s.calls.Add(1)
	fail, wait := s.draw()
	if wait > 0 {
		s.delayed.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if !fail {
		return nil
	}
	s.faults.Add(1)
	return latchkey.Unavailable("injected fault ("+method+")", ErrInjected)
}

func (s *Store) read(ctx context.Context, method string) error { return s.inject(ctx, Reads, method) }

func (s *Store) write(ctx context.Context, method string) error {
	return s.inject(ctx, Writes, method)
}

// Ping checks that the wrapped store answers, unless a fault is injected.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.read(ctx, "Ping"); err != nil {
		return err
	}
	return s.inner.Ping(ctx)
}

// Close closes the wrapped store; it is never faulted.
func (s *Store) Close() error { return s.inner.Close() }

// InTx runs fn in one transaction of the wrapped store. A fault may be injected before the
// transaction begins (fn does not run) or after fn has succeeded (the transaction rolls back
// instead of committing); calls fn makes through s are faulted too.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := s.write(ctx, "InTx begin"); err != nil {
		return err
	}
	return s.inner.InTx(ctx, func(ctx context.Context) error {
		if err := fn(ctx); err != nil {
			return err
		}
		return s.write(ctx, "InTx commit")
	})
}

// Subscribe registers fn with the wrapped store; it is never faulted.
func (s *Store) Subscribe(fn func(latchkey.Change)) (cancel func()) { return s.inner.Subscribe(fn) }
