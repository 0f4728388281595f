package fresh

import (
	"github.com/freshcache/fresh/internal/goid"
	"sync"
)

// A strictTracker finds, for a hub with Strict set, cached reads made on a loader's
// goroutine with a context that is not the loader's. Such a read hides the value's
// dependencies from the value being loaded, which then survives their invalidation:
// a silent mistake, made loud by failing the load with ErrLoaderContext. It costs a
// goroutine-id lookup per call, which is why it is a test setting.
type strictTracker struct {
	mu    sync.Mutex
	fills map[uint64]*fillState // the fill each loader goroutine runs
}

func newStrictTracker() *strictTracker {
	return &strictTracker{fills: make(map[uint64]*fillState)}
}

// enter records that the calling goroutine runs the loader of fs, and returns the
// function that forgets it.
func (s *strictTracker) enter(fs *fillState) func() {
	id := goroutineID()
	s.mu.Lock()
	prev := s.fills[id]
	s.fills[id] = fs
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		if prev != nil {
			s.fills[id] = prev
		} else {
			delete(s.fills, id)
		}
		s.mu.Unlock()
	}
}

// check fails the fill of the calling goroutine, if it runs a loader: the caller is
// reading without the loader's context.
func (s *strictTracker) check() {
	id := goroutineID()
	s.mu.Lock()
	fs := s.fills[id]
	s.mu.Unlock()
	if fs != nil {
		fs.fail(ErrLoaderContext)
	}
}

// goroutineID returns the id of the calling goroutine, or 0 if it cannot tell. Go
// offers no cheaper way; only the strict mode and LocalBus.Close use it.
func goroutineID() uint64 { return goid.Current() }
