package freshsql

import (
	"database/sql/driver"
	"slices"
	"sort"
	"time"

	"github.com/freshcache/fresh"
)

// resolve returns the value v stands for in a statement run with args, and
// whether it is known: a literal, or the argument bound to the parameter.
func resolve(v Value, args []driver.NamedValue) (any, bool) {
	if v.Param == 0 {
		return v.Literal, v.Literal != nil
	}
	for _, a := range args {
		if v.Name != "" && a.Name == v.Name || v.Name == "" && a.Name == "" && a.Ordinal == v.Param {
			return a.Value, a.Value != nil
		}
	}
	// A named parameter bound by position (the drivers accept both).
	for _, a := range args {
		if a.Name == "" && a.Ordinal == v.Param {
			return a.Value, a.Value != nil
		}
	}
	return nil, false
}

// comparable reports whether x may serve as a dependency value in the dialect:
// the value's canonical form must be equal whenever SQL says two values are equal.
// MySQL compares strings under the column's collation (usually case- and
// trailing-space-insensitive) and converts strings to numbers by their leading
// digits, so a string is never a dependency value there.
func (w *wrapper) comparable(x any) bool {
	if vc, ok := w.o.Analyzer.(ValueComparer); ok {
		return isDriverValue(x) && x != nil && vc.Comparable(x)
	}
	switch x.(type) {
	case int64, float64, bool, time.Time:
		return true
	case string, []byte:
		return w.dialect != "mysql"
	default:
		return false
	}
}

// condValues resolves the values of a condition, or reports that the condition
// must be dropped (a value unknown, NULL, or not comparable in the dialect).
func (w *wrapper) condValues(c Cond, args []driver.NamedValue) ([]any, bool) {
	if c.Column == "" || len(c.Values) == 0 {
		return nil, false
	}
	out := make([]any, 0, len(c.Values))
	for _, v := range c.Values {
		x, ok := resolve(v, args)
		if !ok || !w.comparable(x) {
			return nil, false
		}
		out = append(out, x)
	}
	return out, true
}

// combos expands a conjunction of conditions with IN lists into the rows of
// column values it pins (the product of the lists). Conditions whose values are
// unknown are dropped; while the product is over limit, the condition with the
// longest list is dropped. Dropping a condition only widens what is pinned.
func (w *wrapper) combos(conds []Cond, args []driver.NamedValue, limit int) (cols []string, rows [][]any) {
	type cv struct {
		col  string
		vals []any
	}
	var kept []cv
	for _, c := range conds {
		vals, ok := w.condValues(c, args)
		if !ok {
			continue
		}
		// A column given twice (a = 1 AND a = 2, or a = 1 AND a IN (1, 2)):
		// keep the shorter list; both hold, so either is sound.
		if i := slices.IndexFunc(kept, func(k cv) bool { return k.col == c.Column }); i >= 0 {
			if len(vals) < len(kept[i].vals) {
				kept[i].vals = vals
			}
			continue
		}
		kept = append(kept, cv{c.Column, vals})
	}
	for {
		n := 1
		for _, k := range kept {
			n *= len(k.vals)
			if n > limit {
				break
			}
		}
		if n <= limit || len(kept) == 0 {
			break
		}
		longest := 0
		for i, k := range kept {
			if len(k.vals) > len(kept[longest].vals) {
				longest = i
			}
		}
		kept = slices.Delete(kept, longest, longest+1)
	}
	if len(kept) == 0 {
		return nil, nil
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].col < kept[j].col })
	rows = [][]any{nil}
	for _, k := range kept {
		cols = append(cols, k.col)
		next := make([][]any, 0, len(rows)*len(k.vals))
		for _, r := range rows {
			for _, v := range k.vals {
				next = append(next, append(slices.Clone(r), v))
			}
		}
		rows = next
	}
	return cols, rows
}

// readDeps returns the dependencies of a cached read of st run with args: the
// database's tag (everything this database's queries depend on), and for each
// table read, its scopes when its conditions pin columns, else the whole table.
// A view is read as the whole of each of its base tables. It registers the
// schemes of the scopes in the hub.
func (w *wrapper) readDeps(st *statement, args []driver.NamedValue, cat *Catalog) ([]fresh.Dep, error) {
	deps := []fresh.Dep{w.dbTag}
	seen := map[string]bool{w.dbTag.String(): true}
	add := func(d fresh.Dep) {
		if s := d.String(); !seen[s] {
			seen[s] = true
			deps = append(deps, d)
		}
	}
	for _, r := range st.analysis.Reads {
		if base, ok := cat.Views[r.Table]; ok {
			add(fresh.Table(r.Table))
			for _, b := range base {
				add(fresh.Table(b))
			}
			continue
		}
		cols, rows := w.combos(strict(r.Table, r.Conds, cat), args, w.o.MaxScopes)
		if len(cols) == 0 {
			add(fresh.Table(r.Table))
			continue
		}
		if err := w.registerScheme(r.Table, cols); err != nil {
			return nil, err
		}
		scopes := make([]fresh.Dep, 0, len(rows))
		ok := true
		for _, row := range rows {
			conds := make([]fresh.Cond, len(cols))
			for i, c := range cols {
				conds[i] = fresh.Eq(c, row[i])
			}
			d := fresh.Scope(r.Table, conds...)
			if d.Err() != nil {
				ok = false
				break
			}
			scopes = append(scopes, d)
		}
		if !ok {
			add(fresh.Table(r.Table))
			continue
		}
		for _, d := range scopes {
			add(d)
		}
	}
	return deps, nil
}

