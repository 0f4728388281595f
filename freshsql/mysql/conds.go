package mysql

import (
	"slices"
	"strconv"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/freshcache/fresh/freshsql"
)

// readConds attaches the conditions of expr to the Reads of the leaves in
// targets. leaves is the whole FROM list of the query block, against which
// columns resolve.
func (s *state) readConds(expr sqlparser.Expr, leaves, targets []*leaf, corr bool) {
	if !s.precise || len(targets) == 0 {
		return
	}
	for _, c := range conjuncts(expr, nil) {
		col, vals, ok := s.condOf(c)
		if !ok {
			continue
		}
		l := resolve(col, leaves, corr)
		if l == nil || l.read < 0 || !slices.Contains(targets, l) {
			continue
		}
		r := &s.out.Reads[l.read]
		r.Conds = append(r.Conds, freshsql.Cond{Column: strings.ToLower(col.Name.String()), Values: vals})
	}
}

// writeConds returns the conditions of a single-table UPDATE's or DELETE's
// WHERE clause on the table l.
func (s *state) writeConds(where *sqlparser.Where, l *leaf) []freshsql.Cond {
	if !s.precise || where == nil {
		return nil
	}
	var conds []freshsql.Cond
	leaves := []*leaf{l}
	for _, c := range conjuncts(where.Expr, nil) {
		col, vals, ok := s.condOf(c)
		if !ok || resolve(col, leaves, false) != l {
			continue
		}
		conds = append(conds, freshsql.Cond{Column: strings.ToLower(col.Name.String()), Values: vals})
	}
	return conds
}

// conjuncts appends to dst the top-level AND-ed terms of e.
func conjuncts(e sqlparser.Expr, dst []sqlparser.Expr) []sqlparser.Expr {
	switch x := e.(type) {
	case nil:
		return dst
	case *sqlparser.AndExpr:
		return conjuncts(x.Right, conjuncts(x.Left, dst))
	case *sqlparser.ParenExpr:
		return conjuncts(x.Expr, dst)
	default:
		return append(dst, e)
	}
}

// condOf recognises col = value, value = col, col <=> value and
// col IN (value, ...), where every value is an integer literal or a
// parameter. A NULL in an IN list is dropped (it matches no row);
// col = NULL and col <=> NULL give no condition.
func (s *state) condOf(e sqlparser.Expr) (*sqlparser.ColName, []freshsql.Value, bool) {
	cmp, ok := e.(*sqlparser.ComparisonExpr)
	if !ok {
		return nil, nil, false
	}
	switch cmp.Operator {
	case sqlparser.EqualStr, sqlparser.NullSafeEqualStr:
		col, other := asColumn(cmp.Left), cmp.Right
		if col == nil {
			col, other = asColumn(cmp.Right), cmp.Left
		}
		if col == nil {
			return nil, nil, false
		}
		v, ok := s.condValue(other)
		if !ok {
			return nil, nil, false
		}
		return col, []freshsql.Value{v}, true
	case sqlparser.InStr:
		col := asColumn(cmp.Left)
		tuple, ok := cmp.Right.(sqlparser.ValTuple)
		if col == nil || !ok {
			return nil, nil, false
		}
		vals := make([]freshsql.Value, 0, len(tuple))
		for _, x := range tuple {
			if _, null := x.(*sqlparser.NullVal); null {
				continue
			}
			v, ok := s.condValue(x)
			if !ok {
				return nil, nil, false
			}
			vals = append(vals, v)
		}
		if len(vals) == 0 {
			return nil, nil, false
		}
		return col, vals, true
	}
	return nil, nil, false
}

// asColumn returns e as a plain column reference, or nil.
func asColumn(e sqlparser.Expr) *sqlparser.ColName {
	for {
		p, ok := e.(*sqlparser.ParenExpr)
		if !ok {
			break
		}
		e = p.Expr
	}
	c, ok := e.(*sqlparser.ColName)
	if !ok || c.StoredProcVal != nil || strings.HasPrefix(c.Name.String(), "@") || c.Name.IsEmpty() {
		return nil
	}
	return c
}

// resolve finds the leaf a column belongs to: the one its qualifier names
// (exactly one, compared case-insensitively), or, for an unqualified column,
// the only leaf of a FROM list that cannot see an enclosing query's columns.
func resolve(col *sqlparser.ColName, leaves []*leaf, corr bool) *leaf {
	q := col.Qualifier.Name.String()
	if q == "" {
		if corr || len(leaves) != 1 {
			return nil
		}
		return leaves[0]
	}
	var found *leaf
	for _, l := range leaves {
		if strings.EqualFold(l.name, q) {
			if found != nil {
				return nil
			}
			found = l
		}
	}
	return found
}

// condValue converts a condition's value: an integer literal (TRUE and FALSE
// are 1 and 0 in MySQL) or a parameter. Strings compare under collations,
// and decimal, float, hex and bit literals under conversions, that a wrapper
// cannot mirror, so they are never condition values.
func (s *state) condValue(e sqlparser.Expr) (freshsql.Value, bool) {
	for {
		p, ok := e.(*sqlparser.ParenExpr)
		if !ok {
			break
		}
		e = p.Expr
	}
	switch x := e.(type) {
	case *sqlparser.SQLVal:
		switch x.Type {
		case sqlparser.IntVal:
			i, err := strconv.ParseInt(string(x.Val), 10, 64)
			if err != nil {
				return freshsql.Value{}, false
			}
			return freshsql.Value{Literal: i}, true
		case sqlparser.ValArg:
			return s.param(x)
		}
	case sqlparser.BoolVal:
		if x {
			return freshsql.Value{Literal: int64(1)}, true
		}
		return freshsql.Value{Literal: int64(0)}, true
	case *sqlparser.UnaryExpr:
		if v, ok := x.Expr.(*sqlparser.SQLVal); ok && x.Operator == sqlparser.UMinusStr && v.Type == sqlparser.IntVal {
			i, err := strconv.ParseInt("-"+string(v.Val), 10, 64)
			if err == nil {
				return freshsql.Value{Literal: i}, true
			}
		}
	}
	return freshsql.Value{}, false
}

// param converts a parameter, when the text's parameter numbers are reliable.
func (s *state) param(v *sqlparser.SQLVal) (freshsql.Value, bool) {
	if !s.params {
		return freshsql.Value{}, false
	}
	i, ok := paramIndex(v.Val)
	if !ok {
		return freshsql.Value{}, false
	}
	return freshsql.Value{Param: i}, true
}

// writtenValue converts a value an INSERT or an UPDATE writes: an integer or
// string literal, TRUE or FALSE, or a parameter. Anything else, NULL and
// decimal or float literals included (the column's type may round them), is
// nil.
func (s *state) writtenValue(e sqlparser.Expr) *freshsql.Value {
	if !s.precise {
		return nil
	}
	if x, ok := e.(*sqlparser.SQLVal); ok && x.Type == sqlparser.StrVal {
		return &freshsql.Value{Literal: string(x.Val)}
	}
	v, ok := s.condValue(e)
	if !ok {
		return nil
	}
	return &v
}
