package postgres

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/freshcache/fresh/freshsql"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Options configures an Analyzer.
type Options struct {
	// PureFunctions names functions, beyond the built-in ones the package
	// knows, that the user declares deterministic and free of side effects
	// (typically their own SQL functions). A name without a dot matches the
	// function in every schema; "schema.name" matches only that qualified call.
	// Names are compared as PostgreSQL folds them: lower case unless the
	// function was created with a quoted name. Default: none, so a call of any
	// function that is not a known built-in makes a text Unknown and
	// Uncacheable.
	PureFunctions []string
}

// Analyzer is the PostgreSQL freshsql.Analyzer. It is safe for concurrent use.
type Analyzer struct {
	pure map[string]bool
	// opaqueViews holds the views the last ReadCatalog found to call
	// functions that are not known to be pure: a read of one is Uncacheable.
	opaqueViews atomic.Pointer[map[string]string]
}

var (
	_ freshsql.Analyzer      = (*Analyzer)(nil)
	_ freshsql.CatalogReader = (*Analyzer)(nil)
)

// New returns an Analyzer configured by o.
func New(o Options) *Analyzer {
	a := &Analyzer{pure: make(map[string]bool, len(o.PureFunctions))}
	for _, f := range o.PureFunctions {
		if f = strings.TrimSpace(f); f != "" {
			a.pure[f] = true
		}
	}
	return a
}

// Dialect returns "postgres".
func (a *Analyzer) Dialect() string { return "postgres" }

// Analyze reports what the SQL text sql reads and writes. It returns an error
// only when PostgreSQL's grammar rejects the text.
func (a *Analyzer) Analyze(sql string) (res *freshsql.Analysis, err error) {
	defer func() {
		// A last resort: the walk is written not to panic, but a text that
		// makes it panic must cost the caller its cache, not its process.
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("freshsql/postgres: analysing text: internal error: %v", r)
		}
	}()
	tree, err := parse(sql)
	if err != nil {
		return nil, fmt.Errorf("freshsql/postgres: parse: %w", err)
	}
	w := &walker{a: a}
	sessions := 0
	for _, raw := range tree.GetStmts() {
		w.session = false
		w.statement(raw.GetStmt())
		if w.session {
			sessions++
		}
	}
	n := len(tree.GetStmts())
	if n > 1 {
		w.uncacheable("several statements in one text")
	}
	w.res.Session = n > 0 && sessions == n
	if n == 1 && len(w.res.Writes) == 1 {
		w.res.Writes[0].ReturnAt = returnAt(sql, tree.GetStmts()[0].GetStmt())
	}
	return &w.res, nil
}

// returnAt returns where " RETURNING ..." can be appended to stmt, the only
// statement of sql: after its last token, before any semicolon, space or
// comment. It returns 0 unless stmt is an UPDATE or DELETE without RETURNING.
func returnAt(sql string, stmt *pg.Node) int {
	switch {
	case stmt.GetUpdateStmt() != nil && len(stmt.GetUpdateStmt().GetReturningList()) == 0:
	case stmt.GetDeleteStmt() != nil && len(stmt.GetDeleteStmt().GetReturningList()) == 0:
	default:
		return 0
	}
	toks, err := scan(sql)
	if err != nil {
		return 0
	}
	end := 0
	for _, t := range toks.GetTokens() {
		switch t.GetToken() {
		case pg.Token_SQL_COMMENT, pg.Token_C_COMMENT, pg.Token_ASCII_59:
		default:
			end = int(t.GetEnd())
		}
	}
	if end > len(sql) {
		return 0
	}
	return end
}
