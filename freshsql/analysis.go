package freshsql

import (
	"context"
	"database/sql"
)

// What an Analyzer reports about one SQL text. The wrapper turns it into cache
// keys' dependencies (for reads) and into row changes applied after commit (for
// writes). The rule for every analyser is the same: when in doubt, say less about
// a read (fewer conditions, or Uncacheable) and more about a write (fewer pinned
// columns, or Unknown). Saying less about a read costs hits; saying too much about
// it, or too little about a write, serves stale data.

// An Analyzer parses SQL texts of one dialect. Analyze must be safe for concurrent
// use and must not panic on any input; the wrapper memoises its results per SQL
// text, so it may be slow-ish (tens of microseconds).
type Analyzer interface {
	// Dialect names the dialect: "sqlite", "postgres" or "mysql". It takes part in
	// cache keys.
	Dialect() string
	// Analyze reports what the SQL text sql reads and writes. It returns an error
	// only for a text it cannot parse at all; the wrapper then treats the text as
	// Unknown (not cached, and, if it is executed as a write, invalidating
	// everything the database's cached queries depend on).
	Analyze(sql string) (*Analysis, error)
}

// Analysis is what one SQL text (possibly several statements) does.
type Analysis struct {
	// Reads lists every base table the text reads, through joins, subqueries,
	// CTEs (resolved against their WITH list: a CTE's name is never a table),
	// UNIONs, and the subqueries of writes. A table read several times appears
	// several times, each with its own conditions.
	Reads []Read
	// Writes lists what the text writes: empty for a read.
	Writes []Write
	// Returns reports whether the text returns rows (a SELECT, VALUES, a write
	// with RETURNING). Only a text that returns rows and has no Writes, no
	// Unknown and no Uncacheable reason is cached.
	Returns bool
	// Uncacheable, when not empty, says why the result must not be cached though
	// the text is understood: a non-deterministic function (now(), random(),
	// a sequence), a locking read (FOR UPDATE / FOR SHARE), a function not known
	// to be pure, a temporary or system table, several statements in one text.
	Uncacheable string
	// Unknown, when not empty, says why the text could not be analysed well
	// enough to know what it writes: a statement kind the analyser does not
	// handle (CALL, DO, COPY, LOAD DATA...), a function that may write, a syntax
	// it does not understand. A text with Unknown set is never cached, and
	// executing it invalidates everything this database's cached queries depend
	// on (counted, logged once per text).
	Unknown string
	// Session reports a statement that changes neither data nor schema and whose
	// result must not be cached: BEGIN, COMMIT, SET, SAVEPOINT, PRAGMA (reads),
	// EXPLAIN, SHOW, LISTEN, ANALYZE. It is passed through.
	Session bool
}

// Read is one base table read by a statement.
type Read struct {
	// Table is the table's (or view's) name, unquoted and without its schema or
	// database qualifier (tables of one name in two schemas share dependencies,
	// which over-invalidates and is safe), folded so that two spellings of one
	// name are equal: PostgreSQL lower-cases unquoted names and keeps quoted ones;
	// SQLite lower-cases every name (ASCII); MySQL keeps table names as written
	// (case-sensitive on Linux).
	Table string
	// Conds is a conjunction of conditions on this table's own columns that
	// every row of this table that can affect the result satisfies. Empty means
	// every row can (the read depends on the whole table).
	//
	// A condition may be left out whenever the analyser is unsure (it only makes
	// the dependency broader), but a condition that is reported must hold: it
	// must come from the WHERE clause (or an inner join's ON clause) of the
	// SELECT whose FROM list holds this table occurrence, ANDed at the top level
	// (never under OR or NOT), with the column resolved to this occurrence (a
	// qualified column, or an unqualified one when this is the only table of
	// that FROM list and the SELECT cannot refer to an enclosing query's columns
	// (a subquery in an expression, LATERAL), compared by = or IN (a list of values, not a subquery)
	// to literals or bound parameters only. Not on the nullable side of an
	// outer join from the WHERE clause, never from HAVING.
	Conds []Cond
}

// Cond is one condition of a Read or a Write's WHERE: Column = Values[0], or
// Column IN (Values...).
type Cond struct {
	// Column is unquoted and folded: PostgreSQL as for tables; SQLite and MySQL
	// lower-case column names (they compare them case-insensitively).
	Column string
	Values []Value
}

// Value is a literal or a bound parameter in the SQL text.
type Value struct {
	// Param is the 1-based number of the bound parameter (for "?" the position
	// among the text's "?"s; for "$n", "?n" the number n; for a named parameter
	// the number the dialect gives it), or 0 for a literal.
	Param int
	// Name is the named parameter's name without its prefix (":id" -> "id"),
	// or "" for a positional one or a literal.
	Name string
	// Literal is the literal's value when Param is 0: int64, float64, string,
	// bool or []byte. A NULL literal is never reported (no row is = NULL).
	Literal any
}

// WriteOp is what a Write does to its table.
type WriteOp uint8

