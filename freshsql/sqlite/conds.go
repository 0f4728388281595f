package sqlite

import (
	"encoding/hex"
	"reflect"
	"strconv"
	"strings"

	"github.com/freshcache/fresh/freshsql"
	"github.com/sqlc-dev/meyer/ast"
)

// resolver binds column references to the occurrences of one FROM list.
type resolver struct {
	occs    []occ
	trusted bool            // unqualified names may be resolved (no outer query)
	aliases map[string]bool // result aliases: unqualified names never resolved
}

// column resolves e to an occurrence's column, returning the occurrence's
// index and the folded column name. It fails for anything but a column that
// names exactly one occurrence.
func (r *resolver) column(e ast.Expr) (int, string, bool) {
	switch c := unparen(e).(type) {
	case *ast.Ident:
		if c == nil || !r.trusted || c.Quote == ast.QuoteSingle {
			return 0, "", false
		}
		name := fold(c.Name)
		if r.aliases[name] {
			return 0, "", false
		}
		only, top := -1, 0
		for i, o := range r.occs {
			if !o.nested {
				top++
				only = i
			}
		}
		if top != 1 {
			return 0, "", false
		}
		return only, name, true
	case *ast.QualifiedRef:
		if c == nil || len(c.Parts) != 2 || c.Parts[0] == nil || c.Parts[1] == nil {
			return 0, "", false
		}
		q := fold(c.Parts[0].Name)
		found := -1
		for i, o := range r.occs {
			if o.exposed == q {
				if found >= 0 {
					return 0, "", false // ambiguous
				}
				found = i
			}
		}
		if found < 0 {
			return 0, "", false
		}
		return found, fold(c.Parts[1].Name), true
	}
	return 0, "", false
}

// conjuncts appends the top-level AND terms of e to out.
func conjuncts(e ast.Expr, out []ast.Expr) []ast.Expr {
	e = unparen(e)
	if b, ok := e.(*ast.BinaryExpr); ok && b != nil && b.Op == ast.OpAnd {
		return conjuncts(b.Y, conjuncts(b.X, out))
	}
	if isNilNode(e) {
		return out
	}
	return append(out, e)
}

// unparen strips redundant parentheses.
func unparen(e ast.Expr) ast.Expr {
	for {
		p, ok := e.(*ast.ParenExpr)
		if !ok || p == nil {
			return e
		}
		e = p.X
	}
}

// conds records the conditions one AND term puts on the occurrences of r
// that allowed accepts: column = value, value = column, column IN (values),
// and their row-value forms.
func (s *state) conds(term ast.Expr, r *resolver, allowed func(int) bool) {
	switch t := term.(type) {
	case *ast.BinaryExpr:
		if t == nil || t.Op != ast.OpEq {
			return
		}
		xv, xok := unparen(t.X).(*ast.VectorExpr)
		yv, yok := unparen(t.Y).(*ast.VectorExpr)
		if xok && yok && xv != nil && yv != nil {
			if len(xv.List) == len(yv.List) {
				for k := range xv.List {
					s.eq(xv.List[k], yv.List[k], r, allowed)
				}
			}
			return
		}
		s.eq(t.X, t.Y, r, allowed)
	case *ast.InExpr:
		if t == nil || t.Not || t.Select != nil || t.Table != nil || len(t.List) == 0 {
			return
		}
		if xv, ok := unparen(t.X).(*ast.VectorExpr); ok && xv != nil {
			for k, x := range xv.List {
				col := make([]ast.Expr, 0, len(t.List))
				for _, row := range t.List {
					rv, ok := unparen(row).(*ast.VectorExpr)
					if !ok || rv == nil || len(rv.List) != len(xv.List) {
						return
					}
					col = append(col, rv.List[k])
				}
				s.in(x, col, r, allowed)
			}
			return
		}
		s.in(t.X, t.List, r, allowed)
	}
}

// eq records "x = y" when one side is a column and the other a value.
func (s *state) eq(x, y ast.Expr, r *resolver, allowed func(int) bool) {
	if !s.in(x, []ast.Expr{y}, r, allowed) {
		s.in(y, []ast.Expr{x}, r, allowed)
	}
}

