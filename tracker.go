package fresh

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
)

// A Tracker holds the invalidation state of one in-process tier: its position, the
// tombstone of every dependency that matters, and its floor (the epoch boundary).
// Every Cache has one; caches given the same Tracker (Options.Tracker) share their
// invalidations synchronously and may nest each other's values in their fills with
// exact fencing.
//
// How it works (ARCHITECTURE.md §3): Invalidate advances the position P and records it
// as the tombstone of each dependency, which costs O(dependencies) however many
// entries depend on them. A fill reads P before its loader runs (its fill position) and
// its result is valid while every dependency's tombstone is at most that position. A
// hit checks the same inequality with a few atomic loads.
//
// Dependency records are interned: each entry points at the records of its
// dependencies. A record is dropped when no entry points at it and its tombstone is
// older than every running fill; a dependency with no record reads as tombstone 0,
// which is then safe (see lookupOrCreate and prune).
type Tracker struct {
	// pos and floor are read by every hit; they change only on invalidations and
	// flushes, and sit on a cache line of their own, away from the counters that
	// every load writes.
	_     [64]byte
	pos   atomic.Uint64 // P: only grows
	floor atomic.Uint64 // positions below the floor are invalid (flush / epoch)
	_     [48]byte

	epoch atomic.Uint64 // counts floor raises, for Stats and bus messages

	// prunedMax is the highest tombstone among records that were dropped, or that
	// were never created because no fill was running. A fill that is not registered
	// (Set with AsOf) and must create a record refuses to store if its position is
	// older than prunedMax: the record it would create might have forgotten an
	// invalidation it needs.
	prunedMax atomic.Uint64

	running atomic.Int64 // registered fills in progress
	seed    maphash.Seed
	shards  [trackerShards]recShard
	fills   [trackerShards]fillShard
}

const trackerShards = 64

// A depRecord is the interned state of one dependency.
type depRecord struct {
	tomb atomic.Uint64 // highest position at which the dependency was invalidated
	refs atomic.Int64  // live entries (and stores in progress) pointing at the record
	name string        // canonical form
}

type recShard struct {
	mu sync.Mutex
	m  map[string]*depRecord
	_  [40]byte // keep shards on separate cache lines
}

type fillShard struct {
	mu sync.Mutex
	m  map[*fillTicket]struct{}
	_  [40]byte
}

// A fillTicket registers a running fill and its position, so that prune keeps every
// record it could still need.
type fillTicket struct {
	pos   uint64
	shard uint32
}

// NewTracker returns an empty Tracker, for caches that should share one (see
// Options.Tracker).
func NewTracker() *Tracker {
	t := &Tracker{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*depRecord)
		t.fills[i].m = make(map[*fillTicket]struct{})
	}
	return t
}

// Position returns the tracker's current position. A value computed from data read
// after Position returned p may be stored with Set and AsOf(p): if any of its
// dependencies is invalidated after p, it is not stored (or stops being served).
func (t *Tracker) Position() uint64 { return t.pos.Load() }

func (t *Tracker) shardOf(name string) *recShard {
	return &t.shards[maphash.String(t.seed, name)%trackerShards]
}

// begin registers a fill and returns its ticket, which carries the fill position.
// The ticket is registered before the position is read, so a concurrent prune either
// sees the ticket or ran before the position was read (and so pruned only records
// with older tombstones).
func (t *Tracker) begin(hint uint64) *fillTicket {
	t.running.Add(1)
	s := uint32(hint % trackerShards)
	tk := &fillTicket{shard: s}
	sh := &t.fills[s]
	sh.mu.Lock()
	tk.pos = t.pos.Load()
	sh.m[tk] = struct{}{}
	sh.mu.Unlock()
	return tk
}

func (t *Tracker) end(tk *fillTicket) {
	sh := &t.fills[tk.shard]
	sh.mu.Lock()
	delete(sh.m, tk)
	sh.mu.Unlock()
	t.running.Add(-1)
}

