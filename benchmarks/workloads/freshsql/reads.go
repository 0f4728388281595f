package freshsql

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"testing"

	"github.com/freshcache/fresh/freshsql"
)

// A reader runs one read of the workload on a pool, under a context that says how
// freshsql treats it, and checks its rows.
type reader struct {
	name string // table row label
	sql  string
	// read runs the query for the i-th argument of the query's sequence.
	read func(ctx context.Context, db *sql.DB, i int) error
}

func (e *env) pointReader() reader {
	q := `SELECT id, scope, title, body FROM ` + e.table + ` WHERE id = $1`
	return reader{
		name: "point query by primary key (1 row)",
		sql:  q,
		read: func(ctx context.Context, db *sql.DB, i int) error {
			id := int64(1 + i%e.rows)
			var got, scope int64
			var title, body string
			if err := db.QueryRowContext(ctx, q, id).Scan(&got, &scope, &title, &body); err != nil {
				return fmt.Errorf("point query of id %d: %w", id, err)
			}
			if got != id {
				return fmt.Errorf("point query of id %d: got id %d", id, got)
			}
			return nil
		},
	}
}

func (e *env) listReader() reader {
	q := `SELECT id, scope, title FROM ` + e.table + ` WHERE scope = $1 ORDER BY id`
	return reader{
		name: fmt.Sprintf("list query by scope (%d rows)", listRows),
		sql:  q,
		read: func(ctx context.Context, db *sql.DB, i int) error {
			scope := int64(i % e.scopes())
			rows, err := db.QueryContext(ctx, q, scope)
			if err != nil {
				return fmt.Errorf("list query of scope %d: %w", scope, err)
			}
			defer func() { _ = rows.Close() }()
			n := 0
			for rows.Next() {
				var id, s int64
				var title string
				if err := rows.Scan(&id, &s, &title); err != nil {
					return fmt.Errorf("list query of scope %d: %w", scope, err)
				}
				n++
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("list query of scope %d: %w", scope, err)
			}
			if n != listRows {
				return fmt.Errorf("list query of scope %d: got %d rows; want %d", scope, n, listRows)
			}
			return nil
		},
	}
}

// hitKeys is how many distinct arguments the hit measurements cycle through, all
// cached beforehand.
const hitKeys = 1024

// hitResult is the hit measurement of one query.
type hitResult struct {
	query          string
	direct, cached series
}

// measureHits times each query sent to PostgreSQL through the unwrapped pool
// against the same query answered from freshsql's cache (a Cached context made per
// call), round-robin over o.Reps repetitions, each system going first in turn.
func measureHits(ctx context.Context, e *env, db *sql.DB, c *freshsql.Connector, o Options) ([]hitResult, error) {
	var out []hitResult
	for _, rd := range []reader{e.pointReader(), e.listReader()} {
		// Every key the measurement reads is cached first: the hit loop must not
		// miss.
		keys := min(hitKeys, e.scopes())
		for i := range keys {
			if err := rd.read(freshsql.Cached(ctx), db, i); err != nil {
				return nil, err
			}
		}
		direct := func(b *testing.B) error {
			i := 0
			for b.Loop() {
				if err := rd.read(ctx, e.raw, i%keys); err != nil {
					return err
				}
				i++
			}
			return nil
		}
		cached := func(b *testing.B) error {
			misses := c.Stats().Misses
			i := 0
			for b.Loop() {
				if err := rd.read(freshsql.Cached(ctx), db, i%keys); err != nil {
					return err
				}
				i++
			}
			if n := c.Stats().Misses - misses; n > 0 {
				return fmt.Errorf("%d misses among the hits of %s", n, rd.name)
			}
			return nil
		}
		h := hitResult{query: rd.name}
		for rep := range o.Reps {
			runs := []struct {
				s *series
				f func(*testing.B) error
			}{{&h.direct, direct}, {&h.cached, cached}}
			for k := range runs {
				r := runs[(k+rep)%len(runs)]
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				res, err := benchmark(o.BenchTime, r.f)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", rd.name, err)
				}
				*r.s = append(*r.s, res)
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// missResult is the miss measurement: the direct query, freshsql with every read
// a miss, and freshsql under NoCache (no cache at all).
type missResult struct {
	direct, miss, noCache series
}

// overheads returns, for each repetition, how much slower (in %) s was than the
// direct query of the same repetition.
func (m missResult) overheads(s series) []float64 {
	out := make([]float64, 0, len(s))
	for i := range s {
		if i < len(m.direct) && nsPerOp(m.direct[i]) > 0 {
			out = append(out, 100*(nsPerOp(s[i])/nsPerOp(m.direct[i])-1))
		}
	}
	return out
}

// measureMisses times the point query sent to PostgreSQL through the unwrapped
// pool, through freshsql with caching requested and every read a miss (each
// iteration reads an id not read since the cache was last flushed: analysis
// memoised, key, dependencies, the query, the materialisation and the fill are all
// paid), and through freshsql under NoCache (the pass-through), round-robin over
// o.MissReps repetitions.
func measureMisses(ctx context.Context, e *env, db *sql.DB, c *freshsql.Connector, o Options) (missResult, error) {
	rd := e.pointReader()
	var m missResult
	// Each system walks the ids from its own cursor. freshsql's cache is flushed
	// (with the timer stopped) before its cursor comes back to an id it read.
	var cursorDirect, cursorMiss, cursorNoCache int
	if err := c.Flush(ctx); err != nil {
		return m, err
	}
	direct := func(b *testing.B) error {
		for b.Loop() {
			if err := rd.read(ctx, e.raw, cursorDirect); err != nil {
				return err
			}
			cursorDirect++
		}
		return nil
	}
	miss := func(b *testing.B) error {
		hits := c.Stats().Hits
		for b.Loop() {
			if cursorMiss%e.rows == 0 && cursorMiss > 0 {
				b.StopTimer()
				if err := c.Flush(ctx); err != nil {
					return err
				}
				b.StartTimer()
			}
			if err := rd.read(freshsql.Cached(ctx), db, cursorMiss); err != nil {
				return err
			}
			cursorMiss++
		}
		if n := c.Stats().Hits - hits; n > 0 {
			return fmt.Errorf("%d hits among the misses", n)
		}
		return nil
	}
	noCache := func(b *testing.B) error {
		for b.Loop() {
			if err := rd.read(freshsql.NoCache(ctx), db, cursorNoCache); err != nil {
				return err
			}
			cursorNoCache++
		}
		return nil
	}
	runs := []struct {
		s *series
		f func(*testing.B) error
	}{{&m.direct, direct}, {&m.miss, miss}, {&m.noCache, noCache}}
	for rep := range o.MissReps {
		for k := range runs {
			r := runs[(k+rep)%len(runs)]
			if err := ctx.Err(); err != nil {
				return m, err
			}
			res, err := benchmark(o.BenchTime, r.f)
			if err != nil {
				return m, fmt.Errorf("misses: %w", err)
			}
			*r.s = append(*r.s, res)
		}
	}
	return m, nil
}

// ratio returns a/b, NaN when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}
