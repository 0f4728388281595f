// Package freshtest holds what tests of fresh backends share: the conformance suites
// TestBus, TestStore and TestLeaser, which every Bus, Store and Leaser
// implementation runs from its own tests, and MemStore, the in-memory reference
// Store (and Leaser).
//
// A backend in another module runs a suite like this:
//
//	func TestStore(t *testing.T) {
//		freshtest.TestStore(t, func(t *testing.T) fresh.Store {
//			s := newStoreWithUniquePrefix(t)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suites run against real time, since network backends cannot follow a fake
// clock; they keep their waits short and fail with a timeout rather than hang.
package freshtest
