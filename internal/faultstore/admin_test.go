package faultstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/internal/faultstore"
	"github.com/latchkey/latchkey/tokenfmt"
)

// Admin operations under faults: a seeded random sequence of changes (tokens created, rotated,
// renamed, regranted and deleted; groups, memberships, projects, IP rules, the account's name
// and settings) by random members of an account, through admin.Service over the faulty store. For
// every step the operation first runs under admin.DryRun with faults off, which says what it
// answers when storage works; then it runs with faults on, up to three times while it fails with
// EUnavailable. After every attempt the account is read from the unwrapped store and:
//
//   - an attempt that failed (EUnavailable or a refusal) changed nothing, audit log included;
//   - an attempt that did not fail with EUnavailable answered what the dry run answered: a fault
//     is never turned into a refusal (not found, forbidden, …) nor into a success;
//   - a success is visible in the unwrapped store;
//   - no attempt answers an internal error, and the account always keeps an owner.
//
// Failures are gathered by kind and reported with the first step that met each, and the seed:
// the run is sequential, so -faults.seed replays it exactly.
func TestAdminUnderFaults(t *testing.T) {
	eachStore(t, func(t *testing.T, inner latchkey.Store) {
		s := seed(t)
		began := time.Now()
		w := newWorld(t, inner, "Acme", "owner@acme.test")
		fs := faultstore.Wrap(inner, faultstore.Options{ErrorRate: *faultRate, MaxLatency: 300 * time.Microsecond, Seed: s,
			Disabled: true})
		sim := &adminSim{t: t, w: w, inner: inner, fs: fs, svc: admin.New(fs, tokenfmt.Default),
			rng: rand.New(rand.NewPCG(s, 0x5eed)), seed: s}
		sim.setup()
		setup := time.Since(began)
		var state *adminSnapshot
		for sim.step = 1; sim.step <= *faultOps; sim.step++ {
			state = sim.runStep(state)
		}
		sim.found.report(t, fmt.Sprintf("go test ./internal/faultstore -run '%s' -faults.seed %d -faults.ops %d", t.Name(), s, *faultOps))
		t.Logf("setup %v, %d steps in %v; store %+v", setup.Round(time.Millisecond), *faultOps,
			(time.Since(began) - setup).Round(time.Millisecond), fs.Stats())
		t.Logf("outcomes: %s", sim.outcomeSummary())
		if sim.outcomes["ok"] == 0 || sim.outcomes["unavailable"] == 0 {
			t.Error("the run did not exercise both successes and outages")
		}
	})
}

type adminSim struct {
	t     *testing.T
	w     *world
	inner latchkey.Store
	fs    *faultstore.Store
	svc   *admin.Service // over fs
	rng   *rand.Rand
	seed  uint64
	step  int
	// actors are the users who act: the owner, a second owner, a developer and a read-only member.
	actors   []int64
	found    findings
	outcomes map[string]int
}

// adminOp is one operation with its arguments chosen. run performs it as p and, on success,
// returns a check that the change is visible in the unwrapped store.
type adminOp struct {
	name string
	args string
	run  func(ctx context.Context, p *latchkey.Principal) (visible func() error, err error)
}

func (m *adminSim) intn(n int) int      { return m.rng.IntN(n) }
func (m *adminSim) chance(pct int) bool { return m.rng.IntN(100) < pct }

func pick[T any](m *adminSim, xs []T) T { return xs[m.rng.IntN(len(xs))] }

