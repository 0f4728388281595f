package core

import (
	"context"
	"fmt"
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
	if len(s.Tables) != 2 {
		t.Fatalf("got %d tables; want 2", len(s.Tables))
	}
	if got, want := len(s.Tables[0].Rows), len(HitCases()); got != want {
		t.Errorf("hit table has %d rows; want %d", got, want)
	}
	if got := len(s.Tables[1].Rows); got != 2 {
		t.Errorf("invalidate table has %d rows; want 2", got)
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
