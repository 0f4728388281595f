// Package core measures the performance targets of the core issues side by side in
// one run, each as a ratio to otter configured alike:
//
//   - the cost of a hit in fresh, with 0, 1 and 4 dependencies per entry, with hit
//     statistics on (the default) and off (Options.NoHitStats), quiet and while
//     unrelated invalidations keep arriving, and with a default TTL, against a hit
//     in otter (plain, with its stats counter, and with an expiry calculator as
//     fresh's store has with a default TTL);
//   - the cost of a hit on a nested value, built by a loader from 4 cached inner
//     values, against a value declaring the same 4 tags directly;
//   - the cost and the allocations of a Set of an existing key, with 0 and 4
//     dependencies, against otter's Set, from 8 goroutines and from one;
//   - the latency of Invalidate for a tag on which 1, 1k or 100k entries depend,
//     which must stay under a microsecond and flat.
//
// The section opens with a summary: each target, what this run measured, and
// whether it is met.
//
// Run measures in-process with testing.Benchmark; BenchmarkHit, BenchmarkSet and
// BenchmarkInvalidate in the package's tests run the same bodies under go test:
//
//	go test -run '^$' -bench . -count 6 ./workloads/core | benchstat -col /impl -
package core

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/freshcache/fresh/benchmarks/internal/measure"
	"github.com/freshcache/fresh/benchmarks/report"
)

// Keys is the number of entries the hit and Set benchmarks use, in caches of twice
// that size, through a scrambled Zipfian stream (θ = 0.99).
const Keys = 1 << 15

// tagPool is the number of tags the entries' dependencies are drawn from, and the
// number of inner values the nested entries are built from.
const tagPool = 1000

// Options configure Run.
type Options struct {
	// Short measures each case once for 100ms, and Invalidate with 1 and 1k
	// dependents only.
	Short bool
	// BenchTime is how long each case is measured. Default 500ms, or 100ms with
	// Short.
	BenchTime time.Duration
	// Count is how many times each case is measured; the tables show the run with
	// the median time. Default 3, or 1 with Short.
	Count int
	// Dependents are the numbers of entries depending on the invalidated tag.
	// Default 1, 1k and 100k.
	Dependents []int
	// Goroutines is how many goroutines read, or write, at once. Default 8.
	Goroutines int

	keys int // entries read and written; Keys unless a test shrinks it
}

func (o *Options) defaults() {
	if o.BenchTime == 0 {
		o.BenchTime = 500 * time.Millisecond
		if o.Short {
			o.BenchTime = 100 * time.Millisecond
		}
	}
	if o.Count == 0 {
		o.Count = 3
		if o.Short {
			o.Count = 1
		}
	}
	if len(o.Dependents) == 0 {
		o.Dependents = []int{1, 1_000, 100_000}
		if o.Short {
			o.Dependents = o.Dependents[:2]
		}
	}
	if o.Goroutines == 0 {
		o.Goroutines = 8
	}
	if o.keys == 0 {
		o.keys = Keys
	}
}

type result struct {
	ns, bytes, allocs float64
}

func resultOf(r testing.BenchmarkResult) result {
	return result{
		ns:     measure.NsPerOp(r),
		bytes:  float64(r.MemBytes) / float64(r.N),
		allocs: float64(r.MemAllocs) / float64(r.N),
	}
}

// results are the measures of one run, by case.
type results struct {
	hits map[string]result // by HitCase.Name
	sets map[string]result // by SetCase.id()
	invs []result          // in the order of Options.Dependents
}

// interleaved measures fs with measure.Interleaved, the cases taking turns, and
// returns their results.
func interleaved(ctx context.Context, o Options, fs []func(*testing.B)) ([]result, error) {
	for i, f := range fs {
		fs[i] = func(b *testing.B) {
			if ctx.Err() != nil {
				b.Skip("cancelled")
			}
			f(b)
		}
	}
	rs, err := measure.Interleaved(o.Count, o.BenchTime, fs)
	if err != nil {
		return nil, errors.Join(ctx.Err(), err)
	}
	out := make([]result, len(rs))
	for i, r := range rs {
		out[i] = resultOf(r)
	}
	return out, nil
}

// Run measures every hit case, every Set case and the Invalidate latencies, and
// returns the section for BENCHMARKS.md.
func Run(ctx context.Context, o Options) (report.Section, error) {
	start := time.Now()
	o.defaults()
	stream := Stream(o.keys)
	res := results{hits: map[string]result{}, sets: map[string]result{}}

	hcs := HitCases()
	fs, done := reused(len(hcs), func(int) int { return o.Goroutines }, stream,
		func(i int) (*fixture, error) { return hitFixture(hcs[i], o.keys) })
	rs, err := interleaved(ctx, o, fs)
	done()
	if err != nil {
		return report.Section{}, fmt.Errorf("core: hit: %w", err)
	}
	for i, hc := range hcs {
		res.hits[hc.Name] = rs[i]
	}

	scs := SetCases()
	fs, done = reused(len(scs), func(i int) int { return scs[i].goroutines(o.Goroutines) }, stream,
		func(i int) (*fixture, error) { return setFixture(scs[i], o.keys) })
	rs, err = interleaved(ctx, o, fs)
	done()
	if err != nil {
		return report.Section{}, fmt.Errorf("core: set: %w", err)
	}
	for i, sc := range scs {
		res.sets[sc.id()] = rs[i]
	}

	if res.invs, err = invalidations(ctx, o); err != nil {
		return report.Section{}, err
	}
	return section(o, res, time.Since(start)), nil
}
