package fresh_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/freshcache/fresh"
)

// TestTagOutlivesShortTTL: a tag reaches every entry that carries it, whatever the
// TTLs of the others (the defect where a short-lived entry shortens a tag set's TTL).
func TestTagOutlivesShortTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c, err := fresh.New(fresh.Options[string, int]{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		tag := fresh.Tag("T")
		if err := c.Set(ctx, "A", 1, fresh.DependsOn(tag), fresh.TTL(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := c.Set(ctx, "B", 2, fresh.DependsOn(tag), fresh.TTL(time.Second)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		if _, ok := c.Get("B"); ok {
			t.Fatal("B outlived its TTL")
		}
		if v, ok := c.Get("A"); !ok || v != 1 {
			t.Fatalf("Get(A) = %d, %v; want 1, true", v, ok)
		}
		if err := c.Invalidate(ctx, tag); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Get("A"); ok {
			t.Fatal("invalidating T did not remove A after B expired")
		}
	})
}

// TestTagConcurrentSets: entries set concurrently under one tag are all removed by
// one invalidation (no lost updates to a shared tag index).
func TestTagConcurrentSets(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[string, int]{MaxEntries: 100_000})
	const n = 64
	const per = 100
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := c.Set(ctx, fmt.Sprint(g, "/", i), i, fresh.DependsOn(fresh.Tag("shared"))); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for g := range n {
		for i := range per {
			if _, ok := c.Get(fmt.Sprint(g, "/", i)); !ok {
				t.Fatalf("entry %d/%d missing before the invalidation", g, i)
			}
		}
	}
	if err := c.Invalidate(ctx, fresh.Tag("shared")); err != nil {
		t.Fatal(err)
	}
	for g := range n {
		for i := range per {
			if v, ok := c.Get(fmt.Sprint(g, "/", i)); ok {
				t.Fatalf("entry %d/%d = %d survived the invalidation of its tag", g, i, v)
			}
		}
	}
}

// TestRowChangeMovesBetweenScopes: a row leaving one scope for another invalidates
// both cached lists, and nothing unrelated.
func TestRowChangeMovesBetweenScopes(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[string, int]{Tables: []fresh.TableSchema{
		{Table: "articles", Scopes: [][]string{{"published", "category"}, {"author_id"}}},
	}})
	list := func(published bool, category string) fresh.Dep {
		return fresh.Scope("articles", fresh.Eq("category", category), fresh.Eq("published", published))
	}
	entries := map[string]fresh.Dep{
		"go-published":    list(true, "go"),
		"rust-published":  list(true, "rust"),
		"go-drafts":       list(false, "go"),
		"rust-drafts":     list(false, "rust"),
		"by-author-3":     fresh.Scope("articles", fresh.Eq("author_id", 3)),
		"by-author-4":     fresh.Scope("articles", fresh.Eq("author_id", 4)),
		"article-1":       fresh.Entity("articles", 1),
		"article-2":       fresh.Entity("articles", 2),
		"count":           fresh.Table("articles"),
		"users-published": fresh.Tag("users"),
	}
	for k, d := range entries {
		if err := c.Set(ctx, k, 1, fresh.DependsOn(d)); err != nil {
			t.Fatalf("Set(%s): %v", k, err)
		}
	}
	// Article 1 by author 3 moves from the Go drafts to the published Rust list.
	err := c.InvalidateRows(ctx, fresh.RowChange{
		Table: "articles",
		Old:   fresh.Row{"id": 1, "published": false, "category": "go", "author_id": 3},
		New:   fresh.Row{"id": 1, "published": true, "category": "rust", "author_id": 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{ // true: invalidated
		"go-drafts": true, "rust-published": true, "article-1": true, "count": true, "by-author-3": true,
	}
	for k := range entries {
		_, ok := c.Get(k)
		if ok == want[k] {
			t.Errorf("%s: cached = %v; want %v", k, ok, !want[k])
		}
	}
}

// TestRowChangeWithPartialRow: a row lacking a scheme's column reaches every scope
// of that scheme rather than none.
func TestRowChangeWithPartialRow(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[string, int]{Tables: []fresh.TableSchema{
		{Table: "articles", Scopes: [][]string{{"category"}}},
	}})
	for _, cat := range []string{"go", "rust"} {
		if err := c.Set(ctx, cat, 1, fresh.DependsOn(fresh.Scope("articles", fresh.Eq("category", cat)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.InvalidateRows(ctx, fresh.RowChange{Table: "articles", New: fresh.Row{"id": 5, "title": "x"}}); err != nil {
		t.Fatal(err)
	}
	for _, cat := range []string{"go", "rust"} {
		if _, ok := c.Get(cat); ok {
			t.Errorf("scope category=%s survived a row change that did not say its category", cat)
		}
	}
	err := c.InvalidateRows(ctx, fresh.RowChange{Table: "articles", New: fresh.Row{"category": "go"}})
	if err == nil {
		t.Error("a row change without the key column gave no error")
	}
}

func TestUnregisteredScopeIsRefused(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[string, int]{})
	err := c.Set(ctx, "k", 1, fresh.DependsOn(fresh.Scope("articles", fresh.Eq("category", "go"))))
	if err == nil {
		t.Fatal("Set with an unregistered scope: no error")
	}
	_, err = c.GetOrLoad(ctx, "k", func(ctx context.Context, _ string) (int, error) {
		fresh.Depend(ctx, fresh.Scope("articles", fresh.Eq("category", "go")))
		return 1, nil
	})
	if err == nil {
		t.Fatal("a loader depending on an unregistered scope: no error")
	}
	if _, ok := c.Get("k"); ok {
		t.Fatal("a value with an untrackable dependency was cached")
	}
}

// TestTTL: entries expire after the default TTL, a per-call TTL, or never.
func TestTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c, err := fresh.New(fresh.Options[string, int]{TTL: time.Minute, Jitter: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		c.Set(ctx, "default", 1)
		c.Set(ctx, "short", 1, fresh.TTL(time.Second))
		c.Set(ctx, "forever", 1, fresh.TTL(0))
		time.Sleep(1500 * time.Millisecond)
		if _, ok := c.Get("short"); ok {
			t.Error("short outlived its TTL")
		}
		if _, ok := c.Get("default"); !ok {
			t.Error("default expired before TTL×(1−Jitter)")
		}
		time.Sleep(time.Minute)
		if _, ok := c.Get("default"); ok {
			t.Error("default outlived its TTL")
		}
		if _, ok := c.Get("forever"); !ok {
			t.Error("an entry with TTL(0) expired")
		}
	})
}

// TestSizeBound: the cache holds at most about MaxEntries entries, and a MaxCost
// cache refuses a value larger than the whole budget with ErrTooLarge.
func TestSizeBound(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[string, int]{MaxEntries: 100})
	for i := range 10_000 {
		c.Set(ctx, fmt.Sprint(i), i)
	}
	// otter applies evictions in the background: on a loaded machine the bound is
	// reached a little after the writes.
	held := 0
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		held = 0
		for i := range 10_000 {
			if _, ok := c.Get(fmt.Sprint(i)); ok {
				held++
			}
		}
		if held <= 110 || time.Now().After(deadline) {
			break
		}
	}
	if held > 110 || held == 0 {
		t.Fatalf("%d entries held; want about 100", held)
	}
	cc, err := fresh.New(fresh.Options[string, string]{MaxCost: 1000, Cost: func(_ string, v string) uint32 { return uint32(len(v)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close(ctx)
	if err := cc.Set(ctx, "big", string(make([]byte, 2000))); !errors.Is(err, fresh.ErrTooLarge) {
		t.Fatalf("Set of an oversized value = %v; want ErrTooLarge", err)
	}
	for i := range 100 {
		cc.Set(ctx, fmt.Sprint(i), string(make([]byte, 100)))
	}
	// The store evicts in its maintenance, shortly after the writes.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		held = 0
		for i := range 100 {
			if _, ok := cc.Get(fmt.Sprint(i)); ok {
				held++
			}
		}
		if held <= 10 {
			break
		}
	}
	if held > 10 || held == 0 {
		t.Fatalf("%d entries of cost 100 held under MaxCost 1000", held)
	}
}

// TestHitEqualsMiss: the value and its dynamic type are the same whether the answer
// came from the loader or from the cache.
func TestHitEqualsMiss(t *testing.T) {
	ctx := context.Background()
	type article struct {
		ID    int
		Tags  []string
		Extra any
	}
	c, err := fresh.New(fresh.Options[string, any]{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	values := []any{int64(7), 7, uint8(7), 7.0, "7", []byte("7"), article{7, []string{"a"}, int32(1)}, &article{ID: 7}, nil, map[string]int{"a": 1}}
	for i, want := range values {
		key := fmt.Sprint("k", i)
		load := func(context.Context, string) (any, error) { return want, nil }
		miss, err := c.GetOrLoad(ctx, key, load)
		if err != nil {
			t.Fatal(err)
		}
		hit, err := c.GetOrLoad(ctx, key, load)
		if err != nil {
			t.Fatal(err)
		}
		if reflect.TypeOf(miss) != reflect.TypeOf(hit) || !reflect.DeepEqual(miss, hit) || !reflect.DeepEqual(miss, want) {
			t.Errorf("value %d: miss %#v (%T), hit %#v (%T); want %#v", i, miss, miss, hit, hit, want)
		}
	}
}

// TestKeysDoNotCollide: keys are compared as values, never sanitised: keys differing
// only in a space and an underscore (or any other byte) are different entries, here
// and in dependency names.
func TestKeysDoNotCollide(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[string, string]{})
	pairs := [][2]string{{"user 1", "user_1"}, {"a:b", "a_b"}, {"x", "x "}, {"é", "e"}, {"a\x00", "a"}}
	for _, p := range pairs {
		c.Set(ctx, p[0], "first "+p[0])
		c.Set(ctx, p[1], "second "+p[1])
		if v, _ := c.Get(p[0]); v != "first "+p[0] {
			t.Errorf("Get(%q) = %q", p[0], v)
		}
		if fresh.Tag(p[0]) == fresh.Tag(p[1]) || fresh.Tag(p[0]).String() == fresh.Tag(p[1]).String() {
			t.Errorf("tags %q and %q collide", p[0], p[1])
		}
	}
	c.Set(ctx, "tagged", "v", fresh.DependsOn(fresh.Tag("user 1")))
	c.Invalidate(ctx, fresh.Tag("user_1"))
	if _, ok := c.Get("tagged"); !ok {
		t.Error("invalidating tag user_1 removed an entry tagged user 1")
	}
}

// TestNegativeResult: ErrNotFound is cached with its dependencies and told apart
// from a cached zero value; a later insert matching its scope invalidates it.
func TestNegativeResult(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[string, int]{Tables: []fresh.TableSchema{{Table: "users", Scopes: [][]string{{"email"}}}}})
	var calls atomic.Int32
	exists := atomic.Bool{}
	load := func(ctx context.Context, email string) (int, error) {
		calls.Add(1)
		fresh.Depend(ctx, fresh.Scope("users", fresh.Eq("email", email)))
		if !exists.Load() {
			return 0, fmt.Errorf("user %s: %w", email, fresh.ErrNotFound)
		}
		return 0, nil // a user whose id is the zero value
	}
	for range 3 {
		if _, err := c.GetOrLoad(ctx, "a@x", load); !errors.Is(err, fresh.ErrNotFound) {
			t.Fatalf("GetOrLoad = %v; want ErrNotFound", err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("loader ran %d times; want the negative result cached", calls.Load())
	}
	if _, ok := c.Get("a@x"); ok {
		t.Fatal("Get of a cached negative result reported a value")
	}
	exists.Store(true)
	c.InvalidateRows(ctx, fresh.RowChange{Table: "users", New: fresh.Row{"id": 0, "email": "a@x"}})
	v, err := c.GetOrLoad(ctx, "a@x", load)
	if err != nil || v != 0 {
		t.Fatalf("after the insert: %d, %v; want 0, nil", v, err)
	}
	if v, ok := c.Get("a@x"); !ok || v != 0 {
		t.Fatalf("Get = %d, %v; want the cached zero value", v, ok)
	}
}

func TestLoaderErrorNotCached(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[string, int]{})
	var calls atomic.Int32
	boom := errors.New("boom")
	load := func(context.Context, string) (int, error) { calls.Add(1); return 0, boom }
	for range 2 {
		if _, err := c.GetOrLoad(ctx, "k", load); !errors.Is(err, boom) {
			t.Fatalf("err = %v; want boom", err)
		}
	}
	if calls.Load() != 2 {
		t.Fatalf("loader ran %d times; want errors not cached", calls.Load())
	}
}

// TestLoaderPanic: a loader's panic reaches every waiter as a *PanicError.
func TestLoaderPanic(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[string, int]{})
	release := make(chan struct{})
	load := func(context.Context, string) (int, error) { <-release; panic("kaput") }
	const n = 5
	var wg sync.WaitGroup
	var panics atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p, ok := recover().(*fresh.PanicError); ok && p.Value == "kaput" {
					panics.Add(1)
				}
			}()
			c.GetOrLoad(ctx, "k", load)
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if panics.Load() != n {
		t.Fatalf("%d of %d waiters saw the panic", panics.Load(), n)
	}
}

// TestLoaderCancelledOnlyWhenAllLeave: the loader's context ends when every waiter
// has gone, not when the first caller does.
func TestLoaderCancelledOnlyWhenAllLeave(t *testing.T) {
	c := newCache(t, fresh.Options[string, int]{})
	loaderCtx := make(chan context.Context, 1)
	load := func(ctx context.Context, _ string) (int, error) {
		loaderCtx <- ctx
		<-ctx.Done()
		return 0, ctx.Err()
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { _, err := c.GetOrLoad(ctx1, "k", load); errs <- err }()
	lctx := <-loaderCtx
	go func() { _, err := c.GetOrLoad(ctx2, "k", load); errs <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel1()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v; want context.Canceled", err)
	}
	select {
	case <-lctx.Done():
		t.Fatal("the loader was cancelled while a waiter remained")
	case <-time.After(20 * time.Millisecond):
	}
	cancel2()
	<-errs
	select {
	case <-lctx.Done():
	case <-time.After(time.Second):
		t.Fatal("the loader was not cancelled when every waiter had gone")
	}
}

func TestBadOptions(t *testing.T) {
	cases := map[string]fresh.Options[string, int]{
		"negative MaxEntries": {MaxEntries: -1},
		"both bounds":         {MaxEntries: 1, MaxCost: 1, Cost: func(string, int) uint32 { return 1 }},
		"cost without func":   {MaxCost: 10},
		"negative TTL":        {TTL: -time.Second},
		"jitter 1":            {Jitter: 1},
		"bad table":           {Tables: []fresh.TableSchema{{Table: ""}}},
		"bad scope":           {Tables: []fresh.TableSchema{{Table: "t", Scopes: [][]string{{"a", "a"}}}}},
	}
	for name, o := range cases {
		if c, err := fresh.New(o); err == nil {
			c.Close(context.Background())
			t.Errorf("%s: New accepted it", name)
		}
	}
	type point struct{ X, Y int }
	bus := fresh.NewLocalBus()
	defer bus.Close()
	h := newHub(t, fresh.HubOptions{Bus: bus})
	if _, err := fresh.New(fresh.Options[point, int]{Hub: h, Name: "points"}); err == nil {
		t.Error("a struct key on a bus without a KeyCodec was accepted")
	}
	if _, err := fresh.New(fresh.Options[string, int]{Hub: h}); err == nil {
		t.Error("a cache without a Name on a hub with a Bus was accepted")
	}
	for name, o := range map[string]fresh.HubOptions{
		"staleness no bus":   {MaxStaleness: time.Second},
		"heartbeat too long": {Bus: bus, MaxStaleness: time.Second, Heartbeat: 2 * time.Second},
		"tiny staleness":     {Bus: bus, MaxStaleness: time.Nanosecond},
		"tiny heartbeat":     {Bus: bus, MaxStaleness: time.Second, Heartbeat: time.Nanosecond},
		"bad table":          {Tables: []fresh.TableSchema{{Table: ""}}},
	} {
		if h, err := fresh.NewHub(o); err == nil {
			h.Close(context.Background())
			t.Errorf("%s: NewHub accepted it", name)
		}
	}
}

func TestBadCalls(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[string, int]{})
	if err := c.Set(ctx, "k", 1, fresh.TTL(-1)); err == nil {
		t.Error("negative TTL accepted")
	}
	if err := c.Set(ctx, "k", 1, fresh.DependsOn(fresh.Entity("t", struct{}{}))); err == nil {
		t.Error("an entity id of an unsupported type accepted")
	}
	if err := c.Invalidate(ctx, fresh.Dep{}); err == nil {
		t.Error("the zero Dep accepted")
	}
	if err := c.InvalidatePattern(ctx, "a[b"); err == nil {
		t.Error("a malformed pattern accepted")
	}
	if _, err := c.GetOrLoad(ctx, "k", nil); err == nil {
		t.Error("a nil loader accepted")
	}
	c.Close(ctx)
	if err := c.Set(ctx, "k", 1); !errors.Is(err, fresh.ErrClosed) {
		t.Errorf("Set after Close = %v; want ErrClosed", err)
	}
}
