package freshnats

// Tests of loss detection in one process: garbage on the subject, a publisher's
// sequence gap, a subscriber that falls behind, connections cut, a stream replaced
// or trimmed while a subscriber was away.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// testRaw publishes data on subject through nc, as a stranger to the bus would,
// and waits until the server has it.
func testRaw(tb testing.TB, nc *nats.Conn, subject string, data []byte) {
	tb.Helper()
	if err := nc.Publish(subject, data); err != nil {
		tb.Fatalf("raw publish: %v", err)
	}
	if err := nc.FlushTimeout(testWait); err != nil {
		tb.Fatalf("flush: %v", err)
	}
}

// TestGarbageMessages publishes, raw on the bus's subject, messages that are not
// the bus's frames: each is reported as a loss (ErrMalformedMessage), counted, and
// the message published after it still arrives. Nothing panics.
func TestGarbageMessages(t *testing.T) {
	t.Parallel()
	stranger := uint64(0xfeedface)
	garbage := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"text", []byte("DEL key")},
		{"short header", []byte{'f', 'N', frameVersion, 0, 1, 2}},
		{"bad magic", func() []byte { b := appendFrame(nil, stranger, 1, false, false, []byte("m")); b[0] = 'X'; return b }()},
		{"unknown version", func() []byte { b := appendFrame(nil, stranger, 1, false, false, nil); b[2] = 9; return b }()},
		{"unknown flag", func() []byte { b := appendFrame(nil, stranger, 1, false, false, nil); b[3] = 0x80; return b }()},
		{"sequence 0", appendFrame(nil, stranger+1, 0, false, false, []byte("m"))},
		{"continuation without a start", appendFrame(nil, stranger+2, 7, false, true, []byte("tail"))},
		{"fragmented control frame", appendFrame(nil, stranger+3, 1, true, false, make([]byte, 8))[:frameHeaderLen+8]},
		{"control frame of 3 bytes", appendControl(nil, stranger+4, 1, 1)[:frameHeaderLen+3]},
	}
	// The fragmented control frame: set the control flag on a frame with More.
	garbage[8].data[3] |= frameControl
	for _, mode := range testModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			nc := testModeConn(t, mode.js)
			bus := testBus(t, nc, Options{Namespace: testNamespace(t, nc), JetStream: mode.js})
			r := newTestRecorder()
			testSubscribe(t, bus, r)
			var want []string
			for i, g := range garbage {
				testRaw(t, nc, bus.Subject(), g.data)
				after := fmt.Sprintf("after %d (%s)", i, g.name)
				testPublish(t, bus, after)
				want = append(want, "LOSS", after)
				events := r.waitMessage(t, after)
				testExpect(t, events, ErrMalformedMessage, want...)
			}
			if s := bus.Stats(); s.Malformed != uint64(len(garbage)) || s.Losses != uint64(len(garbage)) {
				t.Errorf("stats %+v; want %d malformed messages and losses", s, len(garbage))
			}
			// A stranger that writes proper frames is a publisher like any other.
			testRaw(t, nc, bus.Subject(), appendFrame(nil, stranger+9, 1, false, false, []byte("framed")))
			r.waitMessage(t, "framed")
		})
	}
}

// TestPublisherGap sends, raw, frames of a publisher whose sequence skips a number.
// In core mode the skip is a loss (the frame never arrived); in JetStream mode the
// stream's own sequence proves that nothing it stored was missed (a skip is a
// publish that failed, which its publisher was told of): counted, not reported.
func TestPublisherGap(t *testing.T) {
	t.Parallel()
	for _, mode := range testModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			nc := testModeConn(t, mode.js)
			bus := testBus(t, nc, Options{Namespace: testNamespace(t, nc), JetStream: mode.js})
			r := newTestRecorder()
			testSubscribe(t, bus, r)
			const pub = 0xabcdef
			for _, seq := range []uint64{1, 2, 4} {
				testRaw(t, nc, bus.Subject(), appendFrame(nil, pub, seq, false, false, []byte("m"+strconv.FormatUint(seq, 10))))
			}
			// A message in three fragments whose middle one is missing.
			testRaw(t, nc, bus.Subject(), appendFrame(nil, pub, 5, true, false, []byte("part 1,")))
			testRaw(t, nc, bus.Subject(), appendFrame(nil, pub, 7, false, true, []byte("part 3")))
			testPublish(t, bus, "end")
			events := r.waitMessage(t, "end")
			if mode.js {
				testExpect(t, events, nil, "m1", "m2", "m4", "end")
			} else {
				testExpect(t, events, ErrSequenceGap, "m1", "m2", "LOSS", "m4", "LOSS", "end")
			}
			if s := bus.Stats(); s.Gaps != 2 {
				t.Errorf("stats %+v; want 2 gaps", s)
			}
		})
	}
}

