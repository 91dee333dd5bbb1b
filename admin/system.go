package admin

import (
	"context"
	"time"

	"github.com/latchkey/latchkey"
)

// Work latchkey does on its own: answering leak reports, reuse of rotated-out tokens, and
// recording what happened. These act as the system, named in the audit log.

// systemCtx sets the system actor called name on ctx.
func systemCtx(ctx context.Context, name, ip string) context.Context {
	return latchkey.WithActor(ctx, latchkey.Actor{Type: "system", Name: name, IP: ip, Source: "system"})
}

// Leak is where a leaked token was found.
type Leak struct {
	// Reporter names who reported it, e.g. "github".
	Reporter string
	// ReporterName is the audit actor's name, e.g. "github secret scanning".
	ReporterName string
	// IP is the reporter's address.
	IP                string
	URL, Source, Type string
}

// ReportLeak responds to a report that tok leaked: it revokes the token, or flags it when the
// account's leak_action is "flag", and audits the report as leak.reported, in one transaction.
// A token reported again (scanners re-report on new commits) is audited again; revoking it twice
// does nothing. It returns what was done: "revoked", "flagged" or "none (already revoked)".
func (s *Service) ReportLeak(ctx context.Context, tok *latchkey.Token, l Leak) (string, error) {
	ctx = systemCtx(ctx, l.ReporterName, l.IP)
	var action string
	err := s.inTx(ctx, func(ctx context.Context) error {
		tok, err := s.store.FindTokenByID(ctx, tok.ID)
		if err != nil {
			return err
		}
		a, err := s.store.FindAccountByID(ctx, tok.AccountID)
		if err != nil {
			return err
		}
		action = "revoked"
		switch {
		case tok.State != latchkey.StateActive:
			action = "none (already revoked)"
		case a.Settings.LeakAction == "flag":
			action = "flagged"
		}
		c := map[string]any{"token_id": tok.ID, "uid": tok.UID, "name": tok.Name, "kind": string(tok.Kind),
			"url": l.URL, "source": l.Source, "type": l.Type, "reporter": l.Reporter, "action": action}
		if err := s.store.AppendAudit(ctx, &latchkey.AuditEntry{AccountID: tok.AccountID, EventType: "leak.reported", Context: c}); err != nil {
			return err
		}
		switch action {
		case "revoked":
			return s.store.DeleteToken(ctx, tok.ID, "leak_reported")
		case "flagged":
			if tok.Flagged {
				return nil
			}
			flagged := true
			_, err := s.store.UpdateToken(ctx, tok.ID, latchkey.TokenUpdate{Flagged: &flagged})
			return err
		}
		return nil
	})
	return action, err
}

// TokenEventType names a token event in the audit log's vocabulary: service_token.<what> or
// account_scoped_pat.<what>.
func TokenEventType(kind latchkey.TokenKind, what string) string {
	if kind == latchkey.KindPAT {
		return "account_scoped_pat." + what
	}
	return "service_token." + what
}

// HandleReuse responds to a rotated-out token presented after its grace period: it audits the
// reuse and, when the account says so (the default), revokes the live tokens of its family —
// whoever holds the old token may hold the new one too — in one transaction.
func (s *Service) HandleReuse(ctx context.Context, tok *latchkey.Token) error {
	ctx = systemCtx(ctx, "reuse detection", "")
	return s.inTx(ctx, func(ctx context.Context) error {
		a, err := s.store.FindAccountByID(ctx, tok.AccountID)
		if err != nil {
			return err
		}
		now := s.Now()
		var live []*latchkey.Token
		if a.Settings.ReuseRevokesFamily {
			active := latchkey.StateActive
			fam, err := all(func(offset int) ([]*latchkey.Token, int, error) {
				return s.store.FindTokens(ctx, latchkey.TokenFilter{AccountID: &tok.AccountID, FamilyID: &tok.FamilyID,
					State: &active, Offset: offset, Limit: latchkey.MaxLimit})
			})
			if err != nil {
				return err
			}
			for _, t := range fam {
				if t.ID != tok.ID && !t.RotatedOut(now) {
					live = append(live, t)
				}
			}
		}
		ids := make([]int64, len(live))
		for i, t := range live {
			ids[i] = t.ID
		}
		c := map[string]any{"token_id": tok.ID, "uid": tok.UID, "name": tok.Name, "family_id": tok.FamilyID,
			"revoke_family": a.Settings.ReuseRevokesFamily, "revoked_token_ids": ids}
		if tok.GraceUntil != nil {
			c["grace_until"] = tok.GraceUntil.UTC().Format(time.RFC3339Nano)
		}
		if tok.ReplacedByID != 0 {
			c["replaced_by_id"] = tok.ReplacedByID
		}
		if err := s.store.AppendAudit(ctx, &latchkey.AuditEntry{AccountID: tok.AccountID,
			EventType: TokenEventType(tok.Kind, "reuse_detected"), Context: c}); err != nil {
			return err
		}
		for _, t := range live {
			if err := s.store.DeleteToken(ctx, t.ID, "reuse_detected"); err != nil {
				return err
			}
		}
		return nil
	})
}

