package fresh_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/maypok86/otter/v2"
	"github.com/maypok86/otter/v2/stats"
)

const benchKeys = 1 << 15

// wide is a value as large as fresh's entry of an int: the value, a position word
// and a pointer.
type wide struct{ V, A, B int }

// benchKeyStream returns a precomputed Zipf-distributed key sequence, so that the
// benchmark loop measures the cache and not the generator.
func benchKeyStream() []int {
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.01, 1, benchKeys-1)
	keys := make([]int, 1<<20)
	for i := range keys {
		keys[i] = int(z.Uint64())
	}
	return keys
}

// BenchmarkHit compares a hit in fresh, with 0, 1 and 4 dependencies per entry, with
// its hit statistics on (the default) and off (NoHitStats), and on nested values, with
// a hit in otter configured alike (bounded, with or without expiry and stats). Run
// side by side:
//
//	go test -run '^$' -bench BenchmarkHit -count 10 | benchstat -col /impl -
func BenchmarkHit(b *testing.B) {
	keys := benchKeyStream()
	b.Run("impl=otter", func(b *testing.B) {
		c := otter.Must(&otter.Options[int, int]{MaximumSize: 2 * benchKeys})
		defer c.StopAllGoroutines()
		for i := range benchKeys {
			c.Set(i, i)
		}
		runParallel(b, keys, func(k int) bool { _, ok := c.GetIfPresent(k); return ok })
	})
	// With expiry, otter reads its clock on every hit; fresh configures it so when
	// Options.TTL is set.
	b.Run("impl=otter-expiry", func(b *testing.B) {
		c := otter.Must(&otter.Options[int, int]{MaximumSize: 2 * benchKeys, ExpiryCalculator: otter.ExpiryWriting[int, int](1 << 40)})
		defer c.StopAllGoroutines()
		for i := range benchKeys {
			c.Set(i, i)
		}
		runParallel(b, keys, func(k int) bool { _, ok := c.GetIfPresent(k); return ok })
	})
	// otter counting hits and misses, as fresh does unless NoHitStats is set; without
	// expiry, as fresh without a TTL configures its store.
	b.Run("impl=otter-stats", func(b *testing.B) {
		c := otter.Must(&otter.Options[int, int]{MaximumSize: 2 * benchKeys, StatsRecorder: stats.NewCounter()})
		defer c.StopAllGoroutines()
		for i := range benchKeys {
			c.Set(i, i)
		}
		runParallel(b, keys, func(k int) bool { _, ok := c.GetIfPresent(k); return ok })
	})
	// otter counting hits and misses with expiry, as fresh with a TTL configures it.
	b.Run("impl=otter-expiry-stats", func(b *testing.B) {
		c := otter.Must(&otter.Options[int, int]{MaximumSize: 2 * benchKeys, ExpiryCalculator: otter.ExpiryWriting[int, int](1 << 40), StatsRecorder: stats.NewCounter()})
		defer c.StopAllGoroutines()
		for i := range benchKeys {
			c.Set(i, i)
		}
		runParallel(b, keys, func(k int) bool { _, ok := c.GetIfPresent(k); return ok })
	})
	// otter holding a value as large as fresh's entry: what the store pays for the
	// entry's position word and pointer.
	b.Run("impl=otter-24B", func(b *testing.B) {
		c := otter.Must(&otter.Options[int, wide]{MaximumSize: 2 * benchKeys, ExpiryCalculator: otter.ExpiryWriting[int, wide](1 << 40)})
		defer c.StopAllGoroutines()
		for i := range benchKeys {
			c.Set(i, wide{V: i})
		}
		runParallel(b, keys, func(k int) bool { _, ok := c.GetIfPresent(k); return ok })
	})
	// otter holding a pointer to such a value: what a hit would pay if fresh kept its
	// entries behind a pointer (which would make every Set one allocation, the
	// entry with its dependencies, in place of otter's box and fresh's depSet).
	b.Run("impl=otter-ptr24B", func(b *testing.B) {
		c := otter.Must(&otter.Options[int, *wide]{MaximumSize: 2 * benchKeys})
		defer c.StopAllGoroutines()
		for i := range benchKeys {
			c.Set(i, &wide{V: i})
		}
		runParallel(b, keys, func(k int) bool { v, ok := c.GetIfPresent(k); return ok && v.V == k })
	})
	b.Run("impl=fresh-0deps-ttl", func(b *testing.B) {
		c := newBenchCache(b, 0, fresh.Options[int, int]{TTL: 1 << 40})
		runParallel(b, keys, func(k int) bool { _, ok := c.Get(k); return ok })
	})
	for _, churn := range []bool{false, true} {
		for _, ndeps := range []int{0, 1, 4} {
			name := fmt.Sprintf("impl=fresh-%ddeps", ndeps)
			if churn {
				name += "-churn"
			}
			// Without hit statistics where the performance targets ask for it: quiet
			// with no dependency, and 4 dependencies under churn.
			nostats := []bool{false}
			if ndeps == 0 && !churn || ndeps == 4 && churn {
				nostats = append(nostats, true)
			}
			for _, ns := range nostats {
				name := name
				if ns {
					name += "-nostats"
				}
				b.Run(name, func(b *testing.B) {
					c := newBenchCache(b, ndeps, fresh.Options[int, int]{NoHitStats: ns})
					if churn {
						// Unrelated invalidations keep arriving, so every hit checks its
						// dependencies' tombstones instead of the quiet-tier shortcut.
						stop := churnInvalidations(c)
						defer stop()
					}
					runParallel(b, keys, func(k int) bool { _, ok := c.Get(k); return ok })
				})
			}
		}
		// Nested values depending on the same 4 tags as fresh-4deps: a hit must cost
		// what it costs there.
		name := "impl=fresh-nested-4"
		if churn {
			name += "-churn"
		}
		b.Run(name, func(b *testing.B) {
			c := newNestedBenchCache(b, 4)
			if churn {
				stop := churnInvalidations(c)
				defer stop()
			}
			runParallel(b, keys, func(k int) bool { _, ok := c.Get(k); return ok })
		})
	}
}

