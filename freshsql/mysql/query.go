package mysql

import (
	"slices"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/freshcache/fresh/freshsql"
)

// A query's FROM list is a tree of joins whose leaves are table occurrences.
// Conditions attach to leaves: those of a WHERE clause to the leaves that no
// outer join can null-extend ("strict"), those of an inner join's ON clause to
// the strict leaves below that join, and those of a LEFT (RIGHT) join's ON
// clause to its right (left) side when that side is one table.

// leaf is one item of a FROM list.
type leaf struct {
	// name is how columns qualify the item: its alias, else its table name.
	name string
	// read is the index of the item's Read, or -1 when it is not a base table
	// (a derived table, a CTE, JSON_TABLE, VALUES).
	read int
}

// onCond is a join's ON expression and the leaves its conditions may pin.
type onCond struct {
	expr    sqlparser.Expr
	targets []*leaf
}

// fromList is what the FROM list of one query block holds.
type fromList struct {
	leaves []*leaf
	strict []*leaf
	ons    []onCond
}

// selectStmt analyses a query. corr reports that it may refer to the columns
// of an enclosing query, so that an unqualified column may not be its own.
func (s *state) selectStmt(st sqlparser.SelectStatement, e *env, corr bool) {
	s.depth++
	defer func() { s.depth-- }()
	if s.depth > maxScopes {
		s.tooDeep = true
		return
	}
	switch n := st.(type) {
	case *sqlparser.Select:
		s.selectBlock(n, e, corr)
	case *sqlparser.SetOp:
		e = s.with(n.With, e, corr)
		s.lockAndInto(n.Lock, n.Into)
		s.selectStmt(n.Left, e, corr)
		s.selectStmt(n.Right, e, corr)
		s.visitFields(n, e, "With", "Left", "Right")
	case *sqlparser.ParenSelect:
		s.selectStmt(n.Select, e, corr)
	case nil:
	default:
		s.unknown("query %T not understood", st)
		s.visitChildren(st, e)
	}
}

func (s *state) selectBlock(n *sqlparser.Select, e *env, corr bool) {
	e = s.with(n.With, e, corr)
	s.lockAndInto(n.Lock, n.Into)
	if n.QueryOpts.SQLCalcFoundRows {
		s.uncacheable("SQL_CALC_FOUND_ROWS sets session state")
	}
	f := s.from(n.From, e, corr)
	s.visitFields(n, e, "With", "From")
	if n.Where != nil {
		s.readConds(n.Where.Expr, f.leaves, f.strict, corr)
	}
	for _, on := range f.ons {
		s.readConds(on.expr, f.leaves, on.targets, corr)
	}
}

func (s *state) lockAndInto(l *sqlparser.Lock, into *sqlparser.Into) {
	if l != nil && strings.TrimSpace(l.Type) != "" {
		s.uncacheable("locking read (%s)", strings.TrimSpace(l.Type))
	}
	if into != nil {
		s.uncacheable("SELECT ... INTO writes a file or variables")
	}
}

// with analyses a WITH list and returns the scope its query sees. Each CTE's
// body sees the CTEs before it, and itself when the list is RECURSIVE.
func (s *state) with(w *sqlparser.With, e *env, corr bool) *env {
	if w == nil || len(w.Ctes) == 0 {
		return e
	}
	inner := &env{parent: e, names: make(map[string]bool, len(w.Ctes))}
	for _, cte := range w.Ctes {
		if cte == nil || cte.AliasedTableExpr == nil {
			continue
		}
		name := cte.As.String()
		if w.Recursive {
			inner.names[name] = true
		}
		if sq, ok := cte.Expr.(*sqlparser.Subquery); ok {
			s.selectStmt(sq.Select, inner, corr)
		} else {
			s.unknown("CTE %s is not a query", name)
			s.visitChildren(cte.AliasedTableExpr, inner)
		}
		inner.names[name] = true
	}
	return inner
}

// from analyses a FROM list (or a multi-table UPDATE's or DELETE's).
func (s *state) from(exprs sqlparser.TableExprs, e *env, corr bool) fromList {
	var f fromList
	for _, te := range exprs {
		all, strict, ons := s.tableExpr(te, e, corr)
		f.leaves = append(f.leaves, all...)
		f.strict = append(f.strict, strict...)
		f.ons = append(f.ons, ons...)
	}
	return f
}

