package fresh

import "context"

// A Bus carries invalidation messages between processes (and between caches in one
// process). It is byte-oriented: fresh encodes and decodes the messages, so one Bus
// implementation serves every Cache whatever its key and value types.
//
// Implementations must deliver every message to every subscriber, including the
// subscribers in the publishing process, in an order that keeps two rules:
//
//   - Each publisher's messages arrive in the order it published them, each once.
//   - If Publish(a) returned before Publish(b) was called, whether by the same
//     publisher or by another one, in this process or in another, every subscriber
//     receives a before b.
//
// Publish calls that overlap may reach different subscribers in different orders.
// fresh bounds staleness with heartbeats that each cache sends itself through the
// bus: when the heartbeat it published at time s comes back, it concludes that
// every message whose Publish returned before s has been applied, which is the
// second rule. No more is needed, because fresh's messages commute: each one
// removes entries (tombstones for names, deletions of keys, flushes) at the
// receiver's own next position, and removals give the same result in any order.
// Delivering each publisher's messages in its own order alone is not enough: one
// Redis stream or channel, a log table, a NATS subject on one server, or a
// JetStream stream provides the second rule; messages spread over several shards,
// partitions or servers that forward asynchronously do not.
//
// When a transport cannot promise that a subscriber saw every message (a reconnect
// without replay, a dropped buffer), it must call the subscriber's HandleLoss before
// delivering anything newer; fresh then flushes the caches that subscriber feeds.
// Silence must never stand for loss: that is the defect fresh exists to avoid.
//
// The freshtest package has a conformance suite, freshtest.TestBus, that every
// implementation should pass.
type Bus interface {
	// Publish sends msg to every subscriber. It returns once the transport has accepted
	// the message and so fixed its place in the order (for a network bus: once the
	// server acknowledged it), or with an error.
	// Publish must not retain msg after it returns.
	Publish(ctx context.Context, msg []byte) error
	// Subscribe registers h and returns once h will receive every message published
	// after Subscribe returned. ctx bounds the call only, not the subscription, which
	// lasts until its Close. Handlers are called from one goroutine per subscription,
	// in the order the bus delivers, never two calls at once; they must not block for
	// long.
	Subscribe(ctx context.Context, h Handler) (Subscription, error)
}

// A Handler receives what a Bus delivers.
type Handler interface {
	// HandleMessage receives one message. The handler must not retain msg after it
	// returns.
	HandleMessage(msg []byte)
	// HandleLoss reports that messages may have been lost (err says why). The
	// subscription continues; messages after the loss follow.
	HandleLoss(err error)
}

// A Subscription is an active registration of a Handler on a Bus.
type Subscription interface {
	// Close stops delivery. After Close returns, the handler is not called again.
	// Close may be called from inside the handler, and more than once.
	Close() error
}
