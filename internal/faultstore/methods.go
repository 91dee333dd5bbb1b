package faultstore

// The methods of latchkey.Store that reach storage, in the order store.go declares them: each
// decides a fault and, when none is injected, calls through. Reads are the Find* methods and
// AuditChain; everything else is a write.

import (
	"context"
	"time"

	"github.com/latchkey/latchkey"
)

// CreateAccount calls the wrapped store's CreateAccount unless a fault is injected (a write).
func (s *Store) CreateAccount(ctx context.Context, a *latchkey.Account) error {
	if err := s.write(ctx, "CreateAccount"); err != nil {
		return err
	}
	return s.inner.CreateAccount(ctx, a)
}

// FindAccountByID calls the wrapped store's FindAccountByID unless a fault is injected (a read).
func (s *Store) FindAccountByID(ctx context.Context, id int64) (*latchkey.Account, error) {
	if err := s.read(ctx, "FindAccountByID"); err != nil {
		return nil, err
	}
	return s.inner.FindAccountByID(ctx, id)
}

// FindAccounts calls the wrapped store's FindAccounts unless a fault is injected (a read).
func (s *Store) FindAccounts(ctx context.Context, f latchkey.AccountFilter) ([]*latchkey.Account, int, error) {
	if err := s.read(ctx, "FindAccounts"); err != nil {
		return nil, 0, err
	}
	return s.inner.FindAccounts(ctx, f)
}

// UpdateAccount calls the wrapped store's UpdateAccount unless a fault is injected (a write).
func (s *Store) UpdateAccount(ctx context.Context, id int64, upd latchkey.AccountUpdate) (*latchkey.Account, error) {
	if err := s.write(ctx, "UpdateAccount"); err != nil {
		return nil, err
	}
	return s.inner.UpdateAccount(ctx, id, upd)
}

// CreateProject calls the wrapped store's CreateProject unless a fault is injected (a write).
func (s *Store) CreateProject(ctx context.Context, p *latchkey.Project) error {
	if err := s.write(ctx, "CreateProject"); err != nil {
		return err
	}
	return s.inner.CreateProject(ctx, p)
}

// FindProjectByID calls the wrapped store's FindProjectByID unless a fault is injected (a read).
func (s *Store) FindProjectByID(ctx context.Context, id int64) (*latchkey.Project, error) {
	if err := s.read(ctx, "FindProjectByID"); err != nil {
		return nil, err
	}
	return s.inner.FindProjectByID(ctx, id)
}

// FindProjects calls the wrapped store's FindProjects unless a fault is injected (a read).
func (s *Store) FindProjects(ctx context.Context, f latchkey.ProjectFilter) ([]*latchkey.Project, int, error) {
	if err := s.read(ctx, "FindProjects"); err != nil {
		return nil, 0, err
	}
	return s.inner.FindProjects(ctx, f)
}

// UpdateProject calls the wrapped store's UpdateProject unless a fault is injected (a write).
func (s *Store) UpdateProject(ctx context.Context, id int64, upd latchkey.ProjectUpdate) (*latchkey.Project, error) {
	if err := s.write(ctx, "UpdateProject"); err != nil {
		return nil, err
	}
	return s.inner.UpdateProject(ctx, id, upd)
}

// DeleteProject calls the wrapped store's DeleteProject unless a fault is injected (a write).
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	if err := s.write(ctx, "DeleteProject"); err != nil {
		return err
	}
	return s.inner.DeleteProject(ctx, id)
}

// CreateUser calls the wrapped store's CreateUser unless a fault is injected (a write).
func (s *Store) CreateUser(ctx context.Context, u *latchkey.User) error {
	if err := s.write(ctx, "CreateUser"); err != nil {
		return err
	}
	return s.inner.CreateUser(ctx, u)
}

// FindUserByID calls the wrapped store's FindUserByID unless a fault is injected (a read).
func (s *Store) FindUserByID(ctx context.Context, id int64) (*latchkey.User, error) {
	if err := s.read(ctx, "FindUserByID"); err != nil {
		return nil, err
	}
	return s.inner.FindUserByID(ctx, id)
}

// FindUserByEmail calls the wrapped store's FindUserByEmail unless a fault is injected (a read).
func (s *Store) FindUserByEmail(ctx context.Context, email string) (*latchkey.User, error) {
	if err := s.read(ctx, "FindUserByEmail"); err != nil {
		return nil, err
	}
	return s.inner.FindUserByEmail(ctx, email)
}

// FindUsers calls the wrapped store's FindUsers unless a fault is injected (a read).
func (s *Store) FindUsers(ctx context.Context, f latchkey.UserFilter) ([]*latchkey.User, int, error) {
	if err := s.read(ctx, "FindUsers"); err != nil {
		return nil, 0, err
	}
	return s.inner.FindUsers(ctx, f)
}

