package freshnats

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

// TestOptions: New refuses bad options and connections with an error that names
// the problem, and fills in the defaults.
func TestOptions(t *testing.T) {
	t.Parallel()
	nc := testConn(t)
	noEcho := testConn(t, nats.NoEcho())
	closed := testConn(t)
	closed.Close()

	cases := []struct {
		name string
		nc   *nats.Conn
		o    Options
		want string // in the error
	}{
		{"nil connection", nil, Options{}, "nil connection"},
		{"closed connection", closed, Options{}, "closed"},
		{"no echo", noEcho, Options{}, "NoEcho"},
		{"dot in namespace", nc, Options{Namespace: "a.b"}, "Namespace"},
		{"wildcard in namespace", nc, Options{Namespace: "a*"}, "Namespace"},
		{"space in namespace", nc, Options{Namespace: "a b"}, "Namespace"},
		{"long namespace", nc, Options{Namespace: strings.Repeat("n", 65)}, "Namespace"},
		{"negative MaxMessageSize", nc, Options{MaxMessageSize: -1}, "MaxMessageSize"},
		{"negative Timeout", nc, Options{Timeout: -time.Second}, "Timeout"},
		{"Timeout under a millisecond", nc, Options{Timeout: time.Microsecond}, "Timeout"},
		{"negative QueueLen", nc, Options{QueueLen: -1}, "QueueLen"},
		{"negative QueueBytes", nc, Options{QueueBytes: -1}, "QueueBytes"},
		{"six replicas", nc, Options{JetStream: true, Replicas: 6}, "Replicas"},
		{"bad storage", nc, Options{JetStream: true, Storage: 7}, "Storage"},
		{"stream options in core mode", nc, Options{MaxMsgs: 10}, "JetStream"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.nc, tc.o)
			if err == nil || b != nil {
				t.Fatalf("New = %v, %v; want an error", b, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "freshnats: ") {
				t.Errorf("error %q; want one that begins with \"freshnats: \" and mentions %q", err, tc.want)
			}
		})
	}

	t.Run("every problem reported", func(t *testing.T) {
		_, err := New(nil, Options{Namespace: "a.b", MaxMessageSize: -1, QueueLen: -1, Timeout: -1})
		for _, want := range []string{"nil connection", "Namespace", "MaxMessageSize", "QueueLen", "Timeout"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v; want it to mention %q", err, want)
			}
		}
	})

	t.Run("defaults", func(t *testing.T) {
		b, err := New(nc, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := b.Subject(), "fresh.v1.fresh.bus"; got != want {
			t.Errorf("Subject() = %q; want %q", got, want)
		}
		if b.Stream() != "" {
			t.Errorf("Stream() = %q in core mode; want \"\"", b.Stream())
		}
		want := Options{Namespace: "fresh", MaxMessageSize: DefaultMaxMessageSize, Timeout: defaultTimeout, QueueLen: defaultQueueLen,
			QueueBytes: defaultQueueBytes, Logger: slog.Default()}
		if b.o != want {
			t.Errorf("options with defaults %+v; want %+v", b.o, want)
		}
		if b.Conn() != nc {
			t.Error("Conn() is not the connection given to New")
		}
		js, err := New(nc, Options{Namespace: "Ns_1-x", JetStream: true, Storage: jetstream.MemoryStorage, MaxAge: -1})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := js.Stream(), "fresh_v1_Ns_1-x"; got != want {
			t.Errorf("Stream() = %q; want %q", got, want)
		}
		if c := js.streamConfig(); c.MaxAge != 0 || c.Storage != jetstream.MemoryStorage || c.MaxMsgs != defaultMaxMsgs ||
			c.MaxBytes != defaultMaxBytes || c.Replicas != 1 || len(c.Subjects) != 1 || c.Subjects[0] != "fresh.v1.Ns_1-x.bus" {
			t.Errorf("stream configuration %+v", c)
		}
	})
}

