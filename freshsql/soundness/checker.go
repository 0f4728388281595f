package soundness

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"

	"github.com/freshcache/fresh/freshsql"
)

// T is the part of testing.TB the checker uses, so that a benchmark program can
// run it too.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Failed() bool
	Cleanup(func())
}

// Dialect is what the checker needs to know of a database's SQL.
type Dialect struct {
	// Name is "sqlite", "postgres" or "mysql".
	Name string
	// Upsert is the upsert statement on {t0} with three parameters (id, a, b).
	Upsert string
	// Numbered turns ? into $1, $2... (PostgreSQL).
	Numbered bool
}

// Case is one case's databases: the wrapped one the checker reads and writes
// through, and its Connector.
type Case struct {
	DB   *sql.DB
	Conn *freshsql.Connector
	// Prefix starts the names of the case's tables.
	Prefix string
	// Close, if set, releases the case's database (and drops its tables); Run
	// calls it when the case ends, so that a long run holds one case's
	// connections at a time.
	Close func()
}

// Checker runs cases.
type Checker struct {
	Dialect Dialect
	// Open returns a database for case i with the schema created (use Schema),
	// and registers its cleanup with tb.
	Open func(tb T, i int, prefix string) Case
	// Cases is the number of cases, Steps the steps of each.
	Cases, Steps int
	// Seed makes the run repeatable: case i uses the seed (Seed, i).
	Seed uint64
}

// Result sums what the cases did.
type Result struct {
	Cases, Reads, Writes, Transactions, Rollbacks, Failed int
	// Evictions counts cached entries a write evicted (their next read missed);
	// Unneeded those among them whose result had not changed.
	Evictions, Unneeded int
	// Checked counts reads of a cached entry after a write that were compared
	// with the database.
	Checked int
	// Changed counts, over the same reads, the entries whose result the write
	// had changed: the evictions any correct cache must make.
	Changed int
	// TableLevel and Everything count the evictions the writes would have cost a
	// cache that drops every entry reading a written table when a transaction
	// commits (YokedCache's approach), and one that drops every entry on any
	// write (go-gorm/caches'), over the same entries.
	TableLevel, Everything int
}

// Precision returns the share of evictions whose result had not changed.
func (r Result) Precision() float64 {
	if r.Evictions == 0 {
		return 0
	}
	return float64(r.Unneeded) / float64(r.Evictions)
}

func (r Result) String() string {
	return fmt.Sprintf("%d cases: %d reads, %d writes (%d transactions, %d rolled back, %d failed statements), %d cached reads checked after writes, %d of them changed; freshsql evicted %d, %d of them unneeded (%.1f%%); table-level would evict %d, everything-on-write %d",
		r.Cases, r.Reads, r.Writes, r.Transactions, r.Rollbacks, r.Failed, r.Checked, r.Changed, r.Evictions, r.Unneeded, 100*r.Precision(), r.TableLevel, r.Everything)
}

// Schema returns the statements that create the case's tables.
func Schema(prefix string) []string {
	return []string{
		`CREATE TABLE ` + prefix + `t0 (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, c VARCHAR(8))`,
		`CREATE TABLE ` + prefix + `t1 (id INTEGER PRIMARY KEY, t0_id INTEGER, x INTEGER, y VARCHAR(8))`,
	}
}

// Run runs the cases, failing tb at the first stale read with the case's seed
// and history.
func (c Checker) Run(tb T) Result {
	tb.Helper()
	var total Result
	for i := range c.Cases {
		prefix := "s" + strconv.FormatUint(c.Seed%1000, 10) + "_" + strconv.Itoa(i) + "_"
		k := c.Open(tb, i, prefix)
		r := rand.New(rand.NewPCG(c.Seed, uint64(i)))
		res := c.runCase(tb, k, r, i)
		if k.Close != nil {
			k.Close()
		}
		total.Cases++
		total.Reads += res.Reads
		total.Writes += res.Writes
		total.Transactions += res.Transactions
		total.Rollbacks += res.Rollbacks
		total.Failed += res.Failed
		total.Evictions += res.Evictions
		total.Unneeded += res.Unneeded
		total.Checked += res.Checked
		total.Changed += res.Changed
		total.TableLevel += res.TableLevel
		total.Everything += res.Everything
		if tb.Failed() {
			break
		}
	}
	return total
}

// known is a cached read the case has made, with the database's answer when it
// was last checked.
type known struct {
	sql    string
	args   []any
	truth  string
	tables []string // the case's tables the read names
}

// tablesOf returns the case's tables a template names, read or written.
func tablesOf(t template) []string {
	var out []string
	for _, n := range []string{"{t0}", "{t1}"} {
		if strings.Contains(t.sql, n) || n == "{t0}" && t.sql == "{upsert}" {
			out = append(out, n)
		}
	}
	return out
}

// writtenOf returns the table a write template writes.
func writtenOf(t template) string {
	if t.sql == "{upsert}" {
		return "{t0}"
	}
	for _, kw := range []string{"INSERT INTO ", "UPDATE ", "DELETE FROM "} {
		if rest, ok := strings.CutPrefix(t.sql, kw); ok {
			name, _, _ := strings.Cut(rest, " ")
			return name
		}
	}
	return ""
}

