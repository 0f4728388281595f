package sqlite

import (
	"errors"
	"fmt"

	"github.com/freshcache/fresh/freshsql"
	"github.com/sqlc-dev/meyer/ast"
	"github.com/sqlc-dev/meyer/lexer"
	"github.com/sqlc-dev/meyer/parser"
	"github.com/sqlc-dev/meyer/token"
)

// ErrInternal is wrapped by the error Analyze returns when the analyser itself
// failed on a text (a bug: it recovered from a panic).
var ErrInternal = errors.New("freshsql/sqlite: internal error")

// Options configures an Analyzer. The zero value is ready to use.
type Options struct {
	// PureFunctions names extra functions (user-defined or from an extension)
	// that the user declares deterministic and free of side effects, matched
	// case-insensitively. A call to one of them does not make a read
	// Uncacheable. Naming a built-in date/time function here (date, time,
	// datetime, julianday, strftime, unixepoch, timediff) declares that it is
	// never given 'now', so its calls are then cacheable whatever their
	// arguments. Naming "regexp" or "match" covers the REGEXP and MATCH
	// operators. Default: none; only the built-in list of deterministic SQLite
	// functions is trusted.
	PureFunctions []string
}

// Analyzer is the freshsql.Analyzer for SQLite. It is safe for concurrent use:
// it holds no mutable state after New.
type Analyzer struct {
	pure map[string]bool // Options.PureFunctions, folded
}

var (
	_ freshsql.Analyzer      = (*Analyzer)(nil)
	_ freshsql.CatalogReader = (*Analyzer)(nil)
)

// New returns an Analyzer configured by o.
func New(o Options) *Analyzer {
	a := &Analyzer{pure: make(map[string]bool, len(o.PureFunctions))}
	for _, f := range o.PureFunctions {
		a.pure[fold(f)] = true
	}
	return a
}

// Dialect returns "sqlite".
func (*Analyzer) Dialect() string { return "sqlite" }

// Analyze parses sql and reports what it reads and writes. It returns an error
// only when sql does not parse (or, as a last resort, when the analyser fails
// on it); it never panics.
func (a *Analyzer) Analyze(sql string) (res *freshsql.Analysis, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%w: analyze: %v", ErrInternal, r)
		}
	}()
	stmts, err := parser.ParseString(sql)
	if err != nil {
		return nil, fmt.Errorf("freshsql/sqlite: parse: %w", err)
	}
	res = a.analyzeStmts(stmts)
	if len(stmts) == 1 {
		setReturnAt(sql, stmts[0], res)
	}
	return res, nil
}

// setReturnAt sets Write.ReturnAt for a text made of one UPDATE or DELETE that
// writes one table and has no RETURNING clause: the end of its last token
// other than a semicolon, so that " RETURNING ..." can be inserted there.
// UPDATE OR REPLACE also deletes conflicting rows, which RETURNING would not
// show, so it gets none.
func setReturnAt(sql string, st ast.Stmt, res *freshsql.Analysis) {
	if res.Unknown != "" || len(res.Writes) != 1 {
		return
	}
	switch n := st.(type) {
	case *ast.UpdateStmt:
		if len(n.Returning) > 0 || n.OrConflict == ast.ConflictReplace || len(n.OrderBy) > 0 || n.Limit != nil {
			return
		}
	case *ast.DeleteStmt:
		if len(n.Returning) > 0 || len(n.OrderBy) > 0 || n.Limit != nil {
			return
		}
	default:
		return
	}
	end := 0
	for _, t := range lexer.Lex(sql) {
		if t.Kind != token.SEMI && t.Kind != token.EOF && t.End > end {
			end = t.End
		}
	}
	res.Writes[0].ReturnAt = end
}

// analyzeStmts reports what a list of parsed statements does together.
func (a *Analyzer) analyzeStmts(stmts []ast.Stmt) *freshsql.Analysis {
	s := &state{a: a, out: &freshsql.Analysis{}}
	if len(stmts) == 0 {
		s.out.Session = true
		return s.out
	}
	if len(stmts) > 1 {
		s.uncacheable("several statements in one text")
	}
	allSession := true
	for _, st := range stmts {
		if !s.stmt(st) {
			allSession = false
		}
	}
	s.finish(allSession)
	return s.out
}

// finish settles the flags that depend on the whole text: a text is Session
// only when every statement is, and then nothing else is reported; a Session
// text never Returns (its rows are never cached).
func (s *state) finish(allSession bool) {
	if allSession && s.out.Unknown == "" && len(s.out.Writes) == 0 {
		s.out.Session = true
		s.out.Returns = false
		s.out.Reads = nil
		return
	}
	s.out.Session = false
}

// state accumulates the analysis of one text.
type state struct {
	a   *Analyzer
	out *freshsql.Analysis
	// targetWhere collects the conditions on the target of the UPDATE or
	// DELETE being analysed (occurrence targetOcc); nil otherwise.
	targetWhere *[]freshsql.Cond
}

// uncacheable records the first reason the text's result must not be cached.
func (s *state) uncacheable(format string, args ...any) {
	if s.out.Uncacheable == "" {
		s.out.Uncacheable = fmt.Sprintf(format, args...)
	}
}

// unknown records the first reason the text's writes are not known.
func (s *state) unknown(format string, args ...any) {
	if s.out.Unknown == "" {
		s.out.Unknown = fmt.Sprintf(format, args...)
	}
}

// stmt analyses one statement and reports whether it is a session statement.
func (s *state) stmt(st ast.Stmt) (session bool) {
	switch n := st.(type) {
	case *ast.SelectStmt:
		s.out.Returns = true
		s.selectStmt(n, nil, true)
	case *ast.InsertStmt:
		s.insert(n)
	case *ast.UpdateStmt:
		s.update(n)
	case *ast.DeleteStmt:
		s.delete(n)
	case *ast.CreateTableStmt, *ast.CreateIndexStmt, *ast.CreateViewStmt,
		*ast.CreateTriggerStmt, *ast.CreateVirtualTableStmt, *ast.AlterTableStmt,
		*ast.DropTableStmt, *ast.DropViewStmt, *ast.DropIndexStmt, *ast.DropTriggerStmt:
		s.ddl(n)
	default:
		return s.sessionStmt(st)
	}
	return false
}
