package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/freshcache/fresh/freshsql"
	msqlite "modernc.org/sqlite"
)

// authorizerSchema has tables, a view, a view over a view, foreign keys with
// ON DELETE CASCADE (two levels) and triggers.
const authorizerSchema = `
PRAGMA foreign_keys = ON;
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT, data TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
	total REAL, status TEXT);
CREATE TABLE items (id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders (id) ON DELETE CASCADE,
	sku TEXT, qty INTEGER);
CREATE TABLE products (sku TEXT PRIMARY KEY, price REAL);
CREATE TABLE audit (id INTEGER PRIMARY KEY, tbl TEXT, row_id INTEGER);
CREATE TABLE counters (k TEXT PRIMARY KEY, n INTEGER);
CREATE TABLE tags (name TEXT);
CREATE VIRTUAL TABLE docs USING fts5 (body);
CREATE VIEW user_orders AS SELECT u.id AS uid, u.name, o.id AS oid, o.total FROM users u JOIN orders o ON o.user_id = u.id;
CREATE VIEW big_orders AS SELECT * FROM user_orders WHERE total > 100;
CREATE VIEW order_lines AS SELECT o.id, i.sku, p.price FROM orders o JOIN items i ON i.order_id = o.id LEFT JOIN products p USING (sku);
CREATE VIEW lucky AS SELECT * FROM products WHERE price > random();
CREATE VIEW lucky_tags AS SELECT * FROM lucky JOIN tags ON tags.name = lucky.sku;
CREATE TRIGGER orders_audit AFTER INSERT ON orders BEGIN
	INSERT INTO audit (tbl, row_id) VALUES ('orders', new.id);
END;
CREATE TRIGGER items_count AFTER DELETE ON items BEGIN
	UPDATE counters SET n = n - 1 WHERE k = 'items';
END;
`

