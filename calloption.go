package fresh

import (
	"fmt"
	"slices"
	"time"
)

// An Option adjusts one call of GetOrLoad or Set.
type Option func(*callConfig)

type callConfig struct {
	deps         []Dep
	ttl          time.Duration
	ttlSet       bool
	refreshAfter time.Duration
	staleGrace   time.Duration
	asOf         uint64
	asOfSet      bool
}

// DependsOn declares dependencies of the value: invalidating any of them stops the
// value from being served. Inside a loader, Depend does the same.
func DependsOn(deps ...Dep) Option {
	return func(c *callConfig) {
		if c.deps == nil {
			c.deps = deps // only read during the call
			return
		}
		c.deps = append(slices.Clip(c.deps), deps...)
	}
}

// TTL sets the value's time to live, overriding Options.TTL (and its jitter). 0 means
// no expiry.
func TTL(d time.Duration) Option {
	return func(c *callConfig) { c.ttl, c.ttlSet = d, true }
}

// RefreshAfter makes GetOrLoad reload the value in the background once it is older
// than d, while it keeps serving the current value. The reload is fenced like any
// fill; an invalidation still removes the value at once.
func RefreshAfter(d time.Duration) Option {
	return func(c *callConfig) { c.refreshAfter = d }
}

// StaleIfError keeps the value for grace after it expires, and GetOrLoad serves it
// then only if the reload fails. It is never served after an invalidation of its
// dependencies or a deletion of its key, and never to Get: a plain miss is a miss.
func StaleIfError(grace time.Duration) Option {
	return func(c *callConfig) { c.staleGrace = grace }
}

// AsOf tells Set that the value was computed from data read after the tracker's
// position was pos (see Cache.Position): Set then refuses the value if one of its
// dependencies, or its key, was invalidated after pos. Without AsOf, Set takes the
// value to be current at the time of the call.
//
// The check is exact for dependencies that some entry or running load holds. For the
// others fresh keeps no tombstone, and refuses the value if any untracked dependency
// was invalidated after pos: refusing is the safe side of not knowing.
func AsOf(pos uint64) Option {
	return func(c *callConfig) { c.asOf, c.asOfSet = pos, true }
}

func newCallConfig(opts []Option) (callConfig, error) {
	var c callConfig
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	switch {
	case c.ttl < 0:
		return c, fmt.Errorf("fresh: TTL %v is negative", c.ttl)
	case c.refreshAfter < 0:
		return c, fmt.Errorf("fresh: RefreshAfter %v is negative", c.refreshAfter)
	case c.staleGrace < 0:
		return c, fmt.Errorf("fresh: StaleIfError %v is negative", c.staleGrace)
	}
	for _, d := range c.deps {
		if err := d.Err(); err != nil {
			return c, err
		}
	}
	return c, nil
}
