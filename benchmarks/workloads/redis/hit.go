package redis

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/benchmarks/internal/measure"
	"github.com/freshcache/fresh/benchmarks/report"
	"github.com/freshcache/fresh/freshredis"
)

// hitKeys is how many keys the L1 hit measurement reads, round-robin; every one is
// cached before the timer starts.
const hitKeys = 1000

// hitTarget is the ratio fresh's L1 hit should reach against each client-side cache.
const hitTarget = 10

// hitValue is the value of key i in every library: 64 bytes.
func hitValue(i int) string { return fmt.Sprintf("%-64s", "value of "+strconv.Itoa(i)) }

// A hitSubject is one library's read of a cached key.
type hitSubject struct {
	name, call string
	read       func(ctx context.Context, i int) (hit bool, err error)
	hits       func() uint64 // the library's own count of local hits, when it has one
	misses     func() uint64 // or of misses
	close      func()
}

// hitResult is what one subject measured.
type hitResult struct {
	name, call string
	opsPerSec  float64
	goroutines int
	hitShare   float64 // share of the measured reads served locally
}

func runHit(ctx context.Context, e *env, o Options, sec *report.Section) error {
	subjects, gone, err := hitSubjects(ctx, e)
	defer func() {
		for _, s := range subjects {
			s.close()
		}
	}()
	if err != nil {
		return err
	}
	p := runtime.GOMAXPROCS(0)
	par := max(1, (o.HitGoroutines+p-1)/p)
	type tally struct {
		reads, hits atomic.Uint64
		err         atomic.Pointer[error]
	}
	tallies := make([]*tally, len(subjects))
	fs := make([]func(b *testing.B), len(subjects))
	for i, s := range subjects {
		t := &tally{}
		tallies[i] = t
		fs[i] = func(b *testing.B) {
			var next atomic.Int64
			b.SetParallelism(par)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				k := int(next.Add(1)) * 97
				var reads, hits uint64
				for pb.Next() {
					hit, err := s.read(ctx, k%hitKeys)
					reads++
					if hit {
						hits++
					}
					if err != nil && t.err.Load() == nil {
						t.err.Store(&err)
					}
					k++
				}
				t.reads.Add(reads)
				t.hits.Add(hits)
			})
		}
	}
	before := make([]uint64, len(subjects))
	for i, s := range subjects {
		switch {
		case s.hits != nil:
			before[i] = s.hits()
		case s.misses != nil:
			before[i] = s.misses()
		}
	}
	rs, err := measure.Interleaved(o.HitCount, o.HitTime, fs)
	if err != nil {
		return err
	}
	var results []hitResult
	for i, s := range subjects {
		t := tallies[i]
		if ep := t.err.Load(); ep != nil {
			return fmt.Errorf("%s: %w", s.name, *ep)
		}
		reads, hits := t.reads.Load(), t.hits.Load()
		switch {
		case s.hits != nil:
			hits = s.hits() - before[i]
		case s.misses != nil:
			hits = reads - min(reads, s.misses()-before[i])
		}
		share := 0.0
		if reads > 0 {
			share = float64(hits) / float64(reads)
		}
		results = append(results, hitResult{
			name: s.name, call: s.call, opsPerSec: 1e9 / measure.NsPerOp(rs[i]),
			goroutines: par * p, hitShare: share,
		})
	}
	addHitSection(sec, o, results, gone)
	return nil
}

// A missing competitor could not be measured, for the reason why.
type missing struct{ name, why string }