// authorizerCorpus is checked against SQLite's authorizer.
var authorizerCorpus = []string{
	`SELECT * FROM users`,
	`SELECT name FROM users WHERE id = ?`,
	`SELECT count(*) FROM orders`,
	`SELECT u.name, o.total FROM users u JOIN orders o ON o.user_id = u.id WHERE u.id = ?`,
	`SELECT * FROM users u LEFT JOIN orders o ON o.user_id = u.id AND o.status = 'paid'`,
	`SELECT * FROM users CROSS JOIN products`,
	`SELECT * FROM orders NATURAL JOIN items`,
	`SELECT * FROM orders JOIN items USING (id)`,
	`SELECT * FROM users u RIGHT JOIN orders o ON o.user_id = u.id`,
	`SELECT * FROM users u FULL JOIN orders o ON o.user_id = u.id`,
	`SELECT * FROM users, orders, items WHERE items.order_id = orders.id AND orders.user_id = users.id`,
	`SELECT * FROM users JOIN (orders JOIN items ON items.order_id = orders.id) ON orders.user_id = users.id`,
	`SELECT * FROM (SELECT id, total FROM orders WHERE status = 'paid') AS p WHERE p.total > 10`,
	`SELECT * FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > ?)`,
	`SELECT * FROM users WHERE EXISTS (SELECT 1 FROM orders WHERE orders.user_id = users.id)`,
	`SELECT name, (SELECT count(*) FROM orders WHERE user_id = users.id) FROM users`,
	`SELECT * FROM users WHERE id = (SELECT max(user_id) FROM orders)`,
	`SELECT * FROM products WHERE sku IN tags`,
	`SELECT * FROM orders WHERE (id, user_id) IN (SELECT order_id, qty FROM items)`,
	`SELECT * FROM orders WHERE (id, user_id) IN ((1, 2), (3, 4))`,
	`WITH paid AS (SELECT * FROM orders WHERE status = 'paid') SELECT * FROM paid JOIN users ON users.id = paid.user_id`,
	`WITH users AS (SELECT * FROM products) SELECT * FROM users`,
	`WITH a AS (SELECT * FROM b), b AS (SELECT * FROM items) SELECT * FROM a`,
	`WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) SELECT * FROM n JOIN orders ON orders.id = n.x`,
	`WITH RECURSIVE chain(id) AS (SELECT id FROM orders WHERE id = ? UNION SELECT items.id FROM items JOIN chain ON items.order_id = chain.id) SELECT * FROM chain`,
	`SELECT id FROM users UNION SELECT id FROM orders`,
	`SELECT id FROM users UNION ALL SELECT id FROM orders INTERSECT SELECT order_id FROM items EXCEPT SELECT 1`,
	`VALUES (1, 2), (3, 4)`,
	`SELECT * FROM (VALUES (1), (2)) AS v JOIN products ON products.price = v.column1`,
	`SELECT * FROM orders ORDER BY total DESC LIMIT ? OFFSET ?`,
	`SELECT user_id, sum(total) FROM orders GROUP BY user_id HAVING sum(total) > (SELECT avg(price) FROM products)`,
	`SELECT data ->> '$.name', json_extract(data, '$.age') FROM users WHERE id = 1`,
	`SELECT j.value FROM users, json_each(users.data) AS j`,
	`SELECT * FROM user_orders`,
	`SELECT * FROM big_orders WHERE uid = ?`,
	`SELECT * FROM order_lines`,
	`SELECT * FROM lucky_tags WHERE sku = ?`,
	`SELECT * FROM users WHERE id IN (SELECT uid FROM big_orders)`,
	`SELECT * FROM products LIMIT (SELECT count(*) FROM counters)`,
	`SELECT random(), * FROM products`,
	`SELECT * FROM orders WHERE total > (SELECT total FROM orders o2 WHERE o2.id = orders.id - 1)`,
	`SELECT row_number() OVER (PARTITION BY user_id ORDER BY total) FROM orders`,
	`SELECT * FROM main.users`,
	`SELECT CASE WHEN EXISTS (SELECT 1 FROM audit) THEN 1 ELSE 0 END`,
	`SELECT coalesce((SELECT price FROM products WHERE sku = 'a'), 0)`,
	`SELECT * FROM users WHERE name LIKE 'a%' AND email GLOB '*@x' AND id BETWEEN 1 AND 9`,
	`INSERT INTO users (name, email) VALUES ('a', ?)`,
	`INSERT INTO orders (user_id, total, status) VALUES (?, 10, 'new')`,
	`INSERT INTO items (order_id, sku, qty) SELECT id, 'x', 1 FROM orders WHERE status = 'new'`,
	`INSERT INTO products DEFAULT VALUES`,
	`INSERT OR REPLACE INTO products (sku, price) VALUES ('a', 1)`,
	`REPLACE INTO counters (k, n) VALUES ('items', 0)`,
	`INSERT INTO counters (k, n) VALUES ('x', 1) ON CONFLICT (k) DO UPDATE SET n = n + 1`,
	`INSERT INTO counters (k, n) VALUES ('x', 1) ON CONFLICT DO NOTHING`,
	`INSERT INTO audit (tbl, row_id) VALUES ('x', (SELECT max(id) FROM users)) RETURNING id`,
	`WITH src AS (SELECT sku FROM products) INSERT INTO items (order_id, sku) SELECT 1, sku FROM src`,
	`UPDATE users SET name = ? WHERE id = ?`,
	`UPDATE orders SET total = total * 2 WHERE user_id IN (SELECT id FROM users WHERE name = 'a')`,
	`UPDATE items SET qty = p.price FROM products p WHERE p.sku = items.sku`,
	`UPDATE OR REPLACE products SET sku = 'b' WHERE sku = 'a'`,
	`UPDATE counters SET n = 0 RETURNING k`,
	`DELETE FROM users WHERE id = ?`,
	`DELETE FROM orders WHERE status = 'void'`,
	`DELETE FROM items WHERE order_id IN (SELECT id FROM orders WHERE total = 0)`,
	`DELETE FROM audit RETURNING *`,
	`WITH old AS (SELECT id FROM orders WHERE total < 1) DELETE FROM orders WHERE id IN old`,
	`DELETE FROM products WHERE NOT EXISTS (SELECT 1 FROM items WHERE items.sku = products.sku)`,
}

// authRecorder collects what SQLite's authorizer reports.
type authRecorder struct {
	mu     sync.Mutex
	reads  map[string]bool
	writes map[string]bool
	log    []string
}

func (r *authRecorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads, r.writes, r.log = map[string]bool{}, map[string]bool{}, nil
}

