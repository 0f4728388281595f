package tags

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/eko/gocache/lib/v4/cache"
	"github.com/eko/gocache/lib/v4/store"
	gocachestore "github.com/eko/gocache/store/go_cache/v4"
	"github.com/freshcache/fresh"
	"github.com/maypok86/otter/v2"
	gocache "github.com/patrickmn/go-cache"
)

// A system is a cache with tag invalidation, as the workload drives it. Every method
// is safe for concurrent use. Each system keeps the world's tags in the form its API
// takes, built before the measurements, so that no conversion is measured.
type system interface {
	// fill stores entry key of the world (key < world.entries) with its tags.
	fill(key int) error
	// fillTagged stores key under the one tag.
	fillTagged(key int, tag int32) error
	get(key int) bool
	invalidate(tags ...int32) error
	close()
}

// A maker builds a system over a world.
type maker struct {
	name  string
	calls string // the calls used, for the notes
	new   func(w *world) (system, error)
}

// The names of the systems, used in the tables.
const (
	nameFresh = "fresh"
	nameOtter = "otter + tag map"
	nameGo    = "gocache (go-cache store)"
)

func makers() []maker {
	return []maker{
		{
			name:  nameFresh,
			calls: "`Set(ctx, key, v, fresh.DependsOn(tags...))` with `fresh.Tag` dependencies, `Get(key)`, `Invalidate(ctx, tags...)`.",
			new:   newFreshSystem,
		},
		{
			name: nameOtter,
			calls: "what users write by hand today: an otter cache plus a `map[string][]int` from tag to keys under a " +
				"`sync.Mutex`. Set stores in otter, then appends the key to each of its tags' lists; Invalidate takes and " +
				"removes the tag's list under the lock, then calls otter's `Invalidate(key)` for each key, one by one. " +
				"(Storing before indexing matters: the other order lets an Invalidate take the list between the two steps " +
				"and miss the key for good.)",
			new: newOtterSystem,
		},
		{
			name: nameGo,
			calls: "eko/gocache `cache.New[int](go_cache.NewGoCache(gocache.New(NoExpiration, 0)))`: " +
				"`Set(ctx, key, v, store.WithTags(tags))`, `Get(ctx, key)`, `Invalidate(ctx, store.WithInvalidateTags(tags))`. " +
				"Keys are strings, as that store requires. The go-cache store is its unbounded in-memory store.",
			new: newGocacheSystem,
		},
	}
}

var bg = context.Background()

// freshSystem is fresh with tag dependencies.
type freshSystem struct {
	c      *fresh.Cache[int, int]
	tagDep []fresh.Dep   // by tag id
	deps   [][]fresh.Dep // by entry
}

func newFreshSystem(w *world) (system, error) {
	c, err := fresh.New(fresh.Options[int, int]{MaxEntries: w.capacity + w.capacity/4})
	if err != nil {
		return nil, err
	}
	s := &freshSystem{c: c, tagDep: make([]fresh.Dep, len(w.names)), deps: make([][]fresh.Dep, w.entries)}
	for i, n := range w.names {
		s.tagDep[i] = fresh.Tag(n)
	}
	backing := make([]fresh.Dep, 0, w.entries*(maxTags+1)/2+maxTags)
	for i, ts := range w.tagsOf {
		start := len(backing)
		for _, t := range ts {
			backing = append(backing, s.tagDep[t])
		}
		s.deps[i] = backing[start:len(backing):len(backing)]
	}
	return s, nil
}

func (s *freshSystem) fill(key int) error {
	return s.c.Set(bg, key, key, fresh.DependsOn(s.deps[key]...))
}

func (s *freshSystem) fillTagged(key int, tag int32) error {
	return s.c.Set(bg, key, key, fresh.DependsOn(s.tagDep[tag]))
}

func (s *freshSystem) get(key int) bool {
	_, ok := s.c.Get(key)
	return ok
}

func (s *freshSystem) invalidate(tags ...int32) error {
	if len(tags) == 1 {
		return s.c.Invalidate(bg, s.tagDep[tags[0]:tags[0]+1]...)
	}
	deps := make([]fresh.Dep, len(tags))
	for i, t := range tags {
		deps[i] = s.tagDep[t]
	}
	return s.c.Invalidate(bg, deps...)
}

