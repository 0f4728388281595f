package fresh

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// A tracker holds the invalidation state of a hub: its position, the tombstones of
// the dependencies, and its floor (the epoch boundary). The invariants it keeps are
// stated in hub.go (I1 in particular); the sites that rely on them cite them.
//
// Invalidate advances the position P and records it as the tombstone of each
// dependency, which costs O(dependencies) however many entries depend on them. A fill
// reads P before its loader runs (its fill position) and its result is valid while
// every dependency's tombstone is at most that position. A hit checks the same
// inequality with a few atomic loads.
//
// Tombstones are not kept per dependency but in a table of slots: a dependency is
// known by the 64-bit hash of its canonical name (its id), which selects two slots,
// and its tombstone is read as the smaller of the two. Every invalidation raises both
// slots of each name it invalidates, and a slot is never lowered, so the smaller of
// the two slots is at least the dependency's own tombstone: two dependencies that
// share slots may be invalidated together (a value is dropped that need not be), but
// no value outlives an invalidation of its own dependency (I1). The table costs no
// record, map entry or name per dependency, nothing to intern on a fill and nothing
// to prune; it grows with the capacity of the hub's caches (reserve), 8 bytes per
// slot, which keeps the chance that an invalidation also hits both slots of an
// unrelated dependency small.
type tracker struct {
	// pos, floor, proofUntil and tab are read by every hit; they change only on
	// invalidations, flushes and growth, and sit on a cache line of their own, away
	// from the counters that every load writes.
	_     [64]byte
	pos   atomic.Uint64 // P: only grows
	floor atomic.Uint64 // positions below the floor are invalid (flush / epoch)
	// proofUntil is, with a Bus, the time (nanoseconds since start, monotonic) until
	// which the newest returned heartbeat proves this hub up to date; 0 without a
	// Bus. Every hit checks it (proven), because the watchdog that suspends the hub
	// when the proof runs out can run late: a process stopped (SIGSTOP, a VM pause)
	// past MaxStaleness resumes its readers as soon as its watchdog.
	proofUntil atomic.Int64
	tab        atomic.Pointer[slotTable]
	// busy counts the invalidations in progress: each raises it before it takes its
	// position and lowers it once its tombstones are written, so a reader that reads
	// the position p and then finds busy at 0 knows that every invalidation at or
	// before p has written its tombstones (I3; check, currentAt).
	busy  atomic.Int64
	_     [24]byte
	start time.Time // the origin of proofUntil; set before any cache exists

	epoch atomic.Uint64 // counts floor raises, for Stats and bus messages

	// growMu is held shared by every invalidation, from its first pending mark to
	// its last tombstone, and exclusively by growth, so that no tombstone is written
	// to a table that is being copied.
	growMu   sync.RWMutex
	reserved atomic.Int64  // the capacity the hub's caches asked for (reserve)
	fixed    bool          // the table's size was set by HubOptions.DependencySlots
	growAt   atomic.Uint64 // the position from which invalidations grow the table (churn)
	growing  atomic.Bool   // a churn growth is running
}

// A slotTable holds the tombstones: each slot is a max-register of the positions of
// the invalidations of the names that select it.
type slotTable struct {
	mask  uint64
	tombs []atomic.Uint64
}

const (
	minSlots = 1 << 12
	maxSlots = 1 << 26
)

func newSlotTable(n int) *slotTable {
	return &slotTable{mask: uint64(n - 1), tombs: make([]atomic.Uint64, n)}
}

// slots returns the two slots of id.
func (s *slotTable) slots(id uint64) (a, b uint64) {
	a = id & s.mask
	b = bits.RotateLeft64(id, 32) & s.mask
	if b == a {
		b = a ^ 1 // two distinct slots, in any table of two or more
	}
	return a, b
}

// tomb returns an upper bound of id's tombstone.
func (s *slotTable) tomb(id uint64) uint64 {
	a, b := s.slots(id)
	return min(s.tombs[a].Load(), s.tombs[b].Load())
}