// TestErrors: Publish and Subscribe refuse what they must, with the documented
// errors, and Close is idempotent and leaves the caller's connection open.
func TestErrors(t *testing.T) {
	t.Parallel()
	for _, mode := range testModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			nc := testModeConn(t, mode.js)
			bus := testBus(t, nc, Options{Namespace: testNamespace(t, nc), JetStream: mode.js, MaxMessageSize: 16})
			ctx := testCtx(t)
			r := newTestRecorder()
			sub := testSubscribe(t, bus, r)

			if err := bus.Publish(ctx, make([]byte, 17)); !errors.Is(err, ErrMessageTooLarge) {
				t.Errorf("Publish of 17 bytes with MaxMessageSize 16 = %v; want ErrMessageTooLarge", err)
			}
			testPublish(t, bus, "sixteen bytes!!!", "")
			r.waitFor(t, "two messages", func(events []testEvent) bool { return len(events) == 2 })

			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if err := bus.Publish(cancelled, []byte("x")); !errors.Is(err, context.Canceled) {
				t.Errorf("Publish with a cancelled context = %v; want context.Canceled", err)
			}
			if _, err := bus.Subscribe(cancelled, r); !errors.Is(err, context.Canceled) {
				t.Errorf("Subscribe with a cancelled context = %v; want context.Canceled", err)
			}
			//nolint:staticcheck // SA1012: a nil context is what is tested
			if err := bus.Publish(nil, []byte("x")); err == nil {
				t.Error("Publish with a nil context succeeded")
			}
			//nolint:staticcheck // SA1012: a nil context is what is tested
			if _, err := bus.Subscribe(nil, r); err == nil {
				t.Error("Subscribe with a nil context succeeded")
			}
			if _, err := bus.Subscribe(ctx, nil); err == nil {
				t.Error("Subscribe of a nil handler succeeded")
			}

			for range 2 {
				if err := sub.Close(); err != nil {
					t.Errorf("Subscription.Close: %v", err)
				}
			}
			for range 2 {
				if err := bus.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
			if err := bus.Publish(ctx, []byte("x")); !errors.Is(err, ErrBusClosed) {
				t.Errorf("Publish after Close = %v; want ErrBusClosed", err)
			}
			if _, err := bus.Subscribe(ctx, r); !errors.Is(err, ErrBusClosed) {
				t.Errorf("Subscribe after Close = %v; want ErrBusClosed", err)
			}
			if err := nc.FlushTimeout(testWait); err != nil || nc.IsClosed() {
				t.Errorf("the connection no longer works after the bus's Close: %v", err)
			}
			testExpect(t, r.snapshot(), nil, "sixteen bytes!!!", "")
		})
	}
}

// TestCloseFromHandler: a handler may close its own subscription, or the whole
// bus; it is not called again afterwards, and the others are not disturbed.
func TestCloseFromHandler(t *testing.T) {
	t.Parallel()
	for _, mode := range testModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			nc := testModeConn(t, mode.js)
			bus := testBus(t, nc, Options{Namespace: testNamespace(t, nc), JetStream: mode.js})
			ctx := testCtx(t)

			var (
				self     fresh.Subscription
				selfMu   sync.Mutex
				selfDone = make(chan error, 1)
				after    atomic.Int64
				closed   atomic.Bool
			)
			closer := newTestRecorder()
			closer.hook = func(msg []byte) {
				if closed.Load() {
					after.Add(1)
				}
				if string(msg) == "close" {
					selfMu.Lock()
					s := self
					selfMu.Unlock()
					selfDone <- s.Close()
					closed.Store(true)
				}
			}
			selfMu.Lock()
			s, err := bus.Subscribe(ctx, closer)
			self = s
			selfMu.Unlock()
			if err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			busClosed := make(chan error, 1)
			other := newTestRecorder()
			other.hook = func(msg []byte) {
				if string(msg) == "close bus" {
					busClosed <- bus.Close()
				}
			}
			testSubscribe(t, bus, other)

			testPublish(t, bus, "one", "close", "two", "three")
			select {
			case err := <-selfDone:
				if err != nil {
					t.Errorf("Close from the handler: %v", err)
				}
			case <-time.After(testWait):
				t.Fatal("Close from the handler did not return")
			}
			other.waitMessage(t, "three")
			time.Sleep(50 * time.Millisecond)
			if n := after.Load(); n > 0 {
				t.Errorf("handler called %d times after it closed its subscription", n)
			}

			testPublish(t, bus, "close bus")
			select {
			case err := <-busClosed:
				if err != nil {
					t.Errorf("Close of the bus from a handler: %v", err)
				}
			case <-time.After(testWait):
				t.Fatal("Close of the bus from a handler did not return")
			}
			if err := bus.Publish(ctx, []byte("x")); !errors.Is(err, ErrBusClosed) {
				t.Errorf("Publish after Close from a handler = %v; want ErrBusClosed", err)
			}
		})
	}
}

