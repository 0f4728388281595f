package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestReadCatalog(t *testing.T) {
	db := testDB(t)
	_, conn := testSchema(t, db)
	// Table names are unique too: the catalog drops schemas, and other tests
	// may share the database.
	x := fmt.Sprintf("k%d_", rand.Uint32()%1000000)
	n := func(s string) string { return x + s }
	ddl := strings.NewReplacer("$", x).Replace(`
CREATE TABLE $parent (id int PRIMARY KEY);
CREATE TABLE $child (id int PRIMARY KEY, pid int REFERENCES $parent (id) ON DELETE CASCADE);
CREATE TABLE $grand (id int PRIMARY KEY, cid int REFERENCES $child (id) ON UPDATE SET NULL);
CREATE TABLE $plain (id int PRIMARY KEY, pid int REFERENCES $parent (id));
CREATE TABLE $audited (id int);
CREATE FUNCTION $trg() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER $t AFTER INSERT ON $audited FOR EACH ROW EXECUTE FUNCTION $trg();
CREATE TABLE $ruled (id int);
CREATE RULE $r AS ON DELETE TO $ruled DO INSTEAD NOTHING;
CREATE TABLE $other (id int, at timestamptz);
CREATE VIEW $v1 AS SELECT p.id, c.pid FROM $parent p JOIN $child c ON c.pid = p.id;
CREATE VIEW $v2 AS SELECT v.id FROM $v1 v JOIN $other o ON o.id = v.id;
CREATE MATERIALIZED VIEW $mv AS SELECT id FROM $v2;
CREATE VIEW $v3 AS SELECT id FROM $mv;
CREATE VIEW $recent AS SELECT id FROM $other WHERE at > now();
CREATE VIEW $onrecent AS SELECT id FROM $recent;
CREATE TABLE $part (id int, d date) PARTITION BY RANGE (d);
CREATE TABLE $part1 PARTITION OF $part FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE $ser (id serial PRIMARY KEY, name text);
CREATE FUNCTION $mk() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TABLE $deflt (id int DEFAULT $mk());
`)
	for _, stmt := range strings.Split(ddl, ";\n") {
		if strings.TrimSpace(stmt) != "" {
			exec(t, conn, stmt)
		}
	}
	a := New(Options{})
	cat, err := a.ReadCatalog(context.Background(), conn)
	if err != nil {
		t.Fatalf("ReadCatalog: %v", err)
	}
	views := []struct {
		view  string
		bases []string
	}{
		{n("v1"), []string{n("child"), n("parent")}},
		{n("v2"), []string{n("child"), n("other"), n("parent")}},
		{n("mv"), []string{n("child"), n("other"), n("parent")}},
		{n("v3"), []string{n("child"), n("mv"), n("other"), n("parent")}},
		{n("recent"), []string{n("other")}},
	}
	for _, v := range views {
		if got := cat.Views[v.view]; !slices.Equal(got, v.bases) {
			t.Errorf("Views[%s] = %v; want %v", v.view, got, v.bases)
		}
	}
	effects := []struct {
		table string
		want  []string
	}{
		{n("parent"), []string{n("child"), n("grand")}},
		{n("child"), []string{n("grand")}},
		{n("plain"), nil},
		{n("part"), []string{n("part1")}},
		{n("part1"), []string{n("part")}},
		{n("ser"), []string{n("ser_id_seq")}},
		{n("v1"), []string{n("child"), n("grand"), n("parent")}},
	}
	for _, e := range effects {
		if got := cat.Effects[e.table]; !slices.Equal(got, e.want) {
			t.Errorf("Effects[%s] = %v; want %v", e.table, got, e.want)
		}
	}
	for _, tb := range []string{n("audited"), n("ruled"), n("deflt")} {
		if !cat.Opaque[tb] {
			t.Errorf("Opaque[%s] = false; want true", tb)
		}
	}
	for _, tb := range []string{n("parent"), n("child"), n("ser"), n("other")} {
		if cat.Opaque[tb] {
			t.Errorf("Opaque[%s] = true; want false", tb)
		}
	}
	// Reads of views over now() are not cacheable; of the others they are.
	for view, bad := range map[string]bool{n("recent"): true, n("onrecent"): true, n("v2"): false} {
		an, err := a.Analyze("SELECT * FROM " + view)
		if err != nil {
			t.Fatal(err)
		}
		if got := an.Uncacheable != ""; got != bad {
			t.Errorf("Analyze(SELECT * FROM %s).Uncacheable = %q; want set %v", view, an.Uncacheable, bad)
		}
	}
}

// TestQueryRowsSkipsNull: a catalog row with a NULL (what pg_get_expr and
// pg_get_viewdef return for an object dropped while the catalog is read) is
// skipped, not an error that would leave the wrapper without a catalog.
func TestQueryRowsSkipsNull(t *testing.T) {
	db := testDB(t)
	var got [][]string
	err := queryRows(t.Context(), db, `SELECT 'a', NULL::text UNION ALL SELECT 'b', 'c'`, 2, func(r []string) { got = append(got, r) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0][0] != "b" || got[0][1] != "c" {
		t.Errorf("rows %q; want only [b c]", got)
	}
}
