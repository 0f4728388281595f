package mysql

import (
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/freshcache/fresh/freshsql"
)

// insert analyses INSERT and REPLACE.
func (s *state) insert(n *sqlparser.Insert) {
	e := s.with(n.With, nil, false)
	w := freshsql.Write{Op: freshsql.OpInsert, Table: n.Table.Name.String()}
	// REPLACE deletes the rows it conflicts with; ON DUPLICATE KEY UPDATE
	// updates them. INSERT IGNORE only skips rows, so it is a plain insert.
	w.Upsert = strings.EqualFold(strings.TrimSpace(n.Action), sqlparser.ReplaceStr) || len(n.OnDup) > 0
	if len(n.Columns) > 0 {
		w.Columns = make([]string, len(n.Columns))
		for i, c := range n.Columns {
			w.Columns[i] = strings.ToLower(c.String())
		}
	}
	switch rows := n.Rows.(type) {
	case *sqlparser.AliasedValues:
		w.Rows = s.rows(rows.Values, w.Columns)
		s.visit(rows.Values, e)
	case sqlparser.AliasedValues:
		w.Rows = s.rows(rows.Values, w.Columns)
		s.visit(rows.Values, e)
	case sqlparser.Values:
		w.Rows = s.rows(rows, w.Columns)
		s.visit(rows, e)
	case sqlparser.SelectStatement:
		// INSERT ... SELECT and INSERT ... TABLE: the rows are unknown.
		s.selectStmt(rows, e, false)
	case nil:
	default:
		s.unknown("INSERT rows %T not understood", n.Rows)
		s.visitChildren(n.Rows, e)
	}
	s.visitFields(n, e, "With", "Rows")
	if len(n.Returning) > 0 {
		s.out.Returns = true
	}
	s.out.Writes = append(s.out.Writes, w)
}

// rows converts VALUES rows; nil when the statement names no columns or a
// row's length differs from the column list's.
func (s *state) rows(values sqlparser.Values, cols []string) [][]*freshsql.Value {
	if cols == nil || len(values) == 0 {
		return nil
	}
	out := make([][]*freshsql.Value, 0, len(values))
	for _, tuple := range values {
		if len(tuple) != len(cols) {
			return nil
		}
		row := make([]*freshsql.Value, len(tuple))
		for i, x := range tuple {
			row[i] = s.writtenValue(x)
		}
		out = append(out, row)
	}
	return out
}

// singleTable returns the table of a one-table UPDATE or DELETE, or false.
func singleTable(exprs sqlparser.TableExprs, e *env) (*sqlparser.AliasedTableExpr, sqlparser.TableName, bool) {
	if len(exprs) != 1 {
		return nil, sqlparser.TableName{}, false
	}
	t, ok := exprs[0].(*sqlparser.AliasedTableExpr)
	if !ok {
		return nil, sqlparser.TableName{}, false
	}
	name, ok := t.Expr.(sqlparser.TableName)
	if !ok || (name.DbQualifier.IsEmpty() && e.isCTE(name.Name.String())) {
		return nil, sqlparser.TableName{}, false
	}
	return t, name, true
}

// update analyses UPDATE. A single-table UPDATE pins the rows its WHERE
// clause pins (ORDER BY and LIMIT only narrow them further); a multi-table
// UPDATE writes every table it assigns a column of, with no Where.
func (s *state) update(n *sqlparser.Update) {
	e := s.with(n.With, nil, false)
	if t, name, ok := singleTable(n.TableExprs, e); ok {
		alias := t.As.String()
		if alias == "" {
			alias = name.Name.String()
		}
		l := &leaf{name: alias, read: -1}
		w := freshsql.Write{Op: freshsql.OpUpdate, Table: name.Name.String(), Where: s.writeConds(n.Where, l)}
		for _, a := range n.Exprs {
			if a == nil || a.Name == nil {
				continue
			}
			w.Set = append(w.Set, freshsql.Assign{Column: strings.ToLower(a.Name.Name.String()), Value: s.writtenValue(a.Expr)})
		}
		s.visitFields(n, e, "With", "TableExprs")
		s.returning(n.Returning)
		s.out.Writes = append(s.out.Writes, w)
		return
	}
	f := s.from(n.TableExprs, e, false)
	var writes []freshsql.Write
	for _, a := range n.Exprs {
		if a == nil || a.Name == nil {
			continue
		}
		as := freshsql.Assign{Column: strings.ToLower(a.Name.Name.String()), Value: s.writtenValue(a.Expr)}
		l := resolve(a.Name, f.leaves, false)
		for _, c := range f.leaves {
			if c.read < 0 || (l != nil && c != l) {
				continue
			}
			writes = addSet(writes, s.out.Reads[c.read].Table, as)
		}
	}
	s.visitFields(n, e, "With", "TableExprs")
	s.returning(n.Returning)
	if len(writes) == 0 {
		s.unknown("multi-table UPDATE whose written tables are not known")
	}
	s.out.Writes = append(s.out.Writes, writes...)
}

// addSet adds an assignment to the Write of table, creating it.
func addSet(writes []freshsql.Write, table string, as freshsql.Assign) []freshsql.Write {
	for i := range writes {
		if writes[i].Table == table {
			writes[i].Set = append(writes[i].Set, as)
			return writes
		}
	}
	return append(writes, freshsql.Write{Op: freshsql.OpUpdate, Table: table, Set: []freshsql.Assign{as}})
}

// delete analyses DELETE. A single-table DELETE pins the rows its WHERE
// clause pins; a multi-table DELETE removes rows of each target table with no
// Where.
func (s *state) delete(n *sqlparser.Delete) {
	e := s.with(n.With, nil, false)
	if t, name, ok := singleTable(n.TableExprs, e); ok && len(n.Targets) == 0 {
		alias := t.As.String()
		if alias == "" {
			alias = name.Name.String()
		}
		l := &leaf{name: alias, read: -1}
		w := freshsql.Write{Op: freshsql.OpDelete, Table: name.Name.String(), Where: s.writeConds(n.Where, l)}
		s.visitFields(n, e, "With", "TableExprs", "Targets")
		s.returning(n.Returning)
		s.out.Writes = append(s.out.Writes, w)
		return
	}
	f := s.from(n.TableExprs, e, false)
	var tables []string
	add := func(t string) {
		for _, x := range tables {
			if x == t {
				return
			}
		}
		tables = append(tables, t)
	}
	for _, target := range n.Targets {
		var found *leaf
		ambiguous := false
		for _, l := range f.leaves {
			if l.read >= 0 && strings.EqualFold(l.name, target.Name.String()) {
				ambiguous = ambiguous || found != nil
				found = l
			}
		}
		if found != nil && !ambiguous {
			add(s.out.Reads[found.read].Table)
			continue
		}
		// An unresolved target: every table it could name is written.
		add(target.Name.String())
		for _, l := range f.leaves {
			if l.read >= 0 && strings.EqualFold(l.name, target.Name.String()) {
				add(s.out.Reads[l.read].Table)
			}
		}
	}
	if len(n.Targets) == 0 {
		for _, l := range f.leaves {
			if l.read >= 0 {
				add(s.out.Reads[l.read].Table)
			}
		}
	}
	for _, t := range tables {
		s.out.Writes = append(s.out.Writes, freshsql.Write{Op: freshsql.OpDelete, Table: t})
	}
	s.visitFields(n, e, "With", "TableExprs", "Targets")
	s.returning(n.Returning)
}

// returning marks a write with a RETURNING list as returning rows.
func (s *state) returning(r sqlparser.SelectExprs) {
	if len(r) > 0 {
		s.out.Returns = true
	}
}
