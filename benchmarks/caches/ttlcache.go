package caches

import "github.com/jellydator/ttlcache/v3"

type ttlCache struct {
	c *ttlcache.Cache[uint64, uint64]
}

func ttlcacheSpec() Spec {
	return Spec{
		Name:    Ttlcache,
		Note:    "ttlcache v3.4.1: LRU under one mutex, `WithCapacity(capacity)`, no TTL (the expiry goroutine is not started); no tags.",
		Bounded: true,
		New: func(capacity int) (Cache, error) {
			return ttlCache{ttlcache.New(ttlcache.WithCapacity[uint64, uint64](uint64(capacity)))}, nil
		},
	}
}

func (t ttlCache) Name() string { return Ttlcache }

func (t ttlCache) Get(k uint64) (uint64, bool) {
	it := t.c.Get(k)
	if it == nil {
		return 0, false
	}
	return it.Value(), true
}

// Set always stores: ttlcache evicts the least recently used entry to make room.
func (t ttlCache) Set(k, v uint64) bool {
	t.c.Set(k, v, ttlcache.DefaultTTL)
	return true
}

func (t ttlCache) Len() int { return t.c.Len() }

func (t ttlCache) Close() error { return nil }
