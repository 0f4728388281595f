package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshsql"
	"github.com/freshcache/fresh/freshsql/sqlite"
)

// The SQL demo ("fresh demo" without -redis and -bus) runs a blog's reads and
// writes on an embedded SQLite database through freshsql, with every cached read
// checked against the database itself.
//
// The staleness check. Let S_k be the database after the k-th commit (a
// transaction's Commit, or an autocommit statement), counted in commitClock. A
// cached read C that began after commit k had returned (freshsql invalidates
// before Commit and Exec return) and ended before commit j began may serve the
// answer of S_k .. S_j, and nothing else: that is freshsql's promise. Each reader
// brackets C between two uncached reads of the same query, U0 before and U1
// after, and two locks make the allowed answers exactly known:
//
//   - commitClock.gate: writers hold it exclusively around each commit, readers
//     share it around each uncached read. So no commit is under way during U0 or
//     U1, and each reads exactly S_r0 and S_s, where r0 and s are the commits
//     counted at their start.
//   - commitClock.window: readers share it from before U0 until after U1, and a
//     writer takes it exclusively once after each commit, before its next one.
//     So at most one commit ends between U0 and U1: s <= r0+1.
//
// With c0 the commits returned when C began and e the commits begun when it
// ended, r0 <= c0 <= e <= s <= r0+1, so the allowed states S_c0 .. S_e are among
// S_r0 and S_s: S_r0 is allowed exactly when c0 == r0, S_s exactly when e == s.
// C is stale when it equals neither allowed answer. The check compares contents,
// so a stale entry whose content happens to equal the current one (a flag set
// and reset) is not seen; nothing else is missed, and nothing is guessed: a read
// is judged only against answers the database gave.

// sqlDemoConfig is what the flags of "fresh demo" set for the SQL workload.
type sqlDemoConfig struct {
	duration time.Duration
	readers  int
	writers  int
	rate     float64 // writes per second, all writers together
	seed     uint64
	keep     bool
	json     bool

	// dir is where the database file goes; default os.TempDir().
	dir string
	// progressEvery is the interval of the progress lines; default 1s.
	progressEvery time.Duration
	// skipInvalidation, set by tests only, sends the writes to the database
	// around freshsql, so that nothing is invalidated: the check must then fail.
	skipInvalidation bool
}

func defaultSQLDemoConfig() sqlDemoConfig {
	return sqlDemoConfig{duration: 5 * time.Second, readers: 4, writers: 2, rate: 200, seed: 1}
}

const maxSQLDemoRate = 100_000

