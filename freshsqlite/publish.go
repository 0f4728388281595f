package freshsqlite

// Publishing: the queue of Publish calls, the connection they are written on, and
// the trimming of the log.
//
// Group commit. Every Publish queues its message, then waits either for its result
// or for the right to write (pubSem). The caller that gets that right, the leader,
// writes the whole queue in one transaction, in queue order, and hands each caller
// its result. So concurrent Publish calls of one process share a commit, the costly
// part, rather than queueing for the file's lock in SQLite's busy handler, which
// sleeps in steps of milliseconds. The order holds: a Publish that returned had its
// transaction committed, so a Publish called after it queues behind and gets a larger
// sequence number.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// maxBatch bounds the messages of one transaction, and maxBatchBytes their size.
const (
	maxBatch      = 256
	maxBatchBytes = 8 << 20
)

// A pubRequest is one Publish call waiting in the queue.
type pubRequest struct {
	msg  []byte
	err  error         // the result, set before done is closed
	done chan struct{} // closed once the message was committed, or failed
	back chan struct{} // capacity 1: a leader put the request back in the queue
}

// Publish appends msg to the log and returns once its transaction has committed. It
// returns an error wrapping ErrMessageTooLarge for a message longer than
// MaxMessageSize, ErrBusClosed after Close, and the context's error if ctx ends
// before the message was written: while it waits for its turn or for another
// process's write lock (up to BusyTimeout). Once its transaction has begun, Publish
// waits for the outcome, a matter of microseconds, whatever ctx says; so a Publish
// that returned an error did not write its message.
func (b *Bus) Publish(ctx context.Context, msg []byte) error {
	switch {
	case ctx == nil:
		return errors.New("freshsqlite: publish: nil context")
	case len(msg) > b.o.MaxMessageSize:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, len(msg), b.o.MaxMessageSize)
	case b.closed.Load():
		return ErrBusClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("freshsqlite: publish: %w", err)
	}
	r := &pubRequest{msg: msg, done: make(chan struct{}), back: make(chan struct{}, 1)}
	b.qmu.Lock()
	b.queue = append(b.queue, r)
	b.qmu.Unlock()
	for {
		select {
		case <-r.done:
			return r.err
		default:
		}
		select {
		case <-r.done:
			return r.err
		case b.pubSem <- struct{}{}:
			b.lead(ctx, r)
			<-b.pubSem
		case <-ctx.Done():
			// Withdraw the request, unless a leader took it: then wait for its
			// transaction, or for the leader to put it back (see lead).
			for !b.withdraw(r) {
				select {
				case <-r.done:
					return r.err
				case <-r.back:
				}
			}
			return fmt.Errorf("freshsqlite: publish: %w", ctx.Err())
		}
	}
}

// withdraw removes r from the queue and reports whether it was still there.
func (b *Bus) withdraw(r *pubRequest) bool {
	b.qmu.Lock()
	defer b.qmu.Unlock()
	for i, q := range b.queue {
		if q == r {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return true
		}
	}
	return false
}

// take removes the first requests from the queue, up to the bounds of a batch.
func (b *Bus) take() []*pubRequest {
	b.qmu.Lock()
	defer b.qmu.Unlock()
	n, size := 0, 0
	for n < len(b.queue) && n < maxBatch && (n == 0 || size+len(b.queue[n].msg) <= maxBatchBytes) {
		size += len(b.queue[n].msg)
		n++
	}
	batch := append([]*pubRequest(nil), b.queue[:n]...)
	b.queue = append(b.queue[:0], b.queue[n:]...)
	return batch
}

// requeue puts batch back at the head of the queue, in its order, and tells their
// callers.
func (b *Bus) requeue(batch []*pubRequest) {
	b.qmu.Lock()
	q := make([]*pubRequest, 0, len(batch)+len(b.queue)) // a new array: batch is read below
	b.queue = append(append(q, batch...), b.queue...)
	b.qmu.Unlock()
	for _, r := range batch {
		select {
		case r.back <- struct{}{}:
		default:
		}
	}
}

