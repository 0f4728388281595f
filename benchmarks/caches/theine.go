package caches

import theine "github.com/Yiling-J/theine-go"

// theineCache is theine behind Cache. With wait, each Set waits for theine's
// maintenance goroutine to apply it (Cache.Wait), evictions included.
type theineCache struct {
	c    *theine.Cache[uint64, uint64]
	wait bool
}

var _ Waiter = theineCache{}

func theineSpec() Spec {
	return Spec{
		Name:    Theine,
		Note:    "theine-go v0.6.3: adaptive W-TinyLFU, `NewBuilder(capacity)`, cost 1 per entry; no tags.",
		Bounded: true,
		Seeded:  true,
		SyncNote: "`Wait()` after each Set: theine applies a Set, and evicts for it, in its maintenance goroutine, and Wait returns once it has. " +
			"A hit is recorded in one of theine's read buffers (4 per processor, rounded up to a power of two, of 16 entries each; one picked at random per read) and applied to the policy only when that buffer fills, so the policy sees a hit tens to hundreds of hits late and out of order; a single goroutine never has one dropped, and theine has no call that applies them sooner.",
		New: func(capacity int) (Cache, error) {
			return newTheine(capacity, false)
		},
		NewSync: func(capacity int) (Cache, error) {
			return newTheine(capacity, true)
		},
	}
}

func newTheine(capacity int, wait bool) (Cache, error) {
	c, err := theine.NewBuilder[uint64, uint64](int64(capacity)).Build()
	if err != nil {
		return nil, err
	}
	return theineCache{c, wait}, nil
}

func (t theineCache) Name() string { return Theine }

func (t theineCache) Get(k uint64) (uint64, bool) { return t.c.Get(k) }

func (t theineCache) Set(k, v uint64) bool {
	ok := t.c.Set(k, v, 1)
	if t.wait {
		t.c.Wait()
	}
	return ok
}

// Wait implements Waiter.
func (t theineCache) Wait() { t.c.Wait() }

func (t theineCache) Len() int { return t.c.Len() }

func (t theineCache) Close() error {
	t.c.Close()
	return nil
}
