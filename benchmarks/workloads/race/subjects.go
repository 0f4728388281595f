package race

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/Yiling-J/theine-go"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/eko/gocache/lib/v4/cache"
	"github.com/eko/gocache/lib/v4/store"
	gocachestore "github.com/eko/gocache/store/go_cache/v4"
	"github.com/freshcache/fresh"
	"github.com/jellydator/ttlcache/v3"
	"github.com/maypok86/otter/v2"
	gocache "github.com/patrickmn/go-cache"
	"github.com/puzpuzpuz/xsync/v4"
	"github.com/viccon/sturdyc"
)

// capacity is the size every cache is given: far more than the one key needs, so
// that no eviction policy takes part.
const capacity = 1000

// errNoItem is what a ttlcache read reports when its loader stored nothing.
var errNoItem = errors.New("no item")

// subjects lists the libraries, fresh first, each with its idiomatic calls.
func subjects() []subject {
	return []subject{
		{
			name:  "fresh (Invalidate dep)",
			calls: "`GetOrLoad(ctx, key, loader)` whose loader calls `fresh.Depend(ctx, fresh.Entity(\"source\", key))`; `Invalidate(ctx, fresh.Entity(\"source\", key))`; final read `Get(key)`.",
			fresh: true,
			explain: func(outs []outcome) string {
				if !slices.ContainsFunc(outs, func(o outcome) bool { return o.bWaited && o.b == v1 }) {
					return ""
				}
				return "fresh (Invalidate dep): B got v1, but only after the old load ended. An invalidation by dependency " +
					"does not detach the flights in progress (a flight's dependencies are complete only when its loader " +
					"returns), so B joins the old flight, finds its value overtaken when it ends, and loads again. G0' holds " +
					"(B never takes the old value), but B's latency includes the rest of the old load. Delete(key) detaches " +
					"the key's flight at once, so there B does not wait."
			},
			new: func(load loadFunc) (*instance, error) {
				dep := fresh.Entity("source", key)
				return newFresh(load, func(ctx context.Context, c *fresh.Cache[string, string]) error {
					return c.Invalidate(ctx, dep)
				}, dep)
			},
		},
		{
			name:  "fresh (Delete key)",
			calls: "`GetOrLoad(ctx, key, loader)` with no dependency; `Delete(ctx, key)`; final read `Get(key)`.",
			fresh: true,
			new: func(load loadFunc) (*instance, error) {
				return newFresh(load, func(ctx context.Context, c *fresh.Cache[string, string]) error {
					return c.Delete(ctx, key)
				})
			},
		},
		{
			name:  "otter",
			calls: "`Get(ctx, key, otter.LoaderFunc(...))`; `Invalidate(key)`; final read `GetIfPresent(key)`.",
			explain: func(outs []outcome) string {
				if !slices.ContainsFunc(outs, func(o outcome) bool { return o.a == v1 }) {
					return ""
				}
				return "otter: A got v1 because `Cache.Get` discards a load overtaken by a write or an invalidation of its " +
					"key and loads again (documented on `Cache.Get` in v2.4.0), at the cost of one more loader call. " +
					"This covers the key only: otter has no dependencies, so a value built from other data is invalidated " +
					"only if the caller knows and invalidates every key built from it."
			},
			new: func(load loadFunc) (*instance, error) {
				c, err := otter.New(&otter.Options[string, string]{MaximumSize: capacity})
				if err != nil {
					return nil, err
				}
				loader := otter.LoaderFunc[string, string](func(ctx context.Context, _ string) (string, error) { return load(ctx) })
				return &instance{
					read:       func(ctx context.Context) (string, error) { return c.Get(ctx, key, loader) },
					invalidate: func(context.Context) error { c.Invalidate(key); return nil },
					peek:       func() (string, bool) { return c.GetIfPresent(key) },
					close:      func() { c.StopAllGoroutines() },
				}, nil
			},
		},
		{
			name: "theine",
			explain: func(outs []outcome) string {
				if !slices.ContainsFunc(outs, func(o outcome) bool { return o.blocked }) {
					return ""
				}
				return "theine: the loading cache runs the loader while holding the lock of the key's shard, so Delete " +
					"(and every read of a key in that shard, here B) waits for the load to end; B then took the old " +
					"load's value, and the Delete removed it from the cache afterwards."
			},
			calls: "a loading cache (`NewBuilder(...).Loading(loader).Build()`), `Get(ctx, key)`; `Delete(key)`; `Wait()`, then the final read with `Range` (a loading cache has no read that does not load).",
			new: func(load loadFunc) (*instance, error) {
				c, err := theine.NewBuilder[string, string](capacity).Loading(
					func(ctx context.Context, _ string) (theine.Loaded[string], error) {
						v, err := load(ctx)
						return theine.Loaded[string]{Value: v, Cost: 1}, err
					}).Build()
				if err != nil {
					return nil, err
				}
				return &instance{
					read:       func(ctx context.Context) (string, error) { return c.Get(ctx, key) },
					invalidate: func(context.Context) error { c.Delete(key); return nil },
					peek: func() (v string, found bool) {
						c.Range(func(k, val string) bool {
							if k == key {
								v, found = val, true
								return false
							}
							return true
						})
						return v, found
					},
					sync:  c.Wait,
					close: c.Close,
				}, nil
			},
		},
		{
			name:  "ristretto",
			calls: "no loader API: `Get(key)`, on a miss load then `Set(key, v, 1)`; `Del(key)`; `Wait()`, then the final read `Get(key)`.",
			new: func(load loadFunc) (*instance, error) {
				c, err := ristretto.NewCache(&ristretto.Config[string, string]{NumCounters: 10 * capacity, MaxCost: capacity, BufferItems: 64})
				if err != nil {
					return nil, err
				}
				return &instance{
					read: func(ctx context.Context) (string, error) {
						if v, ok := c.Get(key); ok {
							return v, nil
						}
						v, err := load(ctx)
						if err == nil {
							c.Set(key, v, 1)
						}
						return v, err
					},
					invalidate: func(context.Context) error { c.Del(key); return nil },
					peek:       func() (string, bool) { return c.Get(key) },
					sync:       c.Wait,
					close:      c.Close,
				}, nil
			},
		},
		{
			name:  "sturdyc",
			calls: "`sturdyc.GetOrFetch(ctx, client, key, fetchFn)`; `Delete(key)`; final read `Get(key)`. Built with `WithNoContinuousEvictions()` so that no goroutine outlives a trial.",
			new: func(load loadFunc) (*instance, error) {
				c := sturdyc.New[string](capacity, 1, time.Hour, 10, sturdyc.WithNoContinuousEvictions())
				fetch := func(ctx context.Context) (string, error) { return load(ctx) }
				return &instance{
					read:       func(ctx context.Context) (string, error) { return sturdyc.GetOrFetch(ctx, c, key, fetch) },
					invalidate: func(context.Context) error { c.Delete(key); return nil },
					peek:       func() (string, bool) { return c.Get(key) },
					close:      func() {},
				}, nil
			},
		},
		{
			name:  "ttlcache (loader)",
			calls: "`WithLoader(LoaderFunc)` whose loader loads and returns `c.Set(key, v, DefaultTTL)`; `Get(key)`; `Delete(key)`; final read `Get(key, WithLoader(nil))`.",
			new: func(load loadFunc) (*instance, error) {
				return newTTLCache(load, false), nil
			},
		},
		{
			name:  "ttlcache (suppressed loader)",
			calls: "the same loader wrapped in `NewSuppressedLoader(loader, nil)` (singleflight); `Get(key)`; `Delete(key)`; final read `Get(key, WithLoader(nil))`.",
			new: func(load loadFunc) (*instance, error) {
				return newTTLCache(load, true), nil
			},
		},
		{
			name:  "gocache (loadable)",
			calls: "`cache.NewLoadable(loadFunc, cache.New(go_cache store))`, `Get(ctx, key)`; `Delete(ctx, key)`; `Close()` (which stores what the background setter still holds), then the final read from the wrapped cache, `Get(ctx, key)`.",
			new: func(load loadFunc) (*instance, error) {
				base := cache.New[string](gocachestore.NewGoCache(gocache.New(gocache.NoExpiration, 0)))
				lc := cache.NewLoadable[string](func(ctx context.Context, _ any) (string, []store.Option, error) {
					v, err := load(ctx)
					return v, nil, err
				}, base)
				return &instance{
					read:       func(ctx context.Context) (string, error) { return lc.Get(ctx, key) },
					invalidate: func(ctx context.Context) error { return lc.Delete(ctx, key) },
					peek: func() (string, bool) {
						v, err := base.Get(context.Background(), key)
						return v, err == nil
					},
					settle: func() { _ = lc.Close() },
					close:  func() { _ = lc.Close() },
				}, nil
			},
		},
		{
			name:  "xsync.Map",
			calls: "`LoadOrCompute(key, valueFn)` whose valueFn loads; `Delete(key)`; final read `Load(key)`.",
			new: func(load loadFunc) (*instance, error) {
				m := xsync.NewMap[string, string]()
				return &instance{
					read: func(ctx context.Context) (string, error) {
						var lerr error
						v, _ := m.LoadOrCompute(key, func() (string, bool) {
							v, err := load(ctx)
							lerr = err
							return v, err != nil
						})
						return v, lerr
					},
					invalidate: func(context.Context) error { m.Delete(key); return nil },
					peek:       func() (string, bool) { return m.Load(key) },
					close:      func() {},
				}, nil
			},
		},
	}
}

