package fresh

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// errBusClosed is returned by a LocalBus after Close.
var errBusClosed = errors.New("fresh: bus closed")

// errFellBehind is wrapped by the error of the HandleLoss that replaces the backlog
// of a LocalBus subscription that overflowed its bounds.
var errFellBehind = errors.New("fresh: local bus subscriber fell behind")

// LocalBus is a Bus inside one process: several caches in one process share
// invalidations through it.
//
// Every subscription has its own goroutine and its own queue, so Publish never waits
// for a handler, a slow handler delays only its own subscription, and every subscriber
// receives the messages in the one order in which Publish calls were accepted (a
// total order, more than the Bus contract requires).
//
// Each queue is bounded (LocalBusOptions): it holds at most MaxQueueLen deliveries
// (messages and loss reports) and MaxQueueBytes bytes of messages. When a delivery
// does not fit because the handler has fallen behind, the bus drops that
// subscription's whole backlog and queues in its place a single HandleLoss, whose
// error says that the subscriber fell behind and how many messages were dropped; the
// message that did not fit follows the loss if it fits then, and is counted among the
// dropped ones otherwise. So a subscriber never misses a message silently, its memory
// stays bounded, and Publish still never blocks. Other subscriptions are not affected.
// Apart from that, a LocalBus never loses messages; Disrupt simulates a loss for tests.
//
// The zero value is not usable; call NewLocalBus or NewLocalBusWithOptions.
type LocalBus struct {
	o LocalBusOptions // defaults filled in; read-only after construction

	mu     sync.Mutex
	subs   []*localSubscription // in Subscribe order
	closed bool
}

var _ Bus = (*LocalBus)(nil)

// LocalBusOptions configure a LocalBus. The zero value is the default configuration.
type LocalBusOptions struct {
	// MaxQueueLen bounds the deliveries (messages and loss reports) queued for one
	// subscription whose handler has not taken them yet. Default 65,536.
	MaxQueueLen int
	// MaxQueueBytes bounds the total size of the messages queued for one
	// subscription. A message larger than this never fits: it is reported as a loss.
	// Default 64 MiB.
	MaxQueueBytes int
}

// Default bounds of a LocalBus subscription's queue.
const (
	defaultLocalMaxQueueLen   = 65_536
	defaultLocalMaxQueueBytes = 64 << 20
)

// NewLocalBus returns an empty LocalBus with the default options.
func NewLocalBus() *LocalBus {
	b, _ := NewLocalBusWithOptions(LocalBusOptions{}) // the zero options are valid
	return b
}