// newBenchCache returns a cache configured by o with MaxEntries set, holding
// benchKeys entries with ndeps tags each, drawn from 1000 tags.
func newBenchCache(b *testing.B, ndeps int, o fresh.Options[int, int]) *fresh.Cache[int, int] {
	o.MaxEntries = 2 * benchKeys
	c, err := fresh.New(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(context.Background()) })
	for i := range benchKeys {
		deps := make([]fresh.Dep, ndeps)
		for j := range deps {
			deps[j] = fresh.Tag(fmt.Sprint("t", (i+j)%1000))
		}
		if err := c.Set(context.Background(), i, i, fresh.DependsOn(deps...)); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// newNestedBenchCache returns a cache holding benchKeys nested entries: entry i is
// loaded by a loader that reads n values of an inner cache (GetOrLoad with the
// loader's context), the inner values (i+j)%1000 for j < n, and inner value r
// depends on the tag t<r>. Entry i thus depends on the tags newBenchCache gives it
// with n dependencies, and on the inner keys it read.
func newNestedBenchCache(b *testing.B, n int) *fresh.Cache[int, int] {
	ctx := context.Background()
	inner, err := fresh.New(fresh.Options[int, int]{MaxEntries: 2000})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { inner.Close(ctx) })
	c, err := fresh.New(fresh.Options[int, int]{MaxEntries: 2 * benchKeys})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(ctx) })
	loadInner := func(ctx context.Context, r int) (int, error) {
		fresh.Depend(ctx, fresh.Tag(fmt.Sprint("t", r)))
		return r, nil
	}
	loadOuter := func(ctx context.Context, i int) (int, error) {
		sum := 0
		for j := range n {
			v, err := inner.GetOrLoad(ctx, (i+j)%1000, loadInner)
			if err != nil {
				return 0, err
			}
			sum += v
		}
		return sum, nil
	}
	for i := range benchKeys {
		if _, err := c.GetOrLoad(ctx, i, loadOuter); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// churnInvalidations invalidates an unrelated tag (64 in turn) every 100µs until stopped.
func churnInvalidations(c *fresh.Cache[int, int]) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(100 * time.Microsecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-tick.C:
				// 64 tags in turn, as in the core workload (benchmarks/workloads/core).
				_ = c.Invalidate(context.Background(), fresh.Tag(fmt.Sprint("unrelated", i%64)))
			}
		}
	}()
	return func() { close(done); <-finished }
}

func runParallel(b *testing.B, keys []int, get func(int) bool) {
	b.ReportAllocs()
	b.SetParallelism(4) // 8 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(keys))
		for pb.Next() {
			if !get(keys[i&(len(keys)-1)]) {
				panic("miss")
			}
			i++
		}
	})
}

