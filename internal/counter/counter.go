// Package counter provides a striped event counter for hot paths: adds from different
// goroutines mostly land on different cache lines, and reading sums the stripes.
package counter

import (
	"math/bits"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// A Counter is a striped uint64 counter. The zero value is not usable; use New.
type Counter struct {
	stripes []stripe
	mask    uint64
}

type stripe struct {
	n atomic.Uint64
	_ [56]byte // one stripe per cache line
}

// New returns a Counter with enough stripes for the machine's parallelism.
func New() *Counter {
	n := 4 * runtime.GOMAXPROCS(0)
	size := 1 << bits.Len(uint(n-1))
	return &Counter{stripes: make([]stripe, size), mask: uint64(size - 1)}
}

// Add adds delta. The stripe is chosen from the address of the calling goroutine's
// stack, which is stable for a goroutine and differs between goroutines, so a
// goroutine keeps updating the same cache line.
func (c *Counter) Add(delta uint64) {
	var probe byte
	addr := uint64(uintptr(unsafe.Pointer(&probe))) >> 11 // drop the bits that follow call depth
	addr *= 0x9e3779b97f4a7c15
	c.stripes[(addr>>32)&c.mask].n.Add(delta)
}

// Inc adds one.
func (c *Counter) Inc() { c.Add(1) }

// Load returns the sum of the stripes; 0 for a nil Counter.
func (c *Counter) Load() uint64 {
	if c == nil {
		return 0
	}
	var sum uint64
	for i := range c.stripes {
		sum += c.stripes[i].n.Load()
	}
	return sum
}
