// Package caches puts every cache the benchmarks compare behind one small interface
// for uint64 keys and values, so that a workload is written once and run against
// fresh and each competitor in the same process.
//
// Each competitor is configured the way its documentation recommends for a bounded
// in-memory cache of that many entries; where it cannot do what the others do (no
// size bound, no TTL, string keys only), its Spec's Note says so, and the workloads
// copy the Note under their tables. A cache that does its bookkeeping in background
// goroutines also has a synchronous configuration (Spec.NewSync, Spec.Build), in
// which every access reaches its eviction policy before the call returns, for the
// replays that measure policies.
package caches

import (
	"fmt"
	"slices"
)

// A Cache is one cache instance under test, with uint64 keys and values.
type Cache interface {
	// Name is the Spec's name.
	Name() string
	// Get returns the value of k if the cache serves it.
	Get(k uint64) (uint64, bool)
	// Set stores v under k. It returns false when the cache refused or dropped the
	// insert at once (a full buffer, an error); a cache may still drop an insert it
	// accepted (ristretto's admission policy decides later), which only a Get shows.
	Set(k, v uint64) bool
	// Close releases the cache's goroutines. The cache is not used afterwards.
	Close() error
}

// A Waiter is a Cache whose Sets are applied asynchronously: Wait returns once the
// Sets made so far have been applied (or dropped). Workloads call it only where
// they say so.
type Waiter interface {
	Wait()
}

// A ReadCounter is a Cache that counts the reads that reached its eviction policy,
// for a cache that records reads in buffers another goroutine drains and may drop
// or lose some of them.
type ReadCounter interface {
	// ReadsSeen returns how many reads have reached the policy since the cache was
	// built.
	ReadsSeen() uint64
}

// A Sizer is a Cache that can tell how many entries it holds (an estimate for the
// concurrent ones).
type Sizer interface {
	Len() int
}

// A Spec describes one cache configuration and builds instances of it.
type Spec struct {
	// Name identifies the configuration in tables and charts.
	Name string
	// New builds an empty cache bounded to capacity entries (or unbounded, see
	// Bounded).
	New func(capacity int) (Cache, error)
	// Note says how the cache is configured and what it lacks, in one sentence or
	// two of Markdown.
	Note string
	// Bounded is false for caches that keep every entry (the ceiling).
	Bounded bool
	// Fresh marks the configurations of fresh itself.
	Fresh bool
	// Baseline names, for a configuration of fresh, the otter configuration that
	// fresh's store runs in it: otter, or otter-expiry when fresh has a default TTL.
	Baseline string
	// Seeded marks the caches whose results vary from run to run because they seed
	// their hashing or their admission at random.
	Seeded bool
	// NewSync builds an instance like New whose bookkeeping is synchronous: when a
	// Get or a Set returns, the eviction policy has been given the access and has
	// made the evictions it causes, so that a replay measures the policy rather
	// than its race with a background goroutine. nil when New's instances are
	// synchronous already (see Build).
	NewSync func(capacity int) (Cache, error)
	// SyncNote says how NewSync makes the cache synchronous and what, if anything,
	// it leaves asynchronous. Empty when NewSync is nil.
	SyncNote string
}

// Build returns New(capacity), or with sync the synchronous instance: NewSync's
// when the cache has one, New's otherwise.
func (s Spec) Build(capacity int, sync bool) (Cache, error) {
	if sync && s.NewSync != nil {
		return s.NewSync(capacity)
	}
	return s.New(capacity)
}

// inline is an executor that runs maintenance in the calling goroutine, before the
// call that scheduled it returns (otter's and fresh's Options.Executor).
func inline(f func()) { f() }

// Names of the configurations returned by All.
const (
	Fresh       = "fresh"        // no dependencies
	Fresh1Dep   = "fresh-1dep"   // one tag per entry
	Fresh4Deps  = "fresh-4deps"  // four tags per entry
	FreshBus    = "fresh-bus"    // a LocalBus attached
	FreshTTL    = "fresh-ttl"    // a default TTL, which makes its store expire entries
	Otter       = "otter"        // MaximumSize only
	OtterExpiry = "otter-expiry" // with an expiry calculator, like fresh-ttl's store
	Theine      = "theine"
	Ristretto   = "ristretto"
	Sturdyc     = "sturdyc"
	Ttlcache    = "ttlcache"
	Gocache     = "gocache"
	Xsync       = "xsync.Map" // the ceiling
)

// All returns every configuration, fresh's first, then otter (plain, and configured
// like fresh's store), the competitors, and the ceiling (xsync.Map) last.
func All() []Spec {
	return []Spec{
		freshSpec(Fresh, FreshConfig{}),
		freshSpec(Fresh1Dep, FreshConfig{Deps: 1}),
		freshSpec(Fresh4Deps, FreshConfig{Deps: 4}),
		freshSpec(FreshBus, FreshConfig{Bus: true}),
		freshSpec(FreshTTL, FreshConfig{TTL: freshTTL}),
		otterSpec(),
		otterExpirySpec(),
		theineSpec(),
		ristrettoSpec(),
		sturdycSpec(),
		ttlcacheSpec(),
		gocacheSpec(),
		xsyncSpec(),
	}
}

// Lookup returns the configurations named, in the order given, or an error naming
// the unknown ones.
func Lookup(names ...string) ([]Spec, error) {
	all := All()
	out := make([]Spec, 0, len(names))
	var unknown []string
	for _, n := range names {
		i := slices.IndexFunc(all, func(s Spec) bool { return s.Name == n })
		if i < 0 {
			unknown = append(unknown, n)
			continue
		}
		out = append(out, all[i])
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("caches: unknown %q", unknown)
	}
	return out, nil
}

// WithReferences returns names followed by the references every table shows that
// are missing from it: otter, the Baseline of each fresh configuration named, and
// the ceiling (xsync.Map), in the order of All.
func WithReferences(names []string) []string {
	out := slices.Clone(names)
	want := []string{Otter, Xsync}
	for _, s := range All() {
		if s.Fresh && slices.Contains(names, s.Name) {
			want = append(want, s.Baseline)
		}
	}
	for _, s := range All() {
		if slices.Contains(want, s.Name) && !slices.Contains(out, s.Name) {
			out = append(out, s.Name)
		}
	}
	return out
}

// Names returns the names of specs.
func Names(specs []Spec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return out
}
