// Package bgload makes a steady background load of invalidations on a hub, for the
// fan-out measurements: unrelated dependencies (tags no value depends on)
// invalidated at a given rate.
package bgload

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
)

// Workers is how many goroutines make a load, and Batch the most dependencies one
// of their calls invalidates. Concurrent Invalidate calls on one hub queue for its
// bus; fewer goroutines make more calls.
const (
	Workers = 2
	Batch   = 32
)

// A Load invalidates unrelated dependencies through its own hub at a steady rate of
// dependencies per second, from Workers goroutines that each keep a share of it. A
// call invalidates one dependency, or, when its goroutine has fallen behind, all
// those due, up to Batch: the rate of dependencies is kept even when the machine
// (or the bus) cannot make one call per dependency.
type Load struct {
	deps, calls atomic.Int64
	start       time.Time
	quit        chan struct{}
	wg          sync.WaitGroup
}

// Start starts invalidating rate dependencies per second through h; a rate of 0
// or less makes no load. The caller stops it with Stop.
func Start(h *fresh.Hub, rate int) *Load {
	b := &Load{start: time.Now(), quit: make(chan struct{})}
	if rate <= 0 {
		return b
	}
	share := float64(rate) / Workers
	for w := range Workers {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			done := 0
			deps := make([]fresh.Dep, 0, Batch)
			for {
				select {
				case <-b.quit:
					return
				default:
				}
				due := int(time.Since(b.start).Seconds() * share)
				if done >= due {
					time.Sleep(100 * time.Microsecond)
					continue
				}
				if float64(due-done) > share/10 {
					done = due - 1 // 100ms behind: skip ahead rather than burst
				}
				deps = deps[:0]
				for ; done < due && len(deps) < Batch; done++ {
					deps = append(deps, fresh.Tag("bg-"+strconv.Itoa(w)+"-"+strconv.Itoa(done%500)))
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				if h.Invalidate(ctx, deps...) == nil {
					b.deps.Add(int64(len(deps)))
					b.calls.Add(1)
				}
				cancel()
			}
		}()
	}
	return b
}

// Stop stops the load and returns the dependencies and the calls per second it
// made.
func (b *Load) Stop() (deps, calls float64) {
	close(b.quit)
	b.wg.Wait()
	s := time.Since(b.start).Seconds()
	return float64(b.deps.Load()) / s, float64(b.calls.Load()) / s
}
