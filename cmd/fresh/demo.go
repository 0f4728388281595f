package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
)

// demoConfig is what the demo's flags set.
type demoConfig struct {
	duration   time.Duration
	readers    int
	writers    int
	articles   int
	latency    time.Duration
	writeEvery time.Duration
	seed       uint64
	json       bool

	// progressEvery is the interval of the progress lines. Default 1s.
	progressEvery time.Duration
	// cache, when set, replaces the fresh cache, so that a test can show the
	// staleness check catching a cache that ignores invalidations.
	cache demoCache
}

func defaultDemoConfig() demoConfig {
	return demoConfig{
		duration:   10 * time.Second,
		readers:    8,
		writers:    2,
		articles:   1000,
		latency:    3 * time.Millisecond,
		writeEvery: 2 * time.Millisecond,
		seed:       1,
	}
}

// Upper bounds that keep the flags sensible.
const (
	maxDemoGoroutines = 10_000
	maxDemoArticles   = 1_000_000
	maxDemoLatency    = 10 * time.Second
)

// validate reports every bad setting at once.
func (c demoConfig) validate() error {
	var bad []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	check(c.duration > 0, "-duration %v must be positive", c.duration)
	check(c.readers >= 1 && c.readers <= maxDemoGoroutines, "-readers %d must be between 1 and %d", c.readers, maxDemoGoroutines)
	check(c.writers >= 0 && c.writers <= maxDemoGoroutines, "-writers %d must be between 0 and %d", c.writers, maxDemoGoroutines)
	check(c.articles >= 1 && c.articles <= maxDemoArticles, "-articles %d must be between 1 and %d", c.articles, maxDemoArticles)
	check(c.latency >= 0 && c.latency <= maxDemoLatency, "-latency %v must be between 0 and %v", c.latency, maxDemoLatency)
	check(c.writeEvery > 0, "-write-every %v must be positive", c.writeEvery)
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// demoCommand returns the flags of "fresh demo" and the function that runs it.
func demoCommand() (*flag.FlagSet, func(context.Context, []string, io.Writer, io.Writer) error) {
	cfg := defaultDemoConfig()
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.DurationVar(&cfg.duration, "duration", cfg.duration, "how long to run; the first tenth reads the source directly, as a baseline")
	fs.IntVar(&cfg.readers, "readers", cfg.readers, "number of reading goroutines")
	fs.IntVar(&cfg.writers, "writers", cfg.writers, "number of writing goroutines")
	fs.IntVar(&cfg.articles, "articles", cfg.articles, "number of articles in the simulated source")
	fs.DurationVar(&cfg.latency, "latency", cfg.latency, "simulated round trip of each source load")
	fs.DurationVar(&cfg.writeEvery, "write-every", cfg.writeEvery, "interval between the writes of each writer")
	fs.Uint64Var(&cfg.seed, "seed", cfg.seed, "seed of the data and of the readers' and writers' choices")
	fs.BoolVar(&cfg.json, "json", cfg.json, "print the summary as JSON")
	return fs, func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if len(args) > 0 {
			return &usageError{err: fmt.Errorf("demo: unexpected argument %q", args[0])}
		}
		if err := cfg.validate(); err != nil {
			return &usageError{err: fmt.Errorf("demo: %w", err)}
		}
		return runDemo(ctx, cfg, stdout, stderr)
	}
}

// A view is what the demo caches: one article, or the list of the published
// articles of a category, with the version of the data it was built from.
type view struct {
	Version  uint64
	Articles []article
}

// demoCache is the part of *fresh.Cache the demo uses. It is an interface so that
// a test can put a cache that ignores invalidations in its place and see the
// staleness check fail.
type demoCache interface {
	GetOrLoad(ctx context.Context, key string, loader fresh.Loader[string, view], opts ...fresh.Option) (view, error)
	InvalidateRows(ctx context.Context, changes ...fresh.RowChange) error
	Stats() fresh.Stats
	Close(ctx context.Context) error
}

var _ demoCache = (*fresh.Cache[string, view])(nil)

var demoCategories = []string{"go", "rust", "databases", "caching", "networking", "security", "devops", "design"}

const (
	articlesTable = "articles"
	listShare     = 10  // one read in listShare is of a list
	zipfS         = 1.1 // skew of the readers' choices: article 0 is the most read
	staleReported = 5   // the first stale reads are described on stderr
	closeTimeout  = 5 * time.Second
)

// A target is something readers read: an article or a category's list.
type target struct {
	key     string
	dep     fresh.Dep
	id      int      // for an article
	scope   scopeKey // for a list
	list    bool
	settled *atomic.Uint64 // the source's settled version of what the target shows
}

