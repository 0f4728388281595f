package fresh_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

// eventually polls cond for up to 2 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}

// busHub returns a hub on bus, standing for one process.
func busHub(t *testing.T, bus fresh.Bus) *fresh.Hub {
	return newHub(t, fresh.HubOptions{Bus: bus, MaxStaleness: time.Second, Heartbeat: 50 * time.Millisecond})
}

// busCache returns a cache named name in a hub of its own on bus.
func busCache(t *testing.T, bus fresh.Bus, name string) *fresh.Cache[string, int] {
	return newCache(t, fresh.Options[string, int]{Hub: busHub(t, bus), Name: name})
}

// TestBusSharesInvalidations: caches in different hubs (standing for processes)
// hear each other's invalidations, deletions, patterns and flushes.
func TestBusSharesInvalidations(t *testing.T) {
	ctx := context.Background()
	bus := fresh.NewLocalBus()
	t.Cleanup(func() { bus.Close() })
	a, b, other := busCache(t, bus, "articles"), busCache(t, bus, "articles"), busCache(t, bus, "users")
	fill := func() {
		for _, c := range []*fresh.Cache[string, int]{b, other} {
			c.Set(ctx, "k1", 1, fresh.DependsOn(fresh.Entity("articles", 1)))
			c.Set(ctx, "k2", 2)
			c.Set(ctx, "user:1", 3)
			c.Set(ctx, "user:2", 4)
		}
	}
	missing := func(c *fresh.Cache[string, int], k string) func() bool {
		return func() bool { _, ok := c.Get(k); return !ok }
	}
	fill()
	if err := a.Invalidate(ctx, fresh.Entity("articles", 1)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b drops k1", missing(b, "k1"))
	eventually(t, "other drops k1 (dependencies are global)", missing(other, "k1"))

	fill()
	if err := a.Delete(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b drops k2", missing(b, "k2"))
	if err := a.InvalidatePattern(ctx, "user:*"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b drops user:1", missing(b, "user:1"))
	eventually(t, "b drops user:2", missing(b, "user:2"))
	// A marker after those messages: once b has it, it has applied them all.
	a.Invalidate(ctx, fresh.Tag("marker"))
	b.Set(ctx, "marker", 0, fresh.DependsOn(fresh.Tag("marker2")))
	a.Invalidate(ctx, fresh.Tag("marker2"))
	eventually(t, "b drops marker", missing(b, "marker"))
	for _, k := range []string{"k2", "user:1", "user:2"} {
		if _, ok := other.Get(k); !ok {
			t.Errorf("a key deletion for cache %q reached cache %q: %s", "articles", "users", k)
		}
	}
	fill()
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b flushed", missing(b, "user:1"))
	if s := b.Hub().Stats(); s.Received == 0 || s.Gaps != 0 {
		t.Errorf("b stats: %+v", s)
	}
}

// TestBusLossFlushes: a transport loss or a malformed message never leaves a cache
// serving what it might have missed.
func TestBusLossFlushes(t *testing.T) {
	ctx := context.Background()
	bus := fresh.NewLocalBus()
	t.Cleanup(func() { bus.Close() })
	b := busCache(t, bus, "x")
	b.Set(ctx, "k", 1)
	if err := bus.Publish(ctx, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the garbage is dropped", func() bool { return b.Hub().Stats().Dropped == 1 })
	if _, ok := b.Get("k"); !ok {
		t.Fatal("a malformed message flushed the cache; it should only be dropped")
	}
	bus.Disrupt(errors.New("connection reset"))
	eventually(t, "the loss flushes", func() bool { _, ok := b.Get("k"); return !ok })
	if s := b.Hub().Stats(); s.Gaps != 1 {
		t.Errorf("Gaps = %d; want 1", s.Gaps)
	}
	// Unknown versions are a gap too: a newer publisher's invalidations are unreadable.
	b.Set(ctx, "k", 1)
	bus.Publish(ctx, []byte{0xF5, 99, 1})
	eventually(t, "an unknown version flushes", func() bool { _, ok := b.Get("k"); return !ok })
}

// switchBus wraps a bus and can stop delivering (silently, as a dead subscription
// would) or fail publishing; it counts publishes.
type switchBus struct {
	fresh.Bus
	deaf, failing atomic.Bool
	publishes     atomic.Int64
}

type switchHandler struct {
	fresh.Handler
	b *switchBus
}

func (h switchHandler) HandleMessage(m []byte) {
	if !h.b.deaf.Load() {
		h.Handler.HandleMessage(m)
	}
}

func (s *switchBus) Subscribe(ctx context.Context, h fresh.Handler) (fresh.Subscription, error) {
	return s.Bus.Subscribe(ctx, switchHandler{h, s})
}

func (s *switchBus) Publish(ctx context.Context, m []byte) error {
	s.publishes.Add(1)
	if s.failing.Load() {
		return errors.New("bus down")
	}
	return s.Bus.Publish(ctx, m)
}

// TestSilentBusSuspends is guarantee G1: a cache whose subscription silently stops
// delivering stops serving within MaxStaleness, and flushes when it hears again.
func TestSilentBusSuspends(t *testing.T) {
	ctx := context.Background()
	local := fresh.NewLocalBus()
	t.Cleanup(func() { local.Close() })
	bus := &switchBus{Bus: local}
	h := newHub(t, fresh.HubOptions{Bus: bus, MaxStaleness: 200 * time.Millisecond, Heartbeat: 20 * time.Millisecond})
	c := newCache(t, fresh.Options[string, int]{Hub: h, Name: "c"})
	c.Set(ctx, "k", 1)
	time.Sleep(100 * time.Millisecond)
	if _, ok := c.Get("k"); !ok {
		t.Fatal("a healthy cache stopped serving")
	}
	bus.deaf.Store(true)
	eventually(t, "the deaf cache suspends", func() bool { return h.Stats().Suspended })
	if _, ok := c.Get("k"); ok {
		t.Fatal("a suspended cache served")
	}
	c.Set(ctx, "k2", 2)
	if _, ok := c.Get("k2"); ok {
		t.Fatal("a suspended cache served a new value")
	}
	bus.deaf.Store(false)
	eventually(t, "the cache resumes", func() bool { return !h.Stats().Suspended })
	if _, ok := c.Get("k"); ok {
		t.Fatal("a value from before the suspension was served after it")
	}
	c.Set(ctx, "k", 3)
	if v, ok := c.Get("k"); !ok || v != 3 {
		t.Fatalf("after resuming: %d, %v", v, ok)
	}
}

// TestPublishFailureRetried: a failed publish is reported, the local tier is already
// invalidated, and the message reaches the others once the bus is back.
func TestPublishFailureRetried(t *testing.T) {
	ctx := context.Background()
	local := fresh.NewLocalBus()
	t.Cleanup(func() { local.Close() })
	bus := &switchBus{Bus: local}
	a := busCache(t, bus, "x")
	b := busCache(t, local, "x")
	a.Set(ctx, "k", 1, fresh.DependsOn(fresh.Tag("t")))
	// a's Set deletes k from b (write-through): wait for that before b caches k.
	eventually(t, "a's Set reaches b", func() bool { return b.Hub().Stats().Received == 1 })
	b.Set(ctx, "k", 1, fresh.DependsOn(fresh.Tag("t")))
	bus.failing.Store(true)
	err := a.Invalidate(ctx, fresh.Tag("t"))
	if !errors.Is(err, fresh.ErrPublish) {
		t.Fatalf("Invalidate on a failing bus = %v; want ErrPublish", err)
	}
	if _, ok := a.Get("k"); ok {
		t.Fatal("the local tier was not invalidated")
	}
	time.Sleep(50 * time.Millisecond)
	if _, ok := b.Get("k"); !ok {
		t.Fatal("the invalidation arrived through a failing bus")
	}
	bus.failing.Store(false)
	eventually(t, "the retried invalidation reaches b", func() bool { _, ok := b.Get("k"); return !ok })
	eventually(t, "the queue drains", func() bool { return a.Hub().Stats().Pending == 0 })
	if a.Hub().Stats().PublishFails == 0 {
		t.Error("PublishFails not counted")
	}
}
