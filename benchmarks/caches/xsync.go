package caches

import "github.com/puzpuzpuz/xsync/v4"

type xsyncMap struct{ m *xsync.Map[uint64, uint64] }

func xsyncSpec() Spec {
	return Spec{
		Name:    Xsync,
		Note:    "xsync v4.5.0 `Map`, presized to the capacity: the ceiling, a concurrent hash map with no eviction policy (**unbounded**: it keeps every key), no TTL, no tags.",
		Bounded: false,
		New: func(capacity int) (Cache, error) {
			return xsyncMap{xsync.NewMap[uint64, uint64](xsync.WithPresize(capacity))}, nil
		},
	}
}

func (x xsyncMap) Name() string { return Xsync }

func (x xsyncMap) Get(k uint64) (uint64, bool) { return x.m.Load(k) }

func (x xsyncMap) Set(k, v uint64) bool {
	x.m.Store(k, v)
	return true
}

func (x xsyncMap) Len() int { return x.m.Size() }

func (x xsyncMap) Close() error { return nil }
