package fresh

import (
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A tracker holds the invalidation state of a hub: its position, the tombstone of every
// dependency that matters, and its floor (the epoch boundary). The invariants it keeps
// are stated in hub.go (I1 in particular); the sites that rely on them cite them.
//
// Invalidate advances the position P and records it as the tombstone of each
// dependency, which costs O(dependencies) however many entries depend on them. A fill
// reads P before its loader runs (its fill position) and its result is valid while
// every dependency's tombstone is at most that position. A hit checks the same
// inequality with a few atomic loads.
//
// Dependency records are interned: each entry points at the records of its
// dependencies. A dependency without a record has a tombstone of at most prunedMax
// (every path that forgets a tombstone raises prunedMax first, under the record's
// shard lock), so a record created later starts at prunedMax: it never forgets an
// invalidation, whoever creates it. Records are kept while entries hold them, and
// while their tombstone is newer than the oldest running fill, so that creating a
// record does not fence a running fill that did not need fencing: that part is for
// liveness only, safety never depends on it.
type tracker struct {
	// pos and floor are read by every hit; they change only on invalidations and
	// flushes, and sit on a cache line of their own, away from the counters that
	// every load writes.
	_     [64]byte
	pos   atomic.Uint64 // P: only grows
	floor atomic.Uint64 // positions below the floor are invalid (flush / epoch)
	// proofUntil is, with a Bus, the time (nanoseconds since start, monotonic) until
	// which the newest returned heartbeat proves this hub up to date; 0 without a
	// Bus. Every hit checks it (proven), because the watchdog that suspends the hub
	// when the proof runs out can run late: a process stopped (SIGSTOP, a VM pause)
	// past MaxStaleness resumes its readers as soon as its watchdog.
	proofUntil atomic.Int64
	_          [40]byte
	start      time.Time // the origin of proofUntil; set before any cache exists

	epoch atomic.Uint64 // counts floor raises, for Stats and bus messages

	// prunedMax bounds the tombstone of every dependency that has no record: the
	// highest tombstone among records that were dropped, or never created because no
	// fill was running. It is raised under the shard lock of the dependency whose
	// tombstone it takes over (I1).
	prunedMax atomic.Uint64
	// prunedKeys is prunedMax for the dependencies of nested values on keys
	// (keydep.go), kept apart so that the invalidations of other dependencies do not
	// make the checks of key writes more conservative.
	prunedKeys atomic.Uint64

	running atomic.Int64 // registered fills in progress
	seed    maphash.Seed
	shards  [trackerShards]recShard
	fills   [trackerShards]fillShard
}

const trackerShards = 64

// A depRecord is the interned state of one dependency.
type depRecord struct {
	tomb atomic.Uint64 // highest position at which the dependency was invalidated
	// pending counts invalidations of the dependency that have begun and not yet
	// written their tombstone (I1): a nested read must not take the record for
	// current while one has (currentAt).
	pending atomic.Int32
	refs    atomic.Int64 // live entries (and stores in progress) pointing at the record
	name    string       // canonical form
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

// A fillTicket registers a running fill and its position, so that prune keeps the
// records it could still need (for liveness: see tracker).
type fillTicket struct {
	pos   uint64
	shard uint32
	ended bool // guarded by the owner (the flight's shard lock)
}

func newTracker() *tracker {
	t := &tracker{seed: maphash.MakeSeed(), start: time.Now()}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*depRecord)
		t.fills[i].m = make(map[*fillTicket]struct{})
	}
	return t
}

func (t *tracker) shardOf(name string) *recShard {
	return &t.shards[maphash.String(t.seed, name)%trackerShards]
}

// prunedFor returns the register that bounds the tombstone of name when it has no
// record.
func (t *tracker) prunedFor(name string) *atomic.Uint64 {
	if strings.HasPrefix(name, kindKey) {
		return &t.prunedKeys // "key:" and "keys:"
	}
	return &t.prunedMax
}

