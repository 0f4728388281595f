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
				time.Sleep(time.Duration(i+1) * time.Microsecond)
			}
		}
	}
	rs, err := Interleaved(2, time.Millisecond, []func(b *testing.B){f(0), f(1)})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 1, 0, 1}; !slices.Equal(order, want) {
		t.Errorf("cases ran in the order %v; want %v", order, want)
	}
	if len(rs) != 2 || NsPerOp(rs[0]) >= NsPerOp(rs[1]) {
		t.Errorf("got %v ns/op and %v ns/op; want the first case faster", NsPerOp(rs[0]), NsPerOp(rs[1]))
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
