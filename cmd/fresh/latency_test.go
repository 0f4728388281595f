package main

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	values := []uint64{0, 1, 15, 16, 17, 31, 32, 33, 100, 1000, 1 << 20, 3_000_000, 1<<63 - 1, math.MaxUint64}
	for v := uint64(1); v < 1<<62; v = v*3 + 1 {
		values = append(values, v, v-1, v+1)
	}
	for _, v := range values {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d; want in [0, %d)", v, i, histBuckets)
		}
		lo, hi := histBounds(i)
		if v < lo || v > hi {
			t.Errorf("histIndex(%d) = %d with bounds [%d, %d]; want them to hold %d", v, i, lo, hi, v)
		}
		if v >= histSub && float64(hi-lo) > float64(lo)/histSub {
			t.Errorf("bucket %d [%d, %d] is wider than 1/%d of its value", i, lo, hi, histSub)
		}
	}
}

func TestHistogramPercentile(t *testing.T) {
	var h histogram
	if got := h.percentile(0.5); got != 0 {
		t.Errorf("empty percentile = %v; want 0", got)
	}
	// 1µs .. 1000µs, one each.
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	var other histogram
	other.record(-time.Second) // counted as 0
	h.merge(&other)
	tests := []struct {
		p    float64
		want time.Duration
	}{
		{0, 0},
		{0.5, 500 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{1, 1000 * time.Microsecond},
	}
	for _, tt := range tests {
		got := h.percentile(tt.p)
		if diff := math.Abs(float64(got - tt.want)); diff > float64(tt.want)/histSub+1 {
			t.Errorf("percentile(%v) = %v; want %v within 1/%d", tt.p, got, tt.want, histSub)
		}
	}
}

func TestHistogramJSON(t *testing.T) {
	var h histogram
	for _, d := range []time.Duration{0, 5, 5, 17, time.Microsecond, time.Millisecond, time.Second, time.Second} {
		h.record(d)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var got histogram
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("Unmarshal(%s) = %v", b, err)
	}
	if got != h {
		t.Errorf("histogram after a JSON round trip through %s differs", b)
	}
	for _, bad := range []string{`[[976, 1]]`, `{}`, `[[-1, 2]]`, `[["a", 1]]`} {
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("Unmarshal(%s) = nil; want an error", bad)
		}
	}
}
