package core

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRunShort(t *testing.T) {
	s, err := Run(context.Background(), Options{
		Short:      true,
		BenchTime:  2 * time.Millisecond,
		Dependents: []int{1, 100},
		keys:       1 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tables) != 5 {
		t.Fatalf("got %d tables; want 5", len(s.Tables))
	}
	sum, hits, nested, sets, invs := s.Tables[0], s.Tables[1], s.Tables[2], s.Tables[3], s.Tables[4]
	if got, want := len(sum.Rows), 11; got != want {
		t.Errorf("summary has %d rows; want %d (9 targets, 2 floors)", got, want)
	}
	for i, row := range sum.Rows {
		// Every row names cases that ran: a misspelt name would leave a zero,
		// hence no ratio or an undecided target.
		if floor := i >= 9; floor && (row[4] != "–" || !strings.HasPrefix(row[0], "Not a target")) ||
			!floor && row[4] != "yes" && row[4] != "**no**" {
			t.Errorf("summary row %q: met is %q; want yes or **no** for a target, – for a floor", row[0], row[4])
		}
		if strings.Contains(row[2], "–") && i >= 9 {
			t.Errorf("summary row %q: no ratio", row[0])
		}
		if strings.Contains(row[1], " 0.00 ns") {
			t.Errorf("summary row %q: a case measured nothing: %s", row[0], row[1])
		}
	}
	if got, want := len(hits.Rows), len(HitCases()); got != want {
		t.Errorf("hit table has %d rows; want %d", got, want)
	}
	if got := len(nested.Rows); got != 2 {
		t.Errorf("nested table has %d rows; want 2", got)
	}
	if got, want := len(sets.Rows), len(SetCases()); got != want {
		t.Errorf("Set table has %d rows; want %d", got, want)
	}
	if got := len(invs.Rows); got != 2 {
		t.Errorf("invalidate table has %d rows; want 2", got)
	}
}

func TestCaseNames(t *testing.T) {
	var names []string
	for _, hc := range HitCases() {
		names = append(names, hc.Name)
	}
	for _, want := range []string{otterPlain, otterStats, otterExpiry, otterPtr, fresh0, fresh0NoStats, fresh4, fresh4Churn, fresh4ChurnNoStats, nested4, nested4Churn} {
		if !slices.Contains(names, want) {
			t.Errorf("HitCases has no %q; the summary needs it", want)
		}
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("HitCases has %q twice", n)
		}
		seen[n] = true
	}
}

// TestCaches checks that the caches the hit cases read are what their names say: a
// nested entry depends on the tags of its inner values, like the direct one, and
// -nostats counts no hits.
func TestCaches(t *testing.T) {
	ctx := context.Background()
	const n = 2000
	pool := tags()
	for _, hc := range []HitCase{
		{Name: fresh4, Fresh: true, Deps: 4},
		{Name: nested4, Fresh: true, Deps: 4, Nested: true},
		{Name: fresh4ChurnNoStats, Fresh: true, Deps: 4, NoStats: true},
	} {
		c, hub, err := newFresh(2*n, n, hc)
		if err != nil {
			t.Fatal(err)
		}
		const k = 1234
		if _, ok := c.Get(k); !ok {
			t.Errorf("%s: key %d missed before any invalidation", hc.Name, k)
		}
		if err := hub.Invalidate(ctx, pool[depIndex(k, 3)]); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Get(k); ok {
			t.Errorf("%s: key %d hit after its tag %d was invalidated", hc.Name, k, depIndex(k, 3))
		}
		if _, ok := c.Get(k + 1); !ok {
			t.Errorf("%s: key %d missed after the invalidation of a tag it does not depend on", hc.Name, k+1)
		}
		if got, want := c.Stats().Hits > 0, !hc.NoStats; got != want {
			t.Errorf("%s: Stats().Hits = %d; want hits counted: %v", hc.Name, c.Stats().Hits, want)
		}
		if err := hub.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMet(t *testing.T) {
	for _, tc := range []struct {
		value, limit float64
		want         string
	}{
		{1.00, 1.05, "yes"},
		{1.054, 1.05, "yes"}, // shown as 1.05×
		{1.056, 1.05, "**no**"},
		{math.NaN(), 1, "–"}, // a case that did not run
	} {
		if got := met(tc.value, tc.limit); got != tc.want {
			t.Errorf("met(%v, %v) = %q; want %q", tc.value, tc.limit, got, tc.want)
		}
	}
}

// BenchmarkHit runs the hit cases of Run under go test:
//
//	go test -run '^$' -bench Hit -count 6 | benchstat -col /impl -
func BenchmarkHit(b *testing.B) {
	stream := Stream(Keys)
	for _, hc := range HitCases() {
		b.Run("impl="+hc.Name, func(b *testing.B) { Hit(b, hc, Keys, 8, stream) })
	}
}

// BenchmarkSet runs the Set cases of Run under go test:
//
//	go test -run '^$' -bench Set -count 6 | benchstat -row /goroutines -col /impl -
func BenchmarkSet(b *testing.B) {
	stream := Stream(Keys)
	for _, sc := range SetCases() {
		g := 8
		if sc.Goroutines == 1 {
			g = 1
		}
		b.Run(fmt.Sprintf("goroutines=%d/impl=%s", g, sc.Name), func(b *testing.B) { Set(b, sc, Keys, 8, stream) })
	}
}

// BenchmarkInvalidate runs the Invalidate cases of Run under go test.
func BenchmarkInvalidate(b *testing.B) {
	for _, n := range []int{1, 1_000, 100_000} {
		b.Run(fmt.Sprintf("dependents=%d", n), func(b *testing.B) {
			c, err := NewInvalidateCache(n)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(context.Background())
			Invalidate(b, c)
		})
	}
}
