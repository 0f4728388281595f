// Package freshsql caches the results of SQL queries made through database/sql
// and invalidates them precisely when writes commit, so that code written against
// *sql.DB (by hand, with sqlc, sqlx, or GORM on an existing *sql.DB) gets correct
// caching without changing its queries.
//
// # Use
//
// Wrap the database's driver with an analyser of its dialect, and use the
// *sql.DB as usual:
//
//	db, err := freshsql.Open("sqlite", "file:app.db", freshsql.Options{
//		Analyzer: sqlite.New(sqlite.Options{}), // freshsql/sqlite, freshsql/postgres, freshsql/mysql
//	})
//	...
//	rows, err := db.QueryContext(freshsql.Cached(ctx), "SELECT id, title FROM articles WHERE author_id = ?", 7)
//
// A read is cached when its context asks for it (Cached, with a TTL or extra
// dependencies), or when a rule of Options.Rules covers every table it reads.
// NoCache turns the cache off for a call. Lookup returns the Connector of a
// wrapped *sql.DB, whose Stats and Report say what was cached, what was not and
// why, per SQL text.
//
// # What a cached read depends on
//
// The analyser parses each SQL text once (memoised per text) with the dialect's
// real grammar. Every base table the text reads, through joins, subqueries, CTEs
// (resolved against their WITH list) and UNIONs, and through views (resolved with
// the database's catalog), becomes a dependency: the whole table, or, where the
// table's rows are filtered by a conjunction of equalities and IN lists on its
// own columns, the scopes those conditions pin, with the bound values (IN lists
// expanded up to Options.MaxScopes). So the list of author 7's articles depends
// on Scope("articles", author_id = 7), and a new article of author 8 leaves it
// cached. Every cached read also depends on a tag of its database, which an
// unknown write invalidates.
//
// Reads that are not deterministic (now(), random(), sequences), locking reads
// (FOR UPDATE), reads of system catalogs and temporary tables, texts holding
// several statements, and reads calling functions the analyser does not know
// to be pure are never cached. A result larger than Options.MaxResultBytes is
// returned and not cached.
//
// # What a write invalidates
//
// INSERT, UPDATE, DELETE, upserts, MERGE, TRUNCATE, DDL and data-modifying CTEs
// become row changes (fresh.RowChange) applied through the hub after the write
// commits: after COMMIT returns, whatever it returns (an error from COMMIT can hide
// a commit that happened), or after an autocommit statement; never on rollback.
//   - An INSERT that gives a scope's columns is exact: it dirties the new rows'
//     scopes.
//   - An UPDATE or DELETE whose WHERE pins a scheme's columns is exact for that
//     scheme; otherwise it dirties every scope of the table's scheme. With
//     Options.RowImage, an UPDATE or DELETE runs with a RETURNING clause that
//     reads the written rows' scope columns in the same statement, and is exact
//     (not on MySQL, which has no RETURNING for UPDATE).
//   - Writes that change other tables through foreign-key actions (CASCADE, SET
//     NULL, SET DEFAULT) or triggers dirty those tables too: the catalog is read
//     when the wrapper starts and again after DDL.
//   - A write the analyser cannot analyse, or one on a table with triggers whose
//     effects cannot be bounded, invalidates everything this database's queries
//     depend on; it is counted (Stats.UnknownWrites) and logged once per text.
//
// # Guarantees
//
// The guarantees are the hub's (see package fresh), applied to SQL:
//   - G0: a read that ran before a write committed is never stored after the
//     write's invalidation (its fill is fenced), however slow it was.
//   - Reads inside a transaction bypass the cache: a transaction reads its own
//     writes and its own snapshot, and nothing read there is stored.
//   - Across processes, the hub's Bus carries the row changes; each process
//     applies them with its own scope schemes. A read served after MaxStaleness
//     from a write's invalidation returning is never older than that write.
//
// The window between a write's commit and its invalidation is as short as the
// statement's return: the invalidation runs in the same goroutine right after.
//
// # Keys
//
// A read's key is SHA-256 over the database's name (Options.Name), the dialect,
// the SQL text exactly as sent (no normalisation, so the fill and the lookup
// cannot disagree) and every bound value with its type. A hit is checked against
// the text and the values themselves before it is served, so that even a hash
// collision could not serve another read's rows.
//
// # Results
//
// Results are materialised and replayed as driver rows, column metadata
// included, so that Scan yields the same Go types and values on a hit as on the
// miss, NULLs, times and []byte included. A cached result is shared: every reader
// gets copies of its []byte values, so writing into sql.RawBytes changes nothing
// others read.
//
// # Limits
//
//   - Equality must mean equality: a condition on a column whose = is looser than
//     equality of values (a case-insensitive collation, citext, char(n)) is not
//     used when the catalog reports the column (Catalog.LooseColumns); MySQL
//     string conditions are never used, as its default collations ignore case and
//     trailing spaces.
//   - Session state is not part of a key: reads that depend on a connection's
//     settings (search_path, time zone, a role) must use one setting for every
//     connection of the pool.
//   - Functions and procedures that write are found only where the analyser can
//     see them (a call to an unknown function is an unknown write).
package freshsql
