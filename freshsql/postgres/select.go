package postgres

import (
	"github.com/freshcache/fresh/freshsql"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// occ is one item of a FROM list as WHERE and ON clauses see it.
type occ struct {
	// read is the index of the item's Read, or -1 when it is not a base table
	// read (a CTE, a subquery, a function, a write's target).
	read int
	// target marks the table a write changes: its conditions go to the
	// write's Where.
	target bool
	// name is what qualifies the item's columns: its alias, else its table's
	// name; "" when nothing can (an item inside an aliased join).
	name string
	// nullable marks an item on the nullable side of an outer join.
	nullable bool
}

// selectStmt walks a SELECT (or VALUES, or a set operation). outer reports
// that the SELECT is a subquery that may refer to columns of an enclosing
// query, so that an unqualified column may not be this SELECT's own.
func (w *walker) selectStmt(s *pg.SelectStmt, sc *scope, outer bool) {
	if s == nil {
		return
	}
	sc = w.with(s.GetWithClause(), sc, outer)
	if s.GetIntoClause() != nil {
		// SELECT INTO creates a table.
		w.schemaWrite(s.GetIntoClause().GetRel())
		w.children(s.GetIntoClause(), sc, "rel")
	}
	if s.GetLarg() != nil || s.GetRarg() != nil {
		w.selectStmt(s.GetLarg(), sc, outer)
		w.selectStmt(s.GetRarg(), sc, outer)
	}
	occs := w.fromList(s.GetFromClause(), sc, outer)
	w.node(s.GetWhereClause(), sc)
	w.conds(s.GetWhereClause(), occs, notNullable, !outer, nil)
	// Everything else: the target list, GROUP BY, HAVING (walked, never a
	// source of conditions), WINDOW, VALUES, ORDER BY, LIMIT, locking.
	w.children(s, sc, "with_clause", "into_clause", "larg", "rarg", "from_clause", "where_clause")
}

func notNullable(o occ) bool { return !o.nullable }

// fromList walks a FROM list (or USING list) and returns its items.
func (w *walker) fromList(items []*pg.Node, sc *scope, outer bool) []occ {
	var occs []occ
	for _, it := range items {
		occs = append(occs, w.fromItem(it, sc, outer, false)...)
	}
	return occs
}

// fromItem walks one FROM item. nullable marks an item on the nullable side
// of an outer join.
func (w *walker) fromItem(n *pg.Node, sc *scope, outer, nullable bool) []occ {
	switch {
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		idx := w.readTable(rv, sc)
		name := rv.GetRelname()
		if rv.GetAlias() != nil {
			name = rv.GetAlias().GetAliasname()
		}
		return []occ{{read: idx, name: name, nullable: nullable}}
	case n.GetRangeSubselect() != nil:
		rs := n.GetRangeSubselect()
		if sub := rs.GetSubquery().GetSelectStmt(); sub != nil {
			w.selectStmt(sub, sc, outer || rs.GetLateral())
		} else {
			w.node(rs.GetSubquery(), sc)
		}
		return []occ{{read: -1, name: rs.GetAlias().GetAliasname(), nullable: nullable}}
	case n.GetJoinExpr() != nil:
		return w.join(n.GetJoinExpr(), sc, outer, nullable)
	default:
		// A function in FROM, ROWS FROM, XMLTABLE, JSON_TABLE, TABLESAMPLE:
		// walked whole; a table inside is read without conditions.
		w.node(n, sc)
		return []occ{{read: -1, nullable: nullable}}
	}
}

// join walks a JoinExpr. The conditions of its ON clause pin the items whose
// rows failing them cannot reach the result: both sides of an inner join, the
// nullable side of a left or right join, neither side of a full join.
func (w *walker) join(j *pg.JoinExpr, sc *scope, outer, nullable bool) []occ {
	jt := j.GetJointype()
	left := w.fromItem(j.GetLarg(), sc, outer, nullable || jt == pg.JoinType_JOIN_RIGHT || jt == pg.JoinType_JOIN_FULL)
	right := w.fromItem(j.GetRarg(), sc, outer, nullable || jt == pg.JoinType_JOIN_LEFT || jt == pg.JoinType_JOIN_FULL)
	all := append(append([]occ(nil), left...), right...)
	if q := j.GetQuals(); q != nil {
		w.node(q, sc)
		inLeft := len(left)
		pick := func(i int) bool {
			switch jt {
			case pg.JoinType_JOIN_INNER:
				return true
			case pg.JoinType_JOIN_LEFT:
				return i >= inLeft
			case pg.JoinType_JOIN_RIGHT:
				return i < inLeft
			}
			return false
		}
		w.condsAt(q, all, pick, false, nil)
	}
	w.children(j, sc, "larg", "rarg", "quals")
	if j.GetAlias() != nil {
		// An aliased join hides its items' names.
		for i := range all {
			all[i].name = ""
		}
	}
	return all
}

// conds adds the conditions of where to the items of ns that pick accepts.
// unqualified allows a column without a qualifier to resolve to the only item
// of ns. Conditions on a write's target go to *where.
func (w *walker) conds(where *pg.Node, ns []occ, pick func(occ) bool, unqualified bool, target *[]freshsql.Cond) {
	w.condsAt(where, ns, func(i int) bool { return pick(ns[i]) }, unqualified, target)
}

func (w *walker) condsAt(where *pg.Node, ns []occ, pick func(int) bool, unqualified bool, target *[]freshsql.Cond) {
	if where == nil {
		return
	}
	for _, term := range conjuncts(where, nil) {
		col, c, ok := condOf(term)
		if !ok {
			continue
		}
		i := resolve(col, ns, unqualified)
		if i < 0 || !pick(i) {
			continue
		}
		c.Column = col[len(col)-1]
		switch {
		case ns[i].target && target != nil:
			*target = append(*target, c)
		case ns[i].read >= 0:
			r := &w.res.Reads[ns[i].read]
			r.Conds = append(r.Conds, c)
		}
	}
}

// conjuncts flattens the top-level ANDs of e.
func conjuncts(e *pg.Node, out []*pg.Node) []*pg.Node {
	if b := e.GetBoolExpr(); b != nil && b.GetBoolop() == pg.BoolExprType_AND_EXPR {
		for _, a := range b.GetArgs() {
			out = conjuncts(a, out)
		}
		return out
	}
	return append(out, e)
}

// resolve returns the index in ns of the item a column reference's qualifier
// names, or -1. A column with no qualifier resolves only when unqualified is
// set and ns has one item; a qualifier must name exactly one item.
func resolve(col []string, ns []occ, unqualified bool) int {
	switch len(col) {
	case 1:
		if unqualified && len(ns) == 1 {
			return 0
		}
	case 2:
		found := -1
		for i, o := range ns {
			if o.name != "" && o.name == col[0] {
				if found >= 0 {
					return -1
				}
				found = i
			}
		}
		return found
	}
	return -1
}

// condOf recognises col = v, v = col and col IN (v, ...) where each v is a
// literal or a parameter. It returns the column's name parts.
func condOf(e *pg.Node) ([]string, freshsql.Cond, bool) {
	x := e.GetAExpr()
	if x == nil {
		return nil, freshsql.Cond{}, false
	}
	name := stringList(x.GetName())
	if len(name) != 1 || name[0] != "=" {
		return nil, freshsql.Cond{}, false
	}
	switch x.GetKind() {
	case pg.A_Expr_Kind_AEXPR_OP:
		l, r := x.GetLexpr(), x.GetRexpr()
		if col := columnRef(l); col != nil {
			if v, ok := value(r); ok {
				return col, freshsql.Cond{Values: []freshsql.Value{v}}, true
			}
			return nil, freshsql.Cond{}, false
		}
		if col := columnRef(r); col != nil {
			if v, ok := value(l); ok {
				return col, freshsql.Cond{Values: []freshsql.Value{v}}, true
			}
		}
	case pg.A_Expr_Kind_AEXPR_IN:
		col := columnRef(x.GetLexpr())
		list := x.GetRexpr().GetList()
		if col == nil || list == nil {
			return nil, freshsql.Cond{}, false
		}
		var vs []freshsql.Value
		for _, it := range list.GetItems() {
			if isNull(it) {
				continue // NULL matches no row.
			}
			v, ok := value(it)
			if !ok {
				return nil, freshsql.Cond{}, false
			}
			vs = append(vs, v)
		}
		if len(vs) > 0 {
			return col, freshsql.Cond{Values: vs}, true
		}
	}
	return nil, freshsql.Cond{}, false
}

// columnRef returns the name parts of a plain column reference, or nil.
func columnRef(n *pg.Node) []string {
	c := n.GetColumnRef()
	if c == nil {
		return nil
	}
	parts := make([]string, 0, len(c.GetFields()))
	for _, f := range c.GetFields() {
		s := f.GetString_()
		if s == nil {
			return nil // t.*
		}
		parts = append(parts, s.GetSval())
	}
	if len(parts) == 0 {
		return nil
	}
	return parts
}
