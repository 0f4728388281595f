package memory

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/freshcache/fresh/benchmarks/caches"
	"github.com/freshcache/fresh/benchmarks/report"
)

// The targets of fresh against otter, in bytes per entry beyond otter's: the core
// issue's base plus perDep per dependency for fresh with no dependency or with tags,
// and the performance issue's perEntity per unique entity dependency.
const (
	targetBase      = 32
	targetPerDep    = 16
	targetPerEntity = 48
)

// A target is what a fresh configuration is measured against: the otter
// configuration its store runs, and the bytes per entry it may take beyond it.
type target struct {
	baseline string
	allowed  float64
	rule     string // how allowed was found, for the table
}

// targetOf returns the target of a fresh configuration, or false for the other
// caches.
func targetOf(name string) (target, bool) {
	perDep := func(deps int, baseline string) target {
		return target{baseline, float64(targetBase + targetPerDep*deps), fmt.Sprintf("%d + %d × %d deps", targetBase, targetPerDep, deps)}
	}
	perEntity := func(entities int) target {
		return target{caches.Otter, float64(targetPerEntity * entities), fmt.Sprintf("%d × %d unique", targetPerEntity, entities)}
	}
	switch name {
	case caches.Fresh, caches.FreshBus:
		return perDep(0, caches.Otter), true
	case caches.FreshTTL:
		return perDep(0, caches.OtterExpiry), true
	case caches.Fresh1Dep:
		return perDep(1, caches.Otter), true
	case Fresh2Tags:
		return perDep(2, caches.Otter), true
	case caches.Fresh4Deps:
		return perDep(4, caches.Otter), true
	case Fresh1Entity:
		return perEntity(1), true
	case Fresh2Entities:
		return perEntity(2), true
	}
	return target{}, false
}

func sizeName(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	default:
		return strconv.Itoa(n)
	}
}

func section(o Options, res map[string]map[int]Result, elapsed time.Duration) report.Section {
	sizes := make([]string, len(o.Sizes))
	for i, n := range o.Sizes {
		sizes[i] = sizeName(n)
	}
	perEntry := report.Table{
		Title:   "Heap bytes per entry (uint64 keys and values)",
		Columns: append([]string{"cache"}, sizes...),
	}
	chart := report.Chart{
		Name:       "bytes",
		Title:      "Heap bytes per entry",
		Kind:       "bar",
		XLabel:     "entries",
		YLabel:     "bytes per entry",
		Categories: sizes,
	}
	for _, name := range o.Caches {
		row := []string{name}
		ser := report.Series{Name: name}
		for _, n := range o.Sizes {
			r := res[name][n]
			cell := fmt.Sprintf("%.1f", r.PerEntry)
			if r.Held < r.Entries*99/100 {
				cell += fmt.Sprintf(" (holds %d of %d)", r.Held, r.Entries)
			}
			row = append(row, cell)
			ser.Y = append(ser.Y, r.PerEntry)
		}
		perEntry.Rows = append(perEntry.Rows, row)
		chart.Series = append(chart.Series, ser)
	}

	targets := report.Table{
		Title: fmt.Sprintf("fresh against otter: at most otter + %d B, + %d B per shared tag; + %d B per unique entity dependency",
			targetBase, targetPerDep, targetPerEntity),
		Columns: []string{"fresh configuration", "against", "entries", "fresh (B/entry)", "otter (B/entry)", "fresh − otter",
			"allowed (B)", "margin (allowed − actual)", "fresh ÷ otter", "met"},
	}
	for _, name := range o.Caches {
		t, ok := targetOf(name)
		if !ok {
			continue
		}
		for _, n := range o.Sizes {
			f, ot := res[name][n].PerEntry, res[t.baseline][n].PerEntry
			met := "yes"
			if math.Round((f-ot)*10) > math.Round(t.allowed*10) {
				met = "**no**"
			}
			targets.Rows = append(targets.Rows, []string{
				name, t.baseline, sizeName(n), fmt.Sprintf("%.1f", f), fmt.Sprintf("%.1f", ot), fmt.Sprintf("%+.1f", f-ot),
				fmt.Sprintf("%.0f (%s)", t.allowed, t.rule), fmt.Sprintf("%+.1f", t.allowed-(f-ot)), fmt.Sprintf("%.2f×", f/ot), met,
			})
		}
	}

	notes := []string{
		"Each case runs in a process of its own: it collects garbage, notes the live heap, fills a cache of capacity n with the keys 0 to n−1, " +
			"waits 200 ms for background work, collects garbage again and divides the growth of the live heap by the entries the cache holds. " +
			"Fixed costs (frequency sketches, buffers, shards) weigh most at 1k entries.",
		fmt.Sprintf("**%s**: fresh, each entry with two tags of a pool of %d shared by all entries (whatever fresh keeps per tag is counted, shared by the entries). Target: otter + %d B + %d B per tag, the core issue's.",
			Fresh2Tags, tagPool, targetBase, targetPerDep),
		fmt.Sprintf("**%s**: fresh, each entry with one entity of its own (`Entity(\"a\", k)`), and **%s** with two (`Entity(\"a\", k)`, `Entity(\"b\", k)`): no other entry shares them, so whatever fresh keeps per dependency is counted once per entry. Target: otter + %d B per unique entity dependency, the performance issue's.",
			Fresh1Entity, Fresh2Entities, targetPerEntity),
		fmt.Sprintf("%s, %s and %s run in the default hub with no default TTL and hit statistics on (the default; `NoHitStats` removes a striped counter per cache, nothing per entry); each Set builds its Dep values, as an application would.",
			Fresh2Tags, Fresh1Entity, Fresh2Entities),
	}
	for _, s := range caches.All() {
		if slices.Contains(o.Caches, s.Name) {
			notes = append(notes, fmt.Sprintf("**%s**: %s", s.Name, s.Note))
		}
	}
	return report.Section{
		ID:    "memory",
		Title: "Memory per entry",
		Intro: "Heap bytes per entry at 1k, 10k, 100k and 1M entries, each case measured in a fresh process (the growth of the live heap after garbage collection). " +
			"fresh runs with no dependencies, with two shared ones per entry (tags of a pool), with one or two of the entry's own (entities), and with a default TTL, which makes its store keep a deadline per entry (compared with otter-expiry, otter with an expiry calculator).",
		Tables:  []report.Table{perEntry, targets},
		Charts:  []report.Chart{chart},
		Notes:   notes,
		Elapsed: elapsed.Seconds(),
	}
}
