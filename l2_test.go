package fresh_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
)

// A process is what one OS process of a deployment holds: a hub connected to the
// shared store and bus.
type process struct {
	hub *fresh.Hub
}

// newProcesses returns n hubs sharing one store and one bus, as n processes would.
func newProcesses(t *testing.T, n int, store fresh.Store, o fresh.HubOptions) []process {
	t.Helper()
	bus := fresh.NewLocalBus()
	t.Cleanup(func() { _ = bus.Close() })
	ps := make([]process, n)
	for i := range ps {
		oo := o
		oo.Store = store
		if oo.Bus == nil {
			oo.Bus = bus
		}
		h, err := fresh.NewHub(oo)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close(context.Background()) })
		ps[i] = process{hub: h}
	}
	return ps
}

func newL2Cache[V any](t *testing.T, p process, name string, o ...func(*fresh.Options[string, V])) *fresh.Cache[string, V] {
	t.Helper()
	opts := fresh.Options[string, V]{Hub: p.hub, Name: name}
	for _, f := range o {
		f(&opts)
	}
	c, err := fresh.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// l2Source is a versioned value with a counting loader.
type l2Source struct {
	mu    sync.Mutex
	v     map[string]string
	loads atomic.Int64
}

func newL2Source() *l2Source { return &l2Source{v: map[string]string{}} }

func (s *l2Source) set(k, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.v[k] = v
}

func (s *l2Source) loader(deps ...fresh.Dep) fresh.Loader[string, string] {
	return func(ctx context.Context, k string) (string, error) {
		s.loads.Add(1)
		fresh.Depend(ctx, deps...)
		s.mu.Lock()
		defer s.mu.Unlock()
		v, ok := s.v[k]
		if !ok {
			return "", fresh.ErrNotFound
		}
		return v, nil
	}
}

func mustGet[V any](t *testing.T, c *fresh.Cache[string, V], k string, l fresh.Loader[string, V]) V {
	t.Helper()
	v, err := c.GetOrLoad(context.Background(), k, l)
	if err != nil {
		t.Fatalf("GetOrLoad(%q): %v", k, err)
	}
	return v
}

func TestStoreSharesValuesAcrossProcesses(t *testing.T) {
	ps := newProcesses(t, 2, freshtest.NewMemStore(), fresh.HubOptions{})
	src := newL2Source()
	src.set("a", "1")
	a := newL2Cache[string](t, ps[0], "c")
	b := newL2Cache[string](t, ps[1], "c")
	load := src.loader(fresh.Tag("t"))

	if got := mustGet(t, a, "a", load); got != "1" {
		t.Fatalf("a = %q", got)
	}
	if got := mustGet(t, b, "a", load); got != "1" {
		t.Fatalf("b = %q", got)
	}
	if n := src.loads.Load(); n != 1 {
		t.Fatalf("loader calls = %d, want 1 (the second process reads the store)", n)
	}
	if s := b.Stats(); s.StoreHits != 1 || s.Loads != 0 {
		t.Fatalf("b stats = %+v", s)
	}
	// B's L1 entry carries the dependency it had in the store.
	src.set("a", "2")
	if err := a.Invalidate(context.Background(), fresh.Tag("t")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b reads the new value", func() bool { return mustGet(t, b, "a", load) == "2" })
	if got := mustGet(t, a, "a", load); got != "2" {
		t.Fatalf("after invalidate a = %q, want 2", got)
	}
}

// orderLog records the order in which the store and the bus see writes.
type orderLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *orderLog) add(op string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
}

func (l *orderLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ops := l.ops
	l.ops = nil
	return ops
}

type loggingStore struct {
	fresh.Store
	log *orderLog
}

func (s loggingStore) Invalidate(ctx context.Context, deps []string) (fresh.Position, error) {
	p, err := s.Store.Invalidate(ctx, deps)
	s.log.add("store:" + strings.Join(deps, ","))
	return p, err
}

type loggingBus struct {
	fresh.Bus
	log *orderLog
}

func (b loggingBus) Publish(ctx context.Context, msg []byte) error {
	if len(msg) > 0 && !bytes.Contains(msg, []byte("heartbeat")) {
		b.log.add("bus")
	}
	return b.Bus.Publish(ctx, msg)
}

// TestStoreBeforeBus pins the order of tiers for every write: the store has applied
// the write before the bus carries it, so a peer that hears it and misses cannot
// refill from an entry the write killed.
func TestStoreBeforeBus(t *testing.T) {
	log := &orderLog{}
	bus := fresh.NewLocalBus()
	t.Cleanup(func() { _ = bus.Close() })
	store := loggingStore{freshtest.NewMemStore(), log}
	// A long heartbeat keeps heartbeats out of the log.
	h, err := fresh.NewHub(fresh.HubOptions{Store: store, Bus: loggingBus{bus, log}, MaxStaleness: time.Hour, Heartbeat: 50 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	if err := h.RegisterTable(fresh.TableSchema{Table: "posts", Scopes: [][]string{{"author"}}}); err != nil {
		t.Fatal(err)
	}
	c := newL2Cache[string](t, process{h}, "c")
	ctx := context.Background()
	log.take()
	writes := map[string]func() error{
		"Invalidate": func() error { return h.Invalidate(ctx, fresh.Tag("x")) },
		"InvalidateRows": func() error {
			return h.InvalidateRows(ctx, fresh.RowChange{Table: "posts", New: fresh.Row{"id": 1, "author": 2}})
		},
		"Delete":            func() error { return c.Delete(ctx, "k") },
		"Set":               func() error { return c.Set(ctx, "k", "v") },
		"Flush":             func() error { return c.Flush(ctx) },
		"InvalidatePattern": func() error { return c.InvalidatePattern(ctx, "k*") },
	}
	for name, w := range writes {
		if err := w(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ops := log.take()
		si, bi := -1, -1
		for i, op := range ops {
			if strings.HasPrefix(op, "store:") && si < 0 {
				si = i
			}
			if op == "bus" && bi < 0 {
				bi = i
			}
		}
		if si < 0 || bi < 0 || si > bi {
			t.Errorf("%s: store and bus ops %q; want the store's invalidation before the publish", name, ops)
		}
	}
}

// TestStoreFillFenced: a load that read its data before an invalidation from another
// process is stored in neither tier, and its caller still gets it.
func TestStoreFillFenced(t *testing.T) {
	store := freshtest.NewMemStore()
	ps := newProcesses(t, 2, store, fresh.HubOptions{})
	a := newL2Cache[string](t, ps[0], "c")
	b := newL2Cache[string](t, ps[1], "c")
	read, release := make(chan struct{}), make(chan struct{})
	load := func(ctx context.Context, k string) (string, error) {
		fresh.Depend(ctx, fresh.Entity("rows", 1))
		close(read)
		<-release
		return "old", nil
	}
	done := make(chan string)
	go func() {
		v, _ := a.GetOrLoad(context.Background(), "k", load)
		done <- v
	}()
	<-read
	if err := b.Invalidate(context.Background(), fresh.Entity("rows", 1)); err != nil {
		t.Fatal(err)
	}
	close(release)
	if v := <-done; v != "old" {
		t.Fatalf("caller got %q, want its own load's value", v)
	}
	fresh2 := func(ctx context.Context, k string) (string, error) { return "new", nil }
	if got := mustGet(t, b, "k", fresh2); got != "new" {
		t.Fatalf("peer read %q after the invalidation; want a reload", got)
	}
	eventually(t, "the store refuses a's fill", func() bool { return a.Stats().StoreFenced == 1 })
	if s := a.Stats(); s.StoreFills != 0 {
		t.Fatalf("a stats = %+v; want the store fill refused", s)
	}
}

// TestNestedValuesInStore: an outer value stored in the store dies there when an inner
// dependency is invalidated, or the inner key is written, from another process.
func TestNestedValuesInStore(t *testing.T) {
	for _, write := range []string{"invalidate", "delete", "set"} {
		t.Run(write, func(t *testing.T) {
			ps := newProcesses(t, 2, freshtest.NewMemStore(), fresh.HubOptions{})
			ctx := context.Background()
			src := newL2Source()
			src.set("u", "ann")
			var inner, outer [2]*fresh.Cache[string, string]
			for i := range ps {
				inner[i] = newL2Cache[string](t, ps[i], "inner")
				outer[i] = newL2Cache[string](t, ps[i], "outer")
			}
			loadInner := src.loader(fresh.Entity("users", "u"))
			loadOuter := func(i int) fresh.Loader[string, string] {
				return func(ctx context.Context, k string) (string, error) {
					v, err := inner[i].GetOrLoad(ctx, "u", loadInner)
					return "hello " + v, err
				}
			}
			if got := mustGet(t, outer[0], "page", loadOuter(0)); got != "hello ann" {
				t.Fatalf("outer = %q", got)
			}
			// The store is filled after the callers have their value.
			eventually(t, "the nested value reaches the store", func() bool { return outer[0].Stats().StoreFills == 1 })
			src.set("u", "bob")
			switch write {
			case "invalidate":
				_ = inner[1].Invalidate(ctx, fresh.Entity("users", "u"))
			case "delete":
				_ = inner[1].Delete(ctx, "u")
			case "set":
				_ = inner[1].Set(ctx, "u", "bob")
			}
			// Process 1 has never read "page": it reads the store.
			if got := mustGet(t, outer[1], "page", loadOuter(1)); got != "hello bob" {
				t.Fatalf("peer outer = %q after the inner %s; want hello bob", got, write)
			}
			// Process 0 hears of the write through the bus.
			eventually(t, "process 0 drops the outer value", func() bool { return mustGet(t, outer[0], "page", loadOuter(0)) == "hello bob" })
		})
	}
}

// silentBus delivers nothing: a peer that has not yet heard of an invalidation.
type silentBus struct{}

func (silentBus) Publish(context.Context, []byte) error { return nil }
func (silentBus) Subscribe(context.Context, fresh.Handler) (fresh.Subscription, error) {
	return silentSub{}, nil
}

type silentSub struct{}

func (silentSub) Close() error { return nil }

// TestNestedStaleL1NotStored: an outer value built from an inner L1 entry that has
// not yet heard of an invalidation the store applied must not go to the store, where
// it would outlive the bus's delay.
func TestNestedStaleL1NotStored(t *testing.T) {
	store := freshtest.NewMemStore()
	// Process 0 hears nothing: its L1 lags the store, as it does until a bus message
	// arrives. Heartbeats are slow so that it keeps serving meanwhile.
	slow := fresh.HubOptions{Bus: silentBus{}, MaxStaleness: time.Hour, Heartbeat: 50 * time.Minute}
	p0 := newProcesses(t, 1, store, slow)[0]
	p1 := newProcesses(t, 1, store, fresh.HubOptions{})[0]
	src := newL2Source()
	src.set("u", "ann")
	inner0 := newL2Cache[string](t, p0, "inner")
	outer0 := newL2Cache[string](t, p0, "outer")
	outer1 := newL2Cache[string](t, p1, "outer")
	inner1 := newL2Cache[string](t, p1, "inner")
	loadInner := src.loader(fresh.Entity("users", "u"))
	mustGet(t, inner0, "u", loadInner) // in process 0's L1
	src.set("u", "bob")
	if err := p1.hub.Invalidate(context.Background(), fresh.Entity("users", "u")); err != nil {
		t.Fatal(err)
	}
	// Process 0 builds the outer value from its stale L1 entry (within the bus's
	// bound, which is its business) ...
	outerLoad := func(inner *fresh.Cache[string, string]) fresh.Loader[string, string] {
		return func(ctx context.Context, k string) (string, error) {
			v, err := inner.GetOrLoad(ctx, "u", loadInner)
			return "hello " + v, err
		}
	}
	mustGet(t, outer0, "page", outerLoad(inner0))
	// ... but process 1 must not find it in the store.
	if got := mustGet(t, outer1, "page", outerLoad(inner1)); got != "hello bob" {
		t.Fatalf("peer read %q from the store: a value built from a stale L1 entry was stored", got)
	}
}

type shapeA struct{ Name string }
type shapeB struct {
	Name string
	Age  int
}

// TestStoreFingerprint: a value written by another build (another type, codec, or
// ValueVersion) is a miss, never decoded into the wrong shape.
func TestStoreFingerprint(t *testing.T) {
	ps := newProcesses(t, 3, freshtest.NewMemStore(), fresh.HubOptions{})
	oldBuild := newL2Cache[shapeA](t, ps[0], "people")
	newBuild := newL2Cache[shapeB](t, ps[1], "people")
	versioned := newL2Cache[shapeA](t, ps[2], "people", func(o *fresh.Options[string, shapeA]) { o.ValueVersion = "v2" })
	mustGet(t, oldBuild, "1", func(context.Context, string) (shapeA, error) { return shapeA{"ann"}, nil })
	got := mustGet(t, newBuild, "1", func(context.Context, string) (shapeB, error) { return shapeB{"ann", 30}, nil })
	if got.Age != 30 {
		t.Fatalf("new build read %+v: the old build's value was decoded into the new type", got)
	}
	if s := newBuild.Stats(); s.StoreForeign != 1 || s.Loads != 1 {
		t.Fatalf("new build stats %+v; want one foreign value and one load", s)
	}
	v := mustGet(t, versioned, "1", func(context.Context, string) (shapeA, error) { return shapeA{"v2"}, nil })
	if v.Name != "v2" {
		t.Fatalf("versioned build read %+v from another version", v)
	}
}

// TestStoreCodecErrors: a value the codec cannot encode is an error to the caller and
// is cached nowhere; a codec that panics is an error, not a panic.
func TestStoreCodecErrors(t *testing.T) {
	ps := newProcesses(t, 1, freshtest.NewMemStore(), fresh.HubOptions{})
	c := newL2Cache[any](t, ps[0], "c")
	ctx := context.Background()
	_, err := c.GetOrLoad(ctx, "f", func(context.Context, string) (any, error) { return func() {}, nil })
	if !errors.Is(err, fresh.ErrCodec) {
		t.Fatalf("GetOrLoad of a func = %v; want ErrCodec", err)
	}
	if _, ok := c.Get("f"); ok {
		t.Fatal("an unencodable value was cached")
	}
	if err := c.Set(ctx, "f", make(chan int)); !errors.Is(err, fresh.ErrCodec) {
		t.Fatalf("Set of a chan = %v; want ErrCodec", err)
	}
	if _, ok := c.Get("f"); ok {
		t.Fatal("Set of an unencodable value changed the cache")
	}
	p := newL2Cache[string](t, ps[0], "p", func(o *fresh.Options[string, string]) { o.Codec = panicCodec{} })
	if _, err := p.GetOrLoad(ctx, "k", func(context.Context, string) (string, error) { return "v", nil }); !errors.Is(err, fresh.ErrCodec) {
		t.Fatalf("panicking codec: %v; want ErrCodec", err)
	}
	local := newL2Cache[any](t, ps[0], "local", func(o *fresh.Options[string, any]) { o.Local = true })
	if _, err := local.GetOrLoad(ctx, "f", func(context.Context, string) (any, error) { return func() {}, nil }); err != nil {
		t.Fatalf("a Local cache needs no codec: %v", err)
	}
}

type panicCodec struct{}

func (panicCodec) Encode(string) ([]byte, error) { panic("boom") }
func (panicCodec) Decode([]byte) (string, error) { panic("boom") }
func (panicCodec) Format() string                { return "panic" }

// TestStoreHostileValues: garbage under a cache's key in the store is a miss, counted.
func TestStoreHostileValues(t *testing.T) {
	store := freshtest.NewMemStore()
	ps := newProcesses(t, 1, store, fresh.HubOptions{})
	c := newL2Cache[shapeB](t, ps[0], "c")
	ctx := context.Background()
	junk := [][]byte{nil, {}, {0xF1}, {0xF1, 0, 1, 2}, []byte("\xF1\x00garbage-fingerprint{}"), bytes.Repeat([]byte{0xFF}, 100)}
	for i, b := range junk {
		key := fmt.Sprint("k", i)
		p, _ := store.Position(ctx)
		if _, err := store.Fill(ctx, "c:"+key, b, []string{"keys:c", "key:c:" + key}, p, 0); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, c, key, func(context.Context, string) (shapeB, error) { return shapeB{"ok", 1}, nil })
		if got.Name != "ok" {
			t.Fatalf("junk %d: got %+v", i, got)
		}
	}
	if s := c.Stats(); s.StoreForeign != uint64(len(junk)) {
		t.Fatalf("StoreForeign = %d, want %d", s.StoreForeign, len(junk))
	}
}

// TestStoreEmptyAndMissing: an empty value and a not-found round-trip distinctly.
func TestStoreEmptyAndMissing(t *testing.T) {
	ps := newProcesses(t, 2, freshtest.NewMemStore(), fresh.HubOptions{})
	src := newL2Source()
	src.set("empty", "")
	a := newL2Cache[string](t, ps[0], "c")
	b := newL2Cache[string](t, ps[1], "c")
	load := src.loader()
	for _, c := range []*fresh.Cache[string, string]{a, b} {
		if v, err := c.GetOrLoad(context.Background(), "empty", load); v != "" || err != nil {
			t.Fatalf("empty = %q, %v", v, err)
		}
		if _, err := c.GetOrLoad(context.Background(), "missing", load); !errors.Is(err, fresh.ErrNotFound) {
			t.Fatalf("missing = %v; want ErrNotFound", err)
		}
	}
	if n := src.loads.Load(); n != 2 {
		t.Fatalf("loads = %d; want 2 (the second process reads both answers from the store)", n)
	}
}

// TestStoreRemainingTTL: an L1 entry filled from the store keeps the store entry's
// remaining lifetime, not a fresh one.
func TestStoreRemainingTTL(t *testing.T) {
	ps := newProcesses(t, 2, freshtest.NewMemStore(), fresh.HubOptions{})
	const ttl = 400 * time.Millisecond
	ttlOpt := func(o *fresh.Options[string, string]) { o.TTL = ttl }
	a := newL2Cache[string](t, ps[0], "c", ttlOpt)
	b := newL2Cache[string](t, ps[1], "c", ttlOpt)
	src := newL2Source()
	src.set("k", "v")
	start := time.Now()
	mustGet(t, a, "k", src.loader())
	time.Sleep(ttl / 2)
	mustGet(t, b, "k", src.loader()) // from the store, with ttl/2 left
	if src.loads.Load() != 1 {
		t.Fatal("b did not read the store")
	}
	deadline := start.Add(ttl + 150*time.Millisecond)
	for {
		if _, ok := b.Get("k"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b's entry lives %v past the store entry's %v lifetime", time.Since(start), ttl)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flakyStore fails every call while down is set.
type flakyStore struct {
	fresh.Store
	down atomic.Bool
}

var errDown = errors.New("store down")

func (s *flakyStore) Position(ctx context.Context) (fresh.Position, error) {
	if s.down.Load() {
		return fresh.Position{}, errDown
	}
	return s.Store.Position(ctx)
}

func (s *flakyStore) Get(ctx context.Context, k string) (fresh.StoreEntry, bool, error) {
	if s.down.Load() {
		return fresh.StoreEntry{}, false, errDown
	}
	return s.Store.Get(ctx, k)
}

func (s *flakyStore) Fill(ctx context.Context, k string, v []byte, d []string, at fresh.Position, ttl time.Duration) (bool, error) {
	if s.down.Load() {
		return false, errDown
	}
	return s.Store.Fill(ctx, k, v, d, at, ttl)
}

func (s *flakyStore) Invalidate(ctx context.Context, d []string) (fresh.Position, error) {
	if s.down.Load() {
		return fresh.Position{}, errDown
	}
	return s.Store.Invalidate(ctx, d)
}

func (s *flakyStore) Flush(ctx context.Context) (fresh.Position, error) {
	if s.down.Load() {
		return fresh.Position{}, errDown
	}
	return s.Store.Flush(ctx)
}

// countingHandler counts log records at Warn and above.
type countingHandler struct {
	slog.Handler
	warns atomic.Int64
	msgs  sync.Map
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.warns.Add(1)
	}
	n, _ := h.msgs.LoadOrStore(r.Message, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// TestStoreDown: with the store failing, reads load and invalidations apply locally;
// the outage is logged once; when the store answers again it is flushed before use,
// so a value it held from before an invalidation it missed is never served.
func TestStoreDown(t *testing.T) {
	store := &flakyStore{Store: freshtest.NewMemStore()}
	logs := &countingHandler{}
	ps := newProcesses(t, 2, store, fresh.HubOptions{Logger: slog.New(logs)})
	a := newL2Cache[string](t, ps[0], "c")
	b := newL2Cache[string](t, ps[1], "c")
	ctx := context.Background()
	src := newL2Source()
	src.set("k", "old")
	load := src.loader(fresh.Tag("t"))
	mustGet(t, a, "k", load) // in the store

	store.down.Store(true)
	src.set("k", "new")
	if err := a.Invalidate(ctx, fresh.Tag("t")); err != nil {
		t.Fatalf("Invalidate with the store down: %v", err)
	}
	for range 20 {
		if got := mustGet(t, a, "k", load); got != "new" {
			t.Fatalf("a read %q with the store down", got)
		}
		_ = a.Delete(ctx, "k")
	}
	if got := mustGet(t, b, "k", load); got != "new" {
		t.Fatalf("b read %q with the store down", got)
	}
	hs := ps[0].hub.Stats()
	if !hs.StoreDown || hs.StoreErrors == 0 {
		t.Fatalf("hub stats %+v; want the store down and errors counted", hs)
	}
	if n, ok := logs.msgs.Load("fresh: the shared store is unavailable; reading through to the loaders until it answers"); !ok || n.(*atomic.Int64).Load() > 2 {
		t.Fatalf("outage logged %v times; want once per process", n)
	}

	store.down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for ps[0].hub.Stats().StoreDown || ps[1].hub.Stats().StoreDown {
		if time.Now().After(deadline) {
			t.Fatal("the hubs did not take the store back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A third process, with an empty L1, must not find the pre-outage value.
	p2 := newProcesses(t, 1, store, fresh.HubOptions{})[0]
	c := newL2Cache[string](t, p2, "c")
	if got := mustGet(t, c, "k", load); got != "new" {
		t.Fatalf("after recovery a new process read %q: the store kept a value from before an invalidation it missed", got)
	}
}

// TestStoreEpochChangeFlushes: when the store starts a new epoch (a flush by another
// process, a restart it detected), the hub drops what it filled from the old one.
func TestStoreEpochChangeFlushes(t *testing.T) {
	store := freshtest.NewMemStore()
	ps := newProcesses(t, 1, store, fresh.HubOptions{})
	c := newL2Cache[string](t, ps[0], "c")
	src := newL2Source()
	src.set("k", "v")
	src.set("other", "v")
	mustGet(t, c, "k", src.loader())
	if _, err := store.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustGet(t, c, "other", src.loader()) // the hub sees the new epoch here
	if _, ok := c.Get("k"); ok {
		t.Fatal("an entry from the store's old epoch is still served after the hub saw the new one")
	}
	if n := ps[0].hub.Stats().StoreEpochChanges; n != 1 {
		t.Fatalf("StoreEpochChanges = %d", n)
	}
}

// TestStoreLeases: concurrent misses of one key in several processes cost one load.
func TestStoreLeases(t *testing.T) {
	ps := newProcesses(t, 4, freshtest.NewMemStore(), fresh.HubOptions{})
	var loads atomic.Int64
	load := func(ctx context.Context, k string) (string, error) {
		loads.Add(1)
		time.Sleep(50 * time.Millisecond)
		return "v", nil
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range ps {
		c := newL2Cache[string](t, ps[i], "c")
		for range 250 {
			wg.Go(func() {
				<-start
				if v, err := c.GetOrLoad(context.Background(), "hot", load); v != "v" || err != nil {
					t.Errorf("GetOrLoad = %q, %v", v, err)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("1000 misses over 4 processes made %d loader calls; want 1", n)
	}
}

// TestStoreBadOptions: the store options are checked.
func TestStoreBadOptions(t *testing.T) {
	for _, o := range []fresh.HubOptions{
		{StoreTimeout: time.Second},
		{LeaseTTL: time.Second},
		{Store: freshtest.NewMemStore(), StoreTimeout: -1},
		{Store: freshtest.NewMemStore(), LeaseTTL: 2 * time.Hour},
	} {
		if h, err := fresh.NewHub(o); err == nil {
			_ = h.Close(context.Background())
			t.Errorf("NewHub(%+v) succeeded", o)
		}
	}
}

// TestStoreCloseLeavesNoGoroutine: a hub whose store failed stops its probe on Close.
func TestStoreCloseLeavesNoGoroutine(t *testing.T) {
	store := &flakyStore{Store: freshtest.NewMemStore()}
	store.down.Store(true)
	h, err := fresh.NewHub(fresh.HubOptions{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	c := newL2Cache[string](t, process{h}, "c")
	mustGet(t, c, "k", func(context.Context, string) (string, error) { return "v", nil })
	if !h.Stats().StoreDown {
		t.Fatal("store not marked down")
	}
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(goroutineStacks(), func(s string) bool { return strings.Contains(s, "storeLink") }) {
		t.Fatal("the store probe outlived Close")
	}
}

// goroutineStacks returns the stacks of every goroutine.
func goroutineStacks() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Split(string(buf), "\n\n")
}

// collidingStore maps every key to one slot, as a store that hashes keys might.
type collidingStore struct{ fresh.Store }

func (s collidingStore) Get(ctx context.Context, _ string) (fresh.StoreEntry, bool, error) {
	return s.Store.Get(ctx, "slot")
}

func (s collidingStore) Fill(ctx context.Context, _ string, v []byte, d []string, at fresh.Position, ttl time.Duration) (bool, error) {
	return s.Store.Fill(ctx, "slot", v, d, at, ttl)
}

// TestStoreKeyChecked (P22): values in the store carry their full key, checked on
// read, so two keys sharing a slot never get each other's value.
func TestStoreKeyChecked(t *testing.T) {
	ps := newProcesses(t, 2, collidingStore{freshtest.NewMemStore()}, fresh.HubOptions{})
	a := newL2Cache[string](t, ps[0], "c")
	b := newL2Cache[string](t, ps[1], "c")
	load := func(_ context.Context, k string) (string, error) { return "value of " + k, nil }
	mustGet(t, a, "x", load)
	eventually(t, "x reaches the store", func() bool { return a.Stats().StoreFills == 1 })
	if got := mustGet(t, b, "y", load); got != "value of y" {
		t.Fatalf("b read %q for key y", got)
	}
	if s := b.Stats(); s.StoreForeign != 1 {
		t.Fatalf("b stats %+v; want the other key's value refused", s)
	}
}

// leaseHookStore runs hook before its first Lease.
type leaseHookStore struct {
	*freshtest.MemStore
	once sync.Once
	hook func()
}

func (s *leaseHookStore) Lease(ctx context.Context, key string, ttl time.Duration) (string, bool, time.Duration, error) {
	s.once.Do(s.hook)
	return s.MemStore.Lease(ctx, key, ttl)
}

// TestStoreLeaseAfterFill: a process that missed in the store just before another
// filled it, and takes the lease just after the other released it, reads the store
// again rather than load a second time.
func TestStoreLeaseAfterFill(t *testing.T) {
	mem := freshtest.NewMemStore()
	var loads atomic.Int64
	load := func(context.Context, string) (string, error) { loads.Add(1); return "v", nil }
	a := newL2Cache[string](t, newProcesses(t, 1, mem, fresh.HubOptions{})[0], "c")
	hooked := &leaseHookStore{MemStore: mem}
	hooked.hook = func() {
		// Between b's miss and b's lease: a loads, fills and releases.
		mustGet(t, a, "k", load)
		eventually(t, "a fills the store", func() bool { return a.Stats().StoreFills == 1 })
		eventually(t, "a releases its lease", func() bool {
			tok, ok, _, _ := mem.Lease(context.Background(), "c:k", time.Second)
			if ok {
				_ = mem.Release(context.Background(), "c:k", tok)
			}
			return ok
		})
	}
	b := newL2Cache[string](t, newProcesses(t, 1, hooked, fresh.HubOptions{})[0], "c")
	mustGet(t, b, "k", load)
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads; want 1: b took the lease after a's fill and loaded again", n)
	}
	if s := b.Stats(); s.StoreHits != 1 || s.StoreMisses != 0 {
		t.Fatalf("b stats %+v", s)
	}
}

// TestStoreMissedTellsPeers: when a writer's invalidation does not reach the store,
// the peers that hear of it must not refill themselves from the store entry it should
// have killed: the writer tells them, before the invalidation, to stop reading the
// store until it has been flushed.
func TestStoreMissedTellsPeers(t *testing.T) {
	mem := freshtest.NewMemStore()
	bus := fresh.NewLocalBus()
	t.Cleanup(func() { _ = bus.Close() })
	writerStore := &flakyStore{Store: mem}
	hub := func(s fresh.Store) *fresh.Hub {
		h, err := fresh.NewHub(fresh.HubOptions{Store: s, Bus: bus})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close(context.Background()) })
		return h
	}
	writer := newL2Cache[string](t, process{hub(writerStore)}, "c")
	peer := newL2Cache[string](t, process{hub(mem)}, "c")
	src := newL2Source()
	src.set("k", "1")
	load := src.loader(fresh.Tag("t"))
	mustGet(t, peer, "k", load)
	eventually(t, "the value reaches the store", func() bool { return peer.Stats().StoreFills == 1 })

	writerStore.down.Store(true) // the writer cannot reach the store; the peer can
	src.set("k", "2")
	if err := writer.Invalidate(context.Background(), fresh.Tag("t")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the peer reads the new value", func() bool { return mustGet(t, peer, "k", load) == "2" })
	for range 50 {
		if got := mustGet(t, peer, "k", load); got != "2" {
			t.Fatalf("the peer read %q again: it refilled from the store entry the invalidation missed", got)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
