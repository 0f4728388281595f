package fresh

import (
	"context"
	"errors"
	"fmt"

	"github.com/freshcache/fresh/internal/glob"
)

// Invalidate stops every value that depends on any of deps from being served: here
// and in every cache sharing the Tracker before it returns (so the caller reads its
// own writes), and in other processes through the Bus. Loads in flight that read
// older data are not stored, and callers arriving later do not take their results.
// It costs O(len(deps)), however many entries depend on them, and never waits for a
// loader.
//
// Call it after the write it reflects has committed. A Bus error is returned wrapped
// in ErrPublish: the local invalidation is done, and fresh keeps retrying the publish.
func (c *Cache[K, V]) Invalidate(ctx context.Context, deps ...Dep) error {
	names := make([]string, 0, len(deps))
	for _, d := range deps {
		if err := d.Err(); err != nil {
			return fmt.Errorf("fresh: invalidate: %w", err)
		}
		names = append(names, d.s)
	}
	return c.invalidateNames(ctx, names)
}

// InvalidateRows invalidates what the row changes dirty: for each change, the table,
// the entity of the old and of the new row, and every registered scope (TableSchema)
// that the old or the new row matches, so that a row leaving one scope and entering
// another invalidates both lists, and nothing else. A row lacking a column of a scheme
// invalidates every scope of that scheme; a row lacking its key column is reported as
// an error after everything else was invalidated.
func (c *Cache[K, V]) InvalidateRows(ctx context.Context, changes ...RowChange) error {
	var names []string
	var errs []error
	for _, rc := range changes {
		n, err := c.schemes.deps(rc)
		names = append(names, n...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.invalidateNames(ctx, names); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Cache[K, V]) invalidateNames(ctx context.Context, names []string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if len(names) == 0 {
		return nil
	}
	c.t.invalidate(names)
	if st := stateOf(ctx); st != nil && st.memo != nil {
		st.memo.forget(names)
	}
	if c.link != nil {
		return c.link.publishDeps(ctx, names)
	}
	return nil
}

// InvalidatePattern deletes every key whose string form (see Options.KeyCodec)
// matches the glob pattern (* ? [...] and \ as escape; no byte is special), here and
// in the caches of the same name in other processes, and fences the matching loads in
// flight. It visits every entry: O(entries). Prefer dependencies, whose invalidation
// costs O(1) per dependency.
func (c *Cache[K, V]) InvalidatePattern(ctx context.Context, pattern string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	g, err := glob.Compile(pattern)
	if err != nil {
		return fmt.Errorf("fresh: invalidate pattern %q: %w", pattern, err)
	}
	c.deletePattern(g)
	if st := stateOf(ctx); st != nil && st.memo != nil {
		st.memo.forgetCache(c)
	}
	if c.link != nil {
		return c.link.publishPattern(ctx, pattern)
	}
	return nil
}

func (c *Cache[K, V]) deletePattern(g glob.Pattern) {
	match := func(k K) bool { return g.Match(c.keyString(k)) }
	c.flights.fenceAll(c, match)
	if c.l1 == nil {
		return
	}
	for k := range c.l1.Keys() {
		if match(k) {
			c.l1.Invalidate(k)
		}
	}
}

// keyString is the string form of a key for patterns.
func (c *Cache[K, V]) keyString(k K) string {
	if c.o.KeyCodec != nil {
		if s, err := c.o.KeyCodec.EncodeKey(k); err == nil {
			return s
		}
	}
	return fmt.Sprint(k)
}

// Flush removes every entry of this cache, here and in the caches of the same name
// in other processes, and fences every load in flight. Other caches sharing the
// Tracker are not affected.
func (c *Cache[K, V]) Flush(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	c.flushLocal()
	if st := stateOf(ctx); st != nil && st.memo != nil {
		st.memo.forgetCache(c)
	}
	if c.link != nil {
		return c.link.publishFlush(ctx)
	}
	return nil
}

func (c *Cache[K, V]) flushLocal() {
	c.flights.fenceAll(c, nil)
	if c.l1 != nil {
		c.l1.InvalidateAll()
	}
}
