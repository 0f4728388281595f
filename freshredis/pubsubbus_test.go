package freshredis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
	"github.com/redis/go-redis/v9"
)

// TestPubSubBusConformance runs fresh's conformance suites on a PubSubBus, and on
// two PubSubBuses of one namespace on two clients (two processes).
func TestPubSubBusConformance(t *testing.T) {
	t.Parallel()
	c1, c2 := busTestClient(t, nil), busTestClient(t, nil)
	one := func(t *testing.T) fresh.Bus {
		return busTestPubSubBus(t, c1, PubSubBusOptions{Namespace: busTestNamespace(t, c1)})
	}
	two := func(t *testing.T) fresh.Bus {
		ns := busTestNamespace(t, c1)
		return &busTestSplit{buses: []fresh.Bus{
			busTestPubSubBus(t, c1, PubSubBusOptions{Namespace: ns}),
			busTestPubSubBus(t, c2, PubSubBusOptions{Namespace: ns}),
		}}
	}
	t.Run("Bus", func(t *testing.T) { t.Parallel(); freshtest.TestBus(t, one) })
	t.Run("BusTwoClients", func(t *testing.T) { t.Parallel(); freshtest.TestBus(t, two) })
	t.Run("CachesOverBus", func(t *testing.T) { t.Parallel(); freshtest.TestCachesOverBus(t, one) })
	t.Run("CachesOverBusTwoClients", func(t *testing.T) { t.Parallel(); freshtest.TestCachesOverBus(t, two) })
}

// busTestProbe publishes "probe 0", "probe 1", ... on bus until r has received one
// of them after a loss, and returns the events up to that probe.
func busTestProbe(t *testing.T, bus fresh.Bus, r *busTestRecorder) []busTestEvent {
	t.Helper()
	ctx := busTestCtx(t)
	deadline := time.Now().Add(busTestWait)
	for i := 0; time.Now().Before(deadline); i++ {
		if err := bus.Publish(ctx, fmt.Appendf(nil, "probe %d", i)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
		events := r.snapshot()
		lost := false
		for j, e := range events {
			lost = lost || e.loss != nil
			if lost && e.loss == nil && strings.HasPrefix(string(e.msg), "probe ") {
				return events[:j+1]
			}
		}
	}
	t.Fatalf("no message arrived after a loss; the handler received %s", busTestSummary(r.snapshot()))
	return nil
}

// busTestCheckReconnect checks the events of a PubSubBus subscriber that received
// "before", lost its connection, and received a probe after the reconnect: at least
// one loss, each wrapping ErrPubSubInterrupted, before any probe.
func busTestCheckReconnect(t *testing.T, events []busTestEvent) {
	t.Helper()
	if len(events) < 3 || string(events[0].msg) != "before" || events[1].loss == nil {
		t.Fatalf("the handler received %s; want before, a loss, ..., a probe", busTestSummary(events))
	}
	losses := 0
	for _, e := range events[1:] {
		if e.loss == nil {
			continue
		}
		losses++
		if !errors.Is(e.loss, ErrPubSubInterrupted) {
			t.Errorf("loss %v does not wrap ErrPubSubInterrupted", e.loss)
		}
	}
	t.Logf("%d losses reported; the first: %v; the last: %v", losses, events[1].loss, events[len(events)-2])
}

// TestPubSubBusKillReportsLoss kills the subscriber's connection: the subscriber
// reports the loss, and receives the messages published after it reconnected.
func TestPubSubBusKillReportsLoss(t *testing.T) {
	t.Parallel()
	admin := busTestClient(t, nil)
	name := busTestRandomName("fresh-bustest-subscriber-")
	subClient := busTestClient(t, func(o *redis.Options) { o.ClientName = name })
	ns := busTestNamespace(t, admin)
	pub := busTestPubSubBus(t, admin, PubSubBusOptions{Namespace: ns})
	sub := busTestPubSubBus(t, subClient, PubSubBusOptions{Namespace: ns})
	r := newBusTestRecorder()
	if _, err := sub.Subscribe(busTestCtx(t), r); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	busTestPublish(t, pub, "before")
	r.waitMessage(t, "before")
	if n := busTestKillClients(t, admin, name); n == 0 {
		t.Fatalf("found no connection named %q to kill", name)
	}
	busTestCheckReconnect(t, busTestProbe(t, pub, r))
}

// TestPubSubBusDeadConnection silences the subscriber's connection without closing
// it, as a peer that vanished does: the health check notices, the subscriber
// reports the loss and reconnects, and receives what is published afterwards.
func TestPubSubBusDeadConnection(t *testing.T) {
	t.Parallel()
	admin := busTestClient(t, nil)
	var hole busTestBlackhole
	subClient := busTestClient(t, func(o *redis.Options) { o.Dialer = hole.dial })
	ns := busTestNamespace(t, admin)
	pub := busTestPubSubBus(t, admin, PubSubBusOptions{Namespace: ns})
	sub := busTestPubSubBus(t, subClient, PubSubBusOptions{Namespace: ns, PingInterval: 100 * time.Millisecond})
	r := newBusTestRecorder()
	if _, err := sub.Subscribe(busTestCtx(t), r); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	busTestPublish(t, pub, "before")
	r.waitMessage(t, "before")
	start := time.Now()
	hole.silence()
	r.waitFor(t, "a loss", func(events []busTestEvent) bool { return len(events) > 1 })
	t.Logf("loss reported %v after the connection went silent", time.Since(start))
	busTestCheckReconnect(t, busTestProbe(t, pub, r))
}

// busTestBlackhole dials connections that it can silence: a silenced connection
// swallows what is written to it and what arrives on it, until it is closed.
type busTestBlackhole struct {
	mu    sync.Mutex
	conns []*busTestConn
}

func (h *busTestBlackhole) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	bc := &busTestConn{Conn: c}
	h.mu.Lock()
	h.conns = append(h.conns, bc)
	h.mu.Unlock()
	return bc, nil
}

// silence silences every connection dialed so far.
func (h *busTestBlackhole) silence() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.silent.Store(true)
	}
	h.conns = nil
}

type busTestConn struct {
	net.Conn
	silent atomic.Bool
}

func (c *busTestConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if !c.silent.Load() || err != nil {
			return n, err
		}
		// Swallowed; read on until the connection is closed or times out.
	}
}

func (c *busTestConn) Write(p []byte) (int, error) {
	if c.silent.Load() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// TestPubSubBusSlowHandler: a handler slower than the health check's interval is
// not taken for a dead connection.
func TestPubSubBusSlowHandler(t *testing.T) {
	t.Parallel()
	c := busTestClient(t, nil)
	bus := busTestPubSubBus(t, c, PubSubBusOptions{Namespace: busTestNamespace(t, c), PingInterval: 20 * time.Millisecond})
	r := newBusTestRecorder()
	r.hook = func(msg []byte) {
		if string(msg) == "slow" {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if _, err := bus.Subscribe(busTestCtx(t), r); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	busTestPublish(t, bus, "slow", "slow", "after")
	time.Sleep(100 * time.Millisecond) // idle too, with pings
	busTestPublish(t, bus, "last")
	busTestExpect(t, r.waitMessage(t, "last"), nil, "slow", "slow", "after", "last")
}
