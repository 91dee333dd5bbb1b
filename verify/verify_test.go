package verify_test

import (
	"context"
	"errors"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
	"github.com/latchkey/latchkey/verify"
)

// countingStore counts the reads the verifier makes of a real SQLite store.
type countingStore struct {
	latchkey.Store
	byHash, legacy, byID atomic.Int64
}

func (c *countingStore) FindTokenByHash(ctx context.Context, h []byte) (*latchkey.Token, error) {
	c.byHash.Add(1)
	return c.Store.FindTokenByHash(ctx, h)
}

func (c *countingStore) FindTokens(ctx context.Context, f latchkey.TokenFilter) ([]*latchkey.Token, int, error) {
	if f.LegacyPrefix != nil {
		c.legacy.Add(1)
	}
	if f.ID != nil {
		c.byID.Add(1)
	}
	return c.Store.FindTokens(ctx, f)
}

type fixture struct {
	store   *countingStore
	v       *verify.Verifier
	account *latchkey.Account
	project *latchkey.Project
}

func newFixture(t testing.TB, opt verify.Options) *fixture {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &fixture{store: &countingStore{Store: s}}
	f.account = &latchkey.Account{Name: "Acme", Plan: latchkey.PlanEnterprise, Settings: latchkey.DefaultAccountSettings()}
	if err := s.CreateAccount(context.Background(), f.account); err != nil {
		t.Fatal(err)
	}
	f.project = &latchkey.Project{AccountID: f.account.ID, Name: "analytics"}
	if err := s.CreateProject(context.Background(), f.project); err != nil {
		t.Fatal(err)
	}
	f.v = verify.New(f.store, opt)
	t.Cleanup(s.Subscribe(f.v.Invalidate))
	return f
}

// token creates a service token and returns its string and row.
func (f *fixture) token(t testing.TB, mod func(*latchkey.Token), grants ...latchkey.Grant) (string, *latchkey.Token) {
	t.Helper()
	m, err := tokenfmt.Default.Mint(latchkey.KindServiceToken)
	if err != nil {
		t.Fatal(err)
	}
	tok := &latchkey.Token{AccountID: f.account.ID, Kind: latchkey.KindServiceToken, UID: m.UID, Hash: m.Hash, Name: "t", Grants: grants}
	if mod != nil {
		mod(tok)
	}
	if err := f.store.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return m.String, tok
}

var (
	ctx       = context.Background()
	localhost = netip.MustParseAddr("127.0.0.1")
)

func TestMalformedNeverTouchesStorage(t *testing.T) {
	f := newFixture(t, verify.Options{})
	good, _ := f.token(t, nil)
	typo := []byte(good)
	typo[12] ^= 1
	for _, s := range []string{"", "nope", "lksvc_short", string(typo), good + "x", "Bearer " + good} {
		if _, err := f.v.Verify(ctx, s, localhost); err == nil {
			t.Errorf("Verify(%q) = nil error", tokenfmt.Default.Redact(s))
		}
	}
	// A byte outside base62 with a checksum made to match passes ParseQuick; the verifier's
	// alphabet check on the miss path still refuses it before storage.
	crafted := []byte(good)
	crafted[20] = '-'
	sum := crc32.ChecksumIEEE(crafted[:len(crafted)-tokenfmt.ChecksumLen])
	for i := len(crafted) - 1; i >= len(crafted)-tokenfmt.ChecksumLen; i-- {
		crafted[i] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[sum%62]
		sum /= 62
	}
	if _, err := f.v.Verify(ctx, string(crafted), localhost); !errors.Is(err, tokenfmt.ErrMalformed) {
		t.Errorf("Verify(checksum-valid, bad alphabet) = %v, want ErrMalformed", err)
	}
	if n := f.store.byHash.Load(); n != 0 {
		t.Errorf("storage reads for malformed tokens = %d, want 0", n)
	}
}