func (c sqlDemoConfig) validate() error {
	var bad []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	check(c.duration > 0, "-duration %v must be positive", c.duration)
	check(c.readers >= 1 && c.readers <= maxDemoGoroutines, "-readers %d must be between 1 and %d", c.readers, maxDemoGoroutines)
	check(c.writers >= 0 && c.writers <= maxDemoGoroutines, "-writers %d must be between 0 and %d", c.writers, maxDemoGoroutines)
	check(c.rate > 0 && c.rate <= maxSQLDemoRate, "-rate %g must be above 0 and at most %d writes per second", c.rate, maxSQLDemoRate)
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// commitClock orders the writers' commits against the readers' checks (see the
// staleness check above for the argument).
type commitClock struct {
	gate   sync.RWMutex
	window sync.RWMutex
	begun  atomic.Uint64 // commits begun; under gate, one more than done during a commit
	done   atomic.Uint64 // commits returned
}

// commit runs f, one commit, exclusively, and then waits for every check that
// saw it to end before the next commit may begin. With measure set it waits for
// the checks under way first, and calls measure(false) before the commit and
// measure(true) after it, while no check runs (see sqlDemo.measure).
func (c *commitClock) commit(f func() error, measure func(after bool) error) error {
	if measure != nil {
		c.window.Lock()
		defer c.window.Unlock()
		if err := measure(false); err != nil {
			return err
		}
	}
	c.gate.Lock()
	c.begun.Add(1)
	err := f()
	c.done.Add(1)
	c.gate.Unlock()
	if measure != nil {
		if err != nil {
			return err
		}
		return measure(true)
	}
	c.waitChecks()
	return err
}

// waitChecks waits for the checks under way to end: taking the window
// exclusively is the whole point, nothing happens under it.
func (c *commitClock) waitChecks() {
	c.window.Lock()
	defer c.window.Unlock()
}

// sqlDemo is one run of the SQL workload.
type sqlDemo struct {
	cfg    sqlDemoConfig
	db     *sql.DB // through freshsql
	raw    *sql.DB // the same file without freshsql: for the setup, and for skipInvalidation
	conn   *freshsql.Connector
	stderr io.Writer
	clock  commitClock
	start  time.Time

	authors    int
	maxArticle atomic.Int64 // the highest article id committed

	// Written by the writers under writeMu.
	writeMu  sync.Mutex
	model    map[int64]*articleRow
	nextID   int64
	lastMark time.Time // when evictions were last measured

	writes, rolledBack atomic.Uint64
	evict              evictionTally

	loaded  sync.Map // query → struct{}: loaded by a reader at least once
	stale   atomic.Uint64
	checked atomic.Uint64

	stop    context.CancelFunc
	errOnce sync.Once
	err     error
}

// articleRow is what the writers know of an article: enough to pin the scope
// columns of their UPDATEs' WHERE clauses.
type articleRow struct {
	author    int64
	published int64
}

// sqlReader is one reader's counters, read once it has finished.
type sqlReader struct {
	reads, hits uint64
	hit, miss   histogram // cached reads that ran no query, and those that did
	uncached    histogram // the uncached reads of the same queries
}

// runSQLDemo runs the SQL workload and prints its summary; it fails when a read
// was stale.
func runSQLDemo(ctx context.Context, cfg sqlDemoConfig, stdout, stderr io.Writer) (err error) {
	if err := cfg.validate(); err != nil {
		return err
	}
	if cfg.progressEvery <= 0 {
		cfg.progressEvery = time.Second
	}
	if cfg.dir == "" {
		cfg.dir = os.TempDir()
	}
	errw := &syncWriter{w: stderr}
	d := &sqlDemo{cfg: cfg, stderr: errw}

	dir, err := os.MkdirTemp(cfg.dir, "fresh-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	path := filepath.Join(dir, "blog.db")
	defer func() {
		if cfg.keep {
			d.logf("kept the database: %s\n", path)
			return
		}
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("demo: remove the database: %w", rerr))
		}
	}()

	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)"
	if d.raw, err = sql.Open("sqlite", dsn); err != nil {
		return fmt.Errorf("demo: open the database: %w", err)
	}
	defer func() { err = errors.Join(err, closeDB("the database", d.raw)) }()
	setup := rand.New(rand.NewPCG(cfg.seed, 0))
	if err := d.seed(ctx, setup); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	hub, err := fresh.NewHub(fresh.HubOptions{Logger: warnLogger(errw)})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		if cerr := hub.Close(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("demo: close the hub: %w", cerr))
		}
	}()
	if d.db, err = freshsql.Open(countingDriverName(), dsn, freshsql.Options{
		Analyzer: sqlite.New(sqlite.Options{}),
		Hub:      hub,
		Name:     "demo",
		Logger:   warnLogger(errw),
	}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer func() { err = errors.Join(err, closeDB("the cached database", d.db)) }()
	d.conn, _ = freshsql.Lookup(d.db)
	d.db.SetMaxOpenConns(cfg.readers + cfg.writers + 4)
	d.db.SetMaxIdleConns(cfg.readers + cfg.writers + 4)

	d.logf("fresh demo: SQLite through freshsql, %d authors, %d articles, %d comments; readers %d, writers %d (%g writes/s), duration %v\n",
		d.authors, seedArticles, seedComments, cfg.readers, cfg.writers, cfg.rate, cfg.duration)
	readers := d.run(ctx)
	if d.err != nil {
		return d.err
	}
	s := d.summarize(readers)
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

func closeDB(what string, db *sql.DB) error {
	if db == nil {
		return nil
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("demo: close %s: %w", what, err)
	}
	return nil
}

// run runs the readers and writers for cfg.duration (less if ctx ends first),
// and returns the readers' counters.
func (d *sqlDemo) run(ctx context.Context) []*sqlReader {
	d.start = time.Now()
	runCtx, stop := context.WithDeadline(ctx, d.start.Add(d.cfg.duration))
	defer stop()
	d.stop = stop

	var wg sync.WaitGroup
	if d.cfg.writers > 0 {
		every := time.Duration(float64(time.Second) * float64(d.cfg.writers) / d.cfg.rate)
		for i := range d.cfg.writers {
			r := rand.New(rand.NewPCG(d.cfg.seed, uint64(1+i)))
			wg.Go(func() {
				everyTick(runCtx, max(every, time.Microsecond), func(time.Time) bool {
					// Past the tick the write goes through even if the run is
					// ending: its commit must be counted and waited for.
					if err := d.writeOne(context.WithoutCancel(runCtx), r); err != nil {
						d.fail(err)
						return false
					}
					return true
				})
			})
		}
	}
	wg.Go(func() { d.progress(runCtx) })
	readers := make([]*sqlReader, d.cfg.readers)
	for i := range readers {
		readers[i] = new(sqlReader)
		r := rand.New(rand.NewPCG(d.cfg.seed, uint64(1_000+i)))
		wg.Go(func() { d.read(runCtx, r, readers[i]) })
	}
	wg.Wait()
	return readers
}

func (d *sqlDemo) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(d.stderr, format, args...)
}

