package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/client"
)

// TestNoEscalationThroughDefaultsAndLicenses: grants handed out indirectly — by making a group a
// default one, by adding a member to the default groups, by a license that switches a member's
// groups on — must be held by whoever hands them out.
func TestNoEscalationThroughDefaultsAndLicenses(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	it, _ := ts.user(t, "it@example.com", "it", nil) // security_admin + billing_admin
	owner, everyone := ts.groupID(t, "Owner"), ts.groupID(t, "Everyone")
	acct := pathf("/api/v3/accounts/%d", ts.AccountID)

	_, err := it.Do(ctx, http.MethodPost, pathf("%s/groups/%d/", acct, owner), map[string]any{"assign_by_default": true}, nil)
	wantStatus(t, "making Owner a default group", err, http.StatusForbidden)

	_, err = it.CreateUser(ctx, ts.AccountID, client.CreateUserRequest{Email: "new@example.com", Password: testAdminPassword, LicenseType: "developer"})
	wantStatus(t, "adding a developer to the default groups (Member grants more than security_admin)", err, http.StatusForbidden)
	u, err := it.CreateUser(ctx, ts.AccountID, client.CreateUserRequest{Email: "new@example.com", Password: testAdminPassword, LicenseType: "developer", GroupIDs: []int64{everyone}})
	if err != nil {
		t.Fatalf("adding a developer to Everyone only: %v", err)
	}

	// A read-only member of Owner: upgrading the license would switch Owner's grants on.
	ro, err := ts.Admin.CreateUser(ctx, ts.AccountID, client.CreateUserRequest{Email: "ro@example.com", Password: testAdminPassword, LicenseType: "read_only", GroupIDs: []int64{owner}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = it.UpdateLicense(ctx, ts.AccountID, ro.Permissions[0].ID, "developer", 0)
	wantStatus(t, "upgrading a read-only Owner member to developer", err, http.StatusForbidden)
	if _, err := it.UpdateLicense(ctx, ts.AccountID, u.Permissions[0].ID, "analyst", 0); err != nil {
		t.Errorf("changing the license of a member of Everyone only: %v", err)
	}
	// The admin holds everything and may do all of it.
	if _, err := ts.Admin.UpdateLicense(ctx, ts.AccountID, ro.Permissions[0].ID, "developer", 0); err != nil {
		t.Errorf("admin upgrading the license: %v", err)
	}
	if _, err := ts.Admin.Do(ctx, http.MethodPost, pathf("%s/groups/%d/", acct, owner), map[string]any{"assign_by_default": false}, nil); err != nil {
		t.Errorf("admin updating Owner: %v", err)
	}
}
