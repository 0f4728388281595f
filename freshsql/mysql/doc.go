// Package mysql is the MySQL and MariaDB analyser of freshsql: it reports which
// base tables a SQL text reads, under which conditions, and what it writes, so
// that freshsql can cache query results and invalidate them precisely when
// writes commit.
//
// Texts are parsed with github.com/dolthub/vitess (go/vt/sqlparser). The
// analyser follows the rule of freshsql.Analysis: when in doubt it says less
// about a read (fewer conditions, or Uncacheable) and more about a write (fewer
// pinned columns, or Unknown).
//
// # What a condition means on MySQL
//
// MySQL compares strings under the column's collation, which is usually case-
// and trailing-space-insensitive, and converts strings to numbers when one side
// of a comparison is a number. So:
//
//   - a condition is reported only when every value is an integer literal or a
//     bound parameter; string, decimal, float, hex and bit literals are never
//     reported;
//   - a wrapper must drop a condition whose bound parameter value is a string
//     (or []byte), and must treat a condition value and a written value of
//     different kinds (an integer against a string, say) as possibly equal.
//
// # Statements
//
// SELECT, TABLE, VALUES, UNION/INTERSECT/EXCEPT and WITH [RECURSIVE] are reads;
// INSERT, REPLACE, UPDATE, DELETE (single- and multi-table), TRUNCATE and DDL
// are writes; transaction control, SET, SHOW, EXPLAIN, USE, LOCK TABLES and
// similar are Session; CALL, LOAD DATA, PREPARE/EXECUTE and anything else are
// Unknown. A text the parser rejects is an error, which freshsql treats as
// Unknown.
//
// Write.ReturnAt is always 0: MySQL has no RETURNING, and the parser rejects
// MariaDB's DELETE ... RETURNING.
//
// ReadCatalog reads views, foreign-key actions and triggers of the current
// database (DATABASE()) from information_schema.
package mysql
