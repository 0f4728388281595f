package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/freshcache/fresh/freshsql"
	"github.com/sqlc-dev/meyer/ast"
	"github.com/sqlc-dev/meyer/parser"
)

// Catalog queries. sqlite_master is spelled so for SQLite releases older
// than 3.33, which lack the sqlite_schema alias. Temporary triggers are read
// from the connection ReadCatalog is given; temporary views are not read.
const (
	tablesQuery   = `SELECT name, sql FROM sqlite_master WHERE type = 'table'`
	viewsQuery    = `SELECT name, sql FROM sqlite_master WHERE type = 'view'`
	triggersQuery = `SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'
		UNION ALL SELECT tbl_name, sql FROM sqlite_temp_master WHERE type = 'trigger'`
	foreignKeysQuery = `SELECT "table", on_update, on_delete FROM pragma_foreign_key_list(?)`
)

// ReadCatalog reads views, foreign-key actions and triggers from the schema of
// the database q queries:
//
//   - Views maps each view to the base tables its SELECT reads, through views
//     of views. A view whose SQL cannot be analysed maps to every table.
//   - Effects maps a parent table to each child table whose foreign key has
//     an ON DELETE or ON UPDATE action of CASCADE, SET NULL or SET DEFAULT,
//     and a table (or view) to every table its triggers' bodies write;
//     transitively, so a cascade that runs a trigger is followed.
//   - Opaque marks a table with a trigger whose body cannot be analysed (or
//     reaches such a table through Effects).
//   - LooseColumns maps a table to its columns whose = is looser than
//     equality of canonical values: a collation other than BINARY, REAL
//     affinity, every column of a virtual table (see loose.go).
//
// ReadCatalog reads every result before it runs the next query, so q may be a
// single *sql.Conn.
func (a *Analyzer) ReadCatalog(ctx context.Context, q freshsql.Queryer) (*freshsql.Catalog, error) {
	tables, err := queryRows(ctx, q, 2, tablesQuery)
	if err != nil {
		return nil, fmt.Errorf("freshsql/sqlite: read tables: %w", err)
	}
	views, err := queryRows(ctx, q, 2, viewsQuery)
	if err != nil {
		return nil, fmt.Errorf("freshsql/sqlite: read views: %w", err)
	}
	triggers, err := queryRows(ctx, q, 2, triggersQuery)
	if err != nil {
		return nil, fmt.Errorf("freshsql/sqlite: read triggers: %w", err)
	}
	cat := &freshsql.Catalog{
		Views:            make(map[string][]string),
		Effects:          make(map[string][]string),
		Opaque:           make(map[string]bool),
		UncacheableViews: make(map[string]string),
		LooseColumns:     make(map[string][]string),
	}
	var all []string
	for _, t := range tables {
		all = append(all, fold(t[0]))
		loose, err := looseColumns(ctx, q, t[0], t[1])
		if err != nil {
			return nil, fmt.Errorf("freshsql/sqlite: read columns of %s: %w", t[0], err)
		}
		if len(loose) > 0 {
			cat.LooseColumns[fold(t[0])] = loose
		}
	}

	direct := make(map[string][]string, len(views))
	reasons := make(map[string]string)
	for _, v := range views {
		name := fold(v[0])
		tables, reason := a.viewReads(v[1], all)
		direct[name] = tables
		if reason != "" {
			reasons[name] = reason
		}
	}
	for name := range direct {
		cat.Views[name] = expandView(name, direct, reasons, cat.UncacheableViews)
	}

	effects := make(map[string]map[string]bool)
	addEffect := func(from, to string) {
		if effects[from] == nil {
			effects[from] = make(map[string]bool)
		}
		effects[from][to] = true
	}
	for _, t := range tables {
		if virtualTable(t[1]) {
			// A virtual table has no foreign keys, and reading its
			// pragma needs its module, which may not be loaded.
			continue
		}
		fks, err := queryRows(ctx, q, 3, foreignKeysQuery, t[0])
		if err != nil {
			return nil, fmt.Errorf("freshsql/sqlite: read foreign keys of %s: %w", t[0], err)
		}
		for _, fk := range fks {
			if changesChild(fk[1]) || changesChild(fk[2]) {
				addEffect(fold(fk[0]), fold(t[0]))
			}
		}
	}
	for _, tr := range triggers {
		table := fold(tr[0])
		written, ok := a.triggerWrites(tr[1])
		if !ok {
			cat.Opaque[table] = true
		}
		for _, w := range written {
			addEffect(table, w)
		}
	}

	// Close Effects and Opaque under transitivity.
	for from := range effects {
		seen := map[string]bool{}
		stack := []string{from}
		for len(stack) > 0 {
			t := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if cat.Opaque[t] {
				cat.Opaque[from] = true
			}
			for to := range effects[t] {
				if !seen[to] {
					seen[to] = true
					stack = append(stack, to)
				}
			}
		}
		list := make([]string, 0, len(seen))
		for t := range seen {
			list = append(list, t)
		}
		slices.Sort(list)
		cat.Effects[from] = list
	}
	return cat, nil
}