func (r *authRecorder) fn(action msqlite.AuthorizerActionCode, arg1, arg2, db, trigger string) msqlite.AuthorizerReturnCode {
	r.mu.Lock()
	defer r.mu.Unlock()
	table := fold(arg1)
	switch action {
	case msqlite.AuthRead:
		// Reads made inside a trigger program happen during a write and
		// are not a cached query's dependencies.
		if !strings.HasPrefix(table, "sqlite_") && db != "temp" {
			r.log = append(r.log, fmt.Sprintf("read %s.%s via %q", table, arg2, trigger))
			r.reads[table] = true
		}
	case msqlite.AuthInsert, msqlite.AuthUpdate, msqlite.AuthDelete:
		if !strings.HasPrefix(table, "sqlite_") {
			r.log = append(r.log, fmt.Sprintf("write(%d) %s via %q", action, table, trigger))
			r.writes[table] = true
		}
	}
	return msqlite.AuthorizerOK
}

// openAuthDB opens an in-memory database with the schema and returns it with
// one connection whose authorizer feeds rec.
func openAuthDB(t *testing.T, rec *authRecorder) (*sql.DB, *sql.Conn) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:auth?mode=memory&cache=private")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := conn.ExecContext(ctx, authorizerSchema); err != nil {
		t.Fatal(err)
	}
	rec.reset()
	err = conn.Raw(func(dc any) error {
		reg, ok := dc.(msqlite.AuthorizerRegisterer)
		if !ok {
			return fmt.Errorf("driver connection %T has no authorizer", dc)
		}
		return reg.RegisterAuthorizer(rec.fn)
	})
	if err != nil {
		t.Fatal(err)
	}
	return db, conn
}

// expand returns the tables an analysis covers once the catalog is applied:
// the reads, through views; the writes, through effects.
func expand(a *freshsql.Analysis, cat *freshsql.Catalog) (reads, writes map[string]bool) {
	reads, writes = map[string]bool{}, map[string]bool{}
	for _, r := range a.Reads {
		reads[r.Table] = true
		for _, t := range cat.Views[r.Table] {
			reads[t] = true
		}
	}
	for _, w := range a.Writes {
		writes[w.Table] = true
		for _, t := range cat.Effects[w.Table] {
			writes[t] = true
		}
	}
	return reads, writes
}

