package postgres

import (
	"reflect"
	"testing"

	"github.com/freshcache/fresh/freshsql"
)

// TestBoundValues checks that a bound value inside a CTE or a UNION branch
// reaches the read's conditions, so that two runs differing only in it have
// different dependencies, and that literals do the same.
func TestBoundValues(t *testing.T) {
	a := New(Options{})
	cases := []struct {
		sql   string
		table string
		want  freshsql.Value
	}{
		{`WITH x AS (SELECT * FROM t WHERE id = $1) SELECT * FROM x JOIN u ON u.id = x.uid`, "t", p(1)},
		{`WITH x AS (SELECT * FROM t WHERE id = 7) SELECT * FROM x`, "t", lit(int64(7))},
		{`WITH x AS (SELECT * FROM t WHERE id = 8) SELECT * FROM x`, "t", lit(int64(8))},
		{`SELECT id FROM a UNION ALL SELECT id FROM t WHERE t.k = $3`, "t", p(3)},
		{`SELECT id FROM a UNION SELECT id FROM t WHERE k = 'one'`, "t", lit("one")},
		{`SELECT id FROM a UNION SELECT id FROM t WHERE k = 'two'`, "t", lit("two")},
	}
	for _, c := range cases {
		an, err := a.Analyze(c.sql)
		if err != nil {
			t.Fatalf("Analyze(%q): %v", c.sql, err)
		}
		var got []freshsql.Value
		for _, r := range an.Reads {
			if r.Table == c.table {
				for _, cd := range r.Conds {
					got = append(got, cd.Values...)
				}
			}
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], c.want) {
			t.Errorf("Analyze(%q): conds of %s hold %v; want %v", c.sql, c.table, got, c.want)
		}
	}
}

func TestConcurrentAnalyze(t *testing.T) {
	a := New(Options{})
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for _, c := range corpus {
				if _, err := a.Analyze(c.sql); err != nil {
					t.Errorf("Analyze(%q): %v", c.sql, err)
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
}

func TestParseError(t *testing.T) {
	if _, err := New(Options{}).Analyze("SELEC * FROM"); err == nil {
		t.Errorf("Analyze(bad text) error = nil; want an error")
	}
}

// FuzzAnalyze checks that Analyze never panics and keeps its invariants: a
// text it understands is analysed the same way twice; every value is a
// parameter or a non-NULL literal; a Session text reports no writes; a text
// that writes is never cacheable.
func FuzzAnalyze(f *testing.F) {
	for _, c := range corpus {
		f.Add(c.sql)
	}
	a := New(Options{})
	f.Fuzz(func(t *testing.T, sql string) {
		an, err := a.Analyze(sql)
		if err != nil {
			return
		}
		again, err := a.Analyze(sql)
		if err != nil || !reflect.DeepEqual(an, again) {
			t.Fatalf("Analyze(%q) is not deterministic", sql)
		}
		checkValue := func(v freshsql.Value) {
			if (v.Param > 0) == (v.Literal != nil) {
				t.Fatalf("Analyze(%q): value %+v is neither a parameter nor a literal", sql, v)
			}
		}
		for _, r := range an.Reads {
			if r.Table == "" {
				t.Fatalf("Analyze(%q): read of no table", sql)
			}
			for _, c := range r.Conds {
				if c.Column == "" || len(c.Values) == 0 {
					t.Fatalf("Analyze(%q): empty condition %+v", sql, c)
				}
				for _, v := range c.Values {
					checkValue(v)
				}
			}
		}
		for _, w := range an.Writes {
			if w.Table == "" || w.Op < freshsql.OpInsert || w.Op > freshsql.OpSchema {
				t.Fatalf("Analyze(%q): bad write %+v", sql, w)
			}
			for _, c := range w.Where {
				for _, v := range c.Values {
					checkValue(v)
				}
			}
			if w.ReturnAt < 0 || w.ReturnAt > len(sql) {
				t.Fatalf("Analyze(%q): ReturnAt %d out of the text", sql, w.ReturnAt)
			}
		}
		if an.Session && len(an.Writes) > 0 {
			t.Fatalf("Analyze(%q): a session text writes", sql)
		}
	})
}

func BenchmarkAnalyze(b *testing.B) {
	a := New(Options{})
	texts := []string{
		`SELECT * FROM users WHERE id = $1`,
		`SELECT u.name, o.total FROM users u LEFT JOIN orders o ON o.user_id = u.id AND o.status = 'paid' WHERE u.id = $1`,
		`WITH RECURSIVE r AS (SELECT * FROM tree WHERE id = $1 UNION ALL SELECT tree.* FROM tree JOIN r ON tree.parent = r.id) SELECT * FROM r`,
		`UPDATE t SET a = $1, b = b + 1 WHERE id = $2 AND tenant = 'x'`,
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, q := range texts {
			if _, err := a.Analyze(q); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestReturnAt(t *testing.T) {
	a := New(Options{})
	cases := []struct {
		sql  string
		want int
	}{
		{"UPDATE t SET a = 1 WHERE id = 2", 31},
		{"UPDATE t SET a = 1 WHERE id = 2 ;  -- done\n", 31},
		{"DELETE FROM t /* x */ WHERE name = 'a;b' /* y */", 40},
		{"DELETE FROM t RETURNING id", 0},
		{"INSERT INTO t (a) VALUES (1)", 0},
		{"WITH d AS (DELETE FROM a RETURNING *) UPDATE t SET a = 1", 0},
		{"UPDATE t SET a = 1; UPDATE u SET b = 2", 0},
	}
	for _, c := range cases {
		an, err := a.Analyze(c.sql)
		if err != nil {
			t.Fatalf("Analyze(%q): %v", c.sql, err)
		}
		got := 0
		for _, w := range an.Writes {
			got = max(got, w.ReturnAt)
		}
		if got != c.want {
			t.Errorf("Analyze(%q) ReturnAt = %d; want %d", c.sql, got, c.want)
		}
	}
}

func TestDialect(t *testing.T) {
	if got := New(Options{}).Dialect(); got != "postgres" {
		t.Errorf("Dialect() = %q; want %q", got, "postgres")
	}
}
