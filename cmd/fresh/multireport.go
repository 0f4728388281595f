package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// multiSummary is the part of a demoSummary that only a multi-process run has.
type multiSummary struct {
	Procs        int           `json:"procs"`
	Namespace    string        `json:"namespace"`
	MaxStaleness time.Duration `json:"max_staleness_ns"`
	Bus          string        `json:"bus,omitempty"`        // -bus, redacted; "" for a StreamBus on the Redis
	SourceDir    string        `json:"source_dir,omitempty"` // the fileSource's, without Redis (no L2 then)

	StoreHits   uint64 `json:"store_hits"`   // L1 misses served from Redis
	StoreFills  uint64 `json:"store_fills"`  // loaded values stored in Redis
	StoreFenced uint64 `json:"store_fenced"` // fills Redis refused: a write overtook them there

	// Reads served a version older than the source's when they began, but not
	// stale: the newer version's invalidation had returned less than MaxStaleness
	// before (within bound), or had not returned (uninvalidated).
	BehindWithinBound   uint64 `json:"behind_within_bound"`
	BehindUninvalidated uint64 `json:"behind_uninvalidated"`

	Gaps              uint64 `json:"gaps"`                // bus continuity lost (each flushes a hub)
	StoreEpochChanges uint64 `json:"store_epoch_changes"` // new Store epochs seen (each flushes a hub)

	FanOut    fanOutSummary `json:"fan_out"`
	Processes []procSummary `json:"processes"`
}

// fanOutSummary is what the fan-out probe measured (see probe.go): from a writer's
// invalidation returning to a peer process refusing the old value.
type fanOutSummary struct {
	Markers uint64        `json:"markers"` // marker versions written
	Samples uint64        `json:"samples"` // refusals measured, over every reading process
	P50     time.Duration `json:"p50_ns"`
	P99     time.Duration `json:"p99_ns"`
	Max     time.Duration `json:"max_ns"`
	Early   uint64        `json:"before_return"`  // refusals before the writer's call returned, counted as 0
	Other   uint64        `json:"other_refusals"` // refusals not caused by a marker's invalidation
	Unseen  uint64        `json:"unseen"`         // markers refused while the probe was loading them
}

// procSummary is one process's part of a multi-process run.
type procSummary struct {
	Name string `json:"name"`
	Role string `json:"role"` // "write" or "read"
	PID  int    `json:"pid"`

	Reads             uint64 `json:"reads"` // through the cache
	Writes            uint64 `json:"writes"`
	Hits              uint64 `json:"l1_hits"`
	StoreHits         uint64 `json:"store_hits"`
	Loads             uint64 `json:"loads"`
	StoreFills        uint64 `json:"store_fills"`
	StoreFenced       uint64 `json:"store_fenced"`
	Fenced            uint64 `json:"fenced"`
	Gaps              uint64 `json:"gaps"`
	StoreEpochChanges uint64 `json:"store_epoch_changes"`
	Stale             uint64 `json:"stale_reads"`
	BehindWithinBound uint64 `json:"behind_within_bound"`

	FanOut *fanOutSummary `json:"fan_out,omitempty"` // a reading process's probe
}

func procSummaryOf(rep *workerReport) procSummary {
	t, st := &rep.Totals, &rep.Totals.Cache
	p := procSummary{
		Name: rep.Name, Role: rep.Role, PID: rep.PID,
		Reads: t.Cached.Reads, Writes: t.Writes,
		Hits: st.Hits, StoreHits: st.StoreHits, Loads: st.Loads,
		StoreFills: st.StoreFills, StoreFenced: st.StoreFenced, Fenced: st.Fenced,
		Gaps: rep.Hub.Gaps, StoreEpochChanges: rep.Hub.StoreEpochChanges,
		Stale: t.Stale, BehindWithinBound: t.Within,
	}
	if rep.Role == "read" {
		f := &fanOutSummary{}
		f.fill(&rep.Probe)
		p.FanOut = f
	}
	return p
}

