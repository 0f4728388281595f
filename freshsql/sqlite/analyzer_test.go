package sqlite

import (
	"errors"
	"strings"
	"testing"

	"github.com/freshcache/fresh/freshsql"
)

// analyzeCases is the unit corpus: each text with its rendered analysis (see
// render).
var analyzeCases = []struct {
	name, sql, want string
}{
	// Plain selects and conditions.
	{"select all", `SELECT * FROM users`, `r:users returns`},
	{"eq param", `SELECT * FROM users WHERE id = ?`, `r:users{id=$1} returns`},
	{"eq reversed", `SELECT * FROM users WHERE 7 = id`, `r:users{id=7} returns`},
	{"case folded", `SELECT * FROM Main.USERS WHERE "ID" = 'x'`, `r:users{id='x'} returns`},
	{"literals", `SELECT * FROM t WHERE a = -5 AND b = 1.5 AND c = X'0aFF' AND d = 0x10 AND e = 1_000 AND f = +2`,
		`r:t{a=-5,b=1.5f,c=x'0aff',d=16,e=1000,f=2} returns`},
	{"in list", `SELECT * FROM t WHERE a IN (1, ?, 'x')`, `r:t{a in(1,$1,'x')} returns`},
	{"in drops null", `SELECT * FROM t WHERE a IN (NULL, 2) AND b = NULL AND c IN (NULL)`, `r:t{a=2} returns`},
	{"in with expression", `SELECT * FROM t WHERE a IN (1, b)`, `r:t returns`},
	{"not in", `SELECT * FROM t WHERE a NOT IN (1, 2)`, `r:t returns`},
	{"in subquery", `SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE u.c = 1)`, `r:t r:u{c=1} returns`},
	{"no conds from other ops", `SELECT * FROM t WHERE a IS 1 AND b < 2 AND c LIKE 'x%' AND d BETWEEN 1 AND 2 AND e <> 3 AND NOT f = 1`,
		`r:t returns`},
	{"or gives nothing", `SELECT * FROM t WHERE a = 1 OR a = 2`, `r:t returns`},
	{"and inside parens", `SELECT * FROM t WHERE (a = 1 AND (b = 2)) AND ((c)) = 3`, `r:t{a=1,b=2,c=3} returns`},
	{"or nested in and", `SELECT * FROM t WHERE a = 1 AND (b = 2 OR c = 3)`, `r:t{a=1} returns`},
	{"column vs column", `SELECT * FROM t WHERE a = b AND 1 = 1`, `r:t returns`},
	{"alias not resolved", `SELECT a + 1 AS x FROM t WHERE x = 5 AND t.x = 6`, `r:t{x=6} returns`},
	{"alias of the same column", `SELECT t.id AS id, a AS "B" FROM t WHERE id = 1 AND b = 2`, `r:t{id=1} returns`},
	{"quoted name as string", `SELECT * FROM t WHERE "a" = 'a'`, `r:t returns`},
	{"collate gives nothing", `SELECT * FROM t WHERE a = 'x' COLLATE NOCASE`, `r:t returns`},
	{"row value eq", `SELECT * FROM t WHERE (a, b) = (1, ?)`, `r:t{a=1,b=$1} returns`},
	{"row value in", `SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, ?))`, `r:t{a in(1,3),b in(2,$1)} returns`},
	{"row value in subquery", `SELECT * FROM t WHERE (a, b) IN (SELECT x, y FROM u)`, `r:t r:u returns`},
	{"json arrow", `SELECT data ->> '$.name' FROM t WHERE id = ? AND data -> 'k' = 1`, `r:t{id=$1} returns`},
	{"order limit offset", `SELECT * FROM t WHERE a = 1 ORDER BY b DESC LIMIT ? OFFSET ?`, `r:t{a=1} returns`},
	{"aggregate having", `SELECT a, count(*) FROM t WHERE b = 2 GROUP BY a HAVING a = 1 AND count(*) > 3`, `r:t{b=2} returns`},
	{"values", `VALUES (1, 2), (3, ?)`, `returns`},
	{"select without from", `SELECT 1 + ?`, `returns`},

	// Parameters.
	{"params mixed", `SELECT * FROM t WHERE a = ? AND b = ?3 AND c = :name AND d = @at AND e = $dol AND f = :name AND g = ?`,
		`r:t{a=$1,b=$3,c=$4:name,d=$5:at,e=$6:dol,f=$4:name,g=$7} returns`},

	// Joins.
	{"inner join on", `SELECT * FROM a JOIN b ON b.a_id = a.id AND b.k = 1 WHERE a.id = ?`,
		`r:a{id=$1} r:b{k=1} returns`},
	{"inner join on left table", `SELECT * FROM a JOIN b ON a.k = 2`, `r:a{k=2} r:b returns`},
	{"aliases", `SELECT * FROM users AS u, orders o WHERE u.id = 1 AND o.id = 2 AND users.id = 3`,
		`r:users{id=1} r:orders{id=2} returns`},
	{"unqualified with two tables", `SELECT * FROM a, b WHERE id = 1`, `r:a r:b returns`},
	{"left join where", `SELECT * FROM a LEFT JOIN b ON b.a_id = a.id AND b.k = 1 WHERE b.x = 2 AND a.y = 3`,
		`r:a{y=3} r:b{k=1} returns`},
	{"left join on left table", `SELECT * FROM a LEFT JOIN b ON a.k = 1`, `r:a r:b returns`},
	{"right join", `SELECT * FROM a RIGHT JOIN b ON a.k = 1 AND b.k = 2 WHERE a.x = 1 AND b.y = 2`,
		`r:a r:b{y=2} returns`},
	{"full join", `SELECT * FROM a FULL JOIN b ON a.k = b.k WHERE a.x = 1 AND b.y = 2`, `r:a r:b returns`},
	{"inner after left", `SELECT * FROM a LEFT JOIN b ON 1 JOIN c ON b.x = 1 AND a.y = 2 AND c.z = 3`,
		`r:a{y=2} r:b r:c{z=3} returns`},
	{"cross natural using", `SELECT * FROM a CROSS JOIN b NATURAL JOIN c JOIN d USING (id) WHERE d.id = 4`,
		`r:a r:b r:c r:d{id=4} returns`},
	{"parenthesised join", `SELECT * FROM a JOIN (b JOIN c ON c.k = 1) WHERE b.x = 1 AND a.y = 2`,
		`r:a{y=2} r:b r:c{k=1} returns`},
	{"ambiguous alias", `SELECT * FROM a AS x, b AS x WHERE x.k = 1`, `r:a r:b returns`},

	// Subqueries.
	{"from subquery", `SELECT * FROM (SELECT * FROM t WHERE a = 1) AS s WHERE s.b = 2`, `r:t{a=1} returns`},
	{"from subquery single", `SELECT * FROM (SELECT * FROM t) WHERE b = 2`, `r:t returns`},
	{"exists", `SELECT * FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.a_id = a.id AND b.k = ?)`,
		`r:a r:b{k=$1} returns`},
	{"correlated unqualified dropped", `SELECT * FROM a WHERE EXISTS (SELECT 1 FROM b WHERE k = 1)`, `r:a r:b returns`},
	{"outer qualifier not resolved inside", `SELECT * FROM a WHERE EXISTS (SELECT 1 FROM b WHERE a.k = 1)`, `r:a r:b returns`},
	{"scalar in select list", `SELECT (SELECT max(x) FROM b), a.* FROM a`, `r:a r:b returns`},
	{"subquery in limit", `SELECT * FROM a LIMIT (SELECT n FROM cfg)`, `r:a r:cfg returns`},
	{"in table", `SELECT * FROM a WHERE x IN b`, `r:a r:b returns`},

	// CTEs.
	{"cte", `WITH c AS (SELECT * FROM t WHERE id = ?) SELECT * FROM c WHERE c.x = 1`, `r:t{id=$1} returns`},
	{"cte shadows table", `WITH users AS (SELECT * FROM accounts) SELECT * FROM users`, `r:accounts returns`},
	{"cte forward reference", `WITH a AS (SELECT * FROM b), b AS (SELECT * FROM t) SELECT * FROM a`, `r:t returns`},
	{"cte qualified is a table", `WITH users AS (SELECT 1) SELECT * FROM main.users`, `r:users returns`},
	{"cte out of scope", `SELECT * FROM (WITH c AS (SELECT * FROM t) SELECT * FROM c), c`, `r:t r:c returns`},
	{"cte recursive", `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10) SELECT * FROM n JOIN t ON t.id = n.x`,
		`r:t returns`},
	{"cte in subquery", `SELECT * FROM t WHERE id IN (WITH c AS (SELECT id FROM u WHERE u.k = 'z') SELECT id FROM c)`,
		`r:t r:u{k='z'} returns`},
	{"cte literal", `WITH c AS (SELECT * FROM t WHERE id = 5) SELECT * FROM c`, `r:t{id=5} returns`},

	// Compound selects.
	{"union", `SELECT a FROM t WHERE id = ? UNION SELECT a FROM u WHERE id = ?`, `r:t{id=$1} r:u{id=$2} returns`},
	{"union all intersect except", `SELECT a FROM t UNION ALL SELECT a FROM u INTERSECT SELECT a FROM v EXCEPT SELECT a FROM w WHERE w.a = 'q' ORDER BY 1 LIMIT 3`,
		`r:t r:u r:v r:w{a='q'} returns`},

	// Functions.
	{"pure functions", `SELECT abs(a), coalesce(b, 1), lower(c), json_extract(d, '$.x'), count(*), group_concat(e, ','), CAST(f AS TEXT), iif(a, 1, 2) FROM t`,
		`r:t returns`},
	{"random", `SELECT random() FROM t`, `r:t returns uncacheable`},
	{"unknown function", `SELECT my_func(a) FROM t`, `r:t returns uncacheable`},
	{"date now", `SELECT * FROM t WHERE d > date('now')`, `r:t returns uncacheable`},
	{"date no args", `SELECT datetime()`, `returns uncacheable`},
	{"date literal", `SELECT date('2024-01-02', '+1 day'), strftime('%Y', '2024-01-02')`, `returns`},
	{"date column", `SELECT date(created) FROM t`, `r:t returns uncacheable`},
	{"date param", `SELECT date(?)`, `returns uncacheable`},
	{"current timestamp", `SELECT * FROM t WHERE d < CURRENT_TIMESTAMP`, `r:t returns uncacheable`},
	{"changes", `SELECT changes(), last_insert_rowid()`, `returns uncacheable`},
	{"regexp", `SELECT * FROM t WHERE a REGEXP 'x'`, `r:t returns uncacheable`},
	{"json_each", `SELECT j.value FROM t, json_each(t.data) AS j WHERE t.id = 1`, `r:t{id=1} returns`},
	{"load_extension", `SELECT load_extension('x')`, `returns unknown`},
	{"window", `SELECT row_number() OVER (PARTITION BY a ORDER BY b) FROM t`, `r:t returns`},
	{"function subquery arg", `SELECT coalesce((SELECT x FROM u), 1) FROM t`, `r:t r:u returns`},

	// Uncacheable tables.
	{"sqlite_master", `SELECT * FROM sqlite_master`, `r:sqlite_master returns uncacheable`},
	{"sqlite_schema", `SELECT name FROM main.sqlite_schema WHERE type = 'table'`, `r:sqlite_schema{type='table'} returns uncacheable`},
	{"sqlite_sequence", `SELECT seq FROM sqlite_sequence`, `r:sqlite_sequence returns uncacheable`},
	{"pragma function", `SELECT * FROM pragma_table_info('t')`, `returns uncacheable`},
	{"temp table", `SELECT * FROM temp.scratch`, `r:scratch returns uncacheable`},
	{"attached schema", `SELECT * FROM aux.t WHERE id = 1`, `r:t{id=1} returns`},
	{"unknown table function", `SELECT * FROM generate_series(1, 10)`, `returns uncacheable`},
	{"empty table name", `SELECT * FROM ''`, `returns uncacheable`},
	{"insert empty table name", `INSERT INTO "" VALUES (1)`, `unknown`},
	{"several statements", `SELECT 1; SELECT * FROM t`, `r:t returns uncacheable`},

	// INSERT.
	{"insert values", `INSERT INTO t (a, b) VALUES (1, ?), (:x, a + 1)`, `w:ins:t(a,b)[1,$1][$2:x,?]`},
	{"insert null", `INSERT INTO t (a, b) VALUES (NULL, 2)`, `w:ins:t(a,b)[?,2]`},
	{"insert no columns", `INSERT INTO t VALUES (1, 2)`, `w:ins:t`},
	{"insert default values", `INSERT INTO t DEFAULT VALUES`, `w:ins:t`},
	{"insert select", `INSERT INTO t (a) SELECT x FROM u WHERE u.k = 1`, `r:u{k=1} w:ins:t(a)`},
	{"insert with cte", `WITH c AS (SELECT x FROM u) INSERT INTO t (a) SELECT x FROM c`, `r:u w:ins:t(a)`},
	{"insert subquery value", `INSERT INTO t (a) VALUES ((SELECT max(a) FROM t))`, `r:t w:ins:t(a)[?]`},
	{"insert or replace", `INSERT OR REPLACE INTO t (id, a) VALUES (1, 2)`, `w:ins:t(id,a)[1,2]+upsert`},
	{"replace", `REPLACE INTO t (id) VALUES (1)`, `w:ins:t(id)[1]+upsert`},
	{"insert or ignore", `INSERT OR IGNORE INTO t (id) VALUES (1)`, `w:ins:t(id)[1]`},
	{"upsert update", `INSERT INTO t (id, n) VALUES (?, 1) ON CONFLICT (id) DO UPDATE SET n = n + excluded.n WHERE n < (SELECT lim FROM cfg)`,
		`r:cfg w:ins:t(id,n)[$1,1]+upsert`},
	{"upsert nothing", `INSERT INTO t (id) VALUES (1) ON CONFLICT DO NOTHING`, `w:ins:t(id)[1]`},
	{"insert returning", `INSERT INTO t (a) VALUES (1) RETURNING id`, `w:ins:t(a)[1] returns`},
	{"insert random", `INSERT INTO t (a) VALUES (random())`, `w:ins:t(a)[?] uncacheable`},

	// UPDATE.
	{"update", `UPDATE t SET a = 1, b = ?, c = c + 1 WHERE id = ? AND k IN (1, 2) AND x > 3`,
		`w:upd:t{id=$2,k in(1,2)}/set(a=1,b=$1,c=?)`},
	{"update alias", `UPDATE t AS z SET a = NULL WHERE z.id = 1`, `w:upd:t{id=1}/set(a=?)`},
	{"update row value", `UPDATE t SET (a, b) = (1, ?) WHERE id = 2`, `w:upd:t{id=2}/set(a=1,b=$1)`},
	{"update row subquery", `UPDATE t SET (a, b) = (SELECT x, y FROM u) WHERE id = 2`, `r:u w:upd:t{id=2}/set(a=?,b=?)`},
	{"update from", `UPDATE t SET a = u.a FROM u WHERE u.id = t.id AND t.k = 1 AND id = 3`,
		`r:u w:upd:t{k=1}/set(a=?)`},
	{"update subquery", `UPDATE t SET a = 1 WHERE id IN (SELECT t_id FROM u WHERE u.k = 2)`,
		`r:u{k=2} w:upd:t/set(a=1)`},
	{"update or replace", `UPDATE OR REPLACE t SET k = 1 WHERE id = 2`, `w:upd:t{id=2}/set(k=1) w:del:t`},
	{"update returning", `UPDATE t SET a = 1 RETURNING *`, `w:upd:t/set(a=1) returns`},
	{"update with cte", `WITH c AS (SELECT id FROM u) UPDATE t SET a = 1 WHERE id IN c`, `r:u w:upd:t/set(a=1)`},

	// DELETE.
	{"delete", `DELETE FROM t WHERE id = ? AND (a = 1 OR b = 2)`, `w:del:t{id=$1}`},
	{"delete all", `DELETE FROM main.t`, `w:del:t`},
	{"delete exists", `DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.t_id = t.id)`, `r:u w:del:t`},
	{"delete returning", `DELETE FROM t WHERE id = 1 RETURNING a`, `w:del:t{id=1} returns`},
	{"delete system", `DELETE FROM sqlite_sequence WHERE name = 't'`, `w:del:sqlite_sequence{name='t'} unknown`},

	// DDL.
	{"create table", `CREATE TABLE IF NOT EXISTS T (id INTEGER PRIMARY KEY, p INT REFERENCES parent ON DELETE CASCADE)`, `w:schema:t`},
	{"create table as", `CREATE TABLE t2 AS SELECT * FROM t WHERE a = 1`, `r:t{a=1} w:schema:t2`},
	{"drop table", `DROP TABLE IF EXISTS t`, `w:schema:t w:del:t`},
	{"alter rename", `ALTER TABLE t RENAME TO t2`, `w:schema:t w:schema:t2`},
	{"alter add", `ALTER TABLE t ADD COLUMN c TEXT`, `w:schema:t`},
	{"create index", `CREATE UNIQUE INDEX i ON T (a, lower(b)) WHERE c = 1`, `w:schema:t`},
	{"drop index", `DROP INDEX i`, `unknown`},
	{"create view", `CREATE VIEW v AS SELECT * FROM t`, `w:schema:v`},
	{"drop view", `DROP VIEW v`, `w:schema:v`},
	{"create trigger", `CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log (x) VALUES (new.id); END`, `w:schema:t`},
	{"drop trigger", `DROP TRIGGER tr`, `unknown`},
	{"create temp table", `CREATE TEMP TABLE x (a)`, `w:schema:x+temp`},
	{"create table in temp", `CREATE TABLE temp.x AS SELECT * FROM t`, `r:t w:schema:x+temp`},
	{"create temp view", `CREATE TEMPORARY VIEW v AS SELECT 1`, `w:schema:v+temp`},
	{"create temp trigger", `CREATE TEMP TRIGGER tr AFTER DELETE ON t BEGIN DELETE FROM u; END`, `w:schema:t+temp`},
	{"create virtual", `CREATE VIRTUAL TABLE f USING fts5(a)`, `w:schema:f`},

	// Session statements.
	{"begin", `BEGIN IMMEDIATE`, `session`},
	{"commit", `COMMIT`, `session`},
	{"rollback", `ROLLBACK TO SAVEPOINT s`, `session`},
	{"savepoint", `SAVEPOINT s`, `session`},
	{"release", `RELEASE s`, `session`},
	{"explain", `EXPLAIN QUERY PLAN SELECT * FROM t`, `session`},
	{"explain write", `EXPLAIN DELETE FROM t`, `session`},
	{"analyze", `ANALYZE`, `session`},
	{"vacuum into", `VACUUM INTO '/tmp/x.db'`, `session`},
	{"vacuum", `VACUUM`, `unknown`},
	{"pragma read", `PRAGMA table_info(t)`, `session`},
	{"pragma set", `PRAGMA foreign_keys = ON`, `session`},
	{"pragma writable_schema", `PRAGMA writable_schema = 1`, `unknown`},
	{"pragma case_sensitive_like", `PRAGMA case_sensitive_like = 1`, `unknown`},
	{"pragma unknown set", `PRAGMA made_up = 3`, `unknown`},
	{"transaction script", `BEGIN; COMMIT`, `uncacheable session`},
	{"script with write", `BEGIN; DELETE FROM t WHERE id = 1; COMMIT`, `w:del:t{id=1} uncacheable`},
	{"empty", ` -- nothing`, `session`},

	// Not analysed.
	{"attach", `ATTACH DATABASE 'x.db' AS aux`, `unknown`},
	{"detach", `DETACH aux`, `unknown`},
}

