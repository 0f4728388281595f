// Package tags is workload 5 of the benchmarks: tag invalidation. Entries carry 1 to
// 4 tags drawn from a Zipf over the tags; the workload measures the cost of a hit
// against the number of tags per entry, the latency of Invalidate(tag) against the
// number of entries under the tag, and a mixed run of Get, Set and Invalidate from
// several goroutines, for fresh and for two baselines: eko/gocache's tags over its
// in-memory store, and otter with a tag index written by hand (a map from tag to keys
// under a mutex), which is what users of caches without tags write today.
//
// Every measurement goes through testing.Benchmark, so Run works from any program;
// bench_test.go has the same measurements as Benchmark functions for go test -bench.
package tags

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh/benchmarks/report"
)

// Options configure the workload. The zero value is the full run.
type Options struct {
	// Short runs a smaller world and shorter measurements, for a quick look.
	Short bool
	// Entries is how many entries every cache holds. Default 1,000,000 (Short:
	// 100,000).
	Entries int
	// Tags is how many tags the entries' tags are drawn from. Default 10,000.
	Tags int
	// InvalidateSizes are the numbers of entries under the tags whose invalidation
	// is timed. Default 1, 1,000 and 100,000.
	InvalidateSizes []int
	// Rounds is how many invalidations are timed for the largest size; smaller sizes
	// get more (20× for sizes up to 10, 5× up to 10,000). Default 5 (Short: 3).
	Rounds int
	// Goroutines is how many goroutines run the parallel measurements (hits and the
	// mixed run), rounded up to a multiple of GOMAXPROCS. Default 8.
	Goroutines int
	// BenchTime is how long each hit measurement runs; each runs twice and the
	// better of the two is kept. Default 500ms (Short: 100ms).
	BenchTime time.Duration
	// MixedOps is how many operations the mixed run makes, the same for every system
	// so that their hit ratios compare. Default 200,000 (Short: 100,000): gocache
	// takes about 250µs per operation of this run at 1M entries.
	MixedOps int
	// CheckTrials is how many rounds of concurrent first writes of a tag the
	// correctness check makes. Default 20 (Short: 5).
	CheckTrials int
}

func (o Options) withDefaults() Options {
	def := func(v *int, full, short int) {
		if *v <= 0 {
			*v = full
			if o.Short {
				*v = short
			}
		}
	}
	def(&o.Entries, 1_000_000, 100_000)
	def(&o.Tags, 10_000, 10_000)
	def(&o.Rounds, 5, 3)
	def(&o.Goroutines, 8, 8)
	def(&o.MixedOps, 200_000, 100_000)
	def(&o.CheckTrials, 20, 5)
	if len(o.InvalidateSizes) == 0 {
		o.InvalidateSizes = []int{1, 1000, 100_000}
	}
	if o.BenchTime <= 0 {
		o.BenchTime = 500 * time.Millisecond
		if o.Short {
			o.BenchTime = 100 * time.Millisecond
		}
	}
	return o
}

// parallelism returns the argument of SetParallelism that runs at least o.Goroutines
// goroutines, and how many goroutines that is.
func (o Options) parallelism() (p, goroutines int) {
	procs := runtime.GOMAXPROCS(0)
	p = max(1, (o.Goroutines+procs-1)/procs)
	return p, p * procs
}

// rounds returns how many invalidations are timed for a tag over n entries.
func (o Options) rounds(n int) int {
	switch {
	case n <= 10:
		return 20 * o.Rounds
	case n <= 10_000:
		return 5 * o.Rounds
	default:
		return o.Rounds
	}
}

// measured is everything measured on one system.
type measured struct {
	name     string
	fill     testing.BenchmarkResult
	hits     [maxTags + 1]testing.BenchmarkResult
	inv      []testing.BenchmarkResult
	indexed  []int // keys the tag index still holds after each timed invalidation; -1: no index
	checks   checks
	mixed    testing.BenchmarkResult
	hitRatio float64
}

