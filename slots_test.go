package fresh

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// The tombstone table (tracker.go) trades exactness for memory: dependencies that
// share slots are invalidated together. These tests attack what must still hold: no
// value outlives an invalidation of its own dependency, whatever the table's size,
// while it grows, and whatever the hits' memo remembers.

// TestMemoIgnoresInvalidationInProgress: a hit that finds an invalidation of its
// entry's dependency half done (position taken, tombstone not written) may serve the
// entry, since the invalidation has not returned, but must not remember the entry
// as valid at that position: once the invalidation returns, nothing moves the
// position again, and a memo would serve the dead entry for ever.
func TestMemoIgnoresInvalidationInProgress(t *testing.T) {
	ctx := context.Background()
	c := testCache(t, Options[string, int]{})
	c.Set(ctx, "k", 1, DependsOn(Tag("x")))
	c.Invalidate(ctx, Tag("unrelated")) // the hit below must look at the tombstones
	release, done := invalidateHalfway(t, func() { c.Invalidate(ctx, Tag("x")) })
	if v, ok := c.Get("k"); ok && v != 1 {
		t.Fatalf("Get during the invalidation = %d", v)
	}
	close(release)
	<-done
	if v, ok := c.Get("k"); ok {
		t.Fatalf("Get after the invalidation returned = %d: a memo taken while it was in progress kept the entry", v)
	}
}

// invalidateHalfway runs invalidate in a goroutine and returns once the invalidation
// has taken its position but written no tombstone; it goes on when release is
// closed, and done is closed when it has returned.
func invalidateHalfway(t *testing.T, invalidate func()) (release, done chan struct{}) {
	taken := make(chan struct{})
	release, done = make(chan struct{}), make(chan struct{})
	var once sync.Once
	setPauseHook(func(p pausePoint) {
		if p == pointPositionTaken {
			once.Do(func() { close(taken); <-release })
		}
	})
	t.Cleanup(func() { setPauseHook(nil) })
	go func() { defer close(done); invalidate() }()
	<-taken
	return release, done
}

// TestMemoAfterQuietLook: the memo is taken when the look finds nothing pending, and
// a later invalidation of the dependency still kills the entry.
func TestMemoAfterQuietLook(t *testing.T) {
	ctx := context.Background()
	c := testCache(t, Options[string, int]{})
	c.Set(ctx, "k", 1, DependsOn(Tag("x"), Tag("y")))
	c.Invalidate(ctx, Tag("unrelated"))
	for range 3 {
		if _, ok := c.Get("k"); !ok {
			t.Fatal("miss before any invalidation of the entry's dependencies")
		}
	}
	e, _ := c.l1.GetIfPresent("k")
	if memo := *(*uint64)(e.deps()) & memoMask; memo != c.t.pos.Load() {
		t.Fatalf("memo %d after quiet hits at position %d", memo, c.t.pos.Load())
	}
	c.Invalidate(ctx, Tag("y"))
	if _, ok := c.Get("k"); ok {
		t.Fatal("the entry survived an invalidation of its dependency after a memo")
	}
}

