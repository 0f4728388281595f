package hitratio

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/freshcache/fresh/benchmarks/caches"
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

// TestPolicyReplaysBelowOPT replays a Zipf trace against the synchronous instance of
// every bounded cache: none may hit more often than OPT, and ttlcache, an LRU, must
// hit exactly as often as lruHits. A failure is a bug of the harness (a cache
// holding more than its capacity, a replay counting wrong) or of OPT or LRU.
func TestPolicyReplaysBelowOPT(t *testing.T) {
	keys := zipfTrace(20_000)
	next, err := nextUses(keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, capacity := range []int{100, 1000} {
		opt, lru := optHits(next, capacity, bypass), lruHits(keys, capacity)
		if lru > opt {
			t.Errorf("capacity %d: LRU %d hits > OPT %d", capacity, lru, opt)
		}
		for _, s := range caches.All() {
			if !s.Bounded {
				continue
			}
			c, err := s.Build(capacity, true)
			if err != nil {
				t.Fatal(err)
			}
			hits, held := replay(c, keys)
			if err := c.Close(); err != nil {
				t.Error(err)
			}
			if hits > opt {
				t.Errorf("%s, capacity %d: %d hits > OPT %d", s.Name, capacity, hits, opt)
			}
			if held > capacity {
				t.Errorf("%s, capacity %d: held %d entries", s.Name, capacity, held)
			}
			if s.Name == caches.Ttlcache && hits != lru {
				t.Errorf("ttlcache, capacity %d: %d hits; want LRU's %d", capacity, hits, lru)
			}
		}
	}
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name        string
		fresh, peer estimate
		want        string
	}{
		{"above", estimate{mean: 40, se: 0.1, runs: 10}, estimate{mean: 39, se: 0.1, runs: 10}, within},
		{"at the target", estimate{mean: 39.5, runs: 1}, estimate{mean: 40, runs: 1}, within},
		{"noisy shortfall", estimate{mean: 39, se: 0.45, runs: 10}, estimate{mean: 40, se: 0.35, runs: 10}, tie}, // 1 < 2 × 0.57
		{"clear shortfall", estimate{mean: 39, se: 0.3, runs: 10}, estimate{mean: 40, se: 0.2, runs: 10}, loss},  // 1 > 2 × 0.36
		{"one run each", estimate{mean: 39.4, runs: 1}, estimate{mean: 40, runs: 1}, loss},                       // no noise known
		{"deterministic peer", estimate{mean: 39, se: 0.6, runs: 10}, estimate{mean: 40, runs: 1}, tie},          // 1 < 2 × 0.6
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, got := judge(tc.fresh, tc.peer); got != tc.want {
				t.Errorf("judge(%v, %v) = %s; want %s", tc.fresh, tc.peer, got, tc.want)
			}
		})
	}
}

func TestEstimate(t *testing.T) {
	e := estimateOf([]float64{1, 2, 3, 4})
	// mean 2.5, sample standard deviation √(5/3), standard error √(5/3)/2
	if math.Abs(e.mean-2.5) > 1e-9 || math.Abs(e.se-math.Sqrt(5.0/3)/2) > 1e-9 || e.runs != 4 {
		t.Errorf("estimateOf(1, 2, 3, 4) = %+v; want mean 2.5, se %.4f, 4 runs", e, math.Sqrt(5.0/3)/2)
	}
	if got, want := e.String(), "2.50 ± 0.65"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	if got, want := estimateOf([]float64{7}).String(), "7.00"; got != want {
		t.Errorf("one run: String() = %q; want %q", got, want)
	}
}

// TestTopUp checks which caches are replayed more after their first runs: fresh
// always, a seeded peer within contention points of the best peer, Runs times up to
// SmallCapacity and LargeRuns times above; the others keep their first runs.
func TestTopUp(t *testing.T) {
	specs, err := caches.Lookup(caches.Fresh, caches.Otter, caches.Theine, caches.Ristretto, caches.Ttlcache)
	if err != nil {
		t.Fatal(err)
	}
	p := &plan{
		o:       Options{Runs: 10, FirstRuns: 2, LargeRuns: 3, DeployedRuns: 1},
		traces:  []trace{{name: "T", capacities: []int{1000, 5000}}},
		streams: [][]uint64{make([]uint64, 100)},
		specs:   specs,
	}
	// Hits out of 100 by cache: ttlcache (one run, not seeded) leads with 51; the
	// second run of each seeded cache has one hit less, so that otter's mean is
	// 49.5 at 1000 (within 1.5 points) and 50 at 5000 (one run); theine is 2 points
	// or more behind, ristretto 20.
	hits := []int{40, 50, 49, 31, 51}
	policy, _ := p.jobs()
	res := map[job]outcome{}
	for _, j := range policy {
		if j.kind == policyReplay {
			res[j] = outcome{hits: hits[j.cache] - j.run%2}
		}
	}
	res[job{kind: policyReplay, trace: 0, capacity: 1000, cache: 2, run: 1}] = outcome{hits: 47} // theine: 49 and 47
	p.topUp(res)
	for _, tc := range []struct {
		capacity int
		want     []int // runs of fresh, otter, theine, ristretto, ttlcache
	}{
		{1000, []int{10, 10, 2, 2, 1}},
		{5000, []int{3, 3, 1, 1, 1}},
	} {
		var got []int
		for si := range specs {
			got = append(got, p.runs[cell{kind: policyReplay, trace: 0, capacity: tc.capacity, cache: si}])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("capacity %d: runs %v; want %v", tc.capacity, got, tc.want)
		}
	}
}
