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

	// redis, when set, spreads the run over procs processes that share this Redis
	// as their Store and Bus (see multi.go); maxStaleness is their hubs'
	// MaxStaleness, the bound of the staleness check across processes.
	redis string
	// bus, when set, spreads the run over procs processes that share
	// invalidations over this bus (sqlite:PATH, postgres://, nats://, redis://).
	// Without redis they share no Store, and the source is in files (fileSource).
	bus          string
	procs        int
	maxStaleness time.Duration

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

		procs:        4,
		maxStaleness: time.Second,
	}
}

// Upper bounds that keep the flags sensible.
const (
	maxDemoGoroutines = 10_000
	maxDemoArticles   = 1_000_000
	maxDemoLatency    = 10 * time.Second
	maxDemoProcs      = 64
	minMaxStaleness   = 10 * time.Millisecond // fresh's own lower bound
	maxMaxStaleness   = time.Minute
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
	if c.bus != "" {
		_, err := busKind(c.bus)
		check(err == nil, "%v", err)
	}
	if c.multi() {
		check(c.procs >= 2 && c.procs <= maxDemoProcs, "-procs %d must be between 2 and %d (one writing process and at least one reading)", c.procs, maxDemoProcs)
		check(c.maxStaleness >= minMaxStaleness && c.maxStaleness <= maxMaxStaleness, "-max-staleness %v must be between %v and %v", c.maxStaleness, minMaxStaleness, maxMaxStaleness)
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// multi says whether the run spreads over several processes.
func (c demoConfig) multi() bool { return c.redis != "" || c.bus != "" }

// memoryFlags registers the flags of the in-process workload on fs, with cfg's
// values as their defaults.
func memoryFlags(fs *flag.FlagSet, cfg *demoConfig) {
	fs.DurationVar(&cfg.duration, "duration", cfg.duration, "how long to run; the first tenth reads the source directly, as a baseline")
	fs.IntVar(&cfg.readers, "readers", cfg.readers, "number of reading goroutines")
	fs.IntVar(&cfg.writers, "writers", cfg.writers, "number of writing goroutines")
	fs.IntVar(&cfg.articles, "articles", cfg.articles, "number of articles in the simulated source")
	fs.DurationVar(&cfg.latency, "latency", cfg.latency, "simulated round trip of each source load")
	fs.DurationVar(&cfg.writeEvery, "write-every", cfg.writeEvery, "interval between the writes of each writer")
	fs.Uint64Var(&cfg.seed, "seed", cfg.seed, "seed of the data and of the readers' and writers' choices")
	fs.BoolVar(&cfg.json, "json", cfg.json, "print the summary as JSON")
}

// memoryDemoCommand returns the flags of "fresh demo-memory", the workload over a
// simulated source in this process, and the function that runs it.
func memoryDemoCommand() (*flag.FlagSet, func(context.Context, []string, io.Writer, io.Writer) error) {
	cfg := defaultDemoConfig()
	fs := flag.NewFlagSet("demo-memory", flag.ContinueOnError)
	memoryFlags(fs, &cfg)
	return fs, func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if len(args) > 0 {
			return &usageError{err: fmt.Errorf("demo-memory: unexpected argument %q", args[0])}
		}
		if err := cfg.validate(); err != nil {
			return &usageError{err: fmt.Errorf("demo-memory: %w", err)}
		}
		return runDemo(ctx, cfg, stdout, stderr)
	}
}

// Flags of "fresh demo" that only one of its two workloads reads.
var (
	multiOnlyFlags = []string{"articles", "latency", "write-every"}
	sqlOnlyFlags   = []string{"rate", "keep"}
)

// demoCommand returns the flags of "fresh demo" and the function that runs it:
// the SQL workload (sqldemo.go) without -redis and -bus, the multi-process one
// (multi.go) with either.
func demoCommand() (*flag.FlagSet, func(context.Context, []string, io.Writer, io.Writer) error) {
	cfg := defaultDemoConfig()
	sql := defaultSQLDemoConfig()
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.DurationVar(&sql.duration, "duration", sql.duration, "how long to run; with -redis or -bus 10s unless given, the first tenth reading the source directly, as a baseline")
	fs.IntVar(&sql.readers, "readers", sql.readers, "number of reading goroutines; with -redis or -bus 8 unless given, in each reading process")
	fs.IntVar(&sql.writers, "writers", sql.writers, "number of writing goroutines; with -redis or -bus in the writing process")
	fs.Float64Var(&sql.rate, "rate", sql.rate, "writes per second, all writers together (not with -redis or -bus)")
	fs.BoolVar(&sql.keep, "keep", sql.keep, "keep the SQLite database file of the run, and print its path (not with -redis or -bus)")
	fs.Uint64Var(&sql.seed, "seed", sql.seed, "seed of the data and of the readers' and writers' choices")
	fs.BoolVar(&sql.json, "json", sql.json, "print the summary as JSON")
	fs.IntVar(&cfg.articles, "articles", cfg.articles, "with -redis or -bus: number of articles in the simulated source")
	fs.DurationVar(&cfg.latency, "latency", cfg.latency, "with -redis or -bus: simulated round trip of each source load")
	fs.DurationVar(&cfg.writeEvery, "write-every", cfg.writeEvery, "with -redis or -bus: interval between the writes of each writer")
	fs.StringVar(&cfg.redis, "redis", cfg.redis, "`URL` of a Redis (redis://host:port/db) shared by -procs processes as their L2 and bus; every key of the run is deleted at the end")
	fs.StringVar(&cfg.bus, "bus", cfg.bus, "`URL` of the bus shared by -procs processes: sqlite:PATH, postgres://..., nats://host:port or redis://host:port; "+
		"without -redis they share no L2 and keep the source in a temporary directory")
	fs.IntVar(&cfg.procs, "procs", cfg.procs, "with -redis or -bus: number of processes, one running the writers and each other one the readers")
	fs.DurationVar(&cfg.maxStaleness, "max-staleness", cfg.maxStaleness, "with -redis or -bus: the hubs' MaxStaleness, how long a read may lag a write made in another process")
	return fs, func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if len(args) > 0 {
			return &usageError{err: fmt.Errorf("demo: unexpected argument %q", args[0])}
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !cfg.multi() {
			var needRedis []string
			for _, name := range []string{"max-staleness", "procs"} {
				if set[name] {
					needRedis = append(needRedis, "-"+name)
				}
			}
			if len(needRedis) > 0 {
				verb := "needs"
				if len(needRedis) > 1 {
					verb = "need"
				}
				return &usageError{err: fmt.Errorf("demo: %s %s -redis or -bus: the processes share a Redis (for example -redis redis://127.0.0.1:6379/0) or a bus (for example -bus sqlite:/tmp/fresh-bus.db)", strings.Join(needRedis, " and "), verb)}
			}
		}
		// The flags both workloads read; the multi-process one keeps its own
		// defaults for those not given.
		if set["duration"] {
			cfg.duration = sql.duration
		}
		if set["readers"] {
			cfg.readers = sql.readers
		}
		if set["writers"] {
			cfg.writers = sql.writers
		}
		cfg.seed, cfg.json = sql.seed, sql.json
		if err := cfg.validate(); err != nil {
			return &usageError{err: fmt.Errorf("demo: %w", err)}
		}
		if cfg.multi() {
			if bad := setFlags(set, sqlOnlyFlags); bad != "" {
				return &usageError{err: fmt.Errorf("demo: %s only for the SQL workload, without -redis and -bus", bad)}
			}
			return runMultiDemo(ctx, cfg, stdout, stderr)
		}
		if bad := setFlags(set, multiOnlyFlags); bad != "" {
			return &usageError{err: fmt.Errorf("demo: %s only with -redis or -bus (or use fresh demo-memory)", bad)}
		}
		if err := sql.validate(); err != nil {
			return &usageError{err: fmt.Errorf("demo: %w", err)}
		}
		return runSQLDemo(ctx, sql, stdout, stderr)
	}
}

// setFlags returns the flags of names that were set, as "-a and -b is" or
// "-a is", or "" when none was.
func setFlags(set map[string]bool, names []string) string {
	var got []string
	for _, n := range names {
		if set[n] {
			got = append(got, "-"+n)
		}
	}
	switch len(got) {
	case 0:
		return ""
	case 1:
		return got[0] + " is"
	}
	return strings.Join(got, " and ") + " are"
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
	key   string
	dep   fresh.Dep
	id    int      // for an article
	scope scopeKey // for a list
	list  bool
}

// A demo is one run of the workload, or a process's part of a multi-process run.
type demo struct {
	cfg     demoConfig
	src     source
	cache   demoCache
	stderr  io.Writer // safe for concurrent use
	targets map[string]*target
	keys    []*target // the articles by id, then the lists by category
	// streams is added to the streams of the readers' and writers' random numbers,
	// so that the processes of a multi-process run do not all choose alike.
	streams uint64

	invalidations atomic.Uint64
	stale         atomic.Uint64 // reads served a version older than promised
	within        atomic.Uint64 // reads behind, within MaxStaleness (lagWithin)
	pending       atomic.Uint64 // reads behind an invalidation not yet returned (lagPending)
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

// runDemo runs the workload in this process: writers for the whole duration;
// readers first straight from the source for a tenth of it (the baseline), then
// through the cache, with every read checked for staleness.
func runDemo(ctx context.Context, cfg demoConfig, stdout, stderr io.Writer) (err error) {
	if err := cfg.validate(); err != nil {
		return err
	}
	if cfg.progressEvery <= 0 {
		cfg.progressEvery = time.Second
	}
	errw := &syncWriter{w: stderr}
	setup := rand.New(rand.NewPCG(cfg.seed, 0))
	d := newDemo(cfg, newSource(cfg.articles, demoCategories, cfg.latency, setup.IntN), errw)
	if d.cache == nil {
		c, err := newDemoCache(nil, len(d.keys), errw)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		d.cache = c
	}
	defer func() {
		err = errors.Join(err, d.closeCache(ctx))
	}()

	d.logf("fresh demo: articles %d, readers %d, writers %d (a write every %v each), source latency %v, duration %v\n",
		cfg.articles, cfg.readers, cfg.writers, cfg.writeEvery, cfg.latency, cfg.duration)

	d.start = time.Now()
	var current atomic.Pointer[phase]
	baseline, cached := d.run(ctx, true, true, &current, func(ctx context.Context) { d.progress(ctx, &current) })
	if d.err != nil {
		return d.err
	}
	return printSummary(stdout, cfg.json, summarize(cfg, d.start, d.totals(baseline, cached)))
}

// printSummary prints s on stdout, as text or JSON, and fails when the run had
// stale reads.
func printSummary(stdout io.Writer, asJSON bool, s demoSummary) error {
	var err error
	if asJSON {
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

// newDemo returns a run of cfg's workload over src, with cfg.cache if set; the
// caller sets the cache otherwise, and the start.
func newDemo(cfg demoConfig, src source, stderr io.Writer) *demo {
	d := &demo{cfg: cfg, src: src, cache: cfg.cache, stderr: stderr}
	d.makeTargets()
	return d
}

// newDemoCache returns the demo's cache of n entries, in hub (nil for the default
// hub), logging its warnings on logw.
func newDemoCache(hub *fresh.Hub, n int, logw io.Writer) (*fresh.Cache[string, view], error) {
	return fresh.New(fresh.Options[string, view]{
		Hub:        hub,
		Name:       "demo",
		MaxEntries: n,
		Tables: []fresh.TableSchema{{
			Table:  articlesTable,
			Scopes: [][]string{{"category", "published"}},
		}},
		Logger: warnLogger(logw),
	})
}

// warnLogger returns a logger of warnings and errors on w.
func warnLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// closeCache closes the demo's cache, within closeTimeout even when ctx is done.
func (d *demo) closeCache(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	if err := d.cache.Close(cctx); err != nil {
		return fmt.Errorf("demo: close cache: %w", err)
	}
	return nil
}

// run runs the workload from d.start for cfg.duration: the writers if writes is
// set; if reads is, the readers, first straight from the source for a tenth of the
// duration (the baseline), then through the cache. Each of background runs in a
// goroutine of its own until the run ends, and run waits for them. current is the
// readers' phase, for the background functions.
func (d *demo) run(ctx context.Context, reads, writes bool, current *atomic.Pointer[phase], background ...func(context.Context)) (baseline, cached *phase) {
	runCtx, stop := context.WithDeadline(ctx, d.start.Add(d.cfg.duration))
	defer stop()
	d.stop = stop

	var workers sync.WaitGroup
	if writes {
		for i := range d.cfg.writers {
			r := rand.New(rand.NewPCG(d.cfg.seed, d.streams+uint64(1+i)))
			workers.Go(func() { d.write(runCtx, r) })
		}
	}
	for _, f := range background {
		workers.Go(func() { f(runCtx) })
	}

	baseline = &phase{cached: false}
	cached = &phase{cached: true}
	if reads {
		baseCtx, baseStop := context.WithDeadline(runCtx, d.start.Add(d.cfg.duration/10))
		d.runPhase(baseCtx, baseline, current, d.streams+1_000)
		baseStop()
		d.runPhase(runCtx, cached, current, d.streams+2_000)
	} else {
		<-runCtx.Done()
	}

	stop()
	workers.Wait()
	return baseline, cached
}

func (d *demo) makeTargets() {
	d.targets = make(map[string]*target)
	add := func(t *target) {
		d.targets[t.key] = t
		d.keys = append(d.keys, t)
	}
	for id := range d.cfg.articles {
		add(&target{
			key: "article:" + strconv.Itoa(id),
			dep: fresh.Entity(articlesTable, id),
			id:  id,
		})
	}
	for _, c := range demoCategories {
		add(&target{
			key:   "list:" + c,
			dep:   fresh.Scope(articlesTable, fresh.Eq("category", c), fresh.Eq("published", true)),
			scope: scopeKey{category: c, published: true},
			list:  true,
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
	p.loads0 = d.src.loadCount()
	p.start = time.Now()
	current.Store(p)
	var wg sync.WaitGroup
	for i, st := range p.readers {
		r := rand.New(rand.NewPCG(d.cfg.seed, seedBase+uint64(i)))
		wg.Go(func() { d.read(ctx, r, st, fetch) })
	}
	wg.Wait()
	p.end = time.Now()
	p.loads1 = d.src.loadCount()
}

// read is one reader: it reads until ctx is done and checks every value it is
// served against the version the source gives for reads beginning then: in one
// process, the version settled when the read began; across processes, the version
// committed then (see redisSource.judge for the bound).
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
		t0 := time.Now()
		want, err := d.src.want(ctx, t)
		if err != nil {
			if ctx.Err() == nil {
				d.fail(fmt.Errorf("read the version of %s: %w", t.key, err))
			}
			return
		}
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
			// The read is over: it is judged even if the run is ending.
			vd, err := d.src.judge(context.WithoutCancel(ctx), t, v.Version, want, t0)
			if err != nil {
				d.fail(fmt.Errorf("judge a read of %s: %w", t.key, err))
				return
			}
			d.behind(t, v.Version, want, vd)
		}
	}
}

// behind counts a read of t served version got when want was expected.
func (d *demo) behind(t *target, got, want uint64, vd verdict) {
	switch vd.lag {
	case lagWithin:
		d.within.Add(1)
		return
	case lagPending:
		d.pending.Add(1)
		return
	}
	n := d.stale.Add(1)
	if n > staleReported {
		return
	}
	at := time.Since(d.start).Round(time.Millisecond)
	if vd.next == 0 {
		d.logf("stale read #%d at %v: %s served version %d, but version %d was written and invalidated before the read began\n",
			n, at, t.key, got, want)
		return
	}
	d.logf("stale read #%d at %v: %s served version %d, but version %d had replaced it and been invalidated %v before the read began (bound %v; version %d was current)\n",
		n, at, t.key, got, vd.next, short(vd.age), d.cfg.maxStaleness, want)
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
	everyTick(ctx, d.cfg.writeEvery, func(time.Time) bool {
		// Past the tick, the write goes through even if the run is ending: a commit
		// cut in half would be committed without its invalidation.
		if err := d.writeOne(context.WithoutCancel(ctx), r); err != nil {
			d.fail(err)
			return false
		}
		return true
	})
}

// writeOne changes a random article, invalidates what the change dirties, and
// settles it.
func (d *demo) writeOne(ctx context.Context, r *rand.Rand) error {
	id := r.IntN(d.cfg.articles)
	w, err := d.src.commit(ctx, id, func(a *article) {
		switch r.IntN(4) {
		case 0: // move to another category
			a.Category = demoCategories[(slices.Index(demoCategories, a.Category)+1+r.IntN(len(demoCategories)-1))%len(demoCategories)]
		case 1:
			a.Published = !a.Published
		default: // a content edit: the row's version changes, nothing else
		}
	})
	if err != nil {
		return fmt.Errorf("write article %d: %w", id, err)
	}
	err = d.cache.InvalidateRows(ctx, fresh.RowChange{
		Table: articlesTable,
		Old:   w.old.row(),
		New:   w.new.row(),
	})
	if err != nil {
		return fmt.Errorf("invalidate after writing article %d: %w", id, err)
	}
	d.invalidations.Add(1)
	if err := d.src.settle(ctx, w); err != nil {
		return fmt.Errorf("settle the write of article %d: %w", id, err)
	}
	return nil
}

// everyTick calls f every period until ctx is done or f returns false.
func everyTick(ctx context.Context, period time.Duration, f func(now time.Time) bool) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if !f(now) {
				return
			}
		}
	}
}

func (a article) row() fresh.Row {
	return fresh.Row{"id": a.ID, "category": a.Category, "published": a.Published}
}
