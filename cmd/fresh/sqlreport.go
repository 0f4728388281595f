package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/freshcache/fresh/freshsql"
)

// sqlSummary is the result of a run of the SQL demo, printed on stdout.
type sqlSummary struct {
	DurationSeconds float64 `json:"duration_seconds"`
	Readers         int     `json:"readers"`
	Writers         int     `json:"writers"`
	Rate            float64 `json:"rate"` // writes per second asked for

	Reads          uint64  `json:"reads"` // cached reads, each checked
	ReadsPerSecond float64 `json:"reads_per_second"`
	Hits           uint64  `json:"hits"` // cached reads that ran no query
	HitRatio       float64 `json:"hit_ratio"`
	UncachedReads  uint64  `json:"uncached_reads"` // the checks' reads of the same queries

	HitLatency      latencySummary `json:"hit_latency"`
	MissLatency     latencySummary `json:"miss_latency"`
	UncachedLatency latencySummary `json:"uncached_latency"`

	Writes     uint64 `json:"writes"`
	RolledBack uint64 `json:"rolled_back"` // of Writes

	// Evictions compares what freshsql invalidated with what invalidating
	// every cached read of the tables a write touches would have, over the
	// writes measured.
	Evictions evictionSummary `json:"evictions"`

	Statements []freshsql.StatementReport `json:"statements"`
	Freshsql   freshsql.Stats             `json:"freshsql"`

	StaleReads uint64 `json:"stale_reads"`
}

type evictionSummary struct {
	WritesMeasured     int     `json:"writes_measured"`
	LivePerWrite       float64 `json:"live_per_write"`        // entries cached before the write
	FreshsqlPerWrite   float64 `json:"freshsql_per_write"`    // of them, gone after it
	TableLevelPerWrite float64 `json:"table_level_per_write"` // of them, reading a table the write touched
}

// statementLines is how many lines of the per-statement report the text shows.
const statementLines = 12

func (d *sqlDemo) summarize(readers []*sqlReader) sqlSummary {
	var hit, miss, uncached histogram
	s := sqlSummary{Readers: d.cfg.readers, Writers: d.cfg.writers, Rate: d.cfg.rate}
	for _, r := range readers {
		s.Reads += r.reads
		s.Hits += r.hits
		hit.merge(&r.hit)
		miss.merge(&r.miss)
		uncached.merge(&r.uncached)
	}
	s.DurationSeconds = time.Since(d.start).Seconds()
	if s.DurationSeconds > 0 {
		s.ReadsPerSecond = float64(s.Reads) / s.DurationSeconds
	}
	if s.Reads > 0 {
		s.HitRatio = float64(s.Hits) / float64(s.Reads)
	}
	s.UncachedReads = uncached.n
	s.HitLatency, s.MissLatency, s.UncachedLatency = percentiles(&hit), percentiles(&miss), percentiles(&uncached)
	s.Writes, s.RolledBack = d.writes.Load(), d.rolledBack.Load()
	if t := d.evict; t.writes > 0 {
		n := float64(t.writes)
		s.Evictions = evictionSummary{
			WritesMeasured: t.writes, LivePerWrite: float64(t.live) / n,
			FreshsqlPerWrite: float64(t.freshsql) / n, TableLevelPerWrite: float64(t.tableLevel) / n,
		}
	}
	s.Freshsql = d.conn.Stats()
	s.Statements = d.conn.Report()
	s.StaleReads = d.stale.Load()
	return s
}

func (s sqlSummary) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

func (s sqlSummary) writeText(w io.Writer) error {
	var b strings.Builder
	line := func(name, format string, args ...any) {
		fmt.Fprintf(&b, "%-19s "+format+"\n", append([]any{name}, args...)...)
	}
	line("duration", "%v, %d readers, %d writers (%g writes/s asked)", seconds(s.DurationSeconds), s.Readers, s.Writers, s.Rate)
	line("reads", "%d cached (%.0f/s), each checked against %d uncached reads of the same query", s.Reads, s.ReadsPerSecond, s.UncachedReads)
	line("hit ratio", "%.2f%% (%d served from the cache, %d ran the query)", 100*s.HitRatio, s.Hits, s.Reads-s.Hits)
	line("latency", "%-10s %-10s", "p50", "p99")
	line("  cache hit", "%-10v %-10v", short(s.HitLatency.P50), short(s.HitLatency.P99))
	line("  cache miss", "%-10v %-10v", short(s.MissLatency.P50), short(s.MissLatency.P99))
	line("  uncached", "%-10v %-10v", short(s.UncachedLatency.P50), short(s.UncachedLatency.P99))
	line("writes", "%d (%.0f/s; %d rolled back), %d invalidations after commits", s.Writes, float64(s.Writes)/max(s.DurationSeconds, 1e-9), s.RolledBack, s.Freshsql.Invalidations)
	if e := s.Evictions; e.WritesMeasured > 0 {
		line("evicted per write", "%.1f by freshsql, %.1f by table-level invalidation (of %.1f cached; %d writes measured)",
			e.FreshsqlPerWrite, e.TableLevelPerWrite, e.LivePerWrite, e.WritesMeasured)
	} else {
		line("evicted per write", "not measured (no write committed)")
	}
	line("stale reads", "%d", s.StaleReads)
	fmt.Fprintf(&b, "\n%-6s %-7s %8s %7s %9s %7s  %s\n", "kind", "cached", "hits", "misses", "uncached", "execs", "statement (busiest first)")
	for i, st := range s.Statements {
		if i == statementLines {
			fmt.Fprintf(&b, "... %d more\n", len(s.Statements)-i)
			break
		}
		cached := "yes"
		text := oneLine(st.SQL, 70)
		if !st.Cacheable {
			cached = "no"
			text += "  [" + st.NotCached + "]"
		}
		fmt.Fprintf(&b, "%-6s %-7s %8d %7d %9d %7d  %s\n", st.Kind, cached, st.Hits, st.Misses, st.Bypassed, st.Executions, text)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// oneLine folds the white space of a SQL text and cuts it to n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n-3], "") + "..."
	}
	return s
}
