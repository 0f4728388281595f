package freshpg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors returned by the bus.
var (
	// ErrBusClosed is returned by Publish and Subscribe after the bus's Close.
	ErrBusClosed = errors.New("freshpg: bus closed")
	// ErrMessageTooLarge is returned by Publish for a message longer than
	// Options.MaxMessageSize.
	ErrMessageTooLarge = errors.New("freshpg: message too large")
	// ErrTransactionPooling is returned by Subscribe (and logged by a subscription
	// that reconnects) when the listening connection goes through a proxy that pools
	// by transaction, such as PgBouncer with pool_mode=transaction: LISTEN holds only
	// for one transaction there, and notifications are lost. See
	// Options.AllowTransactionPooling.
	ErrTransactionPooling = errors.New("freshpg: LISTEN through a transaction-pooling proxy")
	// ErrListenProbe is returned by Subscribe (and logged by a subscription that
	// reconnects) when the connection did not receive the notification it sent
	// itself after LISTEN within Options.ProbeTimeout.
	ErrListenProbe = errors.New("freshpg: LISTEN self-test failed")
)

// Errors that the bus passes to fresh.Handler.HandleLoss, wrapped in an error that
// says what happened. Test them with errors.Is.
var (
	// ErrTrimmed reports that retention deleted messages that the subscription had
	// not read yet: it fell more than Options.MaxCount messages or Options.MaxAge
	// behind (a paused process, a long outage, a handler that blocked).
	ErrTrimmed = errors.New("freshpg: messages trimmed before they were read")
	// ErrTableReset reports that the log table was truncated, dropped and created
	// again, lost its meta row, or went back in time (a restore from a backup, a
	// failover to a replica that lacked the newest messages).
	ErrTableReset = errors.New("freshpg: log table reset")
	// ErrMalformedRow reports a row of the log table that this package did not
	// write (an unknown kind, a NULL message). It could have carried an
	// invalidation, so it counts as a loss.
	ErrMalformedRow = errors.New("freshpg: malformed row")
)

// DefaultMaxMessageSize is the default bound of a message's size, fresh's own bound
// on the messages it publishes.
const DefaultMaxMessageSize = 1 << 20

// DefaultTable is the default name of the log table.
const DefaultTable = "fresh_bus"

// Defaults of Options.
const (
	defaultMaxAge       = time.Hour
	defaultMaxCount     = 100_000
	defaultPollInterval = time.Second
	defaultProbeTimeout = 5 * time.Second
)

// Options configure a Bus. The zero value is the default configuration.
type Options struct {
	// Table names the log table: "name" or "schema.name", each part an unquoted
	// identifier (folded to lower case, as PostgreSQL does) or a double-quoted one.
	// Every process that shares invalidations uses the same table. The bus creates
	// it when it is missing. Default DefaultTable ("fresh_bus"), in the first schema
	// of the search_path.
	Table string
	// Channel is the NOTIFY channel that wakes the subscribers. Default
	// "fresh:<schema>.<table>" with the table's catalog names (hashed when longer
	// than 63 bytes), so that processes that name the table differently still meet.
	Channel string
	// MaxAge bounds the log by time: publishers delete messages older than MaxAge.
	// A subscriber that falls further behind than that is told so by HandleLoss.
	// Default one hour.
	MaxAge time.Duration
	// MaxCount bounds the log by count: publishers delete the messages whose id is
	// more than MaxCount below the newest one. Default 100,000.
	MaxCount int64
	// MaxMessageSize is the size of the largest message Publish accepts, in bytes.
	// Default DefaultMaxMessageSize (1 MiB).
	MaxMessageSize int
	// PollInterval is how long a subscription waits for a notification before it
	// reads the table anyway: the safety poll, which bounds the delay of a lost
	// notification and the detection of a truncated table or a dead connection
	// while nothing is published. At least a millisecond; default one second.
	PollInterval time.Duration
	// ProbeTimeout bounds the self-test that every listening connection makes after
	// LISTEN: it notifies itself and waits for that notification. Default five
	// seconds.
	ProbeTimeout time.Duration
	// AllowTransactionPooling makes a subscription whose connection goes through a
	// transaction-pooling proxy (or fails the self-test) go on with a warning,
	// relying on its safety poll alone: messages are still all delivered, in order,
	// but up to PollInterval late. By default such a subscription is refused:
	// Subscribe returns ErrTransactionPooling or ErrListenProbe.
	AllowTransactionPooling bool
	// Logger receives warnings about background failures: reads that fail and are
	// retried, continuity lost, trims that fail. Nil means slog.Default().
	Logger *slog.Logger
}

