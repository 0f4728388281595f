// Package throughput is workload 1 of the benchmarks: Caffeine's GetPut benchmark
// (the one otter reports) ported to the caches package. A cache of 2^16 entries is
// prefilled with 2^15 keys; goroutines then read or write keys taken from a
// precomputed scrambled Zipfian (θ = 0.99) stream, each goroutine from a random
// start. Whether a goroutine reads or writes is fixed by its index, so that a mix
// of 75/25 means 6 readers and 2 writers among 8 goroutines: with only 2 cores the
// default of one goroutine per core would collapse every mix to 100/0, 50/50 or
// 0/100, so the workload runs 8 goroutines (RunParallel with SetParallelism).
//
// Run measures every cache and mix in-process with testing.Benchmark; the
// BenchmarkGetPut function in the package's tests runs the same body under go test,
// for benchstat:
//
//	go test -run '^$' -bench GetPut -count 6 ./workloads/throughput | benchstat -col /cache -
package throughput

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh/benchmarks/caches"
	"github.com/freshcache/fresh/benchmarks/internal/measure"
	"github.com/freshcache/fresh/benchmarks/internal/zipf"
	"github.com/freshcache/fresh/benchmarks/report"
)

// Keys is the number of keys prefilled and accessed; the caches hold twice as many,
// so nothing is evicted and the benchmark measures concurrency, not the policy.
const Keys = 1 << 15

// streamLen is the length of the precomputed access stream, a power of two.
const streamLen = 1 << 20

// Options configure Run.
type Options struct {
	// Short measures each case once, for 50ms.
	Short bool
	// BenchTime is how long each cache and mix is measured. Default 300ms, or
	// 50ms with Short.
	BenchTime time.Duration
	// Count is how many times each case is measured; the tables show the run with
	// the median time per operation. Default 3, or 1 with Short.
	Count int
	// Caches names the configurations to measure (see caches.All). Default all.
	// The references are always added (see caches.WithReferences).
	Caches []string
	// Mixes lists the shares of reads, in percent. Default 100, 75, 50, 25, 0.
	Mixes []int
	// Goroutines is how many goroutines run at once. Default 8.
	Goroutines int

	keys int // keys prefilled and accessed; Keys unless a test shrinks it
}

func (o *Options) defaults() error {
	if o.BenchTime == 0 {
		o.BenchTime = 300 * time.Millisecond
		if o.Short {
			o.BenchTime = 50 * time.Millisecond
		}
	}
	if o.Count == 0 {
		o.Count = 3
		if o.Short {
			o.Count = 1
		}
	}
	if len(o.Caches) == 0 {
		o.Caches = caches.Names(caches.All())
	}
	o.Caches = caches.WithReferences(o.Caches)
	if len(o.Mixes) == 0 {
		o.Mixes = []int{100, 75, 50, 25, 0}
	}
	for _, m := range o.Mixes {
		if m < 0 || m > 100 {
			return fmt.Errorf("throughput: mix %d%% reads: want 0 to 100", m)
		}
	}
	if o.Goroutines == 0 {
		o.Goroutines = 8
	}
	if o.keys == 0 {
		o.keys = Keys
	}
	return nil
}

// Stream returns the access stream: streamLen keys in [0, keys) drawn from a
// scrambled Zipfian with θ = 0.99.
func Stream(keys int) []uint64 { return zipf.Scrambled(keys, 0.99, streamLen, 1) }

// parallelism returns the RunParallel parallelism that starts at least goroutines
// goroutines.
func parallelism(goroutines int) int {
	p := runtime.GOMAXPROCS(0)
	return max(1, (goroutines+p-1)/p)
}

// Prefill returns a cache of spec for 2×keys entries holding the keys 0 to keys-1.
func Prefill(spec caches.Spec, keys int) (caches.Cache, error) {
	c, err := spec.New(2 * keys)
	if err != nil {
		return nil, err
	}
	for k := range uint64(keys) {
		c.Set(k, k)
	}
	if w, ok := c.(caches.Waiter); ok {
		w.Wait()
	}
	return c, nil
}

// GetPut is the benchmark body: goroutines read or write the keys of stream (see
// Stream) in c (see Prefill), readPct percent of them reading. A write stores a new
// value under a key that is present, so c stays as Prefill left it.
func GetPut(b *testing.B, c caches.Cache, readPct, goroutines int, stream []uint64) {
	par := parallelism(goroutines)
	n := par * runtime.GOMAXPROCS(0)
	readers := (n*readPct + 50) / 100
	mask := len(stream) - 1
	var ids atomic.Int64
	b.SetParallelism(par)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		read := int(ids.Add(1)-1) < readers
		i := rand.IntN(len(stream))
		for pb.Next() {
			k := stream[i&mask]
			i++
			if read {
				c.Get(k)
			} else {
				c.Set(k, k)
			}
		}
	})
	b.StopTimer() // the caller's clean-up is not part of the measure
}

// MixName names a mix: "75/25" for 75 % reads.
func MixName(readPct int) string { return fmt.Sprintf("%d/%d", readPct, 100-readPct) }

type result struct {
	ns, bytes, allocs float64
}

// Run measures every cache of o at every mix and returns the section for
// BENCHMARKS.md.
func Run(ctx context.Context, o Options) (report.Section, error) {
	start := time.Now()
	if err := o.defaults(); err != nil {
		return report.Section{}, err
	}
	specs, err := caches.Lookup(o.Caches...)
	if err != nil {
		return report.Section{}, err
	}
	stream := Stream(o.keys)
	res := make(map[string]map[int]result) // cache → mix → result
	for _, mix := range o.Mixes {
		r, err := measureMix(ctx, o, specs, mix, stream)
		if err != nil {
			return report.Section{}, err
		}
		for name, x := range r {
			if res[name] == nil {
				res[name] = make(map[int]result)
			}
			res[name][mix] = x
		}
	}
	return section(o, specs, res, time.Since(start)), nil
}

