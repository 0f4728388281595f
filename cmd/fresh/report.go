package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
)

// A demoSummary is the result of a demo run, printed on stdout.
type demoSummary struct {
	Articles int `json:"articles"`
	Readers  int `json:"readers"`
	Writers  int `json:"writers"`

	DurationSeconds float64 `json:"duration_seconds"` // the whole run
	BaselineSeconds float64 `json:"baseline_seconds"` // the part read without the cache

	Reads          uint64  `json:"reads"` // through the cache
	ReadsPerSecond float64 `json:"reads_per_second"`
	UncachedReads  uint64  `json:"uncached_reads"` // of the baseline
	UncachedPerSec float64 `json:"uncached_reads_per_second"`
	Hits           uint64  `json:"hits"`
	Misses         uint64  `json:"misses"`
	HitRatio       float64 `json:"hit_ratio"`

	Cached   latencySummary `json:"cached_latency"`
	Uncached latencySummary `json:"uncached_latency"`

	SourceLoads   uint64 `json:"source_loads"` // by the cache's loaders
	LoadsSaved    int64  `json:"loads_saved"`  // cached reads minus source loads
	Writes        uint64 `json:"writes"`
	Invalidations uint64 `json:"invalidations"`
	FencedFills   uint64 `json:"fenced_fills"`
	StaleReads    uint64 `json:"stale_reads"`

	// Multi is the rest of the summary of a multi-process run (demo -redis); nil
	// for a run in one process. Readers and Writers are then totals over the
	// processes.
	Multi *multiSummary `json:"multi_process,omitempty"`
}

type latencySummary struct {
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
}

// A phaseTotal is what the readers of one phase did, in one process or added up
// over the processes of a run.
type phaseTotal struct {
	Reads   uint64    `json:"reads"`
	Loads   uint64    `json:"loads"` // source loads made meanwhile in the process
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Latency histogram `json:"latency"`
}

func (p *phase) total() phaseTotal {
	return phaseTotal{Reads: p.reads(), Loads: p.loads1 - p.loads0, Start: p.start, End: p.end, Latency: *p.latency()}
}

// add adds o, a phase of another process, to t; the phase spans both.
func (t *phaseTotal) add(o *phaseTotal) {
	if o.Start.IsZero() { // a process that does not read
		return
	}
	t.Reads += o.Reads
	t.Loads += o.Loads
	t.Latency.merge(&o.Latency)
	if t.Start.IsZero() || o.Start.Before(t.Start) {
		t.Start = o.Start
	}
	if o.End.After(t.End) {
		t.End = o.End
	}
}

// runTotals are the counts of a run, of one process or added up over processes.
type runTotals struct {
	Baseline      phaseTotal  `json:"baseline"`
	Cached        phaseTotal  `json:"cached"`
	Cache         fresh.Stats `json:"cache"`
	Writes        uint64      `json:"writes"`
	Invalidations uint64      `json:"invalidations"`
	Stale         uint64      `json:"stale"`
	Within        uint64      `json:"within"`
	Pending       uint64      `json:"pending"`
}

func (d *demo) totals(baseline, cached *phase) runTotals {
	return runTotals{
		Baseline:      baseline.total(),
		Cached:        cached.total(),
		Cache:         d.cache.Stats(),
		Writes:        d.src.writeCount(),
		Invalidations: d.invalidations.Load(),
		Stale:         d.stale.Load(),
		Within:        d.within.Load(),
		Pending:       d.pending.Load(),
	}
}

func (t *runTotals) add(o *runTotals) {
	t.Baseline.add(&o.Baseline)
	t.Cached.add(&o.Cached)
	t.Cache = addStats(t.Cache, o.Cache)
	t.Writes += o.Writes
	t.Invalidations += o.Invalidations
	t.Stale += o.Stale
	t.Within += o.Within
	t.Pending += o.Pending
}

// addStats adds up the counters of two caches (Entries included).
func addStats(a, b fresh.Stats) fresh.Stats {
	return fresh.Stats{
		Hits:         a.Hits + b.Hits,
		Misses:       a.Misses + b.Misses,
		Loads:        a.Loads + b.Loads,
		LoadErrors:   a.LoadErrors + b.LoadErrors,
		Fenced:       a.Fenced + b.Fenced,
		Abandoned:    a.Abandoned + b.Abandoned,
		StaleServed:  a.StaleServed + b.StaleServed,
		Refreshes:    a.Refreshes + b.Refreshes,
		Evictions:    a.Evictions + b.Evictions,
		Expirations:  a.Expirations + b.Expirations,
		StoreHits:    a.StoreHits + b.StoreHits,
		StoreMisses:  a.StoreMisses + b.StoreMisses,
		StoreFills:   a.StoreFills + b.StoreFills,
		StoreFenced:  a.StoreFenced + b.StoreFenced,
		StoreForeign: a.StoreForeign + b.StoreForeign,
		LeaseWaits:   a.LeaseWaits + b.LeaseWaits,
		Entries:      a.Entries + b.Entries,
	}
}

