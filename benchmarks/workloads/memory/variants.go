package memory

import (
	"context"
	"fmt"
	"strconv"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/benchmarks/caches"
)

// The fresh configurations with dependencies that this package adds to caches.All.
const (
	// Fresh2Tags gives entry k the tags k mod 10k and (31k+17) mod 10k, of a pool of
	// 10k tags shared by all entries.
	Fresh2Tags = "fresh-2tags"
	// Fresh1Entity gives entry k the entity a:k, which no other entry shares.
	Fresh1Entity = "fresh-1entity"
	// Fresh2Entities gives entry k the entities a:k and b:k, which no other entry
	// shares.
	Fresh2Entities = "fresh-2entities"
)

// tagPool is the number of tags Fresh2Tags draws from.
const tagPool = 10_000

// builderFor returns the constructor of the configuration called name.
func builderFor(name string) (func(capacity int) (caches.Cache, error), error) {
	switch name {
	case Fresh2Tags:
		return func(capacity int) (caches.Cache, error) {
			return newFreshDeps(name, capacity, func(k uint64) []fresh.Dep {
				// The names are built at each Set, as an application would: the cache
				// keeps the first copy of each, so the pool costs what the cache holds.
				return []fresh.Dep{
					fresh.Tag("t" + strconv.FormatUint(k%tagPool, 10)),
					fresh.Tag("t" + strconv.FormatUint((31*k+17)%tagPool, 10)),
				}
			})
		}, nil
	case Fresh1Entity:
		return func(capacity int) (caches.Cache, error) {
			return newFreshDeps(name, capacity, func(k uint64) []fresh.Dep {
				return []fresh.Dep{fresh.Entity("a", k)}
			})
		}, nil
	case Fresh2Entities:
		return func(capacity int) (caches.Cache, error) {
			return newFreshDeps(name, capacity, func(k uint64) []fresh.Dep {
				return []fresh.Dep{fresh.Entity("a", k), fresh.Entity("b", k)}
			})
		}, nil
	}
	specs, err := caches.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("%w %q", errUnknown, name)
	}
	return specs[0].New, nil
}

// freshDeps is a fresh cache whose Set gives each entry the dependencies of deps.
type freshDeps struct {
	name string
	c    *fresh.Cache[uint64, uint64]
	deps func(k uint64) []fresh.Dep
}

// newFreshDeps returns a fresh cache of capacity entries in the default hub, with
// hit statistics on (the default: Options.NoHitStats only saves a striped counter
// per cache, nothing per entry).
func newFreshDeps(name string, capacity int, deps func(uint64) []fresh.Dep) (*freshDeps, error) {
	c, err := fresh.New(fresh.Options[uint64, uint64]{MaxEntries: capacity})
	if err != nil {
		return nil, err
	}
	return &freshDeps{name: name, c: c, deps: deps}, nil
}

func (f *freshDeps) Name() string { return f.name }

func (f *freshDeps) Get(k uint64) (uint64, bool) { return f.c.Get(k) }

func (f *freshDeps) Set(k, v uint64) bool {
	return f.c.Set(context.Background(), k, v, fresh.DependsOn(f.deps(k)...)) == nil
}

func (f *freshDeps) Len() int { return f.c.Stats().Entries }

func (f *freshDeps) Close() error { return f.c.Close(context.Background()) }
