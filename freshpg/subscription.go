package freshpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/freshcache/fresh/internal/backoff"
	"github.com/freshcache/fresh/internal/goid"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// queryTimeout bounds every query of a subscription, so that a connection to a
// server that vanished fails rather than hangs.
const queryTimeout = 10 * time.Second

// closeTimeout bounds the goodbye on a connection being closed.
const closeTimeout = time.Second

// subscription is a subscription to a Bus. Its goroutine, run, owns a dedicated
// connection that LISTENs on the bus's channel, reads the log table after its
// position and delivers what it reads.
//
// Continuity. The subscription's state is its position last (every message with an
// id up to last was delivered, skipped as covered by a reported loss, or published
// before Subscribe returned) and the token of the table's meta row when it took that
// position. Each read is one statement, so one snapshot, returning the meta row (its
// token, the trimmed watermark and the highest id) and the messages after last.
// Because ids become visible in commit order (doc.go, "Total order"), a snapshot
// that shows id n shows every id below n that will ever commit; so the messages
// after last in that snapshot are all the messages after last, except those that
// retention deleted, which the watermark counts: retention deletes only ids up to
// the watermark and raises it in the same transaction. Hence the checks, in order:
//
//   - no meta row, or another token: the table was truncated, dropped and created
//     again, or its meta row deleted. Rebaseline.
//   - the greater of the highest id and the watermark is below last, or the row at
//     last is gone or another one (its time differs) although the watermark is below
//     it: the table went back in time (a restore, a failover to a lagging replica,
//     a reset sequence), and new rows may even have taken the old ids. Rebaseline.
//   - the watermark is above last: messages after last were deleted unread.
//     HandleLoss, then deliver the rest.
//
// Rebaselining reads the meta row and the highest id in a new snapshot (creating
// the meta row if it is missing), then calls HandleLoss, then takes that highest id
// as its position: the loss is reported after the snapshot, so it covers every
// message the snapshot holds, and later messages have greater ids.
//
// None of this depends on the connection: a subscription whose connection broke
// connects again, LISTENs, and reads on from last. It calls HandleLoss only when
// the checks above fail.
//
// last, lastAt, token and conn belong to run (and to start, before run begins).
type subscription struct {
	bus *Bus
	h   fresh.Handler

	ctx    context.Context // the runner's; cancelled by stop
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	closed atomic.Bool
	once   sync.Once
	runner atomic.Uint64 // goroutine id of run

	conn   *pgx.Conn
	last   int64
	lastAt *time.Time // the time of the row at last; nil if unknown (a trimmed position)
	token  []byte
	dirty  bool // the table may hold messages after last: read it

	pid          atomic.Int32 // backend pid of the listening connection, 0 while there is none
	warnedNotify bool         // a garbage notification was logged at Warn
}

