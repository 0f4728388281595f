// Package zipf generates key streams with a Zipfian popularity for the throughput
// and hit-cost benchmarks, including exponents at or below 1, which math/rand/v2's
// Zipf does not accept.
package zipf

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Scrambled returns count keys drawn from n items, where the item of popularity rank
// r (0 first) is drawn with probability proportional to 1/(r+1)^theta, and the ranks
// are spread over the keys 0..n-1 by a fixed random permutation, so that popular keys
// are not neighbours (the "scrambled" Zipfian of YCSB and Caffeine's benchmarks).
// The stream depends only on the arguments.
func Scrambled(n int, theta float64, count int, seed uint64) []uint64 {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	// cdf[i] is the probability of a rank ≤ i; sampling inverts it by binary search.
	cdf := make([]float64, n)
	sum := 0.0
	for i := range cdf {
		sum += math.Pow(float64(i+1), -theta)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	perm := r.Perm(n)
	keys := make([]uint64, count)
	for i := range keys {
		rank := sort.SearchFloat64s(cdf, r.Float64())
		if rank == n {
			rank = n - 1
		}
		keys[i] = uint64(perm[rank])
	}
	return keys
}
