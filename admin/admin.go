// Package admin is latchkey's application layer: every change to an account's objects, and every
// read of them on behalf of a principal, is one method here that takes the acting principal. A
// method checks permission, escalation, the account's invariants and its input, then commits the
// change with its audit entries in one transaction. The HTTP API, the web UI and the CLI call
// these methods and decide nothing themselves, so a rule is written once.
//
// Invariants kept here (see docs/permissions.md):
//   - An active account keeps at least one owner: an active user with a developer license who
//     holds account_admin on all projects through an active group.
//   - Nobody grants what they do not hold, and nobody changes the license, memberships, state or
//     tokens of a user, or a service token, holding access they do not hold themselves.
//   - A grant names its scope: all projects, or one live project of the account.
//   - The token security policy (leak action, reuse revoking the family, maximum lifetime,
//     default rotation grace) needs account_admin or security_admin.
package admin

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/tokenfmt"
)

// Service is the application layer over one store.
type Service struct {
	store  latchkey.Store
	format tokenfmt.Format
	// Now returns the current time; tests may replace it.
	Now func() time.Time
	// SecretKey seals SSO client secrets at rest (without it none can be stored) and webhook
	// signing secrets (without it they are stored as they are).
	SecretKey []byte
	// WebhookURLCheck validates a subscription's client_url (set by cmd/latchkey from the webhook
	// client's rules); nil: https only.
	WebhookURLCheck func(raw string) error
}

// New returns a Service that mints tokens in format.
func New(store latchkey.Store, format tokenfmt.Format) *Service {
	if format.ServicePrefix == "" {
		format = tokenfmt.Default
	}
	return &Service{store: store, format: format, Now: time.Now}
}

// Format is the token format the service mints.
func (s *Service) Format() tokenfmt.Format { return s.format }

// inTx runs fn in one store transaction (see latchkey.Store.InTx). Under DryRun the
// transaction is rolled back once fn succeeds.
func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if ctx.Value(dryRunKey{}) == nil {
		return s.store.InTx(ctx, fn)
	}
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := fn(ctx); err != nil {
			return err
		}
		return errDryRun
	})
	if errors.Is(err, errDryRun) {
		return nil
	}
	return err
}

type dryRunKey struct{}

var errDryRun = errors.New("dry run: rolled back")

// DryRun returns a context under which a change is checked in full — permission, escalation,
// invariants, input, against the data as it is — and then rolled back instead of committed. A
// confirmation page asks with it whether the change it offers would be allowed, so that the
// page and the change cannot disagree. Results other than the error are meaningless under it.
func DryRun(ctx context.Context) context.Context { return context.WithValue(ctx, dryRunKey{}, true) }

// account loads the principal's account.
func (s *Service) account(ctx context.Context, p *latchkey.Principal) (*latchkey.Account, error) {
	return s.store.FindAccountByID(ctx, p.AccountID)
}

func notFound(format string, args ...any) error {
	return latchkey.Errorf(latchkey.ENotFound, format, args...)
}

// all reads every page of a list.
func all[T any](fetch func(offset int) ([]T, int, error)) ([]T, error) {
	var out []T
	for {
		page, total, err := fetch(len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) == 0 || len(out) >= total {
			return out, nil
		}
	}
}
