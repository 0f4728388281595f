package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/benchmarks/internal/zipf"
	"github.com/maypok86/otter/v2"
	"github.com/maypok86/otter/v2/stats"
)

// churnEvery is the interval of the unrelated invalidations of the churn cases.
const churnEvery = 100 * time.Microsecond

// freshTTL is the default TTL of the fresh-ttl case, never reached.
const freshTTL = 24 * time.Hour

// A HitCase is one configuration of the hit benchmark.
type HitCase struct {
	Name    string
	Fresh   bool
	Deps    int  // tags per entry (fresh); with Nested, the inner values each entry is built from
	Nested  bool // fresh: each entry is loaded by a loader reading Deps inner values of another cache
	Churn   bool // unrelated invalidations every 100µs (fresh)
	TTL     bool // fresh with a default TTL, or otter with an expiry calculator
	Stats   bool // otter counts hits and misses (stats.NewCounter)
	NoStats bool // fresh does not count hits and misses (Options.NoHitStats)
	Pointer bool // otter holding a pointer to a 24-byte value, as fresh would hold its entries behind a pointer
	Versus  string
}

// Names of the cases the summary refers to; the Set cases use the cache names.
const (
	otterPlain  = "otter"
	otterStats  = "otter-stats"
	otterExpiry = "otter-expiry"
	otterPtr    = "otter-ptr24B" // a pointer to a value of fresh's entry's size
	otterWide   = "otter-24B"    // a value of fresh's entry's size (Set only)

	fresh0             = "fresh-0deps"
	fresh0NoStats      = "fresh-0deps-nostats"
	fresh4             = "fresh-4deps"
	fresh4Churn        = "fresh-4deps-churn"
	fresh4ChurnNoStats = "fresh-4deps-churn-nostats"
	nested4            = "fresh-nested-4"
	nested4Churn       = "fresh-nested-4-churn"
)

// HitCases are the configurations compared, otter's first. Versus names the otter
// configuration each fresh configuration runs in its store.
func HitCases() []HitCase {
	cs := []HitCase{
		{Name: otterPlain},
		{Name: otterStats, Stats: true},
		{Name: otterExpiry, TTL: true},
		{Name: otterPtr, Pointer: true},
	}
	for _, churn := range []bool{false, true} {
		suffix := ""
		if churn {
			suffix = "-churn"
		}
		for _, deps := range []int{0, 1, 4} {
			name := fmt.Sprintf("fresh-%ddeps", deps) + suffix
			cs = append(cs, HitCase{Name: name, Fresh: true, Deps: deps, Churn: churn, Versus: otterPlain})
			// Without hit statistics where a target asks for it: quiet with no
			// dependency, and 4 dependencies under churn.
			if deps == 0 && !churn || deps == 4 && churn {
				cs = append(cs, HitCase{Name: name + "-nostats", Fresh: true, Deps: deps, Churn: churn, NoStats: true, Versus: otterPlain})
			}
		}
		cs = append(cs, HitCase{Name: nested4 + suffix, Fresh: true, Deps: 4, Nested: true, Churn: churn, Versus: otterPlain})
	}
	return append(cs, HitCase{Name: "fresh-ttl", Fresh: true, TTL: true, Versus: otterExpiry})
}

// Stream returns the keys the hit and Set benchmarks use: 2^20 keys in [0, keys).
func Stream(keys int) []uint64 { return zipf.Scrambled(keys, 0.99, 1<<20, 2) }

// Hit is the body of the hit benchmark: it builds the cache of hc holding keys
// entries and reads stream from several goroutines, each from a random start. Every
// read must hit.
func Hit(b *testing.B, hc HitCase, keys, goroutines int, stream []uint64) {
	f, err := hitFixture(hc, keys)
	if err != nil {
		b.Fatal(err)
	}
	defer f.close()
	f.measure(b, goroutines, stream)
}

// hitFixture builds the cache of hc holding keys entries.
func hitFixture(hc HitCase, keys int) (*fixture, error) {
	f := &fixture{what: "reads missed; want every read to hit"}
	if hc.Fresh {
		c, hub, err := newFresh(2*keys, keys, hc)
		if err != nil {
			return nil, err
		}
		// A hub without a bus, closed without a deadline, cannot fail to close.
		f.close = func() { _ = hub.Close(context.Background()) }
		if hc.Churn {
			f.churn = hub
		}
		f.op = func(k uint64) bool { _, ok := c.Get(k); return ok }
		return f, nil
	}
	if hc.Pointer {
		c, err := otter.New(&otter.Options[uint64, *wide]{MaximumSize: 2 * keys})
		if err != nil {
			return nil, err
		}
		for k := range uint64(keys) {
			c.Set(k, &wide{v: k})
		}
		f.close = func() { c.StopAllGoroutines() }
		f.op = func(k uint64) bool { v, ok := c.GetIfPresent(k); return ok && v.v == k }
		return f, nil
	}
	o := &otter.Options[uint64, uint64]{MaximumSize: 2 * keys}
	if hc.TTL {
		o.ExpiryCalculator = otter.ExpiryWritingFunc(func(otter.Entry[uint64, uint64]) time.Duration { return math.MaxInt64 })
	}
	if hc.Stats {
		o.StatsRecorder = stats.NewCounter()
	}
	c, err := otter.New(o)
	if err != nil {
		return nil, err
	}
	for k := range uint64(keys) {
		c.Set(k, k)
	}
	f.close = func() { c.StopAllGoroutines() }
	f.op = func(k uint64) bool { _, ok := c.GetIfPresent(k); return ok }
	return f, nil
}

