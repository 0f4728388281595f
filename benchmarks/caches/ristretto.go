package caches

import (
	"runtime"

	"github.com/dgraph-io/ristretto/v2"
)

// ristrettoCache is ristretto behind Cache.
type ristrettoCache struct {
	c *ristretto.Cache[uint64, uint64]
}

var _ Waiter = ristrettoCache{}

// ristrettoSync is ristretto's synchronous instance: each Set waits for ristretto to
// apply it (or reject it), evictions included, then yields the processor so that
// the goroutine counting Gets keeps up. It counts the Gets that reach the policy.
type ristrettoSync struct{ ristrettoCache }

var _ ReadCounter = ristrettoSync{}

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
		SyncNote: "`Wait()` after each Set: ristretto applies a Set (admission, eviction) in its policy goroutine, and Wait returns once it has; then `runtime.Gosched()`. " +
			"Gets stay asynchronous: ristretto collects them in pooled batches of 64 keys (a batch in the pool is lost when the garbage collector empties it) and hands full batches to another goroutine through a channel of 3, dropping a batch that finds the channel full; the Gosched lets that goroutine keep up. " +
			"The instance counts the Gets that reach the policy (`Metrics.GetsKept`), and a note gives their share.",
		New: func(capacity int) (Cache, error) {
			c, err := ristretto.NewCache(ristrettoConfig[uint64, uint64](capacity))
			if err != nil {
				return nil, err
			}
			return ristrettoCache{c}, nil
		},
		NewSync: func(capacity int) (Cache, error) {
			cfg := ristrettoConfig[uint64, uint64](capacity)
			cfg.Metrics = true
			c, err := ristretto.NewCache(cfg)
			if err != nil {
				return nil, err
			}
			return ristrettoSync{ristrettoCache{c}}, nil
		},
	}
}

func (r ristrettoCache) Name() string { return Ristretto }

func (r ristrettoCache) Get(k uint64) (uint64, bool) { return r.c.Get(k) }

func (r ristrettoCache) Set(k, v uint64) bool { return r.c.Set(k, v, 1) }

// Wait implements Waiter.
func (r ristrettoCache) Wait() { r.c.Wait() }

// Len counts the cost in use: every entry costs 1.
func (r ristrettoCache) Len() int { return int(r.c.MaxCost() - r.c.RemainingCost()) }

func (r ristrettoCache) Close() error {
	r.c.Close()
	return nil
}

// Set stores v under k, waits for ristretto to apply it and yields.
func (r ristrettoSync) Set(k, v uint64) bool {
	ok := r.c.Set(k, v, 1)
	r.c.Wait()
	runtime.Gosched()
	return ok
}

// ReadsSeen implements ReadCounter: the Gets of the batches ristretto's policy
// accepted.
func (r ristrettoSync) ReadsSeen() uint64 { return r.c.Metrics.GetsKept() }
