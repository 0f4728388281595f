package hitratio

import (
	"context"
	"math"
	"testing"

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
		Repeats:      2,
		zipfAccesses: 5_000,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The summary, one table per trace, and the churn table.
	if got := len(s.Tables); got != 4 {
		t.Fatalf("got %d tables; want 4", got)
	}
	if got := len(s.Charts); got != 2 {
		t.Errorf("got %d charts; want 2", got)
	}
	glimpse := s.Tables[1]
	// capacity, 6 caches (otter, otter-expiry and xsync.Map added), 2 differences,
	// the spread.
	if got := len(glimpse.Columns); got != 10 {
		t.Errorf("Glimpse table has columns %v; want 9", glimpse.Columns)
	}
	if got := len(glimpse.Rows); got != 2 {
		t.Errorf("Glimpse table has %d rows; want 2", got)
	}
	if got := len(s.Tables[3].Rows); got != 4 {
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
