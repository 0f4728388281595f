package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/freshcache/fresh/freshsql"
)

// userRelations restricts a query on pg_class alias c to the user's schemas.
const userRelations = `c.relnamespace NOT IN (SELECT oid FROM pg_catalog.pg_namespace
	WHERE nspname IN ('pg_catalog', 'information_schema') OR nspname LIKE 'pg\_toast%')`

// viewDefsQuery lists views and materialized views with their definitions.
const viewDefsQuery = `SELECT c.relname, c.relkind::text, pg_catalog.pg_get_viewdef(c.oid)
FROM pg_catalog.pg_class c
WHERE c.relkind IN ('v', 'm') AND ` + userRelations

// viewDepsQuery lists the relations each view's rewrite rule depends on, as
// pg_depend records them (complete, whoever owns the relations).
const viewDepsQuery = `SELECT DISTINCT c.relname, t.relname
FROM pg_catalog.pg_rewrite r
JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
	AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
WHERE c.relkind IN ('v', 'm') AND t.oid <> c.oid AND t.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
	AND ` + userRelations

// foreignKeysQuery lists (referenced, referencing) tables of foreign keys
// whose actions change the referencing rows.
const foreignKeysQuery = `SELECT DISTINCT p.relname, c.relname
FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
JOIN pg_catalog.pg_class p ON p.oid = k.confrelid
WHERE k.contype = 'f' AND (k.confdeltype IN ('c', 'n', 'd') OR k.confupdtype IN ('c', 'n', 'd'))`

// inheritanceQuery lists (parent, child) tables of inheritance and
// partitioning: a write through either changes the rows the other shows.
const inheritanceQuery = `SELECT DISTINCT p.relname, c.relname
FROM pg_catalog.pg_inherits i
JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
WHERE c.relkind IN ('r', 'p', 'f') AND ` + userRelations

// sequencesQuery lists (table, sequence) pairs where a write to the table may
// advance the sequence: column defaults that use it, and owned (serial,
// identity) sequences, which TRUNCATE ... RESTART IDENTITY resets.
const sequencesQuery = `SELECT DISTINCT c.relname, s.relname
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_attrdef ad ON d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND d.objid = ad.oid
JOIN pg_catalog.pg_class c ON c.oid = ad.adrelid
JOIN pg_catalog.pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'
UNION
SELECT DISTINCT c.relname, s.relname
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_catalog.pg_class c ON c.oid = d.refobjid
WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
	AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i')`

// triggersQuery lists tables with user triggers (enabled or not: ALTER TABLE
// can enable one without a write this analyser sees as a trigger change).
const triggersQuery = `SELECT DISTINCT c.relname
FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
WHERE NOT t.tgisinternal`

// rulesQuery lists relations with rewrite rules other than a view's own.
const rulesQuery = `SELECT DISTINCT c.relname
FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
WHERE r.rulename <> '_RETURN'`

// expressionsQuery lists the expressions a write evaluates: column defaults,
// generated columns, CHECK constraints.
const expressionsQuery = `SELECT c.relname, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid)
FROM pg_catalog.pg_attrdef ad JOIN pg_catalog.pg_class c ON c.oid = ad.adrelid
WHERE ` + userRelations + `
UNION ALL
SELECT c.relname, pg_catalog.pg_get_expr(k.conbin, k.conrelid)
FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
WHERE k.contype = 'c' AND ` + userRelations

