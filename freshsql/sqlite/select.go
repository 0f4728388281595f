package sqlite

import (
	"github.com/sqlc-dev/meyer/ast"
)

// occ is one item of a FROM list (or the target of an UPDATE or DELETE), as
// seen by column resolution.
type occ struct {
	exposed  string // the alias, or the table name when there is none
	read     int    // index in Reads; targetOcc for a write's target; -1 when no base table
	nullable bool   // on the nullable side of an outer join
	nested   bool   // inside a parenthesised join: visible, but never given conditions
}

// targetOcc marks the occurrence of an UPDATE's or DELETE's target table: its
// conditions go to the write's Where.
const targetOcc = -2

// withScope analyses the bodies of a WITH list and returns the scope in which
// its names are CTEs. The whole list is in scope for each body, as in SQLite.
func (s *state) withScope(w *ast.With, sc *scope, trusted bool) *scope {
	if w == nil {
		return sc
	}
	inner := &scope{parent: sc, ctes: make(map[string]bool, len(w.CTEs))}
	for _, c := range w.CTEs {
		if c != nil {
			inner.ctes[identName(c.Name)] = true
		}
	}
	for _, c := range w.CTEs {
		if c != nil && c.Select != nil {
			s.selectStmt(c.Select, inner, trusted)
		}
	}
	return inner
}

// selectStmt analyses a (possibly compound) SELECT. trusted is false for a
// SELECT nested inside an expression, where an unqualified column may belong
// to an outer query: such a SELECT resolves only qualified columns.
func (s *state) selectStmt(sel *ast.SelectStmt, sc *scope, trusted bool) {
	if sel == nil {
		return
	}
	sc = s.withScope(sel.With, sc, trusted)
	for _, core := range sel.Cores {
		s.selectCore(core, sc, trusted)
	}
}

// selectCore analyses one term of a compound select.
func (s *state) selectCore(core ast.SelectCore, sc *scope, trusted bool) {
	switch c := core.(type) {
	case nil:
	case *ast.SelectQuery:
		s.selectQuery(c, sc, trusted)
	case *ast.ValuesClause:
		for _, row := range c.Rows {
			for _, e := range row {
				s.walk(e, sc)
			}
		}
	default:
		s.unknown("unrecognised select term %T", core)
	}
}

// selectQuery analyses one SELECT ... FROM ... WHERE ... core.
func (s *state) selectQuery(q *ast.SelectQuery, sc *scope, trusted bool) {
	aliases := resultAliases(q.Columns)
	occs := s.from(q.From, sc, trusted, aliases)
	if q.Where != nil {
		r := &resolver{occs: occs, trusted: trusted, aliases: aliases}
		for _, term := range conjuncts(q.Where, nil) {
			s.conds(term, r, func(i int) bool { return !occs[i].nullable })
		}
	}
	for _, c := range q.Columns {
		if c != nil {
			s.walk(c.Expr, sc)
		}
	}
	s.walk(q.Where, sc)
	for _, e := range q.GroupBy {
		s.walk(e, sc)
	}
	s.walk(q.Having, sc)
	for _, w := range q.Windows {
		s.walkNode(w, sc)
	}
	for _, o := range q.OrderBy {
		s.walkNode(o, sc)
	}
	s.walkNode(q.Limit, sc)
}

// resultAliases returns the folded aliases of a select list: SQLite lets a
// WHERE clause name them when no table column has that name, so an
// unqualified column spelled like an alias is never resolved to a table. An
// alias that renames a column to its own name ("t.id AS id") is left out:
// either way the name means that column.
func resultAliases(cols []*ast.ResultColumn) map[string]bool {
	var m map[string]bool
	for _, c := range cols {
		if c == nil || c.Alias == nil {
			continue
		}
		alias := identName(c.Alias)
		if columnName(c.Expr) == alias {
			continue
		}
		if m == nil {
			m = make(map[string]bool)
		}
		m[alias] = true
	}
	return m
}

// columnName is the folded column name of a column reference, or "".
func columnName(e ast.Expr) string {
	switch c := unparen(e).(type) {
	case *ast.Ident:
		if c != nil && c.Quote != ast.QuoteSingle {
			return fold(c.Name)
		}
	case *ast.QualifiedRef:
		if c != nil && len(c.Parts) > 0 && c.Parts[len(c.Parts)-1] != nil {
			return fold(c.Parts[len(c.Parts)-1].Name)
		}
	}
	return ""
}