// UpdateUser calls the wrapped store's UpdateUser unless a fault is injected (a write).
func (s *Store) UpdateUser(ctx context.Context, id int64, upd latchkey.UserUpdate) (*latchkey.User, error) {
	if err := s.write(ctx, "UpdateUser"); err != nil {
		return nil, err
	}
	return s.inner.UpdateUser(ctx, id, upd)
}

// CreateMembership calls the wrapped store's CreateMembership unless a fault is injected (a write).
func (s *Store) CreateMembership(ctx context.Context, m *latchkey.Membership, groupIDs []int64) error {
	if err := s.write(ctx, "CreateMembership"); err != nil {
		return err
	}
	return s.inner.CreateMembership(ctx, m, groupIDs)
}

// FindMemberships calls the wrapped store's FindMemberships unless a fault is injected (a read).
func (s *Store) FindMemberships(ctx context.Context, f latchkey.MembershipFilter) ([]*latchkey.Membership, error) {
	if err := s.read(ctx, "FindMemberships"); err != nil {
		return nil, err
	}
	return s.inner.FindMemberships(ctx, f)
}

// UpdateMembership calls the wrapped store's UpdateMembership unless a fault is injected (a write).
func (s *Store) UpdateMembership(ctx context.Context, id int64, upd latchkey.MembershipUpdate) (*latchkey.Membership, error) {
	if err := s.write(ctx, "UpdateMembership"); err != nil {
		return nil, err
	}
	return s.inner.UpdateMembership(ctx, id, upd)
}

// FindMemberGrants calls the wrapped store's FindMemberGrants unless a fault is injected (a read).
func (s *Store) FindMemberGrants(ctx context.Context, accountID, userID int64) (*latchkey.Membership, []latchkey.Grant, error) {
	if err := s.read(ctx, "FindMemberGrants"); err != nil {
		return nil, nil, err
	}
	return s.inner.FindMemberGrants(ctx, accountID, userID)
}

// FindAccountAdmins calls the wrapped store's FindAccountAdmins unless a fault is injected (a read).
func (s *Store) FindAccountAdmins(ctx context.Context, accountID int64) ([]int64, error) {
	if err := s.read(ctx, "FindAccountAdmins"); err != nil {
		return nil, err
	}
	return s.inner.FindAccountAdmins(ctx, accountID)
}

// CreateGroup calls the wrapped store's CreateGroup unless a fault is injected (a write).
func (s *Store) CreateGroup(ctx context.Context, g *latchkey.Group) error {
	if err := s.write(ctx, "CreateGroup"); err != nil {
		return err
	}
	return s.inner.CreateGroup(ctx, g)
}

// FindGroupByID calls the wrapped store's FindGroupByID unless a fault is injected (a read).
func (s *Store) FindGroupByID(ctx context.Context, id int64) (*latchkey.Group, error) {
	if err := s.read(ctx, "FindGroupByID"); err != nil {
		return nil, err
	}
	return s.inner.FindGroupByID(ctx, id)
}

// FindGroups calls the wrapped store's FindGroups unless a fault is injected (a read).
func (s *Store) FindGroups(ctx context.Context, f latchkey.GroupFilter) ([]*latchkey.Group, int, error) {
	if err := s.read(ctx, "FindGroups"); err != nil {
		return nil, 0, err
	}
	return s.inner.FindGroups(ctx, f)
}

// UpdateGroup calls the wrapped store's UpdateGroup unless a fault is injected (a write).
func (s *Store) UpdateGroup(ctx context.Context, id int64, upd latchkey.GroupUpdate) (*latchkey.Group, error) {
	if err := s.write(ctx, "UpdateGroup"); err != nil {
		return nil, err
	}
	return s.inner.UpdateGroup(ctx, id, upd)
}

// ReplaceGroupGrants calls the wrapped store's ReplaceGroupGrants unless a fault is injected (a write).
func (s *Store) ReplaceGroupGrants(ctx context.Context, groupID int64, grants []latchkey.Grant) (*latchkey.Group, error) {
	if err := s.write(ctx, "ReplaceGroupGrants"); err != nil {
		return nil, err
	}
	return s.inner.ReplaceGroupGrants(ctx, groupID, grants)
}

// SetUserGroups calls the wrapped store's SetUserGroups unless a fault is injected (a write).
func (s *Store) SetUserGroups(ctx context.Context, accountID, userID int64, groupIDs []int64) error {
	if err := s.write(ctx, "SetUserGroups"); err != nil {
		return err
	}
	return s.inner.SetUserGroups(ctx, accountID, userID, groupIDs)
}

