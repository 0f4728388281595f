package freshnats

// Helpers of the tests: the shared server at FRESH_NATS_URL, private servers the
// tests start and kill, a unique namespace per test, and a recording handler.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// testDefaultURL is the server the tests use when FRESH_NATS_URL is not set.
const testDefaultURL = "nats://127.0.0.1:4222"

// testWait bounds every wait of the tests.
const testWait = 10 * time.Second

// testURL returns FRESH_NATS_URL, or testDefaultURL.
func testURL() string {
	if u := os.Getenv("FRESH_NATS_URL"); u != "" {
		return u
	}
	return testDefaultURL
}

// testCI reports whether CI is set, in which case a missing server fails a test
// rather than skip it.
func testCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && v != "false"
}

// testUnavailable skips the test, or fails it under CI.
func testUnavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if testCI() {
		tb.Fatalf("CI is set, so this cannot be skipped: %s", msg)
	}
	tb.Skip(msg)
}

// testConn returns a connection to the shared server, closed when the test ends,
// with opts added. It skips the test if the server does not answer (fails it under
// CI).
func testConn(tb testing.TB, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	return testConnTo(tb, testURL(), opts...)
}

// testConnTo is testConn for the server at url.
func testConnTo(tb testing.TB, url string, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	opts = append([]nats.Option{nats.Timeout(2 * time.Second), nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		testUnavailable(tb, "no NATS server at %s; set FRESH_NATS_URL to run this test: %v", url, err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// testJetStream skips the test (fails it under CI) if nc's server has no
// JetStream.
func testJetStream(tb testing.TB, nc *nats.Conn) {
	tb.Helper()
	js, err := jetstream.New(nc)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = js.AccountInfo(ctx)
	}
	if err != nil {
		testUnavailable(tb, "the NATS server at %s has no JetStream (start it with -js): %v", nc.ConnectedUrlRedacted(), err)
	}
}

// testNamespace returns a namespace of its own for the test. If nc is not nil, the
// stream of that namespace is deleted when the test ends.
func testNamespace(tb testing.TB, nc *nats.Conn) string {
	tb.Helper()
	name := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(tb.Name(), "_")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	ns := "t-" + name + "-" + testRandomHex(6)
	if nc != nil {
		tb.Cleanup(func() {
			if nc.IsClosed() {
				return
			}
			js, err := jetstream.New(nc)
			if err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = js.DeleteStream(ctx, "fresh_v1_"+ns)
		})
	}
	return ns
}

// testRandomHex returns n random bytes in hex.
func testRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testBus returns a bus on nc, closed when the test ends.
func testBus(tb testing.TB, nc *nats.Conn, o Options) *Bus {
	tb.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(tb)
	}
	b, err := New(nc, o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// testCtx returns a context that ends after testWait or with the test.
func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	tb.Cleanup(cancel)
	return ctx
}

// testModes are the two modes of the bus, for tests that every mode must pass.
var testModes = []struct {
	name string
	js   bool
}{{"core", false}, {"jetstream", true}}

// testModeConn returns a connection to the shared server for a test of mode js,
// skipping the test if JetStream is wanted and missing.
func testModeConn(tb testing.TB, js bool, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	nc := testConn(tb, opts...)
	if js {
		testJetStream(tb, nc)
	}
	return nc
}

// ---------------------------------------------------------------------------
// Recording handler.

// testEvent is one handler call: a message, or a loss when loss is set.
type testEvent struct {
	msg  []byte
	loss error
}

func (e testEvent) String() string {
	if e.loss != nil {
		return "loss(" + e.loss.Error() + ")"
	}
	if len(e.msg) > 40 {
		return fmt.Sprintf("message(%q... %d bytes)", e.msg[:40], len(e.msg))
	}
	return fmt.Sprintf("message(%q)", e.msg)
}

// testRecorder is a fresh.Handler that records every call, in order. Its optional
// hook runs inside HandleMessage, before the message is recorded.
type testRecorder struct {
	mu     sync.Mutex
	events []testEvent
	signal chan struct{} // capacity 1: events grew
	hook   func(msg []byte)
}

func newTestRecorder() *testRecorder { return &testRecorder{signal: make(chan struct{}, 1)} }

func (r *testRecorder) HandleMessage(msg []byte) {
	if r.hook != nil {
		r.hook(msg)
	}
	r.add(testEvent{msg: bytes.Clone(msg)})
}

func (r *testRecorder) HandleLoss(err error) {
	if err == nil {
		err = errors.New("HandleLoss(nil)")
	}
	r.add(testEvent{loss: err})
}

func (r *testRecorder) add(e testEvent) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// snapshot returns a copy of the events so far.
func (r *testRecorder) snapshot() []testEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]testEvent(nil), r.events...)
}

