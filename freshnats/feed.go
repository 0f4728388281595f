package freshnats

// A feed is what the subscriptions of one Bus share: one NATS subscription (core
// mode) or one consumer (JetStream mode), read by one goroutine that checks
// continuity and hands each message, and each loss, to every subscription through
// an in-process fresh.LocalBus. The LocalBus gives every subscription its own
// goroutine and bounded queue, and every subscription receives what the feed hands
// over in the one order in which it does.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/freshcache/fresh/internal/goid"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/freshcache/fresh"
)

// feed is the state every mode shares. Its mode-specific reader owns the rest.
//
// Lifecycle: the Bus starts a feed for the first subscription, and stops it when
// its last subscription closes or the bus closes. stop cancels the reader's context,
// closes the LocalBus (which waits for the handlers, except one that is stopping the
// feed from inside itself) and waits for the reader's goroutines; no goroutine of a
// feed survives stop. A feed is never restarted: a later subscription starts a new
// one.
type feed struct {
	b     *Bus
	local *fresh.LocalBus
	subs  int // guarded by b.mu: subscriptions open on this feed

	cancel   context.CancelFunc // cancels the reader's context
	done     sync.WaitGroup     // the reader's goroutines
	stopMu   sync.Mutex
	stopping bool          // guarded by stopMu: stop has begun
	stopped  chan struct{} // closed once stop has finished
	release  func()        // the reader's cleanup, run by stop after its goroutines end
	runners  sync.Map      // goroutine ids of the subscriptions' handler goroutines, as they start
	// join subscribes a handler to the running feed (coreFeed.join, streamFeed.join).
	join func(ctx context.Context, w *filterHandler) (fresh.Subscription, error)
	impl any // the *coreFeed or *streamFeed, for tests

	buf []byte // the reader's buffer for deliver
}

// newFeed returns a feed of b, not yet registered, with the reader's context.
func newFeed(b *Bus) (*feed, context.Context, error) {
	local, err := fresh.NewLocalBusWithOptions(fresh.LocalBusOptions{MaxQueueLen: b.o.QueueLen, MaxQueueBytes: b.o.QueueBytes})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &feed{b: b, local: local, cancel: cancel, stopped: make(chan struct{})}, ctx, nil
}

// stop stops the feed and waits until it has stopped, whoever called it first,
// except when it is called from one of the feed's handlers: the stop under way (in
// this call or another) waits for that handler to return, so the handler must not
// wait for it. The LocalBus's Close makes the same exception.
func (f *feed) stop() {
	f.stopMu.Lock()
	if f.stopping {
		f.stopMu.Unlock()
		if !f.inHandler() {
			<-f.stopped
		}
		return
	}
	f.stopping = true
	f.stopMu.Unlock()

	f.cancel()
	// The reader never waits for a handler (LocalBus.Publish does not block), so it
	// ends once its context is done, whatever the handlers do.
	f.done.Wait()
	if f.release != nil {
		f.release()
	}
	_ = f.local.Close()
	f.b.mu.Lock()
	delete(f.b.live, f)
	f.b.mu.Unlock()
	close(f.stopped)
}

// inHandler reports whether the caller is one of the feed's handler goroutines.
func (f *feed) inHandler() bool {
	id := goid.Current()
	if id == 0 {
		return false
	}
	_, ok := f.runners.Load(id)
	return ok
}

// A message on a feed's LocalBus carries a prefix: the position of the NATS message
// that completed it, as (incarnation, stream sequence) in JetStream mode and zeros
// in core mode. A subscription that joined a running feed skips the messages at or
// before the stream's last sequence when it subscribed (see filterHandler).
const localPrefixLen = 16

// position is where a message stands in a JetStream feed: inc counts the stream's
// incarnations the feed has seen (a stream deleted and created again starts its
// sequence numbers over), seq is the stream sequence.
type position struct{ inc, seq uint64 }

// deliver hands a complete message to every subscription.
func (f *feed) deliver(pos position, msg []byte) {
	f.buf = binary.BigEndian.AppendUint64(f.buf[:0], pos.inc)
	f.buf = binary.BigEndian.AppendUint64(f.buf, pos.seq)
	f.buf = append(f.buf, msg...)
	// LocalBus.Publish copies the message, and fails only once the LocalBus is
	// closed, when nobody is left to receive it.
	_ = f.local.Publish(context.Background(), f.buf)
	if cap(f.buf) > 64<<10 {
		f.buf = nil // do not hold on to the memory of a large message
	}
}