// CreateToken calls the wrapped store's CreateToken unless a fault is injected (a write).
func (s *Store) CreateToken(ctx context.Context, t *latchkey.Token) error {
	if err := s.write(ctx, "CreateToken"); err != nil {
		return err
	}
	return s.inner.CreateToken(ctx, t)
}

// CreateTokens calls the wrapped store's CreateTokens unless a fault is injected (a write).
func (s *Store) CreateTokens(ctx context.Context, ts []*latchkey.Token) error {
	if err := s.write(ctx, "CreateTokens"); err != nil {
		return err
	}
	return s.inner.CreateTokens(ctx, ts)
}

// FindTokenByID calls the wrapped store's FindTokenByID unless a fault is injected (a read).
func (s *Store) FindTokenByID(ctx context.Context, id int64) (*latchkey.Token, error) {
	if err := s.read(ctx, "FindTokenByID"); err != nil {
		return nil, err
	}
	return s.inner.FindTokenByID(ctx, id)
}

// FindTokenByHash calls the wrapped store's FindTokenByHash unless a fault is injected (a read).
func (s *Store) FindTokenByHash(ctx context.Context, hash []byte) (*latchkey.Token, error) {
	if err := s.read(ctx, "FindTokenByHash"); err != nil {
		return nil, err
	}
	return s.inner.FindTokenByHash(ctx, hash)
}

// FindTokensByHash calls the wrapped store's FindTokensByHash unless a fault is injected (a read).
func (s *Store) FindTokensByHash(ctx context.Context, hashes [][]byte) ([]*latchkey.Token, error) {
	if err := s.read(ctx, "FindTokensByHash"); err != nil {
		return nil, err
	}
	return s.inner.FindTokensByHash(ctx, hashes)
}

// FindTokenVersions calls the wrapped store's FindTokenVersions unless a fault is injected (a read).
func (s *Store) FindTokenVersions(ctx context.Context, hashes [][]byte) ([]latchkey.TokenVersion, error) {
	if err := s.read(ctx, "FindTokenVersions"); err != nil {
		return nil, err
	}
	return s.inner.FindTokenVersions(ctx, hashes)
}

// FindTokens calls the wrapped store's FindTokens unless a fault is injected (a read).
func (s *Store) FindTokens(ctx context.Context, f latchkey.TokenFilter) ([]*latchkey.Token, int, error) {
	if err := s.read(ctx, "FindTokens"); err != nil {
		return nil, 0, err
	}
	return s.inner.FindTokens(ctx, f)
}

// UpdateToken calls the wrapped store's UpdateToken unless a fault is injected (a write).
func (s *Store) UpdateToken(ctx context.Context, id int64, upd latchkey.TokenUpdate) (*latchkey.Token, error) {
	if err := s.write(ctx, "UpdateToken"); err != nil {
		return nil, err
	}
	return s.inner.UpdateToken(ctx, id, upd)
}

// AddTokenGrants calls the wrapped store's AddTokenGrants unless a fault is injected (a write).
func (s *Store) AddTokenGrants(ctx context.Context, id int64, grants []latchkey.Grant) (*latchkey.Token, error) {
	if err := s.write(ctx, "AddTokenGrants"); err != nil {
		return nil, err
	}
	return s.inner.AddTokenGrants(ctx, id, grants)
}

// ReplaceTokenGrants calls the wrapped store's ReplaceTokenGrants unless a fault is injected (a write).
func (s *Store) ReplaceTokenGrants(ctx context.Context, id int64, grants []latchkey.Grant) (*latchkey.Token, error) {
	if err := s.write(ctx, "ReplaceTokenGrants"); err != nil {
		return nil, err
	}
	return s.inner.ReplaceTokenGrants(ctx, id, grants)
}

// DeleteToken calls the wrapped store's DeleteToken unless a fault is injected (a write).
func (s *Store) DeleteToken(ctx context.Context, id int64, reason string) error {
	if err := s.write(ctx, "DeleteToken"); err != nil {
		return err
	}
	return s.inner.DeleteToken(ctx, id, reason)
}

// RotateToken calls the wrapped store's RotateToken unless a fault is injected (a write).
func (s *Store) RotateToken(ctx context.Context, id int64, next *latchkey.Token, grace time.Duration) error {
	if err := s.write(ctx, "RotateToken"); err != nil {
		return err
	}
	return s.inner.RotateToken(ctx, id, next, grace)
}

// RecordTokenUses calls the wrapped store's RecordTokenUses unless a fault is injected (a write).
func (s *Store) RecordTokenUses(ctx context.Context, uses []latchkey.TokenUse) error {
	if err := s.write(ctx, "RecordTokenUses"); err != nil {
		return err
	}
	return s.inner.RecordTokenUses(ctx, uses)
}

