package freshtest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
)

func TestLocalBus(t *testing.T) {
	freshtest.TestBus(t, func(t *testing.T) fresh.Bus {
		b := fresh.NewLocalBus()
		t.Cleanup(func() { b.Close() })
		return b
	})
}

// events is a fresh.Handler that turns every call into a string on a channel, and can
// run a hook inside HandleMessage.
type events struct {
	ch   chan string
	hook func(msg []byte)
}

func newEvents() *events { return &events{ch: make(chan string, 4096)} }

func (e *events) HandleMessage(msg []byte) {
	if e.hook != nil {
		e.hook(msg)
	}
	e.ch <- "msg:" + string(msg)
}

func (e *events) HandleLoss(err error) { e.ch <- "loss:" + err.Error() }

// want receives len(want) events and compares them with want.
func (e *events) want(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-e.ch:
			if got != w {
				t.Fatalf("handler event %q; want %q", got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no handler event in 10s; want %q", w)
		}
	}
}

// none checks that no event arrives for a short while.
func (e *events) none(t *testing.T) {
	t.Helper()
	select {
	case got := <-e.ch:
		t.Fatalf("unexpected handler event %q", got)
	case <-time.After(50 * time.Millisecond):
	}
}

func mustSubscribe(t *testing.T, b *fresh.LocalBus, h fresh.Handler) fresh.Subscription {
	t.Helper()
	sub, err := b.Subscribe(t.Context(), h)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return sub
}

func mustPublish(t *testing.T, b *fresh.LocalBus, msg string) {
	t.Helper()
	if err := b.Publish(t.Context(), []byte(msg)); err != nil {
		t.Fatalf("Publish(%q): %v", msg, err)
	}
}

func TestLocalBusDisrupt(t *testing.T) {
	b := fresh.NewLocalBus()
	defer b.Close()
	e1, e2 := newEvents(), newEvents()
	mustSubscribe(t, b, e1)
	mustSubscribe(t, b, e2)
	mustPublish(t, b, "a")
	b.Disrupt(errors.New("boom"))
	mustPublish(t, b, "b")
	for _, e := range []*events{e1, e2} {
		e.want(t, "msg:a", "loss:boom", "msg:b")
	}

	// A nil error still reports a loss, with an error of its own.
	b.Disrupt(nil)
	got := <-e1.ch
	if got == "loss:" || !strings.HasPrefix(got, "loss:") {
		t.Errorf("Disrupt(nil) delivered %q; want a loss with a non-empty error", got)
	}
}

// TestLocalBusIsolatesHandlers checks that a handler altering its message does not
// alter what other subscribers receive.
func TestLocalBusIsolatesHandlers(t *testing.T) {
	b := fresh.NewLocalBus()
	defer b.Close()
	vandal, reader := newEvents(), newEvents()
	vandal.hook = func(msg []byte) {
		for i := range msg {
			msg[i] = 'X'
		}
	}
	mustSubscribe(t, b, vandal)
	mustSubscribe(t, b, reader)
	for i := range 100 {
		mustPublish(t, b, fmt.Sprint("message ", i))
	}
	for i := range 100 {
		reader.want(t, fmt.Sprint("msg:message ", i))
	}
}

// TestLocalBusSlowHandler checks that a blocked handler holds up neither Publish nor
// the other subscribers, and gets every message in order once it resumes.
func TestLocalBusSlowHandler(t *testing.T) {
	b := fresh.NewLocalBus()
	defer b.Close()
	release := make(chan struct{})
	slow, fast := newEvents(), newEvents()
	slow.hook = func([]byte) { <-release }
	mustSubscribe(t, b, slow)
	mustSubscribe(t, b, fast)

	const n = 1000
	for i := range n {
		mustPublish(t, b, fmt.Sprint(i))
	}
	for i := range n {
		fast.want(t, fmt.Sprint("msg:", i))
	}
	close(release)
	for i := range n {
		slow.want(t, fmt.Sprint("msg:", i))
	}
}

