package buses

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/freshcache/fresh/benchmarks/internal/bgload"
	"github.com/freshcache/fresh/benchmarks/report"
)

// The columns of the table, by index, for the tests.
const (
	colBus = iota
	colRate
	colRounds
	colP50
	colP99
	colMax
	colTarget
	colInvalidate
	colIdle
	colIncomplete
	numCols
)

// reached is the share of a background rate that must be made for the rate to
// count as reached.
const reached = 0.9

func addSection(sec *report.Section, o Options, runs []*busRun, baseline idleResult) {
	cols := make([]string, numCols)
	cols[colBus] = "bus"
	cols[colRate] = "background invalidations/s: target → made (calls/s)"
	cols[colRounds] = "rounds"
	cols[colP50], cols[colP99], cols[colMax] = "p50", "p99", "max"
	cols[colTarget] = "target"
	cols[colInvalidate] = "Invalidate call p50"
	cols[colIdle] = fmt.Sprintf("idle follower CPU in %s (%% of a core): fresh hub / bus alone", fmtDur(o.IdleTime))
	cols[colIncomplete] = "incomplete rounds"
	tab := report.Table{
		Title:   fmt.Sprintf("Fan-out from Invalidate's return until all %d peer processes refuse the old value, and idle cost", o.Peers),
		Columns: cols,
	}
	chart := report.Chart{
		Name: "fanout", Title: "Buses: fan-out p99, Invalidate returned → all peers refuse", Kind: "bar",
		XLabel: "background invalidations per second", YLabel: "p99 (ms)",
	}
	for _, rate := range o.Rates {
		chart.Categories = append(chart.Categories, fmtRate(float64(rate)))
	}
	var notReached []string
	byPoll, firstErr := 0, ""
	for _, r := range runs {
		idle := r.idleHub.String() + " / " + r.idleBus.String()
		if r.skipped != "" || (r.failed != nil && len(r.fanout) == 0) {
			row := dashes()
			row[colBus] = r.kind.name
			row[colRate] = r.skipped
			if r.skipped == "" {
				row[colRate] = "failed: " + firstLine(r.failed.Error())
				row[colIdle] = idle
			}
			tab.Rows = append(tab.Rows, row)
			continue
		}
		s := report.Series{Name: r.kind.short}
		for i, f := range r.fanout {
			last := slices.Clone(f.last)
			slices.Sort(last)
			inv := slices.Clone(f.invalidate)
			slices.Sort(inv)
			p99 := percentile(last, 0.99)
			row := dashes()
			row[colBus] = r.kind.name
			row[colRate] = fmt.Sprintf("%s → %s (%s)", fmtRate(float64(f.rate)), fmtRate(f.achieved), fmtRate(f.calls))
			if f.rate > 0 && f.achieved < reached*float64(f.rate) {
				row[colRate] += " **not reached**"
				notReached = append(notReached, fmt.Sprintf("%s at %s/s (made %s/s)", r.kind.name, fmtRate(float64(f.rate)), fmtRate(f.achieved)))
			}
			row[colRounds] = strconv.Itoa(len(last))
			if len(last) > 0 {
				row[colP50], row[colP99], row[colMax] = fmtDur(percentile(last, 0.5)), fmtDur(p99), fmtDur(percentile(last, 1))
				row[colInvalidate] = fmtDur(percentile(inv, 0.5))
				if r.kind.target > 0 {
					row[colTarget] = "p99 ≤ " + fmtDur(r.kind.target) + ": " + pick(p99 <= r.kind.target, "met", "**not met**")
				}
			}
			if i == 0 {
				row[colIdle] = idle
			} else {
				row[colIdle] = ""
			}
			row[colIncomplete] = incomplete(f)
			tab.Rows = append(tab.Rows, row)
			s.Y = append(s.Y, float64(p99)/float64(time.Millisecond))
			byPoll += f.byPoll
			if firstErr == "" && f.firstErr != "" {
				firstErr = r.kind.name + ": " + f.firstErr
			}
		}
		if r.failed != nil {
			row := dashes()
			row[colBus] = r.kind.name
			row[colRate] = "failed: " + firstLine(r.failed.Error())
			tab.Rows = append(tab.Rows, row)
		}
		if len(s.Y) == len(chart.Categories) {
			chart.Series = append(chart.Series, s)
		}
	}
	row := dashes()
	row[colBus] = "no bus (baseline: the same child process, idle)"
	row[colIdle] = baseline.String() + " / –"
	tab.Rows = append(tab.Rows, row)

	sec.Tables = append(sec.Tables, tab)
	if len(chart.Series) > 0 {
		sec.Charts = append(sec.Charts, chart)
	}
	sec.Notes = append(sec.Notes, fmt.Sprintf("**Fan-out.** A writer hub in this process and %d peer hubs, each in a child "+
		"OS process of its own, follow one bus (each hub opens its own connections, or its own handle on the SQLite file). "+
		"The hubs have no Store, so `Invalidate` is the hub's work and one publish on the bus, for every bus alike. Each "+
		"round, every peer reads a new key whose value depends on an `Entity` and holds it in its in-process tier; the "+
		"writer then calls `Invalidate` on that entity. A peer looks at the value (`Get`) right after each message its "+
		"bus delivers to the hub, which applies an invalidation before its handler returns, and every millisecond "+
		"besides; it stamps the first miss with the wall clock (CLOCK_REALTIME, shared by the processes of one host). The "+
		"latency of a round is the last peer's stamp minus the moment `Invalidate` returned: it can be negative when "+
		"every peer refused before the writer saw its publish acknowledged. %d rounds per bus and rate; %d refusal(s) "+
		"were stamped by the 1 ms poll, which runs alongside the deliveries and can see a miss first.",
		o.Peers, o.Rounds, byPoll))
	sec.Notes = append(sec.Notes, fmt.Sprintf("The background load invalidates tags that no cached value depends on, through "+
		"a second hub in this process on a bus of its own, from %d goroutines that each keep a share of the rate. A call "+
		"carries one tag, or, when its goroutine has fallen behind (the bus's publish is slower than the rate), every tag "+
		"due, up to %d: *made* is the tags invalidated per second, and the calls (messages) per second follow in brackets. "+
		"A rate counts as reached when at least %.0f%% of it was made.", bgload.Workers, bgload.Batch, reached*100))
	if len(notReached) > 0 {
		sec.Notes = append(sec.Notes, "Background rates **not reached** on this machine (the latencies of those rows are under "+
			"the load that was made): "+strings.Join(notReached, "; ")+".")
	}
	if o.Short {
		sec.Notes = append(sec.Notes, "Short mode: 10k background invalidations/s are not measured.")
	}
	sec.Notes = append(sec.Notes, fmt.Sprintf("**Idle cost.** Before the fan-out, for each bus, one child process follows it "+
		"with a fresh hub and a cache (as an application would: the hub also publishes its own heartbeat, one message a "+
		"second by default, and reads it back), and one with the bus alone and a handler that does nothing; the baseline "+
		"is the same child with no bus at all (the Go runtime and the pipes to this process). Each reads its CPU time "+
		"(user + system, getrusage RUSAGE_SELF) before and after %s of wall time, all at once, while nothing of the run "+
		"publishes on their buses. The percentage is of one core.", fmtDur(o.IdleTime)))
	if firstErr != "" {
		sec.Notes = append(sec.Notes, "A round that could not be armed: "+firstErr)
	}
}

func dashes() []string {
	row := make([]string, numCols)
	for i := range row {
		row[i] = "–"
	}
	return row
}

func incomplete(f fanoutResult) string {
	var parts []string
	if f.timeouts > 0 {
		parts = append(parts, fmt.Sprintf("%d not refused in %v", f.timeouts, fanoutWait))
	}
	if f.early > 0 {
		parts = append(parts, fmt.Sprintf("%d refused before Invalidate", f.early))
	}
	if f.failed > 0 {
		parts = append(parts, fmt.Sprintf("%d not armed", f.failed))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "; ")
}

// percentile returns the nearest-rank percentile p of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// fmtDur formats d with three significant digits, with a sign when negative.
func fmtDur(d time.Duration) string {
	if d < 0 {
		return "−" + fmtDur(-d)
	}
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

// fmtRate formats operations per second.
func fmtRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	default:
		return fmt.Sprintf("%.0f", r)
	}
}

// redactURL hides a password in a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
