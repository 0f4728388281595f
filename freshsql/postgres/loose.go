package postgres

// Columns whose = is looser than equality of fresh's canonical values.
//
// PostgreSQL's = compares values of the column's type, which its input
// function reads from many spellings, and rounds or truncates what it stores.
// A column is listed in Catalog.LooseColumns unless it is of a type known to
// be safe, after resolving domains:
//
//   - smallint, integer, bigint, boolean, uuid: a Go int64 or bool binds to
//     exactly one value. (Texts that these types read in other spellings
//     than fresh's, such as ' 5', '+5', 'yes' or a UUID in braces, are a
//     matter for the wrapper's rule on values.)
//   - numeric without a precision and scale: it stores every value exactly;
//     numeric(p, s) rounds 1.005 to 1.01, which = 1.01 then finds.
//   - text and varchar with a deterministic collation: = compares bytes.
//   - enums: = compares labels, which are exact.
//
// Everything else is loose, among them: citext and a nondeterministic
// collation (case or accent insensitive); char(n) (pads); name (truncates to
// 63 bytes); real and double precision (round integers beyond 2^24 or 2^53,
// and real rounds a float64); timestamp and timestamptz (round nanoseconds to
// microseconds; timestamp drops a time.Time's zone); date (any time of the
// day); time, timetz, interval ('1 day' = '24 hours'); jsonb (key order,
// spaces, 1.0 = 1); inet and cidr; bytea ('\x41' = 'A'); money; arrays,
// ranges and every other type. server_test.go checks these against the
// server.

// looseColumnsQuery lists (table, column) for the columns of user tables
// whose = is looser than equality of canonical values: their collation is
// nondeterministic, or their type, after resolving domains, is not a safe one.
// A domain's typmod (numeric(10, 2) as a domain) counts as the column's.
const looseColumnsQuery = `WITH RECURSIVE col (relname, attname, typ, modded, coll) AS (
	SELECT c.relname, a.attname, a.atttypid, a.atttypmod <> -1, a.attcollation
	FROM pg_catalog.pg_attribute a
	JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
	WHERE c.relkind IN ('r', 'p', 'f', 'm') AND a.attnum > 0 AND NOT a.attisdropped AND ` + userRelations + `
	UNION ALL
	SELECT col.relname, col.attname, t.typbasetype, col.modded OR t.typtypmod <> -1, col.coll
	FROM col JOIN pg_catalog.pg_type t ON t.oid = col.typ AND t.typtype = 'd'
)
SELECT DISTINCT col.relname, col.attname
FROM col
JOIN pg_catalog.pg_type t ON t.oid = col.typ AND t.typtype <> 'd'
LEFT JOIN pg_catalog.pg_collation k ON k.oid = col.coll
WHERE NOT COALESCE(k.collisdeterministic, true)
	OR NOT (t.typtype = 'e'
		OR t.oid IN ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
			'pg_catalog.int8'::pg_catalog.regtype, 'pg_catalog.bool'::pg_catalog.regtype,
			'pg_catalog.uuid'::pg_catalog.regtype, 'pg_catalog.text'::pg_catalog.regtype,
			'pg_catalog.varchar'::pg_catalog.regtype)
		OR t.oid = 'pg_catalog.numeric'::pg_catalog.regtype AND NOT col.modded)
ORDER BY 1, 2`
