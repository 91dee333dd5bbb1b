package server

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
)

// Trust policies in Account settings: list, add and delete, through the admin layer's rules
// (the API's). See docs/short-lived.md.

type trustPoliciesData struct {
	CanWrite bool
	Policies []trustRow
	Tokens   []choice // the service tokens a new policy may act as
	// The new-policy form, kept on errors.
	Name, Issuer, Audience, Token, Conditions, Grants string
	Errors                                            formErrors
}

type trustRow struct {
	*latchkey.TrustPolicy
	Conditions []string
	TokenID    int64
	TokenName  string
}

func (s *Server) trustPoliciesData(r *http.Request, p *latchkey.Principal) (*trustPoliciesData, error) {
	ctx := r.Context()
	list, err := s.admin.TrustPolicies(ctx, p)
	if err != nil {
		return nil, err
	}
	d := &trustPoliciesData{CanWrite: admin.Capabilities(p).TrustPoliciesWrite, Errors: formErrors{}}
	for _, tp := range list {
		row := trustRow{TrustPolicy: tp}
		for _, c := range tp.Conditions {
			row.Conditions = append(row.Conditions, c.String())
		}
		if tok, err := s.admin.LiveFamilyToken(ctx, tp.AccountID, tp.FamilyID); err == nil {
			row.TokenID, row.TokenName = tok.ID, tok.Name
		}
		d.Policies = append(d.Policies, row)
	}
	if d.CanWrite && admin.Capabilities(p).ServiceTokensRead {
		now := time.Now()
		toks, _, err := s.admin.Tokens(ctx, p, admin.ServiceTokenRef(0), latchkey.TokenFilter{LiveAt: &now})
		if err != nil {
			return nil, err
		}
		for _, t := range toks {
			if t.ReplacedByID == 0 {
				d.Tokens = append(d.Tokens, choice{strconv.FormatInt(t.ID, 10), t.Name + " (" + t.UID + ")"})
			}
		}
	}
	return d, nil
}

func (s *Server) handleUITrustPolicies(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, err := s.trustPoliciesData(r, us.p)
	if err != nil {
		return err
	}
	s.show(w, r, us, "trust_policies", "Trust policies", d)
	return nil
}

// parseConditionLines reads the form's conditions, one per line: claim=value or claim~glob.
func parseConditionLines(text string) ([]latchkey.ClaimCondition, error) {
	var out []latchkey.ClaimCondition
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		c, ok := latchkey.ParseClaimCondition(line)
		if !ok {
			return nil, latchkey.FieldError("conditions", "line %d: write claim=value, or claim~pattern (e.g. ref~refs/heads/*)", i+1)
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *Server) handleUITrustPolicyAdd(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, err := s.trustPoliciesData(r, us.p)
	if err != nil {
		return err
	}
	f := r.PostForm
	d.Name, d.Issuer, d.Audience, d.Token, d.Conditions, d.Grants = f.Get("name"), strings.TrimSpace(f.Get("issuer")),
		strings.TrimSpace(f.Get("audience")), f.Get("service_token_id"), f.Get("conditions"), f.Get("grants")
	in := admin.NewTrustPolicy{Name: d.Name, Issuer: d.Issuer, Audience: d.Audience, Grants: strings.Fields(d.Grants)}
	in.ServiceTokenID, _ = strconv.ParseInt(d.Token, 10, 64)
	conds, err := parseConditionLines(d.Conditions)
	if err == nil {
		in.Conditions = conds
		var tp *latchkey.TrustPolicy
		if tp, err = s.admin.CreateTrustPolicy(r.Context(), us.p, in); err == nil {
			s.redirectFlash(w, r, "/settings/trust-policies", "Added trust policy "+tp.Name+".")
			return nil
		}
	}
	le, ok := err.(*latchkey.Error)
	if !ok || le.Code != latchkey.EInvalid {
		return err
	}
	field := le.Field
	if strings.HasPrefix(field, "conditions") {
		field = "conditions"
	}
	d.Errors[field] = uiMessage(le)
	if _, known := map[string]bool{"name": true, "issuer": true, "audience": true, "service_token_id": true, "conditions": true, "grants": true}[field]; !known {
		return err
	}
	s.showStatus(w, r, us, http.StatusBadRequest, "trust_policies", "Trust policies", d, "The policy was not added: fix the fields marked below.")
	return nil
}

func (s *Server) handleUITrustPolicyDelete(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := pathID(r, "policy_id")
	if err != nil {
		return err
	}
	tp, err := s.admin.TrustPolicy(r.Context(), us.p, id)
	if err != nil {
		return err
	}
	if err := s.admin.DeleteTrustPolicy(r.Context(), us.p, id); err != nil {
		return err
	}
	s.redirectFlash(w, r, "/settings/trust-policies", "Deleted trust policy "+tp.Name+": its access tokens are refused from now on.")
	return nil
}
