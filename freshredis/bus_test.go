package freshredis

// Tests that both buses pass: options, errors, closing, goroutines.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/redis/go-redis/v9"
)

// busTestClosable is a fresh.Bus with the Close that both buses have.
type busTestClosable interface {
	fresh.Bus
	Close() error
}

// busTestKinds makes each kind of bus, on client c in namespace ns, for the tests
// that every bus must pass.
var busTestKinds = []struct {
	name string
	make func(tb testing.TB, c redis.UniversalClient, ns string, maxSize int) busTestClosable
}{
	{"StreamBus", func(tb testing.TB, c redis.UniversalClient, ns string, maxSize int) busTestClosable {
		return busTestStreamBus(tb, c, StreamBusOptions{Namespace: ns, MaxMessageSize: maxSize})
	}},
	{"PubSubBus", func(tb testing.TB, c redis.UniversalClient, ns string, maxSize int) busTestClosable {
		return busTestPubSubBus(tb, c, PubSubBusOptions{Namespace: ns, MaxMessageSize: maxSize})
	}},
}

// TestBusOptions: the constructors refuse bad options with an error that names the
// field, and fill in the defaults.
func TestBusOptions(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never contacted
	t.Cleanup(func() { client.Close() })
	var nilClient *redis.Client

	streamCases := []struct {
		name   string
		client redis.UniversalClient
		o      StreamBusOptions
		want   string // in the error
	}{
		{"nil client", nil, StreamBusOptions{}, "nil client"},
		{"typed nil client", nilClient, StreamBusOptions{}, "nil client"},
		{"brace", client, StreamBusOptions{Namespace: "a{b"}, "Namespace"},
		{"closing brace", client, StreamBusOptions{Namespace: "a}"}, "Namespace"},
		{"long namespace", client, StreamBusOptions{Namespace: strings.Repeat("n", 129)}, "Namespace"},
		{"negative MaxLen", client, StreamBusOptions{MaxLen: -1}, "MaxLen"},
		{"negative MaxMessageSize", client, StreamBusOptions{MaxMessageSize: -1}, "MaxMessageSize"},
		{"negative Block", client, StreamBusOptions{Block: -time.Second}, "Block"},
		{"Block under a millisecond", client, StreamBusOptions{Block: time.Microsecond}, "Block"},
	}
	for _, tc := range streamCases {
		t.Run("StreamBus/"+tc.name, func(t *testing.T) {
			b, err := NewStreamBus(tc.client, tc.o)
			if err == nil || b != nil {
				t.Fatalf("NewStreamBus = %v, %v; want an error", b, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "freshredis: ") {
				t.Errorf("error %q; want one that begins with \"freshredis: \" and mentions %q", err, tc.want)
			}
		})
	}

	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() { ring.Close() })
	pubsubCases := []struct {
		name   string
		client redis.UniversalClient
		o      PubSubBusOptions
		want   string
	}{
		{"nil client", nil, PubSubBusOptions{}, "nil client"},
		{"typed nil client", nilClient, PubSubBusOptions{}, "nil client"},
		{"brace", client, PubSubBusOptions{Namespace: "{x}"}, "Namespace"},
		{"long namespace", client, PubSubBusOptions{Namespace: strings.Repeat("n", 129)}, "Namespace"},
		{"negative MaxMessageSize", client, PubSubBusOptions{MaxMessageSize: -5}, "MaxMessageSize"},
		{"negative PingInterval", client, PubSubBusOptions{PingInterval: -1}, "PingInterval"},
		{"ring", ring, PubSubBusOptions{}, "Ring"},
	}
	for _, tc := range pubsubCases {
		t.Run("PubSubBus/"+tc.name, func(t *testing.T) {
			b, err := NewPubSubBus(tc.client, tc.o)
			if err == nil || b != nil {
				t.Fatalf("NewPubSubBus = %v, %v; want an error", b, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "freshredis: ") {
				t.Errorf("error %q; want one that begins with \"freshredis: \" and mentions %q", err, tc.want)
			}
		})
	}

	t.Run("every problem reported", func(t *testing.T) {
		_, err := NewStreamBus(nil, StreamBusOptions{Namespace: "{", MaxLen: -1, MaxMessageSize: -1, Block: -1})
		for _, want := range []string{"nil client", "Namespace", "MaxLen", "MaxMessageSize", "Block"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v; want it to mention %q", err, want)
			}
		}
	})

	t.Run("defaults", func(t *testing.T) {
		sb, err := NewStreamBus(client, StreamBusOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sb.Stream(), "fresh:v1:{fresh}:bus"; got != want {
			t.Errorf("Stream() = %q; want %q", got, want)
		}
		if sb.o.MaxLen != defaultStreamMaxLen || sb.o.MaxMessageSize != DefaultMaxMessageSize || sb.o.Block != defaultStreamBlock {
			t.Errorf("defaults: %+v", sb.o)
		}
		if sb.count < 1 {
			t.Errorf("count %d", sb.count)
		}
		pb, err := NewPubSubBus(client, PubSubBusOptions{Namespace: "ns"})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := pb.Channel(), "fresh:v1:{ns}:bus"; got != want {
			t.Errorf("Channel() = %q; want %q", got, want)
		}
		if pb.sharded {
			t.Error("a *redis.Client bus uses sharded Pub/Sub")
		}
		if pb.o.PingInterval != defaultPubSubPingInterval || pb.o.MaxMessageSize != DefaultMaxMessageSize {
			t.Errorf("defaults: %+v", pb.o)
		}
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
		t.Cleanup(func() { cc.Close() })
		if pb, err := NewPubSubBus(cc, PubSubBusOptions{}); err != nil || !pb.sharded {
			t.Errorf("NewPubSubBus on a ClusterClient: sharded %v, err %v; want sharded Pub/Sub", pb != nil && pb.sharded, err)
		}
	})
}

// TestBusErrors: Publish and Subscribe refuse what they must, with the documented
// errors, and Close is idempotent.
func TestBusErrors(t *testing.T) {
	t.Parallel()
	c := busTestClient(t, nil)
	for _, kind := range busTestKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			bus := kind.make(t, c, busTestNamespace(t, c), 16)
			ctx := busTestCtx(t)
			r := newBusTestRecorder()
			sub, err := bus.Subscribe(ctx, r)
			if err != nil {
				t.Fatalf("Subscribe: %v", err)
			}

			if err := bus.Publish(ctx, make([]byte, 17)); !errors.Is(err, ErrMessageTooLarge) {
				t.Errorf("Publish of 17 bytes with MaxMessageSize 16 = %v; want ErrMessageTooLarge", err)
			}
			if err := bus.Publish(ctx, []byte("sixteen bytes!!!")); err != nil {
				t.Errorf("Publish of 16 bytes with MaxMessageSize 16: %v", err)
			}
			r.waitMessage(t, "sixteen bytes!!!")

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
			if _, err := bus.Subscribe(ctx, nil); err == nil {
				t.Error("Subscribe of a nil handler succeeded")
			}

			if err := sub.Close(); err != nil {
				t.Errorf("Subscription.Close: %v", err)
			}
			if err := sub.Close(); err != nil {
				t.Errorf("second Subscription.Close: %v", err)
			}
			if err := bus.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := bus.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := bus.Publish(ctx, []byte("x")); !errors.Is(err, ErrBusClosed) {
				t.Errorf("Publish after Close = %v; want ErrBusClosed", err)
			}
			if _, err := bus.Subscribe(ctx, r); !errors.Is(err, ErrBusClosed) {
				t.Errorf("Subscribe after Close = %v; want ErrBusClosed", err)
			}
			if err := c.Ping(ctx).Err(); err != nil {
				t.Errorf("the client no longer works after the bus's Close: %v", err)
			}
			if n := len(r.losses()); n > 0 {
				t.Errorf("%d losses on a healthy bus: %v", n, r.losses())
			}
		})
	}
}