// wide is a value of the size of fresh's entry of a uint64: the value, and room for
// a position word and a pointer.
type wide struct {
	v uint64
	_ [2]uint64
}

// tags returns the pool of tags the entries depend on.
func tags() []fresh.Dep {
	pool := make([]fresh.Dep, tagPool)
	for i := range pool {
		pool[i] = fresh.Tag("pool-" + strconv.Itoa(i))
	}
	return pool
}

// depIndex is the index in the pool of the j-th dependency of key k: neighbouring
// keys share tags, and one key's tags are distinct. It depends on k mod tagPool
// only.
func depIndex(k uint64, j int) uint64 { return (k + uint64(j)*257) % tagPool }

// newFresh returns a fresh cache of capacity entries holding keys 0 to n-1,
// configured by hc, in a hub of its own, as a process would have; closing the hub
// closes the cache. Entry k depends on the tags depIndex(k, j) for j < hc.Deps, or,
// with hc.Nested, is built by a loader from the inner values of those indexes, each
// of which depends on its one tag.
func newFresh(capacity, n int, hc HitCase) (*fresh.Cache[uint64, uint64], *fresh.Hub, error) {
	ctx := context.Background()
	hub, err := fresh.NewHub(fresh.HubOptions{})
	if err != nil {
		return nil, nil, err
	}
	o := fresh.Options[uint64, uint64]{Hub: hub, Name: "outer", MaxEntries: capacity, NoHitStats: hc.NoStats}
	if hc.TTL {
		o.TTL = freshTTL
	}
	c, err := fresh.New(o)
	if err == nil {
		if hc.Nested {
			err = fillNested(ctx, hub, c, n, hc.Deps)
		} else {
			err = fillDirect(ctx, c, n, hc.Deps)
		}
	}
	if err != nil {
		return nil, nil, errors.Join(err, hub.Close(ctx))
	}
	return c, hub, nil
}

// fillDirect sets keys 0 to n-1, each depending on deps tags of the pool.
func fillDirect(ctx context.Context, c *fresh.Cache[uint64, uint64], n, deps int) error {
	pool := tags()
	d := make([]fresh.Dep, deps)
	for k := range uint64(n) {
		for j := range d {
			d[j] = pool[depIndex(k, j)]
		}
		if err := c.Set(ctx, k, k, fresh.DependsOn(d...)); err != nil {
			return err
		}
	}
	return nil
}

// fillNested loads keys 0 to n-1 into c, each by a loader that reads deps inner
// values (GetOrLoad of a second cache of hub, with the loader's context): entry k is
// the sum of the inner values depIndex(k, j), and inner value i depends on tag i of
// the pool. Entry k thus depends on the same tags as with fillDirect, and on the
// inner keys it read.
func fillNested(ctx context.Context, hub *fresh.Hub, c *fresh.Cache[uint64, uint64], n, deps int) error {
	pool := tags()
	inner, err := fresh.New(fresh.Options[uint64, uint64]{Hub: hub, Name: "inner", MaxEntries: 2 * tagPool})
	if err != nil {
		return err
	}
	loadInner := func(ctx context.Context, i uint64) (uint64, error) {
		fresh.Depend(ctx, pool[i])
		return i, nil
	}
	loadOuter := func(ctx context.Context, k uint64) (uint64, error) {
		var sum uint64
		for j := range deps {
			v, err := inner.GetOrLoad(ctx, depIndex(k, j), loadInner)
			if err != nil {
				return 0, err
			}
			sum += v
		}
		return sum, nil
	}
	load := func(from, to uint64) error {
		for k := from; k < to; k++ {
			if _, err := c.GetOrLoad(ctx, k, loadOuter); err != nil {
				return err
			}
		}
		return nil
	}
	// Key 0 alone first: the first nested read turns on the dependencies on inner
	// keys, which advances the hub's position, and no other entry should date from
	// before that. Then the others from several goroutines, since a load waits for
	// its own goroutine.
	if err := load(0, 1); err != nil || n == 1 {
		return err
	}
	g := uint64(4 * runtime.GOMAXPROCS(0))
	errs := make([]error, g)
	var wg sync.WaitGroup
	for i := range g {
		wg.Go(func() { errs[i] = load(1+uint64(n-1)*i/g, 1+uint64(n-1)*(i+1)/g) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// churn invalidates a tag no entry depends on every churnEvery, 64 tags in turn, until the returned
// function is called; that function waits for it to stop.
func churn(hub *fresh.Hub) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(churnEvery)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-t.C:
				// An error here would be ErrClosed; the hub outlives the ticker.
				// 64 tags in turn: a stream of distinct names would, in time, raise both
				// tombstone slots of some of the entries' own tags (HubOptions.
				// DependencySlots), and the hits measured must stay hits.
				_ = hub.Invalidate(context.Background(), fresh.Tag("unrelated-"+strconv.Itoa(i%64)))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