// A demo is one run of the workload.
type demo struct {
	cfg     demoConfig
	src     *source
	cache   demoCache
	stderr  io.Writer // safe for concurrent use
	targets map[string]*target
	keys    []*target // the articles by id, then the lists by category

	invalidations atomic.Uint64
	stale         atomic.Uint64
	start         time.Time

	stop    context.CancelFunc // ends the run early, after a failure
	errOnce sync.Once
	err     error
}

// readerStats are one reader's counters for one phase. Each is allocated on its
// own and the histogram makes it large, so readers do not share cache lines.
type readerStats struct {
	reads atomic.Uint64
	hist  histogram // written by the reader only, read after it has finished
}

// A phase is a period in which every reader reads the same way.
type phase struct {
	cached  bool
	readers []*readerStats
	start   time.Time
	end     time.Time
	loads0  uint64 // the source's loads when the phase started
	loads1  uint64 // and when it ended
}

func (p *phase) reads() uint64 {
	var n uint64
	for _, r := range p.readers {
		n += r.reads.Load()
	}
	return n
}

func (p *phase) latency() *histogram {
	var h histogram
	for _, r := range p.readers {
		h.merge(&r.hist)
	}
	return &h
}

// runDemo runs the workload: writers for the whole duration; readers first
// straight from the source for a tenth of it (the baseline), then through the
// cache, with every read checked for staleness.
func runDemo(ctx context.Context, cfg demoConfig, stdout, stderr io.Writer) (err error) {
	if err := cfg.validate(); err != nil {
		return err
	}
	if cfg.progressEvery <= 0 {
		cfg.progressEvery = time.Second
	}
	errw := &syncWriter{w: stderr}
	setup := rand.New(rand.NewPCG(cfg.seed, 0))
	d := &demo{
		cfg:    cfg,
		src:    newSource(cfg.articles, demoCategories, cfg.latency, setup.IntN),
		cache:  cfg.cache,
		stderr: errw,
	}
	d.makeTargets()
	if d.cache == nil {
		c, err := fresh.New(fresh.Options[string, view]{
			Name:       "demo",
			MaxEntries: len(d.keys),
			Tables: []fresh.TableSchema{{
				Table:  articlesTable,
				Scopes: [][]string{{"category", "published"}},
			}},
			Logger: slog.New(slog.NewTextHandler(errw, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		d.cache = c
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		if cerr := d.cache.Close(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("demo: close cache: %w", cerr))
		}
	}()

	d.logf("fresh demo: articles %d, readers %d, writers %d (a write every %v each), source latency %v, duration %v\n",
		cfg.articles, cfg.readers, cfg.writers, cfg.writeEvery, cfg.latency, cfg.duration)

	d.start = time.Now()
	runCtx, stop := context.WithDeadline(ctx, d.start.Add(cfg.duration))
	defer stop()
	d.stop = stop

	var writers sync.WaitGroup
	for i := range cfg.writers {
		r := rand.New(rand.NewPCG(cfg.seed, uint64(1+i)))
		writers.Go(func() { d.write(runCtx, r) })
	}

	baseline := &phase{cached: false}
	cached := &phase{cached: true}
	var current atomic.Pointer[phase]
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		d.progress(runCtx, &current)
	}()

	baseCtx, baseStop := context.WithDeadline(runCtx, d.start.Add(cfg.duration/10))
	d.runPhase(baseCtx, baseline, &current, 1_000)
	baseStop()
	d.runPhase(runCtx, cached, &current, 2_000)

	stop()
	writers.Wait()
	<-progressDone
	if d.err != nil {
		return d.err
	}

	s := d.summary(baseline, cached)
	if cfg.json {
		err = s.writeJSON(stdout)
	} else {
		err = s.writeText(stdout)
	}
	if err != nil {
		return fmt.Errorf("demo: write summary: %w", err)
	}
	if s.StaleReads > 0 {
		return fmt.Errorf("%d stale reads", s.StaleReads)
	}
	return nil
}

func (d *demo) makeTargets() {
	d.targets = make(map[string]*target)
	add := func(t *target) {
		d.targets[t.key] = t
		d.keys = append(d.keys, t)
	}
	for id := range d.cfg.articles {
		add(&target{
			key:     "article:" + strconv.Itoa(id),
			dep:     fresh.Entity(articlesTable, id),
			id:      id,
			settled: &d.src.settledRow[id],
		})
	}
	for _, c := range demoCategories {
		k := scopeKey{category: c, published: true}
		add(&target{
			key:     "list:" + c,
			dep:     fresh.Scope(articlesTable, fresh.Eq("category", c), fresh.Eq("published", true)),
			scope:   k,
			list:    true,
			settled: d.src.settledScope[k],
		})
	}
}

// logf prints a line of progress or diagnostics on stderr. Those are for a person
// watching: if stderr fails, the run goes on and the summary still goes to stdout.
func (d *demo) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(d.stderr, format, args...)
}

// fail records the first failure and ends the run.
func (d *demo) fail(err error) {
	d.errOnce.Do(func() {
		d.err = fmt.Errorf("demo: %w", err)
		d.stop()
	})
}

// runPhase runs the readers until ctx is done. seedBase keeps the phases' random
// streams apart.
func (d *demo) runPhase(ctx context.Context, p *phase, current *atomic.Pointer[phase], seedBase uint64) {
	fetch := d.load
	if p.cached {
		fetch = func(ctx context.Context, key string) (view, error) {
			return d.cache.GetOrLoad(ctx, key, d.load)
		}
	}
	p.readers = make([]*readerStats, d.cfg.readers)
	for i := range p.readers {
		p.readers[i] = new(readerStats)
	}
	p.loads0 = d.src.loads.Load()
	p.start = time.Now()
	current.Store(p)
	var wg sync.WaitGroup
	for i, st := range p.readers {
		r := rand.New(rand.NewPCG(d.cfg.seed, seedBase+uint64(i)))
		wg.Go(func() { d.read(ctx, r, st, fetch) })
	}
	wg.Wait()
	p.end = time.Now()
	p.loads1 = d.src.loads.Load()
}

// read is one reader: it reads until ctx is done and checks every value it is
// served against the version the source had settled when the read began.
func (d *demo) read(ctx context.Context, r *rand.Rand, st *readerStats, fetch func(context.Context, string) (view, error)) {
	zipf := rand.NewZipf(r, zipfS, 1, uint64(d.cfg.articles-1))
	lists := d.keys[d.cfg.articles:]
	for ctx.Err() == nil {
		var t *target
		if r.IntN(listShare) == 0 {
			t = lists[r.IntN(len(lists))]
		} else {
			t = d.keys[zipf.Uint64()]
		}
		// The snapshot is taken before the read begins: any write settled by now
		// must be reflected in what the read returns.
		want := t.settled.Load()
		begin := time.Now()
		v, err := fetch(ctx, t.key)
		took := time.Since(begin)
		if err != nil {
			if ctx.Err() == nil {
				d.fail(fmt.Errorf("read %s: %w", t.key, err))
			}
			return
		}
		st.hist.record(took)
		st.reads.Add(1)
		if v.Version < want {
			d.staleRead(t, v.Version, want)
		}
	}
}

func (d *demo) staleRead(t *target, got, want uint64) {
	n := d.stale.Add(1)
	if n <= staleReported {
		d.logf("stale read #%d at %v: %s served version %d, but version %d was written and invalidated before the read began\n",
			n, time.Since(d.start).Round(time.Millisecond), t.key, got, want)
	}
}

// load is the loader: it reads the target from the source and declares what the
// value depends on. Outside a loader (the baseline), Depend does nothing.
func (d *demo) load(ctx context.Context, key string) (view, error) {
	t, ok := d.targets[key]
	if !ok {
		return view{}, fmt.Errorf("no such key %q", key)
	}
	fresh.Depend(ctx, t.dep)
	if t.list {
		rows, v, err := d.src.list(ctx, t.scope)
		return view{Version: v, Articles: rows}, err
	}
	a, err := d.src.article(ctx, t.id)
	return view{Version: a.Version, Articles: []article{a}}, err
}

// write is one writer: every cfg.writeEvery it changes an article, then
// invalidates what the change dirties, as an application does after COMMIT, then
// marks the write settled for the staleness check.
func (d *demo) write(ctx context.Context, r *rand.Rand) {
	tick := time.NewTicker(d.cfg.writeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		id := r.IntN(d.cfg.articles)
		w := d.src.update(id, func(a *article) {
			switch r.IntN(4) {
			case 0: // move to another category
				a.Category = demoCategories[(slices.Index(demoCategories, a.Category)+1+r.IntN(len(demoCategories)-1))%len(demoCategories)]
			case 1:
				a.Published = !a.Published
			default: // a content edit: the row's version changes, nothing else
			}
		})
		// The write is committed: invalidate even if the run is ending.
		err := d.cache.InvalidateRows(context.WithoutCancel(ctx), fresh.RowChange{
			Table: articlesTable,
			Old:   w.old.row(),
			New:   w.new.row(),
		})
		if err != nil {
			d.fail(fmt.Errorf("invalidate after writing article %d: %w", id, err))
			return
		}
		d.invalidations.Add(1)
		d.src.settle(w)
	}
}

func (a article) row() fresh.Row {
	return fresh.Row{"id": a.ID, "category": a.Category, "published": a.Published}
}
