package memory

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/freshcache/fresh/benchmarks/caches"
	"github.com/freshcache/fresh/benchmarks/report"
)

// The core issue's target: an entry of fresh costs at most this much more than one
// of otter, plus perDep per dependency.
const (
	targetBase   = 32
	targetPerDep = 16
)

// freshConfig returns the dependencies per entry of a fresh configuration and the
// otter configuration its store runs, or false for the other caches.
func freshConfig(name string) (deps int, baseline string, ok bool) {
	switch name {
	case caches.Fresh, caches.FreshBus:
		return 0, caches.Otter, true
	case caches.FreshTTL:
		return 0, caches.OtterExpiry, true
	case caches.Fresh1Dep:
		return 1, caches.Otter, true
	case Fresh2Tags, Fresh2Entities:
		return 2, caches.Otter, true
	case caches.Fresh4Deps:
		return 4, caches.Otter, true
	}
	return 0, "", false
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

	target := report.Table{
		Title: fmt.Sprintf("fresh against otter: target at most otter + %d B + %d B per dependency", targetBase, targetPerDep),
		Columns: []string{"fresh configuration", "against", "entries", "fresh (B/entry)", "otter (B/entry)", "fresh − otter",
			"allowed", "margin (allowed − actual)", "fresh ÷ otter"},
	}
	for _, name := range o.Caches {
		deps, baseline, ok := freshConfig(name)
		if !ok {
			continue
		}
		allowed := float64(targetBase + targetPerDep*deps)
		for _, n := range o.Sizes {
			f, ot := res[name][n].PerEntry, res[baseline][n].PerEntry
			target.Rows = append(target.Rows, []string{
				name, baseline, sizeName(n), fmt.Sprintf("%.1f", f), fmt.Sprintf("%.1f", ot), fmt.Sprintf("%+.1f", f-ot),
				fmt.Sprintf("%.0f", allowed), fmt.Sprintf("%+.1f", allowed-(f-ot)), fmt.Sprintf("%.2f×", f/ot),
			})
		}
	}

	notes := []string{
		"Each case runs in a process of its own: it collects garbage, notes the live heap, fills a cache of capacity n with the keys 0 to n−1, " +
			"waits 200 ms for background work, collects garbage again and divides the growth of the live heap by the entries the cache holds. " +
			"Fixed costs (frequency sketches, buffers, shards) weigh most at 1k entries.",
		fmt.Sprintf("**%s**: fresh, each entry with two tags of a pool of %d shared by all entries (the pool's records are counted).", Fresh2Tags, tagPool),
		fmt.Sprintf("**%s**: fresh, each entry with two entities of its own (`Entity(\"a\", k)`, `Entity(\"b\", k)`): every entry brings two dependency records, name strings included, which the target's 16 B per dependency (a pointer in the entry's array and its share of the array) does not cover.", Fresh2Entities),
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
			"fresh runs with no dependencies, with two per entry, shared (tags of a pool) or not (entities of the entry's own), and with a default TTL, which makes its store keep a deadline per entry (compared with otter-expiry, otter with an expiry calculator).",
		Tables:  []report.Table{perEntry, target},
		Charts:  []report.Chart{chart},
		Notes:   notes,
		Elapsed: elapsed.Seconds(),
	}
}