func (m *adminSim) setup() {
	w := m.w
	ctx, p := w.as(w.owner.ID)
	g, err := w.svc.CreateGroup(ctx, p, admin.NewGroup{Name: "Admins", Grants: []latchkey.Grant{{PermissionSet: "account_admin", AllProjects: true}}})
	if err != nil {
		m.t.Fatal(err)
	}
	w.groups[g.Name] = g
	second := w.addMember("second@acme.test", latchkey.LicenseDeveloper, "Admins", latchkey.GroupMember)
	dev := w.addMember("dev@acme.test", latchkey.LicenseDeveloper, latchkey.GroupMember)
	ro := w.addMember("ro@acme.test", latchkey.LicenseReadOnly)
	m.actors = []int64{w.owner.ID, w.owner.ID, w.owner.ID, second.ID, dev.ID, ro.ID}
	for _, name := range []string{"Analytics", "Marketing"} {
		if _, err := w.svc.CreateProject(ctx, p, admin.NewProject{Name: name}); err != nil {
			m.t.Fatal(err)
		}
	}
	for i := range 3 {
		w.serviceToken(fmt.Sprintf("svc-seed-%d", i), admin.NewToken{Grants: []latchkey.Grant{jobAdmin}})
	}
	w.pat(dev.ID, "dev laptop")
	m.outcomes = map[string]int{}
}

// adminSnapshot is the account as the unwrapped store holds it; text is its canonical form.
type adminSnapshot struct {
	Account     *latchkey.Account
	Projects    []*latchkey.Project
	Groups      []*latchkey.Group
	Memberships []*latchkey.Membership
	Users       []*latchkey.User
	Tokens      []*latchkey.Token
	IPRules     []*latchkey.IPRule
	Admins      []int64
	AuditLen    int
	AuditHead   string
	text        string
}

// allPages reads every page of a list.
func allPages[T any](fetch func(offset int) ([]T, int, error)) ([]T, error) {
	var out []T
	for {
		page, total, err := fetch(len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) == 0 || len(out) >= total {
			return out, nil
		}
	}
}

func (m *adminSim) snapshot() *adminSnapshot {
	m.t.Helper()
	ctx, s, acct := context.Background(), m.inner, m.w.account.ID
	var snap adminSnapshot
	var err error
	must := func(e error) {
		m.t.Helper()
		if e != nil && err == nil {
			err = e
		}
	}
	snap.Account, err = s.FindAccountByID(ctx, acct)
	snap.Projects, _ = allPages(func(off int) ([]*latchkey.Project, int, error) {
		ps, n, err := s.FindProjects(ctx, latchkey.ProjectFilter{AccountID: acct, Offset: off, Limit: latchkey.MaxLimit})
		must(err)
		return ps, n, err
	})
	snap.Groups, _ = allPages(func(off int) ([]*latchkey.Group, int, error) {
		gs, n, err := s.FindGroups(ctx, latchkey.GroupFilter{AccountID: acct, Offset: off, Limit: latchkey.MaxLimit})
		must(err)
		return gs, n, err
	})
	ms, e := s.FindMemberships(ctx, latchkey.MembershipFilter{AccountID: &acct})
	must(e)
	snap.Memberships = ms
	snap.Users, _ = allPages(func(off int) ([]*latchkey.User, int, error) {
		us, n, err := s.FindUsers(ctx, latchkey.UserFilter{AccountID: &acct, Offset: off, Limit: latchkey.MaxLimit})
		must(err)
		return us, n, err
	})
	snap.Tokens, _ = allPages(func(off int) ([]*latchkey.Token, int, error) {
		ts, n, err := s.FindTokens(ctx, latchkey.TokenFilter{AccountID: &acct, Offset: off, Limit: latchkey.MaxLimit})
		must(err)
		return ts, n, err
	})
	snap.IPRules, e = s.FindIPRules(ctx, acct)
	must(e)
	snap.Admins, e = s.FindAccountAdmins(ctx, acct)
	must(e)
	latest, n, e := s.FindAuditEntries(ctx, latchkey.AuditFilter{AccountID: acct, Limit: 1})
	must(e)
	snap.AuditLen = n
	if len(latest) > 0 {
		snap.AuditHead = latest[0].Hash
	}
	if err != nil {
		m.t.Fatalf("step %d: reading the unwrapped store: %v", m.step, err)
	}
	b, err := json.MarshalIndent(&snap, "", " ")
	if err != nil {
		m.t.Fatal(err)
	}
	snap.text = string(b)
	return &snap
}

// diff returns the lines in which two snapshots differ ("" when equal).
func diff(a, b *adminSnapshot) string {
	if a.text == b.text {
		return ""
	}
	d := cmp.Diff(strings.Split(a.text, "\n"), strings.Split(b.text, "\n"))
	if len(d) > 3000 {
		d = d[:3000] + "\n…"
	}
	return d
}

