// Package freshsql is the freshsql workload of the benchmarks: the database/sql
// wrapper github.com/freshcache/fresh/freshsql over PostgreSQL (pgx's stdlib
// driver, the PostgreSQL analyser github.com/freshcache/fresh/freshsql/postgres),
// measured side by side with the unwrapped *sql.DB on the same server in the same
// run (FRESH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test). It
// makes four measurements:
//
//  1. A cached hit against the same query sent to PostgreSQL: a point query by
//     primary key and a list query of 20 rows by a scope column (reads.go).
//  2. The overhead of a miss: caching requested, every read a miss, against the
//     direct query (reads.go).
//  3. The overhead of a write: an autocommit UPDATE by primary key and an INSERT,
//     through freshsql in default and in row-image mode, against the direct
//     statement (writes.go).
//  4. Precision: the soundness checker (github.com/freshcache/fresh/freshsql/soundness)
//     on PostgreSQL and SQLite, in both modes: the evictions freshsql makes per
//     write against those of table-level invalidation and of invalidate-everything,
//     and the share of them that were not needed (precision.go).
//
// The run creates a table of its own name (freshbench_<random>) and the checker's
// tables (s<seed>_<case>_t0, _t1), and drops them after. When PostgreSQL does not
// answer, Run measures what needs no server (the checker on SQLite), says so in
// the section, and returns no error.
package freshsql

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/freshcache/fresh/benchmarks/report"
)

