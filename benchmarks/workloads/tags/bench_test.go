package tags

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// The measurements of Run as Benchmark functions, for go test -bench and benchstat.
// The world is the Short one under -short and the full one otherwise; sub-benchmarks
// are named impl=<system> so that systems compare side by side:
//
//	go test -run '^$' -bench . -short ./workloads/tags/ | benchstat -col /impl -
//
// BenchmarkInvalidate stores the tag's entries again before each timed call, so run it
// with a fixed count (-benchtime 10x); its median-ns/op and mean-ns/op count the
// Invalidate calls only. BenchmarkMixed runs as many operations as -benchtime gives
// (-benchtime 200000x for the full run of the report), so its hit-% compares only between
// runs of the same count.

// benchWorld is built once per test binary.
var benchWorld = sync.OnceValue(func() *world {
	return newWorld(Options{Short: testing.Short()}.withDefaults())
})

// eachSystem builds every system over the world, fills it, and runs f on it.
func eachSystem(b *testing.B, f func(b *testing.B, w *world, s system)) {
	w := benchWorld()
	for _, mk := range makers() {
		b.Run("impl="+mk.name, func(b *testing.B) {
			s, err := mk.new(w)
			if err != nil {
				b.Fatal(err)
			}
			defer s.close()
			for i := range w.entries {
				if err := s.fill(i); err != nil {
					b.Fatal(err)
				}
			}
			f(b, w, s)
		})
	}
}

// BenchmarkFill measures Set of an entry with its tags into a cache being filled.
func BenchmarkFill(b *testing.B) {
	w := benchWorld()
	for _, mk := range makers() {
		b.Run("impl="+mk.name, func(b *testing.B) {
			s, err := mk.new(w)
			if err != nil {
				b.Fatal(err)
			}
			defer s.close()
			var fe firstErr
			fillBench(s, w.entries, &fe)(b)
			if fe.err != nil {
				b.Fatal(fe.err)
			}
		})
	}
}

// BenchmarkHit measures parallel hits against the number of tags per entry.
func BenchmarkHit(b *testing.B) {
	par, _ := Options{Goroutines: 8}.parallelism()
	eachSystem(b, func(b *testing.B, w *world, s system) {
		if err := s.invalidate(w.unrelatedTag); err != nil {
			b.Fatal(err)
		}
		for k := 1; k <= maxTags; k++ {
			b.Run(fmt.Sprintf("tags=%d", k), func(b *testing.B) {
				var misses atomic.Int64
				hitBench(s, w.hits[k], par, &misses)(b)
				if n := misses.Load(); n > 0 {
					b.Fatalf("%d misses", n)
				}
			})
		}
	})
}

// BenchmarkInvalidate measures Invalidate(tag) against the entries under the tag.
func BenchmarkInvalidate(b *testing.B) {
	eachSystem(b, func(b *testing.B, w *world, s system) {
		for i, n := range w.sizes {
			b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
				var fe firstErr
				invalidateBench(s, w.dedicatedTag[i], w.unrelatedTag, w.dedicatedKeys[i], &fe)(b)
				if fe.err != nil {
					b.Fatal(fe.err)
				}
			})
		}
	})
}

// BenchmarkMixed runs the mixed stream of Get, Set and Invalidate in parallel.
func BenchmarkMixed(b *testing.B) {
	par, _ := Options{Goroutines: 8}.parallelism()
	eachSystem(b, func(b *testing.B, w *world, s system) {
		var res mixedResult
		var fe firstErr
		mixedBench(s, w.mixed, par, &res, &fe)(b)
		if fe.err != nil {
			b.Fatal(fe.err)
		}
		if g := res.gets.Load(); g > 0 {
			b.ReportMetric(100*float64(res.hits.Load())/float64(g), "hit-%")
		}
	})
}