// fail records the first failure and ends the run.
func (d *sqlDemo) fail(err error) {
	d.errOnce.Do(func() {
		d.err = fmt.Errorf("demo: %w", err)
		d.stop()
	})
}

// progress prints a line on stderr every cfg.progressEvery until ctx is done.
func (d *sqlDemo) progress(ctx context.Context) {
	everyTick(ctx, d.cfg.progressEvery, func(now time.Time) bool {
		d.logf("%6v  %d reads checked, %d writes, stale reads %d\n",
			short(now.Sub(d.start).Round(100*time.Millisecond)), d.checked.Load(), d.writes.Load(), d.stale.Load())
		return true
	})
}

// read is one reader: until ctx is done, it picks a query and checks a cached
// read of it between two uncached ones (see the staleness check above).
func (d *sqlDemo) read(ctx context.Context, r *rand.Rand, st *sqlReader) {
	for ctx.Err() == nil {
		q := d.pick(r)
		if err := d.check(ctx, q, st); err != nil {
			if ctx.Err() == nil {
				d.fail(fmt.Errorf("read %s: %w", q, err))
			}
			return
		}
	}
}

// check reads q uncached (U0), cached (C) and uncached again (U1), and judges C.
func (d *sqlDemo) check(ctx context.Context, q query, st *sqlReader) error {
	c := &d.clock
	c.window.RLock()
	defer c.window.RUnlock()

	c.gate.RLock()
	r0 := c.done.Load()
	u0, took0, err := d.answer(freshsql.NoCache(ctx), q)
	c.gate.RUnlock()
	if err != nil {
		return err
	}

	c0 := c.done.Load()
	var mark loadMark
	got, took, err := d.answer(withLoadMark(freshsql.Cached(ctx), &mark), q)
	e := c.begun.Load()
	if err != nil {
		return err
	}
	if mark.ran.Load() && !q.kind.volatile {
		d.loaded.LoadOrStore(q, struct{}{})
	}

	c.gate.RLock()
	s := c.done.Load()
	u1, took1, err := d.answer(freshsql.NoCache(ctx), q)
	c.gate.RUnlock()
	if err != nil {
		return err
	}
	// Counted once the check is whole, so that a check cut short by the end of
	// the run counts nothing.
	st.uncached.record(took0)
	st.uncached.record(took1)
	st.reads++
	if mark.ran.Load() {
		st.miss.record(took)
	} else {
		st.hits++
		st.hit.record(took)
	}

	d.checked.Add(1)
	if (c0 == r0 && got == u0) || (e == s && got == u1) {
		return nil
	}
	n := d.stale.Add(1)
	if n <= staleReported {
		want := u1
		if e != s {
			want = u0
		}
		d.logf("stale read #%d at %v: %s served %s; the database said %s (commits: %d returned before the read, %d begun by its end)\n",
			n, short(time.Since(d.start)), q, clip(got), clip(want), c0, e)
	}
	return nil
}

// answer runs q and returns its rows as text, and how long that took.
func (d *sqlDemo) answer(ctx context.Context, q query) (string, time.Duration, error) {
	begin := time.Now()
	rows, err := d.db.QueryContext(ctx, q.kind.sql, q.arg)
	if err != nil {
		return "", 0, err
	}
	defer func() { _ = rows.Close() }() // read to the end, or failed: its error is Err's
	cols, err := rows.Columns()
	if err != nil {
		return "", 0, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var b strings.Builder
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return "", 0, err
		}
		b.WriteByte('(')
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(',')
			}
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprintf(&b, "%v", v)
		}
		b.WriteByte(')')
	}
	if err := rows.Err(); err != nil {
		return "", 0, err
	}
	took := time.Since(begin)
	return b.String(), took, nil
}

// clip shortens an answer for a diagnostic line.
func clip(s string) string {
	if s == "" {
		return "no rows"
	}
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