// lead writes the queued messages, own's among them if it is still queued, with
// ctx, the leader's context. Its caller holds pubSem.
//
// If the leader's context ends before the transaction committed, nothing was
// written: own fails, and the other requests go back to the head of the queue for
// their own callers to write (or to withdraw, if their contexts ended too). (That is why a batch holding another caller's message
// is always written in an explicit transaction, whose COMMIT is not cancelled: an
// autocommit INSERT can commit and still report the context's error.)
func (b *Bus) lead(ctx context.Context, own *pubRequest) {
	batch := b.take()
	if len(batch) == 0 {
		return
	}
	if b.closed.Load() {
		finish(batch, ErrBusClosed)
		return
	}
	first, last, err := b.write(ctx, batch, len(batch) == 1 && batch[0] == own)
	if err != nil {
		if ctx.Err() != nil && last == 0 {
			others := batch[:0:0]
			for _, r := range batch {
				if r == own {
					finish([]*pubRequest{r}, fmt.Errorf("freshsqlite: publish: %w", ctx.Err()))
				} else {
					others = append(others, r)
				}
			}
			b.requeue(others)
			return
		}
		finish(batch, err)
		return
	}
	b.stats.published.Add(uint64(len(batch)))
	finish(batch, nil)
	b.wakeLocal()
	// The publisher whose message takes a multiple of TrimEvery trims.
	if first > 0 && (last/b.o.TrimEvery != (first-1)/b.o.TrimEvery || b.pub.trimPending) {
		if err := b.trim(ctx, b.pub); err != nil {
			if ctx.Err() == nil { // a caller that gave up is not worth a warning
				b.log.Warn("freshsqlite: trimming the log failed", "path", b.path, "err", err)
			}
			b.dropPublisher(b.pub, err)
		}
	}
}

// finish hands err to every request of batch.
func finish(batch []*pubRequest, err error) {
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}

// write commits the messages of batch and returns the sequence numbers of the
// first and the last. If the transaction did not commit, last is 0. autocommit
// allows a single INSERT, cheaper than an explicit transaction; SQLite takes the
// write lock when that statement begins, as BEGIN IMMEDIATE would, so it cannot fail
// for want of it later. Its caller holds pubSem.
func (b *Bus) write(ctx context.Context, batch []*pubRequest, autocommit bool) (first, last int64, err error) {
	p, err := b.publisherFor(ctx)
	if err != nil {
		return 0, 0, opError("publish to "+b.path, err)
	}
	at := b.now().UnixMilli()
	// The INSERTs run without ctx's cancellation: they are quick (the publisher's
	// connection never waits for the lock in SQLite, see retryBusy), and a driver may
	// report one that succeeded as failed when ctx ends during the call, which would
	// make a caller publish again what was committed. ctx bounds the wait for the
	// lock instead.
	wctx := context.WithoutCancel(ctx)
	if autocommit {
		err = retryBusy(ctx, b.o.BusyTimeout, func() error {
			var err error
			first, err = p.insertOne(wctx, at, batch[0].msg)
			return err
		})
		last = first
	} else {
		err = inTx(ctx, p.conn, b.o.BusyTimeout, func() error {
			for i, r := range batch {
				seq, err := p.insertOne(wctx, at, r.msg)
				if err != nil {
					return err
				}
				if i == 0 {
					first = seq
				}
			}
			return nil
		})
		if err == nil {
			last = first + int64(len(batch)) - 1
		}
	}
	if err != nil {
		if errors.Is(err, errBrokenConn) {
			p.broken = true
		}
		b.dropPublisher(p, err)
		return 0, 0, fmt.Errorf("freshsqlite: publish to %s: %w", b.path, err)
	}
	return first, last, nil
}

// A publisher is the connection a Bus publishes and trims on, pinned for the bus's
// lifetime (or until it fails), with its statements.
type publisher struct {
	conn        *sql.Conn
	insert      *sql.Stmt
	insertEmpty *sql.Stmt
	fi          os.FileInfo // the file it writes, when it was opened
	id          string      // the id of the log it writes
	trimPending bool        // the last trim stopped at its batch bound
	broken      bool        // a failure left the connection in an unknown state
}

// maxStaleConns bounds the connections openPublisher and openFollower discard
// because they still see a replaced file.
const maxStaleConns = 16

// openPublisher pins a connection, finds the database's file, creates or checks the
// log, and prepares the statements. When b.path is not yet known (New), it sets it.
// staleID is the id of a log whose file was replaced: a connection that still
// reads it was opened before the replacement, and is discarded for another.
func (b *Bus) openPublisher(ctx context.Context, staleID string) (*publisher, error) {
	for range maxStaleConns {
		c, err := b.pin(ctx)
		if err != nil {
			return nil, err
		}
		p, err := b.setUpPublisher(ctx, c)
		if err != nil {
			discard(c)
			return nil, err
		}
		if staleID != "" && p.id == staleID {
			p.close()
			continue
		}
		return p, nil
	}
	return nil, fmt.Errorf("every connection the pool gave still reads the replaced file %s", b.path)
}

