package sqlite

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/sqlc-dev/meyer/ast"
	"github.com/sqlc-dev/meyer/parser"
	msqlite "modernc.org/sqlite"
)

func init() {
	// A user collation, as an application registers one.
	msqlite.MustRegisterCollationUtf8("fresh_fold", func(a, b string) int {
		return strings.Compare(strings.ToLower(a), strings.ToLower(b))
	})
}

// looseSchema has columns of every collation and affinity ReadCatalog
// tells apart.
const looseSchema = `
CREATE TABLE people (
	id INTEGER PRIMARY KEY,
	email TEXT COLLATE NOCASE,
	code TEXT COLLATE RTRIM,
	nick TEXT COLLATE fresh_fold,
	plain TEXT COLLATE BINARY,
	lower_binary TEXT COLLATE binary,
	twice TEXT COLLATE NOCASE COLLATE BINARY,
	"Mixed Case" VARCHAR(20) COLLATE nocase,
	score REAL,
	ratio FLOAT,
	big DOUBLE PRECISION,
	odd FLOATING POINT,
	amount NUMERIC,
	n INT,
	raw BLOB,
	untyped
);
CREATE TABLE keyed (a TEXT, b TEXT, PRIMARY KEY (a COLLATE NOCASE)) WITHOUT ROWID;
CREATE TABLE strict_t (a ANY, b TEXT COLLATE NOCASE, c INTEGER) STRICT;
CREATE TABLE copy AS SELECT email, score FROM people;
CREATE TABLE plain_t (id INTEGER PRIMARY KEY, name TEXT);
ALTER TABLE plain_t ADD COLUMN added TEXT COLLATE NOCASE;
CREATE VIRTUAL TABLE docs USING fts5 (title, body);
CREATE VIEW people_v AS SELECT email FROM people;
`

func TestReadCatalogLooseColumns(t *testing.T) {
	ctx := context.Background()
	db := openMemory(t, "file:loose?mode=memory&cache=private")
	if _, err := db.ExecContext(ctx, looseSchema); err != nil {
		t.Fatal(err)
	}
	cat, err := New(Options{}).ReadCatalog(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"people":   {"email", "code", "nick", "mixed case", "score", "ratio", "big"},
		"strict_t": {"b"},
		"copy":     {"score"},
		"plain_t":  {"added"},
		"docs":     {"title", "body", "docs", "rank"},
	}
	for table, cols := range want {
		if got := cat.LooseColumns[table]; !slices.Equal(got, cols) {
			t.Errorf("loose columns of %s: got %q; want %q", table, got, cols)
		}
	}
	for table := range cat.LooseColumns {
		if _, ok := want[table]; !ok {
			t.Errorf("loose columns of %s: got %q; want none", table, cat.LooseColumns[table])
		}
	}

	// What SQLite's = does on the columns left out: BINARY, whatever the
	// PRIMARY KEY's collation; the last of several COLLATE clauses wins; a
	// CREATE TABLE AS SELECT drops the collation. A user's collation is used,
	// and so is the column's when the value is on the left.
	for _, c := range []struct {
		insert, query string
		want          int
	}{
		{`INSERT INTO keyed VALUES ('abc', 'x')`, `SELECT count(*) FROM keyed WHERE a = 'ABC'`, 0},
		{`INSERT INTO people (email, nick, twice) VALUES ('abc', 'abc', 'abc')`, `SELECT count(*) FROM people WHERE twice = 'ABC'`, 0},
		{`INSERT INTO copy (email) VALUES ('abc')`, `SELECT count(*) FROM copy WHERE email = 'ABC'`, 0},
		{`SELECT 1`, `SELECT count(*) FROM people WHERE nick = 'ABC'`, 1},
		{`SELECT 1`, `SELECT count(*) FROM people WHERE 'ABC' = email`, 1},
	} {
		if _, err := db.ExecContext(ctx, c.insert); err != nil {
			t.Fatalf("%s: %v", c.insert, err)
		}
		var n int
		if err := db.QueryRowContext(ctx, c.query).Scan(&n); err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		if n != c.want {
			t.Errorf("%s: got %d; want %d", c.query, n, c.want)
		}
	}
}

func TestRealAffinity(t *testing.T) {
	for decl, want := range map[string]bool{
		"REAL": true, "float": true, "DOUBLE": true, "DOUBLE PRECISION": true, "FLOAT8": true,
		"FLOATING POINT": false, "INTEGER": false, "TEXT": false, "NUMERIC": false, "DECIMAL(10,2)": false,
		"BLOB": false, "": false, "CHARREAL": false, "BLOBDOUBLE": false,
	} {
		st, err := parserColumn(decl)
		if err != nil {
			t.Fatalf("%q: %v", decl, err)
		}
		if got := realAffinity(st.Type); got != want {
			t.Errorf("realAffinity(%q) = %v; want %v", decl, got, want)
		}
	}
}

// parserColumn parses a one-column table whose column is declared decl.
func parserColumn(decl string) (*ast.ColumnDef, error) {
	st, err := parser.ParseStatement("CREATE TABLE t (c " + decl + ")")
	if err != nil {
		return nil, err
	}
	return st.(*ast.CreateTableStmt).Columns[0], nil
}
