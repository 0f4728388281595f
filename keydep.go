package fresh

import (
	"fmt"
	"sync/atomic"
)

// keyDeps are the dependencies of nested values on the keys of one cache (I4 in
// hub.go): a value built inside a loader from this cache's entry for key k depends on
// "key k of this cache" and on "every key of this cache". Set and Delete of k
// invalidate the first; InvalidatePattern and Flush invalidate the second. A key that
// cannot be encoded has only the second.
//
// They cost nothing until something depends on them: since stays 0, and writes skip
// the invalidation, until a nested read or an AsOf Set turns them on. The read turns
// them on before it reads the store, and a write writes the store before it looks at
// since, so no write is missed (I4). A Set with AsOf older than since is refused: a
// write of its key before since left no trace.
type keyDeps struct {
	since  atomic.Uint64 // 0, or the position from which key writes are tracked
	all    string        // the dependency on every key of the cache
	prefix string        // the prefix of the dependency on one key
}

const (
	kindKey  = "key"  // internal: one key of one cache
	kindKeys = "keys" // internal: every key of one cache
)

func (k *keyDeps) init(cacheName string) {
	esc := escape(cacheName)
	k.all = kindKeys + ":" + esc
	k.prefix = kindKey + ":" + esc + ":"
}

// use turns key dependencies on, if they are not yet, and returns since.
func (k *keyDeps) use(t *tracker) uint64 {
	if s := k.since.Load(); s != 0 {
		return s
	}
	k.since.CompareAndSwap(0, t.pos.Add(1))
	return k.since.Load()
}

// keyDepNames returns the dependencies of a nested value on key: the key's own (when
// it can be encoded) and the cache's.
func (c *Cache[K, V]) keyDepNames(key K) []string {
	if s, ok := c.encodeKey(key); ok {
		return []string{c.keys.prefix + escape(s), c.keys.all}
	}
	return []string{c.keys.all}
}

// keyDepName returns the one dependency a write of key invalidates.
func (c *Cache[K, V]) keyDepName(key K) string {
	if s, ok := c.encodeKey(key); ok {
		return c.keys.prefix + escape(s)
	}
	return c.keys.all
}

func (c *Cache[K, V]) encodeKey(key K) (string, bool) {
	if c.o.KeyCodec == nil {
		return "", false
	}
	s, err := c.o.KeyCodec.EncodeKey(key)
	return s, err == nil
}

// keyWritten invalidates the dependency of nested values on key, after a write of the
// key reached the store (I4). It returns the names it invalidated.
func (c *Cache[K, V]) keyWritten(key K) []string {
	if c.keys.since.Load() == 0 {
		return nil
	}
	pause(pointKeyWritten)
	names := []string{c.keyDepName(key)}
	c.t.invalidate(names)
	return names
}

// allKeysWritten invalidates the dependency of nested values on every key of the
// cache, after a flush or pattern deletion reached the store (I4).
func (c *Cache[K, V]) allKeysWritten() []string {
	if c.keys.since.Load() == 0 {
		return nil
	}
	pause(pointKeyWritten)
	names := []string{c.keys.all}
	c.t.invalidate(names)
	return names
}

// keyString is the string form of a key for patterns.
func (c *Cache[K, V]) keyString(k K) string {
	if s, ok := c.encodeKey(k); ok {
		return s
	}
	return fmt.Sprint(k)
}
