package fresh

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The model checker: many goroutines run random operations over several caches of
// one hub against a versioned source of truth, and every read is checked against the
// definition of the guarantees (G0, G0', G2): a read that starts after a write's
// invalidation returned must not return a value older than that write. Pause points
// (pause.go) yield or sleep at random where the code releases a lock or hands a value
// over, so that the interleavings that matter are explored.
//
// It runs for -fresh.model (default 2s, 500ms with -short), from -fresh.seed (default:
// the clock; printed, so that a failing run's operation sequences can be replayed; the
// scheduler's choices are not reproducible).
var (
	modelDuration = flag.Duration("fresh.model", 0, "how long TestModel runs (default 2s, 500ms with -short)")
	modelSeed     = flag.Uint64("fresh.seed", 0, "seed of TestModel (default: from the clock)")
)

const (
	modelItems  = 8
	modelGroups = 3
)

// modelSource is the source of truth: items with versions and a group each, and a
// version per group that every write touching the group bumps.
type modelSource struct {
	mu   sync.RWMutex
	ver  [modelItems]uint64
	grp  [modelItems]int
	gver [modelGroups]uint64

	// done holds, per item and per group, the highest version whose write has
	// returned, invalidation included: a read that starts later must see at least it.
	doneItem  [modelItems]atomic.Uint64
	doneGroup [modelGroups]atomic.Uint64

	writers [modelItems]sync.Mutex // writes of one item are serialised (Set needs it)

	logMu sync.Mutex
	log   [modelGroups][]string // the last writes touching each group, for failure messages
}

type itemVal struct{ ver uint64 }

type groupVal struct{ ver uint64 }

type pageVal struct{ item, group uint64 }

// required is what a read must see at least.
type required struct {
	item  [modelItems]uint64
	group [modelGroups]uint64
}

func (s *modelSource) snapshot() (r required) {
	for i := range r.item {
		r.item[i] = s.doneItem[i].Load()
	}
	for g := range r.group {
		r.group[g] = s.doneGroup[g].Load()
	}
	return r
}

// model is one run of the checker.
type model struct {
	t      *testing.T
	src    *modelSource
	hub    *Hub
	items  *Cache[int, itemVal]
	groups *Cache[int, groupVal]
	pages  *Cache[int, pageVal]

	seed  uint64
	draws atomic.Uint64

	reads, writes, stale atomic.Int64
	failures             atomic.Int64
}

func (m *model) fail(format string, args ...any) {
	m.src.logMu.Lock()
	for g := range modelGroups {
		l := m.src.log[g]
		for _, e := range l[max(0, len(l)-6):] {
			format += "\n  group " + strconv.Itoa(g) + ": " + e
		}
	}
	m.src.logMu.Unlock()
	m.stale.Add(1)
	if m.failures.Add(1) <= 20 {
		m.t.Errorf(format, args...)
	}
}

// rnd returns a random number; loaders run on goroutines of their own, so they draw
// from this rather than from their worker's generator.
func (m *model) rnd() uint64 { return splitmix(m.seed + m.draws.Add(1)) }

// loaderFault makes a loader fail, panic or exit now and then.
func (m *model) loaderFault() error {
	switch n := m.rnd() % 100; {
	case n < 4:
		return errors.New("origin down")
	case n < 6:
		panic("loader panic")
	case n < 7:
		runtime.Goexit()
	}
	return nil
}

func (m *model) jitter() {
	if x := m.rnd(); x%3 == 0 {
		time.Sleep(time.Duration(x>>8%300) * time.Microsecond)
	}
}

func (m *model) loadItem() Loader[int, itemVal] {
	return func(ctx context.Context, k int) (itemVal, error) {
		Depend(ctx, Entity("items", k))
		m.src.mu.RLock()
		v := m.src.ver[k]
		m.src.mu.RUnlock()
		m.jitter()
		if err := m.loaderFault(); err != nil {
			return itemVal{}, err
		}
		return itemVal{v}, nil
	}
}

func (m *model) loadGroup() Loader[int, groupVal] {
	return func(ctx context.Context, g int) (groupVal, error) {
		Depend(ctx, Scope("items", Eq("grp", g)))
		m.src.mu.RLock()
		v := m.src.gver[g]
		m.src.mu.RUnlock()
		m.jitter()
		return groupVal{v}, nil
	}
}

// loadPage builds a page from the cached item k and group k mod modelGroups (nested).
func (m *model) loadPage() Loader[int, pageVal] {
	return func(ctx context.Context, k int) (pageVal, error) {
		it, err := m.items.GetOrLoad(ctx, k, m.loadItem())
		if err != nil {
			return pageVal{}, err
		}
		m.jitter()
		g, err := m.groups.GetOrLoad(ctx, k%modelGroups, m.loadGroup())
		if err != nil {
			return pageVal{}, err
		}
		return pageVal{it.ver, g.ver}, nil
	}
}

