package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
)

// TestRotationRespectsTheCurrentMaximumLifetime: a successor keeps its predecessor's lifetime,
// but never beyond the account's maximum as it is now.
func TestRotationRespectsTheCurrentMaximumLifetime(t *testing.T) {
	ts := startServer(t, "enterprise")
	ctx := context.Background()
	tok, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "long", PermissionGrants: []apitype.Grant{},
		ExpiresAt: time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Admin.Do(ctx, http.MethodPost, pathf("/api/v3/accounts/%d/settings/", ts.AccountID),
		map[string]any{"max_token_lifetime_seconds": 86400}, nil); err != nil {
		t.Fatal(err)
	}
	next, err := ts.Admin.RotateServiceToken(ctx, ts.AccountID, tok.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if next.ExpiresAt == nil {
		t.Fatal("the successor has no expiry")
	}
	exp, err := time.Parse(time.RFC3339Nano, *next.ExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	if limit := time.Now().Add(24*time.Hour + time.Minute); exp.After(limit) {
		t.Errorf("successor expires %s, beyond the account's one-day maximum", exp)
	}
}