// hitSubjects builds the subjects and fills them; gone lists the competitors that
// could not be measured.
func hitSubjects(ctx context.Context, e *env) (subjects []hitSubject, gone []missing, err error) {
	fr, err := newFreshHit(ctx, e)
	if err != nil {
		return nil, nil, fmt.Errorf("fresh: %w", err)
	}
	subjects = append(subjects, fr...)

	prefix := keyPrefix(e.run) + "hit:"
	pipe := e.client.Pipeline()
	for i := range hitKeys {
		pipe.Set(ctx, prefix+strconv.Itoa(i), hitValue(i), time.Hour)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return subjects, nil, fmt.Errorf("SET of the competitors' keys: %w", err)
	}

	rs, err := newRueidisHit(ctx, e, prefix)
	if err != nil {
		gone = append(gone, missing{"rueidis", "DoCache could not be measured: " + err.Error()})
	} else {
		subjects = append(subjects, rs)
	}
	gs, err := newGoRedisCSCHit(ctx, e, prefix)
	if err != nil {
		gone = append(gone, missing{"go-redis (client-side cache)", "client-side caching could not be enabled against Redis " + e.version + ": " + err.Error()})
	} else {
		subjects = append(subjects, gs)
	}
	return subjects, gone, nil
}

// A freshTier is what a fresh cache on Redis needs: a client, the Store, a Bus and
// the hub on them.
type freshTier struct {
	client *goredis.Client
	store  *freshredis.Store
	bus    fresh.Bus
	closer func() error // closes the bus
	hub    *fresh.Hub
}

// newFreshTier connects a hub to Redis in namespace ns, with a StreamBus, a
// PubSubBus (busKind "pubsub") or no bus (""). wrap, when set, wraps the bus.
func newFreshTier(e *env, ns, busKind string, wrap func(fresh.Bus) fresh.Bus) (*freshTier, error) {
	t := &freshTier{client: e.newClient(nil)}
	var err error
	t.store, err = freshredis.NewStore(t.client, freshredis.StoreOptions{Namespace: ns})
	if err != nil {
		_ = t.client.Close() // the error to report is err
		return nil, err
	}
	switch busKind {
	case "stream":
		b, berr := freshredis.NewStreamBus(t.client, freshredis.StreamBusOptions{Namespace: ns})
		t.bus, t.closer, err = b, func() error { return b.Close() }, berr
	case "pubsub":
		b, berr := freshredis.NewPubSubBus(t.client, freshredis.PubSubBusOptions{Namespace: ns})
		t.bus, t.closer, err = b, func() error { return b.Close() }, berr
	case "":
	default:
		err = fmt.Errorf("unknown bus %q", busKind)
	}
	if err == nil {
		ho := fresh.HubOptions{Store: t.store}
		if t.bus != nil {
			ho.Bus = t.bus
			if wrap != nil {
				ho.Bus = wrap(t.bus)
			}
		}
		t.hub, err = fresh.NewHub(ho)
	}
	if err != nil {
		return nil, errors.Join(err, t.close())
	}
	return t, nil
}

// close closes the hub (and its caches), the bus, the store and the client.
func (t *freshTier) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	if t.hub != nil {
		errs = append(errs, t.hub.Close(ctx))
	}
	if t.closer != nil {
		errs = append(errs, t.closer())
	}
	errs = append(errs, t.store.Close(), t.client.Close())
	return errors.Join(errs...)
}