const (
	// OpInsert adds rows (INSERT, REPLACE, an upsert's insert part).
	OpInsert WriteOp = iota + 1
	// OpUpdate changes rows in place.
	OpUpdate
	// OpDelete removes rows.
	OpDelete
	// OpTruncate removes every row.
	OpTruncate
	// OpSchema changes the table's definition or drops or creates it (DDL):
	// every cached read of the table is dirtied, and the wrapper reloads what
	// it knows of the database's catalog (foreign keys, triggers).
	OpSchema
)

// Write is one table written by a statement.
type Write struct {
	Op    WriteOp
	Table string // as in Read.Table
	// Columns (OpInsert) names the inserted columns in the order of each row of
	// Rows; nil when the statement names none (every column, in table order),
	// which the wrapper treats as unknown values.
	Columns []string
	// Rows (OpInsert) holds the inserted rows' values, one per column of
	// Columns; an element is nil when that value is an expression other than a
	// literal or a parameter (a DEFAULT, a function call, arithmetic). Rows is
	// nil when the rows come from a SELECT, or are otherwise unknown.
	Rows [][]*Value
	// Upsert (OpInsert) reports that an existing row may be updated or
	// replaced instead (ON CONFLICT DO UPDATE, ON DUPLICATE KEY UPDATE,
	// REPLACE, INSERT OR REPLACE): the wrapper dirties the table as an update
	// of unknown rows too.
	Upsert bool
	// Where (OpUpdate, OpDelete) is a conjunction of conditions, with the same
	// rules as Read.Conds, that every row written satisfies before the write.
	// Empty when the WHERE clause pins nothing (or there is none).
	Where []Cond
	// Set (OpUpdate) lists the assigned columns; Value is nil when the new
	// value is an expression other than a literal or a parameter.
	Set []Assign
	// ReturnAt (OpUpdate, OpDelete) is the byte offset in the SQL text at which
	// " RETURNING <columns>" can be inserted so that the statement returns the
	// rows it writes (their new values for an UPDATE, their old values for a
	// DELETE): the end of the statement before any trailing semicolon, space or
	// comment. 0 when that is not possible: the dialect or the statement kind
	// has no RETURNING (MySQL; MariaDB's UPDATE), the statement has one already,
	// writes several tables, or the text holds several statements.
	// Options.RowImage uses it.
	ReturnAt int
	// Temporary (OpSchema) reports that the statement creates a temporary table
	// (or another object visible to its connection only) named Table: on that
	// connection, the name may now stand for something else than on the
	// others, so the wrapper stops caching that connection's reads of it.
	Temporary bool
}

// Assign is one column = value of an UPDATE's SET list.
type Assign struct {
	Column string
	Value  *Value
}

// A ValueComparer is an Analyzer that knows which values its dialect's = treats
// like their canonical forms (fresh.Dep.String). Comparable reports whether x
// may serve as a dependency value: whenever the dialect's = holds between x and
// a stored value of a column the catalog does not list as loose, their
// canonical forms must be equal. A value it rejects is dropped from conditions
// (a broader dependency) and treated as unknown in written rows. Without it, the
// wrapper keeps int64, float64, bool, time.Time, string and []byte values (only
// integers and booleans for MySQL).
type ValueComparer interface {
	Comparable(x any) bool
}

// A CatalogReader is an Analyzer that can also read what the database's catalog
// says about effects that no SQL text shows: views (a read of a view is a read of
// its base tables), foreign-key actions and triggers (a write to one table changes
// others). The wrapper calls ReadCatalog when it starts and again after a schema
// change (OpSchema), on a connection of the wrapped database.
type CatalogReader interface {
	ReadCatalog(ctx context.Context, q Queryer) (*Catalog, error)
}

// A Queryer runs catalog queries; *sql.DB and *sql.Conn are Queryers.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Catalog is what a CatalogReader found. Names follow the rules of Read.Table.
type Catalog struct {
	// Views maps a view's name to the base tables it reads, transitively (a view
	// over a view lists the base tables of both).
	Views map[string][]string
	// Effects maps a table to the tables whose rows a write to it may change
	// through foreign-key actions (ON DELETE/UPDATE CASCADE, SET NULL, SET
	// DEFAULT) or triggers. The wrapper dirties every row of those tables (their
	// whole Table dependency and every scope) after such a write.
	Effects map[string][]string
	// Opaque lists tables a write to which has effects the catalog cannot bound
	// (a trigger that runs a procedure): such a write invalidates everything
	// this database's cached queries depend on.
	Opaque map[string]bool
	// UncacheableViews maps a view whose reads must not be cached (its
	// definition calls now(), random(), reads a system table...) to the reason.
	UncacheableViews map[string]string
	// LooseColumns maps a table to its columns whose = is looser than equality
	// of the values' canonical forms (fresh.Dep.String): a case-insensitive or
	// padding collation (SQLite NOCASE or RTRIM, a nondeterministic PostgreSQL
	// collation), citext, char(n). A condition on such a column is not used as
	// a dependency, and a written value of one is treated as unknown.
	LooseColumns map[string][]string
}
