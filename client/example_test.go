package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

// A resource server that does not embed latchkey's database asks a latchkey server through
// /v1/check. Here both run in one process for the example; in production the Checker's client
// points at your latchkey URL with a token holding service_tokens:read.
func ExampleChecker_Middleware() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, filepath.Join(dir, "latchkey.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	account := &latchkey.Account{Name: "Acme", Plan: latchkey.PlanEnterprise}
	store.CreateAccount(ctx, account)
	mint := func(name, set string) string {
		m, _ := tokenfmt.Default.Mint(latchkey.KindServiceToken)
		store.CreateToken(ctx, &latchkey.Token{AccountID: account.ID, Kind: latchkey.KindServiceToken, Name: name,
			UID: m.UID, Hash: m.Hash, Grants: []latchkey.Grant{{PermissionSet: set, AllProjects: true}}})
		return m.String
	}
	gatewayToken, airflowToken, biToken := mint("gateway", "account_viewer"), mint("airflow", "job_runner"), mint("bi", "metadata_only")

	v := verify.New(store, verify.Options{})
	srv, err := server.New(server.Config{Store: store, Verifier: v})
	if err != nil {
		log.Fatal(err)
	}
	latchkeyServer := httptest.NewServer(srv)
	defer latchkeyServer.Close()

	// The resource server: running a job needs runs:write on the project in the path.
	checker := &client.Checker{Client: client.New(latchkeyServer.URL, gatewayToken)}
	run := checker.Middleware(func(r *http.Request) client.CheckRequest {
		return client.CheckRequest{Resource: "runs", Access: "write", ProjectID: 1}
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "run started by %s", client.CheckResultFrom(r.Context()).Principal.Name)
	}))
	api := httptest.NewServer(run)
	defer api.Close()

	for _, tok := range []string{airflowToken, biToken} {
		req, _ := http.NewRequest(http.MethodPost, api.URL+"/projects/1/runs", nil)
		req.Header.Set("Authorization", "Token "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 200 run started by airflow
	// 403 {"error":"requires runs:write on project 1","reason":"forbidden"}
}
