package fresh

import (
	"context"
	"errors"
	"slices"
	"time"
)

// maxStoreKey bounds the store form of a key; a longer key is not put in the Store.
const maxStoreKey = 64 << 10

// storeRead is what a flight learnt from the hub's Store before its loader ran, and
// what it will fill there after.
type storeRead[V any] struct {
	key   string // the key's store form; "" when the value does not go to the store
	hit   bool   // the store served the value
	val   V
	neg   bool
	ttl   time.Duration // the store entry's remaining lifetime, on a hit
	token string        // the lease this process holds on key, if any
	blob  []byte        // the encoded value to fill
}

// storeKey returns the store form of key: the cache's name and the encoded key, in
// the escaped form of dependencies, so that two caches never share an entry.
func (c *Cache[K, V]) storeKey(key K) (string, bool) {
	s, ok := c.encodeKey(key)
	if !ok {
		return "", false
	}
	sk := c.keys.prefix[len(kindKey)+1:] + escape(s)
	return sk, len(sk) <= maxStoreKey
}

// storeDeps are the dependencies a value of key carries in the store, besides its own:
// its key and the cache as a whole, so that Delete, Set, Flush and InvalidatePattern
// kill it in the store with one invalidation, and nested values read from it too.
func (c *Cache[K, V]) storeDeps(names []string, key K) []string {
	out := make([]string, 0, len(names)+2)
	out = append(out, names...)
	for _, n := range c.keyDepNames(key) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// localDeps are the dependencies an L1 entry filled from the store needs: the store
// entry's, without the entry's own key dependencies, which L1 applies by deleting
// the key itself.
func (c *Cache[K, V]) localDeps(deps []string, key K) []string {
	own := c.keyDepNames(key)
	out := make([]string, 0, len(deps))
	for _, d := range deps {
		if !slices.Contains(own, d) {
			out = append(out, d)
		}
	}
	return out
}

// readStore looks for key in the hub's Store, on behalf of flight fill fs. On a hit it
// gives fs the entry's dependencies and store position; on a miss it reads the
// store's position (before the loader runs, as the hub's was read before the store)
// and, when the store hands out leases, takes the key's lease or waits for the
// holder's value, up to the lease's lifetime.
//
// A reload for RefreshAfter (reload) skips the read: the store's copy may be the very
// value being refreshed. It still reads the position, to fill the store after.
func (c *Cache[K, V]) readStore(ctx context.Context, key K, fs *fillState, sr *storeRead[V], reload bool) {
	sk, ok := c.storeKey(key)
	if !ok {
		return
	}
	sr.key = sk // the value is encoded even when the store cannot take it: a codec error does not depend on the store's health
	if !c.sl.usable() {
		return
	}
	if reload {
		if at, ok := c.sl.position(ctx); ok {
			fs.setStore(at)
		}
		return
	}
	var deadline time.Time
	backoff := time.Millisecond
	for {
		e, found := c.sl.get(ctx, sk)
		foreign := false
		if found {
			if c.takeStoreEntry(key, sk, e, fs, sr) {
				return
			}
			// Written by another build (or garbage): a miss, and this process's
			// value replaces it.
			c.stats.storeForeign.Add(1)
			foreign = true
		}
		if !c.sl.usable() || ctx.Err() != nil {
			return
		}
		at, ok := c.sl.position(ctx)
		if !ok {
			return
		}
		if deadline.IsZero() {
			c.stats.storeMisses.Add(1)
		}
		if c.sl.leaser == nil || foreign {
			fs.setStore(at)
			return
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(c.sl.leaseTTL)
		}
		token, granted, wait := c.lease(ctx, sk)
		if granted && token != "" {
			// The previous holder may have filled the store and released the lease
			// between this process's read and its lease: look once more, or this
			// process would load the key a second time.
			if e, found := c.sl.get(ctx, sk); found && c.takeStoreEntry(key, sk, e, fs, sr) {
				c.release(ctx, sk, token)
				c.stats.storeMisses.Add(^uint64(0)) // counted as a miss above: it was not one
				return
			}
		}
		if granted || time.Now().After(deadline) || ctx.Err() != nil {
			// Holding the lease, or tired of waiting for it: load.
			sr.token = token
			fs.setStore(at)
			return
		}
		if backoff == time.Millisecond {
			c.stats.leaseWaits.Add(1)
		}
		sleep := min(backoff, max(wait, time.Millisecond), time.Until(deadline))
		backoff = min(2*backoff, 16*time.Millisecond)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// takeStoreEntry serves the flight from the store entry e of key, if it can be read
// here: fs gets its dependencies and store position.
func (c *Cache[K, V]) takeStoreEntry(key K, sk string, e StoreEntry, fs *fillState, sr *storeRead[V]) bool {
	v, neg, err := c.vc.decode(sk, e.Value)
	if err != nil || e.At.Epoch == 0 || (neg && c.o.NegativeTTL < 0) {
		return false
	}
	c.stats.storeHits.Add(1)
	sr.hit, sr.val, sr.neg, sr.ttl = true, v, neg, e.TTL
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.addStored(c.localDeps(e.Deps, key))
	fs.l2 = e.At // the entry was valid when read: current at its fill position
	return true
}

// lease tries to take the lease on sk. A failing store counts as granted: there is
// nobody to wait for.
func (c *Cache[K, V]) lease(ctx context.Context, sk string) (token string, granted bool, wait time.Duration) {
	lctx, cancel := c.sl.ctx(ctx)
	defer cancel()
	token, granted, wait, err := c.sl.leaser.Lease(lctx, sk, c.sl.leaseTTL)
	if err != nil {
		c.sl.failed(err, false)
		return "", true, 0
	}
	return token, granted, wait
}

// release ends this process's lease on sk.
func (c *Cache[K, V]) release(ctx context.Context, sk, token string) {
	rctx, cancel := c.sl.ctx(context.WithoutCancel(ctx))
	defer cancel()
	if err := c.sl.leaser.Release(rctx, sk, token); err != nil {
		c.sl.failed(err, false)
	}
}

// fillStore fills the hub's Store with the flight's value, fenced by the store
// position its fill read, and releases the lease it held.
func (c *Cache[K, V]) fillStore(ctx context.Context, key K, f *flight[V], sr *storeRead[V], cfg callConfig) {
	if sr.key == "" {
		return
	}
	defer func() {
		if sr.token != "" {
			c.release(ctx, sr.key, sr.token)
		}
	}()
	if sr.blob == nil || f.l2.Epoch == 0 || f.abandoned || f.keyTomb.Load() > f.start {
		return
	}
	ttl := c.o.TTL
	if cfg.ttlSet {
		ttl = cfg.ttl
	}
	if sr.neg && (ttl <= 0 || c.o.NegativeTTL < ttl) {
		ttl = c.o.NegativeTTL
	}
	if c.sl.fill(ctx, sr.key, sr.blob, c.storeDeps(f.deps.names, key), f.l2, ttl) {
		c.stats.storeFills.Add(1)
	} else if c.sl.usable() {
		c.stats.storeFenced.Add(1)
	}
}

// storeWritten applies a write of key to the hub's Store: it invalidates the key's
// dependency there, which kills the key's entry (every store entry depends on its
// key), the values built from it, and fills of it that began earlier. It returns the
// store position of the write, or a zero Position when the store did not take it.
func (c *Cache[K, V]) storeWritten(ctx context.Context, key K) Position {
	if c.sl == nil {
		return Position{}
	}
	return c.hub.toStore(ctx, []string{c.keyDepName(key)})
}

// storeAllWritten applies a flush or pattern deletion of the cache to the Store: every
// entry of the cache depends on its all-keys dependency.
func (c *Cache[K, V]) storeAllWritten(ctx context.Context) {
	if c.sl != nil {
		c.hub.toStore(ctx, []string{c.keys.all})
	}
}

// setStore fills the store with a value Set wrote (encoded as b) at store position
// at: the position of the write's own invalidation of the key, which the fill is
// therefore not refused by, while any later write of the key refuses or kills it.
func (c *Cache[K, V]) setStore(ctx context.Context, key K, b []byte, names []string, at Position, cfg callConfig) {
	sk, ok := c.storeKey(key)
	if !ok || at.Epoch == 0 || b == nil {
		return
	}
	ttl := c.o.TTL
	if cfg.ttlSet {
		ttl = cfg.ttl
	}
	if c.sl.fill(ctx, sk, b, c.storeDeps(names, key), at, ttl) {
		c.stats.storeFills.Add(1)
	}
}

var (
	// errNoStore is how an unusable store is reported to the failure policy.
	errNoStore = errors.New("fresh: store unavailable")
	// errPeerMissed: a peer's invalidation did not reach the store.
	errPeerMissed = errors.New("fresh: another process's invalidation did not reach the store")
)
