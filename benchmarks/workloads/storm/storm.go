// Package storm is workload 3 of the benchmarks: an insert storm. Each cache is
// filled to its capacity (100, 10k and 1M entries), then goroutines insert keys
// never seen before, each Set followed by a Get of the same key. An insert counts
// as dropped when the Set refuses it or the Get right after misses: ristretto
// buffers its Sets and its admission policy turns most newcomers away, the
// W-TinyLFU caches admit every newcomer into their window.
//
// Run measures in-process with testing.Benchmark; BenchmarkStorm in the package's
// tests runs the same body under go test:
//
//	go test -run '^$' -bench Storm -count 6 ./workloads/storm | benchstat -col /cache -
package storm

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh/benchmarks/caches"
	"github.com/freshcache/fresh/benchmarks/internal/measure"
	"github.com/freshcache/fresh/benchmarks/report"
)

// Options configure Run.
type Options struct {
	// Short measures the sizes 100 and 10k only, for 100ms each.
	Short bool
	// BenchTime is how long each cache and size is measured. Default 300ms, or
	// 100ms with Short.
	BenchTime time.Duration
	// Sizes are the capacities of the caches, which are full when the storm starts.
	// Default 100, 10k and 1M (100 and 10k with Short).
	Sizes []int
	// Caches names the configurations to measure (see caches.All). Default all but
	// the fresh variants with a bus and with 4 dependencies. The references are
	// always added (see caches.WithReferences).
	Caches []string
	// Goroutines is how many goroutines insert at once. Default 8.
	Goroutines int
}

func (o *Options) defaults() {
	if o.BenchTime == 0 {
		o.BenchTime = 300 * time.Millisecond
		if o.Short {
			o.BenchTime = 100 * time.Millisecond
		}
	}
	if len(o.Sizes) == 0 {
		o.Sizes = []int{100, 10_000, 1_000_000}
		if o.Short {
			o.Sizes = o.Sizes[:2]
		}
	}
	if len(o.Caches) == 0 {
		for _, s := range caches.All() {
			if s.Name != caches.FreshBus && s.Name != caches.Fresh4Deps {
				o.Caches = append(o.Caches, s.Name)
			}
		}
	}
	o.Caches = caches.WithReferences(o.Caches)
	if o.Goroutines == 0 {
		o.Goroutines = 8
	}
}

// Fill returns a cache of spec holding size entries (keys 0 to size-1).
func Fill(spec caches.Spec, size int) (caches.Cache, error) {
	c, err := spec.New(size)
	if err != nil {
		return nil, err
	}
	for k := range uint64(size) {
		c.Set(k, k)
	}
	if w, ok := c.(caches.Waiter); ok {
		w.Wait()
	}
	return c, nil
}

// runs numbers the calls of Storm, so that every call inserts keys of its own.
var runs atomic.Uint64

// Storm is the benchmark body: goroutines insert keys that c has never seen, each
// Set followed by a Get, and the benchmark reports the share of dropped inserts
// as the metric "dropped/op". c should be full (see Fill); the keys are above
// 2^40, so they never meet the keys of Fill.
func Storm(b *testing.B, c caches.Cache, goroutines int) {
	base := runs.Add(1) << 40
	p := runtime.GOMAXPROCS(0)
	var ids, dropped atomic.Uint64
	b.SetParallelism(max(1, (goroutines+p-1)/p))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Goroutine g inserts base + g<<32 + 0, 1, 2, ...
		k := base + ids.Add(1)<<32
		var d uint64
		for pb.Next() {
			if !c.Set(k, k) {
				d++
			} else if _, ok := c.Get(k); !ok {
				d++
			}
			k++
		}
		dropped.Add(d)
	})
	b.StopTimer() // the caller's clean-up is not part of the measure
	b.ReportMetric(float64(dropped.Load())/float64(b.N), "dropped/op")
}

type result struct {
	ns, bytes, allocs, dropped float64
}

