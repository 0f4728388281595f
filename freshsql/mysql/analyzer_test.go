package mysql

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/freshcache/fresh/freshsql"
)

func TestDialect(t *testing.T) {
	if got := New(Options{}).Dialect(); got != "mysql" {
		t.Fatalf("Dialect() = %q; want %q", got, "mysql")
	}
}

func TestAnalyzeCorpus(t *testing.T) {
	if len(corpus) < 80 {
		t.Fatalf("corpus has %d texts; want at least 80", len(corpus))
	}
	a := New(Options{})
	for _, c := range corpus {
		t.Run(c.sql, func(t *testing.T) {
			checkCase(t, a, c)
		})
	}
}

func checkCase(t *testing.T, a *Analyzer, c corpusCase) {
	t.Helper()
	got, err := a.Analyze(c.sql)
	if c.flags&fError != 0 {
		if err == nil {
			t.Fatalf("Analyze(%q) = %+v, nil; want an error", c.sql, got)
		}
		if !strings.HasPrefix(err.Error(), "freshsql/mysql: ") {
			t.Errorf("error %q; want the prefix freshsql/mysql: ", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Analyze(%q): %v", c.sql, err)
	}
	if !reflect.DeepEqual(got.Reads, c.reads) {
		t.Errorf("Reads: got %+v; want %+v", got.Reads, c.reads)
	}
	if !reflect.DeepEqual(got.Writes, c.writes) {
		t.Errorf("Writes: got %+v; want %+v", got.Writes, c.writes)
	}
	flags := []struct {
		name string
		got  bool
		flag int
	}{
		{"Returns", got.Returns, fReturns},
		{"Uncacheable", got.Uncacheable != "", fUncacheable},
		{"Unknown", got.Unknown != "", fUnknown},
		{"Session", got.Session, fSession},
	}
	for _, f := range flags {
		if want := c.flags&f.flag != 0; f.got != want {
			t.Errorf("%s: got %v; want %v (Uncacheable %q, Unknown %q)", f.name, f.got, want, got.Uncacheable, got.Unknown)
		}
	}
}

// A bound value inside a CTE or a UNION branch is a dependency value: two
// executions differing only in it must depend on different rows.
func TestParamInsideCTEAndUnion(t *testing.T) {
	a := New(Options{})
	for _, sql := range []string{
		"WITH a AS (SELECT * FROM users WHERE id = ?) SELECT * FROM a",
		"WITH RECURSIVE a AS (SELECT id FROM users WHERE id = ? UNION ALL SELECT id + 1 FROM a WHERE id < 3) SELECT * FROM a",
		"SELECT name FROM orgs WHERE id = 1 UNION SELECT name FROM users WHERE id = ?",
		"SELECT * FROM (SELECT 1 AS x UNION ALL SELECT id FROM users WHERE id = ?) d",
	} {
		res, err := a.Analyze(sql)
		if err != nil {
			t.Fatalf("Analyze(%q): %v", sql, err)
		}
		var found bool
		for _, r := range res.Reads {
			if r.Table == "users" && reflect.DeepEqual(r.Conds, []freshsql.Cond{cd("id", p(1))}) {
				found = true
			}
		}
		if !found || res.Uncacheable != "" || res.Unknown != "" {
			t.Errorf("Analyze(%q) = %+v; want a cacheable read of users with id = param 1", sql, res)
		}
	}
}

func TestPureFunctionsOption(t *testing.T) {
	sql := "SELECT app.slug(name), Slug(email) FROM users WHERE id = 1"
	res, err := New(Options{}).Analyze(sql)
	if err != nil || res.Unknown == "" || res.Uncacheable == "" {
		t.Fatalf("without options: got %+v, %v; want Unknown and Uncacheable", res, err)
	}
	res, err = New(Options{PureFunctions: []string{" SLUG "}}).Analyze(sql)
	if err != nil || res.Unknown != "" || res.Uncacheable != "" {
		t.Fatalf("with PureFunctions: got %+v, %v; want a cacheable read", res, err)
	}
}

// A panic inside the parser becomes an error.
func TestParserPanicIsAnError(t *testing.T) {
	saved := parseOne
	t.Cleanup(func() { parseOne = saved })
	parseOne = func(context.Context, string) (sqlparser.Statement, int, error) {
		panic("boom")
	}
	res, err := New(Options{}).Analyze("SELECT 1")
	if err == nil || res != nil {
		t.Fatalf("got %+v, %v; want nil and an error", res, err)
	}
	if !strings.Contains(err.Error(), "boom") {
		t.Errorf("error %q; want it to mention the panic", err)
	}
}

func TestDeepNestingIsAnError(t *testing.T) {
	a := New(Options{})
	deepExpr := "SELECT " + strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000)
	deepQuery := "SELECT * FROM users WHERE id IN " + strings.Repeat("(SELECT id FROM users WHERE id IN ", 100) + "(1)" + strings.Repeat(")", 100)
	for _, sql := range []string{deepExpr, deepQuery} {
		if res, err := a.Analyze(sql); err == nil {
			t.Errorf("Analyze(%.40q...) = %+v; want an error", sql, res)
		}
	}
}

// Analyze is safe for concurrent use (run with -race).
func TestAnalyzeConcurrent(t *testing.T) {
	a := New(Options{PureFunctions: []string{"slug"}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, c := range corpus {
				_, _ = a.Analyze(c.sql)
			}
		})
	}
	wg.Wait()
}

func BenchmarkAnalyze(b *testing.B) {
	a := New(Options{})
	var texts []string
	for _, c := range corpus {
		if c.flags&fError == 0 {
			texts = append(texts, c.sql)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _ = a.Analyze(texts[i%len(texts)])
		i++
	}
}
