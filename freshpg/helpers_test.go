package freshpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL is the environment variable that names the PostgreSQL server of the
// integration tests.
const envURL = "FRESH_POSTGRES_URL"

const defaultTestURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// testWait bounds every wait of the tests.
const testWait = 15 * time.Second

// testURL returns the URL of the shared test server.
func testURL() string {
	if u := os.Getenv(envURL); u != "" {
		return u
	}
	return defaultTestURL
}

// inCI reports whether the tests run in CI, where a missing server fails them.
func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// skipOrFail skips the test, or fails it in CI.
func skipOrFail(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if inCI() {
		tb.Fatalf("%s (CI is set, so this is a failure)", msg)
	}
	tb.Skip(msg)
}

// testPool returns a pool on the shared server, closed when the test ends.
func testPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	return testPoolURL(tb, testURL())
}

func testPoolURL(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err == nil {
		err = pool.Ping(ctx)
		if err != nil {
			pool.Close()
		}
	}
	if err != nil {
		skipOrFail(tb, "PostgreSQL at %s (%s) is not reachable: %v", url, envURL, err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// testTableName returns a table name of the test's own, dropped when it ends.
func testTableName(tb testing.TB, pool *pgxpool.Pool) string {
	tb.Helper()
	name := fmt.Sprintf("freshpg_test_%x", rand.Uint64())
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = pool.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	})
	return name
}

// testBus returns a bus on pool, closed when the test ends.
func testBus(tb testing.TB, pool *pgxpool.Pool, o Options) *Bus {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if o.Logger == nil {
		o.Logger = testLogger(tb)
	}
	b, err := New(ctx, pool, o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// testCtx returns a context bounded by testWait, cancelled when the test ends.
func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	tb.Cleanup(cancel)
	return ctx
}

// event is one handler call: a message, or a loss when loss is set.
type event struct {
	msg  []byte
	loss error
	at   time.Time
}

func (e event) String() string {
	if e.loss != nil {
		return "LOSS(" + e.loss.Error() + ")"
	}
	return fmt.Sprintf("%q", e.msg)
}

// recorder is a fresh.Handler that records every call.
type recorder struct {
	mu     sync.Mutex
	events []event
	signal chan struct{} // capacity 1
	hook   func(msg []byte)
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

func (r *recorder) HandleMessage(msg []byte) {
	if r.hook != nil {
		r.hook(msg)
	}
	r.add(event{msg: bytes.Clone(msg), at: time.Now()})
}

func (r *recorder) HandleLoss(err error) { r.add(event{loss: err, at: time.Now()}) }

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

// waitUntil waits until cond holds for the events, failing after testWait.
func (r *recorder) waitUntil(tb testing.TB, what string, cond func([]event) bool) []event {
	tb.Helper()
	deadline := time.NewTimer(testWait)
	defer deadline.Stop()
	for {
		ev := r.snapshot()
		if cond(ev) {
			return ev
		}
		select {
		case <-r.signal:
		case <-deadline.C:
			tb.Fatalf("timed out waiting for %s; events: %s", what, summary(ev))
		}
	}
}

// waitMessage waits for the message want and returns the events up to it.
func (r *recorder) waitMessage(tb testing.TB, want string) []event {
	tb.Helper()
	return r.waitUntil(tb, fmt.Sprintf("message %q", want), func(ev []event) bool {
		for _, e := range ev {
			if e.loss == nil && string(e.msg) == want {
				return true
			}
		}
		return false
	})
}

// losses counts the losses among ev.
func losses(ev []event) int {
	n := 0
	for _, e := range ev {
		if e.loss != nil {
			n++
		}
	}
	return n
}

// summary shortens a list of events for a failure message.
func summary(ev []event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d events:", len(ev))
	for i, e := range ev {
		if i == 12 && len(ev) > 16 {
			fmt.Fprintf(&b, " ... (%d more)", len(ev)-16)
			ev = ev[len(ev)-4:]
			for _, e := range ev {
				b.WriteString(" " + e.String())
			}
			break
		}
		b.WriteString(" " + e.String())
	}
	return b.String()
}

// expectEvents checks that ev is exactly want, where "LOSS" stands for a loss
// wrapping lossErr.
func expectEvents(tb testing.TB, ev []event, lossErr error, want ...string) {
	tb.Helper()
	if len(ev) != len(want) {
		tb.Fatalf("got %s; want %q", summary(ev), want)
	}
	for i, w := range want {
		e := ev[i]
		if w == "LOSS" {
			if e.loss == nil || !errors.Is(e.loss, lossErr) {
				tb.Fatalf("event %d is %v; want a loss wrapping %v (all: %s)", i, e, lossErr, summary(ev))
			}
			continue
		}
		if e.loss != nil || string(e.msg) != w {
			tb.Fatalf("event %d is %v; want %q (all: %s)", i, e, w, summary(ev))
		}
	}
}

// subscribe subscribes r to b, closing the subscription when the test ends.
func subscribe(tb testing.TB, b *Bus, r fresh.Handler) *subscription {
	tb.Helper()
	sub, err := b.Subscribe(testCtx(tb), r)
	if err != nil {
		tb.Fatalf("Subscribe: %v", err)
	}
	tb.Cleanup(func() { sub.Close() })
	return sub.(*subscription)
}

// publish publishes each message on b, failing the test on error.
func publish(tb testing.TB, b *Bus, msgs ...string) {
	tb.Helper()
	for _, m := range msgs {
		if err := b.Publish(testCtx(tb), []byte(m)); err != nil {
			tb.Fatalf("Publish(%q): %v", m, err)
		}
	}
}

// execSQL runs sql on pool, failing the test on error.
func execSQL(tb testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	tb.Helper()
	if _, err := pool.Exec(testCtx(tb), sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// splitBus is a fresh.Bus over several buses on one table: Publish and Subscribe
// go round robin, as processes sharing the table would.
type splitBus struct {
	mu    sync.Mutex
	buses []*Bus
	pub   int
	sub   int
}

func (s *splitBus) next(i *int) *Bus {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buses[*i%len(s.buses)]
	*i++
	return b
}

func (s *splitBus) Publish(ctx context.Context, msg []byte) error {
	return s.next(&s.pub).Publish(ctx, msg)
}

func (s *splitBus) Subscribe(ctx context.Context, h fresh.Handler) (fresh.Subscription, error) {
	return s.next(&s.sub).Subscribe(ctx, h)
}

// testLogger returns a logger that writes to the test's log, so that the bus's
// warnings show with the test that caused them.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
