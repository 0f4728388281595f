package fresh_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

// source is a versioned data source: every write bumps the version.
type source struct {
	mu sync.Mutex
	v  int
}

func (s *source) read() int   { s.mu.Lock(); defer s.mu.Unlock(); return s.v }
func (s *source) write(v int) { s.mu.Lock(); s.v = v; s.mu.Unlock() }

// newHub returns a hub of the test's own, closed when the test ends.
func newHub(t *testing.T, o fresh.HubOptions) *fresh.Hub {
	t.Helper()
	h, err := fresh.NewHub(o)
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("Hub.Close: %v", err)
		}
	})
	return h
}

// newCache returns a cache closed when the test ends, in a hub of the test's own
// unless o names one.
func newCache[K comparable, V any](t *testing.T, o fresh.Options[K, V]) *fresh.Cache[K, V] {
	t.Helper()
	if o.Hub == nil {
		o.Hub = newHub(t, fresh.HubOptions{})
	}
	c, err := fresh.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// mustReturn fails the test if f does not return within a second: invalidating calls
// must never wait for a loader.
func mustReturn(t *testing.T, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(time.Second):
		t.Fatalf("%s waited for the blocked loader", what)
	}
}

// TestNoStaleFill is guarantee G0: a loader that read the data before a write, and is
// still running when the write's invalidation is applied, never gets its value served
// afterwards, whatever kind of dependency carried the invalidation, and even when the
// loader declares its dependencies only after the invalidation.
func TestNoStaleFill(t *testing.T) {
	articles := fresh.TableSchema{Table: "articles", Scopes: [][]string{{"published"}}}
	cases := []struct {
		name       string
		deps       func(ctx context.Context, c *fresh.Cache[string, int], inner *fresh.Cache[string, int])
		invalidate func(ctx context.Context, c *fresh.Cache[string, int]) error
	}{
		{
			name:       "tag",
			deps:       func(ctx context.Context, _, _ *fresh.Cache[string, int]) { fresh.Depend(ctx, fresh.Tag("t")) },
			invalidate: func(ctx context.Context, c *fresh.Cache[string, int]) error { return c.Invalidate(ctx, fresh.Tag("t")) },
		},
		{
			name: "entity",
			deps: func(ctx context.Context, _, _ *fresh.Cache[string, int]) {
				fresh.Depend(ctx, fresh.Entity("articles", 7))
			},
			invalidate: func(ctx context.Context, c *fresh.Cache[string, int]) error {
				return c.Invalidate(ctx, fresh.Entity("articles", int64(7)))
			},
		},
		{
			name: "scope via row change",
			deps: func(ctx context.Context, _, _ *fresh.Cache[string, int]) {
				fresh.Depend(ctx, fresh.Scope("articles", fresh.Eq("published", true)))
			},
			invalidate: func(ctx context.Context, c *fresh.Cache[string, int]) error {
				return c.InvalidateRows(ctx, fresh.RowChange{
					Table: "articles",
					Old:   fresh.Row{"id": 9, "published": false},
					New:   fresh.Row{"id": 9, "published": true},
				})
			},
		},
		{
			name: "nested",
			deps: func(ctx context.Context, _, inner *fresh.Cache[string, int]) {
				_, err := inner.GetOrLoad(ctx, "inner", func(ctx context.Context, _ string) (int, error) {
					fresh.Depend(ctx, fresh.Tag("inner"))
					return 1, nil
				})
				if err != nil {
					panic(err)
				}
			},
			invalidate: func(ctx context.Context, c *fresh.Cache[string, int]) error {
				return c.Invalidate(ctx, fresh.Tag("inner"))
			},
		},
	}
	for _, tc := range cases {
		for _, declareLate := range []bool{false, true} {
			name := tc.name
			if declareLate {
				name += "/declared after the invalidation"
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				h := newHub(t, fresh.HubOptions{})
				c := newCache(t, fresh.Options[string, int]{Hub: h, Tables: []fresh.TableSchema{articles}})
				inner := newCache(t, fresh.Options[string, int]{Hub: h})
				src := &source{}
				src.write(0)
				entered, release := make(chan struct{}), make(chan struct{})
				var calls atomic.Int32
				loader := func(ctx context.Context, _ string) (int, error) {
					if !declareLate {
						tc.deps(ctx, c, inner)
					}
					v := src.read()
					if calls.Add(1) == 1 {
						close(entered)
						<-release
					}
					if declareLate {
						tc.deps(ctx, c, inner)
					}
					return v, nil
				}
				got := make(chan int, 1)
				go func() {
					v, err := c.GetOrLoad(ctx, "k", loader)
					if err != nil {
						t.Errorf("GetOrLoad: %v", err)
					}
					got <- v
				}()
				<-entered
				src.write(1)
				mustReturn(t, "invalidate", func() error { return tc.invalidate(ctx, c) })
				close(release)
				if v := <-got; v != 0 {
					t.Fatalf("the overlapping caller got %d; want its own read, 0", v)
				}
				if v, ok := c.Get("k"); ok {
					t.Fatalf("Get after the invalidation = %d, true; want a miss", v)
				}
				v, err := c.GetOrLoad(ctx, "k", loader)
				if err != nil || v != 1 {
					t.Fatalf("GetOrLoad after the invalidation = %d, %v; want 1, nil", v, err)
				}
				if v, ok := c.Get("k"); !ok || v != 1 {
					t.Fatalf("Get = %d, %v; want 1, true", v, ok)
				}
				if s := c.Stats(); s.Fenced == 0 {
					t.Errorf("Stats().Fenced = 0; want the refused fill counted")
				}
			})
		}
	}
}

