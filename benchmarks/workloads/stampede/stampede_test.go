package stampede

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestFreshCallsOriginOnce checks the promise the workload reports on: fresh calls the
// origin once per cold key, however many readers miss it together.
func TestFreshCallsOriginOnce(t *testing.T) {
	o := Options{Goroutines: 200, LoadTime: 5 * time.Millisecond, Rounds: 3}.withDefaults()
	rounds, err := runSubject(context.Background(), subjects()[0], o.main())
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rounds {
		if r.calls != 1 || r.errs != 0 {
			t.Errorf("round %d: got %d origin calls and %d errors; want 1 and 0", i, r.calls, r.errs)
		}
		if r.p99 < o.LoadTime {
			t.Errorf("round %d: got p99 %v; want at least the load time %v", i, r.p99, o.LoadTime)
		}
	}
}

// TestRunShort runs the whole workload with tiny parameters and checks the section's
// shape.
func TestRunShort(t *testing.T) {
	sec, err := Run(context.Background(), Options{
		Short: true, Goroutines: 100, LoadTime: time.Millisecond, Rounds: 2,
		EdgeGoroutines: 16, EdgeRounds: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(sec.Tables), 1; got != want {
		t.Fatalf("got %d tables; want %d", got, want)
	}
	tab := sec.Tables[0]
	if got, want := len(tab.Rows), len(subjects()); got != want {
		t.Fatalf("got %d rows; want %d", got, want)
	}
	for _, r := range tab.Rows {
		if len(r) != len(tab.Columns) {
			t.Errorf("row %v has %d cells; want %d", r, len(r), len(tab.Columns))
		}
		t.Log(strings.Join(r, " | "))
	}
	if got := tab.Rows[0]; got[0] != "fresh" || got[1] != "1" {
		t.Errorf("got fresh row %v; want 1 origin call at most", got)
	}
}

// TestSeesUncoalescedMisses checks that the workload can tell: ttlcache's loader
// without its suppression calls the origin for many of the readers.
func TestSeesUncoalescedMisses(t *testing.T) {
	o := Options{Goroutines: 100, LoadTime: 5 * time.Millisecond, Rounds: 1}.withDefaults()
	for _, s := range subjects() {
		if s.name != contrast {
			continue
		}
		rounds, err := runSubject(context.Background(), s, o.main())
		if err != nil {
			t.Fatal(err)
		}
		if got := rounds[0].calls; got < 2 {
			t.Errorf("%s: got %d origin calls; want more than 1", s.name, got)
		}
		return
	}
	t.Fatalf("no subject %q", contrast)
}

// TestFreshAtTheEndOfALoad runs many short loads with readers still arriving as each
// load ends: fresh must call the origin once per key there too. A reader that misses
// the store just before the load stores, and finds no load in flight just after it
// ended, must look in the store again instead of loading a second time.
func TestFreshAtTheEndOfALoad(t *testing.T) {
	o := Options{EdgeRounds: 500}.withDefaults()
	rounds, err := runSubject(context.Background(), subjects()[0], o.edge())
	if err != nil {
		t.Fatal(err)
	}
	bad, worst := 0, 0
	for _, r := range rounds {
		if r.calls != 1 {
			bad++
			worst = max(worst, r.calls)
		}
	}
	if bad > 0 {
		t.Errorf("got more than one origin call (up to %d) in %d of %d rounds; want 1 in every round", worst, bad, len(rounds))
	}
}

// TestPercentile checks the nearest-rank percentile.
func TestPercentile(t *testing.T) {
	s := make([]time.Duration, 100)
	for i := range s {
		s[i] = time.Duration(i + 1)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := percentile(s, tc.p); got != tc.want {
			t.Errorf("percentile(1..100, %v) = %v; want %v", tc.p, got, tc.want)
		}
	}
}