// invalidate applies an invalidation of the named dependencies at a new position and
// returns it. It costs O(len(names)) map lookups.
func (t *Tracker) invalidate(names []string) uint64 {
	p := t.pos.Add(1)
	for _, name := range names {
		sh := t.shardOf(name)
		sh.mu.Lock()
		r := sh.m[name]
		if r == nil {
			// Nothing holds the dependency. If no fill is running, nothing can need
			// this invalidation later except an unregistered fill, which checks
			// prunedMax. Otherwise keep a record so the running fills see it; prune
			// drops it once they are done. (A fill that registers after the Load
			// below read its position after the Add above, so it reads p or later.)
			if t.running.Load() == 0 {
				sh.mu.Unlock()
				maxStore(&t.prunedMax, p)
				continue
			}
			r = &depRecord{name: name}
			sh.m[name] = r
		}
		sh.mu.Unlock()
		maxStore(&r.tomb, p)
	}
	return p
}

// intern returns the records for names with their reference counts raised, for a
// value valid as of position pos. A missing record is created with tombstone 0, which
// is exact when nothing the value needs can have been forgotten: pos is at or after
// the position of a registered fill (ticketPos; prune keeps every record such a fill
// needs), or at or after prunedMax. Otherwise intern returns ok false and holds nothing.
func (t *Tracker) intern(names []string, pos, ticketPos uint64) (recs []*depRecord, ok bool) {
	if len(names) == 0 {
		return nil, true
	}
	// One spare element: the nil that terminates an entry's dependency array
	// (depArray uses this backing array as it is).
	recs = make([]*depRecord, 0, len(names)+1)
	for _, name := range names {
		sh := t.shardOf(name)
		sh.mu.Lock()
		r := sh.m[name]
		if r == nil {
			if pos < ticketPos && pos < t.prunedMax.Load() {
				sh.mu.Unlock()
				t.release(recs)
				return nil, false
			}
			r = &depRecord{name: name}
			sh.m[name] = r
		}
		r.refs.Add(1)
		sh.mu.Unlock()
		recs = append(recs, r)
	}
	return recs, true
}

// release lowers the reference counts of recs.
func (t *Tracker) release(recs []*depRecord) {
	for _, r := range recs {
		r.refs.Add(-1)
	}
}

// validAt reports whether a value filled at pos with dependencies recs is still valid.
func (t *Tracker) validAt(recs []*depRecord, pos uint64) bool {
	if pos < t.floor.Load() {
		return false
	}
	for _, r := range recs {
		if r.tomb.Load() > pos {
			return false
		}
	}
	return true
}

// flush invalidates everything: it raises the floor to a new position. It returns
// the new position.
func (t *Tracker) flush() uint64 {
	p := t.pos.Add(1)
	maxStore(&t.floor, p)
	t.epoch.Add(1)
	return p
}

// suspend makes every entry and fill invalid until resume: the floor is raised
// beyond any position. It is used while the tier cannot prove it is up to date.
func (t *Tracker) suspend() {
	t.floor.Store(math.MaxUint64)
	t.epoch.Add(1)
}

// resume ends a suspension with a flush: nothing from before it is served again.
func (t *Tracker) resume() {
	p := t.pos.Add(1)
	t.floor.Store(p)
}

// prune drops the records that no entry holds and whose tombstone is older than every
// running fill. It returns the number of records dropped.
func (t *Tracker) prune() int {
	oldest := t.pos.Load()
	for i := range t.fills {
		sh := &t.fills[i]
		sh.mu.Lock()
		for tk := range sh.m {
			oldest = min(oldest, tk.pos)
		}
		sh.mu.Unlock()
	}
	dropped := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for name, r := range sh.m {
			// refs only rises under the shard lock (intern), so a zero seen here stays
			// zero until the record is gone from the map.
			tomb := r.tomb.Load()
			if r.refs.Load() == 0 && tomb < oldest {
				delete(sh.m, name)
				maxStore(&t.prunedMax, tomb)
				dropped++
			}
		}
		sh.mu.Unlock()
	}
	return dropped
}

// records returns the number of interned dependency records.
func (t *Tracker) records() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// maxStore raises a to v if v is larger (a max-register).
func maxStore(a *atomic.Uint64, v uint64) {
	for {
		cur := a.Load()
		if cur >= v || a.CompareAndSwap(cur, v) {
			return
		}
	}
}