// TestSlowSubscriber blocks one subscriber's handler while a burst is published,
// beyond its QueueLen (256): it receives HandleLoss(ErrSlowConsumer) in place of
// its backlog, before the messages that follow, and the other subscriber of the
// bus, which keeps up, is not affected.
func TestSlowSubscriber(t *testing.T) {
	t.Parallel()
	for _, mode := range testModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			nc := testModeConn(t, mode.js)
			const queue, burst = 256, 600
			bus := testBus(t, nc, Options{Namespace: testNamespace(t, nc), JetStream: mode.js, QueueLen: queue})
			entered, release := make(chan struct{}), make(chan struct{})
			var once, released sync.Once
			unblock := func() { released.Do(func() { close(release) }) }
			t.Cleanup(unblock) // Close waits for the handler
			slow, fast := newTestRecorder(), newTestRecorder()
			slow.hook = func(msg []byte) {
				if string(msg) == "block" {
					once.Do(func() { close(entered) })
					<-release
				}
			}
			testSubscribe(t, bus, slow)
			testSubscribe(t, bus, fast)
			testPublish(t, bus, "block")
			<-entered
			// The burst goes out in chunks well under the queue, each once the fast
			// subscriber has the one before: the fast subscriber never falls
			// behind however its goroutine is scheduled, while the blocked one
			// overflows its queue.
			const chunk = queue / 4
			want := []string{"block"}
			for i := range burst {
				m := "burst " + strconv.Itoa(i)
				testPublish(t, bus, m)
				want = append(want, m)
				if (i+1)%chunk == 0 || i == burst-1 {
					testExpect(t, fast.waitMessage(t, m), nil, want...)
				}
			}
			unblock()
			testPublish(t, bus, "after")
			events := slow.waitMessage(t, "after")
			loss := -1
			for i, e := range events {
				if e.loss != nil {
					if !errors.Is(e.loss, ErrSlowConsumer) {
						t.Fatalf("loss %v; want ErrSlowConsumer", e.loss)
					}
					loss = i
				}
			}
			if loss < 0 || len(events) > queue+3 {
				t.Fatalf("the slow handler received %s; want a loss and at most its queue's worth of messages", testSummary(events))
			}
			testNoSilentGap(t, events, "burst ", nil)
			t.Logf("slow subscriber: %s", testSummary(events))
		})
	}
}

// testCutSetup returns a bus whose subscription's connection the test can cut, a
// recorder subscribed to it, and a publishing bus on another connection.
func testCutSetup(t *testing.T, js bool, o Options) (d *testDialer, r *testRecorder, pub *Bus) {
	t.Helper()
	d = &testDialer{}
	ncSub := testModeConn(t, js, nats.SetCustomDialer(d))
	ncPub := testModeConn(t, js)
	o.Namespace, o.JetStream = testNamespace(t, ncPub), js
	sub := testBus(t, ncSub, o)
	pub = testBus(t, ncPub, o)
	r = newTestRecorder()
	testSubscribe(t, sub, r)
	return d, r, pub
}

