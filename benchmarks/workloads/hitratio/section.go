package hitratio

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/freshcache/fresh/benchmarks/caches"
	"github.com/freshcache/fresh/benchmarks/report"
)

// targetPoints is the largest gap to otter the issue allows, in percentage points.
const targetPoints = 1.0

func pct(hits, accesses int) float64 { return 100 * float64(hits) / float64(accesses) }

func fmtPct(p float64) string { return strconv.FormatFloat(p, 'f', 2, 64) }

func fmtPoints(p float64) string {
	if math.Abs(p) < 0.005 {
		return "0.00"
	}
	return fmt.Sprintf("%+.2f", p)
}

func fmtCapacity(c int) string {
	switch {
	case c >= 1000 && c%1000 == 0:
		return strconv.Itoa(c/1000) + "k"
	default:
		return strconv.Itoa(c)
	}
}

// ratio returns the hit ratio, in percent, of spec si on trace ti at capacity c:
// the mean over its runs.
func ratio(o Options, ts []trace, streams [][]uint64, specs []caches.Spec, res map[cell]outcome, ti, c, si int) float64 {
	n := runs(o, c, specs[si])
	sum := 0.0
	for run := range n {
		sum += pct(res[cell{ti, c, si, run}].hits, len(streams[ti]))
	}
	return sum / float64(n)
}

// spread returns the difference between the best and the worst of the runs of
// spec si on trace ti at capacity c, in points, and whether there were several.
func spread(o Options, streams [][]uint64, specs []caches.Spec, res map[cell]outcome, ti, c, si int) (float64, bool) {
	n := runs(o, c, specs[si])
	lo, hi := math.Inf(1), math.Inf(-1)
	for run := range n {
		p := pct(res[cell{ti, c, si, run}].hits, len(streams[ti]))
		lo, hi = min(lo, p), max(hi, p)
	}
	return hi - lo, n > 1
}

// A pair is a configuration of fresh and the otter configuration its store runs.
type pair struct{ fresh, otter int } // indexes into specs

func (p pair) name(specs []caches.Spec) string {
	return specs[p.fresh].Name + " − " + specs[p.otter].Name
}

