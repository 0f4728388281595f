package core

import (
	"context"
	"testing"

	"github.com/freshcache/fresh"
	"github.com/maypok86/otter/v2"
)

// A SetCase is one configuration of the Set benchmark: a write of a key the cache
// already holds (0 reads to 100 writes).
type SetCase struct {
	Name       string // the cache: "otter", or "fresh-Ndeps"
	Fresh      bool
	Deps       int  // tags per entry (fresh), the same as the entry it replaces
	Wide       bool // otter replacing a 24-byte value, which it boxes, as it boxes fresh's entries
	Goroutines int  // 1, or 0 for Options.Goroutines
}

// id names the case in the results: its Name, and the goroutines when there is
// one.
func (sc SetCase) id() string {
	if sc.Goroutines == 1 {
		return sc.Name + "/1"
	}
	return sc.Name
}

// SetCases are the configurations compared, otter's first in each group: from
// Options.Goroutines goroutines, then from one.
func SetCases() []SetCase {
	var cs []SetCase
	for _, g := range []int{0, 1} {
		cs = append(cs,
			SetCase{Name: otterPlain, Goroutines: g},
			SetCase{Name: otterWide, Wide: true, Goroutines: g},
			SetCase{Name: fresh0, Fresh: true, Goroutines: g},
			SetCase{Name: fresh4, Fresh: true, Deps: 4, Goroutines: g},
		)
	}
	return cs
}

// Set is the body of the Set benchmark: it builds the cache of sc holding keys
// entries and writes the keys of stream again, from goroutines goroutines (one if
// sc says so), each from a random start.
func Set(b *testing.B, sc SetCase, keys, goroutines int, stream []uint64) {
	f, err := setFixture(sc, keys)
	if err != nil {
		b.Fatal(err)
	}
	defer f.close()
	f.measure(b, sc.goroutines(goroutines), stream)
}

// goroutines returns the goroutines the case writes from, given Options.Goroutines.
func (sc SetCase) goroutines(g int) int {
	if sc.Goroutines != 0 {
		return sc.Goroutines
	}
	return g
}

// setFixture builds the cache of sc holding keys entries. fresh's options are built
// here, before the timed loop, as a user keeps them: one DependsOn per pattern of
// tags, so that each Set gives its key the tags it already had.
func setFixture(sc SetCase, keys int) (*fixture, error) {
	f := &fixture{what: "Sets failed"}
	if sc.Fresh {
		c, hub, err := newFresh(2*keys, keys, HitCase{Name: sc.Name, Fresh: true, Deps: sc.Deps})
		if err != nil {
			return nil, err
		}
		// A hub without a bus, closed without a deadline, cannot fail to close.
		f.close = func() { _ = hub.Close(context.Background()) }
		ctx := context.Background()
		if sc.Deps == 0 {
			f.op = func(k uint64) bool { return c.Set(ctx, k, k) == nil }
		} else {
			opts := dependsOn(sc.Deps)
			f.op = func(k uint64) bool { return c.Set(ctx, k, k, opts[k%tagPool]) == nil }
		}
		return f, nil
	}
	if sc.Wide {
		c, err := otter.New(&otter.Options[uint64, wide]{MaximumSize: 2 * keys})
		if err != nil {
			return nil, err
		}
		for k := range uint64(keys) {
			c.Set(k, wide{v: k})
		}
		f.close = func() { c.StopAllGoroutines() }
		f.op = func(k uint64) bool { c.Set(k, wide{v: k}); return true }
		return f, nil
	}
	c, err := otter.New(&otter.Options[uint64, uint64]{MaximumSize: 2 * keys})
	if err != nil {
		return nil, err
	}
	for k := range uint64(keys) {
		c.Set(k, k)
	}
	f.close = func() { c.StopAllGoroutines() }
	f.op = func(k uint64) bool { c.Set(k, k); return true }
	return f, nil
}

// dependsOn returns the options of the Set benchmark: for each r < tagPool, the
// DependsOn of the deps tags that fillDirect gives to the keys k with k mod tagPool
// = r.
func dependsOn(deps int) []fresh.Option {
	pool := tags()
	opts := make([]fresh.Option, tagPool)
	d := make([]fresh.Dep, deps)
	for r := range uint64(tagPool) {
		for j := range d {
			d[j] = pool[depIndex(r, j)]
		}
		opts[r] = fresh.DependsOn(d...) // it keeps a copy of d
	}
	return opts
}
