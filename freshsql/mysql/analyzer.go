package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/freshcache/fresh/freshsql"
)

// Options configures an Analyzer.
type Options struct {
	// PureFunctions names extra functions (case-insensitive, without a
	// database qualifier) that are deterministic and free of side effects,
	// typically the application's own stored functions. A call to a function
	// that is neither on this list nor on the analyser's built-in list of pure
	// MySQL and MariaDB functions makes the text Uncacheable and Unknown,
	// because a stored function may write. Default: none.
	PureFunctions []string
}

// Analyzer is the MySQL and MariaDB freshsql.Analyzer. It is safe for
// concurrent use: it holds only its immutable configuration.
type Analyzer struct {
	pure map[string]bool
}

var (
	_ freshsql.Analyzer      = (*Analyzer)(nil)
	_ freshsql.CatalogReader = (*Analyzer)(nil)
)

// New returns an Analyzer configured by o.
func New(o Options) *Analyzer {
	a := &Analyzer{pure: make(map[string]bool, len(o.PureFunctions))}
	for _, f := range o.PureFunctions {
		if f = strings.ToLower(strings.TrimSpace(f)); f != "" {
			a.pure[f] = true
		}
	}
	return a
}

// Dialect returns "mysql".
func (*Analyzer) Dialect() string { return "mysql" }

// parseOne is the parser's entry point; tests replace it to check that a
// parser panic becomes an error.
var parseOne = sqlparser.ParseOne

// errTooDeep is returned for a text nested more deeply than the analyser walks.
var errTooDeep = errors.New("freshsql/mysql: statement nested too deeply")

// maxDepth bounds the recursion of the tree walks, so that a pathological text
// cannot exhaust the goroutine stack (which, unlike a panic, cannot be
// recovered).
const maxDepth = 2000

// Analyze reports what the SQL text sql reads and writes. It returns an error
// when the parser rejects the text, or when the text is one the parser would
// read differently from the server (see checkText); freshsql then treats it as
// Unknown. It never panics.
func (a *Analyzer) Analyze(sql string) (res *freshsql.Analysis, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("freshsql/mysql: parser failed: %v", r)
		}
	}()
	lex, err := checkText(sql)
	if err != nil {
		return nil, err
	}
	stmts, pieces, err := parseAll(sql)
	if err != nil {
		return nil, err
	}
	out := &freshsql.Analysis{}
	session := true
	for i, st := range stmts {
		s := &state{a: a, out: out, precise: lex.precise}
		// Only the first statement's "?" numbers start at 1; later statements'
		// parameters are treated as opaque expressions (the text is
		// Uncacheable anyway, and a write then pins fewer values).
		s.params = i == 0 && paramsReliable(st, pieces[i])
		isSession := s.statement(st)
		if s.tooDeep {
			return nil, errTooDeep
		}
		session = session && isSession
	}
	if len(stmts) > 1 {
		out.Uncacheable = "several statements in one text"
	}
	out.Session = session && len(out.Writes) == 0 && out.Unknown == ""
	if out.Session {
		out.Returns = false
	}
	return out, nil
}

// parseAll splits sql into statements and parses each. pieces holds each
// statement's text, for counting its parameters.
func parseAll(sql string) ([]sqlparser.Statement, []string, error) {
	var (
		stmts  []sqlparser.Statement
		pieces []string
	)
	rest := sql
	for strings.TrimSpace(rest) != "" {
		st, n, err := parseOne(context.Background(), rest)
		if errors.Is(err, sqlparser.ErrEmpty) {
			if n <= 0 || n > len(rest) {
				break
			}
			rest = rest[n:]
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("freshsql/mysql: parse: %w", err)
		}
		if n <= 0 || n > len(rest) {
			n = len(rest)
		}
		stmts = append(stmts, st)
		pieces = append(pieces, rest[:n])
		rest = rest[n:]
	}
	if len(stmts) == 0 {
		return nil, nil, errors.New("freshsql/mysql: empty statement")
	}
	return stmts, pieces, nil
}