// TestBusCloseFromHandler: a handler may close its own subscription, or the whole
// bus; it is not called again afterwards, and the others are not disturbed.
func TestBusCloseFromHandler(t *testing.T) {
	t.Parallel()
	c := busTestClient(t, nil)
	for _, kind := range busTestKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			ctx := busTestCtx(t)
			bus := kind.make(t, c, busTestNamespace(t, c), 0)

			// A handler that closes its own subscription on "close".
			var (
				self     fresh.Subscription
				selfMu   sync.Mutex
				selfDone = make(chan error, 1)
				after    atomic.Int64
				closed   atomic.Bool
			)
			closer := newBusTestRecorder()
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
			// Another handler, which closes the whole bus on "close bus".
			busClosed := make(chan error, 1)
			other := newBusTestRecorder()
			other.hook = func(msg []byte) {
				if string(msg) == "close bus" {
					busClosed <- bus.Close()
				}
			}
			if _, err := bus.Subscribe(ctx, other); err != nil {
				t.Fatalf("Subscribe: %v", err)
			}

			for _, m := range []string{"one", "close", "two", "three"} {
				if err := bus.Publish(ctx, []byte(m)); err != nil {
					t.Fatalf("Publish: %v", err)
				}
			}
			select {
			case err := <-selfDone:
				if err != nil {
					t.Errorf("Close from the handler: %v", err)
				}
			case <-time.After(busTestWait):
				t.Fatal("Close from the handler did not return")
			}
			other.waitMessage(t, "three")
			time.Sleep(50 * time.Millisecond)
			if n := after.Load(); n > 0 {
				t.Errorf("handler called %d times after it closed its subscription", n)
			}

			if err := bus.Publish(ctx, []byte("close bus")); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			select {
			case err := <-busClosed:
				if err != nil {
					t.Errorf("Close of the bus from a handler: %v", err)
				}
			case <-time.After(busTestWait):
				t.Fatal("Close of the bus from a handler did not return")
			}
		})
	}
}