// tableDeps returns the dependencies of a read of st on whole tables: the
// fallback when its scopes cannot be registered.
func (w *wrapper) tableDeps(st *statement, cat *Catalog) []fresh.Dep {
	deps := []fresh.Dep{w.dbTag}
	for _, t := range st.tables {
		deps = append(deps, fresh.Table(t))
		for _, b := range cat.Views[t] {
			deps = append(deps, fresh.Table(b))
		}
	}
	return deps
}

// registerScheme registers the scope columns cols of table in the hub, once.
func (w *wrapper) registerScheme(table string, cols []string) error {
	k := table + "\x00" + joinCols(cols)
	if _, done := w.schemes.Load(k); done {
		return nil
	}
	if err := w.o.Hub.RegisterTable(fresh.TableSchema{Table: table, Scopes: [][]string{cols}}); err != nil {
		return err
	}
	w.cols.add(table, cols)
	w.schemes.Store(k, struct{}{})
	return nil
}

func joinCols(cols []string) string {
	n := 0
	for _, c := range cols {
		n += len(c) + 1
	}
	b := make([]byte, 0, n)
	for _, c := range cols {
		b = append(b, c...)
		b = append(b, 0)
	}
	return string(b)
}

// changes returns what a write of st run with args dirties, as row changes; all
// reports a write whose effects cannot be bounded (unknown, or a table whose
// triggers the catalog cannot see through), which dirties everything this
// database's queries depend on. schema reports a change of the schema (the
// catalog must be read again).
func (w *wrapper) changes(st *statement, args []driver.NamedValue, cat *Catalog) (out []fresh.RowChange, all, schema bool) {
	if st.kind == "unknown" || st.analysis == nil {
		return nil, true, true
	}
	everything := fresh.Row{}
	for _, wr := range st.analysis.Writes {
		if wr.Table == "" || cat.Opaque[wr.Table] {
			return nil, true, true
		}
		switch wr.Op {
		case OpInsert:
			if wr.Rows == nil || wr.Columns == nil {
				out = append(out, fresh.RowChange{Table: wr.Table, New: fresh.Row{}})
			}
			if wr.Columns != nil {
				for _, vals := range wr.Rows {
					row := fresh.Row{}
					for i, c := range wr.Columns {
						if i >= len(vals) || vals[i] == nil {
							continue
						}
						if x, ok := resolve(*vals[i], args); ok && w.rowValue(x) && !loose(wr.Table, c, cat) {
							row[c] = x
						}
					}
					out = append(out, fresh.RowChange{Table: wr.Table, New: row})
				}
			}
			if wr.Upsert {
				out = append(out, fresh.RowChange{Table: wr.Table, Old: everything})
			}
		case OpUpdate:
			cols, rows := w.combos(strict(wr.Table, wr.Where, cat), args, w.o.MaxScopes)
			if len(cols) == 0 {
				rows = [][]any{nil}
			}
			for _, vals := range rows {
				old := fresh.Row{}
				for i, c := range cols {
					old[c] = vals[i]
				}
				nw := fresh.Row{}
				for c, v := range old {
					nw[c] = v
				}
				for _, a := range wr.Set {
					delete(nw, a.Column)
					if a.Value == nil {
						continue
					}
					if x, ok := resolve(*a.Value, args); ok && w.rowValue(x) && !loose(wr.Table, a.Column, cat) {
						nw[a.Column] = x
					}
				}
				out = append(out, fresh.RowChange{Table: wr.Table, Old: old, New: nw})
			}
		case OpDelete:
			cols, rows := w.combos(strict(wr.Table, wr.Where, cat), args, w.o.MaxScopes)
			if len(cols) == 0 {
				rows = [][]any{nil}
			}
			for _, vals := range rows {
				old := fresh.Row{}
				for i, c := range cols {
					old[c] = vals[i]
				}
				out = append(out, fresh.RowChange{Table: wr.Table, Old: old})
			}
		case OpSchema:
			schema = true
			out = append(out, fresh.RowChange{Table: wr.Table, Old: everything})
		default: // OpTruncate, and any op this version does not know
			out = append(out, fresh.RowChange{Table: wr.Table, Old: everything})
		}
		for _, e := range cat.Effects[wr.Table] {
			out = append(out, fresh.RowChange{Table: e, Old: everything})
		}
		// A write to a base table dirties the views over it: their reads depend
		// on the base tables already (readDeps), and on the view's own name.
		for v, bases := range cat.Views {
			if slices.Contains(bases, wr.Table) {
				out = append(out, fresh.RowChange{Table: v, Old: everything})
			}
		}
	}
	return out, false, schema
}

// rowValue reports whether x may stand in a row change: a value missing from the
// row dirties every scope of the schemes over its column, so leaving one out is
// always sound, keeping one is only when SQL equality implies equal canonical
// forms (see comparable).
func (w *wrapper) rowValue(x any) bool {
	if w.dialect == "mysql" {
		// MySQL rounds a written float or time to the column's type (a DATETIME
		// keeps whole seconds), and outside strict mode clips integers; keep only
		// integers and booleans, the common case of a key or a flag.
		switch x.(type) {
		case int64, bool:
			return true
		}
		return false
	}
	return w.comparable(x)
}

// loose reports whether the catalog lists column col of table as one whose =
// is looser than equality of canonical values.
func loose(table, col string, cat *Catalog) bool {
	return cat != nil && slices.Contains(cat.LooseColumns[table], col)
}

// strict returns conds without the conditions on loose columns.
func strict(table string, conds []Cond, cat *Catalog) []Cond {
	if cat == nil || len(cat.LooseColumns[table]) == 0 {
		return conds
	}
	out := make([]Cond, 0, len(conds))
	for _, c := range conds {
		if !loose(table, c.Column, cat) {
			out = append(out, c)
		}
	}
	return out
}
