package hitratio

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/benchmarks/caches"
)

func TestRunShort(t *testing.T) {
	if _, err := findTraces(); err != nil {
		t.Skip(err)
	}
	s, err := Run(context.Background(), Options{
		Short:        true,
		Traces:       []string{"Glimpse", "Zipf"},
		Caches:       []string{caches.Fresh, caches.FreshTTL, caches.Ristretto},
		Runs:         3,
		FirstRuns:    2,
		zipfAccesses: 5_000,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The summary, two tables per trace (policy, deployed), and the churn table.
	if got := len(s.Tables); got != 6 {
		t.Fatalf("got %d tables; want 6", got)
	}
	if got := len(s.Charts); got != 2 {
		t.Errorf("got %d charts; want 2", got)
	}
	// Two fresh configurations: two summary rows per trace.
	if got := len(s.Tables[0].Rows); got != 4 {
		t.Errorf("summary has %d rows; want 4", got)
	}
	glimpse := s.Tables[1]
	// capacity, 6 caches (otter, otter-expiry and xsync.Map added), OPT, LRU, 3
	// verdict columns per fresh configuration, runs, held more than capacity.
	if got := len(glimpse.Columns); got != 1+6+2+2*3+2 {
		t.Errorf("Glimpse policy table has columns %v; want 17", glimpse.Columns)
	}
	if got := len(glimpse.Rows); got != 2 {
		t.Errorf("Glimpse policy table has %d rows; want 2", got)
	}
	for _, row := range glimpse.Rows {
		if got := row[len(row)-1]; got != "none" {
			t.Errorf("Glimpse policy table, capacity %s: held more than capacity: %s; want none", row[0], got)
		}
		// Runs of fresh, fresh-ttl, ristretto, otter, otter-expiry: fresh's are
		// topped up to Runs; the others have 2 or 3, depending on their lead.
		runs := strings.Split(row[len(row)-2], ", ")
		if len(runs) != 5 || runs[0] != "3" || runs[1] != "3" {
			t.Errorf("Glimpse policy table, capacity %s: runs %q; want 3 for fresh and fresh-ttl", row[0], row[len(row)-2])
		}
		for _, r := range runs[2:] {
			if r != "2" && r != "3" {
				t.Errorf("Glimpse policy table, capacity %s: runs %q; want 2 or 3 for the peers", row[0], row[len(row)-2])
			}
		}
	}
	// Zipf's capacities are above SmallCapacity: fresh is replayed LargeRuns times.
	for _, row := range s.Tables[3].Rows {
		if runs := strings.Split(row[len(row)-2], ", "); runs[0] != "2" {
			t.Errorf("Zipf policy table, capacity %s: runs %q; want 2 for fresh", row[0], row[len(row)-2])
		}
	}
	// capacity; fresh, fresh-ttl, ristretto, otter, otter-expiry; OPT; the most
	// entries each held.
	if got := len(s.Tables[2].Columns); got != 1+5+1+5 {
		t.Errorf("Glimpse deployed table has columns %v; want 12", s.Tables[2].Columns)
	}
	// ristretto's synchronous instance counts the Gets its policy saw; a note gives
	// their share.
	if !slices.ContainsFunc(s.Notes, func(n string) bool { return strings.Contains(n, "ristretto's policy counted") }) {
		t.Errorf("no note on the Gets ristretto dropped in %q", s.Notes)
	}
	if got := len(s.Tables[5].Rows); got != 4 {
		t.Errorf("churn table has %d rows; want 2 traces × 2 rates", got)
	}
}

// TestChurnAccounting checks the identity the churn table relies on: the hits lost
// to invalidations are, give or take a little, the invalidated misses.
func TestChurnAccounting(t *testing.T) {
	keys := zipfTrace(30_000)
	rs, err := churn(keys, 1000, []float64{0.05}, 16)
	if err != nil {
		t.Fatal(err)
	}
	base, with, inv := pct(rs[0].hits, len(keys)), pct(rs[1].hits, len(keys)), pct(rs[1].invalidatedMisses, len(keys))
	if rs[0].invalidations != 0 || rs[1].invalidations < 1200 {
		t.Errorf("invalidations: %d at rate 0 and %d at 5%% of %d accesses", rs[0].invalidations, rs[1].invalidations, len(keys))
	}
	if with >= base {
		t.Errorf("hit ratio with churn %.2f%% ≥ without %.2f%%", with, base)
	}
	if d := with + inv - base; math.Abs(d) > 2 {
		t.Errorf("with churn %.2f%% + invalidated misses %.2f%% = %.2f%%; want within 2 points of %.2f%%", with, inv, with+inv, base)
	}
}

// TestChurnReplayOwnHub: a churn replay invalidates in a hub of its own. Replays
// run side by side and their tags share names, so in the default hub each would
// invalidate the entries of the others (which made the churn table's residuals
// depend on which replays happened to overlap).
func TestChurnReplayOwnHub(t *testing.T) {
	before := fresh.DefaultHub().Stats().Position
	rs, err := churn(zipfTrace(5000), 200, []float64{0.1}, 16)
	if err != nil {
		t.Fatal(err)
	}
	if rs[1].invalidations == 0 {
		t.Fatal("the replay invalidated nothing")
	}
	if after := fresh.DefaultHub().Stats().Position; after != before {
		t.Errorf("the default hub's position moved from %d to %d during a churn replay", before, after)
	}
}
