package freshsqlite

// Helpers of the tests: a file of its own per test, a recording handler, and a
// fresh.Bus that spreads its calls over several buses on one file, each standing
// for another process.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

// testWait bounds every wait of the tests.
const testWait = 10 * time.Second

// testPath returns the path of a database file of the test's own, in a directory of
// its own.
func testPath(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), "bus.db")
}

// testDB opens the database at path with modernc.org/sqlite and closes it when the
// test ends.
func testDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open(driverName, "file:"+path)
	if err != nil {
		tb.Fatalf("sql.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// testBus returns a Bus on a database of its own at path (a *sql.DB of its own, as
// another process would have) and closes it when the test ends.
func testBus(tb testing.TB, path string, o Options) *Bus {
	tb.Helper()
	b, err := New(testCtx(tb), testDB(tb, path), o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Errorf("Bus.Close: %v", err)
		}
	})
	return b
}

// testCtx returns a context that ends after testWait or with the test.
func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	tb.Cleanup(cancel)
	return ctx
}

// testSubscribe subscribes h to b and closes the subscription when the test ends.
func testSubscribe(tb testing.TB, b fresh.Bus, h fresh.Handler) fresh.Subscription {
	tb.Helper()
	sub, err := b.Subscribe(testCtx(tb), h)
	if err != nil {
		tb.Fatalf("Subscribe: %v", err)
	}
	tb.Cleanup(func() { sub.Close() })
	return sub
}

// testPublish publishes msg, failing the test on error.
func testPublish(tb testing.TB, b fresh.Bus, msg string) {
	tb.Helper()
	if err := b.Publish(testCtx(tb), []byte(msg)); err != nil {
		tb.Fatalf("Publish(%q): %v", msg, err)
	}
}

// event is one handler call recorded by a recorder: a message, or a loss when loss
// is set.
type event struct {
	msg  []byte
	loss error
}

func (e event) String() string {
	if e.loss != nil {
		return "loss(" + e.loss.Error() + ")"
	}
	return "message(" + string(e.msg) + ")"
}

// recorder is a fresh.Handler that records every call, in order. Its optional hook
// runs inside HandleMessage, before the message is recorded.
type recorder struct {
	mu     sync.Mutex
	events []event
	signal chan struct{} // capacity 1: events grew
	hook   func(msg []byte)
	calls  atomic.Int64
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

func (r *recorder) HandleMessage(msg []byte) {
	r.calls.Add(1)
	if r.hook != nil {
		r.hook(msg)
	}
	r.add(event{msg: bytes.Clone(msg)})
}

func (r *recorder) HandleLoss(err error) {
	r.calls.Add(1)
	if err == nil {
		err = errors.New("HandleLoss(nil)")
	}
	r.add(event{loss: err})
}

func (r *recorder) add(e event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// snapshot returns a copy of the events so far.
func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

// losses returns the losses recorded so far.
func (r *recorder) losses() []error {
	var errs []error
	for _, e := range r.snapshot() {
		if e.loss != nil {
			errs = append(errs, e.loss)
		}
	}
	return errs
}

// waitFor waits until cond holds for the events, failing the test after testWait.
func (r *recorder) waitFor(tb testing.TB, what string, cond func([]event) bool) []event {
	tb.Helper()
	timer := time.NewTimer(testWait)
	defer timer.Stop()
	for {
		events := r.snapshot()
		if cond(events) {
			return events
		}
		select {
		case <-r.signal:
		case <-timer.C:
			tb.Fatalf("timed out waiting for %s; the handler received %s", what, summary(events))
		}
	}
}

// waitMessage waits until a message equal to want was recorded, and returns the
// events up to and including it.
func (r *recorder) waitMessage(tb testing.TB, want string) []event {
	tb.Helper()
	var upTo []event
	r.waitFor(tb, "message "+want, func(events []event) bool {
		for i, e := range events {
			if e.loss == nil && string(e.msg) == want {
				upTo = events[:i+1]
				return true
			}
		}
		return false
	})
	return upTo
}

// summary describes events briefly, for failure messages.
func summary(events []event) string {
	if len(events) == 0 {
		return "nothing"
	}
	shown := events
	if len(events) > 25 {
		shown = append(append(events[:20:20], event{msg: []byte("...")}), events[len(events)-5:]...)
	}
	parts := make([]string, len(shown))
	for i, e := range shown {
		parts[i] = e.String()
	}
	return fmt.Sprintf("%d events: %s", len(events), strings.Join(parts, ", "))
}

// messages returns the messages among events, as strings.
func messages(events []event) []string {
	var out []string
	for _, e := range events {
		if e.loss == nil {
			out = append(out, string(e.msg))
		}
	}
	return out
}

// split is a fresh.Bus that spreads its calls over several buses on one file, each
// standing for another process: Publish and Subscribe take turns.
type split struct {
	buses      []*Bus
	pubs, subs atomic.Uint64
}

func (s *split) Publish(ctx context.Context, msg []byte) error {
	return s.buses[s.pubs.Add(1)%uint64(len(s.buses))].Publish(ctx, msg)
}

func (s *split) Subscribe(ctx context.Context, h fresh.Handler) (fresh.Subscription, error) {
	return s.buses[s.subs.Add(1)%uint64(len(s.buses))].Subscribe(ctx, h)
}

// testSplit returns a split over n buses on one new file, each with o.
func testSplit(tb testing.TB, n int, o Options) *split {
	tb.Helper()
	path := testPath(tb)
	s := &split{}
	for range n {
		s.buses = append(s.buses, testBus(tb, path, o))
	}
	return s
}
