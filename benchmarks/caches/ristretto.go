package caches

import "github.com/dgraph-io/ristretto/v2"

// ristrettoCache is ristretto behind Cache. With wait, each Set waits for
// ristretto to apply it (or drop it), evictions included.
type ristrettoCache struct {
	c    *ristretto.Cache[uint64, uint64]
	wait bool
}

var _ Waiter = ristrettoCache{}

// ristrettoConfig is the configuration ristretto's README recommends: counters for
// ten times the entries, a buffer of 64, and (since every entry costs 1) the
// internal cost ignored so that MaxCost counts entries.
func ristrettoConfig[K ristretto.Key, V any](capacity int) *ristretto.Config[K, V] {
	return &ristretto.Config[K, V]{
		NumCounters:        10 * int64(capacity),
		MaxCost:            int64(capacity),
		BufferItems:        64,
		IgnoreInternalCost: true,
	}
}

func ristrettoSpec() Spec {
	return Spec{
		Name: Ristretto,
		Note: "ristretto v2.4.2: TinyLFU admission and sampled LFU eviction; NumCounters = 10 × capacity, MaxCost = capacity, cost 1, BufferItems 64, IgnoreInternalCost. " +
			"Sets are buffered: a Set may be dropped at once (it returns false) or rejected later by the admission policy, and is not visible to a Get until applied; no tags.",
		Bounded: true,
		Seeded:  true,
		SyncNote: "`Wait()` after each Set: ristretto applies a Set (admission, eviction) in its policy goroutine, and Wait returns once it has. " +
			"Every Get is recorded in a batch of 64 keys handed to another policy goroutine through a channel of 3 batches; a batch that finds the channel full is dropped, which Wait does not prevent.",
		New: func(capacity int) (Cache, error) {
			return newRistretto(capacity, false)
		},
		NewSync: func(capacity int) (Cache, error) {
			return newRistretto(capacity, true)
		},
	}
}

func newRistretto(capacity int, wait bool) (Cache, error) {
	c, err := ristretto.NewCache(ristrettoConfig[uint64, uint64](capacity))
	if err != nil {
		return nil, err
	}
	return ristrettoCache{c, wait}, nil
}

func (r ristrettoCache) Name() string { return Ristretto }

func (r ristrettoCache) Get(k uint64) (uint64, bool) { return r.c.Get(k) }

func (r ristrettoCache) Set(k, v uint64) bool {
	ok := r.c.Set(k, v, 1)
	if r.wait {
		r.c.Wait()
	}
	return ok
}

// Wait implements Waiter.
func (r ristrettoCache) Wait() { r.c.Wait() }

// Len counts the cost in use: every entry costs 1.
func (r ristrettoCache) Len() int { return int(r.c.MaxCost() - r.c.RemainingCost()) }

func (r ristrettoCache) Close() error {
	r.c.Close()
	return nil
}
