package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/email"
)

// Email notices: the "email" consumer of the audit log turns events into queued notices in the
// same transaction as it moves its cursor, and a sender sends what is due. Expiring tokens make
// digest notices, gathered into one email per recipient, account and day; security events make
// alerts, sent at once. Users who turned notices off on their profile get neither.

// EmailConfig configures email notices. Without a Sender none are queued or sent.
type EmailConfig struct {
	Sender *email.Sender
	// DigestDelay is how long a recipient's first digest notice of a day waits for others
	// before the digest goes out (default 10 minutes); later ones that day wait for the next
	// day's digest.
	DigestDelay time.Duration
	// Interval is how often events become notices and due notices are sent (default 15 s).
	Interval time.Duration
}

const (
	// noticeGiveUp is how long a notice is retried.
	noticeGiveUp = 72 * time.Hour
	noticeLease  = 5 * time.Minute
	noticeBatch  = 100
)

// noticeBackoff is the wait after the n-th failed attempt (the last one repeats).
var noticeBackoff = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour}

func (c *EmailConfig) defaults() {
	if c.DigestDelay == 0 {
		c.DigestDelay = 10 * time.Minute
	}
	if c.DigestDelay < 0 {
		c.DigestDelay = 0
	}
	if c.Interval <= 0 {
		c.Interval = 15 * time.Second
	}
}

// newNode names this process in notice leases.
func newNode() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runEmail turns new events into notices and sends those due, once.
func (s *Server) runEmail(ctx context.Context) error {
	if s.cfg.Email.Sender == nil {
		return nil
	}
	for {
		n, err := s.admin.QueueEmailNotices(ctx, 200, s.noticesOf)
		if err != nil {
			s.log.Error("queue email notices", "error", err.Error())
			return err
		}
		if n < 200 {
			break
		}
	}
	return s.sendNotices(ctx)
}

// alertWorthy reports whether an event makes a security alert. One incident writes several
// events; it makes one alert: a leak report that revoked or flagged its token is told by the
// revocation's (or flag's) alert, and the revocations a reuse caused by the reuse's alert.
func alertWorthy(e *latchkey.AuditEntry, reused map[int64]bool) bool {
	id, _ := contextInt(e.Context, "token_id")
	reason, _ := e.Context["reason"].(string)
	switch e.EventType {
	case "service_token.revoked", "account_scoped_pat.deleted":
		return reason == "leak_reported" || (reason == "reuse_detected" && !reused[id])
	case "service_token.flagged", "account_scoped_pat.flagged", "service_token.reuse_detected", "account_scoped_pat.reuse_detected":
		return true
	case "leak.reported":
		action, _ := e.Context["action"].(string)
		return action != "revoked" && action != "flagged"
	case "webhook.subscription.disabled":
		return reason == "failing"
	}
	return false
}

// incidents returns, from entries, the leak reports by token (their details go into the
// revocation's or flag's alert) and the tokens revoked because of a reuse.
func incidents(entries []*latchkey.AuditEntry) (leaks map[int64]map[string]any, reused map[int64]bool) {
	leaks, reused = map[int64]map[string]any{}, map[int64]bool{}
	for _, e := range entries {
		switch {
		case e.EventType == "leak.reported":
			if id, ok := contextInt(e.Context, "token_id"); ok {
				leaks[id] = e.Context
			}
		case strings.HasSuffix(e.EventType, ".reuse_detected"):
			ids, _ := e.Context["revoked_token_ids"].([]any)
			for _, v := range ids {
				if f, ok := v.(float64); ok {
					reused[int64(f)] = true
				}
			}
		}
	}
	return leaks, reused
}

