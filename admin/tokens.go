package admin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/latchkey/latchkey"
)

// MaxAllowedCIDRs bounds a token's own IP allow list.
const MaxAllowedCIDRs = 100

// TokenRef names a token: a service token of p's account (UserID 0), or a personal access
// token of user UserID in p's account.
type TokenRef struct {
	Kind   latchkey.TokenKind
	UserID int64
	ID     int64
}

// ServiceTokenRef names a service token.
func ServiceTokenRef(id int64) TokenRef { return TokenRef{Kind: latchkey.KindServiceToken, ID: id} }

// PATRef names a user's personal access token.
func PATRef(userID, id int64) TokenRef {
	return TokenRef{Kind: latchkey.KindPAT, UserID: userID, ID: id}
}

func (r TokenRef) what() string {
	if r.Kind == latchkey.KindPAT {
		return "personal access token"
	}
	return "service token"
}

// token loads the token ref names in p's account.
func (s *Service) token(ctx context.Context, p *latchkey.Principal, ref TokenRef) (*latchkey.Token, error) {
	tok, err := s.store.FindTokenByID(ctx, ref.ID)
	if latchkey.SystemError(err) {
		return nil, err
	}
	if err != nil || tok.AccountID != p.AccountID || tok.Kind != ref.Kind || ref.Kind == latchkey.KindPAT && tok.UserID != ref.UserID {
		return nil, notFound("%s %d not found", ref.what(), ref.ID)
	}
	return tok, nil
}

// canReadPATs checks who may see a user's personal access tokens: the user themself, or
// anyone with members:write.
func canReadPATs(p *latchkey.Principal, userID int64) error {
	if p.Kind == latchkey.PrincipalUser && p.UserID == userID {
		return nil
	}
	if require(p, latchkey.ResMembers, latchkey.AccessWrite) == nil {
		return nil
	}
	return latchkey.Errorf(latchkey.EForbidden, "requires members:write, or being user %d", userID)
}

// canRead checks read access to the tokens ref names.
func canRead(p *latchkey.Principal, ref TokenRef) error {
	if ref.Kind == latchkey.KindPAT {
		return canReadPATs(p, ref.UserID)
	}
	return require(p, latchkey.ResServiceTokens, latchkey.AccessRead)
}

// Tokens lists service tokens (service_tokens:read) or one user's personal access tokens (the
// user, or members:write) of p's account. ref.ID is ignored.
func (s *Service) Tokens(ctx context.Context, p *latchkey.Principal, ref TokenRef, f latchkey.TokenFilter) ([]*latchkey.Token, int, error) {
	if err := canRead(p, ref); err != nil {
		return nil, 0, err
	}
	f.AccountID, f.Kind, f.UserID = &p.AccountID, &ref.Kind, nil
	if ref.Kind == latchkey.KindPAT {
		f.UserID = &ref.UserID
	}
	return s.store.FindTokens(ctx, f)
}

// Token returns one token, with the read access Tokens needs.
func (s *Service) Token(ctx context.Context, p *latchkey.Principal, ref TokenRef) (*latchkey.Token, error) {
	if err := canRead(p, ref); err != nil {
		return nil, err
	}
	return s.token(ctx, p, ref)
}

// canChange checks who may change, rotate or delete a token: for a service token, a manager of
// service tokens holding everything the token holds; for a PAT, its user (rotate) or, to delete,
// anyone with members:write who holds what the user holds.
func (s *Service) canChange(ctx context.Context, p *latchkey.Principal, tok *latchkey.Token, deleting bool) error {
	if err := notByAccessToken(p); err != nil {
		return err
	}
	if tok.Kind == latchkey.KindServiceToken {
		if err := CanManageServiceTokens(p); err != nil {
			return err
		}
		return checkGrantsHeld(p, tok.Grants, "service token "+tok.Name)
	}
	if p.Kind == latchkey.PrincipalUser && p.UserID == tok.UserID {
		return nil
	}
	if !deleting {
		return latchkey.Errorf(latchkey.EForbidden, "only user %d may do this with their personal access tokens", tok.UserID)
	}
	if err := require(p, latchkey.ResMembers, latchkey.AccessWrite); err != nil {
		return latchkey.Errorf(latchkey.EForbidden, "requires members:write, or being user %d", tok.UserID)
	}
	return s.checkActsOnUser(ctx, p, tok.UserID)
}

