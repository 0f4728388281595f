package fresh

// Regression tests for the defects listed in the issue "The core keeps its promises":
// each one reproduces a way the core served or stored a stale value, or stopped
// proving freshness, and fails on the code before the fix.

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/freshcache/fresh/internal/wire"
)

func testHub(t *testing.T, o HubOptions) *Hub {
	t.Helper()
	h, err := NewHub(o)
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func testCache[K comparable, V any](t *testing.T, o Options[K, V]) *Cache[K, V] {
	t.Helper()
	if o.Hub == nil {
		o.Hub = testHub(t, HubOptions{})
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// blockingLoad starts a GetOrLoad of key whose loader returns v once released; the
// caller's context is cancelled when the returned cancel is called. It returns when
// the loader is running.
func blockingLoad(t *testing.T, c *Cache[string, int], key string, v int) (cancel func(), release func(), done <-chan struct{}) {
	t.Helper()
	ctx, cancelCtx := context.WithCancel(context.Background())
	entered, rel, fin := make(chan struct{}), make(chan struct{}), make(chan struct{})
	loaderDone := make(chan struct{})
	go func() {
		_, _ = c.GetOrLoad(ctx, key, func(ctx context.Context, _ string) (int, error) {
			defer close(loaderDone)
			close(entered)
			<-rel // ignores its context, as a slow query would
			return v, nil
		})
		close(fin)
	}()
	<-entered
	return cancelCtx, func() { close(rel); <-loaderDone; time.Sleep(10 * time.Millisecond) }, fin
}

// TestAbandonedLoadNeverStores: when every caller of a load has left, a write made
// afterwards must not be overwritten by the load's older value.
func TestAbandonedLoadNeverStores(t *testing.T) {
	ctx := context.Background()
	writes := map[string]func(c *Cache[string, int]){
		"Delete":            func(c *Cache[string, int]) { c.Delete(ctx, "k") },
		"Set":               func(c *Cache[string, int]) { c.Set(ctx, "k", 2) },
		"Flush":             func(c *Cache[string, int]) { c.Flush(ctx) },
		"InvalidatePattern": func(c *Cache[string, int]) { _ = c.InvalidatePattern(ctx, "k*") },
		"Close":             func(c *Cache[string, int]) {},
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			c := testCache(t, Options[string, int]{})
			cancel, release, fin := blockingLoad(t, c, "k", 1)
			cancel()
			<-fin // the only caller has left
			write(c)
			release()
			if v, ok := c.Get("k"); ok && v == 1 {
				t.Fatalf("the abandoned load stored its value after %s", name)
			}
			if name == "Set" {
				if v, ok := c.Get("k"); !ok || v != 2 {
					t.Fatalf("after Set: %d, %v; want 2 (the abandoned load overwrote it)", v, ok)
				}
			}
			if c.Stats().Abandoned != 1 {
				t.Errorf("Abandoned = %d; want 1", c.Stats().Abandoned)
			}
		})
	}
}

// TestSetAsOfAfterDelete: a value computed before a Delete of its key is refused.
func TestSetAsOfAfterDelete(t *testing.T) {
	ctx := context.Background()
	c := testCache(t, Options[string, int]{})
	pos := c.Position()
	c.Delete(ctx, "k")
	c.Set(ctx, "k", 1, AsOf(pos))
	if _, ok := c.Get("k"); ok {
		t.Fatal("Set(AsOf) stored a value computed before a Delete of its key")
	}
	c.Set(ctx, "k", 2, AsOf(c.Position()))
	if _, ok := c.Get("k"); !ok {
		t.Fatal("Set(AsOf) of a value computed after the Delete was refused")
	}
}

// TestRequestScopeOwnWriteDuringLoad: a request that invalidates while one of its own
// loads runs does not read the pre-write value from its memo afterwards.
func TestRequestScopeOwnWriteDuringLoad(t *testing.T) {
	c := testCache(t, Options[string, int]{})
	ctx := WithRequestScope(context.Background())
	var src atomic.Int64
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	load := func(ctx context.Context, _ string) (int, error) {
		Depend(ctx, Tag("t"))
		v := int(src.Load())
		once.Do(func() { close(entered); <-release })
		return v, nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.GetOrLoad(ctx, "k", load)
	}()
	<-entered
	src.Store(1)
	if err := c.Invalidate(ctx, Tag("t")); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-done
	if v, err := c.GetOrLoad(ctx, "k", load); err != nil || v != 1 {
		t.Fatalf("after its own write the request read %d, %v; want 1", v, err)
	}
}

// TestRequestMemoDoesNotReachFlights: a memo answer of one request never reaches
// another request through a shared load.
func TestRequestMemoDoesNotReachFlights(t *testing.T) {
	h := testHub(t, HubOptions{})
	inner := testCache(t, Options[string, int]{Hub: h, Disabled: true})
	outer := testCache(t, Options[string, int]{Hub: h})
	var src atomic.Int64
	loadInner := func(ctx context.Context, _ string) (int, error) {
		Depend(ctx, Tag("inner"))
		return int(src.Load()), nil
	}
	reqA := WithRequestScope(context.Background())
	inner.GetOrLoad(reqA, "i", loadInner) // A's memo holds 0
	src.Store(1)
	h.Invalidate(context.Background(), Tag("inner")) // another process's write
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	loadOuter := func(ctx context.Context, _ string) (int, error) {
		v, err := inner.GetOrLoad(ctx, "i", loadInner)
		once.Do(func() { close(entered); <-release })
		return v, err
	}
	go outer.GetOrLoad(reqA, "o", loadOuter)
	<-entered
	gotB := make(chan int, 1)
	go func() {
		v, _ := outer.GetOrLoad(WithRequestScope(context.Background()), "o", loadOuter)
		gotB <- v
	}()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if v := <-gotB; v != 1 {
		t.Fatalf("a request that began after the write got %d through another request's memo", v)
	}
}

// TestNestedKeyWrites: an outer value dies with every write of the inner key it was
// built from, in the default hub with no configuration.
func TestNestedKeyWrites(t *testing.T) {
	ctx := context.Background()
	writes := map[string]func(inner *Cache[string, int]){
		"Delete":  func(c *Cache[string, int]) { c.Delete(ctx, "i") },
		"Set":     func(c *Cache[string, int]) { c.Set(ctx, "i", 5) },
		"Flush":   func(c *Cache[string, int]) { c.Flush(ctx) },
		"Pattern": func(c *Cache[string, int]) { _ = c.InvalidatePattern(ctx, "i") },
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			inner, err := New(Options[string, int]{})
			if err != nil {
				t.Fatal(err)
			}
			defer inner.Close(ctx)
			outer, err := New(Options[string, int]{})
			if err != nil {
				t.Fatal(err)
			}
			defer outer.Close(ctx)
			inner.Set(ctx, "i", 1)
			load := func(ctx context.Context, _ string) (int, error) {
				return inner.GetOrLoad(ctx, "i", func(context.Context, string) (int, error) { return 9, nil })
			}
			if v, _ := outer.GetOrLoad(ctx, "o", load); v != 1 {
				t.Fatalf("outer = %d; want 1", v)
			}
			write(inner)
			if v, ok := outer.Get("o"); ok {
				t.Fatalf("the outer value %d survived %s of the inner key", v, name)
			}
		})
	}
}

