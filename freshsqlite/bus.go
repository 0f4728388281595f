package freshsqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
)

// Errors returned by New, OpenURL, Publish and Subscribe. Test them with errors.Is.
var (
	// ErrBusClosed is returned by Publish and Subscribe after the bus's Close.
	ErrBusClosed = errors.New("freshsqlite: bus closed")
	// ErrMessageTooLarge is returned by Publish for a message longer than
	// Options.MaxMessageSize.
	ErrMessageTooLarge = errors.New("freshsqlite: message too large")
	// ErrNotEventLog is returned by New for a database that holds tables of its own
	// but not the bus's: the bus refuses to write into someone else's file.
	ErrNotEventLog = errors.New("freshsqlite: not a fresh event log")
	// ErrNewerFormat is returned by New for an event log written by a newer version
	// of this package, in a format this one cannot read.
	ErrNewerFormat = errors.New("freshsqlite: event log of a newer format")
	// ErrNotOnDisk is returned by New and OpenURL for an in-memory or temporary
	// database (":memory:", "file::memory:", mode=memory, an empty name), which no
	// other process can open.
	ErrNotOnDisk = errors.New("freshsqlite: database is not a file on disk")
)

// Errors that a subscription passes to fresh.Handler.HandleLoss, wrapped in an error
// that says what happened. Test them with errors.Is.
var (
	// ErrGap reports rows missing from the log after the subscription's position:
	// they were trimmed (the subscriber fell further behind than Options.Retention
	// or Options.MaxRows allow) or deleted.
	ErrGap = errors.New("freshsqlite: log continuity lost")
	// ErrMalformedRow reports a row of the log that is not a message this package
	// wrote (its msg column is NULL, text or a number). It could have carried an
	// invalidation, so it counts as a loss.
	ErrMalformedRow = errors.New("freshsqlite: malformed log row")
	// ErrLogReplaced reports that the log the subscription followed was replaced:
	// the database file was deleted or replaced by another one, or the log inside it
	// was recreated or reset. The subscription follows the new log from its end.
	ErrLogReplaced = errors.New("freshsqlite: event log replaced")
)

// DefaultMaxMessageSize is the default bound of a message's size, the same as
// fresh's own bound on the messages it publishes.
const DefaultMaxMessageSize = 1 << 20

