package latchkey

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// AuditEntry is one line of the audit trail. Entries are written in the same transaction as the
// mutation they describe and are chained by hash so tampering in the database is detectable.
type AuditEntry struct {
	ID        int64
	AccountID int64
	CreatedAt time.Time
	EventType string
	ActorType string
	ActorID   int64
	ActorName string
	ActorIP   string
	Source    string
	// Context holds event details; it never holds a secret.
	Context map[string]any
	// RawContext is the JSON stored for Context (filled by reads); the chain hash covers it.
	RawContext []byte
	// PrevHash and Hash chain the entries of the whole log (hex SHA-256).
	PrevHash string
	Hash     string
}

// AuditFilter selects audit entries of one account, newest first.
type AuditFilter struct {
	AccountID int64
	EventType *string
	// Actor matches "type:id" (e.g. "service_token:4") or an actor name.
	Actor  *string
	Since  *time.Time
	Until  *time.Time
	Offset int
	Limit  int
}

// IPRuleType is allow (1) or deny (2).
type IPRuleType int

// IP rule types.
const (
	IPRuleAllow IPRuleType = 1
	IPRuleDeny  IPRuleType = 2
)

// IPRule is one account-level IP restriction rule.
type IPRule struct {
	ID          int64
	AccountID   int64
	Name        string
	Type        IPRuleType
	Description string
	CIDRs       []IPRuleCIDR
	State       State
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// IPRuleCIDR is one range of an IP rule. Its ID (unique within the rule) stays the same across
// updates that keep the range, as clients such as dbt Cloud's Terraform provider match ranges by
// id. Field is the member a client wrote it in ("cidr" or "cidr_ipv6"; empty: by its family), and
// Written how, when not in canonical form ("192.0.2.1" for 192.0.2.1/32, upper-case IPv6): dbt's
// members answer it as written, since clients compare them as text. CIDR is what is enforced.
type IPRuleCIDR struct {
	ID      int64
	CIDR    string
	Field   string
	Written string
}

// String returns the range, e.g. "203.0.113.0/24".
func (c IPRuleCIDR) String() string { return c.CIDR }

// Ranges makes new rule ranges (ids to be given by the store) of cidrs.
func Ranges(cidrs ...string) []IPRuleCIDR {
	out := make([]IPRuleCIDR, len(cidrs))
	for i, c := range cidrs {
		out[i] = IPRuleCIDR{CIDR: c}
	}
	return out
}

// CIDRStrings returns a rule's ranges.
func (r *IPRule) CIDRStrings() []string {
	out := make([]string, len(r.CIDRs))
	for i, c := range r.CIDRs {
		out[i] = c.CIDR
	}
	return out
}

// IPRuleUpdate changes a rule. CIDRs, when set, become the rule's ranges: an entry whose ID is
// one of the rule's, or whose range the rule already has, keeps that id; others get new ones.
type IPRuleUpdate struct {
	Name        *string
	Type        *IPRuleType
	Description *string
	CIDRs       *[]IPRuleCIDR
}

// Session is a signed-in browser. The cookie holds a random value; only its hash is stored.
type Session struct {
	Hash       []byte
	UserID     int64
	AccountID  int64
	CSRFSecret string
	// SSOAccountID, when set, is the account whose single sign-on started the session: it acts
	// in that account only, since no other account's identity provider vouched for the person.
	SSOAccountID int64
	CreatedAt    time.Time
	LastSeenAt   time.Time
	ExpiresAt    time.Time
}

// ChangeKind says what a Change invalidates.
type ChangeKind uint8

// Change kinds.
const (
	// ChangeToken: one token (ID) changed or went away.
	ChangeToken ChangeKind = iota + 1
	// ChangeUser: a user's license, groups or sessions in an account changed (ID is the user).
	ChangeUser
	// ChangeAccount: something account-wide changed (group grants, IP rules, plan).
	ChangeAccount
	// ChangeAll: the change feed may have missed events; drop everything.
	ChangeAll
)

// Change tells caches what a committed mutation invalidated.
type Change struct {
	Kind      ChangeKind
	AccountID int64
	ID        int64
}

// ChainHash returns the hash that chains e after prev: SHA-256 over prev and every stored field
// of e, with rawContext the exact JSON text stored for e.Context.
func (e *AuditEntry) ChainHash(prev string, rawContext []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%d\n%d\n%s\n%s\n%d\n%q\n%q\n%s\n", prev, e.AccountID, e.CreatedAt.UnixMicro(),
		e.EventType, e.ActorType, e.ActorID, e.ActorName, e.ActorIP, e.Source)
	h.Write(rawContext)
	return hex.EncodeToString(h.Sum(nil))
}

// ChainBreak describes where the audit chain stops verifying.
type ChainBreak struct {
	EntryID int64
	Reason  string
}

// VerifyAuditChain recomputes the hash chain over every entry in s, oldest first, and reports
// the first entry that was altered, inserted or removed behind latchkey's back.
func VerifyAuditChain(ctx context.Context, s Store) (checked int, brk *ChainBreak, err error) {
	prev := ""
	err = s.AuditChain(ctx, time.Time{}, func(e *AuditEntry) error {
		checked++
		switch {
		case e.PrevHash != prev:
			brk = &ChainBreak{EntryID: e.ID, Reason: "previous-hash link does not match the entry before it (an entry was removed or inserted)"}
		case e.ChainHash(prev, e.RawContext) != e.Hash:
			brk = &ChainBreak{EntryID: e.ID, Reason: "content does not match its hash (the entry was altered)"}
		}
		if brk != nil {
			return errStopChain
		}
		prev = e.Hash
		return nil
	})
	if err == errStopChain {
		err = nil
	}
	return checked, brk, err
}

var errStopChain = errors.New("stop")
