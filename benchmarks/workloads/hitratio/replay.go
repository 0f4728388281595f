package hitratio

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/benchmarks/caches"
)

// sampleEvery is how many accesses apart replay counts the entries a cache holds.
const sampleEvery = 100

// replay plays keys against c as the traces README says, one access after the
// other: a Get, and on a miss a Set of the same key. It returns the number of hits
// and the most entries c held (caches.Sizer) when sampled every sampleEvery
// accesses and at the end, or -1 when c cannot tell.
func replay(c caches.Cache, keys []uint64) (hits, held int) {
	s, _ := c.(caches.Sizer)
	held = -1
	for i, k := range keys {
		if _, ok := c.Get(k); ok {
			hits++
		} else {
			c.Set(k, k)
		}
		if s != nil && i%sampleEvery == sampleEvery-1 {
			held = max(held, s.Len())
		}
	}
	if s != nil {
		held = max(held, s.Len())
	}
	return hits, held
}

// churnResult is the outcome of a replay with invalidations.
type churnResult struct {
	rate          float64
	hits          int
	invalidations int
	// invalidatedMisses counts the misses on keys whose tag was invalidated after
	// they were last loaded, at accesses that hit in the replay without churn: the
	// hits the invalidations took away.
	invalidatedMisses int
}

// bitset is a set of access indexes.
type bitset []uint64

func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) add(i int)      { b[i/64] |= 1 << (i % 64) }

// churn replays keys against fresh caches of capacity entries in which key k
// depends on tag k/group: first with no invalidation (the baseline, at rate 0),
// then once per rate, where after an access, with probability rate, the tag of the
// key just accessed is invalidated (writes follow the popularity of reads). The
// caches run their store's maintenance inline, as in the policy table, so that the
// replays compare invalidations rather than how far a background goroutine lagged
// in each.
func churn(keys []uint64, capacity int, rates []float64, group uint64) ([]churnResult, error) {
	base := make(bitset, (len(keys)+63)/64)
	out := make([]churnResult, 0, len(rates)+1)
	for i, rate := range append([]float64{0}, rates...) {
		r, err := replayChurn(keys, capacity, rate, group, uint64(i), base)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// replayChurn is one replay of churn. With rate 0 it records its hits in base;
// otherwise it counts the invalidated misses against base.
func replayChurn(keys []uint64, capacity int, rate float64, group, seed uint64, base bitset) (churnResult, error) {
	ctx := context.Background()
	// A hub of its own: replays run side by side, and their tags share names
	// ("g0", "g1", ...), so in one hub each would invalidate the other's entries.
	hub, err := fresh.NewHub(fresh.HubOptions{})
	if err != nil {
		return churnResult{}, err
	}
	defer hub.Close(ctx) //nolint:errcheck // a hub without a bus, closed without a deadline, cannot fail to close
	c, err := fresh.New(fresh.Options[uint64, uint64]{Hub: hub, MaxEntries: capacity, Executor: func(f func()) { f() }})
	if err != nil {
		return churnResult{}, err
	}
	defer c.Close(ctx) //nolint:errcheck // a cache without a bus, closed without a deadline, cannot fail to close
	rng := rand.New(rand.NewPCG(seed, uint64(capacity)))
	tags := make(map[uint64]fresh.Dep)
	tagOf := func(k uint64) fresh.Dep {
		t := k / group
		d, ok := tags[t]
		if !ok {
			d = fresh.Tag("g" + strconv.FormatUint(t, 10))
			tags[t] = d
		}
		return d
	}
	loadedAt := make(map[uint64]int)      // key → index of the access that last loaded it
	invalidatedAt := make(map[uint64]int) // tag number → index of its last invalidation
	r := churnResult{rate: rate}
	for i, k := range keys {
		if _, ok := c.Get(k); ok {
			r.hits++
			if rate == 0 {
				base.add(i)
			}
		} else {
			if at, ok := loadedAt[k]; ok && rate > 0 && base.has(i) {
				if inv, ok := invalidatedAt[k/group]; ok && inv >= at {
					r.invalidatedMisses++
				}
			}
			if err := c.Set(ctx, k, k, fresh.DependsOn(tagOf(k))); err != nil {
				return r, fmt.Errorf("hitratio: set: %w", err)
			}
			loadedAt[k] = i
		}
		if rate > 0 && rng.Float64() < rate {
			if err := c.Invalidate(ctx, tagOf(k)); err != nil {
				return r, fmt.Errorf("hitratio: invalidate: %w", err)
			}
			invalidatedAt[k/group] = i
			r.invalidations++
		}
	}
	return r, nil
}