// after reports whether id's tombstone bound, tomb(id), is after pos. It reads the
// second slot only when the first is after pos, which under churn elsewhere it
// seldom is.
func (s *slotTable) after(id, pos uint64) bool {
	a, b := s.slots(id)
	return s.tombs[a].Load() > pos && s.tombs[b].Load() > pos
}

func newTracker(slots int) *tracker {
	t := &tracker{start: time.Now()}
	if slots > 0 {
		t.fixed = true
		t.tab.Store(newSlotTable(max(2, int(roundPow2(uint64(slots))))))
	} else {
		t.tab.Store(newSlotTable(minSlots))
	}
	t.growAt.Store(uint64(t.slotCount() / 2))
	return t
}

// roundPow2 returns the smallest power of two at least n (n ≥ 1).
func roundPow2(n uint64) uint64 {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len64(n-1)
}

// reserve grows the table for a cache of capacity n more entries (n < 0: a cache
// closed): the table keeps one slot per entry the hub's caches may hold, from
// minSlots up to reserveCap, allocated up front; beyond that only invalidations grow
// it (churned), since slots matter only to entries that live through invalidations.
func (t *tracker) reserve(n int) {
	t.grow(roundPow2(uint64(min(max(t.reserved.Add(int64(n)), 1), reserveCap))))
}

// reserveCap bounds the table reserve allocates for capacity alone (8 MiB): a cache
// configured for far more entries than it holds pays no more up front.
const reserveCap = 1 << 20

// churnFactor bounds the growth under invalidations: the table grows up to
// churnFactor slots per entry reserved (and to at least churnMin slots).
const (
	churnFactor = 4
	churnMin    = 1 << 16
)

// churned grows the table when the invalidations since its last growth reach half
// its size, up to churnFactor times the capacity reserved. A dependency is dropped
// with an unrelated one when both its slots were raised after its entry's position:
// the chance grows with the invalidations an entry lives through, relative to the
// table's size, so a table that stays larger than the stream of invalidations keeps
// it small for the entries filled since.
func (t *tracker) churned(p uint64) {
	if t.fixed || !t.growing.CompareAndSwap(false, true) {
		return
	}
	defer t.growing.Store(false)
	if p < t.growAt.Load() {
		return // another goroutine grew the table meanwhile
	}
	limit := roundPow2(uint64(min(max(churnFactor*t.reserved.Load(), churnMin), maxSlots)))
	size := uint64(t.slotCount())
	if size < limit {
		t.grow(2 * size)
		size *= 2
	}
	t.growAt.Store(p + size/2)
}

// grow makes the table at least want slots. Growth doubles the table: slot i of the
// new table starts at the old table's slot i mod its size, whose names include every
// name that selects i, so no tombstone is lowered (I1).
func (t *tracker) grow(want uint64) {
	if t.fixed || uint64(t.slotCount()) >= want {
		return
	}
	t.growMu.Lock()
	defer t.growMu.Unlock()
	old := t.tab.Load()
	if uint64(len(old.tombs)) >= want {
		return
	}
	nt := newSlotTable(int(want))
	for i := range nt.tombs {
		nt.tombs[i].Store(old.tombs[uint64(i)&old.mask].Load())
	}
	t.tab.Store(nt)
	t.growAt.Store(t.pos.Load() + want/2)
}

// slotCount returns the size of the tombstone table.
func (t *tracker) slotCount() int { return len(t.tab.Load().tombs) }

// invalidate applies an invalidation of the named dependencies at a new position and
// returns it. It costs O(len(names)).
func (t *tracker) invalidate(names []string) uint64 {
	var buf [8]uint64
	ids := buf[:0]
	for _, n := range names {
		ids = append(ids, depID(n))
	}
	return t.invalidateIDs(ids)
}

// invalidateIDs applies an invalidation of the dependencies ids at a new position and
// returns it. It counts itself busy from before it takes the position until its
// tombstones are written (I3).
func (t *tracker) invalidateIDs(ids []uint64) uint64 {
	p := t.write(ids)
	if p >= t.growAt.Load() {
		t.churned(p)
	}
	return p
}

