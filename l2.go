package fresh

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// A storeLink is a hub's connection to its Store (HubOptions.Store): the timeouts,
// the store's epoch as last seen, and the failure policy.
//
// # Order of tiers
//
// Reads go L1, then the Store, then the loader. A fill reads the hub's position, then
// the store's (both before the loader runs), and fills each tier fenced by its own
// position, so a value that either tier refuses is still returned to its callers.
//
// Writes (Invalidate, InvalidateRows, Delete, Set, Flush, InvalidatePattern) go to the
// hub's tracker, then to the Store, then to the Bus, each step returning before the
// next begins. A peer that hears the bus message and misses in L1 therefore reads a
// store that has already applied the write: the L2 entry the write killed is refused
// there, and a fill the peer began before the write is refused too.
//
// # Failures
//
// A read that fails or times out is a miss; a fill that fails is dropped. Either
// takes the store out of use: reads go to the loader and fills are skipped until a
// probe succeeds. An invalidation that cannot reach the store is applied here and on
// the bus; the store is marked dirty and, once it answers again, flushed (a new
// epoch) before anything is read from it, so nothing written before the outage is
// trusted after it. The outage and the recovery are logged once each.
//
// When the store's epoch changes under the hub (a flush by another process, a
// restart or failover the store detected), the hub flushes its caches: entries filled
// from the old epoch may have missed invalidations that the store lost.
type storeLink struct {
	h        *Hub
	s        Store
	leaser   Leaser // nil when leases are off
	timeout  time.Duration
	leaseTTL time.Duration
	retry    time.Duration

	down  atomic.Bool
	epoch atomic.Uint64 // the store's epoch as last seen; 0 before any

	mu       sync.Mutex
	dirty    uint64 // invalidations that missed the store; flushed on recovery
	cleaned  uint64 // value of dirty covered by the last successful flush
	probing  bool
	stop     chan struct{}
	probeEnd chan struct{}

	errors, epochChanges atomic.Uint64
}

// Defaults of the store options.
const (
	defaultStoreTimeout = 500 * time.Millisecond
	defaultLeaseTTL     = 5 * time.Second
	storeRetry          = 250 * time.Millisecond
	maxLeaseTTL         = time.Hour
)

func newStoreLink(h *Hub) *storeLink {
	o := &h.o
	sl := &storeLink{h: h, s: o.Store, timeout: o.StoreTimeout, retry: storeRetry, stop: make(chan struct{})}
	if l, ok := o.Store.(Leaser); ok && o.LeaseTTL >= 0 {
		sl.leaser, sl.leaseTTL = l, o.LeaseTTL
	}
	return sl
}

// usable reports whether the store may be read and filled.
func (sl *storeLink) usable() bool { return sl != nil && !sl.down.Load() }

func (sl *storeLink) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, sl.timeout)
}

// saw records the store's epoch of a position it returned. A change flushes the
// hub's caches (see storeLink).
func (sl *storeLink) saw(p Position) {
	old := sl.epoch.Load()
	if old == p.Epoch || p.Epoch == 0 {
		return
	}
	if !sl.epoch.CompareAndSwap(old, p.Epoch) || old == 0 {
		return
	}
	sl.epochChanges.Add(1)
	sl.h.o.Logger.Warn("fresh: the shared store started a new epoch; flushing the caches filled from it",
		"old", old, "new", p.Epoch)
	sl.h.flushAll()
}

// failed takes the store out of use after err; dirty says an invalidation was lost.
// The transition is logged once, and a probe brings the store back.
func (sl *storeLink) failed(err error, dirty bool) {
	if errors.Is(err, context.Canceled) && !dirty {
		return // the caller left: not the store's fault
	}
	sl.errors.Add(1)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if dirty {
		sl.dirty++
	}
	if sl.down.Swap(true) {
		return
	}
	sl.h.o.Logger.Warn("fresh: the shared store is unavailable; reading through to the loaders until it answers", "err", err)
	sl.startProbeLocked()
}

