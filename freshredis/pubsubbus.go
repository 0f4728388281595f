package freshredis

import (
	"context"
	"errors"
	"fmt"
	"github.com/freshcache/fresh/internal/backoff"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
	"github.com/redis/go-redis/v9"
)

// PubSubBus is a fresh.Bus on one Redis Pub/Sub channel: the lowest latency, at the
// price of a loss report on every reconnect.
//
// Publish sends the message with PUBLISH and returns once Redis has replied; every
// subscription holds a connection subscribed to the channel. One channel on one
// server delivers the messages to all its subscribers in the order it received them,
// one order for all, more than fresh.Bus requires.
//
// On a *redis.ClusterClient the bus uses sharded Pub/Sub (SPUBLISH and SSUBSCRIBE,
// Redis 7.0 or later): the channel lives on the primary of its slot, and publishers
// and subscribers all talk to that one server. Plain PUBLISH on a cluster would not
// do: a publisher reaches any node, which forwards the message to the others over
// the cluster bus, so a subscriber could receive a message from one node before an
// older one from another, even one whose Publish had returned. With a ClusterClient
// whose ReadOnly option is set, subscribers may read from a replica of that primary,
// which relays the primary's order. On a *redis.Client (one server or a Sentinel
// failover group) the bus uses PUBLISH and SUBSCRIBE. A *redis.Ring is refused: when
// it takes a shard for down it sends publishers to another shard, while a
// subscriber can still be connected to the old one and hear nothing (a StreamBus
// would see its stream missing there and report the loss).
//
// Pub/Sub does not replay what a subscriber missed. A subscription subscribes again
// on a new connection whenever receiving fails, its connection stops answering
// pings, or the server ends the subscription (as a cluster does when the channel's
// slot moves). It calls HandleLoss when the subscription is interrupted, to report
// the outage at once, and again when it is subscribed again: the messages published
// in between are gone, and every message received after that second report was
// published after it.
//
// The bus never closes the client it was given. Its zero value is not usable; call
// NewPubSubBus.
type PubSubBus struct {
	client  redis.UniversalClient
	o       PubSubBusOptions // defaults filled in; read-only after construction
	channel string
	sharded bool // SPUBLISH and SSUBSCRIBE rather than PUBLISH and SUBSCRIBE
	log     *slog.Logger

	closed atomic.Bool
	mu     sync.Mutex
	subs   map[*pubsubSubscription]struct{} // guarded by mu; nil after Close
}

var _ fresh.Bus = (*PubSubBus)(nil)

// PubSubBusOptions configure a PubSubBus.
type PubSubBusOptions struct {
	// Namespace names the bus: its channel is "fresh:v1:{Namespace}:bus". Every
	// process that shares invalidations uses the same Namespace. At most 128 bytes,
	// without '{' or '}'. Default DefaultNamespace ("fresh").
	Namespace string
	// MaxMessageSize is the size of the largest message that Publish accepts, in
	// bytes. Default DefaultMaxMessageSize (1 MiB), the largest message fresh sends.
	MaxMessageSize int
	// PingInterval paces the health check of each subscription's connection: after
	// PingInterval without anything received, the subscription sends a PING, and if
	// nothing has come back by the next check it takes the connection for dead,
	// reports a loss and reconnects. At least a millisecond; default 2 s.
	PingInterval time.Duration
	// Logger receives warnings about background failures: lost connections,
	// re-subscriptions. Nil means slog.Default().
	Logger *slog.Logger
}

// defaultPubSubPingInterval is the default of PubSubBusOptions.PingInterval.
const defaultPubSubPingInterval = 2 * time.Second

