package caches_test

import (
	"slices"
	"testing"
	"time"

	"github.com/freshcache/fresh/benchmarks/caches"
)

func TestSetThenGet(t *testing.T) {
	for _, s := range caches.All() {
		t.Run(s.Name, func(t *testing.T) {
			c, err := s.New(1000)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.Name(); got != s.Name {
				t.Errorf("Name() = %q; want %q", got, s.Name)
			}
			if _, ok := c.Get(1); ok {
				t.Errorf("Get(1) on an empty cache: got a hit; want a miss")
			}
			if !c.Set(1, 42) {
				t.Fatalf("Set(1, 42) = false; want true")
			}
			if w, ok := c.(caches.Waiter); ok {
				w.Wait()
			}
			if v, ok := c.Get(1); !ok || v != 42 {
				t.Errorf("Get(1) = %d, %v; want 42, true", v, ok)
			}
		})
	}
}

// TestBounded fills each bounded cache with ten times its capacity and checks that
// it comes to hold about its capacity: the concurrent policies evict in the
// background, so the test gives them a moment.
func TestBounded(t *testing.T) {
	const capacity = 1000
	for _, s := range caches.All() {
		t.Run(s.Name, func(t *testing.T) {
			c, err := s.New(capacity)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for k := range uint64(10 * capacity) {
				c.Set(k, k)
			}
			if w, ok := c.(caches.Waiter); ok {
				w.Wait()
			}
			n := c.(caches.Sizer).Len()
			for deadline := time.Now().Add(5 * time.Second); s.Bounded && n > capacity*11/10 && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
				n = c.(caches.Sizer).Len()
			}
			switch {
			case !s.Bounded && n != 10*capacity:
				t.Errorf("unbounded: Len() = %d; want %d", n, 10*capacity)
			case s.Bounded && (n > capacity*11/10 || n < capacity/2):
				t.Errorf("Len() = %d; want about %d", n, capacity)
			}
		})
	}
}

func TestWithReferences(t *testing.T) {
	got := caches.WithReferences([]string{caches.FreshTTL, caches.Theine})
	want := []string{caches.FreshTTL, caches.Theine, caches.Otter, caches.OtterExpiry, caches.Xsync}
	if !slices.Equal(got, want) {
		t.Errorf("WithReferences = %v; want %v", got, want)
	}
}

func TestLookup(t *testing.T) {
	got, err := caches.Lookup(caches.Otter, caches.Xsync)
	if err != nil {
		t.Fatal(err)
	}
	if names := caches.Names(got); len(names) != 2 || names[0] != caches.Otter || names[1] != caches.Xsync {
		t.Errorf("Lookup(otter, xsync.Map) = %v", names)
	}
	if _, err := caches.Lookup("nope"); err == nil {
		t.Errorf("Lookup(nope): got no error")
	}
}
