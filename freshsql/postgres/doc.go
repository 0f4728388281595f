// Package postgres is the PostgreSQL analyser of freshsql: it tells the
// wrapper which tables a SQL text reads, under which conditions, and what it
// writes, so that cached query results are invalidated exactly when a write
// that can change them commits.
//
// Texts are parsed by PostgreSQL's own grammar (libpg_query through
// github.com/pganalyze/pg_query_go; in builds without cgo, the same library
// compiled to WebAssembly through github.com/wasilibs/go-pgquery, one parse at
// a time) and the parse tree is walked whole: typed handlers for statements,
// FROM items, joins and CTEs, and a generic walk through every other node, so
// that no subquery, CTE body, LATERAL item or function argument is missed.
//
// # What a read reports
//
// Every base table occurrence is a Read; CTE names resolve against the WITH
// lists in scope (a CTE shadows a table of its name; a schema-qualified name
// is always a table). A Read's conditions are the top-level AND-ed
// col = value and col IN (values) terms of the WHERE clause of the SELECT whose
// FROM list holds the occurrence, or of the ON clause of an inner join (of a
// left join, for its right side; of a right join, for its left side). A
// value is a literal (integer, string, boolean) or a $n parameter, through a
// cast to an integer, text, varchar, boolean or uuid type; NULLs, floats,
// numerics, bit strings and other casts give no condition. A column is the
// occurrence's when qualified by its alias or table name, or when unqualified
// in a SELECT whose FROM list has that one item and which cannot refer to an
// enclosing query's columns. Items on the nullable side of an outer join take
// no conditions from WHERE; HAVING never gives any; = ANY($1) gives none.
//
// A text is Uncacheable when it calls a function whose result varies (now(),
// random(), current_user, nextval...), takes row locks (FOR UPDATE/SHARE),
// samples (TABLESAMPLE), reads the system catalog (pg_catalog,
// information_schema, any pg_* relation) or a pg_temp table, or holds several
// statements. It is Unknown and Uncacheable when it calls a function that is
// neither a known side-effect-free built-in nor listed in
// Options.PureFunctions: a user's function may write anything.
//
// # What a write reports
//
// INSERT (columns and VALUES rows; nil Rows for INSERT ... SELECT, DEFAULT
// VALUES, or no column list), ON CONFLICT DO UPDATE as an upsert, UPDATE
// (Where, Set; a multi-column SET gives nil values), DELETE (Where), MERGE (an
// upsert, an update and a delete of any rows of its target), TRUNCATE (with
// CASCADE also Unknown: it empties every referencing table), writes inside
// data-modifying CTEs, nextval/setval on a named sequence (an update of the
// sequence), and DDL as OpSchema of every relation it names. DROP ... CASCADE,
// DROP of objects whose tables cannot be named (an index, a function, a
// schema), CALL, DO, EXECUTE, COPY ... FROM and statements the analyser does
// not know are Unknown. Transaction control, SET/RESET/SHOW, EXPLAIN
// (without ANALYZE, or of a statement that writes nothing), LISTEN, UNLISTEN,
// NOTIFY, DISCARD, PREPARE, DEALLOCATE, VACUUM, ANALYZE, LOCK, CHECKPOINT,
// cursors, COMMENT, REINDEX, CLUSTER and an empty CREATE SCHEMA are Session.
//
// # Names and assumptions
//
// Names are PostgreSQL's: unquoted identifiers lower-cased, quoted ones kept.
// Schema qualifiers are dropped, so tables of one name in two schemas share
// dependencies, which only over-invalidates (and makes a table created in a
// schema earlier on the search_path dirty the reads it shadows). The analyser
// assumes that every connection of a pool has the same session settings
// (TimeZone, DateStyle, search_path, role), that functions and operators
// written without a schema are PostgreSQL's built-ins, and that casts and
// domain checks call no function that writes. A temporary table cannot be
// told from a permanent one by its unqualified name.
//
// # Catalog
//
// ReadCatalog maps views and materialized views to their base tables
// (pg_depend, and the analysis of their definitions), records foreign-key
// actions, inheritance and partitioning, and the sequences defaults advance as
// Effects, and marks tables with user triggers, rules, or defaults and checks
// that call unknown functions as Opaque. Views whose definitions call
// functions that are not pure are remembered: reads of them are Uncacheable
// in texts analysed afterwards. LooseColumns lists the columns whose = is
// looser than equality of fresh's canonical values: every column but those of
// integer, boolean, uuid, unconstrained numeric, enum types and text or
// varchar under a deterministic collation (citext, char(n), timestamps,
// floats, jsonb and the rest; see loose.go).
package postgres
