package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
)

// Token use, reuse and expiry: the work the verifier hands off so that nothing on the request
// path waits for storage.

// useBuffer holds the latest observed use of each token until the next flush.
type useBuffer struct {
	mu sync.Mutex
	m  map[int64]latchkey.TokenUse
}

// maxPendingUses bounds the buffer; beyond it, observations of tokens not already buffered are
// dropped until the next flush (last_used is advisory).
const maxPendingUses = 200_000

// useBatch is how many uses one RecordTokenUses call writes.
const useBatch = 500

func newUseBuffer() *useBuffer { return &useBuffer{m: map[int64]latchkey.TokenUse{}} }

// add keeps u unless a newer use of the same token is buffered.
func (b *useBuffer) add(u latchkey.TokenUse) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old, ok := b.m[u.TokenID]
	if ok && old.At.After(u.At) {
		return
	}
	if !ok && len(b.m) >= maxPendingUses {
		return
	}
	b.m[u.TokenID] = u
}

// take empties the buffer and returns what it held.
func (b *useBuffer) take() []latchkey.TokenUse {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.m) == 0 {
		return nil
	}
	out := make([]latchkey.TokenUse, 0, len(b.m))
	for _, u := range b.m {
		out = append(out, u)
	}
	clear(b.m)
	return out
}

