package caches

import (
	"math"
	"time"

	"github.com/maypok86/otter/v2"
)

type otterCache struct {
	name string
	c    *otter.Cache[uint64, uint64]
}

// otterSyncNote says what an inline executor makes of otter, for the otter rows and
// for fresh's, whose store is otter.
const otterSyncNote = "the maintenance otter schedules runs in the calling goroutine before the call returns. " +
	"A hit is still recorded in a read buffer of 16 per stripe, applied to the policy by the next Set or when the buffer fills (before any eviction, so in order), and never dropped by a single goroutine; a Set is applied and its evictions made before it returns."

func otterSpec() Spec {
	return Spec{
		Name:     Otter,
		Note:     "otter v2.4.0: W-TinyLFU, `MaximumSize` = capacity, no expiry, no stats recorder; no dependencies or tags (fresh's store).",
		Bounded:  true,
		Seeded:   true,
		SyncNote: "`Executor: func(f func()) { f() }`: " + otterSyncNote,
		New: func(capacity int) (Cache, error) {
			return newOtter(Otter, &otter.Options[uint64, uint64]{MaximumSize: capacity})
		},
		NewSync: func(capacity int) (Cache, error) {
			return newOtter(Otter, &otter.Options[uint64, uint64]{MaximumSize: capacity, Executor: inline})
		},
	}
}

// otterExpirySpec is otter with an expiry calculator (whose entries never expire),
// as fresh configures its store when it has a default TTL: otter then keeps a
// deadline per entry, maintains its timer wheel and reads the clock on every hit.
func otterExpirySpec() Spec {
	never := otter.ExpiryWritingFunc(func(otter.Entry[uint64, uint64]) time.Duration { return math.MaxInt64 })
	return Spec{
		Name:     OtterExpiry,
		Note:     "otter v2.4.0 with `MaximumSize` = capacity and an `ExpiryCalculator` (entries never expire), as fresh configures its store when it has a default TTL (fresh-ttl): the baseline of fresh-ttl.",
		Bounded:  true,
		Seeded:   true,
		SyncNote: "`Executor: func(f func()) { f() }`: " + otterSyncNote,
		New: func(capacity int) (Cache, error) {
			return newOtter(OtterExpiry, &otter.Options[uint64, uint64]{MaximumSize: capacity, ExpiryCalculator: never})
		},
		NewSync: func(capacity int) (Cache, error) {
			return newOtter(OtterExpiry, &otter.Options[uint64, uint64]{MaximumSize: capacity, ExpiryCalculator: never, Executor: inline})
		},
	}
}

func newOtter(name string, o *otter.Options[uint64, uint64]) (Cache, error) {
	c, err := otter.New(o)
	if err != nil {
		return nil, err
	}
	return otterCache{name, c}, nil
}

func (o otterCache) Name() string { return o.name }

func (o otterCache) Get(k uint64) (uint64, bool) { return o.c.GetIfPresent(k) }

// Set always stores: otter admits every insert and evicts afterwards.
func (o otterCache) Set(k, v uint64) bool {
	o.c.Set(k, v)
	return true
}

func (o otterCache) Len() int { return o.c.EstimatedSize() }

func (o otterCache) Close() error {
	o.c.StopAllGoroutines()
	return nil
}