func TestAnalyze(t *testing.T) {
	a := New(Options{})
	for _, tc := range analyzeCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := a.Analyze(tc.sql)
			if err != nil {
				t.Fatalf("Analyze(%q): %v", tc.sql, err)
			}
			if r := render(got); r != tc.want {
				t.Errorf("Analyze(%q)\n got %v;\nwant %v", tc.sql, r, tc.want)
			}
			checkInvariants(t, tc.sql, got)
		})
	}
}

func TestAnalyzeExact(t *testing.T) {
	// render hides reasons and the exact Value types; check one fully.
	got, err := New(Options{}).Analyze(`SELECT * FROM t WHERE id = :id AND k = 'x'`)
	if err != nil {
		t.Fatal(err)
	}
	want := []freshsql.Read{{Table: "t", Conds: []freshsql.Cond{
		{Column: "id", Values: []freshsql.Value{{Param: 1, Name: "id"}}},
		{Column: "k", Values: []freshsql.Value{{Literal: "x"}}},
	}}}
	if len(got.Reads) != 1 || got.Reads[0].Table != "t" || len(got.Reads[0].Conds) != 2 {
		t.Fatalf("got %+v; want %+v", got.Reads, want)
	}
	for i, c := range got.Reads[0].Conds {
		w := want[0].Conds[i]
		if c.Column != w.Column || len(c.Values) != 1 || c.Values[0] != w.Values[0] {
			t.Errorf("cond %d: got %+v; want %+v", i, c, w)
		}
	}
}

