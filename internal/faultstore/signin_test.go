package faultstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/internal/faultstore"
	"github.com/latchkey/latchkey/password"
	"github.com/latchkey/latchkey/tokenfmt"
)

// passwordHash is one argon2 hash for the sign-in test, computed once: each costs a good part
// of a second on a busy machine.
var passwordHash = sync.OnceValues(func() (string, error) { return password.Hash(signInPassword) })

const signInPassword = "correct horse battery staple"

// Signing in while storage cannot answer is an outage (EUnavailable), not a wrong password:
// the user is not told their password is wrong, and no failed sign-in is counted against them.
func TestSignInUnderFaults(t *testing.T) {
	eachStore(t, func(t *testing.T, inner latchkey.Store) {
		hash, err := passwordHash()
		if err != nil {
			t.Fatal(err)
		}
		ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "faultstore test", Source: "system"})
		u := &latchkey.User{Email: "ada@acme.test", FirstName: "Ada", PasswordHash: hash}
		if err := inner.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		fs := faultstore.Wrap(inner, faultstore.Options{ErrorRate: 1, Ops: faultstore.Reads})
		svc := admin.New(fs, tokenfmt.Default)
		if _, err := svc.Authenticate(context.Background(), u.Email, signInPassword); !unavailable(err) {
			t.Errorf("Authenticate while storage cannot answer = %v (code %q), want EUnavailable", err, latchkey.ErrorCodeOf(err))
		}
		fs.SetEnabled(false)
		if got, err := svc.Authenticate(context.Background(), u.Email, signInPassword); err != nil || got.ID != u.ID {
			t.Errorf("Authenticate once storage answers = %v, %v; want user %d", got, err, u.ID)
		}
	})
}
