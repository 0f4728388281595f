package freshsql

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/freshcache/fresh/freshsql"
	"github.com/freshcache/fresh/freshsql/postgres"
	"github.com/freshcache/fresh/freshsql/soundness"
)

// checkT is the soundness.T the checker runs under in this program. Errorf records
// a failure (a stale read, with the case's seed and history), Fatalf also stops the
// run (by a panic that run recovers), and the cleanups run at the end of run.
type checkT struct {
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

var _ soundness.T = (*checkT)(nil)

// fatal is the panic of Fatalf.
type fatal struct{}

func (t *checkT) Helper() {}

func (t *checkT) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs = append(t.errs, fmt.Sprintf(format, args...))
}

func (t *checkT) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	panic(fatal{})
}

func (t *checkT) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.errs) > 0
}

func (t *checkT) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// run calls f, then the cleanups registered meanwhile, the last first. It returns
// the failures recorded.
func (t *checkT) run(f func()) (errs []string) {
	defer func() {
		t.mu.Lock()
		cs := t.cleanups
		t.cleanups = nil
		t.mu.Unlock()
		for i := len(cs) - 1; i >= 0; i-- {
			t.call(cs[i], "a cleanup")
		}
		t.mu.Lock()
		errs = t.errs
		t.mu.Unlock()
	}()
	t.call(f, "the checker")
	return nil
}

// call calls f, recording a panic other than Fatalf's as a failure, with the
// frames that locate it.
func (t *checkT) call(f func(), what string) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if _, ok := r.(fatal); ok {
			return
		}
		t.Errorf("%s %v in %s\n%s", panicPrefix, r, what, panicFrames(debug.Stack()))
	}()
	f()
}

// panicPrefix starts the failure a panic records.
const panicPrefix = "PANIC:"

// panicFrames returns the frames of a goroutine dump that belong to freshsql and
// to the drivers, the innermost first, at most 12.
func panicFrames(stack []byte) string {
	var out []string
	lines := strings.Split(string(stack), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "\t") || !strings.Contains(l, "(") {
			continue
		}
		if strings.Contains(l, "freshcache/fresh/freshsql") || strings.Contains(l, "modernc.org/sqlite.") || strings.Contains(l, "jackc/pgx") {
			where := ""
			if i+1 < len(lines) {
				where = strings.TrimSpace(lines[i+1])
				if j := strings.LastIndex(where, " +0x"); j > 0 {
					where = where[:j]
				}
			}
			name := l
			if j := strings.LastIndex(l, "("); j > 0 {
				name = l[:j]
			}
			out = append(out, name+" at "+where)
		}
		if len(out) == 12 {
			break
		}
	}
	return strings.Join(out, "\n")
}

// A precisionRun is the soundness checker's result on one database and mode.
type precisionRun struct {
	database string // "PostgreSQL" or "SQLite"
	mode     string // "default" or "row-image"
	res      soundness.Result
	seeds    []uint64 // the seed of each batch
	failures []string // stale reads and errors the checker reported
}

// Cases run per Checker.Run: each case keeps its database (PostgreSQL: a pool of
// up to 4 connections and a catalog pool of 2; SQLite: a file) open until its
// Run's cleanups, so the cases run in batches.
const (
	postgresBatch = 10
	sqliteBatch   = 50
)

// measurePrecision runs the soundness checker on PostgreSQL (when e is not nil) and
// on SQLite, in default and row-image mode, and sums its results per database and
// mode.
func measurePrecision(ctx context.Context, e *env, o Options) ([]precisionRun, error) {
	var out []precisionRun
	for _, rowImage := range []bool{false, true} {
		mode := "default"
		if rowImage {
			mode = "row-image"
		}
		opts := freshsql.Options{RowImage: rowImage}
		if e != nil {
			r := precisionRun{database: "PostgreSQL", mode: mode}
			open := soundness.ServerOpener(e.raw, "pgx", e.url, func() freshsql.Analyzer { return postgres.New(postgres.Options{}) }, opts)
			if err := runBatches(ctx, &r, soundness.PostgresDialect, o.PostgresCases, postgresBatch, o, func(seed uint64) (func(soundness.T, int, string) soundness.Case, func(), error) {
				if err := e.freePrefix(ctx, seed); err != nil {
					return nil, nil, err
				}
				return open, func() {}, nil
			}); err != nil {
				return out, err
			}
			out = append(out, r)
		}
		r := precisionRun{database: "SQLite", mode: mode}
		if err := runBatches(ctx, &r, soundness.SQLiteDialect, o.SQLiteCases, sqliteBatch, o, func(uint64) (func(soundness.T, int, string) soundness.Case, func(), error) {
			dir, err := os.MkdirTemp("", "freshbench-soundness-")
			if err != nil {
				return nil, nil, err
			}
			return soundness.SQLiteOpener(dir, opts), func() { _ = os.RemoveAll(dir) }, nil
		}); err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// runBatches runs cases cases in batches of batch, each batch a Checker.Run with a
// seed of its own, and adds their results to r. open returns the batch's opener
// and what to do once the batch is done.
func runBatches(ctx context.Context, r *precisionRun, d soundness.Dialect, cases, batch int, o Options,
	open func(seed uint64) (func(soundness.T, int, string) soundness.Case, func(), error),
) error {
	for b := 0; b*batch < cases; b++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		seed := o.Seed + uint64(b)
		opener, done, err := open(seed)
		if err != nil {
			return fmt.Errorf("%s %s: %w", r.database, r.mode, err)
		}
		var res soundness.Result
		t := &checkT{}
		errs := t.run(func() {
			res = soundness.Checker{
				Dialect: d, Open: opener, Cases: min(batch, cases-b*batch), Steps: o.Steps, Seed: seed,
			}.Run(t)
		})
		done()
		r.seeds = append(r.seeds, seed)
		r.failures = append(r.failures, errs...)
		add(&r.res, res)
		if len(errs) > 0 {
			return nil // the failure is the result: the later batches would not add to it
		}
	}
	return nil
}

// add adds the counts of b to a.
func add(a *soundness.Result, b soundness.Result) {
	a.Cases += b.Cases
	a.Reads += b.Reads
	a.Writes += b.Writes
	a.Transactions += b.Transactions
	a.Rollbacks += b.Rollbacks
	a.Failed += b.Failed
	a.Evictions += b.Evictions
	a.Unneeded += b.Unneeded
	a.Checked += b.Checked
	a.Changed += b.Changed
	a.TableLevel += b.TableLevel
	a.Everything += b.Everything
}

// freePrefix checks that no table of the checker's names for seed (s<seed mod
// 1000>_<case>_t0 and _t1) exists, so that the checker's tables are this run's own
// and dropping them after drops nothing of anyone else's.
func (e *env) freePrefix(ctx context.Context, seed uint64) error {
	prefix := "s" + strconv.FormatUint(seed%1000, 10) + "\\_%"
	var names []string
	rows, err := e.raw.QueryContext(ctx, `SELECT tablename FROM pg_tables WHERE tablename LIKE $1`, prefix)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(names) > 0 {
		return fmt.Errorf("tables of the checker's names for seed %d exist already (%s): another run, or a crashed one; "+
			"drop them or choose another seed", seed, strings.Join(names, ", "))
	}
	return nil
}