// add adds o, another process's probe, to r.
func (r *probeResult) add(o *probeResult) {
	r.Latency.merge(&o.Latency)
	r.Max = max(r.Max, o.Max)
	r.Samples += o.Samples
	r.Early += o.Early
	r.Other += o.Other
	r.Unseen += o.Unseen
}

// fill sets what f says of the probe results r.
func (f *fanOutSummary) fill(r *probeResult) {
	f.Samples, f.Max, f.Early, f.Other, f.Unseen = r.Samples, r.Max, r.Early, r.Other, r.Unseen
	f.P50, f.P99 = r.Latency.percentile(0.50), r.Latency.percentile(0.99)
}

// triple returns "p50/p99/max", or "-" without samples.
func (f *fanOutSummary) triple() string {
	if f.Samples == 0 {
		return "-"
	}
	return fmt.Sprintf("%v/%v/%v", short(f.P50), short(f.P99), short(f.Max))
}

// writeText writes the multi-process lines of the summary, from the stale reads
// on, with line.
func (m *multiSummary) writeText(b *strings.Builder, line func(name, format string, args ...any), stale uint64) {
	bound := short(m.MaxStaleness)
	line("stale reads", "%d (served a version older than the source's when the read began, whose successor's invalidation had returned more than %v before)", stale, bound)
	line("behind within bound", "%d (older, but the successor's invalidation had returned less than %v before: allowed across processes)", m.BehindWithinBound, bound)
	line("behind uninvalidated", "%d (older, but the successor's invalidation had not returned yet: not promised)", m.BehindUninvalidated)
	if m.SourceDir == "" {
		line("store (L2) hits", "%d (L1 misses served from Redis); %d fills, %d fenced there", m.StoreHits, m.StoreFills, m.StoreFenced)
	} else {
		line("store (L2)", "none (without -redis the processes share the bus and the source only)")
	}
	if f := &m.FanOut; f.Samples > 0 {
		early := ""
		if f.Early > 0 {
			early = fmt.Sprintf("; %d refused before the writer's call returned, counted as 0", f.Early)
		}
		line("fan-out latency", "p50 %v, p99 %v, max %v (%d refusals of %d markers, from a writer's invalidation returning to a peer process refusing the old value%s)",
			short(f.P50), short(f.P99), short(f.Max), f.Samples, f.Markers, early)
	} else {
		line("fan-out latency", "none measured (%d markers)", f.Markers)
	}
	line("bus gaps", "%d, store epoch changes %d (each flushes a process's caches)", m.Gaps, m.StoreEpochChanges)
	switch {
	case m.Bus == "":
		line("processes", "%d sharing Redis in namespace %s, deleted at the end:", m.Procs, m.Namespace)
	case m.SourceDir == "":
		line("processes", "%d sharing the bus %s and Redis in namespace %s, deleted at the end:", m.Procs, m.Bus, m.Namespace)
	default:
		line("processes", "%d sharing the bus %s (namespace %s) and the source in %s, removed at the end:", m.Procs, m.Bus, m.Namespace, m.SourceDir)
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "  process\tpid\treads\twrites\tL1 hits\tL2 hits\tloads\tL2 fills\tL2 fenced\tfenced\tgaps\tL2 epochs\tstale\tfan-out p50/p99/max")
	for _, p := range m.Processes {
		fan := "-"
		if p.FanOut != nil {
			fan = p.FanOut.triple()
		}
		_, _ = fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n",
			p.Name, p.PID, p.Reads, p.Writes, p.Hits, p.StoreHits, p.Loads, p.StoreFills, p.StoreFenced,
			p.Fenced, p.Gaps, p.StoreEpochChanges, p.Stale, fan)
	}
	_ = tw.Flush() // the tabwriter writes into a strings.Builder: it never fails
}
