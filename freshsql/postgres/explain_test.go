package postgres

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// crossCheckColumns are the columns of every table the cross-check creates:
// enough for the corpus's reads to plan.
const crossCheckColumns = `(id int, aid int, bid int, uid int, tid int, parent int,
	k int, kind int, x int, y int, z int, g int, n int, v int, s text, name text,
	active bool, at timestamptz, a int, b int, data jsonb, j jsonb, tenant text,
	price numeric, user_id int, total int, status text, c int, u uuid, d date)`

// TestExplainCrossCheck plans every cacheable read of the corpus on the real
// server and checks that each relation the plan scans is among the reads the
// analyser reported (after view resolution): the PostgreSQL counterpart of
// SQLite's authorizer check. Parameters are bound as NULLs, which can only
// remove scans from a plan.
func TestExplainCrossCheck(t *testing.T) {
	db := testDB(t)
	_, conn := testSchema(t, db)
	tables := map[string]bool{}
	a := New(Options{})
	var checks []string
	for _, c := range corpus {
		an, err := a.Analyze(c.sql)
		if err != nil || !an.Returns || len(an.Writes) > 0 || an.Unknown != "" || an.Uncacheable != "" || an.Session {
			continue
		}
		for _, r := range an.Reads {
			tables[r.Table] = true
		}
		checks = append(checks, c.sql)
	}
	for tb := range tables {
		exec(t, conn, `CREATE TABLE "`+tb+`" `+crossCheckColumns)
	}
	exec(t, conn, `ALTER TABLE "Users" ADD COLUMN "Id" int`)
	cat, err := a.ReadCatalog(context.Background(), conn)
	if err != nil {
		t.Fatalf("ReadCatalog: %v", err)
	}
	checked := 0
	for _, q := range checks {
		an, _ := a.Analyze(q)
		reported := map[string]bool{}
		for _, r := range an.Reads {
			reported[r.Table] = true
			for _, b := range cat.Views[r.Table] {
				reported[b] = true
			}
		}
		args := make([]any, maxParam(t, q))
		var plan string
		err := conn.QueryRowContext(context.Background(), "EXPLAIN (VERBOSE, FORMAT JSON) "+q, args...).Scan(&plan)
		if err != nil {
			// The shared column set cannot make every text valid (an
			// ambiguous column, a type mismatch): those are not checked.
			t.Logf("not checked: %s: %v", q, err)
			continue
		}
		var doc any
		if err := json.Unmarshal([]byte(plan), &doc); err != nil {
			t.Fatalf("plan of %s: %v", q, err)
		}
		for _, rel := range planRelations(doc, nil) {
			if !reported[rel] {
				t.Errorf("plan of %q scans %s; Analyze reported %v", q, rel, an.Reads)
			}
		}
		checked++
	}
	t.Logf("cross-checked %d of %d cacheable reads", checked, len(checks))
	if checked < len(checks)*3/4 {
		t.Errorf("cross-checked %d of %d cacheable reads; want at least three quarters", checked, len(checks))
	}
}

// planRelations returns the "Relation Name"s in an EXPLAIN JSON document.
func planRelations(v any, out []string) []string {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "Relation Name" {
				out = append(out, s)
			}
			out = planRelations(e, out)
		}
	case []any:
		for _, e := range x {
			out = planRelations(e, out)
		}
	}
	return out
}

// maxParam returns the highest $n in q.
func maxParam(t *testing.T, q string) int {
	tree, err := parse(strings.TrimSpace(q))
	if err != nil {
		t.Fatalf("parse %q: %v", q, err)
	}
	n := 0
	var walk func(m proto.Message)
	walk = func(m proto.Message) {
		if p, ok := m.(*pg.ParamRef); ok && int(p.GetNumber()) > n {
			n = int(p.GetNumber())
		}
		m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
				for i := 0; i < v.List().Len(); i++ {
					walk(v.List().Get(i).Message().Interface())
				}
			case !fd.IsMap() && fd.Kind() == protoreflect.MessageKind:
				walk(v.Message().Interface())
			}
			return true
		})
	}
	walk(tree)
	return n
}