// EnvURL names the environment variable of the PostgreSQL server; DefaultURL is
// used when it is not set.
const (
	EnvURL     = "FRESH_POSTGRES_URL"
	DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// Title is the heading of the section.
const Title = "freshsql over PostgreSQL"

// The targets the section reports on.
const (
	targetHitSpeedup   = 50.0 // the point query's hit at least this many times faster than PostgreSQL
	targetMissOverhead = 5.0  // a miss at most this many % slower than the direct query
)

// Options configure Run. The zero value is the full run.
type Options struct {
	// Short runs every measurement briefly (seconds in all), for tests and a quick
	// look; the numbers are noisier.
	Short bool
	// URL is the PostgreSQL server. Default the environment variable
	// FRESH_POSTGRES_URL, or DefaultURL.
	URL string
	// Rows is how many rows the run's table holds, 20 per scope. Default 200,000
	// (Short: 20,000).
	Rows int
	// BenchTime is how long each read measurement runs. Default 300ms (Short: 20ms).
	BenchTime time.Duration
	// WriteTime is how long each write measurement runs. Default 300ms (Short: 20ms).
	WriteTime time.Duration
	// Reps is how many times the hit and write measurements are made, the systems
	// round-robin; medians are reported. Default 5 (Short: 2).
	Reps int
	// MissReps is the same for the miss measurement, which must resolve a few
	// percent. Default 20 (Short: 3).
	MissReps int
	// PostgresCases and SQLiteCases are how many cases the soundness checker runs
	// per mode; Steps is the steps of each case. Default 30, 300 and 30 (Short: 3,
	// 20 and 30).
	PostgresCases, SQLiteCases, Steps int
	// Seed is the checker's seed (batch b of cases uses Seed+b). Default from the
	// clock; the section gives it.
	Seed uint64
}

func (o *Options) defaults() {
	if o.URL == "" {
		o.URL = os.Getenv(EnvURL)
	}
	if o.URL == "" {
		o.URL = DefaultURL
	}
	setDefault(&o.Rows, pick(o.Short, 20_000, 200_000))
	o.Rows = max(o.Rows/listRows, 10) * listRows
	setDefault(&o.BenchTime, pick(o.Short, 20*time.Millisecond, 300*time.Millisecond))
	setDefault(&o.WriteTime, pick(o.Short, 20*time.Millisecond, 300*time.Millisecond))
	setDefault(&o.Reps, pick(o.Short, 2, 5))
	setDefault(&o.MissReps, pick(o.Short, 3, 20))
	setDefault(&o.PostgresCases, pick(o.Short, 3, 30))
	setDefault(&o.SQLiteCases, pick(o.Short, 20, 300))
	setDefault(&o.Steps, 30)
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
}

func setDefault[T int | time.Duration](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}

func pick[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}

// measured is everything one run measured; a part that did not run is nil.
type measured struct {
	hits      []hitResult
	misses    *missResult
	checks    []imageCheck
	writes    []writeResult
	systems   []string
	precision []precisionRun
}

// Run makes the measurements of o and returns the section of BENCHMARKS.md.
func Run(ctx context.Context, o Options) (report.Section, error) {
	start := time.Now()
	o.defaults()
	sec := report.Section{ID: "freshsql", Title: Title}
	e, err := connect(ctx, o.URL)
	if err != nil && !errors.Is(err, ErrUnreachable) {
		return sec, fmt.Errorf("freshsql: %w", err)
	}
	var m measured
	var errs []error
	if e != nil {
		if err := measureServer(ctx, e, o, &m); err != nil {
			errs = append(errs, fmt.Errorf("freshsql: %w", err))
		}
	}
	if ctx.Err() == nil {
		p, err := measurePrecision(ctx, e, o)
		m.precision = p
		if err != nil {
			errs = append(errs, fmt.Errorf("freshsql: precision: %w", err))
		}
		for _, r := range p {
			if len(r.failures) == 0 {
				continue
			}
			f, what := r.failures[0], "reported"
			if strings.HasPrefix(f, panicPrefix) {
				what = "crashed"
			}
			errs = append(errs, fmt.Errorf("freshsql: the soundness checker %s on %s in %s mode: %s",
				what, r.database, r.mode, strings.ReplaceAll(f, "\n", "\n\t")))
		}
	}
	if e != nil {
		if err := e.close(); err != nil {
			errs = append(errs, fmt.Errorf("freshsql: %w", err))
		}
	}
	sec.Intro = intro(o, e, err, m)
	sec.Tables, sec.Charts = tables(o, m)
	sec.Notes = notes(m)
	sec.Elapsed = time.Since(start).Seconds()
	return sec, errors.Join(errs...)
}

// measureServer makes the measurements on PostgreSQL: hits, misses and writes.
func measureServer(ctx context.Context, e *env, o Options, m *measured) error {
	if err := e.createTable(ctx, o.Rows); err != nil {
		return err
	}
	db, c, err := e.open("freshbench-reads", false)
	if err != nil {
		return err
	}
	if m.hits, err = measureHits(ctx, e, db, c, o); err != nil {
		return fmt.Errorf("hits: %w", err)
	}
	mr, err := measureMisses(ctx, e, db, c, o)
	if err != nil {
		return fmt.Errorf("misses: %w", err)
	}
	m.misses = &mr

	systems := []writeSystem{{name: sysDirect, db: e.raw}}
	for _, s := range []struct {
		name     string
		rowImage bool
	}{{sysDefault, false}, {sysRowImage, true}} {
		db, c, err := e.open("freshbench-"+strings.ReplaceAll(s.name, " ", ""), s.rowImage)
		if err != nil {
			return err
		}
		ws := writeSystem{name: s.name, db: db, c: c}
		ic, err := checkScopes(ctx, e, ws)
		if err != nil {
			return fmt.Errorf("row-image check: %w", err)
		}
		m.checks = append(m.checks, ic)
		systems = append(systems, ws)
	}
	for _, ic := range m.checks {
		if ic.system == sysRowImage && !ic.kept {
			return errors.New("row-image check: an UPDATE by primary key in row-image mode evicted the cached list of " +
				"another scope: its RETURNING path did not run, so its write cost would not be measured")
		}
	}
	for _, s := range systems {
		m.systems = append(m.systems, s.name)
	}
	if m.writes, err = measureWrites(ctx, e, systems, o); err != nil {
		return fmt.Errorf("writes: %w", err)
	}
	return nil
}

// intro says what is measured and how, and whether the targets were met.
func intro(o Options, e *env, connErr error, m measured) string {
	var b strings.Builder
	cgo := buildSetting("CGO_ENABLED")
	parser := "pg_query_go " + depVersion("github.com/pganalyze/pg_query_go/v6") + " (libpg_query through cgo)"
	if cgo != "1" {
		parser = "go-pgquery (libpg_query compiled to WebAssembly, cgo off)"
	}
	if e == nil {
		fmt.Fprintf(&b, "**PostgreSQL parts skipped: no PostgreSQL** at %s (%s); set %s or start it (scripts/services.sh). ",
			redactURL(o.URL), firstLine(connErr.Error()), EnvURL)
	} else {
		fmt.Fprintf(&b, "freshsql (the database/sql wrapper) over PostgreSQL %s on loopback (%s), pgx %s's stdlib driver, "+
			"the PostgreSQL analyser on %s, against the unwrapped *sql.DB on the same server, side by side in one run; "+
			"%s, GOMAXPROCS=%d, one goroutine issues every query. ",
			e.version, e.durable, depVersion("github.com/jackc/pgx/v5"), parser, runtime.Version(), runtime.GOMAXPROCS(0))
		fmt.Fprintf(&b, "The run's table holds %d rows (id BIGINT primary key, scope BIGINT indexed, %d rows per scope, a title and a 100-byte body). ",
			o.Rows, listRows)
		fmt.Fprintf(&b, "**Hits**: the point query `SELECT id, scope, title, body … WHERE id = $1` and the list query "+
			"`SELECT id, scope, title … WHERE scope = $1 ORDER BY id` (%d rows) over %d keys cached beforehand, rows scanned into Go "+
			"values, through `freshsql.Cached(ctx)` (a context made per call) against the unwrapped pool; testing.Benchmark for %v per "+
			"measurement, the two round-robin, %d repetitions, medians. ", listRows, hitKeys, o.BenchTime, o.Reps)
		fmt.Fprintf(&b, "**Misses**: the point query with caching requested and every read a miss (each iteration reads an id not read "+
			"since the cache was last flushed, so the memoised analysis, the key, the dependencies, the query, the materialisation and the "+
			"fill are all paid), against the direct query and against `freshsql.NoCache` (the pass-through); %v per measurement, "+
			"%d repetitions round-robin; the overhead is the median over repetitions of each repetition's ratio to the direct query, "+
			"with its spread. ", o.BenchTime, o.MissReps)
		fmt.Fprintf(&b, "**Writes**: autocommit statements through the unwrapped pool, freshsql in default mode and in row-image mode "+
			"(`Options.RowImage`, which adds RETURNING of the scope columns to UPDATE and DELETE), after cached reads have given the "+
			"table its scope columns (id and scope); %v per measurement, %d repetitions round-robin, medians. ", o.WriteTime, o.Reps)
	}
	fmt.Fprintf(&b, "**Precision**: the soundness checker's random reads and writes (%d steps per case; alone and in transactions, "+
		"committed or rolled back) on two small tables, %d cases on PostgreSQL and %d on SQLite (modernc.org/sqlite, in process) per mode; "+
		"after every write it reads each cached entry through the cache and from the database, and counts the entries whose result "+
		"changed, freshsql's evictions (reads that missed), and the evictions table-level invalidation (YokedCache's approach: every "+
		"entry that reads a written table, on commit) and invalidate-everything (go-gorm/caches': every entry, on any write) would have made. ",
		o.Steps, o.PostgresCases, o.SQLiteCases)
	b.WriteString(targetsLine(m))
	return b.String()
}

// targetsLine states the targets and whether this run met them.
func targetsLine(m measured) string {
	var parts []string
	if len(m.hits) > 0 {
		h := m.hits[0]
		r := ratio(median(h.direct.ns()), median(h.cached.ns()))
		parts = append(parts, fmt.Sprintf("point-query hit ≥ %.0f× faster than PostgreSQL: %s (%s)", targetHitSpeedup, met(r >= targetHitSpeedup), fmtRatio(r)))
	}
	if m.misses != nil {
		ov := median(m.misses.overheads(m.misses.miss))
		parts = append(parts, fmt.Sprintf("miss overhead ≤ %.0f%%: %s (%s)", targetMissOverhead, met(ov <= targetMissOverhead), fmtPct(ov)))
	}
	if len(m.precision) > 0 {
		failed := 0
		for _, p := range m.precision {
			failed += len(p.failures)
		}
		parts = append(parts, fmt.Sprintf("no stale read and no crash in the checker: %s", met(failed == 0)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Targets: " + strings.Join(parts, "; ") + "."
}

func met(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// depVersion returns the version of module path in this binary, or "?".
func depVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				if d.Replace != nil && d.Replace.Version != "" {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "?"
}

// buildSetting returns a build setting of this binary, or "".
func buildSetting(key string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == key {
				return s.Value
			}
		}
	}
	return ""
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
