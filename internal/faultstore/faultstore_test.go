package faultstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/faultstore"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
)

func openSQLite(t *testing.T) latchkey.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Every call that reaches storage fails when the rate is 1, with an injected EUnavailable, and
// never reaches the wrapped store (the arguments are zero values it would choke on).
func TestEveryCallFaulted(t *testing.T) {
	inner := openSQLite(t)
	fs := faultstore.Wrap(inner, faultstore.Options{ErrorRate: 1})
	st := reflect.TypeFor[latchkey.Store]()
	v := reflect.ValueOf(fs)
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test", Source: "system"})
	called := 0
	for i := range st.NumMethod() {
		m := st.Method(i)
		if m.Name == "Close" || m.Name == "Subscribe" {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			args := []reflect.Value{}
			for j := range m.Type.NumIn() {
				in := m.Type.In(j)
				switch {
				case j == 0:
					args = append(args, reflect.ValueOf(ctx))
				case in.Kind() == reflect.Func:
					args = append(args, reflect.MakeFunc(in, func([]reflect.Value) []reflect.Value {
						called++
						out := make([]reflect.Value, in.NumOut())
						for k := range out {
							out[k] = reflect.Zero(in.Out(k))
						}
						return out
					}))
				default:
					args = append(args, reflect.Zero(in))
				}
			}
			var out []reflect.Value
			if m.Type.IsVariadic() {
				out = v.MethodByName(m.Name).CallSlice(args)
			} else {
				out = v.MethodByName(m.Name).Call(args)
			}
			err, _ := out[len(out)-1].Interface().(error)
			if !unavailable(err) || !injected(err) {
				t.Errorf("%s(zero values) = %v, want an injected EUnavailable", m.Name, err)
			}
		})
	}
	if err := fs.Exclusive(ctx, "x", func(context.Context) error { called++; return nil }); !injected(err) {
		t.Errorf("Exclusive = %v, want an injected EUnavailable", err)
	}
	if err := fs.ProbeWrite(ctx); !injected(err) {
		t.Errorf("ProbeWrite = %v, want an injected EUnavailable", err)
	}
	if err := fs.PingDatabase(ctx); !injected(err) {
		t.Errorf("PingDatabase = %v, want an injected EUnavailable", err)
	}
	if called != 0 {
		t.Errorf("%d callbacks ran; a faulted call must not run its callback", called)
	}
	n := 0
	if err := inner.AuditChain(context.Background(), time.Time{}, func(*latchkey.AuditEntry) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the audit log holds %d entries; faulted calls must not reach the store", n)
	}
	if got := fs.Stats(); got.Faults != got.Calls || got.Calls == 0 {
		t.Errorf("Stats() = %+v, want every call faulted", got)
	}
}

// The optional interfaces callers look for with type assertions: the verifier's batch and
// version sources, the server's readiness probes, cmd/latchkey's exclusive sections.
var (
	_ interface {
		FindTokensByHash(ctx context.Context, hashes [][]byte) ([]*latchkey.Token, error)
	} = (*faultstore.Store)(nil)
	_ interface {
		FindTokenVersions(ctx context.Context, hashes [][]byte) ([]latchkey.TokenVersion, error)
	} = (*faultstore.Store)(nil)
	_ interface {
		ProbeWrite(ctx context.Context) error
	} = (*faultstore.Store)(nil)
	_ interface {
		PingDatabase(ctx context.Context) error
		ChangeFeedConnected() bool
	} = (*faultstore.Store)(nil)
	_ interface {
		Exclusive(ctx context.Context, name string, fn func(ctx context.Context) error) error
	} = (*faultstore.Store)(nil)
)

