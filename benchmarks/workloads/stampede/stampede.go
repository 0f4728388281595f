// Package stampede is workload 7 of the benchmarks: many goroutines miss the same
// cold key at once, and the loader is slow. A cache that coalesces the misses calls
// the origin once; the others call it once per goroutine that missed before the
// first load stored its value.
//
// Each round uses a key never read before; every goroutine waits at a barrier, then
// times its own read. A round reports the origin calls and the 50th and 99th
// percentiles of the readers' latencies; the table gives, per library, the median of
// the rounds' percentiles and the most origin calls any round made.
package stampede

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh/benchmarks/report"
)

// Options configure the workload. The zero value is the full run.
type Options struct {
	// Short runs fewer rounds, for a quick look.
	Short bool
	// Goroutines is how many readers miss the key at once. Default 1000.
	Goroutines int
	// LoadTime is how long the loader takes. Default 10ms.
	LoadTime time.Duration
	// Rounds is how many cold keys each library is tried on. Default 20 (Short: 3).
	Rounds int
	// EdgeRounds is how many rounds the second measurement runs: EdgeGoroutines
	// readers and a loader of EdgeLoadTime, so short that readers are still arriving
	// when the load ends. A cache that, finding no load in flight, starts one without
	// looking in the store again calls the origin twice there. Default 500 (Short: 100).
	EdgeRounds int
	// EdgeGoroutines is how many readers each round of the second measurement has.
	// Default 64.
	EdgeGoroutines int
	// EdgeLoadTime is the loader's duration in the second measurement. Default 200µs.
	EdgeLoadTime time.Duration
	// Only, when not empty, restricts the run to the libraries of these names.
	Only []string
}

// A config is one measurement: how many readers, how long a load, how many rounds.
type config struct {
	goroutines int
	load       time.Duration
	rounds     int
}

func (o Options) main() config { return config{o.Goroutines, o.LoadTime, o.Rounds} }

func (o Options) edge() config { return config{o.EdgeGoroutines, o.EdgeLoadTime, o.EdgeRounds} }

func (o Options) withDefaults() Options {
	if o.Goroutines <= 0 {
		o.Goroutines = 1000
	}
	if o.LoadTime <= 0 {
		o.LoadTime = 10 * time.Millisecond
	}
	if o.Rounds <= 0 {
		o.Rounds = 20
		if o.Short {
			o.Rounds = 3
		}
	}
	if o.EdgeRounds <= 0 {
		o.EdgeRounds = 500
		if o.Short {
			o.EdgeRounds = 100
		}
	}
	if o.EdgeGoroutines <= 0 {
		o.EdgeGoroutines = 64
	}
	if o.EdgeLoadTime <= 0 {
		o.EdgeLoadTime = 200 * time.Microsecond
	}
	return o
}

