package latchkey

import (
	"context"
	"time"
)

// Store persists latchkey's objects. Every mutation commits together with its audit entry (the
// actor comes from WithActor on the context) and, once committed, is announced to subscribers as
// a Change. Implementations: sqlite (embedded) and postgres. storetest holds the behavioural suite
// both must pass.
//
// Find*ByID methods return ENotFound for a missing row and return deleted rows with State 2. List
// methods return the page and the total count before paging.
type Store interface {
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error

	// InTx runs fn in one write transaction: every call made with the context fn receives joins
	// it, so several changes and their audit entries commit together or not at all, and reads
	// see the transaction's own writes. Write transactions run one at a time, so a check made
	// inside fn still holds at commit. A call that fails inside fn is undone on its own; fn may
	// handle its error and go on. fn's error rolls everything back and is returned. A write made
	// inside fn with any other context waits for the transaction, which waits for fn: always
	// pass fn's context on.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error

	CreateAccount(ctx context.Context, a *Account) error
	FindAccountByID(ctx context.Context, id int64) (*Account, error)
	FindAccounts(ctx context.Context, f AccountFilter) ([]*Account, int, error)
	UpdateAccount(ctx context.Context, id int64, upd AccountUpdate) (*Account, error)

	CreateProject(ctx context.Context, p *Project) error
	FindProjectByID(ctx context.Context, id int64) (*Project, error)
	FindProjects(ctx context.Context, f ProjectFilter) ([]*Project, int, error)
	UpdateProject(ctx context.Context, id int64, upd ProjectUpdate) (*Project, error)
	DeleteProject(ctx context.Context, id int64) error

	CreateUser(ctx context.Context, u *User) error
	FindUserByID(ctx context.Context, id int64) (*User, error)
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	FindUsers(ctx context.Context, f UserFilter) ([]*User, int, error)
	UpdateUser(ctx context.Context, id int64, upd UserUpdate) (*User, error)

	// CreateMembership adds a user to an account and to groupIDs, or, when groupIDs is nil, to
	// the account's assign-by-default groups.
	CreateMembership(ctx context.Context, m *Membership, groupIDs []int64) error
	FindMemberships(ctx context.Context, f MembershipFilter) ([]*Membership, error)
	UpdateMembership(ctx context.Context, id int64, upd MembershipUpdate) (*Membership, error)
	// FindMemberGrants returns a user's active membership in an account and the grants of all
	// the groups they belong to there. ENotFound when there is no active membership.
	FindMemberGrants(ctx context.Context, accountID, userID int64) (*Membership, []Grant, error)
	// FindAccountAdmins returns the ids of the account's owners: active users with an active
	// developer-licensed membership who belong to an active group holding an active grant of
	// account_admin (or its alias owner) on all projects.
	FindAccountAdmins(ctx context.Context, accountID int64) ([]int64, error)

	CreateGroup(ctx context.Context, g *Group) error
	FindGroupByID(ctx context.Context, id int64) (*Group, error)
	FindGroups(ctx context.Context, f GroupFilter) ([]*Group, int, error)
	UpdateGroup(ctx context.Context, id int64, upd GroupUpdate) (*Group, error)
	ReplaceGroupGrants(ctx context.Context, groupID int64, grants []Grant) (*Group, error)
	// SetUserGroups makes groupIDs exactly the user's groups in the account.
	SetUserGroups(ctx context.Context, accountID, userID int64, groupIDs []int64) error

	// CreateToken stores a token with its grants and sets ID, FamilyID and times.
	CreateToken(ctx context.Context, t *Token) error
	// CreateTokens stores many tokens in one transaction (imports, seeding), each audited like
	// CreateToken. Either all are stored or none.
	CreateTokens(ctx context.Context, ts []*Token) error
	FindTokenByID(ctx context.Context, id int64) (*Token, error)
	// FindTokenByHash finds a token by the SHA-256 of its string, in any state.
	FindTokenByHash(ctx context.Context, hash []byte) (*Token, error)
	// FindTokensByHash finds the tokens, in any state, whose hashes are among hashes (a batch of
	// cache refreshes); hashes with no token are left out, and the order is unspecified.
	FindTokensByHash(ctx context.Context, hashes [][]byte) ([]*Token, error)
	// FindTokenVersions returns the id and updated_at of the tokens whose hashes are among
	// hashes (a cheap check that a cached token is unchanged: every change to a token or its
	// grants moves its updated_at); hashes with no token are left out.
	FindTokenVersions(ctx context.Context, hashes [][]byte) ([]TokenVersion, error)
	FindTokens(ctx context.Context, f TokenFilter) ([]*Token, int, error)
	UpdateToken(ctx context.Context, id int64, upd TokenUpdate) (*Token, error)
	// AddTokenGrants gives grants to a token that has none; EInvalid when it already has some.
	AddTokenGrants(ctx context.Context, id int64, grants []Grant) (*Token, error)
	ReplaceTokenGrants(ctx context.Context, id int64, grants []Grant) (*Token, error)
	// DeleteToken revokes a token at once (state 2). reason ("deleted", "leak_reported",
	// "reuse_detected", ...) is recorded in the audit entry.
	DeleteToken(ctx context.Context, id int64, reason string) error
	// RotateToken stores next as the successor of token id: next copies its name, kind, owner,
	// grants and allowed CIDRs and joins its family; the old token stays valid for grace.
	RotateToken(ctx context.Context, id int64, next *Token, grace time.Duration) error
	// RecordTokenUses writes last-used times and addresses in one batch, without audit entries.
	RecordTokenUses(ctx context.Context, uses []TokenUse) error
	// SyncRateCounts stores node's counts of rate-limit windows (each replacing node's earlier
	// count of the same window; a Used of -1 stores nothing) and returns, for each, the sum of
	// every other node's count of it. Counts of windows that ended before pruneBefore (Unix
	// seconds; 0: none) are removed.
	SyncRateCounts(ctx context.Context, node string, counts []RateCount, pruneBefore int64) ([]int64, error)
	// SyncCredits refills each family's credits whose period has turned (as of now), subtracts
	// what was spent (never below 0) and returns each family's balance, -1 for a family that has
	// no credits (any more).
	SyncCredits(ctx context.Context, spends []CreditSpend, now time.Time) ([]int64, error)
	// RecordUsage adds verification counts to their minute, hour and day buckets and records
	// the addresses seen (keeping each token's MaxTokenAddresses most recently seen), in one
	// transaction, without audit entries.
	RecordUsage(ctx context.Context, recs []UsageRecord, addrs []AddressSeen) error
	// FindUsage returns the buckets with counts that f selects, oldest first.
	FindUsage(ctx context.Context, f UsageFilter) ([]UsageBucket, error)
	// FindTopTokens returns the account's (f.TokenID is ignored) limit most verified tokens
	// over f's buckets, most first (ties by id).
	FindTopTokens(ctx context.Context, f UsageFilter, limit int) ([]TokenUsage, error)
	// FindTokenAddresses returns the addresses a token was last used from, latest first.
	FindTokenAddresses(ctx context.Context, tokenID int64) ([]AddressSeen, error)
	// PruneUsage deletes buckets of granularity that started before before.
	PruneUsage(ctx context.Context, granularity time.Duration, before time.Time) (int64, error)

	// CreateTrustPolicy stores an active policy (audited, a change of its account).
	CreateTrustPolicy(ctx context.Context, p *TrustPolicy) error
	// FindTrustPolicyByID returns a policy in any state.
	FindTrustPolicyByID(ctx context.Context, id int64) (*TrustPolicy, error)
	// FindTrustPolicies returns the active policies f selects, by id.
	FindTrustPolicies(ctx context.Context, f TrustPolicyFilter) ([]*TrustPolicy, error)
	// UpdateTrustPolicy changes an active policy (ENotFound for a deleted one).
	UpdateTrustPolicy(ctx context.Context, id int64, upd TrustPolicyUpdate) (*TrustPolicy, error)
	// DeleteTrustPolicy deletes a policy (state 2); deleting a deleted one does nothing.
	DeleteTrustPolicy(ctx context.Context, id int64) error

	// CreateSigningKey stores a signing key (EConflict when its kid exists).
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// FindSigningKeys returns the keys still published at now, oldest ActiveFrom first.
	FindSigningKeys(ctx context.Context, now time.Time) ([]*SigningKey, error)
	// DeleteSigningKeys deletes the keys no longer published at now and returns how many.
	DeleteSigningKeys(ctx context.Context, now time.Time) (int64, error)

	CreateIPRule(ctx context.Context, r *IPRule) error
	FindIPRuleByID(ctx context.Context, id int64) (*IPRule, error)
	FindIPRules(ctx context.Context, accountID int64) ([]*IPRule, error)
	UpdateIPRule(ctx context.Context, id int64, upd IPRuleUpdate) (*IPRule, error)
	DeleteIPRule(ctx context.Context, id int64) error

	// CreateSSOProvider stores an account's single sign-on provider; EConflict when the account
	// already has an active one or its slug is taken.
	CreateSSOProvider(ctx context.Context, sp *SSOProvider) error
	FindSSOProviderByID(ctx context.Context, id int64) (*SSOProvider, error)
	FindSSOProviders(ctx context.Context, f SSOProviderFilter) ([]*SSOProvider, error)
	UpdateSSOProvider(ctx context.Context, id int64, upd SSOProviderUpdate) (*SSOProvider, error)
	// DeleteSSOProvider turns a provider off (state 2): its slug is free again and password
	// sign-in is no longer restricted by it.
	DeleteSSOProvider(ctx context.Context, id int64) error

	CreateLicenseMap(ctx context.Context, m *LicenseMap) error
	FindLicenseMapByID(ctx context.Context, id int64) (*LicenseMap, error)
	// FindLicenseMaps lists an account's license maps in state (any state when nil), by id.
	FindLicenseMaps(ctx context.Context, accountID int64, state *State) ([]*LicenseMap, error)
	UpdateLicenseMap(ctx context.Context, id int64, upd LicenseMapUpdate) (*LicenseMap, error)
	DeleteLicenseMap(ctx context.Context, id int64) error

	// CreateWebhookSubscription stores an account's webhook endpoint and sets its ID and times.
	CreateWebhookSubscription(ctx context.Context, w *WebhookSubscription) error
	FindWebhookSubscriptionByID(ctx context.Context, id int64) (*WebhookSubscription, error)
	// FindWebhookSubscriptions lists subscriptions by id: an account's (every account's when
	// accountID is 0), in state (any when nil).
	FindWebhookSubscriptions(ctx context.Context, accountID int64, state *State) ([]*WebhookSubscription, error)
	// UpdateWebhookSubscription changes an active subscription; a new Secret moves the current
	// one to PrevSecret, and turning it off fails its pending deliveries.
	UpdateWebhookSubscription(ctx context.Context, id int64, upd WebhookSubscriptionUpdate) (*WebhookSubscription, error)
	// DeleteWebhookSubscription sets a subscription's state to 2 and fails its pending deliveries.
	DeleteWebhookSubscription(ctx context.Context, id int64) error

	// ConsumeEvents runs fn in one transaction with the audit entries after consumer's cursor
	// (at most limit, oldest first) and moves the cursor past them when fn succeeds: the audit
	// log is the outbox of events. Store calls made with fn's context join the transaction. A
	// consumer seen for the first time starts after the newest entry. It returns how many
	// entries fn was given.
	ConsumeEvents(ctx context.Context, consumer string, limit int, fn func(ctx context.Context, entries []*AuditEntry) error) (int, error)
	// FindEventsAfterCursor returns consumer's cursor and up to limit audit entries after it,
	// oldest first, without locking; the consumer moves the cursor with MoveEventCursor in the
	// transaction that stores what it made of them.
	FindEventsAfterCursor(ctx context.Context, consumer string, limit int) (cursor int64, entries []*AuditEntry, err error)
	// MoveEventCursor moves consumer's cursor from from to to; EConflict when it is no longer
	// at from (another node consumed those entries first).
	MoveEventCursor(ctx context.Context, consumer string, from, to int64) error
	// CreateWebhookDeliveries stores pending deliveries, due at NextAttemptAt (now when zero).
	CreateWebhookDeliveries(ctx context.Context, ds []*WebhookDelivery) error
	// ClaimWebhookDeliveries takes up to limit due pending deliveries for node until
	// leaseUntil: one node holds a delivery at a time, and one whose lease ran out is due again.
	// Deliveries to the subscriptions in skip are left for later (their endpoints are busy).
	ClaimWebhookDeliveries(ctx context.Context, node string, limit int, leaseUntil time.Time, skip ...int64) ([]*WebhookDelivery, error)
	// ReleaseWebhookDeliveries gives back deliveries node claimed and did not attempt, due
	// again at next; no attempt is counted or logged. Deliveries node no longer holds are left
	// alone.
	ReleaseWebhookDeliveries(ctx context.Context, node string, ids []int64, next time.Time) error
	// RecordWebhookAttempts logs node's attempts and moves their deliveries on (see
	// WebhookAttempt.NextAttemptAt); a delivery another node holds keeps its state.
	RecordWebhookAttempts(ctx context.Context, node string, as []*WebhookAttempt) error
	FindWebhookDeliveryByID(ctx context.Context, id int64) (*WebhookDelivery, error)
	FindWebhookDeliveries(ctx context.Context, f WebhookDeliveryFilter) ([]*WebhookDelivery, int, error)
	// FindWebhookAttempts returns a delivery's attempts, oldest first.
	FindWebhookAttempts(ctx context.Context, deliveryID int64) ([]*WebhookAttempt, error)
	// RedeliverWebhook makes a delivery pending and due now again, with the same message id.
	RedeliverWebhook(ctx context.Context, id int64) error
	// PruneWebhookDeliveries deletes ended deliveries last changed before before.
	PruneWebhookDeliveries(ctx context.Context, before time.Time) (int64, error)

	// CreateEmailNotices queues email notices, due at SendAfter (now when zero). A notice of an
	// event the user already has one for is left out.
	CreateEmailNotices(ctx context.Context, ns []*EmailNotice) error
	// FindEmailNotices lists notices, newest SendAfter first.
	FindEmailNotices(ctx context.Context, f EmailNoticeFilter) ([]*EmailNotice, error)
	// ClaimEmailNotices takes up to limit due pending notices for node until leaseUntil, a
	// recipient's notices together, like ClaimWebhookDeliveries.
	ClaimEmailNotices(ctx context.Context, node string, limit int, leaseUntil time.Time) ([]*EmailNotice, error)
	// MarkEmailNoticesSent ends node's notices ids as sent.
	MarkEmailNoticesSent(ctx context.Context, node string, ids []int64) error
	// RetryEmailNotices records a failed attempt at node's notices ids: they are due again at
	// next, or, when next is nil, end as failed. lastErr must hold no secret.
	RetryEmailNotices(ctx context.Context, node string, ids []int64, next *time.Time, lastErr string) error

	// AppendAudit records an event that is not part of another mutation (a failed sign-in, a
	// detected reuse).
	AppendAudit(ctx context.Context, e *AuditEntry) error
	FindAuditEntries(ctx context.Context, f AuditFilter) ([]*AuditEntry, int, error)
	// AuditChain returns every entry in insertion order, for chain verification and export.
	AuditChain(ctx context.Context, since time.Time, fn func(*AuditEntry) error) error

	CreateSession(ctx context.Context, s *Session) error
	FindSession(ctx context.Context, hash []byte) (*Session, error)
	UpdateSession(ctx context.Context, hash []byte, accountID int64, lastSeen time.Time) error
	DeleteSession(ctx context.Context, hash []byte) error

	// Subscribe calls fn after every committed mutation (on any node, where the implementation
	// spans nodes) with what it invalidated. The returned function unsubscribes.
	Subscribe(fn func(Change)) (cancel func())
}

// Order sorts a list of projects, groups or tokens: by Field (one of OrderFields; "" is id),
// descending when Desc. Ties break on id, in the same direction. Names sort by their bytes, so
// every database gives the same order.
type Order struct {
	Field string
	Desc  bool
}

// OrderFields are the fields a list can be ordered by (dbt's order_by, "-" for descending).
var OrderFields = []string{"id", "name", "created_at", "updated_at"}

// DefaultLimit and MaxLimit bound list pages.
const (
	DefaultLimit = 100
	MaxLimit     = 100
)