// BenchmarkInvalidate measures Invalidate of a tag on which n entries depend: it must
// not grow with n.
func BenchmarkInvalidate(b *testing.B) {
	for _, n := range []int{1, 1000, 100_000} {
		b.Run(fmt.Sprintf("dependents=%d", n), func(b *testing.B) {
			ctx := context.Background()
			c, err := fresh.New(fresh.Options[int, int]{MaxEntries: 2 * n})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(ctx)
			tag := fresh.Tag("hot")
			for i := range n {
				if err := c.Set(ctx, i, i, fresh.DependsOn(tag)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Invalidate(ctx, tag); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemoryPerEntry reports the heap bytes per entry of fresh (with 0, 1 and 2
// entity dependencies per entry, each entity the entry's own) and of otter
// configured alike, at 1M entries.
func BenchmarkMemoryPerEntry(b *testing.B) {
	const n = 1_000_000
	b.Run("impl=otter", func(b *testing.B) {
		b.ReportMetric(heapPerEntry(b, n, func() func() {
			c := otter.Must(&otter.Options[int, int]{MaximumSize: n, ExpiryCalculator: otter.ExpiryWriting[int, int](1 << 40)})
			for i := range n {
				c.Set(i, i)
			}
			return func() { c.StopAllGoroutines(); _ = c.EstimatedSize() }
		}), "B/entry")
	})
	for _, ndeps := range []int{0, 1, 2} {
		b.Run(fmt.Sprintf("impl=fresh-%ddeps", ndeps), func(b *testing.B) {
			b.ReportMetric(heapPerEntry(b, n, func() func() {
				ctx := context.Background()
				c, err := fresh.New(fresh.Options[int, int]{MaxEntries: n, TTL: 1 << 40})
				if err != nil {
					b.Fatal(err)
				}
				deps := make([]fresh.Dep, ndeps)
				for i := range n {
					for j := range deps {
						deps[j] = fresh.Entity(fmt.Sprint("t", j), i)
					}
					c.Set(ctx, i, i, fresh.DependsOn(deps...))
				}
				return func() { _ = c.Stats(); c.Close(ctx) }
			}), "B/entry")
		})
	}
}

// heapPerEntry builds a cache with build and returns the growth of the live heap
// per entry while the cache is reachable.
func heapPerEntry(b *testing.B, n int, build func() func()) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var keep func()
	for b.Loop() {
		if keep == nil {
			keep = build()
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	keep()
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// BenchmarkSet measures a Set with 0 and 4 dependencies, replacing existing entries,
// next to otter's Set of an existing key. The options are built before the timed
// loop, as a user keeps them.
func BenchmarkSet(b *testing.B) {
	b.Run("impl=otter", func(b *testing.B) {
		c := otter.Must(&otter.Options[int, int]{MaximumSize: 2 * benchKeys})
		defer c.StopAllGoroutines()
		for i := range benchKeys {
			c.Set(i, i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.Set(i&(benchKeys-1), i)
			i++
		}
	})
	// otter replacing a 24-byte value (fresh's entry with an int): it boxes each one.
	b.Run("impl=otter-24B", func(b *testing.B) {
		c := otter.Must(&otter.Options[int, wide]{MaximumSize: 2 * benchKeys})
		defer c.StopAllGoroutines()
		for i := range benchKeys {
			c.Set(i, wide{V: i})
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.Set(i&(benchKeys-1), wide{V: i})
			i++
		}
	})
	// otter replacing a pointer to a 24-byte value, allocated for each Set.
	b.Run("impl=otter-ptr24B", func(b *testing.B) {
		c := otter.Must(&otter.Options[int, *wide]{MaximumSize: 2 * benchKeys})
		defer c.StopAllGoroutines()
		for i := range benchKeys {
			c.Set(i, &wide{V: i})
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.Set(i&(benchKeys-1), &wide{V: i})
			i++
		}
	})
	for _, ndeps := range []int{0, 4} {
		b.Run(fmt.Sprintf("deps=%d", ndeps), func(b *testing.B) {
			ctx := context.Background()
			c := newBenchCache(b, 0, fresh.Options[int, int]{})
			opts := make([][]fresh.Option, 1024)
			for i := range opts {
				deps := make([]fresh.Dep, ndeps)
				for j := range deps {
					deps[j] = fresh.Tag(fmt.Sprint("t", (i+j)%1000))
				}
				opts[i] = []fresh.Option{fresh.DependsOn(deps...)}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := c.Set(ctx, i&(benchKeys-1), i, opts[i&1023]...); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