// RecordEvents appends entries that record what happened and change nothing (a sign-in, a
// summary of failed authentications, a token that expired), in one transaction. An entry that
// names no actor gets the context's.
func (s *Service) RecordEvents(ctx context.Context, entries ...*latchkey.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		for _, e := range entries {
			if err := s.store.AppendAudit(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// Fence orders writers that decide from what they read: a sweep that reads the audit log to
// learn what is already recorded, then records the rest. Each node reads the fence's
// generation before it reads anything else; RecordEventsFenced writes only if the generation
// is still the one it read, and moves it on, so that of two nodes deciding from the same reads
// one writes and the other is refused (EConflict) and decides again next round.
type Fence struct {
	name string
	gen  int64
}

// ReadFence reads the named fence's generation.
func (s *Service) ReadFence(ctx context.Context, name string) (*Fence, error) {
	gen, _, err := s.store.FindEventsAfterCursor(ctx, name, 1)
	if err != nil {
		return nil, err
	}
	return &Fence{name: name, gen: gen}, nil
}

// RecordEventsFenced is RecordEvents in one transaction with moving f on; when another writer
// moved it since f was read, nothing is written and the error is EConflict.
func (s *Service) RecordEventsFenced(ctx context.Context, f *Fence, entries ...*latchkey.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.MoveEventCursor(ctx, f.name, f.gen, f.gen+1); err != nil {
			return err
		}
		for _, e := range entries {
			if err := s.store.AppendAudit(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		f.gen++
	}
	return err
}

// RecordTokenUses writes observed last-used times and addresses (no audit entries: last_used is
// advisory and written in batches off the request path).
func (s *Service) RecordTokenUses(ctx context.Context, uses []latchkey.TokenUse) error {
	return s.store.RecordTokenUses(ctx, uses)
}

// RecordUsage writes verification counts and client addresses gathered off the request path
// (no audit entries: they are analytics, written in batches).
func (s *Service) RecordUsage(ctx context.Context, recs []latchkey.UsageRecord, addrs []latchkey.AddressSeen) error {
	return s.store.RecordUsage(ctx, recs, addrs)
}

// PruneUsage deletes usage buckets of granularity older than before.
func (s *Service) PruneUsage(ctx context.Context, granularity time.Duration, before time.Time) (int64, error) {
	return s.store.PruneUsage(ctx, granularity, before)
}

// CreateSigningKey stores a new key for signing access tokens (the server's keyring makes them
// on schedule).
func (s *Service) CreateSigningKey(ctx context.Context, k *latchkey.SigningKey) error {
	return s.store.CreateSigningKey(ctx, k)
}

// FindSigningKeys returns the signing keys published at now.
func (s *Service) FindSigningKeys(ctx context.Context, now time.Time) ([]*latchkey.SigningKey, error) {
	return s.store.FindSigningKeys(ctx, now)
}

// DeleteSigningKeys deletes the signing keys no longer published at now.
func (s *Service) DeleteSigningKeys(ctx context.Context, now time.Time) (int64, error) {
	return s.store.DeleteSigningKeys(ctx, now)
}
