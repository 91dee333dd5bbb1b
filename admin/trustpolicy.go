package admin

import (
	"context"
	"strings"
	"unicode"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/accesstoken"
	"github.com/latchkey/latchkey/catalog"
)

// Trust policies (workload identity federation) are security configuration: reading and
// changing them takes auth_provider access, as single sign-on does. A policy hands out access
// tokens of a service token, so whoever makes or changes one must also be able to change that
// token (holding what it holds).

// NewTrustPolicy is a policy as asked for.
type NewTrustPolicy struct {
	Name, Issuer, Audience string
	Conditions             []latchkey.ClaimCondition
	// ServiceTokenID names the service token (its rotation family is kept).
	ServiceTokenID int64
	Grants         []string
}

// TrustPolicies lists p's account's active policies.
func (s *Service) TrustPolicies(ctx context.Context, p *latchkey.Principal) ([]*latchkey.TrustPolicy, error) {
	if err := require(p, latchkey.ResAuthProvider, latchkey.AccessRead); err != nil {
		return nil, err
	}
	return s.store.FindTrustPolicies(ctx, latchkey.TrustPolicyFilter{AccountID: &p.AccountID})
}

// TrustPolicy returns one active policy of p's account.
func (s *Service) TrustPolicy(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.TrustPolicy, error) {
	if err := require(p, latchkey.ResAuthProvider, latchkey.AccessRead); err != nil {
		return nil, err
	}
	return s.trustPolicy(ctx, p, id)
}

func (s *Service) trustPolicy(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.TrustPolicy, error) {
	tp, err := s.store.FindTrustPolicyByID(ctx, id)
	if latchkey.SystemError(err) {
		return nil, err
	}
	if err != nil || tp.AccountID != p.AccountID || tp.State != latchkey.StateActive {
		return nil, notFound("trust policy %d not found", id)
	}
	return tp, nil
}

// CreateTrustPolicy validates and stores a policy.
func (s *Service) CreateTrustPolicy(ctx context.Context, p *latchkey.Principal, in NewTrustPolicy) (*latchkey.TrustPolicy, error) {
	if err := require(p, latchkey.ResAuthProvider, latchkey.AccessWrite); err != nil {
		return nil, err
	}
	name, err := latchkey.CleanName("name", in.Name)
	if err != nil {
		return nil, err
	}
	if err := latchkey.ValidateTrustIssuer("issuer", in.Issuer); err != nil {
		return nil, err
	}
	if err := checkAudience(in.Audience); err != nil {
		return nil, err
	}
	if err := latchkey.ValidateClaimConditions("conditions", in.Conditions); err != nil {
		return nil, err
	}
	grants, err := checkTrustGrants(in.Grants)
	if err != nil {
		return nil, err
	}
	if in.ServiceTokenID == 0 {
		return nil, latchkey.FieldError("service_token_id", "service_token_id is required: the service token the access tokens act as")
	}
	tok, err := s.federatedToken(ctx, p, in.ServiceTokenID)
	if err != nil {
		return nil, err
	}
	tp := &latchkey.TrustPolicy{AccountID: p.AccountID, Name: name, Issuer: in.Issuer, Audience: in.Audience,
		Conditions: in.Conditions, FamilyID: tok.FamilyID, Grants: grants}
	err = s.inTx(ctx, func(ctx context.Context) error { return s.store.CreateTrustPolicy(ctx, tp) })
	return tp, err
}

// UpdateTrustPolicy changes a policy's name, audience, conditions or grants (its issuer and
// service token stay: make another policy for another).
func (s *Service) UpdateTrustPolicy(ctx context.Context, p *latchkey.Principal, id int64, upd latchkey.TrustPolicyUpdate) (*latchkey.TrustPolicy, error) {
	if err := require(p, latchkey.ResAuthProvider, latchkey.AccessWrite); err != nil {
		return nil, err
	}
	tp, err := s.trustPolicy(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if upd.Name != nil {
		n, err := latchkey.CleanName("name", *upd.Name)
		if err != nil {
			return nil, err
		}
		upd.Name = &n
	}
	if upd.Audience != nil {
		if err := checkAudience(*upd.Audience); err != nil {
			return nil, err
		}
	}
	if upd.Conditions != nil {
		if err := latchkey.ValidateClaimConditions("conditions", *upd.Conditions); err != nil {
			return nil, err
		}
	}
	if upd.Grants != nil {
		g, err := checkTrustGrants(*upd.Grants)
		if err != nil {
			return nil, err
		}
		upd.Grants = &g
	}
	if err := s.canFederate(ctx, p, tp.FamilyID); err != nil {
		return nil, err
	}
	var out *latchkey.TrustPolicy
	err = s.inTx(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.store.UpdateTrustPolicy(ctx, id, upd)
		return err
	})
	return out, err
}