// actor picks who acts: one of the actors while they are members, or else a current owner.
func (m *adminSim) actor() (context.Context, *latchkey.Principal) {
	id := pick(m, m.actors)
	p, err := m.w.svc.UserPrincipal(context.Background(), id, m.w.account.ID, latchkey.AuthPAT)
	if err != nil {
		admins, err := m.inner.FindAccountAdmins(context.Background(), m.w.account.ID)
		if err != nil || len(admins) == 0 {
			m.t.Fatalf("step %d: no owner to act: %v %v", m.step, admins, err)
		}
		if p, err = m.w.svc.UserPrincipal(context.Background(), admins[0], m.w.account.ID, latchkey.AuthPAT); err != nil {
			m.t.Fatal(err)
		}
	}
	return latchkey.WithActor(context.Background(), latchkey.ActorOf(p, "127.0.0.1", "api")), p
}

// runStep runs one operation on the store as before says it is (nil: read it) and returns the
// store as it is after, when the operation changed nothing (nil otherwise).
func (m *adminSim) runStep(before *adminSnapshot) *adminSnapshot {
	if before == nil {
		before = m.snapshot()
	}
	ctx, p := m.actor()
	op := m.pickOp(before, p)
	where := fmt.Sprintf("seed %d step %d: %s by %s (%s)", m.seed, m.step, op.name, p, op.args)

	// What the operation answers when storage works.
	m.fs.SetEnabled(false)
	_, want := op.run(admin.DryRun(ctx), p)
	if d := diff(before, m.snapshot()); d != "" {
		m.found.add("a dry run changed the store", "%s: %s", where, d)
	}
	wantCode := latchkey.ErrorCodeOf(want)

	for attempt := 1; ; attempt++ {
		m.fs.SetEnabled(true)
		f0 := m.fs.Stats().Faults
		visible, err := op.run(ctx, p)
		m.fs.SetEnabled(false)
		faulted := m.fs.Stats().Faults - f0
		code := latchkey.ErrorCodeOf(err)
		at := fmt.Sprintf("%s, attempt %d (%d faults injected)", where, attempt, faulted)
		switch {
		case code == latchkey.EInternal:
			m.outcomes["internal"]++
			m.found.add(op.name+" answered an internal error", "%s: %v", at, err)
		case unavailable(err):
			m.outcomes["unavailable"]++
		case code != wantCode:
			m.outcomes["wrong"]++
			m.found.add(fmt.Sprintf("%s answered %q under faults where it answers %q without", op.name, codeName(code), codeName(wantCode)),
				"%s: got %v; without faults: %v", at, err, want)
		case err == nil:
			m.outcomes["ok"]++
		default:
			m.outcomes["refused"]++
		}
		if err == nil {
			if verr := visible(); verr != nil {
				m.found.add(op.name+" succeeded but its change is not in the store", "%s: %v", at, verr)
			}
			if admins, err := m.inner.FindAccountAdmins(context.Background(), m.w.account.ID); err != nil || len(admins) == 0 {
				m.t.Fatalf("%s: the account has no owner left (%v)", at, err)
			}
			return nil
		}
		after := m.snapshot()
		if d := diff(before, after); d != "" {
			m.found.add(fmt.Sprintf("%s reported %q but changed the store", op.name, codeName(code)), "%s: %v\n%s", at, err, d)
		}
		if len(after.Admins) == 0 {
			m.t.Fatalf("%s: the account has no owner left", at)
		}
		if !unavailable(err) || attempt == 3 {
			return after
		}
		before = after
	}
}

func codeName(c latchkey.ErrorCode) string {
	if c == "" {
		return "success"
	}
	return string(c)
}

func (m *adminSim) outcomeSummary() string {
	var parts []string
	for _, k := range []string{"ok", "refused", "unavailable", "wrong", "internal"} {
		parts = append(parts, fmt.Sprintf("%s %d", k, m.outcomes[k]))
	}
	return strings.Join(parts, ", ")
}