// busTestGoroutines returns the stacks of the goroutines that run a subscription of
// this package.
func busTestGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var found []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "freshredis.(*streamSubscription)") || strings.Contains(g, "freshredis.(*pubsubSubscription)") {
			found = append(found, g)
		}
	}
	return found
}

// busTestGoroutinesAtMost returns busTestGoroutines once there are at most n of
// them, or after a second: a goroutine that has signalled its end may still be on
// its way out.
func busTestGoroutinesAtMost(n int) []string {
	deadline := time.Now().Add(time.Second)
	for {
		gs := busTestGoroutines()
		if len(gs) <= n || time.Now().After(deadline) {
			return gs
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBusGoroutinesEndWithClose: once Close returns, no goroutine of the closed
// subscriptions is left. Not parallel: it counts every subscription goroutine of the
// process, and the parallel tests have not started yet when it runs.
func TestBusGoroutinesEndWithClose(t *testing.T) {
	c := busTestClient(t, nil)
	if gs := busTestGoroutines(); len(gs) > 0 {
		t.Fatalf("%d subscription goroutines of earlier tests still run:\n%s", len(gs), strings.Join(gs, "\n\n"))
	}
	for _, kind := range busTestKinds {
		t.Run(kind.name, func(t *testing.T) {
			ctx := busTestCtx(t)
			bus := kind.make(t, c, busTestNamespace(t, c), 0)
			var subs []fresh.Subscription
			var rs []*busTestRecorder
			for range 4 {
				r := newBusTestRecorder()
				s, err := bus.Subscribe(ctx, r)
				if err != nil {
					t.Fatalf("Subscribe: %v", err)
				}
				subs, rs = append(subs, s), append(rs, r)
			}
			if err := bus.Publish(ctx, []byte("hello")); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			for _, r := range rs {
				r.waitMessage(t, "hello")
			}

			// Two closed one by one, the others by the bus.
			for _, s := range subs[:2] {
				start := time.Now()
				if err := s.Close(); err != nil {
					t.Fatalf("Subscription.Close: %v", err)
				}
				t.Logf("Subscription.Close took %v", time.Since(start))
			}
			if gs := busTestGoroutinesAtMost(4); len(gs) > 4 { // at most two per subscription
				t.Errorf("%d subscription goroutines after two of four subscriptions closed:\n%s", len(gs), strings.Join(gs, "\n\n"))
			}
			start := time.Now()
			if err := bus.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			t.Logf("Close took %v", time.Since(start))
			if gs := busTestGoroutinesAtMost(0); len(gs) > 0 {
				t.Errorf("%d subscription goroutines outlived Close:\n%s", len(gs), strings.Join(gs, "\n\n"))
			}
		})
	}
}

// TestBusTwoClients: what one bus publishes, another bus on the same namespace
// but another client (another process) receives, and the other way round.
func TestBusTwoClients(t *testing.T) {
	t.Parallel()
	c1, c2 := busTestClient(t, nil), busTestClient(t, nil)
	for _, kind := range busTestKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			ctx := busTestCtx(t)
			ns := busTestNamespace(t, c1)
			b1, b2 := kind.make(t, c1, ns, 0), kind.make(t, c2, ns, 0)
			r1, r2 := newBusTestRecorder(), newBusTestRecorder()
			if _, err := b1.Subscribe(ctx, r1); err != nil {
				t.Fatal(err)
			}
			if _, err := b2.Subscribe(ctx, r2); err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				b := b1
				if i%2 == 1 {
					b = b2
				}
				if err := b.Publish(ctx, fmt.Appendf(nil, "m%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range []*busTestRecorder{r1, r2} {
				events := r.waitMessage(t, "m9")
				if len(events) != 10 {
					t.Fatalf("received %s; want m0 to m9", busTestSummary(events))
				}
				for i, e := range events {
					if string(e.msg) != fmt.Sprintf("m%d", i) {
						t.Fatalf("received %s; want m0 to m9 in order", busTestSummary(events))
					}
				}
			}
		})
	}
}