// NewPubSubBus returns a PubSubBus on client configured by o. It does not contact
// Redis. It returns an error if client is nil or a field of o is invalid. The bus
// never closes client.
func NewPubSubBus(client redis.UniversalClient, o PubSubBusOptions) (*PubSubBus, error) {
	var errs []error
	if busClientIsNil(client) {
		errs = append(errs, errors.New("freshredis: NewPubSubBus: nil client"))
	} else if _, ok := client.(*redis.Ring); ok {
		errs = append(errs, errors.New("freshredis: NewPubSubBus: a *redis.Ring can move the channel to another shard unnoticed; use a StreamBus"))
	}
	ns, err := busNamespace("PubSubBusOptions", o.Namespace)
	if err != nil {
		errs = append(errs, err)
	}
	if o.MaxMessageSize < 0 {
		errs = append(errs, fmt.Errorf("freshredis: PubSubBusOptions.MaxMessageSize %d is negative", o.MaxMessageSize))
	}
	if o.PingInterval < 0 || (o.PingInterval > 0 && o.PingInterval < time.Millisecond) {
		errs = append(errs, fmt.Errorf("freshredis: PubSubBusOptions.PingInterval %v is not at least 1ms", o.PingInterval))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	o.Namespace = ns
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.PingInterval == 0 {
		o.PingInterval = defaultPubSubPingInterval
	}
	_, sharded := client.(*redis.ClusterClient)
	return &PubSubBus{
		client:  client,
		o:       o,
		channel: busKey(o.Namespace),
		sharded: sharded,
		log:     busLogger(o.Logger),
		subs:    make(map[*pubsubSubscription]struct{}),
	}, nil
}

// Channel returns the name of the bus's channel.
func (b *PubSubBus) Channel() string { return b.channel }

// Publish sends msg to the channel and returns once Redis has acknowledged it. It
// returns an error wrapping ErrMessageTooLarge for a message longer than
// MaxMessageSize, ErrBusClosed after Close, and the context's error if ctx is done.
func (b *PubSubBus) Publish(ctx context.Context, msg []byte) error {
	if err := busCheckPublish(ctx, b.closed.Load(), msg, b.o.MaxMessageSize); err != nil {
		return err
	}
	var err error
	if b.sharded {
		err = b.client.SPublish(ctx, b.channel, msg).Err()
	} else {
		err = b.client.Publish(ctx, b.channel, msg).Err()
	}
	if err != nil {
		return fmt.Errorf("freshredis: publish to channel %q: %w", b.channel, err)
	}
	return nil
}

// Subscribe registers h and returns once Redis has confirmed the subscription, so
// that every message published afterwards reaches h. The subscription's goroutine
// calls h until its Close or the bus's.
func (b *PubSubBus) Subscribe(ctx context.Context, h fresh.Handler) (fresh.Subscription, error) {
	if err := busCheckSubscribe(ctx, b.closed.Load(), h); err != nil {
		return nil, err
	}
	ps := b.open(ctx)
	if err := b.confirm(ctx, ps); err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("freshredis: subscribe to channel %q: %w", b.channel, err)
	}
	s := &pubsubSubscription{bus: b, ps: ps, epoch: time.Now(), watchdogDone: make(chan struct{})}
	runCtx := s.init(h)
	s.touch()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		s.stop()
		_ = ps.Close()
		return nil, ErrBusClosed
	}
	b.subs[s] = struct{}{}
	go s.run(runCtx)
	return s, nil
}

// open returns a new PubSub subscribed (or about to be) to the channel. go-redis
// sends the SUBSCRIBE at once, or on the first Receive if it could not connect.
func (b *PubSubBus) open(ctx context.Context) *redis.PubSub {
	if b.sharded {
		return b.client.SSubscribe(ctx, b.channel)
	}
	return b.client.Subscribe(ctx, b.channel)
}

// confirm waits for the server's confirmation of the subscription on ps. If ctx
// ends first, it closes ps, which ends the wait, and returns the context's error.
func (b *PubSubBus) confirm(ctx context.Context, ps *redis.PubSub) error {
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	for {
		// go-redis also bounds the read by ctx's deadline, if it has one.
		msg, err := ps.Receive(ctx)
		if err != nil {
			stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if m, ok := msg.(*redis.Subscription); ok && b.isSubscribe(m) {
			if !stop() {
				return ctx.Err() // ps was closed, or is being closed
			}
			return nil
		}
		// Nothing else comes before the confirmation on a new connection; ignore it.
	}
}

// isSubscribe reports whether m confirms a subscription to the bus's channel.
func (b *PubSubBus) isSubscribe(m *redis.Subscription) bool {
	return m.Channel == b.channel && (m.Kind == "subscribe" || m.Kind == "ssubscribe")
}

// isUnsubscribe reports whether m ends a subscription to the bus's channel.
func (b *PubSubBus) isUnsubscribe(m *redis.Subscription) bool {
	return m.Channel == b.channel && (m.Kind == "unsubscribe" || m.Kind == "sunsubscribe")
}

// Close closes every subscription, waiting for their goroutines (except one that
// calls Close from its handler), and makes later Publish and Subscribe calls fail.
// It does not close the client. Close is idempotent and returns nil.
func (b *PubSubBus) Close() error {
	b.closed.Store(true)
	b.mu.Lock()
	subs := b.subs
	b.subs = nil
	b.mu.Unlock()
	for s := range subs {
		s.shutdown()
	}
	for s := range subs {
		s.wait()
	}
	return nil
}

// remove unregisters s.
func (b *PubSubBus) remove(s *pubsubSubscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, s) // a no-op on the nil map after Close
}

// pubsubSubscription is a subscription to a PubSubBus. Its goroutine, run, receives
// from ps and delivers; a second goroutine, watchdog, pings the connection when it
// has been quiet and closes ps when even the ping gets no answer. run replaces a
// closed ps with a new one. run waits for the watchdog before it returns.
type pubsubSubscription struct {
	busSub
	bus *PubSubBus

	mu sync.Mutex
	ps *redis.PubSub // guarded by mu; replaced by run after it was closed

	epoch        time.Time
	lastRecv     atomic.Int64  // when run last received something or began to wait, in ns since epoch
	receiving    atomic.Bool   // run is waiting in Receive (not in the handler, not pausing)
	watchdogDone chan struct{} // closed when the watchdog has returned
}

// Close stops delivery: once it returns, the handler is not called again. It waits
// for a handler call in progress, unless it is called by that handler. Close is
// idempotent and returns nil.
func (s *pubsubSubscription) Close() error {
	s.shutdown()
	s.bus.remove(s)
	s.wait()
	return nil
}

