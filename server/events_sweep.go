package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
)

// Scheduled events: tokens about to expire (service_token.expiring, account_scoped_pat.expiring)
// and service tokens nobody uses (service_token.unused). Nothing happens to a token at these
// moments, so no mutation writes them; sweeps audit them, and the audit log, being the outbox,
// hands them to webhooks and email like every other event.

const day = 24 * time.Hour

// noticeFence orders the nodes' notice sweeps (see admin.Fence).
const noticeFence = "notice-sweep"

// noticeSweep remembers which scheduled events were audited, by key (see expiringKey and
// unusedKey), so that each is audited once; what it forgot is recognised from the audit log.
type noticeSweep struct {
	mu       sync.Mutex
	expiring map[string]bool
	unused   map[string]bool
}

func newNoticeSweep() *noticeSweep {
	return &noticeSweep{expiring: map[string]bool{}, unused: map[string]bool{}}
}

// expiringKey names one expiring event: a token, a threshold and the expiry it counts down to
// (an expiry moved later starts a new count).
func expiringKey(tokenID int64, days int, expiresAt string) string {
	return fmt.Sprintf("%d/%d/%s", tokenID, days, expiresAt)
}

// unusedKey names one unused event: a token and the start of its unused stretch.
func unusedKey(tokenID int64, idleSince string) string {
	return fmt.Sprintf("%d/%s", tokenID, idleSince)
}

// sweepNotices audits the expiring and unused events that are due in every active account.
func (s *Server) sweepNotices(ctx context.Context) error {
	sw := s.gov().notices
	sw.mu.Lock()
	defer sw.mu.Unlock()
	now := s.admin.Now()
	// Read first: every node sweeps, and two deciding from the same reads must not both write.
	fence, err := s.admin.ReadFence(ctx, noticeFence)
	if err != nil {
		s.log.Error("sweep token notices", "error", err.Error())
		return fmt.Errorf("sweep token notices: %w", err)
	}
	active := latchkey.StateActive
	accounts, err := allPages(func(offset int) ([]*latchkey.Account, int, error) {
		return s.store.FindAccounts(ctx, latchkey.AccountFilter{State: &active, Offset: offset, Limit: latchkey.MaxLimit})
	})
	if err != nil {
		s.log.Error("sweep token notices", "error", err.Error())
		return fmt.Errorf("sweep token notices: %w", err)
	}
	ctx = latchkey.WithActor(ctx, latchkey.Actor{Type: "system", Name: "notices", Source: "system"})
	seenExpiring, seenUnused := map[string]bool{}, map[string]bool{}
	var errs []error
	for _, a := range accounts {
		errs = append(errs, s.sweepExpiring(ctx, a, now, fence, seenExpiring), s.sweepUnused(ctx, a, now, fence, seenUnused))
		if latchkey.ErrorCodeOf(errors.Join(errs...)) == latchkey.EConflict {
			// Another node swept meanwhile: what it recorded is in the audit log, which the
			// next round reads. Keep what this node knew.
			return nil
		}
	}
	// Forget what no longer applies (the token ended, was used, or passed its next threshold).
	sw.expiring, sw.unused = seenExpiring, seenUnused
	if err := errors.Join(errs...); err != nil {
		s.log.Error("sweep token notices", "error", err.Error())
		return fmt.Errorf("sweep token notices: %w", err)
	}
	return nil
}

