package faultstore_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/internal/faultstore"
	"github.com/latchkey/latchkey/postgres"
	"github.com/latchkey/latchkey/postgres/pgtest"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
)

// The tests run each store under faults and assert that nothing answers wrongly. Their size is
// set by -faults.ops; a failure names its seed and -faults.seed replays it (the admin test
// exactly, since it runs one call at a time; the concurrent ones up to scheduling).
//
//	go test ./internal/faultstore                                            # short
//	go test ./internal/faultstore -faults.ops 5000 -timeout 30m -v           # long
//	go test ./internal/faultstore -run 'TestAdminUnderFaults/sqlite' -faults.seed 12345
var (
	faultOps  = flag.Int("faults.ops", 100, "size of each fault test per store: admin operations (verifications and HTTP requests scale from it)")
	faultSeed = flag.Uint64("faults.seed", 0, "seed of the fault tests (0: from the clock)")
	faultRate = flag.Float64("faults.rate", 0.2, "share of store calls that fail")
)

// seed returns the seed of a test run, logging how to replay it.
func seed(t *testing.T) uint64 {
	t.Helper()
	s := *faultSeed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d, -faults.ops %d, -faults.rate %v (replay: go test ./internal/faultstore -run '%s' -faults.seed %d -faults.ops %d)",
		s, *faultOps, *faultRate, t.Name(), s, *faultOps)
	return s
}

// eachStore runs fn on a fresh SQLite file and on a fresh PostgreSQL schema (skipped with a
// reason when PostgreSQL is unreachable, failed when CI=true).
func eachStore(t *testing.T, fn func(t *testing.T, s latchkey.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "latchkey.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		s, err := postgres.Open(context.Background(), pgtest.Schema(t, "pool_max_conns", "8"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
}

// injected reports whether err is a fault the wrapper injected.
func injected(err error) bool { return errors.Is(err, faultstore.ErrInjected) }

// unavailable reports whether err is a storage outage, injected or not.
func unavailable(err error) bool { return latchkey.ErrorCodeOf(err) == latchkey.EUnavailable }

// world is an account built without faults through admin on the unwrapped store.
type world struct {
	tb      testing.TB
	store   latchkey.Store
	svc     *admin.Service
	account *latchkey.Account
	owner   *latchkey.User
	// ownerPAT is the owner's personal access token string.
	ownerPAT string
	groups   map[string]*latchkey.Group
}

// newWorld creates an account (enterprise plan) with its built-in groups and an owner in all of
// them, holding a personal access token. It writes through the store directly, as the golden
// fixture does: admin's bootstrap hashes a password, which costs a second on a busy machine.
func newWorld(tb testing.TB, s latchkey.Store, name, ownerEmail string) *world {
	tb.Helper()
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "faultstore test", Source: "system"})
	a := &latchkey.Account{Name: name, Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := s.CreateAccount(ctx, a); err != nil {
		tb.Fatalf("CreateAccount(%s): %v", name, err)
	}
	w := &world{tb: tb, store: s, svc: admin.New(s, tokenfmt.Default), account: a, groups: map[string]*latchkey.Group{}}
	groups, _, err := s.FindGroups(ctx, latchkey.GroupFilter{AccountID: a.ID})
	if err != nil {
		tb.Fatal(err)
	}
	for _, g := range groups {
		w.groups[g.Name] = g
	}
	w.owner = &latchkey.User{Email: ownerEmail, FirstName: "Owner", LastName: name}
	if err := s.CreateUser(ctx, w.owner); err != nil {
		tb.Fatal(err)
	}
	m := &latchkey.Membership{AccountID: a.ID, UserID: w.owner.ID, License: latchkey.LicenseDeveloper}
	if err := s.CreateMembership(ctx, m, []int64{w.groups[latchkey.GroupOwner].ID, w.groups[latchkey.GroupMember].ID,
		w.groups[latchkey.GroupEveryone].ID}); err != nil {
		tb.Fatal(err)
	}
	w.ownerPAT = w.rawToken(&latchkey.Token{Kind: latchkey.KindPAT, UserID: w.owner.ID, Name: "owner laptop"})
	return w
}