// changeable loads the token ref names for a change other than a delete, checking that p may
// make it (canChange).
func (s *Service) changeable(ctx context.Context, p *latchkey.Principal, ref TokenRef) (*latchkey.Token, error) {
	tok, err := s.token(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	if err := s.canChange(ctx, p, tok, false); err != nil {
		return nil, err
	}
	return tok, nil
}

// NewToken describes a token to create.
type NewToken struct {
	Name string
	// ExpiresAt, when nil, is the account's maximum lifetime from now (no expiry without one).
	ExpiresAt *time.Time
	// AllowedCIDRs limits where a service token may be used from (empty: anywhere the account
	// allows).
	AllowedCIDRs []netip.Prefix
	// Grants are a service token's permissions (none for a PAT, which acts as its user).
	Grants []latchkey.Grant
	// RateLimits bound how often the token may be verified (see latchkey.ValidateRateLimits).
	RateLimits []latchkey.RateLimit
	// Credits, when set, are the token's quota of uses.
	Credits *latchkey.Credits
	// IdempotencyKey, when set, makes a retry safe: the same principal creating with the same
	// key within latchkey.IdempotencyWindow gets latchkey.IdempotentReplay instead of a second
	// token.
	IdempotencyKey string
}

// MaxIdempotencyKeyLength bounds an Idempotency-Key, in bytes.
const MaxIdempotencyKeyLength = 255

// idempotencyHash checks an Idempotency-Key (1 to 255 visible ASCII characters) and returns
// what is stored of it.
func idempotencyHash(key string) ([]byte, error) {
	if key == "" {
		return nil, nil
	}
	if len(key) > MaxIdempotencyKeyLength {
		return nil, latchkey.FieldError("Idempotency-Key", "the Idempotency-Key header is longer than %d characters", MaxIdempotencyKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return nil, latchkey.FieldError("Idempotency-Key", "the Idempotency-Key header must be visible ASCII characters (a UUID is a good choice)")
		}
	}
	h := sha256.Sum256([]byte(key))
	return h[:], nil
}

// expiry checks a requested expiry against the account's maximum lifetime; with a maximum and no
// request the token gets the maximum.
func expiry(want *time.Time, a *latchkey.Account, now time.Time) (*time.Time, error) {
	max := a.Settings.MaxTokenLifetime
	if want == nil {
		if max > 0 {
			t := now.Add(max).UTC().Truncate(time.Microsecond)
			return &t, nil
		}
		return nil, nil
	}
	if !want.After(now) {
		return nil, latchkey.FieldError("expires_at", "expires_at must be in the future")
	}
	if max > 0 && want.Sub(now) > max+time.Minute {
		return nil, latchkey.FieldError("expires_at", "expires_at is beyond this account's maximum token lifetime of %s", max)
	}
	t := want.UTC().Truncate(time.Microsecond)
	return &t, nil
}

// mint gives tok a fresh token string and stores it inside the caller's transaction, retrying on
// the (astronomically unlikely) uid collision. It returns the string, which is never stored.
func (s *Service) mint(ctx context.Context, tok *latchkey.Token) (string, error) {
	for attempt := 0; ; attempt++ {
		m, err := s.format.Mint(tok.Kind)
		if err != nil {
			return "", err
		}
		tok.UID, tok.Hash = m.UID, m.Hash
		err = s.store.CreateToken(ctx, tok)
		var le *latchkey.Error
		if errors.As(err, &le) && le.Code == latchkey.EConflict && le.Data["token_id"] == nil && attempt < 3 {
			continue // a uid or hash collision: mint again
		}
		if err != nil {
			return "", err
		}
		return m.String, nil
	}
}

// CreateServiceToken creates a service token (service_tokens:write and, for users, a developer
// or analyst license) and returns it with its token string, the only copy. Grants may be empty
// (dbt's two-step creation adds them with SetServiceTokenGrants).
func (s *Service) CreateServiceToken(ctx context.Context, p *latchkey.Principal, in NewToken) (*latchkey.Token, string, error) {
	if err := CanManageServiceTokens(p); err != nil {
		return nil, "", err
	}
	return s.createToken(ctx, p, latchkey.KindServiceToken, 0, in)
}

// CreatePAT creates a personal access token for user userID, who must be p itself.
func (s *Service) CreatePAT(ctx context.Context, p *latchkey.Principal, userID int64, in NewToken) (*latchkey.Token, string, error) {
	if p.Kind != latchkey.PrincipalUser || p.UserID != userID {
		return nil, "", latchkey.Errorf(latchkey.EForbidden, "only user %d may do this with their personal access tokens", userID)
	}
	if len(in.Grants) > 0 || len(in.AllowedCIDRs) > 0 {
		return nil, "", latchkey.Errorf(latchkey.EInvalid, "personal access tokens act with their user's permissions and hold no grants or address ranges of their own")
	}
	return s.createToken(ctx, p, latchkey.KindPAT, userID, in)
}

func (s *Service) createToken(ctx context.Context, p *latchkey.Principal, kind latchkey.TokenKind, userID int64, in NewToken) (*latchkey.Token, string, error) {
	if err := notByAccessToken(p); err != nil {
		return nil, "", err
	}
	name, err := latchkey.CleanName("name", in.Name)
	if err != nil {
		return nil, "", err
	}
	if len(in.AllowedCIDRs) > MaxAllowedCIDRs {
		return nil, "", latchkey.FieldError("allowed_cidrs", "at most %d ranges are allowed", MaxAllowedCIDRs)
	}
	if err := latchkey.ValidateRateLimits("rate_limits", in.RateLimits); err != nil {
		return nil, "", err
	}
	if err := latchkey.ValidateCredits("credits", in.Credits); err != nil {
		return nil, "", err
	}
	idem, err := idempotencyHash(in.IdempotencyKey)
	if err != nil {
		return nil, "", err
	}
	tok := &latchkey.Token{AccountID: p.AccountID, Kind: kind, UserID: userID, Name: name, CreatedBy: p.String(),
		AllowedCIDRs: in.AllowedCIDRs, Grants: in.Grants, RateLimits: in.RateLimits, Credits: in.Credits, IdempotencyKey: idem}
	var secret string
	err = s.inTx(ctx, func(ctx context.Context) error {
		a, err := s.account(ctx, p)
		if err != nil {
			return err
		}
		if tok.ExpiresAt, err = expiry(in.ExpiresAt, a, s.Now()); err != nil {
			return err
		}
		if kind == latchkey.KindServiceToken {
			if err := s.checkGrants(ctx, p, in.Grants, grantTarget{plan: a.Plan}); err != nil {
				return err
			}
		}
		secret, err = s.mint(ctx, tok)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return tok, secret, nil
}

// UpdateToken renames a token or deletes it (state 2), in one transaction (see canChange for
// who may). A deleted token cannot be renamed or restored. Other fields of upd are ignored.
func (s *Service) UpdateToken(ctx context.Context, p *latchkey.Principal, ref TokenRef, upd latchkey.TokenUpdate) (*latchkey.Token, error) {
	if upd.Name != nil {
		name, err := latchkey.CleanName("name", *upd.Name)
		if err != nil {
			return nil, err
		}
		upd.Name = &name
	}
	if upd.State != nil && !upd.State.Valid() {
		return nil, latchkey.FieldError("state", "state must be 1 or 2")
	}
	var out *latchkey.Token
	err := s.inTx(ctx, func(ctx context.Context) error {
		tok, err := s.token(ctx, p, ref)
		if err != nil {
			return err
		}
		deleting := upd.State != nil && *upd.State == latchkey.StateDeleted
		if err := s.canChange(ctx, p, tok, deleting && upd.Name == nil); err != nil {
			return err
		}
		if tok.State == latchkey.StateDeleted {
			if upd.Name != nil && *upd.Name != tok.Name {
				return latchkey.Errorf(latchkey.EInvalid, "%s %d is deleted", ref.what(), tok.ID)
			}
			if upd.State != nil && *upd.State == latchkey.StateActive {
				return latchkey.FieldError("state", "a deleted token cannot be restored")
			}
		}
		if upd.Name != nil && *upd.Name != tok.Name {
			if _, err := s.store.UpdateToken(ctx, tok.ID, latchkey.TokenUpdate{Name: upd.Name}); err != nil {
				return err
			}
		}
		if deleting {
			if err := s.store.DeleteToken(ctx, tok.ID, "deleted"); err != nil {
				return err
			}
		}
		out, err = s.store.FindTokenByID(ctx, tok.ID)
		return err
	})
	return out, err
}

// TokenEdit changes a working token from its page. Fields left nil keep their value; the
// changes apply together or not at all.
type TokenEdit struct {
	Name *string
	// Grants become a service token's grants, checked like a new token's.
	Grants *[]latchkey.Grant
	// AllowedCIDRs become a service token's own address ranges (empty: none).
	AllowedCIDRs *[]netip.Prefix
	// Expiry, when set, changes the expiry; Expiry.At nil means none, which only an account
	// without a maximum token lifetime allows.
	Expiry *Expiry
	// RateLimits replace the token's rate limits (empty: none). Limits only ever narrow what a
	// token can do, so whoever may edit a token may set them, on a PAT too.
	RateLimits *[]latchkey.RateLimit
	// Credits set the family's credits; ClearCredits removes them (unlimited use).
	Credits      *latchkey.Credits
	ClearCredits bool
}

// Expiry is a requested expiry: a time, or nil for none.
type Expiry struct{ At *time.Time }

// EditToken changes a token's name, grants, address ranges and expiry in one transaction, with
// the rules creation has: the same limits, no grant p could not give, and an expiry within the
// account's maximum lifetime from now. Who may: as for rotation (canChange); a PAT takes only a
// name and an expiry. A deleted, expired or rotated-out token cannot be edited, nor one a rotation
// replaced: edit its successor.
func (s *Service) EditToken(ctx context.Context, p *latchkey.Principal, ref TokenRef, e TokenEdit) (*latchkey.Token, error) {
	var upd latchkey.TokenUpdate
	if e.Name != nil {
		name, err := latchkey.CleanName("name", *e.Name)
		if err != nil {
			return nil, err
		}
		upd.Name = &name
	}
	if ref.Kind == latchkey.KindPAT && (e.Grants != nil || e.AllowedCIDRs != nil) {
		return nil, latchkey.Errorf(latchkey.EInvalid, "personal access tokens act with their user's permissions and hold no grants or address ranges of their own")
	}
	if e.AllowedCIDRs != nil {
		if len(*e.AllowedCIDRs) > MaxAllowedCIDRs {
			return nil, latchkey.FieldError("allowed_cidrs", "at most %d ranges are allowed", MaxAllowedCIDRs)
		}
		upd.AllowedCIDRs = e.AllowedCIDRs
	}
	if e.RateLimits != nil {
		if err := latchkey.ValidateRateLimits("rate_limits", *e.RateLimits); err != nil {
			return nil, err
		}
		upd.RateLimits = e.RateLimits
	}
	if err := latchkey.ValidateCredits("credits", e.Credits); err != nil {
		return nil, err
	}
	upd.Credits, upd.ClearCredits = e.Credits, e.ClearCredits
	var out *latchkey.Token
	err := s.inTx(ctx, func(ctx context.Context) error {
		tok, err := s.changeable(ctx, p, ref)
		if err != nil {
			return err
		}
		now := s.Now()
		switch {
		case tok.State != latchkey.StateActive:
			return latchkey.Errorf(latchkey.EInvalid, "%s %d is deleted", ref.what(), tok.ID)
		case tok.ReplacedByID != 0:
			return latchkey.Errorf(latchkey.EInvalid, "%s %d was replaced by a rotation; edit token %d instead", ref.what(), tok.ID, tok.ReplacedByID)
		case tok.Expired(now):
			return latchkey.Errorf(latchkey.EInvalid, "%s %d has expired; create a new one", ref.what(), tok.ID)
		}
		a, err := s.account(ctx, p)
		if err != nil {
			return err
		}
		if e.Expiry != nil {
			if e.Expiry.At == nil && a.Settings.MaxTokenLifetime > 0 {
				return latchkey.FieldError("expires_at", "tokens in this account must expire within %s", a.Settings.MaxTokenLifetime)
			}
			never := time.Time{}
			upd.ExpiresAt = &never
			if e.Expiry.At != nil {
				if upd.ExpiresAt, err = expiry(e.Expiry.At, a, now); err != nil {
					return err
				}
			}
		}
		// Unchanged grants are left alone: nothing to audit or check again (a grant on a project
		// deleted since would otherwise refuse a mere rename).
		if e.Grants != nil && !sameGrants(tok.Grants, *e.Grants) {
			if err := s.checkGrants(ctx, p, *e.Grants, grantTarget{plan: a.Plan}); err != nil {
				return err
			}
			if _, err := s.store.ReplaceTokenGrants(ctx, tok.ID, *e.Grants); err != nil {
				return err
			}
		}
		if upd != (latchkey.TokenUpdate{}) {
			if _, err := s.store.UpdateToken(ctx, tok.ID, upd); err != nil {
				return err
			}
		}
		out, err = s.store.FindTokenByID(ctx, tok.ID)
		return err
	})
	return out, err
}

// DeleteToken revokes a token at once and returns it in state 2 (see canChange for who may).
// Deleting a deleted token does nothing.
func (s *Service) DeleteToken(ctx context.Context, p *latchkey.Principal, ref TokenRef) (*latchkey.Token, error) {
	deleted := latchkey.StateDeleted
	return s.UpdateToken(ctx, p, ref, latchkey.TokenUpdate{State: &deleted})
}

// SetServiceTokenGrants gives grants to a service token that has none (replace false: dbt's
// two-step creation; EInvalid when it has some) or makes them exactly its grants (replace).
// The new grants are checked like any grant, and p must hold the token's current ones.
func (s *Service) SetServiceTokenGrants(ctx context.Context, p *latchkey.Principal, id int64, grants []latchkey.Grant, replace bool) (*latchkey.Token, error) {
	var out *latchkey.Token
	err := s.inTx(ctx, func(ctx context.Context) error {
		tok, err := s.changeable(ctx, p, ServiceTokenRef(id))
		if err != nil {
			return err
		}
		if tok.State != latchkey.StateActive {
			return latchkey.Errorf(latchkey.EInvalid, "service token %d is deleted", tok.ID)
		}
		a, err := s.account(ctx, p)
		if err != nil {
			return err
		}
		if err := s.checkGrants(ctx, p, grants, grantTarget{plan: a.Plan}); err != nil {
			return err
		}
		if replace {
			out, err = s.store.ReplaceTokenGrants(ctx, tok.ID, grants)
		} else {
			out, err = s.store.AddTokenGrants(ctx, tok.ID, grants)
		}
		return err
	})
	return out, err
}

// Rotation says how to rotate a token.
type Rotation struct {
	// Grace keeps the old token valid this long; nil takes the account's default rotation grace
	// (an hour unless changed), 0 revokes it at once.
	Grace *time.Duration
	// ExpiresAt is the new token's expiry; nil keeps the old token's lifetime (within the
	// account's current maximum).
	ExpiresAt *time.Time
}

// RotateToken mints a successor for a token: same name, grants and restrictions, in the same
// family; the old token stays valid for the grace period. A service token's rotator must hold
// its grants (the successor holds them too); a PAT is rotated by its user. It returns the
// successor, the successor's token string (the only copy) and the grace applied.
func (s *Service) RotateToken(ctx context.Context, p *latchkey.Principal, ref TokenRef, r Rotation) (*latchkey.Token, string, time.Duration, error) {
	if r.Grace != nil && (*r.Grace < 0 || *r.Grace > MaxGracePeriod) {
		return nil, "", 0, latchkey.FieldError("grace_period_seconds", "grace_period_seconds must be an integer from 0 to %d (7 days)", int64(MaxGracePeriod/time.Second))
	}
	var next *latchkey.Token
	var secret string
	var grace time.Duration
	err := s.inTx(ctx, func(ctx context.Context) error {
		tok, err := s.changeable(ctx, p, ref)
		if err != nil {
			return err
		}
		if tok.State != latchkey.StateActive {
			return latchkey.Errorf(latchkey.EInvalid, "%s %d is deleted and cannot be rotated", ref.what(), tok.ID)
		}
		if tok.ReplacedByID != 0 {
			return latchkey.Errorf(latchkey.EConflict, "%s %s was already rotated; rotate its replacement %d instead", ref.what(), tok.Name, tok.ReplacedByID)
		}
		a, err := s.account(ctx, p)
		if err != nil {
			return err
		}
		grace = a.Settings.DefaultRotationGrace
		if r.Grace != nil {
			grace = *r.Grace
		}
		now := s.Now()
		next = &latchkey.Token{CreatedBy: p.String()}
		switch {
		case r.ExpiresAt != nil:
			next.ExpiresAt, err = expiry(r.ExpiresAt, a, now)
		case tok.ExpiresAt != nil:
			// The same lifetime as the old token, within the account's current maximum.
			t := now.Add(tok.ExpiresAt.Sub(tok.CreatedAt)).UTC().Truncate(time.Microsecond)
			if max := a.Settings.MaxTokenLifetime; max > 0 && t.After(now.Add(max)) {
				t = now.Add(max).UTC().Truncate(time.Microsecond)
			}
			next.ExpiresAt = &t
		default:
			next.ExpiresAt, err = expiry(nil, a, now)
		}
		if err != nil {
			return err
		}
		for attempt := 0; ; attempt++ {
			m, err := s.format.Mint(tok.Kind)
			if err != nil {
				return err
			}
			next.UID, next.Hash = m.UID, m.Hash
			err = s.store.RotateToken(ctx, tok.ID, next, grace)
			if latchkey.ErrorCodeOf(err) == latchkey.EConflict && attempt < 3 {
				continue // a uid collision; "already rotated" was ruled out above
			}
			if err != nil {
				return err
			}
			secret = m.String
			return nil
		}
	})
	if err != nil {
		return nil, "", 0, err
	}
	return next, secret, grace, nil
}

// CheckImportedToken validates a legacy token brought in by `latchkey import` for account a: its
// name and its grants, as for any service token of the account (the operator imports as the
// system, so nothing is checked against a granter's access). It cleans the name in place.
func (s *Service) CheckImportedToken(ctx context.Context, a *latchkey.Account, tok *latchkey.Token) error {
	name, err := latchkey.CleanName("name", tok.Name)
	if err != nil {
		return err
	}
	tok.Name = name
	if tok.Kind != latchkey.KindServiceToken || tok.AccountID != a.ID {
		return latchkey.Errorf(latchkey.EInvalid, "imported tokens are service tokens of the account named")
	}
	return s.checkGrantList(ctx, a.ID, nil, tok.Grants, grantTarget{plan: a.Plan})
}

// ImportTokens stores imported legacy tokens in one transaction, as the system, after checking
// each again (CheckImportedToken). Either all are stored or none.
func (s *Service) ImportTokens(ctx context.Context, toks []*latchkey.Token) error {
	ctx = systemCtx(ctx, "import", "")
	return s.inTx(ctx, func(ctx context.Context) error {
		accounts := map[int64]*latchkey.Account{}
		for i, tok := range toks {
			a := accounts[tok.AccountID]
			if a == nil {
				var err error
				if a, err = s.store.FindAccountByID(ctx, tok.AccountID); err != nil {
					return err
				}
				accounts[a.ID] = a
			}
			if err := s.CheckImportedToken(ctx, a, tok); err != nil {
				return fmt.Errorf("token %d of the batch (%s): %w", i+1, tok.Name, err)
			}
		}
		return s.store.CreateTokens(ctx, toks)
	})
}

// notByAccessToken refuses token management to short-lived access tokens: they act as the
// token they were obtained with, narrowed, and must not mint or change long-lived tokens (a
// PAT's access token would otherwise pass the "the user themself" rule whatever its scope).
func notByAccessToken(p *latchkey.Principal) error {
	if p.Method == latchkey.AuthAccessToken {
		return latchkey.Errorf(latchkey.EForbidden, "short-lived access tokens cannot create, change or delete tokens: use a personal access token or the web UI")
	}
	return nil
}
