package freshredis

// Tests of the buses on private servers, which they restart, and on a private
// Redis Cluster, whose slots they move. They use the Store tests' helpers that
// start redis-server processes.

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
	"github.com/redis/go-redis/v9"
)

// busTestPublishRetrying publishes msg, retrying for a while: right after a server
// restart, the client's pooled connections fail once each.
func busTestPublishRetrying(t *testing.T, bus fresh.Bus, msg string) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(busTestWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = bus.Publish(ctx, []byte(msg))
		cancel()
		if err == nil {
			return
		}
	}
	t.Fatalf("Publish(%q) after a restart: %v", msg, err)
}

// TestStreamBusServerRestart restarts the server under a subscriber: without
// persistence the stream is gone, and the subscriber reports the loss; with an
// append-only file synced at every write the stream survives, and the subscriber
// reads on without a loss.
func TestStreamBusServerRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"without persistence", nil, []string{"before", "LOSS", "after"}},
		{"with AOF", []string{"--appendonly", "yes", "--appendfsync", "always"}, []string{"before", "after"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := storeTestStartServer(t, tc.args...)
			bus := busTestStreamBus(t, srv.Client(), StreamBusOptions{Namespace: "restart", Block: 100 * time.Millisecond})
			r := newBusTestRecorder()
			if _, err := bus.Subscribe(busTestCtx(t), r); err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			busTestPublish(t, bus, "before")
			r.waitMessage(t, "before")
			srv.Restart()
			busTestPublishRetrying(t, bus, "after")
			busTestExpect(t, r.waitMessage(t, "after"), ErrStreamGap, tc.want...)
		})
	}
}

// TestPubSubBusServerRestart restarts the server under a subscriber, which reports
// the loss and receives what is published once it has subscribed again.
func TestPubSubBusServerRestart(t *testing.T) {
	t.Parallel()
	srv := storeTestStartServer(t)
	bus := busTestPubSubBus(t, srv.Client(), PubSubBusOptions{Namespace: "restart"})
	r := newBusTestRecorder()
	if _, err := bus.Subscribe(busTestCtx(t), r); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	busTestPublish(t, bus, "before")
	r.waitMessage(t, "before")
	srv.Restart()
	busTestPublishRetrying(t, bus, "probe -1")
	busTestCheckReconnect(t, busTestProbe(t, bus, r))
}

// TestBusesOnCluster runs the conformance suite on both buses over a Redis
// Cluster, where the PubSubBus uses sharded Pub/Sub, and moves the channel's slot
// under a PubSubBus subscriber.
func TestBusesOnCluster(t *testing.T) {
	t.Parallel()
	cluster := storeTestStartCluster(t)
	cc1, cc2 := cluster.Client(t), cluster.Client(t)
	stream := func(c redis.UniversalClient, ns string) fresh.Bus {
		return busTestStreamBus(t, c, StreamBusOptions{Namespace: ns})
	}
	pubsub := func(c redis.UniversalClient, ns string) fresh.Bus {
		return busTestPubSubBus(t, c, PubSubBusOptions{Namespace: ns})
	}
	for _, kind := range []struct {
		name string
		make func(c redis.UniversalClient, ns string) fresh.Bus
	}{{"StreamBus", stream}, {"PubSubBus", pubsub}} {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			freshtest.TestBus(t, func(t *testing.T) fresh.Bus {
				ns := busTestNamespace(t, cc1)
				return &busTestSplit{buses: []fresh.Bus{kind.make(cc1, ns), kind.make(cc2, ns)}}
			})
		})
	}
	t.Run("PubSubBusSlotMoves", func(t *testing.T) {
		t.Parallel()
		testPubSubBusSlotMoves(t, cluster, cc1)
	})
}

// testPubSubBusSlotMoves moves the slot of a PubSubBus's channel to another node:
// the subscriber, which the old node unsubscribes, reports the loss, subscribes on
// the new node, and receives what is published there.
func testPubSubBusSlotMoves(t *testing.T, cluster *storeTestCluster, cc *redis.ClusterClient) {
	ctx := busTestCtx(t)
	bus := busTestPubSubBus(t, cc, PubSubBusOptions{Namespace: busTestRandomName("slot-")})
	if !bus.sharded {
		t.Fatal("a PubSubBus on a ClusterClient does not use sharded Pub/Sub")
	}
	r := newBusTestRecorder()
	if _, err := bus.Subscribe(ctx, r); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	busTestPublish(t, bus, "before")
	r.waitMessage(t, "before")

	slot, err := cc.ClusterKeySlot(ctx, bus.Channel()).Result()
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT: %v", err)
	}
	shards, err := cc.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER SHARDS: %v", err)
	}
	// The primaries: the one that owns the slot, src, and another one, dst.
	var src, dst struct{ id, addr string }
	for _, sh := range shards {
		for _, n := range sh.Nodes {
			if n.Role != "master" {
				continue
			}
			owns := false
			for _, rg := range sh.Slots {
				owns = owns || (rg.Start <= slot && slot <= rg.End)
			}
			p := struct{ id, addr string }{n.ID, net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))}
			if owns {
				src = p
			} else {
				dst = p
			}
		}
	}
	if src.id == "" || dst.id == "" {
		t.Fatalf("slot %d: no owner and other primary in %+v", slot, shards)
	}
	node := func(addr string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		return c
	}
	setSlot := func(c *redis.Client, args ...any) {
		t.Helper()
		if err := c.Do(ctx, append([]any{"cluster", "setslot", slot}, args...)...).Err(); err != nil {
			t.Fatalf("CLUSTER SETSLOT %d %v: %v", slot, args, err)
		}
	}
	// The slot holds no key (the channel is not one), so nothing needs migrating.
	srcC, dstC := node(src.addr), node(dst.addr)
	setSlot(dstC, "importing", src.id)
	setSlot(srcC, "migrating", dst.id)
	setSlot(dstC, "node", dst.id)
	setSlot(srcC, "node", dst.id)
	for _, addr := range cluster.Addrs() {
		if addr != src.addr && addr != dst.addr {
			setSlot(node(addr), "node", dst.id)
		}
	}
	t.Logf("moved slot %d of channel %q from %s to %s", slot, bus.Channel(), src.addr, dst.addr)

	busTestCheckReconnect(t, busTestProbe(t, bus, r))
}