// NewLocalBusWithOptions returns an empty LocalBus configured by o, or an error if a
// field of o is negative.
func NewLocalBusWithOptions(o LocalBusOptions) (*LocalBus, error) {
	var errs []error
	if o.MaxQueueLen < 0 {
		errs = append(errs, fmt.Errorf("fresh: LocalBusOptions.MaxQueueLen %d is negative", o.MaxQueueLen))
	}
	if o.MaxQueueBytes < 0 {
		errs = append(errs, fmt.Errorf("fresh: LocalBusOptions.MaxQueueBytes %d is negative", o.MaxQueueBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.MaxQueueLen == 0 {
		o.MaxQueueLen = defaultLocalMaxQueueLen
	}
	if o.MaxQueueBytes == 0 {
		o.MaxQueueBytes = defaultLocalMaxQueueBytes
	}
	return &LocalBus{o: o}, nil
}

// Publish queues a copy of msg for every current subscriber and returns without
// waiting for the handlers; a subscriber whose queue is full gets a loss report
// instead (see LocalBus). It returns ctx.Err() if ctx is already done, and an error
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
	// One order for all: a message is queued for every subscriber under b.mu, so all
	// queues receive the messages in the one order in which Publish calls took b.mu,
	// and a Publish that returned has queued its message before a later Publish can.
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
		bus: b,
		h:   h,
		// cmp.Or: a LocalBus not made by a constructor still gets bounded queues.
		maxLen:   cmp.Or(b.o.MaxQueueLen, defaultLocalMaxQueueLen),
		maxBytes: cmp.Or(b.o.MaxQueueBytes, defaultLocalMaxQueueBytes),
		signal:   make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
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
// one. For a subscription whose queue is full, the loss report that replaces its
// backlog stands for err. Disrupt does nothing after Close.
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
	msg     []byte
	loss    error
	dropped int // for the loss that replaced an overflowing backlog: messages dropped
}

// localSubscription is a Subscription to a LocalBus. Its goroutine, run, takes the
// deliveries from the queue one at a time, in order, and calls the handler.
//
// The queue is a ring buffer guarded by mu. It holds every delivery not yet taken by
// run, so its bounds cover everything the subscription holds but the one delivery in
// the handler's hands: at most maxLen deliveries (n <= maxLen, and so len(ring) <=
// maxLen) and maxBytes bytes of messages (bytes <= maxBytes).
type localSubscription struct {
	bus *LocalBus
	h   Handler

	maxLen, maxBytes int // the queue's bounds, from LocalBusOptions

	mu    sync.Mutex
	ring  []localDelivery // guarded by mu; the queue is ring[head], ..., ring[head+n-1] (mod len)
	head  int             // guarded by mu
	n     int             // guarded by mu: deliveries queued
	bytes int             // guarded by mu: total length of the queued messages

	signal chan struct{} // capacity 1: the queue may be non-empty
	stop   chan struct{} // closed by Close
	done   chan struct{} // closed when run returns

	closed    atomic.Bool   // set by Close; run checks it before every handler call
	closeOnce sync.Once     // guards close(stop)
	runner    atomic.Uint64 // id of run's goroutine, for Close from inside the handler

	scratch []byte // run's copy of the message being delivered
}

// enqueue queues d, or replaces the backlog with a loss when d does not fit, and wakes
// run. It never blocks: the caller holds the bus's lock.
func (s *localSubscription) enqueue(d localDelivery) {
	s.mu.Lock()
	if s.fits(d) {
		s.push(d)
	} else {
		s.overflow(d)
	}
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default: // a wake-up is already pending, and run drains the whole queue
	}
}

// fits reports whether d can join the queue within its bounds. s.mu must be held.
func (s *localSubscription) fits(d localDelivery) bool {
	return s.n < s.maxLen && len(d.msg) <= s.maxBytes-s.bytes
}

// overflow drops every queued delivery and queues in their place one loss that says
// how many messages were lost, then d if it fits after that loss (d's own loss, when d
// is one, is what the new loss stands for). s.mu must be held.
//
// The handler thus learns of the gap before any message published after it. A later
// overflow, before run took that loss, drops it too and carries its count over into
// the new one, so the count covers every message the handler missed.
func (s *localSubscription) overflow(d localDelivery) {
	dropped := 0
	for i := range s.n {
		q := &s.ring[(s.head+i)%len(s.ring)]
		if q.loss == nil {
			dropped++
		} else {
			dropped += q.dropped
		}
	}
	clear(s.ring) // release the messages for the garbage collector
	s.head, s.n, s.bytes = 0, 0, 0
	follows := false
	if d.loss == nil {
		// The loss takes one place in the queue; d must fit beside it.
		follows = s.maxLen > 1 && len(d.msg) <= s.maxBytes
		if !follows {
			dropped++
		}
	}
	plural := "s"
	if dropped == 1 {
		plural = ""
	}
	s.push(localDelivery{
		loss: fmt.Errorf("%w: %d message%s dropped (queue bounds: %d deliveries, %d bytes)",
			errFellBehind, dropped, plural, s.maxLen, s.maxBytes),
		dropped: dropped,
	})
	if follows {
		s.push(d)
	}
}

// push appends d to the queue, growing the ring if it is full. s.mu must be held, and
// d must fit (s.n < s.maxLen), so the ring never grows beyond maxLen.
func (s *localSubscription) push(d localDelivery) {
	if s.n == len(s.ring) {
		ring := make([]localDelivery, min(max(16, 2*len(s.ring)), s.maxLen))
		k := copy(ring, s.ring[s.head:])
		copy(ring[k:], s.ring[:s.head])
		s.ring, s.head = ring, 0
	}
	s.ring[(s.head+s.n)%len(s.ring)] = d
	s.n++
	s.bytes += len(d.msg)
}

// pop takes the first delivery from the queue; ok is false if it is empty.
func (s *localSubscription) pop() (d localDelivery, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		if len(s.ring) > 1024 {
			s.ring, s.head = nil, 0 // do not hold on to the memory of a burst
		}
		return localDelivery{}, false
	}
	d = s.ring[s.head]
	s.ring[s.head] = localDelivery{} // release the message for the garbage collector
	s.head = (s.head + 1) % len(s.ring)
	s.n--
	s.bytes -= len(d.msg)
	return d, true
}

// run delivers queued messages until Close.
func (s *localSubscription) run() {
	defer close(s.done)
	s.runner.Store(goroutineID())
	for {
		select {
		case <-s.stop:
			return
		case <-s.signal:
		}
		// Take one delivery at a time, so that what waits for the handler stays in
		// the queue, within its bounds, and can be dropped by an overflow.
		for {
			d, ok := s.pop()
			if !ok {
				break
			}
			// Checked before every call, so that once Close has set closed and
			// waited for the call in progress (if any), no call follows.
			if s.closed.Load() {
				return
			}
			s.deliver(d)
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
	s.ring, s.head, s.n, s.bytes = nil, 0, 0, 0
	s.mu.Unlock()
	if id := goroutineID(); id != 0 && id == s.runner.Load() {
		// Called by our own handler: run checks closed when the handler returns.
		return
	}
	<-s.done
}