// measureMix measures every cache of specs at one mix, the caches taking turns,
// and returns the results by cache name.
func measureMix(ctx context.Context, o Options, specs []caches.Spec, mix int, stream []uint64) (_ map[string]result, err error) {
	var cs []caches.Cache
	defer func() {
		for _, c := range cs {
			err = errors.Join(err, c.Close())
		}
	}()
	fs := make([]func(*testing.B), len(specs))
	for i, s := range specs {
		c, err := Prefill(s, o.keys)
		if err != nil {
			return nil, fmt.Errorf("throughput: %s: %w", s.Name, err)
		}
		cs = append(cs, c)
		fs[i] = func(b *testing.B) {
			if ctx.Err() != nil {
				b.Skip("cancelled")
			}
			GetPut(b, c, mix, o.Goroutines, stream)
		}
	}
	rs, err := measure.Interleaved(o.Count, o.BenchTime, fs)
	if err != nil {
		return nil, fmt.Errorf("throughput: %s: %w", MixName(mix), errors.Join(ctx.Err(), err))
	}
	out := make(map[string]result, len(specs))
	for i, s := range specs {
		r := rs[i]
		out[s.Name] = result{
			ns:     measure.NsPerOp(r),
			bytes:  float64(r.MemBytes) / float64(r.N),
			allocs: float64(r.MemAllocs) / float64(r.N),
		}
	}
	return out, nil
}

func section(o Options, specs []caches.Spec, res map[string]map[int]result, elapsed time.Duration) report.Section {
	mixCols := make([]string, len(o.Mixes))
	for i, m := range o.Mixes {
		mixCols[i] = MixName(m)
	}
	otter := res[caches.Otter]

	summary := report.Table{
		Title:   "Throughput, million operations per second (reads/writes), higher is better",
		Columns: append([]string{"cache"}, mixCols...),
	}
	chart := report.Chart{
		Name:       "getput",
		Title:      fmt.Sprintf("GetPut, %d goroutines on GOMAXPROCS=%d", o.Goroutines, runtime.GOMAXPROCS(0)),
		Kind:       "bar",
		XLabel:     "reads/writes",
		YLabel:     "million ops/s",
		Categories: mixCols,
	}
	for _, s := range specs {
		row := []string{s.Name}
		ser := report.Series{Name: s.Name}
		for _, m := range o.Mixes {
			ops := 1e9 / res[s.Name][m].ns
			row = append(row, measure.Mops(ops))
			ser.Y = append(ser.Y, ops/1e6)
		}
		summary.Rows = append(summary.Rows, row)
		chart.Series = append(chart.Series, ser)
	}
	for _, s := range specs {
		base, ok := res[s.Baseline]
		if !s.Fresh || !ok {
			continue
		}
		row := []string{s.Name + " ÷ " + s.Baseline + " (time per op)"}
		for _, m := range o.Mixes {
			row = append(row, measure.Ratio(res[s.Name][m].ns, base[m].ns))
		}
		summary.Rows = append(summary.Rows, row)
	}

	detail := report.Table{
		Title:   "Per operation",
		Columns: []string{"cache", "mix", "ns/op", "M ops/s", "B/op", "allocs/op", "ns/op ÷ otter"},
	}
	for _, m := range o.Mixes {
		for _, s := range specs {
			r := res[s.Name][m]
			detail.Rows = append(detail.Rows, []string{
				s.Name, MixName(m), measure.Ns(r.ns), measure.Mops(1e9 / r.ns),
				fmt.Sprintf("%.0f", r.bytes), fmt.Sprintf("%.2f", r.allocs),
				measure.Ratio(r.ns, otter[m].ns),
			})
		}
	}

	notes := []string{
		fmt.Sprintf("Each case ran %d time(s) for about %v (testing.Benchmark, b.RunParallel with SetParallelism(%d), %d goroutines on GOMAXPROCS=%d); the caches taking turns; the run with the median ns/op is shown. "+
			"B/op and allocs/op are averages over all operations, reads and writes.",
			o.Count, o.BenchTime, parallelism(o.Goroutines), parallelism(o.Goroutines)*runtime.GOMAXPROCS(0), runtime.GOMAXPROCS(0)),
		"A write replaces the value of a key that is present; the caches hold 2^16 entries, so nothing is evicted.",
	}
	for _, s := range specs {
		notes = append(notes, fmt.Sprintf("**%s**: %s", s.Name, s.Note))
	}
	return report.Section{
		ID:    "throughput",
		Title: "Throughput (GetPut)",
		Intro: "The port of Caffeine's GetPut benchmark that otter reports: a cache of 2^16 entries prefilled with 2^15 keys, " +
			"accessed through a precomputed scrambled Zipfian stream (θ = 0.99) of 2^20 keys, each goroutine from a random start. " +
			"Each goroutine only reads or only writes, by its index: 75/25 is 6 readers and 2 writers of 8. " +
			"fresh runs with 0, 1 and 4 dependencies per entry, with a bus subscriber attached, and with a default TTL (whose store, like otter-expiry, expires entries); each is compared with the otter configuration its store runs.",
		Tables:  []report.Table{summary, detail},
		Charts:  []report.Chart{chart},
		Notes:   notes,
		Elapsed: elapsed.Seconds(),
	}
}
