package fresh

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/maypok86/otter/v2"
)

// A Cache maps keys to values that stay correct: each value remembers what it depends
// on, and an invalidation of any of those dependencies (through this cache, another
// cache of its Hub, the Hub itself, or another process through the hub's Bus) stops
// it from being served. See the package documentation for the guarantees.
//
// A Cache is a typed view of its hub, registered there under its name until Close.
// It is safe for concurrent use. Its zero value is not usable; use New.
type Cache[K comparable, V any] struct {
	l1   *otter.Cache[K, entry[V]] // nil when Options.Disabled
	t    *tracker                  // the hub's, kept here for the hit path
	hub  *Hub
	name string
	o    Options[K, V]

	flights flightTable[K, V]
	loaders loaderSet
	stats   counters
	rec     Recorder
	keys    keyDeps

	sl *storeLink    // the hub's Store, or nil (none, or Options.Local)
	vc valueCodec[V] // with sl

	// storeExpires reports that the store expires entries; otherwise entries with a
	// lifetime carry their deadline (metaExt.expireAt).
	storeExpires bool

	closed  atomic.Bool
	life    context.Context // cancelled by Close: every loader's context ends with it
	endLife context.CancelFunc
}

// A Loader computes the value for key when it is not cached. It runs in a context of
// its own, which carries the first caller's values and is cancelled when every caller
// waiting for it has gone, or when the cache is closed. Inside it, Depend declares
// dependencies, and GetOrLoad of other cached values, with the loader's context,
// makes the value depend on theirs and on their keys.
//
// Returning ErrNotFound (or an error wrapping it) caches a negative result.
type Loader[K comparable, V any] func(ctx context.Context, key K) (V, error)

// New returns a Cache configured by o and registered in its hub, or an error naming
// every bad option.
func New[K comparable, V any](o Options[K, V]) (*Cache[K, V], error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	c := &Cache[K, V]{
		t:     o.Hub.t,
		hub:   o.Hub,
		o:     o,
		stats: newCounters(!o.NoHitStats),
		rec:   o.Recorder,
	}
	c.life, c.endLife = context.WithCancel(context.Background())
	if o.Hub.store != nil && !o.Local {
		c.sl = o.Hub.store
		c.vc = newValueCodec(o.Codec, o.ValueVersion)
	}
	c.flights.init()
	for _, ts := range o.Tables {
		if err := o.Hub.schemes.register(ts); err != nil {
			return nil, err
		}
	}
	if !o.Disabled {
		oo := &otter.Options[K, entry[V]]{
			OnAtomicDeletion: c.onDeletion,
			Logger:           otterLogger{o.Logger},
			Executor:         o.Executor,
		}
		// With a default lifetime the store expires entries, and reads its clock on
		// every hit to do so. Without one, it does not read the clock at all, and the
		// entries given a lifetime by TTL, StaleIfError or a negative result carry a
		// deadline that their hits check (the eviction policy reclaims them).
		if o.TTL > 0 {
			oo.ExpiryCalculator = otter.ExpiryWritingFunc(c.lifetime)
			c.storeExpires = true
		}
		if o.MaxCost > 0 {
			oo.MaximumWeight = o.MaxCost
			oo.Weigher = func(k K, e entry[V]) uint32 { return o.Cost(k, e.val) }
		} else {
			oo.MaximumSize = o.MaxEntries
		}
		if o.Clock != nil {
			oo.Clock = otterClock{o.Clock}
		}
		l1, err := otter.New(oo)
		if err != nil {
			return nil, fmt.Errorf("fresh: %w", err)
		}
		c.l1 = l1
	}
	if _, err := o.Hub.register(o.Name, func(name string) view {
		c.name = name
		c.keys.init(name)
		if o.Hub.store != nil {
			// Entries from the store may depend on this cache's keys (nested values
			// built in other processes): writes of them must always be applied.
			c.keys.use(c.t)
		}
		return c
	}); err != nil {
		c.shutdownL1()
		return nil, err
	}
	c.t.reserve(c.slotsWanted())
	return c, nil
}

// slotsWanted is the number of tombstone slots the cache asks its hub for: one per
// entry it may hold (a guess for a cache bounded by cost).
func (c *Cache[K, V]) slotsWanted() int {
	switch {
	case c.o.Disabled:
		return 0
	case c.o.MaxEntries > 0:
		return c.o.MaxEntries
	default:
		return int(min(c.o.MaxCost, 1<<16))
	}
}