func (s *freshSystem) close() { _ = s.c.Close(bg) }

// otterSystem is otter with a hand-written tag index.
type otterSystem struct {
	w     *world
	c     *otter.Cache[int, int]
	mu    sync.Mutex
	byTag map[string][]int
}

func newOtterSystem(w *world) (system, error) {
	c, err := otter.New(&otter.Options[int, int]{MaximumSize: w.capacity + w.capacity/4})
	if err != nil {
		return nil, err
	}
	return &otterSystem{w: w, c: c, byTag: make(map[string][]int)}, nil
}

func (s *otterSystem) fill(key int) error {
	s.c.Set(key, key)
	s.mu.Lock()
	for _, t := range s.w.tagsOf[key] {
		n := s.w.names[t]
		s.byTag[n] = append(s.byTag[n], key)
	}
	s.mu.Unlock()
	return nil
}

func (s *otterSystem) fillTagged(key int, tag int32) error {
	s.c.Set(key, key)
	n := s.w.names[tag]
	s.mu.Lock()
	s.byTag[n] = append(s.byTag[n], key)
	s.mu.Unlock()
	return nil
}

func (s *otterSystem) get(key int) bool {
	_, ok := s.c.GetIfPresent(key)
	return ok
}

func (s *otterSystem) invalidate(tags ...int32) error {
	for _, t := range tags {
		n := s.w.names[t]
		s.mu.Lock()
		keys := s.byTag[n]
		delete(s.byTag, n)
		s.mu.Unlock()
		for _, k := range keys {
			s.c.Invalidate(k)
		}
	}
	return nil
}

// indexed returns how many keys the index holds for tag.
func (s *otterSystem) indexed(tag int32) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byTag[s.w.names[tag]])
}

func (s *otterSystem) close() { s.c.StopAllGoroutines() }

// gocacheSystem is eko/gocache over its go-cache store.
type gocacheSystem struct {
	w      *world
	gc     *gocache.Cache
	c      *cache.Cache[int]
	keys   []string   // by entry
	tags   [][]string // by entry
	single [][]string // by tag id: the one tag name
}

func newGocacheSystem(w *world) (system, error) {
	gc := gocache.New(gocache.NoExpiration, 0)
	s := &gocacheSystem{
		w: w, gc: gc,
		c:      cache.New[int](gocachestore.NewGoCache(gc)),
		keys:   make([]string, w.entries),
		tags:   make([][]string, w.entries),
		single: make([][]string, len(w.names)),
	}
	for i, n := range w.names {
		s.single[i] = []string{n}
	}
	backing := make([]string, 0, w.entries*(maxTags+1)/2+maxTags)
	for i, ts := range w.tagsOf {
		s.keys[i] = strconv.Itoa(i)
		start := len(backing)
		for _, t := range ts {
			backing = append(backing, w.names[t])
		}
		s.tags[i] = backing[start:len(backing):len(backing)]
	}
	return s, nil
}

func (s *gocacheSystem) key(k int) string {
	if k < len(s.keys) {
		return s.keys[k]
	}
	return strconv.Itoa(k)
}

func (s *gocacheSystem) fill(key int) error {
	return s.c.Set(bg, s.keys[key], key, store.WithTags(s.tags[key]))
}

func (s *gocacheSystem) fillTagged(key int, tag int32) error {
	return s.c.Set(bg, s.key(key), key, store.WithTags(s.single[tag]))
}

func (s *gocacheSystem) get(key int) bool {
	_, err := s.c.Get(bg, s.key(key))
	return err == nil
}

func (s *gocacheSystem) invalidate(tags ...int32) error {
	names := s.single[tags[0]]
	if len(tags) > 1 {
		names = make([]string, len(tags))
		for i, t := range tags {
			names[i] = s.w.names[t]
		}
	}
	return s.c.Invalidate(bg, store.WithInvalidateTags(names))
}

// indexed returns how many keys the store's index holds for tag (it keeps them in
// the cache itself, as a set under a key of its own).
func (s *gocacheSystem) indexed(tag int32) int {
	v, ok := s.gc.Get(fmt.Sprintf(gocachestore.GoCacheTagPattern, s.w.names[tag]))
	if !ok {
		return 0
	}
	m, _ := v.(map[string]struct{})
	return len(m)
}

func (s *gocacheSystem) close() { s.gc.Flush() }
