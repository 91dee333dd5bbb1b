package verify_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

// A resource server verifies latchkey tokens in process: it opens latchkey's database (here a
// fresh SQLite file holding one token) and wraps its handlers with Middleware and Require.
func ExampleMiddleware() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, filepath.Join(dir, "latchkey.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// Set up: an account, a project and a service token that may read its jobs.
	account := &latchkey.Account{Name: "Acme", Plan: latchkey.PlanEnterprise}
	store.CreateAccount(ctx, account)
	project := &latchkey.Project{AccountID: account.ID, Name: "analytics"}
	store.CreateProject(ctx, project)
	minted, _ := tokenfmt.Default.Mint(latchkey.KindServiceToken)
	store.CreateToken(ctx, &latchkey.Token{AccountID: account.ID, Kind: latchkey.KindServiceToken, Name: "airflow",
		UID: minted.UID, Hash: minted.Hash, Grants: []latchkey.Grant{{PermissionSet: "job_viewer", ProjectID: project.ID}}})

	// The resource server: a verifier that hears of every change, and the middleware.
	v := verify.New(store, verify.Options{})
	defer store.Subscribe(v.Invalidate)()
	vctx, stop := context.WithCancel(ctx)
	defer stop()
	go v.Run(vctx) // the verifier's clock and refreshes, until the server stops
	jobs := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "jobs for %s", verify.PrincipalFrom(r.Context()).Name)
	})
	projectID := func(*http.Request) int64 { return project.ID }
	handler := verify.Middleware(v, verify.Require(latchkey.ResJobs, latchkey.AccessRead, projectID, jobs))

	for _, auth := range []string{"Token " + minted.String, "Token lksvc_madeup", ""} {
		req := httptest.NewRequest(http.MethodGet, "/jobs", nil)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 jobs for airflow
	// 401 {"error":"malformed token","reason":"malformed"}
	// 401 {"error":"authentication required: send Authorization: Token \u003ctoken\u003e","reason":"missing"}
}
