package soundness

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshcache/fresh/freshsql"
	"github.com/freshcache/fresh/freshsql/mysql"
	"github.com/freshcache/fresh/freshsql/postgres"
)

// dialectCase is one database of the tests below: a wrapped database with the
// case's two tables and a few rows, and how to spell its parameters.
type dialectCase struct {
	name string
	db   *sql.DB
	conn *freshsql.Connector
	t0   string
	t1   string
	// q turns ? into the dialect's parameters and {t0}, {t1} into the tables.
	q func(string) string
}

func (d dialectCase) stats() freshsql.Stats { return d.conn.Stats() }

// forEachDialect runs f on SQLite, PostgreSQL and MariaDB.
func forEachDialect(t *testing.T, f func(t *testing.T, d dialectCase)) {
	type dialect struct {
		name string
		open func(t *testing.T, prefix string) Case
		dl   Dialect
	}
	ds := []dialect{
		{"sqlite", func(t *testing.T, prefix string) Case {
			return SQLiteOpener(t.TempDir(), freshsql.Options{})(t, 0, prefix)
		}, SQLiteDialect},
		{"postgres", func(t *testing.T, prefix string) Case {
			return serverOpen(t, "pgx", pgDSN(), func() freshsql.Analyzer { return postgres.New(postgres.Options{}) }, freshsql.Options{})(t, 0, prefix)
		}, PostgresDialect},
		{"mariadb", func(t *testing.T, prefix string) Case {
			return serverOpen(t, "mysql", mysqlDSN(), func() freshsql.Analyzer { return mysql.New(mysql.Options{}) }, freshsql.Options{})(t, 0, prefix)
		}, MySQLDialect},
	}
	for _, dl := range ds {
		t.Run(dl.name, func(t *testing.T) {
			prefix := fmt.Sprintf("d%d_", time.Now().UnixNano()%1_000_000_000)
			k := dl.open(t, prefix)
			d := dialectCase{name: dl.name, db: k.DB, conn: k.Conn, t0: prefix + "t0", t1: prefix + "t1"}
			d.q = func(s string) string {
				s = strings.NewReplacer("{t0}", d.t0, "{t1}", d.t1).Replace(s)
				if dl.dl.Numbered {
					n := 0
					var b strings.Builder
					for _, ch := range s {
						if ch == '?' {
							n++
							fmt.Fprintf(&b, "$%d", n)
							continue
						}
						b.WriteRune(ch)
					}
					s = b.String()
				}
				return s
			}
			for _, s := range []string{
				`INSERT INTO {t0} (id, a, b, c) VALUES (1, 1, 1, 'p'), (2, 1, 2, 'q'), (3, 2, 1, 'r'), (4, 3, 3, 'p')`,
				`INSERT INTO {t1} (id, t0_id, x, y) VALUES (1, 1, 1, 'p'), (2, 1, 2, 'q'), (3, 3, 1, 'r')`,
			} {
				if _, err := d.db.Exec(d.q(s)); err != nil {
					t.Fatal(err)
				}
			}
			f(t, d)
		})
	}
}

func (d dialectCase) read(t *testing.T, q string, args ...any) string {
	t.Helper()
	got, err := query(freshsql.Cached(context.Background()), d.db, d.q(q), args)
	if err != nil {
		t.Fatalf("%s: %v", d.q(q), err)
	}
	return got
}

func (d dialectCase) truth(t *testing.T, q string, args ...any) string {
	t.Helper()
	got, err := query(freshsql.NoCache(context.Background()), d.db, d.q(q), args)
	if err != nil {
		t.Fatalf("%s: %v", d.q(q), err)
	}
	return got
}

func (d dialectCase) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := d.db.Exec(d.q(q), args...); err != nil {
		t.Fatalf("%s: %v", d.q(q), err)
	}
}

