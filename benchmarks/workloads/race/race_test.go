package race

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestFreshCorrect runs the procedure on fresh's rows only: fresh must be correct and
// never block (guarantees G0 and G0').
func TestFreshCorrect(t *testing.T) {
	// A generous window: on a loaded machine a call that does not wait for the
	// loader may still take a while to return.
	o := Options{Short: true, Trials: 5, BlockWindow: time.Second}.withDefaults()
	for _, s := range subjects() {
		if !s.fresh {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			outs := make([]outcome, o.Trials)
			for i := range outs {
				out, err := trial(context.Background(), s, o)
				if err != nil {
					t.Fatal(err)
				}
				outs[i] = out
			}
			r := summarize(s.name, outs)
			if !r.correct {
				t.Fatalf("got %v; want a correct row", r.cells)
			}
			for i, out := range outs {
				if out.b != v1 || out.blocked || (out.cached != v1 && out.cached != absent) {
					t.Errorf("trial %d: got %+v; want B=v1, not blocked, cached v1 or absent", i, out)
				}
			}
		})
	}
}

// TestRunShort runs the whole workload in its quick mode and checks the shape of the
// section; it asserts nothing about the competitors.
func TestRunShort(t *testing.T) {
	sec, err := Run(context.Background(), Options{Short: true, Trials: 1, BlockWindow: time.Second})
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
		if strings.HasPrefix(r[0], "fresh") && r[len(r)-1] != "correct" {
			t.Errorf("fresh row %v; want correct", r)
		}
		t.Log(strings.Join(r, " | "))
	}
}
