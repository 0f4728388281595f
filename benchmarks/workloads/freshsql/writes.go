package freshsql

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"testing"

	"github.com/freshcache/fresh/freshsql"
)

// The systems of the write measurement, in table order.
const (
	sysDirect   = "PostgreSQL (unwrapped *sql.DB)"
	sysDefault  = "freshsql, default mode"
	sysRowImage = "freshsql, row-image mode"
)

// writeSystem is one pool the writes go through.
type writeSystem struct {
	name string
	db   *sql.DB
	c    *freshsql.Connector // nil for the unwrapped pool
}

// writeResult is the measurement of one statement on every system, in the order of
// the systems.
type writeResult struct {
	statement string
	runs      []series
}

// imageCheck is what the row-image check saw on one wrapped pool: whether a cached
// list of another scope was still a hit after an UPDATE by primary key.
type imageCheck struct {
	system string
	kept   bool
}

// checkScopes caches, on a wrapped pool, a list of scope A, a list of scope B and a
// point read in scope B, then updates a row of scope A by its primary key and
// reads the three again. It reports whether the list of scope B was still a hit:
// only the row-image mode knows, from the RETURNING clause it adds, that the row
// was in scope A. The reads also give the table its scope columns (id and scope),
// without which the row-image mode would not apply.
func checkScopes(ctx context.Context, e *env, s writeSystem) (imageCheck, error) {
	list, point := e.listReader(), e.pointReader()
	const scopeA, scopeB = 3, 4
	idA, idB := scopeA*listRows+1, scopeB*listRows+1 // ids are 1-based: scope (id-1)/listRows
	reads := []struct {
		rd reader
		i  int
	}{{list, scopeA}, {list, scopeB}, {point, idB - 1}}
	for _, r := range reads {
		if err := r.rd.read(freshsql.Cached(ctx), s.db, r.i); err != nil {
			return imageCheck{}, err
		}
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE `+e.table+` SET title = $1 WHERE id = $2`, "checked", int64(idA)); err != nil {
		return imageCheck{}, err
	}
	hits := s.c.Stats().Hits
	if err := list.read(freshsql.Cached(ctx), s.db, scopeB); err != nil {
		return imageCheck{}, err
	}
	kept := s.c.Stats().Hits > hits
	hits = s.c.Stats().Hits
	if err := point.read(freshsql.Cached(ctx), s.db, idB-1); err != nil {
		return imageCheck{}, err
	}
	if s.c.Stats().Hits == hits {
		return imageCheck{}, fmt.Errorf("%s: an UPDATE of id %d evicted the point read of id %d", s.name, idA, idB)
	}
	hits = s.c.Stats().Hits
	if err := list.read(freshsql.Cached(ctx), s.db, scopeA); err != nil {
		return imageCheck{}, err
	}
	if s.c.Stats().Hits > hits {
		return imageCheck{}, fmt.Errorf("%s: the list of scope %d was still cached after an UPDATE of its row %d", s.name, scopeA, idA)
	}
	return imageCheck{system: s.name, kept: kept}, nil
}

// measureWrites times an autocommit UPDATE by primary key and an INSERT on every
// system, round-robin over o.Reps repetitions, each system going first in turn.
func measureWrites(ctx context.Context, e *env, systems []writeSystem, o Options) ([]writeResult, error) {
	update := `UPDATE ` + e.table + ` SET title = $1 WHERE id = $2`
	insert := `INSERT INTO ` + e.table + ` (id, scope, title, body) VALUES ($1, $2, $3, $4)`
	var updates, nextID int
	nextID = 10 * e.rows // above the seeded ids, shared by the systems
	one := func(s writeSystem, res sql.Result, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("%s: RowsAffected: %w", s.name, err)
		}
		if n != 1 {
			return fmt.Errorf("%s: %d rows affected; want 1", s.name, n)
		}
		return nil
	}
	stmts := []struct {
		name string
		f    func(s writeSystem) func(*testing.B) error
	}{
		{"UPDATE … SET title = $1 WHERE id = $2", func(s writeSystem) func(*testing.B) error {
			return func(b *testing.B) error {
				for b.Loop() {
					updates++
					id := int64(1 + updates%e.rows)
					res, err := s.db.ExecContext(ctx, update, "u"+strconv.Itoa(updates), id)
					if err := one(s, res, err); err != nil {
						return err
					}
				}
				return nil
			}
		}},
		{"INSERT … (id, scope, title, body) VALUES ($1, $2, $3, $4)", func(s writeSystem) func(*testing.B) error {
			return func(b *testing.B) error {
				for b.Loop() {
					nextID++
					id := int64(nextID)
					res, err := s.db.ExecContext(ctx, insert, id, id/listRows, "i"+strconv.Itoa(nextID), "new")
					if err := one(s, res, err); err != nil {
						return err
					}
				}
				return nil
			}
		}},
	}
	var out []writeResult
	for _, st := range stmts {
		w := writeResult{statement: st.name, runs: make([]series, len(systems))}
		for rep := range o.Reps {
			for k := range systems {
				i := (k + rep) % len(systems)
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				res, err := benchmark(o.WriteTime, st.f(systems[i]))
				if err != nil {
					return nil, fmt.Errorf("%s: %w", st.name, err)
				}
				w.runs[i] = append(w.runs[i], res)
			}
		}
		out = append(out, w)
	}
	return out, nil
}
