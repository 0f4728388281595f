package hitratio

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// textbook is the reference string of the classic exercise on page replacement
// (Silberschatz, Galvin and Gagne, Operating System Concepts), with three frames:
// MIN (OPT with demand paging) has 9 faults, LRU 12.
var textbook = []uint64{7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1}

func TestOPTTextbook(t *testing.T) {
	next, err := nextUses(textbook)
	if err != nil {
		t.Fatal(err)
	}
	// Checked by hand: with bypass, 4 (at access 7) and 7 (at access 17) are never
	// used again and are not kept, and 3 is evicted for 1 at access 13, when 3 is
	// not used again: 8 misses.
	for _, tc := range []struct {
		name     string
		miss     optMiss
		capacity int
		want     int // hits
	}{
		{"demand/3", demand, 3, len(textbook) - 9},
		{"bypass/3", bypass, 3, len(textbook) - 8},
		{"demand/0", demand, 0, 0},
		{"bypass/1", bypass, 1, 5},  // 0 hits at 4, 6 and 10, 2 at 14, 0 at 18
		{"bypass/9", bypass, 9, 14}, // room for all 6 keys: only the compulsory misses
		{"demand/9", demand, 9, 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := optHits(next, tc.capacity, tc.miss); got != tc.want {
				t.Errorf("optHits(%d) = %d; want %d", tc.capacity, got, tc.want)
			}
		})
	}
}

func TestLRUTextbook(t *testing.T) {
	for _, tc := range []struct {
		capacity, want int
	}{
		{3, len(textbook) - 12},
		{0, 0},
		{1, 0}, // no key is accessed twice in a row
		{9, 14},
	} {
		if got := lruHits(textbook, tc.capacity); got != tc.want {
			t.Errorf("lruHits(%d) = %d; want %d", tc.capacity, got, tc.want)
		}
	}
}

// TestOPTBruteForce checks OPT on short random traces against an exhaustive search
// over every choice of what to keep, with and without the right to decline a key,
// and checks that LRU never beats it.
func TestOPTBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 500 {
		keys := make([]uint64, 1+rng.IntN(14))
		for i := range keys {
			keys[i] = uint64(rng.IntN(5))
		}
		capacity := rng.IntN(4)
		next, err := nextUses(keys)
		if err != nil {
			t.Fatal(err)
		}
		for _, miss := range []optMiss{bypass, demand} {
			got, want := optHits(next, capacity, miss), bestHits(keys, capacity, miss == bypass)
			if got != want {
				t.Fatalf("trial %d: keys %v, capacity %d, miss %d: optHits = %d; want %d", trial, keys, capacity, miss, got, want)
			}
		}
		if lru, opt := lruHits(keys, capacity), optHits(next, capacity, bypass); lru > opt {
			t.Fatalf("trial %d: keys %v, capacity %d: LRU %d hits > OPT %d", trial, keys, capacity, lru, opt)
		}
	}
}

// bestHits is the most hits of any cache of capacity keys on keys, found by trying
// every choice on every miss: keep the key (evicting any resident when full), or,
// with mayDecline, not.
func bestHits(keys []uint64, capacity int, mayDecline bool) int {
	var search func(i int, held []uint64) int
	search = func(i int, held []uint64) int {
		if i == len(keys) {
			return 0
		}
		k := keys[i]
		if slices.Contains(held, k) {
			return 1 + search(i+1, held)
		}
		if capacity == 0 {
			return search(i+1, held)
		}
		best := -1
		if mayDecline {
			best = search(i+1, held)
		}
		if len(held) < capacity {
			return max(best, search(i+1, append(slices.Clone(held), k)))
		}
		for j := range held {
			h := slices.Clone(held)
			h[j] = k
			best = max(best, search(i+1, h))
		}
		return best
	}
	return search(0, nil)
}
