package stampede

import (
	"context"
	"errors"
	"time"

	"github.com/Yiling-J/theine-go"
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

// capacity is the size every cache is given: more than the rounds need.
const capacity = 10_000

// contrast names the row that does not coalesce misses at all, shown for contrast.
const contrast = "ttlcache (loader)"

// A loadFunc is the origin.
type loadFunc func(ctx context.Context, key string) (string, error)

// A subject is one library under test.
type subject struct {
	name  string
	calls string // the exact calls used, for the notes
	new   func(load loadFunc) (*instance, error)
}

// An instance is one cache of a subject.
type instance struct {
	read  func(ctx context.Context, key string) (string, error) // the library's load-on-miss read
	close func()
}

// errNoItem is what a ttlcache read reports when its loader stored nothing.
var errNoItem = errors.New("no item")

// subjects lists the libraries, fresh first, each with its idiomatic load-on-miss call.
func subjects() []subject {
	return []subject{
		{
			name:  "fresh",
			calls: "`GetOrLoad(ctx, key, loader)`.",
			new: func(load loadFunc) (*instance, error) {
				c, err := fresh.New(fresh.Options[string, string]{MaxEntries: capacity})
				if err != nil {
					return nil, err
				}
				loader := fresh.Loader[string, string](load)
				return &instance{
					read:  func(ctx context.Context, key string) (string, error) { return c.GetOrLoad(ctx, key, loader) },
					close: func() { _ = c.Close(context.Background()) },
				}, nil
			},
		},
		{
			name:  "otter",
			calls: "`Get(ctx, key, otter.LoaderFunc(loader))`.",
			new: func(load loadFunc) (*instance, error) {
				c, err := otter.New(&otter.Options[string, string]{MaximumSize: capacity})
				if err != nil {
					return nil, err
				}
				loader := otter.LoaderFunc[string, string](load)
				return &instance{
					read:  func(ctx context.Context, key string) (string, error) { return c.Get(ctx, key, loader) },
					close: func() { c.StopAllGoroutines() },
				}, nil
			},
		},
		{
			name:  "theine",
			calls: "a loading cache, `NewBuilder(...).Loading(loader).Build()`, then `Get(ctx, key)`.",
			new: func(load loadFunc) (*instance, error) {
				c, err := theine.NewBuilder[string, string](capacity).Loading(
					func(ctx context.Context, key string) (theine.Loaded[string], error) {
						v, err := load(ctx, key)
						return theine.Loaded[string]{Value: v, Cost: 1}, err
					}).Build()
				if err != nil {
					return nil, err
				}
				return &instance{
					read:  c.Get,
					close: c.Close,
				}, nil
			},
		},
		{
			name:  "sturdyc",
			calls: "`sturdyc.GetOrFetch(ctx, client, key, fetchFn)`, built with `WithNoContinuousEvictions()`.",
			new: func(load loadFunc) (*instance, error) {
				c := sturdyc.New[string](capacity, 1, time.Hour, 10, sturdyc.WithNoContinuousEvictions())
				return &instance{
					read: func(ctx context.Context, key string) (string, error) {
						return sturdyc.GetOrFetch(ctx, c, key, func(ctx context.Context) (string, error) { return load(ctx, key) })
					},
					close: func() {},
				}, nil
			},
		},
		{
			name:  "ttlcache (suppressed loader)",
			calls: "`WithLoader(NewSuppressedLoader(LoaderFunc, nil))`, whose loader loads and returns `c.Set(key, v, DefaultTTL)`, then `Get(key)`.",
			new: func(load loadFunc) (*instance, error) {
				return newTTLCache(load, true), nil
			},
		},
		{
			name:  contrast,
			calls: "the same loader without `NewSuppressedLoader`, for contrast: what the suppression saves.",
			new: func(load loadFunc) (*instance, error) {
				return newTTLCache(load, false), nil
			},
		},
		{
			name:  "gocache (loadable)",
			calls: "`cache.NewLoadable(loadFunc, cache.New(go_cache store))`, then `Get(ctx, key)`.",
			new: func(load loadFunc) (*instance, error) {
				base := cache.New[string](gocachestore.NewGoCache(gocache.New(gocache.NoExpiration, 0)))
				lc := cache.NewLoadable[string](func(ctx context.Context, key any) (string, []store.Option, error) {
					k, _ := key.(string)
					v, err := load(ctx, k)
					return v, nil, err
				}, base)
				return &instance{
					read:  func(ctx context.Context, key string) (string, error) { return lc.Get(ctx, key) },
					close: func() { _ = lc.Close() },
				}, nil
			},
		},
		{
			name:  "xsync.Map",
			calls: "`LoadOrCompute(key, valueFn)`, whose valueFn loads (it runs under the lock of the key's bucket).",
			new: func(load loadFunc) (*instance, error) {
				m := xsync.NewMap[string, string]()
				return &instance{
					read: func(ctx context.Context, key string) (string, error) {
						var lerr error
						v, _ := m.LoadOrCompute(key, func() (string, bool) {
							v, err := load(ctx, key)
							lerr = err
							return v, err != nil
						})
						return v, lerr
					},
					close: func() {},
				}, nil
			},
		},
	}
}

// newTTLCache returns an instance of ttlcache with a loader that stores what it
// loads, wrapped in ttlcache's singleflight SuppressedLoader when suppressed is set.
func newTTLCache(load loadFunc, suppressed bool) *instance {
	var l ttlcache.Loader[string, string] = ttlcache.LoaderFunc[string, string](
		func(c *ttlcache.Cache[string, string], key string) *ttlcache.Item[string, string] {
			// ttlcache's loaders take no context.
			v, err := load(context.Background(), key)
			if err != nil {
				return nil
			}
			return c.Set(key, v, ttlcache.DefaultTTL)
		})
	if suppressed {
		l = ttlcache.NewSuppressedLoader(l, nil)
	}
	c := ttlcache.New(ttlcache.WithLoader(l), ttlcache.WithCapacity[string, string](capacity))
	return &instance{
		read: func(_ context.Context, key string) (string, error) {
			if it := c.Get(key); it != nil {
				return it.Value(), nil
			}
			return "", errNoItem
		},
		close: func() {},
	}
}