// summarize makes the summary of a run of cfg that started at start.
func summarize(cfg demoConfig, start time.Time, t runTotals) demoSummary {
	st := t.Cache
	reads, loads := t.Cached.Reads, t.Cached.Loads
	s := demoSummary{
		Articles:        cfg.articles,
		Readers:         cfg.readers,
		Writers:         cfg.writers,
		DurationSeconds: t.Cached.End.Sub(start).Seconds(),
		BaselineSeconds: t.Baseline.End.Sub(t.Baseline.Start).Seconds(),
		Reads:           reads,
		UncachedReads:   t.Baseline.Reads,
		Hits:            st.Hits,
		Misses:          st.Misses,
		HitRatio:        st.HitRatio(),
		Cached:          percentiles(&t.Cached.Latency),
		Uncached:        percentiles(&t.Baseline.Latency),
		SourceLoads:     loads,
		LoadsSaved:      int64(reads) - int64(loads),
		Writes:          t.Writes,
		Invalidations:   t.Invalidations,
		FencedFills:     st.Fenced,
		StaleReads:      t.Stale,
	}
	if sec := t.Cached.End.Sub(t.Cached.Start).Seconds(); sec > 0 {
		s.ReadsPerSecond = float64(reads) / sec
	}
	if s.BaselineSeconds > 0 {
		s.UncachedPerSec = float64(s.UncachedReads) / s.BaselineSeconds
	}
	return s
}

func percentiles(h *histogram) latencySummary {
	return latencySummary{P50: h.percentile(0.50), P99: h.percentile(0.99)}
}

func (s demoSummary) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

func (s demoSummary) writeText(w io.Writer) error {
	var b strings.Builder
	line := func(name, format string, args ...any) {
		fmt.Fprintf(&b, "%-20s "+format+"\n", append([]any{name}, args...)...)
	}
	line("duration", "%v (%v uncached baseline, then %v cached)",
		seconds(s.DurationSeconds), seconds(s.BaselineSeconds), seconds(s.DurationSeconds-s.BaselineSeconds))
	line("reads", "%d cached (%.0f/s), %d uncached (%.0f/s)", s.Reads, s.ReadsPerSecond, s.UncachedReads, s.UncachedPerSec)
	line("hit ratio", "%.2f%% (%d hits, %d misses)", 100*s.HitRatio, s.Hits, s.Misses)
	line("read latency p50", "%v cached, %v uncached", short(s.Cached.P50), short(s.Uncached.P50))
	line("read latency p99", "%v cached, %v uncached", short(s.Cached.P99), short(s.Uncached.P99))
	line("source loads", "%d", s.SourceLoads)
	line("loads saved", "%d", s.LoadsSaved)
	line("writes", "%d", s.Writes)
	line("invalidations", "%d", s.Invalidations)
	line("fenced fills", "%d (loads not cached because a write overtook them)", s.FencedFills)
	if s.Multi == nil {
		line("stale reads", "%d", s.StaleReads)
	} else {
		s.Multi.writeText(&b, line, s.StaleReads)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// progress prints a line on stderr every cfg.progressEvery until ctx is done.
func (d *demo) progress(ctx context.Context, current *atomic.Pointer[phase]) {
	var last *phase
	var lastReads uint64
	lastTime := time.Now()
	everyTick(ctx, d.cfg.progressEvery, func(now time.Time) bool {
		p := current.Load()
		if p == nil {
			return true
		}
		if p != last {
			last, lastReads, lastTime = p, 0, p.start
		}
		reads := p.reads()
		rate := float64(reads-lastReads) / now.Sub(lastTime).Seconds()
		lastReads, lastTime = reads, now
		elapsed := short(now.Sub(d.start).Round(100 * time.Millisecond))
		if !p.cached {
			d.logf("%6v  baseline, no cache: %.0f reads/s, stale reads %d\n", elapsed, rate, d.stale.Load())
			return true
		}
		st := d.cache.Stats()
		saved := int64(reads) - int64(d.src.loadCount()-p.loads0)
		d.logf("%6v  %.0f reads/s, hit ratio %.2f%%, loads saved %d, fenced fills %d, stale reads %d\n",
			elapsed, rate, 100*st.HitRatio(), saved, st.Fenced, d.stale.Load())
		return true
	})
}

// short rounds d to three significant digits or so, for reading.
func short(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond)
	}
	return d
}

func seconds(s float64) time.Duration {
	return short(time.Duration(s * float64(time.Second)))
}

// A syncWriter serializes the writes of several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
