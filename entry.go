package fresh

import (
	"time"
	"unsafe"
)

// An entry is what the in-process store holds for a key. It is stored by value, so a
// plain entry costs the store 16 bytes more than the bare value: its position word and
// its metadata pointer, nil for a value with no dependencies and no per-call options.
type entry[V any] struct {
	val  V
	word uint64 // fill position | flags
	meta *meta
}

const (
	negBit  = 1 << 63 // the entry is a cached ErrNotFound
	extBit  = 1 << 62 // meta points at a metaExt
	posMask = extBit - 1
)

// meta lists the records of an entry's dependencies.
type meta struct {
	recs []*depRecord
}

// metaExt is a meta with per-call options. It is allocated only for entries that use
// them, and its meta comes first so that a *metaExt is also a *meta.
type metaExt struct {
	meta
	lifetime   time.Duration // how long the store keeps it (TTL plus stale grace); <0: no expiry
	freshUntil int64         // unix ns after which only a failed reload may serve it; 0: none
	refreshAt  int64         // unix ns after which a read reloads it in the background; 0: none
}

func (e *entry[V]) pos() uint64 { return e.word & posMask }

func (e *entry[V]) negative() bool { return e.word&negBit != 0 }

func (e *entry[V]) recs() []*depRecord {
	if e.meta == nil {
		return nil
	}
	return e.meta.recs
}

// ext returns the entry's per-call options, or nil.
func (e *entry[V]) ext() *metaExt {
	if e.word&extBit == 0 {
		return nil
	}
	return (*metaExt)(unsafe.Pointer(e.meta))
}

func namesOf(recs []*depRecord) []string {
	names := make([]string, len(recs))
	for i, r := range recs {
		names[i] = r.name
	}
	return names
}
