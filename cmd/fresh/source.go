package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A source is the slow data source behind the cache, and the referee of the
// staleness check: it knows which version of each target a read that begins now
// must be served. memSource keeps it in this process; redisSource keeps it in Redis,
// for the readers and writers of a multi-process run (demo -redis).
type source interface {
	// article loads one row.
	article(ctx context.Context, id int) (article, error)
	// list loads the rows of a scope, in id order, and the scope's version.
	list(ctx context.Context, k scopeKey) ([]article, uint64, error)
	// commit changes row id with change and commits it. The caller invalidates what
	// the returned write dirties, then calls settle. change may be called more than
	// once, each time on the row as it is then.
	commit(ctx context.Context, id int, change func(*article)) (write, error)
	// settle records that w's invalidation has returned.
	settle(ctx context.Context, w write) error
	// want returns the version that a read of t beginning now is checked against.
	want(ctx context.Context, t *target) (uint64, error)
	// judge tells how bad a read of t was that began at begin, when want was the
	// version to check against, and was served got < want.
	judge(ctx context.Context, t *target, got, want uint64, begin time.Time) (verdict, error)
	// loadCount and writeCount return the loads and the commits made so far through
	// this value (in this process).
	loadCount() uint64
	writeCount() uint64
}

// A verdict is the judgement of a read served an older version than the one it was
// checked against.
type verdict struct {
	lag lag
	// For a redisSource: the version that superseded the one served, and how long
	// before the read began its invalidation had returned (lagStale, lagWithin).
	next uint64
	age  time.Duration
}

// A lag is how far behind a read was.
type lag uint8

const (
	// lagStale is a broken promise: the read began after the newer version was
	// settled (for a redisSource: more than MaxStaleness after its invalidation had
	// returned).
	lagStale lag = iota
	// lagWithin is a read served the older version within MaxStaleness of the
	// newer one's invalidation: what fresh allows across processes.
	lagWithin
	// lagPending is a read that began before the newer version's invalidation had
	// returned: the window between a commit and its invalidation, not promised.
	lagPending
)

// An article is one row of the simulated articles table.
type article struct {
	ID        int    `json:"id"`
	Category  string `json:"category"`
	Published bool   `json:"published"`
	// Version is the value of the source's write counter at the row's last write.
	Version uint64 `json:"version"`
}

// A scopeKey names the rows of one category with one published flag: the scope
// scheme {category, published} that the demo registers with fresh.
type scopeKey struct {
	category  string
	published bool
}

// A memSource is the source of a single-process run: an in-memory articles table
// whose every read pays a simulated round trip.
//
// Besides the rows, it keeps what the staleness check needs. Every write takes the
// next value of a global version counter; the row records it, and so do the scopes
// the row was in before and after the write (exactly the scopes InvalidateRows
// dirties). A loaded value carries the version of what it was built from.
//
// A write is settled once the writer's invalidation has returned: from then on,
// fresh promises that no read that begins gets older data. The settled versions are
// kept apart from the current ones because between a write and its invalidation a
// reader may legitimately be served the previous value.
type memSource struct {
	latency    time.Duration
	categories []string

	mu       sync.RWMutex
	rows     []article
	members  map[scopeKey]map[int]struct{} // the ids of the rows in each scope
	scopeVer map[scopeKey]uint64           // the version of the last write that touched each scope
	version  uint64                        // the global write counter

	loads  atomic.Uint64
	writes atomic.Uint64

	// settledRow[id] and settledScope[k] are the highest settled versions of a row
	// and of a scope. settledScope is filled in newSource and only read afterwards.
	settledRow   []atomic.Uint64
	settledScope map[scopeKey]*atomic.Uint64
}

var _ source = (*memSource)(nil)