// ---- Operations ----

func hashOf(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func (m *adminSim) grants(s *adminSnapshot) []latchkey.Grant {
	pool := []latchkey.Grant{jobAdmin, {PermissionSet: "metadata_only", AllProjects: true},
		{PermissionSet: "account_admin", AllProjects: true}, {PermissionSet: "stakeholder", AllProjects: true}}
	if len(s.Projects) > 0 {
		pool = append(pool, latchkey.Grant{PermissionSet: "analyst", ProjectID: pick(m, s.Projects).ID})
	}
	var gs []latchkey.Grant
	for range 1 + m.intn(2) {
		g := pick(m, pool)
		if !slices.ContainsFunc(gs, func(x latchkey.Grant) bool { return x.PermissionSet == g.PermissionSet }) {
			gs = append(gs, g)
		}
	}
	return gs
}

func tokenRef(t *latchkey.Token) admin.TokenRef {
	if t.Kind == latchkey.KindPAT {
		return admin.PATRef(t.UserID, t.ID)
	}
	return admin.ServiceTokenRef(t.ID)
}

func (m *adminSim) findToken(id int64) (*latchkey.Token, error) {
	return m.inner.FindTokenByID(context.Background(), id)
}

func (m *adminSim) pickOp(s *adminSnapshot, p *latchkey.Principal) adminOp {
	ops := []func(*adminSnapshot, *latchkey.Principal) (adminOp, bool){
		m.opCreateServiceToken, m.opCreatePAT, m.opRotateToken, m.opDeleteToken, m.opRenameToken, m.opSetTokenGrants,
		m.opCreateGroup, m.opUpdateGroup, m.opSetUserGroups, m.opSetGroupMembers, m.opAddMember, m.opUpdateMembership,
		m.opCreateProject, m.opUpdateProject, m.opDeleteProject, m.opRenameAccount, m.opUpdateSettings,
		m.opCreateIPRule, m.opDeleteIPRule,
	}
	for {
		if op, ok := pick(m, ops)(s, p); ok {
			return op
		}
	}
}

func (m *adminSim) opCreateServiceToken(s *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	in := admin.NewToken{Name: fmt.Sprintf("svc-%d", m.intn(40)), Grants: m.grants(s)}
	if m.chance(25) {
		in.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	}
	if m.chance(25) {
		t := time.Now().Add(24 * time.Hour)
		in.ExpiresAt = &t
	}
	return adminOp{name: "CreateServiceToken", args: fmt.Sprintf("%+v", in), run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
		tok, secret, err := m.svc.CreateServiceToken(ctx, p, in)
		if err != nil {
			return nil, err
		}
		return func() error { return m.tokenStored(tok, secret) }, nil
	}}, true
}

// tokenStored checks that a token created under faults is stored, active, under its string.
func (m *adminSim) tokenStored(tok *latchkey.Token, secret string) error {
	got, err := m.inner.FindTokenByHash(context.Background(), hashOf(secret))
	if err != nil {
		return fmt.Errorf("FindTokenByHash(the new token's string): %v", err)
	}
	if got.ID != tok.ID || got.Name != tok.Name || got.State != latchkey.StateActive {
		return fmt.Errorf("stored token %d %q state %d, want %d %q active", got.ID, got.Name, got.State, tok.ID, tok.Name)
	}
	return nil
}

func (m *adminSim) opCreatePAT(_ *adminSnapshot, p *latchkey.Principal) (adminOp, bool) {
	name := fmt.Sprintf("pat-%d", m.intn(40))
	return adminOp{name: "CreatePAT", args: name, run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
		tok, secret, err := m.svc.CreatePAT(ctx, p, p.UserID, admin.NewToken{Name: name})
		if err != nil {
			return nil, err
		}
		return func() error { return m.tokenStored(tok, secret) }, nil
	}}, true
}

