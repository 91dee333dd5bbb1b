package admin_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/catalog"
	"github.com/latchkey/latchkey/postgres"
	"github.com/latchkey/latchkey/postgres/pgtest"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/tokenfmt"
)

// The seeded simulation of the admin layer. Random principals (owners and other admins,
// security admins and IT licenses, members, read-only users, narrow service tokens, and
// principals of a second account) take random operations with random, often hostile, arguments:
// foreign, deleted and made-up ids, bad names and texts, grants without a scope or beyond the
// actor's access. One change in twenty runs under admin.DryRun. After every step the store is
// read directly, not through admin, and these must hold:
//
//   - each account keeps an owner, and FindAccountAdmins names exactly the owners its
//     memberships and groups make; the built-in groups stay and Owner's grants do not change;
//     active group and project names are unique; no removed member keeps a personal access
//     token; enforced IP rules admit the address every change comes from;
//   - nobody holds access that neither they nor the actor held before the step, and the actor
//     holds nothing new;
//   - the actor changed nothing in another account, and no user, service token or group holding
//     access the actor does not hold;
//   - a refused step, a read and a dry run change nothing, audit log included;
//   - no operation panics or answers an internal error, and UserPrincipal agrees with the
//     memberships and groups.
//
// At the end the audit log's hash chain must verify. A failure names its seed and step;
// -sim.seed replays it (token strings and times aside, the run is the same).
//
//	go test ./admin -run TestSimulation                                   # short
//	go test ./admin -run TestSimulation -sim.ops 10000 -timeout 30m -v    # long
//	go test ./admin -run TestSimulation/sqlite -sim.seed 12345            # replay

var (
	simOps  = flag.Int("sim.ops", 300, "TestSimulation: operations per store (the long run is 10000)")
	simSeed = flag.Uint64("sim.seed", 0, "TestSimulation: seed (0: from the clock)")
)

func TestSimulation(t *testing.T) {
	seed := *simSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d, %d operations per store (replay: -sim.seed %d -sim.ops %d)", seed, *simOps, seed, *simOps)
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sim.db"))
		if err != nil {
			t.Fatalf("seed %d: sqlite.Open: %v", seed, err)
		}
		t.Cleanup(func() { s.Close() })
		simRun(t, s, seed, *simOps)
	})
	t.Run("postgres", func(t *testing.T) {
		s, err := postgres.Open(context.Background(), pgtest.Schema(t, "pool_max_conns", "4"))
		if err != nil {
			t.Fatalf("seed %d: postgres.Open: %v", seed, err)
		}
		t.Cleanup(func() { s.Close() })
		simRun(t, s, seed, *simOps)
	})
}

// simWorld is one simulation on one store.
type simWorld struct {
	t     *testing.T
	ctx   context.Context
	store latchkey.Store
	svc   *admin.Service
	rng   *rand.Rand
	seed  uint64
	ops   int
	step  int
	// where and args say what is running, for failure messages.
	where, args string

	acct, other int64 // the simulated account, and a second one whose objects are hostile arguments
	owner       int64 // the user CreateAccount made owner of both
	emails      []string

	// known lists every id seen by kind ("project", "group", "user", "membership", "token",
	// "rule"), in the order seen, for arguments naming deleted or foreign objects.
	known     map[string][]int64
	seen      map[string]bool
	accountOf map[string]int64 // "group:3", "membership:5": the account of a group or membership seen
	tokenRefs []admin.TokenRef

	stats map[string]*simStat // per operation, and per class of actor ("by admin")
}

type simStat struct {
	ok, dry int
	refused map[latchkey.ErrorCode]int
}

// simPrincipal is what a user (in one account) or an active service token holds, compiled from
// the store's memberships, groups and grants.
type simPrincipal struct {
	key     string
	account int64
	kind    latchkey.PrincipalKind
	id      int64 // the user's or the token's
	name    string
	license latchkey.License
	perms   *latchkey.Permissions
	// retired marks a service token that was rotated out or expired: it holds its grants until
	// revoked, but it can no longer act.
	retired bool
}

// simState is what the store holds between two steps.
type simState struct {
	principals map[string]*simPrincipal
	keys       []string                         // sorted
	groups     map[int64][]*latchkey.Group      // active, per account
	projects   map[int64][]*latchkey.Project    // active, per account
	members    map[int64][]*latchkey.Membership // active, per account
	tokens     map[int64][]*latchkey.Token      // active service tokens, per account
	pats       []*latchkey.Token                // active PATs of every account
	accounts   map[int64]*latchkey.Account
	rules      []*latchkey.IPRule              // the simulated account's, every state
	admins     map[int64][]int64               // FindAccountAdmins, per account
	member     map[string]*latchkey.Membership // active, by principal key
	token      map[int64]*latchkey.Token       // active service tokens and PATs
	group      map[int64]*latchkey.Group       // active, of every account
	// print is everything a refused, read-only or dry-run step must leave as it was.
	print string
}

func simRun(t *testing.T, store latchkey.Store, seed uint64, ops int) {
	start := time.Now()
	w := &simWorld{t: t, ctx: context.Background(), store: store, svc: admin.New(store, tokenfmt.Default),
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seed: seed, ops: ops,
		known: map[string][]int64{}, seen: map[string]bool{}, accountOf: map[string]int64{}, stats: map[string]*simStat{}}
	w.setup()
	before := w.snapshot()
	w.checkState(before)
	setupTime, start := time.Since(start), time.Now()
	for w.step = 1; w.step <= ops; w.step++ {
		actor, class := w.pickActor(before)
		p := w.principal(actor)
		op := w.pickOp(before)
		dry := !op.readOnly && w.chance(5)
		ctx := latchkey.WithActor(w.ctx, latchkey.ActorOf(p, "127.0.0.1", "api"))
		w.where = fmt.Sprintf("%s by %s (%s)", op.name, actor.key, class)
		if dry {
			ctx = admin.DryRun(ctx)
			w.where = "DryRun " + w.where
		}
		w.args = ""
		err := w.call(op, ctx, p, before)
		code := latchkey.ErrorCodeOf(err)
		if code != "" && !simRefusal(code) {
			w.failf("%s error: %v", code, err)
		}
		w.count(op.name, code, dry)
		w.count("by "+class, code, dry)
		after := w.snapshot()
		w.checkState(after)
		w.checkNoEscalation(before, after, actor.key, p)
		w.checkActedBelow(before, after, actor.key, p, op.name)
		if code != "" || op.readOnly || dry {
			if d := simDiff(before.print, after.print); d != "" {
				w.failf("the step (result: %v) changed the store:\n%s", err, d)
			}
		}
		before = after
	}
	elapsed := time.Since(start)
	w.step = ops + 1
	w.where, w.args = "final checks", ""
	w.finalChecks(before)
	w.logStats()
	t.Logf("seed %d: setup %v, %d operations in %v (%v per step, invariant checks included)", seed, setupTime.Round(time.Millisecond),
		ops, elapsed.Round(time.Millisecond), (elapsed / time.Duration(max(ops, 1))).Round(time.Microsecond))
}

func (w *simWorld) count(key string, code latchkey.ErrorCode, dry bool) {
	st := w.stats[key]
	if st == nil {
		st = &simStat{refused: map[latchkey.ErrorCode]int{}}
		w.stats[key] = st
	}
	switch {
	case code == "" && dry:
		st.dry++
	case code == "":
		st.ok++
	default:
		st.refused[code]++
	}
}

// simRefusal reports whether code is a domain refusal, which a hostile step may earn.
func simRefusal(code latchkey.ErrorCode) bool {
	switch code {
	case latchkey.EInvalid, latchkey.EForbidden, latchkey.EConflict, latchkey.ENotFound, latchkey.EUnauthorized:
		return true
	}
	return false
}

func (w *simWorld) failf(format string, args ...any) {
	w.t.Helper()
	msg := fmt.Sprintf("seed %d, step %d: %s", w.seed, w.step, w.where)
	if w.args != "" {
		msg += "; args: " + w.args
	}
	w.t.Fatalf("%s\n%s\n(replay: go test ./admin -run 'TestSimulation/%s' -sim.seed %d -sim.ops %d)",
		msg, fmt.Sprintf(format, args...), strings.TrimPrefix(w.t.Name(), "TestSimulation/"), w.seed, w.ops)
}

func (w *simWorld) must(err error, what string) {
	w.t.Helper()
	if err != nil {
		w.failf("%s: %v", what, err)
	}
}

func (w *simWorld) describe(format string, args ...any) { w.args = fmt.Sprintf(format, args...) }

