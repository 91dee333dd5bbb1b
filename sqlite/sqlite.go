// Package sqlite is latchkey's embedded store: one SQLite file in WAL mode, opened with
// modernc.org/sqlite (pure Go, no cgo), with its schema migrations embedded.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a latchkey.Store on SQLite.
type Store struct {
	*sqlstore.Store
	// anchor is a connection held open, outside the pool, from Open to Close (see OpenWith).
	anchor driver.Conn
}

// Close closes the database.
func (s *Store) Close() error {
	err := s.Store.Close()
	if s.anchor != nil {
		err = errors.Join(err, s.anchor.Close())
	}
	return err
}

var _ latchkey.Store = (*Store)(nil)

// DefaultBusyTimeout is how long a statement waits for a lock another connection or process
// holds before it fails with "locked" (503): long enough to queue behind ordinary writes, short
// enough that a request gets its answer well before its own deadline and the server's write
// timeout.
const DefaultBusyTimeout = 5 * time.Second

// Options tune how the database is opened. The zero value means the defaults.
type Options struct {
	// BusyTimeout bounds the wait for a lock held by another connection or process (SQLite's
	// busy_timeout); a write still waiting then fails as unavailable. Zero means
	// DefaultBusyTimeout; it is rounded up to whole milliseconds. A request's context ends the
	// wait sooner.
	BusyTimeout time.Duration
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.BusyTimeout < 0:
		return o, fmt.Errorf("sqlite busy timeout %v is negative", o.BusyTimeout)
	case o.BusyTimeout == 0:
		o.BusyTimeout = DefaultBusyTimeout
	}
	return o, nil
}

// DSN returns the driver DSN for a database file with the default Options, for tools that open
// the file with sql.Open("sqlite", …).
func DSN(path string) string {
	o, _ := Options{}.withDefaults()
	return dsn(path, o)
}

// dsn carries the pragmas every pooled connection needs: WAL, a busy timeout, foreign keys, and
// IMMEDIATE write transactions so that concurrent writers queue instead of failing.
func dsn(path string, o Options) string {
	busy := (o.BusyTimeout + time.Millisecond - 1) / time.Millisecond
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", fmt.Sprintf("busy_timeout(%d)", busy), "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database file at path with the default Options and
// migrates it.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith opens (creating if needed) the database file at path and migrates it. When the file
// cannot be opened or written, the error says why in words (directory missing, read-only, disk
// full) before SQLite's own message.
func OpenWith(ctx context.Context, path string, o Options) (*Store, error) {
	path = strings.TrimPrefix(path, "sqlite://")
	o, err := o.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	base, err := sqlite.NewConnector(dsn(path, o))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	c := connector{Connector: base, path: path}
	db := sql.OpenDB(c)
	// Keep connections idle for reuse: with database/sql's default of two, a burst of concurrent
	// reads opens and closes connections, and each new connection parses its statements again,
	// which costs far more than the reads. The number open stays unlimited (WAL readers do not
	// block each other, and a capped pool could starve a transaction that waits on another).
	db.SetMaxIdleConns(max(8, 4*runtime.GOMAXPROCS(0)))
	db.SetConnMaxIdleTime(10 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, openError(path, err)
	}
	if _, err := Migrate(ctx, db); err != nil {
		db.Close()
		return nil, openError(path, err)
	}
	return &Store{Store: sqlstore.New(db, dialect{}), anchor: anchor(ctx, c)}, nil
}

// anchor opens a connection for the store to hold, unused, from Open to Close. A process's
// connections to one database share its -shm (the WAL's shared memory), which SQLite opens when
// the first of them needs it (read-only if the file is read-only then) and keeps until the last
// one closes. Without an anchor, a pool that emptied during a read-only moment (connections
// opened then are discarded after one use) would let the -shm be opened read-only, and while any
// connection kept it open every new one would share it and fail its writes, however writable
// the files were again. Opened while the files are writable, the anchor keeps a writable -shm;
// it also keeps SQLite from deleting and re-creating -wal and -shm whenever the pool empties. If
// the files are not writable at Open there is no anchor, and discarding alone must do.
func anchor(ctx context.Context, c connector) driver.Conn {
	dc, err := c.Connect(ctx)
	if err != nil {
		return nil
	}
	if !dc.(*conn).IsValid() {
		dc.Close()
		return nil
	}
	return dc
}

// Migrate applies pending migrations and returns how many ran.
func Migrate(ctx context.Context, db *sql.DB) (int, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return 0, err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		return 0, fmt.Errorf("sqlite migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlite migrate: %w", err)
	}
	return len(res), nil
}

type dialect struct{}

func (dialect) Rebind(q string) string { return q }

func (dialect) BinaryCollation() string { return "" }

// SkipLocked is empty: SQLite's write transactions already run one at a time.
func (dialect) SkipLocked() string { return "" }

// Unavailable classifies the SQLite errors that mean the file cannot be written or read now —
// locked past the busy timeout, read-only, disk full, I/O failing — as opposed to a bug.
func (dialect) Unavailable(err error) (string, bool) {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return "", false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return "the database is locked by another writer", true
	case sqlite3.SQLITE_READONLY:
		return "the database file is read-only", true
	case sqlite3.SQLITE_FULL:
		return "disk full", true
	case sqlite3.SQLITE_IOERR:
		return "the database file cannot be read or written (I/O error)", true
	case sqlite3.SQLITE_CANTOPEN:
		return "the database file cannot be opened", true
	}
	return "", false
}

func (dialect) IsUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// LockAudit does nothing: write transactions are IMMEDIATE, so they already run one at a time.
func (dialect) LockAudit(context.Context, *sql.Tx) error { return nil }

// Notify does nothing: an SQLite file serves one node, and local subscribers hear of changes
// after commit.
func (dialect) Notify(context.Context, *sql.Tx, []latchkey.Change) error { return nil }