// ReadCatalog reads what PostgreSQL's catalog says about effects no SQL text
// shows:
//
//   - Views: each view and materialized view maps to the base tables (and
//     materialized views) it reads, transitively, from pg_depend and from
//     the analysis of its definition.
//   - Effects: a referenced table maps to the tables its foreign keys' ON
//     DELETE / ON UPDATE CASCADE, SET NULL and SET DEFAULT actions change; a
//     parent table to its inheritance children and partitions and back; a
//     table to the sequences its defaults advance; a view to its base
//     tables (a write through an updatable view). Effects are transitive.
//   - Opaque: tables with user triggers or rules, tables whose defaults or
//     CHECK constraints call functions not known to be pure, and tables whose
//     Effects reach an opaque one.
//   - LooseColumns: columns whose = is looser than equality of canonical
//     values, by type and collation (see loose.go).
//
// It also remembers the views whose definitions call functions that are not
// pure (now(), a user's function): Analyze reports reads of them as
// Uncacheable from then on.
func (a *Analyzer) ReadCatalog(ctx context.Context, q freshsql.Queryer) (*freshsql.Catalog, error) {
	cat := &freshsql.Catalog{
		Views:   map[string][]string{},
		Effects: map[string][]string{},
		Opaque:  map[string]bool{},

		LooseColumns: map[string][]string{},
	}
	deps := map[string]map[string]bool{} // view -> relations it reads directly
	kinds := map[string]string{}         // view -> relkind
	opaque := map[string]string{}        // plain view -> why its reads vary
	addDep := func(v, t string) {
		if deps[v] == nil {
			deps[v] = map[string]bool{}
		}
		if t != v {
			deps[v][t] = true
		}
	}
	err := queryRows(ctx, q, viewDefsQuery, 3, func(r []string) {
		name, kind, def := r[0], r[1], r[2]
		kinds[name] = kind
		addDep(name, name)
		an, err := a.Analyze(def)
		if err != nil {
			if kind == "v" {
				opaque[name] = "cannot be analysed"
			}
			return
		}
		for _, rd := range an.Reads {
			addDep(name, rd.Table)
		}
		if kind != "v" {
			return
		}
		switch {
		case an.Unknown != "":
			opaque[name] = an.Unknown
		case an.Uncacheable != "":
			opaque[name] = an.Uncacheable
		case len(an.Writes) > 0:
			opaque[name] = "changes a sequence"
		}
	})
	if err != nil {
		return nil, err
	}
	if err := queryRows(ctx, q, viewDepsQuery, 2, func(r []string) { addDep(r[0], r[1]) }); err != nil {
		return nil, err
	}
	for v := range deps {
		cat.Views[v] = viewBases(v, deps, kinds)
	}
	// A plain view over an opaque plain view is opaque too.
	for changed := true; changed; {
		changed = false
		for v := range deps {
			if kinds[v] != "v" || opaque[v] != "" {
				continue
			}
			for d := range deps[v] {
				if kinds[d] == "v" && opaque[d] != "" {
					opaque[v] = "reads view " + d + ", which " + opaque[d]
					changed = true
					break
				}
			}
		}
	}

	effects := map[string]map[string]bool{}
	addEffect := func(from, to string) {
		if from == to {
			return
		}
		if effects[from] == nil {
			effects[from] = map[string]bool{}
		}
		effects[from][to] = true
	}
	if err := queryRows(ctx, q, foreignKeysQuery, 2, func(r []string) { addEffect(r[0], r[1]) }); err != nil {
		return nil, err
	}
	if err := queryRows(ctx, q, inheritanceQuery, 2, func(r []string) {
		addEffect(r[0], r[1])
		addEffect(r[1], r[0])
	}); err != nil {
		return nil, err
	}
	if err := queryRows(ctx, q, sequencesQuery, 2, func(r []string) { addEffect(r[0], r[1]) }); err != nil {
		return nil, err
	}
	for v, bases := range cat.Views {
		if kinds[v] == "v" {
			for _, b := range bases {
				addEffect(v, b)
			}
		}
	}
	mark := func(r []string) { cat.Opaque[r[0]] = true }
	if err := queryRows(ctx, q, triggersQuery, 1, mark); err != nil {
		return nil, err
	}
	if err := queryRows(ctx, q, rulesQuery, 1, mark); err != nil {
		return nil, err
	}
	if err := queryRows(ctx, q, expressionsQuery, 2, func(r []string) {
		an, err := a.Analyze("SELECT " + r[1])
		if err != nil || an.Unknown != "" {
			cat.Opaque[r[0]] = true
		}
	}); err != nil {
		return nil, err
	}
	for t := range effects {
		reach := closure(t, effects)
		cat.Effects[t] = reach
		for _, e := range reach {
			if cat.Opaque[e] {
				cat.Opaque[t] = true
			}
		}
	}
	if err := queryRows(ctx, q, looseColumnsQuery, 2, func(r []string) {
		if !slices.Contains(cat.LooseColumns[r[0]], r[1]) {
			cat.LooseColumns[r[0]] = append(cat.LooseColumns[r[0]], r[1])
		}
	}); err != nil {
		return nil, err
	}
	a.opaqueViews.Store(&opaque)
	return cat, nil
}

// viewBases returns the base tables and materialized views view v reads,
// through other views, sorted.
func viewBases(v string, deps map[string]map[string]bool, kinds map[string]string) []string {
	seen := map[string]bool{v: true}
	var out []string
	var visit func(string)
	visit = func(x string) {
		for d := range deps[x] {
			if seen[d] {
				continue
			}
			seen[d] = true
			switch kinds[d] {
			case "v":
				visit(d)
			case "m":
				out = append(out, d)
				visit(d)
			default:
				out = append(out, d)
			}
		}
	}
	visit(v)
	slices.Sort(out)
	return out
}

// closure returns every node reachable from t in g, sorted.
func closure(t string, g map[string]map[string]bool) []string {
	seen := map[string]bool{t: true}
	stack := []string{t}
	var out []string
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for y := range g[x] {
			if !seen[y] {
				seen[y] = true
				out = append(out, y)
				stack = append(stack, y)
			}
		}
	}
	slices.Sort(out)
	return out
}

// queryRows runs a catalog query whose columns are n strings and passes each
// row to f. A row with a NULL is skipped: the catalog functions
// (pg_get_viewdef, pg_get_expr) return NULL for an object dropped while the
// query ran, and a dropped object has no effects left to report.
func queryRows(ctx context.Context, q freshsql.Queryer, query string, n int, f func([]string)) (err error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("freshsql/postgres: reading the catalog: %w", err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("freshsql/postgres: reading the catalog: %w", cerr)
		}
	}()
	vals := make([]sql.NullString, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
rows:
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("freshsql/postgres: reading the catalog: %w", err)
		}
		out := make([]string, n)
		for i, v := range vals {
			if !v.Valid {
				continue rows
			}
			out[i] = v.String
		}
		f(out)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("freshsql/postgres: reading the catalog: %w", err)
	}
	return nil
}