func (m *adminSim) opRotateToken(s *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	if len(s.Tokens) == 0 {
		return adminOp{}, false
	}
	old := pick(m, s.Tokens)
	var r admin.Rotation
	if m.chance(50) {
		g := time.Duration(m.intn(2)) * time.Hour
		r.Grace = &g
	}
	return adminOp{name: "RotateToken", args: fmt.Sprintf("token %d (%s), grace %v", old.ID, old.Kind, r.Grace),
		run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
			next, secret, _, err := m.svc.RotateToken(ctx, p, tokenRef(old), r)
			if err != nil {
				return nil, err
			}
			return func() error {
				if err := m.tokenStored(next, secret); err != nil {
					return err
				}
				o, err := m.findToken(old.ID)
				if err != nil || o.ReplacedByID != next.ID {
					return fmt.Errorf("the old token %d: %+v, %v; want replaced by %d", old.ID, o, err, next.ID)
				}
				return nil
			}, nil
		}}, true
}

func (m *adminSim) opDeleteToken(s *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	if len(s.Tokens) == 0 {
		return adminOp{}, false
	}
	tok := pick(m, s.Tokens)
	return adminOp{name: "DeleteToken", args: fmt.Sprintf("token %d (%s)", tok.ID, tok.Kind),
		run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
			if _, err := m.svc.DeleteToken(ctx, p, tokenRef(tok)); err != nil {
				return nil, err
			}
			return func() error {
				if got, err := m.findToken(tok.ID); err != nil || got.State != latchkey.StateDeleted {
					return fmt.Errorf("token %d: %+v, %v; want deleted", tok.ID, got, err)
				}
				return nil
			}, nil
		}}, true
}

func (m *adminSim) opRenameToken(s *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	if len(s.Tokens) == 0 {
		return adminOp{}, false
	}
	tok := pick(m, s.Tokens)
	name := fmt.Sprintf("renamed-%d", m.intn(40))
	return adminOp{name: "RenameToken", args: fmt.Sprintf("token %d (%s) to %q", tok.ID, tok.Kind, name),
		run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
			if _, err := m.svc.UpdateToken(ctx, p, tokenRef(tok), latchkey.TokenUpdate{Name: &name}); err != nil {
				return nil, err
			}
			return func() error {
				if got, err := m.findToken(tok.ID); err != nil || got.Name != name {
					return fmt.Errorf("token %d: %+v, %v; want named %q", tok.ID, got, err, name)
				}
				return nil
			}, nil
		}}, true
}

func (m *adminSim) opSetTokenGrants(s *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	var svcs []*latchkey.Token
	for _, t := range s.Tokens {
		if t.Kind == latchkey.KindServiceToken {
			svcs = append(svcs, t)
		}
	}
	if len(svcs) == 0 {
		return adminOp{}, false
	}
	tok := pick(m, svcs)
	grants := m.grants(s)
	replace := m.chance(80)
	return adminOp{name: "SetServiceTokenGrants", args: fmt.Sprintf("token %d, %+v, replace %v", tok.ID, grants, replace),
		run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
			if _, err := m.svc.SetServiceTokenGrants(ctx, p, tok.ID, grants, replace); err != nil {
				return nil, err
			}
			return func() error {
				if got, err := m.findToken(tok.ID); err != nil || len(got.Grants) != len(grants) {
					return fmt.Errorf("token %d: %+v, %v; want grants %+v", tok.ID, got, err, grants)
				}
				return nil
			}, nil
		}}, true
}

func (m *adminSim) opCreateGroup(s *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	in := admin.NewGroup{Name: fmt.Sprintf("grp-%d", m.intn(20)), Grants: m.grants(s), AssignByDefault: m.chance(15)}
	return adminOp{name: "CreateGroup", args: fmt.Sprintf("%+v", in), run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
		g, err := m.svc.CreateGroup(ctx, p, in)
		if err != nil {
			return nil, err
		}
		return func() error {
			if got, err := m.inner.FindGroupByID(context.Background(), g.ID); err != nil || got.Name != in.Name {
				return fmt.Errorf("group %d: %+v, %v; want named %q", g.ID, got, err, in.Name)
			}
			return nil
		}, nil
	}}, true
}

