package tags

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchmark runs f with testing.Benchmark, with -test.benchtime set to benchtime
// ("200ms", or "1000x" for a fixed count) for the call and restored afterwards.
// testing.Benchmark reads no other setting, so this is how a program chooses how
// long a measurement runs. Not safe for concurrent use with other callers of
// testing.Benchmark.
func benchmark(benchtime string, f func(*testing.B)) (testing.BenchmarkResult, error) {
	testing.Init() // registers the flag outside `go test`; no effect inside it
	fl := flag.Lookup("test.benchtime")
	if fl == nil {
		return testing.BenchmarkResult{}, errors.New("tags: no -test.benchtime flag")
	}
	old := fl.Value.String()
	if err := fl.Value.Set(benchtime); err != nil {
		return testing.BenchmarkResult{}, fmt.Errorf("tags: benchtime %q: %w", benchtime, err)
	}
	defer func() { _ = fl.Value.Set(old) }()
	r := testing.Benchmark(f)
	if r.N == 0 { // how testing.Benchmark reports b.Fatal, b.Error or a skip
		return r, errors.New("tags: benchmark failed")
	}
	return r, nil
}

// firstErr keeps the first error reported from any goroutine.
type firstErr struct {
	once sync.Once
	err  error
}

func (f *firstErr) set(err error) {
	if err != nil {
		f.once.Do(func() { f.err = err })
	}
}

// hitBench measures Get of keys drawn from stream, every one a hit, from
// parallelism×GOMAXPROCS goroutines. It counts misses in *misses.
func hitBench(s system, stream []int32, parallelism int, misses *atomic.Int64) func(*testing.B) {
	mask := len(stream) - 1
	return func(b *testing.B) {
		var next atomic.Int64
		misses.Store(0)
		b.ReportAllocs()
		b.SetParallelism(parallelism)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * (len(stream) / 64)
			var m int64
			for pb.Next() {
				if !s.get(int(stream[i&mask])) {
					m++
				}
				i++
			}
			misses.Add(m)
		})
	}
}

// fillBench measures the initial fill: entry i of the world is stored at iteration i,
// from one goroutine. Run with a fixed count of entries, it fills the cache; beyond
// that count it stores the entries again, which replaces them.
func fillBench(s system, entries int, fe *firstErr) func(*testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			fe.set(s.fill(i))
			if i++; i == entries {
				i = 0
			}
		}
	}
}

// The units under which invalidateBench reports its own timings.
const (
	medianMetric = "median-ns/op"
	meanMetric   = "mean-ns/op"
)

// invalidateBench measures Invalidate of tag while keys depend on it. Before each
// timed call, untimed: every key is stored again under tag (the baselines delete
// them), and a tag nobody carries (warm) is invalidated, so that the timed call does
// not pay for being the first call since the refill (measured alone, that first call
// costs fresh microseconds, however many entries carry the tag). No garbage
// collection is forced: the first calls after one cost fresh about 2µs, again
// whatever the size.
//
// Only the Invalidate calls are timed, each on its own: the results are the metrics
// medianMetric and meanMetric. The benchmark's own ns/op includes the refills.
func invalidateBench(s system, tag, warm int32, keys []int, fe *firstErr) func(*testing.B) {
	return func(b *testing.B) {
		var lat []time.Duration
		for b.Loop() {
			for _, k := range keys {
				fe.set(s.fillTagged(k, tag))
			}
			fe.set(s.invalidate(warm))
			t0 := time.Now()
			fe.set(s.invalidate(tag))
			lat = append(lat, time.Since(t0))
		}
		if len(lat) == 0 {
			return
		}
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[(len(lat)-1)/2].Nanoseconds()), medianMetric)
		b.ReportMetric(float64(sum.Nanoseconds())/float64(len(lat)), meanMetric)
	}
}

// mixedResult is what the last run of a mixedBench counted.
type mixedResult struct {
	gets, hits atomic.Int64
}

// mixedBench runs the world's mixed stream from parallelism×GOMAXPROCS goroutines,
// each starting at its own offset. Run it with a fixed count, so that every system
// runs the same number of operations and their hit ratios compare.
func mixedBench(s system, ops []op, parallelism int, res *mixedResult, fe *firstErr) func(*testing.B) {
	mask := len(ops) - 1
	return func(b *testing.B) {
		var next atomic.Int64
		res.gets.Store(0)
		res.hits.Store(0)
		b.ReportAllocs()
		b.SetParallelism(parallelism)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * (len(ops) / 64)
			var gets, hits int64
			for pb.Next() {
				o := ops[i&mask]
				i++
				switch o.kind {
				case opGet:
					gets++
					if s.get(int(o.key)) {
						hits++
					}
				case opSet:
					fe.set(s.fill(int(o.key)))
				case opInvalidate:
					fe.set(s.invalidate(o.tag))
				}
			}
			res.gets.Add(gets)
			res.hits.Add(hits)
		})
	}
}

// checks is what the correctness checks of one system found.
type checks struct {
	concurrentSurvivors int // keys still served after Invalidate, over all trials
	concurrentTrials    int // trials with survivors
	concurrentKeys      int // keys set over all trials
	emptyFirstSurvivors int // keys still served after Invalidate(empty tag, tag)
	emptyFirstKeys      int
}

// runChecks runs the correctness checks on s:
//
//   - trials rounds of checkWriters goroutines that, released together, each set
//     checkKeysPerWriter keys under a tag nobody used before; then Invalidate(tag),
//     and count the keys still served;
//   - checkKeysPerTrial keys set under a tag, then one Invalidate of two tags: one
//     that no entry carries, and that tag; count the keys still served.
func runChecks(w *world, s system, trials int) (checks, error) {
	var c checks
	var fe firstErr
	for t := range trials {
		tag := w.checkTag(t)
		var ready, done sync.WaitGroup
		start := make(chan struct{})
		ready.Add(checkWriters)
		done.Add(checkWriters)
		for g := range checkWriters {
			go func() {
				defer done.Done()
				ready.Done()
				<-start
				for j := range checkKeysPerWriter {
					fe.set(s.fillTagged(w.checkKey(t, g*checkKeysPerWriter+j), tag))
				}
			}()
		}
		ready.Wait()
		close(start)
		done.Wait()
		fe.set(s.invalidate(tag))
		n := 0
		for j := range checkKeysPerTrial {
			if s.get(w.checkKey(t, j)) {
				n++
			}
		}
		c.concurrentKeys += checkKeysPerTrial
		c.concurrentSurvivors += n
		if n > 0 {
			c.concurrentTrials++
		}
	}

	empty, tag := w.checkTag(trials), w.checkTag(trials+1)
	for j := range checkKeysPerTrial {
		fe.set(s.fillTagged(w.checkKey(trials+1, j), tag))
	}
	fe.set(s.invalidate(empty, tag))
	for j := range checkKeysPerTrial {
		if s.get(w.checkKey(trials+1, j)) {
			c.emptyFirstSurvivors++
		}
	}
	c.emptyFirstKeys = checkKeysPerTrial
	return c, fe.err
}
