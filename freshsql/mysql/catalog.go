package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/freshcache/fresh/freshsql"
)

// The catalog queries read only the current database (DATABASE()). They use
// only information_schema tables and columns that MySQL 5.7+ and MariaDB 10.x
// both have: MariaDB has no VIEW_TABLE_USAGE, so a view's base tables come from
// analysing its definition.
const (
	viewsQuery = `SELECT TABLE_NAME, COALESCE(VIEW_DEFINITION, '') FROM information_schema.VIEWS
WHERE TABLE_SCHEMA = DATABASE()`
	tablesQuery = `SELECT TABLE_NAME FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE <> 'VIEW'`
	// A foreign key whose child or parent is in this database.
	foreignKeysQuery = `SELECT TABLE_NAME, REFERENCED_TABLE_NAME, UPDATE_RULE, DELETE_RULE
FROM information_schema.REFERENTIAL_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = DATABASE() OR UNIQUE_CONSTRAINT_SCHEMA = DATABASE()`
	triggersQuery = `SELECT EVENT_OBJECT_TABLE, ACTION_STATEMENT FROM information_schema.TRIGGERS
WHERE EVENT_OBJECT_SCHEMA = DATABASE()`
)

// ReadCatalog reads the views, foreign-key actions and triggers of the
// current database.
//
//   - Views maps each view to the base tables its definition reads,
//     transitively. A definition the analyser cannot bound (unparseable,
//     hidden by privileges, calling a stored function) maps to every base
//     table of the database.
//   - Effects maps a parent table to the children of its ON DELETE/ON UPDATE
//     CASCADE, SET NULL and SET DEFAULT foreign keys, a trigger's table to
//     the tables its body writes, and a view to its base tables (a write
//     through an updatable view changes them), all closed transitively.
//   - Opaque holds the tables with a trigger the analyser cannot bound (one
//     that calls a procedure, say), and the tables whose effects reach one.
func (a *Analyzer) ReadCatalog(ctx context.Context, q freshsql.Queryer) (*freshsql.Catalog, error) {
	cat := &freshsql.Catalog{
		Views:   map[string][]string{},
		Effects: map[string][]string{},
		Opaque:  map[string]bool{},
	}
	views, err := queryPairs(ctx, q, viewsQuery)
	if err != nil {
		return nil, fmt.Errorf("freshsql/mysql: read views: %w", err)
	}
	if len(views) > 0 {
		if err := a.readViews(ctx, q, views, cat); err != nil {
			return nil, err
		}
	}
	if err := readForeignKeys(ctx, q, cat); err != nil {
		return nil, err
	}
	triggers, err := queryPairs(ctx, q, triggersQuery)
	if err != nil {
		return nil, fmt.Errorf("freshsql/mysql: read triggers: %w", err)
	}
	for _, t := range triggers {
		written, ok := a.triggerWrites(t[1])
		if !ok {
			cat.Opaque[t[0]] = true
			continue
		}
		for _, w := range written {
			addEffect(cat.Effects, t[0], w)
		}
	}
	closeEffects(cat)
	return cat, nil
}

// readViews fills cat.Views and the views' Effects.
func (a *Analyzer) readViews(ctx context.Context, q freshsql.Queryer, views [][2]string, cat *freshsql.Catalog) error {
	direct := make(map[string][]string, len(views))
	var unbounded []string
	for _, v := range views {
		res, err := a.Analyze(v[1])
		if err != nil || res.Unknown != "" || len(res.Writes) > 0 || strings.TrimSpace(v[1]) == "" {
			unbounded = append(unbounded, v[0])
			continue
		}
		var names []string
		for _, r := range res.Reads {
			if !slices.Contains(names, r.Table) {
				names = append(names, r.Table)
			}
		}
		direct[v[0]] = names
	}
	if len(unbounded) > 0 {
		tables, err := queryColumn(ctx, q, tablesQuery)
		if err != nil {
			return fmt.Errorf("freshsql/mysql: read tables: %w", err)
		}
		for _, v := range unbounded {
			direct[v] = tables
		}
	}
	for v := range direct {
		base := baseTables(v, direct)
		cat.Views[v] = base
		for _, t := range base {
			addEffect(cat.Effects, v, t)
		}
	}
	return nil
}