// TestNestedKeyWriteDuringLoad: a write of the inner key between the nested read and
// the outer store fences the outer value (I4), with the write at every pause point.
func TestNestedKeyWriteDuringLoad(t *testing.T) {
	ctx := context.Background()
	h := testHub(t, HubOptions{})
	inner := testCache(t, Options[string, int]{Hub: h})
	outer := testCache(t, Options[string, int]{Hub: h})
	inner.Set(ctx, "i", 1)
	read, release := make(chan struct{}), make(chan struct{})
	go func() {
		outer.GetOrLoad(ctx, "o", func(ctx context.Context, _ string) (int, error) {
			v, err := inner.GetOrLoad(ctx, "i", nil)
			close(read)
			<-release
			return v, err
		})
	}()
	<-read
	inner.Set(ctx, "i", 2)
	close(release)
	time.Sleep(20 * time.Millisecond)
	if v, ok := outer.Get("o"); ok {
		t.Fatalf("outer %d built from the inner key's old value was stored after its Set", v)
	}
}

// TestNestedValuesAreCached: a nested read of a value cached long ago does not lower
// the outer fill position, so the outer value is stored even when its own
// dependencies were invalidated since the inner value was cached (I3).
func TestNestedValuesAreCached(t *testing.T) {
	ctx := context.Background()
	h := testHub(t, HubOptions{})
	authors := testCache(t, Options[int, string]{Hub: h})
	lists := testCache(t, Options[string, string]{Hub: h})
	authors.Set(ctx, 1, "Ada", DependsOn(Entity("authors", 1)))
	h.Invalidate(ctx, Table("posts")) // the list's own dependency, after the author was cached
	list := func(ctx context.Context, _ string) (string, error) {
		Depend(ctx, Table("posts"))
		return authors.GetOrLoad(ctx, 1, nil)
	}
	lists.GetOrLoad(ctx, "front", list)
	if _, ok := lists.Get("front"); !ok {
		t.Fatal("a list built from a cached author was not stored (fenced by the author's old position)")
	}
	if s := lists.Stats(); s.Fenced != 0 {
		t.Fatalf("Fenced = %d; want 0", s.Fenced)
	}
}

