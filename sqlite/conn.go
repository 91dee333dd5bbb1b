package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// This file wraps modernc.org/sqlite's connections for one reason: a connection that may not
// reach its files must leave the pool, so that writes work again as soon as the files do.
//
// SQLite opens a connection's files once: a connection opened while the database file (or its
// -wal or -shm) was read-only keeps a read-only handle for life. database/sql knew nothing of it,
// kept such a connection in the pool and handed it out again, so after a read-only moment writes
// went on failing ("attempt to write a readonly database") until a restart (issue 16).
//
// Here a connection is marked when it reports a read-only, I/O or can't-open error, or when it
// was opened read-only (see connector.Connect). A marked connection tells database/sql it is
// unusable (Validator, SessionResetter), which closes it when the call in progress is done, never
// in the middle of a transaction, and opens a fresh connection when one is next needed; that one
// sees the files as they are then. Reads on a marked connection still work, so reads go on
// through a read-only moment. (The -shm, which all connections share, is the store's anchor
// connection's business: see anchor.)
//
// The wrapper forwards every optional interface modernc's connections, statements and rows
// implement (sqliteConn, sqliteStmt, sqliteRows) and changes nothing else: errors are returned
// as they came, so retries and error classification work as before. A healthy connection costs
// three access(2) calls when it opens, then an atomic load per use and one small allocation per
// query.

// sqliteConn is what modernc.org/sqlite's connections implement and conn forwards. Without the
// context-taking methods database/sql would fall back to ones that ignore cancellation.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// sqliteStmt is what modernc.org/sqlite's statements implement and stmt forwards.
type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// sqliteRows is what modernc.org/sqlite's rows implement and rows forwards.
type sqliteRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// connector opens modernc.org/sqlite connections to the database file at path and wraps them in
// conn.
type connector struct {
	driver.Connector
	path string
}

// Connect marks the new connection for discarding after its first use if SQLite may have opened
// any of the database's files read-only: if the database file is read-only now, or if any of the
// three files was before the connection opened. The second check is for a file made writable
// again while the connection opened (chmod 644 latchkey.db*, one file after another), which would
// leave it a writable database file but a read-only -wal or -shm, which SQLite reports only at
// the first write.
func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	suspect := readOnlyFile(c.path) || readOnlyFile(c.path+"-wal") || readOnlyFile(c.path+"-shm")
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := dc.(sqliteConn)
	if !ok {
		dc.Close()
		return nil, fmt.Errorf("sqlite: connection %T lacks the interfaces latchkey forwards", dc)
	}
	cn := &conn{sc: sc}
	if ro, ok := dc.(interface{ IsReadOnly(string) (bool, error) }); ok {
		if readOnly, err := ro.IsReadOnly("main"); err == nil && readOnly {
			suspect = true
		}
	}
	cn.broken.Store(suspect)
	return cn, nil
}

// conn is a modernc.org/sqlite connection that leaves the pool after a read-only, I/O or
// can't-open error.
type conn struct {
	sc     sqliteConn
	broken atomic.Bool
}

// Unwrap returns modernc's connection, for its functions that take a *sql.Conn (sqlite.Limit).
func (c *conn) Unwrap() driver.Conn { return c.sc }

// observe remembers whether err means the connection can no longer be trusted to reach its
// files, and returns err unchanged.
func (c *conn) observe(err error) error {
	if err != nil && err != io.EOF && discards(err) {
		c.broken.Store(true)
	}
	return err
}

// discards reports whether err is one after which a connection is closed rather than reused:
// read-only (whatever the cause: permissions, a moved file, a read-only -wal or -shm), I/O
// failing, or a file that cannot be opened. A busy, full or constraint error leaves the
// connection as good as it was.
func discards(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return true
	}
	return false
}

// IsValid is asked before the connection goes back to the pool; false closes it.
func (c *conn) IsValid() bool { return !c.broken.Load() && c.sc.IsValid() }

// ResetSession is asked before a pooled connection is reused; driver.ErrBadConn closes it and
// database/sql takes another.
func (c *conn) ResetSession(ctx context.Context) error {
	if c.broken.Load() {
		return driver.ErrBadConn
	}
	return c.sc.ResetSession(ctx)
}

func (c *conn) Close() error { return c.sc.Close() }

func (c *conn) Ping(ctx context.Context) error { return c.observe(c.sc.Ping(ctx)) }

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	t, err := c.sc.BeginTx(ctx, opts)
	if err != nil {
		return nil, c.observe(err)
	}
	return tx{t, c}, nil
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.sc.PrepareContext(ctx, query)
	if err != nil {
		return nil, c.observe(err)
	}
	ss, ok := s.(sqliteStmt)
	if !ok {
		s.Close()
		return nil, fmt.Errorf("sqlite: statement %T lacks the interfaces latchkey forwards", s)
	}
	return stmt{ss, c}, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	r, err := c.sc.ExecContext(ctx, query, args)
	return r, c.observe(err)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.sc.QueryContext(ctx, query, args)
	if err != nil {
		return nil, c.observe(err)
	}
	return c.rows(r)
}

// rows wraps r, whose Next can fail too: a query's first row is read by Query, the others by
// Next.
func (c *conn) rows(r driver.Rows) (driver.Rows, error) {
	sr, ok := r.(sqliteRows)
	if !ok {
		r.Close()
		return nil, fmt.Errorf("sqlite: rows %T lack the interfaces latchkey forwards", r)
	}
	return rows{sr, c}, nil
}

// tx is a transaction on conn: COMMIT can fail on I/O too.
type tx struct {
	t driver.Tx
	c *conn
}

func (t tx) Commit() error   { return t.c.observe(t.t.Commit()) }
func (t tx) Rollback() error { return t.c.observe(t.t.Rollback()) }

// stmt is a prepared statement on conn.
type stmt struct {
	s sqliteStmt
	c *conn
}

func (s stmt) Close() error  { return s.s.Close() }
func (s stmt) NumInput() int { return s.s.NumInput() }

func (s stmt) Exec(args []driver.Value) (driver.Result, error) {
	r, err := s.s.Exec(args) //lint:ignore SA1019 driver.Stmt requires it; database/sql calls ExecContext
	return r, s.c.observe(err)
}

func (s stmt) Query(args []driver.Value) (driver.Rows, error) {
	r, err := s.s.Query(args) //lint:ignore SA1019 driver.Stmt requires it; database/sql calls QueryContext
	if err != nil {
		return nil, s.c.observe(err)
	}
	return s.c.rows(r)
}

func (s stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	r, err := s.s.ExecContext(ctx, args)
	return r, s.c.observe(err)
}

func (s stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	r, err := s.s.QueryContext(ctx, args)
	if err != nil {
		return nil, s.c.observe(err)
	}
	return s.c.rows(r)
}

// rows is a result set on conn. The embedded sqliteRows forwards Columns and the column-type
// methods.
type rows struct {
	sqliteRows
	c *conn
}

func (r rows) Next(dest []driver.Value) error { return r.c.observe(r.sqliteRows.Next(dest)) }
func (r rows) Close() error                   { return r.c.observe(r.sqliteRows.Close()) }

var (
	_ driver.Connector = connector{}
	_ sqliteConn       = (*conn)(nil)
	_ driver.Tx        = tx{}
	_ sqliteStmt       = stmt{}
	_ sqliteRows       = rows{}
)