// Run runs the workload and returns its section of BENCHMARKS.md.
func Run(ctx context.Context, o Options) (report.Section, error) {
	start := time.Now()
	o = o.withDefaults()
	par, goroutines := o.parallelism()
	sec := report.Section{
		ID:    "tags",
		Title: "Tag invalidation",
		Intro: fmt.Sprintf("%d entries, each with 1 to %d tags (uniformly many) drawn from a Zipf (s=%.2f) over %d tags. "+
			"Hit cost: parallel Get (%d goroutines, GOMAXPROCS=%d) of keys drawn by a Zipf from the entries with exactly "+
			"k tags, after an unrelated invalidation, so that fresh checks every tag's tombstone on each hit. Invalidation "+
			"latency: a dedicated tag carried by exactly n entries, which are stored again (untimed) before each timed "+
			"Invalidate, since the baselines delete them, followed (untimed) by an Invalidate of a tag nobody carries, "+
			"so that the timed call is not the first since the refill; each call is timed on its own. Mixed: %d operations, 95%% Get / 4%% Set (with the entry's tags) / "+
			"1%% Invalidate(tag), keys by a Zipf over all entries and tags by the tags' Zipf, %d goroutines; no fill on "+
			"a miss, so the hit ratio falls as invalidations accumulate, by the same amount for every correct system.",
			o.Entries, maxTags, zipfS, o.Tags, goroutines, runtime.GOMAXPROCS(0), o.MixedOps, goroutines),
	}
	w := newWorld(o)

	var all []measured
	var notes []string
	for _, mk := range makers() {
		if err := ctx.Err(); err != nil {
			return sec, err
		}
		m, err := measure(w, mk, o, par)
		if err != nil {
			return sec, fmt.Errorf("tags: %s: %w", mk.name, err)
		}
		all = append(all, m)
		notes = append(notes, fmt.Sprintf("**%s**: %s", mk.name, mk.calls))
	}
	sec.Tables, sec.Charts = tables(o, goroutines, all)
	notes = append(notes, limitNotes(o, all)...)
	notes = append(notes, "Mixed run: on one goroutine, the three systems give exactly the same hit ratio over the "+
		"same stream (the package's tests check it). With several goroutines the ratios differ by the interleaving: "+
		"a baseline's Invalidate deletes the tag's keys one by one, and reads that overlap it still hit the keys it has "+
		"not reached yet, while fresh's Invalidate takes effect for all of them at once.")
	sec.Notes = notes
	sec.Elapsed = time.Since(start).Seconds()
	return sec, nil
}

// hitPasses is how many times each hit measurement runs.
const hitPasses = 2

// warmUp is how many keys of each hit stream are read before the hit measurements.
const warmUp = 1 << 16

