package server

import (
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/apitype"
)

// Trust policies (workload identity federation): see docs/short-lived.md.

func claimConditions(in *[]apitype.ClaimCondition) *[]latchkey.ClaimCondition {
	if in == nil {
		return nil
	}
	out := make([]latchkey.ClaimCondition, len(*in))
	for i, c := range *in {
		out[i] = latchkey.ClaimCondition(c)
	}
	return &out
}

func (s *Server) renderTrustPolicy(r *http.Request, tp *latchkey.TrustPolicy) apitype.TrustPolicy {
	var live int64
	if tok, err := s.admin.LiveFamilyToken(r.Context(), tp.AccountID, tp.FamilyID); err == nil {
		live = tok.ID
	}
	return apitype.TrustPolicyOf(tp, live)
}

func (s *Server) handleAPITrustPolicyList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	list, err := s.admin.TrustPolicies(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]apitype.TrustPolicy, len(list))
	for i, tp := range list {
		out[i] = s.renderTrustPolicy(r, tp)
	}
	respond(w, http.StatusOK, out, nil)
	return nil
}

func (s *Server) handleAPITrustPolicyCreate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	var req apitype.TrustPolicyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	for _, f := range []struct {
		name    string
		missing bool
	}{{"name", req.Name == nil}, {"issuer", req.Issuer == nil}, {"audience", req.Audience == nil},
		{"conditions", req.Conditions == nil}, {"service_token_id", req.ServiceTokenID == nil}} {
		if f.missing {
			return latchkey.FieldError(f.name, "%s is required", f.name)
		}
	}
	in := admin.NewTrustPolicy{Name: *req.Name, Issuer: *req.Issuer, Audience: *req.Audience,
		Conditions: *claimConditions(req.Conditions), ServiceTokenID: *req.ServiceTokenID}
	if req.Grants != nil {
		in.Grants = *req.Grants
	}
	tp, err := s.admin.CreateTrustPolicy(r.Context(), p, in)
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, s.renderTrustPolicy(r, tp), nil)
	return nil
}

func (s *Server) handleAPITrustPolicyGet(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	tp, err := s.pathTrustPolicy(r, p)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, s.renderTrustPolicy(r, tp), nil)
	return nil
}

// pathTrustPolicy reads the policy {policy_id} names.
func (s *Server) pathTrustPolicy(r *http.Request, p *latchkey.Principal) (*latchkey.TrustPolicy, error) {
	id, err := pathID(r, "policy_id")
	if err != nil {
		return nil, err
	}
	return s.admin.TrustPolicy(r.Context(), p, id)
}

// handleAPITrustPolicyUpdate changes name, audience, conditions or grants; the issuer and the
// service token stay (sent values equal to the current ones are accepted, others refused).
func (s *Server) handleAPITrustPolicyUpdate(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	var req apitype.TrustPolicyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkAccountID(req.AccountID, p.AccountID); err != nil {
		return err
	}
	cur, err := s.pathTrustPolicy(r, p)
	if err != nil {
		return err
	}
	if req.Issuer != nil && *req.Issuer != cur.Issuer {
		return latchkey.FieldError("issuer", "a policy's issuer cannot change: make another policy")
	}
	if req.ServiceTokenID != nil {
		if live := s.renderTrustPolicy(r, cur).ServiceTokenID; *req.ServiceTokenID != live {
			return latchkey.FieldError("service_token_id", "a policy's service token cannot change: make another policy")
		}
	}
	tp, err := s.admin.UpdateTrustPolicy(r.Context(), p, cur.ID, latchkey.TrustPolicyUpdate{Name: req.Name, Audience: req.Audience,
		Conditions: claimConditions(req.Conditions), Grants: req.Grants})
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, s.renderTrustPolicy(r, tp), nil)
	return nil
}

func (s *Server) handleAPITrustPolicyDelete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	tp, err := s.pathTrustPolicy(r, p)
	if err != nil {
		return err
	}
	if err := s.admin.DeleteTrustPolicy(r.Context(), p, tp.ID); err != nil {
		return err
	}
	tp.State = latchkey.StateDeleted
	respond(w, http.StatusOK, s.renderTrustPolicy(r, tp), nil)
	return nil
}
