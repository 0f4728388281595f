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
}

type latencySummary struct {
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
}

func (d *demo) summary(baseline, cached *phase) demoSummary {
	st := d.cache.Stats()
	loads := cached.loads1 - cached.loads0
	reads := cached.reads()
	s := demoSummary{
		Articles:        d.cfg.articles,
		Readers:         d.cfg.readers,
		Writers:         d.cfg.writers,
		DurationSeconds: cached.end.Sub(d.start).Seconds(),
		BaselineSeconds: baseline.end.Sub(baseline.start).Seconds(),
		Reads:           reads,
		UncachedReads:   baseline.reads(),
		Hits:            st.Hits,
		Misses:          st.Misses,
		HitRatio:        st.HitRatio(),
		Cached:          percentiles(cached.latency()),
		Uncached:        percentiles(baseline.latency()),
		SourceLoads:     loads,
		LoadsSaved:      int64(reads) - int64(loads),
		Writes:          d.src.writes.Load(),
		Invalidations:   d.invalidations.Load(),
		FencedFills:     st.Fenced,
		StaleReads:      d.stale.Load(),
	}
	if sec := cached.end.Sub(cached.start).Seconds(); sec > 0 {
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
	line("stale reads", "%d", s.StaleReads)
	_, err := io.WriteString(w, b.String())
	return err
}

// progress prints a line on stderr every cfg.progressEvery until ctx is done.
func (d *demo) progress(ctx context.Context, current *atomic.Pointer[phase]) {
	tick := time.NewTicker(d.cfg.progressEvery)
	defer tick.Stop()
	var last *phase
	var lastReads uint64
	lastTime := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			p := current.Load()
			if p == nil {
				continue
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
				continue
			}
			st := d.cache.Stats()
			saved := int64(reads) - int64(d.src.loads.Load()-p.loads0)
			d.logf("%6v  %.0f reads/s, hit ratio %.2f%%, loads saved %d, fenced fills %d, stale reads %d\n",
				elapsed, rate, 100*st.HitRatio(), saved, st.Fenced, d.stale.Load())
		}
	}
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
