package admin

import (
	"context"
	"time"

	"github.com/latchkey/latchkey"
)

// EmailConsumer is the audit log consumer that turns events into email notices.
const EmailConsumer = "email"

// QueueEmailNotices hands the audit entries after the email consumer's cursor (at most limit)
// to notices, and stores the notices it returns in the transaction that moves the cursor: an
// entry makes its notices exactly once. Store reads made with notices' context join the
// transaction. It returns how many entries there were.
func (s *Service) QueueEmailNotices(ctx context.Context, limit int, notices func(ctx context.Context, entries []*latchkey.AuditEntry) ([]*latchkey.EmailNotice, error)) (int, error) {
	return s.store.ConsumeEvents(ctx, EmailConsumer, limit, func(ctx context.Context, entries []*latchkey.AuditEntry) error {
		ns, err := notices(ctx, entries)
		if err != nil {
			return err
		}
		return s.store.CreateEmailNotices(ctx, ns)
	})
}

// SetEmailNotices turns the signed-in user's email notices on or off: digests of their
// expiring tokens and security alerts alike. It is their own choice, so it needs no permission
// beyond being that person.
func (s *Service) SetEmailNotices(ctx context.Context, p *latchkey.Principal, on bool) (*latchkey.User, error) {
	if p.Kind != latchkey.PrincipalUser {
		return nil, latchkey.Errorf(latchkey.EForbidden, "Only a person can choose which emails they get.")
	}
	var out *latchkey.User
	err := s.inTx(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.store.UpdateUser(ctx, p.UserID, latchkey.UserUpdate{EmailNotices: &on})
		return err
	})
	return out, err
}

// ClaimEmailNotices takes due notices for node until leaseUntil (no audit entry: sending is
// not a change of anything a person owns).
func (s *Service) ClaimEmailNotices(ctx context.Context, node string, limit int, leaseUntil time.Time) ([]*latchkey.EmailNotice, error) {
	return s.store.ClaimEmailNotices(ctx, node, limit, leaseUntil)
}

// EmailNoticesSent records that node sent the notices ids.
func (s *Service) EmailNoticesSent(ctx context.Context, node string, ids []int64) error {
	return s.store.MarkEmailNoticesSent(ctx, node, ids)
}

// EmailNoticesFailed records a failed attempt at node's notices ids: due again at next, or
// given up when next is nil.
func (s *Service) EmailNoticesFailed(ctx context.Context, node string, ids []int64, next *time.Time, why string) error {
	return s.store.RetryEmailNotices(ctx, node, ids, next, why)
}