// TestAuthorizer compares the analyser (with ReadCatalog's views and effects)
// with what SQLite's authorizer reports when it prepares each statement of
// the corpus: every base table SQLite reads in a query, and every table it
// writes in a write (triggers included), must be reported.
func TestAuthorizer(t *testing.T) {
	if len(authorizerCorpus) < 60 {
		t.Fatalf("corpus has %d statements; want at least 60", len(authorizerCorpus))
	}
	ctx := context.Background()
	rec := &authRecorder{}
	_, conn := openAuthDB(t, rec)
	a := New(Options{})
	cat, err := a.ReadCatalog(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	neighbours := fkNeighbours(t, conn)
	var seenCascade bool
	for _, q := range authorizerCorpus {
		got, err := a.Analyze(q)
		if err != nil {
			t.Errorf("Analyze(%q): %v", q, err)
			continue
		}
		if got.Unknown != "" {
			t.Errorf("Analyze(%q): Unknown %q", q, got.Unknown)
			continue
		}
		rec.reset()
		if err := prepareOnly(ctx, conn, q); err != nil {
			t.Errorf("prepare %q: %v", q, err)
			continue
		}
		reads, writes := expand(got, cat)
		rec.mu.Lock()
		for tbl := range rec.reads {
			// A view is not a base table; a table-valued function is
			// not a table. A write reads its own targets, its triggers'
			// tables and, to check foreign keys, the parents and
			// children of the tables it writes: those reads happen
			// during a write, which is never cached. A query must name
			// every table.
			if _, isView := cat.Views[tbl]; isView || reads[tbl] || tableFuncs[tbl] {
				continue
			}
			if len(got.Writes) > 0 && (writes[tbl] || triggerRead(rec.log, tbl) || neighbourOf(neighbours, writes, tbl)) {
				continue
			}
			{
				t.Errorf("%q: SQLite reads %s; the analyser says %v\n%s", q, tbl, render(got), strings.Join(rec.log, "\n"))
			}
		}
		for tbl := range rec.writes {
			if !writes[tbl] {
				t.Errorf("%q: SQLite writes %s; the analyser says %v\n%s", q, tbl, render(got), strings.Join(rec.log, "\n"))
			}
			if q == `DELETE FROM users WHERE id = ?` && tbl == "orders" {
				seenCascade = true
			}
		}
		rec.mu.Unlock()
	}
	t.Logf("foreign-key cascade reported by the authorizer: %v", seenCascade)
}

// prepareOnly prepares q on conn, which runs the authorizer, and closes the
// statement without running it.
func prepareOnly(ctx context.Context, conn *sql.Conn, q string) error {
	stmt, err := conn.PrepareContext(ctx, q)
	if err != nil {
		return err
	}
	defer func() { _ = stmt.Close() }()
	return nil
}

// fkNeighbours maps each table to the tables it shares a foreign key with,
// either way.
func fkNeighbours(t *testing.T, conn *sql.Conn) map[string]map[string]bool {
	t.Helper()
	rows, err := queryRows(context.Background(), conn, 2,
		`SELECT m.name, f."table" FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	add := func(a, b string) {
		if out[a] == nil {
			out[a] = map[string]bool{}
		}
		out[a][b] = true
	}
	for _, r := range rows {
		add(fold(r[0]), fold(r[1]))
		add(fold(r[1]), fold(r[0]))
	}
	return out
}

// neighbourOf reports whether tbl shares a foreign key with a written table.
func neighbourOf(n map[string]map[string]bool, writes map[string]bool, tbl string) bool {
	for w := range writes {
		if n[w][tbl] {
			return true
		}
	}
	return false
}

// triggerRead reports whether every authorizer read of tbl in log was made by
// a trigger program.
func triggerRead(log []string, tbl string) bool {
	for _, l := range log {
		if strings.HasPrefix(l, "read "+tbl+".") && strings.HasSuffix(l, `via ""`) {
			return false
		}
	}
	return true
}

func TestReadCatalog(t *testing.T) {
	rec := &authRecorder{}
	_, conn := openAuthDB(t, rec)
	cat, err := New(Options{}).ReadCatalog(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	wantViews := map[string][]string{
		"user_orders": {"orders", "users"},
		"big_orders":  {"orders", "users"},
		"order_lines": {"items", "orders", "products"},
		"lucky":       {"products"},
		"lucky_tags":  {"products", "tags"},
	}
	if len(cat.Views) != len(wantViews) {
		t.Errorf("got views %v; want %v", cat.Views, wantViews)
	}
	for v, want := range wantViews {
		if got := cat.Views[v]; !slices.Equal(got, want) {
			t.Errorf("view %s: got %v; want %v", v, got, want)
		}
	}
	wantEffects := map[string][]string{
		"users":  {"audit", "counters", "items", "orders"},
		"orders": {"audit", "counters", "items"},
		"items":  {"counters"},
	}
	if len(cat.Effects) != len(wantEffects) {
		t.Errorf("got effects %v; want %v", cat.Effects, wantEffects)
	}
	for tbl, want := range wantEffects {
		if got := cat.Effects[tbl]; !slices.Equal(got, want) {
			t.Errorf("effects of %s: got %v; want %v", tbl, got, want)
		}
	}
	if len(cat.Opaque) != 0 {
		t.Errorf("got opaque %v; want none", cat.Opaque)
	}
	if len(cat.UncacheableViews) != 2 || cat.UncacheableViews["lucky"] == "" ||
		!strings.HasPrefix(cat.UncacheableViews["lucky_tags"], "reads the view lucky: ") {
		t.Errorf("got uncacheable views %q; want lucky and lucky_tags", cat.UncacheableViews)
	}
}

func TestReadCatalogOpaque(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:opaque?mode=memory&cache=private")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	_, err = db.ExecContext(ctx, `
		CREATE TABLE a (id INTEGER PRIMARY KEY);
		CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a (id) ON UPDATE SET NULL);
		CREATE TABLE c (id INTEGER PRIMARY KEY);
		CREATE TRIGGER b_ext AFTER UPDATE ON b BEGIN SELECT load_extension('nothing'); END;
		CREATE VIEW bad AS SELECT load_extension('nothing') FROM c;`)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := New(Options{}).ReadCatalog(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if !cat.Opaque["b"] || !cat.Opaque["a"] || cat.Opaque["c"] {
		t.Errorf("got opaque %v; want a (through its cascade) and b", cat.Opaque)
	}
	if got, want := cat.Views["bad"], []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("view that cannot be analysed: got %v; want every table %v", got, want)
	}
	if cat.UncacheableViews["bad"] == "" {
		t.Errorf("view that cannot be analysed is not uncacheable: %q", cat.UncacheableViews)
	}
}
