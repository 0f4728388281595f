package freshsql

import (
	"fmt"
	"strings"

	"github.com/freshcache/fresh/benchmarks/report"
)

// The strategies of the precision table, in order.
const (
	stratFresh      = "freshsql (rows and scopes)"
	stratTable      = "table-level (YokedCache)"
	stratEverything = "everything on any write (go-gorm/caches)"
)

// tables renders what m holds.
func tables(o Options, m measured) ([]report.Table, []report.Chart) {
	var tabs []report.Table
	var charts []report.Chart
	if len(m.hits) > 0 {
		tabs = append(tabs, hitTable(o, m.hits))
	}
	if m.misses != nil {
		tabs = append(tabs, missTable(o, *m.misses))
	}
	if len(m.writes) > 0 {
		tabs = append(tabs, writeTable(o, m))
	}
	if len(m.precision) > 0 {
		t1, t2, c := precisionTables(m.precision)
		tabs = append(tabs, t1, t2)
		charts = append(charts, c)
	}
	return tabs, charts
}

func hitTable(o Options, hits []hitResult) report.Table {
	t := report.Table{
		Title: fmt.Sprintf("Cached hit against the same query sent to PostgreSQL (one goroutine, medians of %d repetitions)", o.Reps),
		Columns: []string{
			"query", "PostgreSQL ns/op", "freshsql hit ns/op", "PostgreSQL allocs/op", "freshsql hit allocs/op",
			"PostgreSQL B/op", "freshsql hit B/op", "PostgreSQL ÷ hit", "target",
		},
	}
	for i, h := range hits {
		d, c := median(h.direct.ns()), median(h.cached.ns())
		target := "—"
		if i == 0 {
			target = fmt.Sprintf("≥ %.0f×: %s", targetHitSpeedup, strings.Trim(met(d/c >= targetHitSpeedup), "*"))
		}
		t.Rows = append(t.Rows, []string{
			h.query, fmtNs(d), fmtNs(c),
			fmtNum(median(h.direct.allocs())), fmtNum(median(h.cached.allocs())),
			fmtNum(median(h.direct.bytes())), fmtNum(median(h.cached.bytes())),
			fmtRatio(ratio(d, c)), target,
		})
	}
	return t
}

