package freshsql

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/freshcache/fresh"
	_ "modernc.org/sqlite"
)

// mapAnalyzer is an Analyzer for tests of the wrapper: it knows the analyses of a
// fixed set of texts, so that these tests do not depend on a parser.
type mapAnalyzer struct {
	mu sync.Mutex
	m  map[string]*Analysis
	// cat is returned by ReadCatalog.
	cat *Catalog
}

func (a *mapAnalyzer) Dialect() string { return "sqlite" }

func (a *mapAnalyzer) Analyze(sql string) (*Analysis, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	an, ok := a.m[sql]
	if !ok {
		return nil, fmt.Errorf("test analyser: unknown text %q", sql)
	}
	return an, nil
}

func (a *mapAnalyzer) ReadCatalog(context.Context, Queryer) (*Catalog, error) {
	if a.cat == nil {
		return &Catalog{}, nil
	}
	return a.cat, nil
}

func p(n int) Value                  { return Value{Param: n} }
func pp(n int) *Value                { return &Value{Param: n} }
func eq(col string, v ...Value) Cond { return Cond{Column: col, Values: v} }

// The texts of the blog schema the wrapper tests use, with their analyses.
const (
	qSchema        = `CREATE TABLE articles (id INTEGER PRIMARY KEY, author_id INTEGER, title TEXT, body BLOB, score REAL, created DATETIME, note TEXT)`
	qInsertArticle = `INSERT INTO articles (id, author_id, title, body, score, created, note) VALUES (?, ?, ?, ?, ?, ?, ?)`
	qByAuthor      = `SELECT id, title, body, score, created, note FROM articles WHERE author_id = ? ORDER BY id`
	qByID          = `SELECT id, title FROM articles WHERE id = ?`
	qCount         = `SELECT count(*) FROM articles`
	qRetitle       = `UPDATE articles SET title = ? WHERE id = ?`
	qMove          = `UPDATE articles SET author_id = ? WHERE id = ?`
	qDeleteAuthor  = `DELETE FROM articles WHERE author_id = ?`
	qUnknown       = `PRAGMA something_odd`
	qNow           = `SELECT datetime('now')`
	qBegin         = `BEGIN`
	qCommit        = `COMMIT`
)

func blogAnalyzer() *mapAnalyzer {
	return &mapAnalyzer{m: map[string]*Analysis{
		qSchema:        {Writes: []Write{{Op: OpSchema, Table: "articles"}}},
		qInsertArticle: {Writes: []Write{{Op: OpInsert, Table: "articles", Columns: []string{"id", "author_id", "title", "body", "score", "created", "note"}, Rows: [][]*Value{{pp(1), pp(2), pp(3), pp(4), pp(5), pp(6), pp(7)}}}}},
		qByAuthor:      {Returns: true, Reads: []Read{{Table: "articles", Conds: []Cond{eq("author_id", p(1))}}}},
		qByID:          {Returns: true, Reads: []Read{{Table: "articles", Conds: []Cond{eq("id", p(1))}}}},
		qCount:         {Returns: true, Reads: []Read{{Table: "articles"}}},
		qRetitle:       {Writes: []Write{{Op: OpUpdate, Table: "articles", Where: []Cond{eq("id", p(2))}, Set: []Assign{{Column: "title", Value: pp(1)}}}}},
		qMove:          {Writes: []Write{{Op: OpUpdate, Table: "articles", Where: []Cond{eq("id", p(2))}, Set: []Assign{{Column: "author_id", Value: pp(1)}}}}},
		qDeleteAuthor:  {Writes: []Write{{Op: OpDelete, Table: "articles", Where: []Cond{eq("author_id", p(1))}}}},
		qUnknown:       {Unknown: "a pragma that may write"},
		qNow:           {Returns: true, Uncacheable: "calls datetime('now')"},
		qBegin:         {Session: true},
		qCommit:        {Session: true},
	}}
}

// testDB opens a wrapped SQLite database in a file of the test's own, on a hub of
// the test's own, with the blog schema.
func testDB(tb testing.TB, a Analyzer, o Options) (*sql.DB, *Connector) {
	tb.Helper()
	if o.Hub == nil {
		hub, err := fresh.NewHub(fresh.HubOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = hub.Close(context.Background()) })
		o.Hub = hub
	}
	o.Analyzer = a
	path := filepath.Join(tb.TempDir(), "blog.db")
	db, err := Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)", o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	c, ok := Lookup(db)
	if !ok {
		tb.Fatal("Lookup: not a freshsql database")
	}
	if _, err := db.Exec(qSchema); err != nil {
		tb.Fatal(err)
	}
	return db, c
}
