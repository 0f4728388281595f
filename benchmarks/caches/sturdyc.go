package caches

import (
	"strconv"
	"time"

	"github.com/viccon/sturdyc"
)

// sturdycTTL is the TTL sturdyc requires; it is long enough never to expire an
// entry during a benchmark.
const sturdycTTL = 24 * time.Hour

type sturdycCache struct{ c *sturdyc.Client[uint64] }

func sturdycSpec() Spec {
	return Spec{
		Name: Sturdyc,
		Note: "sturdyc v1.1.5: the in-memory client `sturdyc.New(capacity, 10 shards, 24 h TTL, 10 % eviction)` without the background expiry sweep (it has no Close). " +
			"Keys are strings only, so the adapter formats each key (one allocation per call); a full shard evicts the 10 % of its entries that expire first (close to FIFO), no frequency or recency policy; no tags.",
		Bounded: true,
		New: func(capacity int) (Cache, error) {
			shards := 10
			if capacity < 100 {
				shards = 1
			}
			return sturdycCache{sturdyc.New[uint64](capacity, shards, sturdycTTL, 10, sturdyc.WithNoContinuousEvictions())}, nil
		},
	}
}

func (s sturdycCache) Name() string { return Sturdyc }

func (s sturdycCache) Get(k uint64) (uint64, bool) { return s.c.Get(strconv.FormatUint(k, 10)) }

// Set always stores: sturdyc makes room first (its result says whether it evicted).
func (s sturdycCache) Set(k, v uint64) bool {
	s.c.Set(strconv.FormatUint(k, 10), v)
	return true
}

func (s sturdycCache) Len() int { return s.c.Size() }

func (s sturdycCache) Close() error { return nil }
