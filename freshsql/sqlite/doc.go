// Package sqlite is the SQLite analyser of freshsql: it parses SQLite SQL texts
// (with github.com/sqlc-dev/meyer) and reports which tables they read, under
// which conditions, and what they write, so that freshsql can cache query
// results and invalidate them when writes commit.
//
// # Guarantees
//
// The analyser follows the rule of freshsql.Analysis: when unsure it says less
// about a read (fewer conditions, or an Uncacheable reason) and more about a
// write (fewer pinned columns, or an Unknown reason). In particular:
//
//   - Every base table named by a statement is reported, through joins,
//     subqueries anywhere in an expression, CTEs (a CTE name resolves against
//     the WITH lists in scope, which shadow tables of the same name, and is
//     never reported), compound selects, INSERT ... SELECT, UPDATE ... FROM and
//     the subqueries of writes.
//   - A condition is reported for a table occurrence only from a top-level AND
//     term "column = value", "value = column", "column IN (values...)" or a
//     row-value form of those, where a value is a literal or a bound
//     parameter, taken from the WHERE clause of the SELECT whose FROM list
//     holds the occurrence (never for a table on the nullable side of an
//     outer join) or from an ON clause that filters it (an inner join's ON,
//     or the ON of the LEFT JOIN that brings the table in). HAVING never
//     gives conditions.
//   - A column is resolved to an occurrence when it is qualified by the
//     occurrence's alias (or its table name, when it has no alias), or, in a
//     SELECT that is not nested inside an expression (where SQLite could bind
//     an unqualified name to an outer query), when it is unqualified and the
//     FROM list holds exactly one item and the name is not one of the
//     SELECT's result aliases.
//   - Functions: a call to a function that is not in the built-in list of
//     deterministic SQLite functions (see funcs.go) nor in
//     Options.PureFunctions makes the text Uncacheable. The date and time
//     functions are deterministic only when every argument is a literal and
//     none is 'now'; a column or a parameter could hold 'now', so any other
//     call is Uncacheable (declare the function in Options.PureFunctions to
//     override). CURRENT_DATE, CURRENT_TIME and CURRENT_TIMESTAMP are
//     Uncacheable. load_extension is Unknown.
//   - Reads of sqlite_* tables (sqlite_schema, sqlite_sequence, sqlite_stat1,
//     ...), dbstat, pragma_* table-valued functions, unknown table-valued
//     functions and temp.-qualified tables are Uncacheable.
//   - A plain VACUUM is Unknown (it may renumber the rowids of tables without
//     an INTEGER PRIMARY KEY); VACUUM INTO is Session. DROP INDEX and DROP
//     TRIGGER are Unknown because their text does not name the table.
//   - CREATE TEMP TABLE/VIEW/TRIGGER (or a temp.-qualified name) is an
//     OpSchema write with Temporary set. Write.ReturnAt is set for a text
//     made of one UPDATE or DELETE of one table without RETURNING (and not
//     UPDATE OR REPLACE, whose deleted conflicting rows RETURNING would not
//     show).
//
// ReadCatalog reads views, foreign-key actions and triggers from the
// database's schema, and the columns whose = is looser than equality of
// fresh's canonical values (a collation other than BINARY, REAL affinity, the
// columns of virtual tables); see catalog.go and loose.go.
package sqlite
