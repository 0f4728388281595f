package fresh

import (
	"context"
	"fmt"
	"sync"
)

// ctxKey is the context key under which fresh keeps its per-context state: the fill
// a loader runs in, and the request scope.
type ctxKey struct{}

type ctxState struct {
	fill *fillState
	memo *requestMemo
}

func stateOf(ctx context.Context) *ctxState {
	st, _ := ctx.Value(ctxKey{}).(*ctxState)
	return st
}

// A fillState collects what a running loader depends on: the dependencies it declares
// (Depend, DependsOn) and those of cached values it reads (nested GetOrLoad, with the
// keys it read), and the position its value is valid at: the fill position, lowered
// only by nested values that could not be re-checked (I3).
type fillState struct {
	schemes *schemes
	cache   any        // the *Cache the fill belongs to
	key     any        // the key it loads
	parent  *fillState // the fill whose loader started this one, if any

	// waits holds the fills of the loads this fill's loader waits for (guarded by
	// waitMu), so that a cycle closed through a load someone else started is found.
	waits map[*fillState]int

	mu   sync.Mutex
	deps depList // each once, scheme dependencies included
	pos  uint64
	err  error // the first invalid dependency, or a misuse

	// l2 is the Store position the value is current at: the store's position read
	// before the loader ran, lowered to that of each nested value read (an entry
	// from the store is current at its fill position, a value loaded at the position
	// its load read). Zero (Epoch 0) when the value cannot go to the store: no store
	// position could be read, or a nested value had none or one of another epoch.
	// An L1 entry lags the store by up to the bus's delay, so its value may be older
	// than the store's current position: only its own store position is safe.
	l2 Position
}

// setStore sets the store position a fill begins at.
func (f *fillState) setStore(p Position) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.l2 = p
}

// lowerStore lowers the fill's store position to that of a nested value (see l2, I7).
// Called with f.mu held.
func (f *fillState) lowerStoreLocked(p Position) {
	switch {
	case f.l2.Epoch == 0:
	case p.Epoch != f.l2.Epoch:
		f.l2 = Position{}
	case p.Pos < f.l2.Pos:
		f.l2.Pos = p.Pos
	}
}

// fail makes the fill fail with err (the first failure wins).
func (f *fillState) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

// waitMu guards every fill's waits: the graph of loads waiting for loads.
var waitMu sync.Mutex

// waitFor records that f's loader waits for the load of g, or reports false when g
// waits, directly or through other loads, for f: waiting would never end.
func (f *fillState) waitFor(g *fillState) bool {
	waitMu.Lock()
	defer waitMu.Unlock()
	seen := map[*fillState]bool{}
	var reaches func(x *fillState) bool
	reaches = func(x *fillState) bool {
		if x == f {
			return true
		}
		if seen[x] {
			return false
		}
		seen[x] = true
		for y := range x.waits {
			if reaches(y) {
				return true
			}
		}
		return false
	}
	if reaches(g) {
		return false
	}
	if f.waits == nil {
		f.waits = make(map[*fillState]int)
	}
	f.waits[g]++
	return true
}

// waited ends a wait recorded by waitFor. f may be nil (a read outside a loader).
func (f *fillState) waited(g *fillState) {
	if f == nil {
		return
	}
	waitMu.Lock()
	defer waitMu.Unlock()
	if f.waits[g]--; f.waits[g] <= 0 {
		delete(f.waits, g)
	}
}

// cycle returns ErrLoadCycle when key of cache is being loaded by f or a fill that
// started it: loading it again would wait for itself.
func (f *fillState) cycle(cache, key any) error {
	for g := f; g != nil; g = g.parent {
		if g.cache == cache && g.key == key {
			return fmt.Errorf("%w: key %v", ErrLoadCycle, key)
		}
	}
	return nil
}

// declare adds dependencies declared by the application.
func (f *fillState) declare(deps []Dep) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.deps.addDeps(deps, f.schemes); f.err == nil {
		f.err = err
	}
}

// inherit adds the dependencies of a value read inside the loader (ids, and their
// names when the value kept them), and of the key it was read under (I4). A value
// checked after the read began is current at the fill's position, which it leaves
// alone; any other value lowers the fill's position to its own (I3).
func (f *fillState) inherit(ids []uint64, names, keyNames []string, pos uint64, checked bool, l2 Position) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lowerStoreLocked(l2)
	if f.deps.keepNames && names == nil && len(ids) > 0 {
		// A value that did not keep its names (of a hub without a Store) cannot be
		// described to the store: the outer value stays out of it.
		f.l2 = Position{}
	}
	for _, id := range ids {
		f.deps.addID(id)
	}
	for _, n := range names {
		f.deps.addName(n)
	}
	for _, n := range keyNames {
		f.deps.add(n)
	}
	if !checked && pos < f.pos {
		f.pos = pos
	}
}

// addStored adds the dependencies of an entry read from the Store.
func (f *fillState) addStored(names []string) {
	for _, n := range names {
		f.deps.add(n)
	}
}

func (f *fillState) result() (deps depList, pos uint64, l2 Position, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deps.clone(), f.pos, f.l2, f.err
}

// Depend adds dependencies to the fill that ctx belongs to: called inside a loader, it
// makes the value being loaded depend on deps, exactly like DependsOn. Outside a
// loader it does nothing. An invalid Dep makes the fill fail: the loader's caller gets
// the Dep's error and nothing is cached.
func Depend(ctx context.Context, deps ...Dep) {
	if st := stateOf(ctx); st != nil && st.fill != nil {
		st.fill.declare(deps)
	}
}
