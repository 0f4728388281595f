package caches

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/freshcache/fresh"
)

// DepPool is the number of tags the fresh configurations with dependencies draw
// from: key k depends on tags (k+j·257) mod DepPool for j < deps, so neighbouring
// keys share tags and one key's tags are distinct.
const DepPool = 1024

// FreshCache is the adapter of a fresh.Cache. Its Set attaches the configuration's
// dependencies; Unwrap gives the fresh.Cache itself.
type FreshCache struct {
	name string
	c    *fresh.Cache[uint64, uint64]
	hub  *fresh.Hub      // the cache's own, as a process would have
	bus  *fresh.LocalBus // nil without a bus
	opts []fresh.Option  // DependsOn per k mod DepPool; nil with no dependencies
}

var _ Cache = (*FreshCache)(nil)

// A FreshConfig says how NewFresh configures fresh.
type FreshConfig struct {
	Deps int           // tags of the pool per entry
	Bus  bool          // attach a LocalBus
	TTL  time.Duration // the default TTL; 0: none
	// Sync runs the store's maintenance in the calling goroutine
	// (fresh.Options.Executor), so that every access reaches the eviction policy
	// before the call returns.
	Sync bool
}

// freshTTL is the default TTL of the fresh-ttl configuration: long enough never to
// expire an entry during a benchmark.
const freshTTL = 24 * time.Hour

func freshSpec(name string, cfg FreshConfig) Spec {
	note := "W-TinyLFU through otter (MaxEntries = capacity), no default TTL, so its store runs without an expiry calculator"
	baseline := Otter
	switch {
	case cfg.TTL > 0:
		note = "W-TinyLFU through otter (MaxEntries = capacity) with a default TTL (24 h, never reached here), so its store expires entries (an expiry calculator, like otter-expiry)"
		baseline = OtterExpiry
	case cfg.Bus:
		note += "; its hub has a `fresh.NewLocalBus()`, so it is subscribed, sends itself a heartbeat every second (the default MaxStaleness of 5 s / 5), and publishes every Set to the bus (write-through deletes the key in other processes)"
	case cfg.Deps > 0:
		note += fmt.Sprintf("; every entry depends on %d tag(s) of a pool of %d (the options are built once, so a Set pays for the cache, not for building its arguments)", cfg.Deps, DepPool)
	}
	sync := cfg
	sync.Sync = true
	return Spec{
		Name:     name,
		Note:     note + ".",
		Bounded:  true,
		Fresh:    true,
		Baseline: baseline,
		Seeded:   true,
		SyncNote: "`fresh.Options.Executor` = `func(f func()) { f() }`, which fresh passes to its otter store: " + otterSyncNote,
		New: func(capacity int) (Cache, error) {
			return NewFresh(name, capacity, cfg)
		},
		NewSync: func(capacity int) (Cache, error) {
			return NewFresh(name, capacity, sync)
		},
	}
}

// NewFresh returns a fresh cache of capacity entries configured by cfg.
func NewFresh(name string, capacity int, cfg FreshConfig) (*FreshCache, error) {
	f := &FreshCache{name: name}
	var ho fresh.HubOptions
	if cfg.Bus {
		f.bus = fresh.NewLocalBus()
		ho.Bus = f.bus
	}
	hub, err := fresh.NewHub(ho)
	if err != nil {
		return nil, errors.Join(err, f.closeBus())
	}
	f.hub = hub
	o := fresh.Options[uint64, uint64]{Hub: hub, Name: name, MaxEntries: capacity, TTL: cfg.TTL}
	if cfg.Sync {
		o.Executor = inline
	}
	c, err := fresh.New(o)
	if err != nil {
		return nil, errors.Join(err, hub.Close(context.Background()), f.closeBus())
	}
	f.c = c
	if cfg.Deps > 0 {
		pool := make([]fresh.Dep, DepPool)
		for i := range pool {
			pool[i] = fresh.Tag("pool-" + strconv.Itoa(i))
		}
		f.opts = make([]fresh.Option, DepPool)
		for r := range f.opts {
			d := make([]fresh.Dep, cfg.Deps)
			for j := range d {
				d[j] = pool[(r+j*257)%DepPool]
			}
			f.opts[r] = fresh.DependsOn(d...)
		}
	}
	return f, nil
}

// Name implements Cache.
func (f *FreshCache) Name() string { return f.name }

// Get implements Cache.
func (f *FreshCache) Get(k uint64) (uint64, bool) { return f.c.Get(k) }

// Set implements Cache.
func (f *FreshCache) Set(k, v uint64) bool {
	if f.opts == nil {
		return f.c.Set(context.Background(), k, v) == nil
	}
	return f.c.Set(context.Background(), k, v, f.opts[k%DepPool]) == nil
}

// Len implements Sizer.
func (f *FreshCache) Len() int { return f.c.Stats().Entries }

// Close implements Cache.
func (f *FreshCache) Close() error {
	return errors.Join(f.hub.Close(context.Background()), f.closeBus())
}

func (f *FreshCache) closeBus() error {
	if f.bus == nil {
		return nil
	}
	return f.bus.Close()
}

// Unwrap returns the fresh.Cache.
func (f *FreshCache) Unwrap() *fresh.Cache[uint64, uint64] { return f.c }