// Name returns the cache's name in its hub.
func (c *Cache[K, V]) Name() string { return c.name }

// Hub returns the hub the cache belongs to.
func (c *Cache[K, V]) Hub() *Hub { return c.hub }

func (c *Cache[K, V]) now() int64 {
	if c.o.Clock != nil {
		return c.o.Clock.Now().UnixNano()
	}
	return time.Now().UnixNano()
}

// lifetime tells the store how long to keep an entry.
func (c *Cache[K, V]) lifetime(oe otter.Entry[K, entry[V]]) time.Duration {
	e := &oe.Value
	var d time.Duration
	switch x := e.ext(); {
	case x != nil && x.lifetime != 0:
		d = x.lifetime
	case e.negative():
		d = c.o.NegativeTTL
	default:
		d = c.o.TTL
		if d > 0 && c.o.Jitter > 0 {
			d -= time.Duration(rand.Float64() * c.o.Jitter * float64(d))
		}
	}
	if d <= 0 {
		return time.Duration(math.MaxInt64)
	}
	return d
}

// onDeletion runs when the store drops an entry for any reason: it counts evictions
// and expirations.
func (c *Cache[K, V]) onDeletion(ev otter.DeletionEvent[K, entry[V]]) {
	switch ev.Cause {
	case otter.CauseOverflow:
		c.stats.evictions.Add(1)
		c.record(EventEviction)
	case otter.CauseExpiration:
		c.stats.expirations.Add(1)
		c.record(EventExpiration)
	}
}

func (c *Cache[K, V]) record(ev Event) {
	if c.rec != nil {
		c.rec.Record(ev)
	}
}

// usable reports whether e may be served: its position is above the floor and no
// dependency was invalidated after it. With stale true, it also reports whether e is
// past the time StaleIfError allows it to be served only after a failed reload.
func (c *Cache[K, V]) usable(e *entry[V]) (ok, stale bool) {
	pos := e.pos()
	if pos < c.t.floor.Load() || !c.t.proven() {
		return false, false
	}
	if e.p == nil {
		return true, false
	}
	if ds := e.deps(); ds != nil {
		// When nothing was invalidated since the entry was filled (tombstones never
		// exceed the position), its dependencies need no look.
		if p := c.t.pos.Load(); pos < p && !c.t.check(ds, pos, p) {
			return false, false
		}
	}
	if x := e.ext(); x != nil && (x.freshUntil != 0 || x.expireAt != 0) {
		now := c.now()
		if x.expireAt != 0 && now >= x.expireAt {
			return false, false
		}
		return true, x.freshUntil != 0 && now >= x.freshUntil
	}
	return true, false
}

// Get returns the cached value for key, if there is a usable one. It never loads and
// never waits. It is the fast path: it does not take part in request scopes, and
// inside a loader it does not make the value being loaded depend on what it reads
// (use GetOrLoad with the loader's context there). A cached ErrNotFound reads as
// absent.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	// The fast path: a plain entry (no dependencies, no per-call options, not
	// negative) above the floor is served after one more atomic load.
	if c.l1 != nil {
		e, found := c.l1.GetIfPresent(key)
		if found && e.p == nil && e.word >= c.t.floor.Load() && e.word&negBit == 0 && c.t.proven() {
			c.hit()
			return e.val, true
		}
		return c.getSlow(e, found)
	}
	return c.getSlow(entry[V]{}, false)
}

// getSlow finishes a Get that did not take the fast path.
func (c *Cache[K, V]) getSlow(e entry[V], found bool) (V, bool) {
	if found {
		if ok, stale := c.usable(&e); ok && !stale && !e.negative() {
			c.hit()
			return e.val, true
		}
	}
	c.missed()
	var zero V
	return zero, false
}

func (c *Cache[K, V]) hit() {
	if c.stats.hits != nil {
		c.stats.hits.Inc()
	}
	if c.rec != nil {
		c.rec.Record(EventHit)
	}
}

func (c *Cache[K, V]) missed() {
	if c.stats.misses != nil {
		c.stats.misses.Inc()
	}
	c.record(EventMiss)
}