func TestCacheAndNegativeCache(t *testing.T) {
	f := newFixture(t, verify.Options{})
	good, tok := f.token(t, nil, latchkey.Grant{PermissionSet: "job_admin", ProjectID: f.project.ID})
	for range 5 {
		p, err := f.v.Verify(ctx, good, localhost)
		if err != nil {
			t.Fatal(err)
		}
		if p.TokenID != tok.ID || p.Kind != latchkey.PrincipalServiceToken {
			t.Fatalf("principal = %+v", p)
		}
	}
	if n := f.store.byHash.Load(); n != 1 {
		t.Errorf("storage reads for 5 verifications = %d, want 1", n)
	}
	unknown, _, _ := tokenfmt.Default.Generate(latchkey.KindServiceToken)
	for range 5 {
		if _, err := f.v.Verify(ctx, unknown, localhost); !errors.Is(err, verify.ErrUnknown) {
			t.Fatalf("Verify(unknown) = %v, want ErrUnknown", err)
		}
	}
	if n := f.store.byHash.Load(); n != 2 {
		t.Errorf("storage reads after 5 unknown verifications = %d, want 2", n)
	}
}

func TestNegativeCacheIsBounded(t *testing.T) {
	f := newFixture(t, verify.Options{MaxNegative: 50})
	for range 500 {
		s, _, _ := tokenfmt.Default.Generate(latchkey.KindServiceToken)
		_, _ = f.v.Verify(ctx, s, localhost)
	}
	if n := f.v.Len(); n > 50 {
		t.Errorf("cache holds %d entries after 500 unknown tokens, want at most 50", n)
	}
}

func TestConcurrentMissesCoalesce(t *testing.T) {
	f := newFixture(t, verify.Options{})
	good, _ := f.token(t, nil)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := f.v.Verify(ctx, good, localhost); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := f.store.byHash.Load(); n > 2 {
		t.Errorf("64 concurrent first verifications made %d storage reads, want 1 (2 at most if a read finished before the rest arrived)", n)
	}
}

