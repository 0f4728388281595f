package freshredis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
	"github.com/redis/go-redis/v9"
)

func TestStoreConformance(t *testing.T) {
	client := storeTestClient(t)
	freshtest.TestStore(t, func(t *testing.T) fresh.Store {
		return storeTestNew(t, client, StoreOptions{})
	})
}

// TestStoreCluster runs the conformance suites on a private three-master Redis
// Cluster, checks that namespaces are spread over slots (and nodes), and that no
// command ever fails with CROSSSLOT.
func TestStoreCluster(t *testing.T) {
	cluster := storeTestStartCluster(t)
	cc := cluster.Client(t)
	hook := &storeTestErrorHook{}
	cc.AddHook(hook)

	t.Run("TestStore", func(t *testing.T) {
		freshtest.TestStore(t, func(t *testing.T) fresh.Store { return storeTestNew(t, cc, StoreOptions{}) })
	})
	t.Run("TestLeaser", func(t *testing.T) {
		freshtest.TestLeaser(t, func(t *testing.T) fresh.Leaser { return storeTestNew(t, cc, StoreOptions{}) })
	})
	t.Run("NamespacesOnDifferentNodes", func(t *testing.T) {
		ctx := t.Context()
		node := func(ns string) (string, int64) {
			k := newStoreKeys(ns)
			n, err := cc.MasterForKey(ctx, k.meta)
			if err != nil {
				t.Fatal(err)
			}
			slot, err := cc.ClusterKeySlot(ctx, k.meta).Result()
			if err != nil {
				t.Fatal(err)
			}
			return n.Options().Addr, slot
		}
		base := storeTestNamespace(t)
		ns1 := base + "-a"
		addr1, slot1 := node(ns1)
		var ns2 string
		for i := range 1000 {
			cand := base + "-b" + strconv.Itoa(i)
			if addr, _ := node(cand); addr != addr1 {
				ns2 = cand
				break
			}
		}
		if ns2 == "" {
			t.Fatal("no namespace found on a node other than the first one's")
		}
		addr2, slot2 := node(ns2)
		if slot1 == slot2 {
			t.Fatalf("namespaces %q and %q share slot %d", ns1, ns2, slot1)
		}
		s1 := storeTestNew(t, cc, StoreOptions{Namespace: ns1})
		s2 := storeTestNew(t, cc, StoreOptions{Namespace: ns2})
		for _, s := range []*Store{s1, s2} {
			at, err := s.Position(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := s.Fill(ctx, "k", []byte(s.Namespace()), []string{"d"}, at, time.Minute); err != nil || !ok {
				t.Fatalf("Fill in %q = %v, %v", s.Namespace(), ok, err)
			}
			if _, _, _, err := s.Lease(ctx, "k", time.Minute); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Delete(ctx, "x", "y", "z", "k2", "{other}"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s1.Invalidate(ctx, []string{"d"}); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s1.Get(ctx, "k"); ok {
			t.Errorf("namespace %q: entry served after its invalidation", ns1)
		}
		if e, ok, err := s2.Get(ctx, "k"); err != nil || !ok || string(e.Value) != ns2 {
			t.Errorf("namespace %q: Get = %q, %v, %v; want its own value, untouched by %q", ns2, e.Value, ok, err, ns1)
		}
		// Every key of a namespace is in the namespace's slot.
		for _, ns := range []string{ns1, ns2} {
			keys := storeTestKeys(t, cc, ns)
			if len(keys) < 4 {
				t.Errorf("namespace %q has keys %q; want at least meta, tombs, marks, an entry or lease", ns, keys)
			}
			_, want := node(ns)
			for _, k := range keys {
				if slot, err := cc.ClusterKeySlot(ctx, k).Result(); err != nil || slot != want {
					t.Errorf("key %q is in slot %d (%v); want its namespace's slot %d", k, slot, err, want)
				}
			}
		}
		t.Logf("namespace %q: slot %d on %s; namespace %q: slot %d on %s", ns1, slot1, addr1, ns2, slot2, addr2)
	})
	if n := hook.crossSlot.Load(); n != 0 {
		t.Errorf("%d commands failed with CROSSSLOT", n)
	}
}

// storeTestErrorHook counts commands that failed with CROSSSLOT.
type storeTestErrorHook struct{ crossSlot atomic.Int64 }

func (h *storeTestErrorHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *storeTestErrorHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil && strings.Contains(err.Error(), "CROSSSLOT") {
			h.crossSlot.Add(1)
		}
		return err
	}
}

func (h *storeTestErrorHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			if c.Err() != nil && strings.Contains(c.Err().Error(), "CROSSSLOT") {
				h.crossSlot.Add(1)
			}
		}
		return err
	}
}

