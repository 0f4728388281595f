package fresh

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// An Option adjusts one call of GetOrLoad or Set. The zero Option does nothing.
//
// An Option is a small value rather than a function, so that applying options
// costs no allocation: the call's configuration stays on the caller's stack.
type Option struct {
	kind optionKind
	deps []Dep
	d    time.Duration
	pos  uint64
}

type optionKind uint8

const (
	optNone optionKind = iota
	optDependsOn
	optInline
	optTTL
	optRefreshAfter
	optStaleIfError
	optAsOf
)

// apply adds o to c.
func (o Option) apply(c *callConfig) {
	switch o.kind {
	case optDependsOn:
		if c.deps == nil {
			c.deps = o.deps // the option's own copy, clipped: a later append copies it
			return
		}
		c.deps = append(slices.Clip(c.deps), o.deps...)
	case optInline:
		c.inline = true
	case optTTL:
		c.ttl, c.ttlSet = o.d, true
	case optRefreshAfter:
		c.refreshAfter = o.d
	case optStaleIfError:
		c.staleGrace = o.d
	case optAsOf:
		c.asOf, c.asOfSet = o.pos, true
	}
}

type callConfig struct {
	deps         []Dep
	ttl          time.Duration
	ttlSet       bool
	refreshAfter time.Duration
	staleGrace   time.Duration
	asOf         uint64
	asOfSet      bool
	l2           Position // internal: the Store position of a value filled through it
	refresh      bool     // internal: a RefreshAfter reload, which must not take the store's copy
	inline       bool
}

// DependsOn declares dependencies of the value: invalidating any of them stops the
// value from being served. Inside a loader, Depend does the same.
func DependsOn(deps ...Dep) Option {
	// The option may be used after the caller reuses its slice.
	return Option{kind: optDependsOn, deps: slices.Clip(slices.Clone(deps))}
}

// Inline makes a load that this call starts run its loader in the calling
// goroutine rather than in one of its own: it saves a goroutine and a hand-off per
// miss, and suits loaders that must use something the caller holds (a database
// connection). The call then returns only once the loader has returned, and the
// loader's context is derived from the call's: cancelling ctx cancels the load,
// and the callers waiting for it get its error. A call that joins a load another
// call started waits for it as usual. Other calls joining this load, fencing and
// dependencies are as for any load.
func Inline() Option {
	return Option{kind: optInline}
}

// TTL sets the value's time to live, overriding Options.TTL (and its jitter). 0 means
// no expiry.
func TTL(d time.Duration) Option {
	return Option{kind: optTTL, d: d}
}

// RefreshAfter makes GetOrLoad reload the value in the background once it is older
// than d, while it keeps serving the current value. The reload is fenced like any
// fill; an invalidation still removes the value at once.
func RefreshAfter(d time.Duration) Option {
	return Option{kind: optRefreshAfter, d: d}
}

// StaleIfError keeps the value for grace after it expires, and GetOrLoad serves it
// then only if the reload fails. It is never served after an invalidation of its
// dependencies or a deletion of its key, and never to Get: a plain miss is a miss.
func StaleIfError(grace time.Duration) Option {
	return Option{kind: optStaleIfError, d: grace}
}

// AsOf tells Set that the value was computed from data read after the hub's position
// was pos (see Cache.Position): Set then refuses the value if one of its dependencies,
// or its key, was invalidated or written after pos. Without AsOf, Set takes the value
// to be current at the time of the call. AsOf applies to Set only; GetOrLoad refuses
// it.
//
// The check is exact for dependencies that some entry or running load holds. For the
// others the hub keeps only an upper bound of their last invalidation, and refuses the
// value if that bound is after pos: refusing is the safe side of not knowing. Use the
// position of the cache that Set is called on (Cache.Position): it makes the cache
// track writes of its keys from then on.
func AsOf(pos uint64) Option {
	return Option{kind: optAsOf, pos: pos}
}

// callConfig applies opts for a GetOrLoad (forSet false) or a Set, and refuses what
// the call could not honour: an option never silently does nothing.
func (c *Cache[K, V]) callConfig(opts []Option, forSet bool) (callConfig, error) {
	var cfg callConfig
	for i := range opts {
		opts[i].apply(&cfg)
	}
	switch {
	case cfg.ttl < 0 || cfg.ttl > maxLifetime:
		return cfg, fmt.Errorf("fresh: TTL %v is not in [0, %v]", cfg.ttl, maxLifetime)
	case cfg.refreshAfter < 0 || cfg.refreshAfter > maxLifetime:
		return cfg, fmt.Errorf("fresh: RefreshAfter %v is not in [0, %v]", cfg.refreshAfter, maxLifetime)
	case cfg.staleGrace < 0 || cfg.staleGrace > maxLifetime:
		return cfg, fmt.Errorf("fresh: StaleIfError %v is not in [0, %v]", cfg.staleGrace, maxLifetime)
	case cfg.asOfSet && !forSet:
		return cfg, errors.New("fresh: AsOf applies to Set only (GetOrLoad fences its loads itself)")
	case cfg.staleGrace > 0 && cfg.ttl <= 0 && (cfg.ttlSet || c.o.TTL <= 0):
		return cfg, errors.New("fresh: StaleIfError needs a TTL (the call's or Options.TTL): it serves a value past its expiry")
	}
	for _, d := range cfg.deps {
		if err := d.Err(); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}
