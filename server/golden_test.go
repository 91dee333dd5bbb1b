package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

// Golden handler tests: each case sends one request over real HTTP (loopback) to a server of its
// own, backed by its own copy of a SQLite file holding the fixture, and compares the raw response
// ("HTTP <status>", a few headers, a blank line, the body) with testdata/golden/<case>.golden
// after normalising what differs from run to run (times, token strings, uids, hashes, request
// ids). The bodies are never decoded, so renaming, removing or retyping a JSON field, or
// reordering fields, fails. Regenerate with:
//
//	go test ./server -run Golden -update
//
// The -update flag is the package's (declared in openapi_test.go); -run Golden keeps it from
// rewriting docs/api.md as well.

const goldenDir = "testdata/golden"

// goldenHeaders are the response headers pinned in golden files, besides every X-Latchkey-*.
// Headers that change per request (Date, X-Request-Id, Content-Length) are left out.
var goldenHeaders = []string{"Access-Control-Allow-Origin", "Allow", "Cache-Control", "Content-Type", "Retry-After",
	"Www-Authenticate", "X-Content-Type-Options"}

// goldenFixture holds the ids and secrets of the objects every golden server starts with. The
// objects are created in the same order on a new database each time, so the ids are the same in
// every run; the token strings are random and normalised away.
type goldenFixture struct {
	Account, Other int64 // Acme (enterprise) and Globex (team)

	AdminUser, ReaderUser, OtherUser    int64
	AdminMembership, ReaderMembership   int64
	OtherMembership                     int64
	OwnerGroup, MemberGroup, DataGroup  int64
	OtherOwnerGroup                     int64
	Project, Project2, OtherProject     int64
	AdminPATID, ReaderPATID, OtherPATID int64
	SvcID, EmptySvcID, OtherSvcID       int64
	IPRule                              int64

	// Token strings. Unknown is well formed but was never stored.
	AdminPAT, ReaderPAT, OtherPAT, Svc, EmptySvc, OtherSvc, Unknown string
}

// goldenKeyID names the test key that signs leak reports.
const goldenKeyID = "golden-test-key"

// goldenKey is the ECDSA P-256 key leak reports are signed with; generated once per test binary
// (signatures never reach a golden file).
var goldenKey = sync.OnceValue(func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

// signLeakReport returns the Github-Public-Key-Signature value for body.
func signLeakReport(tb testing.TB, body []byte) string {
	tb.Helper()
	digest := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, goldenKey(), digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// goldenForwardRules are the forward-auth rules of the golden server.
const goldenForwardRules = `
gateway: nginx
default: deny
rules:
  - methods: [GET, HEAD]
    path: /api/projects/{project_id}/jobs/**
    resource: jobs
    access: read
  - methods: [POST]
    path: /api/projects/{project_id}/runs
    resource: runs
    access: write
    environment_header: X-Environment-Category
`

// goldenTemplate is a database file holding the golden fixture, built once and copied for each
// case: every case starts from the same objects with the same ids, without paying for the
// migrations and the fixture again.
type goldenTemplate struct {
	path string
	fx   *goldenFixture
}

// newGoldenTemplate builds the fixture in a new SQLite file under tb's temporary directory
// (which must outlive every server started from it).
func newGoldenTemplate(tb testing.TB) *goldenTemplate {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "template.db")
	store, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	fx := buildGoldenFixture(tb, store)
	// Closing the last connection checkpoints the write-ahead log into the file.
	if err := store.Close(); err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		tb.Fatalf("%s-wal outlived the store; the template would be incomplete", path)
	}
	return &goldenTemplate{path: path, fx: fx}
}

// goldenEnv is one golden server: its store, the server and the fixture in it.
type goldenEnv struct {
	store latchkey.Store
	srv   *Server
	http  *httptest.Server
	fx    *goldenFixture
}

// newGoldenEnv starts a server, over real HTTP on loopback, on a copy of the template's database
// in tb's temporary directory. Everything is stopped when the test ends.
func newGoldenEnv(tb testing.TB, tmpl *goldenTemplate, opts ...func(*Config)) *goldenEnv {
	tb.Helper()
	b, err := os.ReadFile(tmpl.path)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "latchkey.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	store, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	return startGoldenServer(tb, store, tmpl.fx, opts...)
}

// startGoldenServer serves store (holding the fixture fx) over real HTTP on loopback, with the
// verifier and background work running, until the test ends.
// goldenIssuer is the public URL of the golden server, and so the issuer of its access tokens.
const goldenIssuer = "https://latchkey.example"