// GetOrLoad returns the value for key, loading it with loader on a miss. Concurrent
// misses of one key share one load (single flight), except that a call that starts
// after an invalidation never takes the result of a load that started before it.
//
// The value is stored only if none of its dependencies (declared with DependsOn or
// Depend, or inherited from cached values the loader read) was invalidated while it
// loaded; the caller gets it either way. A loader error is returned to every waiting
// caller and not cached; ErrNotFound is cached as a negative result (see
// Options.NegativeTTL) and returned as ErrNotFound. A loader panic is re-raised in
// every waiting caller as a *PanicError; a loader that exits its goroutine without
// returning (runtime.Goexit) fails every caller with ErrLoaderExited. A loader that
// reads its own key, directly or through other loaders, gets ErrLoadCycle.
//
// Called inside another cache's loader with the loader's context, GetOrLoad makes the
// outer value depend on this value's dependencies and on its key.
func (c *Cache[K, V]) GetOrLoad(ctx context.Context, key K, loader Loader[K, V], opts ...Option) (V, error) {
	st := stateOf(ctx)
	if st != nil && st.fill != nil {
		if err := st.fill.cycle(c, key); err != nil {
			var zero V
			return zero, err
		}
	} else if c.hub.strict != nil {
		c.hub.strict.check()
	}
	if st != nil && st.memo != nil {
		return c.viaMemo(ctx, st, key, loader, opts)
	}
	r := c.getOrLoad(ctx, st, key, loader, opts)
	return r.val, r.err
}

// result is the answer to one GetOrLoad, with what an enclosing fill or request memo
// needs to know about it.
type result[V any] struct {
	val   V
	err   error
	ids   []uint64 // dependencies
	names []string // their names, when kept (a hub with a Store); else nil
	pos   uint64
	l2    Position // the Store position the value is current at (fillState.l2)
	fresh bool     // names/recs/pos describe the value (false for errors)
	// checked says that the value was found valid after the call began, so that it
	// is current at any position taken before the call (I3).
	checked bool
}

func (c *Cache[K, V]) getOrLoad(ctx context.Context, st *ctxState, key K, loader Loader[K, V], opts []Option) result[V] {
	var fill *fillState
	if st != nil {
		fill = st.fill
	}
	if fill != nil {
		c.keys.use(c.t) // I4: before the store is read
	}
	var fallback *entry[V]
	if c.l1 != nil {
		if e, found := c.l1.GetIfPresent(key); found {
			ok, stale := c.usable(&e)
			if ok && !stale {
				c.hit()
				if x := e.ext(); x != nil && x.refreshAt != 0 && c.now() >= x.refreshAt {
					c.refresh(ctx, key, loader, opts)
				}
				r := entryResult(&e)
				if fill != nil {
					r.checked = c.t.currentAt(r.ids, r.pos) // I3
				}
				c.inherit(fill, key, &r)
				return r
			}
			if ok && stale {
				fallback = &e
			}
		}
	}
	c.missed()
	if loader == nil {
		return result[V]{err: errors.New("fresh: GetOrLoad with a nil loader")}
	}
	if c.closed.Load() {
		return result[V]{err: ErrClosed}
	}
	cfg, err := c.callConfig(opts, false)
	if err != nil {
		return result[V]{err: err}
	}
	r := c.load(ctx, fill, key, loader, cfg)
	if r.err != nil && fallback != nil && !errors.Is(r.err, ErrNotFound) && c.stillServable(key, fallback) {
		c.stats.staleServed.Add(1)
		c.record(EventStaleServed)
		r = result[V]{val: fallback.val, ids: idsOf(fallback.deps()), names: fallback.names(), pos: fallback.pos(), fresh: true}
	}
	c.inherit(fill, key, &r)
	return r
}

// inherit passes what a nested read found to the fill it was made in: its
// dependencies, its key's (I4), and its position unless it was checked (I3).
func (c *Cache[K, V]) inherit(fill *fillState, key K, r *result[V]) {
	if fill == nil || !r.fresh {
		return
	}
	fill.inherit(r.ids, r.names, c.keyDepNames(key), r.pos, r.checked, r.l2)
}

// entryResult is the answer a usable entry gives.
func entryResult[V any](e *entry[V]) result[V] {
	r := result[V]{val: e.val, ids: idsOf(e.deps()), pos: e.pos(), fresh: true}
	if x := e.ext(); x != nil {
		r.l2, r.names = x.l2, x.names
	}
	if e.negative() {
		r.err = ErrNotFound
	}
	return r
}

// lookup returns the answer of the key's entry if it is usable and not past its
// StaleIfError freshness.
func (c *Cache[K, V]) lookup(key K) (result[V], bool) {
	if c.l1 == nil {
		return result[V]{}, false
	}
	e, found := c.l1.GetIfPresent(key)
	if !found {
		return result[V]{}, false
	}
	if ok, stale := c.usable(&e); !ok || stale {
		return result[V]{}, false
	}
	return entryResult(&e), true
}

