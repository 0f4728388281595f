package sqlite

import (
	"github.com/freshcache/fresh/freshsql"
	"github.com/sqlc-dev/meyer/ast"
)

// writeTarget returns the folded name of a write's target table. A write to a
// table SQLite maintains itself (sqlite_schema with writable_schema, say) is
// Unknown.
func (s *state) writeTarget(qn *ast.QualifiedName) string {
	if qn == nil || qn.Name == nil {
		s.unknown("write without a target table")
		return ""
	}
	name := identName(qn.Name)
	if name == "" {
		s.unknown("writes a table with an empty name")
	}
	if systemTable(name) {
		s.unknown("writes the system table %s", name)
	}
	return name
}

// returning records a RETURNING clause.
func (s *state) returning(cols []*ast.ResultColumn, sc *scope) {
	if len(cols) == 0 {
		return
	}
	s.out.Returns = true
	for _, c := range cols {
		if c != nil {
			s.walk(c.Expr, sc)
		}
	}
}

// insert analyses INSERT, REPLACE and upserts.
func (s *state) insert(n *ast.InsertStmt) {
	sc := s.withScope(n.With, nil, true)
	w := freshsql.Write{Op: freshsql.OpInsert, Table: s.writeTarget(n.Table)}
	w.Upsert = n.Replace || n.OrConflict == ast.ConflictReplace
	for _, c := range n.Columns {
		w.Columns = append(w.Columns, identName(c))
	}
	if n.Select != nil {
		w.Rows = valuesRows(n.Select, w.Columns)
		s.selectStmt(n.Select, sc, true)
	}
	for _, u := range n.Upserts {
		if u == nil {
			continue
		}
		if !u.DoNothing {
			w.Upsert = true
		}
		for _, t := range u.Target {
			s.walkNode(t, sc)
		}
		s.walk(u.TargetWhere, sc)
		for _, p := range u.Set {
			if p != nil {
				s.walk(p.Value, sc)
			}
		}
		s.walk(u.Where, sc)
	}
	s.returning(n.Returning, sc)
	if w.Table != "" {
		s.out.Writes = append(s.out.Writes, w)
	}
}

// valuesRows returns the rows of an INSERT's plain VALUES clause, one value per
// named column, or nil when the rows come from a query or no columns are
// named.
func valuesRows(sel *ast.SelectStmt, cols []string) [][]*freshsql.Value {
	if cols == nil || sel.With != nil || len(sel.Cores) != 1 {
		return nil
	}
	vc, ok := sel.Cores[0].(*ast.ValuesClause)
	if !ok || vc == nil {
		return nil
	}
	rows := make([][]*freshsql.Value, 0, len(vc.Rows))
	for _, row := range vc.Rows {
		if len(row) != len(cols) {
			return nil
		}
		vals := make([]*freshsql.Value, len(row))
		for i, e := range row {
			vals[i] = valuePtr(e)
		}
		rows = append(rows, vals)
	}
	return rows
}

// assigns converts an UPDATE's (or upsert's) SET list.
func assigns(set []*ast.SetPair) []freshsql.Assign {
	var out []freshsql.Assign
	for _, p := range set {
		if p == nil {
			continue
		}
		vec, isVec := unparen(p.Value).(*ast.VectorExpr)
		for i, c := range p.Columns {
			a := freshsql.Assign{Column: identName(c)}
			switch {
			case len(p.Columns) == 1:
				a.Value = valuePtr(p.Value)
			case isVec && vec != nil && len(vec.List) == len(p.Columns):
				a.Value = valuePtr(vec.List[i])
			}
			out = append(out, a)
		}
	}
	return out
}

// target returns the occurrence of an UPDATE's or DELETE's target table.
func target(qn *ast.QualifiedName, alias *ast.Ident) occ {
	o := occ{exposed: identName(alias), read: targetOcc}
	if o.exposed == "" && qn != nil {
		o.exposed = identName(qn.Name)
	}
	return o
}

// update analyses UPDATE, including UPDATE ... FROM.
func (s *state) update(n *ast.UpdateStmt) {
	sc := s.withScope(n.With, nil, true)
	w := freshsql.Write{Op: freshsql.OpUpdate, Table: s.writeTarget(n.Table), Set: assigns(n.Set)}
	occs := append([]occ{target(n.Table, n.Alias)}, s.from(n.From, sc, true, nil)...)
	if n.Where != nil {
		s.targetWhere = &w.Where
		r := &resolver{occs: occs, trusted: true}
		for _, term := range conjuncts(n.Where, nil) {
			s.conds(term, r, func(i int) bool { return i == 0 })
		}
		s.targetWhere = nil
	}
	for _, p := range n.Set {
		if p != nil {
			s.walk(p.Value, sc)
		}
	}
	s.walk(n.Where, sc)
	s.returning(n.Returning, sc)
	for _, o := range n.OrderBy {
		s.walkNode(o, sc)
	}
	s.walkNode(n.Limit, sc)
	if w.Table == "" {
		return
	}
	s.out.Writes = append(s.out.Writes, w)
	if n.OrConflict == ast.ConflictReplace {
		// A row that conflicts with an updated one is deleted, whatever
		// the WHERE clause says.
		s.out.Writes = append(s.out.Writes, freshsql.Write{Op: freshsql.OpDelete, Table: w.Table})
	}
}

// delete analyses DELETE.
func (s *state) delete(n *ast.DeleteStmt) {
	sc := s.withScope(n.With, nil, true)
	w := freshsql.Write{Op: freshsql.OpDelete, Table: s.writeTarget(n.Table)}
	if n.Where != nil {
		s.targetWhere = &w.Where
		r := &resolver{occs: []occ{target(n.Table, n.Alias)}, trusted: true}
		for _, term := range conjuncts(n.Where, nil) {
			s.conds(term, r, func(int) bool { return true })
		}
		s.targetWhere = nil
	}
	s.walk(n.Where, sc)
	s.returning(n.Returning, sc)
	for _, o := range n.OrderBy {
		s.walkNode(o, sc)
	}
	s.walkNode(n.Limit, sc)
	if w.Table != "" {
		s.out.Writes = append(s.out.Writes, w)
	}
}