// call runs one operation, turning a panic into a failure that names the step.
func (w *simWorld) call(op simOp, ctx context.Context, p *latchkey.Principal, s *simState) (err error) {
	defer func() {
		if r := recover(); r != nil {
			w.failf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return op.run(w, ctx, p, s)
}

// ---- Randomness ----

func (w *simWorld) intn(n int) int      { return w.rng.IntN(n) }
func (w *simWorld) chance(pct int) bool { return w.rng.IntN(100) < pct }

func simPick[T any](w *simWorld, xs []T) T { return xs[w.rng.IntN(len(xs))] }

func simPtr[T any](v T) *T { return &v }

func (w *simWorld) see(kind string, id int64) {
	if k := fmt.Sprint(kind, ":", id); !w.seen[k] {
		w.seen[k] = true
		w.known[kind] = append(w.known[kind], id)
	}
}

func (w *simWorld) seeToken(t *latchkey.Token) {
	if k := fmt.Sprint("token:", t.ID); !w.seen[k] {
		w.see("token", t.ID)
		w.tokenRefs = append(w.tokenRefs, admin.TokenRef{Kind: t.Kind, UserID: t.UserID, ID: t.ID})
	}
}

// hostileID names nothing, or something of any kind.
func (w *simWorld) hostileID() int64 {
	switch w.intn(4) {
	case 0:
		return 0
	case 1:
		return -1
	case 2:
		return 1 << 40
	}
	return 1 + w.rng.Int64N(300)
}

// id picks an id of kind: mostly a live one, sometimes any seen (deleted, or of the other
// account), sometimes a hostile one.
func (w *simWorld) id(kind string, live []int64) int64 {
	switch r := w.intn(100); {
	case r < 65 && len(live) > 0:
		return simPick(w, live)
	case r < 88 && len(w.known[kind]) > 0:
		return simPick(w, w.known[kind])
	}
	return w.hostileID()
}

// target picks an id of kind: often one of plausible (an object the actor may act on, so that
// changes go through), otherwise as id does.
func (w *simWorld) target(kind string, plausible, live []int64) int64 {
	if len(plausible) > 0 && w.chance(40) {
		return simPick(w, plausible)
	}
	return w.id(kind, live)
}

// gone returns the ids of kind ("group" or "membership") once seen in acct that are not active
// now: deleted groups and removed memberships, to restore.
func (w *simWorld) gone(kind string, acct int64, active []int64) []int64 {
	var ids []int64
	for _, id := range w.known[kind] {
		if w.accountOf[fmt.Sprint(kind, ":", id)] == acct && !slices.Contains(active, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// heldGroups are the active groups of p's account whose grants p holds.
func (s *simState) heldGroups(p *latchkey.Principal) []int64 {
	var ids []int64
	for _, g := range s.groups[p.AccountID] {
		if simHolds(p.Permissions, catalog.Compile("", g.Grants)) {
			ids = append(ids, g.ID)
		}
	}
	return ids
}

// lowerMembers are the active memberships of p's account whose users hold nothing p does not.
func (s *simState) lowerMembers(p *latchkey.Principal) []*latchkey.Membership {
	var out []*latchkey.Membership
	for _, m := range s.members[p.AccountID] {
		if x := s.principals[simUserKey(p.AccountID, m.UserID)]; x != nil && simHolds(p.Permissions, x.perms) {
			out = append(out, m)
		}
	}
	return out
}

func (s *simState) lowerUsers(p *latchkey.Principal) []int64 {
	var ids []int64
	for _, m := range s.lowerMembers(p) {
		ids = append(ids, m.UserID)
	}
	return ids
}

func (s *simState) lowerMemberships(p *latchkey.Principal) []int64 {
	var ids []int64
	for _, m := range s.lowerMembers(p) {
		ids = append(ids, m.ID)
	}
	return ids
}

// heldTokens are the active service tokens of p's account whose grants p holds.
func (s *simState) heldTokens(p *latchkey.Principal) []int64 {
	var ids []int64
	for _, t := range s.tokens[p.AccountID] {
		if simHolds(p.Permissions, s.principals[simTokenKey(t.ID)].perms) {
			ids = append(ids, t.ID)
		}
	}
	return ids
}

var (
	simOddNames = []string{"  padded  ", "ünïcødé", strings.Repeat("é", latchkey.MaxNameLength), "Owner", "Member", "Everyone"}
	simBadNames = []string{"", "   ", "tab\there", "nul\x00name", "line\nbreak", "\u202Eevil", "bad \xff utf8",
		strings.Repeat("n", latchkey.MaxNameLength+1)}
	simBadTexts = []string{strings.Repeat("d", admin.MaxDescriptionLength+1), strings.Repeat("é", admin.MaxDescriptionLength),
		"nul\x00byte", "bad \xff utf8", "line\nbreak\ttab", "\u202Eevil"}
	simBadEmails = []string{"", "not-an-email", "Ada <ada@sim.test>", "a@b@c", strings.Repeat("a", 250) + "@sim.test",
		"  u01@sim.test  ", "U01@SIM.TEST", "nul\x00@sim.test", "bad\xff@sim.test"}
	simBadSets     = []string{"owner", "readonly", "scim_only", "no_such_set", "", "Account_Admin"}
	simBadLicenses = []latchkey.License{"", "owner", "DEVELOPER", "admin"}
	simLicenses    = []latchkey.License{latchkey.LicenseDeveloper, latchkey.LicenseReadOnly, latchkey.LicenseIT, latchkey.LicenseAnalyst}
	simPrefixes    = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.0/24"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("127.0.0.1/32")}
	simRuleCIDRs = []string{"127.0.0.1/32", "127.0.0.0/8", "10.0.0.0/8", "0.0.0.0/0", "::1/128", "192.168.0.0/16",
		"10.1.2.3", "bogus", "10.0.0.0/33", "10.0.0.1/8", ""}
	simCaller = netip.MustParseAddr("127.0.0.1")
)

func (w *simWorld) name(prefix string, pool int) string {
	switch r := w.intn(100); {
	case r < 85:
		return fmt.Sprintf("%s-%d", prefix, w.intn(pool))
	case r < 90:
		return simPick(w, simOddNames)
	}
	return simPick(w, simBadNames)
}

func (w *simWorld) description() string {
	switch r := w.intn(100); {
	case r < 50:
		return ""
	case r < 88:
		return fmt.Sprintf("description %d", w.intn(1000))
	}
	return simPick(w, simBadTexts)
}

func (w *simWorld) personName() string {
	switch r := w.intn(100); {
	case r < 50:
		return ""
	case r < 90:
		return simPick(w, []string{"Ada", "Grace", "Edsger", "Barbara"})
	}
	return simPick(w, simBadNames)
}

func (w *simWorld) email() string {
	if w.chance(90) {
		return simPick(w, w.emails)
	}
	return simPick(w, simBadEmails)
}

// license is a random license, often one p may give.
func (w *simWorld) license(p *latchkey.Principal) latchkey.License {
	if w.chance(50) {
		var held []latchkey.License
		for _, l := range simLicenses {
			if simHolds(p.Permissions, catalog.Compile(l, nil)) {
				held = append(held, l)
			}
		}
		if len(held) > 0 {
			return simPick(w, held)
		}
	}
	if w.chance(92) {
		return simPick(w, simLicenses)
	}
	return simPick(w, simBadLicenses)
}

// state is mostly delete or restore, sometimes neither.
func (w *simWorld) state() latchkey.State {
	switch r := w.intn(100); {
	case r < 55:
		return latchkey.StateDeleted
	case r < 95:
		return latchkey.StateActive
	}
	return latchkey.State(simPick(w, []int{0, 3, -1}))
}

func (w *simWorld) setName() string {
	if w.chance(90) {
		return simPick(w, catalog.Sets()).Name
	}
	return simPick(w, simBadSets)
}

// grant is a random grant: all projects, a live project of acct, a deleted, foreign or
// nonexistent one, no scope at all, or both scopes at once.
//
// Half the time, when it can find one in a few tries, the grant is one the actor may give, so
// that changes go through often enough to move the simulation along.
func (w *simWorld) grant(s *simState, p *latchkey.Principal) latchkey.Grant {
	if w.chance(50) {
		for range 20 {
			g := w.anyGrant(s, p.AccountID)
			if catalog.ValidateGrant(g) == nil && catalog.CheckEscalation(p.Permissions, g) == nil &&
				(g.AllProjects || slices.Contains(s.projectIDs(p.AccountID), g.ProjectID)) {
				return g
			}
		}
	}
	return w.anyGrant(s, p.AccountID)
}

func (w *simWorld) anyGrant(s *simState, acct int64) latchkey.Grant {
	g := latchkey.Grant{PermissionSet: w.setName()}
	live := s.projectIDs(acct)
	switch r := w.intn(100); {
	case r < 45:
		g.AllProjects = true
	case r < 80 && len(live) > 0:
		g.ProjectID = simPick(w, live)
	case r < 89:
		g.ProjectID = w.id("project", nil)
	case r < 95:
		// no scope
	default:
		g.AllProjects, g.ProjectID = true, w.id("project", live)
	}
	if w.chance(25) {
		for _, c := range latchkey.EnvCategories {
			if w.chance(35) {
				g.WritableEnvs = append(g.WritableEnvs, c)
			}
		}
		if w.chance(5) {
			g.WritableEnvs = append(g.WritableEnvs, "bogus")
		}
	}
	return g
}

func (w *simWorld) grants(s *simState, p *latchkey.Principal) []latchkey.Grant {
	n := 0
	switch r := w.intn(200); {
	case r < 20:
		return nil
	case r < 110:
		n = 1
	case r < 160:
		n = 2
	case r < 199:
		n = 3 + w.intn(3)
	default:
		n = admin.MaxGrants + 1
	}
	gs := make([]latchkey.Grant, n)
	for i := range gs {
		gs[i] = w.grant(s, p)
	}
	if w.chance(5) {
		gs = append(gs, gs[0]) // a repeat
	}
	return gs
}

// groupSet is a random set of group ids: some of acct's active groups, sometimes a deleted,
// foreign or nonexistent one, sometimes a repeat; rarely nil.
func (w *simWorld) groupSet(s *simState, p *latchkey.Principal) []int64 {
	if w.chance(4) {
		return nil
	}
	from := s.groupIDs(p.AccountID)
	if w.chance(50) {
		from = s.heldGroups(p)
	}
	ids := []int64{}
	for _, id := range from {
		if w.chance(30) {
			ids = append(ids, id)
		}
	}
	if w.chance(12) {
		ids = append(ids, w.id("group", nil))
	}
	if len(ids) > 0 && w.chance(4) {
		ids = append(ids, ids[0])
	}
	w.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids
}

func (w *simWorld) expiry() *time.Time {
	var d time.Duration
	switch r := w.intn(100); {
	case r < 60:
		return nil
	case r < 68:
		d = -time.Hour
	case r < 85:
		d = 2 * time.Hour
	case r < 95:
		d = 30 * 24 * time.Hour
	default:
		d = 20 * 365 * 24 * time.Hour
	}
	t := time.Now().Add(d)
	return &t
}

func (w *simWorld) cidrs() []netip.Prefix {
	switch r := w.intn(100); {
	case r < 85:
		return nil
	case r < 99:
		var out []netip.Prefix
		for range 1 + w.intn(2) {
			out = append(out, simPick(w, simPrefixes))
		}
		return out
	}
	return slices.Repeat(simPrefixes[:1], admin.MaxAllowedCIDRs+1)
}

func (w *simWorld) grace() *time.Duration {
	switch r := w.intn(100); {
	case r < 45:
		return nil
	case r < 65:
		return simPtr(time.Duration(0))
	case r < 85:
		return simPtr(time.Hour)
	case r < 90:
		return simPtr(-time.Second)
	case r < 95:
		return simPtr(admin.MaxGracePeriod)
	}
	return simPtr(admin.MaxGracePeriod + time.Hour)
}

// tokenRef names a token: a live service token or PAT (often the actor's own), any token seen
// (deleted, rotated, of the other account), or a hostile reference (wrong kind or owner).
func (w *simWorld) tokenRef(s *simState, p *latchkey.Principal) admin.TokenRef {
	var own []*latchkey.Token
	for _, t := range s.pats {
		if p.Kind == latchkey.PrincipalUser && t.AccountID == p.AccountID && t.UserID == p.UserID {
			own = append(own, t)
		}
	}
	switch r := w.intn(100); {
	case r < 35 && len(s.tokens[p.AccountID]) > 0:
		return admin.ServiceTokenRef(w.target("token", s.heldTokens(p), s.tokenIDs(p.AccountID)))
	case r < 50 && len(own) > 0:
		t := simPick(w, own)
		return admin.PATRef(t.UserID, t.ID)
	case r < 62 && len(s.pats) > 0:
		t := simPick(w, s.pats)
		return admin.PATRef(t.UserID, t.ID)
	case r < 85 && len(w.tokenRefs) > 0:
		return simPick(w, w.tokenRefs)
	}
	switch w.intn(3) {
	case 0:
		return admin.ServiceTokenRef(w.id("token", nil))
	case 1:
		return admin.PATRef(w.id("user", nil), w.id("token", nil))
	}
	if len(w.tokenRefs) == 0 {
		return admin.ServiceTokenRef(w.hostileID())
	}
	ref := simPick(w, w.tokenRefs)
	if ref.Kind == latchkey.KindPAT {
		return admin.ServiceTokenRef(ref.ID)
	}
	return admin.PATRef(w.id("user", nil), ref.ID)
}

// ---- The store, read independently of admin ----

func simUserKey(account, user int64) string { return fmt.Sprintf("user:%d@%d", user, account) }
func simTokenKey(token int64) string        { return fmt.Sprintf("service_token:%d", token) }

func (s *simState) projectIDs(acct int64) []int64 {
	ids := make([]int64, len(s.projects[acct]))
	for i, p := range s.projects[acct] {
		ids[i] = p.ID
	}
	return ids
}

func (s *simState) groupIDs(acct int64) []int64 {
	ids := make([]int64, len(s.groups[acct]))
	for i, g := range s.groups[acct] {
		ids[i] = g.ID
	}
	return ids
}

func (s *simState) userIDs(acct int64) []int64 {
	ids := make([]int64, len(s.members[acct]))
	for i, m := range s.members[acct] {
		ids[i] = m.UserID
	}
	return ids
}

func (s *simState) membershipIDs(acct int64) []int64 {
	ids := make([]int64, len(s.members[acct]))
	for i, m := range s.members[acct] {
		ids[i] = m.ID
	}
	return ids
}

func (s *simState) tokenIDs(acct int64) []int64 {
	ids := make([]int64, len(s.tokens[acct]))
	for i, t := range s.tokens[acct] {
		ids[i] = t.ID
	}
	return ids
}

// simAll reads every page of a list.
func simAll[T any](w *simWorld, what string, fetch func(offset int) ([]T, int, error)) []T {
	w.t.Helper()
	var out []T
	for {
		page, total, err := fetch(len(out))
		w.must(err, what)
		out = append(out, page...)
		if len(page) == 0 || len(out) >= total {
			return out
		}
	}
}

// snapshot reads the store: every principal's permissions, compiled from memberships, licenses,
// active groups and active grants (not through admin or FindMemberGrants), and a print of
// everything a step may change, a line per object, each naming its account.
func (w *simWorld) snapshot() *simState {
	w.t.Helper()
	s := &simState{principals: map[string]*simPrincipal{}, groups: map[int64][]*latchkey.Group{},
		projects: map[int64][]*latchkey.Project{}, members: map[int64][]*latchkey.Membership{},
		tokens: map[int64][]*latchkey.Token{}, accounts: map[int64]*latchkey.Account{}, admins: map[int64][]int64{},
		member: map[string]*latchkey.Membership{}, token: map[int64]*latchkey.Token{}, group: map[int64]*latchkey.Group{}}
	var b strings.Builder
	line := func(acct int64, format string, args ...any) {
		fmt.Fprintf(&b, "account %d: "+format+"\n", append([]any{acct}, args...)...)
	}
	active := latchkey.StateActive
	for _, acct := range []int64{w.acct, w.other} {
		a, err := w.store.FindAccountByID(w.ctx, acct)
		w.must(err, "FindAccountByID")
		s.accounts[acct] = a
		line(acct, "%q %s %+v", a.Name, a.Plan, a.Settings)
		groups := simAll(w, "FindGroups", func(offset int) ([]*latchkey.Group, int, error) {
			return w.store.FindGroups(w.ctx, latchkey.GroupFilter{AccountID: acct, State: &active, Offset: offset, Limit: latchkey.MaxLimit})
		})
		for _, g := range groups {
			s.group[g.ID] = g
			w.see("group", g.ID)
			w.accountOf[fmt.Sprint("group:", g.ID)] = acct
			line(acct, "group %d %q default=%v builtin=%v members=%v grants=%s", g.ID, g.Name, g.AssignByDefault, g.Builtin, g.UserIDs, simGrants(g.Grants))
		}
		s.groups[acct] = groups
		s.projects[acct] = simAll(w, "FindProjects", func(offset int) ([]*latchkey.Project, int, error) {
			return w.store.FindProjects(w.ctx, latchkey.ProjectFilter{AccountID: acct, State: &active, Offset: offset, Limit: latchkey.MaxLimit})
		})
		for _, p := range s.projects[acct] {
			w.see("project", p.ID)
			line(acct, "project %d %q %q", p.ID, p.Name, p.Description)
		}
		ms, err := w.store.FindMemberships(w.ctx, latchkey.MembershipFilter{AccountID: &acct, State: &active})
		w.must(err, "FindMemberships")
		s.members[acct] = ms
		for _, m := range ms {
			w.see("user", m.UserID)
			w.see("membership", m.ID)
			w.accountOf[fmt.Sprint("membership:", m.ID)] = acct
			line(acct, "membership %d user %d %s groups %v", m.ID, m.UserID, m.License, m.GroupIDs)
			var grants []latchkey.Grant
			for _, id := range m.GroupIDs {
				g := s.group[id]
				if g == nil || g.AccountID != acct {
					w.failf("invariant: user %d's membership in account %d lists group %d, which is not an active group of the account", m.UserID, acct, id)
				}
				grants = append(grants, g.Grants...)
			}
			k := simUserKey(acct, m.UserID)
			s.member[k] = m
			s.add(&simPrincipal{key: k, account: acct, kind: latchkey.PrincipalUser, id: m.UserID,
				license: m.License, perms: catalog.Compile(m.License, grants)})
		}
		s.admins[acct], err = w.store.FindAccountAdmins(w.ctx, acct)
		w.must(err, "FindAccountAdmins")
		_, n, err := w.store.FindAuditEntries(w.ctx, latchkey.AuditFilter{AccountID: acct, Limit: 1})
		w.must(err, "FindAuditEntries")
		line(acct, "%d audit entries, owners %v", n, s.admins[acct])
	}
	for _, kind := range []latchkey.TokenKind{latchkey.KindServiceToken, latchkey.KindPAT} {
		toks := simAll(w, "FindTokens", func(offset int) ([]*latchkey.Token, int, error) {
			return w.store.FindTokens(w.ctx, latchkey.TokenFilter{Kind: &kind, State: &active, Offset: offset, Limit: latchkey.MaxLimit})
		})
		for _, t := range toks {
			w.seeToken(t)
			s.token[t.ID] = t
			line(t.AccountID, "%s", simToken(t))
			if kind == latchkey.KindPAT {
				s.pats = append(s.pats, t)
				continue
			}
			s.tokens[t.AccountID] = append(s.tokens[t.AccountID], t)
			s.add(&simPrincipal{key: simTokenKey(t.ID), account: t.AccountID, kind: latchkey.PrincipalServiceToken, id: t.ID,
				name: t.Name, perms: catalog.Compile("", t.Grants), retired: t.RotatedOut(time.Now()) || t.Expired(time.Now())})
		}
	}
	rules, err := w.store.FindIPRules(w.ctx, w.acct)
	w.must(err, "FindIPRules")
	s.rules = rules
	for _, r := range rules {
		w.see("rule", r.ID)
		line(w.acct, "ip rule %d %q type %d state %d %q %v", r.ID, r.Name, r.Type, r.State, r.Description, r.CIDRs)
	}
	_, users, err := w.store.FindUsers(w.ctx, latchkey.UserFilter{Limit: 1})
	w.must(err, "FindUsers")
	fmt.Fprintf(&b, "%d users\n", users)
	sort.Strings(s.keys)
	s.print = b.String()
	return s
}

// simToken writes what a step may change about a token.
func simToken(t *latchkey.Token) string {
	exp := "never"
	if t.ExpiresAt != nil {
		exp = t.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%s %d user %d %q expires %s replaced_by %d cidrs %v grants %s",
		t.Kind, t.ID, t.UserID, t.Name, exp, t.ReplacedByID, t.AllowedCIDRs, simGrants(t.Grants))
}

// accountPrint is the part of the print about account acct.
func (s *simState) accountPrint(acct int64) string {
	var out []string
	prefix := fmt.Sprintf("account %d: ", acct)
	for l := range strings.Lines(s.print) {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

func (s *simState) add(p *simPrincipal) {
	s.principals[p.key] = p
	s.keys = append(s.keys, p.key)
}

func simGrants(gs []latchkey.Grant) string {
	parts := make([]string, len(gs))
	for i, g := range gs {
		where := "all"
		if !g.AllProjects {
			where = fmt.Sprint("project ", g.ProjectID)
		}
		parts[i] = g.PermissionSet + " on " + where
		if len(g.WritableEnvs) > 0 {
			parts[i] += fmt.Sprint(" writes in ", g.WritableEnvs)
		}
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// simDiff lists the lines of a that b lacks and those of b that a lacks.
func simDiff(a, b string) string {
	if a == b {
		return ""
	}
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for _, l := range la {
		if !slices.Contains(lb, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range lb {
		if !slices.Contains(la, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// ---- Principals ----

var (
	simAdminPerms    = catalog.Compile("", []latchkey.Grant{{PermissionSet: "account_admin", AllProjects: true}})
	simSecurityPerms = catalog.Compile("", []latchkey.Grant{{PermissionSet: "security_admin", AllProjects: true}})
	simClasses       = []struct {
		name   string
		weight int
	}{{"admin", 4}, {"security admin", 3}, {"member", 3}, {"read-only", 2}, {"token", 3}, {"other account", 1}}
)

func simHolds(have, want *latchkey.Permissions) bool {
	_, missing := catalog.Gap(have, want)
	return !missing
}

func (w *simWorld) class(x *simPrincipal) string {
	switch {
	case x.account != w.acct:
		return "other account"
	case x.kind == latchkey.PrincipalServiceToken:
		return "token"
	case simHolds(x.perms, simAdminPerms):
		return "admin"
	case simHolds(x.perms, simSecurityPerms):
		return "security admin"
	case x.license == latchkey.LicenseReadOnly:
		return "read-only"
	}
	return "member"
}

// pickActor picks a class of principal, then one of them, so that every class acts often.
func (w *simWorld) pickActor(s *simState) (*simPrincipal, string) {
	byClass := map[string][]*simPrincipal{}
	for _, k := range s.keys {
		x := s.principals[k]
		if x.retired {
			continue
		}
		c := w.class(x)
		byClass[c] = append(byClass[c], x)
	}
	total := 0
	for _, c := range simClasses {
		if len(byClass[c.name]) > 0 {
			total += c.weight
		}
	}
	r := w.intn(total)
	for _, c := range simClasses {
		if len(byClass[c.name]) == 0 {
			continue
		}
		if r < c.weight {
			return simPick(w, byClass[c.name]), c.name
		}
		r -= c.weight
	}
	panic("unreachable")
}

// principal is the principal x acts as now: a user through UserPrincipal (checked against what
// the memberships and groups give), a service token through its grants.
func (w *simWorld) principal(x *simPrincipal) *latchkey.Principal {
	w.t.Helper()
	if x.kind == latchkey.PrincipalServiceToken {
		return &latchkey.Principal{Kind: latchkey.PrincipalServiceToken, Method: latchkey.AuthServiceToken,
			AccountID: x.account, TokenID: x.id, Name: x.name, Permissions: x.perms}
	}
	p, err := w.svc.UserPrincipal(w.ctx, x.id, x.account, latchkey.AuthPAT)
	if err != nil {
		w.failf("UserPrincipal(user %d, account %d) of an active member: %v", x.id, x.account, err)
	}
	if d, missing := catalog.Gap(x.perms, p.Permissions); missing {
		w.failf("invariant: UserPrincipal(%s) holds more than its membership and groups give: %s", x.key, d.Reason())
	}
	if d, missing := catalog.Gap(p.Permissions, x.perms); missing {
		w.failf("invariant: UserPrincipal(%s) holds less than its membership and groups give: %s", x.key, d.Reason())
	}
	return p
}

// ---- Invariants ----

// checkState checks what must hold in any state of the store.
func (w *simWorld) checkState(s *simState) {
	w.t.Helper()
	for _, acct := range []int64{w.acct, w.other} {
		// The account keeps an owner, and FindAccountAdmins names exactly its owners: active
		// developer-licensed members of an active group granting account_admin on all projects.
		if len(s.admins[acct]) == 0 {
			w.failf("invariant: account %d has no owner (FindAccountAdmins is empty)", acct)
		}
		ownerGroups := map[int64]bool{}
		builtins := map[string]bool{}
		names := map[string]int64{}
		for _, g := range s.groups[acct] {
			if prev, dup := names[g.Name]; dup {
				w.failf("invariant: account %d has two active groups named %q (%d and %d)", acct, g.Name, prev, g.ID)
			}
			names[g.Name] = g.ID
			if g.Builtin {
				builtins[g.Name] = true
			}
			if g.Builtin && g.Name == latchkey.GroupOwner &&
				(len(g.Grants) != 1 || g.Grants[0].PermissionSet != "account_admin" || !g.Grants[0].AllProjects) {
				w.failf("invariant: the Owner group %d of account %d changed its grants: %s", g.ID, acct, simGrants(g.Grants))
			}
			for _, gr := range g.Grants {
				if catalog.Canonical(gr.PermissionSet) == "account_admin" && gr.AllProjects {
					ownerGroups[g.ID] = true
				}
			}
		}
		for _, b := range []string{latchkey.GroupOwner, latchkey.GroupMember, latchkey.GroupEveryone} {
			if !builtins[b] {
				w.failf("invariant: account %d lost its built-in group %s", acct, b)
			}
		}
		var owners []int64
		for _, m := range s.members[acct] {
			if m.License == latchkey.LicenseDeveloper && slices.ContainsFunc(m.GroupIDs, func(id int64) bool { return ownerGroups[id] }) {
				owners = append(owners, m.UserID)
			}
		}
		slices.Sort(owners)
		if !slices.Equal(owners, s.admins[acct]) {
			w.failf("invariant: account %d: FindAccountAdmins = %v, but the memberships and groups make %v owners", acct, s.admins[acct], owners)
		}
		for _, id := range owners {
			if p := s.principals[simUserKey(acct, id)]; !simHolds(p.perms, simAdminPerms) {
				w.failf("invariant: owner %d of account %d does not hold account_admin on all projects", id, acct)
			}
		}
		projects := map[string]int64{}
		for _, p := range s.projects[acct] {
			if prev, dup := projects[p.Name]; dup {
				w.failf("invariant: account %d has two active projects named %q (%d and %d)", acct, p.Name, prev, p.ID)
			}
			projects[p.Name] = p.ID
		}
	}
	// A removed member keeps no personal access tokens.
	for _, t := range s.pats {
		if s.principals[simUserKey(t.AccountID, t.UserID)] == nil {
			w.failf("invariant: PAT %d of user %d is active in account %d, where the user is not an active member", t.ID, t.UserID, t.AccountID)
		}
	}
	// Enforced IP rules never lock out the only address anyone acts from.
	if s.accounts[w.acct].Settings.IPRestrictionsEnabled {
		pol, err := latchkey.CompileIPRules(s.rules)
		if err != nil {
			w.failf("invariant: the enforced IP rules do not compile: %v", err)
		}
		if !pol.Allows(simCaller) {
			w.failf("invariant: the enforced IP rules block %s, the address of every change", simCaller)
		}
	}
}

// checkNoEscalation checks that nobody gained access that the actor did not hold: every
// principal other than the actor holds at most what it held before together with what the actor
// held (only what it held before, in another account), and the actor at most what it held.
func (w *simWorld) checkNoEscalation(before, after *simState, actorKey string, actor *latchkey.Principal) {
	w.t.Helper()
	for _, k := range after.keys {
		x := after.principals[k]
		old := &latchkey.Permissions{}
		if o := before.principals[k]; o != nil {
			old = o.perms
		}
		allowed, why := simMerge(old, actor.Permissions), "what it held before together with what the actor held"
		switch {
		case k == actorKey:
			allowed, why = actor.Permissions, "what it held before (it acted)"
		case x.account != actor.AccountID:
			allowed, why = old, "what it held before (another account)"
		}
		if d, missing := catalog.Gap(allowed, x.perms); missing {
			w.failf("invariant: %s gained access no one granted: it now %s, beyond %s\nbefore: %s\nactor:  %s\nnow:    %s",
				k, strings.TrimPrefix(d.Reason(), "requires "), why, simPerms(old), simPerms(actor.Permissions), simPerms(x.perms))
		}
	}
}

// checkActedBelow checks that the actor changed nothing in another account, and nothing
// belonging to a principal holding access it does not hold itself: no user's license,
// membership, groups (other than through editing a group, checked on the group) or personal
// access tokens, no service token, and no group's grants.
func (w *simWorld) checkActedBelow(before, after *simState, actorKey string, actor *latchkey.Principal, op string) {
	w.t.Helper()
	for _, acct := range []int64{w.acct, w.other} {
		if acct == actor.AccountID {
			continue
		}
		if d := simDiff(before.accountPrint(acct), after.accountPrint(acct)); d != "" {
			w.failf("invariant: a step in account %d changed account %d:\n%s", actor.AccountID, acct, d)
		}
	}
	below := func(what string, old *latchkey.Permissions) {
		if d, missing := catalog.Gap(actor.Permissions, old); missing {
			w.failf("invariant: the actor changed %s, which held access the actor did not: it %s\nit held: %s\nactor:   %s",
				what, strings.TrimPrefix(d.Reason(), "requires "), simPerms(old), simPerms(actor.Permissions))
		}
	}
	for _, k := range before.keys {
		x := before.principals[k]
		if k == actorKey || x.account != actor.AccountID {
			continue
		}
		if x.kind == latchkey.PrincipalUser {
			m0, m1 := before.member[k], after.member[k]
			if m1 == nil || m1.License != m0.License || op != "UpdateGroup" && !slices.Equal(m0.GroupIDs, m1.GroupIDs) {
				now := "removed"
				if m1 != nil {
					now = fmt.Sprintf("%s in groups %v", m1.License, m1.GroupIDs)
				}
				below(fmt.Sprintf("%s (%s in groups %v, now %s)", k, m0.License, m0.GroupIDs, now), x.perms)
			}
			continue
		}
		if t0, t1 := before.token[x.id], after.token[x.id]; t1 == nil || simToken(t0) != simToken(t1) {
			below(k, x.perms)
		}
	}
	for _, t0 := range before.pats {
		k := simUserKey(t0.AccountID, t0.UserID)
		if t1 := after.token[t0.ID]; k != actorKey && t0.AccountID == actor.AccountID && (t1 == nil || simToken(t0) != simToken(t1)) {
			below(fmt.Sprintf("personal access token %d of %s", t0.ID, k), before.principals[k].perms)
		}
	}
	for _, g0 := range before.groups[actor.AccountID] {
		if g1 := after.group[g0.ID]; g1 == nil || simGrants(g0.Grants) != simGrants(g1.Grants) {
			below(fmt.Sprintf("the grants or state of group %d %q", g0.ID, g0.Name), catalog.Compile("", g0.Grants))
		}
	}
}

// simMerge returns the pointwise maximum of a and b.
func simMerge(a, b *latchkey.Permissions) *latchkey.Permissions {
	m := &latchkey.Permissions{}
	for r := range latchkey.NumResources {
		m.Account[r] = max(a.Account[r], b.Account[r])
	}
	m.AllProjects = simMergeScope(a.AllProjects, b.AllProjects)
	for _, ps := range slices.Concat(a.Projects, b.Projects) {
		i := slices.IndexFunc(m.Projects, func(x latchkey.ProjectScope) bool { return x.ProjectID == ps.ProjectID })
		if i < 0 {
			m.Projects = append(m.Projects, ps)
			continue
		}
		m.Projects[i].Scope = simMergeScope(m.Projects[i].Scope, ps.Scope)
	}
	m.SortProjects()
	return m
}

func simMergeScope(a, b latchkey.Scope) latchkey.Scope {
	var s latchkey.Scope
	for r := range latchkey.NumResources {
		s.Access[r] = max(a.Access[r], b.Access[r])
		s.WritableEnvs[r] = a.WritableEnvs[r] | b.WritableEnvs[r]
	}
	return s
}

// simPerms writes permissions compactly, for failure messages.
func simPerms(p *latchkey.Permissions) string {
	scope := func(s latchkey.Scope) string {
		var parts []string
		for r := range latchkey.NumResources {
			if s.Access[r] != latchkey.AccessNone {
				part := r.Name() + ":" + s.Access[r].String()
				if s.WritableEnvs[r] != 0 {
					part += fmt.Sprintf("(envs %b)", s.WritableEnvs[r])
				}
				parts = append(parts, part)
			}
		}
		return strings.Join(parts, " ")
	}
	var acct []string
	for r := range latchkey.NumResources {
		if p.Account[r] != latchkey.AccessNone {
			acct = append(acct, r.Name()+":"+p.Account[r].String())
		}
	}
	out := "account {" + strings.Join(acct, " ") + "} all projects {" + scope(p.AllProjects) + "}"
	for _, ps := range p.Projects {
		out += fmt.Sprintf(" project %d {%s}", ps.ProjectID, scope(ps.Scope))
	}
	return out
}

// finalChecks verifies the audit chain and, once more, every user principal.
func (w *simWorld) finalChecks(s *simState) {
	w.t.Helper()
	n, brk, err := latchkey.VerifyAuditChain(w.ctx, w.store)
	w.must(err, "VerifyAuditChain")
	if brk != nil {
		w.failf("invariant: the audit chain breaks at entry %d: %s", brk.EntryID, brk.Reason)
	}
	prev, links := "", 0
	w.must(w.store.AuditChain(w.ctx, time.Time{}, func(e *latchkey.AuditEntry) error {
		if e.PrevHash != prev {
			w.failf("invariant: audit entry %d has prev_hash %q, the entry before it has hash %q", e.ID, e.PrevHash, prev)
		}
		prev, links = e.Hash, links+1
		return nil
	}), "AuditChain")
	if links != n || n == 0 {
		w.failf("AuditChain walked %d entries, VerifyAuditChain %d", links, n)
	}
	for _, k := range s.keys {
		if x := s.principals[k]; x.kind == latchkey.PrincipalUser {
			w.principal(x)
		}
	}
	w.t.Logf("seed %d: %d audit entries chain; %d principals at the end (%d users and %d service tokens active in the simulated account)",
		w.seed, n, len(s.keys), len(s.members[w.acct]), len(s.tokens[w.acct]))
}

func (w *simWorld) logStats() {
	names := make([]string, 0, len(w.stats))
	for n := range w.stats {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		st := w.stats[n]
		codes := make([]string, 0, len(st.refused))
		total := 0
		for c, k := range st.refused {
			codes = append(codes, fmt.Sprintf("%s %d", c, k))
			total += k
		}
		sort.Strings(codes)
		fmt.Fprintf(&b, "\n  %-22s %5d ok %4d dry-run ok %5d refused (%s)", n, st.ok, st.dry, total, strings.Join(codes, ", "))
	}
	w.t.Logf("seed %d: operations:%s", w.seed, b.String())
}

// ---- Setup ----

// setup creates the simulated account and its population through the admin layer, and a second
// account, on another plan, sharing the owner and one member.
func (w *simWorld) setup() {
	w.t.Helper()
	w.where = "setup"
	res, err := w.svc.CreateAccount(w.ctx, admin.Bootstrap{Account: "Sim", Plan: latchkey.PlanEnterprise,
		Email: "owner@sim.test", Password: "correct horse battery staple 1"})
	w.must(err, "CreateAccount")
	w.acct, w.owner = res.Account.ID, res.User.ID
	res, err = w.svc.CreateAccount(w.ctx, admin.Bootstrap{Account: "Other", Plan: latchkey.PlanTeam, Email: "owner@sim.test"})
	w.must(err, "CreateAccount (other)")
	w.other = res.Account.ID

	as := func(user, acct int64) (context.Context, *latchkey.Principal) {
		p, err := w.svc.UserPrincipal(w.ctx, user, acct, latchkey.AuthPAT)
		w.must(err, "UserPrincipal")
		return latchkey.WithActor(w.ctx, latchkey.ActorOf(p, "127.0.0.1", "api")), p
	}
	ctx, owner := as(w.owner, w.acct)
	project := map[string]int64{}
	for _, n := range []string{"alpha", "beta", "gamma", "delta"} {
		pr, err := w.svc.CreateProject(ctx, owner, admin.NewProject{Name: n})
		w.must(err, "CreateProject "+n)
		project[n] = pr.ID
	}
	all := func(set string, envs ...latchkey.EnvCategory) latchkey.Grant {
		return latchkey.Grant{PermissionSet: set, AllProjects: true, WritableEnvs: envs}
	}
	on := func(set, p string, envs ...latchkey.EnvCategory) latchkey.Grant {
		return latchkey.Grant{PermissionSet: set, ProjectID: project[p], WritableEnvs: envs}
	}
	group := map[string]int64{}
	groups, _, err := w.store.FindGroups(w.ctx, latchkey.GroupFilter{AccountID: w.acct})
	w.must(err, "FindGroups")
	for _, g := range groups {
		group[g.Name] = g.ID
	}
	for _, g := range []admin.NewGroup{
		{Name: "Admins", Grants: []latchkey.Grant{all("account_admin")}},
		{Name: "Security", Grants: []latchkey.Grant{all("security_admin")}},
		{Name: "Alpha devs", Grants: []latchkey.Grant{on("developer", "alpha", latchkey.EnvDevelopment)}},
		{Name: "Jobs", Grants: []latchkey.Grant{on("job_admin", "beta"), on("job_runner", "gamma")}},
		{Name: "Analysts", Grants: []latchkey.Grant{all("analyst", latchkey.EnvStaging)}},
		{Name: "Viewers", Grants: []latchkey.Grant{all("stakeholder"), all("account_viewer")}},
	} {
		created, err := w.svc.CreateGroup(ctx, owner, g)
		w.must(err, "CreateGroup "+g.Name)
		group[g.Name] = created.ID
	}
	users := map[string]int64{}
	for _, m := range []struct {
		email   string
		license latchkey.License
		groups  []string // nil: the default groups
	}{
		{"admin1@sim.test", latchkey.LicenseDeveloper, []string{"Admins", "Everyone"}},
		{"sec1@sim.test", latchkey.LicenseDeveloper, []string{"Security"}},
		{"sec2@sim.test", latchkey.LicenseAnalyst, []string{"Security", "Analysts"}},
		{"dev1@sim.test", latchkey.LicenseDeveloper, nil},
		{"dev2@sim.test", latchkey.LicenseDeveloper, []string{"Alpha devs", "Jobs"}},
		{"ana1@sim.test", latchkey.LicenseAnalyst, []string{"Analysts"}},
		{"ro1@sim.test", latchkey.LicenseReadOnly, nil},
		{"ro2@sim.test", latchkey.LicenseReadOnly, []string{"Viewers"}},
		{"it1@sim.test", latchkey.LicenseIT, nil},
		{"it2@sim.test", latchkey.LicenseIT, []string{"Security"}},
	} {
		in := admin.NewMember{Email: m.email, License: m.license}
		for _, g := range m.groups {
			in.GroupIDs = append(in.GroupIDs, group[g])
		}
		u, err := w.svc.AddMember(ctx, owner, in)
		w.must(err, "AddMember "+m.email)
		users[m.email] = u.ID
		w.emails = append(w.emails, m.email)
	}
	for i := range 20 {
		w.emails = append(w.emails, fmt.Sprintf("u%02d@sim.test", i))
	}
	w.emails = append(w.emails, "owner@sim.test")
	for _, tok := range []admin.NewToken{
		{Name: "ci-alpha", Grants: []latchkey.Grant{on("job_runner", "alpha")}},
		{Name: "metadata", Grants: []latchkey.Grant{all("metadata_only")}},
		{Name: "sec-bot", Grants: []latchkey.Grant{all("security_admin")}},
		{Name: "admin-bot", Grants: []latchkey.Grant{all("account_admin")}},
		{Name: "member-bot", Grants: []latchkey.Grant{all("member")}},
		{Name: "jobs-bot", Grants: []latchkey.Grant{on("job_admin", "beta"), on("developer", "gamma", latchkey.EnvProduction)}},
	} {
		_, _, err := w.svc.CreateServiceToken(ctx, owner, tok)
		w.must(err, "CreateServiceToken "+tok.Name)
	}
	dctx, dev := as(users["dev1@sim.test"], w.acct)
	_, _, err = w.svc.CreatePAT(dctx, dev, dev.UserID, admin.NewToken{Name: "dev1's laptop"})
	w.must(err, "CreatePAT")

	// The other account: its own project, group, token, and dev1 as a member there too.
	octx, other := as(w.owner, w.other)
	opr, err := w.svc.CreateProject(octx, other, admin.NewProject{Name: "other-alpha"})
	w.must(err, "CreateProject (other)")
	og, err := w.svc.CreateGroup(octx, other, admin.NewGroup{Name: "Other team", Grants: []latchkey.Grant{
		all("job_admin"), {PermissionSet: "developer", ProjectID: opr.ID}}})
	w.must(err, "CreateGroup (other)")
	_, err = w.svc.AddMember(octx, other, admin.NewMember{Email: "dev1@sim.test", License: latchkey.LicenseDeveloper, GroupIDs: []int64{og.ID}})
	w.must(err, "AddMember (other)")
	_, _, err = w.svc.CreateServiceToken(octx, other, admin.NewToken{Name: "other-bot", Grants: []latchkey.Grant{all("job_admin")}})
	w.must(err, "CreateServiceToken (other)")
}

// ---- Operations ----

type simOp struct {
	name   string
	weight int
	// readOnly operations change nothing, whatever they return.
	readOnly bool
	// enabled, when set, says whether the operation may run now (keeping the population bounded).
	enabled func(s *simState, w *simWorld) bool
	run     func(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error
}

func (w *simWorld) pickOp(s *simState) simOp {
	total := 0
	var ops []simOp
	for _, op := range simOperations {
		if op.enabled == nil || op.enabled(s, w) {
			ops = append(ops, op)
			total += op.weight
		}
	}
	r := w.intn(total)
	for _, op := range ops {
		if r < op.weight {
			return op
		}
		r -= op.weight
	}
	panic("unreachable")
}

const (
	simMaxTokens = 30 // active service tokens of the simulated account, roughly
	simMaxPATs   = 30
)

func simFewTokens(s *simState, w *simWorld) bool { return len(s.tokens[w.acct]) < simMaxTokens }

var simOperations = []simOp{
	{name: "CreateProject", weight: 3, run: simCreateProject},
	{name: "UpdateProject", weight: 3, run: simUpdateProject},
	{name: "DeleteProject", weight: 2, run: simDeleteProject},
	{name: "CreateGroup", weight: 4, run: simCreateGroup},
	{name: "UpdateGroup", weight: 6, run: simUpdateGroup},
	{name: "SetUserGroups", weight: 5, run: simSetUserGroups},
	{name: "SetGroupMembers", weight: 4, run: simSetGroupMembers},
	{name: "AddMember", weight: 4, run: simAddMember},
	{name: "UpdateMembership", weight: 5, run: simUpdateMembership},
	{name: "CreateServiceToken", weight: 3, run: simCreateServiceToken, enabled: simFewTokens},
	{name: "SetServiceTokenGrants", weight: 3, run: simSetServiceTokenGrants},
	{name: "RotateToken", weight: 3, run: simRotateToken, enabled: simFewTokens},
	{name: "UpdateToken", weight: 3, run: simUpdateToken},
	{name: "DeleteToken", weight: 2, run: simDeleteToken},
	{name: "CreatePAT", weight: 2, run: simCreatePAT, enabled: func(s *simState, _ *simWorld) bool { return len(s.pats) < simMaxPATs }},
	{name: "UpdateSettings", weight: 1, run: simUpdateSettings},
	{name: "RenameAccount", weight: 1, run: simRenameAccount},
	{name: "CreateIPRule", weight: 1, run: simCreateIPRule},
	{name: "UpdateIPRule", weight: 1, run: simUpdateIPRule},
	{name: "DeleteIPRule", weight: 1, run: simDeleteIPRule},
	{name: "SetIPEnforcement", weight: 1, run: simSetIPEnforcement},
	{name: "Read", weight: 3, run: simRead, readOnly: true},
}

func simOpt[T any](v *T) string {
	if v == nil {
		return "unchanged"
	}
	if s, ok := any(*v).(string); ok {
		return simShort(s)
	}
	return fmt.Sprint(*v)
}

func simShort(s string) string {
	if r := []rune(s); len(r) > 40 {
		return fmt.Sprintf("%q…(%d characters)", string(r[:40]), len(r))
	}
	return fmt.Sprintf("%q", s)
}

func simCreateProject(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	name, desc := w.name("project", 10), w.description()
	w.describe("name %s, description %s", simShort(name), simShort(desc))
	_, err := w.svc.CreateProject(ctx, p, admin.NewProject{Name: name, Description: desc})
	return err
}

func simUpdateProject(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	id := w.id("project", s.projectIDs(p.AccountID))
	var upd latchkey.ProjectUpdate
	if w.chance(60) {
		upd.Name = simPtr(w.name("project", 10))
	}
	if w.chance(50) {
		upd.Description = simPtr(w.description())
	}
	w.describe("project %d, name %s, description %s", id, simOpt(upd.Name), simOpt(upd.Description))
	_, err := w.svc.UpdateProject(ctx, p, id, upd)
	return err
}

func simDeleteProject(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	id := w.id("project", s.projectIDs(p.AccountID))
	w.describe("project %d", id)
	_, err := w.svc.DeleteProject(ctx, p, id)
	return err
}

func simCreateGroup(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	in := admin.NewGroup{Name: w.name("group", 12), AssignByDefault: w.chance(15), Grants: w.grants(s, p)}
	w.describe("name %s, assign_by_default %v, grants %s", simShort(in.Name), in.AssignByDefault, simGrants(in.Grants))
	_, err := w.svc.CreateGroup(ctx, p, in)
	return err
}

func simUpdateGroup(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	id := w.target("group", s.heldGroups(p), s.groupIDs(p.AccountID))
	var c admin.GroupChange
	if deleted := w.gone("group", p.AccountID, s.groupIDs(p.AccountID)); len(deleted) > 0 && w.chance(15) {
		id = simPick(w, deleted)
		if w.chance(70) {
			c.State = simPtr(latchkey.StateActive)
		}
	}
	if w.chance(25) {
		c.Name = simPtr(w.name("group", 12))
	}
	if w.chance(25) {
		c.AssignByDefault = simPtr(w.chance(50))
	}
	if c.State == nil && w.chance(35) {
		c.State = simPtr(w.state())
	}
	grants := "unchanged"
	if w.chance(40) {
		gs := w.grants(s, p)
		c.Grants, grants = &gs, simGrants(gs)
	}
	w.describe("group %d, name %s, assign_by_default %s, state %s, grants %s", id, simOpt(c.Name), simOpt(c.AssignByDefault), simOpt(c.State), grants)
	_, err := w.svc.UpdateGroup(ctx, p, id, c)
	return err
}

func simSetUserGroups(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	user, ids := w.target("user", s.lowerUsers(p), s.userIDs(p.AccountID)), w.groupSet(s, p)
	w.describe("user %d, groups %v (nil: %v)", user, ids, ids == nil)
	_, err := w.svc.SetUserGroups(ctx, p, user, ids)
	return err
}

func simSetGroupMembers(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	id := w.target("group", s.heldGroups(p), s.groupIDs(p.AccountID))
	members := map[int64]bool{}
	var users []int64
	for range 1 + w.intn(4) {
		u := w.target("user", s.lowerUsers(p), s.userIDs(p.AccountID))
		if _, dup := members[u]; !dup {
			users = append(users, u)
		}
		members[u] = w.chance(55)
	}
	var parts []string
	for _, u := range users {
		parts = append(parts, fmt.Sprintf("%d:%v", u, members[u]))
	}
	w.describe("group %d, members %s", id, strings.Join(parts, " "))
	_, _, err := w.svc.SetGroupMembers(ctx, p, id, members)
	return err
}

func simAddMember(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	in := admin.NewMember{Email: w.email(), License: w.license(p), FirstName: w.personName(), LastName: w.personName(),
		NeedsPassword: w.chance(10)}
	if w.chance(50) {
		in.GroupIDs = w.groupSet(s, p)
	}
	switch r := w.intn(1000); {
	case r < 25:
		in.Password = "too short"
	case r < 35:
		in.Password = "correct horse battery staple 2" // hashing is slow: rarely
	}
	w.describe("email %s, license %q, groups %v (nil: %v), names %s %s, password %v, needs password %v",
		simShort(in.Email), in.License, in.GroupIDs, in.GroupIDs == nil, simShort(in.FirstName), simShort(in.LastName), in.Password != "", in.NeedsPassword)
	_, err := w.svc.AddMember(ctx, p, in)
	return err
}

func simUpdateMembership(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	id := w.target("membership", s.lowerMemberships(p), s.membershipIDs(p.AccountID))
	var upd latchkey.MembershipUpdate
	if removed := w.gone("membership", p.AccountID, s.membershipIDs(p.AccountID)); len(removed) > 0 && w.chance(15) {
		id = simPick(w, removed)
		if w.chance(70) {
			upd.State = simPtr(latchkey.StateActive)
		}
	}
	if w.chance(55) {
		upd.License = simPtr(w.license(p))
	}
	if upd.State == nil && w.chance(50) {
		upd.State = simPtr(w.state())
	}
	w.describe("membership %d, license %s, state %s", id, simOpt(upd.License), simOpt(upd.State))
	_, err := w.svc.UpdateMembership(ctx, p, id, upd)
	return err
}

func simCreateServiceToken(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	in := admin.NewToken{Name: w.name("token", 20), ExpiresAt: w.expiry(), AllowedCIDRs: w.cidrs(), Grants: w.grants(s, p)}
	w.describe("name %s, expires %v, %d cidrs, grants %s", simShort(in.Name), simOpt(in.ExpiresAt), len(in.AllowedCIDRs), simGrants(in.Grants))
	_, _, err := w.svc.CreateServiceToken(ctx, p, in)
	return err
}

func simSetServiceTokenGrants(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	id, grants, replace := w.target("token", s.heldTokens(p), s.tokenIDs(p.AccountID)), w.grants(s, p), w.chance(75)
	w.describe("token %d, replace %v, grants %s", id, replace, simGrants(grants))
	_, err := w.svc.SetServiceTokenGrants(ctx, p, id, grants, replace)
	return err
}

func simRotateToken(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	ref := w.tokenRef(s, p)
	r := admin.Rotation{Grace: w.grace()}
	if w.chance(30) {
		r.ExpiresAt = w.expiry()
	}
	w.describe("%+v, grace %s, expires %s", ref, simOpt(r.Grace), simOpt(r.ExpiresAt))
	_, _, _, err := w.svc.RotateToken(ctx, p, ref, r)
	return err
}

func simUpdateToken(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	ref := w.tokenRef(s, p)
	var upd latchkey.TokenUpdate
	if w.chance(50) {
		upd.Name = simPtr(w.name("token", 20))
	}
	if w.chance(50) {
		upd.State = simPtr(w.state())
	}
	w.describe("%+v, name %s, state %s", ref, simOpt(upd.Name), simOpt(upd.State))
	_, err := w.svc.UpdateToken(ctx, p, ref, upd)
	return err
}

func simDeleteToken(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	ref := w.tokenRef(s, p)
	w.describe("%+v", ref)
	_, err := w.svc.DeleteToken(ctx, p, ref)
	return err
}

func simCreatePAT(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	user := p.UserID
	if p.Kind != latchkey.PrincipalUser || w.chance(15) {
		user = w.id("user", s.userIDs(p.AccountID))
	}
	in := admin.NewToken{Name: w.name("pat", 10), ExpiresAt: w.expiry()}
	if w.chance(5) {
		in.Grants = w.grants(s, p)
	}
	if w.chance(3) {
		in.AllowedCIDRs = w.cidrs()
	}
	w.describe("user %d, name %s, expires %s, %d grants, %d cidrs", user, simShort(in.Name), simOpt(in.ExpiresAt), len(in.Grants), len(in.AllowedCIDRs))
	_, _, err := w.svc.CreatePAT(ctx, p, user, in)
	return err
}

func simUpdateSettings(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	var u admin.SettingsUpdate
	if w.chance(40) {
		u.ReuseRevokesFamily = simPtr(w.chance(50))
	}
	if w.chance(40) {
		u.LeakAction = simPtr(simPick(w, []string{"revoke", "flag", "delete", ""}))
	}
	if w.chance(40) {
		u.MaxTokenLifetime = simPtr(simPick(w, []time.Duration{0, 24 * time.Hour, 90 * 24 * time.Hour, admin.MaxTokenLifetimeCap,
			-time.Second, 1500 * time.Millisecond, admin.MaxTokenLifetimeCap + time.Second}))
	}
	if w.chance(40) {
		u.DefaultRotationGrace = simPtr(simPick(w, []time.Duration{0, time.Hour, admin.MaxGracePeriod,
			admin.MaxGracePeriod + time.Second, -time.Second, 2500 * time.Millisecond}))
	}
	w.describe("reuse revokes family %s, leak action %s, max lifetime %s, default grace %s",
		simOpt(u.ReuseRevokesFamily), simOpt(u.LeakAction), simOpt(u.MaxTokenLifetime), simOpt(u.DefaultRotationGrace))
	_, err := w.svc.UpdateSettings(ctx, p, u)
	return err
}

func simRenameAccount(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	name := w.name("Sim", 5)
	w.describe("name %s", simShort(name))
	_, err := w.svc.RenameAccount(ctx, p, name)
	return err
}

func (w *simWorld) enable() *bool {
	switch r := w.intn(100); {
	case r < 25:
		return simPtr(true)
	case r < 45:
		return simPtr(false)
	}
	return nil
}

func (w *simWorld) ruleType() latchkey.IPRuleType {
	return latchkey.IPRuleType(simPick(w, []int{1, 1, 2, 0}))
}

func (w *simWorld) ruleCIDRs() []latchkey.IPRuleCIDR {
	var cidrs []string
	for range w.intn(4) {
		cidrs = append(cidrs, simPick(w, simRuleCIDRs))
	}
	return latchkey.Ranges(cidrs...)
}

// liveRules are the simulated account's active IP rules.
func (s *simState) liveRules() []int64 {
	var ids []int64
	for _, r := range s.rules {
		if r.State == latchkey.StateActive {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

func simCreateIPRule(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	rule := &latchkey.IPRule{Name: w.name("rule", 6), Type: w.ruleType(), Description: w.description(), CIDRs: w.ruleCIDRs()}
	enable := w.enable()
	w.describe("name %s, type %d, cidrs %q, description %s, enable %s", simShort(rule.Name), rule.Type, rule.CIDRs, simShort(rule.Description), simOpt(enable))
	_, err := w.svc.CreateIPRule(ctx, p, simCaller, rule, enable)
	return err
}

func simUpdateIPRule(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	id := w.id("rule", s.liveRules())
	var upd latchkey.IPRuleUpdate
	if w.chance(30) {
		upd.Name = simPtr(w.name("rule", 6))
	}
	if w.chance(30) {
		upd.Type = simPtr(w.ruleType())
	}
	if w.chance(30) {
		upd.Description = simPtr(w.description())
	}
	if w.chance(50) {
		upd.CIDRs = simPtr(w.ruleCIDRs())
	}
	enable := w.enable()
	w.describe("rule %d, name %s, type %s, description %s, cidrs %s, enable %s", id, simOpt(upd.Name), simOpt(upd.Type),
		simOpt(upd.Description), simOpt(upd.CIDRs), simOpt(enable))
	_, _, err := w.svc.UpdateIPRule(ctx, p, simCaller, id, upd, enable)
	return err
}

func simDeleteIPRule(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	id := w.id("rule", s.liveRules())
	w.describe("rule %d", id)
	_, _, err := w.svc.DeleteIPRule(ctx, p, simCaller, id)
	return err
}

func simSetIPEnforcement(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	enabled := w.chance(50)
	w.describe("enabled %v", enabled)
	_, _, err := w.svc.SetIPEnforcement(ctx, p, simCaller, enabled)
	return err
}

// simRead calls a read; whatever it answers must belong to the principal's account.
func simRead(w *simWorld, ctx context.Context, p *latchkey.Principal, s *simState) error {
	foreign := func(what string, id, account int64) {
		if account != p.AccountID {
			w.failf("invariant: a read in account %d answered with %s %d of account %d", p.AccountID, what, id, account)
		}
	}
	switch r := w.intn(13); r {
	case 0:
		w.describe("Projects")
		prs, _, err := w.svc.Projects(ctx, p, latchkey.ProjectFilter{})
		for _, pr := range prs {
			foreign("project", pr.ID, pr.AccountID)
		}
		return err
	case 1:
		w.describe("Users")
		_, _, err := w.svc.Users(ctx, p, latchkey.UserFilter{})
		return err
	case 2:
		w.describe("Groups")
		gs, _, err := w.svc.Groups(ctx, p, latchkey.GroupFilter{})
		for _, g := range gs {
			foreign("group", g.ID, g.AccountID)
		}
		return err
	case 3, 4:
		ref := admin.ServiceTokenRef(0)
		if r == 4 {
			ref = admin.PATRef(w.id("user", s.userIDs(p.AccountID)), 0)
		}
		w.describe("Tokens %+v", ref)
		ts, _, err := w.svc.Tokens(ctx, p, ref, latchkey.TokenFilter{})
		for _, t := range ts {
			foreign("token", t.ID, t.AccountID)
		}
		return err
	case 5:
		ref := w.tokenRef(s, p)
		w.describe("Token %+v", ref)
		t, err := w.svc.Token(ctx, p, ref)
		if err == nil {
			foreign("token", t.ID, t.AccountID)
		}
		return err
	case 6:
		w.describe("Memberships")
		ms, err := w.svc.Memberships(ctx, p, latchkey.MembershipFilter{})
		for _, m := range ms {
			foreign("membership", m.ID, m.AccountID)
		}
		return err
	case 7:
		w.describe("AuditEntries")
		es, _, err := w.svc.AuditEntries(ctx, p, latchkey.AuditFilter{Limit: 5})
		for _, e := range es {
			foreign("audit entry", e.ID, e.AccountID)
		}
		return err
	case 8:
		w.describe("IPRules")
		_, rules, err := w.svc.IPRules(ctx, p)
		for _, r := range rules {
			foreign("IP rule", r.ID, r.AccountID)
		}
		return err
	case 9:
		id := w.id("group", s.groupIDs(p.AccountID))
		w.describe("Group %d", id)
		g, err := w.svc.Group(ctx, p, id)
		if err == nil {
			foreign("group", g.ID, g.AccountID)
		}
		return err
	case 10:
		id := w.id("user", s.userIDs(p.AccountID))
		w.describe("User %d", id)
		_, err := w.svc.User(ctx, p, id)
		return err
	case 11:
		id := w.id("membership", s.membershipIDs(p.AccountID))
		w.describe("Membership %d", id)
		m, err := w.svc.Membership(ctx, p, id)
		if err == nil {
			foreign("membership", m.ID, m.AccountID)
		}
		return err
	default:
		id := w.id("project", s.projectIDs(p.AccountID))
		w.describe("Project %d (write)", id)
		pr, err := w.svc.Project(ctx, p, id, latchkey.AccessWrite)
		if err == nil {
			foreign("project", pr.ID, pr.AccountID)
		}
		return err
	}
}