// virtualTable reports whether a table's CREATE statement makes a virtual
// table.
func virtualTable(createSQL string) bool {
	st, err := parser.ParseStatement(createSQL)
	_, ok := st.(*ast.CreateVirtualTableStmt)
	return err == nil && ok
}

// changesChild reports whether a foreign-key action changes the child's rows.
func changesChild(action string) bool {
	switch strings.ToUpper(action) {
	case "CASCADE", "SET NULL", "SET DEFAULT":
		return true
	}
	return false
}

// viewReads returns the tables and views a view's CREATE VIEW statement
// reads directly, and why its reads must not be cached, if they must not. A
// view that cannot be analysed reads every table and is uncacheable.
func (a *Analyzer) viewReads(createSQL string, all []string) ([]string, string) {
	st, err := parser.ParseStatement(createSQL)
	cv, ok := st.(*ast.CreateViewStmt)
	if err != nil || !ok || cv.Select == nil {
		return all, "the view's definition cannot be parsed"
	}
	s := &state{a: a, out: &freshsql.Analysis{}}
	if !safely(func() { s.selectStmt(cv.Select, nil, true) }) {
		return all, "the view's definition cannot be analysed"
	}
	if s.out.Unknown != "" {
		return all, s.out.Unknown
	}
	var out []string
	for _, r := range s.out.Reads {
		out = append(out, r.Table)
	}
	return out, s.out.Uncacheable
}

// expandView returns the base tables of a view, following views of views, and
// records in uncacheable the view whose definition, or that of a view it
// reads, makes its reads uncacheable.
func expandView(name string, direct map[string][]string, reasons, uncacheable map[string]string) []string {
	seen := map[string]bool{name: true}
	set := map[string]bool{}
	stack := []string{name}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if r := reasons[v]; r != "" && uncacheable[name] == "" {
			if v == name {
				uncacheable[name] = r
			} else {
				uncacheable[name] = "reads the view " + v + ": " + r
			}
		}
		for _, t := range direct[v] {
			if _, isView := direct[t]; isView {
				if !seen[t] {
					seen[t] = true
					stack = append(stack, t)
				}
				continue
			}
			set[t] = true
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// triggerWrites returns the tables a CREATE TRIGGER statement's body writes,
// and false when the body cannot be analysed.
func (a *Analyzer) triggerWrites(createSQL string) ([]string, bool) {
	st, err := parser.ParseStatement(createSQL)
	ct, ok := st.(*ast.CreateTriggerStmt)
	if err != nil || !ok {
		return nil, false
	}
	var out []string
	for _, body := range ct.Body {
		s := &state{a: a, out: &freshsql.Analysis{}}
		if !safely(func() { s.stmt(body) }) || s.out.Unknown != "" {
			return out, false
		}
		for _, w := range s.out.Writes {
			out = append(out, w.Table)
		}
	}
	return out, true
}

// safely runs f and reports whether it returned without panicking.
func safely(f func()) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	f()
	return true
}

// queryRows runs a catalog query and reads all its rows, each as n strings
// (a NULL reads as "").
func queryRows(ctx context.Context, q freshsql.Queryer, n int, query string, args ...any) ([][]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, n)
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}