// noticesOf returns the notices entries make; it runs in the transaction that moves the email
// consumer's cursor.
func (s *Server) noticesOf(ctx context.Context, entries []*latchkey.AuditEntry) ([]*latchkey.EmailNotice, error) {
	now := s.admin.Now()
	leaks, reused := incidents(entries)
	digestAt := map[[2]int64]time.Time{}
	var ns []*latchkey.EmailNotice
	for _, e := range entries {
		var kind latchkey.NoticeKind
		switch {
		case strings.HasSuffix(e.EventType, ".expiring"):
			kind = latchkey.NoticeDigest
		case alertWorthy(e, reused):
			kind = latchkey.NoticeAlert
		default:
			continue
		}
		users, err := s.noticeRecipients(ctx, e)
		if err != nil {
			return nil, err
		}
		details := e.Context
		if id, _ := contextInt(e.Context, "token_id"); kind == latchkey.NoticeAlert && leaks[id] != nil && e.EventType != "leak.reported" {
			details = maps.Clone(e.Context)
			for _, k := range []string{"url", "source", "reporter"} {
				details[k] = leaks[id][k]
			}
		}
		for _, uid := range users {
			n := &latchkey.EmailNotice{UserID: uid, AccountID: e.AccountID, Kind: kind, EventID: e.ID, EventType: e.EventType,
				Details: details}
			if kind == latchkey.NoticeDigest {
				key := [2]int64{uid, e.AccountID}
				at, ok := digestAt[key]
				if !ok {
					if at, err = s.digestTime(ctx, uid, e.AccountID, now); err != nil {
						return nil, err
					}
					digestAt[key] = at
				}
				n.SendAfter = at
			} else {
				n.SendAfter = now
			}
			ns = append(ns, n)
		}
	}
	return ns, nil
}

