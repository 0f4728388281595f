package fresh_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/freshcache/fresh"
)

// TestRequestScope: within a request, a key loads once and keeps its answer, even with
// the process cache disabled or the entry invalidated by someone else mid-request; the
// request's own writes are seen.
func TestRequestScope(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		t.Run(fmt.Sprint("disabled=", disabled), func(t *testing.T) {
			c := newCache(t, fresh.Options[string, int]{Disabled: disabled})
			var calls atomic.Int32
			src := &source{}
			load := func(ctx context.Context, _ string) (int, error) {
				calls.Add(1)
				fresh.Depend(ctx, fresh.Tag("t"))
				return src.read(), nil
			}
			req := fresh.WithRequestScope(context.Background())
			var wg sync.WaitGroup
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if v, err := c.GetOrLoad(req, "k", load); err != nil || v != 0 {
						t.Errorf("GetOrLoad = %d, %v", v, err)
					}
				}()
			}
			wg.Wait()
			if calls.Load() != 1 {
				t.Fatalf("loaded %d times in one request; want 1", calls.Load())
			}
			// Another process's write: the request keeps its answer.
			src.write(1)
			c.Invalidate(context.Background(), fresh.Tag("t"))
			if v, _ := c.GetOrLoad(req, "k", load); v != 0 {
				t.Fatalf("answer changed mid-request to %d", v)
			}
			// The request's own write: it reads it.
			src.write(2)
			c.Invalidate(req, fresh.Tag("t"))
			if v, _ := c.GetOrLoad(req, "k", load); v != 2 {
				t.Fatalf("the request did not read its own write: %d", v)
			}
			// A new request sees the latest.
			if v, _ := c.GetOrLoad(fresh.WithRequestScope(context.Background()), "k", load); v != 2 {
				t.Fatalf("a new request read %d", v)
			}
		})
	}
}

// TestNestedInvalidation: a value built from another cached value is invalidated
// with it (Russian-doll caching), also when the inner value was cached long before.
func TestNestedInvalidation(t *testing.T) {
	ctx := context.Background()
	h := newHub(t, fresh.HubOptions{})
	authors := newCache(t, fresh.Options[string, int]{Hub: h})
	pages := newCache(t, fresh.Options[string, string]{Hub: h})
	loadAuthor := func(ctx context.Context, id string) (int, error) {
		fresh.Depend(ctx, fresh.Entity("authors", id))
		return 1, nil
	}
	authors.GetOrLoad(ctx, "7", loadAuthor) // cached well before the page
	authors.Invalidate(ctx, fresh.Tag("unrelated"))
	page, err := pages.GetOrLoad(ctx, "home", func(ctx context.Context, _ string) (string, error) {
		n, err := authors.GetOrLoad(ctx, "7", loadAuthor)
		return fmt.Sprint("author ", n), err
	})
	if err != nil || page != "author 1" {
		t.Fatal(page, err)
	}
	if _, ok := pages.Get("home"); !ok {
		t.Fatal("page not cached")
	}
	authors.Invalidate(ctx, fresh.Entity("authors", "7"))
	if _, ok := pages.Get("home"); ok {
		t.Fatal("the page survived the invalidation of the author it was built from")
	}
}

// TestSetAsOf: a value computed before an invalidation of its dependencies is refused.
func TestSetAsOf(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[string, int]{})
	pos := c.Position()
	c.Invalidate(ctx, fresh.Entity("t", 1))
	c.Set(ctx, "k", 1, fresh.DependsOn(fresh.Entity("t", 1)), fresh.AsOf(pos))
	if _, ok := c.Get("k"); ok {
		t.Fatal("a value computed before an invalidation of its dependency was stored")
	}
	c.Set(ctx, "k", 2, fresh.DependsOn(fresh.Entity("t", 1)), fresh.AsOf(c.Position()))
	if _, ok := c.Get("k"); !ok {
		t.Fatal("a value computed after the invalidation was refused")
	}
	// A dependency that is held has its exact tombstone: an older AsOf is accepted
	// when that dependency was not invalidated since.
	c.Set(ctx, "held", 1, fresh.DependsOn(fresh.Entity("t", 2)))
	pos = c.Position()
	c.Invalidate(ctx, fresh.Entity("t", 3))
	c.Set(ctx, "k3", 3, fresh.DependsOn(fresh.Entity("t", 2)), fresh.AsOf(pos))
	if _, ok := c.Get("k3"); !ok {
		t.Fatal("a value whose held dependency was not invalidated was refused")
	}
}

