package freshtest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
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