// losses returns the losses recorded so far.
func (r *testRecorder) losses() []error {
	var errs []error
	for _, e := range r.snapshot() {
		if e.loss != nil {
			errs = append(errs, e.loss)
		}
	}
	return errs
}

// waitFor waits until cond holds for the events, failing the test after testWait.
func (r *testRecorder) waitFor(tb testing.TB, what string, cond func([]testEvent) bool) []testEvent {
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
			tb.Fatalf("timed out waiting for %s; the handler received %s", what, testSummary(events))
		}
	}
}

// waitMessage waits until a message equal to want was recorded, and returns the
// events up to and including it.
func (r *testRecorder) waitMessage(tb testing.TB, want string) []testEvent {
	tb.Helper()
	var upTo []testEvent
	r.waitFor(tb, "message "+strconv.Quote(want), func(events []testEvent) bool {
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

// testSummary describes events briefly, for failure messages.
func testSummary(events []testEvent) string {
	if len(events) == 0 {
		return "nothing"
	}
	shown := events
	if len(events) > 25 {
		shown = append(append(events[:20:20], testEvent{msg: []byte("...")}), events[len(events)-5:]...)
	}
	parts := make([]string, len(shown))
	for i, e := range shown {
		parts[i] = e.String()
	}
	return fmt.Sprintf("%d events: %s", len(events), strings.Join(parts, ", "))
}

// testExpect checks that events are exactly want, where a want of "LOSS" stands for
// a loss wrapping lossErr.
func testExpect(tb testing.TB, events []testEvent, lossErr error, want ...string) {
	tb.Helper()
	ok := len(events) == len(want)
	for i := 0; ok && i < len(want); i++ {
		if want[i] == "LOSS" {
			ok = errors.Is(events[i].loss, lossErr)
		} else {
			ok = events[i].loss == nil && string(events[i].msg) == want[i]
		}
	}
	if !ok {
		tb.Fatalf("the handler received %s; want %v", testSummary(events), want)
	}
}

// testSubscribe subscribes h to b, failing the test on error.
func testSubscribe(tb testing.TB, b fresh.Bus, h fresh.Handler) fresh.Subscription {
	tb.Helper()
	s, err := b.Subscribe(testCtx(tb), h)
	if err != nil {
		tb.Fatalf("Subscribe: %v", err)
	}
	return s
}

// testPublish publishes each message on b, failing the test on error.
func testPublish(tb testing.TB, b fresh.Bus, msgs ...string) {
	tb.Helper()
	ctx := testCtx(tb)
	for _, m := range msgs {
		if err := b.Publish(ctx, []byte(m)); err != nil {
			tb.Fatalf("Publish(%q): %v", m, err)
		}
	}
}

// testSplit is a fresh.Bus that spreads its calls over several buses of one
// namespace, each standing for another process: Publish and Subscribe take turns.
type testSplit struct {
	buses      []fresh.Bus
	pubs, subs atomic.Uint64
}

func (s *testSplit) Publish(ctx context.Context, msg []byte) error {
	return s.buses[s.pubs.Add(1)%uint64(len(s.buses))].Publish(ctx, msg)
}

func (s *testSplit) Subscribe(ctx context.Context, h fresh.Handler) (fresh.Subscription, error) {
	return s.buses[s.subs.Add(1)%uint64(len(s.buses))].Subscribe(ctx, h)
}

// ---------------------------------------------------------------------------
// Private servers.

// testServer is a nats-server the test started on a free port of its own.
type testServer struct {
	tb   testing.TB
	port int
	args []string // beyond the address and port
	dir  string   // JetStream's store, when enabled

	mu  sync.Mutex
	cmd *exec.Cmd
	out *bytes.Buffer
}

// testStartServer starts nats-server on a free loopback port with the extra
// arguments, and kills it when the test ends. With js, JetStream is enabled with a
// store directory of the test's own. It skips the test if nats-server is not
// installed (fails it under CI).
func testStartServer(tb testing.TB, js bool, extra ...string) *testServer {
	tb.Helper()
	if _, err := exec.LookPath("nats-server"); err != nil {
		testUnavailable(tb, "nats-server is not installed: %v", err)
	}
	s := &testServer{tb: tb, port: testFreePort(tb), args: extra}
	if js {
		s.dir = filepath.Join(tb.TempDir(), "js")
		s.args = append(s.args, "-js", "-sd", s.dir)
	}
	s.start()
	tb.Cleanup(s.kill)
	return s
}

// testFreePort returns a loopback TCP port that was free a moment ago.
func testFreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// url returns the server's URL.
func (s *testServer) url() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

// start starts the server and waits until it accepts connections.
func (s *testServer) start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	args := append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(s.port)}, s.args...)
	cmd := exec.Command("nats-server", args...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: out}, &lockedWriter{w: out}
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("start nats-server: %v", err)
	}
	s.cmd, s.out = cmd, out
	deadline := time.Now().Add(testWait)
	for {
		c, err := net.DialTimeout("tcp", s.addr(), 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			s.tb.Fatalf("nats-server %v does not accept connections: %v\n%s", args, err, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// addr returns the server's host:port.
func (s *testServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// kill kills the server with SIGKILL and waits for it to exit.
func (s *testServer) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// testLogger returns a logger that writes to the test's log while the test runs.
func testLogger(tb testing.TB) *slog.Logger {
	w := &testLogWriter{tb: tb}
	tb.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testLogWriter struct {
	tb   testing.TB
	done atomic.Bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// testDialer is a nats.CustomDialer whose connections the test can cut, and which
// refuses to dial while it is down.
type testDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	down  bool
	dials int
}

func (d *testDialer) Dial(network, address string) (net.Conn, error) {
	d.mu.Lock()
	down := d.down
	d.mu.Unlock()
	if down {
		return nil, errors.New("test dialer: down")
	}
	c, err := net.DialTimeout(network, address, time.Second)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conns = append(d.conns, c)
	d.dials++
	return c, nil
}

// cut closes every connection made so far; with down, dialling fails until up.
func (d *testDialer) cut(down bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = down
	for _, c := range d.conns {
		_ = c.Close()
	}
	d.conns = nil
}

// up lets the dialer dial again.
func (d *testDialer) up() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = false
}

// testNoSilentGap checks the property the bus exists for: among the messages
// "<prefix><n>" a handler received, in order, n only grows, and wherever it skips
// a number, a loss was reported in between. published, if not nil, reports whether
// the Publish of n returned without error: only those must arrive (a failed one may
// or may not).
func testNoSilentGap(tb testing.TB, events []testEvent, prefix string, published func(n int) bool) {
	tb.Helper()
	last, lossSince := -1, false
	for i, e := range events {
		if e.loss != nil {
			lossSince = true
			continue
		}
		rest, ok := strings.CutPrefix(string(e.msg), prefix)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil {
			continue
		}
		if n <= last {
			tb.Fatalf("event %d: message %d after %d: the order went back (%s)", i, n, last, testSummary(events))
		}
		if !lossSince && last >= 0 {
			for k := last + 1; k < n; k++ {
				if published == nil || published(k) {
					tb.Fatalf("event %d: message %d followed %d, skipping %d (whose Publish succeeded) with no loss reported in between",
						i, n, last, k)
				}
			}
		}
		last, lossSince = n, false
	}
}