// loss reports err to every subscription, before anything the feed hands over
// afterwards, and logs it.
func (f *feed) loss(err error) {
	f.b.stats.losses.Add(1)
	f.b.log.Warn("freshnats: bus continuity lost; subscribers flush", "subject", f.b.subject, "err", err)
	f.local.Disrupt(err)
}

// frame decodes one NATS message of the subject, at pos, and delivers what it
// completes: a message, or a loss for a malformed message and, when reportGaps is
// set, for a skip in a publisher's sequence numbers. For a control frame it returns
// the token, for the caller.
func (f *feed) frame(asm *assembler, data []byte, reportGaps bool, pos position) (token uint64, control bool) {
	f.b.stats.received.Add(1)
	fr, err := decodeFrame(data)
	if err != nil {
		f.b.stats.malformed.Add(1)
		f.loss(fmt.Errorf("%w: a message of %d bytes on %q: %w", ErrMalformedMessage, len(data), f.b.subject, err))
		return 0, false
	}
	r := asm.add(fr)
	if r.gap {
		f.b.stats.gaps.Add(1)
		if reportGaps {
			f.loss(fmt.Errorf("%w: messages %d to %d of publisher %016x never arrived", ErrSequenceGap, r.gapFrom, r.gapTo-1, fr.pub))
		} else {
			f.b.log.Info("freshnats: publisher sequence skipped (a publish that failed)",
				"subject", f.b.subject, "publisher", fmt.Sprintf("%016x", fr.pub), "from", r.gapFrom, "to", r.gapTo-1)
		}
	}
	if r.broken != nil {
		f.b.stats.malformed.Add(1)
		f.loss(fmt.Errorf("%w: %w", ErrMalformedMessage, r.broken))
	}
	if r.msg != nil {
		f.deliver(pos, r.msg)
	}
	return r.token, r.control
}

// Subscribe registers h and returns once every message published afterwards will
// reach it, or a loss report will. The first subscription of the bus starts its
// feed: in core mode a NATS subscription, flushed so that the server has it; in
// JetStream mode a consumer that starts after the stream's last message. A later
// subscription joins that feed: in core mode it publishes a control frame and starts
// with what follows its return; in JetStream mode it skips what the stream held when
// it subscribed. h is called from a goroutine of its own, until the subscription's
// Close or the bus's.
func (b *Bus) Subscribe(ctx context.Context, h fresh.Handler) (fresh.Subscription, error) {
	switch {
	case ctx == nil:
		return nil, errors.New("freshnats: subscribe: nil context")
	case h == nil:
		return nil, errors.New("freshnats: subscribe: nil handler")
	case b.closed.Load():
		return nil, ErrBusClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("freshnats: subscribe: %w", err)
	}
	ctx, cancel := b.ctxTimeout(ctx)
	defer cancel()
	if err := b.checkCluster("Subscribe"); err != nil {
		return nil, err
	}
	w := &filterHandler{h: h}
	// startMu makes the subscriptions that find no feed start one in turn: the
	// first starts it, the others join it, so that the subscriptions of a bus share
	// one order. A round trip to the server is made under it, not under b.mu.
	b.startMu.Lock()
	b.mu.Lock()
	f := b.feed
	if f != nil {
		f.subs++
	}
	b.mu.Unlock()
	if f != nil {
		b.startMu.Unlock()
		w.runners = &f.runners
		inner, err := f.join(ctx, w)
		if err != nil {
			b.leaveFeed(f)
			if f.isStopped() {
				return nil, ErrBusClosed
			}
			return nil, fmt.Errorf("freshnats: subscribe to %q: %w", b.subject, err)
		}
		return &subscription{bus: b, feed: f, inner: inner}, nil
	}
	defer b.startMu.Unlock()
	var inner fresh.Subscription
	var err error
	if b.o.JetStream {
		f, inner, err = b.startStreamFeed(ctx, w)
	} else {
		f, inner, err = b.startCoreFeed(ctx, w)
	}
	if err != nil {
		return nil, fmt.Errorf("freshnats: subscribe to %q: %w", b.subject, err)
	}
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		f.stop()
		return nil, ErrBusClosed
	}
	b.live[f] = struct{}{}
	b.feed = f
	f.subs++
	b.mu.Unlock()
	return &subscription{bus: b, feed: f, inner: inner}, nil
}

