package fresh

import (
	"context"
	"slices"
	"sync"
)

// WithRequestScope returns a context carrying a per-request memo. Within it, each key
// of each cache is loaded at most once and reads of a key give the same answer,
// even when the process cache is disabled or the entry is evicted or invalidated by
// another process mid-request. The request's own writes are seen: Set, Delete and
// Invalidate called with the scoped context drop the memo's affected answers.
//
// Successful values and ErrNotFound are remembered; other loader errors are not, so
// a later read in the request may retry. The memo lives as long as the context.
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
	done    chan struct{}
	ok      bool // a remembered answer; false when the load failed and was forgotten
	val     any
	err     error
	names   []string
	pos     uint64
	tracker *Tracker
}

type requestMemo struct {
	mu sync.Mutex
	m  map[memoKey]*memoEntry
}

// forget drops the answers that depend on any of names.
func (m *requestMemo) forget(names []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, e := range m.m {
		select {
		case <-e.done:
		default:
			continue // in progress: its fill is fenced by the tracker already
		}
		for _, n := range e.names {
			if slices.Contains(names, n) {
				delete(m.m, k)
				break
			}
		}
	}
}

// forgetKey drops the answer for one key of one cache.
func (m *requestMemo) forgetKey(k memoKey) {
	m.mu.Lock()
	delete(m.m, k)
	m.mu.Unlock()
}

// forgetCache drops every answer of one cache.
func (m *requestMemo) forgetCache(cache any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.m {
		if k.cache == cache {
			delete(m.m, k)
		}
	}
}