// TestNoValueOutlivesItsDependency: random entries and invalidations on tables from 2
// slots (every dependency shares its slots with every other) to the default. An entry
// whose dependency was invalidated after it was stored is never served; the others
// may be dropped with a shared slot, less often the larger the table.
func TestNoValueOutlivesItsDependency(t *testing.T) {
	ctx := context.Background()
	for _, slots := range []int{2, 4, 64, 0} {
		t.Run(fmt.Sprintf("slots=%d", slots), func(t *testing.T) {
			h := testHub(t, HubOptions{DependencySlots: slots})
			c := testCache(t, Options[int, int]{Hub: h, MaxEntries: 4096})
			r := rand.New(rand.NewPCG(uint64(slots), 7))
			const keys, names = 500, 300
			deps := make([][]int, keys) // the entry's dependencies
			dead := make([]bool, keys)  // one was invalidated after the Set
			var spurious, live int
			for round := range 20 {
				for k := range keys {
					if r.IntN(4) == 0 || round == 0 {
						deps[k] = deps[k][:0]
						var ds []Dep
						for range 1 + r.IntN(4) {
							n := r.IntN(names)
							deps[k] = append(deps[k], n)
							ds = append(ds, Entity("t", n))
						}
						if err := c.Set(ctx, k, round, DependsOn(ds...)); err != nil {
							t.Fatal(err)
						}
						dead[k] = false
					}
				}
				for range 10 {
					n := r.IntN(names)
					c.Invalidate(ctx, Entity("t", n))
					for k := range keys {
						for _, d := range deps[k] {
							if d == n {
								dead[k] = true
							}
						}
					}
				}
				for k := range keys {
					_, ok := c.Get(k)
					switch {
					case ok && dead[k]:
						t.Fatalf("round %d: key %d served after an invalidation of its dependency", round, k)
					case !ok && !dead[k]:
						spurious++
					case ok:
						live++
					}
				}
			}
			t.Logf("%d slots: %d reads of live entries, %d dropped with a shared slot", h.t.slotCount(), live, spurious)
			if slots == 0 && spurious > live/100 {
				t.Errorf("default table: %d of %d live reads dropped by shared slots", spurious, live+spurious)
			}
		})
	}
}

// TestGrowthKeepsTombstones: a table grown after invalidations keeps them: the dead
// entry stays dead, a fill that began before them is refused, and so is a Set dated
// before them.
func TestGrowthKeepsTombstones(t *testing.T) {
	ctx := context.Background()
	h := testHub(t, HubOptions{})
	c := testCache(t, Options[string, int]{Hub: h, MaxEntries: 10})
	pos := c.Position()
	c.Set(ctx, "dead", 1, DependsOn(Entity("t", 1)))
	entered, release := make(chan struct{}), make(chan struct{})
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		c.GetOrLoad(ctx, "slow", func(ctx context.Context, _ string) (int, error) {
			close(entered)
			<-release
			Depend(ctx, Entity("t", 2))
			return 1, nil
		})
	}()
	<-entered
	c.Invalidate(ctx, Entity("t", 1), Entity("t", 2))
	before := h.t.tab.Load()
	for range 6 {
		h.t.reserve(h.t.slotCount())
	}
	after := h.t.tab.Load()
	if len(after.tombs) != 64*len(before.tombs) {
		t.Fatalf("table grew from %d to %d slots; want 64 times", len(before.tombs), len(after.tombs))
	}
	for i := range after.tombs {
		if a, b := after.tombs[i].Load(), before.tombs[uint64(i)&before.mask].Load(); a < b {
			t.Fatalf("slot %d: %d after growth, %d before", i, a, b)
		}
	}
	close(release)
	<-loaded
	if _, ok := c.Get("dead"); ok {
		t.Error("an invalidated entry is served after growth")
	}
	if _, ok := c.Get("slow"); ok {
		t.Error("a fill that began before an invalidation was stored after growth")
	}
	c.Set(ctx, "asof", 1, DependsOn(Entity("t", 1)), AsOf(pos))
	if _, ok := c.Get("asof"); ok {
		t.Error("a Set dated before an invalidation was stored after growth")
	}
}

