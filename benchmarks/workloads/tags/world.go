package tags

import (
	"math/rand/v2"
	"strconv"
)

// maxTags is the most tags an entry has.
const maxTags = 4

// zipfS is the exponent of every Zipf draw (math/rand's Zipf needs s > 1).
const zipfS = 1.01

// maxStreamLen is the length of the precomputed access streams: long enough that
// the goroutines, starting at different offsets, do not walk the same keys in step.
// Small worlds (tests) get shorter streams, 16 draws per entry rounded up to a power
// of two.
const maxStreamLen = 1 << 20

// streamLen returns the length of the access streams of a world of n entries: a
// power of two.
func streamLen(n int) int {
	l := 1 << 10
	for l < maxStreamLen && l < 16*n {
		l <<= 1
	}
	return l
}

// The kinds of operation of the mixed run.
const (
	opGet uint8 = iota
	opSet
	opInvalidate
)

// An op is one operation of the mixed run.
type op struct {
	kind uint8
	tag  int32 // opInvalidate
	key  int32 // opGet, opSet
}

// A world is the data every system is measured on, generated once from fixed seeds:
// the entries and their tags, the dedicated tags of the invalidation measurement,
// and the access streams.
type world struct {
	entries int
	names   []string  // tag names by id
	tagsOf  [][]int32 // tags of entry i, 1 to maxTags distinct ids below o.Tags

	// groups[k] holds the entries with exactly k tags, shuffled; hits[k] is a Zipf
	// access stream over groups[k].
	groups [maxTags + 1][]int32
	hits   [maxTags + 1][]int32

	// Dedicated tags for the invalidation latency: dedicatedTag[i] is carried by
	// exactly sizes[i] entries, the keys dedicatedKeys[i], and by nothing else.
	sizes         []int
	dedicatedTag  []int32
	dedicatedKeys [][]int

	unrelatedTag int32 // carried by no entry: invalidated once so that hits check tombstones
	checkTagBase int32 // first id of the tags of the correctness checks
	checkKeyBase int   // first key of the correctness checks
	capacity     int   // entries every cache must hold without evicting

	mixed []op
}

// Sizes of the correctness checks: checkTrials rounds of checkWriters goroutines
// each setting checkKeysPerWriter keys under a new tag.
const (
	checkWriters       = 8
	checkKeysPerWriter = 64
	checkKeysPerTrial  = checkWriters * checkKeysPerWriter
)

// checkTags is how many tag ids the correctness checks use beyond their trials.
const checkTags = 2

func newWorld(o Options) *world {
	r := rand.New(rand.NewPCG(1, 2))
	w := &world{entries: o.Entries, sizes: o.InvalidateSizes}

	// Tag ids: [0, Tags) are the entries' tags, then one per dedicated size, the
	// unrelated tag, and the tags of the correctness checks.
	nTags := o.Tags + len(o.InvalidateSizes) + 1 + o.CheckTrials + checkTags
	w.names = make([]string, nTags)
	for i := range w.names {
		w.names[i] = "t" + strconv.Itoa(i)
	}

	tagZipf := rand.NewZipf(r, zipfS, 1, uint64(o.Tags-1))
	w.tagsOf = make([][]int32, o.Entries)
	backing := make([]int32, 0, o.Entries*(maxTags+1)/2+maxTags)
	for i := range w.tagsOf {
		k := 1 + r.IntN(maxTags)
		start := len(backing)
	draw:
		for len(backing)-start < k {
			t := int32(tagZipf.Uint64())
			for _, have := range backing[start:] {
				if have == t {
					continue draw
				}
			}
			backing = append(backing, t)
		}
		w.tagsOf[i] = backing[start:len(backing):len(backing)]
		w.groups[k] = append(w.groups[k], int32(i))
	}
	for k := 1; k <= maxTags; k++ {
		g := w.groups[k]
		r.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
		w.hits[k] = zipfStream(r, g, streamLen(o.Entries))
	}

	next := o.Entries
	id := int32(o.Tags)
	for _, n := range o.InvalidateSizes {
		keys := make([]int, n)
		for i := range keys {
			keys[i] = next
			next++
		}
		w.dedicatedTag = append(w.dedicatedTag, id)
		w.dedicatedKeys = append(w.dedicatedKeys, keys)
		id++
	}
	w.unrelatedTag = id
	w.checkTagBase = id + 1
	w.checkKeyBase = next
	w.capacity = next + (o.CheckTrials+checkTags)*checkKeysPerTrial

	// The mixed run: keys by a Zipf over all entries in a shuffled order, tags by the
	// same Zipf as the entries' tags.
	perm := make([]int32, o.Entries)
	for i := range perm {
		perm[i] = int32(i)
	}
	r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	keyZipf := rand.NewZipf(r, zipfS, 1, uint64(o.Entries-1))
	w.mixed = make([]op, streamLen(o.Entries))
	for i := range w.mixed {
		switch p := r.IntN(100); {
		case p < 95:
			w.mixed[i] = op{kind: opGet, key: perm[keyZipf.Uint64()]}
		case p < 99:
			w.mixed[i] = op{kind: opSet, key: perm[keyZipf.Uint64()]}
		default:
			w.mixed[i] = op{kind: opInvalidate, tag: int32(tagZipf.Uint64())}
		}
	}
	return w
}

// zipfStream returns n keys of g drawn by a Zipf over its positions.
func zipfStream(r *rand.Rand, g []int32, n int) []int32 {
	s := make([]int32, n)
	if len(g) == 0 {
		return s[:0]
	}
	if len(g) == 1 {
		for i := range s {
			s[i] = g[0]
		}
		return s
	}
	z := rand.NewZipf(r, zipfS, 1, uint64(len(g)-1))
	for i := range s {
		s[i] = g[z.Uint64()]
	}
	return s
}

// checkTag returns the tag id of correctness check i (trials first, then the
// fixed checks).
func (w *world) checkTag(i int) int32 { return w.checkTagBase + int32(i) }

// checkKey returns key j of correctness check i.
func (w *world) checkKey(i, j int) int { return w.checkKeyBase + i*checkKeysPerTrial + j }
