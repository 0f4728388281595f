package mysql

import (
	"github.com/freshcache/fresh/freshsql"
)

// Flags of a corpus case.
const (
	fReturns     = 1 << iota // Returns
	fUncacheable             // Uncacheable is set
	fUnknown                 // Unknown is set
	fSession                 // Session
	fError                   // Analyze returns an error
	fExplain                 // a read the EXPLAIN cross-check runs on the server
)

// corpusCase is one SQL text and what Analyze must report for it.
type corpusCase struct {
	sql    string
	reads  []freshsql.Read
	writes []freshsql.Write
	flags  int
}

// A cacheable read that the EXPLAIN cross-check runs.
const read = fReturns | fExplain

// corpus is the table of the unit tests; its schema (for the cross-check) is
// xcheckSchema. Columns are lower-case in conditions; table names keep their
// case.
var corpus = []corpusCase{
	// Conditions: =, reversed, IN, <=>, NULL, literal kinds.
	{"SELECT * FROM users WHERE id = ?", reads(rd("users", cd("id", p(1)))), nil, read},
	{"SELECT name FROM users WHERE id = 5", reads(rd("users", cd("id", l(5)))), nil, read},
	{"SELECT name FROM users WHERE 5 = id AND ? = org_id", reads(rd("users", cd("id", l(5)), cd("org_id", p(1)))), nil, read},
	{"SELECT * FROM users WHERE id IN (1, ?, NULL)", reads(rd("users", cd("id", l(1), p(1)))), nil, read},
	{"SELECT * FROM users WHERE name = 'bob' AND id = ?", reads(rd("users", cd("id", p(1)))), nil, read},
	{"SELECT * FROM users WHERE name = ?", reads(rd("users", cd("name", p(1)))), nil, read},
	{"SELECT * FROM users WHERE id = 1.5 OR id = 2", reads(rd("users")), nil, read},
	{"SELECT * FROM users WHERE id = 1.5", reads(rd("users")), nil, read},
	{"SELECT * FROM users WHERE id = -3", reads(rd("users", cd("id", l(-3)))), nil, read},
	{"SELECT * FROM users WHERE id = 0x10 AND org_id = 1e1 AND status = b'1'", reads(rd("users")), nil, read},
	{"SELECT * FROM users WHERE id = 18446744073709551615", reads(rd("users")), nil, read},
	{"SELECT * FROM users WHERE status = TRUE", reads(rd("users", cd("status", l(1)))), nil, read},
	{"SELECT * FROM users WHERE id <=> ?", reads(rd("users", cd("id", p(1)))), nil, read},
	{"SELECT * FROM users WHERE id <=> NULL", reads(rd("users")), nil, read},
	{"SELECT * FROM users WHERE id = NULL", reads(rd("users")), nil, read},
	{"SELECT * FROM users WHERE id IN (NULL)", reads(rd("users")), nil, read},
	{"SELECT * FROM users WHERE (id = 1 OR id = 2) AND ((org_id = 3))", reads(rd("users", cd("org_id", l(3)))), nil, read},
	{"SELECT * FROM users WHERE NOT id = 1 AND id <> 2 AND id > 3", reads(rd("users")), nil, read},
	{"SELECT * FROM users WHERE id = CAST(? AS SIGNED) AND org_id = ? + 0", reads(rd("users")), nil, read},
	{"SELECT * FROM users WHERE (id, org_id) IN ((1, 2))", reads(rd("users")), nil, read},
	{"SELECT * FROM users WHERE id IN (1, org_id)", reads(rd("users")), nil, read},
	{"SELECT * FROM users WHERE name = 'x' COLLATE utf8mb4_bin AND id = 1", reads(rd("users", cd("id", l(1)))), nil, read},
	{"SELECT `Name` FROM `users` WHERE `ID` = 1", reads(rd("users", cd("id", l(1)))), nil, read},
	{"SELECT * FROM Users WHERE id = 1", reads(rd("Users", cd("id", l(1)))), nil, fReturns},
	{"SELECT * FROM db1.users AS x WHERE x.id = 1 AND db1.x.org_id = 2", reads(rd("users", cd("id", l(1)), cd("org_id", l(2)))), nil, fReturns},
	{"SELECT * FROM users WHERE users.id = 4", reads(rd("users", cd("id", l(4)))), nil, read},
	{"SELECT * FROM users u WHERE users.id = 4", reads(rd("users")), nil, fReturns},

	// Subqueries: IN, EXISTS, select list, FROM. An unqualified column in a
	// subquery may be the enclosing query's, so it pins nothing.
	{"SELECT * FROM users WHERE id IN (SELECT user_id FROM orders WHERE status = 1)", reads(rd("users"), rd("orders")), nil, read},
	{"SELECT * FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.status = ?)", reads(rd("users"), rd("orders", cd("status", p(1)))), nil, read},
	{"SELECT * FROM users u WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE u.id = 3)", reads(rd("users"), rd("orders")), nil, read},
	{"SELECT id, (SELECT COUNT(*) FROM orders WHERE orders.user_id = users.id AND orders.status = 1) FROM users WHERE id = 2", reads(rd("users", cd("id", l(2))), rd("orders", cd("status", l(1)))), nil, read},
	{"SELECT * FROM (SELECT * FROM users WHERE org_id = ?) d WHERE d.id = 5", reads(rd("users", cd("org_id", p(1)))), nil, read},
	{"SELECT * FROM (SELECT id FROM users) d WHERE id = 5", reads(rd("users")), nil, read},
	{"SELECT * FROM users u, LATERAL (SELECT * FROM orders WHERE user_id = u.id AND id = 1) o", reads(rd("users"), rd("orders")), nil, fReturns},
	{"SELECT * FROM users WHERE org_id = (SELECT id FROM orgs WHERE orgs.id = ? LIMIT 1)", reads(rd("users"), rd("orgs", cd("id", p(1)))), nil, read},

	// Joins.
	{"SELECT u.name, o.total FROM users u JOIN orders o ON o.user_id = u.id WHERE u.id = ?", reads(rd("users", cd("id", p(1))), rd("orders")), nil, read},
	{"SELECT * FROM users u INNER JOIN orders o ON o.user_id = u.id AND o.status = 2", reads(rd("users"), rd("orders", cd("status", l(2)))), nil, read},
	{"SELECT * FROM users u LEFT JOIN orders o ON o.user_id = u.id AND o.status = 2 WHERE u.org_id = ? AND o.total = 5", reads(rd("users", cd("org_id", p(1))), rd("orders", cd("status", l(2)))), nil, read},
	{"SELECT * FROM users u LEFT OUTER JOIN orders o ON o.user_id = u.id AND u.status = 1", reads(rd("users"), rd("orders")), nil, read},
	{"SELECT * FROM users u LEFT OUTER JOIN orders o ON o.status = 2 WHERE u.id = 1", reads(rd("users", cd("id", l(1))), rd("orders", cd("status", l(2)))), nil, read},
	{"SELECT * FROM users u LEFT JOIN orders o ON o.user_id = u.id LEFT JOIN items i ON i.order_id = o.id AND i.qty = 4 WHERE u.id = 2", reads(rd("users", cd("id", l(2))), rd("orders"), rd("items", cd("qty", l(4)))), nil, read},
	{"SELECT * FROM orders o RIGHT JOIN users u ON o.user_id = u.id AND o.status = 3 WHERE u.id = 1", reads(rd("orders", cd("status", l(3))), rd("users", cd("id", l(1)))), nil, read},
	{"SELECT * FROM users CROSS JOIN orgs WHERE users.id = 1 AND orgs.id = ?", reads(rd("users", cd("id", l(1))), rd("orgs", cd("id", p(1)))), nil, read},
	{"SELECT * FROM users u STRAIGHT_JOIN orders o ON o.user_id = u.id WHERE o.id = 7", reads(rd("users"), rd("orders", cd("id", l(7)))), nil, read},
	{"SELECT STRAIGHT_JOIN * FROM users, orgs WHERE users.org_id = orgs.id AND orgs.id = 1", reads(rd("users"), rd("orgs", cd("id", l(1)))), nil, read},
	{"SELECT * FROM t NATURAL JOIN u WHERE t.a = 1", reads(rd("t", cd("a", l(1))), rd("u")), nil, read},
	{"SELECT * FROM orders JOIN items USING (id) WHERE items.qty = 2", reads(rd("orders"), rd("items", cd("qty", l(2)))), nil, read},
	{"SELECT * FROM users, orgs WHERE status = 1", reads(rd("users"), rd("orgs")), nil, read},
	{"SELECT * FROM users u JOIN (orders o LEFT JOIN items i ON i.order_id = o.id AND i.qty = 1) ON o.user_id = u.id WHERE i.sku = 5 AND o.id = 2", reads(rd("users"), rd("orders", cd("id", l(2))), rd("items", cd("qty", l(1)))), nil, read},
	{"SELECT * FROM users u LEFT JOIN (orders o JOIN items i ON i.order_id = o.id AND i.qty = 1) ON o.user_id = u.id AND o.id = 3", reads(rd("users"), rd("orders"), rd("items", cd("qty", l(1)))), nil, read},

	// CTEs: a CTE's name is never a table; a CTE shadows a table.
	{"WITH a AS (SELECT * FROM users WHERE id = ?) SELECT * FROM a JOIN orders ON orders.user_id = a.id", reads(rd("users", cd("id", p(1))), rd("orders")), nil, read},
	{"WITH users AS (SELECT * FROM orgs WHERE id = 1) SELECT * FROM users WHERE id = 2", reads(rd("orgs", cd("id", l(1)))), nil, read},
	{"WITH t AS (SELECT * FROM t WHERE id = 1) SELECT * FROM t", reads(rd("t", cd("id", l(1)))), nil, read},
	{"WITH RECURSIVE r AS (SELECT id, parent_id FROM orgs WHERE id = ? UNION ALL SELECT o.id, o.parent_id FROM orgs o JOIN r ON o.parent_id = r.id) SELECT * FROM r", reads(rd("orgs", cd("id", p(1))), rd("orgs")), nil, read},
	{"WITH RECURSIVE c AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM c WHERE n < ?) SELECT * FROM c", nil, nil, read},
	{"SELECT * FROM users WHERE org_id IN (WITH x AS (SELECT id FROM orgs WHERE id = 3) SELECT id FROM x)", reads(rd("users"), rd("orgs")), nil, read},
	{"WITH users AS (SELECT 1 AS id) SELECT * FROM db1.users", reads(rd("users")), nil, fReturns},
	{"WITH a AS (SELECT id FROM users), b AS (SELECT * FROM a WHERE id = 1) SELECT * FROM b", reads(rd("users")), nil, read},
	{"WITH a AS (SELECT * FROM b), b AS (SELECT 1 AS id) SELECT * FROM a", reads(rd("b")), nil, fReturns},
	{"SELECT * FROM (WITH o AS (SELECT * FROM orders WHERE id = 1) SELECT * FROM o) d, o", reads(rd("orders", cd("id", l(1))), rd("o")), nil, fReturns},

	// UNION, ORDER BY, LIMIT, aggregates, HAVING.
	{"SELECT id FROM users WHERE id = ? UNION SELECT id FROM orgs WHERE id = ?", reads(rd("users", cd("id", p(1))), rd("orgs", cd("id", p(2)))), nil, read},
	{"(SELECT id FROM users WHERE org_id = 1) UNION ALL (SELECT user_id FROM orders WHERE id = ?) ORDER BY 1 LIMIT 10", reads(rd("users", cd("org_id", l(1))), rd("orders", cd("id", p(1)))), nil, read},
	{"SELECT id FROM users UNION SELECT id FROM orgs ORDER BY (SELECT MAX(id) FROM items)", reads(rd("users"), rd("orgs"), rd("items")), nil, read},
	{"SELECT * FROM users WHERE org_id = ? ORDER BY id LIMIT ?, ?", reads(rd("users", cd("org_id", p(1)))), nil, read},
	{"SELECT * FROM users WHERE org_id = ? LIMIT ? OFFSET ?", reads(rd("users", cd("org_id", p(1)))), nil, read},
	{"SELECT org_id, COUNT(*), SUM(age), AVG(age), MIN(id), MAX(id) FROM users WHERE status = 1 GROUP BY org_id HAVING org_id = 5", reads(rd("users", cd("status", l(1)))), nil, read},
	{"SELECT org_id FROM users GROUP BY org_id HAVING COUNT(*) > (SELECT COUNT(*) FROM orgs WHERE orgs.id = 1)", reads(rd("users"), rd("orgs", cd("id", l(1)))), nil, read},
	{"SELECT id, ROW_NUMBER() OVER (PARTITION BY org_id ORDER BY id) FROM users WHERE org_id = 2", reads(rd("users", cd("org_id", l(2)))), nil, read},

	// Hints, comments, functions, JSON, partitions.
	{"SELECT * FROM users USE INDEX (idx_org) WHERE id = 1", reads(rd("users", cd("id", l(1)))), nil, read},
	{"SELECT * FROM users FORCE INDEX (idx_org) WHERE id = 1", reads(rd("users", cd("id", l(1)))), nil, read},
	{"SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM users WHERE id = 1", reads(rd("users", cd("id", l(1)))), nil, read},
	{"SELECT /*!40001 SQL_NO_CACHE */ * FROM users WHERE id = 1", reads(rd("users")), nil, read},
	{"SELECT * FROM users WHERE id = ? /*!40001 AND org_id = ? */ AND status = ?", reads(rd("users")), nil, read},
	{"SELECT * FROM users /* WHERE id = 1 */ WHERE org_id = 2 -- AND id = 3\n", reads(rd("users", cd("org_id", l(2)))), nil, read},
	{"SELECT JSON_EXTRACT(data, '$.a'), CAST(age AS CHAR) FROM users WHERE JSON_CONTAINS(data, '1', '$.b') AND id = 2", reads(rd("users", cd("id", l(2)))), nil, read},
	{"SELECT data->>'$.b', data->'$.c' FROM users WHERE id = 2", reads(rd("users", cd("id", l(2)))), nil, fReturns},
	{"SELECT * FROM active_users WHERE id = 1", reads(rd("active_users", cd("id", l(1)))), nil, read},
	{"SELECT b.id, u.name FROM big_orders b JOIN users u ON u.id = b.user_id", reads(rd("big_orders"), rd("users")), nil, read},
	{"SELECT JSON_ARRAYAGG(JSON_OBJECT('id', id)) FROM users", reads(rd("users")), nil, read},
	{"SELECT GROUP_CONCAT(name ORDER BY name SEPARATOR ','), DATE_FORMAT(DATE_ADD(created, INTERVAL ? DAY), '%Y') FROM users", reads(rd("users")), nil, read},
	{"SELECT LOWER(name), UPPER(email), COALESCE(age, 0), IFNULL(age, 1), IF(age > 1, 1, 2), NULLIF(age, 3), GREATEST(1, age), LEAST(1, age), LENGTH(name), CHAR_LENGTH(name), SUBSTRING(name, 1, 2), TRIM(name), REPLACE(name, 'a', 'b'), CONCAT(name, email), CONCAT_WS(',', name), ABS(age), ROUND(age), FLOOR(age), CEIL(age), MOD(age, 2) FROM users", reads(rd("users")), nil, read},
	{"SELECT CASE WHEN age > 1 THEN 'a' ELSE 'b' END, age BETWEEN 1 AND 2, name LIKE 'a%', age IS NULL FROM users", reads(rd("users")), nil, read},
	{"SELECT * FROM t PARTITION (p0) WHERE id = 1", reads(rd("t", cd("id", l(1)))), nil, fReturns},
	{"SELECT 1", nil, nil, read},
	{"TABLE users", reads(rd("users")), nil, fReturns},
	{"VALUES ROW(1, 2)", nil, nil, fReturns},

	// Uncacheable reads.
	{"SELECT NOW()", nil, nil, fReturns | fUncacheable},
	{"SELECT * FROM users WHERE created > CURRENT_TIMESTAMP - INTERVAL 1 DAY", reads(rd("users")), nil, fReturns | fUncacheable},
	{"SELECT RAND(), UUID(), UUID_SHORT(), CURDATE(), CURTIME(), SYSDATE(), UNIX_TIMESTAMP(), UTC_TIMESTAMP()", nil, nil, fReturns | fUncacheable},
	{"SELECT * FROM users WHERE id = LAST_INSERT_ID()", reads(rd("users")), nil, fReturns | fUncacheable},
	{"SELECT CONNECTION_ID(), ROW_COUNT(), FOUND_ROWS(), USER(), CURRENT_USER(), DATABASE()", nil, nil, fReturns | fUncacheable},
	{"SELECT my_func(id) FROM users", reads(rd("users")), nil, fReturns | fUncacheable | fUnknown},
	{"SELECT db1.f(1)", nil, nil, fReturns | fUncacheable | fUnknown},
	{"SELECT NEXTVAL(seq)", nil, writes(upd("seq", nil)), fReturns | fUncacheable},
	{"SELECT LASTVAL(seq)", nil, nil, fReturns | fUncacheable},
	{"SELECT SETVAL(seq, 5)", nil, nil, fReturns | fUncacheable | fUnknown},
	{"SELECT GET_LOCK('x', 1)", nil, nil, fReturns | fUncacheable | fUnknown},
	{"SELECT RELEASE_LOCK('x')", nil, nil, fReturns | fUncacheable | fUnknown},
	{"SELECT SLEEP(1)", nil, nil, fReturns | fUncacheable},
	{"SELECT * FROM users WHERE id = 1 FOR UPDATE", reads(rd("users", cd("id", l(1)))), nil, fReturns | fUncacheable},
	{"SELECT * FROM users WHERE id = 1 FOR UPDATE SKIP LOCKED", reads(rd("users", cd("id", l(1)))), nil, fReturns | fUncacheable},
	{"SELECT * FROM users WHERE id = 1 LOCK IN SHARE MODE", reads(rd("users", cd("id", l(1)))), nil, fReturns | fUncacheable},
	{"SELECT SQL_CALC_FOUND_ROWS * FROM users LIMIT 1", reads(rd("users")), nil, fReturns | fUncacheable},
	{"SELECT * FROM users FOR SYSTEM_TIME ALL", reads(rd("users")), nil, fReturns | fUncacheable},
	{"SELECT * FROM information_schema.tables", reads(rd("tables")), nil, fReturns | fUncacheable},
	{"SELECT * FROM mysql.user", reads(rd("user")), nil, fReturns | fUncacheable},
	{"SELECT * FROM performance_schema.threads JOIN users", reads(rd("threads"), rd("users")), nil, fReturns | fUncacheable},
	{"SELECT @x, name FROM users", reads(rd("users")), nil, fReturns | fUncacheable},
	{"SELECT @@version", nil, nil, fReturns | fUncacheable},
	{"SELECT id INTO @x FROM users WHERE id = 1", reads(rd("users", cd("id", l(1)))), nil, fReturns | fUncacheable},
	{"SELECT id FROM users INTO OUTFILE '/tmp/x'", reads(rd("users")), nil, fReturns | fUncacheable},
	{"SELECT 1; SELECT id FROM users", reads(rd("users")), nil, fReturns | fUncacheable},

	// INSERT and REPLACE.
	{"INSERT INTO users (id, name) VALUES (1, 'a'), (?, ?)", nil, writes(ins("users", []string{"id", "name"}, [][]*freshsql.Value{row(lp(1), lp("a")), row(pp(1), pp(2))}, false)), 0},
	{"INSERT INTO users SET id = ?, Name = 'x'", nil, writes(ins("users", []string{"id", "name"}, [][]*freshsql.Value{row(pp(1), lp("x"))}, false)), 0},
	{"INSERT INTO users (id, created, age, name) VALUES (DEFAULT, NOW(), 1 + 1, NULL)", nil, writes(ins("users", []string{"id", "created", "age", "name"}, [][]*freshsql.Value{row(nil, nil, nil, nil)}, false)), fUncacheable},
	{"INSERT INTO users (id, status, age) VALUES (1, TRUE, 9.5)", nil, writes(ins("users", []string{"id", "status", "age"}, [][]*freshsql.Value{row(lp(1), lp(1), nil)}, false)), 0},
	{"INSERT INTO users VALUES (1, 'a')", nil, writes(ins("users", nil, nil, false)), 0},
	{"INSERT INTO db1.users (id) VALUES (1)", nil, writes(ins("users", []string{"id"}, [][]*freshsql.Value{row(lp(1))}, false)), 0},
	{"INSERT INTO orders (id, user_id) SELECT id, id FROM users WHERE id = ?", reads(rd("users", cd("id", p(1)))), writes(ins("orders", []string{"id", "user_id"}, nil, false)), 0},
	{"INSERT INTO t TABLE u", reads(rd("u")), writes(ins("t", nil, nil, false)), 0},
	{"INSERT INTO users (id, age) VALUES (?, ?) ON DUPLICATE KEY UPDATE age = VALUES(age)", nil, writes(ins("users", []string{"id", "age"}, [][]*freshsql.Value{row(pp(1), pp(2))}, true)), 0},
	{"INSERT INTO users (id, age) VALUES (1, 2) AS new ON DUPLICATE KEY UPDATE age = new.age", nil, writes(ins("users", []string{"id", "age"}, [][]*freshsql.Value{row(lp(1), lp(2))}, true)), 0},
	{"INSERT INTO users (id) VALUES (1) ON DUPLICATE KEY UPDATE age = (SELECT COUNT(*) FROM orders)", reads(rd("orders")), writes(ins("users", []string{"id"}, [][]*freshsql.Value{row(lp(1))}, true)), 0},
	{"INSERT IGNORE INTO users (id) VALUES (1)", nil, writes(ins("users", []string{"id"}, [][]*freshsql.Value{row(lp(1))}, false)), 0},
	{"INSERT IGNORE INTO orders SELECT * FROM orders WHERE id = 1", reads(rd("orders", cd("id", l(1)))), writes(ins("orders", nil, nil, false)), 0},
	{"REPLACE INTO users (id, name) VALUES (1, 'x')", nil, writes(ins("users", []string{"id", "name"}, [][]*freshsql.Value{row(lp(1), lp("x"))}, true)), 0},
	{"INSERT INTO users (id) VALUES (1) RETURNING id", nil, writes(ins("users", []string{"id"}, [][]*freshsql.Value{row(lp(1))}, false)), fReturns},
	{"INSERT INTO users (id) VALUES (my_func(1))", nil, writes(ins("users", []string{"id"}, [][]*freshsql.Value{row(nil)}, false)), fUncacheable | fUnknown},
	{"INSERT INTO users (id, age) VALUES (1, 2, 3)", nil, writes(ins("users", []string{"id", "age"}, nil, false)), 0},
	{"INSERT INTO users (id, name) VALUES (1, 'x' /*! , 'y' */)", nil, writes(ins("users", []string{"id", "name"}, nil, false)), 0},

	// UPDATE.
	{"UPDATE users SET name = ?, age = age + 1 WHERE id = ?", nil, writes(upd("users", where(cd("id", p(2))), asg("name", pp(1)), asg("age", nil))), 0},
	{"UPDATE users SET status = 0 WHERE org_id = 5 ORDER BY id LIMIT 10", nil, writes(upd("users", where(cd("org_id", l(5))), asg("status", lp(0)))), 0},
	{"UPDATE users u SET u.status = 2 WHERE u.id = 1 AND status = 3", nil, writes(upd("users", where(cd("id", l(1)), cd("status", l(3))), asg("status", lp(2)))), 0},
	{"UPDATE users SET age = 1 WHERE id = 1 OR id = 2", nil, writes(upd("users", nil, asg("age", lp(1)))), 0},
	{"UPDATE users SET age = 1 WHERE name = 'bob'", nil, writes(upd("users", nil, asg("age", lp(1)))), 0},
	{"UPDATE users SET status = 1 WHERE id IN (SELECT user_id FROM orders WHERE total > 5)", reads(rd("orders")), writes(upd("users", nil, asg("status", lp(1)))), 0},
	{"UPDATE users u JOIN orders o ON o.user_id = u.id SET u.status = 1, o.status = ? WHERE o.id = 5", reads(rd("users"), rd("orders")), writes(upd("users", nil, asg("status", lp(1))), upd("orders", nil, asg("status", pp(1)))), 0},
	{"UPDATE users, orgs SET name = 'x' WHERE users.org_id = orgs.id", reads(rd("users"), rd("orgs")), writes(upd("users", nil, asg("name", lp("x"))), upd("orgs", nil, asg("name", lp("x")))), 0},
	{"UPDATE users SET created = NOW() WHERE id = 1", nil, writes(upd("users", where(cd("id", l(1))), asg("created", nil))), fUncacheable},

	// DELETE.
	{"DELETE FROM users WHERE id = ?", nil, writes(del("users", cd("id", p(1)))), 0},
	{"DELETE FROM users WHERE org_id = 1 ORDER BY id LIMIT 5", nil, writes(del("users", cd("org_id", l(1)))), 0},
	{"DELETE FROM users", nil, writes(del("users")), 0},
	{"DELETE FROM users WHERE id IN (SELECT user_id FROM orders WHERE id = 4)", reads(rd("orders")), writes(del("users")), 0},
	{"DELETE u, o FROM users u JOIN orders o ON o.user_id = u.id WHERE u.id = 1", reads(rd("users"), rd("orders")), writes(del("users"), del("orders")), 0},
	{"DELETE FROM orders USING orders JOIN users ON users.id = orders.user_id WHERE users.status = 0", reads(rd("orders"), rd("users")), writes(del("orders")), 0},
	{"DELETE FROM users WHERE id = 1 RETURNING id", nil, nil, fError},

	// TRUNCATE and DDL.
	{"TRUNCATE TABLE users", nil, writes(truncW("users")), 0},
	{"TRUNCATE users", nil, writes(truncW("users")), 0},
	{"CREATE TABLE x (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES users (id) ON DELETE CASCADE)", nil, writes(schemaW("x")), 0},
	{"CREATE TABLE x AS SELECT * FROM users", reads(rd("users")), writes(schemaW("x")), 0},
	{"CREATE TEMPORARY TABLE tmp (a INT)", nil, writes(schemaW("tmp")), 0},
	{"ALTER TABLE users ADD COLUMN z INT", nil, writes(schemaW("users")), 0},
	{"ALTER TABLE users ADD COLUMN z INT, RENAME TO people", nil, writes(schemaW("users"), schemaW("people")), 0},
	{"DROP TABLE IF EXISTS a, db1.b", nil, writes(schemaW("a"), schemaW("b")), 0},
	{"RENAME TABLE a TO b, c TO d", nil, writes(schemaW("a"), schemaW("c"), schemaW("b"), schemaW("d")), 0},
	{"CREATE INDEX i ON users (name)", nil, writes(schemaW("users")), 0},
	{"DROP INDEX i ON users", nil, writes(schemaW("users")), 0},
	{"CREATE VIEW v AS SELECT * FROM users", nil, writes(schemaW("v")), 0},
	{"CREATE OR REPLACE VIEW v AS SELECT * FROM users", nil, writes(schemaW("v")), 0},
	{"DROP VIEW v", nil, writes(schemaW("v")), 0},
	{"CREATE TRIGGER tr AFTER INSERT ON users FOR EACH ROW INSERT INTO log (id) VALUES (NEW.id)", nil, writes(schemaW("users")), 0},
	{"DROP TRIGGER tr", nil, nil, fUncacheable | fUnknown},
	{"CREATE PROCEDURE p() BEGIN SELECT 1; END", nil, nil, fUncacheable | fUnknown},
	{"CREATE DATABASE d", nil, nil, fUncacheable | fUnknown},

	// Session statements.
	{"BEGIN", nil, nil, fSession},
	{"START TRANSACTION", nil, nil, fSession},
	{"COMMIT", nil, nil, fSession},
	{"ROLLBACK", nil, nil, fSession},
	{"SAVEPOINT s", nil, nil, fSession},
	{"RELEASE SAVEPOINT s", nil, nil, fSession},
	{"ROLLBACK TO SAVEPOINT s", nil, nil, fSession},
	{"SET NAMES utf8mb4", nil, nil, fSession},
	{"SET @x = 1", nil, nil, fSession},
	{"SET @x = my_func()", nil, nil, fUncacheable | fUnknown},
	{"SHOW TABLES", nil, nil, fSession},
	{"DESCRIBE users", nil, nil, fSession},
	{"EXPLAIN SELECT * FROM users", nil, nil, fSession},
	{"USE db1", nil, nil, fSession},
	{"LOCK TABLES users READ", nil, nil, fSession},
	{"UNLOCK TABLES", nil, nil, fSession},
	{"ANALYZE TABLE users", nil, nil, fSession},
	{"BEGIN; UPDATE users SET age = ? WHERE id = ?; COMMIT", nil, writes(upd("users", nil, asg("age", nil))), fUncacheable},
	{"UPDATE users SET age = ? WHERE id = ?; DELETE FROM orders WHERE id = ?", nil, writes(upd("users", where(cd("id", p(2))), asg("age", pp(1))), del("orders")), fUncacheable},

	// Unknown statements, and texts the parser rejects or reads differently
	// from the server.
	{"CALL p(1)", nil, nil, fUncacheable | fUnknown},
	{"LOAD DATA INFILE 'x' INTO TABLE users", nil, nil, fUncacheable | fUnknown},
	{"PREPARE s FROM 'DELETE FROM users'", nil, nil, fUncacheable | fUnknown},
	{"EXECUTE s", nil, nil, fUncacheable | fUnknown},
	{"GRANT SELECT ON users TO u", nil, nil, fUncacheable | fUnknown},
	{"DO 1", nil, nil, fError},
	{"HANDLER users OPEN", nil, nil, fError},
	{"SELECT * FROM users FOR SHARE", nil, nil, fError},
	{"SELECT * FROM users WHERE id = 1--1", nil, nil, fError},
	{"DELETE FROM users WHERE id = 1 /*!123 OR 1 = 1 */", nil, nil, fError},
	{"", nil, nil, fError},
	{";", nil, nil, fError},
	{"SELEC 1", nil, nil, fError},
}
