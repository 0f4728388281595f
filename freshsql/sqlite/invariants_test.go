package sqlite

import (
	"errors"
	"reflect"
	"testing"

	"github.com/freshcache/fresh/freshsql"
	"github.com/sqlc-dev/meyer/ast"
	"github.com/sqlc-dev/meyer/parser"
)

// checkInvariants checks what must hold of any analysis, whatever the text:
// well-formed names, conditions and writes; a Session text that reports
// nothing else; and, by an independent walk of the syntax tree, that every
// table a query or write names is reported.
func checkInvariants(t *testing.T, sql string, a *freshsql.Analysis) {
	t.Helper()
	if a.Session && (len(a.Reads) > 0 || len(a.Writes) > 0 || a.Unknown != "" || a.Returns) {
		t.Errorf("%q: Session with other findings: %v", sql, render(a))
	}
	for _, r := range a.Reads {
		checkName(t, sql, "read", r.Table)
		checkConds(t, sql, r.Conds)
	}
	for _, w := range a.Writes {
		checkName(t, sql, "write", w.Table)
		if w.Op < freshsql.OpInsert || w.Op > freshsql.OpSchema {
			t.Errorf("%q: write op %d", sql, w.Op)
		}
		if w.Op != freshsql.OpInsert && (w.Columns != nil || w.Rows != nil || w.Upsert) {
			t.Errorf("%q: insert fields on op %d", sql, w.Op)
		}
		if w.Op != freshsql.OpUpdate && w.Set != nil {
			t.Errorf("%q: Set on op %d", sql, w.Op)
		}
		if w.Op != freshsql.OpUpdate && w.Op != freshsql.OpDelete && w.Where != nil {
			t.Errorf("%q: Where on op %d", sql, w.Op)
		}
		if w.Rows != nil && w.Columns == nil {
			t.Errorf("%q: Rows without Columns", sql)
		}
		for _, row := range w.Rows {
			if len(row) != len(w.Columns) {
				t.Errorf("%q: row of %d values for %d columns", sql, len(row), len(w.Columns))
			}
			for _, v := range row {
				if v != nil {
					checkValue(t, sql, *v)
				}
			}
		}
		for _, s := range w.Set {
			checkName(t, sql, "set column", s.Column)
			if s.Value != nil {
				checkValue(t, sql, *s.Value)
			}
		}
		checkConds(t, sql, w.Where)
	}

	stmts, err := parser.ParseString(sql)
	if err != nil {
		t.Errorf("%q analysed but does not parse: %v", sql, err)
		return
	}
	for _, w := range a.Writes {
		if w.ReturnAt == 0 {
			continue
		}
		if w.ReturnAt < 0 || w.ReturnAt > len(sql) || len(stmts) != 1 || len(a.Writes) != 1 {
			t.Errorf("%q: ReturnAt %d out of place", sql, w.ReturnAt)
			continue
		}
		with := sql[:w.ReturnAt] + " RETURNING *" + sql[w.ReturnAt:]
		st, err := parser.ParseStatement(with)
		switch n := st.(type) {
		case *ast.UpdateStmt:
			err = errorsIf(err, len(n.Returning) != 1)
		case *ast.DeleteStmt:
			err = errorsIf(err, len(n.Returning) != 1)
		default:
			err = errorsIf(err, true)
		}
		if err != nil {
			t.Errorf("%q with RETURNING at %d: %q: %v", sql, w.ReturnAt, with, err)
		}
	}
	if len(stmts) > 1 && a.Uncacheable == "" {
		t.Errorf("%q: several statements but cacheable", sql)
	}
	returns := false
	for _, st := range stmts {
		switch n := st.(type) {
		case *ast.SelectStmt:
			returns = true
		case *ast.InsertStmt:
			returns = returns || len(n.Returning) > 0
		case *ast.UpdateStmt:
			returns = returns || len(n.Returning) > 0
		case *ast.DeleteStmt:
			returns = returns || len(n.Returning) > 0
		}
	}
	if a.Returns != returns && !a.Session {
		t.Errorf("%q: Returns %v; the statements say %v", sql, a.Returns, returns)
	}
	if a.Unknown != "" || a.Session {
		return
	}
	reads, writes := map[string]bool{}, map[string]bool{}
	for _, r := range a.Reads {
		reads[r.Table] = true
	}
	for _, w := range a.Writes {
		writes[w.Table] = true
	}
	ctes := map[string]bool{}
	for _, st := range stmts {
		ast.Walk(st, func(n ast.Node) bool {
			if c, ok := n.(*ast.CTE); ok && c.Name != nil {
				ctes[fold(c.Name.Name)] = true
			}
			return true
		})
	}
	for _, st := range stmts {
		switch st.(type) {
		case *ast.SelectStmt, *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt, *ast.CreateTableStmt:
		default:
			continue
		}
		ast.Walk(st, func(n ast.Node) bool {
			var qn *ast.QualifiedName
			switch n := n.(type) {
			case *ast.TableRef:
				if !n.HasArgs {
					qn = n.Name
				}
			case *ast.InExpr:
				if !n.HasArgs {
					qn = n.Table
				}
			case *ast.InsertStmt:
				wantWrite(t, sql, writes, n.Table)
			case *ast.UpdateStmt:
				wantWrite(t, sql, writes, n.Table)
			case *ast.DeleteStmt:
				wantWrite(t, sql, writes, n.Table)
			}
			if qn != nil && qn.Name != nil {
				name := fold(qn.Name.Name)
				if name == "" && a.Uncacheable != "" {
					return true
				}
				if (qn.Schema != nil || !ctes[name]) && !reads[name] {
					t.Errorf("%q names table %s, not among the reads: %v", sql, name, render(a))
				}
			}
			return true
		})
	}
}