// CreateIPRule calls the wrapped store's CreateIPRule unless a fault is injected (a write).
func (s *Store) CreateIPRule(ctx context.Context, r *latchkey.IPRule) error {
	if err := s.write(ctx, "CreateIPRule"); err != nil {
		return err
	}
	return s.inner.CreateIPRule(ctx, r)
}

// FindIPRuleByID calls the wrapped store's FindIPRuleByID unless a fault is injected (a read).
func (s *Store) FindIPRuleByID(ctx context.Context, id int64) (*latchkey.IPRule, error) {
	if err := s.read(ctx, "FindIPRuleByID"); err != nil {
		return nil, err
	}
	return s.inner.FindIPRuleByID(ctx, id)
}

// FindIPRules calls the wrapped store's FindIPRules unless a fault is injected (a read).
func (s *Store) FindIPRules(ctx context.Context, accountID int64) ([]*latchkey.IPRule, error) {
	if err := s.read(ctx, "FindIPRules"); err != nil {
		return nil, err
	}
	return s.inner.FindIPRules(ctx, accountID)
}

// UpdateIPRule calls the wrapped store's UpdateIPRule unless a fault is injected (a write).
func (s *Store) UpdateIPRule(ctx context.Context, id int64, upd latchkey.IPRuleUpdate) (*latchkey.IPRule, error) {
	if err := s.write(ctx, "UpdateIPRule"); err != nil {
		return nil, err
	}
	return s.inner.UpdateIPRule(ctx, id, upd)
}

// DeleteIPRule calls the wrapped store's DeleteIPRule unless a fault is injected (a write).
func (s *Store) DeleteIPRule(ctx context.Context, id int64) error {
	if err := s.write(ctx, "DeleteIPRule"); err != nil {
		return err
	}
	return s.inner.DeleteIPRule(ctx, id)
}

// CreateSSOProvider calls the wrapped store's CreateSSOProvider unless a fault is injected (a write).
func (s *Store) CreateSSOProvider(ctx context.Context, sp *latchkey.SSOProvider) error {
	if err := s.write(ctx, "CreateSSOProvider"); err != nil {
		return err
	}
	return s.inner.CreateSSOProvider(ctx, sp)
}

// FindSSOProviderByID calls the wrapped store's FindSSOProviderByID unless a fault is injected (a read).
func (s *Store) FindSSOProviderByID(ctx context.Context, id int64) (*latchkey.SSOProvider, error) {
	if err := s.read(ctx, "FindSSOProviderByID"); err != nil {
		return nil, err
	}
	return s.inner.FindSSOProviderByID(ctx, id)
}

// FindSSOProviders calls the wrapped store's FindSSOProviders unless a fault is injected (a read).
func (s *Store) FindSSOProviders(ctx context.Context, f latchkey.SSOProviderFilter) ([]*latchkey.SSOProvider, error) {
	if err := s.read(ctx, "FindSSOProviders"); err != nil {
		return nil, err
	}
	return s.inner.FindSSOProviders(ctx, f)
}

// UpdateSSOProvider calls the wrapped store's UpdateSSOProvider unless a fault is injected (a write).
func (s *Store) UpdateSSOProvider(ctx context.Context, id int64, upd latchkey.SSOProviderUpdate) (*latchkey.SSOProvider, error) {
	if err := s.write(ctx, "UpdateSSOProvider"); err != nil {
		return nil, err
	}
	return s.inner.UpdateSSOProvider(ctx, id, upd)
}

// DeleteSSOProvider calls the wrapped store's DeleteSSOProvider unless a fault is injected (a write).
func (s *Store) DeleteSSOProvider(ctx context.Context, id int64) error {
	if err := s.write(ctx, "DeleteSSOProvider"); err != nil {
		return err
	}
	return s.inner.DeleteSSOProvider(ctx, id)
}

// CreateLicenseMap calls the wrapped store's CreateLicenseMap unless a fault is injected (a write).
func (s *Store) CreateLicenseMap(ctx context.Context, m *latchkey.LicenseMap) error {
	if err := s.write(ctx, "CreateLicenseMap"); err != nil {
		return err
	}
	return s.inner.CreateLicenseMap(ctx, m)
}

// FindLicenseMapByID calls the wrapped store's FindLicenseMapByID unless a fault is injected (a read).
func (s *Store) FindLicenseMapByID(ctx context.Context, id int64) (*latchkey.LicenseMap, error) {
	if err := s.read(ctx, "FindLicenseMapByID"); err != nil {
		return nil, err
	}
	return s.inner.FindLicenseMapByID(ctx, id)
}

