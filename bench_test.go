package fresh_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/freshcache/fresh"
	"github.com/maypok86/otter/v2"
)

const benchKeys = 1 << 15

// benchKeyStream returns a precomputed Zipf-distributed key sequence, so that the
// benchmark loop measures the cache and not the generator.
func benchKeyStream() []int {
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.01, 1, benchKeys-1)
	keys := make([]int, 1<<20)
	for i := range keys {
		keys[i] = int(z.Uint64())
	}
	return keys
}

// BenchmarkHit compares a hit in fresh, with 0 and 4 dependencies per entry, with a
// hit in otter configured alike (bounded, with expiry). Run side by side:
//
//	go test -run '^$' -bench BenchmarkHit -count 10 | benchstat -col /impl -
func BenchmarkHit(b *testing.B) {
	keys := benchKeyStream()
	b.Run("impl=otter", func(b *testing.B) {
		c := otter.Must(&otter.Options[int, int]{MaximumSize: 2 * benchKeys, ExpiryCalculator: otter.ExpiryWriting[int, int](1 << 40)})
		defer c.StopAllGoroutines()
		for i := range benchKeys {
			c.Set(i, i)
		}
		runParallel(b, keys, func(k int) bool { _, ok := c.GetIfPresent(k); return ok })
	})
	for _, ndeps := range []int{0, 1, 4} {
		b.Run(fmt.Sprintf("impl=fresh-%ddeps", ndeps), func(b *testing.B) {
			c, err := fresh.New(fresh.Options[int, int]{MaxEntries: 2 * benchKeys, TTL: 1 << 40})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(context.Background())
			for i := range benchKeys {
				deps := make([]fresh.Dep, ndeps)
				for j := range deps {
					deps[j] = fresh.Tag(fmt.Sprint("t", (i+j)%1000))
				}
				if err := c.Set(context.Background(), i, i, fresh.DependsOn(deps...)); err != nil {
					b.Fatal(err)
				}
			}
			runParallel(b, keys, func(k int) bool { _, ok := c.Get(k); return ok })
		})
	}
}

func runParallel(b *testing.B, keys []int, get func(int) bool) {
	b.ReportAllocs()
	b.SetParallelism(4) // 8 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(keys))
		for pb.Next() {
			if !get(keys[i&(len(keys)-1)]) {
				panic("miss")
			}
			i++
		}
	})
}