// baseTables expands a view into the base tables it reads, through views over
// views; a cycle (which the server forbids) just stops the expansion.
func baseTables(view string, direct map[string][]string) []string {
	var out []string
	seen := map[string]bool{view: true}
	stack := []string{view}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, t := range direct[v] {
			if seen[t] {
				continue
			}
			seen[t] = true
			if _, isView := direct[t]; isView {
				stack = append(stack, t)
				continue
			}
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

func readForeignKeys(ctx context.Context, q freshsql.Queryer, cat *freshsql.Catalog) (err error) {
	rows, err := q.QueryContext(ctx, foreignKeysQuery)
	if err != nil {
		return fmt.Errorf("freshsql/mysql: read foreign keys: %w", err)
	}
	defer closeRows(rows, &err)
	for rows.Next() {
		var child, parent, onUpdate, onDelete string
		if err := rows.Scan(&child, &parent, &onUpdate, &onDelete); err != nil {
			return fmt.Errorf("freshsql/mysql: read foreign keys: %w", err)
		}
		if changesChild(onUpdate) || changesChild(onDelete) {
			addEffect(cat.Effects, parent, child)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("freshsql/mysql: read foreign keys: %w", err)
	}
	return nil
}

// changesChild reports whether a referential action writes the child table.
func changesChild(rule string) bool {
	switch strings.ToUpper(strings.TrimSpace(rule)) {
	case "CASCADE", "SET NULL", "SET DEFAULT":
		return true
	}
	return false
}

// triggerWrites returns the tables a trigger body writes, or false when the
// body cannot be bounded: it does not parse, calls a procedure or a function
// not known to be pure, or holds a statement the analyser does not know.
func (a *Analyzer) triggerWrites(body string) (written []string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			written, ok = nil, false
		}
	}()
	st, err := sqlparser.Parse("CREATE TRIGGER fresh_trigger AFTER INSERT ON fresh_table FOR EACH ROW " + body)
	if err != nil {
		return nil, false
	}
	ddl, isDDL := st.(*sqlparser.DDL)
	if !isDDL || ddl.TriggerSpec == nil || ddl.TriggerSpec.Body == nil {
		return nil, false
	}
	out := &freshsql.Analysis{}
	s := &state{a: a, out: out}
	walked := walkNodes(reflect.ValueOf(ddl.TriggerSpec.Body), 0, func(n sqlparser.SQLNode) bool {
		switch n := n.(type) {
		case *sqlparser.BeginEndBlock, *sqlparser.IfStatement, *sqlparser.CaseStatement,
			*sqlparser.Loop, *sqlparser.Repeat, *sqlparser.While, *sqlparser.Declare,
			*sqlparser.Signal, *sqlparser.Resignal, *sqlparser.Leave, *sqlparser.Iterate,
			*sqlparser.Return, *sqlparser.OpenCursor, *sqlparser.CloseCursor, *sqlparser.FetchCursor:
			return true
		case sqlparser.Statement:
			s.statement(n)
			return false
		case sqlparser.Expr:
			s.visit(n, nil)
			return false
		}
		return true
	})
	if !walked || s.tooDeep || out.Unknown != "" {
		return nil, false
	}
	for _, w := range out.Writes {
		if !slices.Contains(written, w.Table) {
			written = append(written, w.Table)
		}
	}
	return written, true
}

func addEffect(effects map[string][]string, from, to string) {
	if from == to || slices.Contains(effects[from], to) {
		return
	}
	effects[from] = append(effects[from], to)
}

// closeEffects makes Effects transitive and spreads Opaque to every table
// whose effects reach an opaque one.
func closeEffects(cat *freshsql.Catalog) {
	closed := make(map[string][]string, len(cat.Effects))
	for from := range cat.Effects {
		seen := map[string]bool{from: true}
		stack := []string{from}
		var reach []string
		for len(stack) > 0 {
			t := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, next := range cat.Effects[t] {
				if !seen[next] {
					seen[next] = true
					reach = append(reach, next)
					stack = append(stack, next)
				}
			}
		}
		slices.Sort(reach)
		closed[from] = reach
	}
	cat.Effects = closed
	for from, reach := range closed {
		for _, t := range reach {
			if cat.Opaque[t] {
				cat.Opaque[from] = true
			}
		}
	}
}

// queryPairs runs a query of two string columns.
func queryPairs(ctx context.Context, q freshsql.Queryer, query string) (_ [][2]string, err error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer closeRows(rows, &err)
	var out [][2]string
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// queryColumn runs a query of one string column.
func queryColumn(ctx context.Context, q freshsql.Queryer, query string) (_ []string, err error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer closeRows(rows, &err)
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// closeRows closes rows, reporting its error in *err unless one is there.
func closeRows(rows *sql.Rows, err *error) {
	if cerr := rows.Close(); cerr != nil && *err == nil {
		*err = cerr
	}
}