// Run runs the workload and returns its section of BENCHMARKS.md.
func Run(ctx context.Context, o Options) (report.Section, error) {
	start := time.Now()
	o = o.withDefaults()
	sec := report.Section{
		ID:    "stampede",
		Title: "Stampede on a cold key",
		Intro: fmt.Sprintf("%d goroutines read the same cold key at once through each library's load-on-miss call; the "+
			"loader takes %v. Each of %d rounds uses a new key on the same cache. *Origin calls* is how many times the "+
			"loader ran in a round (1 is ideal; the table gives the most seen in any round and the median). Latencies are "+
			"each reader's own, from its call to its return; the table gives the median over rounds of each round's "+
			"percentile. A second measurement looks at the end of a load: %d rounds of %d readers with a %v loader, "+
			"so that readers are still arriving as the load ends; it counts the rounds in which the origin was called "+
			"more than once. GOMAXPROCS=%d.",
			o.Goroutines, o.LoadTime, o.Rounds, o.EdgeRounds, o.EdgeGoroutines, o.EdgeLoadTime, runtime.GOMAXPROCS(0)),
	}
	tab := report.Table{
		Title: "Origin calls and waiter latency",
		Columns: []string{"library", "origin calls (max)", "origin calls (median)", "p50", "p99", "p99 ÷ otter's",
			"short loads: rounds with more than one origin call", "errors"},
	}
	chart := report.Chart{
		Name: "p99", Title: "Stampede: p99 waiter latency", Kind: "bar",
		XLabel: "library", YLabel: "p99 latency (ms)",
		Series: []report.Series{{Name: "p99"}},
	}
	type summary struct {
		name               string
		maxCalls, medCalls int
		p50, p99           time.Duration
		errs               int
		firstErr           error
		edgeBad, edgeMax   int
	}
	var sums []summary
	var notes []string
	for _, s := range subjects() {
		if len(o.Only) > 0 && !slices.Contains(o.Only, s.name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return sec, err
		}
		rounds, err := runSubject(ctx, s, o.main())
		if err != nil {
			return sec, fmt.Errorf("stampede: %s: %w", s.name, err)
		}
		edge, err := runSubject(ctx, s, o.edge())
		if err != nil {
			return sec, fmt.Errorf("stampede: %s: %w", s.name, err)
		}
		sm := summary{name: s.name}
		for _, r := range edge {
			if r.calls > 1 {
				sm.edgeBad++
			}
			sm.edgeMax = max(sm.edgeMax, r.calls)
			sm.errs += r.errs
		}
		var calls []int
		var p50s, p99s []time.Duration
		for _, r := range rounds {
			calls = append(calls, r.calls)
			p50s = append(p50s, r.p50)
			p99s = append(p99s, r.p99)
			sm.errs += r.errs
			if sm.firstErr == nil {
				sm.firstErr = r.firstErr
			}
		}
		sm.maxCalls = slices.Max(calls)
		sm.medCalls = median(calls)
		sm.p50, sm.p99 = median(p50s), median(p99s)
		sums = append(sums, sm)
		notes = append(notes, fmt.Sprintf("**%s**: %s", s.name, s.calls))
		if sm.firstErr != nil {
			notes = append(notes, fmt.Sprintf("%s: %d reads failed, the first with: %v", s.name, sm.errs, sm.firstErr))
		}
	}
	var otterP99 time.Duration
	for _, sm := range sums {
		if sm.name == "otter" {
			otterP99 = sm.p99
		}
	}
	for _, sm := range sums {
		ratio := "n/a"
		if otterP99 > 0 {
			ratio = fmt.Sprintf("%.2f", float64(sm.p99)/float64(otterP99))
		}
		tab.Rows = append(tab.Rows, []string{
			sm.name, fmt.Sprint(sm.maxCalls), fmt.Sprint(sm.medCalls),
			fmtDur(sm.p50), fmtDur(sm.p99), ratio,
			fmt.Sprintf("%d of %d (max %d calls)", sm.edgeBad, o.EdgeRounds, sm.edgeMax),
			fmt.Sprint(sm.errs),
		})
		chart.Categories = append(chart.Categories, sm.name)
		chart.Series[0].Y = append(chart.Series[0].Y, float64(sm.p99)/float64(time.Millisecond))
		if sm.name == "fresh" && (sm.maxCalls != 1 || sm.edgeBad > 0) {
			notes = append([]string{fmt.Sprintf("**fresh called the origin more than once for one cold key: up to %d "+
				"calls in a round with %v loads, and more than one call in %d of %d rounds with %v loads (up to %d). "+
				"It must call it once: this is a bug in fresh.**",
				sm.maxCalls, o.LoadTime, sm.edgeBad, o.EdgeRounds, o.EdgeLoadTime, sm.edgeMax)}, notes...)
		}
	}
	var gap []string
	for _, sm := range sums {
		if sm.edgeBad > 0 && sm.name != contrast {
			gap = append(gap, sm.name)
		}
	}
	if len(gap) > 0 {
		notes = append(notes, strings.Join(gap, ", ")+": more than one origin call at the end of a load. A reader that "+
			"missed the cache just before the load stored its value, and looked for a load in flight just after that "+
			"load ended, starts another one instead of reading the store again.")
	}
	notes = append(notes, "ristretto has no load-on-miss call, so it has no row: coalescing misses is left to its users.")
	sec.Tables = []report.Table{tab}
	sec.Charts = []report.Chart{chart}
	sec.Notes = notes
	sec.Elapsed = time.Since(start).Seconds()
	return sec, nil
}

// A round is what one cold key gave.
type round struct {
	calls    int
	p50, p99 time.Duration
	errs     int
	firstErr error
}

// runSubject runs every round of cfg for s on one instance.
func runSubject(ctx context.Context, s subject, cfg config) ([]round, error) {
	var calls atomic.Int64
	loader := func(ctx context.Context, key string) (string, error) {
		calls.Add(1)
		t := time.NewTimer(cfg.load)
		defer t.Stop()
		select {
		case <-t.C:
			return "value of " + key, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	inst, err := s.new(loader)
	if err != nil {
		return nil, err
	}
	defer inst.close()
	runtime.GC() // start each library from the same state of the heap

	lat := make([]time.Duration, cfg.goroutines)
	errs := make([]error, cfg.goroutines)
	rounds := make([]round, 0, cfg.rounds)
	for r := range cfg.rounds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		key := fmt.Sprintf("cold-%d", r)
		before := calls.Load()
		startGate := make(chan struct{})
		var ready, done sync.WaitGroup
		ready.Add(cfg.goroutines)
		done.Add(cfg.goroutines)
		for i := range cfg.goroutines {
			go func() {
				defer done.Done()
				ready.Done()
				<-startGate
				t0 := time.Now()
				_, errs[i] = inst.read(ctx, key)
				lat[i] = time.Since(t0)
			}()
		}
		ready.Wait()
		close(startGate)
		done.Wait()

		rd := round{calls: int(calls.Load() - before)}
		for _, err := range errs {
			if err != nil {
				rd.errs++
				if rd.firstErr == nil {
					rd.firstErr = err
				}
			}
		}
		sorted := slices.Clone(lat)
		slices.Sort(sorted)
		rd.p50, rd.p99 = percentile(sorted, 0.50), percentile(sorted, 0.99)
		rounds = append(rounds, rd)
		clear(errs)
	}
	return rounds, nil
}

// percentile returns the nearest-rank percentile p of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// median returns the median of xs (the lower middle for an even count).
func median[T int | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// fmtDur formats d with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3g s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3g ms", float64(d)/float64(time.Millisecond))
	case d >= time.Microsecond:
		return fmt.Sprintf("%.3g µs", float64(d)/float64(time.Microsecond))
	default:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	}
}
