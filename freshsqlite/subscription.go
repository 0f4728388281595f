package freshsqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/freshcache/fresh/internal/goid"
	"io/fs"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
)

// settleDelays are the checks a subscription makes after a file-system event, in
// case the event came before its commit was visible or stood for several commits
// (see notifier). Each delay counts from the previous check.
var settleDelays = [...]time.Duration{
	100 * time.Microsecond,
	200 * time.Microsecond,
	500 * time.Microsecond,
	time.Millisecond,
	2 * time.Millisecond,
	5 * time.Millisecond,
}

// Bounds of one read of the log: rows, and bytes of messages after which the read
// stops early.
const (
	readRows  = 256
	readBytes = 16 << 20
)

// subscription is a subscription to a Bus. Its goroutine, run, follows the log from
// last and delivers what it reads.
//
// Continuity. Sequence numbers are dense: every committed message takes the next
// one, and a number is never taken by a transaction that rolled back. So run
// expects the row last+1 after last; a larger number means the rows in between were
// trimmed or deleted, and the handler receives HandleLoss before that row. Trimming
// never deletes the newest row, so a read after a gap always meets a row that
// reveals it. (A gap is only noticed when the next row is read: a row deleted by
// hand at the very end of the log goes unnoticed until the next message.) What
// run cannot see in the rows, verify checks at every safety-net tick: the path
// names the same file, and the log in it has the same id and has not gone back.
//
// Close sets closed and closes stopCh; run checks closed before every handler call,
// and Close then waits until run has returned, so no call follows Close. A Close
// made by the handler itself, on run's goroutine, cannot wait for it: it returns at
// once, and run sees closed as soon as the handler returns.
//
// f, fi, logID, last and missing belong to run alone (Subscribe sets them before it
// starts run).
type subscription struct {
	bus  *Bus
	h    fresh.Handler
	poll time.Duration // the safety-net period, set by Subscribe before run starts

	f       *follower   // the pinned connection; nil after a failure, until reopened
	fi      os.FileInfo // the file followed
	logID   string      // the log followed
	last    int64       // the sequence number of the last row delivered or skipped
	missing bool        // the file is gone from its path, and the loss was reported

	wake     chan struct{}      // capacity 1: this bus published
	fileWake chan struct{}      // capacity 1: a file-system event
	stopCh   chan struct{}      // closed by stop
	done     chan struct{}      // closed when run returns
	ctx      context.Context    // the subscription's lifetime, for its setup queries
	cancel   context.CancelFunc // cancels ctx, ending such a query in progress
	closed   atomic.Bool
	once     sync.Once
	runner   atomic.Uint64 // goroutine id of run, once it has started
}