func (m *adminSim) opUpdateGroup(s *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	g := pick(m, s.Groups)
	var c admin.GroupChange
	switch m.intn(4) {
	case 0:
		name := fmt.Sprintf("grp-%d", m.intn(20))
		c.Name = &name
	case 1:
		st := latchkey.StateDeleted
		if g.State == latchkey.StateDeleted {
			st = latchkey.StateActive
		}
		c.State = &st
	case 2:
		gs := m.grants(s)
		c.Grants = &gs
	default:
		d := !g.AssignByDefault
		c.AssignByDefault = &d
	}
	return adminOp{name: "UpdateGroup", args: fmt.Sprintf("group %d %q: %s", g.ID, g.Name, groupChange(c)),
		run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
			if _, err := m.svc.UpdateGroup(ctx, p, g.ID, c); err != nil {
				return nil, err
			}
			return func() error {
				got, err := m.inner.FindGroupByID(context.Background(), g.ID)
				switch {
				case err != nil:
					return err
				case c.Name != nil && got.Name != *c.Name, c.State != nil && got.State != *c.State,
					c.Grants != nil && len(got.Grants) != len(*c.Grants), c.AssignByDefault != nil && got.AssignByDefault != *c.AssignByDefault:
					return fmt.Errorf("group %d is %+v after %s", g.ID, got, groupChange(c))
				}
				return nil
			}, nil
		}}, true
}

func groupChange(c admin.GroupChange) string {
	switch {
	case c.Name != nil:
		return "name " + *c.Name
	case c.State != nil:
		return fmt.Sprint("state ", *c.State)
	case c.Grants != nil:
		return fmt.Sprintf("grants %+v", *c.Grants)
	case c.AssignByDefault != nil:
		return fmt.Sprint("assign by default ", *c.AssignByDefault)
	}
	return "nothing"
}

func (m *adminSim) activeGroups(s *adminSnapshot) []int64 {
	var ids []int64
	for _, g := range s.Groups {
		if g.State == latchkey.StateActive {
			ids = append(ids, g.ID)
		}
	}
	return ids
}

func (m *adminSim) opSetUserGroups(s *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	mem := pick(m, s.Memberships)
	var ids []int64
	for _, id := range m.activeGroups(s) {
		if m.chance(40) {
			ids = append(ids, id)
		}
	}
	return adminOp{name: "SetUserGroups", args: fmt.Sprintf("user %d groups %v", mem.UserID, ids),
		run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
			if _, err := m.svc.SetUserGroups(ctx, p, mem.UserID, ids); err != nil {
				return nil, err
			}
			return func() error {
				ms, err := m.inner.FindMemberships(context.Background(), latchkey.MembershipFilter{ID: &mem.ID})
				if err != nil || len(ms) != 1 {
					return fmt.Errorf("membership %d: %v %v", mem.ID, ms, err)
				}
				for _, id := range ids {
					if !slices.Contains(ms[0].GroupIDs, id) {
						return fmt.Errorf("user %d is in groups %v, want %v", mem.UserID, ms[0].GroupIDs, ids)
					}
				}
				return nil
			}, nil
		}}, true
}

func (m *adminSim) opSetGroupMembers(s *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	g := pick(m, s.Groups)
	members := map[int64]bool{}
	for range 1 + m.intn(2) {
		members[pick(m, s.Memberships).UserID] = m.chance(50)
	}
	// Users without an active membership are left alone.
	active := map[int64]bool{}
	for _, ms := range s.Memberships {
		active[ms.UserID] = ms.State == latchkey.StateActive
	}
	return adminOp{name: "SetGroupMembers", args: fmt.Sprintf("group %d %q: %v", g.ID, g.Name, members),
		run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
			if _, _, err := m.svc.SetGroupMembers(ctx, p, g.ID, members); err != nil {
				return nil, err
			}
			return func() error {
				got, err := m.inner.FindGroupByID(context.Background(), g.ID)
				if err != nil {
					return err
				}
				for u, in := range members {
					if active[u] && slices.Contains(got.UserIDs, u) != in {
						return fmt.Errorf("group %d has members %v after %v", g.ID, got.UserIDs, members)
					}
				}
				return nil
			}, nil
		}}, true
}