// TestGrowthWaitsForInvalidation: growth racing an invalidation whose tombstones are
// not written yet waits for them, so they land in the table the hits read.
func TestGrowthWaitsForInvalidation(t *testing.T) {
	ctx := context.Background()
	h := testHub(t, HubOptions{})
	c := testCache(t, Options[string, int]{Hub: h, MaxEntries: 10})
	c.Set(ctx, "k", 1, DependsOn(Tag("x")))
	release, invalidated := invalidateHalfway(t, func() { c.Invalidate(ctx, Tag("x")) })
	grown := make(chan struct{})
	go func() { defer close(grown); h.t.reserve(1 << 16) }()
	select {
	case <-grown:
		t.Fatal("the table grew while an invalidation held its tombstones")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-invalidated
	<-grown
	if h.t.slotCount() < 1<<16 {
		t.Fatalf("%d slots after reserving 2^16", h.t.slotCount())
	}
	if _, ok := c.Get("k"); ok {
		t.Fatal("an invalidation racing growth was lost")
	}
}

// TestSlotsFollowCapacity: the table grows with the caches registered and stops
// growing for caches that were closed; DependencySlots fixes it.
func TestSlotsFollowCapacity(t *testing.T) {
	ctx := context.Background()
	h := testHub(t, HubOptions{})
	if n := h.Stats().Slots; n != minSlots {
		t.Fatalf("a new hub has %d slots; want %d", n, minSlots)
	}
	c := testCache(t, Options[int, int]{Hub: h, MaxEntries: 100_000})
	if n := h.Stats().Slots; n != 1<<17 {
		t.Fatalf("%d slots for 100k entries; want 2^17", n)
	}
	c.Close(ctx)
	testCache(t, Options[int, int]{Hub: h, MaxEntries: 100_000})
	if n := h.Stats().Slots; n != 1<<17 {
		t.Fatalf("%d slots after a cache was closed and another opened; want 2^17", n)
	}
	big := testHub(t, HubOptions{})
	testCache(t, Options[int, int]{Hub: big, MaxEntries: 1 << 40})
	if n := big.Stats().Slots; n != reserveCap {
		t.Fatalf("%d slots for a cache of 2^40 entries; want the up-front bound %d", n, reserveCap)
	}
	f := testHub(t, HubOptions{DependencySlots: 100})
	testCache(t, Options[int, int]{Hub: f, MaxEntries: 100_000})
	if n := f.Stats().Slots; n != 128 {
		t.Fatalf("DependencySlots 100: %d slots; want 128", n)
	}
	for _, bad := range []int{-1, maxSlots + 1} {
		if _, err := NewHub(HubOptions{DependencySlots: bad}); err == nil {
			t.Errorf("DependencySlots %d accepted", bad)
		}
	}
}

// TestInvalidationsKeepNoState: invalidating a million distinct dependencies that no
// entry holds costs no memory.
func TestInvalidationsKeepNoState(t *testing.T) {
	ctx := context.Background()
	c := testCache(t, Options[int, int]{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 1_000_000 {
		c.Invalidate(ctx, Entity("gone", i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Fatalf("the heap grew by %d bytes over a million invalidations", grew)
	}
}

// TestChurnGrowsTable: a stream of invalidations grows the table, each time it has
// taken half as many invalidations as the table has slots, up to its bound; entries
// filled on the grown table survive unrelated churn of that size.
func TestChurnGrowsTable(t *testing.T) {
	ctx := context.Background()
	h := testHub(t, HubOptions{})
	c := testCache(t, Options[int, int]{Hub: h, MaxEntries: 1000})
	if n := h.Stats().Slots; n != minSlots {
		t.Fatalf("%d slots before any invalidation; want %d", n, minSlots)
	}
	for i := range 200_000 {
		c.Invalidate(ctx, Entity("churn", i))
	}
	if n := h.Stats().Slots; n != churnMin {
		t.Fatalf("%d slots after 200k invalidations; want the bound %d", n, churnMin)
	}
	for k := range 1000 {
		c.Set(ctx, k, k, DependsOn(Entity("e", k)))
	}
	for i := range churnMin / 8 {
		c.Invalidate(ctx, Entity("other", i))
	}
	dropped := 0
	for k := range 1000 {
		if _, ok := c.Get(k); !ok {
			dropped++
		}
	}
	// Each of the 8192 invalidations raises 2 of 65536 slots: an entry loses both
	// of its slots with a chance of about (1 − e^(−1/4))², 5%.
	t.Logf("%d of 1000 entries dropped by %d unrelated invalidations on %d slots", dropped, churnMin/8, churnMin)
	if dropped > 100 {
		t.Fatalf("%d of 1000 entries dropped by unrelated invalidations", dropped)
	}
}