// leaveFeed uncounts a subscription of f, and stops f when it was the last.
func (b *Bus) leaveFeed(f *feed) {
	b.mu.Lock()
	f.subs--
	last := f.subs == 0
	if last && b.feed == f {
		b.feed = nil
	}
	b.mu.Unlock()
	if last {
		f.stop()
	}
}

// isStopped reports whether stop has finished.
func (f *feed) isStopped() bool {
	select {
	case <-f.stopped:
		return true
	default:
		return false
	}
}

// subscription is a subscription to a Bus: one subscription of its feed's LocalBus.
type subscription struct {
	bus   *Bus
	feed  *feed
	inner fresh.Subscription
	once  sync.Once
}

// Close stops delivery: once it returns, the handler is not called again. It waits
// for a handler call in progress, unless it is called by that handler. Closing the
// last subscription of a feed stops the feed (its NATS subscription or consumer).
// Close is idempotent and returns nil.
func (s *subscription) Close() error {
	_ = s.inner.Close() // LocalBus subscriptions close without error
	s.once.Do(func() { s.bus.leaveFeed(s.feed) })
	return nil
}

// filterHandler is what a subscription registers on its feed's LocalBus: it strips
// the position prefix, skips the messages of a JetStream feed that the stream held
// when the subscription joined it, and turns the loss that a LocalBus subscription
// reports when it overflows into one of this package's errors.
type filterHandler struct {
	h fresh.Handler
	// Set before the LocalBus subscription is made, read-only afterwards: when
	// skip is set, messages at positions (inc, s <= seq) are skipped.
	skip     bool
	inc, seq uint64
	// The feed's record of handler goroutines (see feed.stop), which the first call
	// enters the calling goroutine into: the LocalBus makes every call of one
	// subscription from one goroutine.
	runners *sync.Map
	entered bool // read and written by that goroutine alone
}

// enter records the handler goroutine, at its first call.
func (w *filterHandler) enter() {
	if !w.entered {
		w.entered = true
		if id := goid.Current(); id != 0 && w.runners != nil {
			w.runners.Store(id, struct{}{})
		}
	}
}

func (w *filterHandler) HandleMessage(msg []byte) {
	w.enter()
	if len(msg) < localPrefixLen {
		return // not from a feed
	}
	if w.skip && binary.BigEndian.Uint64(msg) == w.inc && binary.BigEndian.Uint64(msg[8:]) <= w.seq {
		return
	}
	w.h.HandleMessage(msg[localPrefixLen:])
}

func (w *filterHandler) HandleLoss(err error) {
	w.enter()
	if !isOwnLoss(err) {
		err = fmt.Errorf("%w: %w", ErrSlowConsumer, err)
	}
	w.h.HandleLoss(err)
}

// isOwnLoss reports whether err wraps one of the loss errors of this package.
func isOwnLoss(err error) bool {
	for _, e := range []error{ErrDisconnected, ErrSlowConsumer, ErrSequenceGap, ErrMalformedMessage, ErrStreamGap} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// The pause before a feed retries a failed read doubles from retryFirst to
// retryLongest, with some jitter so that subscribers do not retry in step.
const (
	retryFirst   = 20 * time.Millisecond
	retryLongest = 2 * time.Second
)

// retryPacer paces the retries of a feed's reader.
type retryPacer struct {
	failures int // consecutive failures
}

// failed counts a failure and reports whether it is the first of a run, the one
// worth logging.
func (r *retryPacer) failed() (first bool) {
	r.failures++
	return r.failures == 1
}

// recovered resets the count and reports whether there had been failures.
func (r *retryPacer) recovered() bool {
	had := r.failures > 0
	r.failures = 0
	return had
}

// sleep pauses before the next attempt. It returns false if ctx ended first.
func (r *retryPacer) sleep(ctx context.Context) bool {
	d := retryLongest
	if n := r.failures - 1; n < 8 {
		d = min(retryFirst<<n, retryLongest)
	}
	d = d*3/4 + rand.N(d/2+1) // ±25 %
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
