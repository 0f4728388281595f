package fresh

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// flightTable holds the loads in flight, one per key at most that new callers may join.
type flightTable[K comparable, V any] struct {
	seed   maphash.Seed
	shards [flightShards]flightShard[K, V]
}

const flightShards = 32

type flightShard[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]*flight[V]
}

// A flight is one running load. Its results are written before done is closed and
// read only after.
type flight[V any] struct {
	done   chan struct{}
	start  uint64     // the fill position: the hub's position when the flight began
	fs     *fillState // what the loader depends on
	cancel context.CancelFunc

	// keyTomb is the position of a Delete or Set of the key made while the load ran,
	// or the largest position once every caller left: the load must not store then,
	// and callers arriving after must not join it (I2).
	keyTomb atomic.Uint64

	// Guarded by the shard's lock.
	waiters   int  // callers waiting for the result
	finished  bool // the loader returned and done is closed
	abandoned bool // every caller left before the loader returned
	detached  bool // no longer in the table

	val      V
	err      error
	panicked *PanicError
	fenced   bool     // the result was refused by the fence: callers arriving late must not take it
	pos      uint64   // effective fill position (see fillState)
	l2       Position // the Store position the value is current at (fillState.l2)
	deps     depList
}

func (ft *flightTable[K, V]) init() {
	ft.seed = maphash.MakeSeed()
	for i := range ft.shards {
		ft.shards[i].m = make(map[K]*flight[V])
	}
}

func (ft *flightTable[K, V]) shard(key K) (*flightShard[K, V], uint64) {
	h := maphash.Comparable(ft.seed, key)
	return &ft.shards[h%flightShards], h
}

// fence marks the flight of key, if any, as overtaken by a write of the key, and
// returns a position at which the write's own entry is valid (I2).
func (ft *flightTable[K, V]) fence(c *Cache[K, V], key K) uint64 {
	sh, _ := ft.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	f := sh.m[key]
	if f == nil {
		return c.t.pos.Load()
	}
	p := c.t.pos.Add(1)
	f.keyTomb.Store(p)
	delete(sh.m, key) // later callers start a new load
	f.detached = true
	return p
}

// fenceAll fences every flight, for a flush, a pattern invalidation or Close (match
// nil matches every key) (I2).
func (ft *flightTable[K, V]) fenceAll(c *Cache[K, V], match func(K) bool) {
	for i := range ft.shards {
		sh := &ft.shards[i]
		sh.mu.Lock()
		for key, f := range sh.m {
			if match == nil || match(key) {
				f.keyTomb.Store(c.t.pos.Add(1))
				delete(sh.m, key)
				f.detached = true
			}
		}
		sh.mu.Unlock()
	}
}

// load runs or joins the load of key and returns its result. fill is the fill the
// call is made in, if any.
func (c *Cache[K, V]) load(ctx context.Context, fill *fillState, key K, loader Loader[K, V], cfg callConfig) result[V] {
	sh, h := c.flights.shard(key)
	for {
		start := c.t.pos.Load()
		sh.mu.Lock()
		f := sh.m[key]
		var runInline func()
		if f == nil || f.keyTomb.Load() > f.start {
			// A load may have stored the value and left the table between the
			// caller's miss and this lock: look again before loading (a load stores
			// before it leaves the table, so one of the two is seen).
			if r, ok := c.lookup(key); ok {
				sh.mu.Unlock()
				return r
			}
			if f, runInline = c.startFlight(ctx, fill, sh, key, h, loader, cfg); f == nil {
				sh.mu.Unlock()
				return result[V]{err: ErrClosed}
			}
		}
		f.waiters++
		sh.mu.Unlock()
		if runInline != nil {
			runInline() // Inline: this caller runs the loader; f.done is closed when it returns
		}

		if fill != nil && !fill.waitFor(f.fs) {
			c.leave(sh, key, f)
			return result[V]{err: fmt.Errorf("%w: key %v (through a load another caller started)", ErrLoadCycle, key)}
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			fill.waited(f.fs)
			c.leave(sh, key, f)
			return result[V]{err: ctx.Err()}
		}
		fill.waited(f.fs)
		// G0': a caller that started after an invalidation may take the result of a
		// load whose value dates from before it (its effective position f.pos: the
		// fill position, or older when a nested read could not be checked, I3) only
		// if the value is still current now. Errors other than ErrNotFound are not
		// values and are shared as they are.
		valueResult := f.panicked == nil && (f.err == nil || errors.Is(f.err, ErrNotFound))
		checked := valueResult && (start > f.pos || fill != nil) && c.stillValid(f)
		retry := valueResult && start > f.pos && !checked
		c.leave(sh, key, f)
		if f.panicked != nil {
			panic(f.panicked)
		}
		if retry {
			continue
		}
		return result[V]{val: f.val, err: f.err, ids: f.deps.ids, names: f.deps.names, pos: f.pos, l2: f.l2, fresh: valueResult, checked: checked}
	}
}