var simLicenses = []latchkey.License{latchkey.LicenseDeveloper, latchkey.LicenseReadOnly, latchkey.LicenseIT, latchkey.LicenseAnalyst}

func (m *adminSim) opAddMember(s *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	in := admin.NewMember{Email: fmt.Sprintf("u%d@acme.test", m.intn(12)), License: pick(m, simLicenses)}
	if m.chance(50) {
		in.GroupIDs = []int64{}
		for _, id := range m.activeGroups(s) {
			if m.chance(30) {
				in.GroupIDs = append(in.GroupIDs, id)
			}
		}
	}
	return adminOp{name: "AddMember", args: fmt.Sprintf("%s %s groups %v", in.Email, in.License, in.GroupIDs),
		run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
			u, err := m.svc.AddMember(ctx, p, in)
			if err != nil {
				return nil, err
			}
			return func() error {
				ms, err := m.inner.FindMemberships(context.Background(), latchkey.MembershipFilter{AccountID: &m.w.account.ID, UserID: &u.ID})
				if err != nil || len(ms) != 1 || ms[0].State != latchkey.StateActive || ms[0].License != in.License {
					return fmt.Errorf("membership of %s: %v %v", in.Email, ms, err)
				}
				return nil
			}, nil
		}}, true
}

func (m *adminSim) opUpdateMembership(s *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	mem := pick(m, s.Memberships)
	var upd latchkey.MembershipUpdate
	if m.chance(50) {
		l := pick(m, simLicenses)
		upd.License = &l
	} else {
		st := latchkey.StateDeleted
		if mem.State == latchkey.StateDeleted {
			st = latchkey.StateActive
		}
		upd.State = &st
	}
	args := fmt.Sprintf("membership %d (user %d)", mem.ID, mem.UserID)
	if upd.License != nil {
		args += " license " + string(*upd.License)
	} else {
		args += fmt.Sprint(" state ", *upd.State)
	}
	return adminOp{name: "UpdateMembership", args: args, run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
		if _, err := m.svc.UpdateMembership(ctx, p, mem.ID, upd); err != nil {
			return nil, err
		}
		return func() error {
			ms, err := m.inner.FindMemberships(context.Background(), latchkey.MembershipFilter{ID: &mem.ID})
			if err != nil || len(ms) != 1 || upd.License != nil && ms[0].License != *upd.License || upd.State != nil && ms[0].State != *upd.State {
				return fmt.Errorf("membership %d: %v %v; want %s", mem.ID, ms, err, args)
			}
			return nil
		}, nil
	}}, true
}

func (m *adminSim) opCreateProject(_ *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	name := fmt.Sprintf("proj-%d", m.intn(20))
	return adminOp{name: "CreateProject", args: name, run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
		pr, err := m.svc.CreateProject(ctx, p, admin.NewProject{Name: name})
		if err != nil {
			return nil, err
		}
		return func() error {
			if got, err := m.inner.FindProjectByID(context.Background(), pr.ID); err != nil || got.Name != name {
				return fmt.Errorf("project %d: %+v, %v; want named %q", pr.ID, got, err, name)
			}
			return nil
		}, nil
	}}, true
}

func (m *adminSim) opUpdateProject(s *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	if len(s.Projects) == 0 {
		return adminOp{}, false
	}
	pr := pick(m, s.Projects)
	name := fmt.Sprintf("proj-%d", m.intn(20))
	return adminOp{name: "UpdateProject", args: fmt.Sprintf("project %d to %q", pr.ID, name),
		run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
			if _, err := m.svc.UpdateProject(ctx, p, pr.ID, latchkey.ProjectUpdate{Name: &name}); err != nil {
				return nil, err
			}
			return func() error {
				if got, err := m.inner.FindProjectByID(context.Background(), pr.ID); err != nil || got.Name != name {
					return fmt.Errorf("project %d: %+v, %v; want named %q", pr.ID, got, err, name)
				}
				return nil
			}, nil
		}}, true
}