// FindLicenseMaps calls the wrapped store's FindLicenseMaps unless a fault is injected (a read).
func (s *Store) FindLicenseMaps(ctx context.Context, accountID int64, state *latchkey.State) ([]*latchkey.LicenseMap, error) {
	if err := s.read(ctx, "FindLicenseMaps"); err != nil {
		return nil, err
	}
	return s.inner.FindLicenseMaps(ctx, accountID, state)
}

// UpdateLicenseMap calls the wrapped store's UpdateLicenseMap unless a fault is injected (a write).
func (s *Store) UpdateLicenseMap(ctx context.Context, id int64, upd latchkey.LicenseMapUpdate) (*latchkey.LicenseMap, error) {
	if err := s.write(ctx, "UpdateLicenseMap"); err != nil {
		return nil, err
	}
	return s.inner.UpdateLicenseMap(ctx, id, upd)
}

// DeleteLicenseMap calls the wrapped store's DeleteLicenseMap unless a fault is injected (a write).
func (s *Store) DeleteLicenseMap(ctx context.Context, id int64) error {
	if err := s.write(ctx, "DeleteLicenseMap"); err != nil {
		return err
	}
	return s.inner.DeleteLicenseMap(ctx, id)
}

// AppendAudit calls the wrapped store's AppendAudit unless a fault is injected (a write).
func (s *Store) AppendAudit(ctx context.Context, e *latchkey.AuditEntry) error {
	if err := s.write(ctx, "AppendAudit"); err != nil {
		return err
	}
	return s.inner.AppendAudit(ctx, e)
}

// FindAuditEntries calls the wrapped store's FindAuditEntries unless a fault is injected (a read).
func (s *Store) FindAuditEntries(ctx context.Context, f latchkey.AuditFilter) ([]*latchkey.AuditEntry, int, error) {
	if err := s.read(ctx, "FindAuditEntries"); err != nil {
		return nil, 0, err
	}
	return s.inner.FindAuditEntries(ctx, f)
}

// AuditChain calls the wrapped store's AuditChain unless a fault is injected (a read).
func (s *Store) AuditChain(ctx context.Context, since time.Time, fn func(*latchkey.AuditEntry) error) error {
	if err := s.read(ctx, "AuditChain"); err != nil {
		return err
	}
	return s.inner.AuditChain(ctx, since, fn)
}

// CreateSession calls the wrapped store's CreateSession unless a fault is injected (a write).
func (s *Store) CreateSession(ctx context.Context, sess *latchkey.Session) error {
	if err := s.write(ctx, "CreateSession"); err != nil {
		return err
	}
	return s.inner.CreateSession(ctx, sess)
}

// FindSession calls the wrapped store's FindSession unless a fault is injected (a read).
func (s *Store) FindSession(ctx context.Context, hash []byte) (*latchkey.Session, error) {
	if err := s.read(ctx, "FindSession"); err != nil {
		return nil, err
	}
	return s.inner.FindSession(ctx, hash)
}

// UpdateSession calls the wrapped store's UpdateSession unless a fault is injected (a write).
func (s *Store) UpdateSession(ctx context.Context, hash []byte, accountID int64, lastSeen time.Time) error {
	if err := s.write(ctx, "UpdateSession"); err != nil {
		return err
	}
	return s.inner.UpdateSession(ctx, hash, accountID, lastSeen)
}

// DeleteSession calls the wrapped store's DeleteSession unless a fault is injected (a write).
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	if err := s.write(ctx, "DeleteSession"); err != nil {
		return err
	}
	return s.inner.DeleteSession(ctx, hash)
}

// CreateWebhookSubscription calls the wrapped store's CreateWebhookSubscription unless a fault is injected (a write).
func (s *Store) CreateWebhookSubscription(ctx context.Context, w *latchkey.WebhookSubscription) error {
	if err := s.write(ctx, "CreateWebhookSubscription"); err != nil {
		return err
	}
	return s.inner.CreateWebhookSubscription(ctx, w)
}

// FindWebhookSubscriptionByID calls the wrapped store's FindWebhookSubscriptionByID unless a fault is injected (a read).
func (s *Store) FindWebhookSubscriptionByID(ctx context.Context, id int64) (*latchkey.WebhookSubscription, error) {
	if err := s.read(ctx, "FindWebhookSubscriptionByID"); err != nil {
		return nil, err
	}
	return s.inner.FindWebhookSubscriptionByID(ctx, id)
}

// FindWebhookSubscriptions calls the wrapped store's FindWebhookSubscriptions unless a fault is injected (a read).
func (s *Store) FindWebhookSubscriptions(ctx context.Context, accountID int64, state *latchkey.State) ([]*latchkey.WebhookSubscription, error) {
	if err := s.read(ctx, "FindWebhookSubscriptions"); err != nil {
		return nil, err
	}
	return s.inner.FindWebhookSubscriptions(ctx, accountID, state)
}

