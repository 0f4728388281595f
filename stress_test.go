package fresh_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

// rows is a versioned table for the stress test. A row's settled version is the
// newest one whose invalidation has returned: a read that begins after that must not
// be served anything older.
type rows struct {
	mu      sync.Mutex
	version []int64
	settled []atomic.Int64
	// locks serialise the writers of one row from the write until its cache update
	// returned, as a row lock held to COMMIT would: two Sets of one key racing each
	// other land in either order, in fresh as in any cache.
	locks []sync.Mutex
}

func newRows(n int) *rows {
	return &rows{version: make([]int64, n), settled: make([]atomic.Int64, n), locks: make([]sync.Mutex, n)}
}

func (r *rows) read(i int) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.version[i]
}

func (r *rows) write(i int) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.version[i]++
	return r.version[i]
}

// page is a value built from two rows through another cache.
type page struct{ a, b int64 }

// TestStressNoStaleRead runs readers and writers against plain and nested values,
// with every kind of invalidation, and checks every read: a value older than what
// was settled when the read began is a stale read.
func TestStressNoStaleRead(t *testing.T) {
	const nrows = 8
	duration := 1500 * time.Millisecond
	if testing.Short() {
		duration = 300 * time.Millisecond
	}
	ctx := context.Background()
	h := newHub(t, fresh.HubOptions{})
	schema := fresh.TableSchema{Table: "rows", Scopes: [][]string{{"parity"}}}
	cells := newCache(t, fresh.Options[int, int64]{Hub: h, Tables: []fresh.TableSchema{schema}})
	pages := newCache(t, fresh.Options[int, page]{Hub: h})
	src := newRows(nrows)

	jitter := func() {
		if rand.IntN(4) == 0 {
			time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		}
	}
	loadCell := func(ctx context.Context, i int) (int64, error) {
		fresh.Depend(ctx, fresh.Entity("rows", i))
		jitter()
		v := src.read(i)
		jitter()
		if rand.IntN(2) == 0 {
			fresh.Depend(ctx, fresh.Scope("rows", fresh.Eq("parity", i%2)))
		}
		return v, nil
	}
	loadPage := func(ctx context.Context, i int) (page, error) {
		a, err := cells.GetOrLoad(ctx, i, loadCell)
		if err != nil {
			return page{}, err
		}
		jitter()
		b, err := cells.GetOrLoad(ctx, (i+1)%nrows, loadCell)
		return page{a, b}, err
	}

	var stale, reads atomic.Int64
	report := func(what string, got, want int64) {
		if stale.Add(1) <= 3 {
			t.Errorf("stale read of %s: got version %d, %d was settled before the read began", what, got, want)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// loop runs step on a new goroutine until stop is closed.
	loop := func(step func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					step()
				}
			}
		}()
	}
	for range 6 {
		loop(func() {
			i := rand.IntN(nrows)
			j := (i + 1) % nrows
			wantA, wantB := src.settled[i].Load(), src.settled[j].Load()
			reads.Add(1)
			switch rand.IntN(3) {
			case 0:
				if v, err := cells.GetOrLoad(ctx, i, loadCell); err != nil || v < wantA {
					report(fmt.Sprint("cell ", i), v, wantA)
				}
			case 1:
				if v, ok := cells.Get(i); ok && v < wantA {
					report(fmt.Sprint("cell ", i, " (Get)"), v, wantA)
				}
			default:
				p, err := pages.GetOrLoad(ctx, i, loadPage)
				if err != nil || p.a < wantA {
					report(fmt.Sprint("page ", i, " row ", i), p.a, wantA)
				}
				if p.b < wantB {
					report(fmt.Sprint("page ", i, " row ", j), p.b, wantB)
				}
			}
		})
	}
	for range 2 {
		loop(func() {
			i := rand.IntN(nrows)
			src.locks[i].Lock()
			v := src.write(i)
			var err error
			switch rand.IntN(5) {
			case 0:
				err = cells.Invalidate(ctx, fresh.Entity("rows", i))
			case 1:
				err = cells.InvalidateRows(ctx, fresh.RowChange{Table: "rows",
					Old: fresh.Row{"id": i, "parity": i % 2}, New: fresh.Row{"id": i, "parity": i % 2}})
			case 2:
				// Deleting the cell's key is not enough for the pages built
				// from it, so also invalidate its entity, as a writer would.
				err = cells.Delete(ctx, i)
				if err == nil {
					err = cells.Invalidate(ctx, fresh.Entity("rows", i))
				}
			case 3:
				err = cells.Invalidate(ctx, fresh.Scope("rows", fresh.Eq("parity", i%2)), fresh.Entity("rows", i))
			default:
				err = cells.Set(ctx, i, v, fresh.DependsOn(fresh.Entity("rows", i)))
				if err == nil {
					err = pages.Invalidate(ctx, fresh.Entity("rows", i))
				}
			}
			src.locks[i].Unlock()
			if err != nil {
				t.Error(err)
			}
			// Settled only once the invalidation returned.
			for {
				cur := src.settled[i].Load()
				if cur >= v || src.settled[i].CompareAndSwap(cur, v) {
					break
				}
			}
			time.Sleep(time.Duration(rand.IntN(100)) * time.Microsecond)
		})
	}
	time.Sleep(duration)
	close(stop)
	wg.Wait()
	if n := stale.Load(); n > 0 {
		t.Fatalf("%d stale reads in %d reads", n, reads.Load())
	}
	s := cells.Stats()
	t.Logf("%d reads, cells: %d hits, %d misses, %d fenced", reads.Load(), s.Hits, s.Misses, s.Fenced)
	if s.Fenced == 0 {
		t.Log("no fill was fenced: the writers never overtook a load")
	}
}
