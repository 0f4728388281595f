package fresh

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/maypok86/otter/v2"
)

// A Cache maps keys to values that stay correct: each value remembers what it depends
// on, and an invalidation of any of those dependencies (here, in another cache sharing
// the Tracker, or in another process through the Bus) stops it from being served. See
// the package documentation for the guarantees.
//
// A Cache is safe for concurrent use. Its zero value is not usable; use New.
type Cache[K comparable, V any] struct {
	l1      *otter.Cache[K, entry[V]] // nil when Options.Disabled
	t       *Tracker
	o       Options[K, V]
	schemes schemes
	flights flightTable[K, V]
	stats   counters
	rec     Recorder
	link    *busLink // nil without a Bus

	// storeExpires reports that the store expires entries; otherwise entries with a
	// lifetime carry their deadline (metaExt.expireAt).
	storeExpires bool

	closed atomic.Bool
	stop   chan struct{}
	bg     sync.WaitGroup
}

// A Loader computes the value for key when it is not cached. It runs in a context of
// its own, which carries the first caller's values and is cancelled only when every
// caller waiting for it has gone. Inside it, Depend declares dependencies, and
// GetOrLoad of other cached values makes the value depend on theirs too.
//
// Returning ErrNotFound (or an error wrapping it) caches a negative result.
type Loader[K comparable, V any] func(ctx context.Context, key K) (V, error)

// prunePeriod is how often unused dependency records are dropped.
const prunePeriod = time.Second