// newFreshHit returns fresh's subjects, on a hub with the Redis Store and a
// StreamBus: GetOrLoad and Get of a cache whose values each depend on an entity,
// and GetOrLoad of one whose values declare no dependency.
func newFreshHit(ctx context.Context, e *env) (subjects []hitSubject, err error) {
	t, err := newFreshTier(e, e.ns("hit"), "stream", nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, t.close())
		}
	}()
	c, err := fresh.New(fresh.Options[int, string]{Hub: t.hub, Name: "hit", MaxEntries: 10 * hitKeys})
	if err != nil {
		return nil, err
	}
	loader := func(ctx context.Context, i int) (string, error) {
		fresh.Depend(ctx, fresh.Entity("items", i))
		return hitValue(i), nil
	}
	if err := fillFresh(ctx, c, loader); err != nil {
		return nil, err
	}
	plain, err := fresh.New(fresh.Options[int, string]{Hub: t.hub, Name: "hit-nodep", MaxEntries: 10 * hitKeys})
	if err != nil {
		return nil, err
	}
	plainLoader := func(_ context.Context, i int) (string, error) { return hitValue(i), nil }
	if err := fillFresh(ctx, plain, plainLoader); err != nil {
		return nil, err
	}
	var once sync.Once
	closeAll := func() { once.Do(func() { _ = t.close() }) }
	return []hitSubject{
		{
			name: "fresh", call: "`GetOrLoad(ctx, key, loader)`; each value depends on an `Entity`",
			read: func(ctx context.Context, i int) (bool, error) {
				_, err := c.GetOrLoad(ctx, i, loader)
				return true, err
			},
			// Get below fails on a miss: the cache's misses are GetOrLoad's.
			misses: func() uint64 { return c.Stats().Misses },
			close:  closeAll,
		},
		{
			name: "fresh (Get)", call: "`Get(key)`, the non-loading read, on the same cache",
			read: func(_ context.Context, i int) (bool, error) {
				_, ok := c.Get(i)
				if !ok {
					return false, fmt.Errorf("key %d missed", i)
				}
				return true, nil
			},
			close: closeAll,
		},
		{
			name: "fresh (no dependency)", call: "`GetOrLoad(ctx, key, loader)` on a cache of the same hub whose values declare no dependency",
			read: func(ctx context.Context, i int) (bool, error) {
				_, err := plain.GetOrLoad(ctx, i, plainLoader)
				return true, err
			},
			misses: func() uint64 { return plain.Stats().Misses },
			close:  closeAll,
		},
	}, nil
}

