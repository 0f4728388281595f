package fresh

import (
	"cmp"
	"context"
	"slices"
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
// (Depend, DependsOn) and those of cached values it reads (nested GetOrLoad), and the
// oldest position among its own and theirs.
type fillState struct {
	tracker *Tracker
	schemes *schemes

	mu    sync.Mutex
	names []string // canonical names, each once, scheme names included
	pos   uint64
	err   error // the first invalid dependency
}

func (f *fillState) addName(n string) {
	if !slices.Contains(f.names, n) {
		f.names = append(f.names, n)
	}
}

// declare adds dependencies declared by the application.
func (f *fillState) declare(deps []Dep) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var err error
	f.names, err = appendDepNames(f.names, deps, f.schemes)
	if f.err == nil {
		f.err = err
	}
}

// appendDepNames appends to names, each once, the canonical names of the valid deps
// and the schemes of their scopes. It returns the first invalid dependency's error
// (or unregistered scope's) and still appends the valid ones.
func appendDepNames(names []string, deps []Dep, s *schemes) ([]string, error) {
	var first error
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, d := range deps {
		if err := d.Err(); err != nil {
			first = cmp.Or(first, err)
			continue
		}
		add(d.s)
		if d.Kind() == kindScope {
			scheme, err := s.schemeOf(d.s)
			if err != nil {
				first = cmp.Or(first, err)
				continue
			}
			add(scheme)
		}
	}
	return names, first
}

// inherit adds the dependencies of a value read inside the loader. Its position lowers
// the fill's when both come from the same tracker; positions of different trackers
// are not comparable, and then the fill keeps its own (see Options.Tracker).
func (f *fillState) inherit(t *Tracker, names []string, pos uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		f.addName(n)
	}
	if t == f.tracker && pos < f.pos {
		f.pos = pos
	}
}

func (f *fillState) result() (names []string, pos uint64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.names), f.pos, f.err
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
