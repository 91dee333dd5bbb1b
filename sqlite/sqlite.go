// Package sqlite is latchkey's embedded store: one SQLite file in WAL mode, opened with
// modernc.org/sqlite (pure Go, no cgo), with its schema migrations embedded.
package sqlite

import (
	"context"
	"database/sql"
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
}

var _ latchkey.Store = (*Store)(nil)

// DSN returns the driver DSN for a database file, with the pragmas every pooled connection needs:
// WAL, a busy timeout, foreign keys, and IMMEDIATE write transactions so that concurrent writers
// queue instead of failing.
func DSN(path string) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database file at path and migrates it.
func Open(ctx context.Context, path string) (*Store, error) {
	path = strings.TrimPrefix(path, "sqlite://")
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	// Keep connections idle for reuse: with database/sql's default of two, a burst of concurrent
	// reads opens and closes connections, and each new connection parses its statements again,
	// which costs far more than the reads. The number open stays unlimited (WAL readers do not
	// block each other, and a capped pool could starve a transaction that waits on another).
	db.SetMaxIdleConns(max(8, 4*runtime.GOMAXPROCS(0)))
	db.SetConnMaxIdleTime(10 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	if _, err := Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{Store: sqlstore.New(db, dialect{})}, nil
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
