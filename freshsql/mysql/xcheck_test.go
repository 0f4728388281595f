package mysql

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"

	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// xcheckSchema is the schema of the corpus's cross-checked reads.
var xcheckSchema = []string{
	"CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(50), email VARCHAR(50), org_id INT, status INT, age INT, created DATETIME, data JSON, KEY idx_org (org_id))",
	"CREATE TABLE orgs (id INT PRIMARY KEY, name VARCHAR(50), parent_id INT)",
	"CREATE TABLE orders (id INT PRIMARY KEY, user_id INT, total DECIMAL(10,2), status INT, created DATETIME)",
	"CREATE TABLE items (id INT PRIMARY KEY, order_id INT, sku VARCHAR(20), qty INT)",
	"CREATE TABLE t (id INT PRIMARY KEY, a INT, b INT, c VARCHAR(20), x INT, y INT)",
	"CREATE TABLE u (id INT PRIMARY KEY, a INT, b INT, x INT, y INT)",
	"CREATE VIEW active_users AS SELECT * FROM users WHERE status = 1",
	"CREATE VIEW big_orders AS SELECT o.* FROM orders o JOIN active_users a ON a.id = o.user_id WHERE o.total > 100",
	"INSERT INTO users VALUES (1, 'a', 'a@x', 1, 1, 20, '2020-01-01', '{\"a\": 1}'), (2, 'b', 'b@x', 2, 0, 30, '2020-01-02', '{\"b\": 1}'), (3, 'c', 'c@x', 1, 1, 40, '2020-01-03', NULL)",
	"INSERT INTO orgs VALUES (1, 'o1', NULL), (2, 'o2', 1), (3, 'o3', 2)",
	"INSERT INTO orders VALUES (1, 1, 150, 1, '2020-01-01'), (2, 2, 50, 2, '2020-01-02'), (3, 1, 10, 1, '2020-01-03')",
	"INSERT INTO items VALUES (1, 1, 's1', 1), (2, 1, 's2', 2), (3, 2, 's3', 1)",
	"INSERT INTO t VALUES (1, 1, 1, 'x', 1, 1), (2, 2, 2, 'y', 2, 2)",
	"INSERT INTO u VALUES (1, 1, 1, 1, 1), (2, 2, 2, 2, 2)",
}

// TestExplainCrossCheck runs EXPLAIN EXTENDED on the server for each
// cacheable read of the corpus and checks that every table of the server's
// expanded query (SHOW WARNINGS, note 1003, which names each table as
// `db`.`table`) is among the analyser's Reads, views resolved through
// ReadCatalog.
func TestExplainCrossCheck(t *testing.T) {
	db, dbName := scratchDatabase(t)
	execAll(t, db, xcheckSchema...)
	ctx := context.Background()
	a := New(Options{})
	cat, err := a.ReadCatalog(ctx, db)
	if err != nil {
		t.Fatalf("ReadCatalog: %v", err)
	}
	objects, err := queryColumn(ctx, db, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	checked := 0
	for _, c := range corpus {
		if c.flags&fExplain == 0 {
			continue
		}
		res, err := a.Analyze(c.sql)
		if err != nil || res.Uncacheable != "" || res.Unknown != "" || len(res.Writes) > 0 || !res.Returns {
			t.Errorf("%q: got %+v, %v; want a cacheable read", c.sql, res, err)
			continue
		}
		known := map[string]bool{}
		for _, r := range res.Reads {
			known[r.Table] = true
			for _, b := range cat.Views[r.Table] {
				known[b] = true
			}
		}
		note, err := explainNote(ctx, conn, c.sql)
		if err != nil {
			t.Errorf("%q: %v", c.sql, err)
			continue
		}
		seen := 0
		for _, name := range qualifiedTables(note, dbName) {
			if !slices.Contains(objects, name) {
				continue
			}
			seen++
			if !known[name] {
				t.Errorf("%q: the server reads %s, which is not among the Reads %+v (plan: %s)", c.sql, name, res.Reads, note)
			}
		}
		// The oracle must see something whenever the query reads a table,
		// or the check would pass vacuously.
		if len(res.Reads) > 0 && seen == 0 {
			t.Errorf("%q: the server's plan names no table: %s", c.sql, note)
		}
		if testing.Verbose() {
			t.Logf("%s\n\t-> %s", c.sql, note)
		}
		checked++
	}
	t.Logf("cross-checked %d reads", checked)
}

// explainNote returns the server's expanded form of a query.
func explainNote(ctx context.Context, conn *sql.Conn, query string) (string, error) {
	args := make([]any, countParams(query))
	for i := range args {
		args[i] = 1
	}
	if err := drain(ctx, conn, "EXPLAIN EXTENDED "+query, args...); err != nil {
		return "", err
	}
	warn, err := conn.QueryContext(ctx, "SHOW WARNINGS")
	if err != nil {
		return "", err
	}
	defer warn.Close()
	var note string
	for warn.Next() {
		var level, msg string
		var code int
		if err := warn.Scan(&level, &code, &msg); err != nil {
			return "", err
		}
		if code == 1003 {
			note = msg
		}
	}
	return note, warn.Err()
}

// countParams counts the "?" placeholders of a text.
func countParams(text string) int {
	n := 0
	tkn := sqlparser.NewStringTokenizer(text)
	for range len(text) + 1 {
		typ, _ := tkn.Scan()
		if typ == 0 || typ == sqlparser.LEX_ERROR {
			break
		}
		if typ == sqlparser.VALUE_ARG {
			n++
		}
	}
	return n
}

// qualifiedTables returns the names X of every `db`.`X` in note that is not
// followed by a column (`db`.`X`.`col`).
func qualifiedTables(note, db string) []string {
	prefix := "`" + db + "`.`"
	var out []string
	for rest := note; ; {
		i := strings.Index(rest, prefix)
		if i < 0 {
			return out
		}
		rest = rest[i+len(prefix):]
		j := strings.IndexByte(rest, '`')
		if j < 0 {
			return out
		}
		name := rest[:j]
		rest = rest[j+1:]
		if !strings.HasPrefix(rest, ".") {
			out = append(out, name)
		}
	}
}

// The cross-check's oracle must see the tables of a query: a sanity check of
// qualifiedTables on a known expansion.
func TestQualifiedTables(t *testing.T) {
	note := "select `d`.`x`.`a` AS `a` from `d`.`users` `x` join `d`.`orders` where `d`.`x`.`id` = 1"
	got := qualifiedTables(note, "d")
	want := []string{"users", "orders"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v; want %v", got, want)
	}
}

// drain runs a query and discards its rows.
func drain(ctx context.Context, conn *sql.Conn, query string, args ...any) error {
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}