// readOpts returns random per-call options for a read.
func readOpts(r *rand.Rand) []Option {
	switch r.IntN(8) {
	case 0:
		return []Option{TTL(time.Duration(1+r.IntN(3)) * time.Millisecond)}
	case 1:
		return []Option{TTL(time.Millisecond), StaleIfError(5 * time.Millisecond)}
	case 2:
		return []Option{RefreshAfter(time.Duration(r.IntN(2)) * time.Millisecond)}
	case 3, 4:
		// The loader runs in the caller's goroutine, cancelled with its context.
		return []Option{Inline()}
	}
	return nil
}

// callCtx returns ctx, or one that gives up soon (a request timeout).
func callCtx(ctx context.Context, r *rand.Rand) (context.Context, context.CancelFunc) {
	if r.IntN(6) == 0 {
		return context.WithTimeout(ctx, time.Duration(r.IntN(400))*time.Microsecond)
	}
	return ctx, func() {}
}

// read does one random read and checks it against req.
func (m *model) read(ctx context.Context, r *rand.Rand, req required) {
	how := "outside a request"
	if st := stateOf(ctx); st != nil && st.memo != nil {
		how = "in a request"
	}
	m.reads.Add(1)
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(*PanicError); !ok {
				panic(v)
			}
		}
	}()
	k := r.IntN(modelItems)
	cctx, cancel := callCtx(ctx, r)
	defer cancel()
	switch r.IntN(5) {
	case 0:
		if v, ok := m.items.Get(k); ok && v.ver < req.item[k] {
			m.fail("Get(%d) = version %d; a write of version %d had returned before the read", k, v.ver, req.item[k])
		}
	case 1, 2:
		v, err := m.items.GetOrLoad(cctx, k, m.loadItem(), readOpts(r)...)
		if err == nil && v.ver < req.item[k] {
			m.fail("items.GetOrLoad(%d) %s = version %d; want at least %d", k, how, v.ver, req.item[k])
		}
	case 3:
		g := r.IntN(modelGroups)
		v, err := m.groups.GetOrLoad(cctx, g, m.loadGroup(), readOpts(r)...)
		if err == nil && v.ver < req.group[g] {
			m.fail("groups.GetOrLoad(%d) %s = version %d; want at least %d", g, how, v.ver, req.group[g])
		}
	case 4:
		v, err := m.pages.GetOrLoad(cctx, k, m.loadPage(), readOpts(r)...)
		if err == nil && (v.item < req.item[k] || v.group < req.group[k%modelGroups]) {
			m.fail("pages.GetOrLoad(%d) %s = %+v; want at least item %d group %d%s", k, how, v, req.item[k], req.group[k%modelGroups], m.describe(k))
		}
	}
}

// setAsOf computes an item from the source after reading the position and offers it
// with Set(AsOf): it must be refused if a write overtook it.
func (m *model) setAsOf(ctx context.Context, r *rand.Rand) {
	k := r.IntN(modelItems)
	pos := m.items.Position()
	m.src.mu.RLock()
	v := m.src.ver[k]
	m.src.mu.RUnlock()
	m.jitter()
	_ = m.items.Set(ctx, k, itemVal{v}, DependsOn(Entity("items", k)), AsOf(pos))
}

// write changes item k in the source, maybe moving it to another group, then makes
// the change known in one of several ways, and records what readers must now see. It
// returns the item's and groups' new versions.
func (m *model) write(ctx context.Context, r *rand.Rand, req *required) {
	m.writes.Add(1)
	k := r.IntN(modelItems)
	s := m.src
	s.writers[k].Lock()
	defer s.writers[k].Unlock()
	s.mu.Lock()
	old := s.grp[k]
	s.ver[k]++
	nv := s.ver[k]
	nw := old
	if r.IntN(3) == 0 {
		nw = r.IntN(modelGroups)
	}
	s.grp[k] = nw
	s.gver[old]++
	s.gver[nw]++
	og, ng := s.gver[old], s.gver[nw]
	s.mu.Unlock()

	scopes := []Dep{Scope("items", Eq("grp", old)), Scope("items", Eq("grp", nw))}
	kind := r.IntN(6)
	p0 := m.hub.t.pos.Load()
	defer func() { // after the done marks: a log of the write, for failure messages
		s.logMu.Lock()
		e := fmt.Sprintf("item %d v%d g%d:%d g%d:%d by %s, positions %d..%d", k, nv, old, og, nw, ng, [...]string{"rows", "rows", "delete", "set", "flush", "pattern"}[kind], p0, m.hub.t.pos.Load())
		for _, g := range []int{old, nw}[:1+min(1, abs(nw-old))] {
			s.log[g] = append(s.log[g][max(0, len(s.log[g])-7):], e)
		}
		s.logMu.Unlock()
	}()
	switch kind {
	case 0, 1:
		err := m.hub.InvalidateRows(ctx, RowChange{Table: "items", Old: Row{"id": k, "grp": old}, New: Row{"id": k, "grp": nw}})
		if err != nil {
			m.t.Errorf("InvalidateRows: %v", err)
		}
	case 2:
		m.items.Delete(ctx, k)
		m.hub.Invalidate(ctx, scopes...)
	case 3:
		m.items.Set(ctx, k, itemVal{nv}, DependsOn(Entity("items", k)))
		m.hub.Invalidate(ctx, scopes...)
	case 4:
		m.items.Flush(ctx)
		m.hub.Invalidate(ctx, scopes...)
	case 5:
		_ = m.items.InvalidatePattern(ctx, strconv.Itoa(k))
		m.hub.Invalidate(ctx, scopes...)
	}
	maxStore(&s.doneItem[k], nv)
	maxStore(&s.doneGroup[old], og)
	maxStore(&s.doneGroup[nw], ng)
	if req != nil { // the writer's own later reads (read-your-writes)
		req.item[k] = max(req.item[k], nv)
		req.group[old] = max(req.group[old], og)
		req.group[nw] = max(req.group[nw], ng)
	}
}