// testPublishUntil publishes msg on bus until the handler r receives it.
func testPublishUntil(t *testing.T, bus *Bus, r *testRecorder, msg string) []testEvent {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_ = bus.Publish(ctx, []byte(msg))
		cancel()
		for range 10 {
			for i, e := range r.snapshot() {
				if e.loss == nil && string(e.msg) == msg {
					return r.snapshot()[:i+1]
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never arrived; the handler received %s", msg, testSummary(r.snapshot()))
		}
	}
}

// TestCutConnection cuts the subscriber's connection (the socket closed under the
// NATS client, as a server or network would) while another connection publishes,
// and keeps it down for a moment. In core mode the subscriber reports the loss
// (ErrDisconnected) before anything newer; in JetStream mode it reads on from its
// stream sequence and loses nothing. (Pitfalls P9 and P29: a subscription lost
// with its connection, and re-made on reconnect, must not hide the gap.)
func TestCutConnection(t *testing.T) {
	t.Parallel()
	for _, mode := range testModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			d, r, pub := testCutSetup(t, mode.js, Options{})
			var ok sync.Map
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					if pub.Publish(ctx, []byte("m"+strconv.Itoa(i))) == nil {
						ok.Store(i, true)
					}
					cancel()
					time.Sleep(time.Millisecond)
				}
			}()
			time.Sleep(100 * time.Millisecond)
			d.cut(true)
			time.Sleep(300 * time.Millisecond)
			d.up()
			time.Sleep(300 * time.Millisecond)
			close(stop)
			<-done
			events := testPublishUntil(t, pub, r, "after")
			published := func(n int) bool { _, found := ok.Load(n); return found }
			testNoSilentGap(t, events, "m", published)
			losses := r.losses()
			if mode.js {
				if len(losses) > 0 {
					t.Fatalf("JetStream subscriber reported losses after a cut connection: %v", losses)
				}
				// Every message whose Publish returned nil arrived.
				got := map[string]bool{}
				for _, e := range events {
					got[string(e.msg)] = true
				}
				ok.Range(func(k, _ any) bool {
					if m := "m" + strconv.Itoa(k.(int)); !got[m] {
						t.Errorf("%s was published but never arrived", m)
					}
					return true
				})
				return
			}
			if len(losses) == 0 {
				t.Fatal("core subscriber reported no loss after its connection was cut")
			}
			for _, err := range losses {
				if !errors.Is(err, ErrDisconnected) {
					t.Errorf("loss %v; want ErrDisconnected", err)
				}
			}
			t.Logf("%d losses reported: %v", len(losses), losses)
		})
	}
}

// TestStreamAwayBeyondRetention cuts a JetStream subscriber's connection while
// more messages are published than the stream keeps (MaxMsgs 10): when it is back,
// it reports ErrStreamGap before anything newer. Within the retention it loses
// nothing.
func TestStreamAwayBeyondRetention(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		publish int
		loss    bool
	}{{"beyond", 300, true}, {"within", 5, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, r, pub := testCutSetup(t, true, Options{MaxMsgs: 10})
			testPublish(t, pub, "before")
			r.waitMessage(t, "before")
			d.cut(true)
			for i := range tc.publish {
				testPublish(t, pub, "m"+strconv.Itoa(i))
			}
			d.up()
			events := testPublishUntil(t, pub, r, "after")
			testNoSilentGap(t, events, "m", nil)
			losses := r.losses()
			if !tc.loss {
				if len(losses) > 0 {
					t.Fatalf("losses %v within the stream's retention", losses)
				}
				want := []string{"before"}
				for i := range tc.publish {
					want = append(want, "m"+strconv.Itoa(i))
				}
				testExpect(t, events, nil, append(want, "after")...)
				return
			}
			if len(losses) != 1 || !errors.Is(losses[0], ErrStreamGap) {
				t.Fatalf("losses %v; want one ErrStreamGap", losses)
			}
			t.Logf("%v", losses[0])
		})
	}
}