// TestGoroutinesEndWithClose: once Close returns, no goroutine of the bus is left,
// whether the bus made its connection (OpenURL) or was given one (New), and whether
// its subscriptions were closed one by one or by the bus (pitfall P21). Not
// parallel: goleak looks at every goroutine of the process.
func TestGoroutinesEndWithClose(t *testing.T) {
	for _, mode := range testModes {
		for _, opened := range []bool{false, true} {
			name := mode.name + "/New"
			if opened {
				name = mode.name + "/OpenURL"
			}
			t.Run(name, func(t *testing.T) {
				nc := testModeConn(t, mode.js)
				// The connection's own request subscription, made by the first
				// request, belongs to the connection: make it before the snapshot.
				if js, err := jetstream.New(nc); err == nil && mode.js {
					_, _ = js.AccountInfo(testCtx(t))
				}
				ns := testNamespace(t, nc)
				ignore := goleak.IgnoreCurrent()
				var bus *Bus
				var err error
				if opened {
					bus, err = OpenURL(testCtx(t), testURL(), Options{Namespace: ns, JetStream: mode.js})
				} else {
					bus, err = New(nc, Options{Namespace: ns, JetStream: mode.js})
				}
				if err != nil {
					t.Fatal(err)
				}
				var subs []fresh.Subscription
				var rs []*testRecorder
				for range 4 {
					r := newTestRecorder()
					subs, rs = append(subs, testSubscribe(t, bus, r)), append(rs, r)
				}
				testPublish(t, bus, "hello")
				for _, r := range rs {
					r.waitMessage(t, "hello")
				}
				for _, s := range subs[:2] {
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
				}
				start := time.Now()
				if err := bus.Close(); err != nil {
					t.Fatal(err)
				}
				t.Logf("Close took %v", time.Since(start))
				if err := goleak.Find(ignore); err != nil {
					t.Errorf("goroutines outlived Close: %v", err)
				}
				// All closed one by one: the feed stops with the last one.
				bus2 := testBus(t, nc, Options{Namespace: ns, JetStream: mode.js})
				sub := testSubscribe(t, bus2, newTestRecorder())
				if err := sub.Close(); err != nil {
					t.Fatal(err)
				}
				if err := goleak.Find(ignore); err != nil {
					t.Errorf("goroutines outlived the last Subscription.Close: %v", err)
				}
			})
		}
	}
}

// TestTwoBuses: what one bus publishes, another bus of the same namespace on
// another connection (another process) receives, and the other way round; a bus
// of another namespace receives nothing.
func TestTwoBuses(t *testing.T) {
	t.Parallel()
	for _, mode := range testModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			nc1, nc2 := testModeConn(t, mode.js), testModeConn(t, mode.js)
			ns := testNamespace(t, nc1)
			b1 := testBus(t, nc1, Options{Namespace: ns, JetStream: mode.js})
			b2 := testBus(t, nc2, Options{Namespace: ns, JetStream: mode.js})
			stranger := testBus(t, nc2, Options{Namespace: testNamespace(t, nc2), JetStream: mode.js})
			r1, r2, rs := newTestRecorder(), newTestRecorder(), newTestRecorder()
			testSubscribe(t, b1, r1)
			testSubscribe(t, b2, r2)
			testSubscribe(t, stranger, rs)
			var want []string
			for i := range 10 {
				b := b1
				if i%2 == 1 {
					b = b2
				}
				m := fmt.Sprintf("m%d", i)
				testPublish(t, b, m)
				want = append(want, m)
			}
			for _, r := range []*testRecorder{r1, r2} {
				testExpect(t, r.waitMessage(t, "m9"), nil, want...)
			}
			testPublish(t, stranger, "own")
			testExpect(t, rs.waitMessage(t, "own"), nil, "own")
		})
	}
}

