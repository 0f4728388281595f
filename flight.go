package fresh

import (
	"context"
	"errors"
	"hash/maphash"
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
	tk     *fillTicket // carries the fill position
	cancel context.CancelFunc

	// keyTomb is the position of a Delete or Set of the key made while the load ran:
	// the load must not store then, and callers arriving after must not join it.
	keyTomb atomic.Uint64

	// Guarded by the shard's lock.
	waiters  int  // callers waiting for the result
	finished bool // the loader returned and done is closed
	recs     []*depRecord
	detached bool // no longer in the table

	val      V
	err      error
	panicked *PanicError
	fenced   bool   // the result was refused by the fence: callers arriving late must not take it
	pos      uint64 // effective fill position (the oldest of the fill's and its nested values')
	names    []string
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
// returns a position at which the write's own entry is valid.
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

// fenceAll fences every flight, for a flush or a pattern invalidation (match nil
// matches every key).
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

// load runs or joins the load of key and returns its result.
func (c *Cache[K, V]) load(ctx context.Context, key K, loader Loader[K, V], cfg callConfig) result[V] {
	sh, h := c.flights.shard(key)
	for {
		start := c.t.pos.Load()
		sh.mu.Lock()
		f := sh.m[key]
		if f == nil || f.keyTomb.Load() > f.tk.pos {
			// A load may have stored the value and left the table between the
			// caller's miss and this lock: look again before loading (a load stores
			// before it leaves the table, so one of the two is seen).
			if r, ok := c.lookup(key); ok {
				sh.mu.Unlock()
				return r
			}
			f = c.startFlight(ctx, sh, key, h, loader, cfg)
		}
		f.waiters++
		sh.mu.Unlock()

		select {
		case <-f.done:
		case <-ctx.Done():
			c.leave(sh, key, f)
			return result[V]{err: ctx.Err()}
		}
		// G0': a caller that started after an invalidation may take the result of a
		// load that began before it only if the load's value is still valid now.
		// Errors other than ErrNotFound are not values and are shared as they are.
		// The check runs before leave: the flight holds its records while any caller
		// waits, so they cannot be released or pruned under it.
		valueResult := f.panicked == nil && (f.err == nil || errors.Is(f.err, ErrNotFound))
		retry := valueResult && start > f.tk.pos && !c.stillValid(f)
		c.leave(sh, key, f)
		if f.panicked != nil {
			panic(f.panicked)
		}
		if retry {
			continue
		}
		return result[V]{val: f.val, err: f.err, names: f.names, pos: f.pos, fresh: f.err == nil || errors.Is(f.err, ErrNotFound)}
	}
}

// stillValid reports whether a finished flight's value is valid now. Its records are
// held while callers wait, so they cannot have been pruned.
func (c *Cache[K, V]) stillValid(f *flight[V]) bool {
	return !f.fenced && f.keyTomb.Load() <= f.tk.pos && c.t.validAt(f.recs, f.pos)
}

// leave ends one caller's wait. When the last caller leaves an unfinished load, the
// loader's context is cancelled and the flight is taken out of the table so nobody
// joins a cancelled load; when the last leaves a finished one, its records are freed.
func (c *Cache[K, V]) leave(sh *flightShard[K, V], key K, f *flight[V]) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	f.waiters--
	if f.waiters > 0 {
		return
	}
	if !f.finished {
		f.cancel()
		if !f.detached && sh.m[key] == f {
			delete(sh.m, key)
		}
		f.detached = true
		return
	}
	c.t.release(f.recs)
	f.recs = nil
}

// startFlight registers a new flight for key and starts its loader. The caller holds
// sh.mu.
func (c *Cache[K, V]) startFlight(ctx context.Context, sh *flightShard[K, V], key K, h uint64, loader Loader[K, V], cfg callConfig) *flight[V] {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &flight[V]{done: make(chan struct{}), cancel: cancel, tk: c.t.begin(h)}
	if old := sh.m[key]; old != nil {
		old.detached = true
	}
	sh.m[key] = f
	var memo *requestMemo
	if st := stateOf(ctx); st != nil {
		memo = st.memo
	}
	go c.run(lctx, sh, key, f, loader, cfg, memo)
	return f
}

// refresh starts a background reload of key unless one is in flight (RefreshAfter).
func (c *Cache[K, V]) refresh(ctx context.Context, key K, loader Loader[K, V], opts []Option) {
	if c.closed.Load() {
		return
	}
	cfg, err := newCallConfig(opts)
	if err != nil {
		return
	}
	sh, h := c.flights.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[key] != nil {
		return
	}
	c.stats.refreshes.Add(1)
	c.record(EventRefresh)
	c.startFlight(ctx, sh, key, h, loader, cfg)
}

// run executes the loader of flight f and stores its result.
func (c *Cache[K, V]) run(lctx context.Context, sh *flightShard[K, V], key K, f *flight[V], loader Loader[K, V], cfg callConfig, memo *requestMemo) {
	fs := &fillState{tracker: c.t, schemes: &c.schemes, pos: f.tk.pos}
	fs.declare(cfg.deps)
	lctx = context.WithValue(lctx, ctxKey{}, &ctxState{fill: fs, memo: memo})
	began := time.Now()
	func() {
		defer func() {
			if v := recover(); v != nil {
				f.panicked = &PanicError{Value: v, Stack: debug.Stack()}
			}
		}()
		f.val, f.err = loader(lctx, key)
	}()
	c.stats.loads.Add(1)
	if c.rec != nil {
		err := f.err
		if f.panicked != nil {
			err = f.panicked
		}
		c.rec.RecordLoad(time.Since(began), err)
	}
	names, pos, depErr := fs.result()
	f.names, f.pos = names, pos
	switch {
	case f.panicked != nil:
		c.stats.loadErrors.Add(1)
	case depErr != nil && (f.err == nil || errors.Is(f.err, ErrNotFound)):
		// An invalid dependency: the value cannot be tracked, so it is neither cached
		// nor returned as if it could be.
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
		// Hold the records for the callers that arrive late (see stillValid), then
		// store; the entry takes its own hold.
		recs, ok := c.t.intern(names, pos, f.tk.pos)
		f.recs = recs
		f.fenced = !ok || !c.t.validAt(recs, pos)
		if f.fenced {
			c.stats.fenced.Add(1)
			c.record(EventFenced)
		} else if c.l1 != nil {
			for _, r := range recs {
				r.refs.Add(1) // the entry's own reference; safe, the flight holds one
			}
			c.store(key, f.val, neg, recs, pos, &f.keyTomb, cfg)
		}
	default:
		c.stats.loadErrors.Add(1)
	}
	c.t.end(f.tk)

	sh.mu.Lock()
	if !f.detached && sh.m[key] == f {
		delete(sh.m, key)
	}
	f.detached = true
	f.finished = true
	if f.waiters == 0 {
		c.t.release(f.recs)
		f.recs = nil
	}
	sh.mu.Unlock()
	f.cancel()
	close(f.done)
}
