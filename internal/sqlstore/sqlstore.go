// Package sqlstore implements latchkey.Store over database/sql. The sqlite and postgres packages
// each open their database, run their own migrations and hand sqlstore a Dialect for the few
// things that differ (placeholders, error codes, locking and cross-node notification), so the
// queries and the behaviour exist once.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
)

// Dialect is what differs between databases.
type Dialect interface {
	// Rebind rewrites a query written with ? placeholders into the dialect's form.
	Rebind(query string) string
	// IsUniqueViolation reports whether err is a unique-constraint violation.
	IsUniqueViolation(err error) bool
	// LockAudit serializes write transactions (and so audit-chain appends); withTx takes it
	// right after BEGIN.
	LockAudit(ctx context.Context, tx *sql.Tx) error
	// Notify announces changes to other nodes as part of tx (no-op for single-node databases).
	Notify(ctx context.Context, tx *sql.Tx, changes []latchkey.Change) error
	// BinaryCollation is the clause that makes text sort by its bytes ("" where that is the
	// default).
	BinaryCollation() string
	// Unavailable reports whether err means the database cannot answer now (unreachable,
	// read-only, full, locked, timed out), with a short reason for the person retrying.
	Unavailable(err error) (reason string, ok bool)
	// SkipLocked is the clause ending a SELECT that locks the rows it picks and passes over rows
	// another transaction holds ("" where write transactions already run one at a time).
	SkipLocked() string
}

// Store implements latchkey.Store.
type Store struct {
	DB      *sql.DB
	dialect Dialect
	feed    latchkey.ChangeFeed
	queries sync.Map // query text -> rebound text
	stmts   sync.Map // query text -> *sql.Stmt, for reads outside transactions
	nstmts  atomic.Int64
	// Now returns the current time; tests may replace it.
	Now func() time.Time
	// node names this process's row in health_probe.
	node string
}

// New returns a Store over db, whose schema must be migrated.
func New(db *sql.DB, d Dialect) *Store {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Store{DB: db, dialect: d, Now: time.Now, node: hex.EncodeToString(b[:])}
}

// SetClock replaces the clock changes are stamped with; tests use it to move through time.
// Call it before the store is in use.
func (s *Store) SetClock(now func() time.Time) { s.Now = now }

// ProbeWrite makes the smallest real write — this process's row of health_probe, in a write
// transaction that takes the same locks as any change — to tell whether writes work now. It
// fails as a change would: unavailable when the database is read-only, full, locked or gone.
func (s *Store) ProbeWrite(ctx context.Context) error {
	return s.withTx(ctx, func(t *tx) error {
		if _, err := t.exec(`INSERT INTO health_probe (node, at) VALUES (?, ?) ON CONFLICT (node) DO UPDATE SET at = excluded.at`,
			s.node, micros(t.now)); err != nil {
			return s.wrap(err, "write probe")
		}
		_, err := t.exec(`DELETE FROM health_probe WHERE at < ?`, micros(t.now.Add(-24*time.Hour)))
		return s.wrap(err, "write probe")
	})
}

var _ latchkey.Store = (*Store)(nil)

func (s *Store) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func (s *Store) q(query string) string {
	if v, ok := s.queries.Load(query); ok {
		return v.(string)
	}
	r := s.dialect.Rebind(query)
	s.queries.Store(query, r)
	return r
}

// Ping checks the database.
func (s *Store) Ping(ctx context.Context) error { return s.DB.PingContext(ctx) }

// Close closes the prepared statements and the database.
func (s *Store) Close() error {
	s.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	return s.DB.Close()
}

// Subscribe registers fn for committed changes.
func (s *Store) Subscribe(fn func(latchkey.Change)) func() { return s.feed.Subscribe(fn) }

// Publish announces changes to local subscribers; the postgres listener calls it for changes
// committed on other nodes.
func (s *Store) Publish(changes ...latchkey.Change) { s.feed.Publish(changes...) }

// tx is one transaction: queries, the audit entries it writes and the changes it announces.
type tx struct {
	s *Store
	// ctx carries the transaction itself (txKey), so that store calls made with it join.
	ctx     context.Context
	tx      *sql.Tx
	now     time.Time
	actor   latchkey.Actor
	changes []latchkey.Change
	// lastHash is the audit chain's head once this transaction has read or extended it.
	lastHash *string
	// savepoints counts nested calls, to name their savepoints.
	savepoints int
}

type txKey struct{}

// txOf returns the transaction of this store that ctx carries, or nil.
func (s *Store) txOf(ctx context.Context) *tx {
	if t, ok := ctx.Value(txKey{}).(*tx); ok && t.s == s {
		return t
	}
	return nil
}

// InTx runs fn in one write transaction: every store call made with the context fn receives
// joins it (reads see its writes), and it commits when fn returns nil. A failed call inside
// rolls back to where it started, so fn may handle the error and go on. Changes are announced
// after commit.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.withTx(ctx, func(t *tx) error { return fn(t.ctx) })
}

