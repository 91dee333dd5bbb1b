// Package postgres is latchkey's store for deployments with several nodes: one PostgreSQL
// database (or one schema of it) shared by every node, reached with pgx through database/sql.
// It owns the PostgreSQL schema migrations (embedded, with the same version numbers as SQLite's,
// run under an advisory lock so nodes can start together) and cross-node cache invalidation:
// every committed change is announced with NOTIFY in its own transaction, and each node LISTENs on
// a dedicated connection and hands what it hears to the store's subscribers.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Pool defaults; the DSN's pool_* parameters override them (see Options).
const (
	DefaultMaxConns        = 20
	DefaultMaxIdleConns    = 10
	DefaultMaxConnLifetime = 30 * time.Minute
	DefaultMaxConnIdleTime = 5 * time.Minute
	// DefaultConnectTimeout bounds a connection attempt when the DSN sets no connect_timeout, so
	// an unreachable server fails requests quickly instead of hanging them.
	DefaultConnectTimeout = 5 * time.Second

	// The session timeouts every serving connection gets unless the URL sets its own: no
	// statement runs, no lock is waited for and no transaction sits idle for longer, so a
	// stalled peer or a held lock turns into a 503 instead of a write that never ends.
	DefaultStatementTimeout = 5 * time.Second
	DefaultLockTimeout      = 2 * time.Second
	DefaultIdleInTxTimeout  = 10 * time.Second

	// DefaultConnectWait is how long opening a connection keeps trying while PostgreSQL refuses
	// it for lack of free connection slots (SQLSTATE 53300): connections of this or another node
	// usually free up within milliseconds, so a burst is not answered 503 at once.
	DefaultConnectWait = 2 * time.Second
)

// Store is a latchkey.Store on PostgreSQL. Close stops its listener and closes the pool.
type Store struct {
	*sqlstore.Store
	schema   string
	listener *listener
}

var _ latchkey.Store = (*Store)(nil)

// Options tune Open. Zero values take the defaults.
type Options struct {
	// Logger receives the listener's connection events (default slog.Default()).
	Logger *slog.Logger
	// StatementTimeout, LockTimeout and IdleInTxTimeout are the session timeouts of serving
	// connections (PostgreSQL's statement_timeout, lock_timeout and
	// idle_in_transaction_session_timeout) when the URL does not set them; zero means the
	// Default… constants.
	StatementTimeout, LockTimeout, IdleInTxTimeout time.Duration
}

// poolConfig is the database/sql pool sizing, read from the DSN's pool_* parameters.
type poolConfig struct {
	maxConns, maxIdleConns                    int
	maxConnLifetime, maxIdleTime, connectWait time.Duration
}

// splitDSN removes latchkey's own pool_* parameters from a postgres:// URL (PostgreSQL would
// reject them as unknown run-time parameters) and returns the rest and the pool sizing:
//
//	pool_max_conns           open connections per node (default 20, at least 2)
//	pool_max_idle_conns      idle connections kept (default 10)
//	pool_max_conn_lifetime   recycle connections after this long (default 30m)
//	pool_max_conn_idle_time  close idle connections after this long (default 5m)
//	pool_connect_wait        keep trying this long while the server has no free connection slots (default 2s)
func splitDSN(dsn string) (string, poolConfig, error) {
	pc := poolConfig{maxConns: DefaultMaxConns, maxIdleConns: DefaultMaxIdleConns,
		maxConnLifetime: DefaultMaxConnLifetime, maxIdleTime: DefaultMaxConnIdleTime, connectWait: DefaultConnectWait}
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Error repeats the whole DSN, password included.
		return "", pc, errors.New("the PostgreSQL URL does not parse")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", pc, fmt.Errorf("a PostgreSQL URL starts with postgres://, not %s://", u.Scheme)
	}
	q := u.Query()
	ints := []struct {
		name string
		dst  *int
		min  int
	}{{"pool_max_conns", &pc.maxConns, 2}, {"pool_max_idle_conns", &pc.maxIdleConns, 0}}
	for _, p := range ints {
		if !q.Has(p.name) {
			continue
		}
		n, err := strconv.Atoi(q.Get(p.name))
		if err != nil || n < p.min {
			return "", pc, fmt.Errorf("%s=%q: want a whole number of at least %d", p.name, q.Get(p.name), p.min)
		}
		*p.dst = n
		q.Del(p.name)
	}
	durs := []struct {
		name string
		dst  *time.Duration
	}{{"pool_max_conn_lifetime", &pc.maxConnLifetime}, {"pool_max_conn_idle_time", &pc.maxIdleTime}, {"pool_connect_wait", &pc.connectWait}}
	for _, p := range durs {
		if !q.Has(p.name) {
			continue
		}
		d, err := time.ParseDuration(q.Get(p.name))
		if err != nil || d < 0 {
			return "", pc, fmt.Errorf("%s=%q: want a duration such as 30m", p.name, q.Get(p.name))
		}
		*p.dst = d
		q.Del(p.name)
	}
	if pc.maxIdleConns > pc.maxConns {
		pc.maxIdleConns = pc.maxConns
	}
	u.RawQuery = q.Encode()
	return u.String(), pc, nil
}