// Without faults, the optional methods call through, or do what a caller does for a store
// without them.
func TestOptionalMethods(t *testing.T) {
	eachStore(t, func(t *testing.T, inner latchkey.Store) {
		fs := faultstore.Wrap(inner, faultstore.Options{})
		ctx := context.Background()
		if err := fs.ProbeWrite(ctx); err != nil {
			t.Errorf("ProbeWrite = %v", err)
		}
		if err := fs.PingDatabase(ctx); err != nil {
			t.Errorf("PingDatabase = %v", err)
		}
		ran := false
		if err := fs.Exclusive(ctx, "faultstore-test", func(context.Context) error { ran = true; return nil }); err != nil || !ran {
			t.Errorf("Exclusive = %v, ran %v; want nil, true", err, ran)
		}
		// A PostgreSQL store reports its listener; it may still be connecting.
		deadline := time.Now().Add(30 * time.Second)
		for !fs.ChangeFeedConnected() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !fs.ChangeFeedConnected() {
			t.Error("ChangeFeedConnected = false 30 s after opening")
		}
	})
}

// Ops selects reads or writes; SetEnabled switches injection at run time.
func TestSelectAndSwitch(t *testing.T) {
	inner := openSQLite(t)
	ctx := context.Background()
	write := func(fs *faultstore.Store) error {
		return fs.InTx(ctx, func(context.Context) error { return nil })
	}
	read := func(fs *faultstore.Store) error {
		_, err := fs.FindAccountByID(ctx, 1)
		if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
			return nil
		}
		return err
	}
	for _, tc := range []struct {
		ops               faultstore.Ops
		readErr, writeErr bool
	}{
		{faultstore.Reads, true, false},
		{faultstore.Writes, false, true},
		{faultstore.All, true, true},
		{0, true, true},
	} {
		fs := faultstore.Wrap(inner, faultstore.Options{ErrorRate: 1, Ops: tc.ops})
		if err := read(fs); (err != nil) != tc.readErr {
			t.Errorf("Ops %v: read = %v, want failure %v", tc.ops, err, tc.readErr)
		}
		if err := write(fs); (err != nil) != tc.writeErr {
			t.Errorf("Ops %v: write = %v, want failure %v", tc.ops, err, tc.writeErr)
		}
	}

	fs := faultstore.Wrap(inner, faultstore.Options{ErrorRate: 1, Disabled: true})
	if err := fs.Ping(ctx); err != nil || fs.Enabled() {
		t.Errorf("disabled: Ping = %v, Enabled = %v; want nil, false", err, fs.Enabled())
	}
	fs.SetEnabled(true)
	if err := fs.Ping(ctx); !injected(err) {
		t.Errorf("enabled: Ping = %v, want an injected fault", err)
	}
	fs.SetEnabled(false)
	if err := fs.Ping(ctx); err != nil {
		t.Errorf("disabled again: Ping = %v, want nil", err)
	}
	if fs.Unwrap() != inner {
		t.Error("Unwrap does not return the wrapped store")
	}
}

// The same seed gives the same faults; the share of faults is near the rate.
func TestSeedReproducible(t *testing.T) {
	inner := openSQLite(t)
	ctx := context.Background()
	const n = 2000
	pattern := func(seed uint64) []bool {
		fs := faultstore.Wrap(inner, faultstore.Options{ErrorRate: 0.3, Seed: seed})
		out := make([]bool, n)
		for i := range out {
			out[i] = fs.Ping(ctx) != nil
		}
		return out
	}
	a, b, c := pattern(7), pattern(7), pattern(8)
	if !reflect.DeepEqual(a, b) {
		t.Error("two stores with seed 7 injected different faults")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("seeds 7 and 8 injected the same faults")
	}
	faults := 0
	for _, f := range a {
		if f {
			faults++
		}
	}
	// 2,000 draws at 0.3: the standard deviation is 0.01; the bounds are ten of them away.
	if share := float64(faults) / n; share < 0.2 || share > 0.4 {
		t.Errorf("%d of %d calls failed at rate 0.3", faults, n)
	}
}

