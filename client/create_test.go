package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

// lossy sits in front of a real latchkey server and spoils the first creation it sees: it
// either answers 503 without passing it on, or passes it on and drops the connection instead of
// the answer. It records the Idempotency-Key of every creation.
type lossy struct {
	next    http.Handler
	dropAns bool
	mu      sync.Mutex
	keys    []string
}

func (l *lossy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		l.next.ServeHTTP(w, r)
		return
	}
	l.mu.Lock()
	l.keys = append(l.keys, r.Header.Get("Idempotency-Key"))
	first := len(l.keys) == 1
	l.mu.Unlock()
	switch {
	case first && l.dropAns:
		l.next.ServeHTTP(httptest.NewRecorder(), r) // the token is created; its answer is lost
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	case first:
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"status":{"code":503,"is_success":false,"user_message":"storage unavailable"}}`, http.StatusServiceUnavailable)
	default:
		l.next.ServeHTTP(w, r)
	}
}

// TestCreateRetriesWithOneKey: a token creation whose answer is 503 or lost is sent again with
// the same Idempotency-Key, so that at most one token is created; when the lost try did create
// it, the error says so and names the token.
func TestCreateRetriesWithOneKey(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	res, err := admin.New(store, tokenfmt.Default).CreateAccount(ctx, admin.Bootstrap{Account: "Acme", Plan: latchkey.PlanEnterprise,
		Email: "owner@acme.test", Password: "correct horse battery staple"})
	if err != nil {
		t.Fatal(err)
	}
	v := verify.New(store, verify.Options{})
	t.Cleanup(store.Subscribe(v.Invalidate))
	srv, err := server.New(server.Config{Store: store, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		toks, _, err := store.FindTokens(ctx, latchkey.TokenFilter{AccountID: &res.Account.ID, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(toks)
	}

	for _, drop := range []bool{false, true} {
		l := &lossy{next: srv, dropAns: drop}
		hs := httptest.NewServer(l)
		c := client.New(hs.URL, res.PAT)
		before := count()
		tok, err := c.CreateServiceToken(ctx, res.Account.ID, client.CreateServiceTokenRequest{Name: "retried", PermissionGrants: nil})
		hs.Close()
		if len(l.keys) != 2 || l.keys[0] == "" || l.keys[0] != l.keys[1] {
			t.Errorf("drop=%v: creations sent with keys %q, want two tries with one key", drop, l.keys)
		}
		if got := count(); got != before+1 {
			t.Errorf("drop=%v: %d tokens created, want 1", drop, got-before)
		}
		switch {
		case !drop && (err != nil || tok.TokenString == ""):
			t.Errorf("after a 503: CreateServiceToken = %+v, %v; want the token", tok, err)
		case drop && (client.StatusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "already created")):
			t.Errorf("after a lost answer: CreateServiceToken = %v; want a 409 naming the token created", err)
		}
	}
}