func newSubscription(b *Bus, h fresh.Handler) *subscription {
	ctx, cancel := context.WithCancel(context.Background())
	return &subscription{bus: b, h: h, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// start connects and takes the subscription's first position, within ctx.
func (s *subscription) start(ctx context.Context) error {
	ctx, cancel := mergeCancel(ctx, s.ctx)
	defer cancel()
	if err := s.connect(ctx); err != nil {
		return err
	}
	if err := s.baseline(ctx, nil); err != nil {
		s.closeConn()
		return err
	}
	return nil
}

// mergeCancel returns a context that is ctx, also cancelled when other is.
func mergeCancel(ctx, other context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(other, cancel)
	return ctx, func() { stop(); cancel() }
}

// abandon closes the connection of a subscription that start set up but that will
// not run.
func (s *subscription) abandon() {
	s.stop()
	s.closeConn()
	close(s.done)
}

// connect opens the listening connection, checks it (listen.go) and LISTENs.
func (s *subscription) connect(ctx context.Context) error {
	conn, pid, err := s.bus.listen(ctx)
	if err != nil {
		return err
	}
	s.conn = conn
	s.pid.Store(pid)
	return nil
}

// closeConn closes the listening connection, if any.
func (s *subscription) closeConn() {
	if s.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = s.conn.Close(ctx)
	s.conn = nil
	s.pid.Store(0)
}

// Close stops delivery: once it returns, the handler is not called again. It waits
// for the subscription's goroutine to end, unless it is called by the handler.
// Close is idempotent and returns nil.
func (s *subscription) Close() error {
	s.stop()
	s.bus.remove(s)
	s.wait()
	return nil
}

// stop marks the subscription closed and cancels the runner's context, which ends
// its wait for a notification or its query at once.
func (s *subscription) stop() {
	s.once.Do(func() {
		s.closed.Store(true)
		s.cancel()
	})
}

// wait waits until run has returned, unless the caller is run itself (a handler
// that closes its own subscription or the bus): run sees closed as soon as the
// handler returns.
func (s *subscription) wait() {
	if id := goid.Current(); id != 0 && id == s.runner.Load() {
		return
	}
	<-s.done
}

// run reads and delivers until the subscription is closed, connecting again after
// a failure.
func (s *subscription) run() {
	defer close(s.done)
	defer s.closeConn()
	s.runner.Store(goid.Current())
	b := s.bus
	var r backoff.Retry
	for !s.closed.Load() {
		if s.conn == nil {
			if err := s.connect(s.ctx); err != nil {
				if s.closed.Load() {
					return
				}
				level := "freshpg: bus subscription cannot listen; retrying"
				if errors.Is(err, ErrTransactionPooling) || errors.Is(err, ErrListenProbe) {
					b.log.Error(level, "table", b.name, "err", err)
				} else if r.Failed() {
					b.log.Warn(level, "table", b.name, "err", err)
				}
				if !r.Sleep(s.ctx) {
					return
				}
				continue
			}
			b.stats.reconnects.Add(1)
			s.dirty = true // replay what was published while disconnected
		}
		err := s.step()
		if s.closed.Load() {
			return
		}
		if err != nil {
			if r.Failed() {
				b.log.Warn("freshpg: bus subscription lost its connection; reconnecting to read on from its position",
					"table", b.name, "position", s.last, "err", err)
			}
			s.closeConn()
			if !r.Sleep(s.ctx) {
				return
			}
			continue
		}
		if r.Recovered() {
			b.log.Info("freshpg: bus subscription reading again", "table", b.name, "position", s.last)
		}
	}
}

// step reads the table if it may hold news, and otherwise waits for a notification
// or for the safety poll.
func (s *subscription) step() error {
	if s.dirty {
		more, err := s.poll()
		if err != nil {
			return err
		}
		s.dirty = more
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.bus.o.PollInterval)
	n, err := s.conn.WaitForNotification(ctx)
	cancel()
	// A timeout of the wait, not of the connection nor a Close, is the safety poll.
	timedOut := err != nil && pgconn.Timeout(err) && s.ctx.Err() == nil && !s.conn.IsClosed()
	if err != nil && !timedOut {
		// After Close, run returns without looking at the error.
		return fmt.Errorf("waiting for a notification: %w", err)
	}
	if timedOut {
		s.dirty = true
		return nil
	}
	s.notified(n)
	return nil
}

// probePrefix begins the payload of a self-test notification (listen.go).
const probePrefix = "probe:"

// notified handles a notification: the payload of a publish is the message's id,
// which the subscription reads unless it has already; a self-test of another
// subscription is ignored; anything else is counted and read on as a wake-up.
func (s *subscription) notified(n *pgconn.Notification) {
	if n == nil {
		return
	}
	if id, err := strconv.ParseInt(n.Payload, 10, 64); err == nil && id > 0 {
		if id > s.last {
			s.dirty = true
		}
		return
	}
	if strings.HasPrefix(n.Payload, probePrefix) {
		return
	}
	// A notification that no publisher of this package sent. It carries no
	// message (messages are in the table), so it is no loss; read the table in
	// case it is a wake-up all the same.
	s.bus.stats.garbageNotifications.Add(1)
	s.dirty = true
	if !s.warnedNotify {
		s.warnedNotify = true
		s.bus.log.Warn("freshpg: unexpected notification on the bus channel; ignored",
			"channel", s.bus.channel, "payload", truncate(n.Payload, 64), "pid", n.PID)
	}
}

// pollRow is a row that a read returned.
type pollRow struct {
	id      int64
	kind    int16
	msg     []byte
	trimmed int64      // meta row only
	maxID   int64      // meta row only
	at      *time.Time // of a message; for the meta row, of the row at last
}

// poll makes one read, checks continuity (see subscription) and delivers. It
// reports whether the read was full, so that more may follow at once.
func (s *subscription) poll() (more bool, err error) {
	b := s.bus
	b.stats.polls.Add(1)
	ctx, cancel := context.WithTimeout(s.ctx, queryTimeout)
	defer cancel()
	rows, err := s.conn.Query(ctx, b.st.poll, s.last, b.batch)
	if err != nil {
		return s.queryFailed(ctx, err)
	}
	var (
		meta *pollRow
		msgs []pollRow
	)
	for rows.Next() {
		var r pollRow
		if err := rows.Scan(&r.id, &r.kind, &r.msg, &r.trimmed, &r.maxID, &r.at); err != nil {
			rows.Close()
			return false, fmt.Errorf("reading the log table: %w", err)
		}
		if r.id == 0 && meta == nil {
			meta = &r
			continue
		}
		msgs = append(msgs, r)
	}
	if err := rows.Err(); err != nil {
		return s.queryFailed(ctx, err)
	}
	if s.closed.Load() {
		return false, nil
	}
	// The messages come in id order; make sure of it rather than trust the plan.
	slices.SortFunc(msgs, func(x, y pollRow) int { return cmpInt64(x.id, y.id) })

	switch {
	case meta == nil:
		return true, s.rebaseline(ctx, fmt.Errorf("%w: the meta row of table %s is gone: the table was truncated, or the row deleted", ErrTableReset, b.name))
	case !bytes.Equal(meta.msg, s.token):
		return true, s.rebaseline(ctx, fmt.Errorf("%w: table %s was truncated or created again (its meta row changed)", ErrTableReset, b.name))
	case max(meta.maxID, meta.trimmed) < s.last:
		return true, s.rebaseline(ctx, fmt.Errorf("%w: table %s went back in time: its newest id is %d, but id %d was read (a restore, a failover to a lagging replica, or a reset sequence)",
			ErrTableReset, b.name, max(meta.maxID, meta.trimmed), s.last))
	case s.lastAt != nil && meta.trimmed < s.last && (meta.at == nil || !meta.at.Equal(*s.lastAt)):
		return true, s.rebaseline(ctx, fmt.Errorf("%w: table %s went back in time: row %d, which was read, is gone or was replaced, and retention did not delete it (a restore, a failover to a lagging replica, a reset sequence, or a manual DELETE)",
			ErrTableReset, b.name, s.last))
	case meta.trimmed > s.last:
		err := fmt.Errorf("%w: messages %d to %d of table %s were deleted by retention before this subscriber read them (it fell more than MaxCount=%d messages or MaxAge=%v behind)",
			ErrTrimmed, s.last+1, meta.trimmed, b.name, b.o.MaxCount, b.o.MaxAge)
		b.log.Warn("freshpg: bus continuity lost", "err", err)
		s.loss(err)
		s.last, s.lastAt = meta.trimmed, nil
	}
	for i := range msgs {
		r := &msgs[i]
		if r.id <= s.last {
			continue
		}
		if s.closed.Load() {
			return false, nil
		}
		s.last, s.lastAt = r.id, r.at
		if r.kind != kindMessage || r.msg == nil {
			err := fmt.Errorf("%w: row %d of table %s has kind %d and a %s message; want kind %d and a message",
				ErrMalformedRow, r.id, b.name, r.kind, nullness(r.msg), kindMessage)
			b.stats.malformedRows.Add(1)
			b.log.Warn("freshpg: bus row dropped", "err", err)
			s.loss(err)
			continue
		}
		s.message(r.msg)
	}
	return len(msgs) == b.batch, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func nullness(msg []byte) string {
	if msg == nil {
		return "NULL"
	}
	return "non-NULL"
}

// queryFailed turns a failed read into the error that run retries, or recreates
// the table if it was dropped, asking for another read: that read finds a new meta
// row, and rebaselines.
func (s *subscription) queryFailed(ctx context.Context, err error) (more bool, _ error) {
	if isUndefinedTable(err) && !s.conn.IsClosed() {
		if _, _, serr := setup(ctx, s.conn, s.bus.table, &s.bus.st); serr != nil {
			return false, fmt.Errorf("reading the log table: %w; creating it again: %w", err, serr)
		}
		s.bus.log.Warn("freshpg: the log table was dropped; created it again", "table", s.bus.name)
		return true, nil
	}
	return false, fmt.Errorf("reading the log table: %w", err)
}

// baselineAttempts bounds the attempts of baseline to find a meta row that it
// creates itself, against a table being truncated or dropped again and again.
const baselineAttempts = 5

// baseline takes the newest id as the subscription's position and the meta row's
// token as its table's, creating the table or its meta row if they are missing.
// If loss is not nil, it reports it after the read, so that it covers every
// message the read skipped (see subscription).
func (s *subscription) baseline(ctx context.Context, loss error) error {
	b := s.bus
	for attempt := 1; ; attempt++ {
		var (
			token          []byte
			trimmed, maxID int64
			at             *time.Time
		)
		err := s.conn.QueryRow(ctx, b.st.baseline).Scan(&token, &trimmed, &maxID, &at)
		if err == nil {
			if loss != nil {
				if s.closed.Load() {
					return nil
				}
				b.log.Warn("freshpg: bus continuity lost", "err", loss)
				s.loss(loss)
			}
			s.token = token
			s.last, s.lastAt = maxID, at
			if trimmed >= maxID {
				s.last, s.lastAt = trimmed, nil
			}
			return nil
		}
		if attempt == baselineAttempts || (!errors.Is(err, pgx.ErrNoRows) && !isUndefinedTable(err)) {
			return fmt.Errorf("reading the meta row: %w", err)
		}
		// The table or its meta row is missing: create them, then read again.
		if _, _, err := setup(ctx, s.conn, b.table, &b.st); err != nil {
			return fmt.Errorf("creating the log table: %w", err)
		}
	}
}

// rebaseline reports loss and takes a new position (see baseline).
func (s *subscription) rebaseline(ctx context.Context, loss error) error {
	return s.baseline(ctx, loss)
}

// message calls the handler with msg, unless the subscription is closed. Only the
// runner calls it.
func (s *subscription) message(msg []byte) {
	if s.closed.Load() {
		return
	}
	s.bus.stats.delivered.Add(1)
	s.h.HandleMessage(msg)
}

// loss reports err to the handler, unless the subscription is closed. Only the
// runner calls it.
func (s *subscription) loss(err error) {
	if s.closed.Load() {
		return
	}
	s.bus.stats.losses.Add(1)
	s.h.HandleLoss(err)
}

// backendPID returns the backend pid of the listening connection, or 0 while it
// has none (for tests that terminate it).
func (s *subscription) backendPID() int32 { return s.pid.Load() }