// Bus is a fresh.Bus on a PostgreSQL log table, with NOTIFY as the wake-up. See the
// package documentation for the design and its guarantees.
//
// The zero value is not usable; call New or OpenURL.
type Bus struct {
	pool    *pgxpool.Pool
	owned   bool // the bus opened pool and closes it
	o       Options
	table   tableName
	st      statements
	channel string
	name    string // the catalog schema.name, for messages
	log     *slog.Logger
	batch   int // rows per read

	closed atomic.Bool
	mu     sync.Mutex
	subs   map[*subscription]struct{} // guarded by mu; nil after Close

	trimKick   chan struct{} // capacity 1
	trimCancel context.CancelFunc
	trimDone   chan struct{}
	sinceTrim  atomic.Int64 // messages published since the last trim began
	lastTrim   atomic.Int64 // when the last trim began, UnixNano

	stats stats
}

var _ fresh.Bus = (*Bus)(nil)

// pollBytes bounds the size of one read, at MaxMessageSize per row; pollMax bounds
// its number of rows.
const (
	pollBytes = 32 << 20
	pollMax   = 1000
)

// New returns a Bus on pool configured by o. It creates the log table if it is
// missing, so it contacts the server, and returns an error if it cannot. The bus
// never closes pool; close the pool after the bus. Subscriptions listen on
// dedicated connections made with the pool's configuration (including its
// BeforeConnect and AfterConnect hooks), outside the pool.
func New(ctx context.Context, pool *pgxpool.Pool, o Options) (*Bus, error) {
	if ctx == nil {
		return nil, errors.New("freshpg: New: nil context")
	}
	if pool == nil {
		return nil, errors.New("freshpg: New: nil pool")
	}
	return newBus(ctx, pool, false, o)
}

// OpenURL opens a pool on the PostgreSQL server that rawURL names and returns a Bus
// on it, which closes the pool in its Close. rawURL is a postgres:// or
// postgresql:// URL as pgx reads it (host, port, user, password, database, and
// options such as sslmode and pool_max_conns), plus two of this package's query
// parameters, which are removed before pgx reads the URL: fresh_table (the Table
// option) and fresh_channel (the Channel option). A field set in o and in the URL
// must agree. Errors never include the password.
func OpenURL(ctx context.Context, rawURL string, o Options) (*Bus, error) {
	if ctx == nil {
		return nil, errors.New("freshpg: OpenURL: nil context")
	}
	connString, err := parseBusURL(rawURL, &o)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// pgx's error redacts the password.
		return nil, fmt.Errorf("freshpg: OpenURL: %w", err)
	}
	if _, err := checkOptions(o); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("freshpg: OpenURL: %w", err)
	}
	b, err := newBus(ctx, pool, true, o)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return b, nil
}

