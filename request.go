package fresh

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// WithRequestScope returns a context carrying a per-request memo. Within it, each key
// of each cache is loaded at most once and reads of a key give the same answer,
// even when the process cache is disabled or the entry is evicted or invalidated by
// another process mid-request. The request's own writes are seen: Set, Delete,
// Invalidate, InvalidateRows, InvalidatePattern and Flush called with the scoped
// context drop the memo's affected answers, including answers still being loaded
// when the write was made.
//
// Successful values and ErrNotFound are remembered; other loader errors are not, so
// a later read in the request may retry. The memo lives as long as the context.
// Loaders do not see it: a load is shared with other requests.
func WithRequestScope(ctx context.Context) context.Context {
	st := &ctxState{memo: &requestMemo{m: make(map[memoKey]*memoEntry)}}
	if parent := stateOf(ctx); parent != nil {
		st.fill = parent.fill
	}
	return context.WithValue(ctx, ctxKey{}, st)
}

type memoKey struct {
	cache any // the *Cache
	key   any
}

type memoEntry struct {
	done chan struct{} // closed when the answer is settled (remembered or dropped)
	gen  uint64        // the memo's generation when the answer's load began
	// Guarded by the memo's lock.
	ok    bool  // a remembered answer; false while loading, or when dropped
	fail  error // the load failed: the readers that waited for it get this error
	panic any   // the load panicked: the readers that waited for it panic with this
	val   any
	err   error
	ids   []uint64 // dependencies
	names []string // their names, when kept (a hub with a Store)
	pos   uint64
}

// A memoForget is one write of the request: the answers depending on any of names, the
// answer for key, and every answer of cache, are forgotten.
type memoForget struct {
	gen   uint64
	names []string
	ids   []uint64 // of names, set by forget
	key   *memoKey
	cache any
}

func (f *memoForget) matches(k memoKey, e *memoEntry) bool {
	if (f.cache != nil && k.cache == f.cache) || (f.key != nil && *f.key == k) {
		return true
	}
	for _, id := range e.ids {
		if slices.Contains(f.ids, id) {
			return true
		}
	}
	return false
}

type requestMemo struct {
	mu      sync.Mutex
	m       map[memoKey]*memoEntry
	gen     uint64
	forgets []memoForget // the writes since the oldest answer in progress began
}

// forget applies one write of the request: finished answers it touches are dropped at
// once; answers in progress are checked against it when they finish (remember).
func (m *requestMemo) forget(f memoForget) {
	f.ids = make([]uint64, len(f.names))
	for i, n := range f.names {
		f.ids[i] = depID(n)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	f.gen = m.gen
	oldest := m.gen
	for k, e := range m.m {
		switch {
		case e.ok:
			if f.matches(k, e) {
				delete(m.m, k)
			}
		default: // still loading: remember checks it against f
			oldest = min(oldest, e.gen)
		}
	}
	// Keep only the writes that an answer in progress may still need to see.
	m.forgets = slices.DeleteFunc(m.forgets, func(g memoForget) bool { return g.gen <= oldest })
	if oldest < m.gen {
		m.forgets = append(m.forgets, f)
	}
}

// remember records a finished answer unless a write of the request made since its
// load began touches it; then the answer is forgotten, and readers waiting for it load
// again.
func (m *requestMemo) remember(k memoKey, e *memoEntry, val any, err error, ids []uint64, names []string, pos uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.ids, e.names = ids, names
	for i := range m.forgets {
		if f := &m.forgets[i]; f.gen > e.gen && f.matches(k, e) {
			m.dropLocked(k, e)
			return
		}
	}
	e.val, e.err, e.pos, e.ok = val, err, pos, true
}

// failed drops an answer whose load failed, handing err to the readers waiting for it.
func (m *requestMemo) failed(k memoKey, e *memoEntry, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.fail = err
	m.dropLocked(k, e)
}

func (m *requestMemo) dropLocked(k memoKey, e *memoEntry) {
	if m.m[k] == e {
		delete(m.m, k)
	}
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
		m.mu.Lock()
		ok, val, err, ids, names, pos, fail, p := me.ok, me.val, me.err, me.ids, me.names, me.pos, me.fail, me.panic
		m.mu.Unlock()
		if p != nil {
			panic(p) // as joined callers of a panicking load do
		}
		if fail != nil {
			// The load this reader waited for failed: it shares the error, as joined
			// callers of a load do (a later read of the request tries again).
			var zero V
			return zero, fail
		}
		if !ok {
			continue // that answer was overtaken by a write of the request: load again
		}
		if st.fill != nil {
			// I3: an answer re-checked now is current at the fill's position.
			c.keys.use(c.t)
			st.fill.inherit(ids, names, c.keyDepNames(key), pos, c.t.currentAt(ids, pos), Position{})
		}
		v, _ := val.(V)
		return v, err
	}
	me := &memoEntry{done: make(chan struct{}), gen: m.gen}
	m.m[mk] = me
	m.mu.Unlock()

	settled := false
	defer func() {
		if !settled { // a panic: readers waiting for the answer panic with it too
			v := recover()
			m.mu.Lock()
			me.panic = v
			m.dropLocked(mk, me)
			m.mu.Unlock()
			close(me.done)
			if v != nil { // nil: runtime.Goexit, which goes on by itself
				panic(v)
			}
			return
		}
		close(me.done)
	}()
	r := c.getOrLoad(ctx, st, key, loader, opts)
	pause(pointMemoHandoff)
	switch {
	case r.err == nil || errors.Is(r.err, ErrNotFound):
		m.remember(mk, me, r.val, r.err, r.ids, r.names, r.pos)
	case ctx.Err() != nil && errors.Is(r.err, ctx.Err()):
		m.failed(mk, me, nil) // this reader gave up: the others load for themselves
	default:
		m.failed(mk, me, r.err)
	}
	settled = true
	return r.val, r.err
}