// setUpPublisher does the work of openPublisher on c.
func (b *Bus) setUpPublisher(ctx context.Context, c *sql.Conn) (*publisher, error) {
	path, err := mainFile(ctx, c)
	if err != nil {
		return nil, err
	}
	if b.path == "" {
		b.path = path
	} else if path != b.path {
		return nil, fmt.Errorf("the pool's connections now open %s, not %s", path, b.path)
	}
	if _, err := c.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return nil, fmt.Errorf("set synchronous: %w", err)
	}
	info, err := ensureLog(ctx, c, b.o.BusyTimeout)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist after the log was written to it", ErrNotOnDisk, path)
		}
		return nil, err
	}
	// From now on the publisher waits for the write lock in retryBusy, which
	// retries sooner than SQLite's busy handler would.
	if _, err := c.ExecContext(ctx, `PRAGMA busy_timeout = 0`); err != nil {
		return nil, fmt.Errorf("set busy_timeout: %w", err)
	}
	p := &publisher{conn: c, fi: fi, id: info.id}
	if p.insert, err = c.PrepareContext(ctx, sqlInsert); err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if p.insertEmpty, err = c.PrepareContext(ctx, sqlInsertEmpty); err != nil {
		_ = p.insert.Close()
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return p, nil
}

// insertOne inserts one message and returns its sequence number.
func (p *publisher) insertOne(ctx context.Context, at int64, msg []byte) (int64, error) {
	var res sql.Result
	var err error
	if len(msg) == 0 {
		res, err = p.insertEmpty.ExecContext(ctx, at)
	} else {
		res, err = p.insert.ExecContext(ctx, at, msg)
	}
	if err != nil {
		return 0, fmt.Errorf("insert: %w", err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("insert: %w", err)
	}
	return seq, nil
}

// close discards the publisher's connection.
func (p *publisher) close() {
	_ = p.insert.Close()
	_ = p.insertEmpty.Close()
	discard(p.conn)
}

// publisherFor returns the publisher, opening one if there is none or if the
// bus's path now names another file than the one it writes (the file was deleted or
// replaced: writing on would feed a log that no new process reads). Its caller holds
// pubSem.
func (b *Bus) publisherFor(ctx context.Context) (*publisher, error) {
	stale := ""
	if p := b.pub; p != nil {
		if b.sameFile(p.fi) {
			return p, nil
		}
		stale = p.id
		p.close()
		b.pub = nil
		b.log.Warn("freshsqlite: the event log's file was deleted or replaced; publishing to the file now at its path", "path", b.path)
	}
	p, err := b.openPublisher(ctx, stale)
	if err != nil {
		return nil, err
	}
	b.pub = p
	return p, nil
}

// dropPublisher discards p after a failure that may have left its connection
// unusable; the next Publish opens another. Its caller holds pubSem.
func (b *Bus) dropPublisher(p *publisher, err error) {
	if !p.broken && !errors.Is(err, driver.ErrBadConn) && !errors.Is(err, sql.ErrConnDone) {
		return
	}
	p.close()
	if b.pub == p {
		b.pub = nil
	}
}

// trim deletes the rows beyond the retention bounds, at most maxTrimBatch of them,
// in one write transaction on p, and never the newest row (so that a subscriber's
// read always meets a row after a gap, and reports it). A row's age is judged by its
// publisher's clock; a row whose at column is not a number is old. Its caller holds
// pubSem, or owns the bus alone (New).
func (b *Bus) trim(ctx context.Context, p *publisher) error {
	cutoff := b.now().Add(-b.o.Retention).UnixMilli()
	var deleted int64
	more := false
	err := inTx(ctx, p.conn, b.o.BusyTimeout, func() error {
		var oldest, newest sql.NullInt64
		if err := p.conn.QueryRowContext(ctx, sqlBounds).Scan(&oldest, &newest); err != nil {
			return fmt.Errorf("read the log's bounds: %w", err)
		}
		if !oldest.Valid || !newest.Valid || oldest.Int64 >= newest.Int64 {
			return nil
		}
		// Rows below limit may go in this transaction: the batch, never the newest.
		limit := min(newest.Int64, oldest.Int64+maxTrimBatch)
		bound := newest.Int64 - b.o.MaxRows // by count: rows up to bound go
		var recent int64
		err := p.conn.QueryRowContext(ctx, sqlFirstRecent, limit, cutoff).Scan(&recent)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			bound = limit - 1 // every row of the batch is too old
		case err != nil:
			return fmt.Errorf("find the oldest row to keep: %w", err)
		default:
			bound = max(bound, recent-1)
		}
		bound = min(bound, limit-1)
		if bound < oldest.Int64 {
			return nil
		}
		res, err := p.conn.ExecContext(ctx, sqlDeleteBefore, bound)
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		deleted, _ = res.RowsAffected()
		more = bound == limit-1 && limit < newest.Int64
		return nil
	})
	if errors.Is(err, errBrokenConn) {
		p.broken = true
	}
	if err != nil {
		p.trimPending = true // try again at the next Publish
		return err
	}
	p.trimPending = more
	b.stats.trimmed.Add(uint64(max(deleted, 0)))
	return nil
}