// sweepExpiring audits an expiring event for each live token of a whose expiry is within one of
// the account's thresholds: the smallest threshold at or above the time left, once. A token
// created with five days left gets the 7-day event at once and the 1-day one later, never the
// 30-day one.
func (s *Server) sweepExpiring(ctx context.Context, a *latchkey.Account, now time.Time, fence *admin.Fence, seen map[string]bool) error {
	sw := s.gov().notices
	thresholds := a.Settings.NoticeDays() // largest first
	horizon := now.Add(time.Duration(thresholds[0]) * day)
	toks, err := allPages(func(offset int) ([]*latchkey.Token, int, error) {
		return s.store.FindTokens(ctx, latchkey.TokenFilter{AccountID: &a.ID, LiveAt: &now, ExpiresBefore: &horizon,
			Offset: offset, Limit: latchkey.MaxLimit})
	})
	if err != nil {
		return err
	}
	type due struct {
		tok  *latchkey.Token
		days int
		key  string
	}
	var fresh []due
	for _, t := range toks {
		if t.ExpiresAt == nil {
			continue
		}
		left := t.ExpiresAt.Sub(now)
		d := 0
		for _, th := range slices.Backward(thresholds) { // smallest first
			if left <= time.Duration(th)*day {
				d = th
				break
			}
		}
		if d == 0 {
			continue
		}
		key := expiringKey(t.ID, d, apitype.Time(*t.ExpiresAt))
		if sw.expiring[key] {
			seen[key] = true
			continue
		}
		fresh = append(fresh, due{t, d, key})
	}
	if len(fresh) == 0 {
		return nil
	}
	// An event for a threshold of d days was written at most d days before the expiry, which
	// is still ahead: the window covers every earlier event of these tokens.
	done, err := s.auditedKeys(ctx, a.ID, now.Add(-time.Duration(thresholds[0])*day-day),
		[]string{"service_token.expiring", "account_scoped_pat.expiring"}, func(c map[string]any) string {
			id, _ := contextInt(c, "token_id")
			d, _ := contextInt(c, "days")
			at, _ := c["expires_at"].(string)
			return expiringKey(id, int(d), at)
		})
	if err != nil {
		return err
	}
	var entries []*latchkey.AuditEntry
	for _, f := range fresh {
		if done[f.key] {
			seen[f.key] = true
			continue
		}
		t := f.tok
		c := map[string]any{"token_id": t.ID, "uid": t.UID, "name": t.Name, "expires_at": apitype.Time(*t.ExpiresAt), "days": f.days}
		if t.UserID != 0 {
			c["user_id"] = t.UserID
		}
		if t.CreatedBy != "" {
			c["created_by"] = t.CreatedBy
		}
		entries = append(entries, &latchkey.AuditEntry{AccountID: a.ID, EventType: admin.TokenEventType(t.Kind, "expiring"), Context: c})
	}
	if err := s.admin.RecordEventsFenced(ctx, fence, entries...); err != nil {
		return err
	}
	for _, f := range fresh {
		seen[f.key] = true
	}
	return nil
}

// sweepUnused audits service_token.unused for each live service token of a that has not been
// used (or, never used, was created) UnusedTokenDays ago or more: once per unused stretch, so a
// token used again and then left alone again is announced again.
func (s *Server) sweepUnused(ctx context.Context, a *latchkey.Account, now time.Time, fence *admin.Fence, seen map[string]bool) error {
	n := a.Settings.UnusedTokenDays
	if n <= 0 {
		return nil
	}
	sw := s.gov().notices
	cutoff := now.Add(-time.Duration(n) * day)
	kind := latchkey.KindServiceToken
	toks, err := allPages(func(offset int) ([]*latchkey.Token, int, error) {
		return s.store.FindTokens(ctx, latchkey.TokenFilter{AccountID: &a.ID, Kind: &kind, LiveAt: &now,
			Offset: offset, Limit: latchkey.MaxLimit})
	})
	if err != nil {
		return err
	}
	type due struct {
		tok   *latchkey.Token
		since time.Time
		key   string
	}
	var fresh []due
	earliest := now
	for _, t := range toks {
		since := t.CreatedAt
		if t.LastUsedAt != nil {
			since = *t.LastUsedAt
		}
		if since.After(cutoff) {
			continue
		}
		key := unusedKey(t.ID, apitype.Time(since))
		if sw.unused[key] {
			seen[key] = true
			continue
		}
		fresh = append(fresh, due{t, since, key})
		if since.Before(earliest) {
			earliest = since
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	done, err := s.auditedKeys(ctx, a.ID, earliest, []string{"service_token.unused"}, func(c map[string]any) string {
		id, _ := contextInt(c, "token_id")
		since, _ := c["idle_since"].(string)
		return unusedKey(id, since)
	})
	if err != nil {
		return err
	}
	var entries []*latchkey.AuditEntry
	for _, f := range fresh {
		if done[f.key] {
			seen[f.key] = true
			continue
		}
		t := f.tok
		c := map[string]any{"token_id": t.ID, "uid": t.UID, "name": t.Name, "days": n, "idle_since": apitype.Time(f.since),
			"last_used_at": apitype.TimePtr(t.LastUsedAt)}
		if t.CreatedBy != "" {
			c["created_by"] = t.CreatedBy
		}
		entries = append(entries, &latchkey.AuditEntry{AccountID: a.ID, EventType: "service_token.unused", Context: c})
	}
	if err := s.admin.RecordEventsFenced(ctx, fence, entries...); err != nil {
		return err
	}
	for _, f := range fresh {
		seen[f.key] = true
	}
	return nil
}

// auditedKeys returns the keys of the account's entries of these event types written since
// since (by an earlier run, before a restart or on another node).
func (s *Server) auditedKeys(ctx context.Context, accountID int64, since time.Time, events []string, key func(map[string]any) string) (map[string]bool, error) {
	done := map[string]bool{}
	for _, event := range events {
		entries, err := allPages(func(offset int) ([]*latchkey.AuditEntry, int, error) {
			return s.store.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: accountID, EventType: &event,
				Since: &since, Offset: offset, Limit: latchkey.MaxLimit})
		})
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			done[key(e.Context)] = true
		}
	}
	return done, nil
}

// allPages reads every page of a list.
func allPages[T any](fetch func(offset int) ([]T, int, error)) ([]T, error) {
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