func startGoldenServer(tb testing.TB, store latchkey.Store, fx *goldenFixture, opts ...func(*Config)) *goldenEnv {
	tb.Helper()
	ctx := context.Background()
	// Access tokens: a keyring in the store, as serve makes one with --secret-key.
	keyring := NewKeyring(store, []byte("golden secret key"), nil, 0)
	if err := keyring.Ensure(ctx); err != nil {
		tb.Fatal(err)
	}
	v := verify.New(store, verify.Options{Format: tokenfmt.Default, CountUsage: true,
		AccessTokens: &verify.AccessTokens{Issuer: goldenIssuer, Audience: goldenIssuer, Key: keyring.Key}})
	tb.Cleanup(store.Subscribe(v.Invalidate))
	vctx, cancel := context.WithCancel(ctx)
	go v.Run(vctx)
	tb.Cleanup(cancel)

	rules, err := ParseForwardRules([]byte(goldenForwardRules))
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{
		Store:       store,
		Verifier:    v,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Version:     "golden",
		SecretKey:   []byte("golden secret key"),
		PublicURL:   goldenIssuer,
		Keyring:     keyring,
		Issuer:      goldenIssuer,
		ForwardAuth: rules,
		Governance: Governance{
			GitHubKeys:       map[string]*ecdsa.PublicKey{goldenKeyID: &goldenKey().PublicKey},
			AuthFailureBurst: 1 << 20,
			RateLimitDelay:   -1,
			// Nothing runs in the background while a case runs.
			FailureSummaryInterval: time.Hour,
			LastUsedFlushInterval:  time.Hour,
			ExpirySweepInterval:    time.Hour,
			NoticeSweepInterval:    time.Hour,
			UsageFlushInterval:     time.Hour,
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	// Cleanups run last-in first-out: the HTTP server stops, then the background work stops and
	// flushes, then the store closes.
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(rctx) }()
	tb.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			tb.Logf("server run: %v", err)
		}
	})
	tb.Cleanup(hs.Close)
	return &goldenEnv{store: store, srv: srv, http: hs, fx: fx}
}

