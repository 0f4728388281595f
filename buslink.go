package fresh

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh/internal/glob"
	"github.com/freshcache/fresh/internal/wire"
)

// A busLink connects one Cache to its Bus: it publishes the cache's invalidations in
// order with a per-origin sequence, applies what other processes publish, detects
// lost messages, and proves liveness with heartbeats (guarantee G1).
//
// Failure policy (ARCHITECTURE.md §6): a failed publish is queued and retried in the
// background, in order, and reported to the caller wrapped in ErrPublish; a message
// that cannot be delivered after maxPending others pile up behind it is abandoned
// with a new epoch, which makes every receiver flush. A receiver that sees a sequence
// gap, an epoch change, an unknown message version, or a loss reported by the
// transport flushes the tier before serving again. When the cache's own heartbeats
// stop coming back within MaxStaleness, it serves nothing until they do, and then
// flushes.
type busLink struct {
	bus    Bus
	origin [16]byte
	name   string
	log    func(msg string, args ...any)
	st     *counters
	rec    Recorder
	t      *Tracker
	start  time.Time // for monotonic heartbeat stamps

	apply func(m *wire.Message) // applies a peer's Delete, Pattern or Flush to the cache

	pubMu   sync.Mutex
	seq     uint64
	epoch   uint64
	pending [][]byte // encoded messages awaiting retry, in order
	kick    chan struct{}

	rcvMu sync.Mutex
	peers map[[16]byte]peer

	lastBeat  atomic.Int64 // stamp of the newest own heartbeat that came back
	suspended atomic.Bool

	maxStale, beat time.Duration
	sub            Subscription
	stop           chan struct{}
	wg             sync.WaitGroup
}

type peer struct{ epoch, seq uint64 }

// maxPending bounds the messages queued behind a failed publish.
const maxPending = 10_000

// The pause between retries of a failed publish doubles from retryFirst to
// retryLongest.
const (
	retryFirst   = 10 * time.Millisecond // first pause
	retryLongest = 2 * time.Second       // longest pause
)

func newBusLink[K comparable, V any](c *Cache[K, V]) (*busLink, error) {
	l := &busLink{
		bus:      c.o.Bus,
		name:     c.o.Name,
		st:       &c.stats,
		rec:      c.rec,
		t:        c.t,
		start:    time.Now(),
		kick:     make(chan struct{}, 1),
		peers:    make(map[[16]byte]peer),
		maxStale: c.o.MaxStaleness,
		beat:     c.o.Heartbeat,
		stop:     make(chan struct{}),
		log:      func(msg string, args ...any) { c.o.Logger.Warn("fresh: "+msg, append(args, "cache", c.o.Name)...) },
	}
	if _, err := rand.Read(l.origin[:]); err != nil {
		return nil, fmt.Errorf("fresh: origin id: %w", err)
	}
	l.apply = func(m *wire.Message) { applyPeer(c, l, m) }
	ctx, cancel := context.WithTimeout(context.Background(), c.o.MaxStaleness)
	defer cancel()
	sub, err := l.bus.Subscribe(ctx, l)
	if err != nil {
		return nil, fmt.Errorf("fresh: subscribe to bus: %w", err)
	}
	l.sub = sub
	l.wg.Add(2)
	go l.heartbeats()
	go l.retries()
	return l, nil
}

// applyPeer applies a Delete, Pattern or Flush message to c. It may run before New
// has returned (as soon as the subscription exists), so it reaches the link through l,
// not c.link.
func applyPeer[K comparable, V any](c *Cache[K, V], l *busLink, m *wire.Message) {
	switch m.Kind {
	case wire.KindDelete:
		for _, s := range m.Items {
			k, err := c.o.KeyCodec.DecodeKey(s)
			if err != nil {
				// A key we cannot read may be cached under some form we cannot
				// name: flushing is the only safe answer.
				l.log("undecodable key on bus; flushing", "err", err)
				c.flushLocal()
				return
			}
			c.deleteLocal(k)
		}
	case wire.KindPattern:
		for _, p := range m.Items {
			g, err := glob.Compile(p)
			if err != nil {
				l.log("malformed pattern on bus; flushing", "err", err)
				c.flushLocal()
				return
			}
			c.deletePattern(g)
		}
	case wire.KindFlush:
		c.flushLocal()
	}
}