// worker runs random operations until stop.
func (m *model) worker(seed uint64, stop <-chan struct{}) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ctx := context.Background()
	for {
		select {
		case <-stop:
			return
		default:
		}
		switch n := r.IntN(20); {
		case n < 12:
			m.read(ctx, r, m.src.snapshot())
		case n < 15:
			m.write(ctx, r, nil)
		case n < 16:
			m.setAsOf(ctx, r)
		case n < 17:
			_ = m.pages.InvalidatePattern(ctx, strconv.Itoa(r.IntN(modelItems)))
		default:
			// A request: its reads see at least what had returned when it began,
			// and its own writes.
			rctx := WithRequestScope(ctx)
			req := m.src.snapshot()
			for range 1 + r.IntN(4) {
				if r.IntN(4) == 0 {
					m.write(rctx, r, &req)
				} else {
					m.read(rctx, r, req)
				}
			}
		}
	}
}

// modelPauses returns a pause hook that yields or sleeps at random, from seed.
func modelPauses(seed uint64) func(pausePoint) {
	var n atomic.Uint64
	return func(p pausePoint) {
		x := splitmix(seed + n.Add(1)*uint64(p))
		switch x % 16 {
		case 0, 1, 2, 3:
			runtime.Gosched()
		case 4:
			time.Sleep(time.Duration(x>>8%50) * time.Microsecond)
		}
	}
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func TestModel(t *testing.T) {
	d := *modelDuration
	if d == 0 {
		d = 2 * time.Second
		if testing.Short() {
			d = 500 * time.Millisecond
		}
	}
	seed := *modelSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -fresh.seed=%d), %v per table size", seed, seed, d)
	// The default table, grown under the workers; and a table of 4 slots, where
	// every invalidation hits every dependency.
	for _, slots := range []int{0, 4} {
		t.Run(fmt.Sprintf("slots=%d", slots), func(t *testing.T) { runModel(t, d, seed, slots) })
	}
}

func runModel(t *testing.T, d time.Duration, seed uint64, slots int) {
	h := testHub(t, HubOptions{Tables: []TableSchema{{Table: "items", Scopes: [][]string{{"grp"}}}}, DependencySlots: slots})
	m := &model{t: t, src: &modelSource{}, hub: h, seed: seed}
	for k := range modelItems {
		m.src.grp[k] = k % modelGroups
	}
	m.items = testCache(t, Options[int, itemVal]{Hub: h, Name: "items", MaxEntries: modelItems})
	m.groups = testCache(t, Options[int, groupVal]{Hub: h, Name: "groups"})
	m.pages = testCache(t, Options[int, pageVal]{Hub: h, Name: "pages", MaxEntries: modelItems / 2})
	setPauseHook(modelPauses(seed))
	defer setPauseHook(nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { m.worker(seed+uint64(i)*7919, stop) })
	}
	// Grow the table under the fills and invalidations, up to 2^16 slots.
	wg.Go(func() {
		for h.t.slotCount() < 1<<16 {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				h.t.reserve(h.t.slotCount())
			}
		}
	})
	time.Sleep(d)
	close(stop)
	wg.Wait()
	is, gs, ps := m.items.Stats(), m.groups.Stats(), m.pages.Stats()
	t.Logf("%d reads, %d writes, %d stale; items %+v; groups %+v; pages %+v",
		m.reads.Load(), m.writes.Load(), m.stale.Load(), is, gs, ps)
	if ps.Hits == 0 || is.Hits == 0 || gs.Hits == 0 {
		t.Errorf("a cache never hit: the checker explored nothing cached")
	}
	if m.stale.Load() > 0 {
		t.Fatalf("%d stale reads (seed %d)", m.stale.Load(), seed)
	}
}

// describe tells what the pages cache holds for k, for a failure message.
func (m *model) describe(k int) string {
	e, ok := m.pages.l1.GetIfPresent(k)
	if !ok {
		return " (no entry now)"
	}
	d := fmt.Sprintf(" (entry %+v at %d, hub at %d:", e.val, e.pos(), m.hub.t.pos.Load())
	s := m.hub.t.tab.Load()
	for _, id := range idsOf(e.deps()) {
		d += fmt.Sprintf(" %x@%d", id, s.tomb(id))
	}
	return d + ")"
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