// begin registers a fill and returns its ticket, which carries the fill position.
// The ticket is registered before the position is read, so a concurrent prune either
// sees the ticket or ran before the position was read (and so pruned only records
// with older tombstones).
func (t *tracker) begin(hint uint64) *fillTicket {
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

// end unregisters a fill. Its owner calls it once (fillTicket.ended).
func (t *tracker) end(tk *fillTicket) {
	sh := &t.fills[tk.shard]
	sh.mu.Lock()
	delete(sh.m, tk)
	sh.mu.Unlock()
	t.running.Add(-1)
}

// invalidate applies an invalidation of the named dependencies at a new position and
// returns it. It costs O(len(names)) map lookups.
//
// It marks the records pending before it takes the position and clears the marks once
// the tombstones are written, so that a reader who reads a position p, then finds a
// record neither pending nor invalidated after its entry, knows that every
// invalidation at or before p is reflected in that entry (see currentAt, I3).
func (t *tracker) invalidate(names []string) uint64 {
	var marked [8]*depRecord
	recs := marked[:0]
	for _, name := range names {
		sh := t.shardOf(name)
		sh.mu.Lock()
		r := sh.m[name]
		if r == nil && t.running.Load() != 0 {
			// Keep a record so that the running fills see the invalidation exactly;
			// prune drops it once they are done.
			r = &depRecord{name: name}
			r.tomb.Store(t.prunedFor(name).Load())
			sh.m[name] = r
		}
		if r != nil {
			r.pending.Add(1) // prune keeps a pending record
		}
		sh.mu.Unlock()
		recs = append(recs, r)
	}
	p := t.pos.Add(1)
	for i, name := range names {
		if r := recs[i]; r != nil {
			// I1: prune keeps a pending record, so the tombstone is written to the
			// record the map holds, before the mark that hides it from nested reads
			// is cleared; no lock is needed.
			maxStore(&r.tomb, p)
			r.pending.Add(-1)
			pause(pointInvalidated)
			continue
		}
		sh := t.shardOf(name)
		sh.mu.Lock()
		// I1: for a dependency that had no record, the tombstone (or prunedMax) is
		// written before the shard lock is released, so neither prune nor intern can
		// see the record, or its absence, without it.
		if r := sh.m[name]; r != nil {
			maxStore(&r.tomb, p) // created since by intern, from prunedMax
		} else {
			// Nothing held the dependency and no fill was running: a fill that
			// registered after the Load above read a position of at least p.
			maxStore(t.prunedFor(name), p)
		}
		sh.mu.Unlock()
		pause(pointInvalidated)
	}
	return p
}

// intern returns the records for names with their reference counts raised. A missing
// record is created with tombstone prunedMax (I1), so a value whose position is older
// than a forgotten invalidation fails validAt rather than being stored.
func (t *tracker) intern(names []string) []*depRecord {
	if len(names) == 0 {
		return nil
	}
	// One spare element: the nil that terminates an entry's dependency array
	// (depArray uses this backing array as it is).
	recs := make([]*depRecord, 0, len(names)+1)
	for _, name := range names {
		sh := t.shardOf(name)
		sh.mu.Lock()
		r := sh.m[name]
		if r == nil {
			r = &depRecord{name: name}
			r.tomb.Store(t.prunedFor(name).Load())
			sh.m[name] = r
		}
		r.refs.Add(1)
		sh.mu.Unlock()
		recs = append(recs, r)
	}
	return recs
}

// release lowers the reference counts of recs.
func (t *tracker) release(recs []*depRecord) {
	for _, r := range recs {
		r.refs.Add(-1)
	}
}

// validAt reports whether a value filled at pos with dependencies recs is still valid.
func (t *tracker) validAt(recs []*depRecord, pos uint64) bool {
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

// currentAt reports whether a value filled at pos with dependencies recs reflects
// every invalidation whose position was taken before the call: valid, and no
// invalidation of its dependencies half done (I3). Each record's pending mark is read
// before its tombstone, which an invalidation writes before it clears the mark.
func (t *tracker) currentAt(recs []*depRecord, pos uint64) bool {
	if pos < t.floor.Load() {
		return false
	}
	for _, r := range recs {
		if r.pending.Load() != 0 || r.tomb.Load() > pos {
			return false
		}
	}
	return true
}

// validNames reports whether a value filled at pos with the named dependencies is
// current, as currentAt does, without interning anything: a dependency without a
// record reads as prunedMax, an upper bound of its tombstone (I1).
func (t *tracker) validNames(names []string, pos uint64) bool {
	if pos < t.floor.Load() {
		return false
	}
	for _, name := range names {
		sh := t.shardOf(name)
		sh.mu.Lock()
		var tomb uint64
		pending := false
		if r := sh.m[name]; r != nil {
			pending = r.pending.Load() != 0
			tomb = r.tomb.Load()
		} else {
			tomb = t.prunedFor(name).Load()
		}
		sh.mu.Unlock()
		if pending || tomb > pos {
			return false
		}
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

// prune drops the records that no entry holds and whose tombstone is at most the
// position of every running fill. It returns the number of records dropped.
func (t *tracker) prune() int {
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
			if r.refs.Load() == 0 && r.pending.Load() == 0 && tomb <= oldest {
				// I1: prunedMax takes the tombstone over before the lock is released.
				maxStore(t.prunedFor(name), tomb)
				delete(sh.m, name)
				dropped++
			}
		}
		sh.mu.Unlock()
		pause(pointPruned)
	}
	return dropped
}

// records returns the number of interned dependency records.
func (t *tracker) records() int {
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