func TestInvalidation(t *testing.T) {
	f := newFixture(t, verify.Options{TTL: time.Hour})
	other := &latchkey.Project{AccountID: f.account.ID, Name: "other"}
	if err := f.store.CreateProject(ctx, other); err != nil {
		t.Fatal(err)
	}
	good, tok := f.token(t, nil, latchkey.Grant{PermissionSet: "job_admin", ProjectID: f.project.ID})
	p, err := f.v.Verify(ctx, good, localhost)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Can(latchkey.ResJobs, latchkey.AccessWrite, f.project.ID, "").Allowed {
		t.Fatal("job_admin cannot write jobs on its project")
	}
	// A grant change is seen on the next verification, despite the hour-long TTL.
	if _, err := f.store.ReplaceTokenGrants(ctx, tok.ID, []latchkey.Grant{{PermissionSet: "job_admin", ProjectID: other.ID}}); err != nil {
		t.Fatal(err)
	}
	p, err = f.v.Verify(ctx, good, localhost)
	if err != nil {
		t.Fatal(err)
	}
	if p.Can(latchkey.ResJobs, latchkey.AccessRead, f.project.ID, "").Allowed || !p.Can(latchkey.ResJobs, latchkey.AccessRead, other.ID, "").Allowed {
		t.Error("grant change not reflected")
	}
	if err := f.store.DeleteToken(ctx, tok.ID, "deleted"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(ctx, good, localhost); !errors.Is(err, verify.ErrRevoked) {
		t.Errorf("Verify(deleted) = %v, want ErrRevoked", err)
	}
}

func TestPATFollowsUserPermissions(t *testing.T) {
	f := newFixture(t, verify.Options{TTL: time.Hour})
	u := &latchkey.User{Email: "dev@example.com"}
	if err := f.store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	m := &latchkey.Membership{AccountID: f.account.ID, UserID: u.ID, License: latchkey.LicenseDeveloper}
	if err := f.store.CreateMembership(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	pm, _ := tokenfmt.Default.Mint(latchkey.KindPAT)
	pat := &latchkey.Token{AccountID: f.account.ID, Kind: latchkey.KindPAT, UserID: u.ID, UID: pm.UID, Hash: pm.Hash, Name: "pat"}
	if err := f.store.CreateToken(ctx, pat); err != nil {
		t.Fatal(err)
	}
	p, err := f.v.Verify(ctx, pm.String, localhost)
	if err != nil {
		t.Fatal(err)
	}
	// Member group: member set on all projects.
	if !p.Can(latchkey.ResJobs, latchkey.AccessWrite, f.project.ID, "").Allowed || p.License != latchkey.LicenseDeveloper {
		t.Fatalf("member PAT = %+v", p)
	}
	ro := latchkey.LicenseReadOnly
	if _, err := f.store.UpdateMembership(ctx, m.ID, latchkey.MembershipUpdate{License: &ro}); err != nil {
		t.Fatal(err)
	}
	p, err = f.v.Verify(ctx, pm.String, localhost)
	if err != nil {
		t.Fatal(err)
	}
	if p.Can(latchkey.ResJobs, latchkey.AccessWrite, f.project.ID, "").Allowed {
		t.Error("a read_only license still writes after the change")
	}
	if err := f.store.SetUserGroups(ctx, f.account.ID, u.ID, []int64{}); err != nil {
		t.Fatal(err)
	}
	removed := latchkey.StateDeleted
	if _, err := f.store.UpdateMembership(ctx, m.ID, latchkey.MembershipUpdate{State: &removed}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(ctx, pm.String, localhost); err == nil {
		t.Error("PAT of a removed member still verifies")
	}
}

func TestExpiryRotationAndCIDRs(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	f := newFixture(t, verify.Options{Now: func() time.Time { return clock() }, TTL: time.Hour})
	exp := now.Add(time.Minute)
	expiring, _ := f.token(t, func(tok *latchkey.Token) { tok.ExpiresAt = &exp })
	restricted, _ := f.token(t, func(tok *latchkey.Token) {
		tok.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	})
	old, oldTok := f.token(t, nil)
	var reused atomic.Int64
	f.v.SetHooks(nil, func(*latchkey.Token) { reused.Add(1) })

	if _, err := f.v.Verify(ctx, expiring, localhost); err != nil {
		t.Fatalf("Verify(not yet expired) = %v", err)
	}
	clock = func() time.Time { return now.Add(2 * time.Minute) }
	if _, err := f.v.Verify(ctx, expiring, localhost); !errors.Is(err, verify.ErrExpired) {
		t.Errorf("Verify(expired, cached) = %v, want ErrExpired", err)
	}
	clock = func() time.Time { return now }

	for _, tt := range []struct {
		ip string
		ok bool
	}{{"10.1.2.3", true}, {"::ffff:10.1.2.3", true}, {"2001:db8::1", true}, {"127.0.0.1", false}, {"2001:db9::1", false}} {
		_, err := f.v.Verify(ctx, restricted, netip.MustParseAddr(tt.ip))
		if (err == nil) != tt.ok {
			t.Errorf("Verify(restricted from %s) = %v, want ok=%v", tt.ip, err, tt.ok)
		}
	}
	if _, err := f.v.Verify(ctx, restricted, netip.Addr{}); !errors.Is(err, verify.ErrIPDenied) {
		t.Errorf("Verify(restricted, unknown address) = %v, want ErrIPDenied", err)
	}

	next, _ := tokenfmt.Default.Mint(latchkey.KindServiceToken)
	nextTok := &latchkey.Token{UID: next.UID, Hash: next.Hash}
	if err := f.store.RotateToken(ctx, oldTok.ID, nextTok, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(ctx, old, localhost); err != nil {
		t.Errorf("Verify(old, in grace) = %v", err)
	}
	if _, err := f.v.Verify(ctx, next.String, localhost); err != nil {
		t.Errorf("Verify(new) = %v", err)
	}
	clock = func() time.Time { return now.Add(time.Minute) }
	for range 3 {
		if _, err := f.v.Verify(ctx, old, localhost); !errors.Is(err, verify.ErrRotatedOut) {
			t.Errorf("Verify(old, after grace) = %v, want ErrRotatedOut", err)
		}
	}
	if n := reused.Load(); n != 1 {
		t.Errorf("OnReuse calls = %d, want 1 per cache lifetime", n)
	}
}

func TestOnUseOncePerMinute(t *testing.T) {
	now := time.Now()
	clock := now
	var mu sync.Mutex
	var uses []latchkey.TokenUse
	f := newFixture(t, verify.Options{Now: func() time.Time { return clock }, TTL: time.Hour})
	f.v.SetHooks(func(u latchkey.TokenUse) {
		mu.Lock()
		uses = append(uses, u)
		mu.Unlock()
	}, nil)
	good, tok := f.token(t, nil)
	for range 10 {
		if _, err := f.v.Verify(ctx, good, localhost); err != nil {
			t.Fatal(err)
		}
	}
	clock = now.Add(61 * time.Second)
	if _, err := f.v.Verify(ctx, good, netip.MustParseAddr("10.0.0.9")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(uses) != 2 || uses[0].TokenID != tok.ID || uses[1].IP != "10.0.0.9" {
		t.Errorf("uses = %+v, want 2 (one per minute), the second from 10.0.0.9", uses)
	}
}

func TestAccountIPPolicy(t *testing.T) {
	f := newFixture(t, verify.Options{TTL: time.Hour})
	good, _ := f.token(t, nil)
	if _, err := f.v.Verify(ctx, good, localhost); err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateIPRule(ctx, &latchkey.IPRule{AccountID: f.account.ID, Name: "block", Type: latchkey.IPRuleDeny, CIDRs: latchkey.Ranges("127.0.0.2/32")}); err != nil {
		t.Fatal(err)
	}
	// Rules are not enforced until enabled.
	if _, err := f.v.Verify(ctx, good, netip.MustParseAddr("127.0.0.2")); err != nil {
		t.Errorf("rule enforced before enabling: %v", err)
	}
	settings := f.account.Settings
	settings.IPRestrictionsEnabled = true
	if _, err := f.store.UpdateAccount(ctx, f.account.ID, latchkey.AccountUpdate{Settings: &settings}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(ctx, good, netip.MustParseAddr("127.0.0.2")); !errors.Is(err, verify.ErrIPDenied) {
		t.Errorf("Verify(from denied address) = %v, want ErrIPDenied", err)
	}
	if _, err := f.v.Verify(ctx, good, localhost); err != nil {
		t.Errorf("Verify(from allowed address) = %v", err)
	}
}

func TestLegacyTokens(t *testing.T) {
	f := newFixture(t, verify.Options{})
	legacy := "0123456789abcdef0123456789abcdef01234567"
	hash, err := bcrypt.GenerateFromPassword([]byte(legacy), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	f.token(t, func(tok *latchkey.Token) {
		tok.Hash, tok.LegacyPrefix, tok.LegacyHash = nil, legacy[:8], string(hash)
	}, latchkey.Grant{PermissionSet: "metadata_only", AllProjects: true})
	for range 3 {
		p, err := f.v.Verify(ctx, legacy, localhost)
		if err != nil {
			t.Fatalf("Verify(legacy) = %v", err)
		}
		if !p.Legacy || !p.Can(latchkey.ResMetadata, latchkey.AccessRead, f.project.ID, "").Allowed {
			t.Fatalf("legacy principal = %+v", p)
		}
	}
	if n := f.store.legacy.Load(); n != 1 {
		t.Errorf("legacy lookups = %d, want 1 (then cached)", n)
	}
	wrong := "0123456789abcdef0123456789abcdef0123456f"
	if _, err := f.v.Verify(ctx, wrong, localhost); !errors.Is(err, verify.ErrUnknown) {
		t.Errorf("Verify(wrong legacy) = %v, want ErrUnknown", err)
	}
	if got := f.v.Stats().Legacy.Load(); got != 2 {
		t.Errorf("legacy slow-path count = %d, want 2", got)
	}
}

func TestVerifyCachedDoesNotAllocate(t *testing.T) {
	f := newFixture(t, verify.Options{TTL: time.Hour})
	f.v.SetHooks(func(latchkey.TokenUse) {}, nil)
	good, _ := f.token(t, nil, latchkey.Grant{PermissionSet: "job_admin", AllProjects: true})
	ip := netip.MustParseAddr("10.0.0.1")
	if _, err := f.v.Verify(ctx, good, ip); err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(200, func() {
		p, err := f.v.Verify(ctx, good, ip)
		if err != nil {
			t.Fatal(err)
		}
		p.Can(latchkey.ResJobs, latchkey.AccessWrite, 3, latchkey.EnvProduction)
	})
	if n != 0 {
		t.Errorf("cached Verify+Can allocs = %v, want 0", n)
	}
}

func mustBcrypt(t testing.TB, s string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(s), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestMiddlewareRequire(t *testing.T) {
	f := newFixture(t, verify.Options{})
	viewer, _ := f.token(t, nil, latchkey.Grant{PermissionSet: "job_viewer", ProjectID: f.project.ID})
	h := verify.Middleware(f.v, verify.Require(latchkey.ResJobs, latchkey.AccessWrite, func(*http.Request) int64 { return f.project.ID },
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })))
	for _, tt := range []struct {
		auth   string
		status int
		reason string
	}{
		{"Bearer " + viewer, http.StatusForbidden, "forbidden"},
		{"token " + viewer + "x", http.StatusUnauthorized, "malformed"},
		{"Basic abc", http.StatusUnauthorized, "missing"},
	} {
		req := httptest.NewRequest(http.MethodPost, "/jobs", nil)
		req.Header.Set("Authorization", tt.auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.reason) {
			t.Errorf("%.12s…: %d %s, want %d with reason %s", tt.auth, rec.Code, rec.Body, tt.status, tt.reason)
		}
		if strings.Contains(rec.Body.String(), viewer) {
			t.Error("the denial repeats the token")
		}
	}
}

func TestVerifyInAccountHidesOtherAccounts(t *testing.T) {
	f := newFixture(t, verify.Options{})
	var reused atomic.Int64
	var used atomic.Int64
	f.v.SetHooks(func(latchkey.TokenUse) { used.Add(1) }, func(*latchkey.Token) { reused.Add(1) })
	old, oldTok := f.token(t, nil)
	next, _ := tokenfmt.Default.Mint(latchkey.KindServiceToken)
	if err := f.store.RotateToken(ctx, oldTok.ID, &latchkey.Token{UID: next.UID, Hash: next.Hash}, 0); err != nil {
		t.Fatal(err)
	}
	live, _ := f.token(t, nil)
	other := f.account.ID + 1000
	for _, tok := range []string{old, live} {
		if _, err := f.v.VerifyInAccount(ctx, tok, localhost, other); !errors.Is(err, verify.ErrUnknown) {
			t.Errorf("VerifyInAccount(other account) = %v, want ErrUnknown", err)
		}
	}
	if reused.Load() != 0 || used.Load() != 0 {
		t.Errorf("verifying for another account triggered reuse=%d use=%d reports, want none", reused.Load(), used.Load())
	}
	if _, err := f.v.VerifyInAccount(ctx, live, localhost, f.account.ID); err != nil {
		t.Errorf("VerifyInAccount(own account) = %v", err)
	}
}

// TestExpiryFollowsTheWallClock: stored expiry is wall time, so a clock that jumps (or a machine
// that slept) cannot stretch a token's life.
func TestExpiryFollowsTheWallClock(t *testing.T) {
	base := time.Now()
	wall := base
	f := newFixture(t, verify.Options{Now: func() time.Time { return wall }, TTL: time.Hour})
	exp := base.Add(time.Minute)
	tok, _ := f.token(t, func(tk *latchkey.Token) { tk.ExpiresAt = &exp })
	if _, err := f.v.Verify(ctx, tok, localhost); err != nil {
		t.Fatal(err)
	}
	// A wall time without a monotonic reading, as after a suspend, two hours later.
	wall = time.Unix(0, base.Add(2*time.Hour).UnixNano())
	if _, err := f.v.Verify(ctx, tok, localhost); !errors.Is(err, verify.ErrExpired) {
		t.Errorf("Verify two hours after expiry = %v, want ErrExpired", err)
	}
}