func section(o Options, ts []trace, streams [][]uint64, specs []caches.Spec, res map[cell]outcome, elapsed time.Duration) report.Section {
	s := report.Section{
		ID:    "hitratio",
		Title: "Hit ratio",
		Intro: "Each trace is replayed by one goroutine against one cache: every access is a Get, and a miss is followed by a Set of the same key; " +
			"hit ratio = hits / accesses, in percent. The capacities are those the anchor projects report. " +
			"xsync.Map keeps every key, so its row is the ceiling any cache could reach (one compulsory miss per distinct key). " +
			"fresh keeps its entries in otter, so the target is to stay within 1 point of otter everywhere. " +
			"At small capacities otter's own runs differ by more than that (it seeds its hash and admission at random): the summary counts the cells where fresh is more than a point off, and among them those off by more than otter's own spread.",
		Elapsed: elapsed.Seconds(),
	}
	index := func(name string) int {
		return slices.IndexFunc(specs, func(sp caches.Spec) bool { return sp.Name == name })
	}
	iOtter := index(caches.Otter)
	var pairs []pair
	for i, sp := range specs {
		if j := index(sp.Baseline); sp.Fresh && j >= 0 {
			pairs = append(pairs, pair{i, j})
		}
	}

	summary := report.Table{
		Title:   "fresh against otter, per trace",
		Columns: []string{"trace", "accesses", "capacities"},
	}
	for _, p := range pairs {
		summary.Columns = append(summary.Columns, fmt.Sprintf("largest |%s| (points)", p.name(specs)))
	}
	summary.Columns = append(summary.Columns, "otter's largest spread over runs (points)",
		"cells off by more than 1 point (of which more than otter's own spread)", "within 1 point")
	for ti, t := range ts {
		n := len(streams[ti])
		tab := report.Table{
			Title:   fmt.Sprintf("%s (%d accesses), hit ratio %%", t.name, n),
			Columns: []string{"capacity"},
		}
		for _, sp := range specs {
			tab.Columns = append(tab.Columns, sp.Name)
		}
		for _, p := range pairs {
			tab.Columns = append(tab.Columns, p.name(specs)+" (points)")
		}
		tab.Columns = append(tab.Columns, "otter's spread over runs (points)")
		chart := report.Chart{
			Name:   strings.ToLower(t.name),
			Title:  fmt.Sprintf("%s: hit ratio", t.name),
			Kind:   "line",
			XLabel: "capacity (entries)",
			YLabel: "hit ratio (%)",
		}
		series := make([]report.Series, len(specs))
		worst := make([]float64, len(pairs))
		worstSpread := 0.0
		off, offNoise := 0, 0 // cells off by more than a point, and by more than otter's spread
		for _, c := range t.capacities {
			row := []string{fmtCapacity(c)}
			for si, sp := range specs {
				p := ratio(o, ts, streams, specs, res, ti, c, si)
				row = append(row, fmtPct(p))
				series[si].Name = sp.Name
				series[si].X = append(series[si].X, float64(c))
				series[si].Y = append(series[si].Y, p)
			}
			for pi, p := range pairs {
				d := ratio(o, ts, streams, specs, res, ti, c, p.fresh) - ratio(o, ts, streams, specs, res, ti, c, p.otter)
				worst[pi] = max(worst[pi], math.Abs(d))
				row = append(row, fmtPoints(d))
				if math.Abs(d) > targetPoints {
					off++
					if sp, _ := spread(o, streams, specs, res, ti, c, p.otter); math.Abs(d) > sp {
						offNoise++
					}
				}
			}
			if sp, ok := spread(o, streams, specs, res, ti, c, iOtter); ok {
				worstSpread = max(worstSpread, sp)
				row = append(row, fmt.Sprintf("%.2f (%d runs)", sp, o.Repeats))
			} else {
				row = append(row, "–")
			}
			tab.Rows = append(tab.Rows, row)
		}
		chart.Series = series
		s.Tables = append(s.Tables, tab)
		s.Charts = append(s.Charts, chart)

		row := []string{t.name, strconv.Itoa(n), strings.Join(capacityNames(t.capacities), ", ")}
		ok := "yes"
		for _, w := range worst {
			row = append(row, fmt.Sprintf("%.2f", w))
			if w > targetPoints {
				ok = "**no**"
			}
		}
		if worstSpread > 0 {
			row = append(row, fmt.Sprintf("%.2f", worstSpread))
		} else {
			row = append(row, "–")
		}
		row = append(row, fmt.Sprintf("%d (%d)", off, offNoise))
		summary.Rows = append(summary.Rows, append(row, ok))
	}
	if len(pairs) > 0 {
		s.Tables = append([]report.Table{summary}, s.Tables...)
	}
	if slices.ContainsFunc(ts, func(t trace) bool { return t.churn }) {
		s.Tables = append(s.Tables, churnTable(o, ts, streams, res))
	}

	if o.Repeats > 1 {
		var names []string
		for _, sp := range specs {
			if slices.Contains(randomized, sp.Name) {
				names = append(names, sp.Name)
			}
		}
		s.Notes = append(s.Notes, fmt.Sprintf("At capacities up to %d entries, the figures of %s are the mean of %d replays, because otter seeds its hash and its admission at random and W-TinyLFU's results at small sizes vary by points from one run to the next; "+
			"the last column of each table shows how far otter's own runs lie apart, the noise against which fresh − otter should be read.",
			smallCapacity, strings.Join(names, ", "), o.Repeats))
	}
	for _, t := range ts {
		all := traces()[slices.IndexFunc(traces(), func(u trace) bool { return u.name == t.name })].capacities
		if !o.Short && len(t.capacities) < len(all) {
			s.Notes = append(s.Notes, fmt.Sprintf("%s is measured at %s of the README's capacities, to keep the workload within its time budget (Options.AllCapacities measures them all).",
				t.name, strings.Join(capacityNames(t.capacities), ", ")))
		}
	}
	if o.NoWait {
		s.Notes = append(s.Notes, "ristretto and gocache: no Wait() after a Set (what an application that reads a key again at once gets), so a key read again before ristretto applied its Set misses, and buffered Sets may be dropped; both lower their ratios.")
	} else {
		s.Notes = append(s.Notes, "ristretto and gocache: Wait() is called after each Set, so that their rows show their policy; without it a replay, which reads keys again at once, loses the Sets still in ristretto's buffer (Options.NoWait; the storm workload counts the drops).")
	}
	if !slices.Contains(o.Caches, caches.Gocache) {
		s.Notes = append(s.Notes, "gocache is not replayed: its store is ristretto, whose row it would repeat.")
	}
	s.Notes = append(s.Notes,
		fmt.Sprintf("Churn (fresh only, at the middle capacity of each trace but P3): key k depends on tag k/%d, so each tag covers %d consecutive keys. After an access, with the given probability, the tag of the key just accessed is invalidated (writes follow the popularity of reads). "+
			"*No churn* is the same replay, dependencies and all, with no invalidation. "+
			"*Invalidated misses* counts, during the replay, the misses on keys whose tag was invalidated after they were last loaded, at accesses that hit in the replay without churn: the hits the invalidations took away. "+
			"With churn + invalidated misses ≈ no churn; the residual is the rest, negative when invalidated entries (which fresh drops lazily) still take room until read again or evicted, or when reloads change what the policy keeps.",
			o.ChurnGroup, o.ChurnGroup))
	for _, sp := range specs {
		s.Notes = append(s.Notes, fmt.Sprintf("**%s**: %s", sp.Name, sp.Note))
	}
	return s
}

func capacityNames(cs []int) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmtCapacity(c)
	}
	return out
}

func churnTable(o Options, ts []trace, streams [][]uint64, res map[cell]outcome) report.Table {
	tab := report.Table{
		Title: fmt.Sprintf("fresh with invalidation churn (tags of %d keys), hit ratio %%", o.ChurnGroup),
		Columns: []string{
			"trace", "capacity", "invalidating accesses", "invalidations",
			"no churn", "with churn", "invalidated misses", "with churn + invalidated misses", "residual (points)",
		},
	}
	for ti, t := range ts {
		if !t.churn {
			continue
		}
		n := len(streams[ti])
		c := churnCapacity(t)
		rs := res[cell{ti, c, -1, 0}].churn
		if len(rs) == 0 {
			continue
		}
		base := pct(rs[0].hits, n)
		for _, r := range rs[1:] {
			with := pct(r.hits, n)
			inv := pct(r.invalidatedMisses, n)
			tab.Rows = append(tab.Rows, []string{
				t.name, fmtCapacity(c), fmt.Sprintf("%g%%", 100*r.rate), strconv.Itoa(r.invalidations),
				fmtPct(base), fmtPct(with), fmtPct(inv), fmtPct(with + inv), fmtPoints(with + inv - base),
			})
		}
	}
	return tab
}