// parseBusURL checks the scheme of rawURL, moves this package's parameters into o
// and returns the URL for pgx.
func parseBusURL(rawURL string, o *Options) (string, error) {
	rawURL = strings.TrimSpace(rawURL)
	if !strings.Contains(rawURL, "://") {
		return "", errors.New("freshpg: OpenURL: the URL has no scheme; want a postgres:// or postgresql:// URL")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the URL, password included: say less.
		return "", errors.New("freshpg: OpenURL: malformed URL; want postgres://[user[:password]@]host[:port]/database[?options]")
	}
	switch strings.ToLower(u.Scheme) {
	case "postgres", "postgresql":
	default:
		return "", fmt.Errorf("freshpg: OpenURL: scheme %q is not postgres:// or postgresql://", u.Scheme)
	}
	q := u.Query()
	for _, p := range []struct {
		param string
		field *string
		name  string
	}{{"fresh_table", &o.Table, "Table"}, {"fresh_channel", &o.Channel, "Channel"}} {
		vs, ok := q[p.param]
		if !ok {
			continue
		}
		if len(vs) != 1 || vs[0] == "" {
			return "", fmt.Errorf("freshpg: OpenURL: parameter %s must be given once, not empty", p.param)
		}
		if *p.field != "" && *p.field != vs[0] {
			return "", fmt.Errorf("freshpg: OpenURL: parameter %s=%q disagrees with Options.%s %q", p.param, vs[0], p.name, *p.field)
		}
		*p.field = vs[0]
		q.Del(p.param)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// checkOptions validates o and returns the parsed table name.
func checkOptions(o Options) (tableName, error) {
	var errs []error
	var t tableName
	if o.Table == "" {
		t = tableName{name: DefaultTable}
	} else {
		var err error
		if t, err = parseTableName(o.Table); err != nil {
			errs = append(errs, fmt.Errorf("freshpg: Options.Table: %w", err))
		}
	}
	if o.Channel != "" {
		if err := checkChannel(o.Channel); err != nil {
			errs = append(errs, fmt.Errorf("freshpg: Options.Channel: %w", err))
		}
	}
	if o.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("freshpg: Options.MaxAge %v is negative", o.MaxAge))
	}
	if o.MaxCount < 0 {
		errs = append(errs, fmt.Errorf("freshpg: Options.MaxCount %d is negative", o.MaxCount))
	}
	if o.MaxMessageSize < 0 {
		errs = append(errs, fmt.Errorf("freshpg: Options.MaxMessageSize %d is negative", o.MaxMessageSize))
	}
	if o.PollInterval < 0 || (o.PollInterval > 0 && o.PollInterval < time.Millisecond) {
		errs = append(errs, fmt.Errorf("freshpg: Options.PollInterval %v is not at least 1ms", o.PollInterval))
	}
	if o.ProbeTimeout < 0 {
		errs = append(errs, fmt.Errorf("freshpg: Options.ProbeTimeout %v is negative", o.ProbeTimeout))
	}
	return t, errors.Join(errs...)
}

