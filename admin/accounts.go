package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/catalog"
)

// Bounds of the token security policy.
const (
	// MaxTokenLifetimeCap bounds max_token_lifetime_seconds (10 years).
	MaxTokenLifetimeCap = 10 * 365 * 24 * time.Hour
	// MaxGracePeriod bounds a rotation's overlap, and the default one.
	MaxGracePeriod = 7 * 24 * time.Hour
)

// Account returns the principal's account.
func (s *Service) Account(ctx context.Context, p *latchkey.Principal) (*latchkey.Account, error) {
	return s.account(ctx, p)
}

// Accounts lists the accounts p can see: a token's own account, or every account a signed-in
// user belongs to.
func (s *Service) Accounts(ctx context.Context, p *latchkey.Principal, f latchkey.AccountFilter) ([]*latchkey.Account, int, error) {
	if p.Method == latchkey.AuthSession {
		f.MemberUserID, f.ID = &p.UserID, nil
	} else {
		f.ID, f.MemberUserID = &p.AccountID, nil
	}
	return s.store.FindAccounts(ctx, f)
}

// RenameAccount renames p's account (account_settings:write).
func (s *Service) RenameAccount(ctx context.Context, p *latchkey.Principal, name string) (*latchkey.Account, error) {
	if err := require(p, latchkey.ResAccountSettings, latchkey.AccessWrite); err != nil {
		return nil, err
	}
	name, err := latchkey.CleanName("name", name)
	if err != nil {
		return nil, err
	}
	var out *latchkey.Account
	err = s.inTx(ctx, func(ctx context.Context) error {
		out, err = s.store.UpdateAccount(ctx, p.AccountID, latchkey.AccountUpdate{Name: &name})
		return err
	})
	return out, err
}

// SettingsUpdate changes the token security policy; nil fields keep their value.
type SettingsUpdate struct {
	ReuseRevokesFamily *bool
	// LeakAction is "revoke" or "flag".
	LeakAction *string
	// MaxTokenLifetime caps new tokens' lifetimes (0: no cap).
	MaxTokenLifetime *time.Duration
	// DefaultRotationGrace is the grace period of a rotation that does not name one.
	DefaultRotationGrace *time.Duration
	// ExpiryNoticeDays are the thresholds of the expiring-token notices (see
	// latchkey.CleanNoticeDays).
	ExpiryNoticeDays *[]int
	// UnusedTokenDays is the idle time of the unused-token notice (0: off).
	UnusedTokenDays *int
	// DefaultRateLimits apply to tokens without rate limits of their own (empty: none).
	DefaultRateLimits *[]latchkey.RateLimit
	// MaxAccessTokenLifetime is the longest lifetime a token-endpoint request may ask for.
	MaxAccessTokenLifetime *time.Duration
}

// UpdateSettings changes the token security policy. It needs account_admin or security_admin:
// account_settings:write (which every Member holds) is not enough to weaken it.
func (s *Service) UpdateSettings(ctx context.Context, p *latchkey.Principal, u SettingsUpdate) (*latchkey.Account, error) {
	if err := canChangeSecurityPolicy(p); err != nil {
		return nil, err
	}
	if u.LeakAction != nil && *u.LeakAction != "revoke" && *u.LeakAction != "flag" {
		return nil, latchkey.FieldError("leak_action", "leak_action must be \"revoke\" or \"flag\"")
	}
	if u.MaxTokenLifetime != nil && (*u.MaxTokenLifetime < 0 || *u.MaxTokenLifetime > MaxTokenLifetimeCap || *u.MaxTokenLifetime%time.Second != 0) {
		return nil, latchkey.FieldError("max_token_lifetime_seconds", "max_token_lifetime_seconds must be an integer from 0 (no limit) to %d (10 years)",
			int64(MaxTokenLifetimeCap/time.Second))
	}
	if u.DefaultRotationGrace != nil && (*u.DefaultRotationGrace < 0 || *u.DefaultRotationGrace > MaxGracePeriod || *u.DefaultRotationGrace%time.Second != 0) {
		return nil, latchkey.FieldError("default_rotation_grace_seconds", "default_rotation_grace_seconds must be an integer from 0 (revoke at once) to %d (7 days)",
			int64(MaxGracePeriod/time.Second))
	}
	var days []int
	if u.ExpiryNoticeDays != nil {
		var err error
		if days, err = latchkey.CleanNoticeDays(*u.ExpiryNoticeDays); err != nil {
			return nil, err
		}
	}
	if u.UnusedTokenDays != nil && (*u.UnusedTokenDays < 0 || *u.UnusedTokenDays > latchkey.MaxUnusedTokenDays) {
		return nil, latchkey.FieldError("unused_token_days", "unused_token_days must be from 0 (off) to %d", latchkey.MaxUnusedTokenDays)
	}
	if u.DefaultRateLimits != nil {
		if err := latchkey.ValidateRateLimits("default_rate_limits", *u.DefaultRateLimits); err != nil {
			return nil, err
		}
	}
	if m := u.MaxAccessTokenLifetime; m != nil && (*m < latchkey.DefaultAccessTokenLifetime || *m > latchkey.MaxAccessTokenLifetimeCap || *m%time.Second != 0) {
		return nil, latchkey.FieldError("max_access_token_lifetime_seconds", "max_access_token_lifetime_seconds must be an integer from %d (15 minutes) to %d (12 hours)",
			int64(latchkey.DefaultAccessTokenLifetime/time.Second), int64(latchkey.MaxAccessTokenLifetimeCap/time.Second))
	}
	var out *latchkey.Account
	err := s.inTx(ctx, func(ctx context.Context) error {
		a, err := s.account(ctx, p)
		if err != nil {
			return err
		}
		set := a.Settings
		if u.DefaultRateLimits != nil {
			set.DefaultRateLimits = append([]latchkey.RateLimit(nil), *u.DefaultRateLimits...)
		}
		if days != nil {
			set.ExpiryNoticeDays = days
		}
		if u.UnusedTokenDays != nil {
			set.UnusedTokenDays = *u.UnusedTokenDays
		}
		if u.MaxAccessTokenLifetime != nil {
			set.MaxAccessTokenLifetime = *u.MaxAccessTokenLifetime
		}
		if u.ReuseRevokesFamily != nil {
			set.ReuseRevokesFamily = *u.ReuseRevokesFamily
		}
		if u.LeakAction != nil {
			set.LeakAction = *u.LeakAction
		}
		if u.MaxTokenLifetime != nil {
			set.MaxTokenLifetime = *u.MaxTokenLifetime
		}
		if u.DefaultRotationGrace != nil {
			set.DefaultRotationGrace = *u.DefaultRotationGrace
		}
		out, err = s.store.UpdateAccount(ctx, a.ID, latchkey.AccountUpdate{Settings: &set})
		return err
	})
	return out, err
}

