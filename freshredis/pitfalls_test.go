package freshredis

// One test per pitfall of shared/research/pitfalls.md that bit other caches' users at
// the Redis layer and that no other test of this package covers, each run through
// fresh caches on a real Redis: what shipped wrong elsewhere, attacked here.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// pitHub returns a hub on a Redis Store of namespace ns, as one process would hold.
func pitHub(t *testing.T, client redis.UniversalClient, ns string, bus fresh.Bus) *fresh.Hub {
	t.Helper()
	store := storeTestNew(t, client, StoreOptions{Namespace: ns})
	h, err := fresh.NewHub(fresh.HubOptions{Store: store, Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func pitCache[V any](t *testing.T, h *fresh.Hub, name string, o ...func(*fresh.Options[string, V])) *fresh.Cache[string, V] {
	t.Helper()
	opts := fresh.Options[string, V]{Hub: h, Name: name}
	for _, f := range o {
		f(&opts)
	}
	c, err := fresh.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pitWait polls cond for up to 5s.
func pitWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	storeTestWait(t, 5*time.Second, what, cond)
}

// TestPitfallP17StoreLifetime: an L1 entry filled from Redis keeps the Redis entry's
// remaining lifetime: an entry with 0.5s left is not served 1s later.
func TestPitfallP17StoreLifetime(t *testing.T) {
	client := storeTestClient(t)
	ns := storeTestNamespace(t)
	a, b := pitHub(t, client, ns, nil), pitHub(t, client, ns, nil)
	const ttl = 1500 * time.Millisecond
	withTTL := func(o *fresh.Options[string, string]) { o.TTL = ttl }
	ca, cb := pitCache(t, a, "c", withTTL), pitCache(t, b, "c", withTTL)
	var loads atomic.Int64
	load := func(context.Context, string) (string, error) { loads.Add(1); return "v", nil }
	start := time.Now()
	if _, err := ca.GetOrLoad(t.Context(), "k", load); err != nil {
		t.Fatal(err)
	}
	pitWait(t, "the value reaches Redis", func() bool { return ca.Stats().StoreFills == 1 })
	time.Sleep(time.Second - time.Since(start))
	if _, err := cb.GetOrLoad(t.Context(), "k", load); err != nil {
		t.Fatal(err)
	}
	if s := cb.Stats(); s.StoreHits != 1 {
		t.Fatalf("b stats %+v; want its value from Redis", s)
	}
	for {
		_, ok := cb.Get("k")
		elapsed := time.Since(start)
		if !ok {
			if elapsed < ttl-200*time.Millisecond {
				t.Fatalf("b's entry expired after %v, before the Redis entry's %v", elapsed, ttl)
			}
			break
		}
		if elapsed > ttl+300*time.Millisecond {
			t.Fatalf("b serves an entry filled from Redis %v after it was stored with TTL %v", elapsed, ttl)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPitfallP19EmptyAndMissing: nil, empty and missing values round-trip through L1
// and Redis as three different answers, and a cached not-found is invalidated by an
// insert into its scope from another process.
func TestPitfallP19EmptyAndMissing(t *testing.T) {
	client := storeTestClient(t)
	ns := storeTestNamespace(t)
	schema := fresh.TableSchema{Table: "tags", Scopes: [][]string{{"post"}}}
	a, b := pitHub(t, client, ns, nil), pitHub(t, client, ns, nil)
	for _, h := range []*fresh.Hub{a, b} {
		if err := h.RegisterTable(schema); err != nil {
			t.Fatal(err)
		}
	}
	ca, cb := pitCache[[]string](t, a, "c"), pitCache[[]string](t, b, "c")
	var mu sync.Mutex
	rows := map[string][]string{"nil": nil, "empty": {}}
	var loads atomic.Int64
	load := func(ctx context.Context, k string) ([]string, error) {
		loads.Add(1)
		fresh.Depend(ctx, fresh.Scope("tags", fresh.Eq("post", k)))
		mu.Lock()
		defer mu.Unlock()
		v, ok := rows[k]
		if !ok {
			return nil, fresh.ErrNotFound
		}
		return v, nil
	}
	check := func(c *fresh.Cache[string, []string], who string) {
		t.Helper()
		v, err := c.GetOrLoad(t.Context(), "nil", load)
		if err != nil || v != nil {
			t.Fatalf("%s: nil = %#v, %v", who, v, err)
		}
		v, err = c.GetOrLoad(t.Context(), "empty", load)
		if err != nil || v == nil || len(v) != 0 {
			t.Fatalf("%s: empty = %#v, %v", who, v, err)
		}
		if _, err := c.GetOrLoad(t.Context(), "missing", load); !errors.Is(err, fresh.ErrNotFound) {
			t.Fatalf("%s: missing = %v; want ErrNotFound", who, err)
		}
	}
	check(ca, "a")
	pitWait(t, "the three answers reach Redis", func() bool { return ca.Stats().StoreFills == 3 })
	check(cb, "b")
	if n := loads.Load(); n != 3 {
		t.Fatalf("%d loads; want 3 (b reads all three answers from Redis)", n)
	}
	// An insert into the missing value's scope, in process a, reaches b's copy,
	// which came from Redis.
	mu.Lock()
	rows["missing"] = []string{"go"}
	mu.Unlock()
	if err := a.InvalidateRows(t.Context(), fresh.RowChange{Table: "tags", New: fresh.Row{"id": 1, "post": "missing"}}); err != nil {
		t.Fatal(err)
	}
	hub := pitHub(t, client, ns, nil) // a third process, which only has Redis
	if err := hub.RegisterTable(schema); err != nil {
		t.Fatal(err)
	}
	if v, err := pitCache[[]string](t, hub, "c").GetOrLoad(t.Context(), "missing", load); err != nil || len(v) != 1 {
		t.Fatalf("after the insert a new process read %#v, %v from Redis; want [go]", v, err)
	}
}

// TestPitfallP21NoLeak: nothing outlives Close: caches, hubs, the store's monitor,
// both buses' readers.
func TestPitfallP21NoLeak(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	func() {
		u := storeTestURL()
		client, err := clientFromURL(u)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		if err := client.Ping(t.Context()).Err(); err != nil {
			storeTestSkip(t, "Redis at %s is unreachable: %v", redactURL(u), err)
		}
		ns := storeTestNamespace(t)
		defer storeTestDeleteNamespace(t, client, ns)
		store, err := NewStore(client, StoreOptions{Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		for _, mk := range []func() (fresh.Bus, func() error, error){
			func() (fresh.Bus, func() error, error) {
				b, err := NewStreamBus(client, StreamBusOptions{Namespace: ns, Block: 100 * time.Millisecond})
				if err != nil {
					return nil, nil, err
				}
				return b, b.Close, nil
			},
			func() (fresh.Bus, func() error, error) {
				b, err := NewPubSubBus(client, PubSubBusOptions{Namespace: ns})
				if err != nil {
					return nil, nil, err
				}
				return b, b.Close, nil
			},
		} {
			bus, closeBus, err := mk()
			if err != nil {
				t.Fatal(err)
			}
			h, err := fresh.NewHub(fresh.HubOptions{Store: store, Bus: bus, MaxStaleness: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			c, err := fresh.New(fresh.Options[string, string]{Hub: h, Name: "c", TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				k := strconv.Itoa(i % 5)
				if _, err := c.GetOrLoad(t.Context(), k, func(context.Context, string) (string, error) { return "v", nil }); err != nil {
					t.Fatal(err)
				}
				if err := c.Invalidate(t.Context(), fresh.Tag(k)); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := closeBus(); err != nil {
				t.Fatal(err)
			}
		}
	}()
}

type deployV1 struct {
	Name string `json:"name"`
}

type deployV2 struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// TestPitfallP24RollingDeploy: the old and the new build of a service share Redis; the
// new build reads the old build's value as a miss (counted), never as a value with a
// zero field, and the other way round.
func TestPitfallP24RollingDeploy(t *testing.T) {
	client := storeTestClient(t)
	ns := storeTestNamespace(t)
	oldBuild := pitCache[deployV1](t, pitHub(t, client, ns, nil), "users")
	newBuild := pitCache[deployV2](t, pitHub(t, client, ns, nil), "users")
	if _, err := oldBuild.GetOrLoad(t.Context(), "1", func(context.Context, string) (deployV1, error) {
		return deployV1{Name: "ann"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	pitWait(t, "the old build's value reaches Redis", func() bool { return oldBuild.Stats().StoreFills == 1 })
	v, err := newBuild.GetOrLoad(t.Context(), "1", func(context.Context, string) (deployV2, error) {
		return deployV2{Name: "ann", Email: "ann@example.com"}, nil
	})
	if err != nil || v.Email == "" {
		t.Fatalf("new build read %+v, %v: the old build's value was decoded into the new type", v, err)
	}
	if s := newBuild.Stats(); s.StoreForeign != 1 || s.Loads != 1 {
		t.Fatalf("new build stats %+v; want one foreign value, counted, and one load", s)
	}
}

// TestPitfallP22KeyChecked: a Redis entry copied (or hashed) under another key is not
// served for that key: values carry their full key.
func TestPitfallP22KeyChecked(t *testing.T) {
	client := storeTestClient(t)
	ns := storeTestNamespace(t)
	h := pitHub(t, client, ns, nil)
	c := pitCache[string](t, h, "c")
	load := func(_ context.Context, k string) (string, error) { return "value of " + k, nil }
	if _, err := c.GetOrLoad(t.Context(), "x", load); err != nil {
		t.Fatal(err)
	}
	pitWait(t, "x reaches Redis", func() bool { return c.Stats().StoreFills == 1 })
	keys := storeTestKeys(t, client, ns)
	var src string
	for _, k := range keys {
		if len(k) > 2 && k[len(k)-2:] == ":x" {
			src = k
		}
	}
	if src == "" {
		t.Fatalf("no entry for x among %q", keys)
	}
	dst := src[:len(src)-1] + "y"
	if err := client.Copy(t.Context(), src, dst, 0, true).Err(); err != nil {
		t.Fatal(err)
	}
	other := pitCache[string](t, pitHub(t, client, ns, nil), "c")
	if v, err := other.GetOrLoad(t.Context(), "y", load); err != nil || v != "value of y" {
		t.Fatalf("y = %q, %v: x's value was served for y", v, err)
	}
	if s := other.Stats(); s.StoreForeign != 1 {
		t.Fatalf("stats %+v; want the copied value refused and counted", s)
	}
}

// TestPitfallP10SlotMigration: the namespace's cluster slot moves to another master
// while processes read and write: reads stay correct (a script that meets the
// migration fails, the store is bypassed, then flushed), and nothing is served stale.
func TestPitfallP10SlotMigration(t *testing.T) {
	cluster := storeTestStartCluster(t)
	client := cluster.Client(t)
	ctx := t.Context()
	ns := storeTestNamespace(t)
	// Four processes on the cluster, sharing invalidations through an in-process
	// bus, so that only the store sees the migration.
	bus := fresh.NewLocalBus()
	t.Cleanup(func() { _ = bus.Close() })
	const items = 20
	var versions [items]atomic.Int64 // the source of truth
	var invalidated [items]sync.Map  // version → time its invalidation returned
	caches := make([]*fresh.Cache[string, int64], 4)
	for i := range caches {
		h := pitHub(t, client, ns, bus)
		caches[i] = pitCache[int64](t, h, "items")
	}
	load := func(ctx context.Context, k string) (int64, error) {
		id, _ := strconv.Atoi(k)
		fresh.Depend(ctx, fresh.Entity("items", id))
		return versions[id].Load(), nil
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, stale atomic.Int64
	var firstStale atomic.Value
	const bound = 5 * time.Second // MaxStaleness's default
	wg.Go(func() {                // the writer
		w := caches[0]
		for {
			select {
			case <-stop:
				return
			default:
			}
			id := rand.IntN(items)
			v := versions[id].Add(1)
			_ = w.Invalidate(ctx, fresh.Entity("items", id))
			invalidated[id].Store(v, time.Now())
			time.Sleep(time.Millisecond)
		}
	})
	for _, c := range caches[1:] {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := rand.IntN(items)
				start := time.Now()
				v0 := versions[id].Load()
				got, err := c.GetOrLoad(ctx, strconv.Itoa(id), load)
				if err != nil {
					continue
				}
				reads.Add(1)
				if got < v0 {
					// Stale, unless the write that superseded it had not been
					// invalidated the bound before this read began.
					if at, ok := invalidated[id].Load(got + 1); ok && start.Sub(at.(time.Time)) > bound {
						stale.Add(1)
						firstStale.CompareAndSwap(nil, fmt.Sprintf("item %d: read version %d at %v, %d invalidated %v before", id, got, start, got+1, start.Sub(at.(time.Time))))
					}
				}
			}
		})
	}

	time.Sleep(500 * time.Millisecond)
	slot, err := client.ClusterKeySlot(ctx, "{"+ns+"}").Result()
	if err != nil {
		t.Fatal(err)
	}
	pitMigrateSlot(t, cluster, int(slot))
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	if n := stale.Load(); n > 0 {
		t.Fatalf("%d of %d reads outside the bound during a slot migration; first: %v", n, reads.Load(), firstStale.Load())
	}
	if reads.Load() == 0 {
		t.Fatal("no reads")
	}
	// The cluster serves the namespace from its new owner.
	for _, c := range caches {
		if _, err := c.GetOrLoad(ctx, "0", load); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d reads, 0 outside the bound, across a migration of slot %d", reads.Load(), slot)
}

// pitMigrateSlot moves slot to another master, key by key, as redis-cli --cluster
// reshard does.
func pitMigrateSlot(t *testing.T, cluster *storeTestCluster, slot int) {
	t.Helper()
	ctx := t.Context()
	type node struct {
		c  *redis.Client
		id string
		ep string
	}
	var nodes []node
	for _, addr := range cluster.Addrs() {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		id, err := c.Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, node{c, id, addr})
	}
	var src, dst node
	shards, err := nodes[0].c.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if r.Start <= int64(slot) && int64(slot) <= r.End {
				for _, n := range nodes {
					if n.id == sh.Nodes[0].ID {
						src = n
					}
				}
			}
		}
	}
	for _, n := range nodes {
		if n.id != src.id {
			dst = n
			break
		}
	}
	if src.c == nil || dst.c == nil {
		t.Fatalf("slot %d: no owner found", slot)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(dst.c.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", src.id).Err())
	must(src.c.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dst.id).Err())
	host, port := "127.0.0.1", dst.ep[len("127.0.0.1:"):]
	for {
		keys, err := src.c.ClusterGetKeysInSlot(ctx, slot, 100).Result()
		must(err)
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "REPLACE", "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		must(src.c.Do(ctx, args...).Err())
	}
	for _, n := range nodes {
		must(n.c.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dst.id).Err())
	}
}
