package postgres

import (
	"testing"

	"github.com/freshcache/fresh/freshsql"
)

type R = []freshsql.Read
type W = []freshsql.Write
type V = [][]*freshsql.Value
type S = []freshsql.Assign

// corpus is the table of texts and what Analyze must report for each.
var corpus = []struct {
	name, sql string
	reads     R
	writes    W
	flags     int
}{
	// Plain reads and conditions.
	{"eq param", `SELECT * FROM users WHERE id = $1`, R{rd("users", eq("id", p(1)))}, nil, returns},
	{"eq reversed", `SELECT name FROM users WHERE $2 = id`, R{rd("users", eq("id", p(2)))}, nil, returns},
	{"eq literals", `SELECT * FROM users WHERE id = 5 AND name = 'bob' AND active = true`, R{rd("users", eq("id", lit(int64(5))), eq("name", lit("bob")), eq("active", lit(true)))}, nil, returns},
	{"negative int", `SELECT * FROM t WHERE n = -3`, R{rd("t", eq("n", lit(int64(-3))))}, nil, returns},
	{"float dropped", `SELECT * FROM t WHERE price = 1.10`, R{rd("t")}, nil, returns},
	{"in list", `SELECT * FROM t WHERE id IN (1, $1, NULL)`, R{rd("t", eq("id", lit(int64(1)), p(1)))}, nil, returns},
	{"in with expression", `SELECT * FROM t WHERE id IN (1, $1 + 1)`, R{rd("t")}, nil, returns},
	{"not in", `SELECT * FROM t WHERE id NOT IN (1, 2)`, R{rd("t")}, nil, returns},
	{"in subquery", `SELECT * FROM t WHERE id IN (SELECT tid FROM u WHERE kind = $1)`, R{rd("t"), rd("u")}, nil, returns}, // kind may be t's
	{"in subquery qualified", `SELECT * FROM t WHERE id IN (SELECT tid FROM u WHERE u.kind = $1)`, R{rd("t"), rd("u", eq("kind", p(1)))}, nil, returns},
	{"or", `SELECT * FROM t WHERE id = 1 OR id = 2`, R{rd("t")}, nil, returns},
	{"not", `SELECT * FROM t WHERE NOT (id = 1) AND k = 2`, R{rd("t", eq("k", lit(int64(2))))}, nil, returns},
	{"null dropped", `SELECT * FROM t WHERE id = NULL AND k = 1`, R{rd("t", eq("k", lit(int64(1))))}, nil, returns},
	{"nested and", `SELECT * FROM t WHERE (a = 1 AND (b = 2 AND c = $1))`, R{rd("t", eq("a", lit(int64(1))), eq("b", lit(int64(2))), eq("c", p(1)))}, nil, returns},
	{"cast param", `SELECT * FROM t WHERE id = $1::int AND u = $2::uuid`, R{rd("t", eq("id", p(1)), eq("u", p(2)))}, nil, returns},
	{"cast literal", `SELECT * FROM t WHERE id = '5'::bigint AND s = 'x'::text`, R{rd("t", eq("id", lit(int64(5))), eq("s", lit("x")))}, nil, returns},
	{"cast kept out", `SELECT * FROM t WHERE d = '2024-01-01'::date AND v = $1::varchar(3)`, R{rd("t")}, nil, returns},
	{"column cast", `SELECT * FROM t WHERE id::text = '5'`, R{rd("t")}, nil, returns},
	{"any array", `SELECT * FROM t WHERE id = ANY($1)`, R{rd("t")}, nil, returns},
	{"jsonb ops", `SELECT data->>'name' FROM docs WHERE data @> '{"a":1}' AND data->'k' ? 'x' AND id = $1`, R{rd("docs", eq("id", p(1)))}, nil, returns},
	{"quoted names", `SELECT * FROM "Users" WHERE "Id" = 1 AND Name = 'x'`, R{rd("Users", eq("Id", lit(int64(1))), eq("name", lit("x")))}, nil, returns},
	{"schema stripped", `SELECT * FROM public.users u WHERE u.id = 1`, R{rd("users", eq("id", lit(int64(1))))}, nil, returns},
	{"qualified by table", `SELECT * FROM users WHERE users.id = 1`, R{rd("users", eq("id", lit(int64(1))))}, nil, returns},
	{"like", `SELECT * FROM t WHERE name LIKE 'a%'`, R{rd("t")}, nil, returns},
	{"between", `SELECT * FROM t WHERE n BETWEEN 1 AND 2`, R{rd("t")}, nil, returns},
	{"col eq col", `SELECT * FROM t WHERE a = b`, R{rd("t")}, nil, returns},

	// Joins.
	{"inner join", `SELECT * FROM a JOIN b ON a.id = b.aid AND b.kind = $1 WHERE a.x = 1`, R{rd("a", eq("x", lit(int64(1)))), rd("b", eq("kind", p(1)))}, nil, returns},
	{"unqualified in join", `SELECT * FROM a JOIN b ON a.id = b.aid WHERE x = 1`, R{rd("a"), rd("b")}, nil, returns},
	{"left join", `SELECT * FROM a LEFT JOIN b ON b.aid = a.id AND b.k = 1 AND a.z = 2 WHERE a.x = $1 AND b.y = 3`, R{rd("a", eq("x", p(1))), rd("b", eq("k", lit(int64(1))))}, nil, returns},
	{"right join", `SELECT * FROM a RIGHT JOIN b ON b.aid = a.id AND a.k = 1 AND b.z = 2 WHERE a.x = 1 AND b.y = 3`, R{rd("a", eq("k", lit(int64(1)))), rd("b", eq("y", lit(int64(3))))}, nil, returns},
	{"full join", `SELECT * FROM a FULL JOIN b ON a.id = b.id AND a.k = 1 WHERE a.x = 1 AND b.y = 2`, R{rd("a"), rd("b")}, nil, returns},
	{"cross join", `SELECT * FROM a CROSS JOIN b WHERE a.x = 1 AND b.y = $1`, R{rd("a", eq("x", lit(int64(1)))), rd("b", eq("y", p(1)))}, nil, returns},
	{"comma join", `SELECT * FROM a, b WHERE a.id = b.aid AND b.y = 2`, R{rd("a"), rd("b", eq("y", lit(int64(2))))}, nil, returns},
	{"using", `SELECT * FROM a JOIN b USING (id) WHERE id = 1 AND b.k = 2`, R{rd("a"), rd("b", eq("k", lit(int64(2))))}, nil, returns},
	{"natural", `SELECT * FROM a NATURAL JOIN b WHERE a.k = 1`, R{rd("a", eq("k", lit(int64(1)))), rd("b")}, nil, returns},
	{"nested left", `SELECT * FROM a LEFT JOIN (b JOIN c ON c.bid = b.id AND c.k = 1) ON b.aid = a.id WHERE c.z = 2 AND a.x = 3`, R{rd("a", eq("x", lit(int64(3)))), rd("b"), rd("c", eq("k", lit(int64(1))))}, nil, returns},
	{"aliased join hides names", `SELECT * FROM (a JOIN b ON a.id = b.id) AS j WHERE j.x = 1`, R{rd("a"), rd("b")}, nil, returns},
	{"self join", `SELECT * FROM t p JOIN t c ON c.parent = p.id WHERE p.id = $1`, R{rd("t", eq("id", p(1))), rd("t")}, nil, returns},
	{"lateral", `SELECT * FROM a, LATERAL (SELECT * FROM b WHERE b.aid = a.id AND b.k = 1 AND z = 2) s WHERE a.x = 1`, R{rd("a", eq("x", lit(int64(1)))), rd("b", eq("k", lit(int64(1))))}, nil, returns},
	{"derived table", `SELECT * FROM (SELECT * FROM t WHERE k = $1) s WHERE s.id = 2`, R{rd("t", eq("k", p(1)))}, nil, returns},

	// Subqueries.
	{"exists", `SELECT * FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.aid = a.id AND b.k = $1 AND z = 3)`, R{rd("a"), rd("b", eq("k", p(1)))}, nil, returns},
	{"scalar subquery in target", `SELECT id, (SELECT count(*) FROM b WHERE b.aid = a.id) FROM a`, R{rd("a"), rd("b")}, nil, returns},
	{"any subquery", `SELECT * FROM a WHERE id = ANY (SELECT aid FROM b)`, R{rd("a"), rd("b")}, nil, returns},
	{"correlated outer qualifier", `SELECT * FROM a WHERE id IN (SELECT aid FROM b WHERE a.k = 1)`, R{rd("a"), rd("b")}, nil, returns},
	{"subquery in function arg", `SELECT coalesce((SELECT max(v) FROM b), 0) FROM a`, R{rd("a"), rd("b")}, nil, returns},
	{"subquery in having", `SELECT k, count(*) FROM a GROUP BY k HAVING count(*) > (SELECT n FROM lim WHERE id = 1) AND k = 2`, R{rd("a"), rd("lim")}, nil, returns},

	// CTEs.
	{"cte", `WITH x AS (SELECT * FROM t WHERE k = $1) SELECT * FROM x WHERE id = 2`, R{rd("t", eq("k", p(1)))}, nil, returns},
	{"cte shadows table", `WITH users AS (SELECT * FROM accounts) SELECT * FROM users`, R{rd("accounts")}, nil, returns},
	{"qualified not cte", `WITH users AS (SELECT 1) SELECT * FROM public.users`, R{rd("users")}, nil, returns},
	{"cte sees earlier", `WITH a AS (SELECT * FROM t), b AS (SELECT * FROM a) SELECT * FROM b`, R{rd("t")}, nil, returns},
	{"cte later is table", `WITH a AS (SELECT * FROM b), b AS (SELECT * FROM t) SELECT * FROM a`, R{rd("b"), rd("t")}, nil, returns},
	{"recursive", `WITH RECURSIVE r AS (SELECT * FROM tree WHERE id = $1 UNION ALL SELECT tree.* FROM tree JOIN r ON tree.parent = r.id) SELECT * FROM r`, R{rd("tree", eq("id", p(1))), rd("tree")}, nil, returns},
	{"cte in subquery scope", `SELECT * FROM a WHERE id IN (WITH x AS (SELECT aid FROM b) SELECT * FROM x) AND EXISTS (SELECT 1 FROM x)`, R{rd("a"), rd("b"), rd("x")}, nil, returns},
	{"cte param differs", `WITH x AS (SELECT * FROM t WHERE id = $2) SELECT * FROM x`, R{rd("t", eq("id", p(2)))}, nil, returns},

	// Set operations, VALUES, clauses.
	{"union", `SELECT id FROM a WHERE k = $1 UNION SELECT id FROM b WHERE k = $2`, R{rd("a", eq("k", p(1))), rd("b", eq("k", p(2)))}, nil, returns},
	{"intersect except", `SELECT id FROM a INTERSECT SELECT id FROM b EXCEPT SELECT id FROM c WHERE c.z = 1`, R{rd("a"), rd("b"), rd("c", eq("z", lit(int64(1))))}, nil, returns},
	{"values", `VALUES (1, 'a'), (2, 'b')`, nil, nil, returns},
	{"order limit", `SELECT * FROM t WHERE k = 1 ORDER BY id DESC LIMIT $1 OFFSET $2`, R{rd("t", eq("k", lit(int64(1))))}, nil, returns},
	{"fetch first", `SELECT * FROM t ORDER BY id FETCH FIRST 5 ROWS WITH TIES`, R{rd("t")}, nil, returns},
	{"distinct on", `SELECT DISTINCT ON (k) * FROM t WHERE g = 1 ORDER BY k, id`, R{rd("t", eq("g", lit(int64(1))))}, nil, returns},
	{"aggregates", `SELECT k, count(*), sum(v), avg(v), string_agg(s, ','), array_agg(x ORDER BY x), jsonb_agg(j) FILTER (WHERE v > 0) FROM t GROUP BY k`, R{rd("t")}, nil, returns},
	{"window", `SELECT id, row_number() OVER (PARTITION BY k ORDER BY id), lag(v) OVER w FROM t WINDOW w AS (ORDER BY id)`, R{rd("t")}, nil, returns},
	{"grouping sets", `SELECT k, g, sum(v) FROM t GROUP BY ROLLUP (k, g)`, R{rd("t")}, nil, returns},
	{"pure funcs", `SELECT lower(name), upper(name), length(name), substring(name FROM 2), trim(name), extract(year FROM at), date_trunc('day', at), to_char(at, 'YYYY'), jsonb_build_object('a', 1), coalesce(a, 1), greatest(a, b) FROM t`, R{rd("t")}, nil, returns},
	{"function in from", `SELECT * FROM generate_series(1, 10) g JOIN t ON t.id = g`, R{rd("t")}, nil, returns},
	{"no from", `SELECT 1`, nil, nil, returns},

	// Uncacheable and Unknown reads.
	{"now", `SELECT * FROM t WHERE at > now()`, R{rd("t")}, nil, returns | uncacheable},
	{"current_timestamp", `SELECT current_timestamp, id FROM t`, R{rd("t")}, nil, returns | uncacheable},
	{"current_user", `SELECT * FROM t WHERE owner = current_user`, R{rd("t")}, nil, returns | uncacheable},
	{"random", `SELECT * FROM t ORDER BY random() LIMIT 1`, R{rd("t")}, nil, returns | uncacheable},
	{"age one arg", `SELECT age(born) FROM t`, R{rd("t")}, nil, returns | uncacheable},
	{"age two args", `SELECT age(a, b) FROM t`, R{rd("t")}, nil, returns},
	{"pg_catalog qualified", `SELECT pg_catalog.lower(s) FROM t`, R{rd("t")}, nil, returns},
	{"user function", `SELECT my_func(id) FROM t`, R{rd("t")}, nil, returns | uncacheable | unknown},
	{"user function in where", `SELECT * FROM t WHERE id = 1 AND app.check_it(id)`, R{rd("t", eq("id", lit(int64(1))))}, nil, returns | uncacheable | unknown},
	{"user function in from", `SELECT * FROM search_items('x')`, nil, nil, returns | uncacheable | unknown},
	{"user operator", `SELECT * FROM t WHERE a OPERATOR(myschema.===) b`, R{rd("t")}, nil, returns | uncacheable | unknown},
	{"for update", `SELECT * FROM t WHERE id = 1 FOR UPDATE`, R{rd("t", eq("id", lit(int64(1))))}, nil, returns | uncacheable},
	{"for update of", `SELECT * FROM t x JOIN u ON u.id = x.uid FOR UPDATE OF x`, R{rd("t"), rd("u")}, nil, returns | uncacheable},
	{"for share", `SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED`, R{rd("t")}, nil, returns | uncacheable},
	{"pg_catalog", `SELECT * FROM pg_catalog.pg_class`, R{rd("pg_class")}, nil, returns | uncacheable},
	{"information_schema", `SELECT * FROM information_schema.tables`, R{rd("tables")}, nil, returns | uncacheable},
	{"pg_temp", `SELECT * FROM pg_temp.scratch`, R{rd("scratch")}, nil, returns | uncacheable},
	{"tablesample", `SELECT * FROM t TABLESAMPLE BERNOULLI (10)`, R{rd("t")}, nil, returns | uncacheable},
	{"several", `SELECT * FROM a; SELECT * FROM b`, R{rd("a"), rd("b")}, nil, returns | uncacheable},
	{"nextval", `SELECT nextval('public.order_seq')`, nil, W{upd("order_seq", nil)}, returns | uncacheable},
	{"nextval regclass", `SELECT nextval('"Seq"'::regclass)`, nil, W{upd("Seq", nil)}, returns | uncacheable},
	{"nextval dynamic", `SELECT nextval(name) FROM seqs`, R{rd("seqs")}, nil, returns | uncacheable | unknown},
	{"pure option", `SELECT slugify(name), util.norm(x) FROM t`, R{rd("t")}, nil, returns},

	// Writes.
	{"insert values", `INSERT INTO t (a, b, c) VALUES ($1, 'x', lower($2)), (DEFAULT, $3::int, NULL)`, nil, W{ins("t", []string{"a", "b", "c"}, V{{pv(1), lv("x"), nil}, {nil, pv(3), nil}})}, 0},
	{"insert no columns", `INSERT INTO t VALUES (1, 2)`, nil, W{ins("t", nil, nil)}, 0},
	{"insert select", `INSERT INTO t (a) SELECT x FROM u WHERE k = 1`, R{rd("u", eq("k", lit(int64(1))))}, W{ins("t", []string{"a"}, nil)}, 0},
	{"insert default values", `INSERT INTO t DEFAULT VALUES RETURNING id`, nil, W{ins("t", nil, nil)}, returns},
	{"upsert", `INSERT INTO t (id, n) VALUES ($1, 1) ON CONFLICT (id) DO UPDATE SET n = t.n + 1`, nil, W{{Op: freshsql.OpInsert, Table: "t", Columns: []string{"id", "n"}, Rows: V{{pv(1), lv(int64(1))}}, Upsert: true}}, 0},
	{"do nothing", `INSERT INTO t (id) VALUES (1) ON CONFLICT DO NOTHING`, nil, W{ins("t", []string{"id"}, V{{lv(int64(1))}})}, 0},
	{"insert subquery value", `INSERT INTO t (a) VALUES ((SELECT max(a) FROM u))`, R{rd("u")}, W{ins("t", []string{"a"}, V{{nil}})}, 0},
	{"update", `UPDATE t SET a = $1, b = b + 1, c = DEFAULT WHERE id = $2 AND tenant = 'x'`, nil, W{upd("t", S{set("a", pv(1)), set("b", nil), set("c", nil)}, eq("id", p(2)), eq("tenant", lit("x")))}, 0},
	{"update multi", `UPDATE t SET (a, b) = (1, 2), c = 3 WHERE id IN (1, 2)`, nil, W{upd("t", S{set("a", nil), set("b", nil), set("c", lv(int64(3)))}, eq("id", lit(int64(1)), lit(int64(2))))}, 0},
	{"update from", `UPDATE t SET a = u.a FROM u WHERE u.id = t.uid AND u.k = 1 AND t.id = $1 AND z = 2`, R{rd("u", eq("k", lit(int64(1))))}, W{upd("t", S{set("a", nil)}, eq("id", p(1)))}, 0},
	{"update alias returning", `UPDATE t AS x SET a = 1 WHERE x.id = 2 RETURNING *`, nil, W{upd("t", S{set("a", lv(int64(1)))}, eq("id", lit(int64(2))))}, returns},
	{"update where subquery", `UPDATE t SET a = 1 WHERE id IN (SELECT tid FROM u WHERE u.k = 2)`, R{rd("u", eq("k", lit(int64(2))))}, W{upd("t", S{set("a", lv(int64(1)))})}, 0},
	{"delete", `DELETE FROM t WHERE id = $1`, nil, W{del("t", eq("id", p(1)))}, 0},
	{"delete using", `DELETE FROM t USING u WHERE t.uid = u.id AND u.k = $1 AND t.z = 2`, R{rd("u", eq("k", p(1)))}, W{del("t", eq("z", lit(int64(2))))}, 0},
	{"delete all returning", `DELETE FROM t RETURNING id`, nil, W{del("t")}, returns},
	{"delete now", `DELETE FROM sessions WHERE expires < now()`, nil, W{del("sessions")}, uncacheable},
	{"merge", `MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)`, R{rd("s")}, W{{Op: freshsql.OpInsert, Table: "t", Upsert: true}, upd("t", nil), del("t")}, 0},
	{"truncate", `TRUNCATE a, ONLY b RESTART IDENTITY`, nil, W{trunc("a"), trunc("b")}, 0},
	{"truncate cascade", `TRUNCATE a CASCADE`, nil, W{trunc("a")}, unknown},
	{"dml cte", `WITH moved AS (DELETE FROM a WHERE k = 1 RETURNING *) INSERT INTO b (x) SELECT x FROM moved`, nil, W{del("a", eq("k", lit(int64(1)))), ins("b", []string{"x"}, nil)}, 0},
	{"dml cte select", `WITH u AS (UPDATE t SET n = 1 WHERE id = $1 RETURNING *) SELECT * FROM u`, nil, W{upd("t", S{set("n", lv(int64(1)))}, eq("id", p(1)))}, returns},
	{"write user function", `UPDATE t SET a = audit(a)`, nil, W{upd("t", S{set("a", nil)})}, uncacheable | unknown},
	{"insert nextval", `INSERT INTO t (id) VALUES (nextval('t_seq'))`, nil, W{upd("t_seq", nil), ins("t", []string{"id"}, V{{nil}})}, uncacheable},
	{"write system", `UPDATE pg_catalog.pg_class SET relname = 'x'`, nil, W{upd("pg_class", S{set("relname", lv("x"))})}, unknown},

	// DDL.
	{"create table", `CREATE TABLE t (id int PRIMARY KEY, pid int REFERENCES p (id))`, nil, W{schema("t"), schema("p")}, 0},
	{"create table partition", `CREATE TABLE t_2024 PARTITION OF t FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`, nil, W{schema("t_2024"), schema("t")}, 0},
	{"alter table", `ALTER TABLE t ADD COLUMN c int DEFAULT 0`, nil, W{schema("t")}, 0},
	{"alter table volatile default", `ALTER TABLE t ADD COLUMN c int DEFAULT compute()`, nil, W{schema("t")}, unknown},
	{"drop table", `DROP TABLE IF EXISTS a, s.b`, nil, W{schema("a"), schema("b")}, 0},
	{"drop cascade", `DROP TABLE a CASCADE`, nil, W{schema("a")}, unknown},
	{"drop index", `DROP INDEX t_idx`, nil, nil, unknown},
	{"drop trigger", `DROP TRIGGER trg ON t`, nil, W{schema("t")}, 0},
	{"drop function", `DROP FUNCTION f(int)`, nil, nil, unknown},
	{"create index", `CREATE INDEX CONCURRENTLY t_idx ON t (a)`, nil, W{schema("t")}, 0},
	{"create view", `CREATE OR REPLACE VIEW v AS SELECT * FROM t`, nil, W{schema("v")}, 0},
	{"create matview", `CREATE MATERIALIZED VIEW mv AS SELECT k, count(*) FROM t GROUP BY k`, R{rd("t")}, W{schema("mv")}, 0},
	{"refresh matview", `REFRESH MATERIALIZED VIEW CONCURRENTLY mv`, nil, W{schema("mv")}, 0},
	{"create table as", `CREATE TABLE c AS SELECT * FROM t WHERE k = 1`, R{rd("t", eq("k", lit(int64(1))))}, W{schema("c")}, 0},
	{"select into", `SELECT * INTO copy FROM t`, R{rd("t")}, W{schema("copy")}, 0},
	{"create trigger", `CREATE TRIGGER trg AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()`, nil, W{schema("t")}, 0},
	{"create rule", `CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING`, nil, W{schema("t")}, 0},
	{"rename table", `ALTER TABLE a RENAME TO b`, nil, W{schema("a"), schema("b")}, 0},
	{"rename column", `ALTER TABLE a RENAME COLUMN x TO y`, nil, W{schema("a")}, 0},
	{"set schema", `ALTER TABLE a SET SCHEMA other`, nil, W{schema("a")}, 0},
	{"create schema", `CREATE SCHEMA IF NOT EXISTS app`, nil, nil, session},
	{"create function", `CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'`, nil, nil, unknown},

	// Session and other statements.
	{"begin", `BEGIN`, nil, nil, session},
	{"start transaction", `START TRANSACTION ISOLATION LEVEL SERIALIZABLE`, nil, nil, session},
	{"commit", `COMMIT`, nil, nil, session},
	{"rollback to", `ROLLBACK TO SAVEPOINT s1`, nil, nil, session},
	{"savepoint release", `SAVEPOINT s1; RELEASE SAVEPOINT s1`, nil, nil, session | uncacheable},
	{"set", `SET search_path TO app, public`, nil, nil, session},
	{"reset", `RESET ALL`, nil, nil, session},
	{"show", `SHOW timezone`, nil, nil, session | returns},
	{"explain", `EXPLAIN SELECT * FROM t`, nil, nil, session | returns},
	{"explain delete", `EXPLAIN DELETE FROM t`, nil, nil, session | returns},
	{"explain analyze select", `EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM t`, nil, nil, session | returns},
	{"explain analyze off", `EXPLAIN (ANALYZE false) DELETE FROM t`, nil, nil, session | returns},
	{"explain analyze delete", `EXPLAIN ANALYZE DELETE FROM t WHERE id = 1`, nil, W{del("t", eq("id", lit(int64(1))))}, returns | uncacheable},
	{"listen notify", `LISTEN ch`, nil, nil, session},
	{"notify", `NOTIFY ch, 'x'`, nil, nil, session},
	{"unlisten discard", `UNLISTEN *`, nil, nil, session},
	{"discard", `DISCARD ALL`, nil, nil, session},
	{"prepare", `PREPARE q (int) AS SELECT * FROM t WHERE id = $1`, nil, nil, session},
	{"deallocate", `DEALLOCATE q`, nil, nil, session},
	{"execute", `EXECUTE q (1)`, nil, nil, unknown},
	{"analyze", `ANALYZE t`, nil, nil, session},
	{"vacuum", `VACUUM (VERBOSE) t`, nil, nil, session},
	{"lock", `LOCK TABLE t IN ACCESS EXCLUSIVE MODE`, nil, nil, session},
	{"call", `CALL do_things(1)`, nil, nil, unknown},
	{"do", `DO $$ BEGIN DELETE FROM t; END $$`, nil, nil, unknown},
	{"copy from", `COPY t FROM STDIN`, nil, W{ins("t", nil, nil)}, unknown},
	{"copy to", `COPY t TO STDOUT`, nil, nil, session},
	{"grant", `GRANT SELECT ON t TO bob`, nil, nil, unknown},
	{"empty", ``, nil, nil, 0},
}

func TestAnalyzeCorpus(t *testing.T) {
	a := New(Options{PureFunctions: []string{"slugify", "util.norm"}})
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			an, err := a.Analyze(c.sql)
			if err != nil {
				t.Fatalf("Analyze(%q): %v", c.sql, err)
			}
			if got, want := summary(an), want(c.reads, c.writes, c.flags); got != want {
				t.Errorf("Analyze(%q)\n got %v;\nwant %v\n(uncacheable %q, unknown %q)", c.sql, got, want, an.Uncacheable, an.Unknown)
			}
		})
	}
}
