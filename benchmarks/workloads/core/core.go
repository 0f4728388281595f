// Package core measures the targets of the core issue side by side in one run: the
// cost of a hit in fresh (with 0, 1 and 4 dependencies per entry, quiet and while
// unrelated invalidations keep arriving, and with a default TTL) against a hit in
// otter (plain, counting hits as fresh always does, and with an expiry calculator
// as fresh's store has with a default TTL), and the latency of Invalidate for a tag
// on which 1, 1k or 100k entries depend, which must stay under a microsecond and
// flat.
//
// Run measures in-process with testing.Benchmark; BenchmarkHit and
// BenchmarkInvalidate in the package's tests run the same bodies under go test:
//
//	go test -run '^$' -bench . -count 6 ./workloads/core | benchstat -col /impl -
package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/benchmarks/internal/measure"
	"github.com/freshcache/fresh/benchmarks/internal/zipf"
	"github.com/freshcache/fresh/benchmarks/report"
	"github.com/maypok86/otter/v2"
	"github.com/maypok86/otter/v2/stats"
)

// Keys is the number of entries the hit benchmarks read, in caches of twice that
// size, through a scrambled Zipfian stream (θ = 0.99).
const Keys = 1 << 15

// tagPool is the number of tags the entries' dependencies are drawn from.
const tagPool = 1000

// churnEvery is the interval of the unrelated invalidations of the churn cases.
const churnEvery = 100 * time.Microsecond

// invalidateLimit is the core issue's bound on Invalidate.
const invalidateLimit = time.Microsecond

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
	// Goroutines is how many goroutines read at once. Default 8.
	Goroutines int

	keys int // entries read; Keys unless a test shrinks it
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

// A HitCase is one configuration of the hit benchmark.
type HitCase struct {
	Name   string
	Fresh  bool
	Deps   int  // dependencies per entry (fresh)
	Churn  bool // unrelated invalidations every 100µs (fresh)
	TTL    bool // fresh with a default TTL, or otter with an expiry calculator
	Stats  bool // otter counts hits and misses
	Versus string
}

// HitCases are the configurations compared, otter's first. Versus names the otter
// configuration each fresh configuration runs in its store.
func HitCases() []HitCase {
	cs := []HitCase{
		{Name: "otter"},
		{Name: "otter-stats", Stats: true},
		{Name: "otter-expiry", TTL: true},
	}
	for _, churn := range []bool{false, true} {
		for _, deps := range []int{0, 1, 4} {
			name := fmt.Sprintf("fresh-%ddeps", deps)
			if churn {
				name += "-churn"
			}
			cs = append(cs, HitCase{Name: name, Fresh: true, Deps: deps, Churn: churn, Versus: "otter"})
		}
	}
	return append(cs, HitCase{Name: "fresh-ttl", Fresh: true, TTL: true, Versus: "otter-expiry"})
}

// Stream returns the keys the hit benchmarks read: 2^20 keys in [0, keys).
func Stream(keys int) []uint64 { return zipf.Scrambled(keys, 0.99, 1<<20, 2) }

// Hit is the body of the hit benchmark: it builds the cache of hc holding keys
// entries and reads stream from several goroutines, each from a random start. Every
// read must hit.
func Hit(b *testing.B, hc HitCase, keys, goroutines int, stream []uint64) {
	var get func(uint64) bool
	if hc.Fresh {
		c, err := newFresh(2*keys, keys, hc.Deps, hc.TTL)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close(context.Background()) //nolint:errcheck // a cache without a bus, closed without a deadline, cannot fail to close
		if hc.Churn {
			defer churn(c)()
		}
		get = func(k uint64) bool { _, ok := c.Get(k); return ok }
	} else {
		o := &otter.Options[uint64, uint64]{MaximumSize: 2 * keys}
		if hc.TTL {
			o.ExpiryCalculator = otter.ExpiryWritingFunc(func(otter.Entry[uint64, uint64]) time.Duration { return math.MaxInt64 })
		}
		if hc.Stats {
			o.StatsRecorder = stats.NewCounter()
		}
		c, err := otter.New(o)
		if err != nil {
			b.Fatal(err)
		}
		defer c.StopAllGoroutines()
		for k := range uint64(keys) {
			c.Set(k, k)
		}
		get = func(k uint64) bool { _, ok := c.GetIfPresent(k); return ok }
	}
	p := runtime.GOMAXPROCS(0)
	b.SetParallelism(max(1, (goroutines+p-1)/p))
	b.ReportAllocs()
	b.ResetTimer()
	mask := len(stream) - 1
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(stream))
		misses := 0
		for pb.Next() {
			if !get(stream[i&mask]) {
				misses++
			}
			i++
		}
		if misses > 0 {
			b.Errorf("%d reads missed; want every read to hit", misses)
		}
	})
	b.StopTimer() // closing the cache is not part of the measure
}