// Bootstrap describes a new account and its first owner.
type Bootstrap struct {
	Account  string
	Plan     latchkey.Plan
	Email    string
	Password string
}

// BootstrapResult is what the operator hands to the first owner: PAT is shown once.
type BootstrapResult struct {
	Account *latchkey.Account
	User    *latchkey.User
	PAT     string
}

// CreateAccount creates an account with its first owner (developer license, in every built-in
// group, Owner included) and a personal access token for them, in one transaction, as the system
// (provisioning and first start; no principal acts). An existing user with the email is reused
// and keeps their password.
func (s *Service) CreateAccount(ctx context.Context, in Bootstrap) (*BootstrapResult, error) {
	if !catalog.ValidPlan(in.Plan) {
		return nil, latchkey.FieldError("plan", "unknown plan %q (want one of %v)", in.Plan, catalog.Plans())
	}
	name, err := latchkey.CleanName("account", in.Account)
	if err != nil {
		return nil, err
	}
	email, err := cleanEmail(in.Email)
	if err != nil {
		return nil, err
	}
	hash, err := hashPassword(in.Password)
	if err != nil {
		return nil, err
	}
	ctx = latchkey.WithActor(ctx, latchkey.Actor{Type: "system", Name: "bootstrap", Source: "cli"})
	res := &BootstrapResult{Account: &latchkey.Account{Name: name, Plan: in.Plan, Settings: latchkey.DefaultAccountSettings()}}
	err = s.inTx(ctx, func(ctx context.Context) error {
		u, err := s.store.FindUserByEmail(ctx, email)
		switch latchkey.ErrorCodeOf(err) {
		case "":
		case latchkey.ENotFound:
			if hash == "" {
				return latchkey.FieldError("password", "a new user needs a password")
			}
			u = &latchkey.User{Email: email, FirstName: "Admin", PasswordHash: hash}
			if err := s.store.CreateUser(ctx, u); err != nil {
				return fmt.Errorf("create admin user: %w", err)
			}
		default:
			return err
		}
		res.User = u
		if err := s.store.CreateAccount(ctx, res.Account); err != nil {
			return fmt.Errorf("create account: %w", err)
		}
		groups, _, err := s.store.FindGroups(ctx, latchkey.GroupFilter{AccountID: res.Account.ID})
		if err != nil {
			return err
		}
		var ids []int64
		for _, g := range groups {
			ids = append(ids, g.ID)
		}
		m := &latchkey.Membership{AccountID: res.Account.ID, UserID: u.ID, License: latchkey.LicenseDeveloper}
		if err := s.store.CreateMembership(ctx, m, ids); err != nil {
			return fmt.Errorf("add admin to account: %w", err)
		}
		pat := &latchkey.Token{AccountID: res.Account.ID, Kind: latchkey.KindPAT, UserID: u.ID,
			Name: "bootstrap admin token", CreatedBy: "system:bootstrap"}
		res.PAT, err = s.mint(ctx, pat)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