// Injected latency delays calls by at least the minimum, and a wait ends with its context.
func TestLatency(t *testing.T) {
	inner := openSQLite(t)
	fs := faultstore.Wrap(inner, faultstore.Options{MinLatency: 2 * time.Millisecond, MaxLatency: 4 * time.Millisecond})
	start := time.Now()
	for range 5 {
		if err := fs.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 10*time.Millisecond {
		t.Errorf("5 calls delayed by at least 2 ms took %v", d)
	}
	if got := fs.Stats(); got.Delayed != 5 || got.Faults != 0 {
		t.Errorf("Stats() = %+v, want 5 delayed, no faults", got)
	}

	slow := faultstore.Wrap(inner, faultstore.Options{MinLatency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- slow.Ping(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Ping with a cancelled context = nil, want the store's context error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a call waiting an hour of injected latency did not end with its context")
	}
}

// A transaction is all or nothing under faults, its nested transactions too, and a change is
// announced only when it committed: every call inside InTx may fail, and so may the commit.
func TestTransactionsAllOrNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, inner latchkey.Store) {
		s := seed(t)
		w := newWorld(t, inner, "Tx", "owner@tx.test")
		fs := faultstore.Wrap(inner, faultstore.Options{ErrorRate: *faultRate, MaxLatency: time.Millisecond, Seed: s})
		var mu sync.Mutex
		announced := map[int64]bool{}
		t.Cleanup(inner.Subscribe(func(c latchkey.Change) {
			if c.Kind == latchkey.ChangeToken {
				mu.Lock()
				announced[c.ID] = true
				mu.Unlock()
			}
		}))
		ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "test", Source: "system"})
		create := func(ctx context.Context, name string) error {
			m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
			if err != nil {
				t.Fatal(err)
			}
			return fs.CreateToken(ctx, &latchkey.Token{AccountID: w.account.ID, Kind: latchkey.KindServiceToken, Name: name,
				UID: m.UID, Hash: m.Hash, CreatedBy: "system:test", Grants: []latchkey.Grant{jobAdmin}})
		}
		type outcome struct{ outer, nested, d error }
		n := max(*faultOps/2, 20)
		outcomes := make([]outcome, n)
		commits := 0
		for i := range outcomes {
			var o outcome
			o.outer = fs.InTx(ctx, func(ctx context.Context) error {
				if err := create(ctx, fmt.Sprintf("t%d-a", i)); err != nil {
					return err
				}
				// A failure inside a nested transaction is handled and the outer one goes on.
				o.nested = fs.InTx(ctx, func(ctx context.Context) error {
					if err := create(ctx, fmt.Sprintf("t%d-b", i)); err != nil {
						return err
					}
					return create(ctx, fmt.Sprintf("t%d-c", i))
				})
				// So is a failed call.
				o.d = create(ctx, fmt.Sprintf("t%d-d", i))
				return create(ctx, fmt.Sprintf("t%d-e", i))
			})
			for _, err := range []error{o.outer, o.nested, o.d} {
				if err != nil && !injected(err) {
					t.Fatalf("transaction %d: %v; want success or an injected fault", i, err)
				}
			}
			if o.outer == nil {
				commits++
			}
			outcomes[i] = o
		}
		stored := map[string]int64{}
		for offset := 0; ; {
			page, total, err := inner.FindTokens(context.Background(), latchkey.TokenFilter{AccountID: &w.account.ID,
				Offset: offset, Limit: latchkey.MaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range page {
				stored[tok.Name] = tok.ID
			}
			offset += len(page)
			if len(page) == 0 || offset >= total {
				break
			}
		}
		wantAnnounced := map[int64]bool{}
		for i, o := range outcomes {
			want := map[string]bool{"a": o.outer == nil, "b": o.outer == nil && o.nested == nil, "c": o.outer == nil && o.nested == nil,
				"d": o.outer == nil && o.d == nil, "e": o.outer == nil}
			for part, present := range want {
				name := fmt.Sprintf("t%d-%s", i, part)
				id, ok := stored[name]
				if ok != present {
					t.Errorf("transaction %d (outer %v, nested %v, d %v): token %s stored = %v, want %v", i, o.outer, o.nested, o.d, name, ok, present)
				}
				if ok {
					wantAnnounced[id] = true
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if !reflect.DeepEqual(announced, wantAnnounced) {
			t.Errorf("announced token changes %v, want exactly the committed tokens %v", announced, wantAnnounced)
		}
		if commits == 0 || commits == n {
			t.Errorf("%d of %d transactions committed; the test needs both outcomes (rate %v)", commits, n, *faultRate)
		}
		t.Logf("%d of %d transactions committed; %+v", commits, n, fs.Stats())
	})
}