// UpdateWebhookSubscription calls the wrapped store's UpdateWebhookSubscription unless a fault is injected (a write).
func (s *Store) UpdateWebhookSubscription(ctx context.Context, id int64, upd latchkey.WebhookSubscriptionUpdate) (*latchkey.WebhookSubscription, error) {
	if err := s.write(ctx, "UpdateWebhookSubscription"); err != nil {
		return nil, err
	}
	return s.inner.UpdateWebhookSubscription(ctx, id, upd)
}

// DeleteWebhookSubscription calls the wrapped store's DeleteWebhookSubscription unless a fault is injected (a write).
func (s *Store) DeleteWebhookSubscription(ctx context.Context, id int64) error {
	if err := s.write(ctx, "DeleteWebhookSubscription"); err != nil {
		return err
	}
	return s.inner.DeleteWebhookSubscription(ctx, id)
}

// ConsumeEvents calls the wrapped store's ConsumeEvents unless a fault is injected (a write).
func (s *Store) ConsumeEvents(ctx context.Context, consumer string, limit int, fn func(ctx context.Context, entries []*latchkey.AuditEntry) error) (int, error) {
	if err := s.write(ctx, "ConsumeEvents"); err != nil {
		return 0, err
	}
	return s.inner.ConsumeEvents(ctx, consumer, limit, fn)
}

// CreateWebhookDeliveries calls the wrapped store's CreateWebhookDeliveries unless a fault is injected (a write).
func (s *Store) CreateWebhookDeliveries(ctx context.Context, ds []*latchkey.WebhookDelivery) error {
	if err := s.write(ctx, "CreateWebhookDeliveries"); err != nil {
		return err
	}
	return s.inner.CreateWebhookDeliveries(ctx, ds)
}

// ClaimWebhookDeliveries calls the wrapped store's ClaimWebhookDeliveries unless a fault is injected (a write).
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, node string, limit int, leaseUntil time.Time, skip ...int64) ([]*latchkey.WebhookDelivery, error) {
	if err := s.write(ctx, "ClaimWebhookDeliveries"); err != nil {
		return nil, err
	}
	return s.inner.ClaimWebhookDeliveries(ctx, node, limit, leaseUntil, skip...)
}

// SyncRateCounts calls the wrapped store's SyncRateCounts unless a fault is injected (a write).
func (s *Store) SyncRateCounts(ctx context.Context, node string, counts []latchkey.RateCount, pruneBefore int64) ([]int64, error) {
	if err := s.write(ctx, "SyncRateCounts"); err != nil {
		return nil, err
	}
	return s.inner.SyncRateCounts(ctx, node, counts, pruneBefore)
}

// SyncCredits calls the wrapped store's SyncCredits unless a fault is injected (a write).
func (s *Store) SyncCredits(ctx context.Context, spends []latchkey.CreditSpend, now time.Time) ([]int64, error) {
	if err := s.write(ctx, "SyncCredits"); err != nil {
		return nil, err
	}
	return s.inner.SyncCredits(ctx, spends, now)
}

// RecordUsage calls the wrapped store's RecordUsage unless a fault is injected (a write).
func (s *Store) RecordUsage(ctx context.Context, recs []latchkey.UsageRecord, addrs []latchkey.AddressSeen) error {
	if err := s.write(ctx, "RecordUsage"); err != nil {
		return err
	}
	return s.inner.RecordUsage(ctx, recs, addrs)
}

// FindUsage calls the wrapped store's FindUsage unless a fault is injected (a read).
func (s *Store) FindUsage(ctx context.Context, f latchkey.UsageFilter) ([]latchkey.UsageBucket, error) {
	if err := s.read(ctx, "FindUsage"); err != nil {
		return nil, err
	}
	return s.inner.FindUsage(ctx, f)
}

// FindTopTokens calls the wrapped store's FindTopTokens unless a fault is injected (a read).
func (s *Store) FindTopTokens(ctx context.Context, f latchkey.UsageFilter, limit int) ([]latchkey.TokenUsage, error) {
	if err := s.read(ctx, "FindTopTokens"); err != nil {
		return nil, err
	}
	return s.inner.FindTopTokens(ctx, f, limit)
}

// FindTokenAddresses calls the wrapped store's FindTokenAddresses unless a fault is injected (a read).
func (s *Store) FindTokenAddresses(ctx context.Context, tokenID int64) ([]latchkey.AddressSeen, error) {
	if err := s.read(ctx, "FindTokenAddresses"); err != nil {
		return nil, err
	}
	return s.inner.FindTokenAddresses(ctx, tokenID)
}