func missTable(o Options, m missResult) report.Table {
	t := report.Table{
		Title: fmt.Sprintf("Miss overhead: the point query, every read a miss, against the direct query (one goroutine, %d repetitions round-robin)", o.MissReps),
		Columns: []string{
			"system", "ns/op: median (p25–p75)", "allocs/op", "B/op",
			"overhead against the direct query: median of the repetitions", "overhead: p25–p75", "overhead: min–max", "target",
		},
	}
	rows := []struct {
		name string
		s    series
	}{
		{"PostgreSQL (unwrapped *sql.DB)", m.direct},
		{"freshsql, Cached, every read a miss", m.miss},
		{"freshsql, NoCache (pass-through)", m.noCache},
	}
	for _, r := range rows {
		ns := r.s.ns()
		row := []string{
			r.name,
			fmt.Sprintf("%s (%s–%s)", fmtNs(median(ns)), fmtNs(quantile(ns, 0.25)), fmtNs(quantile(ns, 0.75))),
			fmtNum(median(r.s.allocs())), fmtNum(median(r.s.bytes())),
		}
		if r.name == rows[0].name {
			row = append(row, "—", "—", "—", "—")
		} else {
			ov := m.overheads(r.s)
			target := "—"
			if r.name == rows[1].name {
				target = fmt.Sprintf("≤ %.0f%%: %s", targetMissOverhead, strings.Trim(met(median(ov) <= targetMissOverhead), "*"))
			}
			row = append(row,
				fmtPct(median(ov)),
				fmt.Sprintf("%s … %s", fmtPct(quantile(ov, 0.25)), fmtPct(quantile(ov, 0.75))),
				fmt.Sprintf("%s … %s", fmtPct(quantile(ov, 0)), fmtPct(quantile(ov, 1))),
				target,
			)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

func writeTable(o Options, m measured) report.Table {
	t := report.Table{
		Title:   fmt.Sprintf("Write overhead per autocommit statement (one goroutine, medians of %d repetitions)", o.Reps),
		Columns: []string{"statement", "system", "µs/op", "allocs/op", "B/op", "÷ PostgreSQL's µs/op"},
	}
	for _, w := range m.writes {
		base := median(w.runs[0].ns())
		for i, s := range w.runs {
			ns := median(s.ns())
			t.Rows = append(t.Rows, []string{
				w.statement, m.systems[i], fmtUs(ns), fmtNum(median(s.allocs())), fmtNum(median(s.bytes())), fmtRatio(ratio(ns, base)),
			})
		}
	}
	return t
}

func precisionTables(runs []precisionRun) (report.Table, report.Table, report.Chart) {
	sum := report.Table{
		Title: "Soundness checker: what it ran and checked",
		Columns: []string{
			"database", "mode", "cases", "reads", "writes (in transactions; rolled back; failed)",
			"cached entries checked after writes", "of them changed by the write", "stale reads or crashes",
		},
	}
	ev := report.Table{
		Title: "Evictions after writes: freshsql against table-level invalidation and invalidate-everything, over the same cached entries",
		Columns: []string{
			"database", "mode", "invalidation", "evictions", "needed (result changed)", "unneeded", "unneeded share", "evictions per write",
		},
	}
	chart := report.Chart{
		Name: "evictions", Title: "freshsql: cached entries evicted per write (soundness checker)", Kind: "bar",
		XLabel: "database and mode", YLabel: "evictions per write",
		Series: []report.Series{{Name: "freshsql"}, {Name: "table-level"}, {Name: "everything"}},
	}
	for _, p := range runs {
		r := p.res
		sum.Rows = append(sum.Rows, []string{
			p.database, p.mode, fmt.Sprint(r.Cases), fmt.Sprint(r.Reads),
			fmt.Sprintf("%d (%d transactions; %d; %d)", r.Writes, r.Transactions, r.Rollbacks, r.Failed),
			fmt.Sprint(r.Checked), fmt.Sprint(r.Changed), fmt.Sprint(len(p.failures)),
		})
		chart.Categories = append(chart.Categories, p.database+" "+p.mode)
		for i, s := range []struct {
			name     string
			evicted  int
			unneeded int
		}{
			{stratFresh, r.Evictions, r.Unneeded},
			// Every entry whose result changed read a written table, so both
			// baselines evicted it: their unneeded evictions are the rest.
			{stratTable, r.TableLevel, max(0, r.TableLevel-r.Changed)},
			{stratEverything, r.Everything, max(0, r.Everything-r.Changed)},
		} {
			perWrite := 0.0
			if r.Writes > 0 {
				perWrite = float64(s.evicted) / float64(r.Writes)
			}
			ev.Rows = append(ev.Rows, []string{
				p.database, p.mode, s.name, fmt.Sprint(s.evicted), fmt.Sprint(s.evicted - s.unneeded), fmt.Sprint(s.unneeded),
				fmtShare(s.unneeded, s.evicted), fmt.Sprintf("%.2f", perWrite),
			})
			chart.Series[i].Y = append(chart.Series[i].Y, perWrite)
		}
	}
	return sum, ev, chart
}

// notes explain the numbers of m.
func notes(m measured) []string {
	var out []string
	for _, ic := range m.checks {
		what := "evicted it"
		if ic.kept {
			what = "kept it (still a hit)"
		}
		out = append(out, fmt.Sprintf("Row-image check, before the write measurement: with lists of scopes 3 and 4 cached, an UPDATE of a "+
			"row of scope 3 by its primary key through %s %s for the list of scope 4.", ic.system, what))
	}
	if len(m.checks) > 0 {
		out = append(out, "In default mode, an UPDATE pinned by primary key does not say which scope its row was in, so it dirties "+
			"every scope of the table over the scope column; in row-image mode the RETURNING clause names the row's scope, at the cost of "+
			"reading the returned row (the RETURNING is part of the same statement, not an extra round trip). An INSERT names its "+
			"values, so the two modes run it alike.")
	}
	if m.misses != nil {
		out = append(out, "A miss runs the query on the caller's connection from a goroutine of the cache (the loader), reads the "+
			"whole result into memory and stores it (up to Options.MaxBytes, 64 MiB by default); a NoCache read goes straight through "+
			"to the driver.")
	}
	if len(m.precision) > 0 {
		var seeds []string
		for _, p := range m.precision {
			s := make([]string, len(p.seeds))
			for i, x := range p.seeds {
				s[i] = fmt.Sprint(x)
			}
			seeds = append(seeds, fmt.Sprintf("%s %s: %s", p.database, p.mode, strings.Join(s, ", ")))
		}
		out = append(out, fmt.Sprintf("Checker seeds (one per batch of up to %d PostgreSQL or %d SQLite cases; the soundness package's "+
			"tests rerun one with -soundness.seed): %s.", postgresBatch, sqliteBatch, strings.Join(seeds, "; ")))
		out = append(out, "Evictions per write divide by every write statement the checker ran, the rolled-back and failed ones "+
			"included; the baselines' evictions are counted, not run: the checker counts, for each cached entry it checks after a "+
			"committed write, whether that entry reads a written table. A read freshsql does not cache is never a freshsql eviction.")
		for _, p := range m.precision {
			for _, f := range p.failures {
				what := "Stale read or checker failure"
				if strings.HasPrefix(f, panicPrefix) {
					what = "Crash"
				}
				out = append(out, fmt.Sprintf("**%s (a bug in freshsql) on %s in %s mode; the counts of that run stop there**: %s",
					what, p.database, p.mode, f))
			}
		}
	}
	return out
}