// measure builds one system over w and runs every measurement on it, then closes
// it, so that no other system's heap is alive while it is measured.
func measure(w *world, mk maker, o Options, par int) (m measured, err error) {
	m.name = mk.name
	runtime.GC()
	s, err := mk.new(w)
	if err != nil {
		return m, err
	}
	defer s.close()
	var fe firstErr
	bench := func(benchtime string, f func(*testing.B)) (testing.BenchmarkResult, error) {
		r, err := benchmark(benchtime, f)
		if err == nil {
			err = fe.err
		}
		return r, err
	}

	// The fill: every entry with its tags, from one goroutine.
	if m.fill, err = bench(fmt.Sprintf("%dx", w.entries), fillBench(s, w.entries, &fe)); err != nil {
		return m, err
	}
	if err := s.invalidate(w.unrelatedTag); err != nil {
		return m, err
	}

	// Hit cost against tags per entry, after one untimed pass over the start of
	// every stream, so that the first measurement does not pay for warming up.
	for k := 1; k <= maxTags; k++ {
		for _, key := range w.hits[k][:min(len(w.hits[k]), warmUp)] {
			s.get(int(key))
		}
	}
	// Two passes over the tag counts; the faster result of each is kept, since
	// whatever else runs on the machine can only slow a measurement down.
	var misses atomic.Int64
	for range hitPasses {
		for k := 1; k <= maxTags; k++ {
			if len(w.hits[k]) == 0 {
				continue
			}
			r, err := bench(o.BenchTime.String(), hitBench(s, w.hits[k], par, &misses))
			if err != nil {
				return m, err
			}
			if n := misses.Load(); n > 0 {
				return m, fmt.Errorf("%d misses among the hits of entries with %d tags", n, k)
			}
			if m.hits[k].N == 0 || nsPerOp(r) < nsPerOp(m.hits[k]) {
				m.hits[k] = r
			}
		}
	}

	// Invalidation latency against entries under the tag.
	for i, n := range w.sizes {
		tag, keys := w.dedicatedTag[i], w.dedicatedKeys[i]
		r, err := bench(fmt.Sprintf("%dx", o.rounds(n)), invalidateBench(s, tag, w.unrelatedTag, keys, &fe))
		if err != nil {
			return m, err
		}
		m.inv = append(m.inv, r)
		idx := -1
		if ix, ok := s.(interface{ indexed(int32) int }); ok {
			idx = ix.indexed(tag)
		}
		m.indexed = append(m.indexed, idx)
		if survivors := countServed(s, keys); survivors > 0 {
			return m, fmt.Errorf("%d of %d entries still served after Invalidate of their only tag", survivors, n)
		}
	}

	// Correctness of the tag index.
	if m.checks, err = runChecks(w, s, o.CheckTrials); err != nil {
		return m, err
	}

	// The mixed run, last: it changes the cache.
	var res mixedResult
	if m.mixed, err = bench(fmt.Sprintf("%dx", o.MixedOps), mixedBench(s, w.mixed, par, &res, &fe)); err != nil {
		return m, err
	}
	if g := res.gets.Load(); g > 0 {
		m.hitRatio = float64(res.hits.Load()) / float64(g)
	}
	return m, nil
}

// countServed returns how many of keys s still serves.
func countServed(s system, keys []int) int {
	n := 0
	for _, k := range keys {
		if s.get(k) {
			n++
		}
	}
	return n
}

