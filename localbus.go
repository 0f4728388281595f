package fresh

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
)

// errBusClosed is returned by a LocalBus after Close.
var errBusClosed = errors.New("fresh: bus closed")

// LocalBus is a Bus inside one process: several caches in one process share
// invalidations through it.
//
// Every subscription has its own goroutine and an unbounded queue, so Publish never
// waits for a handler, a slow handler delays only its own subscription, and each
// subscriber receives every message in the one order in which Publish calls were
// accepted. A LocalBus never loses messages; Disrupt simulates a loss for tests.
//
// The zero value is not usable; call NewLocalBus.
type LocalBus struct {
	mu     sync.Mutex
	subs   []*localSubscription // in Subscribe order
	closed bool
}

var _ Bus = (*LocalBus)(nil)

// NewLocalBus returns an empty LocalBus.
func NewLocalBus() *LocalBus { return &LocalBus{} }

// Publish queues a copy of msg for every current subscriber and returns without
// waiting for the handlers. It returns ctx.Err() if ctx is already done, and an error
// after Close.
func (b *LocalBus) Publish(ctx context.Context, msg []byte) error {
	if ctx == nil {
		return errors.New("fresh: publish: nil context")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// One copy shared by the queues; each subscription copies it again into its own
	// buffer before calling its handler, so that no handler can alter what another
	// one receives.
	m := bytes.Clone(msg)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errBusClosed
	}
	for _, s := range b.subs {
		s.enqueue(localDelivery{msg: m})
	}
	return nil
}

// Subscribe registers h. It returns once h will receive every message published
// afterwards. It returns ctx.Err() if ctx is already done, and an error after Close.
func (b *LocalBus) Subscribe(ctx context.Context, h Handler) (Subscription, error) {
	if ctx == nil {
		return nil, errors.New("fresh: subscribe: nil context")
	}
	if h == nil {
		return nil, errors.New("fresh: subscribe: nil handler")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &localSubscription{
		bus:    b,
		h:      h,
		signal: make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errBusClosed
	}
	b.subs = append(b.subs, s)
	go s.run()
	return s, nil
}

// Disrupt simulates a loss in the transport, for tests of loss handling: every current
// subscription's handler receives HandleLoss(err) after the messages published before
// Disrupt and before those published after it. A nil err is replaced by a generic
// one. Disrupt does nothing after Close.
func (b *LocalBus) Disrupt(err error) {
	if err == nil {
		err = errors.New("fresh: local bus disrupted")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	for _, s := range b.subs {
		s.enqueue(localDelivery{loss: err})
	}
}

// Close closes every subscription, waiting for handler calls in progress (except one
// that calls Close itself), and makes later Publish and Subscribe calls fail. Messages
// not yet delivered are dropped. Close is idempotent and always returns nil.
func (b *LocalBus) Close() error {
	b.mu.Lock()
	subs := b.subs
	b.subs = nil
	b.closed = true
	b.mu.Unlock()
	for _, s := range subs {
		s.close()
	}
	return nil
}

// remove unregisters s, so that no more deliveries are queued for it.
func (b *LocalBus) remove(s *localSubscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, x := range b.subs {
		if x == s {
			b.subs = append(b.subs[:i:i], b.subs[i+1:]...)
			return
		}
	}
}

// localDelivery is one queued handler call: a message, or a loss when loss is set.
type localDelivery struct {
	msg  []byte
	loss error
}

// localSubscription is a Subscription to a LocalBus. Its goroutine, run, drains the
// queue in order and calls the handler.
type localSubscription struct {
	bus *LocalBus
	h   Handler

	mu    sync.Mutex
	queue []localDelivery // guarded by mu; appended by the bus, taken whole by run

	signal chan struct{} // capacity 1: the queue may be non-empty
	stop   chan struct{} // closed by Close
	done   chan struct{} // closed when run returns

	closed    atomic.Bool   // set by Close; run checks it before every handler call
	closeOnce sync.Once     // guards close(stop)
	runner    atomic.Uint64 // id of run's goroutine, for Close from inside the handler

	scratch []byte // run's copy of the message being delivered
}

// enqueue appends d to the queue and wakes run. It never blocks.
func (s *localSubscription) enqueue(d localDelivery) {
	s.mu.Lock()
	s.queue = append(s.queue, d)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default: // a wake-up is already pending, and run takes the whole queue
	}
}

// run delivers queued messages until Close.
func (s *localSubscription) run() {
	defer close(s.done)
	s.runner.Store(localGoroutineID())
	var batch []localDelivery
	for {
		select {
		case <-s.stop:
			return
		case <-s.signal:
		}
		// Swap the queue with the drained batch buffer, so the two slices are reused
		// rather than reallocated on every wake-up.
		s.mu.Lock()
		batch, s.queue = s.queue, batch[:0]
		s.mu.Unlock()
		for i := range batch {
			// Checked before every call, so that once Close has set closed and
			// waited for the call in progress (if any), no call follows.
			if s.closed.Load() {
				return
			}
			d := batch[i]
			batch[i] = localDelivery{} // release the message for the garbage collector
			s.deliver(d)
		}
		if cap(batch) > 1024 {
			batch = nil // do not hold on to the memory of a burst
		}
	}
}

// deliver makes one handler call, with no lock held.
func (s *localSubscription) deliver(d localDelivery) {
	if d.loss != nil {
		s.h.HandleLoss(d.loss)
		return
	}
	s.scratch = append(s.scratch[:0], d.msg...)
	s.h.HandleMessage(s.scratch)
	if cap(s.scratch) > 64<<10 {
		s.scratch = nil
	}
}

// Close stops delivery. It waits for a handler call in progress to return, unless it
// is called from that handler call, where waiting would deadlock; the handler is not
// called again in either case. Close is idempotent and always returns nil.
func (s *localSubscription) Close() error {
	s.close()
	return nil
}

// close implements Close.
func (s *localSubscription) close() {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
	})
	s.bus.remove(s)
	s.mu.Lock()
	s.queue = nil
	s.mu.Unlock()
	if id := localGoroutineID(); id != 0 && id == s.runner.Load() {
		// Called by our own handler: run checks closed when the handler returns.
		return
	}
	<-s.done
}

// localGoroutineID returns the id of the calling goroutine, or 0 if it cannot tell.
// It is used only by localSubscription.Close, to recognise a call from its own
// handler; Go has no cheaper way to tell, and Close is rare.
func localGoroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	// The trace starts "goroutine 123 [running]:".
	b, ok := bytes.CutPrefix(b, []byte("goroutine "))
	if !ok {
		return 0
	}
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
