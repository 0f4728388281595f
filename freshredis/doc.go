// Package freshredis connects fresh to Redis, through go-redis v9: a Store, the
// tier that processes share, and two Buses, which carry invalidations between them.
//
//	client, err := freshredis.FromEnv() // FRESH_REDIS_URL; or any redis.UniversalClient
//	...
//	store, err := freshredis.NewStore(client, freshredis.StoreOptions{Namespace: "shop"})
//	...
//	bus, err := freshredis.NewStreamBus(client, freshredis.StreamBusOptions{Namespace: "shop"})
//	...
//	hub, err := fresh.NewHub(fresh.HubOptions{Store: store, Bus: bus})
//
// Everything here takes a redis.UniversalClient that the application built: a
// *redis.Client (one server, or a Sentinel failover group) or a *redis.ClusterClient.
// Nothing here ever closes it; close it after the hub, the store and the bus.
//
// # Namespaces
//
// Processes share entries and invalidations when they use the same Redis and the
// same namespace (default "fresh"). Every key of namespace ns begins with
// "fresh:v1:{ns}:": the braces are a cluster hash tag, so that a namespace lives in
// one slot and its scripts never cross slots. Store documents its keys; the buses use
// "fresh:v1:{ns}:bus", a stream for StreamBus and a channel for PubSubBus.
//
// # Buses
//
// Both buses deliver every message to every subscriber in one order (more than
// fresh.Bus requires: see its doc), and both pass freshtest.TestBus on a single server and on
// a cluster. They differ in what happens when a connection breaks.
//
// StreamBus, the default, appends each message to a Redis stream (Redis 5.0 or
// later) and has each subscriber read the stream from the last entry it delivered.
// A subscriber that loses its connection reads on where it stopped, losing
// nothing; it calls HandleLoss only when it cannot prove that it read every entry:
// the stream was trimmed past its position (see StreamBusOptions.MaxLen), deleted
// (FLUSHALL, a restart without persistence) or replaced, or an entry is not one the
// bus wrote. That proof costs a round trip per read: over loopback, a message
// reached four subscribers a median of 0.13 to 0.23 ms after Publish was called
// (BenchmarkStreamBusFanout).
//
// PubSubBus uses Redis Pub/Sub, sharded Pub/Sub on a cluster (Redis 7.0 or later).
// It is faster (a median of 0.03 to 0.06 ms in the same benchmark) but does not
// replay: every reconnect costs a HandleLoss, and so a flush of the caches that the
// subscriber feeds.
//
// Both buses refuse messages over MaxMessageSize (default 1 MiB, the largest message
// fresh sends) and stop their goroutines in Close.
package freshredis