// newFresh returns an instance of fresh whose loader declares deps and whose
// invalidation is inv.
func newFresh(load loadFunc, inv func(context.Context, *fresh.Cache[string, string]) error, deps ...fresh.Dep) (*instance, error) {
	c, err := fresh.New(fresh.Options[string, string]{MaxEntries: capacity})
	if err != nil {
		return nil, err
	}
	loader := func(ctx context.Context, _ string) (string, error) {
		fresh.Depend(ctx, deps...)
		return load(ctx)
	}
	return &instance{
		read:       func(ctx context.Context) (string, error) { return c.GetOrLoad(ctx, key, loader) },
		invalidate: func(ctx context.Context) error { return inv(ctx, c) },
		peek:       func() (string, bool) { return c.Get(key) },
		close:      func() { _ = c.Close(context.Background()) },
	}, nil
}

// newTTLCache returns an instance of ttlcache with its loader, wrapped in its
// singleflight SuppressedLoader when suppressed is set.
func newTTLCache(load loadFunc, suppressed bool) *instance {
	var l ttlcache.Loader[string, string] = ttlcache.LoaderFunc[string, string](
		func(c *ttlcache.Cache[string, string], k string) *ttlcache.Item[string, string] {
			// ttlcache's loaders take no context.
			v, err := load(context.Background())
			if err != nil {
				return nil
			}
			return c.Set(k, v, ttlcache.DefaultTTL)
		})
	if suppressed {
		l = ttlcache.NewSuppressedLoader(l, nil)
	}
	c := ttlcache.New(ttlcache.WithLoader(l), ttlcache.WithCapacity[string, string](capacity))
	return &instance{
		read: func(context.Context) (string, error) {
			if it := c.Get(key); it != nil {
				return it.Value(), nil
			}
			return "", errNoItem
		},
		invalidate: func(context.Context) error { c.Delete(key); return nil },
		peek: func() (string, bool) {
			if it := c.Get(key, ttlcache.WithLoader[string, string](nil)); it != nil {
				return it.Value(), true
			}
			return "", false
		},
		close: func() {},
	}
}
