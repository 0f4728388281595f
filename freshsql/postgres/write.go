package postgres

import (
	"github.com/freshcache/fresh/freshsql"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// target names a write's target table. The target of INSERT, UPDATE, DELETE
// and MERGE is always a table, never a CTE of the same name.
func (w *walker) target(rv *pg.RangeVar) string {
	if systemRelation(rv) != "" {
		w.unknown("writes a system catalog or temporary table (" + rv.GetRelname() + ")")
	}
	return rv.GetRelname()
}

func targetOcc(rv *pg.RangeVar) occ {
	name := rv.GetRelname()
	if rv.GetAlias() != nil {
		name = rv.GetAlias().GetAliasname()
	}
	return occ{read: -1, target: true, name: name}
}

// returning walks a RETURNING list; a top-level statement with one returns
// rows.
func (w *walker) returning(list []*pg.Node, sc *scope, top bool) {
	w.nodes(list, sc)
	if top && len(list) > 0 {
		w.res.Returns = true
	}
}

// insert walks INSERT. Rows are reported for VALUES lists under a column
// list; INSERT ... SELECT, DEFAULT VALUES and a VALUES list without column
// names give nil Rows.
func (w *walker) insert(s *pg.InsertStmt, sc *scope, outer, top bool) {
	sc = w.with(s.GetWithClause(), sc, outer)
	wr := freshsql.Write{Op: freshsql.OpInsert, Table: w.target(s.GetRelation())}
	var indirect []bool
	for _, c := range s.GetCols() {
		rt := c.GetResTarget()
		wr.Columns = append(wr.Columns, rt.GetName())
		indirect = append(indirect, len(rt.GetIndirection()) > 0)
	}
	sel := s.GetSelectStmt().GetSelectStmt()
	if len(wr.Columns) > 0 && plainValues(sel) {
		for _, row := range sel.GetValuesLists() {
			items := row.GetList().GetItems()
			if len(items) != len(wr.Columns) {
				wr.Rows = nil
				break
			}
			vals := make([]*freshsql.Value, len(items))
			for i, it := range items {
				if !indirect[i] {
					vals[i] = rowValue(it)
				}
			}
			wr.Rows = append(wr.Rows, vals)
		}
	}
	if sel != nil {
		w.selectStmt(sel, sc, outer)
	} else {
		w.node(s.GetSelectStmt(), sc)
	}
	if oc := s.GetOnConflictClause(); oc != nil {
		wr.Upsert = oc.GetAction() == pg.OnConflictAction_ONCONFLICT_UPDATE
		w.children(oc, sc)
	}
	w.returning(s.GetReturningList(), sc, top)
	w.res.Writes = append(w.res.Writes, wr)
}

// plainValues reports a bare VALUES list.
func plainValues(s *pg.SelectStmt) bool {
	return s != nil && len(s.GetValuesLists()) > 0 && s.GetWithClause() == nil &&
		len(s.GetSortClause()) == 0 && s.GetLimitCount() == nil && s.GetLimitOffset() == nil &&
		s.GetLarg() == nil && s.GetRarg() == nil
}

// update walks UPDATE: Where from its WHERE clause, Set from its SET list,
// reads from its FROM list.
func (w *walker) update(s *pg.UpdateStmt, sc *scope, outer, top bool) {
	sc = w.with(s.GetWithClause(), sc, outer)
	wr := freshsql.Write{Op: freshsql.OpUpdate, Table: w.target(s.GetRelation())}
	ns := append([]occ{targetOcc(s.GetRelation())}, w.fromList(s.GetFromClause(), sc, outer)...)
	w.node(s.GetWhereClause(), sc)
	w.conds(s.GetWhereClause(), ns, notNullable, !outer, &wr.Where)
	for _, t := range s.GetTargetList() {
		rt := t.GetResTarget()
		if rt == nil {
			continue
		}
		a := freshsql.Assign{Column: rt.GetName()}
		if len(rt.GetIndirection()) == 0 && rt.GetVal().GetMultiAssignRef() == nil {
			a.Value = rowValue(rt.GetVal())
		}
		wr.Set = append(wr.Set, a)
	}
	w.nodes(s.GetTargetList(), sc)
	w.returning(s.GetReturningList(), sc, top)
	w.res.Writes = append(w.res.Writes, wr)
}

// delete walks DELETE: Where from its WHERE clause, reads from USING.
func (w *walker) delete(s *pg.DeleteStmt, sc *scope, outer, top bool) {
	sc = w.with(s.GetWithClause(), sc, outer)
	wr := freshsql.Write{Op: freshsql.OpDelete, Table: w.target(s.GetRelation())}
	ns := append([]occ{targetOcc(s.GetRelation())}, w.fromList(s.GetUsingClause(), sc, outer)...)
	w.node(s.GetWhereClause(), sc)
	w.conds(s.GetWhereClause(), ns, notNullable, !outer, &wr.Where)
	w.returning(s.GetReturningList(), sc, top)
	w.res.Writes = append(w.res.Writes, wr)
}

// merge walks MERGE conservatively: the target may gain, change and lose
// any rows.
func (w *walker) merge(s *pg.MergeStmt, sc *scope, outer, top bool) {
	sc = w.with(s.GetWithClause(), sc, outer)
	table := w.target(s.GetRelation())
	w.fromItem(s.GetSourceRelation(), sc, outer, false)
	w.node(s.GetJoinCondition(), sc)
	w.nodes(s.GetMergeWhenClauses(), sc)
	w.returning(s.GetReturningList(), sc, top)
	w.res.Writes = append(w.res.Writes,
		freshsql.Write{Op: freshsql.OpInsert, Table: table, Upsert: true},
		freshsql.Write{Op: freshsql.OpUpdate, Table: table},
		freshsql.Write{Op: freshsql.OpDelete, Table: table},
	)
}

// truncate walks TRUNCATE. CASCADE also empties every table with a foreign
// key to the named ones, whatever its ON DELETE action, which the catalog's
// Effects do not list: the text is Unknown too.
func (w *walker) truncate(s *pg.TruncateStmt) {
	for _, r := range s.GetRelations() {
		if rv := r.GetRangeVar(); rv != nil {
			w.res.Writes = append(w.res.Writes, freshsql.Write{Op: freshsql.OpTruncate, Table: w.target(rv)})
		}
	}
	if s.GetBehavior() == pg.DropBehavior_DROP_CASCADE {
		w.unknown("TRUNCATE ... CASCADE empties the tables that reference these too")
	}
}