func (c Checker) runCase(tb T, k Case, r *rand.Rand, i int) Result {
	tb.Helper()
	ctx := context.Background()
	var res Result
	var history []string
	fail := func(format string, a ...any) {
		tb.Helper()
		tb.Errorf("case %d (seed %d): %s\nhistory:\n\t%s", i, c.Seed, fmt.Sprintf(format, a...), strings.Join(history, "\n\t"))
	}
	sqlOf := func(t template) string {
		s := strings.NewReplacer("{upsert}", c.Dialect.Upsert).Replace(t.sql)
		s = strings.NewReplacer("{t0}", k.Prefix+"t0", "{t1}", k.Prefix+"t1").Replace(s)
		if c.Dialect.Numbered {
			var b strings.Builder
			n := 0
			for _, ch := range s {
				if ch == '?' {
					n++
					b.WriteString("$" + strconv.Itoa(n))
					continue
				}
				b.WriteRune(ch)
			}
			s = b.String()
		}
		return s
	}
	// Seed rows, written through the wrapper like everything else.
	for j := range 6 {
		for _, s := range []string{
			fmt.Sprintf(`INSERT INTO %st0 (id, a, b, c) VALUES (%d, %d, %d, '%s')`, k.Prefix, j+1, r.IntN(4), r.IntN(4), []string{"p", "q", "r"}[r.IntN(3)]),
			fmt.Sprintf(`INSERT INTO %st1 (id, t0_id, x, y) VALUES (%d, %d, %d, 'p')`, k.Prefix, j+1, 1+r.IntN(8), r.IntN(4)),
		} {
			if _, err := k.DB.ExecContext(ctx, s); err != nil {
				tb.Fatalf("case %d: %s: %v", i, s, err)
			}
		}
	}
	var seen []*known
	read := func(q string, args []any, cached bool) (string, error) {
		rctx := freshsql.NoCache(ctx)
		if cached {
			rctx = freshsql.Cached(ctx)
		}
		return query(rctx, k.DB, q, args)
	}
	// check reads every known entry through the cache and compares it with the
	// database; after a write it also counts evictions.
	check := func(afterWrite bool, written map[string]bool) {
		tb.Helper()
		for _, e := range seen {
			if afterWrite && len(written) > 0 {
				res.Everything++
				for _, t := range e.tables {
					if written[t] {
						res.TableLevel++
						break
					}
				}
			}
			misses := k.Conn.Stats().Misses
			got, err := read(e.sql, e.args, true)
			if err != nil {
				fail("%s %v: %v", e.sql, e.args, err)
				return
			}
			evicted := k.Conn.Stats().Misses > misses
			truth, err := read(e.sql, e.args, false)
			if err != nil {
				fail("%s %v: %v", e.sql, e.args, err)
				return
			}
			if got != truth {
				fail("STALE: %s %v served %s; the database has %s", e.sql, e.args, got, truth)
				return
			}
			if afterWrite {
				res.Checked++
				if truth != e.truth {
					res.Changed++
				}
				if evicted {
					res.Evictions++
					if truth == e.truth {
						res.Unneeded++
					}
				}
			}
			e.truth = truth
		}
	}
	for range c.Steps {
		if r.IntN(10) < 5 {
			t := reads[r.IntN(len(reads))]
			q, args := sqlOf(t), t.args(r)
			history = append(history, fmt.Sprintf("read %s %v", q, args))
			got, err := read(q, args, true)
			if err != nil {
				fail("%s %v: %v", q, args, err)
				return res
			}
			res.Reads++
			truth, err := read(q, args, false)
			if err != nil {
				fail("%s %v: %v", q, args, err)
				return res
			}
			if got != truth {
				fail("STALE: %s %v served %s; the database has %s", q, args, got, truth)
				return res
			}
			if !slicesContainsKnown(seen, q, args) && len(seen) < 16 {
				seen = append(seen, &known{sql: q, args: args, truth: truth, tables: tablesOf(t)})
			}
			continue
		}
		n, inTx := 1, r.IntN(3) == 0
		if inTx {
			n = 1 + r.IntN(3)
		}
		var tx *sql.Tx
		if inTx {
			var err error
			if tx, err = k.DB.BeginTx(ctx, nil); err != nil {
				fail("begin: %v", err)
				return res
			}
			res.Transactions++
			history = append(history, "BEGIN")
		}
		ok := true
		written := map[string]bool{}
		for range n {
			t := writes[r.IntN(len(writes))]
			written[writtenOf(t)] = true
			q, args := sqlOf(t), t.args(r)
			var err error
			if tx != nil {
				_, err = tx.ExecContext(ctx, q, args...)
			} else {
				_, err = k.DB.ExecContext(ctx, q, args...)
			}
			res.Writes++
			history = append(history, fmt.Sprintf("write %s %v: %v", q, args, err))
			if err != nil {
				res.Failed++
				ok = false
				if tx != nil {
					break // PostgreSQL aborts the transaction
				}
			}
		}
		if tx != nil {
			if ok && r.IntN(5) > 0 {
				err := tx.Commit()
				history = append(history, fmt.Sprintf("COMMIT: %v", err))
			} else {
				err := tx.Rollback()
				res.Rollbacks++
				written = nil
				history = append(history, fmt.Sprintf("ROLLBACK: %v", err))
			}
		}
		check(true, written)
		if tb.Failed() {
			return res
		}
	}
	return res
}

func slicesContainsKnown(seen []*known, q string, args []any) bool {
	for _, e := range seen {
		if e.sql == q && reflect.DeepEqual(e.args, args) {
			return true
		}
	}
	return false
}

// query runs q and renders its rows as text, types included.
func query(ctx context.Context, db *sql.DB, q string, args []any) (string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return "", err
	}
	defer func() { _ = rows.Close() }()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		b.WriteByte('(')
		for i, v := range vals {
			if i > 0 {
				b.WriteString(", ")
			}
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprintf(&b, "%v", v)
		}
		b.WriteByte(')')
	}
	return b.String(), rows.Err()
}