// noticeRecipients returns who hears of e: the account's admins, and the token's owner (a PAT)
// or creator (a service token's expiry), when they are still members. Users who turned notices
// off, are deactivated or have no email address are left out.
func (s *Server) noticeRecipients(ctx context.Context, e *latchkey.AuditEntry) ([]int64, error) {
	ids, err := s.store.FindAccountAdmins(ctx, e.AccountID)
	if err != nil {
		return nil, err
	}
	var extra []int64
	if id, ok := contextInt(e.Context, "user_id"); ok && id != 0 {
		extra = append(extra, id)
	}
	if strings.HasSuffix(e.EventType, ".expiring") {
		if by, _ := e.Context["created_by"].(string); strings.HasPrefix(by, "user:") {
			if id, err := strconv.ParseInt(by[len("user:"):], 10, 64); err == nil {
				extra = append(extra, id)
			}
		}
	}
	for _, id := range extra {
		if slices.Contains(ids, id) {
			continue
		}
		if _, _, err := s.store.FindMemberGrants(ctx, e.AccountID, id); err != nil {
			if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
				continue
			}
			return nil, err
		}
		ids = append(ids, id)
	}
	var out []int64
	for _, id := range ids {
		u, err := s.store.FindUserByID(ctx, id)
		if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		if u.IsActive && u.EmailNotices && u.Email != "" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// digestTime is when a new digest notice for user in account goes out: with the digest still
// waiting, if there is one; tomorrow's (UTC) when today's was sent; otherwise DigestDelay from
// now, so that the other notices of the same sweep join it.
func (s *Server) digestTime(ctx context.Context, userID, accountID int64, now time.Time) (time.Time, error) {
	last, err := s.store.FindEmailNotices(ctx, latchkey.EmailNoticeFilter{UserID: userID, AccountID: accountID,
		Kind: latchkey.NoticeDigest, Limit: 1})
	if err != nil {
		return time.Time{}, err
	}
	if len(last) == 1 {
		l := last[0]
		if l.State == latchkey.NoticePending {
			return l.SendAfter, nil
		}
		today := now.UTC().Truncate(day)
		if !l.SendAfter.Before(today) {
			return today.Add(day), nil
		}
	}
	return now.Add(s.cfg.Email.DigestDelay), nil
}

// sendNotices sends the due notices, a recipient's digest notices of one account and day in
// one email.
func (s *Server) sendNotices(ctx context.Context) error {
	for {
		now := s.admin.Now()
		claimed, err := s.admin.ClaimEmailNotices(ctx, s.node, noticeBatch, now.Add(noticeLease))
		if err != nil {
			s.log.Error("claim email notices", "error", err.Error())
			return err
		}
		var groups [][]*latchkey.EmailNotice
		for i, n := range claimed {
			if i > 0 {
				p := claimed[i-1]
				if n.Kind == latchkey.NoticeDigest && p.Kind == n.Kind && p.UserID == n.UserID && p.AccountID == n.AccountID {
					groups[len(groups)-1] = append(groups[len(groups)-1], n)
					continue
				}
			}
			groups = append(groups, []*latchkey.EmailNotice{n})
		}
		for _, g := range groups {
			if err := s.sendNoticeGroup(ctx, g); err != nil {
				return err
			}
		}
		if len(claimed) < noticeBatch {
			return nil
		}
	}
}

// sendNoticeGroup sends one email for g and records the outcome. Only a store error is
// returned; a failed send is retried later.
func (s *Server) sendNoticeGroup(ctx context.Context, g []*latchkey.EmailNotice) error {
	ids := make([]int64, len(g))
	for i, n := range g {
		ids[i] = n.ID
	}
	first := g[0]
	u, err := s.store.FindUserByID(ctx, first.UserID)
	if err != nil {
		return err
	}
	if !u.IsActive || !u.EmailNotices || u.Email == "" {
		// Opted out (or left) after the notice was queued.
		return s.admin.EmailNoticesFailed(ctx, s.node, ids, nil, "the recipient no longer receives email notices")
	}
	a, err := s.store.FindAccountByID(ctx, first.AccountID)
	if err != nil {
		return err
	}
	var m *email.Message
	if first.Kind == latchkey.NoticeDigest {
		m, err = email.RenderDigest(s.digestOf(a, g))
	} else {
		m, err = email.RenderAlert(s.alertOf(a, first))
	}
	if err != nil {
		return fmt.Errorf("render email notice: %w", err)
	}
	m.To = u.Email
	sendErr := s.cfg.Email.Sender.Send(ctx, m)
	if sendErr == nil {
		return s.admin.EmailNoticesSent(ctx, s.node, ids)
	}
	now := s.admin.Now()
	var next *time.Time
	if now.Sub(first.CreatedAt) < noticeGiveUp {
		at := now.Add(noticeBackoff[min(first.Attempts, len(noticeBackoff)-1)])
		next = &at
	}
	s.log.Warn("send email notice", "kind", string(first.Kind), "user_id", u.ID, "notices", len(ids),
		"attempts", first.Attempts+1, "will_retry", next != nil, "error", sendErr.Error())
	return s.admin.EmailNoticesFailed(ctx, s.node, ids, next, sendErr.Error())
}

// digestOf lists the tokens of a digest's notices, each once (its nearest threshold), soonest
// expiry first.
func (s *Server) digestOf(a *latchkey.Account, g []*latchkey.EmailNotice) email.Digest {
	d := email.Digest{Account: a.Name, URL: s.noticeURL("/settings/service-tokens")}
	seen := map[int64]int{}
	for _, n := range g {
		c := n.Details
		id, _ := contextInt(c, "token_id")
		days, _ := contextInt(c, "days")
		exp, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(c["expires_at"]))
		t := email.ExpiringToken{Name: fmt.Sprint(c["name"]), UID: fmt.Sprint(c["uid"]), ExpiresAt: exp, Days: int(days),
			Personal: strings.HasPrefix(n.EventType, "account_scoped_pat.")}
		if i, ok := seen[id]; ok {
			if t.Days < d.Tokens[i].Days {
				d.Tokens[i] = t
			}
			continue
		}
		seen[id] = len(d.Tokens)
		d.Tokens = append(d.Tokens, t)
	}
	slices.SortStableFunc(d.Tokens, func(x, y email.ExpiringToken) int { return x.ExpiresAt.Compare(y.ExpiresAt) })
	return d
}

// alertOf describes an alert notice.
func (s *Server) alertOf(a *latchkey.Account, n *latchkey.EmailNotice) email.Alert {
	c := n.Details
	str := func(k string) string { v, _ := c[k].(string); return v }
	al := email.Alert{Account: a.Name, EventType: n.EventType, Name: str("name"), UID: str("uid"), Reason: str("reason"),
		At: n.CreatedAt, URL: s.noticeURL("/settings/service-tokens")}
	for _, f := range []struct{ key, label string }{
		{"url", "Found at"}, {"source", "Source"}, {"reporter", "Reported by"}, {"action", "What latchkey did"},
		{"client_url", "Endpoint"},
	} {
		if v := str(f.key); v != "" {
			al.Details = append(al.Details, email.Detail{Label: f.label, Value: v})
		}
	}
	if n.EventType == "webhook.subscription.disabled" {
		al.UID, al.URL = "", s.noticeURL("/settings/webhooks")
	}
	return al
}

// noticeURL is a link into the UI, when the public URL is known.
func (s *Server) noticeURL(path string) string {
	if s.cfg.PublicURL == "" {
		return ""
	}
	return strings.TrimSuffix(s.cfg.PublicURL, "/") + path
}
