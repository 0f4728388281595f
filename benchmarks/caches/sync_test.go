package caches_test

import (
	"math/rand/v2"
	"testing"

	"github.com/freshcache/fresh/benchmarks/caches"
)

// TestSyncHoldsCapacity replays a skewed stream against the synchronous instance of
// every bounded cache and checks, after every access, that it holds at most its
// capacity: its evictions are made before the call that caused them returns. It
// also checks that a Set is visible to the next Get while the cache has room.
func TestSyncHoldsCapacity(t *testing.T) {
	const capacity = 200
	for _, s := range caches.All() {
		if !s.Bounded {
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			c, err := s.Build(capacity, true)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			sizer, ok := c.(caches.Sizer)
			if !ok {
				t.Fatalf("%s does not tell its size", s.Name)
			}
			for k := range uint64(capacity / 2) {
				c.Set(k, k)
				if _, ok := c.Get(k); !ok {
					t.Fatalf("Get(%d) right after Set(%d) with room to spare: a miss; want a hit", k, k)
				}
			}
			z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 2, 50*capacity)
			for i := range 20 * capacity {
				k := z.Uint64()
				if _, ok := c.Get(k); !ok {
					c.Set(k, k)
				}
				if n := sizer.Len(); n > capacity {
					t.Fatalf("access %d: holds %d entries; want at most %d", i, n, capacity)
				}
			}
			if rc, ok := c.(caches.ReadCounter); ok {
				// Scheduling, the garbage collector and the race detector (which
				// empties sync.Pools at random) decide how many: the test only
				// shows them.
				t.Logf("%d reads of %d reached the policy", rc.ReadsSeen(), capacity/2+20*capacity)
			}
		})
	}
}

// TestDeployedOvershoots documents why the synchronous instances exist: otter's
// default executor lets a cache fed by one goroutine hold more than its capacity.
// The overshoot depends on scheduling, so the test only logs it.
func TestDeployedOvershoots(t *testing.T) {
	const capacity = 200
	for _, name := range []string{caches.Otter, caches.Fresh, caches.Theine} {
		s, err := caches.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		c, err := s[0].Build(capacity, false)
		if err != nil {
			t.Fatal(err)
		}
		most := 0
		for k := range uint64(20 * capacity) {
			c.Set(k, k)
			most = max(most, c.(caches.Sizer).Len())
		}
		t.Logf("%s as deployed: held up to %d entries for a capacity of %d", name, most, capacity)
		c.Close()
	}
}
