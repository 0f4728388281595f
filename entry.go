package fresh

import (
	"sync/atomic"
	"time"
	"unsafe"
)

// An entry is what the in-process store holds for a key. It is stored by value, so an
// entry costs the store 16 bytes more than the bare value: its position word and one
// pointer, nil for a value with no dependencies and no per-call options.
//
// The pointer leads a hit to the dependencies in one step: it points at the entry's
// depSet (extBit clear), or at a metaExt holding one and the per-call options (extBit
// set).
type entry[V any] struct {
	val  V
	word uint64 // fill position | flags
	p    unsafe.Pointer
}

const (
	negBit  = 1 << 63 // the entry is a cached ErrNotFound
	extBit  = 1 << 62 // p points at a metaExt
	posMask = extBit - 1
)

// metaExt holds the per-call options of the entries that use them, and the names of
// the dependencies of the entries of a hub with a Store.
type metaExt struct {
	deps       unsafe.Pointer // the depSet, or nil
	names      []string       // the dependencies' names, in a hub with a Store; else nil
	lifetime   time.Duration  // how long the store keeps it (TTL plus stale grace); <0: no expiry; 0: the default
	freshUntil int64          // unix ns after which only a failed reload may serve it; 0: none
	refreshAt  int64          // unix ns after which a read reloads it in the background; 0: none
	expireAt   int64          // unix ns after which it is gone, when the store does not expire entries; 0: none
	l2         Position       // the Store position the value is current at (fillState.l2); zero: none
}

func (e *entry[V]) pos() uint64 { return e.word & posMask }

func (e *entry[V]) negative() bool { return e.word&negBit != 0 }

// deps returns the entry's depSet, or nil.
func (e *entry[V]) deps() unsafe.Pointer {
	if e.word&extBit != 0 {
		return (*metaExt)(e.p).deps
	}
	return e.p
}

// ext returns the entry's per-call options, or nil.
func (e *entry[V]) ext() *metaExt {
	if e.word&extBit == 0 {
		return nil
	}
	return (*metaExt)(e.p)
}

// A depSet holds the ids of one entry's dependencies in an array of words, which the
// garbage collector need not scan. The first word is the header: the number of ids
// in its top 16 bits (all ones: the number is in the second word) and, in the others,
// the memo: a hub position at which every dependency was found not invalidated after
// the entry's position, with no invalidation of them in progress. A hit at a position
// no later than the memo needs no look at the tombstones: the invalidations of the
// dependencies that took a position up to the memo's had written their tombstones,
// and the later ones would have moved the position past it (see tracker.check).
//
// A depSet belongs to one entry, and so to one fill position.
const (
	countShift = 48
	memoMask   = 1<<countShift - 1
	countLong  = 1<<(64-countShift) - 1 // the count is in the second word
)

// newDepSet returns a depSet holding ids, or nil when there are none.
func newDepSet(ids []uint64) unsafe.Pointer {
	n := len(ids)
	if n == 0 {
		return nil
	}
	if n < countLong {
		a := make([]uint64, 1+n)
		a[0] = uint64(n) << countShift
		copy(a[1:], ids)
		return unsafe.Pointer(&a[0])
	}
	a := make([]uint64, 2+n)
	a[0] = countLong << countShift
	a[1] = uint64(n)
	copy(a[2:], ids)
	return unsafe.Pointer(&a[0])
}

// depSetIDs returns the ids of the depSet p (nil for nil), given its header word.
func depSetIDs(p unsafe.Pointer, hdr uint64) []uint64 {
	if p == nil {
		return nil
	}
	n, off := hdr>>countShift, uintptr(1)
	if n == countLong {
		n, off = *(*uint64)(unsafe.Add(p, 8)), 2 // written before the set was published
	}
	return unsafe.Slice((*uint64)(unsafe.Add(p, off*8)), n)
}

// idsOf returns the ids of the depSet p.
func idsOf(p unsafe.Pointer) []uint64 {
	if p == nil {
		return nil
	}
	return depSetIDs(p, atomic.LoadUint64((*uint64)(p)))
}

// names returns the dependency names an entry kept (a hub with a Store), or nil.
func (e *entry[V]) names() []string {
	if x := e.ext(); x != nil {
		return x.names
	}
	return nil
}