func (m *adminSim) opDeleteProject(s *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	if len(s.Projects) == 0 {
		return adminOp{}, false
	}
	pr := pick(m, s.Projects)
	return adminOp{name: "DeleteProject", args: fmt.Sprintf("project %d", pr.ID),
		run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
			if _, err := m.svc.DeleteProject(ctx, p, pr.ID); err != nil {
				return nil, err
			}
			return func() error {
				if got, err := m.inner.FindProjectByID(context.Background(), pr.ID); err != nil || got.State != latchkey.StateDeleted {
					return fmt.Errorf("project %d: %+v, %v; want deleted", pr.ID, got, err)
				}
				return nil
			}, nil
		}}, true
}

func (m *adminSim) opRenameAccount(_ *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	name := fmt.Sprintf("Acme %d", m.intn(100))
	return adminOp{name: "RenameAccount", args: name, run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
		if _, err := m.svc.RenameAccount(ctx, p, name); err != nil {
			return nil, err
		}
		return func() error {
			if got, err := m.inner.FindAccountByID(context.Background(), m.w.account.ID); err != nil || got.Name != name {
				return fmt.Errorf("account: %+v, %v; want named %q", got, err, name)
			}
			return nil
		}, nil
	}}, true
}

func (m *adminSim) opUpdateSettings(_ *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	grace := time.Duration(m.intn(4)) * 30 * time.Minute
	reuse := m.chance(50)
	return adminOp{name: "UpdateSettings", args: fmt.Sprintf("grace %v, reuse revokes family %v", grace, reuse),
		run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
			if _, err := m.svc.UpdateSettings(ctx, p, admin.SettingsUpdate{DefaultRotationGrace: &grace, ReuseRevokesFamily: &reuse}); err != nil {
				return nil, err
			}
			return func() error {
				got, err := m.inner.FindAccountByID(context.Background(), m.w.account.ID)
				if err != nil || got.Settings.DefaultRotationGrace != grace || got.Settings.ReuseRevokesFamily != reuse {
					return fmt.Errorf("account settings: %+v, %v; want grace %v, reuse %v", got, err, grace, reuse)
				}
				return nil
			}, nil
		}}, true
}

// simCaller is where admin calls come from (IP rules are never enforced in the simulation).
var simCaller = netip.MustParseAddr("127.0.0.1")

func (m *adminSim) opCreateIPRule(_ *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	rule := latchkey.IPRule{Name: fmt.Sprintf("rule-%d", m.intn(20)), Type: latchkey.IPRuleAllow,
		CIDRs: latchkey.Ranges(fmt.Sprintf("10.%d.0.0/16", m.intn(200)))}
	return adminOp{name: "CreateIPRule", args: fmt.Sprintf("%s %s", rule.Name, rule.CIDRs[0].CIDR),
		run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
			r := rule // CreateIPRule sets its ID
			r.CIDRs = slices.Clone(rule.CIDRs)
			if _, err := m.svc.CreateIPRule(ctx, p, simCaller, &r, nil); err != nil {
				return nil, err
			}
			return func() error {
				if got, err := m.inner.FindIPRuleByID(context.Background(), r.ID); err != nil || got.Name != rule.Name {
					return fmt.Errorf("IP rule %d: %+v, %v; want named %q", r.ID, got, err, rule.Name)
				}
				return nil
			}, nil
		}}, true
}

func (m *adminSim) opDeleteIPRule(s *adminSnapshot, _ *latchkey.Principal) (adminOp, bool) {
	if len(s.IPRules) == 0 {
		return adminOp{}, false
	}
	r := pick(m, s.IPRules)
	return adminOp{name: "DeleteIPRule", args: fmt.Sprintf("rule %d", r.ID), run: func(ctx context.Context, p *latchkey.Principal) (func() error, error) {
		if _, _, err := m.svc.DeleteIPRule(ctx, p, simCaller, r.ID); err != nil {
			return nil, err
		}
		return func() error {
			if got, err := m.inner.FindIPRuleByID(context.Background(), r.ID); err != nil || got.State != latchkey.StateDeleted {
				return fmt.Errorf("IP rule %d: %+v, %v; want deleted", r.ID, got, err)
			}
			return nil
		}, nil
	}}, true
}