// PruneUsage calls the wrapped store's PruneUsage unless a fault is injected (a write).
func (s *Store) PruneUsage(ctx context.Context, granularity time.Duration, before time.Time) (int64, error) {
	if err := s.write(ctx, "PruneUsage"); err != nil {
		return 0, err
	}
	return s.inner.PruneUsage(ctx, granularity, before)
}

// ReleaseWebhookDeliveries calls the wrapped store's ReleaseWebhookDeliveries unless a fault is injected (a write).
func (s *Store) ReleaseWebhookDeliveries(ctx context.Context, node string, ids []int64, next time.Time) error {
	if err := s.write(ctx, "ReleaseWebhookDeliveries"); err != nil {
		return err
	}
	return s.inner.ReleaseWebhookDeliveries(ctx, node, ids, next)
}

// RecordWebhookAttempts calls the wrapped store's RecordWebhookAttempts unless a fault is injected (a write).
func (s *Store) RecordWebhookAttempts(ctx context.Context, node string, as []*latchkey.WebhookAttempt) error {
	if err := s.write(ctx, "RecordWebhookAttempts"); err != nil {
		return err
	}
	return s.inner.RecordWebhookAttempts(ctx, node, as)
}

// FindWebhookDeliveryByID calls the wrapped store's FindWebhookDeliveryByID unless a fault is injected (a read).
func (s *Store) FindWebhookDeliveryByID(ctx context.Context, id int64) (*latchkey.WebhookDelivery, error) {
	if err := s.read(ctx, "FindWebhookDeliveryByID"); err != nil {
		return nil, err
	}
	return s.inner.FindWebhookDeliveryByID(ctx, id)
}

// FindWebhookDeliveries calls the wrapped store's FindWebhookDeliveries unless a fault is injected (a read).
func (s *Store) FindWebhookDeliveries(ctx context.Context, f latchkey.WebhookDeliveryFilter) ([]*latchkey.WebhookDelivery, int, error) {
	if err := s.read(ctx, "FindWebhookDeliveries"); err != nil {
		return nil, 0, err
	}
	return s.inner.FindWebhookDeliveries(ctx, f)
}

// FindWebhookAttempts calls the wrapped store's FindWebhookAttempts unless a fault is injected (a read).
func (s *Store) FindWebhookAttempts(ctx context.Context, deliveryID int64) ([]*latchkey.WebhookAttempt, error) {
	if err := s.read(ctx, "FindWebhookAttempts"); err != nil {
		return nil, err
	}
	return s.inner.FindWebhookAttempts(ctx, deliveryID)
}

// RedeliverWebhook calls the wrapped store's RedeliverWebhook unless a fault is injected (a write).
func (s *Store) RedeliverWebhook(ctx context.Context, id int64) error {
	if err := s.write(ctx, "RedeliverWebhook"); err != nil {
		return err
	}
	return s.inner.RedeliverWebhook(ctx, id)
}

// PruneWebhookDeliveries calls the wrapped store's PruneWebhookDeliveries unless a fault is injected (a write).
func (s *Store) PruneWebhookDeliveries(ctx context.Context, before time.Time) (int64, error) {
	if err := s.write(ctx, "PruneWebhookDeliveries"); err != nil {
		return 0, err
	}
	return s.inner.PruneWebhookDeliveries(ctx, before)
}

// CreateEmailNotices calls the wrapped store's CreateEmailNotices unless a fault is injected (a write).
func (s *Store) CreateEmailNotices(ctx context.Context, ns []*latchkey.EmailNotice) error {
	if err := s.write(ctx, "CreateEmailNotices"); err != nil {
		return err
	}
	return s.inner.CreateEmailNotices(ctx, ns)
}

// FindEmailNotices calls the wrapped store's FindEmailNotices unless a fault is injected (a read).
func (s *Store) FindEmailNotices(ctx context.Context, f latchkey.EmailNoticeFilter) ([]*latchkey.EmailNotice, error) {
	if err := s.read(ctx, "FindEmailNotices"); err != nil {
		return nil, err
	}
	return s.inner.FindEmailNotices(ctx, f)
}

// ClaimEmailNotices calls the wrapped store's ClaimEmailNotices unless a fault is injected (a write).
func (s *Store) ClaimEmailNotices(ctx context.Context, node string, limit int, leaseUntil time.Time) ([]*latchkey.EmailNotice, error) {
	if err := s.write(ctx, "ClaimEmailNotices"); err != nil {
		return nil, err
	}
	return s.inner.ClaimEmailNotices(ctx, node, limit, leaseUntil)
}

