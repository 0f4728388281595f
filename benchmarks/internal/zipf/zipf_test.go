package zipf

import (
	"slices"
	"testing"
)

func TestScrambled(t *testing.T) {
	const n, count = 1000, 200_000
	keys := Scrambled(n, 0.99, count, 1)
	freq := make([]int, n)
	for _, k := range keys {
		if k >= n {
			t.Fatalf("key %d out of range [0, %d)", k, n)
		}
		freq[k]++
	}
	// The most popular key gets 1/H(n, 0.99) of the draws, about 13 %; the keys in
	// the middle of the ranking far fewer.
	slices.Sort(freq)
	slices.Reverse(freq)
	if top := float64(freq[0]) / count; top < 0.11 || top > 0.15 {
		t.Errorf("top key share = %.3f; want about 0.13", top)
	}
	if mid := float64(freq[n/2]) / count; mid > 0.001 {
		t.Errorf("median key share = %.4f; want below 0.001", mid)
	}
	if again := Scrambled(n, 0.99, count, 1); !slices.Equal(keys, again) {
		t.Errorf("Scrambled is not deterministic for one seed")
	}
}