// newSubscription pins a connection and reads the log's position; the caller starts
// run.
func (b *Bus) newSubscription(ctx context.Context, h fresh.Handler) (*subscription, error) {
	f, info, err := b.openFollower(ctx, "")
	if err != nil {
		return nil, err
	}
	s := &subscription{
		bus:      b,
		h:        h,
		f:        f,
		fi:       f.fi,
		logID:    info.id,
		last:     info.seq,
		wake:     make(chan struct{}, 1),
		fileWake: make(chan struct{}, 1),
		stopCh:   make(chan struct{}),
		done:     make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Close stops delivery: once it returns, the handler is not called again. It waits
// for the subscription's goroutine to end, unless it is called by the handler. Close
// is idempotent and returns nil.
func (s *subscription) Close() error {
	s.stop()
	s.bus.remove(s)
	s.wait()
	return nil
}

// stop marks the subscription closed and wakes run.
func (s *subscription) stop() {
	s.once.Do(func() {
		s.closed.Store(true)
		s.cancel()
		close(s.stopCh)
	})
}

// wait waits until run has returned, unless it is called by run itself (a handler
// that closes its own subscription or the bus).
func (s *subscription) wait() {
	if id := goid.Current(); id != 0 && id == s.runner.Load() {
		return
	}
	<-s.done
}

// run checks the log for news whenever something may have changed, delivers it,
// and retries failures, until the subscription is closed.
func (s *subscription) run() {
	defer close(s.done)
	defer s.dropFollower()
	s.runner.Store(goid.Current())
	b := s.bus

	lastVerify := time.Now()
	ticker := time.NewTicker(s.poll)
	defer ticker.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	step := len(settleDelays) // not settling

	var (
		dv     int64 // data_version on f when last read
		haveDV bool  // dv is valid for f: false until f's first read
		fails  int   // consecutive failures
	)
	// check: ask data_version whether to read; force: read whatever it says;
	// verify: check that the file and the log are still the ones followed.
	check, force, verify := true, false, false
	for !s.closed.Load() {
		if verify || check {
			var err error
			if verify {
				err = s.verify(&haveDV)
			}
			if err == nil && check {
				err = s.check(&dv, &haveDV, force)
			}
			if s.closed.Load() {
				return
			}
			if err != nil {
				s.dropFollower() // the next check takes another connection
				haveDV = false
				fails++
				if fails == 1 {
					b.log.Warn("freshsqlite: reading the event log failed; retrying from the last row read",
						"path", b.path, "seq", s.last, "err", err)
				}
				if !s.sleep(fails) {
					return
				}
				continue // check (and verify) again
			}
			if fails > 0 {
				b.log.Info("freshsqlite: reading the event log again", "path", b.path)
				fails = 0
			}
			check, force, verify = false, false, false
		}
		select {
		case <-s.stopCh:
			return
		case <-s.wake:
			check, force = true, true
		case <-s.fileWake:
			check, step = true, 0
			settle.Reset(settleDelays[0])
		case <-settle.C:
			check = true
			if step++; step < len(settleDelays) {
				settle.Reset(settleDelays[step])
			}
		case now := <-ticker.C:
			check = true
			if now.Sub(lastVerify) >= b.o.PollInterval {
				force, verify, lastVerify = true, true, now
			}
		}
	}
}

// The pause before a retry of a failed read doubles from retryFirst to
// retryLongest, with jitter so that subscribers do not retry in step.
const (
	retryFirst   = 20 * time.Millisecond
	retryLongest = 2 * time.Second
)

// sleep pauses before retry number fails. It returns false if the subscription was
// closed first.
func (s *subscription) sleep(fails int) bool {
	d := retryLongest
	if n := fails - 1; n < 8 {
		d = min(retryFirst<<n, retryLongest)
	}
	d = d*3/4 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stopCh:
		return false
	case <-t.C:
		return true
	}
}

// check reads the log if it changed since the last read on this connection, which
// PRAGMA data_version tells: its value changes when another connection commits.
// The value is read before the rows, so a commit after it changes it again; and it is
// only ever compared with a value from the same connection, so taking another
// connection (after a failure) forces a read rather than hiding a change.
//
// With force, it reads whatever data_version says: after its own Bus published, and
// at every safety-net check. A read that finds nothing costs about what asking
// data_version does, and so a connection whose data_version misses commits (SQLite's
// shared-cache mode, where the connections of a process share one pager; a driver's
// quirk) delays messages by PollInterval at worst, and never loses them.
func (s *subscription) check(dv *int64, haveDV *bool, force bool) error {
	if s.f == nil {
		if err := s.reopen(); err != nil {
			return err
		}
		*haveDV = false
	}
	if s.logID == "" {
		// The file followed has no log yet (it replaced the bus's file and nobody
		// has published to it): adopt the log when it appears, from its start.
		info, err := inspect(s.ctx, s.f.conn)
		if err != nil || !info.exists {
			return err
		}
		s.logID = info.id
	}
	s.bus.stats.checks.Add(1)
	// The hot queries run without a cancellable context: with one, the driver may
	// watch it from a goroutine of its own per statement (modernc.org/sqlite does),
	// which would be most of the cost of an idle check. A read never waits for a
	// writer in WAL mode, so Close does not wait long for one in progress.
	v, err := s.f.dataVersion(context.Background())
	if err != nil {
		return err
	}
	if *haveDV && v == *dv && !force {
		return nil
	}
	*dv, *haveDV = v, true
	return s.drain()
}

// drain reads and delivers the rows after last until there are no more.
func (s *subscription) drain() error {
	for {
		s.bus.stats.reads.Add(1)
		rows, more, err := s.f.read(context.Background(), s.last) // see check
		for i := range rows {
			if s.closed.Load() {
				return nil
			}
			s.deliver(&rows[i])
			rows[i] = logRow{} // release the message
		}
		if err != nil || !more {
			return err
		}
	}
}

// deliver hands one row to the handler: a message to HandleMessage, anything else
// to HandleLoss, after a HandleLoss for the rows missing before it.
func (s *subscription) deliver(r *logRow) {
	b := s.bus
	if r.seq != s.last+1 {
		err := fmt.Errorf("%w: rows %d to %d of %s are gone: the subscriber fell behind the publishers' retention (Options.Retention, Options.MaxRows), or someone deleted them",
			ErrGap, s.last+1, r.seq-1, b.path)
		b.log.Warn("freshsqlite: event log continuity lost", "err", err)
		s.loss(err)
	}
	s.last = r.seq
	if r.typ != "blob" || r.msg == nil {
		err := fmt.Errorf("%w: row %d of %s holds %s in its msg column, not a blob", ErrMalformedRow, r.seq, b.path, r.typ)
		b.stats.malformed.Add(1)
		b.log.Warn("freshsqlite: event log row dropped", "err", err)
		s.loss(err)
		return
	}
	if s.closed.Load() {
		return
	}
	b.stats.delivered.Add(1)
	s.h.HandleMessage(r.msg)
}

// loss reports err to the handler, unless the subscription is closed.
func (s *subscription) loss(err error) {
	if s.closed.Load() {
		return
	}
	s.bus.stats.losses.Add(1)
	s.h.HandleLoss(err)
}

// verify checks that the subscription still follows the log it started on: that the
// path names the same file, and that the log in it has the same id and has not gone
// back. Otherwise it follows the log now at the path, from its end, and reports the
// loss (reopen).
func (s *subscription) verify(haveDV *bool) error {
	cur, err := os.Stat(s.bus.path)
	if errors.Is(err, fs.ErrNotExist) {
		// Deleted, and not replaced yet: nobody can publish to the file followed.
		if !s.missing {
			s.missing = true
			err := fmt.Errorf("%w: %s was deleted", ErrLogReplaced, s.bus.path)
			s.bus.log.Warn("freshsqlite: event log continuity lost", "err", err)
			s.loss(err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if s.f != nil && os.SameFile(cur, s.fi) {
		info, err := inspect(s.ctx, s.f.conn)
		if err != nil {
			return err
		}
		if info.exists && info.id == s.logID && info.seq >= s.last {
			return nil
		}
		if s.logID == "" { // no log yet; check adopts it
			return nil
		}
	}
	s.dropFollower()
	*haveDV = false
	return s.reopen()
}

// reopen takes a connection for a subscription that has none. If the path still
// names the file followed and the log in it is the same, it reads on from last;
// otherwise it follows the log now there, from its end, and reports the loss. It
// takes the new position before it reports the loss, so that what is published
// between the two is delivered; what was published before is covered by the loss.
func (s *subscription) reopen() error {
	b := s.bus
	cur, err := os.Stat(b.path)
	if err != nil {
		return err
	}
	stale := ""
	sameFile := os.SameFile(cur, s.fi)
	if !sameFile {
		stale = s.logID // a connection still reading it was opened before the replacement
	}
	f, info, err := b.openFollower(s.ctx, stale)
	if err != nil {
		return err
	}
	s.f = f
	if sameFile && (s.logID == "" || info.exists && info.id == s.logID && info.seq >= s.last) {
		return nil // the same log, or none yet (which check adopts from its start)
	}
	var why string
	switch {
	case !sameFile:
		why = b.path + " was replaced by another file"
	case !info.exists:
		why = "the log in " + b.path + " was deleted"
	case info.id != s.logID:
		why = "the log in " + b.path + " was recreated"
	default:
		why = fmt.Sprintf("the log in %s went back from sequence number %d to %d", b.path, s.last, info.seq)
	}
	s.fi, s.logID, s.last, s.missing = f.fi, info.id, info.seq, false
	err = fmt.Errorf("%w: %s; following the new log from its end", ErrLogReplaced, why)
	b.log.Warn("freshsqlite: event log continuity lost", "err", err)
	s.loss(err)
	return nil
}

// dropFollower discards the subscription's connection, if it has one.
func (s *subscription) dropFollower() {
	if s.f != nil {
		s.f.close()
		s.f = nil
	}
}

// A follower is the connection a subscription reads on, pinned for as long as it
// works: PRAGMA data_version is per connection, so the connection must be one that
// never writes and that the pool never swaps for another.
type follower struct {
	conn     *sql.Conn
	readStmt *sql.Stmt
	dvStmt   *sql.Stmt
	fi       os.FileInfo // the file at the bus's path when the connection was taken
}

// logRow is one row of the log as read.
type logRow struct {
	seq int64
	typ string // typeof(msg)
	msg []byte
}

// openFollower pins a connection for a subscription and reads the log's position on
// it. staleID is as for openPublisher. The log may be missing (a file that replaced
// the bus's, not yet written to): its position is then 0.
func (b *Bus) openFollower(ctx context.Context, staleID string) (*follower, logInfo, error) {
	for range maxStaleConns {
		// The file is identified before the connection is taken: a connection opened
		// after a replacement reads the new file, so if fi is the old file, the next
		// verify sees the difference.
		fi, err := os.Stat(b.path)
		if err != nil {
			return nil, logInfo{}, err
		}
		c, err := b.pin(ctx)
		if err != nil {
			return nil, logInfo{}, err
		}
		f := &follower{conn: c, fi: fi}
		info, err := f.setUp(ctx)
		if err != nil {
			f.close()
			return nil, logInfo{}, err
		}
		if staleID != "" && info.id == staleID {
			f.close()
			continue
		}
		return f, info, nil
	}
	return nil, logInfo{}, fmt.Errorf("every connection the pool gave still reads the replaced file %s", b.path)
}

// setUp prepares f's statements and reads the log's position.
func (f *follower) setUp(ctx context.Context) (logInfo, error) {
	info, err := inspect(ctx, f.conn)
	if err != nil {
		return logInfo{}, err
	}
	if f.dvStmt, err = f.conn.PrepareContext(ctx, sqlDataVersion); err != nil {
		return logInfo{}, fmt.Errorf("prepare: %w", err)
	}
	if info.exists {
		if f.readStmt, err = f.conn.PrepareContext(ctx, sqlRead); err != nil {
			return logInfo{}, fmt.Errorf("prepare: %w", err)
		}
	}
	return info, nil
}

// dataVersion returns PRAGMA data_version on f's connection.
func (f *follower) dataVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := f.dvStmt.QueryRowContext(ctx).Scan(&v); err != nil {
		return 0, fmt.Errorf("read data_version: %w", err)
	}
	return v, nil
}

// read returns the rows after seq, up to readRows of them and about readBytes of
// messages; more reports that the read stopped at those bounds. If the read fails
// part way, it returns the rows read before the failure with the error.
func (f *follower) read(ctx context.Context, after int64) (rows []logRow, more bool, err error) {
	if f.readStmt == nil { // the log did not exist when f was set up
		if f.readStmt, err = f.conn.PrepareContext(ctx, sqlRead); err != nil {
			f.readStmt = nil
			return nil, false, fmt.Errorf("prepare: %w", err)
		}
	}
	rs, err := f.readStmt.QueryContext(ctx, after, readRows)
	if err != nil {
		return nil, false, fmt.Errorf("read the log: %w", err)
	}
	defer func() { _ = rs.Close() }()
	size := 0
	for rs.Next() {
		var r logRow
		var msg any
		if err := rs.Scan(&r.seq, &r.typ, &msg); err != nil {
			return rows, false, fmt.Errorf("read the log: %w", err)
		}
		switch m := msg.(type) {
		case []byte: // database/sql copied it
			r.msg = m
			if r.msg == nil { // an empty blob, as some drivers return it
				r.msg = []byte{}
			}
		case string:
			r.msg = []byte(m) // a blob that a driver returns as a string
		}
		size += len(r.msg)
		rows = append(rows, r)
		if size >= readBytes {
			return rows, true, nil
		}
	}
	if err := rs.Err(); err != nil {
		return rows, false, fmt.Errorf("read the log: %w", err)
	}
	return rows, len(rows) == readRows, nil
}

// close discards f's connection.
func (f *follower) close() {
	if f.readStmt != nil {
		_ = f.readStmt.Close()
	}
	if f.dvStmt != nil {
		_ = f.dvStmt.Close()
	}
	discard(f.conn)
}