func (sl *storeLink) startProbeLocked() {
	if sl.probing || sl.h.isClosed() {
		return
	}
	sl.probing = true
	sl.probeEnd = make(chan struct{})
	go sl.probe(sl.probeEnd)
}

// probe retries the store until it answers, flushing it first when an invalidation
// missed it, and then puts it back in use.
func (sl *storeLink) probe(end chan struct{}) {
	defer close(end)
	tick := time.NewTicker(sl.retry)
	defer tick.Stop()
	for {
		select {
		case <-sl.stop:
			return
		case <-tick.C:
		}
		sl.mu.Lock()
		dirty := sl.dirty
		needFlush := dirty != sl.cleaned
		sl.mu.Unlock()
		ctx, cancel := sl.ctx(context.Background())
		var p Position
		var err error
		if needFlush {
			p, err = sl.s.Flush(ctx)
		} else {
			p, err = sl.s.Position(ctx)
		}
		cancel()
		if err != nil {
			sl.errors.Add(1)
			continue
		}
		sl.saw(p)
		sl.mu.Lock()
		if needFlush {
			sl.cleaned = dirty
		}
		if sl.dirty != sl.cleaned {
			sl.mu.Unlock() // an invalidation missed the store during the flush: again
			continue
		}
		sl.down.Store(false)
		sl.probing = false
		sl.mu.Unlock()
		sl.h.o.Logger.Info("fresh: the shared store answers again", "flushed", needFlush)
		return
	}
}

// close stops the probe. The hub does not close the Store: whoever made it does.
func (sl *storeLink) close() {
	sl.mu.Lock()
	select {
	case <-sl.stop:
	default:
		close(sl.stop)
	}
	end := sl.probeEnd
	sl.mu.Unlock()
	if end != nil {
		<-end
	}
}

// invalidatePos is invalidate, returning the store's position after it, or a zero
// Position when the store did not take it.
func (sl *storeLink) invalidatePos(ctx context.Context, names []string) Position {
	if len(names) == 0 {
		return Position{}
	}
	if sl.down.Load() {
		sl.failed(errNoStore, true)
		return Position{}
	}
	sctx, cancel := sl.ctx(context.WithoutCancel(ctx))
	defer cancel()
	p, err := sl.s.Invalidate(sctx, names)
	if err != nil {
		sl.failed(fmt.Errorf("fresh: store invalidate: %w", err), true)
		return Position{}
	}
	sl.saw(p)
	return p
}

// get reads key from the store; any failure is a miss.
func (sl *storeLink) get(ctx context.Context, key string) (StoreEntry, bool) {
	sctx, cancel := sl.ctx(ctx)
	defer cancel()
	e, ok, err := sl.s.Get(sctx, key)
	if err != nil {
		sl.failed(fmt.Errorf("fresh: store get: %w", err), false)
		return StoreEntry{}, false
	}
	if ok {
		sl.saw(e.At)
	}
	return e, ok
}

// position reads the store's position; ok is false when it cannot be read.
func (sl *storeLink) position(ctx context.Context) (Position, bool) {
	sctx, cancel := sl.ctx(ctx)
	defer cancel()
	p, err := sl.s.Position(sctx)
	if err != nil || p.Epoch == 0 {
		if err == nil {
			err = errors.New("epoch 0")
		}
		sl.failed(fmt.Errorf("fresh: store position: %w", err), false)
		return Position{}, false
	}
	sl.saw(p)
	return p, true
}

// fill stores value in the store, fenced by at.
func (sl *storeLink) fill(ctx context.Context, key string, value []byte, deps []string, at Position, ttl time.Duration) (stored bool) {
	if !sl.usable() {
		return false
	}
	sctx, cancel := sl.ctx(context.WithoutCancel(ctx))
	defer cancel()
	stored, err := sl.s.Fill(sctx, key, value, deps, at, ttl)
	if err != nil {
		sl.failed(fmt.Errorf("fresh: store fill: %w", err), false)
		return false
	}
	return stored
}