// TestSchemesAreShared: InvalidateRows through one cache uses the scopes another cache
// registered.
func TestSchemesAreShared(t *testing.T) {
	ctx := context.Background()
	h := testHub(t, HubOptions{})
	lists := testCache(t, Options[string, int]{Hub: h, Tables: []TableSchema{{Table: "posts", Scopes: [][]string{{"author"}}}}})
	writer := testCache(t, Options[string, int]{Hub: h})
	lists.Set(ctx, "by-7", 1, DependsOn(Scope("posts", Eq("author", 7))))
	writer.InvalidateRows(ctx, RowChange{Table: "posts", New: Row{"id": 1, "author": 7}})
	if _, ok := lists.Get("by-7"); ok {
		t.Fatal("InvalidateRows through another cache ignored the scope registered by this one")
	}
}

// TestRowValuesCanonical: row values of another Go type than the dependency's
// (JSON numbers, integers for booleans, numbers as bytes, ids from a URL) match it.
func TestRowValuesCanonical(t *testing.T) {
	ctx := context.Background()
	var fromJSON map[string]any
	if err := json.Unmarshal([]byte(`{"id": 42, "author": 7, "published": true}`), &fromJSON); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		dep Dep
		row Row
	}{
		"json float id":      {Entity("posts", 42), Row(fromJSON)},
		"string id from url": {Entity("posts", "42"), Row{"id": int64(42)}},
		"bytes id":           {Entity("posts", 42), Row{"id": []byte("42")}},
		"int64 for bool":     {Scope("posts", Eq("published", true)), Row{"id": 1, "published": int64(1)}},
		"string bool":        {Scope("posts", Eq("published", "true")), Row{"id": 1, "published": true}},
		"json scope":         {Scope("posts", Eq("author", 7)), Row(fromJSON)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := testCache(t, Options[string, int]{Tables: []TableSchema{{Table: "posts", Scopes: [][]string{{"published"}, {"author"}}}}})
			if err := c.Set(ctx, "k", 1, DependsOn(tc.dep)); err != nil {
				t.Fatal(err)
			}
			c.InvalidateRows(ctx, RowChange{Table: "posts", New: tc.row})
			if _, ok := c.Get("k"); ok {
				t.Fatalf("%v survived a row change %v", tc.dep, tc.row)
			}
		})
	}
}

// busHubs returns n hubs on one LocalBus, standing for n processes.
func busHubs(t *testing.T, n int, o HubOptions) (*LocalBus, []*Hub) {
	t.Helper()
	bus := NewLocalBus()
	t.Cleanup(func() { bus.Close() })
	o.Bus = bus
	if o.MaxStaleness == 0 {
		o.MaxStaleness, o.Heartbeat = time.Second, 50*time.Millisecond
	}
	hubs := make([]*Hub, n)
	for i := range hubs {
		hubs[i] = testHub(t, o)
	}
	return bus, hubs
}

// waitUntil polls cond for up to 2 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}

