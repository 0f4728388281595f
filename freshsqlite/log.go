package freshsqlite

// The event log inside the database file: its tables, their creation and checking,
// and the connections that the bus pins from the pool.
//
//	fresh_log   seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER, msg BLOB
//	            one row per message: seq is its place in the order, at the
//	            publisher's wall clock in Unix milliseconds (for retention only),
//	            msg its bytes
//	fresh_meta  key TEXT PRIMARY KEY, value TEXT
//	            magic   = "fresh event log", which marks the file as the bus's
//	            version = the format version, formatVersion
//	            id      = random, drawn when the log was created: a log recreated in
//	                      place, or in a file that replaced this one, has another id
//
// The columns of fresh_log have no constraints, so that a row written by someone
// else (NULL, text) is read back as written and reported as a loss, not refused at
// the INSERT where nobody would see it.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Names and values of the log's schema.
const (
	logTable      = "fresh_log"
	metaTable     = "fresh_meta"
	metaMagic     = "fresh event log"
	formatVersion = 1
)

// SQL of the log.
const (
	sqlCreateLog  = `CREATE TABLE ` + logTable + ` (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER, msg BLOB)`
	sqlCreateMeta = `CREATE TABLE ` + metaTable + ` (key TEXT PRIMARY KEY, value TEXT)`
	sqlInsertMeta = `INSERT INTO ` + metaTable + ` (key, value) VALUES ('magic', ?), ('version', ?), ('id', ?), ('created', ?)`
	sqlTables     = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`
	sqlMeta       = `SELECT key, value FROM ` + metaTable + ` WHERE key IN ('magic', 'version', 'id')`
	sqlLastSeq    = `SELECT seq FROM sqlite_sequence WHERE name = '` + logTable + `'`
	sqlMainFile   = `SELECT file FROM pragma_database_list WHERE name = 'main'`
	sqlInsert     = `INSERT INTO ` + logTable + ` (at, msg) VALUES (?, ?)`
	// An empty message is written as a literal, because drivers bind an empty
	// []byte as NULL or as an empty blob, and NULL is a malformed row.
	sqlInsertEmpty  = `INSERT INTO ` + logTable + ` (at, msg) VALUES (?, x'')`
	sqlDataVersion  = `PRAGMA data_version`
	sqlRead         = `SELECT seq, typeof(msg), msg FROM ` + logTable + ` WHERE seq > ? ORDER BY seq LIMIT ?`
	sqlBounds       = `SELECT min(seq), max(seq) FROM ` + logTable
	sqlFirstRecent  = `SELECT seq FROM ` + logTable + ` WHERE seq < ? AND at >= ? ORDER BY seq LIMIT 1`
	sqlDeleteBefore = `DELETE FROM ` + logTable + ` WHERE seq <= ?`
)

// logInfo describes the log in a database, as inspect found it.
type logInfo struct {
	exists bool   // the database holds the log's tables
	id     string // the log's id
	seq    int64  // the last sequence number drawn (0 before the first message)
}

// querier is what inspect needs of a *sql.Conn.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inspect reads what the database holds without changing it. It returns
// ErrNotEventLog for a database with tables of its own and no log, or with a meta
// table that is not the bus's, and ErrNewerFormat for a log of a newer format.
func inspect(ctx context.Context, q querier) (logInfo, error) {
	names, err := tableNames(ctx, q)
	if err != nil {
		return logInfo{}, fmt.Errorf("list tables: %w", err)
	}
	var hasLog, hasMeta bool
	var others []string
	for _, name := range names {
		switch name {
		case logTable:
			hasLog = true
		case metaTable:
			hasMeta = true
		default:
			others = append(others, name)
		}
	}
	if !hasMeta {
		if !hasLog && len(others) == 0 {
			return logInfo{}, nil // empty: the log is to be created
		}
		return logInfo{}, fmt.Errorf("%w: the database holds tables %s and no %s table; give the bus a file of its own",
			ErrNotEventLog, quoteNames(others, hasLog), metaTable)
	}
	meta, err := readMeta(ctx, q)
	if err != nil {
		return logInfo{}, err
	}
	if meta["magic"] != metaMagic {
		return logInfo{}, fmt.Errorf("%w: table %s does not mark the file as a fresh event log (magic %q)",
			ErrNotEventLog, metaTable, truncate(meta["magic"], 40))
	}
	version, err := strconv.Atoi(meta["version"])
	switch {
	case err != nil || version < 1:
		return logInfo{}, fmt.Errorf("%w: table %s holds the format version %q", ErrNotEventLog, metaTable, truncate(meta["version"], 40))
	case version > formatVersion:
		return logInfo{}, fmt.Errorf("%w: the log is of format version %d; this package reads version %d: upgrade it",
			ErrNewerFormat, version, formatVersion)
	case !hasLog || meta["id"] == "":
		return logInfo{}, fmt.Errorf("%w: the file has the %s table but its log is damaged (no %s table or no id); delete the file",
			ErrNotEventLog, metaTable, logTable)
	}
	seq, err := lastSeq(ctx, q)
	if err != nil {
		return logInfo{}, err
	}
	return logInfo{exists: true, id: meta["id"], seq: seq}, nil
}

// tableNames returns the names of the database's tables, but SQLite's own.
func tableNames(ctx context.Context, q querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, sqlTables)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, rows.Err()
}

// readMeta returns the rows of the meta table that the bus reads.
func readMeta(ctx context.Context, q querier) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, sqlMeta)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", metaTable, err)
	}
	defer func() { _ = rows.Close() }()
	meta := map[string]string{}
	for rows.Next() {
		var k, v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("%w: read %s: %w", ErrNotEventLog, metaTable, err)
		}
		meta[k.String] = v.String
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", metaTable, err)
	}
	return meta, nil
}

// lastSeq returns the last sequence number drawn in the log: AUTOINCREMENT keeps it
// in sqlite_sequence, even when the rows are gone.
func lastSeq(ctx context.Context, q querier) (int64, error) {
	var seq sql.NullInt64
	err := q.QueryRowContext(ctx, sqlLastSeq).Scan(&seq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read the last sequence number: %w", err)
	}
	return seq.Int64, nil
}

// quoteNames lists up to 5 table names for an error, with the log's own if hasLog.
func quoteNames(names []string, hasLog bool) string {
	if hasLog {
		names = append([]string{logTable}, names...)
	}
	quoted := make([]string, 0, 6)
	for _, n := range names[:min(len(names), 5)] {
		quoted = append(quoted, strconv.Quote(truncate(n, 40)))
	}
	if len(names) > 5 {
		quoted = append(quoted, "...")
	}
	return strings.Join(quoted, ", ")
}

// truncate returns s cut to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ensureLog checks the database on c, puts it in WAL mode and creates the log if the
// database is empty. Several processes may do so at once: the creation re-checks in a
// write transaction, which SQLite gives to one of them at a time. busy bounds the
// wait for the lock that the change to WAL mode takes, for which SQLite does not
// wait by itself.
func ensureLog(ctx context.Context, c *sql.Conn, busy time.Duration) (logInfo, error) {
	info, err := inspect(ctx, c) // refuse a foreign file before changing its journal mode
	if err != nil {
		return logInfo{}, err
	}
	var mode string
	if err := c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return logInfo{}, fmt.Errorf("read the journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		// Persistent: every process that opens the file gets WAL mode.
		err := retryBusy(ctx, busy, func() error {
			return c.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		})
		if err != nil {
			return logInfo{}, fmt.Errorf("set WAL mode: %w", err)
		}
		if !strings.EqualFold(mode, "wal") {
			return logInfo{}, fmt.Errorf("%w: SQLite cannot put it in WAL mode (journal mode %q)", ErrNotOnDisk, mode)
		}
	}
	if info.exists {
		return info, nil
	}
	err = inTx(ctx, c, 0, func() error {
		info, err = inspect(ctx, c)
		if err != nil || info.exists {
			return err // another process created it first
		}
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		info = logInfo{exists: true, id: hex.EncodeToString(id)}
		for _, stmt := range []string{sqlCreateLog, sqlCreateMeta} {
			if _, err := c.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("create the log: %w", err)
			}
		}
		_, err := c.ExecContext(ctx, sqlInsertMeta, metaMagic, strconv.Itoa(formatVersion), info.id,
			time.Now().UTC().Format(time.RFC3339))
		if err != nil {
			return fmt.Errorf("create the log: %w", err)
		}
		return nil
	})
	if err != nil {
		return logInfo{}, err
	}
	return info, nil
}

// rollbackTimeout bounds a ROLLBACK after a failed transaction.
const rollbackTimeout = 5 * time.Second

// errBrokenConn reports a connection left in an unknown state: a ROLLBACK failed.
var errBrokenConn = errors.New("connection left in an unknown state")

// inTx runs fn in a write transaction on c: BEGIN IMMEDIATE takes the write lock at
// once, so the transaction cannot fail later for want of it. If busy is positive,
// BEGIN is retried for that long while another connection holds the lock (see
// retryBusy); otherwise the connection's busy_timeout applies. The COMMIT is not
// cancelled with ctx: once fn succeeded, the work is committed. A failure rolls back;
// if even that fails, the error wraps errBrokenConn and the connection must be
// discarded.
func inTx(ctx context.Context, c *sql.Conn, busy time.Duration, fn func() error) error {
	begin := func() error {
		_, err := c.ExecContext(ctx, `BEGIN IMMEDIATE`)
		return err
	}
	if err := retryBusy(ctx, busy, begin); err != nil {
		// A driver may report a BEGIN that succeeded as failed, when ctx ended during
		// the call (modernc.org/sqlite returns the context's error then, whatever
		// the statement did). A transaction left open would swallow the next
		// statements, which would seem to succeed and never commit: so roll back
		// whatever there is. With no transaction open, ROLLBACK fails harmlessly.
		rctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
		defer cancel()
		_, _ = c.ExecContext(rctx, `ROLLBACK`)
		return fmt.Errorf("begin: %w", err)
	}
	err := fn()
	if err == nil {
		if _, err = c.ExecContext(context.WithoutCancel(ctx), `COMMIT`); err == nil {
			return nil
		}
		err = fmt.Errorf("commit: %w", err)
	}
	rctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	if _, rerr := c.ExecContext(rctx, `ROLLBACK`); rerr != nil {
		return fmt.Errorf("%w (and %w: rollback: %w)", err, errBrokenConn, rerr)
	}
	return err
}

// The pauses of retryBusy double from busyFirst to busyLongest.
const (
	busyFirst   = 20 * time.Microsecond
	busyLongest = time.Millisecond
)

// retryBusy calls fn, a statement that takes the write lock, again while it fails
// because another connection holds the lock, for up to timeout (not at all if
// timeout is 0). It pauses between attempts from 20 µs up to 1 ms: a writer holds
// the lock for a commit, typically tens of microseconds, and SQLite's own busy
// handler would sleep for 1, 2, 5, 10 ms and more, which is most of the latency of a
// publish when processes publish at once.
func retryBusy(ctx context.Context, timeout time.Duration, fn func() error) error {
	err := fn()
	if err == nil || timeout <= 0 || !isBusy(err) {
		return err
	}
	deadline := time.Now().Add(timeout)
	pause := busyFirst
	t := time.NewTimer(pause)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (waiting for the lock: %w)", ctx.Err(), err)
		case <-t.C:
		}
		if err = fn(); err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		pause = min(2*pause, busyLongest)
		t.Reset(pause)
	}
}

// isBusy reports whether err is SQLITE_BUSY, which every driver reports with
// SQLite's message for it.
func isBusy(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "sqlite_busy")
}

// pin takes a connection from the pool for the bus's own use and sets its busy
// timeout. The bus gives it back with discard, never to the pool.
func (b *Bus) pin(ctx context.Context) (*sql.Conn, error) {
	c, err := b.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("take a connection: %w", err)
	}
	if _, err := c.ExecContext(ctx, `PRAGMA busy_timeout = `+strconv.FormatInt(b.o.BusyTimeout.Milliseconds(), 10)); err != nil {
		discard(c)
		return nil, fmt.Errorf("set busy_timeout: %w", err)
	}
	return c, nil
}

// discard closes the connection behind c rather than giving it back to the pool, so
// that the settings the bus made on it (busy_timeout, synchronous) and any state a
// failure left it in never reach the application.
func discard(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn }) // database/sql closes a bad connection
	_ = c.Close()
}

// mainFile returns the file of the database on c, or ErrNotOnDisk.
func mainFile(ctx context.Context, c *sql.Conn) (string, error) {
	var file sql.NullString
	if err := c.QueryRowContext(ctx, sqlMainFile).Scan(&file); err != nil {
		return "", fmt.Errorf("read the database's file name: %w", err)
	}
	if file.String == "" {
		return "", fmt.Errorf("%w: an in-memory or temporary database, which other processes cannot open", ErrNotOnDisk)
	}
	return file.String, nil
}