// withTx runs fn in a transaction that commits when fn returns nil and rolls back on error or
// panic. Changes are announced to subscribers after commit. Called with the context of a
// transaction in progress (InTx), fn runs inside it, under a savepoint.
func (s *Store) withTx(ctx context.Context, fn func(t *tx) error) (err error) {
	if t := s.txOf(ctx); t != nil {
		return t.nested(fn)
	}
	sqlTx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(err, "begin")
	}
	t := &tx{s: s, tx: sqlTx, now: s.now(), actor: latchkey.ActorFrom(ctx)}
	t.ctx = context.WithValue(ctx, txKey{}, t)
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = sqlTx.Rollback()
		}
	}()
	// Take the audit lock before any row lock, not at the first audit entry: write transactions
	// on a shared database then run one at a time, as SQLite's IMMEDIATE transactions already do
	// (its LockAudit does nothing), so row locks and the audit lock cannot deadlock and
	// read-check-write steps (rotate, revoke) see the last committed state.
	if err = s.dialect.LockAudit(ctx, sqlTx); err != nil {
		return s.wrap(err, "lock")
	}
	t.now = s.now()
	if err = fn(t); err != nil {
		// An outage that first shows inside fn (a statement's error passed on as it was) is
		// classified here, so it is a 503, not a 500; any other error is fn's to give.
		var le *latchkey.Error
		if reason, ok := s.dialect.Unavailable(err); ok && !errors.As(err, &le) {
			return latchkey.Unavailable(reason, err)
		}
		return err
	}
	if len(t.changes) > 0 {
		if err = s.dialect.Notify(ctx, sqlTx, t.changes); err != nil {
			return s.wrap(err, "notify")
		}
	}
	if err = sqlTx.Commit(); err != nil {
		if ctx.Err() != nil {
			// database/sql rolled the transaction back when the request's time ran out or
			// its client went away: nothing was changed.
			return latchkey.Unavailable("the request ended before its change was committed; nothing was changed", err)
		}
		return s.wrap(err, "commit")
	}
	s.feed.Publish(t.changes...)
	return nil
}

// nested runs fn inside t under a savepoint: an error rolls fn's writes, audit entries and
// changes back and leaves the transaction usable (PostgreSQL refuses every statement after a
// failed one otherwise).
func (t *tx) nested(fn func(t *tx) error) error {
	t.savepoints++
	name := "lk_sp" + strconv.Itoa(t.savepoints)
	if _, err := t.tx.ExecContext(t.ctx, "SAVEPOINT "+name); err != nil {
		return t.s.wrap(err, "savepoint")
	}
	changes, lastHash := len(t.changes), t.lastHash
	if err := fn(t); err != nil {
		if _, rerr := t.tx.ExecContext(t.ctx, "ROLLBACK TO SAVEPOINT "+name); rerr != nil {
			return errors.Join(err, t.s.wrap(rerr, "rollback to savepoint"))
		}
		t.changes, t.lastHash = t.changes[:changes], lastHash
		return err
	}
	if _, err := t.tx.ExecContext(t.ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return t.s.wrap(err, "release savepoint")
	}
	return nil
}

// wrap turns database errors into latchkey errors where they mean something to users.
func (s *Store) wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	var le *latchkey.Error
	if errors.As(err, &le) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if s.dialect.IsUniqueViolation(err) {
		return latchkey.Errorf(latchkey.EConflict, "%s: already exists", what)
	}
	if reason, ok := s.dialect.Unavailable(err); ok {
		return latchkey.Unavailable(reason, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return latchkey.Unavailable("the database did not answer in time", err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(t.ctx, t.s.q(query), args...)
}

func (t *tx) queryRow(query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, t.s.q(query), args...)
}

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(t.ctx, t.s.q(query), args...)
}

// insert runs an INSERT … RETURNING id.
func (t *tx) insert(query string, args ...any) (int64, error) {
	var id int64
	err := t.queryRow(query+" RETURNING id", args...).Scan(&id)
	return id, err
}

func (t *tx) changed(kind latchkey.ChangeKind, accountID, id int64) {
	t.changes = append(t.changes, latchkey.Change{Kind: kind, AccountID: accountID, ID: id})
}

// audit appends an entry to the hash-chained audit log within the transaction.
func (t *tx) audit(accountID int64, event string, context map[string]any) error {
	e := &latchkey.AuditEntry{
		AccountID: accountID, CreatedAt: t.now, EventType: event,
		ActorType: t.actor.Type, ActorID: t.actor.ID, ActorName: t.actor.Name, ActorIP: t.actor.IP,
		Source: t.actor.Source, Context: context,
	}
	return t.appendAudit(e)
}