func TestAnalyzeParseError(t *testing.T) {
	for _, q := range []string{`SELECT FROM`, `SELEC 1`, `INSERT INTO`, "SELECT '"} {
		got, err := New(Options{}).Analyze(q)
		if err == nil || got != nil {
			t.Errorf("Analyze(%q) = %v, %v; want nil and an error", q, got, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "freshsql/sqlite: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
		if errors.Is(err, ErrInternal) {
			t.Errorf("Analyze(%q): internal error %v", q, err)
		}
	}
}

func TestPureFunctions(t *testing.T) {
	a := New(Options{PureFunctions: []string{"My_Func", "date", "regexp"}})
	for _, q := range []string{
		`SELECT my_func(a) FROM t`,
		`SELECT date(created) FROM t`,
		`SELECT * FROM t WHERE a REGEXP ?`,
	} {
		got, err := a.Analyze(q)
		if err != nil {
			t.Fatal(err)
		}
		if got.Uncacheable != "" {
			t.Errorf("Analyze(%q).Uncacheable = %q; want empty", q, got.Uncacheable)
		}
	}
	if got, _ := a.Analyze(`SELECT other(a) FROM t`); got.Uncacheable == "" {
		t.Errorf("other(a) is cacheable; want Uncacheable")
	}
}

// TestBoundValueDistinguishes checks that two texts differing only in a value
// inside a CTE or a UNION branch report that value, so their dependencies
// differ.
func TestBoundValueDistinguishes(t *testing.T) {
	a := New(Options{})
	pairs := [][2]string{
		{`WITH c AS (SELECT * FROM t WHERE id = 1) SELECT * FROM c`, `WITH c AS (SELECT * FROM t WHERE id = 2) SELECT * FROM c`},
		{`SELECT a FROM t WHERE id = 1 UNION SELECT a FROM u WHERE id = 3`, `SELECT a FROM t WHERE id = 1 UNION SELECT a FROM u WHERE id = 4`},
	}
	for _, p := range pairs {
		x, err1 := a.Analyze(p[0])
		y, err2 := a.Analyze(p[1])
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if render(x) == render(y) {
			t.Errorf("%q and %q both analyse as %v; want the differing value reported", p[0], p[1], render(x))
		}
	}
	got, err := a.Analyze(`WITH c AS (SELECT * FROM t WHERE id = ?) SELECT * FROM c UNION ALL SELECT * FROM u WHERE u.id = ?`)
	if err != nil {
		t.Fatal(err)
	}
	if r, want := render(got), `r:t{id=$1} r:u{id=$2} returns`; r != want {
		t.Errorf("got %v; want %v", r, want)
	}
}

func TestDialect(t *testing.T) {
	if got := New(Options{}).Dialect(); got != "sqlite" {
		t.Errorf("got %v; want sqlite", got)
	}
}

func TestHugeInput(t *testing.T) {
	a := New(Options{})
	var b strings.Builder
	b.WriteString("SELECT * FROM t WHERE id IN (")
	for i := range 20000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("?")
	}
	b.WriteString(")")
	got, err := a.Analyze(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Reads) != 1 || len(got.Reads[0].Conds) != 1 || len(got.Reads[0].Conds[0].Values) != 20000 {
		t.Errorf("got %d reads; want one read with 20000 values", len(got.Reads))
	}
	deep := strings.Repeat("(", 2000) + "1" + strings.Repeat(")", 2000)
	if _, err := a.Analyze("SELECT " + deep + " FROM t WHERE " + strings.Repeat("a = 1 AND ", 3000) + "b = 2"); err != nil {
		t.Fatal(err)
	}
	nested := strings.Repeat("SELECT * FROM (", 500) + "SELECT 1" + strings.Repeat(")", 500)
	if _, err := a.Analyze(nested); err != nil {
		t.Fatal(err)
	}
}

func TestReturnAt(t *testing.T) {
	a := New(Options{})
	for _, tc := range []struct {
		sql  string
		want int // -1: the end of the text
	}{
		{`UPDATE t SET a = 1 WHERE id = ?`, -1},
		{`DELETE FROM t`, -1},
		{`WITH c AS (SELECT 1) DELETE FROM t WHERE id IN c`, -1},
		{`UPDATE t SET a = 1 FROM u WHERE u.id = t.id`, -1},
		{"UPDATE t SET a = 'x;y' WHERE id = 2 ; -- done\n", len(`UPDATE t SET a = 'x;y' WHERE id = 2`)},
		{"DELETE FROM t /* all */;;", len(`DELETE FROM t`)},
		{`DELETE FROM t RETURNING id`, 0},
		{`UPDATE OR REPLACE t SET a = 1`, 0},
		{`DELETE FROM t; DELETE FROM u`, 0},
		{`INSERT INTO t (a) VALUES (1)`, 0},
		{`DELETE FROM sqlite_sequence`, 0},
	} {
		got, err := a.Analyze(tc.sql)
		if err != nil {
			t.Fatal(err)
		}
		want := tc.want
		if want < 0 {
			want = len(tc.sql)
		}
		for _, w := range got.Writes {
			if w.ReturnAt != want {
				t.Errorf("Analyze(%q).ReturnAt: got %v; want %v", tc.sql, w.ReturnAt, want)
			}
		}
	}
}