// from analyses a FROM list: it records the reads of its tables, analyses its
// subqueries and table-valued function arguments, and takes conditions from
// its ON clauses. It returns the list's occurrences: its own items first (in
// order), then the tables of parenthesised joins (marked nested).
func (s *state) from(list []*ast.TableRef, sc *scope, trusted bool, aliases map[string]bool) []occ {
	occs := make([]occ, len(list))
	var nested []occ
	for i, ref := range list {
		o := occ{read: -1}
		if ref == nil {
			occs[i] = o
			continue
		}
		o.exposed = identName(ref.Alias)
		switch {
		case ref.Name != nil:
			if o.exposed == "" {
				o.exposed = identName(ref.Name.Name)
			}
			o.read = s.source(ref.Name, ref.HasArgs, ref.Args, sc)
		case ref.Select != nil:
			s.selectStmt(ref.Select, sc, trusted)
		case len(ref.List) > 0:
			for _, n := range s.from(ref.List, sc, trusted, aliases) {
				n.nested, n.read = true, -1
				nested = append(nested, n)
			}
		}
		if ref.Join != nil {
			jt := ref.Join.Type
			if jt&ast.JoinLeft != 0 {
				o.nullable = true
			}
			if jt&ast.JoinRight != 0 {
				for j := range i {
					occs[j].nullable = true
				}
			}
		}
		occs[i] = o
	}
	occs = append(occs, nested...)
	all := occs
	r := &resolver{occs: all, trusted: trusted, aliases: aliases}
	for i, ref := range list {
		if ref == nil || ref.On == nil {
			continue
		}
		var jt ast.JoinType
		if ref.Join != nil {
			jt = ref.Join.Type
		}
		switch {
		case jt&ast.JoinRight != 0:
			// The left side is null-extended, the right side kept whole:
			// the ON clause filters neither.
		case jt&ast.JoinLeft != 0:
			// Rows of the joined table that fail ON never match.
			for _, term := range conjuncts(ref.On, nil) {
				s.conds(term, r, func(j int) bool { return j == i })
			}
		default:
			// An inner join's ON filters the joined table and every
			// earlier one that no outer join null-extends.
			for _, term := range conjuncts(ref.On, nil) {
				s.conds(term, r, func(j int) bool {
					return j == i || (j < i && !all[j].nullable)
				})
			}
		}
		s.walk(ref.On, sc)
	}
	return all
}

// source resolves a named FROM item (or the table of "x IN table"): a CTE in
// scope, a table-valued function, or a table. It returns the read's index, or
// -1 when it is not a base table.
func (s *state) source(qn *ast.QualifiedName, hasArgs bool, args []ast.Expr, sc *scope) int {
	if qn == nil || qn.Name == nil {
		return -1
	}
	name := identName(qn.Name)
	if hasArgs {
		s.tableFunc(name)
		for _, e := range args {
			s.walk(e, sc)
		}
		return -1
	}
	if qn.Schema == nil && sc.isCTE(name) {
		return -1
	}
	return s.readTable(qn)
}

// walkNode walks a node that may be a typed nil pointer.
func (s *state) walkNode(n ast.Node, sc *scope) {
	switch n := n.(type) {
	case *ast.WindowDef:
		if n == nil {
			return
		}
	case *ast.OrderingTerm:
		if n == nil {
			return
		}
	case *ast.Limit:
		if n == nil {
			return
		}
	}
	s.walk(n, sc)
}

// walk visits an expression (or any node below a SELECT core) for what it
// reads: subqueries (analysed as SELECTs nested in an expression), "x IN
// table", function calls and the CURRENT_* literals. Every node it does not
// know is visited through its children, so no subquery is missed.
func (s *state) walk(n ast.Node, sc *scope) {
	switch n := n.(type) {
	case nil:
		return
	case *ast.SelectStmt:
		if n != nil {
			s.selectStmt(n, sc, false)
		}
		return
	case *ast.TableRef:
		if n != nil {
			s.from([]*ast.TableRef{n}, sc, false, nil)
		}
		return
	case ast.SelectCore:
		s.selectCore(n, sc, false)
		return
	case *ast.Literal:
		if n != nil {
			switch n.Kind {
			case ast.LitCurrentDate, ast.LitCurrentTime, ast.LitCurrentTimestamp:
				s.uncacheable("uses %s", n.Raw)
			}
		}
		return
	case *ast.FuncCall:
		if n != nil && n.Name != nil {
			s.funcCall(identName(n.Name), n.Args)
		}
	case *ast.LikeExpr:
		if n != nil && n.Op != nil {
			s.likeOp(identName(n.Op))
		}
	case *ast.InExpr:
		if n != nil && n.Table != nil {
			s.source(n.Table, n.HasArgs, n.Args, sc)
			s.walk(n.X, sc)
			return
		}
	}
	if isNilNode(n) {
		return
	}
	for _, c := range n.Children() {
		s.walk(c, sc)
	}
}