func TestStoreBadOptions(t *testing.T) {
	client := storeTestClient(t)
	tests := []struct {
		name   string
		client redis.UniversalClient
		o      StoreOptions
	}{
		{"nil client", nil, StoreOptions{}},
		{"nil pointer client", (*redis.Client)(nil), StoreOptions{}},
		{"open brace", client, StoreOptions{Namespace: "a{b"}},
		{"close brace", client, StoreOptions{Namespace: "a}b"}},
		{"long namespace", client, StoreOptions{Namespace: strings.Repeat("n", 129)}},
		{"short retention", client, StoreOptions{Retention: 999 * time.Millisecond}},
		{"negative retention", client, StoreOptions{Retention: -time.Hour}},
		{"negative check interval", client, StoreOptions{CheckInterval: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewStore(tt.client, tt.o)
			if err == nil {
				s.Close()
				t.Fatalf("NewStore(%+v) succeeded; want an error", tt.o)
			}
			if !strings.HasPrefix(err.Error(), "freshredis: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	// The limits themselves are accepted.
	s := storeTestNew(t, client, StoreOptions{Namespace: strings.Repeat("n", 120) + storeTestNamespace(t)[:8], Retention: time.Second})
	if _, err := s.Position(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The default namespace, on a private server.
	d, err := NewStore(storeTestStartServer(t).Client(), StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Namespace() != DefaultNamespace {
		t.Errorf("Namespace() = %q; want %q", d.Namespace(), DefaultNamespace)
	}
}

func TestStoreClosed(t *testing.T) {
	client := storeTestClient(t)
	s := storeTestNew(t, client, StoreOptions{})
	ctx := t.Context()
	at, err := s.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checks := map[string]error{}
	_, checks["Position"] = s.Position(ctx)
	_, _, checks["Get"] = s.Get(ctx, "k")
	_, checks["Fill"] = s.Fill(ctx, "k", nil, nil, at, 0)
	_, checks["Invalidate"] = s.Invalidate(ctx, []string{"d"})
	_, checks["Delete"] = s.Delete(ctx, "k")
	_, checks["Flush"] = s.Flush(ctx)
	_, _, _, checks["Lease"] = s.Lease(ctx, "k", time.Second)
	checks["Release"] = s.Release(ctx, "k", "t")
	for op, err := range checks {
		if !errors.Is(err, ErrStoreClosed) {
			t.Errorf("%s after Close: error %v; want ErrStoreClosed", op, err)
		}
	}
	if err := client.Ping(ctx).Err(); err != nil {
		t.Errorf("the client no longer works after the Store's Close: %v", err)
	}
}

func TestStoreBadContext(t *testing.T) {
	s := storeTestNew(t, storeTestClient(t), StoreOptions{})
	var nilCtx context.Context
	if _, _, err := s.Get(nilCtx, "k"); err == nil {
		t.Error("Get with a nil context succeeded; want an error")
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Invalidate(cancelled, []string{"d"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Invalidate with a cancelled context: %v; want context.Canceled", err)
	}
}

// TestStoreShared checks that two Stores of one namespace share everything, and
// that stores of two namespaces share nothing.
func TestStoreShared(t *testing.T) {
	client := storeTestClient(t)
	ns := storeTestNamespace(t)
	a := storeTestNew(t, client, StoreOptions{Namespace: ns})
	b := storeTestNew(t, client, StoreOptions{Namespace: ns})
	other := storeTestNew(t, client, StoreOptions{})
	ctx := t.Context()
	at := storeTestPosition(t, a)
	if bt := storeTestPosition(t, b); bt != at {
		t.Fatalf("two stores of one namespace at %+v and %+v", at, bt)
	}
	storeTestFill(t, a, "k", "v", []string{"d"}, at, true)
	storeTestFill(t, other, "k", "other", []string{"d"}, storeTestPosition(t, other), true)
	if e, ok, err := b.Get(ctx, "k"); err != nil || !ok || string(e.Value) != "v" {
		t.Fatalf("Get from a second store of the namespace = %q, %v, %v; want v", e.Value, ok, err)
	}
	if _, err := b.Invalidate(ctx, []string{"d"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Get(ctx, "k"); ok {
		t.Error("an invalidation through one store did not reach the other")
	}
	storeTestFill(t, a, "k", "stale", []string{"d"}, at, false)
	if e, ok, err := other.Get(ctx, "k"); err != nil || !ok || string(e.Value) != "other" {
		t.Errorf("another namespace's entry = %q, %v, %v; want it untouched", e.Value, ok, err)
	}
}

// TestStoreEpochFromServerClock checks that a new namespace's epoch is the server's
// time in microseconds, and that Flush moves it forward.
func TestStoreEpochFromServerClock(t *testing.T) {
	client := storeTestClient(t)
	now, err := client.Time(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	s := storeTestNew(t, client, StoreOptions{})
	p := storeTestPosition(t, s)
	if d := time.Duration(int64(p.Epoch)-now.UnixMicro()) * time.Microsecond; d < -time.Minute || d > time.Minute {
		t.Errorf("epoch %d is %v from the server's clock %d µs", p.Epoch, d, now.UnixMicro())
	}
	if p.Pos != 0 {
		t.Errorf("new namespace at position %d; want 0", p.Pos)
	}
	var (
		mu      sync.Mutex
		changes [][2]uint64
	)
	s2 := storeTestNew(t, client, StoreOptions{Namespace: s.Namespace(), OnEpochChange: func(prev, next uint64) {
		mu.Lock()
		changes = append(changes, [2]uint64{prev, next})
		mu.Unlock()
	}})
	storeTestInvalidate(t, s2, "d")
	f, err := s2.Flush(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if f.Epoch <= p.Epoch || f.Pos != 1 {
		t.Errorf("Flush returned %+v after %+v and one Invalidate; want a greater epoch and the position kept", f, p)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 1 || changes[0] != [2]uint64{p.Epoch, f.Epoch} {
		t.Errorf("OnEpochChange calls %v; want one, (%d, %d)", changes, p.Epoch, f.Epoch)
	}
	if got := s2.Stats().EpochChanges; got != 1 {
		t.Errorf("Stats().EpochChanges = %d; want 1", got)
	}
}

func TestStoreStats(t *testing.T) {
	s := storeTestNew(t, storeTestClient(t), StoreOptions{})
	ctx := t.Context()
	at := storeTestPosition(t, s)
	storeTestFill(t, s, "k", "v", []string{"d"}, at, true)
	storeTestGet(t, s, "k", "v")
	storeTestGet(t, s, "k", "v")
	storeTestMiss(t, s, "missing")
	storeTestInvalidate(t, s, "d")
	storeTestFill(t, s, "k", "v", []string{"d"}, at, false)
	storeTestMiss(t, s, "k")
	if _, err := s.Fill(ctx, "k", nil, nil, at, -1); err == nil {
		t.Fatal("Fill with a negative ttl succeeded")
	}
	want := StoreStats{Hits: 2, Misses: 2, Stored: 1, Refused: 1, Errors: 1}
	if got := s.Stats(); got != want {
		t.Errorf("Stats() = %+v; want %+v", got, want)
	}
}

// TestStoreInvalidateOneRoundTrip invalidates 10,000 dependencies in one call and
// checks that it is one command, and that it worked.
func TestStoreInvalidateOneRoundTrip(t *testing.T) {
	storeTestClient(t) // skips when there is no server
	client, err := clientFromURL(storeTestURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	hook := &storeTestCountingHook{}
	client.AddHook(hook)
	s := storeTestNew(t, client, StoreOptions{CheckInterval: time.Hour})
	deps := make([]string, 10000)
	for i := range deps {
		deps[i] = fmt.Sprintf("dep-%05d", i)
	}
	at := storeTestPosition(t, s)
	storeTestFill(t, s, "first", "v", deps[:10], at, true)
	storeTestFill(t, s, "last", "v", deps[9990:], at, true)
	storeTestFill(t, s, "one", "v", deps[5000:5001], at, true)
	storeTestFill(t, s, "unrelated", "v", []string{"other"}, at, true)
	storeTestInvalidate(t, s, "warm-up") // loads the script
	hook.take()
	p := storeTestInvalidate(t, s, deps...)
	if n, names := hook.take(); n != 1 {
		t.Errorf("Invalidate of %d deps took %d round trips %q; want 1", len(deps), n, names)
	}
	for _, k := range []string{"first", "last", "one"} {
		storeTestMiss(t, s, k)
	}
	storeTestGet(t, s, "unrelated", "v")
	for _, i := range []int{0, 1, 4999, 9999} {
		storeTestFill(t, s, "k", "stale", deps[i:i+1], at, false)
	}
	storeTestFill(t, s, "k", "fresh", deps, p, true)
	storeTestGet(t, s, "k", "fresh")
	if n, err := client.ZCard(t.Context(), s.keys.tombs).Result(); err != nil || n != int64(len(deps)+1) {
		t.Errorf("ZCARD tombs = %d, %v; want %d", n, err, len(deps)+1)
	}
}

// TestStoreRetention checks the retention rule on the server's clock, with a
// Retention of 2s: marks, the watermark, the tombstones dropped, the fills refused.
func TestStoreRetention(t *testing.T) {
	client := storeTestClient(t)
	const retention = 2 * time.Second
	s := storeTestNew(t, client, StoreOptions{Retention: retention, CheckInterval: time.Hour})
	ctx := t.Context()
	at0 := storeTestPosition(t, s)
	p1 := storeTestInvalidate(t, s, "d1") // mark (t0, 1)
	p2 := storeTestInvalidate(t, s, "d2") // within Retention/8: no mark
	if n := client.LLen(ctx, s.keys.marks).Val(); n != 1 {
		t.Fatalf("%d marks after two quick invalidations; want 1", n)
	}
	storeTestFill(t, s, "old", "v", []string{"x"}, at0, true) // no tombstone of x: stored
	if pttl := client.PTTL(ctx, s.keys.entry("old")).Val(); pttl <= 0 || pttl > retention {
		t.Errorf("PTTL of an entry without a ttl = %v; want at most the retention %v", pttl, retention)
	}
	if ok, err := s.Fill(ctx, "long", []byte("v"), nil, at0, time.Hour); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if pttl := client.PTTL(ctx, s.keys.entry("long")).Val(); pttl <= 0 || pttl > retention {
		t.Errorf("PTTL of an entry with a 1h ttl = %v; want it capped at the retention %v", pttl, retention)
	}
	if e, ok, err := s.Get(ctx, "long"); err != nil || !ok || e.TTL <= 0 || e.TTL > retention {
		t.Errorf("Get(long) = TTL %v, %v, %v; want 0 < TTL <= %v", e.TTL, ok, err, retention)
	}

	time.Sleep(retention + 300*time.Millisecond)
	p3 := storeTestInvalidate(t, s, "d3") // retires the first mark: watermark 1
	meta := client.HGetAll(ctx, s.keys.meta).Val()
	if meta["pruned"] != strconv.FormatUint(p1.Pos, 10) {
		t.Fatalf("meta after the first mark aged out: %v; want pruned = %d", meta, p1.Pos)
	}
	if _, err := client.ZScore(ctx, s.keys.tombs, "d:d1").Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("tombstone of d1 still there (%v) after the watermark passed it", err)
	}
	if _, err := client.ZScore(ctx, s.keys.tombs, "d:d3").Result(); err != nil {
		t.Errorf("tombstone of d3: %v; want it kept", err)
	}
	// Below the watermark: refused, whatever the deps.
	refused := s.Stats().Refused
	storeTestFill(t, s, "k", "v", []string{"x"}, at0, false)
	if s.Stats().Refused != refused+1 {
		t.Error("the refused fill was not counted")
	}
	// At the watermark, a dropped tombstone reads as the watermark: stored.
	storeTestFill(t, s, "k", "v", []string{"d1"}, p1, true)
	// A kept tombstone still refuses.
	storeTestFill(t, s, "k", "v", []string{"d3"}, p2, false)
	storeTestFill(t, s, "k", "v", []string{"d3"}, p3, true)
	// The entries from before the retention are gone.
	storeTestMiss(t, s, "old")

	// Once every mark has aged out, the monitor's check drops the rest.
	time.Sleep(retention + 300*time.Millisecond)
	if _, err := s.check(ctx); err != nil {
		t.Fatal(err)
	}
	if n := client.ZCard(ctx, s.keys.tombs).Val(); n != 0 {
		t.Errorf("%d tombstones left after every mark aged out; want 0", n)
	}
	if n := client.LLen(ctx, s.keys.marks).Val(); n != 0 {
		t.Errorf("%d marks left; want 0", n)
	}
	storeTestFill(t, s, "k", "v", []string{"d3"}, p3, true)
	storeTestFill(t, s, "k", "v", nil, p2, false)
}

// TestStorePruneBounded checks that one script call drops at most the prune limit
// of tombstones, and that the monitor drains the rest.
func TestStorePruneBounded(t *testing.T) {
	client := storeTestClient(t)
	s := storeTestNew(t, client, StoreOptions{Retention: time.Second, CheckInterval: time.Hour})
	const limit, n = 100, 2500
	s.retainArgs[2] = limit // the monitor never runs (CheckInterval 1h), so no race
	ctx := t.Context()
	deps := make([]string, n)
	for i := range deps {
		deps[i] = "p" + strconv.Itoa(i)
	}
	storeTestInvalidate(t, s, deps...)
	time.Sleep(1100 * time.Millisecond)
	storeTestInvalidate(t, s, "x") // retires the mark; drops the first 100
	if got := client.ZCard(ctx, s.keys.tombs).Val(); got != n+1-limit {
		t.Fatalf("ZCARD tombs = %d after one pruning call; want %d", got, n+1-limit)
	}
	for i := 2; ; i++ {
		c, err := s.check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := client.ZCard(ctx, s.keys.tombs).Val()
		if want := max(n+1-int64(i)*limit, 1); got != want {
			t.Fatalf("after pruning call %d: ZCARD tombs = %d; want %d", i, got, want)
		}
		if c.pruned < limit {
			break
		}
	}
	if _, err := client.ZScore(ctx, s.keys.tombs, "d:x").Result(); err != nil {
		t.Errorf("the young tombstone of x: %v; want it kept", err)
	}
}

// TestStoreMetaLost deletes the namespace's meta, as FLUSHALL, a restart without
// persistence or an eviction would: the epoch must move, and nothing from before
// be trusted.
func TestStoreMetaLost(t *testing.T) {
	client := storeTestClient(t)
	log, buf := storeTestLogger()
	s := storeTestNew(t, client, StoreOptions{Logger: log})
	ctx := t.Context()
	at := storeTestPosition(t, s)
	storeTestFill(t, s, "k", "v", []string{"d"}, at, true)
	storeTestInvalidate(t, s, "other")
	mid := storeTestPosition(t, s)

	if err := client.Del(ctx, s.keys.meta).Err(); err != nil {
		t.Fatal(err)
	}
	storeTestMiss(t, s, "k") // the entry's epoch is gone
	now := storeTestPosition(t, s)
	if now.Epoch == at.Epoch {
		t.Fatalf("epoch %d unchanged after meta was deleted", now.Epoch)
	}
	if now.Pos != 0 {
		t.Errorf("position after meta was lost = %d; want 0", now.Pos)
	}
	storeTestFill(t, s, "k", "stale", []string{"d"}, at, false)
	storeTestFill(t, s, "k", "stale", []string{"d"}, mid, false)
	storeTestMiss(t, s, "k")
	storeTestFill(t, s, "k", "fresh", []string{"d"}, now, true)
	storeTestGet(t, s, "k", "fresh")
	if got := s.Stats().EpochChanges; got != 1 {
		t.Errorf("Stats().EpochChanges = %d; want 1", got)
	}
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "started a new epoch") {
		t.Errorf("no warning logged:\n%s", buf)
	}

	// The whole namespace gone (FLUSHALL): the same.
	storeTestDeleteNamespace(t, client, s.Namespace())
	storeTestFill(t, s, "k", "stale", []string{"d"}, now, false)
	if p := storeTestPosition(t, s); p.Epoch == now.Epoch {
		t.Errorf("epoch %d unchanged after the namespace was deleted", p.Epoch)
	}
}

// TestStoreHostile writes data the Store did not write into its keys: every Get
// must read it as a miss, count it, and never fail or panic; the Store must go on
// working.
func TestStoreHostile(t *testing.T) {
	client := storeTestClient(t)
	type env struct {
		s   *Store
		c   redis.UniversalClient
		ctx context.Context
		at  fresh.Position
	}
	setup := func(t *testing.T) env {
		s := storeTestNew(t, client, StoreOptions{})
		at := storeTestPosition(t, s)
		storeTestFill(t, s, "k", "v", []string{"d1", "d2"}, at, true)
		return env{s, client, t.Context(), at}
	}
	entryCases := []struct {
		name    string
		corrupt func(e env, key string) error
		invalid bool // counted as garbage (else as an ordinary miss)
	}{
		{"MissingValue", func(e env, k string) error { return e.c.HDel(e.ctx, k, "v").Err() }, true},
		{"MissingPosition", func(e env, k string) error { return e.c.HDel(e.ctx, k, "a").Err() }, true},
		{"MissingEpoch", func(e env, k string) error { return e.c.HDel(e.ctx, k, "p").Err() }, true},
		{"MissingDeps", func(e env, k string) error { return e.c.HDel(e.ctx, k, "d").Err() }, true},
		{"OnlyTTLFlag", func(e env, k string) error {
			return errors.Join(e.c.HSet(e.ctx, k, "t", "1").Err(), e.c.HDel(e.ctx, k, "v", "a", "p", "d").Err())
		}, true},
		{"NonNumericPosition", func(e env, k string) error { return e.c.HSet(e.ctx, k, "a", "x1").Err() }, true},
		{"NegativePosition", func(e env, k string) error { return e.c.HSet(e.ctx, k, "a", "-1").Err() }, true},
		{"FractionalPosition", func(e env, k string) error { return e.c.HSet(e.ctx, k, "a", "0.5").Err() }, true},
		{"HugePosition", func(e env, k string) error { return e.c.HSet(e.ctx, k, "a", "99999999999999999999").Err() }, true},
		{"PositionAhead", func(e env, k string) error { return e.c.HSet(e.ctx, k, "a", "1000").Err() }, true},
		{"NonNumericEpoch", func(e env, k string) error { return e.c.HSet(e.ctx, k, "p", "epoch").Err() }, true},
		{"OtherEpoch", func(e env, k string) error { return e.c.HSet(e.ctx, k, "p", "12345").Err() }, false},
		{"TruncatedDeps", func(e env, k string) error { return e.c.HSet(e.ctx, k, "d", "2:d12:d").Err() }, true},
		{"DepsLengthTooLong", func(e env, k string) error { return e.c.HSet(e.ctx, k, "d", "99:d1").Err() }, true},
		{"DepsNoColon", func(e env, k string) error { return e.c.HSet(e.ctx, k, "d", "d1d2").Err() }, true},
		{"DepsBadLength", func(e env, k string) error { return e.c.HSet(e.ctx, k, "d", "x:d1").Err() }, true},
		{"DepsHugeLength", func(e env, k string) error {
			return e.c.HSet(e.ctx, k, "d", "99999999999999999999:x").Err()
		}, true},
		{"String", func(e env, k string) error { return e.c.Set(e.ctx, k, "garbage", 0).Err() }, true},
		{"List", func(e env, k string) error {
			return errors.Join(e.c.Del(e.ctx, k).Err(), e.c.RPush(e.ctx, k, "a", "b").Err())
		}, true},
		{"SortedSet", func(e env, k string) error {
			return errors.Join(e.c.Del(e.ctx, k).Err(), e.c.ZAdd(e.ctx, k, redis.Z{Score: 1, Member: "v"}).Err())
		}, true},
		{"ForeignHash", func(e env, k string) error {
			return errors.Join(e.c.Del(e.ctx, k).Err(), e.c.HSet(e.ctx, k, "name", "someone else's").Err())
		}, true},
	}
	for _, tc := range entryCases {
		t.Run("Entry"+tc.name, func(t *testing.T) {
			e := setup(t)
			key := e.s.keys.entry("k")
			if err := tc.corrupt(e, key); err != nil {
				t.Fatal(err)
			}
			before := e.s.Stats()
			storeTestMiss(t, e.s, "k")
			after := e.s.Stats()
			wantInvalid := before.Invalid
			if tc.invalid {
				wantInvalid++
			}
			if after.Invalid != wantInvalid || after.Misses != before.Misses+1 || after.Errors != before.Errors {
				t.Errorf("stats %+v after %+v; want one more miss, invalid %d, no error", after, before, wantInvalid)
			}
			if n := client.Exists(e.ctx, key).Val(); n != 0 {
				t.Errorf("the bad entry was not deleted")
			}
			// The store still works, for this key too.
			storeTestFill(t, e.s, "k", "again", []string{"d1"}, storeTestPosition(t, e.s), true)
			storeTestGet(t, e.s, "k", "again")
		})
	}

	t.Run("FillOverWrongType", func(t *testing.T) {
		e := setup(t)
		if err := client.Set(e.ctx, e.s.keys.entry("s"), "garbage", 0).Err(); err != nil {
			t.Fatal(err)
		}
		storeTestFill(t, e.s, "s", "v", nil, e.at, true)
		storeTestGet(t, e.s, "s", "v")
	})

	metaCases := []struct {
		name    string
		corrupt func(e env) error
	}{
		{"MetaDeleted", func(e env) error { return e.c.Del(e.ctx, e.s.keys.meta).Err() }},
		{"MetaString", func(e env) error { return e.c.Set(e.ctx, e.s.keys.meta, "x", 0).Err() }},
		{"MetaEpochGarbage", func(e env) error { return e.c.HSet(e.ctx, e.s.keys.meta, "epoch", "abc").Err() }},
		{"MetaEpochZero", func(e env) error { return e.c.HSet(e.ctx, e.s.keys.meta, "epoch", "0").Err() }},
		{"MetaPosGarbage", func(e env) error { return e.c.HSet(e.ctx, e.s.keys.meta, "pos", "1.5").Err() }},
		{"MetaPosMissing", func(e env) error { return e.c.HDel(e.ctx, e.s.keys.meta, "pos").Err() }},
		{"MetaPrunedAhead", func(e env) error { return e.c.HSet(e.ctx, e.s.keys.meta, "pruned", "999").Err() }},
		{"TombsString", func(e env) error { return e.c.Set(e.ctx, e.s.keys.tombs, "x", 0).Err() }},
		{"TombsHash", func(e env) error {
			return errors.Join(e.c.Del(e.ctx, e.s.keys.tombs).Err(), e.c.HSet(e.ctx, e.s.keys.tombs, "d:d1", "1").Err())
		}},
	}
	for _, tc := range metaCases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			storeTestInvalidate(t, e.s, "other")
			if err := tc.corrupt(e); err != nil {
				t.Fatal(err)
			}
			storeTestMiss(t, e.s, "k")
			now := storeTestPosition(t, e.s)
			if now.Epoch == e.at.Epoch {
				t.Errorf("epoch %d unchanged after the state was corrupted", now.Epoch)
			}
			storeTestFill(t, e.s, "k", "stale", []string{"d1"}, e.at, false)
			storeTestFill(t, e.s, "k", "fresh", []string{"d1"}, now, true)
			storeTestGet(t, e.s, "k", "fresh")
			storeTestInvalidate(t, e.s, "d1")
			storeTestMiss(t, e.s, "k")
			if s := e.s.Stats(); s.Errors != 0 {
				t.Errorf("Stats() = %+v; want no errors", s)
			}
		})
	}

	t.Run("MarksGarbage", func(t *testing.T) {
		e := setup(t)
		for _, m := range []string{"garbage", "1:x", "99999999999999999:1", "", "5"} {
			if err := client.LPush(e.ctx, e.s.keys.marks, m).Err(); err != nil {
				t.Fatal(err)
			}
		}
		storeTestInvalidate(t, e.s, "d1")
		storeTestMiss(t, e.s, "k")
		marks := client.LRange(e.ctx, e.s.keys.marks, 0, -1).Val()
		for _, m := range marks {
			if _, _, ok := strings.Cut(m, ":"); !ok || len(marks) > 2 {
				t.Errorf("marks after an invalidation: %q; want the garbage gone", marks)
				break
			}
		}
		if meta := client.HGetAll(e.ctx, e.s.keys.meta).Val(); meta["pruned"] != "0" {
			t.Errorf("meta %v: a garbage mark moved the watermark", meta)
		}
	})
	t.Run("MarksWrongType", func(t *testing.T) {
		e := setup(t)
		if err := client.Set(e.ctx, e.s.keys.marks, "x", 0).Err(); err != nil {
			t.Fatal(err)
		}
		storeTestInvalidate(t, e.s, "d1")
		storeTestMiss(t, e.s, "k")
		if typ := client.Type(e.ctx, e.s.keys.marks).Val(); typ != "list" {
			t.Errorf("marks is a %s after an invalidation; want a list", typ)
		}
	})
	t.Run("TombstoneScores", func(t *testing.T) {
		e := setup(t)
		// An infinite tombstone refuses, it does not break anything.
		if err := client.ZAdd(e.ctx, e.s.keys.tombs, redis.Z{Score: 1e300, Member: "d:d2"}).Err(); err != nil {
			t.Fatal(err)
		}
		storeTestMiss(t, e.s, "k")
		storeTestFill(t, e.s, "k", "v", []string{"d2"}, storeTestPosition(t, e.s), false)
		storeTestFill(t, e.s, "k", "v", []string{"d1"}, storeTestPosition(t, e.s), true)
	})
	t.Run("RandomFields", func(t *testing.T) {
		e := setup(t)
		key := e.s.keys.entry("r")
		values := []string{"", "0", "1", "-1", "1e3", "0x10", " 1", "1 ", "18446744073709551615", "9007199254740993",
			"3:abc", "0:", "1:", ":", "4294967296:x", "\x00", "\xff", strconv.FormatUint(e.at.Epoch, 10)}
		for i := range 300 {
			fields := map[string]any{}
			for j, f := range []string{"v", "a", "p", "d", "t"} {
				if (i>>j)&1 == 0 || i%7 == 0 {
					fields[f] = values[(i*31+j*17)%len(values)]
				}
			}
			if len(fields) == 0 {
				continue
			}
			if err := errors.Join(client.Del(e.ctx, key).Err(), client.HSet(e.ctx, key, fields).Err()); err != nil {
				t.Fatal(err)
			}
			if _, _, err := e.s.Get(e.ctx, "r"); err != nil {
				t.Fatalf("Get of the fields %q: %v", fields, err)
			}
		}
		if s := e.s.Stats(); s.Errors != 0 {
			t.Errorf("Stats() = %+v; want no errors", s)
		}
	})
}

// FuzzStoreDepsCodec checks that decodeDeps inverts encodeDeps and never panics.
func FuzzStoreDepsCodec(f *testing.F) {
	f.Add("a\x00b\x00", "3:abc")
	f.Add("", "0:")
	f.Add("x:y", "10:abc")
	f.Fuzz(func(t *testing.T, joined, raw string) {
		deps := strings.Split(joined, "\x00")
		got, ok := decodeDeps(encodeDeps(deps))
		if !ok || !slices.Equal(got, deps) {
			t.Fatalf("decodeDeps(encodeDeps(%q)) = %q, %v", deps, got, ok)
		}
		if d, ok := decodeDeps(raw); ok {
			if again := encodeDeps(d); len(again) > len(raw) {
				t.Fatalf("decodeDeps(%q) = %q, which encodes longer: %q", raw, d, again)
			}
		}
	})
}

func TestStoreVersionAtLeast(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want bool
	}{
		{"7.0.15", true}, {"6.2.0", true}, {"6.1.9", false}, {"5.0.14", false}, {"10.0.0", true},
		{"", true}, {"unknown", true}, {"6.x", true},
	} {
		if got := versionAtLeast(tt.v, 6, 2); got != tt.want {
			t.Errorf("versionAtLeast(%q, 6, 2) = %v; want %v", tt.v, got, tt.want)
		}
	}
}

func storeTestPosition(t testing.TB, s *Store) fresh.Position {
	t.Helper()
	p, err := s.Position(context.Background())
	if err != nil {
		t.Fatalf("Position: %v", err)
	}
	return p
}

func storeTestInvalidate(t testing.TB, s *Store, deps ...string) fresh.Position {
	t.Helper()
	p, err := s.Invalidate(context.Background(), deps)
	if err != nil {
		t.Fatalf("Invalidate: %v", err)
	}
	return p
}

func storeTestFill(t testing.TB, s *Store, key, value string, deps []string, at fresh.Position, want bool) {
	t.Helper()
	ok, err := s.Fill(context.Background(), key, []byte(value), deps, at, 0)
	if err != nil {
		t.Fatalf("Fill(%q at %+v): %v", key, at, err)
	}
	if ok != want {
		t.Fatalf("Fill(%q at %+v) stored = %v; want %v", key, at, ok, want)
	}
}

func storeTestGet(t testing.TB, s *Store, key, want string) fresh.StoreEntry {
	t.Helper()
	e, ok, err := s.Get(context.Background(), key)
	if err != nil || !ok || string(e.Value) != want {
		t.Fatalf("Get(%q) = %q, %v, %v; want %q", key, e.Value, ok, err, want)
	}
	return e
}

func storeTestMiss(t testing.TB, s *Store, key string) {
	t.Helper()
	e, ok, err := s.Get(context.Background(), key)
	if err != nil || ok {
		t.Fatalf("Get(%q) = %q, %v, %v; want a miss", key, e.Value, ok, err)
	}
}

// TestStoreTombstonesLost (P11): the tombstone set evicted (allkeys-* policies) or
// deleted by hand while the meta hash survives must not make invalidations vanish:
// the store detects it and starts a new epoch, so nothing from before is served.
func TestStoreTombstonesLost(t *testing.T) {
	client := storeTestClient(t)
	s := storeTestNew(t, client, StoreOptions{})
	ctx := t.Context()
	at := storeTestPosition(t, s)
	storeTestFill(t, s, "k1", "v", []string{"d"}, at, true)
	storeTestFill(t, s, "k2", "v", []string{"e"}, at, true)
	storeTestInvalidate(t, s, "d") // the tombstone that kills k1

	if err := client.Del(ctx, s.keys.tombs).Err(); err != nil {
		t.Fatal(err)
	}
	storeTestMiss(t, s, "k1") // without the check, k1 would read as valid again
	storeTestMiss(t, s, "k2") // a new epoch: nothing from before is trusted
	if p := storeTestPosition(t, s); p.Epoch == at.Epoch {
		t.Fatalf("epoch %d unchanged after the tombstones were lost", p.Epoch)
	}
	// An empty Invalidate moves nothing, so an empty set stays legitimate.
	p0 := storeTestPosition(t, s)
	p1, err := s.Invalidate(ctx, nil)
	if err != nil || p1 != p0 {
		t.Fatalf("Invalidate(nil) = %v, %v; want %v", p1, err, p0)
	}
	storeTestFill(t, s, "k3", "v", nil, p1, true)
	storeTestGet(t, s, "k3", "v")
}