func (t *tracker) write(ids []uint64) uint64 {
	t.growMu.RLock()
	defer t.growMu.RUnlock()
	s := t.tab.Load()
	t.busy.Add(1)
	p := t.pos.Add(1)
	pause(pointPositionTaken)
	for _, id := range ids {
		a, b := s.slots(id)
		maxStore(&s.tombs[a], p)
		maxStore(&s.tombs[b], p)
		pause(pointInvalidated)
	}
	t.busy.Add(-1) // I3: after every tombstone
	return p
}

// validAt reports whether a value filled at pos with dependencies ids is still valid.
func (t *tracker) validAt(ids []uint64, pos uint64) bool {
	if pos < t.floor.Load() {
		return false
	}
	s := t.tab.Load()
	for _, id := range ids {
		if s.after(id, pos) {
			return false
		}
	}
	return true
}

// currentAt reports whether a value filled at pos with dependencies ids reflects
// every invalidation whose position was taken before the call: valid, and no
// invalidation half done (I3). busy is read before the tombstones, which an
// invalidation writes before it lowers busy.
func (t *tracker) currentAt(ids []uint64, pos uint64) bool {
	if pos < t.floor.Load() || t.busy.Load() != 0 {
		return false
	}
	s := t.tab.Load()
	for _, id := range ids {
		if s.after(id, pos) {
			return false
		}
	}
	return true
}

// check reports whether an entry filled at pos with the depSet ds is still valid,
// given p, the hub's position read before the call (and above pos). It answers from
// the depSet's memo when no invalidation took a position since the memo's, and
// otherwise looks at the tombstones and raises the memo to p when no invalidation was
// in progress: an invalidation that took a position up to p counted itself busy
// before that, and stops only after writing its tombstones, so with busy at 0 the
// look saw all of them (I3).
func (t *tracker) check(ds unsafe.Pointer, pos, p uint64) bool {
	hdr := atomic.LoadUint64((*uint64)(ds))
	if hdr&memoMask >= p {
		return true
	}
	quiet := t.busy.Load() == 0 // after p, before the tombstones
	s := t.tab.Load()           // after p: a table grown since holds every tombstone up to p
	for _, id := range depSetIDs(ds, hdr) {
		if s.after(id, pos) {
			return false
		}
	}
	if quiet && p <= memoMask {
		// Racing hits may store older memos over newer ones: each was true when
		// stored, and a memo only ever says "valid up to here".
		atomic.StoreUint64((*uint64)(ds), hdr&^memoMask|p)
	}
	return true
}

// proven reports whether the hub may serve from memory now (G1): without a Bus
// always; with one, only until its newest returned heartbeat is MaxStaleness old.
func (t *tracker) proven() bool {
	u := t.proofUntil.Load()
	return u == 0 || int64(time.Since(t.start)) < u
}

// flush invalidates everything: it raises the floor to a new position. It returns
// the new position. The hub calls it under its suspension lock (I5).
func (t *tracker) flush() uint64 {
	p := t.pos.Add(1)
	maxStore(&t.floor, p)
	t.epoch.Add(1)
	return p
}

// suspend makes every entry and fill invalid until resume: the floor is raised
// beyond any position. The hub calls it under its suspension lock (I5).
func (t *tracker) suspend() {
	t.floor.Store(math.MaxUint64)
	t.epoch.Add(1)
}

// resume ends a suspension with a flush: nothing from before it is served again.
// The hub calls it under its suspension lock (I5).
func (t *tracker) resume() {
	p := t.pos.Add(1)
	t.floor.Store(p)
}

// suspended reports whether the tracker serves nothing.
func (t *tracker) suspended() bool { return t.floor.Load() == math.MaxUint64 }

// maxStore raises a to v if v is larger (a max-register).
func maxStore(a *atomic.Uint64, v uint64) {
	for {
		cur := a.Load()
		if cur >= v || a.CompareAndSwap(cur, v) {
			return
		}
	}
}
