package hitratio

import (
	"fmt"
	"math"
)

// Bélády's optimum (OPT): the most hits any cache of a given capacity can have on
// a trace, since it knows the future. When a key missed and the cache is full,
// every candidate for the capacity slots is compared by its next use, the new key
// included: the one used farthest in the future (or never again) is left out. A
// cache may decline to keep a key (an admission policy does), so the new key
// competes too; forcing it in, as demand paging must, is the textbook MIN, which
// can only do worse (see optMiss).
//
// The resident keys are found by their next uses alone: at access i, the index of
// the next access to the same key (nextUses) is unique to that key, so a max-heap
// of next-use indexes orders the residents for eviction, and a bitset over the
// indexes says whether the key accessed at i is resident (its next use was i). An
// index is consumed when its access comes: its heap entry is then stale (below
// every live one, so never the maximum), and the heap drops stale entries when it
// has grown to twice the capacity.

// nextUses returns, for each access i of keys, the index of the next access to the
// same key, or len(keys)+i when the key is not accessed again (distinct values
// beyond every real index, the later the access the farther).
func nextUses(keys []uint64) ([]int32, error) {
	if 2*len(keys) > math.MaxInt32 {
		return nil, fmt.Errorf("hitratio: a trace of %d accesses is too long for OPT", len(keys))
	}
	next := make([]int32, len(keys))
	seen := make(map[uint64]int32, len(keys)/4)
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		if j, ok := seen[k]; ok {
			next[i] = j
		} else {
			next[i] = int32(len(keys) + i)
		}
		seen[k] = int32(i)
	}
	return next, nil
}

// optMiss says what OPT does on a miss when the cache is full.
type optMiss int

const (
	// bypass keeps the new key only if a resident is used later, which it evicts:
	// the optimum of a cache that may decline a key (the one the tables show).
	bypass optMiss = iota
	// demand always keeps the new key, evicting the resident used farthest in the
	// future: Bélády's MIN for demand paging, the textbook algorithm.
	demand
)

// optHits returns the hits of OPT on keys, whose next uses are next (nextUses), with
// room for capacity keys.
func optHits(next []int32, capacity int, miss optMiss) int {
	n := int32(len(next))
	resident := make([]uint64, (2*len(next)+63)/64) // bit j: the key next used at j is held
	has := func(j int32) bool { return resident[j/64]&(1<<(j%64)) != 0 }
	set := func(j int32) { resident[j/64] |= 1 << (j % 64) }
	unset := func(j int32) { resident[j/64] &^= 1 << (j % 64) }
	h := make(maxHeap, 0, 2*capacity+1)
	held, hits := 0, 0
	for i := range n {
		nx := next[i]
		switch {
		case has(i):
			hits++
			unset(i) // its heap entry is now stale
			if nx >= n {
				// Never used again: keeping it could not earn a hit, and evicting it
				// now is what OPT would do first anyway.
				held--
				break
			}
			set(nx)
			h.push(nx)
		case capacity == 0:
		case nx >= n && miss == bypass:
			// Never used again: not kept.
		case held < capacity:
			held++
			set(nx)
			h.push(nx)
		case miss == demand || nx < h[0]:
			unset(h.pop()) // live entries are above i, stale ones at most i: the top is live
			set(nx)
			h.push(nx)
		}
		if len(h) > 2*capacity {
			h.compact(i)
		}
	}
	return hits
}

// maxHeap is a binary max-heap of next-use indexes.
type maxHeap []int32

func (h *maxHeap) push(v int32) {
	*h = append(*h, v)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p] >= s[i] {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *maxHeap) pop() int32 {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	*h = s[:last]
	h.down(0)
	return top
}

func (h maxHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && h[r] > h[l] {
			c = r
		}
		if h[i] >= h[c] {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// compact drops the entries consumed by access now or before, and restores the
// heap order.
func (h *maxHeap) compact(now int32) {
	s := (*h)[:0]
	for _, v := range *h {
		if v > now {
			s = append(s, v)
		}
	}
	*h = s
	for i := len(s)/2 - 1; i >= 0; i-- {
		s.down(i)
	}
}
