package freshtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/internal/wire"
)

// waitTimeout bounds every wait of the suites, so that a broken backend fails rather
// than hangs.
const waitTimeout = 10 * time.Second

// TestBus runs the conformance suite for a Bus. newBus returns a fresh, isolated bus
// (for a network bus, one on a channel of its own) and registers its cleanup with
// t.Cleanup. Every subtest calls newBus once, with its own t.
func TestBus(t *testing.T, newBus func(t *testing.T) fresh.Bus) {
	t.Run("DeliversToEverySubscriber", func(t *testing.T) { testBusDeliversToEvery(t, newBus(t)) })
	t.Run("PublisherOrder", func(t *testing.T) { testBusPublisherOrder(t, newBus(t)) })
	t.Run("OrderAcrossPublishers", func(t *testing.T) { testBusOrderAcrossPublishers(t, newBus(t)) })
	t.Run("OrderAfterReturn", func(t *testing.T) { testBusOrderAfterReturn(t, newBus(t)) })
	t.Run("ReceivesAfterSubscribe", func(t *testing.T) { testBusReceivesAfterSubscribe(t, newBus(t)) })
	t.Run("PublishDoesNotRetain", func(t *testing.T) { testBusPublishDoesNotRetain(t, newBus(t)) })
	t.Run("CloseStopsDelivery", func(t *testing.T) { testBusCloseStopsDelivery(t, newBus(t)) })
	t.Run("LargeMessage", func(t *testing.T) { testBusLargeMessage(t, newBus(t)) })
	t.Run("BinaryContent", func(t *testing.T) { testBusBinaryContent(t, newBus(t)) })
	t.Run("CancelledPublish", func(t *testing.T) { testBusCancelledPublish(t, newBus(t)) })
}

// testBusDeliversToEvery checks that a message reaches every subscriber, all of them
// in the publishing process.
func testBusDeliversToEvery(t *testing.T, bus fresh.Bus) {
	rs := []*recorder{newRecorder(8), newRecorder(8), newRecorder(8)}
	for _, r := range rs {
		subscribe(t, bus, r)
	}
	publish(t, bus, []byte("hello"))
	for i, r := range rs {
		if got := r.next(t); string(got) != "hello" {
			t.Errorf("subscriber %d received %q; want %q", i, got, "hello")
		}
		r.checkClean(t)
	}
}