// buildGoldenFixture creates, in this order: account Acme (enterprise) with its built-in groups;
// Ada Admin (developer, in Owner, Member and Everyone) with a PAT; Rita Reader (read_only, default
// groups) with a PAT that expires at the end of 2099; projects Analytics and Marketing; a group "Data team"; service token "CI
// deploy" (job_admin on Analytics, metadata_only on all projects) and "Two-step" (no grants); an
// allow rule for 10.0.0.0/8 (not enforced); then account Globex (team) with Gus Globex (developer,
// every built-in group) and a PAT, a project "Globex Main" and a service token "Globex CI".
func buildGoldenFixture(tb testing.TB, s latchkey.Store) *goldenFixture {
	tb.Helper()
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Type: "system", Name: "golden fixture", Source: "system"})
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	fx := &goldenFixture{}
	mint := func(kind latchkey.TokenKind) tokenfmt.Minted {
		tb.Helper()
		m, err := tokenfmt.Default.Mint(kind)
		must(err)
		return m
	}
	account := func(name string, plan latchkey.Plan) (int64, map[string]int64) {
		tb.Helper()
		a := &latchkey.Account{Name: name, Plan: plan, Settings: latchkey.DefaultAccountSettings()}
		must(s.CreateAccount(ctx, a))
		groups, _, err := s.FindGroups(ctx, latchkey.GroupFilter{AccountID: a.ID})
		must(err)
		ids := map[string]int64{}
		for _, g := range groups {
			ids[g.Name] = g.ID
		}
		return a.ID, ids
	}
	user := func(email, first, last string) int64 {
		tb.Helper()
		u := &latchkey.User{Email: email, FirstName: first, LastName: last}
		must(s.CreateUser(ctx, u))
		return u.ID
	}
	member := func(accountID, userID int64, l latchkey.License, groups []int64) int64 {
		tb.Helper()
		m := &latchkey.Membership{AccountID: accountID, UserID: userID, License: l}
		must(s.CreateMembership(ctx, m, groups))
		return m.ID
	}
	token := func(tok *latchkey.Token) (int64, string) {
		tb.Helper()
		m := mint(tok.Kind)
		tok.UID, tok.Hash, tok.CreatedBy = m.UID, m.Hash, "system:golden"
		must(s.CreateToken(ctx, tok))
		return tok.ID, m.String
	}
	project := func(accountID int64, name, desc string) int64 {
		tb.Helper()
		p := &latchkey.Project{AccountID: accountID, Name: name, Description: desc}
		must(s.CreateProject(ctx, p))
		return p.ID
	}

	var groups map[string]int64
	fx.Account, groups = account("Acme", latchkey.PlanEnterprise)
	fx.OwnerGroup, fx.MemberGroup = groups[latchkey.GroupOwner], groups[latchkey.GroupMember]
	fx.AdminUser = user("admin@acme.test", "Ada", "Admin")
	fx.AdminMembership = member(fx.Account, fx.AdminUser, latchkey.LicenseDeveloper,
		[]int64{groups[latchkey.GroupOwner], groups[latchkey.GroupMember], groups[latchkey.GroupEveryone]})
	fx.AdminPATID, fx.AdminPAT = token(&latchkey.Token{AccountID: fx.Account, Kind: latchkey.KindPAT, UserID: fx.AdminUser, Name: "admin laptop"})
	fx.ReaderUser = user("reader@acme.test", "Rita", "Reader")
	fx.ReaderMembership = member(fx.Account, fx.ReaderUser, latchkey.LicenseReadOnly, nil)
	readerExpiry := time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC)
	fx.ReaderPATID, fx.ReaderPAT = token(&latchkey.Token{AccountID: fx.Account, Kind: latchkey.KindPAT, UserID: fx.ReaderUser, Name: "reader script",
		ExpiresAt: &readerExpiry})
	fx.Project = project(fx.Account, "Analytics", "dbt models for analytics")
	fx.Project2 = project(fx.Account, "Marketing", "")
	dataGroup := &latchkey.Group{AccountID: fx.Account, Name: "Data team",
		Grants: []latchkey.Grant{{PermissionSet: "analyst", ProjectID: fx.Project, WritableEnvs: []latchkey.EnvCategory{latchkey.EnvDevelopment}}}}
	must(s.CreateGroup(ctx, dataGroup))
	fx.DataGroup = dataGroup.ID
	fx.SvcID, fx.Svc = token(&latchkey.Token{AccountID: fx.Account, Kind: latchkey.KindServiceToken, Name: "CI deploy",
		Grants: []latchkey.Grant{{PermissionSet: "job_admin", ProjectID: fx.Project}, {PermissionSet: "metadata_only", AllProjects: true}}})
	fx.EmptySvcID, fx.EmptySvc = token(&latchkey.Token{AccountID: fx.Account, Kind: latchkey.KindServiceToken, Name: "Two-step"})
	rule := &latchkey.IPRule{AccountID: fx.Account, Name: "Office", Type: latchkey.IPRuleAllow, Description: "office network",
		CIDRs: latchkey.Ranges("10.0.0.0/8")}
	must(s.CreateIPRule(ctx, rule))
	fx.IPRule = rule.ID

	fx.Other, groups = account("Globex", latchkey.PlanTeam)
	fx.OtherOwnerGroup = groups[latchkey.GroupOwner]
	fx.OtherUser = user("gus@globex.test", "Gus", "Globex")
	fx.OtherMembership = member(fx.Other, fx.OtherUser, latchkey.LicenseDeveloper,
		[]int64{groups[latchkey.GroupOwner], groups[latchkey.GroupMember], groups[latchkey.GroupEveryone]})
	fx.OtherPATID, fx.OtherPAT = token(&latchkey.Token{AccountID: fx.Other, Kind: latchkey.KindPAT, UserID: fx.OtherUser, Name: "gus laptop"})
	fx.OtherProject = project(fx.Other, "Globex Main", "")
	fx.OtherSvcID, fx.OtherSvc = token(&latchkey.Token{AccountID: fx.Other, Kind: latchkey.KindServiceToken, Name: "Globex CI",
		Grants: []latchkey.Grant{{PermissionSet: "job_admin", AllProjects: true}}})

	fx.Unknown = mint(latchkey.KindServiceToken).String
	return fx
}

// replacer expands {{name}} placeholders in case paths, bodies and headers.
func (fx *goldenFixture) replacer() *strings.Replacer {
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	return strings.NewReplacer(
		"{{account}}", id(fx.Account), "{{other}}", id(fx.Other),
		"{{admin_user}}", id(fx.AdminUser), "{{reader_user}}", id(fx.ReaderUser), "{{other_user}}", id(fx.OtherUser),
		"{{admin_membership}}", id(fx.AdminMembership), "{{reader_membership}}", id(fx.ReaderMembership),
		"{{other_membership}}", id(fx.OtherMembership),
		"{{owner_group}}", id(fx.OwnerGroup), "{{member_group}}", id(fx.MemberGroup), "{{data_group}}", id(fx.DataGroup),
		"{{other_owner_group}}", id(fx.OtherOwnerGroup),
		"{{project}}", id(fx.Project), "{{project2}}", id(fx.Project2), "{{other_project}}", id(fx.OtherProject),
		"{{admin_pat_id}}", id(fx.AdminPATID), "{{reader_pat_id}}", id(fx.ReaderPATID), "{{other_pat_id}}", id(fx.OtherPATID),
		"{{svc_id}}", id(fx.SvcID), "{{empty_svc_id}}", id(fx.EmptySvcID), "{{other_svc_id}}", id(fx.OtherSvcID),
		"{{ip_rule}}", id(fx.IPRule),
		"{{admin_pat}}", fx.AdminPAT, "{{reader_pat}}", fx.ReaderPAT, "{{other_pat}}", fx.OtherPAT,
		"{{svc_token}}", fx.Svc, "{{empty_svc_token}}", fx.EmptySvc, "{{other_svc_token}}", fx.OtherSvc,
		"{{unknown_token}}", fx.Unknown, "{{svc_uid}}", fx.Svc[len("lksvc_"):len("lksvc_")+8],
	)
}

