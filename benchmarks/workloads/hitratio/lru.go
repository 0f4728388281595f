package hitratio

// lruHits returns the hits of a plain LRU cache of capacity keys on keys: a hit
// moves the key to the front, a miss puts it there and, when the cache is full,
// evicts the key at the back (the least recently used). It is the floor the
// tables show: a policy that does worse than recency alone is worse than nothing
// clever.
//
// The list is intrusive: the nodes live in one slice, linked by their indexes, and
// the node of an evicted key is reused for the new one.
func lruHits(keys []uint64, capacity int) int {
	if capacity <= 0 {
		return 0
	}
	type node struct {
		key        uint64
		prev, next int32 // toward the front and the back; -1 at the ends
	}
	nodes := make([]node, 0, capacity)
	index := make(map[uint64]int32, capacity)
	front, back := int32(-1), int32(-1)
	unlink := func(i int32) {
		n := &nodes[i]
		if n.prev >= 0 {
			nodes[n.prev].next = n.next
		} else {
			front = n.next
		}
		if n.next >= 0 {
			nodes[n.next].prev = n.prev
		} else {
			back = n.prev
		}
	}
	pushFront := func(i int32) {
		nodes[i].prev, nodes[i].next = -1, front
		if front >= 0 {
			nodes[front].prev = i
		} else {
			back = i
		}
		front = i
	}
	hits := 0
	for _, k := range keys {
		if i, ok := index[k]; ok {
			hits++
			if i != front {
				unlink(i)
				pushFront(i)
			}
			continue
		}
		var i int32
		if len(nodes) < capacity {
			i = int32(len(nodes))
			nodes = append(nodes, node{})
		} else {
			i = back
			unlink(i)
			delete(index, nodes[i].key)
		}
		nodes[i].key = k
		index[k] = i
		pushFront(i)
	}
	return hits
}
