package storm

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
		Sizes:     []int{100},
		Caches:    []string{caches.Fresh, caches.Ristretto},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tables) != 2 {
		t.Fatalf("got %d tables; want 2", len(s.Tables))
	}
	// fresh, ristretto, then otter and xsync.Map added.
	if got := len(s.Tables[0].Rows); got != 4 {
		t.Errorf("summary has %d rows; want 4", got)
	}
	for _, row := range s.Tables[1].Rows {
		if row[0] == caches.Xsync && row[5] != "0.0%" {
			t.Errorf("xsync.Map dropped %s of the inserts; want none", row[5])
		}
	}
}

// BenchmarkStorm runs the body of Run under go test, one sub-benchmark per size and
// cache:
//
//	go test -run '^$' -bench Storm -count 6 | benchstat -col /cache -
func BenchmarkStorm(b *testing.B) {
	for _, size := range []int{100, 10_000, 1_000_000} {
		for _, s := range caches.All() {
			b.Run(fmt.Sprintf("size=%d/cache=%s", size, s.Name), func(b *testing.B) {
				c, err := Fill(s, size)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				Storm(b, c, 8)
			})
		}
	}
}