// Run fills every cache of o at every size and measures the storm, and returns the
// section for BENCHMARKS.md.
func Run(ctx context.Context, o Options) (report.Section, error) {
	start := time.Now()
	o.defaults()
	specs, err := caches.Lookup(o.Caches...)
	if err != nil {
		return report.Section{}, err
	}
	res := make(map[string]map[int]result)
	for _, size := range o.Sizes {
		for _, s := range specs {
			if err := ctx.Err(); err != nil {
				return report.Section{}, err
			}
			r, err := measureOne(s, size, o)
			if err != nil {
				return report.Section{}, fmt.Errorf("storm: %s at %d: %w", s.Name, size, err)
			}
			if res[s.Name] == nil {
				res[s.Name] = make(map[int]result)
			}
			res[s.Name][size] = r
		}
	}
	return section(o, specs, res, time.Since(start)), nil
}

func measureOne(s caches.Spec, size int, o Options) (result, error) {
	c, err := Fill(s, size)
	if err != nil {
		return result{}, err
	}
	r, err := measure.Benchmark(o.BenchTime, func(b *testing.B) { Storm(b, c, o.Goroutines) })
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return result{}, err
	}
	return result{
		ns:      measure.NsPerOp(r),
		bytes:   float64(r.MemBytes) / float64(r.N),
		allocs:  float64(r.MemAllocs) / float64(r.N),
		dropped: r.Extra["dropped/op"],
	}, nil
}

func sizeName(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	default:
		return strconv.Itoa(n)
	}
}

func section(o Options, specs []caches.Spec, res map[string]map[int]result, elapsed time.Duration) report.Section {
	sizes := make([]string, len(o.Sizes))
	for i, n := range o.Sizes {
		sizes[i] = sizeName(n)
	}
	summary := report.Table{
		Title:   "Dropped inserts, % (Set refused, or a Get right after it missed)",
		Columns: append([]string{"cache"}, sizes...),
	}
	detail := report.Table{
		Title:   "Per insert (Set of a new key, then Get of it)",
		Columns: []string{"cache", "size", "ns/op", "B/op", "allocs/op", "dropped", "ns/op ÷ otter"},
	}
	chart := report.Chart{
		Name:       "ns",
		Title:      "Insert storm: time per insert (Set + Get)",
		Kind:       "bar",
		XLabel:     "entries in the full cache",
		YLabel:     "ns per insert",
		Categories: sizes,
	}
	for _, s := range specs {
		row := []string{s.Name}
		ser := report.Series{Name: s.Name}
		for _, n := range o.Sizes {
			r := res[s.Name][n]
			row = append(row, fmt.Sprintf("%.1f", 100*r.dropped))
			ser.Y = append(ser.Y, r.ns)
		}
		summary.Rows = append(summary.Rows, row)
		chart.Series = append(chart.Series, ser)
	}
	for _, n := range o.Sizes {
		otter := res[caches.Otter][n]
		for _, s := range specs {
			r := res[s.Name][n]
			detail.Rows = append(detail.Rows, []string{
				s.Name, sizeName(n), measure.Ns(r.ns), fmt.Sprintf("%.0f", r.bytes), fmt.Sprintf("%.2f", r.allocs),
				fmt.Sprintf("%.1f%%", 100*r.dropped), measure.Ratio(r.ns, otter.ns),
			})
		}
	}
	p := runtime.GOMAXPROCS(0)
	notes := []string{
		fmt.Sprintf("%d goroutines (RunParallel, GOMAXPROCS=%d), each case for about %v; the caches are filled with keys 0 to size−1 before the timer starts. "+
			"ns/op is the time of one insert and its check (a Set and a Get).", max(1, (o.Goroutines+p-1)/p)*p, p, o.BenchTime),
		"xsync.Map has no bound: it is never full and grows by every insert.",
	}
	for _, s := range specs {
		notes = append(notes, fmt.Sprintf("**%s**: %s", s.Name, s.Note))
	}
	return report.Section{
		ID:    "storm",
		Title: "Insert storm",
		Intro: "Full caches of 100, 10k and 1M entries receive a storm of keys they have never seen, from several goroutines. " +
			"Each insert is a Set followed by a Get of the same key; it is counted as dropped when the Set is refused or the Get misses. " +
			"A cache that drops inserts makes its callers load again: the drop rate matters as much as the time.",
		Tables:  []report.Table{summary, detail},
		Charts:  []report.Chart{chart},
		Notes:   notes,
		Elapsed: elapsed.Seconds(),
	}
}