// newBoundedBus returns a LocalBus with options o, closed when the test ends.
func newBoundedBus(t *testing.T, o fresh.LocalBusOptions) *fresh.LocalBus {
	t.Helper()
	b, err := fresh.NewLocalBusWithOptions(o)
	if err != nil {
		t.Fatalf("NewLocalBusWithOptions(%+v): %v", o, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// subscribeBlocked subscribes to b a handler that blocks in its first HandleMessage
// until release is called (or the test ends), and publishes that first message,
// "blocker". It returns once the handler is blocked, so that what is published next
// waits in the subscription's queue.
func subscribeBlocked(t *testing.T, b *fresh.LocalBus) (e *events, release func()) {
	t.Helper()
	entered, released := make(chan struct{}), make(chan struct{})
	release = sync.OnceFunc(func() { close(released) })
	// Cleanups run last first: the handler is released before the bus's Close, which
	// waits for it.
	t.Cleanup(release)
	var calls atomic.Int64
	e = newEvents()
	e.hook = func([]byte) {
		if calls.Add(1) == 1 {
			close(entered)
			<-released
		}
	}
	mustSubscribe(t, b, e)
	mustPublish(t, b, "blocker")
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not receive its first message in 10s")
	}
	return e, release
}

// fellBehindPrefix begins the event of a loss reported for a subscriber that fell
// behind.
const fellBehindPrefix = "loss:fresh: local bus subscriber fell behind: "

// droppedBy returns the number of messages that the event ev, a loss reported for a
// subscriber that fell behind, says were dropped; ok is false if ev is no such loss.
func droppedBy(ev string) (dropped int, ok bool) {
	rest, ok := strings.CutPrefix(ev, fellBehindPrefix)
	var unit string
	if _, err := fmt.Sscanf(rest, "%d %s dropped", &dropped, &unit); !ok || err != nil {
		return 0, false
	}
	return dropped, true
}

// fellBehind receives the next event of e, checks that it is a loss reporting that
// the subscriber fell behind, and returns the number of messages it says were dropped.
func (e *events) fellBehind(t *testing.T) (dropped int) {
	t.Helper()
	select {
	case got := <-e.ch:
		dropped, ok := droppedBy(got)
		if !ok {
			if len(got) > 100 {
				got = got[:100] + "..."
			}
			t.Fatalf("handler event %q; want a loss saying %q and how many messages were dropped", got, fellBehindPrefix)
		}
		return dropped
	case <-time.After(10 * time.Second):
		t.Fatalf("no handler event in 10s; want a loss saying %q", fellBehindPrefix)
	}
	return 0
}

// wantLoss receives the next event of e and checks that it is a loss reporting that
// the subscriber fell behind and dropped messages were dropped.
func (e *events) wantLoss(t *testing.T, dropped int) {
	t.Helper()
	if got := e.fellBehind(t); got != dropped {
		t.Fatalf("handler received a loss of %d messages; want %d", got, dropped)
	}
}

// TestLocalBusOverflow checks the bounded queues: a subscription whose handler is
// blocked while more than its bound is published loses its backlog, and receives in
// its place one HandleLoss, before every message published after the overflow; it
// works normally afterwards, and the other subscriptions lose nothing.
func TestLocalBusOverflow(t *testing.T) {
	t.Run("Count", func(t *testing.T) {
		const bound = 100
		b := newBoundedBus(t, fresh.LocalBusOptions{MaxQueueLen: bound})
		slow, release := subscribeBlocked(t, b)
		fast := newEvents()
		mustSubscribe(t, b, fast)
		// Messages 1 to bound fill the slow queue; bound+1 overflows it. The fast
		// subscriber receives each before the next is published, so that its own
		// queue, under the same bound, never overflows.
		const n = bound + 50
		for i := 1; i <= n; i++ {
			mustPublish(t, b, fmt.Sprint(i))
			fast.want(t, fmt.Sprint("msg:", i))
		}
		release()
		slow.want(t, "msg:blocker")
		slow.wantLoss(t, bound)
		for i := bound + 1; i <= n; i++ {
			slow.want(t, fmt.Sprint("msg:", i))
		}
		slow.none(t)

		// The subscription keeps working.
		mustPublish(t, b, "after")
		slow.want(t, "msg:after")
		fast.want(t, "msg:after")
		fast.none(t)
	})

	t.Run("Bytes", func(t *testing.T) {
		// Messages of 100 bytes: 10 fit in 1,000 bytes, the 11th overflows.
		b := newBoundedBus(t, fresh.LocalBusOptions{MaxQueueBytes: 1000})
		slow, release := subscribeBlocked(t, b)
		fast := newEvents()
		mustSubscribe(t, b, fast)
		msg := func(i int) string { return fmt.Sprintf("%-100d", i) }
		for i := range 15 {
			mustPublish(t, b, msg(i))
			fast.want(t, "msg:"+msg(i))
		}
		release()
		slow.want(t, "msg:blocker")
		slow.wantLoss(t, 10)
		for i := 10; i < 15; i++ {
			slow.want(t, "msg:"+msg(i))
		}
		mustPublish(t, b, "after")
		slow.want(t, "msg:after")
		fast.want(t, "msg:after")
	})

	t.Run("Twice", func(t *testing.T) {
		// A second overflow before the handler took the first loss replaces that
		// loss too, and its count covers both.
		b := newBoundedBus(t, fresh.LocalBusOptions{MaxQueueLen: 10})
		slow, release := subscribeBlocked(t, b)
		// 1 to 10 fill the queue; 11 overflows it: [loss(10), 11]. 12 to 19 fill it
		// again; 20 overflows it: [loss(10+1+8), 20].
		for i := 1; i <= 20; i++ {
			mustPublish(t, b, fmt.Sprint(i))
		}
		release()
		slow.want(t, "msg:blocker")
		slow.wantLoss(t, 19)
		slow.want(t, "msg:20")
		slow.none(t)
	})

	t.Run("LargerThanBound", func(t *testing.T) {
		// A message larger than MaxQueueBytes never fits, even in an empty queue:
		// it is reported as lost, and the next one is delivered.
		b := newBoundedBus(t, fresh.LocalBusOptions{MaxQueueBytes: 10})
		e := newEvents()
		mustSubscribe(t, b, e)
		mustPublish(t, b, "0123456789")
		e.want(t, "msg:0123456789")
		mustPublish(t, b, "0123456789-")
		mustPublish(t, b, "next")
		e.wantLoss(t, 1)
		e.want(t, "msg:next")
		e.none(t)
	})

	t.Run("Disrupt", func(t *testing.T) {
		// A Disrupt that finds the queue full is reported by the overflow's loss.
		b := newBoundedBus(t, fresh.LocalBusOptions{MaxQueueLen: 3})
		slow, release := subscribeBlocked(t, b)
		mustPublish(t, b, "1")
		b.Disrupt(errors.New("boom"))
		mustPublish(t, b, "2")
		b.Disrupt(errors.New("bang"))
		mustPublish(t, b, "3")
		release()
		slow.want(t, "msg:blocker")
		slow.wantLoss(t, 2)
		slow.want(t, "msg:3")
		slow.none(t)
	})
}

// TestLocalBusDefaultBounds checks the documented defaults of LocalBusOptions, which
// NewLocalBus uses: 65,536 deliveries or 64 MiB per subscription.
func TestLocalBusDefaultBounds(t *testing.T) {
	t.Run("Count", func(t *testing.T) {
		b := fresh.NewLocalBus()
		t.Cleanup(func() { b.Close() })
		e, release := subscribeBlocked(t, b)
		const bound = 65_536
		for i := range bound + 1 {
			mustPublish(t, b, fmt.Sprint(i))
		}
		release()
		e.want(t, "msg:blocker")
		e.wantLoss(t, bound)
		e.want(t, fmt.Sprint("msg:", bound))
	})
	t.Run("Bytes", func(t *testing.T) {
		if testing.Short() {
			t.Skip("queues 64 MiB")
		}
		b := fresh.NewLocalBus()
		t.Cleanup(func() { b.Close() })
		e, release := subscribeBlocked(t, b)
		// 64 messages of 1 MiB fill the queue exactly; the next one overflows it.
		msg := make([]byte, 1<<20)
		for range 64 {
			if err := b.Publish(t.Context(), msg); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
		mustPublish(t, b, "last")
		release()
		e.want(t, "msg:blocker")
		e.wantLoss(t, 64)
		e.want(t, "msg:last")
	})
}

// TestLocalBusOverflowMemory checks that the memory a blocked subscription holds stays
// within its bound while many times the bound is published.
func TestLocalBusOverflowMemory(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       fresh.LocalBusOptions
		size, n int // n messages of size bytes are published
	}{
		// 64 MiB published; the queue holds 1 MiB.
		{"Bytes", fresh.LocalBusOptions{MaxQueueBytes: 1 << 20}, 64 << 10, 1024},
		// 300,000 messages published, some 30 MiB with the queue's own memory if it
		// were unbounded; the queue holds 1,000.
		{"Count", fresh.LocalBusOptions{MaxQueueLen: 1000}, 16, 300_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBoundedBus(t, tc.o)
			e, release := subscribeBlocked(t, b)
			before := liveHeap()
			msg := make([]byte, tc.size)
			for range tc.n {
				if err := b.Publish(t.Context(), msg); err != nil {
					t.Fatalf("Publish: %v", err)
				}
			}
			const limit = 8 << 20
			if grown := liveHeap() - before; grown > limit {
				t.Errorf("live heap grew by %d bytes while %d messages of %d bytes were published to a blocked subscription; want at most %d",
					grown, tc.n, tc.size, limit)
			}
			// Every message is either delivered or counted in a loss. "end" marks the
			// end of the stream (it may overflow the queue again while the handler
			// drains it, which adds a second loss).
			release()
			mustPublish(t, b, "end")
			e.want(t, "msg:blocker")
			dropped, delivered := e.fellBehind(t), 0
			for {
				var got string
				select {
				case got = <-e.ch:
				case <-time.After(10 * time.Second):
					t.Fatalf("no handler event in 10s; want %q", "msg:end")
				}
				if got == "msg:end" {
					break
				}
				if n, ok := droppedBy(got); ok {
					dropped += n
				} else if strings.HasPrefix(got, "msg:") {
					delivered++
				} else {
					t.Fatalf("handler event %q; want messages and losses of messages only", got)
				}
			}
			if dropped+delivered != tc.n {
				t.Errorf("%d messages reported dropped and %d delivered; want %d in all", dropped, delivered, tc.n)
			}
		})
	}
}

// liveHeap returns the bytes of live heap objects, after a garbage collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestLocalBusBadOptions checks that NewLocalBusWithOptions refuses negative bounds.
func TestLocalBusBadOptions(t *testing.T) {
	for _, o := range []fresh.LocalBusOptions{
		{MaxQueueLen: -1},
		{MaxQueueBytes: -1},
	} {
		if b, err := fresh.NewLocalBusWithOptions(o); err == nil {
			b.Close()
			t.Errorf("NewLocalBusWithOptions(%+v) succeeded; want an error", o)
		}
	}
}

// TestLocalBusCloseWaits checks that Subscription.Close waits for a handler call in
// progress, and that no call follows.
func TestLocalBusCloseWaits(t *testing.T) {
	b := fresh.NewLocalBus()
	defer b.Close()
	entered, release := make(chan struct{}), make(chan struct{})
	e := newEvents()
	var calls atomic.Int64
	e.hook = func([]byte) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
	}
	sub := mustSubscribe(t, b, e)
	mustPublish(t, b, "first")
	mustPublish(t, b, "second")
	<-entered

	closed := make(chan struct{})
	go func() {
		sub.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Subscription.Close returned while the handler was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Subscription.Close did not return after the handler did")
	}
	e.want(t, "msg:first")
	mustPublish(t, b, "third")
	e.none(t)
	if n := calls.Load(); n != 1 {
		t.Errorf("handler called %d times; want 1", n)
	}
}