// tables renders the measurements.
func tables(o Options, goroutines int, all []measured) ([]report.Table, []report.Chart) {
	byName := map[string]*measured{}
	for i := range all {
		byName[all[i].name] = &all[i]
	}
	fr, ot := byName[nameFresh], byName[nameOtter]
	ratio := func(a, b float64) string {
		if fr == nil || ot == nil || b == 0 {
			return "n/a"
		}
		return fmtRatio(a / b)
	}
	names := make([]string, len(all))
	for i, m := range all {
		names[i] = m.name
	}

	// Hit cost.
	hit := report.Table{
		Title:   fmt.Sprintf("Hit cost against tags per entry (ns/op, %d goroutines, the better of %d runs)", goroutines, hitPasses),
		Columns: append(append([]string{"tags per entry"}, names...), "allocs/op", "fresh ÷ otter"),
	}
	hitChart := report.Chart{
		Name: "hit", Title: "Hit cost against tags per entry", Kind: "line",
		XLabel: "tags per entry", YLabel: "ns/op",
	}
	for _, m := range all {
		sr := report.Series{Name: m.name}
		for k := 1; k <= maxTags; k++ {
			if m.hits[k].N > 0 {
				sr.X = append(sr.X, float64(k))
				sr.Y = append(sr.Y, nsPerOp(m.hits[k]))
			}
		}
		hitChart.Series = append(hitChart.Series, sr)
	}
	for k := 1; k <= maxTags; k++ {
		row := []string{fmt.Sprint(k)}
		var allocs []string
		for _, m := range all {
			row = append(row, fmtNs(nsPerOp(m.hits[k])))
			allocs = append(allocs, fmt.Sprint(m.hits[k].AllocsPerOp()))
		}
		row = append(row, strings.Join(allocs, " / "))
		if fr != nil && ot != nil {
			row = append(row, ratio(nsPerOp(fr.hits[k]), nsPerOp(ot.hits[k])))
		} else {
			row = append(row, "n/a")
		}
		hit.Rows = append(hit.Rows, row)
	}

	// Invalidation latency.
	inv := report.Table{
		Title:   "Invalidate(tag) latency against entries under the tag (median of the timed invalidations; mean in brackets)",
		Columns: append(append([]string{"entries under the tag"}, names...), "timed", "fresh ÷ otter (medians)"),
	}
	for i, n := range o.InvalidateSizes {
		row := []string{fmt.Sprint(n)}
		for _, m := range all {
			row = append(row, fmt.Sprintf("%s (%s)", fmtNs(m.inv[i].Extra[medianMetric]), fmtNs(m.inv[i].Extra[meanMetric])))
		}
		row = append(row, fmt.Sprint(o.rounds(n)))
		if fr != nil && ot != nil {
			row = append(row, ratio(fr.inv[i].Extra[medianMetric], ot.inv[i].Extra[medianMetric]))
		} else {
			row = append(row, "n/a")
		}
		inv.Rows = append(inv.Rows, row)
	}

	// Mixed run.
	mixed := report.Table{
		Title: fmt.Sprintf("Mixed run: 95%% Get / 4%% Set / 1%% Invalidate, %d operations, %d goroutines",
			o.MixedOps, goroutines),
		Columns: []string{"system", "ops/s", "ns/op", "B/op", "allocs/op", "hit ratio", "ops/s ÷ otter's"},
	}
	mixedChart := report.Chart{
		Name: "mixed", Title: "Mixed run throughput", Kind: "bar",
		XLabel: "system", YLabel: "million ops/s", Categories: names,
		Series: []report.Series{{Name: "ops/s"}},
	}
	for _, m := range all {
		ops := opsPerSec(m.mixed)
		r := "n/a"
		if ot != nil {
			r = fmtRatio(ops / opsPerSec(ot.mixed))
		}
		mixed.Rows = append(mixed.Rows, []string{
			m.name, fmtOps(ops), fmtNs(nsPerOp(m.mixed)),
			fmt.Sprint(m.mixed.AllocedBytesPerOp()), fmt.Sprint(m.mixed.AllocsPerOp()),
			fmt.Sprintf("%.1f%%", 100*m.hitRatio), r,
		})
		mixedChart.Series[0].Y = append(mixedChart.Series[0].Y, ops/1e6)
	}

	// Fill.
	fill := report.Table{
		Title:   "Set of an entry with its 1–4 tags (the initial fill, one goroutine)",
		Columns: []string{"system", "ns/op", "B/op", "allocs/op", "÷ otter's ns/op"},
	}
	for _, m := range all {
		r := "n/a"
		if ot != nil {
			r = fmtRatio(nsPerOp(m.fill) / nsPerOp(ot.fill))
		}
		fill.Rows = append(fill.Rows, []string{
			m.name, fmtNs(nsPerOp(m.fill)), fmt.Sprint(m.fill.AllocedBytesPerOp()), fmt.Sprint(m.fill.AllocsPerOp()), r,
		})
	}

	// Correctness.
	last := len(o.InvalidateSizes) - 1
	corr := report.Table{
		Title: "Correctness of the tag index",
		Columns: []string{
			"system",
			fmt.Sprintf("concurrent first Sets of a tag (%d writers), then Invalidate: keys still served", checkWriters),
			"Invalidate(tag nobody carries, tag): keys still served",
			fmt.Sprintf("keys the index still holds after Invalidate of a tag over %d entries", o.InvalidateSizes[last]),
		},
	}
	for _, m := range all {
		idx := "no index (a tombstone per tag)"
		if m.indexed[last] >= 0 {
			idx = fmt.Sprint(m.indexed[last])
		}
		corr.Rows = append(corr.Rows, []string{
			m.name,
			fmt.Sprintf("%d of %d (%d of %d trials)", m.checks.concurrentSurvivors, m.checks.concurrentKeys,
				m.checks.concurrentTrials, o.CheckTrials),
			fmt.Sprintf("%d of %d", m.checks.emptyFirstSurvivors, m.checks.emptyFirstKeys),
			idx,
		})
	}
	return []report.Table{hit, inv, mixed, fill, corr}, []report.Chart{hitChart, mixedChart}
}

