package memory

import (
	"runtime"
	"time"

	"github.com/freshcache/fresh/benchmarks/caches"
)

// settle is how long the child lets the caches' background goroutines finish the
// work its inserts queued (otter's and theine's write buffers, ristretto's Sets)
// before it measures.
const settle = 200 * time.Millisecond

// liveHeap collects garbage until the live heap stops shrinking and returns it.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	last := ms.HeapAlloc
	for range 5 {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc >= last {
			break
		}
		last = ms.HeapAlloc
	}
	return ms.HeapAlloc
}

// measure builds a cache with build, inserts keys 0 to n-1, and returns the growth
// of the live heap while the cache is reachable.
func measure(name string, n int, build func(capacity int) (caches.Cache, error)) (Result, error) {
	before := liveHeap()
	c, err := build(n)
	if err != nil {
		return Result{}, err
	}
	for k := range uint64(n) {
		c.Set(k, k)
	}
	if w, ok := c.(caches.Waiter); ok {
		w.Wait()
	}
	time.Sleep(settle)
	after := liveHeap()
	held := n
	if s, ok := c.(caches.Sizer); ok {
		held = s.Len()
	}
	runtime.KeepAlive(c)
	if err := c.Close(); err != nil {
		return Result{}, err
	}
	r := Result{Cache: name, Entries: n, Held: held, Bytes: int64(after) - int64(before)}
	if held > 0 {
		r.PerEntry = float64(r.Bytes) / float64(held)
	}
	return r, nil
}
