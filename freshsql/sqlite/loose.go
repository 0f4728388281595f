package sqlite

import (
	"context"
	"strings"

	"github.com/freshcache/fresh/freshsql"
	"github.com/sqlc-dev/meyer/ast"
	"github.com/sqlc-dev/meyer/parser"
)

// Columns whose = is looser than equality of fresh's canonical values.
//
// SQLite's = on a column uses the column's collation and, for a column of
// numeric affinity, converts a text operand that looks like a number. Which
// columns that makes loose is read from each table's CREATE TABLE statement:
//
//   - A column whose collation is not BINARY (NOCASE, RTRIM or a collation
//     the application registered): 'a' = 'A' under NOCASE, 'a' = 'a ' under
//     RTRIM, anything under a user's collation.
//   - A column of REAL affinity (a declared type such as REAL, FLOAT or
//     DOUBLE; see realAffinity): it stores an integer written to it as a
//     float, so beyond 2^53 a written 9007199254740993 is stored as, and then
//     found by = as, 9007199254740992.
//   - Every column of a virtual table: its module may answer = itself.
//   - Every column of a table whose CREATE TABLE statement cannot be parsed.
//
// What a column of INTEGER or NUMERIC affinity does to a text value depends on
// the value (' 5', '+5', '1e2' and '5.' are all 5 there), not on the column:
// the wrapper must not use such a value (equality_test.go states the rule
// and checks it against SQLite).

// columnsQuery lists a table's columns, hidden ones included.
const columnsQuery = `SELECT name FROM pragma_table_xinfo(?)`

// looseColumns returns the folded names of the columns of table name, created
// by createSQL, whose = is looser than equality of canonical values.
func looseColumns(ctx context.Context, q freshsql.Queryer, name, createSQL string) ([]string, error) {
	st, err := parser.ParseStatement(createSQL)
	ct, ok := st.(*ast.CreateTableStmt)
	if err != nil || !ok || ct.Select != nil {
		// A virtual table, or a statement this parser does not read:
		// every column is loose. A virtual table whose module is not
		// loaded cannot be read at all, so an error there is no loss.
		rows, err := queryRows(ctx, q, 1, columnsQuery, name)
		if err != nil {
			if _, virtual := st.(*ast.CreateVirtualTableStmt); virtual {
				return nil, nil
			}
			return nil, err
		}
		out := make([]string, 0, len(rows))
		for _, r := range rows {
			out = append(out, fold(r[0]))
		}
		return out, nil
	}
	var out []string
	for _, c := range ct.Columns {
		if c == nil || c.Name == nil {
			continue
		}
		if !binaryCollation(c) || realAffinity(c.Type) {
			out = append(out, identName(c.Name))
		}
	}
	return out, nil
}

// binaryCollation reports whether a column's collation is BINARY, the
// default. When a column names several, SQLite uses the last.
func binaryCollation(c *ast.ColumnDef) bool {
	coll := "BINARY"
	for _, k := range c.Constraints {
		if k != nil && k.Kind == ast.ColumnCollate && k.Collation != nil {
			coll = k.Collation.Name
		}
	}
	return strings.EqualFold(coll, "BINARY")
}

// realAffinity reports whether a declared type gives a column REAL affinity,
// by SQLite's rules (section 3.1 of its datatype documentation): INT gives
// INTEGER, then CHAR, CLOB or TEXT give TEXT, then BLOB or no type give BLOB,
// then REAL or the first four letters of FLOAT or DOUBLE give REAL.
func realAffinity(t *ast.TypeName) bool {
	if t == nil {
		return false
	}
	name := strings.ToUpper(t.Name)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(name, s) {
				return true
			}
		}
		return false
	}
	return !has("INT", "CHAR", "CLOB", "TEXT", "BLOB") && has("REAL", "FLOA", "DOUB") //nolint:misspell // SQLite's own substrings
}