// HandleMessage applies one message from the bus. It never panics on bad input.
func (l *busLink) HandleMessage(b []byte) {
	m, err := wire.Decode(b)
	if err != nil {
		l.st.dropped.Add(1)
		l.record(EventDropped)
		if errors.Is(err, wire.ErrVersion) {
			// A newer publisher's message we cannot read may hold invalidations.
			l.lost(err)
		}
		return
	}
	l.rcvMu.Lock()
	p, known := l.peers[m.Origin]
	gap := known && (m.Epoch != p.epoch || m.Seq > p.seq+1)
	dup := known && m.Epoch == p.epoch && m.Seq <= p.seq
	if !dup {
		l.peers[m.Origin] = peer{epoch: m.Epoch, seq: m.Seq}
	}
	l.rcvMu.Unlock()
	if dup {
		return
	}
	if gap {
		l.lost(fmt.Errorf("fresh: sequence gap from a publisher (epoch %d seq %d after epoch %d seq %d)", m.Epoch, m.Seq, p.epoch, p.seq))
	}
	self := m.Origin == l.origin
	switch {
	case m.Kind == wire.KindHeartbeat:
		if self {
			l.heartbeatBack(m.Stamp)
		}
		return
	case self:
		return // our own invalidation: applied before it was published
	case m.Kind == wire.KindInvalidate:
		l.t.invalidate(m.Items)
	case m.Namespace == l.name:
		l.apply(&m)
	}
	l.st.received.Add(1)
}

// HandleLoss is called by the transport when messages may have been lost.
func (l *busLink) HandleLoss(err error) { l.lost(err) }

// lost flushes the tier: an invalidation may have been missed.
func (l *busLink) lost(err error) {
	l.st.gaps.Add(1)
	l.record(EventGap)
	l.log("bus continuity lost; flushing", "err", err)
	if !l.suspended.Load() {
		l.t.flush()
	}
}

func (l *busLink) record(ev Event) {
	if l.rec != nil {
		l.rec.Record(ev)
	}
}

func (l *busLink) publishDeps(ctx context.Context, names []string) error {
	return l.publishItems(ctx, wire.KindInvalidate, "", names)
}

func (l *busLink) publishPattern(ctx context.Context, pattern string) error {
	return l.publishItems(ctx, wire.KindPattern, l.name, []string{pattern})
}

func (l *busLink) publishFlush(ctx context.Context) error {
	return l.publish(ctx, &wire.Message{Kind: wire.KindFlush, Namespace: l.name})
}

func publishDeleteKey[K comparable](ctx context.Context, l *busLink, codec KeyCodec[K], key K) error {
	s, err := codec.EncodeKey(key)
	if err != nil {
		return fmt.Errorf("fresh: delete: %w: %w", ErrInvalidKey, err)
	}
	return l.publishItems(ctx, wire.KindDelete, l.name, []string{s})
}

// publishItems publishes items in as many messages as the wire limits require.
func (l *busLink) publishItems(ctx context.Context, kind wire.Kind, ns string, items []string) error {
	var errs []error
	for len(items) > 0 {
		n, size := 0, 256+len(ns)
		for n < len(items) && n < wire.MaxItems {
			size += len(items[n]) + 10
			if size > wire.MaxMessageSize && n > 0 {
				break
			}
			n++
		}
		if err := l.publish(ctx, &wire.Message{Kind: kind, Namespace: ns, Items: items[:n]}); err != nil {
			errs = append(errs, err)
		}
		items = items[n:]
	}
	return errors.Join(errs...)
}

