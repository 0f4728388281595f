package mysql

import (
	"context"
	"reflect"
	"testing"
)

func TestReadCatalog(t *testing.T) {
	db, _ := scratchDatabase(t)
	execAll(t, db,
		"CREATE TABLE parent (id INT PRIMARY KEY)",
		"CREATE TABLE child (id INT PRIMARY KEY, parent_id INT, x INT, FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE)",
		"CREATE TABLE grandchild (id INT PRIMARY KEY, child_id INT, FOREIGN KEY (child_id) REFERENCES child (id) ON UPDATE SET NULL)",
		"CREATE TABLE restricted (id INT PRIMARY KEY, parent_id INT, FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE RESTRICT)",
		"CREATE TABLE audit (id INT)",
		"CREATE TABLE audit2 (n INT)",
		"CREATE TABLE opaque_t (id INT)",
		"CREATE TABLE lonely (id INT)",
		"CREATE TRIGGER parent_ai AFTER INSERT ON parent FOR EACH ROW INSERT INTO audit (id) VALUES (NEW.id)",
		`CREATE TRIGGER child_bu BEFORE UPDATE ON child FOR EACH ROW BEGIN
			IF NEW.x > 0 THEN UPDATE audit2 SET n = n + 1; END IF;
			SET NEW.x = NEW.x + 1;
		END`,
		"CREATE TRIGGER opaque_ad AFTER DELETE ON opaque_t FOR EACH ROW CALL no_such_procedure()",
		"CREATE VIEW v1 AS SELECT p.id, c.x FROM parent p JOIN child c ON c.parent_id = p.id",
		"CREATE VIEW v2 AS SELECT * FROM v1 WHERE x = 1",
		"CREATE VIEW v3 AS SELECT id FROM lonely UNION SELECT id FROM audit",
	)
	cat, err := New(Options{}).ReadCatalog(context.Background(), db)
	if err != nil {
		t.Fatalf("ReadCatalog: %v", err)
	}
	wantViews := map[string][]string{
		"v1": {"child", "parent"},
		"v2": {"child", "parent"},
		"v3": {"audit", "lonely"},
	}
	if !reflect.DeepEqual(cat.Views, wantViews) {
		t.Errorf("Views: got %v; want %v", cat.Views, wantViews)
	}
	wantEffects := map[string][]string{
		// FK cascade to child, then child's ON UPDATE SET NULL to grandchild
		// and its trigger to audit2; parent's own trigger to audit.
		"parent": {"audit", "audit2", "child", "grandchild"},
		"child":  {"audit2", "grandchild"},
		"v1":     {"audit", "audit2", "child", "grandchild", "parent"},
		"v2":     {"audit", "audit2", "child", "grandchild", "parent"},
		"v3":     {"audit", "lonely"},
	}
	if !reflect.DeepEqual(cat.Effects, wantEffects) {
		t.Errorf("Effects: got %v; want %v", cat.Effects, wantEffects)
	}
	wantOpaque := map[string]bool{"opaque_t": true}
	if !reflect.DeepEqual(cat.Opaque, wantOpaque) {
		t.Errorf("Opaque: got %v; want %v", cat.Opaque, wantOpaque)
	}
}

// A view whose definition calls a stored function cannot be bounded: it is
// read as every base table of the database.
func TestReadCatalogUnboundedView(t *testing.T) {
	db, _ := scratchDatabase(t)
	execAll(t, db,
		"CREATE TABLE a (id INT)",
		"CREATE TABLE b (id INT)",
		"CREATE FUNCTION f(x INT) RETURNS INT DETERMINISTIC RETURN (SELECT COUNT(*) FROM b) + x",
		"CREATE VIEW va AS SELECT f(id) AS n FROM a",
	)
	cat, err := New(Options{}).ReadCatalog(context.Background(), db)
	if err != nil {
		t.Fatalf("ReadCatalog: %v", err)
	}
	if got, want := cat.Views["va"], []string{"a", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Views[va]: got %v; want %v", got, want)
	}
}

func TestTriggerWrites(t *testing.T) {
	a := New(Options{})
	cases := []struct {
		body    string
		written []string
		ok      bool
	}{
		{"INSERT INTO log (id) VALUES (NEW.id)", []string{"log"}, true},
		{"BEGIN DELETE FROM x WHERE id = OLD.id; UPDATE y SET n = 1; END", []string{"x", "y"}, true},
		{"SET NEW.a = LOWER(NEW.a)", nil, true},
		{"CALL p()", nil, false},
		{"INSERT INTO log VALUES (my_func(NEW.id))", nil, false},
		{"this is not SQL", nil, false},
	}
	for _, c := range cases {
		written, ok := a.triggerWrites(c.body)
		if ok != c.ok || !reflect.DeepEqual(written, c.written) {
			t.Errorf("triggerWrites(%q) = %v, %v; want %v, %v", c.body, written, ok, c.written, c.ok)
		}
	}
}