// testBusPublisherOrder has three goroutines publish concurrently and checks that each
// subscriber receives every message, each publisher's in the order it published them.
func testBusPublisherOrder(t *testing.T, bus fresh.Bus) {
	const publishers, perPublisher = 3, 1000
	rs := []*recorder{newRecorder(publishers * perPublisher), newRecorder(publishers * perPublisher)}
	for _, r := range rs {
		subscribe(t, bus, r)
	}

	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for seq := range perPublisher {
				if err := bus.Publish(t.Context(), orderMessage(p, seq)); err != nil {
					t.Errorf("publisher %d: Publish of message %d: %v", p, seq, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	for i, r := range rs {
		var next [publishers]int // next sequence number expected from each publisher
		for range publishers * perPublisher {
			msg := r.next(t)
			p, seq, ok := parseOrderMessage(msg)
			if !ok || p >= publishers {
				t.Fatalf("subscriber %d received %q, which no publisher sent", i, msg)
			}
			if seq != next[p] {
				t.Fatalf("subscriber %d received message %d of publisher %d; want message %d", i, seq, p, next[p])
			}
			next[p]++
		}
		r.checkClean(t)
	}
}

// orderMessage is message seq of publisher p in testBusPublisherOrder.
func orderMessage(p, seq int) []byte {
	return binary.BigEndian.AppendUint32([]byte{'o', byte(p)}, uint32(seq))
}

func parseOrderMessage(msg []byte) (p, seq int, ok bool) {
	if len(msg) != 6 || msg[0] != 'o' {
		return 0, 0, false
	}
	return int(msg[1]), int(binary.BigEndian.Uint32(msg[2:])), true
}

// testBusOrderAcrossPublishers has several goroutines publish concurrently while
// several subscribers record what they receive, and checks the order the Bus
// contract requires of every subscriber: each message exactly once, each
// publisher's in the order published, and a message after every message whose
// Publish returned before its own Publish was called, whoever published them.
// Overlapping publishes may reach different subscribers in different orders; the
// test logs whether they did.
func testBusOrderAcrossPublishers(t *testing.T, bus fresh.Bus) {
	const publishers, perPublisher, subscribers = 4, 1000, 3
	const total = publishers * perPublisher
	rs := make([]*recorder, subscribers)
	for i := range rs {
		rs[i] = newRecorder(total)
		subscribe(t, bus, rs[i])
	}

	// The publishers record which Publish calls returned before which began:
	// returned lists the messages whose Publish has returned, in the order they
	// returned, and follows[p][seq] is how many of them had when message seq of
	// publisher p was published. That message must come after all of those. (An
	// atomic counter rather than a lock, which would make the publishers take turns.)
	var (
		nReturned atomic.Int64
		returned  = make([]orderID, total)
		follows   [publishers][perPublisher]int
	)
	// The publishers start together, so that their Publish calls overlap.
	start := make(chan struct{})
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			<-start
			for seq := range perPublisher {
				follows[p][seq] = int(nReturned.Load())
				if err := bus.Publish(t.Context(), orderMessage(p, seq)); err != nil {
					t.Errorf("publisher %d: Publish of message %d: %v", p, seq, err)
					return
				}
				returned[nReturned.Add(1)-1] = orderID{p, seq}
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}

	differed := 0
	var first []orderID
	for i, r := range rs {
		got := make([]orderID, 0, total)
		// pos[p][seq] is where message seq of publisher p came for this subscriber.
		var pos [publishers][perPublisher]int
		var next [publishers]int
		for k := range total {
			msg := r.next(t)
			p, seq, ok := parseOrderMessage(msg)
			if !ok || p >= publishers || seq >= perPublisher {
				t.Fatalf("subscriber %d received %q, which no publisher sent", i, msg)
			}
			if seq != next[p] {
				t.Fatalf("subscriber %d received message %d of publisher %d in position %d; want message %d (each message once, each publisher's in order)",
					i, seq, p, k, next[p])
			}
			next[p]++
			pos[p][seq] = k
			got = append(got, orderID{p, seq})
		}
		r.checkClean(t)
		// last[n] is the message this subscriber received last among the first n
		// to return from Publish.
		last := make([]orderID, len(returned)+1)
		for n, m := range returned {
			last[n+1] = last[n]
			if n == 0 || pos[m.p][m.seq] > pos[last[n].p][last[n].seq] {
				last[n+1] = m
			}
		}
		for k, m := range got {
			n := follows[m.p][m.seq]
			if n == 0 {
				continue
			}
			if before := last[n]; pos[before.p][before.seq] > k {
				t.Fatalf("subscriber %d received %v in position %d, before %v in position %d, whose Publish had returned before the Publish of %[2]v began",
					i, m, k, before, pos[before.p][before.seq])
			}
		}
		if i == 0 {
			first = got
		} else if !slices.Equal(got, first) {
			differed++
		}
	}
	if differed > 0 {
		t.Logf("%d of %d subscribers received overlapping publishes in another order than subscriber 0 (allowed)", differed, subscribers-1)
	}
}

// orderID names message seq of publisher p in testBusOrderAcrossPublishers.
type orderID struct{ p, seq int }

func (m orderID) String() string { return fmt.Sprintf("message %d of publisher %d", m.seq, m.p) }

// testBusOrderAfterReturn checks, one pair of messages at a time, the order that
// fresh's heartbeats rely on: a message published after the Publish of another one
// returned, by the same goroutine or by one started after that return, is received
// after it by every subscription, the publisher's own and another one standing for
// another process.
func testBusOrderAfterReturn(t *testing.T, bus fresh.Bus) {
	const rounds = 200
	own, other := newRecorder(2*rounds), newRecorder(2*rounds)
	subscribe(t, bus, own)
	subscribe(t, bus, other)
	for i := range rounds {
		publish(t, bus, fmt.Appendf(nil, "invalidation %d", i))
		heartbeat := fmt.Appendf(nil, "heartbeat %d", i)
		if i%2 == 0 {
			publish(t, bus, heartbeat)
			continue
		}
		// Another goroutine, as another publisher in the process (a cache's
		// heartbeat loop) would be.
		errc := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
			defer cancel()
			errc <- bus.Publish(ctx, heartbeat)
		}()
		if err := <-errc; err != nil {
			t.Fatalf("Publish from another goroutine: %v", err)
		}
	}
	for _, s := range []struct {
		name string
		r    *recorder
	}{{"publisher's subscription", own}, {"other subscription", other}} {
		for i := range rounds {
			for _, want := range []string{fmt.Sprintf("invalidation %d", i), fmt.Sprintf("heartbeat %d", i)} {
				if got := s.r.next(t); string(got) != want {
					t.Fatalf("%s received %q; want %q", s.name, got, want)
				}
			}
		}
		s.r.checkClean(t)
	}
}

// testBusReceivesAfterSubscribe checks that Subscribe returns only once the
// subscription is live: a message published right after it returned arrives.
func testBusReceivesAfterSubscribe(t *testing.T, bus fresh.Bus) {
	for i := range 5 {
		r := newRecorder(8)
		subscribe(t, bus, r)
		want := fmt.Sprintf("after subscribe %d", i)
		publish(t, bus, []byte(want))
		if got := r.next(t); string(got) != want {
			t.Errorf("new subscriber %d received %q first; want %q", i, got, want)
		}
	}
}

// testBusPublishDoesNotRetain reuses the buffer given to Publish as soon as it
// returns; subscribers must see what it held at the call.
func testBusPublishDoesNotRetain(t *testing.T, bus fresh.Bus) {
	r := newRecorder(8)
	subscribe(t, bus, r)
	buf := []byte("first message")
	publish(t, bus, buf)
	copy(buf, "XXXXXXXXXXXXX")
	publish(t, bus, buf)
	for i := range buf {
		buf[i] = 0
	}
	for _, want := range []string{"first message", "XXXXXXXXXXXXX"} {
		if got := r.next(t); string(got) != want {
			t.Errorf("received %q; want %q", got, want)
		}
	}
}

// testBusCloseStopsDelivery closes one of two subscriptions while messages are being
// delivered, and checks that its handler is not called after Close returned while the
// other subscription goes on receiving.
func testBusCloseStopsDelivery(t *testing.T, bus fresh.Bus) {
	const burst = 200
	closing, staying := newRecorder(burst+8), newRecorder(burst+8)
	// The closing handler is slow, so that deliveries are still pending at Close.
	closing.delay = time.Millisecond
	sub := subscribe(t, bus, closing)
	subscribe(t, bus, staying)

	publish(t, bus, []byte("before"))
	for _, r := range []*recorder{closing, staying} {
		if got := r.next(t); string(got) != "before" {
			t.Fatalf("received %q; want %q", got, "before")
		}
	}

	for i := range burst {
		publish(t, bus, fmt.Appendf(nil, "burst %d", i))
	}
	// Close in mid-stream, once the slow handler has taken a few of the burst.
	for i := range 10 {
		if got, want := string(closing.next(t)), fmt.Sprintf("burst %d", i); got != want {
			t.Fatalf("received %q; want %q", got, want)
		}
	}
	if err := sub.Close(); err != nil {
		t.Errorf("Subscription.Close: %v", err)
	}
	closing.closed.Store(true)
	publish(t, bus, []byte("after"))

	for i := range burst {
		if got, want := string(staying.next(t)), fmt.Sprintf("burst %d", i); got != want {
			t.Fatalf("open subscription received %q; want %q", got, want)
		}
	}
	if got := staying.next(t); string(got) != "after" {
		t.Fatalf("open subscription received %q; want %q", got, "after")
	}
	// Give a stray delivery to the closed subscription time to show itself.
	time.Sleep(50 * time.Millisecond)
	if n := closing.late.Load(); n > 0 {
		t.Errorf("handler called %d times after Subscription.Close returned", n)
	}
}

// testBusLargeMessage sends a message of wire.MaxMessageSize random bytes.
func testBusLargeMessage(t *testing.T, bus fresh.Bus) {
	r := newRecorder(2)
	subscribe(t, bus, r)
	msg := make([]byte, wire.MaxMessageSize)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(msg)
	publish(t, bus, msg)
	got := r.next(t)
	if len(got) != len(msg) {
		t.Fatalf("received %d bytes; want %d", len(got), len(msg))
	}
	if !bytes.Equal(got, msg) {
		i := 0
		for got[i] == msg[i] {
			i++
		}
		t.Fatalf("received message differs from the sent one from byte %d on", i)
	}
}

// testBusBinaryContent sends messages of zero bytes, every byte value and invalid
// UTF-8, which a text-based transport must encode.
func testBusBinaryContent(t *testing.T, bus fresh.Bus) {
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	msgs := [][]byte{
		{0},
		{0, 0, 0, 0},
		[]byte("a\x00b\x00"),
		every,
		[]byte("\xff\xfe\xc3\x28 not utf-8"),
		[]byte("\r\n\\\"'%"),
	}
	r := newRecorder(len(msgs))
	subscribe(t, bus, r)
	for _, m := range msgs {
		publish(t, bus, m)
	}
	for _, want := range msgs {
		if got := r.next(t); !bytes.Equal(got, want) {
			t.Errorf("received %x; want %x", got, want)
		}
	}
}

// testBusCancelledPublish checks that Publish with a cancelled context returns an
// error promptly, and that the bus still works afterwards.
func testBusCancelledPublish(t *testing.T, bus fresh.Bus) {
	r := newRecorder(8)
	subscribe(t, bus, r)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	errc := make(chan error, 1)
	go func() { errc <- bus.Publish(ctx, []byte("cancelled")) }()
	select {
	case err := <-errc:
		if err == nil {
			t.Errorf("Publish with a cancelled context returned nil; want an error")
		}
	case <-time.After(waitTimeout):
		t.Fatalf("Publish with a cancelled context did not return in %v", waitTimeout)
	}

	publish(t, bus, []byte("after"))
	got := r.next(t)
	if string(got) == "cancelled" {
		// The transport may have accepted the message before it saw the context.
		got = r.next(t)
	}
	if string(got) != "after" {
		t.Errorf("received %q; want %q", got, "after")
	}
}

// subscribe subscribes r to bus and closes the subscription when the test ends.
func subscribe(t *testing.T, bus fresh.Bus, r *recorder) fresh.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	sub, err := bus.Subscribe(ctx, r)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(func() {
		if err := sub.Close(); err != nil {
			t.Errorf("Subscription.Close: %v", err)
		}
	})
	return sub
}

// publish publishes msg on bus, failing the test on error.
func publish(t *testing.T, bus fresh.Bus, msg []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := bus.Publish(ctx, msg); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// A recorder is a fresh.Handler that records deliveries into channels. It never
// blocks the bus: deliveries beyond the channel's capacity are counted as overflow.
type recorder struct {
	msgs     chan []byte
	losses   chan error
	overflow atomic.Int64
	closed   atomic.Bool  // set by the test once the subscription's Close returned
	late     atomic.Int64 // handler calls while closed was set
	delay    time.Duration
}

func newRecorder(capacity int) *recorder {
	return &recorder{msgs: make(chan []byte, capacity), losses: make(chan error, 16)}
}

// HandleMessage records a copy of msg.
func (r *recorder) HandleMessage(msg []byte) {
	if r.closed.Load() {
		r.late.Add(1)
		return
	}
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	select {
	case r.msgs <- bytes.Clone(msg):
	default:
		r.overflow.Add(1)
	}
}

// HandleLoss records err.
func (r *recorder) HandleLoss(err error) {
	if r.closed.Load() {
		r.late.Add(1)
		return
	}
	select {
	case r.losses <- err:
	default:
		r.overflow.Add(1)
	}
}

// next returns the next message received, failing the test after waitTimeout or when
// a loss was reported.
func (r *recorder) next(t *testing.T) []byte {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case msg := <-r.msgs:
		return msg
	case err := <-r.losses:
		t.Fatalf("handler received a loss on a healthy bus: %v", err)
	case <-timer.C:
		t.Fatalf("no message received in %v (%d dropped by a full recorder)", waitTimeout, r.overflow.Load())
	}
	return nil
}

// checkClean fails the test if r saw more messages than expected or a loss.
func (r *recorder) checkClean(t *testing.T) {
	t.Helper()
	select {
	case msg := <-r.msgs:
		t.Errorf("unexpected extra message %q", msg)
	case err := <-r.losses:
		t.Errorf("handler received a loss on a healthy bus: %v", err)
	default:
	}
	if n := r.overflow.Load(); n > 0 {
		t.Errorf("%d deliveries overflowed the recorder", n)
	}
}
