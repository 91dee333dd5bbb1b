package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkey/latchkey"
)

// The notification payload is
//
//	v1 <node> <kind>:<account>:<id> <kind>:<account>:<id> …
//
// where node identifies the sending Store (a node skips its own notifications: sqlstore has
// already told its subscribers), kind is a latchkey.ChangeKind and account and id are that
// change's. "v1 <node> *" means "flush everything": it is sent instead when the list would not
// fit PostgreSQL's 8000-byte payload limit. A payload that does not parse is treated as "*", so
// a node never keeps serving what a newer node's format tried to revoke.
const (
	payloadVersion = "v1"
	maxPayload     = 7900
)

// encodeChanges renders changes (deduplicated, in order) as a notification payload.
func encodeChanges(node string, changes []latchkey.Change) string {
	var b strings.Builder
	b.WriteString(payloadVersion + " " + node)
	seen := make(map[latchkey.Change]bool, len(changes))
	for _, c := range changes {
		if seen[c] {
			continue
		}
		seen[c] = true
		if c.Kind == latchkey.ChangeAll || b.Len() > maxPayload-64 {
			return payloadVersion + " " + node + " *"
		}
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(uint64(c.Kind), 10))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(c.AccountID, 10))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(c.ID, 10))
	}
	return b.String()
}

// flushAll is what a node does when it may have missed or cannot read a notification.
var flushAll = []latchkey.Change{{Kind: latchkey.ChangeAll}}

// decodeChanges parses a payload into the sending node and its changes. Anything unreadable
// decodes as a flush of everything.
func decodeChanges(payload string) (node string, changes []latchkey.Change) {
	// A payload must start as encodeChanges writes it ("v1 "); anything else (another version,
	// leading whitespace) flushes everything rather than being half-understood.
	if !strings.HasPrefix(payload, payloadVersion+" ") {
		return "", flushAll
	}
	fields := strings.Fields(payload)
	if len(fields) < 2 || fields[0] != payloadVersion {
		return "", flushAll
	}
	node = fields[1]
	for _, f := range fields[2:] {
		if f == "*" {
			return node, flushAll
		}
		parts := strings.Split(f, ":")
		if len(parts) != 3 {
			return node, flushAll
		}
		kind, err1 := strconv.ParseUint(parts[0], 10, 8)
		account, err2 := strconv.ParseInt(parts[1], 10, 64)
		id, err3 := strconv.ParseInt(parts[2], 10, 64)
		k := latchkey.ChangeKind(kind)
		if err1 != nil || err2 != nil || err3 != nil || k < latchkey.ChangeToken || k > latchkey.ChangeAll {
			return node, flushAll
		}
		if k == latchkey.ChangeAll {
			return node, flushAll
		}
		changes = append(changes, latchkey.Change{Kind: k, AccountID: account, ID: id})
	}
	return node, changes
}

// channelName is the NOTIFY channel for a schema: nodes of different schemas (deployments
// sharing a database) do not hear each other. Channel names are identifiers, at most 63 bytes.
func channelName(schema string) string {
	c := "latchkey_" + schema
	if len(c) > 63 {
		sum := sha256.Sum256([]byte(schema))
		c = "latchkey_" + hex.EncodeToString(sum[:12])
	}
	return c
}

func newNodeID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// Listener timing. A silent connection (a dead peer with no RST) is found by pinging after
// keepalive without notifications; a lost connection is retried from minBackoff, doubling to
// maxBackoff, so a node is back within about a second of PostgreSQL.
const (
	keepalive   = 5 * time.Second
	pingTimeout = 3 * time.Second
	minBackoff  = 50 * time.Millisecond
	maxBackoff  = time.Second
)

// listener holds the dedicated LISTEN connection and hands notifications to publish.
type listener struct {
	cfg     *pgx.ConnConfig
	channel string
	node    string
	publish func(...latchkey.Change)
	log     *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}
	up     atomic.Bool
	// pid is the listening backend's process id (tests terminate it to simulate a lost
	// connection); reconnects counts re-established connections.
	pid        atomic.Uint32
	reconnects atomic.Int64
}

// listen connects and LISTENs before returning, so that no change committed after Open returns
// can go unheard, then keeps listening in the background until close.
func listen(ctx context.Context, cfg *pgx.ConnConfig, channel, node string, publish func(...latchkey.Change), log *slog.Logger) (*listener, error) {
	l := &listener{cfg: cfg, channel: channel, node: node, publish: publish, log: log, done: make(chan struct{})}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(runCtx, conn)
	return l, nil
}

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, redactErr(err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	l.pid.Store(conn.PgConn().PID())
	l.up.Store(true)
	return conn, nil
}

func (l *listener) connected() bool { return l.up.Load() }

func (l *listener) close() {
	l.cancel()
	<-l.done
}

// run receives notifications until ctx ends, reconnecting whenever the connection is lost.
// Whatever was committed while it was away is unknown, so every reconnection flushes the
// subscribers' caches (after LISTEN is back, so nothing falls between the two).
func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	backoff := minBackoff
	var lostAt time.Time
	for {
		if conn == nil {
			c, err := l.connect(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if backoff == maxBackoff {
					l.log.Debug("postgres change listener: reconnect failed", "error", err.Error())
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, maxBackoff)
				continue
			}
			conn, backoff = c, minBackoff
			l.reconnects.Add(1)
			l.publish(flushAll...)
			l.log.Info("postgres change listener reconnected; caches flushed", "channel", l.channel,
				"down", time.Since(lostAt).Round(time.Millisecond).String())
		}
		err := l.receive(ctx, conn)
		l.up.Store(false)
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(cctx)
		cancel()
		conn = nil
		if ctx.Err() != nil {
			return
		}
		lostAt = time.Now()
		l.log.Warn("postgres change listener lost its connection; reconnecting", "channel", l.channel, "error", err.Error())
	}
}

// receive publishes notifications until the connection fails or ctx ends.
func (l *listener) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, keepalive)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			node, changes := decodeChanges(n.Payload)
			if node != l.node {
				l.publish(changes...)
			}
			continue
		}
		if !pgconn.Timeout(err) || conn.IsClosed() {
			return err
		}
		// Quiet for a while: make sure the connection is still there.
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
}