// TestFragmentedMessages publishes messages larger than a NATS message may be
// (here, with a 100-byte limit on the frames' payloads), from several goroutines
// and two buses at once: each arrives whole, once, and each publisher's in order.
func TestFragmentedMessages(t *testing.T) {
	t.Parallel()
	for _, mode := range testModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			nc1, nc2 := testModeConn(t, mode.js), testModeConn(t, mode.js)
			ns := testNamespace(t, nc1)
			o := Options{Namespace: ns, JetStream: mode.js, fragmentSize: 100}
			b1, b2 := testBus(t, nc1, o), testBus(t, nc2, o)
			r1, r2 := newTestRecorder(), newTestRecorder()
			testSubscribe(t, b1, r1)
			testSubscribe(t, b2, r2)

			const publishers, each = 4, 30
			msg := func(p, i int) []byte {
				rng := rand.New(rand.NewPCG(uint64(p), uint64(i)))
				b := make([]byte, rng.IntN(450)) // 0 to 5 fragments
				for j := range b {
					b[j] = byte(rng.Uint32())
				}
				return append(fmt.Appendf(nil, "%d:%d:", p, i), b...)
			}
			var wg sync.WaitGroup
			for p := range publishers {
				bus := []*Bus{b1, b2}[p%2]
				wg.Go(func() {
					for i := range each {
						if err := bus.Publish(testCtx(t), msg(p, i)); err != nil {
							t.Errorf("Publish: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			for _, r := range []*testRecorder{r1, r2} {
				events := r.waitFor(t, "every message", func(events []testEvent) bool { return len(events) >= publishers*each })
				next := make([]int, publishers)
				for _, e := range events {
					if e.loss != nil {
						t.Fatalf("loss on a healthy bus: %v", e.loss)
					}
					var p, i int
					if _, err := fmt.Sscanf(string(e.msg), "%d:%d:", &p, &i); err != nil || p >= publishers {
						t.Fatalf("received a message no publisher sent: %v", e)
					}
					if i != next[p] || !bytes.Equal(e.msg, msg(p, i)) {
						t.Fatalf("received %v; want message %d of publisher %d, whole", e, next[p], p)
					}
					next[p]++
				}
			}
			if s := b1.Stats(); s.Losses != 0 || s.Malformed != 0 || s.Gaps != 0 {
				t.Errorf("stats %+v on a healthy bus", s)
			}
		})
	}
}

// TestCoreRefusesCluster: on a connection to a two-server cluster, a core-mode bus
// is refused unless AllowCluster is set, and then warns; a JetStream bus is fine.
// (The NATS form of pitfall P29: a deployment that quietly breaks the bus's
// guarantee is detected and refused.)
func TestCoreRefusesCluster(t *testing.T) {
	t.Parallel()
	r1, r2 := testFreePort(t), testFreePort(t)
	route := func(p int) string { return fmt.Sprintf("nats://127.0.0.1:%d", p) }
	s1 := testStartServer(t, false, "--cluster_name", "fresh", "--cluster", route(r1), "--routes", route(r2))
	testStartServer(t, false, "--cluster_name", "fresh", "--cluster", route(r2), "--routes", route(r1))
	nc := testConnTo(t, s1.url())
	deadline := time.Now().Add(testWait)
	for len(nc.DiscoveredServers()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the client never heard of the second server (servers %v)", nc.Servers())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := New(nc, Options{}); err == nil || !strings.Contains(err.Error(), "cluster") {
		t.Errorf("New on a cluster = %v; want an error about the cluster", err)
	}
	var logged bytes.Buffer
	if _, err := New(nc, Options{AllowCluster: true, Logger: slog.New(slog.NewTextHandler(&logged, nil))}); err != nil {
		t.Errorf("New on a cluster with AllowCluster: %v", err)
	}
	if !strings.Contains(logged.String(), "cluster") {
		t.Errorf("New on a cluster with AllowCluster logged %q; want a warning", logged.String())
	}
	if _, err := New(nc, Options{JetStream: true}); err != nil {
		t.Errorf("New in JetStream mode on a cluster: %v", err)
	}

	// A standalone server is no cluster.
	if _, err := New(testConnTo(t, testStartServer(t, false).url()), Options{}); err != nil {
		t.Errorf("New on a standalone server: %v", err)
	}
}

// TestOpenURL: OpenURL refuses bad URLs with a clear error that never shows the
// password, fails on an unreachable server, and opens a bus of the right mode on a
// good URL, which Close closes with its connection.
func TestOpenURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bad := []struct {
		url  string
		o    Options
		want string
	}{
		{"", Options{}, "empty"},
		{"   ", Options{}, "empty"},
		{"redis://127.0.0.1:6379", Options{}, "scheme"},
		{"127.0.0.1:4222", Options{}, "scheme"},
		{"user:secret@127.0.0.1:4222", Options{}, "scheme"},
		{"nats://", Options{}, "no host"},
		{"nats://127.0.0.1:4222/db", Options{}, "path"},
		{"nats://127.0.0.1:4222#x", Options{}, "fragment"},
		{"nats://127.0.0.1:4222?jetstream=maybe", Options{}, "jetstream"},
		{"nats://127.0.0.1:4222?jetstream=1&jetstream=0", Options{}, "2 times"},
		{"nats://127.0.0.1:4222?jetstream=0", Options{JetStream: true}, "contradicts"},
		{"nats://127.0.0.1:4222?namespace=a", Options{Namespace: "b"}, "contradicts"},
		{"nats://127.0.0.1:4222?namespace=", Options{}, "empty namespace"},
		{"nats://127.0.0.1:4222?namespace=a.b", Options{}, "Namespace"},
		{"nats://127.0.0.1:4222?stream=x", Options{}, "unknown parameter"},
		{"nats://127.0.0.1:4222,,nats://127.0.0.1:4223", Options{}, "empty"},
		{"nats://127.0.0.1:4222,nats://127.0.0.1:4223?jetstream=1", Options{}, "first URL"},
		{"nats://user:secret@127.0.0.1:4222/x", Options{}, "path"},
		{"nats://user:secret@127.0.0.1:bad", Options{}, "malformed"},
		{"nats://127.0.0.1:4222", Options{Timeout: -1}, "Timeout"},
	}
	for _, tc := range bad {
		b, err := OpenURL(ctx, tc.url, tc.o)
		if err == nil {
			_ = b.Close()
			t.Errorf("OpenURL(%q) succeeded; want an error", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "freshnats: ") {
			t.Errorf("OpenURL(%q) = %q; want an error that begins with \"freshnats: \" and mentions %q", tc.url, err, tc.want)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("OpenURL(%q) = %q, which shows the password", tc.url, err)
		}
	}
	//nolint:staticcheck // SA1012: a nil context is what is tested
	if _, err := OpenURL(nil, testURL(), Options{}); err == nil {
		t.Error("OpenURL with a nil context succeeded")
	}

	// Nothing listens there.
	port := testFreePort(t)
	start := time.Now()
	_, err := OpenURL(ctx, fmt.Sprintf("nats://user:secret@127.0.0.1:%d", port), Options{})
	if err == nil || !strings.Contains(err.Error(), "connect") || strings.Contains(err.Error(), "secret") {
		t.Errorf("OpenURL of an unreachable server = %v; want a connection error without the password", err)
	}
	t.Logf("unreachable server: %v after %v", err, time.Since(start))
	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if _, err := OpenURL(expired, testURL(), Options{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("OpenURL with an expired context = %v; want context.DeadlineExceeded", err)
	}

	nc := testConn(t)
	for _, mode := range testModes {
		if mode.js {
			testJetStream(t, nc)
		}
		ns := testNamespace(t, nc)
		u := testURL() + "?namespace=" + ns
		if mode.js {
			u += "&jetstream=1"
		}
		b, err := OpenURL(testCtx(t), u, Options{})
		if err != nil {
			t.Fatalf("OpenURL(%q): %v", u, err)
		}
		if b.o.JetStream != mode.js || b.o.Namespace != ns {
			t.Errorf("OpenURL(%q) made a bus with JetStream %v in namespace %q", u, b.o.JetStream, b.o.Namespace)
		}
		if mode.js {
			// OpenURL creates the stream at once.
			js, _ := jetstream.New(nc)
			if _, err := js.Stream(testCtx(t), b.Stream()); err != nil {
				t.Errorf("the stream of a bus that OpenURL opened: %v", err)
			}
		}
		r := newTestRecorder()
		testSubscribe(t, b, r)
		testPublish(t, b, "via URL")
		testExpect(t, r.waitMessage(t, "via URL"), nil, "via URL")
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if !b.Conn().IsClosed() {
			t.Error("Close left the connection that OpenURL opened open")
		}
	}
}

// TestJetStreamUnavailable: on a server without JetStream, a JetStream bus fails
// with a clear error, promptly: OpenURL at once, a bus from New at its first
// Subscribe or Publish.
func TestJetStreamUnavailable(t *testing.T) {
	t.Parallel()
	srv := testStartServer(t, false)
	start := time.Now()
	if _, err := OpenURL(testCtx(t), srv.url()+"?jetstream=1", Options{}); err == nil || !strings.Contains(err.Error(), "JetStream does not answer") {
		t.Errorf("OpenURL with jetstream=1 on a server without JetStream = %v; want an error about JetStream", err)
	}
	bus := testBus(t, testConnTo(t, srv.url()), Options{JetStream: true})
	if _, err := bus.Subscribe(testCtx(t), newTestRecorder()); err == nil || !strings.Contains(err.Error(), "JetStream does not answer") {
		t.Errorf("Subscribe = %v; want an error about JetStream", err)
	}
	if err := bus.Publish(testCtx(t), []byte("x")); err == nil || !strings.Contains(err.Error(), "JetStream does not answer") {
		t.Errorf("Publish = %v; want an error about JetStream", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the errors took %v", d)
	}
}

// TestCloseRaces: a handler closes its own subscription (or the bus) while another
// goroutine is closing the bus and waiting for that very handler. Neither may wait
// for the other: both return, and the handler is not called again.
func TestCloseRaces(t *testing.T) {
	t.Parallel()
	for _, mode := range testModes {
		for _, what := range []string{"subscription", "bus"} {
			t.Run(mode.name+"/"+what, func(t *testing.T) {
				t.Parallel()
				nc := testModeConn(t, mode.js)
				bus := testBus(t, nc, Options{Namespace: testNamespace(t, nc), JetStream: mode.js})
				entered, proceed := make(chan struct{}), make(chan struct{})
				var release sync.Once
				t.Cleanup(func() { release.Do(func() { close(proceed) }) }) // Close waits for the handler
				var sub fresh.Subscription
				var subMu sync.Mutex
				var calls atomic.Int64
				handlerDone := make(chan error, 1)
				r := newTestRecorder()
				r.hook = func(msg []byte) {
					if calls.Add(1) > 1 {
						return
					}
					close(entered)
					<-proceed
					if what == "bus" {
						handlerDone <- bus.Close()
						return
					}
					subMu.Lock()
					s := sub
					subMu.Unlock()
					handlerDone <- s.Close()
				}
				subMu.Lock()
				sub = testSubscribe(t, bus, r)
				subMu.Unlock()
				testSubscribe(t, bus, newTestRecorder()) // so that the feed outlives the first
				testPublish(t, bus, "one", "two")
				<-entered
				closed := make(chan error, 1)
				go func() { closed <- bus.Close() }()
				time.Sleep(20 * time.Millisecond) // let Close wait for the handler
				release.Do(func() { close(proceed) })
				for _, c := range []chan error{handlerDone, closed} {
					select {
					case err := <-c:
						if err != nil {
							t.Errorf("Close: %v", err)
						}
					case <-time.After(testWait):
						t.Fatal("a Close never returned: the two waited for each other")
					}
				}
				if n := calls.Load(); n != 1 {
					t.Errorf("the handler was called %d times; want once", n)
				}
			})
		}
	}
}

// testFailingStore is a JetStream whose first `fail` stream creations answer as a
// server that could not create the stream's store.
type testFailingStore struct {
	jetstream.JetStream
	fail  int
	tries atomic.Int32
}

func (f *testFailingStore) CreateStream(ctx context.Context, c jetstream.StreamConfig) (jetstream.Stream, error) {
	if int(f.tries.Add(1)) <= f.fail {
		return nil, &jetstream.APIError{Code: 500, ErrorCode: errStreamStoreFailed, Description: "error creating store for stream"}
	}
	return f.JetStream.CreateStream(ctx, c)
}

// TestStreamStoreFailure: a server that fails to create a stream's store is asked
// again, and the bus works once it succeeds; one that keeps failing gets a clear
// error after a bounded number of tries, well within the call's context.
func TestStreamStoreFailure(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		fail  int
		works bool
	}{{2, true}, {100, false}} {
		t.Run(strconv.Itoa(c.fail), func(t *testing.T) {
			t.Parallel()
			nc := testModeConn(t, true)
			bus := testBus(t, nc, Options{Namespace: testNamespace(t, nc), JetStream: true})
			f := &testFailingStore{JetStream: bus.js, fail: c.fail}
			bus.js = f
			start := time.Now()
			r := newTestRecorder()
			_, err := bus.Subscribe(testCtx(t), r)
			switch {
			case c.works && err != nil:
				t.Fatalf("Subscribe after %d store failures: %v", c.fail, err)
			case c.works:
				testPublish(t, bus, "m")
				testExpect(t, r.waitMessage(t, "m"), nil, "m")
			case err == nil || !strings.Contains(err.Error(), "error creating store for stream"):
				t.Fatalf("Subscribe with the store failing always = %v; want the server's error", err)
			}
			if n := f.tries.Load(); c.works && n != int32(c.fail)+1 || !c.works && n != 5 {
				t.Errorf("%d creations tried", n)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Subscribe took %v", d)
			}
		})
	}
}
