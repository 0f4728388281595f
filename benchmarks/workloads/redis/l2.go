package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	gocache "github.com/eko/gocache/lib/v4/cache"
	gocachestore "github.com/eko/gocache/lib/v4/store"
	redisstore "github.com/eko/gocache/store/redis/v4"
	rediscache "github.com/go-redis/cache/v9"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/benchmarks/report"
)

// l2Keys is how many keys the L2 measurement reads, round-robin.
const l2Keys = 1000

// l2Batch is how many reads of one library are made before the next library's turn.
const l2Batch = 250

// An l2Subject is one library's read of a value that is in Redis and not in process.
type l2Subject struct {
	name, call string
	read       func(ctx context.Context, i int) error
	// check says what went wrong, if the reads were not all served by Redis.
	check func() error
	close func()
}

func runL2(ctx context.Context, e *env, o Options, sec *report.Section) error {
	subjects, err := l2Subjects(ctx, e)
	defer func() {
		for _, s := range subjects {
			s.close()
		}
	}()
	if err != nil {
		return err
	}
	lats := make([][]time.Duration, len(subjects))
	for i := range lats {
		lats[i] = make([]time.Duration, 0, o.L2Reads)
	}
	// A warm-up pass of each, then batches round-robin so that a slow spell of the
	// machine is spread over every library.
	for _, s := range subjects {
		for k := range l2Batch {
			if err := s.read(ctx, k%l2Keys); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
		}
	}
	k := 0
	for done := 0; done < o.L2Reads; done += l2Batch {
		for i, s := range subjects {
			for j := range min(l2Batch, o.L2Reads-done) {
				if err := ctx.Err(); err != nil {
					return err
				}
				key := (k + j*7) % l2Keys
				t0 := time.Now()
				err := s.read(ctx, key)
				d := time.Since(t0)
				if err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				lats[i] = append(lats[i], d)
			}
		}
		k += l2Batch * 7
	}
	for _, s := range subjects {
		if err := s.check(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	type row struct{ p50, p99 time.Duration }
	rows := make([]row, len(subjects))
	for i := range subjects {
		slices.Sort(lats[i])
		rows[i] = row{percentile(lats[i], 0.50), percentile(lats[i], 0.99)}
	}
	tab := report.Table{
		Title:   "L1 miss, L2 hit: latency of one read, one goroutine",
		Columns: []string{"library", "p50", "p99", "reads", "fresh p50 ÷ this", "fresh p99 ÷ this"},
	}
	for i, s := range subjects {
		tab.Rows = append(tab.Rows, []string{
			s.name, fmtDur(rows[i].p50), fmtDur(rows[i].p99), strconv.Itoa(len(lats[i])),
			ratio(float64(rows[0].p50), float64(rows[i].p50)), ratio(float64(rows[0].p99), float64(rows[i].p99)),
		})
	}
	sec.Tables = append(sec.Tables, tab)
	sec.Notes = append(sec.Notes, fmt.Sprintf("**L1 miss, L2 hit.** %d keys of 64-byte values, all in Redis before the "+
		"measurement and in no process; one goroutine reads them in turn, in batches of %d per library, round-robin, after "+
		"a warm-up batch each. Every read is timed alone; the loaders are never called (checked). Lower is better: a ratio "+
		"below 1 means fresh is faster.", l2Keys, l2Batch))
	for _, s := range subjects {
		sec.Notes = append(sec.Notes, fmt.Sprintf("%s: %s.", s.name, s.call))
	}
	return nil
}

// l2Subjects builds the subjects and puts their values in Redis.
func l2Subjects(ctx context.Context, e *env) ([]l2Subject, error) {
	var subjects []l2Subject
	fr, err := newFreshL2(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("fresh: %w", err)
	}
	subjects = append(subjects, fr)

	client := e.newClient(nil)
	prefix := keyPrefix(e.run) + "l2:"
	keys := make([]string, l2Keys)
	for i := range keys {
		keys[i] = prefix + strconv.Itoa(i)
	}

	// go-redis/cache, its local cache off: GET and msgpack.
	rc := rediscache.New(&rediscache.Options{Redis: client})
	var rcLoads atomic.Int64
	for i, k := range keys {
		if err := rc.Set(&rediscache.Item{Ctx: ctx, Key: k + ":grc", Value: hitValue(i), TTL: time.Hour}); err != nil {
			_ = client.Close() // the error to report is err
			return subjects, fmt.Errorf("go-redis/cache Set: %w", err)
		}
	}
	subjects = append(subjects, l2Subject{
		name: "go-redis/cache", call: "`Once(&cache.Item{Key, Value: &v, Do, TTL})` on `cache.New(&cache.Options{Redis: client})`, no `LocalCache`",
		read: func(ctx context.Context, i int) error {
			var v string
			err := rc.Once(&rediscache.Item{Ctx: ctx, Key: keys[i] + ":grc", Value: &v, TTL: time.Hour,
				Do: func(*rediscache.Item) (any, error) {
					rcLoads.Add(1)
					return hitValue(i), nil
				}})
			if err == nil && len(v) != 64 {
				err = fmt.Errorf("key %d: got %d bytes", i, len(v))
			}
			return err
		},
		check: func() error {
			if n := rcLoads.Load(); n > 0 {
				return fmt.Errorf("the Do function ran %d times: values were missing from Redis", n)
			}
			return nil
		},
		close: func() {},
	})

	// eko/gocache with its Redis store: GET.
	gc := gocache.New[string](redisstore.NewRedis(client))
	for i, k := range keys {
		if err := gc.Set(ctx, k+":eko", hitValue(i), gocachestore.WithExpiration(time.Hour)); err != nil {
			_ = client.Close() // the error to report is err
			return subjects, fmt.Errorf("eko/gocache Set: %w", err)
		}
	}
	subjects = append(subjects, l2Subject{
		name: "eko/gocache (Redis store)", call: "`Get(ctx, key)` on `cache.New[string](redis_store.NewRedis(client))`",
		read: func(ctx context.Context, i int) error {
			v, err := gc.Get(ctx, keys[i]+":eko")
			if err == nil && len(v) != 64 {
				err = fmt.Errorf("key %d: got %d bytes", i, len(v))
			}
			return err
		},
		check: func() error { return nil },
		close: func() {},
	})

	// The floor: one GET, no cache library.
	for i, k := range keys {
		if err := client.Set(ctx, k+":raw", hitValue(i), time.Hour).Err(); err != nil {
			_ = client.Close() // the error to report is err
			return subjects, err
		}
	}
	subjects = append(subjects, l2Subject{
		name: "go-redis GET (reference)", call: "a bare `client.Get(ctx, key)`, one round trip and no cache library: the floor",
		read: func(ctx context.Context, i int) error {
			v, err := client.Get(ctx, keys[i]+":raw").Result()
			if err == nil && len(v) != 64 {
				err = fmt.Errorf("key %d: got %d bytes", i, len(v))
			}
			return err
		},
		check: func() error { return nil },
		close: func() { _ = client.Close() },
	})
	return subjects, nil
}

// newFreshL2 returns fresh with its in-process tier off (Options.Disabled), so that
// every GetOrLoad reads the Store, on a hub with the Store and a StreamBus; its
// values are put in the Store by a first pass of loads.
func newFreshL2(ctx context.Context, e *env) (l2Subject, error) {
	t, err := newFreshTier(e, e.ns("l2"), "stream", nil)
	if err != nil {
		return l2Subject{}, err
	}
	c, err := fresh.New(fresh.Options[int, string]{Hub: t.hub, Name: "l2", Disabled: true})
	if err != nil {
		return l2Subject{}, errors.Join(err, t.close())
	}
	loader := func(ctx context.Context, i int) (string, error) {
		fresh.Depend(ctx, fresh.Entity("items", i))
		return hitValue(i), nil
	}
	for i := range l2Keys {
		if _, err := c.GetOrLoad(ctx, i, loader); err != nil {
			return l2Subject{}, errors.Join(err, t.close())
		}
	}
	// The Store is filled after the callers get their value: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().StoreFills < l2Keys {
		if time.Now().After(deadline) {
			return l2Subject{}, errors.Join(fmt.Errorf("%d of %d values in the Store 10s after their loads", c.Stats().StoreFills, l2Keys), t.close())
		}
		time.Sleep(time.Millisecond)
	}
	before := c.Stats()
	return l2Subject{
		name: "fresh", call: "`GetOrLoad(ctx, key, loader)` on a cache with `Disabled: true` (no in-process tier), the Redis Store and a StreamBus; one Lua call per read",
		read: func(ctx context.Context, i int) error {
			v, err := c.GetOrLoad(ctx, i, loader)
			if err == nil && len(v) != 64 {
				err = fmt.Errorf("key %d: got %d bytes", i, len(v))
			}
			return err
		},
		check: func() error {
			s := c.Stats()
			if n := s.Loads - before.Loads; n > 0 {
				return fmt.Errorf("the loader ran %d times (%d Store hits): values were missing from the Store", n, s.StoreHits-before.StoreHits)
			}
			return nil
		},
		close: func() { _ = t.close() },
	}, nil
}