// Options configure a Bus. The zero value is the default configuration.
type Options struct {
	// Retention is how long a message stays in the log: publishers trim older rows.
	// A subscriber that falls further behind than that receives HandleLoss. The
	// publishers' wall clock dates the rows, so a clock stepped forward trims early
	// (and a subscriber behind then receives HandleLoss, never silence); the order of
	// the messages never depends on a clock. Default 1 minute.
	Retention time.Duration
	// MaxRows bounds the log's length: publishers trim rows beyond the newest
	// MaxRows (give or take TrimEvery). A subscriber that falls further behind than
	// that receives HandleLoss. Default 100,000.
	MaxRows int64
	// TrimEvery is how often the log is trimmed: the publisher whose message gets a
	// sequence number that is a multiple of TrimEvery trims it, in a transaction of
	// its own after its message's, deleting at most 10,000 rows. A bus also trims
	// once when it opens. Default 128.
	TrimEvery int64
	// PollInterval is the period of the safety net that reads the log while a
	// subscription waits for file-system notifications, which can be lost (network
	// file systems, full event queues): a few cheap queries, which also check that
	// the file and the log in it were not replaced. It bounds the latency when
	// notifications fail. Default 250 ms.
	PollInterval time.Duration
	// FallbackPollInterval is the period of the same check when the directory
	// cannot be watched (or DisableWatch is set): it bounds the latency then, and
	// costs CPU while idle. Default 2 ms.
	FallbackPollInterval time.Duration
	// DisableWatch turns file-system notifications off: subscriptions poll every
	// FallbackPollInterval.
	DisableWatch bool
	// BusyTimeout is how long a statement waits for another process's lock on the
	// file (PRAGMA busy_timeout) before Publish fails. Default 5 s.
	BusyTimeout time.Duration
	// MaxMessageSize is the size of the largest message that Publish accepts, in
	// bytes. Default DefaultMaxMessageSize (1 MiB), the largest message fresh sends.
	MaxMessageSize int
	// Logger receives warnings about background events: reads that fail and are
	// retried, continuity lost, a file on a network file system. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Defaults of Options.
const (
	defaultRetention     = time.Minute
	defaultMaxRows       = 100_000
	defaultTrimEvery     = 128
	defaultPollInterval  = 250 * time.Millisecond
	defaultFallbackPoll  = 2 * time.Millisecond
	defaultBusyTimeout   = 5 * time.Second
	minPollInterval      = 100 * time.Microsecond
	maxTrimBatch         = 10_000
	maxBusyTimeoutMillis = 1<<31 - 1
)

// validate checks o and returns it with the defaults filled in.
func (o Options) validate() (Options, error) {
	var errs []error
	if o.Retention < 0 {
		errs = append(errs, fmt.Errorf("freshsqlite: Options.Retention %v is negative", o.Retention))
	} else if o.Retention > 0 && o.Retention < time.Millisecond {
		errs = append(errs, fmt.Errorf("freshsqlite: Options.Retention %v is not at least 1ms", o.Retention))
	}
	if o.MaxRows < 0 {
		errs = append(errs, fmt.Errorf("freshsqlite: Options.MaxRows %d is negative", o.MaxRows))
	}
	if o.TrimEvery < 0 {
		errs = append(errs, fmt.Errorf("freshsqlite: Options.TrimEvery %d is negative", o.TrimEvery))
	}
	if o.PollInterval < 0 || (o.PollInterval > 0 && o.PollInterval < minPollInterval) {
		errs = append(errs, fmt.Errorf("freshsqlite: Options.PollInterval %v is not at least %v", o.PollInterval, minPollInterval))
	}
	if o.FallbackPollInterval < 0 || (o.FallbackPollInterval > 0 && o.FallbackPollInterval < minPollInterval) {
		errs = append(errs, fmt.Errorf("freshsqlite: Options.FallbackPollInterval %v is not at least %v", o.FallbackPollInterval, minPollInterval))
	}
	if o.BusyTimeout < 0 || o.BusyTimeout.Milliseconds() > maxBusyTimeoutMillis {
		errs = append(errs, fmt.Errorf("freshsqlite: Options.BusyTimeout %v is out of range", o.BusyTimeout))
	}
	if o.MaxMessageSize < 0 {
		errs = append(errs, fmt.Errorf("freshsqlite: Options.MaxMessageSize %d is negative", o.MaxMessageSize))
	}
	if err := errors.Join(errs...); err != nil {
		return o, err
	}
	if o.Retention == 0 {
		o.Retention = defaultRetention
	}
	if o.MaxRows == 0 {
		o.MaxRows = defaultMaxRows
	}
	if o.TrimEvery == 0 {
		o.TrimEvery = defaultTrimEvery
	}
	if o.PollInterval == 0 {
		o.PollInterval = defaultPollInterval
	}
	if o.FallbackPollInterval == 0 {
		o.FallbackPollInterval = defaultFallbackPoll
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = defaultBusyTimeout
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// Bus is a fresh.Bus over an event log in a SQLite file, shared by the processes of
// one host.
//
// Publish appends the message to the log table and returns after the commit: one
// INSERT, or one transaction (BEGIN IMMEDIATE, INSERTs, COMMIT) for the messages that
// concurrent Publish calls of the bus queued meanwhile. The row's sequence number,
// an AUTOINCREMENT primary key, is its place in the order: SQLite lets one writer at a
// time into the file and the number is drawn inside the write transaction, so numbers
// follow commit order, and a reader sees every committed row up to the newest one. So
// if Publish(a) returned before Publish(b) began, a's number is smaller, and every
// subscription, which delivers rows in sequence order, delivers a first: the total
// order that fresh.Bus requires.
//
// Each subscription has a goroutine and a connection of its own, pinned from the pool
// for the subscription's lifetime (PRAGMA data_version, which says whether another
// connection committed, is per connection). It waits for inotify (or kqueue) events
// on the database file and its -wal file, for the Publish calls of its own Bus, and
// for a safety-net poll (PollInterval), and then reads the rows after the last one it
// delivered. It calls HandleLoss before delivering anything newer when it cannot
// prove that it read every row after its position: a sequence number skipped (rows
// trimmed or deleted), a row that is not a message, or the log replaced.
//
// The bus takes a *sql.DB of any SQLite driver; New never closes it. The bus pins one
// connection for publishing and one per subscription: the pool must allow that many
// (and more for the application's own use). It sets PRAGMA busy_timeout and, on the
// publishing connection, synchronous=NORMAL, and gives those connections back closed,
// so its settings never reach the application's connections. The file is put in WAL
// mode, which is persistent.
//
// Its zero value is not usable; call New or OpenURL.
type Bus struct {
	db    *sql.DB
	owned bool             // the bus opened db (OpenURL) and closes it
	o     Options          // defaults filled in; read-only after construction
	path  string           // the database file, absolute, as SQLite names it
	dir   string           // its directory, watched for changes
	log   *slog.Logger     // o.Logger
	now   func() time.Time // the clock that dates rows; a test hook

	// pubSem holds the right to write: the leader of the Publish calls (see
	// publish.go) holds it while it writes the queue.
	pubSem chan struct{}
	pub    *publisher // guarded by pubSem; nil until needed again after a failure
	qmu    sync.Mutex
	queue  []*pubRequest // guarded by qmu: the Publish calls waiting, in call order

	closed  atomic.Bool
	mu      sync.Mutex
	subs    map[*subscription]struct{} // guarded by mu; nil after Close
	watch   *notifier                  // guarded by mu; started by the first Subscribe
	noWatch error                      // guarded by mu: why the directory cannot be watched

	stats counters
}

var _ fresh.Bus = (*Bus)(nil)

// New returns a Bus on the SQLite database db, configured by o. It creates the log
// in the database if the database is empty, or checks that it holds one of a format
// it can read; it refuses a database that holds other tables (ErrNotEventLog), a log
// of a newer format (ErrNewerFormat), and a database that is not a file on disk
// (ErrNotOnDisk). It puts the file in WAL mode and trims the log once. ctx bounds
// the call only. The bus never closes db.
//
// It logs a warning when the file is on a network file system (NFS, SMB, FUSE):
// SQLite's locking and WAL are not reliable there, and file-system notifications do
// not cross hosts.
func New(ctx context.Context, db *sql.DB, o Options) (*Bus, error) {
	if ctx == nil {
		return nil, errors.New("freshsqlite: New: nil context")
	}
	if db == nil {
		return nil, errors.New("freshsqlite: New: nil *sql.DB")
	}
	return newBus(ctx, db, false, o)
}

// newBus implements New and OpenURL.
func newBus(ctx context.Context, db *sql.DB, owned bool, o Options) (*Bus, error) {
	o, err := o.validate()
	if err != nil {
		return nil, err
	}
	b := &Bus{
		db:     db,
		owned:  owned,
		o:      o,
		log:    o.Logger,
		now:    time.Now,
		pubSem: make(chan struct{}, 1),
		subs:   make(map[*subscription]struct{}),
	}
	p, err := b.openPublisher(ctx, "")
	if err != nil {
		return nil, opError("open the event log", err)
	}
	b.pub = p
	b.dir = filepath.Dir(b.path)
	if kind := networkFileSystem(b.dir); kind != "" {
		b.log.Warn("freshsqlite: the event log is on a network file system; SQLite's locks and WAL are unreliable there, and change notifications do not reach other hosts",
			"path", b.path, "filesystem", kind)
	}
	if err := b.trim(ctx, p); err != nil && ctx.Err() == nil {
		b.log.Warn("freshsqlite: trimming the log failed", "path", b.path, "err", err)
	}
	return b, nil
}

// Path returns the database file, as SQLite names it.
func (b *Bus) Path() string { return b.path }

// Subscribe registers h and returns once every message published afterwards will
// reach it: it pins a connection and reads the log's last sequence number, and the
// subscription delivers every row after it. The subscription's goroutine calls h
// until its Close or the bus's.
func (b *Bus) Subscribe(ctx context.Context, h fresh.Handler) (fresh.Subscription, error) {
	switch {
	case ctx == nil:
		return nil, errors.New("freshsqlite: subscribe: nil context")
	case h == nil:
		return nil, errors.New("freshsqlite: subscribe: nil handler")
	case b.closed.Load():
		return nil, ErrBusClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("freshsqlite: subscribe: %w", err)
	}
	s, err := b.newSubscription(ctx, h)
	if err != nil {
		return nil, opError("subscribe to "+b.path, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		s.f.close()
		s.cancel()
		return nil, ErrBusClosed
	}
	b.subs[s] = struct{}{}
	if b.watch == nil && b.noWatch == nil {
		b.startWatch()
	}
	s.poll = b.o.FallbackPollInterval
	if b.watch != nil {
		b.watch.add(s.fileWake)
		s.poll = b.o.PollInterval
	}
	go s.run()
	return s, nil
}

// startWatch starts watching the file's directory, or records why it cannot. b.mu
// must be held.
func (b *Bus) startWatch() {
	if b.o.DisableWatch {
		b.noWatch = errors.New("disabled by Options.DisableWatch")
		return
	}
	n, err := startNotifier(b.dir, filepath.Base(b.path), &b.stats)
	if err != nil {
		b.noWatch = err
		b.log.Warn("freshsqlite: cannot watch the event log's directory; polling instead",
			"dir", b.dir, "interval", b.o.FallbackPollInterval, "err", err)
		return
	}
	b.watch = n
}

// wakeLocal wakes this bus's subscriptions after a Publish committed: they need not
// wait for a file-system event.
func (b *Bus) wakeLocal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// remove unregisters s.
func (b *Bus) remove(s *subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, s) // a no-op on the nil map after Close
	if b.watch != nil {
		b.watch.remove(s.fileWake)
	}
}

// Close closes every subscription, waiting for their goroutines (except one that
// calls Close from its handler), waits for a Publish in progress, gives back the
// bus's connections and stops watching the directory. It closes the *sql.DB only if
// OpenURL opened it. Later Publish and Subscribe calls fail with ErrBusClosed. Close
// is idempotent; it returns the error of closing the *sql.DB, if any.
func (b *Bus) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.mu.Lock()
	subs, watch := b.subs, b.watch
	b.subs, b.watch = nil, nil
	b.mu.Unlock()
	for s := range subs {
		s.stop()
	}
	for s := range subs {
		s.wait()
	}
	if watch != nil {
		watch.close()
	}
	b.pubSem <- struct{}{} // wait for a Publish in progress; later ones see closed
	if b.pub != nil {
		b.pub.close()
		b.pub = nil
	}
	<-b.pubSem
	if b.owned {
		if err := b.db.Close(); err != nil {
			return fmt.Errorf("freshsqlite: close database: %w", err)
		}
	}
	return nil
}

// opError returns err from operation op with this package's prefix: err's message
// already has it when err wraps one of the package's errors, and then op follows.
func opError(op string, err error) error {
	if strings.HasPrefix(err.Error(), "freshsqlite: ") {
		return fmt.Errorf("%w (%s)", err, op)
	}
	return fmt.Errorf("freshsqlite: %s: %w", op, err)
}

// sameFile reports whether the bus's path still names the file fi describes.
func (b *Bus) sameFile(fi os.FileInfo) bool {
	cur, err := os.Stat(b.path)
	return err == nil && os.SameFile(cur, fi)
}

// Stats is a snapshot of a Bus's counters, from its creation on.
type Stats struct {
	// Published counts the messages this bus committed to the log.
	Published uint64
	// Delivered counts the messages handed to this bus's handlers.
	Delivered uint64
	// Losses counts HandleLoss calls to this bus's handlers.
	Losses uint64
	// Malformed counts rows that were not messages (each also a loss).
	Malformed uint64
	// Trimmed counts the rows this bus deleted from the log.
	Trimmed uint64
	// Checks counts the times a subscription asked PRAGMA data_version whether the
	// log changed; Reads counts the reads of the log that followed.
	Checks, Reads uint64
	// Notifications counts file-system events that woke the subscriptions.
	Notifications uint64
}

// counters are the atomics behind Stats.
type counters struct {
	published, delivered, losses, malformed, trimmed atomic.Uint64
	checks, reads, notifications                     atomic.Uint64
}

// Stats returns a snapshot of the bus's counters.
func (b *Bus) Stats() Stats {
	c := &b.stats
	return Stats{
		Published:     c.published.Load(),
		Delivered:     c.delivered.Load(),
		Losses:        c.losses.Load(),
		Malformed:     c.malformed.Load(),
		Trimmed:       c.trimmed.Load(),
		Checks:        c.checks.Load(),
		Reads:         c.reads.Load(),
		Notifications: c.notifications.Load(),
	}
}