// Open connects to the database a postgres:// URL names, migrates it and starts listening for
// changes made by other nodes. The URL may carry any libpq parameter pgx understands
// (sslmode, connect_timeout, search_path to use a schema other than public, …) and latchkey's
// pool_* parameters (see splitDSN).
func Open(ctx context.Context, dsn string) (*Store, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, opt Options) (*Store, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	clean, pc, err := splitDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	cfg, err := pgx.ParseConfig(clean)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", redactErr(err))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	listenCfg := cfg.Copy()
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "latchkey"
		listenCfg.RuntimeParams["application_name"] = "latchkey-listener"
	}
	// Migrations run without the serving timeouts (a migration may take a while); the pool
	// that serves gets them.
	if err := migrateWith(ctx, cfg); err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", Redact(dsn), redactErr(err))
	}
	orDefault := func(d, def time.Duration) time.Duration {
		if d <= 0 {
			return def
		}
		return d
	}
	for name, d := range map[string]time.Duration{"statement_timeout": orDefault(opt.StatementTimeout, DefaultStatementTimeout),
		"lock_timeout":                        orDefault(opt.LockTimeout, DefaultLockTimeout),
		"idle_in_transaction_session_timeout": orDefault(opt.IdleInTxTimeout, DefaultIdleInTxTimeout)} {
		if _, set := cfg.RuntimeParams[name]; !set {
			cfg.RuntimeParams[name] = strconv.FormatInt(d.Milliseconds(), 10)
		}
	}
	db := sql.OpenDB(waitingConnector{Connector: stdlib.GetConnector(*cfg), wait: pc.connectWait})
	db.SetMaxOpenConns(pc.maxConns)
	db.SetMaxIdleConns(pc.maxIdleConns)
	db.SetConnMaxLifetime(pc.maxConnLifetime)
	db.SetConnMaxIdleTime(pc.maxIdleTime)
	fail := func(err error) (*Store, error) {
		db.Close()
		return nil, fmt.Errorf("open postgres %s: %w", Redact(dsn), redactErr(err))
	}
	schema, err := currentSchema(ctx, db)
	if err != nil {
		return fail(err)
	}
	d := dialect{auditKey: lockKey(schema, "audit"), channel: channelName(schema), node: newNodeID()}
	s := &Store{Store: sqlstore.New(db, d), schema: schema}
	s.listener, err = listen(ctx, listenCfg, d.channel, d.node, s.Publish, opt.Logger)
	if err != nil {
		return fail(err)
	}
	return s, nil
}

// waitingConnector opens connections, retrying for up to wait (and the caller's deadline) while
// PostgreSQL refuses them for lack of free slots; it then gives up with PostgreSQL's error,
// which is answered 503 "no free connections".
type waitingConnector struct {
	driver.Connector
	wait time.Duration
}

func (c waitingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	giveUp := time.Now().Add(c.wait)
	pause := 5 * time.Millisecond
	for {
		conn, err := c.Connector.Connect(ctx)
		if err == nil || !noFreeSlots(err) || time.Now().Add(pause).After(giveUp) {
			return conn, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// noFreeSlots reports whether PostgreSQL refused a connection because all its slots (or the
// role's or database's) are taken.
func noFreeSlots(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "53300"
}

// migrateWith migrates the database cfg names through a short-lived pool of its own.
func migrateWith(ctx context.Context, cfg *pgx.ConnConfig) error {
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	schema, err := currentSchema(ctx, db)
	if err != nil {
		return err
	}
	_, err = migrate(ctx, db, schema)
	return err
}

// currentSchema returns the schema new tables go to: the first existing one on the search_path.
func currentSchema(ctx context.Context, db *sql.DB) (string, error) {
	var schema sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return "", err
	}
	if !schema.Valid {
		return "", errors.New("no schema on the search_path exists; create it first (CREATE SCHEMA …)")
	}
	return schema.String, nil
}

// Migrate applies pending migrations to the current schema and returns how many ran. Several
// processes may call it at once: a session advisory lock (one per schema) lets one migrate while
// the others wait and then find nothing to do.
func Migrate(ctx context.Context, db *sql.DB) (int, error) {
	schema, err := currentSchema(ctx, db)
	if err != nil {
		return 0, fmt.Errorf("postgres migrate: %w", err)
	}
	return migrate(ctx, db, schema)
}

func migrate(ctx context.Context, db *sql.DB, schema string) (int, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return 0, err
	}
	// Poll for the lock every second (goose's default is 5 s) for up to five minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockKey(schema, "migrate")), lock.WithLockTimeout(1, 300))
	if err != nil {
		return 0, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return 0, fmt.Errorf("postgres migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("postgres migrate: %w", err)
	}
	return len(res), nil
}

// Close stops listening and closes the pool.
func (s *Store) Close() error {
	s.listener.close()
	return s.Store.Close()
}

// Ping reports whether the database answers and the change listener is connected: a node that
// cannot hear other nodes' revocations should not take traffic (it would honour them only when
// its cache entries expire).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.Store.Ping(ctx); err != nil {
		return err
	}
	if !s.listener.connected() {
		return errors.New("the change listener is reconnecting to PostgreSQL")
	}
	return nil
}