// as returns the principal userID acts as now, and a context carrying it as the actor.
func (w *world) as(userID int64) (context.Context, *latchkey.Principal) {
	w.tb.Helper()
	p, err := w.svc.UserPrincipal(context.Background(), userID, w.account.ID, latchkey.AuthPAT)
	if err != nil {
		w.tb.Fatalf("UserPrincipal(%d): %v", userID, err)
	}
	return latchkey.WithActor(context.Background(), latchkey.ActorOf(p, "127.0.0.1", "api")), p
}

// addMember adds a member with the license, in the named groups (nil: the defaults), as the owner.
func (w *world) addMember(email string, l latchkey.License, groups ...string) *latchkey.User {
	w.tb.Helper()
	var ids []int64
	for _, g := range groups {
		ids = append(ids, w.groups[g].ID)
	}
	ctx, p := w.as(w.owner.ID)
	u, err := w.svc.AddMember(ctx, p, admin.NewMember{Email: email, FirstName: "Member", LastName: email, License: l, GroupIDs: ids})
	if err != nil {
		w.tb.Fatalf("AddMember(%s): %v", email, err)
	}
	return u
}

// serviceToken creates a service token as the owner and returns it with its string.
func (w *world) serviceToken(name string, in admin.NewToken) (*latchkey.Token, string) {
	w.tb.Helper()
	in.Name = name
	ctx, p := w.as(w.owner.ID)
	tok, secret, err := w.svc.CreateServiceToken(ctx, p, in)
	if err != nil {
		w.tb.Fatalf("CreateServiceToken(%s): %v", name, err)
	}
	return tok, secret
}

// pat creates a personal access token for userID, as that user.
func (w *world) pat(userID int64, name string) (*latchkey.Token, string) {
	w.tb.Helper()
	ctx, p := w.as(userID)
	tok, secret, err := w.svc.CreatePAT(ctx, p, userID, admin.NewToken{Name: name})
	if err != nil {
		w.tb.Fatalf("CreatePAT(%s): %v", name, err)
	}
	return tok, secret
}

// rawToken stores a token directly (bypassing admin's checks, e.g. an expiry in the past).
func (w *world) rawToken(tok *latchkey.Token) string {
	w.tb.Helper()
	m, err := tokenfmt.Default.Mint(tok.Kind)
	if err != nil {
		w.tb.Fatal(err)
	}
	tok.AccountID, tok.UID, tok.Hash, tok.CreatedBy = w.account.ID, m.UID, m.Hash, "system:test"
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "faultstore test", Source: "system"})
	if err := w.store.CreateToken(ctx, tok); err != nil {
		w.tb.Fatalf("CreateToken(%s): %v", tok.Name, err)
	}
	return m.String
}

// unknownToken is a well-formed token string that was never stored.
func unknownToken(tb testing.TB) string {
	tb.Helper()
	m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
	if err != nil {
		tb.Fatal(err)
	}
	return m.String
}

var jobAdmin = latchkey.Grant{PermissionSet: "job_admin", AllProjects: true}

// findings gathers wrong answers by kind, so that one run reports every kind it met (with its
// first occurrence and a count) instead of stopping at the first.
type findings struct {
	order []string
	byKey map[string]*finding
}

type finding struct {
	first string
	n     int
}

func (f *findings) add(key, format string, args ...any) {
	if f.byKey == nil {
		f.byKey = map[string]*finding{}
	}
	x := f.byKey[key]
	if x == nil {
		x = &finding{first: fmt.Sprintf(format, args...)}
		f.byKey[key] = x
		f.order = append(f.order, key)
	}
	x.n++
}

func (f *findings) report(t *testing.T, replay string) {
	t.Helper()
	for _, k := range f.order {
		x := f.byKey[k]
		t.Errorf("%s (%d times); first: %s\nreplay: %s", k, x.n, x.first, replay)
	}
}