// limitNotes states the limits of the baselines that the checks observed.
func limitNotes(o Options, all []measured) []string {
	var notes []string
	last := len(o.InvalidateSizes) - 1
	for _, m := range all {
		switch m.name {
		case nameFresh:
			if m.checks.concurrentSurvivors > 0 || m.checks.emptyFirstSurvivors > 0 {
				notes = append(notes, "**fresh served entries after Invalidate of their tag in the correctness checks: "+
					"this is a bug in fresh.**")
			}
			notes = append(notes, "fresh: Invalidate(tag) writes one tombstone and touches no entry, so its cost does not "+
				"depend on how many entries carry the tag; the invalidated entries stop being served at once and their "+
				"memory is reclaimed lazily (by later reads and by eviction).")
		case nameGo:
			if m.checks.concurrentSurvivors > 0 {
				notes = append(notes, fmt.Sprintf("gocache: its tag index is a read-modify-write of a set stored in the "+
					"cache: a Set that finds no set for a tag creates one and stores it, and concurrent first Sets of a tag "+
					"overwrite each other's sets. Here %d of %d keys written that way were still served after "+
					"Invalidate(tag) (in %d of %d trials): those keys are stale until they expire.",
					m.checks.concurrentSurvivors, m.checks.concurrentKeys, m.checks.concurrentTrials, o.CheckTrials))
			} else {
				notes = append(notes, "gocache: its tag index is a read-modify-write of a set stored in the cache "+
					"(concurrent first Sets of a tag can overwrite each other's sets), but no key was lost in this run's trials.")
			}
			if m.checks.emptyFirstSurvivors > 0 {
				notes = append(notes, fmt.Sprintf("gocache: Invalidate stops at the first tag that has no index and "+
					"returns nil, so the tags after it are not invalidated: %d of %d keys were still served after "+
					"Invalidate(tag nobody carries, tag). The error, if any, is swallowed: its Invalidate always returns nil.",
					m.checks.emptyFirstSurvivors, m.checks.emptyFirstKeys))
			}
			if m.indexed[last] > 0 {
				notes = append(notes, fmt.Sprintf("gocache: Invalidate(tag) deletes the tag's keys but keeps the tag's "+
					"set (%d keys after invalidating a tag over %d entries), so the set only grows and every later "+
					"Invalidate of the tag deletes everything it ever held again; this weighs on its mixed run.",
					m.indexed[last], o.InvalidateSizes[last]))
			}
		case nameOtter:
			notes = append(notes, "otter + tag map: correct only with the care described above, and the lists keep the "+
				"keys of entries that otter evicted or that were set again (a key is appended at each Set) until their "+
				"tag is invalidated; cleaning them needs an eviction callback and a search in the lists. Neither baseline "+
				"fences loads in flight: a value loaded before an Invalidate and stored after it stays cached "+
				"(see the load-versus-invalidate section).")
		}
	}
	return notes
}

func nsPerOp(r testing.BenchmarkResult) float64 {
	if r.N == 0 {
		return 0
	}
	return float64(r.T.Nanoseconds()) / float64(r.N)
}

func opsPerSec(r testing.BenchmarkResult) float64 {
	if r.T <= 0 {
		return 0
	}
	return float64(r.N) / r.T.Seconds()
}

// fmtNs formats a duration in nanoseconds with three significant digits.
func fmtNs(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.3g s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	default:
		return fmt.Sprintf("%.3g ns", ns)
	}
}

// fmtRatio formats a ratio with two decimals, or as 1/n when it is below 0.1, so
// that a ratio of 0.00004 reads 1/25000 and not 0.00.
func fmtRatio(r float64) string {
	switch {
	case r <= 0 || math.IsInf(r, 0) || math.IsNaN(r):
		return "n/a"
	case r < 0.1:
		return fmt.Sprintf("1/%.0f", 1/r)
	default:
		return fmt.Sprintf("%.2f", r)
	}
}

// fmtOps formats a rate of operations per second.
func fmtOps(ops float64) string {
	switch {
	case ops >= 1e6:
		return fmt.Sprintf("%.3gM", ops/1e6)
	case ops >= 1e3:
		return fmt.Sprintf("%.3gk", ops/1e3)
	default:
		return fmt.Sprintf("%.3g", ops)
	}
}