// stillServable reports whether the stale entry e is still the key's entry and none of
// its dependencies was invalidated: StaleIfError serves it only then.
func (c *Cache[K, V]) stillServable(key K, e *entry[V]) bool {
	cur, found := c.l1.GetIfPresent(key)
	if !found || cur.word != e.word || cur.p != e.p {
		return false
	}
	ok, _ := c.usable(&cur)
	return ok
}

// Set stores value under key, replacing any entry, with the dependencies and TTL the
// options give, here and, through the hub's Bus, by deleting the key from the caches
// of the same name in other processes. A value built inside a loader from the key's
// old value is invalidated. The value is taken to be current at the time of the call,
// unless AsOf says from when it dates: then it is a fill rather than a write (it is
// stored here only, and invalidates nothing), refused (not stored, no error) if a
// dependency or the key was invalidated or written after that. A load of key that is in flight
// will not overwrite it. Concurrent Sets of one key land in either order, as in any
// cache: writers that race each other must be serialised (a row lock held until the
// Set returns), or should Invalidate instead of Set.
func (c *Cache[K, V]) Set(ctx context.Context, key K, value V, opts ...Option) error {
	if c.closed.Load() {
		return ErrClosed
	}
	cfg, err := c.callConfig(opts, true)
	if err != nil {
		return err
	}
	if c.o.MaxCost > 0 && uint64(c.o.Cost(key, value)) > c.o.MaxCost {
		return fmt.Errorf("%w: cost %d exceeds MaxCost %d", ErrTooLarge, c.o.Cost(key, value), c.o.MaxCost)
	}
	var buf [8]uint64 // no allocation for up to 8 dependencies
	ids, err := appendDepIDs(buf[:0], cfg.deps, &c.hub.schemes)
	if err != nil {
		return err
	}
	var names []string
	if c.hub.store != nil {
		names = appendDepNames(nil, cfg.deps, &c.hub.schemes)
	}
	var blob []byte
	if c.sl != nil && !cfg.asOfSet {
		// Encoded first: a value that cannot be shared changes nothing.
		if sk, ok := c.storeKey(key); ok {
			if blob, err = c.vc.encode(sk, value, false); err != nil {
				return err
			}
		}
	}
	// Fence loads of key that are in flight: they read older data than value (I2).
	pos := c.flights.fence(c, key)
	if cfg.asOfSet {
		since := c.keys.use(c.t)
		if cfg.asOf < since {
			// Writes of the key before since left no trace: refuse rather than guess.
			c.stats.fenced.Add(1)
			c.record(EventFenced)
			return nil
		}
		pos = min(cfg.asOf, pos)
		// A value dated by AsOf is a fill, not a write: it depends on its key like a
		// nested value does, so that a write of the key made after pos refuses it,
		// or kills it if the write's invalidation comes after this store; and it
		// invalidates nothing itself.
		if c.l1 != nil {
			for _, n := range c.keyDepNames(key) {
				if id := depID(n); !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
				if c.hub.store != nil && !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
			c.store(key, value, false, ids, names, pos, nil, cfg)
		}
		return nil
	}
	if c.l1 != nil {
		c.store(key, value, false, ids, names, pos, nil, cfg)
	}
	written := c.keyWritten(key) // I4: after the store was written
	c.forgetKey(ctx, key, written)
	if c.sl != nil {
		// This hub, then the Store, then the Bus (storeLink): the write kills the
		// key's entry there and its dependents, then stores value after it.
		c.setStore(ctx, key, blob, names, c.storeWritten(ctx, key), cfg)
	}
	return c.publishKey(ctx, key)
}

// store puts a loaded or set value into the store if it is still valid as of pos: its
// dependencies were not invalidated after pos, and (when keyTomb is given) the key was
// not deleted or set, and the load not abandoned, since the load began. ids are the
// value's dependencies, and names their names when the hub keeps them (a Store). It
// reports whether it stored.
func (c *Cache[K, V]) store(key K, val V, neg bool, ids []uint64, names []string, pos uint64, keyTomb *atomic.Uint64, cfg callConfig) bool {
	refuse := func() bool {
		c.stats.fenced.Add(1)
		c.record(EventFenced)
		return false
	}
	switch {
	case c.l1 != nil && neg && c.o.NegativeTTL < 0:
		// Not cached, but the value it replaces is gone: StaleIfError must not bring
		// it back.
		c.l1.Invalidate(key)
		return false
	case c.l1 == nil || c.closed.Load():
		return false
	case c.o.MaxCost > 0 && uint64(c.o.Cost(key, val)) > c.o.MaxCost:
		return false
	case !c.t.validAt(ids, pos):
		return refuse()
	}
	e := entry[V]{val: val, word: pos}
	if neg {
		e.word |= negBit
	}
	if cfg.ttlSet || cfg.staleGrace > 0 || cfg.refreshAfter > 0 || (neg && !c.storeExpires) || cfg.l2.Epoch != 0 || len(names) > 0 {
		e.p = unsafe.Pointer(c.extFor(ids, names, neg, cfg))
		e.word |= extBit
	} else {
		e.p = newDepSet(ids)
	}
	if keyTomb == nil {
		// A Set: nothing to fence against, a plain write.
		c.l1.Set(key, e)
		return true
	}
	stored := false
	c.l1.Compute(key, func(old entry[V], found bool) (entry[V], otter.ComputeOp) {
		// Under the key's bucket lock: a Delete or Set of the key, and an abandonment
		// of the load, mark keyTomb before they take this lock, so either it is seen
		// here or they come after this write (I2).
		if keyTomb.Load() > pos {
			return old, otter.CancelOp
		}
		stored = true
		return e, otter.WriteOp
	})
	if !stored {
		return refuse()
	}
	return true
}

// extFor builds the per-call metadata of an entry.
func (c *Cache[K, V]) extFor(ids []uint64, names []string, neg bool, cfg callConfig) *metaExt {
	now := c.now()
	x := &metaExt{deps: newDepSet(ids), names: names, l2: cfg.l2}
	ttl := c.o.TTL
	if cfg.ttlSet {
		ttl = cfg.ttl
	}
	if neg && (ttl <= 0 || c.o.NegativeTTL < ttl) {
		// A not-found lives NegativeTTL at most, whatever the call's TTL says.
		ttl = c.o.NegativeTTL
	}
	x.lifetime = ttl
	if ttl == 0 {
		x.lifetime = -1 // no expiry, whatever Options.TTL says
	}
	if cfg.staleGrace > 0 && ttl > 0 && !neg {
		x.lifetime = ttl + cfg.staleGrace
		x.freshUntil = now + int64(ttl)
	}
	if cfg.refreshAfter > 0 {
		x.refreshAt = now + int64(cfg.refreshAfter)
	}
	if !cfg.ttlSet && x.freshUntil == 0 && !neg {
		x.lifetime = 0 // the default lifetime, with its jitter
	}
	if !c.storeExpires && x.lifetime > 0 {
		x.expireAt = now + int64(x.lifetime)
	}
	return x
}

// Delete removes key from the cache, here and (through the hub's Bus) in the caches of
// the same name in other processes, and invalidates the values built from it inside
// loaders. A load of key in flight will not store its result.
func (c *Cache[K, V]) Delete(ctx context.Context, key K) error {
	if c.closed.Load() {
		return ErrClosed
	}
	written := c.deleteLocal(key)
	c.forgetKey(ctx, key, written)
	c.storeWritten(ctx, key) // this hub, then the Store, then the Bus (storeLink)
	return c.publishKey(ctx, key)
}

func (c *Cache[K, V]) deleteLocal(key K) []string {
	c.flights.fence(c, key)
	if c.l1 != nil {
		c.l1.Invalidate(key)
	}
	return c.keyWritten(key) // I4: after the store was written
}

// forgetKey drops the request memo's answers for key and those built from it.
func (c *Cache[K, V]) forgetKey(ctx context.Context, key K, names []string) {
	if st := stateOf(ctx); st != nil && st.memo != nil {
		mk := memoKey{cache: c, key: key}
		st.memo.forget(memoForget{key: &mk, names: append(names, c.keyDepName(key))})
	}
}

// publishKey tells the caches of the same name in other processes to drop key. A key
// that cannot travel makes them flush instead.
func (c *Cache[K, V]) publishKey(ctx context.Context, key K) error {
	l := c.hub.link
	if l == nil {
		return nil
	}
	s, err := c.o.KeyCodec.EncodeKey(key)
	if err != nil || len(s) > maxWireItem {
		if ferr := l.publishFlush(ctx, c.name); ferr != nil {
			return ferr
		}
		if err == nil {
			return nil // the key is too long for the bus: peers flushed the cache instead
		}
		return fmt.Errorf("%w (the cache was flushed in other processes): %w", ErrInvalidKey, err)
	}
	return l.publishItems(ctx, kindDelete, c.name, []string{s})
}

// applyDelete applies a peer's deletion of keys (the hub's view).
func (c *Cache[K, V]) applyDelete(keys []string) {
	for _, s := range keys {
		k, err := c.o.KeyCodec.DecodeKey(s)
		if err != nil {
			// A key we cannot read may be cached under some form we cannot name:
			// flushing is the only safe answer (I6).
			c.o.Logger.Warn("fresh: undecodable key on bus; flushing", "cache", c.name, "err", err)
			c.flushLocal()
			return
		}
		c.deleteLocal(k)
	}
}

func (c *Cache[K, V]) viewName() string { return c.name }

// Position returns the hub's current position, and makes the cache ready to check
// Set(..., AsOf(pos)) against writes of its keys: a value computed from data read
// after this call can be stored with AsOf(pos), and is refused if an invalidation of
// one of its dependencies, or a write of its key, overtook it.
func (c *Cache[K, V]) Position() uint64 {
	c.keys.use(c.t)
	return c.t.pos.Load()
}

// Invalidate is the hub's Invalidate (Hub.Invalidate): it reaches every cache of the
// hub, and other processes through its Bus.
func (c *Cache[K, V]) Invalidate(ctx context.Context, deps ...Dep) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.hub.Invalidate(ctx, deps...)
}