// token returns the Authorization token of a named principal ("" for none).
func (fx *goldenFixture) token(as string) string {
	switch as {
	case "admin":
		return fx.AdminPAT
	case "reader":
		return fx.ReaderPAT
	case "other":
		return fx.OtherPAT
	case "svc":
		return fx.Svc
	case "unknown":
		return fx.Unknown
	case "malformed":
		return "lksvc_not-a-token"
	}
	return ""
}

// goldenResponse is what a golden file pins.
type goldenResponse struct {
	status int
	header http.Header
	body   []byte
}

// send performs req against env and reads the whole response.
func (env *goldenEnv) send(tb testing.TB, req *http.Request) goldenResponse {
	tb.Helper()
	resp, err := env.http.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return goldenResponse{status: resp.StatusCode, header: resp.Header, body: body}
}

// Normalisations: each targets one kind of value that differs between runs, and leaves the
// rest of the bytes alone.
var goldenNormalisers = []struct {
	re   *regexp.Regexp
	repl string
}{
	// Whole JSON string values that are RFC 3339 times (with or without fractional seconds).
	{regexp.MustCompile(`"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})"`), `"<time>"`},
	// Token strings: prefix, 8-character uid, 32-character secret, 6-character checksum.
	{regexp.MustCompile(`\b(lksvc_|lkpat_)[0-9A-Za-z]{46}\b`), `<token>`},
	// Token uids: in uid, token_uid and jti (introspection) members and in display values.
	{regexp.MustCompile(`"(uid|token_uid|jti)":"[0-9A-Za-z]{8}"`), `"$1":"<uid>"`},
	{regexp.MustCompile(`"display":"(lksvc_|lkpat_)[0-9A-Za-z]{8}…"`), `"display":"$1<uid>…"`},
	// Webhook signing secrets, in create and rotate answers.
	{regexp.MustCompile(`"hmac_secret":"whsec_[A-Za-z0-9+/=]+"`), `"hmac_secret":"<secret>"`},
	// Request ids in internal errors.
	{regexp.MustCompile(`internal error \(request id [^)"]+\)`), `internal error (request id <request-id>)`},
	// SHA-256 hex: token_hash in leak answers, the audit log's hash chain.
	{regexp.MustCompile(`"(token_hash|hash|prev_hash)":"[0-9a-f]{64}"`), `"$1":"<hash>"`},
	// Access tokens (JWTs) and the key set's key ids and public keys.
	{regexp.MustCompile(`"(access_token)":"eyJ[A-Za-z0-9_.-]+"`), `"$1":"<jwt>"`},
	{regexp.MustCompile(`"(kid|x)":"[A-Za-z0-9_-]+"`), `"$1":"<$1>"`},
	// Unix times in introspection answers.
	{regexp.MustCompile(`"(iat|exp)":\d+`), `"$1":<unix>`},
}

func normaliseGolden(b []byte) []byte {
	for _, n := range goldenNormalisers {
		b = n.re.ReplaceAll(b, []byte(n.repl))
	}
	return b
}

// render writes a response as a golden file: "HTTP <status>", the pinned headers, a blank line
// and the normalised body, byte for byte.
func (r goldenResponse) render() []byte {
	var b bytes.Buffer
	b.WriteString("HTTP " + strconv.Itoa(r.status) + "\n")
	var names []string
	for name := range r.header {
		if strings.HasPrefix(name, "X-Latchkey-") {
			names = append(names, name)
		}
	}
	for _, name := range goldenHeaders {
		if _, ok := r.header[name]; ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range r.header[name] {
			b.WriteString(name + ": " + v + "\n")
		}
	}
	b.WriteString("\n")
	b.Write(r.body)
	return normaliseGolden(b.Bytes())
}

// checkGolden compares got with testdata/golden/<name>.golden, or rewrites the file with -update.
// label says which route and case the file belongs to.
func checkGolden(tb testing.TB, label, name string, got []byte) {
	tb.Helper()
	path := filepath.Join(goldenDir, name+".golden")
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		tb.Fatalf("%s: %s does not exist; run: go test ./server -run Golden -update", label, path)
	}
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(want, got) {
		diff := cmp.Diff(strings.SplitAfter(string(want), "\n"), strings.SplitAfter(string(got), "\n"))
		tb.Errorf("%s: body differs from %s (-want +got):\n%s", label, path, diff)
	}
}
