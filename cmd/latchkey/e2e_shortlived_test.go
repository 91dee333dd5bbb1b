package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/verify"
)

// The token endpoint end to end on `serve` with a secret key: a service token gets an access
// token that the API and /v1/check accept, narrowed to its scope; the metadata names the
// issuer serve prints and the key set holds the signing key. Without a secret key the endpoint
// says how to turn it on.
func TestShortLivedTokensEndToEnd(t *testing.T) {
	ts := startServer(t, "enterprise", "--secret-key", "an end-to-end secret of 32 characters or more")
	ctx := context.Background()
	p, err := ts.Admin.CreateProject(ctx, ts.AccountID, "etl", "")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ts.Admin.CreateServiceToken(ctx, ts.AccountID, client.CreateServiceTokenRequest{Name: "etl",
		PermissionGrants: []apitype.Grant{client.GrantOn("job_admin", p.ID), client.GrantOn("account_viewer", 0)}})
	if err != nil {
		t.Fatal(err)
	}
	post := func(form url.Values) (int, map[string]any) {
		t.Helper()
		resp, err := http.PostForm(ts.URL+"/oauth2/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("token endpoint: %d %s", resp.StatusCode, b)
		}
		return resp.StatusCode, out
	}
	status, out := post(url.Values{"grant_type": {"client_credentials"}, "client_id": {svc.UID},
		"client_secret": {svc.TokenString}, "scope": {"job_viewer:" + itoa(p.ID)}})
	if status != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", status, out)
	}
	at := out["access_token"].(string)
	if strings.Contains(ts.Stdout.String()+ts.Stderr.String(), at) || strings.Contains(ts.Stdout.String()+ts.Stderr.String(), svc.TokenString) {
		t.Error("a token is in serve's output")
	}
	who, err := client.New(ts.URL, at).Whoami(ctx)
	if err != nil || who.TokenID != svc.ID || who.AuthMethod != "access_token" {
		t.Fatalf("whoami with the access token: %+v, %v", who, err)
	}
	check := func(access string) bool {
		t.Helper()
		res, err := ts.Admin.Check(ctx, client.CheckRequest{Token: at, Resource: "jobs", Access: access, ProjectID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		return res.Allowed
	}
	if !check("read") || check("write") {
		t.Errorf("/v1/check of a job_viewer access token: read %v write %v", check("read"), check("write"))
	}
	// The offline verifier, fed by serve's key set, accepts it with its grants and no call.
	off, err := verify.NewOffline(ctx, ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	op, _, err := off.Verify(at)
	if err != nil || op.TokenID != svc.ID || !op.Can(latchkey.ResJobs, latchkey.AccessRead, p.ID, "").Allowed || op.Can(latchkey.ResJobs, latchkey.AccessWrite, p.ID, "").Allowed {
		t.Errorf("offline verification: %+v, %v", op, err)
	}
	// The metadata and the key set.
	resp, err := http.Get(ts.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if md["issuer"] != ts.URL || md["token_endpoint"] != ts.URL+"/oauth2/token" {
		t.Errorf("metadata %v; want issuer %s", md, ts.URL)
	}
	resp, err = http.Get(ts.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct{ Kid, Kty, Crv, Alg string }
	}
	json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if len(set.Keys) != 1 || set.Keys[0].Crv != "Ed25519" || set.Keys[0].Alg != "EdDSA" {
		t.Errorf("key set %+v", set)
	}

	// Without --secret-key.
	plain := startServer(t, "enterprise")
	resp, err = http.PostForm(plain.URL+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "--secret-key") {
		t.Errorf("token endpoint without a secret key: %d %s", resp.StatusCode, b)
	}
}