// InvalidateRows is the hub's InvalidateRows (Hub.InvalidateRows), with the table
// schemes registered by every cache of the hub.
func (c *Cache[K, V]) InvalidateRows(ctx context.Context, changes ...RowChange) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.hub.InvalidateRows(ctx, changes...)
}

// RegisterTable adds a table's key column and scope schemes (see TableSchema) to the
// hub, for every cache of it.
func (c *Cache[K, V]) RegisterTable(ts TableSchema) error { return c.hub.RegisterTable(ts) }

// Stats returns a snapshot of the cache's counters (the hub's are in Hub.Stats).
func (c *Cache[K, V]) Stats() Stats {
	s := Stats{
		Hits:        c.stats.hits.Load(),   // 0 with NoHitStats (nil)
		Misses:      c.stats.misses.Load(), // 0 with NoHitStats (nil)
		Loads:       c.stats.loads.Load(),
		LoadErrors:  c.stats.loadErrors.Load(),
		Fenced:      c.stats.fenced.Load(),
		Abandoned:   c.stats.abandoned.Load(),
		StaleServed: c.stats.staleServed.Load(),
		Refreshes:   c.stats.refreshes.Load(),
		Evictions:   c.stats.evictions.Load(),
		Expirations: c.stats.expirations.Load(),

		StoreHits:    c.stats.storeHits.Load(),
		StoreMisses:  c.stats.storeMisses.Load(),
		StoreFills:   c.stats.storeFills.Load(),
		StoreFenced:  c.stats.storeFenced.Load(),
		StoreForeign: c.stats.storeForeign.Load(),
		LeaseWaits:   c.stats.leaseWaits.Load(),
	}
	if c.l1 != nil {
		s.Entries = c.l1.EstimatedSize()
	}
	return s
}

// Close fences every load in flight (none stores after Close), cancels the loaders'
// contexts and waits for them to return, or for ctx; then it frees the cache's name in
// its hub and empties the store. Calls after Close return ErrClosed; Get misses.
func (c *Cache[K, V]) Close(ctx context.Context) error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	return c.close(ctx)
}

// closeView closes the cache for Hub.Close.
func (c *Cache[K, V]) closeView(ctx context.Context) error { return c.Close(ctx) }

func (c *Cache[K, V]) close(ctx context.Context) error {
	c.flights.fenceAll(c, nil) // I2: with closed set, no flight starts after this
	c.endLife()
	var errs []error
	if err := c.loaders.wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("fresh: close: loaders still running: %w", err))
	}
	c.hub.unregister(c.name)
	c.t.reserve(-c.slotsWanted())
	c.shutdownL1()
	return errors.Join(errs...)
}

func (c *Cache[K, V]) shutdownL1() {
	if c.l1 != nil {
		c.l1.InvalidateAll()
		c.l1.StopAllGoroutines()
	}
}
