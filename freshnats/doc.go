// Package freshnats connects fresh to NATS, through nats.go: a Bus that carries
// invalidations between processes on one NATS subject.
//
//	nc, err := nats.Connect("nats://127.0.0.1:4222", nats.MaxReconnects(-1))
//	...
//	bus, err := freshnats.New(nc, freshnats.Options{Namespace: "shop"})
//	...
//	hub, err := fresh.NewHub(fresh.HubOptions{Bus: bus})
//
// New takes a connection the application made, which the bus never closes;
// OpenURL makes its own from a URL (the CLI's --bus flag), and closes it in Close:
//
//	bus, err := freshnats.OpenURL(ctx, "nats://127.0.0.1:4222?jetstream=1", freshnats.Options{})
//
// The URL is nats://[user:password@]host[:port] (tls:// for TLS, a comma-separated
// list for several seeds), with the parameters jetstream=1 (JetStream mode) and
// namespace=NAME.
//
// Processes share invalidations when they use the same server (or cluster, in
// JetStream mode), the same namespace (default "fresh") and the same mode. A bus of
// namespace ns uses the subject "fresh.v1.<ns>.bus" and, in JetStream mode, the
// stream "fresh_v1_<ns>".
//
// # Frames
//
// Every NATS message of the bus is a frame: a 20-byte header (a magic number, a
// version, flags, the id of the publishing Bus and its sequence number for that
// frame) and the payload. A message larger than the server's max_payload (1 MiB by
// default, just short of what fresh may send) is split into several frames that
// the subscribers put back together. A message on the subject that is not a frame
// of this package is reported as a loss (ErrMalformedMessage), counted in Stats,
// and dropped; what follows is delivered.
//
// # Core mode (the default)
//
// Publish sends the frame and then flushes the connection (a PING, answered once
// the server has processed everything before it): when Publish returns, the server
// has handed the message to every subscriber connection, which fixes its place.
// Subscribe subscribes and flushes likewise, so that the server has the
// subscription before it returns. Over loopback, a message reached a subscriber on
// another connection a median of 0.03 to 0.06 ms after Publish was called, and 0.08
// to 0.21 ms at the 99th percentile (BenchmarkFanout, on a busy 2-core machine).
//
// The order that core NATS gives, on one server, is:
//
//   - each publisher's messages in the order it published them;
//   - a message after every message whose Publish returned before its own Publish
//     began, whoever published them: the property behind fresh's heartbeats;
//   - one order for all the subscriptions of one Bus, which share one NATS
//     subscription.
//
// It does not give subscribers on different connections one order for messages
// published at the same time by different connections: the server hands each
// message to the subscriber connections from the goroutine of the connection that
// published it, so two messages published at once can reach two subscriber
// connections in opposite orders (freshtest.TestBus over two connections logs it
// in most runs of 4,000 concurrent messages). fresh.Bus allows that: fresh's
// messages only remove entries (tombstones, deletions, flushes), so the order of
// two that overlap does not change what any cache ends with. JetStream mode gives
// one order for all.
//
// A NATS cluster forwards messages between servers asynchronously, which breaks
// even the second property for subscribers on different servers: New refuses a
// core-mode bus on a connection that knows of more than one server, unless
// Options.AllowCluster is set (then it logs a warning).
//
// Core NATS does not replay, and a message lost is gone. A subscription reports
// HandleLoss before delivering anything received after:
//
//   - the connection going down (ErrDisconnected, reported at once) and being
//     re-established (reported again: what was published in between is lost);
//   - the NATS client dropping messages of the subscription (ErrSlowConsumer),
//     and the server cutting off a client too slow to read, which is a reconnection;
//   - a skip in the sequence numbers of a publisher the subscription had heard from
//     (ErrSequenceGap);
//   - a frame that is malformed, or a fragment that belongs to no message
//     (ErrMalformedMessage).
//
// A publisher's last messages before it falls silent can be lost without a later
// frame to show the gap; fresh's heartbeats, which carry each publisher's last
// sequence number, catch that case.
//
// # JetStream mode
//
// With Options.JetStream (or ?jetstream=1), the subject is captured by a stream,
// which the bus creates if it is missing (Options.Replicas, Storage, MaxMsgs,
// MaxBytes and MaxAge configure it; a stream that exists is used as it is, if it
// captures the bus's subject alone with the limits retention policy). Publish
// returns once the stream has acknowledged the message: its stream sequence is its
// place in the order, one order for every subscriber, on one server or a cluster.
// In the same benchmark, a message reached a subscriber a median of 0.055 to 0.08
// ms after Publish was called, and 0.16 to 0.42 ms at the 99th percentile.
//
// The first subscription of a bus creates a consumer of its own (ephemeral, in
// memory, without acknowledgements) that starts after the stream's last message, and
// checks each message's stream sequence against the last one it delivered. When a
// connection breaks, or the consumer goes (a restarted server, a consumer idle for
// two minutes), it creates another that starts after the last message it
// delivered: a subscriber loses nothing the stream still holds. It reports
// HandleLoss(ErrStreamGap) before anything newer when the stream no longer holds
// what follows its position (the stream's MaxMsgs, MaxBytes or MaxAge removed it
// while the subscriber was away or behind, or someone purged or deleted it), or when
// the stream was deleted or replaced (a server restarted without the stream's
// storage: MemoryStorage), which it tells by the stream's creation time. A stream on
// file storage survives a restart of the server with nothing lost.
//
// A publish that failed (its error returned to the caller) may leave a skip in
// that publisher's sequence numbers; in this mode that is counted (Stats.Gaps) but
// not reported, since the stream's own sequence proves that the subscriber missed
// nothing the stream accepted.
//
// # Subscriptions
//
// All the subscriptions of one Bus share one feed: one NATS subscription (or one
// consumer), read by one goroutine, which hands each message to every
// subscription's queue in the order received. Each subscription has a goroutine of
// its own that calls its handler, so that handlers are never called concurrently
// and a slow handler delays only its own subscription. A subscription whose handler
// falls more than Options.QueueLen messages behind loses its backlog and receives
// HandleLoss(ErrSlowConsumer) in its place. A subscription that joins a running feed
// starts at a point after which it receives everything: in core mode, it publishes
// a control frame (which other subscribers count and ignore) and starts where that
// frame comes back; in JetStream mode, it skips what the stream held when it
// subscribed.
//
// The feed stops when its last subscription closes. Close stops every feed and
// waits for their goroutines (except for a handler that calls Close itself); no
// goroutine of the bus outlives it. An idle subscriber costs next to nothing: a
// follower process subscribed and idle for 5 s used about 0.2 ms of CPU in core
// mode and about 1 ms in JetStream mode, whose pulls the server answers with a
// heartbeat every second (TestIdleFollowerCPU).
package freshnats