// stillValid reports whether a finished flight's value is current now (I3).
func (c *Cache[K, V]) stillValid(f *flight[V]) bool {
	return !f.fenced && f.keyTomb.Load() <= f.start && c.t.currentAt(f.deps.ids, f.pos)
}

// leave ends one caller's wait. When the last caller leaves an unfinished load, the
// load is abandoned (I2): fenced for good, its loader's context cancelled, and out of
// the table so nobody joins it.
func (c *Cache[K, V]) leave(sh *flightShard[K, V], key K, f *flight[V]) {
	defer pause(pointLeft)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	f.waiters--
	if f.waiters > 0 {
		return
	}
	if !f.finished {
		f.abandoned = true
		f.keyTomb.Store(math.MaxUint64)
		f.cancel()
		if !f.detached && sh.m[key] == f {
			delete(sh.m, key)
		}
		f.detached = true
		c.stats.abandoned.Add(1)
	}
}

// startFlight registers a new flight for key and starts its loader, or returns nil
// when the cache is closed. The caller holds sh.mu.
func (c *Cache[K, V]) startFlight(ctx context.Context, parent *fillState, sh *flightShard[K, V], key K, h uint64, loader Loader[K, V], cfg callConfig) (*flight[V], func()) {
	// Under the shard lock: Close sets closed before it fences the table, so either
	// this sees closed or Close sees the flight (I2).
	if c.closed.Load() || !c.loaders.add() {
		return nil, nil
	}
	base := context.WithoutCancel(ctx)
	if cfg.inline {
		base = ctx // Inline: the caller's cancellation reaches the loader
	}
	lctx, cancel := context.WithCancel(base)
	stopLife := context.AfterFunc(c.life, cancel)
	f := &flight[V]{done: make(chan struct{}), cancel: cancel, start: c.t.pos.Load()}
	f.fs = &fillState{schemes: &c.hub.schemes, pos: f.start, cache: c, key: key, parent: parent}
	f.fs.deps.keepNames = c.hub.store != nil
	if old := sh.m[key]; old != nil {
		old.detached = true
	}
	sh.m[key] = f
	if cfg.inline {
		// Run by the caller once it has released the shard lock.
		return f, func() { c.run(lctx, stopLife, sh, key, f, loader, cfg) }
	}
	go c.run(lctx, stopLife, sh, key, f, loader, cfg)
	return f, nil
}

// refresh starts a background reload of key unless one is in flight (RefreshAfter).
func (c *Cache[K, V]) refresh(ctx context.Context, key K, loader Loader[K, V], opts []Option) {
	if c.closed.Load() || loader == nil {
		return
	}
	cfg, err := c.callConfig(opts, false)
	if err != nil {
		return
	}
	sh, h := c.flights.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[key] != nil {
		return
	}
	var parent *fillState
	if st := stateOf(ctx); st != nil {
		parent = st.fill
	}
	cfg.refresh = true
	cfg.inline = false // a refresh runs in the background whatever the call said
	if f, _ := c.startFlight(ctx, parent, sh, key, h, loader, cfg); f != nil {
		c.stats.refreshes.Add(1)
		c.record(EventRefresh)
	}
}