// TestBoundValueInCTEAndUnion: two reads differing only in a value bound inside a
// CTE, or inside one branch of a UNION, are two entries with their own rows.
func TestBoundValueInCTEAndUnion(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialectCase) {
		for _, q := range []string{
			`WITH c AS (SELECT id FROM {t0} WHERE a = ?) SELECT id FROM c ORDER BY id`,
			`SELECT id FROM {t0} WHERE b = 9 UNION SELECT id FROM {t0} WHERE a = ? ORDER BY 1`,
		} {
			one, two := d.read(t, q, 1), d.read(t, q, 2)
			if one == two {
				t.Errorf("%s: the same rows %s for 1 and 2", q, one)
			}
			if again := d.read(t, q, 1); again != one || one != d.truth(t, q, 1) {
				t.Errorf("%s with 1: %s, then %s; the database has %s", q, one, again, d.truth(t, q, 1))
			}
			if again := d.read(t, q, 2); again != two || two != d.truth(t, q, 2) {
				t.Errorf("%s with 2: %s, then %s; the database has %s", q, two, again, d.truth(t, q, 2))
			}
		}
	})
}

// TestCommitAndRollback: a write in a rolled-back transaction invalidates
// nothing; a committed one invalidates after the commit, even though a reader on
// another connection cached the pre-commit rows meanwhile.
func TestCommitAndRollback(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialectCase) {
		q := `SELECT id, c FROM {t0} WHERE a = ? ORDER BY id`
		before := d.read(t, q, 1)
		tx, err := d.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(d.q(`UPDATE {t0} SET c = 'z' WHERE a = ?`), 1); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		hits := d.stats().Hits
		if got := d.read(t, q, 1); got != before || d.stats().Hits != hits+1 {
			t.Errorf("after a rollback: %s (hits %d → %d); want the cached %s", got, hits, d.stats().Hits, before)
		}
		tx, err = d.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(d.q(`UPDATE {t0} SET c = 'z' WHERE a = ?`), 1); err != nil {
			t.Fatal(err)
		}
		// Another connection reads while the write is not committed: it sees, and
		// may cache, the old rows.
		var mid string
		var wg sync.WaitGroup
		wg.Go(func() { mid = d.read(t, q, 1) })
		wg.Wait()
		if mid != before {
			t.Fatalf("a read before the commit saw %s; want %s", mid, before)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got, want := d.read(t, q, 1), d.truth(t, q, 1); got != want || !strings.Contains(got, "z") {
			t.Errorf("after the commit: %s; the database has %s", got, want)
		}
	})
}

// TestJoinsAndScopes: a write to a joined table evicts the cached join; a write to
// a row of a scoped table that the scope cannot contain does not evict it.
func TestJoinsAndScopes(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialectCase) {
		join := `SELECT {t0}.id, {t1}.x FROM {t0} JOIN {t1} ON {t1}.t0_id = {t0}.id WHERE {t0}.a = ? ORDER BY 1, 2`
		scoped := `SELECT id, b FROM {t0} WHERE a = ? ORDER BY id`
		d.read(t, join, 1)
		d.read(t, scoped, 1)
		d.exec(t, `UPDATE {t1} SET x = 7 WHERE id = ?`, 2)
		if got, want := d.read(t, join, 1), d.truth(t, join, 1); got != want || !strings.Contains(got, "7") {
			t.Errorf("join after a write to the joined table: %s; the database has %s", got, want)
		}
		d.read(t, scoped, 1)
		hits := d.stats().Hits
		d.exec(t, `INSERT INTO {t0} (id, a, b, c) VALUES (?, ?, ?, ?)`, 50, 3, 3, "p")
		d.exec(t, `DELETE FROM {t0} WHERE a = ?`, 2)
		if got := d.read(t, scoped, 1); got != d.truth(t, scoped, 1) {
			t.Fatalf("scoped read: %s; the database has %s", got, d.truth(t, scoped, 1))
		}
		if d.stats().Hits != hits+1 {
			t.Errorf("writes to rows with a = 3 and a = 2 evicted the list of a = 1")
		}
	})
}
