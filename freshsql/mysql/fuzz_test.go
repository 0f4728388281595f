package mysql

import (
	"reflect"
	"strings"
	"testing"

	"github.com/freshcache/fresh/freshsql"
)

// FuzzAnalyze checks that Analyze never panics and that what it reports is
// well formed:
//   - an error comes with a nil Analysis and the package prefix;
//   - a Session statement has no Writes and no Unknown, and returns no rows;
//   - every Read and Write names a table, every condition a column and at
//     least one value, and a value is a parameter in 1..(number of "?") or a
//     non-nil literal of a kind the contract allows (only int64 in conditions);
//   - only OpInsert writes have Columns, Rows or Upsert, and a row has one
//     value per column;
//   - the analysis is deterministic.
func FuzzAnalyze(f *testing.F) {
	for _, c := range corpus {
		f.Add(c.sql)
	}
	a := New(Options{PureFunctions: []string{"slug"}})
	f.Fuzz(func(t *testing.T, sql string) {
		res, err := a.Analyze(sql)
		if err != nil {
			if res != nil {
				t.Fatalf("Analyze(%q) returned %+v with error %v", sql, res, err)
			}
			if !strings.HasPrefix(err.Error(), "freshsql/mysql: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		if res == nil {
			t.Fatalf("Analyze(%q) = nil, nil", sql)
		}
		if res.Session && (len(res.Writes) > 0 || res.Unknown != "" || res.Returns) {
			t.Fatalf("Analyze(%q): Session with %+v", sql, res)
		}
		if res.Unknown != "" && res.Uncacheable == "" {
			t.Fatalf("Analyze(%q): Unknown %q but cacheable", sql, res.Unknown)
		}
		params := countParams(sql)
		checkConds := func(conds []freshsql.Cond) {
			for _, c := range conds {
				if c.Column == "" || len(c.Values) == 0 {
					t.Fatalf("Analyze(%q): malformed condition %+v", sql, c)
				}
				for _, v := range c.Values {
					if v.Param == 0 {
						if _, ok := v.Literal.(int64); !ok {
							t.Fatalf("Analyze(%q): condition value %#v is not an int64", sql, v.Literal)
						}
					} else if v.Param < 0 || v.Param > params {
						t.Fatalf("Analyze(%q): parameter %d of %d", sql, v.Param, params)
					}
				}
			}
		}
		for _, r := range res.Reads {
			if r.Table == "" {
				t.Fatalf("Analyze(%q): a Read without a table", sql)
			}
			checkConds(r.Conds)
		}
		for _, w := range res.Writes {
			if w.Table == "" || w.Op < freshsql.OpInsert || w.Op > freshsql.OpSchema {
				t.Fatalf("Analyze(%q): malformed write %+v", sql, w)
			}
			checkConds(w.Where)
			if w.Op != freshsql.OpInsert && (w.Columns != nil || w.Rows != nil || w.Upsert) {
				t.Fatalf("Analyze(%q): %+v has insert fields", sql, w)
			}
			for _, row := range w.Rows {
				if len(row) != len(w.Columns) {
					t.Fatalf("Analyze(%q): row %v for columns %v", sql, row, w.Columns)
				}
				for _, v := range row {
					if v != nil && v.Param == 0 && v.Literal == nil {
						t.Fatalf("Analyze(%q): nil literal in a row", sql)
					}
				}
			}
		}
		again, err := a.Analyze(sql)
		if err != nil || !reflect.DeepEqual(res, again) {
			t.Fatalf("Analyze(%q) is not deterministic: %+v then %+v, %v", sql, res, again, err)
		}
	})
}