func (b *useBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// recordUse receives a token's use (at most once a minute per token) from the verifier. It only
// buffers; flushUses writes.
func (s *Server) recordUse(u latchkey.TokenUse) { s.gov().uses.add(u) }

// flushUses writes the buffered last-used times in batches. A batch that fails goes back into
// the buffer (unless a newer use arrived meanwhile) for the next flush.
func (s *Server) flushUses(ctx context.Context) error {
	gv := s.gov()
	uses := gv.uses.take()
	var errs []error
	for len(uses) > 0 {
		n := min(len(uses), useBatch)
		batch := uses[:n]
		uses = uses[n:]
		if err := s.admin.RecordTokenUses(ctx, batch); err != nil {
			errs = append(errs, err)
			for _, u := range batch {
				gv.uses.add(u)
			}
		}
	}
	if len(errs) > 0 {
		s.log.Error("record last-used times", "error", errs[0].Error())
		return fmt.Errorf("record last-used times: %w", errs[0])
	}
	return nil
}

// reuseQueue hands rotated-out tokens presented after their grace period from the verifier
// (which must not block) to a worker. A token is handled once an hour at most.
type reuseQueue struct {
	mu     sync.Mutex
	q      []*latchkey.Token
	seen   map[int64]time.Time
	wake   chan struct{}
	closed bool
}

const (
	maxReuseQueue = 10_000
	reuseDedup    = time.Hour
)

func newReuseQueue() *reuseQueue {
	return &reuseQueue{seen: map[int64]time.Time{}, wake: make(chan struct{}, 1)}
}

func (q *reuseQueue) push(tok *latchkey.Token, now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if at, ok := q.seen[tok.ID]; ok && now.Sub(at) < reuseDedup {
		return false
	}
	if len(q.q) >= maxReuseQueue {
		return false
	}
	if len(q.seen) >= maxReuseQueue {
		for id, at := range q.seen {
			if now.Sub(at) >= reuseDedup {
				delete(q.seen, id)
			}
		}
	}
	q.seen[tok.ID] = now
	q.q = append(q.q, tok)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// pop waits for queued tokens; ok is false once the queue is closed and empty.
func (q *reuseQueue) pop() (toks []*latchkey.Token, ok bool) {
	for {
		q.mu.Lock()
		toks, q.q = q.q, nil
		closed := q.closed
		q.mu.Unlock()
		if len(toks) > 0 {
			return toks, true
		}
		if closed {
			return nil, false
		}
		<-q.wake
	}
}

func (q *reuseQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// reportReuse receives a rotated-out token presented after its grace period. It is called on
// the request path, so it only queues; runReuse audits and revokes.
func (s *Server) reportReuse(tok *latchkey.Token) {
	gv := s.gov()
	if gv.reuse.push(tok, time.Now()) {
		gv.metrics.reuseDetected.Inc()
	} else {
		s.log.Debug("reuse already reported or queue full", "token_id", tok.ID)
	}
}

// runReuse handles queued reuse reports until the queue is closed and drained.
func (s *Server) runReuse() {
	gv := s.gov()
	for {
		toks, ok := gv.reuse.pop()
		if !ok {
			return
		}
		for _, tok := range toks {
			var err error
			for attempt := range 3 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err = s.admin.HandleReuse(ctx, tok)
				cancel()
				if err == nil {
					break
				}
				time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
			}
			if err != nil {
				s.log.Error("handle token reuse", "token_id", tok.ID, "error", err.Error())
			}
		}
	}
}

// expirySweep remembers which expired tokens were audited, so each is audited once.
type expirySweep struct {
	mu      sync.Mutex
	audited map[int64]bool
}

// sweepExpired audits service_token.expired (account_scoped_pat.expired) once for every active
// token whose expiry has passed. Tokens audited by an earlier run, on this node or another, are
// recognised from the audit log itself.
func (s *Server) sweepExpired(ctx context.Context) error {
	gv := s.gov()
	sw := gv.expiry
	sw.mu.Lock()
	defer sw.mu.Unlock()
	now := time.Now()
	active := latchkey.StateActive
	var expired []*latchkey.Token
	for offset := 0; ; offset += latchkey.MaxLimit {
		page, total, err := s.store.FindTokens(ctx, latchkey.TokenFilter{State: &active, ExpiresBefore: &now,
			Offset: offset, Limit: latchkey.MaxLimit})
		if err != nil {
			return err
		}
		expired = append(expired, page...)
		if len(page) < latchkey.MaxLimit || offset+len(page) >= total {
			break
		}
	}
	still := make(map[int64]bool, len(expired))
	fresh := map[int64][]*latchkey.Token{}
	for _, t := range expired {
		if sw.audited[t.ID] {
			still[t.ID] = true
			continue
		}
		fresh[t.AccountID] = append(fresh[t.AccountID], t)
	}
	// Forget tokens that were deleted since: the set stays as large as the expired live tokens.
	sw.audited = still
	ctx = latchkey.WithActor(ctx, latchkey.Actor{Type: "system", Name: "expiry", Source: "system"})
	var errs []error
	for accountID, toks := range fresh {
		done, err := s.auditedExpiries(ctx, accountID, toks)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, t := range toks {
			if done[t.ID] {
				sw.audited[t.ID] = true
				continue
			}
			c := map[string]any{"token_id": t.ID, "uid": t.UID, "name": t.Name, "expires_at": apitype.Time(*t.ExpiresAt)}
			if t.UserID != 0 {
				c["user_id"] = t.UserID
			}
			if err := s.admin.RecordEvents(ctx, &latchkey.AuditEntry{AccountID: accountID,
				EventType: admin.TokenEventType(t.Kind, "expired"), Context: c}); err != nil {
				errs = append(errs, err)
				continue
			}
			sw.audited[t.ID] = true
			gv.metrics.tokensExpired.Inc()
		}
	}
	if len(errs) > 0 {
		s.log.Error("audit expired tokens", "error", errs[0].Error())
		return fmt.Errorf("audit expired tokens: %w", errs[0])
	}
	return nil
}

// auditedExpiries returns which of toks already have an expiry entry in the account's audit log
// (written before a restart or by another node).
func (s *Server) auditedExpiries(ctx context.Context, accountID int64, toks []*latchkey.Token) (map[int64]bool, error) {
	since := *toks[0].ExpiresAt
	for _, t := range toks {
		if t.ExpiresAt.Before(since) {
			since = *t.ExpiresAt
		}
	}
	done := map[int64]bool{}
	for _, event := range []string{"service_token.expired", "account_scoped_pat.expired"} {
		for offset := 0; ; offset += latchkey.MaxLimit {
			entries, total, err := s.store.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: accountID, EventType: &event,
				Since: &since, Offset: offset, Limit: latchkey.MaxLimit})
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				if id, ok := contextInt(e.Context, "token_id"); ok {
					done[id] = true
				}
			}
			if len(entries) < latchkey.MaxLimit || offset+len(entries) >= total {
				break
			}
		}
	}
	return done, nil
}

// contextInt reads an integer from a decoded audit context.
func contextInt(c map[string]any, key string) (int64, bool) {
	switch v := c[key].(type) {
	case float64:
		return int64(v), true
	case int64:
		return v, true
	case int:
		return int64(v), true
	}
	return 0, false
}