// TestLocalBusCloseFromHandler checks that a handler may close its own subscription,
// and the whole bus, without deadlock.
func TestLocalBusCloseFromHandler(t *testing.T) {
	t.Run("Subscription", func(t *testing.T) {
		b := fresh.NewLocalBus()
		defer b.Close()
		var sub atomic.Pointer[fresh.Subscription]
		e := newEvents()
		e.hook = func(msg []byte) {
			if string(msg) == "close" {
				if err := (*sub.Load()).Close(); err != nil {
					t.Errorf("Close from the handler: %v", err)
				}
			}
		}
		s := mustSubscribe(t, b, e)
		sub.Store(&s)
		mustPublish(t, b, "close")
		mustPublish(t, b, "after")
		e.want(t, "msg:close")
		e.none(t)
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
	t.Run("Bus", func(t *testing.T) {
		b := fresh.NewLocalBus()
		closer, other := newEvents(), newEvents()
		closer.hook = func(msg []byte) {
			if string(msg) == "close" {
				if err := b.Close(); err != nil {
					t.Errorf("Bus.Close from the handler: %v", err)
				}
			}
		}
		mustSubscribe(t, b, closer)
		mustSubscribe(t, b, other)
		mustPublish(t, b, "close")
		closer.want(t, "msg:close")
		if err := b.Publish(t.Context(), []byte("after")); err == nil {
			t.Error("Publish after Close from a handler succeeded; want an error")
		}
		closer.none(t)
	})
}

func TestLocalBusClosed(t *testing.T) {
	b := fresh.NewLocalBus()
	e := newEvents()
	sub := mustSubscribe(t, b, e)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := sub.Close(); err != nil {
		t.Errorf("Subscription.Close after Bus.Close: %v", err)
	}
	if err := b.Publish(t.Context(), []byte("x")); err == nil || err.Error() != "fresh: bus closed" {
		t.Errorf("Publish after Close: error %v; want fresh: bus closed", err)
	}
	if _, err := b.Subscribe(t.Context(), e); err == nil {
		t.Error("Subscribe after Close succeeded; want an error")
	}
	b.Disrupt(errors.New("ignored"))
	e.none(t)
}

func TestLocalBusBadArguments(t *testing.T) {
	b := fresh.NewLocalBus()
	defer b.Close()
	e := newEvents()
	mustSubscribe(t, b, e)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Publish(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a cancelled context: error %v; want %v", err, context.Canceled)
	}
	if _, err := b.Subscribe(ctx, newEvents()); !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe with a cancelled context: error %v; want %v", err, context.Canceled)
	}
	var nilCtx context.Context // a nil context must be an error, not a panic
	if err := b.Publish(nilCtx, []byte("x")); err == nil {
		t.Error("Publish with a nil context succeeded; want an error")
	}
	if _, err := b.Subscribe(nilCtx, newEvents()); err == nil {
		t.Error("Subscribe with a nil context succeeded; want an error")
	}
	if _, err := b.Subscribe(t.Context(), nil); err == nil {
		t.Error("Subscribe of a nil handler succeeded; want an error")
	}
	e.none(t)

	// Empty and nil messages are delivered as empty messages.
	mustPublish(t, b, "")
	if err := b.Publish(t.Context(), nil); err != nil {
		t.Fatalf("Publish(nil): %v", err)
	}
	e.want(t, "msg:", "msg:")
}

// TestLocalBusNoLeak runs a bus's life inside a synctest bubble, which fails if any
// goroutine the bus started is still blocked when the test function returns.
func TestLocalBusNoLeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := fresh.NewLocalBus()
		subs := make([]fresh.Subscription, 5)
		for i := range subs {
			subs[i] = mustSubscribe(t, b, newEvents())
		}
		for i := range 10 {
			mustPublish(t, b, fmt.Sprint(i))
		}
		b.Disrupt(errors.New("loss"))
		subs[0].Close()
		synctest.Wait()
		b.Close()
	})
}

