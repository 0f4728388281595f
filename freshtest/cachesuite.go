package freshtest

import (
	"context"
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

// TestCachesOverBus runs caches over a Bus end to end, as separate processes would
// use it: each cache has a Hub of its own, so only the bus carries invalidations
// between them. newBus returns one isolated bus per call; the caches of a subtest
// share one. It checks that invalidations, deletions, patterns and flushes arrive,
// that a healthy bus keeps the caches serving (heartbeats return within
// MaxStaleness), and that a value loaded concurrently with a remote invalidation is
// not served after the invalidation arrives.
func TestCachesOverBus(t *testing.T, newBus func(t *testing.T) fresh.Bus) {
	t.Run("Propagation", func(t *testing.T) { testPropagation(t, newBus(t)) })
	t.Run("StaysLive", func(t *testing.T) { testStaysLive(t, newBus(t)) })
	t.Run("RemoteInvalidationFencesLoad", func(t *testing.T) { testRemoteFence(t, newBus(t)) })
}

func busCache(t *testing.T, bus fresh.Bus) *fresh.Cache[string, int] {
	t.Helper()
	h, err := fresh.NewHub(fresh.HubOptions{Bus: bus, MaxStaleness: 2 * time.Second, Heartbeat: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("fresh.NewHub over the bus: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("Hub.Close: %v", err)
		}
	})
	c, err := fresh.New(fresh.Options[string, int]{Hub: h, Name: "suite"})
	if err != nil {
		t.Fatalf("fresh.New over the bus: %v", err)
	}
	return c
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}

func gone(c *fresh.Cache[string, int], key string) func() bool {
	return func() bool { _, ok := c.Get(key); return !ok }
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testPropagation(t *testing.T, bus fresh.Bus) {
	ctx := context.Background()
	a, b := busCache(t, bus), busCache(t, bus)
	must(t, b.Set(ctx, "dep", 1, fresh.DependsOn(fresh.Entity("things", 1))))
	must(t, b.Set(ctx, "key", 2))
	must(t, b.Set(ctx, "p:1", 3))
	must(t, b.Set(ctx, "other", 4))

	must(t, a.Invalidate(ctx, fresh.Entity("things", 1)))
	waitFor(t, "the invalidation arrives", gone(b, "dep"))
	must(t, a.Delete(ctx, "key"))
	waitFor(t, "the deletion arrives", gone(b, "key"))
	must(t, a.InvalidatePattern(ctx, "p:*"))
	waitFor(t, "the pattern arrives", gone(b, "p:1"))
	if _, ok := b.Get("other"); !ok {
		t.Fatal("an unrelated entry was removed")
	}
	must(t, a.Flush(ctx))
	waitFor(t, "the flush arrives", gone(b, "other"))
	if s := b.Hub().Stats(); s.Gaps != 0 || s.Dropped != 0 {
		t.Errorf("receiver saw %d gaps and %d dropped messages on a healthy bus", s.Gaps, s.Dropped)
	}
}

func testStaysLive(t *testing.T, bus fresh.Bus) {
	ctx := context.Background()
	c := busCache(t, bus)
	must(t, c.Set(ctx, "k", 1))
	time.Sleep(3 * time.Second) // longer than MaxStaleness: heartbeats must have returned
	if s := c.Hub().Stats(); s.Suspended {
		t.Fatal("the cache suspended itself on a healthy bus: its heartbeats did not come back")
	}
	if _, ok := c.Get("k"); !ok {
		t.Fatal("a healthy cache stopped serving")
	}
}

func testRemoteFence(t *testing.T, bus fresh.Bus) {
	ctx := context.Background()
	a, b := busCache(t, bus), busCache(t, bus)
	entered, release := make(chan struct{}), make(chan struct{})
	version := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = b.GetOrLoad(ctx, "k", func(ctx context.Context, _ string) (int, error) {
			fresh.Depend(ctx, fresh.Tag("t"))
			v := version
			close(entered)
			<-release
			return v, nil
		})
	}()
	<-entered
	version = 1
	must(t, a.Invalidate(ctx, fresh.Tag("t")))
	// Wait until b has applied it: a marker set after it goes when a later
	// invalidation arrives (a bus delivers one publisher's messages in order).
	must(t, b.Set(ctx, "marker", 0, fresh.DependsOn(fresh.Tag("marker"))))
	must(t, a.Invalidate(ctx, fresh.Tag("marker")))
	waitFor(t, "the invalidations arrive", gone(b, "marker"))
	close(release)
	<-done
	if v, ok := b.Get("k"); ok {
		t.Fatalf("a load that read before a remote invalidation was served after it arrived: %d", v)
	}
}
