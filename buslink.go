package fresh

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh/internal/wire"
)

// A busLink connects a Hub to its Bus: it publishes the hub's invalidations in order
// with a per-origin sequence, applies what other processes publish, detects lost
// messages, and proves liveness with heartbeats (guarantee G1).
//
// Failure policy: a failed publish is queued and retried in the background, in order,
// and reported to the caller wrapped in ErrPublish; when the queue outgrows maxPending
// messages or maxPendingBytes, it is abandoned with a new epoch, which makes every
// receiver flush (I6). A receiver that sees a sequence gap, a sequence going
// backwards, an epoch change, a heartbeat announcing messages it did not receive, an
// unknown message version, or a loss reported by the transport flushes the hub
// before serving again. When the hub's own heartbeats stop coming back within
// MaxStaleness, it serves nothing until they do, and then flushes (I5).
type busLink struct {
	hub    *Hub
	bus    Bus
	origin [16]byte
	start  time.Time // for monotonic heartbeat stamps

	pubMu        sync.Mutex
	seq          uint64   // last sequence number assigned
	sentSeq      uint64   // last sequence number the transport accepted
	epoch        uint64   // the publisher's epoch
	pending      [][]byte // encoded messages awaiting retry, in order
	pendingBytes int
	pendingN     atomic.Int64 // len(pending), for Stats without pubMu (a publish may hold it long)
	kick         chan struct{}

	rcvMu sync.Mutex
	peers map[[16]byte]peer

	// Heartbeats: the stamps of the last heartbeats sent, so that only a heartbeat
	// this link sent can prove anything (a forged or replayed stamp proves nothing).
	beatMu   sync.Mutex
	sent     [beatRing]int64
	sentNext int
	lastBeat atomic.Int64 // stamp of the newest own heartbeat that came back
	beatBack chan struct{}

	maxStale, beat time.Duration
	sub            Subscription
	stop           chan struct{}
	wg             sync.WaitGroup
}

type peer struct{ epoch, seq uint64 }

// beatRing is how many sent heartbeat stamps are remembered. A heartbeat that takes
// longer than beatRing intervals to come back is not recognised, which only delays
// the proof.
const beatRing = 64

// Bounds of the queue of messages behind a failed publish.
const (
	maxPending      = 10_000
	maxPendingBytes = 16 << 20
)

// The pause between retries of a failed publish doubles from retryFirst to
// retryLongest.
const (
	retryFirst   = 10 * time.Millisecond // first pause
	retryLongest = 2 * time.Second       // longest pause
)

// Message kinds, re-exported for the hub's callers.
const (
	kindInvalidate = wire.KindInvalidate
	kindRows       = wire.KindRows
	kindDelete     = wire.KindDelete
	kindPattern    = wire.KindPattern
)

func newBusLink(h *Hub) (*busLink, error) {
	l := &busLink{
		hub:      h,
		bus:      h.o.Bus,
		start:    h.t.start,
		kick:     make(chan struct{}, 1),
		beatBack: make(chan struct{}, 1),
		peers:    make(map[[16]byte]peer),
		maxStale: h.o.MaxStaleness,
		beat:     h.o.Heartbeat,
		stop:     make(chan struct{}),
	}
	if _, err := rand.Read(l.origin[:]); err != nil {
		return nil, fmt.Errorf("fresh: origin id: %w", err)
	}
	l.lastBeat.Store(l.stamp())
	h.t.proofUntil.Store(l.lastBeat.Load() + int64(l.maxStale))
	ctx, cancel := context.WithTimeout(context.Background(), l.maxStale)
	defer cancel()
	sub, err := l.bus.Subscribe(ctx, l)
	if err != nil {
		return nil, fmt.Errorf("fresh: subscribe to bus: %w", err)
	}
	l.sub = sub
	l.wg.Add(3)
	go l.heartbeats()
	go l.watchdog()
	go l.retries()
	return l, nil
}

func (l *busLink) warn(msg string, args ...any) {
	l.hub.o.Logger.Warn("fresh: "+msg, args...)
}

