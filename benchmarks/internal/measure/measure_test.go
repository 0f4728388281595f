package measure

import (
	"flag"
	"slices"
	"testing"
	"time"
)

func TestBenchmark(t *testing.T) {
	before := flag.Lookup("test.benchtime").Value.String()
	r, err := Benchmark(5*time.Millisecond, func(b *testing.B) {
		for b.Loop() {
			time.Sleep(time.Microsecond)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.N < 2 || NsPerOp(r) < 1000 {
		t.Errorf("got N = %d, %v ns/op; want N ≥ 2 and ≥ 1000 ns/op", r.N, NsPerOp(r))
	}
	if after := flag.Lookup("test.benchtime").Value.String(); after != before {
		t.Errorf("test.benchtime = %s after Benchmark; want it restored to %s", after, before)
	}
	if _, err := Benchmark(time.Millisecond, func(b *testing.B) { b.Fatal("no") }); err == nil {
		t.Errorf("a failing benchmark: got no error")
	}
}

func TestInterleaved(t *testing.T) {
	var order []int
	f := func(i int) func(b *testing.B) {
		return func(b *testing.B) {
			if len(order) == 0 || order[len(order)-1] != i {
				order = append(order, i)
			}
			for b.Loop() {
			}
			b.ReportMetric(float64(i+1), "case")
		}
	}
	rs, err := Interleaved(2, time.Millisecond, []func(b *testing.B){f(0), f(1)})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 1, 0, 1}; !slices.Equal(order, want) {
		t.Errorf("cases ran in the order %v; want %v", order, want)
	}
	// Each result belongs to its own case (the metric each case reports), in order.
	if len(rs) != 2 {
		t.Fatalf("got %d results; want 2", len(rs))
	}
	for i, r := range rs {
		if got := r.Extra["case"]; got != float64(i+1) || r.N == 0 {
			t.Errorf("result %d: case metric %v, N %d; want %d and N > 0", i, got, r.N, i+1)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Ns(1234.5), "1234"},
		{Ns(52.34), "52.3"},
		{Ns(5.234), "5.23"},
		{Ratio(3, 2), "1.50×"},
		{Ratio(1, 0), "–"},
		{Mops(12_345_678), "12.35"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q; want %q", tc.got, tc.want)
		}
	}
}