// errorsIf returns err, or an error when bad is true.
func errorsIf(err error, bad bool) error {
	if err == nil && bad {
		return errors.New("not one write with a RETURNING clause")
	}
	return err
}

func wantWrite(t *testing.T, sql string, writes map[string]bool, qn *ast.QualifiedName) {
	t.Helper()
	if qn != nil && qn.Name != nil && !writes[fold(qn.Name.Name)] {
		t.Errorf("%q writes %s, not among the writes", sql, qn.Name.Name)
	}
}

func checkName(t *testing.T, sql, what, name string) {
	t.Helper()
	if name == "" || name != fold(name) {
		t.Errorf("%q: %s name %q is empty or not folded", sql, what, name)
	}
}

func checkConds(t *testing.T, sql string, conds []freshsql.Cond) {
	t.Helper()
	for _, c := range conds {
		checkName(t, sql, "cond column", c.Column)
		if len(c.Values) == 0 {
			t.Errorf("%q: cond on %s without values", sql, c.Column)
		}
		for _, v := range c.Values {
			checkValue(t, sql, v)
		}
	}
}

func checkValue(t *testing.T, sql string, v freshsql.Value) {
	t.Helper()
	switch {
	case v.Param < 0:
		t.Errorf("%q: negative parameter %d", sql, v.Param)
	case v.Param > 0 && v.Literal != nil:
		t.Errorf("%q: parameter %d with a literal", sql, v.Param)
	case v.Param == 0 && v.Literal == nil:
		t.Errorf("%q: NULL (or empty) literal reported", sql)
	case v.Param == 0 && v.Name != "":
		t.Errorf("%q: named literal", sql)
	}
	switch v.Literal.(type) {
	case nil, int64, float64, string, []byte, bool:
	default:
		t.Errorf("%q: literal of type %T", sql, v.Literal)
	}
}

// checkDeterministic checks that analysing a text twice gives equal results.
func checkDeterministic(t *testing.T, a *Analyzer, sql string, first *freshsql.Analysis) {
	t.Helper()
	again, err := a.Analyze(sql)
	if err != nil || !reflect.DeepEqual(first, again) {
		t.Errorf("%q: second analysis differs: %v, %v", sql, again, err)
	}
}