// New returns a Cache configured by o, or an error naming every bad option.
func New[K comparable, V any](o Options[K, V]) (*Cache[K, V], error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	c := &Cache[K, V]{
		t:     o.Tracker,
		o:     o,
		stats: newCounters(),
		rec:   o.Recorder,
		stop:  make(chan struct{}),
	}
	c.flights.init()
	for _, ts := range o.Tables {
		if err := c.schemes.register(ts); err != nil {
			return nil, err
		}
	}
	if !o.Disabled {
		oo := &otter.Options[K, entry[V]]{
			OnAtomicDeletion: c.onDeletion,
			Logger:           otterLogger{o.Logger},
		}
		// With a default lifetime the store expires entries, and reads its clock on
		// every hit to do so. Without one, it does not read the clock at all, and the
		// few entries given a lifetime by TTL or StaleIfError carry a deadline that
		// their hits check (the eviction policy reclaims them).
		if o.TTL > 0 || o.NegativeTTL > 0 {
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
	if o.Bus != nil {
		link, err := newBusLink(c)
		if err != nil {
			c.shutdownL1()
			return nil, err
		}
		c.link = link
	}
	c.bg.Add(1)
	go c.pruneLoop()
	return c, nil
}

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

// onDeletion runs when the store drops an entry for any reason: it releases the
// entry's dependency records.
func (c *Cache[K, V]) onDeletion(ev otter.DeletionEvent[K, entry[V]]) {
	c.t.release(recsOf(ev.Value.deps()))
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
	if pos < c.t.floor.Load() {
		return false, false
	}
	if e.p == nil {
		return true, false
	}
	deps := e.deps()
	if pos >= c.t.pos.Load() {
		// Nothing was invalidated since the entry was filled (tombstones never
		// exceed the position), so its dependencies need no look.
		deps = nil
	}
	for i := 0; deps != nil; i++ {
		r := depAt(deps, i)
		if r == nil {
			break
		}
		if r.tomb.Load() > pos {
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
// never waits. It is the fast path: it does not take part in request scopes or record
// dependencies for an enclosing loader; inside a loader, read cached values with
// GetOrLoad. A cached ErrNotFound reads as absent.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	// The fast path: a plain entry (no dependencies, no per-call options, not
	// negative) above the floor is served after one more atomic load.
	if c.l1 != nil {
		e, found := c.l1.GetIfPresent(key)
		if found && e.p == nil && e.word >= c.t.floor.Load() && e.word&negBit == 0 {
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
	c.stats.misses.Inc()
	c.record(EventMiss)
	var zero V
	return zero, false
}

func (c *Cache[K, V]) hit() {
	c.stats.hits.Inc()
	if c.rec != nil {
		c.rec.Record(EventHit)
	}
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
// every waiting caller as a *PanicError.
//
// Called inside another cache's loader with the loader's context, GetOrLoad passes
// the value's dependencies to the outer value.
func (c *Cache[K, V]) GetOrLoad(ctx context.Context, key K, loader Loader[K, V], opts ...Option) (V, error) {
	st := stateOf(ctx)
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
	names []string // dependencies, when the value came from a load
	recs  []*depRecord
	pos   uint64
	fresh bool // names/recs/pos describe the value (false for errors)
}

func (r *result[V]) depNames() []string {
	if r.names != nil {
		return r.names
	}
	return namesOf(r.recs)
}

func (c *Cache[K, V]) getOrLoad(ctx context.Context, st *ctxState, key K, loader Loader[K, V], opts []Option) result[V] {
	var fallback *entry[V]
	if c.l1 != nil {
		if e, found := c.l1.GetIfPresent(key); found {
			ok, stale := c.usable(&e)
			if ok && !stale {
				c.stats.hits.Inc()
				c.record(EventHit)
				if x := e.ext(); x != nil && x.refreshAt != 0 && c.now() >= x.refreshAt {
					c.refresh(ctx, key, loader, opts)
				}
				r := entryResult(&e)
				if st != nil && st.fill != nil {
					st.fill.inherit(c.t, r.depNames(), r.pos)
				}
				return r
			}
			if ok && stale {
				fallback = &e
			}
		}
	}
	c.stats.misses.Inc()
	c.record(EventMiss)
	if loader == nil {
		return result[V]{err: errors.New("fresh: GetOrLoad with a nil loader")}
	}
	if c.closed.Load() {
		return result[V]{err: ErrClosed}
	}
	cfg, err := newCallConfig(opts)
	if err != nil {
		return result[V]{err: err}
	}
	r := c.load(ctx, key, loader, cfg)
	if r.err != nil && fallback != nil && !errors.Is(r.err, ErrNotFound) && c.stillServable(key, fallback) {
		c.stats.staleServed.Add(1)
		c.record(EventStaleServed)
		r = result[V]{val: fallback.val, recs: recsOf(fallback.deps()), pos: fallback.pos(), fresh: true}
	}
	if st != nil && st.fill != nil && r.fresh {
		st.fill.inherit(c.t, r.depNames(), r.pos)
	}
	return r
}

// entryResult is the answer a usable entry gives.
func entryResult[V any](e *entry[V]) result[V] {
	r := result[V]{val: e.val, recs: recsOf(e.deps()), pos: e.pos(), fresh: true}
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

func (c *Cache[K, V]) viaMemo(ctx context.Context, st *ctxState, key K, loader Loader[K, V], opts []Option) (V, error) {
	m := st.memo
	mk := memoKey{cache: c, key: key}
	for {
		m.mu.Lock()
		me := m.m[mk]
		if me == nil {
			break
		}
		m.mu.Unlock()
		select {
		case <-me.done:
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
		if !me.ok {
			continue // that load failed and was forgotten: try again
		}
		if st.fill != nil {
			st.fill.inherit(me.tracker, me.names, me.pos)
		}
		v, _ := me.val.(V)
		return v, me.err
	}
	me := &memoEntry{done: make(chan struct{}), tracker: c.t}
	m.m[mk] = me
	m.mu.Unlock()

	remembered := false
	defer func() {
		if !remembered {
			m.forgetKey(mk)
		}
		close(me.done)
	}()
	r := c.getOrLoad(ctx, st, key, loader, opts)
	if r.err == nil || errors.Is(r.err, ErrNotFound) {
		me.val, me.err, me.names, me.pos, me.ok = r.val, r.err, r.depNames(), r.pos, true
		remembered = true
	}
	return r.val, r.err
}

// Set stores value under key, replacing any entry, with the dependencies and TTL the
// options give. The value is taken to be current at the time of the call, unless AsOf
// says from when it dates: then it is refused (not stored, no error) if a dependency
// or the key was invalidated after that. A load of key that is in flight will not
// overwrite it. Concurrent Sets of one key land in either order, as in any cache:
// writers that race each other must be serialised (a row lock held until the Set
// returns), or should Invalidate instead of Set.
func (c *Cache[K, V]) Set(ctx context.Context, key K, value V, opts ...Option) error {
	if c.closed.Load() {
		return ErrClosed
	}
	cfg, err := newCallConfig(opts)
	if err != nil {
		return err
	}
	if c.o.MaxCost > 0 && uint64(c.o.Cost(key, value)) > c.o.MaxCost {
		return fmt.Errorf("%w: cost %d exceeds MaxCost %d", ErrTooLarge, c.o.Cost(key, value), c.o.MaxCost)
	}
	names, err := c.depNames(cfg.deps)
	if err != nil {
		return err
	}
	// Fence loads of key that are in flight: they read older data than value.
	setPos := c.flights.fence(c, key)
	pos, ticketPos := setPos, setPos
	if cfg.asOfSet {
		pos, ticketPos = min(cfg.asOf, setPos), math.MaxUint64
	}
	if st := stateOf(ctx); st != nil && st.memo != nil {
		st.memo.forgetKey(memoKey{cache: c, key: key})
	}
	if c.l1 == nil {
		return nil
	}
	recs, ok := c.t.intern(names, pos, ticketPos)
	if !ok {
		c.stats.fenced.Add(1)
		c.record(EventFenced)
		return nil
	}
	c.store(key, value, false, recs, pos, nil, cfg)
	return nil
}

// depNames returns the canonical names of deps with the schemes of their scopes.
func (c *Cache[K, V]) depNames(deps []Dep) ([]string, error) {
	if len(deps) == 0 {
		return nil, nil
	}
	names, err := appendDepNames(make([]string, 0, len(deps)), deps, &c.schemes)
	if err != nil {
		return nil, err
	}
	return names, nil
}

// store puts a loaded or set value into the store if it is still valid as of pos: its
// dependencies were not invalidated after pos, and (when keyTomb is given) the key was
// not deleted or set since the load began. It takes over one reference to each of
// recs, and reports whether it stored.
func (c *Cache[K, V]) store(key K, val V, neg bool, recs []*depRecord, pos uint64, keyTomb *atomic.Uint64, cfg callConfig) bool {
	refuse := func() bool {
		c.t.release(recs)
		c.stats.fenced.Add(1)
		c.record(EventFenced)
		return false
	}
	switch {
	case c.l1 == nil || c.closed.Load() || (neg && c.o.NegativeTTL < 0):
		c.t.release(recs)
		return false
	case c.o.MaxCost > 0 && uint64(c.o.Cost(key, val)) > c.o.MaxCost:
		c.t.release(recs)
		return false
	case !c.t.validAt(recs, pos):
		return refuse()
	}
	e := entry[V]{val: val, word: pos}
	if neg {
		e.word |= negBit
	}
	if cfg.ttlSet || cfg.staleGrace > 0 || cfg.refreshAfter > 0 {
		e.p = unsafe.Pointer(c.extFor(recs, neg, cfg))
		e.word |= extBit
	} else {
		e.p = depArray(recs)
	}
	if keyTomb == nil {
		// A Set: nothing to fence against, a plain write.
		c.l1.Set(key, e)
		return true
	}
	stored := false
	c.l1.Compute(key, func(old entry[V], found bool) (entry[V], otter.ComputeOp) {
		// Under the key's bucket lock: a Delete or Set of the key marks keyTomb before
		// it takes this lock, so either it is seen here or it comes after this write.
		if keyTomb != nil && keyTomb.Load() > pos {
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
func (c *Cache[K, V]) extFor(recs []*depRecord, neg bool, cfg callConfig) *metaExt {
	now := c.now()
	x := &metaExt{deps: depArray(recs)}
	ttl := c.o.TTL
	if neg {
		ttl = c.o.NegativeTTL
	}
	if cfg.ttlSet {
		ttl = cfg.ttl
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
	if !cfg.ttlSet && x.freshUntil == 0 {
		x.lifetime = 0 // the default lifetime, with its jitter
	}
	if !c.storeExpires && x.lifetime > 0 {
		x.expireAt = now + int64(x.lifetime)
	}
	return x
}

// Delete removes key from the cache, here and (through the Bus) in the caches of the
// same name in other processes. A load of key in flight will not store its result.
func (c *Cache[K, V]) Delete(ctx context.Context, key K) error {
	if c.closed.Load() {
		return ErrClosed
	}
	c.deleteLocal(key)
	if st := stateOf(ctx); st != nil && st.memo != nil {
		st.memo.forgetKey(memoKey{cache: c, key: key})
	}
	if c.link != nil {
		return publishDeleteKey(ctx, c.link, c.o.KeyCodec, key)
	}
	return nil
}

func (c *Cache[K, V]) deleteLocal(key K) {
	c.flights.fence(c, key)
	if c.l1 != nil {
		c.l1.Invalidate(key)
	}
}

// Position returns the cache's current position: a value computed from data read after
// this call can be stored with Set(..., AsOf(pos)) and is refused if an invalidation
// overtook it.
func (c *Cache[K, V]) Position() uint64 { return c.t.Position() }

// RegisterTable adds a table's key column and scope schemes (see TableSchema).
func (c *Cache[K, V]) RegisterTable(ts TableSchema) error { return c.schemes.register(ts) }

// Stats returns a snapshot of the cache's counters.
func (c *Cache[K, V]) Stats() Stats {
	s := Stats{
		Hits:         c.stats.hits.Load(),
		Misses:       c.stats.misses.Load(),
		Loads:        c.stats.loads.Load(),
		LoadErrors:   c.stats.loadErrors.Load(),
		Fenced:       c.stats.fenced.Load(),
		StaleServed:  c.stats.staleServed.Load(),
		Refreshes:    c.stats.refreshes.Load(),
		Evictions:    c.stats.evictions.Load(),
		Expirations:  c.stats.expirations.Load(),
		Records:      c.t.records(),
		Position:     c.t.pos.Load(),
		Epoch:        c.t.epoch.Load(),
		Suspended:    c.t.floor.Load() == math.MaxUint64,
		Published:    c.stats.published.Load(),
		PublishFails: c.stats.publishFails.Load(),
		Received:     c.stats.received.Load(),
		Dropped:      c.stats.dropped.Load(),
		Gaps:         c.stats.gaps.Load(),
	}
	if c.l1 != nil {
		s.Entries = c.l1.EstimatedSize()
	}
	return s
}

// Close stops the cache's background work (bus subscription, heartbeats, pruning) and
// waits for it, or for ctx. Calls after Close return ErrClosed; Get misses.
func (c *Cache[K, V]) Close(ctx context.Context) error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(c.stop)
	var errs []error
	if c.link != nil {
		errs = append(errs, c.link.close(ctx))
	}
	done := make(chan struct{})
	go func() { c.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("fresh: close: %w", ctx.Err()))
	}
	c.shutdownL1()
	return errors.Join(errs...)
}

func (c *Cache[K, V]) shutdownL1() {
	if c.l1 != nil {
		c.l1.InvalidateAll()
		c.l1.StopAllGoroutines()
	}
}

func (c *Cache[K, V]) pruneLoop() {
	defer c.bg.Done()
	tick := time.NewTicker(prunePeriod)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
			c.t.prune()
		}
	}
}