// DeleteTrustPolicy deletes a policy: no new exchange under it, and the access tokens it gave
// are refused from then on.
func (s *Service) DeleteTrustPolicy(ctx context.Context, p *latchkey.Principal, id int64) error {
	if err := require(p, latchkey.ResAuthProvider, latchkey.AccessWrite); err != nil {
		return err
	}
	if _, err := s.trustPolicy(ctx, p, id); err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context) error { return s.store.DeleteTrustPolicy(ctx, id) })
}

// TrustPoliciesOfIssuer lists every account's active policies for issuer, for the token
// endpoint (which has no principal yet: the external token is the credential).
func (s *Service) TrustPoliciesOfIssuer(ctx context.Context, issuer string) ([]*latchkey.TrustPolicy, error) {
	return s.store.FindTrustPolicies(ctx, latchkey.TrustPolicyFilter{Issuer: &issuer})
}

// federatedToken loads the service token id of p's account that a policy is to act as, and
// checks p could change it.
func (s *Service) federatedToken(ctx context.Context, p *latchkey.Principal, id int64) (*latchkey.Token, error) {
	tok, err := s.Token(ctx, p, ServiceTokenRef(id))
	if latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
		return nil, latchkey.FieldError("service_token_id", "service token %d not found", id)
	}
	if err != nil {
		return nil, err
	}
	if tok.State != latchkey.StateActive {
		return nil, latchkey.FieldError("service_token_id", "service token %d is deleted", id)
	}
	if _, err := s.EditToken(DryRun(ctx), p, ServiceTokenRef(id), TokenEdit{}); err != nil {
		return nil, err
	}
	return tok, nil
}

// canFederate checks p could change the live token of family.
func (s *Service) canFederate(ctx context.Context, p *latchkey.Principal, family int64) error {
	tok, err := s.LiveFamilyToken(ctx, p.AccountID, family)
	if err != nil {
		return err
	}
	_, err = s.EditToken(DryRun(ctx), p, ServiceTokenRef(tok.ID), TokenEdit{})
	return err
}

// LiveFamilyToken returns the token of a rotation family that works now (the latest one).
func (s *Service) LiveFamilyToken(ctx context.Context, accountID, family int64) (*latchkey.Token, error) {
	now := s.Now()
	toks, _, err := s.store.FindTokens(ctx, latchkey.TokenFilter{AccountID: &accountID, FamilyID: &family, LiveAt: &now})
	if err != nil {
		return nil, err
	}
	var live *latchkey.Token
	for _, t := range toks {
		if t.ReplacedByID == 0 && (live == nil || t.ID > live.ID) {
			live = t
		}
	}
	if live == nil {
		return nil, latchkey.Errorf(latchkey.ENotFound, "the policy's service token was deleted")
	}
	return live, nil
}

func checkAudience(aud string) error {
	if aud == "" || len(aud) > 255 || strings.IndexFunc(aud, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' }) >= 0 {
		return latchkey.FieldError("audience", "audience is required: the aud the external token must carry, at most 255 visible characters (e.g. latchkey's URL)")
	}
	return nil
}

// checkTrustGrants validates a policy's narrowing grants and writes them canonically.
func checkTrustGrants(in []string) ([]string, error) {
	if len(in) > accesstoken.MaxGrants {
		return nil, latchkey.FieldError("grants", "at most %d grants are allowed", accesstoken.MaxGrants)
	}
	out := []string{}
	for i, s := range in {
		g, ok := accesstoken.ParseGrant(s)
		if !ok {
			return nil, latchkey.FieldError("grants", "grants[%d] is not a grant: write permission_set or permission_set:project_id", i)
		}
		set, err := catalog.Lookup(g.PermissionSet)
		if err != nil {
			return nil, latchkey.FieldError("grants", "grants[%d]: %s is not a permission set", i, g.PermissionSet)
		}
		g.PermissionSet = set.Name
		out = append(out, accesstoken.GrantString(g))
	}
	return out, nil
}
