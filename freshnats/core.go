package freshnats

// The core-NATS feed: one subscription to the subject, read by one goroutine, and a
// second goroutine that watches the connection's status.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/freshcache/fresh"
	"github.com/nats-io/nats.go"
)

// coreFeed reads a core-NATS subscription.
//
// Continuity. Core NATS does not replay, so the feed proves continuity from what it
// can see and reports a loss whenever it cannot:
//
//   - The connection's reconnection count, read under the connection's lock before
//     every message is delivered. nats.go counts a reconnection before it starts
//     reading from the new connection, so a message read after a reconnection is
//     always preceded by the loss report, whatever the order in which the status
//     events arrive.
//   - The status events of the connection (disconnected, reconnecting, connected,
//     closed), which report an outage as soon as it starts rather than at the next
//     message, and a reconnection even if no message follows it.
//   - The subscription's slow-consumer signal: NextMsg returns
//     nats.ErrSlowConsumer before any message received after nats.go dropped one.
//     (A server that finds the client too slow closes its connection, which is a
//     reconnection.)
//   - The publishers' sequence numbers in the frames: a skip is a loss.
//
// mu serialises those checks between the two goroutines, and guards asm and the
// state below: a check and the delivery or report that follows it happen under mu,
// so a reconnection found by one goroutine is reported once, and the publishers'
// sequence numbers are forgotten with it (what follows starts over).
type coreFeed struct {
	*feed
	sub    *nats.Subscription
	status chan nats.Status

	mu         sync.Mutex
	asm        *assembler              // guarded by mu
	reconnects uint64                  // guarded by mu: the connection's reconnection count, as last seen
	down       bool                    // guarded by mu: an outage was reported and has not ended
	joins      map[uint64]*pendingJoin // guarded by mu: subscriptions waiting for their control frame
}

// startCoreFeed subscribes to the subject, subscribes w to the feed, and returns
// the feed once the server has the NATS subscription.
func (b *Bus) startCoreFeed(ctx context.Context, w *filterHandler) (*feed, fresh.Subscription, error) {
	f, runCtx, err := newFeed(b)
	if err != nil {
		return nil, nil, err
	}
	// Read before subscribing: a reconnection after this point, even one before the
	// SUB reached the server, is reported.
	base := b.nc.Stats().Reconnects
	c := &coreFeed{feed: f, asm: newAssembler(b.o.MaxMessageSize), reconnects: base, joins: make(map[uint64]*pendingJoin)}
	f.join, f.impl = c.join, c
	w.runners = &f.runners
	c.status = b.nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CONNECTED, nats.CLOSED)
	c.sub, err = b.nc.SubscribeSync(b.subject)
	if err == nil {
		// The client's own buffer, between the connection and the feed's goroutine,
		// which hands every message on at once: its bounds only matter when that
		// goroutine is starved.
		msgs := max(b.o.QueueLen, 65_536)
		if b.o.pendingMsgs > 0 {
			msgs = b.o.pendingMsgs
		}
		err = c.sub.SetPendingLimits(msgs, max(b.o.QueueBytes, 64<<20))
	}
	if err == nil {
		// The server answers a PING after it has processed the SUB before it.
		err = b.nc.FlushWithContext(ctx)
	}
	var inner fresh.Subscription
	if err == nil {
		inner, err = f.local.Subscribe(context.Background(), w)
	}
	if err != nil {
		c.cleanup()
		f.cancel()
		_ = f.local.Close()
		return nil, nil, err
	}
	f.release = c.cleanup
	f.done.Add(2)
	go c.read(runCtx)
	go c.watch(runCtx)
	return f, inner, nil
}

// pendingJoin is a subscription waiting for its control frame to come back.
type pendingJoin struct {
	w    *filterHandler
	done chan joinResult // capacity 1
}

type joinResult struct {
	sub fresh.Subscription
	err error
}

// join subscribes w to the running feed at a point after which it receives every
// message: it publishes a control frame with a token of its own, and the feed's
// reader subscribes w when that frame comes back. The server processed every
// message that follows it in the subscription after the control frame, so after
// Publish of it and so after join returns (join waits for the frame, which proves
// too that the server still answers); what precedes it is not delivered to w.
func (c *coreFeed) join(ctx context.Context, w *filterHandler) (fresh.Subscription, error) {
	token := rand.Uint64()
	pj := &pendingJoin{w: w, done: make(chan joinResult, 1)}
	c.mu.Lock()
	c.joins[token] = pj
	c.mu.Unlock()
	if err := c.b.publishControl(ctx, token); err != nil {
		c.mu.Lock()
		delete(c.joins, token)
		c.mu.Unlock()
		return nil, err
	}
	select {
	case r := <-pj.done:
		return r.sub, r.err
	case <-ctx.Done():
	case <-c.stopped:
	}
	// Give up, unless the reader took the frame meanwhile: both happen under mu.
	c.mu.Lock()
	delete(c.joins, token)
	c.mu.Unlock()
	select {
	case r := <-pj.done:
		return r.sub, r.err
	default:
	}
	if c.isStopped() {
		return nil, ErrBusClosed
	}
	return nil, fmt.Errorf("the bus's control frame did not come back from the server: %w", ctx.Err())
}

