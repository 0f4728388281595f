package fresh

import (
	"context"
	"fmt"

	"github.com/freshcache/fresh/internal/glob"
	"github.com/freshcache/fresh/internal/wire"
)

// maxWireItem is the longest key, pattern or dependency that can travel on a bus.
const maxWireItem = wire.MaxItemLen

// InvalidatePattern deletes every key whose string form (see Options.KeyCodec)
// matches the glob pattern (* ? [...] and \ as escape; no byte is special), here and
// in the caches of the same name in other processes, fences the matching loads in
// flight, and invalidates every value built inside a loader from this cache. It visits
// every entry: O(entries). Prefer dependencies, whose invalidation costs O(1) per
// dependency.
func (c *Cache[K, V]) InvalidatePattern(ctx context.Context, pattern string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if c.hub.link != nil && len(pattern) > maxWireItem {
		return fmt.Errorf("fresh: invalidate pattern: %d bytes, over the bus limit of %d", len(pattern), maxWireItem)
	}
	g, err := glob.Compile(pattern)
	if err != nil {
		return fmt.Errorf("fresh: invalidate pattern %q: %w", pattern, err)
	}
	written := c.deletePattern(g)
	c.forgetCache(ctx, written)
	// The Store cannot match patterns: every entry of the cache there dies.
	c.storeAllWritten(ctx)
	if l := c.hub.link; l != nil {
		return l.publishItems(ctx, kindPattern, c.name, []string{pattern})
	}
	return nil
}

func (c *Cache[K, V]) deletePattern(g glob.Pattern) []string {
	match := func(k K) bool { return g.Match(c.keyString(k)) }
	c.flights.fenceAll(c, match)
	if c.l1 != nil {
		for k := range c.l1.Keys() {
			if match(k) {
				c.l1.Invalidate(k)
			}
		}
	}
	return c.allKeysWritten() // I4: after the store was written
}

// applyPattern applies a peer's pattern deletion (the hub's view).
func (c *Cache[K, V]) applyPattern(pattern string) {
	g, err := glob.Compile(pattern)
	if err != nil {
		c.o.Logger.Warn("fresh: malformed pattern on bus; flushing", "cache", c.name, "err", err)
		c.flushLocal()
		return
	}
	c.deletePattern(g)
}

// Flush removes every entry of this cache, here and in the caches of the same name in
// other processes, fences every load in flight, and invalidates every value built
// inside a loader from this cache. Other caches of the hub keep their entries.
func (c *Cache[K, V]) Flush(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	c.flushLocal()
	c.forgetCache(ctx, []string{c.keys.all})
	c.storeAllWritten(ctx)
	if l := c.hub.link; l != nil {
		return l.publishFlush(ctx, c.name)
	}
	return nil
}

// flushLocal empties the cache here (the hub's view).
func (c *Cache[K, V]) flushLocal() {
	c.flights.fenceAll(c, nil)
	if c.l1 != nil {
		c.l1.InvalidateAll()
	}
	c.allKeysWritten() // I4: after the store was written
}

// forgetCache drops the request memo's answers of this cache and those built from it.
func (c *Cache[K, V]) forgetCache(ctx context.Context, names []string) {
	if st := stateOf(ctx); st != nil && st.memo != nil {
		st.memo.forget(memoForget{cache: c, names: append(names, c.keys.all)})
	}
}