// fillFresh loads every key into c and waits until its in-process tier holds them
// all: it is filled after the callers get their value.
func fillFresh(ctx context.Context, c *fresh.Cache[int, string], loader fresh.Loader[int, string]) error {
	for i := range hitKeys {
		if _, err := c.GetOrLoad(ctx, i, loader); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; i < hitKeys; {
		if _, ok := c.Get(i); ok {
			i++
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: key %d is not in the in-process tier 5s after its load", c.Name(), i)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// newRueidisHit returns rueidis with its client-side cache: DoCache of GET.
func newRueidisHit(ctx context.Context, e *env, prefix string) (hitSubject, error) {
	opt, err := rueidis.ParseURL(e.url)
	if err != nil {
		return hitSubject{}, err
	}
	rc, err := rueidis.NewClient(opt)
	if err != nil {
		return hitSubject{}, err
	}
	keys := make([]string, hitKeys)
	for i := range keys {
		keys[i] = prefix + strconv.Itoa(i)
	}
	read := func(ctx context.Context, i int) (bool, error) {
		r := rc.DoCache(ctx, rc.B().Get().Key(keys[i]).Cache(), time.Minute)
		v, err := r.ToString()
		if err == nil && len(v) != 64 {
			err = fmt.Errorf("key %d: got %d bytes", i, len(v))
		}
		return r.IsCacheHit(), err
	}
	for i := range hitKeys {
		if _, err := read(ctx, i); err != nil {
			rc.Close()
			return hitSubject{}, err
		}
	}
	hit, err := read(ctx, 0)
	if err == nil && !hit {
		err = errors.New("a second DoCache of a key was not a local hit")
	}
	if err != nil {
		rc.Close()
		return hitSubject{}, err
	}
	return hitSubject{
		name: "rueidis", call: "`DoCache(ctx, B().Get().Key(k).Cache(), time.Minute)`, RESP3 client tracking",
		read: read, close: rc.Close,
	}, nil
}

// newGoRedisCSCHit returns go-redis with its experimental client-side cache: GET on
// a RESP3 client with ClientSideCacheConfig.
func newGoRedisCSCHit(ctx context.Context, e *env, prefix string) (s hitSubject, err error) {
	if e.opts.DB != 0 {
		return s, fmt.Errorf("it works on DB 0 only, and %s selects DB %d", redactURL(e.url), e.opts.DB)
	}
	c := e.newClient(func(o *goredis.Options) {
		o.Protocol = 3
		o.ClientSideCacheConfig = &goredis.ClientSideCacheConfig{MaxEntries: 10 * hitKeys}
	})
	defer func() {
		if err != nil {
			_ = c.Close() // the error to report is err
		}
	}()
	keys := make([]string, hitKeys)
	for i := range keys {
		keys[i] = prefix + strconv.Itoa(i)
	}
	read := func(ctx context.Context, i int) (bool, error) {
		v, err := c.Get(ctx, keys[i]).Result()
		if err == nil && len(v) != 64 {
			err = fmt.Errorf("key %d: got %d bytes", i, len(v))
		}
		return false, err
	}
	for i := range hitKeys {
		if _, err := read(ctx, i); err != nil {
			return s, err
		}
	}
	before := c.CSCStats().Hits
	for i := range hitKeys {
		if _, err := read(ctx, i); err != nil {
			return s, err
		}
	}
	if got := c.CSCStats().Hits - before; got < hitKeys*9/10 {
		return s, fmt.Errorf("a second GET of %d cached keys gave %d local hits (CSCStats %+v)", hitKeys, got, c.CSCStats())
	}
	return hitSubject{
		name: "go-redis (client-side cache)", call: "`Get(ctx, k)` on a client with `Protocol: 3` and `ClientSideCacheConfig` (experimental)",
		read:  read,
		hits:  func() uint64 { return c.CSCStats().Hits },
		close: func() { _ = c.Close() },
	}, nil
}

func addHitSection(sec *report.Section, o Options, rs []hitResult, gone []missing) {
	var fr float64
	for _, r := range rs {
		if r.name == "fresh" {
			fr = r.opsPerSec
		}
	}
	tab := report.Table{
		Title: fmt.Sprintf("L1 hit with Redis attached: reads per second at %d goroutines", rs[0].goroutines),
		Columns: []string{"library", "ops/s", "served locally", "fresh ÷ this",
			fmt.Sprintf("target: fresh ≥ %d× this", hitTarget)},
	}
	chart := report.Chart{
		Name: "hit", Title: "Redis tier: L1 hit with Redis attached", Kind: "bar",
		XLabel: "library", YLabel: "million reads per second",
		Series: []report.Series{{Name: "reads/s"}},
	}
	for _, r := range rs {
		target := "–"
		if !strings.HasPrefix(r.name, "fresh") {
			target = pick(fr >= hitTarget*r.opsPerSec, "met", "**not met**")
		}
		tab.Rows = append(tab.Rows, []string{
			r.name, fmtRate(r.opsPerSec), fmt.Sprintf("%.1f%%", 100*r.hitShare), ratio(fr, r.opsPerSec), target,
		})
		chart.Categories = append(chart.Categories, r.name)
		chart.Series[0].Y = append(chart.Series[0].Y, r.opsPerSec/1e6)
	}
	for _, m := range gone {
		tab.Rows = append(tab.Rows, []string{m.name, "not measured", "–", "–", "–"})
	}
	sec.Tables = append(sec.Tables, tab)
	sec.Charts = append(sec.Charts, chart)
	sec.Notes = append(sec.Notes, fmt.Sprintf("**L1 hit.** %d keys of 64-byte values, all cached before the timer starts, read "+
		"round-robin by %d goroutines (RunParallel), %v per library, %d time(s) round-robin, median reported. fresh's hub has the "+
		"Redis Store and a StreamBus (heartbeats running); *fresh ÷ this* divides fresh's `GetOrLoad` rate. *Served locally* "+
		"is each library's own count of local hits over the reads (rueidis: `IsCacheHit`; go-redis: `CSCStats().Hits`; fresh: "+
		"reads less `Stats().Misses`).", hitKeys, rs[0].goroutines, o.HitTime, o.HitCount))
	for _, r := range rs {
		sec.Notes = append(sec.Notes, fmt.Sprintf("%s: %s.", r.name, r.call))
	}
	for _, m := range gone {
		sec.Notes = append(sec.Notes, "**"+m.name+" not measured.** "+m.why)
	}
}
