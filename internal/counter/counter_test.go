package counter

import (
	"sync"
	"testing"
)

func TestCounter(t *testing.T) {
	c := New()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10_000 {
				c.Inc()
			}
		}()
	}
	wg.Wait()
	if got := c.Load(); got != 160_000 {
		t.Fatalf("Load() = %d; want 160000", got)
	}
}

func BenchmarkInc(b *testing.B) {
	c := New()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}
