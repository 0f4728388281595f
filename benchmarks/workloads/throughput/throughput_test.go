package throughput

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/freshcache/fresh/benchmarks/caches"
)

func TestRunShort(t *testing.T) {
	s, err := Run(context.Background(), Options{
		Short:     true,
		BenchTime: 2 * time.Millisecond,
		Caches:    []string{caches.Fresh, caches.Fresh4Deps},
		Mixes:     []int{100, 25},
		keys:      1 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tables) != 2 || len(s.Charts) != 1 {
		t.Fatalf("got %d tables and %d charts; want 2 and 1", len(s.Tables), len(s.Charts))
	}
	// fresh, fresh-4deps, then otter and xsync.Map added; then two ratio rows.
	if got := len(s.Tables[0].Rows); got != 6 {
		t.Errorf("summary has %d rows; want 6: %v", got, s.Tables[0].Rows)
	}
	if got := len(s.Tables[1].Rows); got != 8 {
		t.Errorf("detail has %d rows; want 8", got)
	}
}

// BenchmarkGetPut runs the body of Run under go test, one sub-benchmark per cache
// and mix:
//
//	go test -run '^$' -bench GetPut -count 6 | benchstat -col /cache -
func BenchmarkGetPut(b *testing.B) {
	stream := Stream(Keys)
	for _, mix := range []int{100, 75, 50, 25, 0} {
		for _, s := range caches.All() {
			b.Run(fmt.Sprintf("mix=%d_%d/cache=%s", mix, 100-mix, s.Name), func(b *testing.B) {
				c, err := Prefill(s, Keys)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				GetPut(b, c, mix, 8, stream)
			})
		}
	}
}