// TestNoJoiningOldFlight is guarantee G0': a read that starts after Invalidate (or
// Delete) returned never receives the value of a load that started before it.
func TestNoJoiningOldFlight(t *testing.T) {
	for _, how := range []string{"invalidate", "delete", "flush"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			c := newCache(t, fresh.Options[string, int]{})
			src := &source{}
			entered, release := make(chan struct{}), make(chan struct{})
			var calls atomic.Int32
			loader := func(ctx context.Context, _ string) (int, error) {
				fresh.Depend(ctx, fresh.Tag("t"))
				v := src.read()
				if calls.Add(1) == 1 {
					close(entered)
					<-release
				}
				return v, nil
			}
			go func() { _, _ = c.GetOrLoad(ctx, "k", loader) }()
			<-entered
			src.write(1)
			switch how {
			case "invalidate":
				mustReturn(t, how, func() error { return c.Invalidate(ctx, fresh.Tag("t")) })
			case "delete":
				mustReturn(t, how, func() error { return c.Delete(ctx, "k") })
			case "flush":
				mustReturn(t, how, func() error { return c.Flush(ctx) })
			}
			late := make(chan int, 1)
			go func() {
				v, err := c.GetOrLoad(ctx, "k", loader)
				if err != nil {
					t.Errorf("late GetOrLoad: %v", err)
				}
				late <- v
			}()
			time.Sleep(20 * time.Millisecond) // let the late reader find the old flight
			close(release)
			if v := <-late; v != 1 {
				t.Fatalf("a read that started after %s got %d; want 1", how, v)
			}
			if v, ok := c.Get("k"); ok && v != 1 {
				t.Fatalf("Get = %d; want 1 or a miss", v)
			}
		})
	}
}

// TestSingleFlight: concurrent misses of a cold key run the loader exactly once.
func TestSingleFlight(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[string, int]{})
	const n = 100
	var calls, arrived atomic.Int32
	all := make(chan struct{})
	loader := func(ctx context.Context, _ string) (int, error) {
		calls.Add(1)
		<-all
		return 42, nil
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if arrived.Add(1) == n {
				// The last caller to arrive lets the loader finish shortly after it
				// has joined.
				time.AfterFunc(50*time.Millisecond, func() { close(all) })
			}
			v, err := c.GetOrLoad(ctx, "cold", loader)
			if err != nil || v != 42 {
				t.Errorf("GetOrLoad = %d, %v; want 42, nil", v, err)
			}
		}()
	}
	wg.Wait()
	if got := calls.Load(); got != 1 {
		t.Fatalf("loader ran %d times; want 1", got)
	}
}

// TestSingleFlightAtLoadEnd: readers still arriving as a load stores its value and
// leaves the flight table either join it or hit the stored value; none loads again.
func TestSingleFlightAtLoadEnd(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[int, int]{})
	for round := range 200 {
		var calls atomic.Int32
		load := func(context.Context, int) (int, error) {
			calls.Add(1)
			time.Sleep(100 * time.Microsecond)
			return round, nil
		}
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(g*10) * time.Microsecond) // spread over the load's end
				if v, err := c.GetOrLoad(ctx, round, load); err != nil || v != round {
					t.Errorf("GetOrLoad = %d, %v", v, err)
				}
			}()
		}
		wg.Wait()
		if n := calls.Load(); n != 1 {
			t.Fatalf("round %d: loader ran %d times; want 1", round, n)
		}
	}
}
