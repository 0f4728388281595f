package fresh

import (
	"time"
	"unsafe"
)

// An entry is what the in-process store holds for a key. It is stored by value, so an
// entry costs the store 16 bytes more than the bare value: its position word and one
// pointer, nil for a value with no dependencies and no per-call options.
//
// The pointer leads a hit to the dependency records in one step: it points at the
// first element of a nil-terminated array of record pointers (extBit clear), or at a
// metaExt holding such an array and the per-call options (extBit set).
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

// metaExt holds the per-call options of the entries that use them.
type metaExt struct {
	deps       unsafe.Pointer // nil-terminated array of *depRecord, or nil
	lifetime   time.Duration  // how long the store keeps it (TTL plus stale grace); <0: no expiry; 0: the default
	freshUntil int64          // unix ns after which only a failed reload may serve it; 0: none
	refreshAt  int64          // unix ns after which a read reloads it in the background; 0: none
	expireAt   int64          // unix ns after which it is gone, when the store does not expire entries; 0: none
	l2         Position       // the Store position the value is current at (fillState.l2); zero: none
}

func (e *entry[V]) pos() uint64 { return e.word & posMask }

func (e *entry[V]) negative() bool { return e.word&negBit != 0 }

// deps returns the entry's nil-terminated dependency array, or nil.
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

// depArray returns a pointer to the first element of a nil-terminated array holding
// recs, or nil when recs is empty. It uses recs' own backing array when it has room
// for the terminator (as Tracker.intern leaves it), and copies otherwise.
func depArray(recs []*depRecord) unsafe.Pointer {
	if len(recs) == 0 {
		return nil
	}
	if cap(recs) > len(recs) {
		if ext := recs[:len(recs)+1]; ext[len(recs)] == nil {
			return unsafe.Pointer(&ext[0])
		}
	}
	a := make([]*depRecord, len(recs)+1)
	copy(a, recs)
	return unsafe.Pointer(&a[0])
}

// depAt returns the i-th element of the nil-terminated array at p. The caller stops
// at the terminating nil, so the address stays inside the array.
func depAt(p unsafe.Pointer, i int) *depRecord {
	return *(**depRecord)(unsafe.Add(p, uintptr(i)*unsafe.Sizeof((*depRecord)(nil))))
}

// recsOf returns the records of the nil-terminated array at p as a slice.
func recsOf(p unsafe.Pointer) []*depRecord {
	if p == nil {
		return nil
	}
	n := 0
	for depAt(p, n) != nil {
		n++
	}
	return unsafe.Slice((**depRecord)(p), n)
}

func namesOf(recs []*depRecord) []string {
	names := make([]string, len(recs))
	for i, r := range recs {
		names[i] = r.name
	}
	return names
}