// run executes the loader of flight f and stores its result.
func (c *Cache[K, V]) run(lctx context.Context, stopLife func() bool, sh *flightShard[K, V], key K, f *flight[V], loader Loader[K, V], cfg callConfig) {
	fs := f.fs
	fs.declare(cfg.deps)
	// The loader's context carries its fill and nothing of the caller's request
	// scope: a flight is shared by requests, and a memo answer of one request must
	// not reach another through it.
	lctx = context.WithValue(lctx, ctxKey{}, &ctxState{fill: fs})
	if c.hub.strict != nil {
		defer c.hub.strict.enter(fs)()
	}
	returned := false
	var sr storeRead[V]
	defer func() {
		if !returned && f.panicked == nil {
			// The loader's goroutine exited without a return (runtime.Goexit): its
			// callers must not wait for ever.
			var zero V
			f.val, f.err = zero, ErrLoaderExited
			c.stats.loadErrors.Add(1)
		}
		c.finish(sh, key, f)
		// The store is filled after the callers have their value: its round trip
		// delays nobody but the processes waiting for this one's lease.
		c.fillStore(lctx, key, f, &sr, cfg)
		stopLife()
		c.loaders.done()
	}()
	pause(pointFillBegun)
	if c.sl != nil {
		// The hub's position was read when the flight began: before the store is
		// read, so an L1 fill from the store is fenced like a load.
		c.readStore(lctx, key, fs, &sr, cfg.refresh)
	}
	if sr.hit {
		returned = true
		f.val, f.err = sr.val, nil
		if sr.neg {
			f.err = ErrNotFound
		}
		if sr.ttl > 0 {
			// The L1 entry keeps the store entry's remaining lifetime.
			cfg.ttl, cfg.ttlSet = sr.ttl, true
			cfg.staleGrace, cfg.refreshAfter = 0, 0
		}
	} else {
		began := time.Now()
		func() {
			defer func() {
				if v := recover(); v != nil {
					f.panicked = &PanicError{Value: v, Stack: debug.Stack()}
				}
			}()
			f.val, f.err = loader(lctx, key)
		}()
		returned = true
		c.stats.loads.Add(1)
		if c.rec != nil {
			err := f.err
			if f.panicked != nil {
				err = f.panicked
			}
			c.rec.RecordLoad(time.Since(began), err)
		}
	}
	pause(pointLoaded)
	deps, pos, l2, depErr := fs.result()
	f.deps, f.pos, f.l2 = deps, pos, l2
	cfg.l2 = l2
	if f.panicked == nil && depErr == nil && !sr.hit && sr.key != "" &&
		(f.err == nil || errors.Is(f.err, ErrNotFound) && c.o.NegativeTTL > 0) {
		// Encoded before the callers get the value: one that cannot be shared is
		// an error to them (Options.Codec), not a silent local-only value.
		neg := f.err != nil
		b, err := c.vc.encode(sr.key, f.val, neg)
		if err != nil {
			var zero V
			f.val, f.err = zero, err
			sr.key = ""
		}
		sr.blob, sr.neg = b, neg
	}
	switch {
	case f.panicked != nil:
		c.stats.loadErrors.Add(1)
	case depErr != nil && (f.err == nil || errors.Is(f.err, ErrNotFound)):
		// An invalid dependency, or a misuse found by the strict mode: the value
		// cannot be tracked, so it is neither cached nor returned as if it could be.
		var zero V
		f.val, f.err = zero, depErr
		c.stats.loadErrors.Add(1)
	case f.err == nil || errors.Is(f.err, ErrNotFound):
		neg := f.err != nil
		if neg {
			f.err = ErrNotFound
			var zero V
			f.val = zero
		}
		c.fill(sh, key, f, neg, cfg)
	default:
		c.stats.loadErrors.Add(1)
	}
}

// fill validates a loaded value and stores it unless its load was fenced or abandoned.
func (c *Cache[K, V]) fill(sh *flightShard[K, V], key K, f *flight[V], neg bool, cfg callConfig) {
	sh.mu.Lock()
	abandoned := f.abandoned
	sh.mu.Unlock()
	if abandoned {
		return
	}
	f.fenced = !c.t.validAt(f.deps.ids, f.pos)
	if f.fenced {
		c.stats.fenced.Add(1)
		c.record(EventFenced)
		return
	}
	if c.l1 == nil {
		return
	}
	pause(pointStoring)
	c.store(key, f.val, neg, f.deps.ids, f.deps.names, f.pos, &f.keyTomb, cfg)
}

// finish takes the flight out of the table and hands its result to the callers.
func (c *Cache[K, V]) finish(sh *flightShard[K, V], key K, f *flight[V]) {
	sh.mu.Lock()
	if !f.detached && sh.m[key] == f {
		delete(sh.m, key)
	}
	f.detached = true
	f.finished = true
	sh.mu.Unlock()
	f.cancel()
	close(f.done)
}

// A loaderSet counts a cache's running loaders, so that Close can wait for them.
type loaderSet struct {
	mu     sync.Mutex
	n      int
	closed bool
	idle   chan struct{} // closed when n drops to 0 after wait began
}

// add counts one more loader, or reports false once wait has begun.
func (s *loaderSet) add() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.n++
	return true
}

func (s *loaderSet) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n--
	if s.n == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// wait refuses new loaders and waits for the running ones, or for ctx.
func (s *loaderSet) wait(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	if s.n == 0 {
		s.mu.Unlock()
		return nil
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