// freshTTL is the default TTL of the fresh-ttl case, never reached.
const freshTTL = 24 * time.Hour

// newFresh returns a fresh cache of capacity entries holding keys 0 to n-1, each
// depending on deps tags of a pool of tagPool, with a default TTL if ttl is set.
func newFresh(capacity, n, deps int, ttl bool) (*fresh.Cache[uint64, uint64], error) {
	ctx := context.Background()
	hub, err := fresh.NewHub(fresh.HubOptions{}) // its own, as a process would have
	if err != nil {
		return nil, err
	}
	o := fresh.Options[uint64, uint64]{Hub: hub, MaxEntries: capacity}
	if ttl {
		o.TTL = freshTTL
	}
	c, err := fresh.New(o)
	if err != nil {
		return nil, err
	}
	pool := make([]fresh.Dep, tagPool)
	for i := range pool {
		pool[i] = fresh.Tag("pool-" + strconv.Itoa(i))
	}
	d := make([]fresh.Dep, deps)
	for k := range n {
		for j := range d {
			d[j] = pool[(k+j*257)%tagPool]
		}
		if err := c.Set(ctx, uint64(k), uint64(k), fresh.DependsOn(d...)); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// churn invalidates a tag no entry depends on every churnEvery until the returned
// function is called; that function waits for it to stop.
func churn(c *fresh.Cache[uint64, uint64]) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(churnEvery)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-t.C:
				// An error here would be ErrClosed; the cache outlives the ticker.
				_ = c.Invalidate(context.Background(), fresh.Tag("unrelated-"+strconv.Itoa(i)))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// NewInvalidateCache returns a fresh cache in which n entries depend on the tag
// Hot, for Invalidate.
func NewInvalidateCache(n int) (*fresh.Cache[uint64, uint64], error) {
	ctx := context.Background()
	hub, err := fresh.NewHub(fresh.HubOptions{})
	if err != nil {
		return nil, err
	}
	c, err := fresh.New(fresh.Options[uint64, uint64]{Hub: hub, MaxEntries: 2 * n})
	if err != nil {
		return nil, err
	}
	for k := range n {
		if err := c.Set(ctx, uint64(k), uint64(k), fresh.DependsOn(Hot)); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Hot is the tag the Invalidate benchmark invalidates.
var Hot = fresh.Tag("hot")

// Invalidate is the body of the Invalidate benchmark: it invalidates Hot in c.
func Invalidate(b *testing.B, c *fresh.Cache[uint64, uint64]) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Invalidate(ctx, Hot); err != nil {
			b.Fatal(err)
		}
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

// Run measures every hit case and the Invalidate latencies, and returns the
// section for BENCHMARKS.md.
func Run(ctx context.Context, o Options) (report.Section, error) {
	start := time.Now()
	o.defaults()
	stream := Stream(o.keys)
	cases := HitCases()
	fs := make([]func(*testing.B), len(cases))
	for i, hc := range cases {
		fs[i] = func(b *testing.B) {
			if ctx.Err() != nil {
				b.Skip("cancelled")
			}
			Hit(b, hc, o.keys, o.Goroutines, stream)
		}
	}
	rs, err := measure.Interleaved(o.Count, o.BenchTime, fs)
	if err != nil {
		return report.Section{}, fmt.Errorf("core: hit: %w", errors.Join(ctx.Err(), err))
	}
	hits := make([]result, len(cases))
	for i, r := range rs {
		hits[i] = resultOf(r)
	}

	invs, err := invalidations(ctx, o)
	if err != nil {
		return report.Section{}, err
	}
	return section(o, cases, hits, invs, time.Since(start)), nil
}

// invalidations measures Invalidate for each number of dependents of o, the cases
// taking turns.
func invalidations(ctx context.Context, o Options) (_ []result, err error) {
	var fs []func(*testing.B)
	var cs []*fresh.Cache[uint64, uint64]
	defer func() {
		for _, c := range cs {
			err = errors.Join(err, c.Close(context.Background()))
		}
	}()
	for _, n := range o.Dependents {
		c, err := NewInvalidateCache(n)
		if err != nil {
			return nil, fmt.Errorf("core: invalidate: %w", err)
		}
		cs = append(cs, c)
		fs = append(fs, func(b *testing.B) {
			if ctx.Err() != nil {
				b.Skip("cancelled")
			}
			Invalidate(b, c)
		})
	}
	rs, err := measure.Interleaved(o.Count, o.BenchTime, fs)
	if err != nil {
		return nil, fmt.Errorf("core: invalidate: %w", errors.Join(ctx.Err(), err))
	}
	invs := make([]result, len(rs))
	for i, r := range rs {
		invs[i] = resultOf(r)
	}
	return invs, nil
}

func section(o Options, cases []HitCase, hits, invs []result, elapsed time.Duration) report.Section {
	ref := func(name string) float64 {
		for i, hc := range cases {
			if hc.Name == name {
				return hits[i].ns
			}
		}
		return 0
	}
	hitTab := report.Table{
		Title:   "Cost of a hit (every read hits; 2^15 entries read through a scrambled Zipfian stream)",
		Columns: []string{"cache", "ns/op", "B/op", "allocs/op", "÷ otter", "÷ otter-stats", "fresh ÷ its store's otter"},
	}
	chart := report.Chart{
		Name:       "hit",
		Title:      "Cost of a hit",
		Kind:       "bar",
		XLabel:     "cache",
		YLabel:     "ns per hit",
		Categories: []string{"hit"},
	}
	for i, hc := range cases {
		r := hits[i]
		versus := "–"
		if hc.Versus != "" {
			versus = measure.Ratio(r.ns, ref(hc.Versus)) + " (" + hc.Versus + ")"
		}
		hitTab.Rows = append(hitTab.Rows, []string{
			hc.Name, measure.Ns(r.ns), fmt.Sprintf("%.0f", r.bytes), fmt.Sprintf("%.2f", r.allocs),
			measure.Ratio(r.ns, ref("otter")), measure.Ratio(r.ns, ref("otter-stats")), versus,
		})
		chart.Series = append(chart.Series, report.Series{Name: hc.Name, Y: []float64{r.ns}})
	}

	invTab := report.Table{
		Title:   "Invalidate of a tag, against the entries that depend on it (target: under 1 µs, flat)",
		Columns: []string{"dependents", "ns/op", "B/op", "allocs/op", "÷ 1 dependent", "under 1 µs"},
	}
	for i, n := range o.Dependents {
		r := invs[i]
		ok := "yes"
		if r.ns >= float64(invalidateLimit.Nanoseconds()) {
			ok = "**no**"
		}
		invTab.Rows = append(invTab.Rows, []string{
			strconv.Itoa(n), measure.Ns(r.ns), fmt.Sprintf("%.0f", r.bytes), fmt.Sprintf("%.2f", r.allocs),
			measure.Ratio(r.ns, invs[0].ns), ok,
		})
	}
	p := runtime.GOMAXPROCS(0)
	return report.Section{
		ID:    "core",
		Title: "Core targets: hit cost and invalidation latency",
		Intro: "The core issue's targets measured side by side in one run. " +
			"A hit in fresh is a hit in otter plus a check of the entry's position against the floor and, when anything was invalidated since the entry was filled, one atomic load per dependency. " +
			"The churn cases invalidate a tag no entry depends on every 100 µs, which defeats the shortcut taken when nothing was invalidated since the fill. " +
			"Invalidate costs O(dependencies invalidated), whatever the number of entries depending on them.",
		Tables: []report.Table{hitTab, invTab},
		Charts: []report.Chart{chart},
		Notes: []string{
			fmt.Sprintf("Hits: %d goroutines (RunParallel, GOMAXPROCS=%d) read a cache of 2^16 entries holding 2^15; each case ran %d time(s) for about %v, the cases taking turns, and the median is shown.",
				max(1, (o.Goroutines+p-1)/p)*p, p, o.Count, o.BenchTime),
			"otter: `MaximumSize` only, as fresh configures its store without a default TTL. otter-stats: the same with `stats.NewCounter()`, since fresh always counts hits and misses. " +
				"otter-expiry: with an `ExpiryCalculator` (entries never expire), as fresh configures its store with a default TTL; otter then reads the clock on every hit.",
			fmt.Sprintf("fresh-Ndeps: every entry depends on N tags of a pool of %d, no default TTL. fresh-ttl: no dependencies, a default TTL of 24 h. Invalidate: one goroutine, b.Loop, the same tag again and again.", tagPool),
		},
		Elapsed: elapsed.Seconds(),
	}
}