// TestLocalBusGoroutines checks with runtime.NumGoroutine that Close ends the
// subscriptions' goroutines, including with messages still queued.
func TestLocalBusGoroutines(t *testing.T) {
	before := settledGoroutines()
	b := fresh.NewLocalBus()
	release := make(chan struct{})
	for range 20 {
		e := newEvents()
		e.hook = func([]byte) { <-release }
		mustSubscribe(t, b, e)
	}
	for i := range 100 {
		mustPublish(t, b, fmt.Sprint(i))
	}
	if n := runtime.NumGoroutine(); n < before+20 {
		t.Fatalf("%d goroutines with 20 subscriptions, %d before; want one per subscription", n, before)
	}
	close(release)
	b.Close()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close; want %d as before", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
}

// settledGoroutines returns runtime.NumGoroutine once goroutines left by earlier tests
// have finished exiting: when the count holds still for a few milliseconds.
func settledGoroutines() int {
	n, still := runtime.NumGoroutine(), 0
	for still < 5 {
		time.Sleep(2 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			still++
		} else {
			n, still = m, 0
		}
	}
	return n
}

func TestCachesOverLocalBus(t *testing.T) {
	freshtest.TestCachesOverBus(t, func(t *testing.T) fresh.Bus {
		b := fresh.NewLocalBus()
		t.Cleanup(func() { b.Close() })
		return b
	})
}
