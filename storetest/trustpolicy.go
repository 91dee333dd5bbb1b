package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/latchkey/latchkey"
)

// testTrustPolicies: policies are stored with their conditions and grants, listed by account and
// by issuer while active, changed and deleted with an audit entry each; a deleted one is not
// listed and cannot be changed.
func testTrustPolicies(t *testing.T, s latchkey.Store) {
	ctx := ctxAs("admin")
	a := mustAccount(t, s, latchkey.PlanEnterprise)
	other := mustAccount(t, s, latchkey.PlanEnterprise)
	tok := newToken(a.ID, latchkey.KindServiceToken)
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	gh := "https://token.actions.githubusercontent.com"
	p := &latchkey.TrustPolicy{AccountID: a.ID, Name: "etl deploys", Issuer: gh, Audience: "https://latchkey.example",
		Conditions: []latchkey.ClaimCondition{{Claim: "repository", Equals: "acme/etl"}, {Claim: "ref", Like: "refs/heads/*"}},
		FamilyID:   tok.FamilyID, Grants: []string{"job_runner:3"}}
	if err := s.CreateTrustPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	q := &latchkey.TrustPolicy{AccountID: other.ID, Name: "k8s", Issuer: "https://k8s.example", Audience: "latchkey",
		Conditions: []latchkey.ClaimCondition{{Claim: "sub", Equals: "system:serviceaccount:etl:runner"}}, FamilyID: tok.FamilyID}
	if err := s.CreateTrustPolicy(ctx, q); err != nil {
		t.Fatal(err)
	}
	if p.ID == 0 || p.State != latchkey.StateActive || p.CreatedAt.IsZero() || q.Grants == nil {
		t.Fatalf("created %+v / %+v", p, q)
	}
	got, err := s.FindTrustPolicyByID(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	list, err := s.FindTrustPolicies(ctx, latchkey.TrustPolicyFilter{Issuer: &gh})
	if err != nil || len(list) != 1 || list[0].ID != p.ID {
		t.Errorf("by issuer: %v, %v", list, err)
	}
	list, err = s.FindTrustPolicies(ctx, latchkey.TrustPolicyFilter{AccountID: &other.ID})
	if err != nil || len(list) != 1 || list[0].ID != q.ID {
		t.Errorf("by account: %v, %v", list, err)
	}
	conds := []latchkey.ClaimCondition{{Claim: "repository", Equals: "acme/etl"}}
	name := "etl"
	upd, err := s.UpdateTrustPolicy(ctx, p.ID, latchkey.TrustPolicyUpdate{Name: &name, Conditions: &conds})
	if err != nil || upd.Name != "etl" || len(upd.Conditions) != 1 || upd.Audience != p.Audience || len(upd.Grants) != 1 {
		t.Errorf("update: %+v, %v", upd, err)
	}
	if err := s.DeleteTrustPolicy(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTrustPolicy(ctx, p.ID); err != nil {
		t.Errorf("deleting again: %v", err)
	}
	if list, err := s.FindTrustPolicies(ctx, latchkey.TrustPolicyFilter{Issuer: &gh}); err != nil || len(list) != 0 {
		t.Errorf("a deleted policy is listed: %v, %v", list, err)
	}
	if _, err := s.UpdateTrustPolicy(ctx, p.ID, latchkey.TrustPolicyUpdate{Name: &name}); latchkey.ErrorCodeOf(err) != latchkey.ENotFound {
		t.Errorf("updating a deleted policy: %v, want not found", err)
	}
	if got, err := s.FindTrustPolicyByID(ctx, p.ID); err != nil || got.State != latchkey.StateDeleted {
		t.Errorf("a deleted policy reads %+v, %v", got, err)
	}
	for _, ev := range []string{"trust_policy.created", "trust_policy.updated", "trust_policy.deleted"} {
		entries, _, err := s.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: a.ID, EventType: &ev})
		if err != nil || len(entries) != 1 {
			t.Errorf("audit %s: %d entries, %v", ev, len(entries), err)
		}
	}
}