func (t *tx) appendAudit(e *latchkey.AuditEntry) error {
	if e.Context == nil {
		e.Context = map[string]any{}
	}
	raw, err := json.Marshal(e.Context)
	if err != nil {
		return fmt.Errorf("encode audit context: %w", err)
	}
	var prev string
	if t.lastHash != nil {
		prev = *t.lastHash
	} else {
		err = t.queryRow(`SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read audit chain: %w", err)
		}
	}
	e.PrevHash = prev
	e.Hash = e.ChainHash(prev, raw)
	e.RawContext = raw
	e.ID, err = t.insert(`INSERT INTO audit_log (account_id, created_at, event_type, actor_type, actor_id,
		actor_name, actor_ip, source, context, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		e.AccountID, e.CreatedAt.UnixMicro(), e.EventType, e.ActorType, e.ActorID, e.ActorName, e.ActorIP,
		e.Source, string(raw), e.PrevHash, e.Hash)
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	t.lastHash = &e.Hash
	return nil
}

// where builds a WHERE clause from conditions with ? placeholders.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) in(column string, ids []int64) {
	if len(ids) == 0 {
		w.conds = append(w.conds, "1 = 0")
		return
	}
	// Up to 128 ids the list is padded (repeating the last id) to a power of two, so that the
	// prepared-statement cache holds a few shapes of each query rather than one per length; longer
	// lists keep their length (padding could pass the databases' parameter limits).
	n := 1
	for n < len(ids) {
		n *= 2
	}
	if len(ids) > 128 {
		n = len(ids)
	}
	for i := range n {
		w.args = append(w.args, ids[min(i, len(ids)-1)])
	}
	w.conds = append(w.conds, column+" IN (?"+strings.Repeat(",?", n-1)+")")
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// page returns a LIMIT/OFFSET clause with the limit clamped to [1, MaxLimit].
// orderBy is the ORDER BY clause for o; an unknown field sorts by id.
func (s *Store) orderBy(o latchkey.Order) string {
	dir := ""
	if o.Desc {
		dir = " DESC"
	}
	switch o.Field {
	case "name":
		return " ORDER BY name" + s.dialect.BinaryCollation() + dir + ", id" + dir
	case "created_at", "updated_at":
		return " ORDER BY " + o.Field + dir + ", id" + dir
	}
	return " ORDER BY id" + dir
}

func page(offset, limit int) string {
	if limit <= 0 || limit > latchkey.MaxLimit {
		limit = latchkey.DefaultLimit
	}
	if offset < 0 {
		offset = 0
	}
	return " LIMIT " + strconv.Itoa(limit) + " OFFSET " + strconv.Itoa(offset)
}

func (s *Store) count(ctx context.Context, table string, w *where) (int, error) {
	var n int
	err := s.queryRow(ctx, "SELECT COUNT(*) FROM "+table+w.String(), w.args...).Scan(&n)
	return n, err
}

// query runs a read: inside the transaction ctx carries, if any, or with a prepared statement.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if t := s.txOf(ctx); t != nil {
		return t.tx.QueryContext(ctx, s.q(query), args...)
	}
	if st := s.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.DB.QueryContext(ctx, s.q(query), args...)
}

func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if t := s.txOf(ctx); t != nil {
		return t.tx.QueryRowContext(ctx, s.q(query), args...)
	}
	if st := s.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.DB.QueryRowContext(ctx, s.q(query), args...)
}

// maxStmts bounds the prepared-statement cache; queries past it run unprepared.
const maxStmts = 256

// stmt returns a prepared statement for a read outside transactions. Preparing once matters:
// parsing the SQL was most of an uncached token lookup on SQLite. It returns nil when the cache is
// full or preparing fails (the caller then runs the query directly and reports any error).
func (s *Store) stmt(ctx context.Context, query string) *sql.Stmt {
	if v, ok := s.stmts.Load(query); ok {
		return v.(*sql.Stmt)
	}
	if s.nstmts.Load() >= maxStmts {
		return nil
	}
	st, err := s.DB.PrepareContext(ctx, s.q(query))
	if err != nil {
		return nil
	}
	if v, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return v.(*sql.Stmt)
	}
	s.nstmts.Add(1)
	return st
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func notFound(what string, id int64) error {
	return latchkey.Errorf(latchkey.ENotFound, "%s %d not found", what, id)
}

func ptr[T any](v T) *T { return &v }

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// exec runs a write that needs no audit entry nor transaction of its own (sessions), inside the
// transaction ctx carries, if any.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if t := s.txOf(ctx); t != nil {
		return t.tx.ExecContext(ctx, s.q(query), args...)
	}
	return s.DB.ExecContext(ctx, s.q(query), args...)
}

// likeContains makes the pattern of a case-insensitive "contains" match (LOWER(col) LIKE ?
// ESCAPE '\'), escaping the pattern characters in s.
func likeContains(s string) string {
	return "%" + likeEscaper.Replace(strings.ToLower(s)) + "%"
}

// likePrefix makes the pattern of a "starts with" match (col LIKE ? ESCAPE '\').
func likePrefix(s string) string { return likeEscaper.Replace(s) + "%" }

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