// MarkEmailNoticesSent calls the wrapped store's MarkEmailNoticesSent unless a fault is injected (a write).
func (s *Store) MarkEmailNoticesSent(ctx context.Context, node string, ids []int64) error {
	if err := s.write(ctx, "MarkEmailNoticesSent"); err != nil {
		return err
	}
	return s.inner.MarkEmailNoticesSent(ctx, node, ids)
}

// RetryEmailNotices calls the wrapped store's RetryEmailNotices unless a fault is injected (a write).
func (s *Store) RetryEmailNotices(ctx context.Context, node string, ids []int64, next *time.Time, lastErr string) error {
	if err := s.write(ctx, "RetryEmailNotices"); err != nil {
		return err
	}
	return s.inner.RetryEmailNotices(ctx, node, ids, next, lastErr)
}

// FindEventsAfterCursor calls the wrapped store's FindEventsAfterCursor unless a fault is injected (a read).
func (s *Store) FindEventsAfterCursor(ctx context.Context, consumer string, limit int) (int64, []*latchkey.AuditEntry, error) {
	if err := s.read(ctx, "FindEventsAfterCursor"); err != nil {
		return 0, nil, err
	}
	return s.inner.FindEventsAfterCursor(ctx, consumer, limit)
}

// MoveEventCursor calls the wrapped store's MoveEventCursor unless a fault is injected (a write).
func (s *Store) MoveEventCursor(ctx context.Context, consumer string, from, to int64) error {
	if err := s.write(ctx, "MoveEventCursor"); err != nil {
		return err
	}
	return s.inner.MoveEventCursor(ctx, consumer, from, to)
}

// CreateSigningKey calls the wrapped store's CreateSigningKey unless a fault is injected (a write).
func (s *Store) CreateSigningKey(ctx context.Context, k *latchkey.SigningKey) error {
	if err := s.write(ctx, "CreateSigningKey"); err != nil {
		return err
	}
	return s.inner.CreateSigningKey(ctx, k)
}

// FindSigningKeys calls the wrapped store's FindSigningKeys unless a fault is injected (a read).
func (s *Store) FindSigningKeys(ctx context.Context, now time.Time) ([]*latchkey.SigningKey, error) {
	if err := s.read(ctx, "FindSigningKeys"); err != nil {
		return nil, err
	}
	return s.inner.FindSigningKeys(ctx, now)
}

// DeleteSigningKeys calls the wrapped store's DeleteSigningKeys unless a fault is injected (a write).
func (s *Store) DeleteSigningKeys(ctx context.Context, now time.Time) (int64, error) {
	if err := s.write(ctx, "DeleteSigningKeys"); err != nil {
		return 0, err
	}
	return s.inner.DeleteSigningKeys(ctx, now)
}

// CreateTrustPolicy calls the wrapped store's CreateTrustPolicy unless a fault is injected (a write).
func (s *Store) CreateTrustPolicy(ctx context.Context, p *latchkey.TrustPolicy) error {
	if err := s.write(ctx, "CreateTrustPolicy"); err != nil {
		return err
	}
	return s.inner.CreateTrustPolicy(ctx, p)
}

// FindTrustPolicyByID calls the wrapped store's FindTrustPolicyByID unless a fault is injected (a read).
func (s *Store) FindTrustPolicyByID(ctx context.Context, id int64) (*latchkey.TrustPolicy, error) {
	if err := s.read(ctx, "FindTrustPolicyByID"); err != nil {
		return nil, err
	}
	return s.inner.FindTrustPolicyByID(ctx, id)
}

// FindTrustPolicies calls the wrapped store's FindTrustPolicies unless a fault is injected (a read).
func (s *Store) FindTrustPolicies(ctx context.Context, f latchkey.TrustPolicyFilter) ([]*latchkey.TrustPolicy, error) {
	if err := s.read(ctx, "FindTrustPolicies"); err != nil {
		return nil, err
	}
	return s.inner.FindTrustPolicies(ctx, f)
}

// UpdateTrustPolicy calls the wrapped store's UpdateTrustPolicy unless a fault is injected (a write).
func (s *Store) UpdateTrustPolicy(ctx context.Context, id int64, upd latchkey.TrustPolicyUpdate) (*latchkey.TrustPolicy, error) {
	if err := s.write(ctx, "UpdateTrustPolicy"); err != nil {
		return nil, err
	}
	return s.inner.UpdateTrustPolicy(ctx, id, upd)
}

// DeleteTrustPolicy calls the wrapped store's DeleteTrustPolicy unless a fault is injected (a write).
func (s *Store) DeleteTrustPolicy(ctx context.Context, id int64) error {
	if err := s.write(ctx, "DeleteTrustPolicy"); err != nil {
		return err
	}
	return s.inner.DeleteTrustPolicy(ctx, id)
}
