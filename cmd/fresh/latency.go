package main

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"time"
)

// A histogram counts durations in logarithmic buckets: exact below 16ns, then 16
// buckets per power of two, so a percentile is within 1/16 (about 6%) of the truth
// whatever the range, in fixed memory. It is not safe for concurrent use: each
// reader keeps its own and they are merged at the end.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
}

const (
	histSubBits = 4
	histSub     = 1 << histSubBits
	histBuckets = (64 - histSubBits + 1) * histSub
)

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[histIndex(uint64(d))]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// percentile returns the duration below which a fraction p (in [0, 1]) of the
// recorded durations fall, as the middle of its bucket, or 0 if nothing was
// recorded.
func (h *histogram) percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(p * float64(h.n))
	if rank >= h.n {
		rank = h.n - 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			lo, hi := histBounds(i)
			return time.Duration(lo + (hi-lo)/2)
		}
	}
	return 0 // not reached: the counts add up to n
}

// histIndex returns the bucket of v: v itself below histSub, otherwise the position
// of v's top bit and the histSubBits bits below it.
func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	top := bits.Len64(v) - 1 // >= histSubBits
	sub := (v >> (top - histSubBits)) & (histSub - 1)
	return (top-histSubBits+1)*histSub + int(sub)
}

// histBounds returns the smallest and largest values of bucket i.
func histBounds(i int) (lo, hi uint64) {
	if i < histSub {
		return uint64(i), uint64(i)
	}
	top := i/histSub + histSubBits - 1
	sub := uint64(i % histSub)
	shift := top - histSubBits
	lo = (histSub + sub) << shift
	return lo, lo + (1 << shift) - 1
}

// MarshalJSON encodes the histogram as its non-empty buckets, [index, count] pairs,
// for the processes of a multi-process run to send theirs to the parent.
func (h histogram) MarshalJSON() ([]byte, error) {
	pairs := [][2]uint64{}
	for i, c := range h.counts {
		if c > 0 {
			pairs = append(pairs, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(pairs)
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (h *histogram) UnmarshalJSON(b []byte) error {
	var pairs [][2]uint64
	if err := json.Unmarshal(b, &pairs); err != nil {
		return err
	}
	*h = histogram{}
	for _, p := range pairs {
		if p[0] >= histBuckets {
			return fmt.Errorf("histogram bucket %d out of range", p[0])
		}
		h.counts[p[0]] += p[1]
		h.n += p[1]
	}
	return nil
}