// shutdown stops the subscription and closes its PubSub, which ends a Receive in
// progress.
func (s *pubsubSubscription) shutdown() {
	if !s.stop() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.ps.Close()
}

// current returns the PubSub in use.
func (s *pubsubSubscription) current() *redis.PubSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ps
}

// touch records that run received something or began to wait now.
func (s *pubsubSubscription) touch() { s.lastRecv.Store(int64(time.Since(s.epoch))) }

// quiet returns how long run has waited for something to receive.
func (s *pubsubSubscription) quiet() time.Duration {
	return time.Since(s.epoch) - time.Duration(s.lastRecv.Load())
}

// run receives and delivers until the subscription is closed.
//
// Whenever Receive fails, the state of the subscription on the server is unknown,
// so run starts over: after a pause, a new PubSub on a new connection. (go-redis
// reconnects by itself after a network error, but not, for instance, when a cluster
// node answers SSUBSCRIBE with MOVED.) Every confirmation that run receives is such
// a new subscription, since Subscribe took the first one.
func (s *pubsubSubscription) run(ctx context.Context) {
	defer close(s.done)
	s.begin()
	go s.watchdog(ctx)
	defer func() {
		s.shutdown() // a no-op unless run ends on its own
		<-s.watchdogDone
	}()

	b := s.bus
	var retry backoff.Retry
	down := false // a loss was reported when the subscription was lost
	interrupted := func(err error) {
		if down {
			return
		}
		down = true
		b.log.Warn("freshredis: pub/sub bus subscription interrupted; subscribing again", "channel", b.channel, "err", err)
		s.loss(err)
	}
	for !s.closed.Load() {
		ps := s.current()
		s.touch()
		s.receiving.Store(true)
		msg, err := ps.Receive(ctx)
		s.receiving.Store(false)
		if s.closed.Load() {
			return
		}
		if err != nil {
			interrupted(fmt.Errorf("%w: %w", ErrPubSubInterrupted, err))
			retry.Failed()
			if !retry.Sleep(ctx) {
				return
			}
			s.reopen(ctx, ps)
			continue
		}
		retry.Recovered()
		switch m := msg.(type) {
		case *redis.Message:
			switch {
			case m.Channel != b.channel:
			case m.PayloadSlice != nil:
				// Not what PUBLISH sends: a message with an array for payload.
				err := fmt.Errorf("%w: a message on channel %q with %d payloads", ErrMalformedEntry, b.channel, len(m.PayloadSlice))
				b.log.Warn("freshredis: pub/sub bus message dropped", "err", err)
				s.loss(err)
			default:
				s.message(m.Payload)
			}
		case *redis.Subscription:
			switch {
			case b.isSubscribe(m):
				// Subscribed again: what was published in between is gone.
				down = false
				err := fmt.Errorf("%w: subscribed again; messages published while the subscription was down are lost", ErrPubSubInterrupted)
				b.log.Info("freshredis: pub/sub bus subscribed again", "channel", b.channel)
				s.loss(err)
			case b.isUnsubscribe(m):
				// The server ended the subscription (a cluster does when the
				// channel's slot moves to another node).
				interrupted(fmt.Errorf("%w: the server ended the subscription (%s)", ErrPubSubInterrupted, m.Kind))
				s.reopen(ctx, ps)
			}
		}
	}
}

// reopen replaces old, if it is still the PubSub in use, with a new one on a new
// connection. The new one's confirmation reaches run as a re-subscription; if it
// cannot subscribe, its Receive fails and run tries again.
func (s *pubsubSubscription) reopen(ctx context.Context, old *redis.PubSub) {
	if cc, ok := s.bus.client.(*redis.ClusterClient); ok {
		cc.ReloadState(ctx) // the channel's slot may have moved
	}
	ps := s.bus.open(ctx) // dials: not under s.mu, which Close takes
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() || s.ps != old {
		_ = ps.Close()
		return
	}
	_ = old.Close()
	s.ps = ps
}

// watchdog pings the connection when run has waited PingInterval for anything to
// receive, and closes the PubSub when nothing at all came back within the next
// interval, so that run reconnects rather than wait forever on a dead connection.
// Time that run spends in the handler or pausing before a retry does not count.
func (s *pubsubSubscription) watchdog(ctx context.Context) {
	defer close(s.watchdogDone)
	every := s.bus.o.PingInterval
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.receiving.Load() {
			continue
		}
		switch quiet := s.quiet(); {
		case quiet >= 2*every:
			s.bus.log.Warn("freshredis: pub/sub bus connection does not answer; reconnecting",
				"channel", s.bus.channel, "quiet", quiet)
			s.mu.Lock()
			_ = s.ps.Close()
			s.mu.Unlock()
		case quiet >= every:
			ps := s.current()
			pctx, cancel := context.WithTimeout(ctx, every)
			_ = ps.Ping(pctx) // the answer, or its absence, is what counts
			cancel()
		}
	}
}