// TestRefreshAhead: an entry past RefreshAfter is served while it reloads in the
// background, once.
func TestRefreshAhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c, _ := fresh.New(fresh.Options[string, int]{})
		defer c.Close(ctx)
		var calls atomic.Int32
		load := func(context.Context, string) (int, error) {
			n := calls.Add(1)
			time.Sleep(time.Second)
			return int(n), nil
		}
		opt := fresh.RefreshAfter(time.Minute)
		if v, _ := c.GetOrLoad(ctx, "k", load, opt); v != 1 {
			t.Fatalf("first load = %d", v)
		}
		time.Sleep(2 * time.Minute)
		for range 5 {
			if v, _ := c.GetOrLoad(ctx, "k", load, opt); v != 1 {
				t.Fatalf("during the refresh got %d; want the current value 1", v)
			}
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if v, _ := c.GetOrLoad(ctx, "k", load, opt); v != 2 {
			t.Fatalf("after the refresh got %d; want 2", v)
		}
		if calls.Load() != 2 {
			t.Fatalf("loader ran %d times; want 2", calls.Load())
		}
	})
}

// TestStaleIfError: the last value is served only when the reload fails, never on a
// plain miss, never to Get, and never after an invalidation.
func TestStaleIfError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c, _ := fresh.New(fresh.Options[string, int]{})
		defer c.Close(ctx)
		failing := atomic.Bool{}
		boom := errors.New("source down")
		load := func(ctx context.Context, _ string) (int, error) {
			fresh.Depend(ctx, fresh.Tag("t"))
			if failing.Load() {
				return 0, boom
			}
			return 1, nil
		}
		opts := []fresh.Option{fresh.TTL(time.Minute), fresh.StaleIfError(time.Hour)}
		failing.Store(true)
		if _, err := c.GetOrLoad(ctx, "k", load, opts...); !errors.Is(err, boom) {
			t.Fatalf("a plain miss with a failing loader: %v; want the error", err)
		}
		failing.Store(false)
		c.GetOrLoad(ctx, "k", load, opts...)
		time.Sleep(2 * time.Minute)
		if _, ok := c.Get("k"); ok {
			t.Fatal("Get served an expired value")
		}
		failing.Store(true)
		if v, err := c.GetOrLoad(ctx, "k", load, opts...); err != nil || v != 1 {
			t.Fatalf("expired value with a failing reload: %d, %v; want 1, nil", v, err)
		}
		if c.Stats().StaleServed != 1 {
			t.Fatalf("StaleServed = %d", c.Stats().StaleServed)
		}
		c.Invalidate(ctx, fresh.Tag("t"))
		if _, err := c.GetOrLoad(ctx, "k", load, opts...); !errors.Is(err, boom) {
			t.Fatalf("after an invalidation: %v; want the loader's error, not the stale value", err)
		}
	})
}

func TestInvalidatePatternLocal(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[string, int]{})
	for _, k := range []string{"user:1", "user:2", "user_1", "post:1"} {
		c.Set(ctx, k, 1)
	}
	if err := c.InvalidatePattern(ctx, "user:*"); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{"user:1": false, "user:2": false, "user_1": true, "post:1": true} {
		if _, ok := c.Get(k); ok != want {
			t.Errorf("%s cached = %v; want %v", k, ok, want)
		}
	}
}

// countingRecorder counts what a Recorder is told.
type countingRecorder struct {
	mu     sync.Mutex
	events map[fresh.Event]int
	loads  int
}

func (r *countingRecorder) Record(ev fresh.Event) {
	r.mu.Lock()
	if r.events == nil {
		r.events = map[fresh.Event]int{}
	}
	r.events[ev]++
	r.mu.Unlock()
}

func (r *countingRecorder) count(ev fresh.Event) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[ev]
}

func (r *countingRecorder) RecordLoad(time.Duration, error) {
	r.mu.Lock()
	r.loads++
	r.mu.Unlock()
}

func TestStatsAndRecorder(t *testing.T) {
	ctx := context.Background()
	rec := &countingRecorder{events: map[fresh.Event]int{}}
	c := newCache(t, fresh.Options[string, int]{Recorder: rec})
	load := func(context.Context, string) (int, error) { return 1, nil }
	c.GetOrLoad(ctx, "a", load) // miss, load
	c.GetOrLoad(ctx, "a", load) // hit
	c.Get("a")                  // hit
	c.Get("b")                  // miss
	s := c.Stats()
	if s.Hits != 2 || s.Misses != 2 || s.Loads != 1 || s.Entries != 1 {
		t.Fatalf("Stats = %+v; want 2 hits, 2 misses, 1 load, 1 entry", s)
	}
	if got := s.HitRatio(); got != 0.5 {
		t.Errorf("HitRatio = %v; want 0.5", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.events[fresh.EventHit] != 2 || rec.events[fresh.EventMiss] != 2 || rec.loads != 1 {
		t.Errorf("recorder saw %v and %d loads", rec.events, rec.loads)
	}
	if fresh.EventFenced.String() != "fenced" {
		t.Errorf("EventFenced.String() = %q", fresh.EventFenced.String())
	}
}