func newBus(ctx context.Context, pool *pgxpool.Pool, owned bool, o Options) (*Bus, error) {
	t, err := checkOptions(o)
	if err != nil {
		return nil, err
	}
	if o.MaxAge == 0 {
		o.MaxAge = defaultMaxAge
	}
	if o.MaxCount == 0 {
		o.MaxCount = defaultMaxCount
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.PollInterval == 0 {
		o.PollInterval = defaultPollInterval
	}
	if o.ProbeTimeout == 0 {
		o.ProbeTimeout = defaultProbeTimeout
	}
	b := &Bus{
		pool:     pool,
		owned:    owned,
		o:        o,
		table:    t,
		st:       newStatements(t),
		log:      o.Logger,
		batch:    min(max(pollBytes/o.MaxMessageSize, 1), pollMax),
		subs:     make(map[*subscription]struct{}),
		trimKick: make(chan struct{}, 1),
		trimDone: make(chan struct{}),
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	schema, name, err := setup(ctx, pool, t, &b.st)
	if err != nil {
		return nil, fmt.Errorf("freshpg: set up table %s: %w", t, err)
	}
	b.name = schema + "." + name
	b.channel = o.Channel
	if b.channel == "" {
		b.channel = defaultChannel(schema, name)
	}
	// Check that the table is one of ours: the subscribers' query must run.
	if _, err := pool.Exec(ctx, b.st.baseline); err != nil {
		return nil, fmt.Errorf("freshpg: table %s is not a freshpg log table: %w", b.name, err)
	}
	b.lastTrim.Store(time.Now().UnixNano())
	trimCtx, cancel := context.WithCancel(context.Background())
	b.trimCancel = cancel
	go b.trimmer(trimCtx)
	return b, nil
}

// Table returns the catalog name of the log table, schema.name.
func (b *Bus) Table() string { return b.name }

// Channel returns the NOTIFY channel.
func (b *Bus) Channel() string { return b.channel }

// rowQuerier is what a publish runs on: the pool or a pgx transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Publish appends msg to the log table and notifies the subscribers, in one
// statement that commits before Publish returns. It returns an error wrapping
// ErrMessageTooLarge for a message longer than MaxMessageSize, ErrBusClosed after
// Close, and an error if the server cannot be reached (the caller retries: fresh
// does).
func (b *Bus) Publish(ctx context.Context, msg []byte) error {
	if err := b.checkPublish(ctx, msg); err != nil {
		return err
	}
	err := b.publish(ctx, b.pool, msg)
	if isUndefinedTable(err) {
		// The table was dropped: create it again (subscribers report the loss
		// when they find its new meta row) and publish there.
		if _, _, serr := setup(ctx, b.pool, b.table, &b.st); serr != nil {
			return fmt.Errorf("%w; creating the table again: %w", err, serr)
		}
		b.log.Warn("freshpg: the log table was dropped; created it again", "table", b.name)
		err = b.publish(ctx, b.pool, msg)
	}
	return err
}

// PublishTx appends msg to the log table within the caller's transaction tx, so
// that the message is published if and only if tx commits, and subscribers hear of
// it only once the commit is visible. The message's place in the order is fixed by
// the commit, not by PublishTx's return.
//
// PublishTx takes the table's publish lock, which tx holds until it ends: every
// other publisher of the table waits until then. Call it last in the transaction,
// just before COMMIT, and keep that transaction short (see "Cost" in the package
// documentation).
func (b *Bus) PublishTx(ctx context.Context, tx pgx.Tx, msg []byte) error {
	if tx == nil {
		return errors.New("freshpg: PublishTx: nil transaction")
	}
	if err := b.checkPublish(ctx, msg); err != nil {
		return err
	}
	return b.publish(ctx, tx, msg)
}

// PublishSQLTx is PublishTx for a database/sql transaction on a PostgreSQL
// connection (for example through pgx's stdlib driver).
func (b *Bus) PublishSQLTx(ctx context.Context, tx *sql.Tx, msg []byte) error {
	if tx == nil {
		return errors.New("freshpg: PublishSQLTx: nil transaction")
	}
	if err := b.checkPublish(ctx, msg); err != nil {
		return err
	}
	return b.publish(ctx, sqlTxQuerier{tx}, msg)
}

// sqlTxQuerier adapts a *sql.Tx to rowQuerier.
type sqlTxQuerier struct{ tx *sql.Tx }

func (q sqlTxQuerier) QueryRow(ctx context.Context, query string, args ...any) pgx.Row {
	return q.tx.QueryRowContext(ctx, query, args...)
}

// checkPublish makes the checks that every publish makes before sending.
func (b *Bus) checkPublish(ctx context.Context, msg []byte) error {
	switch {
	case ctx == nil:
		return errors.New("freshpg: publish: nil context")
	case len(msg) > b.o.MaxMessageSize:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, len(msg), b.o.MaxMessageSize)
	case b.closed.Load():
		return ErrBusClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("freshpg: publish: %w", err)
	}
	return nil
}

// publish runs the publish statement on q.
func (b *Bus) publish(ctx context.Context, q rowQuerier, msg []byte) error {
	if msg == nil {
		msg = []byte{} // bytea NOT NULL: an empty message is not a NULL one
	}
	var (
		id     int64
		notify string
	)
	if err := q.QueryRow(ctx, b.st.publish, msg, b.channel).Scan(&id, &notify); err != nil {
		b.stats.publishErrors.Add(1)
		return fmt.Errorf("freshpg: publish to table %s: %w", b.name, err)
	}
	b.stats.published.Add(1)
	b.maybeTrim()
	return nil
}

// Subscribe registers h and returns once every message published afterwards will
// reach it: it opens a dedicated connection, checks that notifications reach it
// (see Options.AllowTransactionPooling), LISTENs, and reads the newest id, after
// which the subscription delivers every message with a greater id. The
// subscription's goroutine calls h until its Close or the bus's.
func (b *Bus) Subscribe(ctx context.Context, h fresh.Handler) (fresh.Subscription, error) {
	switch {
	case ctx == nil:
		return nil, errors.New("freshpg: subscribe: nil context")
	case h == nil:
		return nil, errors.New("freshpg: subscribe: nil handler")
	case b.closed.Load():
		return nil, ErrBusClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("freshpg: subscribe: %w", err)
	}
	s := newSubscription(b, h)
	if err := s.start(ctx); err != nil {
		s.stop()
		return nil, fmt.Errorf("freshpg: subscribe to table %s: %w", b.name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		s.abandon()
		return nil, ErrBusClosed
	}
	b.subs[s] = struct{}{}
	go s.run()
	return s, nil
}

// remove unregisters s.
func (b *Bus) remove(s *subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, s) // a no-op on the nil map after Close
}

// Close closes every subscription, waiting for their goroutines (except one that
// calls Close from its handler), stops the trimmer, and makes later Publish and
// Subscribe calls fail. It closes the pool if the bus opened it (OpenURL). Close is
// idempotent and returns nil.
func (b *Bus) Close() error {
	if b.closed.Swap(true) {
		// Still wait below for what a concurrent first Close stopped.
		<-b.trimDone
		return nil
	}
	b.mu.Lock()
	subs := b.subs
	b.subs = nil
	b.mu.Unlock()
	for s := range subs {
		s.stop()
	}
	for s := range subs {
		s.wait()
	}
	b.trimCancel()
	<-b.trimDone
	if b.owned {
		b.pool.Close()
	}
	return nil
}

// maybeTrim wakes the trimmer when enough messages were published, or enough time
// passed, since the last trim: retention costs publishers an amortised share of a
// DELETE, never a wait.
func (b *Bus) maybeTrim() {
	n := b.sinceTrim.Add(1)
	every := min(max(b.o.MaxCount/10, 1), 1000)
	period := min(max(b.o.MaxAge/10, 10*time.Millisecond), time.Minute)
	if n < every && time.Since(time.Unix(0, b.lastTrim.Load())) < period {
		return
	}
	select {
	case b.trimKick <- struct{}{}:
	default: // a trim is already due
	}
}

// trimTimeout bounds one trim.
const trimTimeout = 30 * time.Second

// trimmer trims the table when maybeTrim asks, until Close.
func (b *Bus) trimmer(ctx context.Context) {
	defer close(b.trimDone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.trimKick:
		}
		tctx, cancel := context.WithTimeout(ctx, trimTimeout)
		if _, err := b.Trim(tctx); err != nil && ctx.Err() == nil {
			b.log.Warn("freshpg: trimming the log table failed; retrying after later publishes", "table", b.name, "err", err)
		}
		cancel()
	}
}

// Trim deletes the messages that retention (MaxAge, MaxCount) no longer keeps. It
// returns the new watermark (every id up to it is deleted) when this call raised
// it, and 0 when there was nothing to delete. Publishers trim by themselves; Trim is
// for tests and for operators.
func (b *Bus) Trim(ctx context.Context) (int64, error) {
	if ctx == nil {
		return 0, errors.New("freshpg: Trim: nil context")
	}
	b.sinceTrim.Store(0)
	b.lastTrim.Store(time.Now().UnixNano())
	var upto int64
	err := b.pool.QueryRow(ctx, b.st.trim, b.o.MaxAge.Microseconds(), b.o.MaxCount).Scan(&upto)
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil // nothing more to trim
	}
	if err != nil {
		b.stats.trimErrors.Add(1)
		return 0, fmt.Errorf("freshpg: trim table %s: %w", b.name, err)
	}
	b.stats.trims.Add(1)
	return upto, nil
}

// isUndefinedTable reports whether err says that the table does not exist.
func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}