// publish assigns the next sequence number and sends m, or queues it behind earlier
// failures. Sending under pubMu keeps the sequence in order on the transport.
func (l *busLink) publish(ctx context.Context, m *wire.Message) error {
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	m.Origin = l.origin
	m.Epoch = l.epoch
	m.Seq = l.seq + 1
	b, err := wire.Append(nil, m)
	if err != nil {
		return fmt.Errorf("fresh: encode bus message: %w", err)
	}
	l.seq++
	if len(l.pending) > 0 {
		l.enqueue(b)
		return fmt.Errorf("%w: queued behind an earlier failure", ErrPublish)
	}
	if err := l.bus.Publish(ctx, b); err != nil {
		l.st.publishFails.Add(1)
		l.record(EventPublishFail)
		if m.Kind != wire.KindHeartbeat {
			l.enqueue(b)
		} else {
			// A heartbeat is not retried, but its sequence number is spent: send
			// the next message in a new epoch so receivers do not see a gap.
			l.newEpoch()
		}
		return fmt.Errorf("%w: %w", ErrPublish, err)
	}
	l.st.published.Add(1)
	return nil
}

// enqueue queues b for retry; pubMu is held. Past maxPending, the queue is abandoned
// and a new epoch tells every receiver to flush.
func (l *busLink) enqueue(b []byte) {
	if len(l.pending) >= maxPending {
		l.log("bus unreachable; abandoning queued invalidations, receivers will flush", "queued", len(l.pending))
		l.pending = nil
		l.newEpoch()
		return
	}
	l.pending = append(l.pending, b)
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// newEpoch starts a new epoch; pubMu is held. Messages already encoded in the
// queue keep theirs.
func (l *busLink) newEpoch() {
	l.epoch++
	l.seq = 0
}

// retries sends the queued messages in order, with backoff, until the queue is empty.
func (l *busLink) retries() {
	defer l.wg.Done()
	backoff := retryFirst
	for {
		select {
		case <-l.stop:
			return
		case <-l.kick:
		}
		for {
			l.pubMu.Lock()
			if len(l.pending) == 0 {
				l.pubMu.Unlock()
				backoff = retryFirst
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), retryLongest)
			err := l.bus.Publish(ctx, l.pending[0])
			cancel()
			if err == nil {
				l.pending = l.pending[1:]
				l.st.published.Add(1)
				l.pubMu.Unlock()
				backoff = retryFirst
				continue
			}
			l.st.publishFails.Add(1)
			l.record(EventPublishFail)
			l.pubMu.Unlock()
			select {
			case <-l.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, retryLongest)
		}
	}
}

// heartbeats publishes a heartbeat every l.beat and suspends the tier when none has
// come back within maxStale.
func (l *busLink) heartbeats() {
	defer l.wg.Done()
	l.lastBeat.Store(l.stamp())
	tick := time.NewTicker(l.beat)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.beat)
		err := l.publish(ctx, &wire.Message{Kind: wire.KindHeartbeat, Stamp: l.stamp()})
		cancel()
		if err != nil {
			l.log("heartbeat publish failed", "err", err)
		}
		if age := time.Duration(l.stamp() - l.lastBeat.Load()); age > l.maxStale && l.suspended.CompareAndSwap(false, true) {
			l.log("no heartbeat back from the bus; serving nothing until one returns", "age", age)
			l.t.suspend()
		}
	}
}

// heartbeatBack records the return of one of our heartbeats sent at stamp: every
// message published before it has been applied.
func (l *busLink) heartbeatBack(stamp int64) {
	maxStoreInt(&l.lastBeat, stamp)
	if time.Duration(l.stamp()-stamp) <= l.maxStale && l.suspended.CompareAndSwap(true, false) {
		l.t.resume()
	}
}

func (l *busLink) stamp() int64 { return int64(time.Since(l.start)) }

func (l *busLink) close(ctx context.Context) error {
	close(l.stop)
	l.wg.Wait()
	var errs []error
	l.pubMu.Lock()
	for len(l.pending) > 0 && ctx.Err() == nil {
		if err := l.bus.Publish(ctx, l.pending[0]); err != nil {
			errs = append(errs, fmt.Errorf("%w: %d invalidations not delivered: %w", ErrPublish, len(l.pending), err))
			break
		}
		l.pending = l.pending[1:]
	}
	l.pubMu.Unlock()
	if err := l.sub.Close(); err != nil {
		errs = append(errs, fmt.Errorf("fresh: close subscription: %w", err))
	}
	return errors.Join(errs...)
}

func maxStoreInt(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if cur >= v || a.CompareAndSwap(cur, v) {
			return
		}
	}
}
