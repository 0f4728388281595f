package mysql

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/freshcache/fresh/freshsql"
)

// maxScopes bounds how deeply queries may nest (subqueries, CTEs, derived
// tables) before the text is rejected; with maxDepth it bounds the stack.
const maxScopes = 64

// state is the analysis of one statement. It writes into out, which several
// statements of one text share.
type state struct {
	a   *Analyzer
	out *freshsql.Analysis
	// params reports whether the parser's ":vN" numbers are the server's "?"
	// positions; when false a parameter is an opaque expression.
	params bool
	// precise is false when no condition or written value may be reported
	// (see lexInfo).
	precise bool
	depth   int
	tooDeep bool
}

// env is the chain of WITH lists in scope: a table name without a database
// qualifier that is one of them names a CTE, never a table. Names compare
// exactly: treating a CTE as a table only adds a dependency, while treating a
// table as a CTE would lose one.
type env struct {
	parent *env
	names  map[string]bool
}

func (e *env) isCTE(name string) bool {
	for ; e != nil; e = e.parent {
		if e.names[name] {
			return true
		}
	}
	return false
}

func (s *state) uncacheable(format string, args ...any) {
	if s.out.Uncacheable == "" {
		s.out.Uncacheable = fmt.Sprintf(format, args...)
	}
}

func (s *state) unknown(format string, args ...any) {
	if s.out.Unknown == "" {
		s.out.Unknown = fmt.Sprintf(format, args...)
	}
	s.uncacheable(format, args...)
}

// visit walks node: a nested query is analysed as a scope of its own, which
// may refer to the columns of the enclosing ones; function calls, variables
// and expressions the analyser does not know are classified.
func (s *state) visit(node any, e *env) {
	if node == nil {
		return
	}
	if !walkNodes(reflect.ValueOf(node), 0, s.visitor(e)) {
		s.tooDeep = true
	}
}

// visitFields visits the fields of the struct node points to, except skip.
func (s *state) visitFields(node any, e *env, skip ...string) {
	if !walkFields(reflect.ValueOf(node), s.visitor(e), skip...) {
		s.tooDeep = true
	}
}

// visitChildren visits what node holds, not node itself.
func (s *state) visitChildren(node any, e *env) {
	if !walkChildren(reflect.ValueOf(node), 0, s.visitor(e)) {
		s.tooDeep = true
	}
}

func (s *state) visitor(e *env) func(sqlparser.SQLNode) bool {
	return func(n sqlparser.SQLNode) bool {
		if s.tooDeep {
			return false
		}
		switch n := n.(type) {
		case sqlparser.SelectStatement:
			s.selectStmt(n, e, true)
			return false
		case *sqlparser.Subquery:
			s.selectStmt(n.Select, e, true)
			return false
		case sqlparser.TableExprs:
			s.from(n, e, true)
			return false
		case sqlparser.TableExpr:
			s.from(sqlparser.TableExprs{n}, e, true)
			return false
		case *sqlparser.With:
			s.with(n, e, true)
			return false
		case *sqlparser.FuncExpr:
			s.function(n)
			return true
		case *sqlparser.ColName:
			if strings.HasPrefix(n.Name.String(), "@") {
				s.uncacheable("reads the variable %s", n.Name.String())
			}
			return false
		case sqlparser.Nextval, *sqlparser.Nextval:
			s.unknown("NEXT VALUE FOR advances a sequence")
			return true
		case sqlparser.Statement:
			s.unknown("statement %T nested in an expression", n)
			return false
		case *sqlparser.AndExpr, *sqlparser.OrExpr, *sqlparser.XorExpr, *sqlparser.NotExpr,
			*sqlparser.ParenExpr, *sqlparser.ComparisonExpr, *sqlparser.RangeCond, *sqlparser.IsExpr,
			*sqlparser.ExistsExpr, *sqlparser.SQLVal, *sqlparser.NullVal, sqlparser.BoolVal,
			sqlparser.ValTuple, *sqlparser.BinaryExpr, *sqlparser.UnaryExpr, *sqlparser.IntervalExpr,
			*sqlparser.CollateExpr, *sqlparser.TimestampFuncExpr, *sqlparser.ExtractFuncExpr,
			*sqlparser.CaseExpr, *sqlparser.ValuesFuncExpr, *sqlparser.ConvertExpr,
			*sqlparser.SubstrExpr, *sqlparser.TrimExpr, *sqlparser.ConvertUsingExpr,
			*sqlparser.CharExpr, *sqlparser.MatchExpr, *sqlparser.GroupConcatExpr, *sqlparser.Default:
			return true
		case sqlparser.Expr:
			s.unknown("expression %T not understood", n)
			return true
		}
		return true
	}
}