// TestSchemesOfOtherProcesses: a scope registered only in another process is
// invalidated by a row change made here.
func TestSchemesOfOtherProcesses(t *testing.T) {
	ctx := context.Background()
	_, hubs := busHubs(t, 2, HubOptions{})
	lists := testCache(t, Options[string, int]{Hub: hubs[0], Name: "lists", Tables: []TableSchema{{Table: "posts", Scopes: [][]string{{"author"}}}}})
	lists.Set(ctx, "by-7", 1, DependsOn(Scope("posts", Eq("author", 7))))
	if err := hubs[1].InvalidateRows(ctx, RowChange{Table: "posts", New: Row{"id": 1, "author": 7}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the other process drops by-7", func() bool { _, ok := lists.Get("by-7"); return !ok })
}

// TestSetIsPublished: write-through reaches other processes.
func TestSetIsPublished(t *testing.T) {
	ctx := context.Background()
	_, hubs := busHubs(t, 2, HubOptions{})
	a := testCache(t, Options[string, int]{Hub: hubs[0], Name: "c"})
	b := testCache(t, Options[string, int]{Hub: hubs[1], Name: "c"})
	b.Set(ctx, "k", 1)
	waitUntil(t, "b's Set reaches a", func() bool { return hubs[0].Stats().Received == 1 })
	if err := a.Set(ctx, "k", 2); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "b drops its old value", func() bool { _, ok := b.Get("k"); return !ok })
}

// TestKeyTooLongForTheWire: a deletion that cannot travel flushes the cache in other
// processes rather than leaving them serving.
func TestKeyTooLongForTheWire(t *testing.T) {
	ctx := context.Background()
	_, hubs := busHubs(t, 2, HubOptions{})
	a := testCache(t, Options[string, int]{Hub: hubs[0], Name: "c"})
	b := testCache(t, Options[string, int]{Hub: hubs[1], Name: "c"})
	long := strings.Repeat("k", wire.MaxItemLen+1)
	b.Set(ctx, long, 1)
	b.Set(ctx, "other", 1)
	waitUntil(t, "b's Sets reach a", func() bool { return hubs[0].Stats().Received >= 2 })
	a.Delete(ctx, long)
	waitUntil(t, "b flushes", func() bool { _, ok := b.Get(long); return !ok })
}

// TestHeartbeatFailureFlushesNobody: a failed heartbeat publish costs no sequence
// number, so nobody sees a gap.
func TestHeartbeatFailureFlushesNobody(t *testing.T) {
	ctx := context.Background()
	bus := NewLocalBus()
	defer bus.Close()
	fail := &failBeats{Bus: bus}
	a := testHub(t, HubOptions{Bus: fail, MaxStaleness: time.Second, Heartbeat: 20 * time.Millisecond})
	b := testHub(t, HubOptions{Bus: bus, MaxStaleness: time.Second, Heartbeat: 20 * time.Millisecond})
	a.Invalidate(ctx, Tag("x"))
	fail.on.Store(true)
	time.Sleep(100 * time.Millisecond)
	fail.on.Store(false)
	a.Invalidate(ctx, Tag("y"))
	waitUntil(t, "b hears both", func() bool { return b.Stats().Received == 2 })
	time.Sleep(100 * time.Millisecond)
	if ga, gb := a.Stats().Gaps, b.Stats().Gaps; ga != 0 || gb != 0 {
		t.Fatalf("failed heartbeats caused gaps: sender %d, receiver %d", ga, gb)
	}
}

// failBeats fails the publication of heartbeats while on.
type failBeats struct {
	Bus
	on atomic.Bool
}

func (f *failBeats) Publish(ctx context.Context, msg []byte) error {
	if m, err := wire.Decode(msg); err == nil && m.Kind == wire.KindHeartbeat && f.on.Load() {
		return errors.New("heartbeat lost")
	}
	return f.Bus.Publish(ctx, msg)
}

// capture subscribes to bus and returns the first message of kind k it sees.
func capture(t *testing.T, bus Bus, k wire.Kind) func() wire.Message {
	t.Helper()
	ch := make(chan wire.Message, 64)
	sub, err := bus.Subscribe(context.Background(), handlerFunc(func(b []byte) {
		if m, err := wire.Decode(b); err == nil && m.Kind == k {
			select {
			case ch <- m:
			default:
			}
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return func() wire.Message {
		select {
		case m := <-ch:
			return m
		case <-time.After(2 * time.Second):
			t.Fatal("no message captured")
			return wire.Message{}
		}
	}
}

type handlerFunc func([]byte)

func (h handlerFunc) HandleMessage(b []byte) { h(b) }
func (h handlerFunc) HandleLoss(error)       {}

// TestForgedSequenceDoesNotSilence: a message forged with a publisher's origin and a
// huge sequence number costs a flush, but the publisher's later invalidations still
// apply.
func TestForgedSequenceDoesNotSilence(t *testing.T) {
	ctx := context.Background()
	bus, hubs := busHubs(t, 2, HubOptions{})
	next := capture(t, bus, wire.KindInvalidate)
	hubs[0].Invalidate(ctx, Tag("first"))
	m := next()
	m.Seq = 1 << 60
	b, _ := wire.Append(nil, &m)
	bus.Publish(ctx, b)
	c := testCache(t, Options[string, int]{Hub: hubs[1], Name: "c"})
	waitUntil(t, "the forgery is applied", func() bool { return hubs[1].Stats().Received == 2 })
	c.Set(ctx, "k", 1, DependsOn(Tag("t")))
	hubs[0].Invalidate(ctx, Tag("t"))
	waitUntil(t, "the real invalidation applies", func() bool { _, ok := c.Get("k"); return !ok })
}

// TestFutureHeartbeatProvesNothing: a heartbeat forged with a hub's origin and a stamp
// in the future does not keep it serving when its bus goes silent.
func TestFutureHeartbeatProvesNothing(t *testing.T) {
	ctx := context.Background()
	local := NewLocalBus()
	defer local.Close()
	deaf := &deafBus{Bus: local}
	next := capture(t, local, wire.KindHeartbeat)
	h := testHub(t, HubOptions{Bus: deaf, MaxStaleness: 200 * time.Millisecond, Heartbeat: 20 * time.Millisecond})
	m := next()
	m.Stamp += int64(time.Hour)
	b, _ := wire.Append(nil, &m)
	local.Publish(ctx, b)
	time.Sleep(50 * time.Millisecond)
	deaf.deaf.Store(true)
	waitUntil(t, "the silent hub suspends", func() bool { return h.Stats().Suspended })
}

// deafBus stops delivering while deaf, as a dead subscription would.
type deafBus struct {
	Bus
	deaf atomic.Bool
}

func (d *deafBus) Subscribe(ctx context.Context, h Handler) (Subscription, error) {
	return d.Bus.Subscribe(ctx, deafHandler{h, d})
}

type deafHandler struct {
	Handler
	d *deafBus
}

func (h deafHandler) HandleMessage(b []byte) {
	if !h.d.deaf.Load() {
		h.Handler.HandleMessage(b)
	}
}

// TestStalenessBoundIsExact: a hub stops serving MaxStaleness after the send time of
// its last returned heartbeat, not a heartbeat interval later, and a publish stuck in
// the transport does not delay that.
func TestStalenessBoundIsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		local := NewLocalBus()
		defer local.Close()
		bus := &stuckBus{deafBus: deafBus{Bus: local}}
		const maxStale, beat = time.Second, 900 * time.Millisecond
		h, err := NewHub(HubOptions{Bus: bus, MaxStaleness: maxStale, Heartbeat: beat})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(ctx)
		time.Sleep(beat) // the first heartbeat goes out at beat and comes back at once
		synctest.Wait()
		bus.deaf.Store(true)
		bus.stuck.Store(true) // the next heartbeat publish never returns by itself
		time.Sleep(maxStale - time.Millisecond)
		synctest.Wait()
		if h.Stats().Suspended {
			t.Fatal("suspended before MaxStaleness had passed")
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if !h.Stats().Suspended {
			t.Fatal("still serving MaxStaleness after the last heartbeat was sent")
		}
		bus.stuck.Store(false)
	})
}

// stuckBus is a deafBus whose publishes block until their context ends while stuck.
type stuckBus struct {
	deafBus
	stuck atomic.Bool
}

func (s *stuckBus) Publish(ctx context.Context, msg []byte) error {
	if s.stuck.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return s.deafBus.Publish(ctx, msg)
}

// TestRetryQueueBoundedByBytes: invalidations queued behind a dead bus are abandoned
// with a new epoch once they hold too many bytes, not only too many messages.
func TestRetryQueueBoundedByBytes(t *testing.T) {
	ctx := context.Background()
	local := NewLocalBus()
	defer local.Close()
	down := &downBus{Bus: local}
	h := testHub(t, HubOptions{Bus: down})
	down.down.Store(true)
	big := strings.Repeat("x", 60<<10)
	for i := range 400 { // 24 MB, far fewer than maxPending messages
		h.Invalidate(ctx, Tag(big+string(rune('a'+i%26))+strings.Repeat("y", i)))
	}
	h.link.pubMu.Lock()
	bytes := h.link.pendingBytes
	h.link.pubMu.Unlock()
	if bytes > maxPendingBytes {
		t.Fatalf("%d bytes queued; the bound is %d", bytes, maxPendingBytes)
	}
}

type downBus struct {
	Bus
	down atomic.Bool
}

func (d *downBus) Publish(ctx context.Context, msg []byte) error {
	if d.down.Load() {
		return errors.New("bus down")
	}
	return d.Bus.Publish(ctx, msg)
}

// TestDependsOnCopiesItsArgument: the option does not keep the caller's slice, which a
// background refresh would read later.
func TestDependsOnCopiesItsArgument(t *testing.T) {
	ctx := context.Background()
	c := testCache(t, Options[string, int]{})
	deps := []Dep{Tag("a")}
	opt := DependsOn(deps...)
	deps[0] = Tag("b")
	c.Set(ctx, "k", 1, opt)
	c.Invalidate(ctx, Tag("a"))
	if _, ok := c.Get("k"); ok {
		t.Fatal("DependsOn used the caller's slice after it changed")
	}
}

// TestStrictFindsLoaderContextMisuse: in a strict hub, a nested read made with a
// context other than the loader's fails the load instead of losing its dependencies.
func TestStrictFindsLoaderContextMisuse(t *testing.T) {
	ctx := context.Background()
	h := testHub(t, HubOptions{Strict: true})
	inner := testCache(t, Options[string, int]{Hub: h})
	outer := testCache(t, Options[string, int]{Hub: h})
	_, err := outer.GetOrLoad(ctx, "o", func(_ context.Context, _ string) (int, error) {
		return inner.GetOrLoad(ctx, "i", func(context.Context, string) (int, error) { return 1, nil })
	})
	if !errors.Is(err, ErrLoaderContext) {
		t.Fatalf("err = %v; want ErrLoaderContext", err)
	}
	if _, ok := outer.Get("o"); ok {
		t.Fatal("the value with lost dependencies was cached")
	}
}

// TestExtremeOptions: extreme inputs work or are refused, never crash.
func TestExtremeOptions(t *testing.T) {
	ctx := context.Background()
	for name, o := range map[string]Options[string, int]{
		"huge MaxEntries": {MaxEntries: 1 << 62},
		"huge TTL":        {TTL: 1<<63 - 1},
		"jitter no TTL":   {Jitter: 0.5},
	} {
		if c, err := New(o); err == nil {
			c.Close(ctx)
			t.Errorf("%s: accepted", name)
		}
	}
	c := testCache(t, Options[string, int]{TTL: time.Hour})
	for name, opt := range map[string]Option{
		"TTL":          TTL(1<<63 - 1),
		"RefreshAfter": RefreshAfter(1<<63 - 1),
		"StaleIfError": StaleIfError(1<<63 - 1),
	} {
		if err := c.Set(ctx, "k", 1, opt); err == nil {
			t.Errorf("%s(huge): accepted", name)
		}
	}
	if _, err := c.GetOrLoad(ctx, "k", func(context.Context, string) (int, error) { return 1, nil }, AsOf(1)); err == nil {
		t.Error("AsOf on GetOrLoad accepted")
	}
	noTTL := testCache(t, Options[string, int]{})
	if err := noTTL.Set(ctx, "k", 1, StaleIfError(time.Minute)); err == nil {
		t.Error("StaleIfError without a TTL accepted")
	}
	// Long but valid durations work.
	if err := c.Set(ctx, "k", 1, TTL(50*365*24*time.Hour), RefreshAfter(50*365*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get("k"); !ok {
		t.Fatal("a value with a 50-year TTL expired at once")
	}
}

// TestDuplicateNames: a hub refuses a second cache of one name until the first closes.
func TestDuplicateNames(t *testing.T) {
	ctx := context.Background()
	h := testHub(t, HubOptions{})
	a, err := New(Options[string, int]{Hub: h, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options[string, int]{Hub: h, Name: "x"}); err == nil {
		t.Fatal("a duplicate name was accepted")
	}
	a.Close(ctx)
	if _, err := New(Options[string, int]{Hub: h, Name: "x"}); err != nil {
		t.Fatalf("the name of a closed cache was refused: %v", err)
	}
}

// TestRowWithUntravellableColumn: a row change with a column too long or of a type
// dependencies cannot hold still reaches other processes, less precisely.
func TestRowWithUntravellableColumn(t *testing.T) {
	ctx := context.Background()
	_, hubs := busHubs(t, 2, HubOptions{})
	schema := TableSchema{Table: "posts", Scopes: [][]string{{"author"}, {"body"}}}
	lists := testCache(t, Options[string, int]{Hub: hubs[0], Name: "lists", Tables: []TableSchema{schema}})
	lists.Set(ctx, "by-7", 1, DependsOn(Scope("posts", Eq("author", 7))))
	lists.Set(ctx, "post-1", 1, DependsOn(Entity("posts", 1)))
	lists.Set(ctx, "by-body", 1, DependsOn(Scope("posts", Eq("body", "short"))))
	row := Row{"id": 1, "author": 7, "body": strings.Repeat("b", 100<<10), "meta": map[string]int{}}
	hubs[1].InvalidateRows(ctx, RowChange{Table: "posts", New: row})
	for _, k := range []string{"by-7", "post-1", "by-body"} {
		waitUntil(t, "the other process drops "+k, func() bool { _, ok := lists.Get(k); return !ok })
	}
	if g := hubs[0].Stats().Gaps; g != 0 {
		t.Errorf("Gaps = %d; a large column should not break continuity", g)
	}
}

// TestHitChecksProof: a hit is refused once the newest returned heartbeat is
// MaxStaleness old, even while the watchdog that suspends the hub has not run (a
// process resumed after SIGSTOP runs its readers before its timers).
func TestHitChecksProof(t *testing.T) {
	bus := &deafBus{Bus: NewLocalBus()}
	h, err := NewHub(HubOptions{Bus: bus, MaxStaleness: 100 * time.Millisecond, Heartbeat: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Close(context.Background()) }()
	c, err := New(Options[string, string]{Hub: h, Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Set(ctx, "plain", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetOrLoad(ctx, "deps", func(ctx context.Context, _ string) (string, error) {
		Depend(ctx, Tag("t"))
		return "v", nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get("plain"); !ok {
		t.Fatal("no hit before the bus went deaf")
	}
	held := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	setPauseHook(func(p pausePoint) {
		if p == pointWatchdog {
			once.Do(func() { close(held) })
			<-release
		}
	})
	defer setPauseHook(nil)
	bus.deaf.Store(true)
	<-held // the watchdog is stuck, as a stopped process's timers are
	time.Sleep(150 * time.Millisecond)
	if h.t.suspended() {
		t.Fatal("the hub was suspended: the watchdog was not held")
	}
	for _, k := range []string{"plain", "deps"} {
		if _, ok := c.Get(k); ok {
			t.Errorf("Get(%q) hit with the newest heartbeat back over MaxStaleness ago", k)
		}
		var loads int
		if _, err := c.GetOrLoad(ctx, k, func(context.Context, string) (string, error) { loads++; return "w", nil }); err != nil || loads != 1 {
			t.Errorf("GetOrLoad(%q) served from memory (loads %d, %v)", k, loads, err)
		}
	}
	close(release)
	setPauseHook(nil)
}