// HandleMessage applies one message from the bus. It never panics on bad input.
func (l *busLink) HandleMessage(b []byte) {
	m, err := wire.Decode(b)
	if err != nil {
		l.hub.stats.dropped.Add(1)
		l.hub.record(EventDropped)
		if errors.Is(err, wire.ErrVersion) {
			// A newer publisher's message we cannot read may hold invalidations (I6).
			l.lost(err)
		}
		return
	}
	self := m.Origin == l.origin
	if self {
		if m.Kind == wire.KindHeartbeat {
			l.heartbeatBack(m.Stamp)
		}
		return // our own invalidation: applied before it was published
	}
	if why := l.track(&m); why != "" {
		l.lost(fmt.Errorf("fresh: %s (epoch %d seq %d)", why, m.Epoch, m.Seq))
	}
	if m.Kind == wire.KindHeartbeat {
		return
	}
	pause(pointLinkApply)
	// Applied even after a discontinuity: an invalidation is idempotent.
	switch m.Kind {
	case wire.KindInvalidate:
		l.hub.t.invalidate(m.Items)
	case wire.KindRows:
		l.hub.applyRows(m.Items)
	case wire.KindDelete:
		if v := l.hub.view(m.Namespace); v != nil {
			v.applyDelete(m.Items)
		}
	case wire.KindPattern:
		if v := l.hub.view(m.Namespace); v != nil {
			for _, p := range m.Items {
				v.applyPattern(p)
			}
		}
	case wire.KindFlush:
		if v := l.hub.view(m.Namespace); v != nil {
			v.flushLocal()
		}
	case wire.KindStoreMissed:
		if l.hub.store != nil {
			// An invalidation that follows did not reach the store: its entries may
			// be stale until it is flushed (storeLink).
			l.hub.store.failed(errPeerMissed, true)
		}
	}
	l.hub.stats.received.Add(1)
}

// track updates what is known of the message's publisher and says why continuity
// with it was lost, or "". A numbered message must follow its predecessor; a
// heartbeat carries the last number its publisher sent, so a lost tail shows. The
// first message of a publisher that has sent before is a loss too: what it sent
// between this link's subscription and that message is unknown. A sequence going
// backwards (a replay, or a forged message that announced a huge sequence earlier)
// is a loss and restarts tracking at the message, so such a message costs a flush,
// never a silenced publisher.
func (l *busLink) track(m *wire.Message) string {
	l.rcvMu.Lock()
	defer l.rcvMu.Unlock()
	p, known := l.peers[m.Origin]
	next := peer{epoch: m.Epoch, seq: m.Seq}
	l.peers[m.Origin] = next
	beat := m.Kind == wire.KindHeartbeat
	switch {
	case !known && beat && m.Seq > 0:
		return "first heartbeat of a publisher that has sent messages"
	case !known && !beat && m.Seq > 1:
		return "first message of a publisher that has sent messages"
	case !known:
		return ""
	case m.Epoch != p.epoch:
		return "publisher epoch changed"
	case beat && m.Seq != p.seq:
		return fmt.Sprintf("heartbeat announces sequence %d after %d", m.Seq, p.seq)
	case !beat && m.Seq != p.seq+1:
		return fmt.Sprintf("sequence %d after %d", m.Seq, p.seq)
	}
	return ""
}

// HandleLoss is called by the transport when messages may have been lost.
func (l *busLink) HandleLoss(err error) { l.lost(err) }

// lost flushes the hub: an invalidation may have been missed.
func (l *busLink) lost(err error) {
	l.hub.stats.gaps.Add(1)
	l.hub.record(EventGap)
	l.warn("bus continuity lost; flushing", "err", err)
	l.hub.flushAll()
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

// publishStoreMissed tells peers that an invalidation did not reach the Store.
func (l *busLink) publishStoreMissed(ctx context.Context) error {
	return l.publish(ctx, &wire.Message{Kind: wire.KindStoreMissed})
}

func (l *busLink) publishFlush(ctx context.Context, ns string) error {
	return l.publish(ctx, &wire.Message{Kind: wire.KindFlush, Namespace: ns})
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
		// I6: what cannot be said is said as "forget everything", at once.
		l.newEpoch("an invalidation that cannot be encoded")
		if herr := l.sendHeartbeatLocked(ctx); herr != nil {
			err = errors.Join(err, herr)
		}
		return fmt.Errorf("fresh: encode bus message (peers will flush): %w", err)
	}
	l.seq++
	if len(l.pending) > 0 {
		l.enqueue(b)
		return fmt.Errorf("%w: queued behind an earlier failure", ErrPublish)
	}
	if err := l.bus.Publish(ctx, b); err != nil {
		l.hub.stats.publishFails.Add(1)
		l.hub.record(EventPublishFail)
		l.enqueue(b)
		return fmt.Errorf("%w: %w", ErrPublish, err)
	}
	l.sentSeq = m.Seq
	l.hub.stats.published.Add(1)
	return nil
}

// enqueue queues b for retry; pubMu is held. Past maxPending or maxPendingBytes, the
// queue is abandoned and a new epoch tells every receiver to flush (I6).
func (l *busLink) enqueue(b []byte) {
	if len(l.pending) >= maxPending || l.pendingBytes+len(b) > maxPendingBytes {
		l.newEpoch(fmt.Sprintf("bus unreachable with %d invalidations queued", len(l.pending)))
		return
	}
	l.pending = append(l.pending, b)
	l.pendingBytes += len(b)
	l.pendingN.Store(int64(len(l.pending)))
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// newEpoch drops the queue and starts a new epoch; pubMu is held. The next message,
// at the latest the next heartbeat, tells every receiver to flush.
func (l *busLink) newEpoch(why string) {
	l.warn("abandoning bus continuity; receivers will flush", "why", why, "queued", len(l.pending))
	l.pending, l.pendingBytes = nil, 0
	l.pendingN.Store(0)
	l.epoch++
	l.seq, l.sentSeq = 0, 0
}

// breakContinuity starts a new epoch and tells the peers at once, with a heartbeat.
func (l *busLink) breakContinuity(why string) {
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	l.newEpoch(why)
	ctx, cancel := context.WithTimeout(context.Background(), l.beat)
	defer cancel()
	if err := l.sendHeartbeatLocked(ctx); err != nil {
		l.warn("heartbeat publish failed", "err", err)
	}
}

func (l *busLink) pendingCount() int { return int(l.pendingN.Load()) }

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
		for l.retryOne() {
			select {
			case <-l.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, retryLongest)
		}
		backoff = retryFirst
	}
}