// in records "x IN (list)" when x is a column and every element of list a
// value (NULLs, which match nothing, are dropped). It reports whether x was
// a column and every element a value or NULL.
func (s *state) in(x ast.Expr, list []ast.Expr, r *resolver, allowed func(int) bool) bool {
	i, col, ok := r.column(x)
	if !ok {
		return false
	}
	vals := make([]freshsql.Value, 0, len(list))
	for _, e := range list {
		v, isNull, ok := valueOf(e)
		if !ok {
			return false
		}
		if isNull {
			continue
		}
		// SQLite reads an unknown double-quoted name as a string: a
		// column compared with its own quoted name may be a constant.
		if id, ok := unparen(x).(*ast.Ident); ok && id.Quote == ast.QuoteDouble {
			if str, ok := v.Literal.(string); ok && v.Param == 0 && fold(str) == col {
				return true
			}
		}
		vals = append(vals, v)
	}
	if len(vals) == 0 || !allowed(i) {
		return true
	}
	cond := freshsql.Cond{Column: col, Values: vals}
	switch read := r.occs[i].read; {
	case read >= 0:
		s.out.Reads[read].Conds = append(s.out.Reads[read].Conds, cond)
	case read == targetOcc && s.targetWhere != nil:
		*s.targetWhere = append(*s.targetWhere, cond)
	}
	return true
}

// valueOf converts a literal or a bound parameter to a Value. isNull reports
// a NULL literal; ok is false for anything else (including a literal it
// cannot convert exactly).
func valueOf(e ast.Expr) (v freshsql.Value, isNull, ok bool) {
	switch n := unparen(e).(type) {
	case *ast.BindParam:
		if n == nil || n.Number <= 0 {
			return v, false, false
		}
		v.Param = n.Number
		switch n.Kind {
		case ast.ParamColon, ast.ParamAt, ast.ParamDollar:
			v.Name = n.Name
		}
		return v, false, true
	case *ast.Literal:
		if n == nil {
			return v, false, false
		}
		switch n.Kind {
		case ast.LitNull:
			return v, true, true
		case ast.LitString:
			v.Literal = n.Value
			return v, false, true
		case ast.LitBlob:
			raw := n.Value
			if len(raw) < 3 || raw[len(raw)-1] != '\'' {
				return v, false, false
			}
			b, err := hex.DecodeString(raw[2 : len(raw)-1])
			if err != nil {
				return v, false, false
			}
			v.Literal = b
			return v, false, true
		case ast.LitInteger, ast.LitFloat:
			lit, ok := number(n)
			v.Literal = lit
			return v, false, ok
		}
	case *ast.UnaryExpr:
		if n == nil || (n.Op != ast.OpMinus && n.Op != ast.OpPlus) {
			return v, false, false
		}
		lit, ok := unparen(n.X).(*ast.Literal)
		if !ok || lit == nil || (lit.Kind != ast.LitInteger && lit.Kind != ast.LitFloat) {
			return v, false, false
		}
		x, ok := number(lit)
		if !ok {
			return v, false, false
		}
		if n.Op == ast.OpMinus {
			switch x := x.(type) {
			case int64:
				if x == -x && x != 0 { // the minimum int64
					return v, false, false
				}
				v.Literal = -x
			case float64:
				v.Literal = -x
			}
		} else {
			v.Literal = x
		}
		return v, false, true
	}
	return v, false, false
}

// number converts a numeric literal to int64 or float64 as SQLite would, or
// fails when the conversion would not be exact (an integer out of range,
// which SQLite turns into a REAL).
func number(n *ast.Literal) (any, bool) {
	text := strings.ReplaceAll(n.Value, "_", "")
	if n.Kind == ast.LitInteger {
		if len(text) > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X') {
			u, err := strconv.ParseUint(text[2:], 16, 64)
			if err != nil {
				return nil, false
			}
			return int64(u), true
		}
		i, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, false
		}
		return i, true
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return nil, false
	}
	return f, true
}

// valuePtr is valueOf for an inserted or assigned value: nil for anything but
// a literal or a parameter, NULL included.
func valuePtr(e ast.Expr) *freshsql.Value {
	v, isNull, ok := valueOf(e)
	if !ok || isNull {
		return nil
	}
	return &v
}

// isNilNode reports whether n is nil or a typed nil pointer.
func isNilNode(n ast.Node) bool {
	if n == nil {
		return true
	}
	v := reflect.ValueOf(n)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