func (s *state) tableExpr(te sqlparser.TableExpr, e *env, corr bool) (all, strict []*leaf, ons []onCond) {
	switch t := te.(type) {
	case *sqlparser.AliasedTableExpr:
		l := s.aliased(t, e, corr)
		return []*leaf{l}, []*leaf{l}, nil
	case *sqlparser.ParenTableExpr:
		f := s.from(t.Exprs, e, corr)
		return f.leaves, f.strict, f.ons
	case *sqlparser.JoinTableExpr:
		la, ls, lo := s.tableExpr(t.LeftExpr, e, corr)
		ra, rs, ro := s.tableExpr(t.RightExpr, e, corr)
		all = slices.Concat(la, ra)
		ons = slices.Concat(lo, ro)
		s.visit(t.Condition, e)
		on := t.Condition.On
		switch strings.ToLower(t.Join) {
		case sqlparser.JoinStr, sqlparser.StraightJoinStr, sqlparser.NaturalJoinStr:
			strict = slices.Concat(ls, rs)
			if on != nil {
				ons = append(ons, onCond{expr: on, targets: strict})
			}
		case sqlparser.LeftJoinStr, sqlparser.NaturalLeftJoinStr:
			strict = ls
			if _, one := t.RightExpr.(*sqlparser.AliasedTableExpr); on != nil && one && len(ra) == 1 {
				ons = append(ons, onCond{expr: on, targets: ra})
			}
		case sqlparser.RightJoinStr, sqlparser.NaturalRightJoinStr:
			strict = rs
			if _, one := t.LeftExpr.(*sqlparser.AliasedTableExpr); on != nil && one && len(la) == 1 {
				ons = append(ons, onCond{expr: on, targets: la})
			}
		default:
			// FULL OUTER JOIN and anything new: no leaf is strict.
		}
		return all, strict, ons
	case *sqlparser.JSONTableExpr:
		s.visit(t.Data, e)
		s.visit(t.Spec, e)
		l := &leaf{name: t.Alias.String(), read: -1}
		return []*leaf{l}, []*leaf{l}, nil
	case sqlparser.TableFuncExpr:
		s.unknown("table function %s", t.Name)
		s.visit(t.Exprs, e)
		l := &leaf{name: t.Alias.String(), read: -1}
		return []*leaf{l}, []*leaf{l}, nil
	case *sqlparser.ValuesStatement:
		s.visit(t.Rows, e)
		l := &leaf{read: -1}
		return []*leaf{l}, []*leaf{l}, nil
	default:
		s.unknown("table expression %T not understood", te)
		s.visitChildren(te, e)
		return nil, nil, nil
	}
}

// aliased analyses one FROM item: a table, a CTE, a derived table.
func (s *state) aliased(t *sqlparser.AliasedTableExpr, e *env, corr bool) *leaf {
	if t.AsOf != nil {
		s.uncacheable("temporal read (AS OF / FOR SYSTEM_TIME)")
		s.visit(t.AsOf, e)
	}
	alias := t.As.String()
	switch x := t.Expr.(type) {
	case sqlparser.TableName:
		name := x.Name.String()
		if alias == "" {
			alias = name
		}
		if x.DbQualifier.IsEmpty() && e.isCTE(name) {
			return &leaf{name: alias, read: -1}
		}
		if db := x.DbQualifier.String(); systemSchema(db) {
			s.uncacheable("reads the system schema %s", db)
		}
		s.out.Reads = append(s.out.Reads, freshsql.Read{Table: name})
		return &leaf{name: alias, read: len(s.out.Reads) - 1}
	case *sqlparser.Subquery:
		// A derived table sees the enclosing query's columns only when it
		// is LATERAL (or, since MySQL 8.0.14, when the whole query is itself
		// correlated).
		s.selectStmt(x.Select, e, corr || t.Lateral)
	case *sqlparser.ValuesStatement:
		s.visit(x.Rows, e)
	default:
		s.unknown("FROM item %T not understood", t.Expr)
		s.visitChildren(t.Expr, e)
	}
	return &leaf{name: alias, read: -1}
}

// systemSchema reports whether db is one of the server's own schemas, whose
// contents change without any SQL text showing it.
func systemSchema(db string) bool {
	switch strings.ToLower(db) {
	case "information_schema", "mysql", "performance_schema", "sys":
		return true
	}
	return false
}
