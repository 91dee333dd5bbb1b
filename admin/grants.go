package admin

import (
	"context"
	"fmt"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/catalog"
)

// MaxGrants bounds the grants of one token or group.
const MaxGrants = 200

// grantTarget says what grants are for: a service token of an account on plan (plan rules
// apply) or a group (plan is "").
type grantTarget struct {
	plan latchkey.Plan
}

// checkGrants validates grants for p's account: each names its scope (all projects, or one live
// project of the account — never widened), a known set the plan allows, writable environment
// categories only where the set takes them, no repeats, and nothing p does not hold. Errors name
// the grant ("permission grant 2: …") and the field.
func (s *Service) checkGrants(ctx context.Context, p *latchkey.Principal, grants []latchkey.Grant, target grantTarget) error {
	return s.checkGrantList(ctx, p.AccountID, p.Permissions, grants, target)
}

// checkGrantList is checkGrants for grants given in accountID by granter (nil: the system, which
// may give anything).
func (s *Service) checkGrantList(ctx context.Context, accountID int64, granter *latchkey.Permissions, grants []latchkey.Grant, target grantTarget) error {
	if len(grants) > MaxGrants {
		return latchkey.FieldError("permission_grants", "at most %d permission grants are allowed", MaxGrants)
	}
	for i, g := range grants {
		if err := s.checkGrant(ctx, accountID, granter, g, target); err != nil {
			return numbered(i, err)
		}
		for _, prev := range grants[:i] {
			if prev.SameAs(g) {
				return latchkey.FieldError("permission_set", "permission grant %d repeats an earlier grant", i+1)
			}
		}
	}
	return nil
}

// numbered prefixes a grant's error with its position.
func numbered(i int, err error) error {
	le, ok := err.(*latchkey.Error)
	if !ok {
		return err
	}
	return &latchkey.Error{Code: le.Code, Field: le.Field, Data: le.Data, Message: fmt.Sprintf("permission grant %d: %s", i+1, le.Message)}
}

// CheckGrant validates one grant as creating a token or group would, without its position in a
// list: forms mark each row's error with it. plan is the account's plan for a service token's
// grant, "" for a group's.
func (s *Service) CheckGrant(ctx context.Context, p *latchkey.Principal, g latchkey.Grant, plan latchkey.Plan) error {
	return s.checkGrant(ctx, p.AccountID, p.Permissions, g, grantTarget{plan: plan})
}

// CheckGrants validates a list of grants as creating a token or group would (CheckGrant for
// each, no repeats, at most MaxGrants).
func (s *Service) CheckGrants(ctx context.Context, p *latchkey.Principal, grants []latchkey.Grant, plan latchkey.Plan) error {
	return s.checkGrants(ctx, p, grants, grantTarget{plan: plan})
}

func (s *Service) checkGrant(ctx context.Context, accountID int64, granter *latchkey.Permissions, g latchkey.Grant, target grantTarget) error {
	if g.PermissionSet == "" {
		return latchkey.FieldError("permission_set", "permission_set is required")
	}
	var err error
	if target.plan != "" {
		err = catalog.ValidateTokenGrant(target.plan, g)
	} else {
		err = catalog.ValidateGrant(g)
	}
	if err != nil {
		return err
	}
	if !g.AllProjects {
		pr, err := s.store.FindProjectByID(ctx, g.ProjectID)
		if latchkey.SystemError(err) {
			return err
		}
		if err != nil || pr.AccountID != accountID || pr.State != latchkey.StateActive {
			return latchkey.FieldError("project_id", "project %d does not exist in this account", g.ProjectID)
		}
	}
	if granter == nil {
		return nil
	}
	return catalog.CheckEscalation(granter, g)
}

// sameGrants reports whether two lists give the same grants in the same order.
func sameGrants(a, b []latchkey.Grant) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].SameAs(b[i]) {
			return false
		}
	}
	return true
}
