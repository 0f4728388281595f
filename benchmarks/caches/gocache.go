package caches

import (
	"context"
	"runtime"
	"strconv"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/eko/gocache/lib/v4/cache"
	"github.com/eko/gocache/lib/v4/store"
	ristretto_store "github.com/eko/gocache/store/ristretto/v4"
)

// gocacheCache is gocache behind Cache. With wait, each Set waits for its
// ristretto store to apply it (or drop it).
type gocacheCache struct {
	c    *cache.Cache[uint64]
	rc   *ristretto.Cache[string, any]
	wait bool
}

var _ Waiter = gocacheCache{}

func gocacheSpec() Spec {
	return Spec{
		Name: Gocache,
		Note: "eko/gocache lib v4.2.4 over its ristretto store v4.3.2 (the store of its README's first example; its go-cache store has no size bound), ristretto configured as in the ristretto row, cost 1. " +
			"Keys are passed as strings (other key types are hashed with MD5); a miss is an error value; Sets are buffered and may be dropped as in ristretto. It has tags, with invalidation by a comma-separated key list per tag.",
		Bounded:  true,
		Seeded:   true,
		SyncNote: "`Wait()` on its ristretto store after each Set, then `runtime.Gosched()`, as in the ristretto row (its dropped Gets are not counted).",
		New: func(capacity int) (Cache, error) {
			return newGocache(capacity, false)
		},
		NewSync: func(capacity int) (Cache, error) {
			return newGocache(capacity, true)
		},
	}
}

func newGocache(capacity int, wait bool) (Cache, error) {
	rc, err := ristretto.NewCache(ristrettoConfig[string, any](capacity))
	if err != nil {
		return nil, err
	}
	s := ristretto_store.NewRistretto(rc, store.WithCost(1))
	return gocacheCache{c: cache.New[uint64](s), rc: rc, wait: wait}, nil
}

func (g gocacheCache) Name() string { return Gocache }

func (g gocacheCache) Get(k uint64) (uint64, bool) {
	v, err := g.c.Get(context.Background(), strconv.FormatUint(k, 10))
	return v, err == nil
}

func (g gocacheCache) Set(k, v uint64) bool {
	err := g.c.Set(context.Background(), strconv.FormatUint(k, 10), v)
	if g.wait {
		g.rc.Wait()
		runtime.Gosched()
	}
	return err == nil
}

// Wait implements Waiter.
func (g gocacheCache) Wait() { g.rc.Wait() }

// Len counts the cost in use: every entry costs 1.
func (g gocacheCache) Len() int { return int(g.rc.MaxCost() - g.rc.RemainingCost()) }

func (g gocacheCache) Close() error {
	g.rc.Close()
	return nil
}