// TestStreamReplaced deletes the stream under a JetStream subscriber: the stream
// comes back (the bus creates it again), its sequence numbers start over, and the
// subscriber reports ErrStreamGap before anything from the new stream.
func TestStreamReplaced(t *testing.T) {
	t.Parallel()
	nc := testModeConn(t, true)
	bus := testBus(t, nc, Options{Namespace: testNamespace(t, nc), JetStream: true})
	r := newTestRecorder()
	testSubscribe(t, bus, r)
	testPublish(t, bus, "a", "b")
	r.waitMessage(t, "b")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(testCtx(t), bus.Stream()); err != nil {
		t.Fatalf("DeleteStream: %v", err)
	}
	var losses atomic.Int64
	events := testPublishUntil(t, bus, r, "c")
	for _, e := range events {
		if e.loss != nil {
			losses.Add(1)
			if !errors.Is(e.loss, ErrStreamGap) {
				t.Errorf("loss %v; want ErrStreamGap", e.loss)
			}
		}
	}
	if events[0].loss != nil || string(events[0].msg) != "a" || string(events[1].msg) != "b" || events[2].loss == nil {
		t.Fatalf("the handler received %s; want a, b, then a loss before anything else", testSummary(events))
	}
	// The new stream's first messages are 1, 2, ...: a subscriber that joins now
	// skips what it holds, and receives what follows.
	late := newTestRecorder()
	testSubscribe(t, bus, late)
	testPublish(t, bus, "d")
	testExpect(t, late.waitMessage(t, "d"), nil, "d")
}

// TestCoreClientSlowConsumer starves a core feed's goroutine (the test holds its
// lock) while another connection floods the subject beyond the NATS client's
// pending limit for the subscription (10 messages here): the client drops messages,
// and the subscriber reports ErrSlowConsumer before anything published after them.
func TestCoreClientSlowConsumer(t *testing.T) {
	t.Parallel()
	nc, ncPub := testConn(t), testConn(t)
	ns := testNamespace(t, nil)
	bus := testBus(t, nc, Options{Namespace: ns, pendingMsgs: 10})
	pub := testBus(t, ncPub, Options{Namespace: ns})
	r := newTestRecorder()
	testSubscribe(t, bus, r)
	bus.mu.Lock()
	c := bus.feed.impl.(*coreFeed)
	bus.mu.Unlock()

	c.mu.Lock() // the feed's goroutine stops at its next message
	var unlock sync.Once
	t.Cleanup(func() { unlock.Do(c.mu.Unlock) }) // the bus's Close waits for the feed
	for i := range 50 {
		testPublish(t, pub, "m"+strconv.Itoa(i))
	}
	deadline := time.Now().Add(testWait)
	for n, _ := c.sub.Dropped(); n == 0; n, _ = c.sub.Dropped() {
		if time.Now().After(deadline) {
			t.Fatal("the NATS client dropped nothing")
		}
		time.Sleep(time.Millisecond)
	}
	unlock.Do(c.mu.Unlock)
	events := testPublishUntil(t, pub, r, "m50") // the first may be dropped too
	loss := slices.IndexFunc(events, func(e testEvent) bool { return e.loss != nil })
	if loss < 0 || !errors.Is(events[loss].loss, ErrSlowConsumer) || len(events) > 10+6 {
		t.Fatalf("the handler received %s; want ErrSlowConsumer before m50, and at most the client's 10 pending messages", testSummary(events))
	}
	t.Logf("%s", testSummary(events))
}

// TestConnectionClosedUnderBus: when the application closes the connection it gave
// the bus, the subscribers are told (ErrDisconnected), Publish fails, and the bus
// still closes cleanly.
func TestConnectionClosedUnderBus(t *testing.T) {
	t.Parallel()
	for _, mode := range testModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			nc := testModeConn(t, mode.js)
			bus := testBus(t, nc, Options{Namespace: testNamespace(t, testConn(t)), JetStream: mode.js})
			r := newTestRecorder()
			testSubscribe(t, bus, r)
			testPublish(t, bus, "before")
			r.waitMessage(t, "before")
			nc.Close()
			r.waitFor(t, "a loss", func(events []testEvent) bool { return len(events) > 1 })
			for _, err := range r.losses() {
				if !errors.Is(err, ErrDisconnected) {
					t.Errorf("loss %v; want ErrDisconnected", err)
				}
			}
			if err := bus.Publish(testCtx(t), []byte("x")); err == nil {
				t.Error("Publish on a closed connection succeeded")
			}
			if err := bus.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}
