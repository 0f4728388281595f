package core

import (
	"fmt"
	"math"
	"runtime"
	"strconv"
	"time"

	"github.com/freshcache/fresh/benchmarks/internal/measure"
	"github.com/freshcache/fresh/benchmarks/report"
)

// The thresholds of the summary. The ratios are those of the performance issue;
// nestedLimit and flatLimit are this workload's reading of "as cheaply" and "flat".
const (
	hit0NoStatsLimit = 1.05 // fresh-0deps-nostats ÷ otter
	hit0StatsLimit   = 0.90 // fresh-0deps ÷ otter-stats
	hit4ChurnLimit   = 1.30 // fresh-4deps-churn-nostats ÷ otter
	nestedLimit      = 1.05 // nested ÷ direct: as cheaply, within the 5 % the issue allows as noise
	set0Limit        = 1.50 // Set, fresh-0deps ÷ otter
	set4Limit        = 3.00 // Set, fresh-4deps ÷ otter
	set4AllocsLimit  = 1.00 // allocations per Set, fresh-4deps
	flatLimit        = 1.25 // Invalidate, slowest ÷ 1 dependent
)

// met formats whether value, rounded to the two decimals the tables show, is at
// most limit.
func met(value, limit float64) string {
	switch {
	case math.IsNaN(value) || math.IsInf(value, 0):
		return "–"
	case math.Round(value*100) <= math.Round(limit*100):
		return "yes"
	default:
		return "**no**"
	}
}

// ratioRow is a row of the summary for the target num ÷ den ≤ limit.
func ratioRow(what, num, den string, n, d, limit float64) []string {
	return []string{
		what,
		fmt.Sprintf("%s %s ns, %s %s ns", num, measure.Ns(n), den, measure.Ns(d)),
		measure.Ratio(n, d), fmt.Sprintf("%.2f×", limit), met(n/d, limit),
	}
}

func summary(o Options, res results) report.Table {
	h := func(name string) float64 { return res.hits[name].ns }
	s := func(name string) result { return res.sets[name] }
	t := report.Table{
		Title:   "Summary: each target of the performance issue, measured in this run",
		Columns: []string{"target", "measured", "ratio", "at most", "met"},
	}
	t.Rows = append(t.Rows,
		ratioRow("Hit, 0 deps, hit statistics off", fresh0NoStats, otterPlain, h(fresh0NoStats), h(otterPlain), hit0NoStatsLimit),
		ratioRow("Hit, 0 deps, hit statistics on", fresh0, otterStats, h(fresh0), h(otterStats), hit0StatsLimit),
		ratioRow("Hit, 4 deps, an unrelated invalidation every 100 µs, hit statistics off", fresh4ChurnNoStats, otterPlain, h(fresh4ChurnNoStats), h(otterPlain), hit4ChurnLimit),
		ratioRow("Hit on a nested value (4 inner values) against 4 deps declared directly", nested4, fresh4, h(nested4), h(fresh4), nestedLimit),
		ratioRow("The same, an unrelated invalidation every 100 µs", nested4Churn, fresh4Churn, h(nested4Churn), h(fresh4Churn), nestedLimit),
		ratioRow(fmt.Sprintf("Set of an existing key, 0 deps, %d goroutines", o.Goroutines), fresh0, otterPlain, s(fresh0).ns, s(otterPlain).ns, set0Limit),
		ratioRow(fmt.Sprintf("Set of an existing key, 4 deps, %d goroutines", o.Goroutines), fresh4, otterPlain, s(fresh4).ns, s(otterPlain).ns, set4Limit),
	)
	f4, ot := s(fresh4), s(otterPlain)
	t.Rows = append(t.Rows, []string{
		fmt.Sprintf("Allocations per Set, 4 deps, %d goroutines", o.Goroutines),
		fmt.Sprintf("%s %.2f allocs/op, %s %.2f (%+.2f beyond otter)", fresh4, f4.allocs, otterPlain, ot.allocs, f4.allocs-ot.allocs),
		"–", fmt.Sprintf("%.0f alloc/op", set4AllocsLimit), met(f4.allocs, set4AllocsLimit),
	})
	slowest := 0
	for i, r := range res.invs {
		if r.ns > res.invs[slowest].ns {
			slowest = i
		}
	}
	first, last := o.Dependents[0], o.Dependents[len(o.Dependents)-1]
	t.Rows = append(t.Rows, ratioRow(
		fmt.Sprintf("Invalidate flat from %s to %s dependents: the slowest ÷ %s", count(first), count(last), count(first)),
		dependents(o.Dependents[slowest]), dependents(first), res.invs[slowest].ns, res.invs[0].ns, flatLimit))
	// Not targets: what otter's own storage charges, the floors under the targets
	// above (fresh's entry is a value of three words, which otter boxes when it
	// replaces one; held behind a pointer instead, it would cost every hit a pointer
	// to follow).
	t.Rows = append(t.Rows,
		[]string{
			fmt.Sprintf("Not a target: otter's Set of a 24-byte value (fresh's entry) ÷ of a word, %d goroutines", o.Goroutines),
			fmt.Sprintf("%s %s ns, %.2f allocs/op; %s %s ns", otterWide, measure.Ns(s(otterWide).ns), s(otterWide).allocs, otterPlain, measure.Ns(s(otterPlain).ns)),
			measure.Ratio(s(otterWide).ns, s(otterPlain).ns), "–", "–",
		},
		[]string{
			"Not a target: otter's hit on a pointer to a 24-byte value ÷ on a word",
			fmt.Sprintf("%s %s ns, %s %s ns", otterPtr, measure.Ns(h(otterPtr)), otterPlain, measure.Ns(h(otterPlain))),
			measure.Ratio(h(otterPtr), h(otterPlain)), "–", "–",
		},
	)
	return t
}