// joined subscribes the handler waiting for token, if any. c.mu must be held.
func (c *coreFeed) joined(token uint64) {
	pj, ok := c.joins[token]
	if !ok {
		return // another bus's, or one given up
	}
	delete(c.joins, token)
	sub, err := c.local.Subscribe(context.Background(), pj.w)
	pj.done <- joinResult{sub, err}
}

// cleanup unsubscribes and removes the status listener.
func (c *coreFeed) cleanup() {
	if c.sub != nil {
		_ = c.sub.Unsubscribe()
	}
	c.b.nc.RemoveStatusListener(c.status)
}

// read receives messages until the feed stops or the connection closes.
func (c *coreFeed) read(ctx context.Context) {
	defer c.done.Done()
	var retry retryPacer
	for {
		m, err := c.sub.NextMsgWithContext(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			retry.recovered()
			c.message(m.Data)
		case errors.Is(err, nats.ErrSlowConsumer):
			c.mu.Lock()
			c.asm.forget()
			c.loss(fmt.Errorf("%w: the NATS client dropped %s", ErrSlowConsumer, c.droppedText()))
			c.mu.Unlock()
		case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrBadSubscription):
			// The connection was closed (or the subscription ended) under the bus:
			// nothing more will arrive.
			c.mu.Lock()
			c.loss(fmt.Errorf("%w: the subscription ended: %w", ErrDisconnected, err))
			c.mu.Unlock()
			return
		default:
			// Not expected from a synchronous subscription (a permissions error, when
			// the connection reports them): report it once and try again after a
			// pause, rather than spin.
			if retry.failed() {
				c.mu.Lock()
				c.loss(fmt.Errorf("%w: reading the subscription failed: %w", ErrDisconnected, err))
				c.mu.Unlock()
			}
			if !retry.sleep(ctx) {
				return
			}
		}
	}
}

// droppedText says how many messages the subscription has dropped so far.
func (c *coreFeed) droppedText() string {
	if n, err := c.sub.Dropped(); err == nil {
		return fmt.Sprintf("messages (%d so far): the feed did not keep up", n)
	}
	return "messages: the feed did not keep up"
}

// message checks continuity and delivers one NATS message.
func (c *coreFeed) message(data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checkReconnected()
	if token, control := c.frame(c.asm, data, true, position{}); control {
		c.joined(token)
	}
}

// checkReconnected reports a loss if the connection reconnected since it was last
// seen. c.mu must be held.
func (c *coreFeed) checkReconnected() {
	n := c.b.nc.Stats().Reconnects
	if n == c.reconnects {
		return
	}
	c.reconnects, c.down = n, false
	c.asm.forget()
	c.loss(fmt.Errorf("%w: the connection was re-established; what was published while it was down is gone (core NATS does not replay)", ErrDisconnected))
}

// watch reports an outage when the connection's status says so.
func (c *coreFeed) watch(ctx context.Context) {
	defer c.done.Done()
	for {
		var st nats.Status
		select {
		case <-ctx.Done():
			return
		case s, ok := <-c.status:
			if !ok {
				return
			}
			st = s
		}
		c.mu.Lock()
		switch st {
		case nats.DISCONNECTED, nats.RECONNECTING:
			if !c.down {
				c.down = true
				c.asm.forget()
				c.loss(fmt.Errorf("%w: %s", ErrDisconnected, c.lastErrText()))
			}
		case nats.CONNECTED:
			c.checkReconnected()
			// A reconnection may land in a cluster that the first connection was not
			// part of: warn (Subscribe refuses from now on).
			if err := c.b.checkCluster("reconnect"); err != nil {
				c.b.log.Warn("freshnats: connected to a cluster, where core NATS keeps no single order", "err", err)
			}
		case nats.CLOSED:
			c.loss(fmt.Errorf("%w: the connection was closed", ErrDisconnected))
		}
		c.mu.Unlock()
		if st == nats.CLOSED {
			return
		}
	}
}

// lastErrText describes why the connection went down, if nats.go says.
func (c *coreFeed) lastErrText() string {
	if err := c.b.nc.LastError(); err != nil {
		return "the connection went down: " + err.Error()
	}
	return "the connection went down"
}