// PingDatabase checks that the database answers, whatever the change feed's state.
func (s *Store) PingDatabase(ctx context.Context) error { return s.Store.Ping(ctx) }

// ChangeFeedConnected reports whether this node hears other nodes' changes now.
func (s *Store) ChangeFeedConnected() bool { return s.listener.connected() }

// Exclusive runs fn while holding a session advisory lock named name (scoped to the store's
// schema), so that one node at a time runs it: serve bootstraps an empty database this way
// when several nodes start together. fn should re-check whatever made it necessary.
func (s *Store) Exclusive(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	defer conn.Close()
	key := lockKey(s.schema, name)
	// Waiting for another node's section is expected: no lock_timeout while waiting (ctx
	// bounds it), the session's own once the lock is held.
	if _, err := conn.ExecContext(ctx, `SET lock_timeout = 0`); err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	_, err = conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key)
	if _, rerr := conn.ExecContext(ctx, `RESET lock_timeout`); err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key); err != nil {
			// A connection that may still hold the lock must not go back to the pool.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return fn(ctx)
}

// lockKey is the advisory lock id for name in schema: schemas are independent deployments and
// must not wait for each other.
func lockKey(schema, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("latchkey\x00" + schema + "\x00" + name))
	return int64(h.Sum64())
}

// Redact hides the password in a PostgreSQL URL (user info or password parameter) for logs
// and errors.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// redactErr drops pgx's connection-string parse errors, which quote the DSN, password included.
func redactErr(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("the PostgreSQL URL is invalid")
	}
	return err
}

// dialect is what PostgreSQL needs from sqlstore.
type dialect struct {
	auditKey int64
	channel  string
	node     string
}

// BinaryCollation makes names sort by their bytes, whatever the database's collation.
func (dialect) BinaryCollation() string { return ` COLLATE "C"` }

// SkipLocked lets several nodes pick work from one table without waiting on each other.
func (dialect) SkipLocked() string { return " FOR UPDATE SKIP LOCKED" }

// Unavailable reports whether err, from PostgreSQL or the way to it, means the database cannot
// answer now (see dialect.Unavailable), with a short reason.
func Unavailable(err error) (reason string, ok bool) { return dialect{}.Unavailable(err) }

// Unavailable classifies the errors that mean PostgreSQL cannot answer now — unreachable,
// restarting, out of connections, disk or memory, read-only, or a timeout latchkey set — as
// opposed to a bug.
func (dialect) Unavailable(err error) (string, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"):
			return "the connection to the database failed", true
		case pe.Code == "53300" || pe.Code == "53400":
			return "the database has no free connections", true
		case pe.Code == "53100":
			return "the database's disk is full", true
		case pe.Code == "53200":
			return "the database is out of memory", true
		case pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03":
			return "the database is shutting down or starting up", true
		case pe.Code == "25006":
			return "the database is read-only", true
		case pe.Code == "55P03":
			return "a lock was not granted within lock_timeout", true
		case pe.Code == "57014":
			return "a statement ran past statement_timeout", true
		case pe.Code == "25P03":
			return "a transaction sat idle past idle_in_transaction_session_timeout", true
		case pe.Code == "40001" || pe.Code == "40P01":
			return "a conflicting write; try again", true
		}
		return "", false
	}
	var ce *pgconn.ConnectError
	switch {
	case errors.As(err, &ce):
		return "cannot connect to the database", true
	case pgconn.Timeout(err):
		return "the database did not answer in time", true
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "the connection to the database was lost", true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return "the connection to the database failed", true
	}
	return "", false
}

// Rebind rewrites ? placeholders into $1, $2, …, leaving quoted strings, quoted identifiers and
// comments alone.
func (dialect) Rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(q[i+1:], c)
			if end < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+end+2])
			i += end + 1
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+end])
			i += end - 1
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// IsUniqueViolation reports SQLSTATE 23505.
func (dialect) IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// LockAudit takes a transaction-scoped advisory lock so that one transaction at a time reads
// the audit chain's head and appends to it.
func (d dialect) LockAudit(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, d.auditKey)
	return err
}

// Notify queues a notification in tx: PostgreSQL delivers it to every listening node when, and
// only if, tx commits.
func (d dialect) Notify(ctx context.Context, tx *sql.Tx, changes []latchkey.Change) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, d.channel, encodeChanges(d.node, changes))
	return err
}