// newSource returns a source of n articles spread over categories, chosen by pick
// (which returns a number in [0, k) for k).
func newSource(n int, categories []string, latency time.Duration, pick func(k int) int) *memSource {
	s := &memSource{
		latency:      latency,
		categories:   categories,
		rows:         make([]article, n),
		members:      make(map[scopeKey]map[int]struct{}),
		scopeVer:     make(map[scopeKey]uint64),
		settledRow:   make([]atomic.Uint64, n),
		settledScope: make(map[scopeKey]*atomic.Uint64),
	}
	for _, c := range categories {
		for _, p := range []bool{false, true} {
			k := scopeKey{c, p}
			s.members[k] = make(map[int]struct{})
			s.settledScope[k] = new(atomic.Uint64)
		}
	}
	for id := range s.rows {
		a := article{ID: id, Category: categories[pick(len(categories))], Published: pick(10) < 7}
		s.rows[id] = a
		s.members[a.scope()][id] = struct{}{}
	}
	return s
}

func (a article) scope() scopeKey { return scopeKey{a.Category, a.Published} }

// sleepCtx waits for d or for ctx, and returns ctx's error in the second case. The
// sources wait so for their simulated network and database time.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// article loads one row. The row is read at once and the round trip is paid
// afterwards, as the result travels back: the longest window in which a write can
// overtake the load, which is what fresh's fencing is for.
func (s *memSource) article(ctx context.Context, id int) (article, error) {
	s.loads.Add(1)
	s.mu.RLock()
	a := s.rows[id]
	s.mu.RUnlock()
	return a, sleepCtx(ctx, s.latency)
}

// list loads the rows of a scope, in id order, and the scope's version.
func (s *memSource) list(ctx context.Context, k scopeKey) ([]article, uint64, error) {
	s.loads.Add(1)
	s.mu.RLock()
	ids := make([]int, 0, len(s.members[k]))
	for id := range s.members[k] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	rows := make([]article, len(ids))
	for i, id := range ids {
		rows[i] = s.rows[id]
	}
	v := s.scopeVer[k]
	s.mu.RUnlock()
	return rows, v, sleepCtx(ctx, s.latency)
}

// A write is one applied change of a row: the row before and after it.
type write struct {
	old, new article
}

// commit changes row id with change and commits it at once (the round trip of a
// write is not simulated: the writers' pace is set by their interval). It returns
// the change, which the caller must invalidate and then settle. It never fails.
func (s *memSource) commit(_ context.Context, id int, change func(*article)) (write, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.rows[id]
	a := old
	change(&a)
	s.version++
	a.Version = s.version
	s.rows[id] = a
	if a.scope() != old.scope() {
		delete(s.members[old.scope()], id)
		s.members[a.scope()][id] = struct{}{}
	}
	s.scopeVer[old.scope()] = a.Version
	s.scopeVer[a.scope()] = a.Version
	s.writes.Add(1)
	return write{old: old, new: a}, nil
}

// settle records that w's invalidation has returned: reads that begin from now on
// must be served w's version of the row and of its scopes, or a newer one.
func (s *memSource) settle(_ context.Context, w write) error {
	v := w.new.Version
	raise(&s.settledRow[w.new.ID], v)
	raise(s.settledScope[w.old.scope()], v)
	raise(s.settledScope[w.new.scope()], v)
	return nil
}

// want returns the settled version of t: in one process, an invalidation that has
// returned has been applied, so a read beginning now must see it.
func (s *memSource) want(_ context.Context, t *target) (uint64, error) {
	if t.list {
		return s.settledScope[t.scope].Load(), nil
	}
	return s.settledRow[t.id].Load(), nil
}

// judge: a read older than the settled version is stale, whatever its age.
func (s *memSource) judge(context.Context, *target, uint64, uint64, time.Time) (verdict, error) {
	return verdict{lag: lagStale}, nil
}

func (s *memSource) loadCount() uint64  { return s.loads.Load() }
func (s *memSource) writeCount() uint64 { return s.writes.Load() }

// raise sets a to v unless it already holds more: writers of one row may settle
// out of order.
func raise(a *atomic.Uint64, v uint64) {
	for {
		cur := a.Load()
		if cur >= v || a.CompareAndSwap(cur, v) {
			return
		}
	}
}