// count formats a number of entries: 1, 1k, 100k.
func count(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// dependents formats a number of dependents: 1 dependent, 100k dependents.
func dependents(n int) string {
	if n == 1 {
		return "1 dependent"
	}
	return count(n) + " dependents"
}

func section(o Options, res results, elapsed time.Duration) report.Section {
	h := func(name string) float64 { return res.hits[name].ns }
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
	for _, hc := range HitCases() {
		r := res.hits[hc.Name]
		versus := "–"
		if hc.Versus != "" {
			versus = measure.Ratio(r.ns, h(hc.Versus)) + " (" + hc.Versus + ")"
		}
		hitTab.Rows = append(hitTab.Rows, []string{
			hc.Name, measure.Ns(r.ns), fmt.Sprintf("%.0f", r.bytes), fmt.Sprintf("%.2f", r.allocs),
			measure.Ratio(r.ns, h(otterPlain)), measure.Ratio(r.ns, h(otterStats)), versus,
		})
		chart.Series = append(chart.Series, report.Series{Name: hc.Name, Y: []float64{r.ns}})
	}

	nestedTab := report.Table{
		Title:   "A hit on a nested value against the same dependencies declared directly (ns/op, 4 tags per entry)",
		Columns: []string{"invalidations", "nested", "direct", "nested ÷ direct", "nested ÷ otter", "direct ÷ otter"},
	}
	for _, p := range []struct{ label, nested, direct string }{
		{"none", nested4, fresh4},
		{"one every 100 µs", nested4Churn, fresh4Churn},
	} {
		n, d := h(p.nested), h(p.direct)
		nestedTab.Rows = append(nestedTab.Rows, []string{
			p.label, measure.Ns(n) + " (" + p.nested + ")", measure.Ns(d) + " (" + p.direct + ")",
			measure.Ratio(n, d), measure.Ratio(n, h(otterPlain)), measure.Ratio(d, h(otterPlain)),
		})
	}

	setTab := report.Table{
		Title:   "Set of a key the cache holds (0 reads to 100 writes)",
		Columns: []string{"cache", "goroutines", "ns/op", "B/op", "allocs/op", "÷ otter", "allocs beyond otter"},
	}
	for _, sc := range SetCases() {
		r := res.sets[sc.id()]
		ref := res.sets[SetCase{Name: otterPlain, Goroutines: sc.Goroutines}.id()]
		g := o.Goroutines
		if sc.Goroutines == 1 {
			g = 1
		}
		beyond := "–"
		if sc.Fresh {
			beyond = fmt.Sprintf("%+.2f", r.allocs-ref.allocs)
		}
		setTab.Rows = append(setTab.Rows, []string{
			sc.Name, strconv.Itoa(g), measure.Ns(r.ns), fmt.Sprintf("%.0f", r.bytes), fmt.Sprintf("%.2f", r.allocs),
			measure.Ratio(r.ns, ref.ns), beyond,
		})
	}

	invTab := report.Table{
		Title:   "Invalidate of a tag, against the entries that depend on it (target: under 1 µs, flat)",
		Columns: []string{"dependents", "ns/op", "B/op", "allocs/op", "÷ 1 dependent", "under 1 µs"},
	}
	for i, n := range o.Dependents {
		r := res.invs[i]
		ok := "yes"
		if r.ns >= float64(invalidateLimit.Nanoseconds()) {
			ok = "**no**"
		}
		invTab.Rows = append(invTab.Rows, []string{
			strconv.Itoa(n), measure.Ns(r.ns), fmt.Sprintf("%.0f", r.bytes), fmt.Sprintf("%.2f", r.allocs),
			measure.Ratio(r.ns, res.invs[0].ns), ok,
		})
	}

	p := runtime.GOMAXPROCS(0)
	g := max(1, (o.Goroutines+p-1)/p) * p
	return report.Section{
		ID:    "core",
		Title: "Core targets: hit cost, writes and invalidation latency",
		Intro: "The targets of the core and performance issues measured side by side in one run, each as a ratio to otter configured alike; the summary comes first, computed from the tables below it. " +
			"A hit in fresh is a hit in otter plus a check of the entry's position against the floor and, when anything was invalidated since the entry was filled, a check of its dependencies. " +
			"The churn cases invalidate a tag no entry depends on every 100 µs (64 such tags in turn), which defeats the shortcut taken when nothing was invalidated since the fill; a hit then compares the position its entry was last found valid at, or looks at the two tombstone slots of each dependency. " +
			"A nested value is built by a loader from other cached values and depends on what they depend on. " +
			"Invalidate costs O(dependencies invalidated), whatever the number of entries depending on them.",
		Tables: []report.Table{summary(o, res), hitTab, nestedTab, setTab, invTab},
		Charts: []report.Chart{chart},
		Notes: []string{
			fmt.Sprintf("Hits and Sets: %d goroutines (RunParallel, GOMAXPROCS=%d), or one (b.Loop) where the Set table says so, use a cache of 2^16 entries holding 2^15; each case ran %d time(s) for about %v, the cases taking turns, and the median is shown.",
				g, p, o.Count, o.BenchTime),
			"otter: `MaximumSize` only, as fresh configures its store without a default TTL: the reference of fresh with `NoHitStats`, which counts no hits or misses either. " +
				"otter-stats: the same with `StatsRecorder: stats.NewCounter()` and no expiry calculator: the reference of fresh counting hits and misses, its default. " +
				"otter-expiry: with an `ExpiryCalculator` (entries never expire), as fresh configures its store with a default TTL; otter then reads the clock on every hit. " +
				"otter-ptr24B (hits) and otter-24B (Sets) are not references but floors: otter holding a pointer to a 3-word value, and otter replacing a 3-word value, which it keeps in a box of its own allocated on every replacement (it stores in place only values of one word or a pointer). " +
				"fresh's entry is 3 words (value, position, pointer to its dependencies), so otter-24B is what its store charges a Set; held behind a pointer, an entry would cost one allocation per Set, dependencies included, and every hit on a plain entry one more pointer to follow, which otter-ptr24B measures.",
			fmt.Sprintf("fresh-Ndeps: every entry depends on N tags of a pool of %d, no default TTL, hits and misses counted (the default). -nostats: the same with `Options.NoHitStats = true`. fresh-ttl: no dependencies, a default TTL of 24 h.", tagPool),
			fmt.Sprintf("fresh-nested-4: entry k is filled by GetOrLoad, whose loader reads 4 values of a second cache of the same hub with GetOrLoad and the loader's context; inner value i depends on tag i of the pool, and entry k reads those of the 4 tags fresh-4deps gives it, so it depends on the same 4 tags, and on the 4 inner keys it read (as every nested value does). "+
				"The target is a hit as cheap as on fresh-4deps: nested ÷ direct at most %.2f×, the 5 %% of noise the issue allows elsewhere.", nestedLimit),
			"Set: every key written is already held, so each Set replaces an entry, with the same tags for fresh-4deps; value = key. " +
				"The Dep values and the `DependsOn` options (one per pattern of tags, 1000 in all) are built before the timed loop, as a user keeps them, so a Set pays for the cache, not for building its arguments. " +
				"allocs beyond otter: fresh's allocations per Set minus otter's with the same goroutines.",
			"Invalidate: one goroutine, b.Loop, the same tag again and again.",
			fmt.Sprintf("Summary: a target is met when its ratio, rounded to the two decimals shown, is at most the bound. \"Flat\" is read as the slowest Invalidate at most %.2f× that with 1 dependent. "+
				"The memory targets (1M entries) are in the target table of the memory section, whose cases each run in a process of their own.", flatLimit),
		},
		Elapsed: elapsed.Seconds(),
	}
}
