package fresh

import "sync/atomic"

// A pausePoint names a place where the code releases a lock or hands a value to
// another goroutine: the places where the invariants of hub.go matter. Tests install
// a hook (setPauseHook) that yields, sleeps or blocks there, so that a randomized
// checker explores the interleavings that matter rather than those the scheduler
// happens to produce. Without a hook, a pause point costs one atomic load; none is on
// the hit path.
type pausePoint uint8

const (
	pointInvalidated   pausePoint = iota + 1 // tracker: a dependency's two tombstone slots written
	pointPositionTaken                       // tracker: an invalidation took its position; its tombstones are not written yet
	pointFillBegun                           // flight: the fill position was read, the loader is about to run
	pointLoaded                              // flight: the loader returned, the value is not stored yet
	pointStoring                             // flight: about to put a validated value into the store
	pointLeft                                // flight: a caller left a flight
	pointMemoHandoff                         // request scope: an answer is about to be remembered or handed over
	pointLinkApply                           // bus link: a peer's message is about to be applied
	pointKeyWritten                          // Set or Delete: the store was written, the key dependency not yet invalidated
	pointWatchdog                            // bus link: the watchdog is about to check the heartbeats' age
	numPausePoints
)

var pauseHook atomic.Pointer[func(pausePoint)]

// pause runs the test hook, if any, at point p.
func pause(p pausePoint) {
	if h := pauseHook.Load(); h != nil {
		(*h)(p)
	}
}

// setPauseHook installs h (nil removes it). For tests only.
func setPauseHook(h func(pausePoint)) {
	if h == nil {
		pauseHook.Store(nil)
		return
	}
	pauseHook.Store(&h)
}