// retryOne sends the queue until it is empty (false) or a send fails (true).
func (l *busLink) retryOne() (failed bool) {
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	for len(l.pending) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), retryLongest)
		err := l.bus.Publish(ctx, l.pending[0])
		cancel()
		if err != nil {
			l.hub.stats.publishFails.Add(1)
			l.hub.record(EventPublishFail)
			return true
		}
		l.pendingBytes -= len(l.pending[0])
		l.pending[0] = nil
		l.pending = l.pending[1:]
		l.pendingN.Store(int64(len(l.pending)))
		l.sentSeq++
		l.hub.stats.published.Add(1)
	}
	return false
}

// heartbeats publishes a heartbeat every l.beat. A heartbeat consumes no sequence
// number, so a failed one costs nothing but its proof.
func (l *busLink) heartbeats() {
	defer l.wg.Done()
	tick := time.NewTicker(l.beat)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.beat)
		if err := l.sendHeartbeat(ctx); err != nil {
			l.warn("heartbeat publish failed", "err", err)
		}
		cancel()
	}
}

func (l *busLink) sendHeartbeat(ctx context.Context) error {
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	return l.sendHeartbeatLocked(ctx)
}

// sendHeartbeatLocked sends a heartbeat; pubMu is held.
func (l *busLink) sendHeartbeatLocked(ctx context.Context) error {
	stamp := l.stamp()
	m := wire.Message{Kind: wire.KindHeartbeat, Origin: l.origin, Epoch: l.epoch, Seq: l.sentSeq, Stamp: stamp}
	b, err := wire.Append(nil, &m)
	if err != nil {
		return err
	}
	l.beatMu.Lock()
	l.sent[l.sentNext] = stamp
	l.sentNext = (l.sentNext + 1) % beatRing
	l.beatMu.Unlock()
	if err := l.bus.Publish(ctx, b); err != nil {
		l.hub.stats.publishFails.Add(1)
		l.hub.record(EventPublishFail)
		return err
	}
	return nil
}

// heartbeatBack records the return of one of our heartbeats sent at stamp: every
// message published before it has been applied. Only a stamp this link sent counts.
func (l *busLink) heartbeatBack(stamp int64) {
	l.beatMu.Lock()
	ours := false
	for _, s := range l.sent {
		if s == stamp && s != 0 {
			ours = true
			break
		}
	}
	l.beatMu.Unlock()
	if !ours {
		l.hub.stats.dropped.Add(1)
		l.hub.record(EventDropped)
		return
	}
	maxStoreInt(&l.lastBeat, stamp)
	maxStoreInt(&l.hub.t.proofUntil, stamp+int64(l.maxStale)) // G1, checked by every hit
	l.check()
	select {
	case l.beatBack <- struct{}{}:
	default:
	}
}

// check suspends the hub when the newest returned heartbeat is maxStale old, and
// lifts the suspension when it is not, deciding and acting under the hub's
// suspension lock so that the last decision reflects the newest beat (I5). It
// returns how long the current proof still holds.
func (l *busLink) check() time.Duration {
	h := l.hub
	h.suspendMu.Lock()
	defer h.suspendMu.Unlock()
	age := time.Duration(l.stamp() - l.lastBeat.Load())
	if age >= l.maxStale {
		if h.reasons&reasonSilent == 0 {
			l.warn("no heartbeat back from the bus; serving nothing until one returns", "age", age)
		}
		h.setReasonLocked(reasonSilent, true)
		return l.beat
	}
	h.setReasonLocked(reasonSilent, false)
	return l.maxStale - age
}

// watchdog suspends the hub as soon as the newest returned heartbeat is maxStale old,
// on a timer of its own: a publish stuck in the transport does not delay it (I5).
func (l *busLink) watchdog() {
	defer l.wg.Done()
	timer := time.NewTimer(l.maxStale)
	defer timer.Stop()
	for {
		pause(pointWatchdog)
		wait := l.check()
		timer.Reset(wait)
		select {
		case <-l.stop:
			return
		case <-timer.C:
		case <-l.beatBack:
		}
	}
}

func (l *busLink) stamp() int64 { return int64(time.Since(l.start)) + 1 }

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
