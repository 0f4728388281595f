package freshpg

// The log table: its name, the SQL that every operation runs on it, and the setup
// that creates it.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// maxIdentLen is the longest identifier PostgreSQL keeps (NAMEDATALEN - 1), in bytes.
// A longer one would be truncated silently, and two names could meet.
const maxIdentLen = 63

// tableName is a parsed Options.Table: an optional schema and a table name, as
// PostgreSQL stores them (unquoted parts folded to lower case).
type tableName struct {
	schema, name string
}

// parseTableName reads "name", "schema.name" or their double-quoted forms
// ("My Table", "my schema"."t"), the way PostgreSQL reads an identifier: an unquoted
// part is folded to lower case and holds only letters, digits, '_' and '$' (not
// first); a quoted part may hold anything but a NUL, with "" for a quote.
func parseTableName(s string) (tableName, error) {
	if s == "" {
		return tableName{}, errors.New("empty name")
	}
	var parts []string
	rest := s
	for {
		part, tail, err := parseIdent(rest)
		if err != nil {
			return tableName{}, fmt.Errorf("%q: %w", s, err)
		}
		parts = append(parts, part)
		if tail == "" {
			break
		}
		if tail[0] != '.' {
			return tableName{}, fmt.Errorf("%q: unexpected %q after %q", s, tail[:1], part)
		}
		rest = tail[1:]
		if len(parts) == 2 {
			return tableName{}, fmt.Errorf("%q: more than two parts; want name or schema.name", s)
		}
	}
	if len(parts) == 1 {
		return tableName{name: parts[0]}, nil
	}
	return tableName{schema: parts[0], name: parts[1]}, nil
}

// parseIdent reads one identifier at the start of s and returns it and what follows.
func parseIdent(s string) (ident, rest string, err error) {
	if s == "" {
		return "", "", errors.New("empty identifier")
	}
	if s[0] == '"' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			c := s[i]
			if c == 0 {
				return "", "", errors.New("NUL byte in identifier")
			}
			if c != '"' {
				b.WriteByte(c)
				continue
			}
			if i+1 < len(s) && s[i+1] == '"' {
				b.WriteByte('"')
				i++
				continue
			}
			ident = b.String()
			if err := checkIdent(ident); err != nil {
				return "", "", err
			}
			return ident, s[i+1:], nil
		}
		return "", "", errors.New("unterminated quoted identifier")
	}
	i := 0
	for i < len(s) && s[i] != '.' {
		c := s[i]
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(i > 0 && (c == '$' || (c >= '0' && c <= '9')))
		if !ok {
			return "", "", fmt.Errorf("byte %q at %d is not allowed in an unquoted identifier (quote it)", c, i)
		}
		i++
	}
	ident = strings.ToLower(s[:i])
	if err := checkIdent(ident); err != nil {
		return "", "", err
	}
	return ident, s[i:], nil
}

// checkIdent checks the length and encoding of an identifier.
func checkIdent(ident string) error {
	switch {
	case ident == "":
		return errors.New("empty identifier")
	case len(ident) > maxIdentLen:
		return fmt.Errorf("identifier %q is %d bytes long; PostgreSQL keeps %d", truncate(ident, 32), len(ident), maxIdentLen)
	case !utf8.ValidString(ident):
		return errors.New("identifier is not valid UTF-8")
	}
	return nil
}

// quoted returns the name quoted for SQL, schema-qualified if a schema was given.
func (t tableName) quoted() string {
	if t.schema == "" {
		return pgx.Identifier{t.name}.Sanitize()
	}
	return pgx.Identifier{t.schema, t.name}.Sanitize()
}

// String returns the name as PostgreSQL would print it (quoted where needed is not
// attempted: this is for messages).
func (t tableName) String() string {
	if t.schema == "" {
		return t.name
	}
	return t.schema + "." + t.name
}

// checkChannel checks a NOTIFY channel name.
func checkChannel(ch string) error {
	if strings.IndexByte(ch, 0) >= 0 {
		return errors.New("NUL byte in channel name")
	}
	return checkIdent(ch)
}

// defaultChannel returns the channel of the table whose canonical (catalog) schema
// and name are given: every process that resolves the same table, however it
// spells it, gets the same channel.
func defaultChannel(schema, name string) string {
	ch := "fresh:" + schema + "." + name
	if len(ch) <= maxIdentLen {
		return ch
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(schema + "\x00" + name))
	sum := strconv.FormatUint(h.Sum64(), 36)
	// Keep a readable prefix, cut on a rune boundary.
	keep := ch[:maxIdentLen-len(sum)-1]
	for !utf8.ValidString(keep) {
		keep = keep[:len(keep)-1]
	}
	return keep + "~" + sum
}

// truncate returns s cut to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Row kinds in the kind column.
const (
	kindMeta    = 0 // the meta row, id 0
	kindMessage = 1 // a message
)

// lockClass is the first key of the advisory locks the bus takes ("fres"); the
// second is the table's oid, so that every process that publishes to one table
// takes one lock, whatever name it gives the table. setupClass is that of the lock
// that serialises the creation of a table, keyed by a hash of its name.
const (
	lockClass  = 0x66726573
	setupClass = 0x66726574
)

// tokenLen is the length of the random token of a table's meta row.
const tokenLen = 16

// statements holds the SQL of one table, built once by New.
type statements struct {
	create   string // the DDL
	meta     string // insert the meta row if it is missing: $1 token
	resolve  string // the catalog schema and name
	publish  string // $1 message, $2 channel; returns the id
	poll     string // $1 last id, $2 batch size
	baseline string // token, trimmed, newest id and its time
	trim     string // $1 max age in microseconds (0: none), $2 max count; returns the trimmed watermark
}

func newStatements(t tableName) statements {
	q := t.quoted()
	regclass := sqlString(q) + "::regclass"
	lock := fmt.Sprintf("pg_advisory_xact_lock(%d, %s::oid::int4)", lockClass, regclass)
	return statements{
		create: `CREATE TABLE IF NOT EXISTS ` + q + ` (
	id      bigserial   PRIMARY KEY,
	at      timestamptz NOT NULL DEFAULT clock_timestamp(),
	kind    smallint    NOT NULL DEFAULT ` + strconv.Itoa(kindMessage) + `,
	msg     bytea       NOT NULL,
	trimmed bigint      NOT NULL DEFAULT 0
)`,
		meta: `INSERT INTO ` + q + ` (id, kind, msg) VALUES (0, ` + strconv.Itoa(kindMeta) + `, $1) ON CONFLICT (id) DO NOTHING`,
		resolve: `SELECT n.nspname, c.relname FROM pg_catalog.pg_class c
	JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ` + regclass,
		// The lock is taken before nextval draws the id (the CTE l is evaluated
		// before the insert's source row exists) and held until the transaction
		// ends; see "Total order" in doc.go.
		publish: `WITH l AS (SELECT ` + lock + `),
	i AS (INSERT INTO ` + q + ` (kind, msg) SELECT ` + strconv.Itoa(kindMessage) + `, $1::bytea FROM l RETURNING id)
SELECT id, pg_notify($2, id::text)::text FROM i`,
		// One statement, so one snapshot: the meta row (with the highest id) and
		// the messages after $1 are read at one instant.
		poll: `(SELECT id, kind, msg, trimmed, (SELECT coalesce(max(id), 0) FROM ` + q + `),
	(SELECT at FROM ` + q + ` WHERE id = $1 AND id > 0) FROM ` + q + ` WHERE id = 0)
UNION ALL
(SELECT id, kind, msg, 0, 0, at FROM ` + q + ` WHERE id > $1 ORDER BY id LIMIT $2)`,
		baseline: `SELECT m.msg, m.trimmed, coalesce(t.id, 0), t.at FROM ` + q + ` m
	LEFT JOIN (SELECT id, at FROM ` + q + ` WHERE id > 0 ORDER BY id DESC LIMIT 1) t ON true WHERE m.id = 0`,
		// Trimming deletes a prefix of the ids, never a row in the middle, and
		// records the prefix in the meta row in the same transaction.
		trim: `WITH cut AS (
	SELECT greatest(
		CASE WHEN $1::bigint > 0 THEN (SELECT id FROM ` + q + ` WHERE id > 0 AND at < clock_timestamp() - $1::bigint * interval '1 microsecond' ORDER BY id DESC LIMIT 1) END,
		(SELECT max(id) FROM ` + q + `) - $2::bigint,
		0) AS upto),
d AS (DELETE FROM ` + q + ` WHERE id > 0 AND id <= (SELECT upto FROM cut))
UPDATE ` + q + ` SET trimmed = (SELECT upto FROM cut) WHERE id = 0 AND trimmed < (SELECT upto FROM cut)
RETURNING trimmed`,
	}
}

// setupLockKey is the key of the lock that serialises creating the table t.
func setupLockKey(t tableName) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(t.schema + "\x00" + t.name))
	return int32(h.Sum32())
}

// newToken returns a random token for a meta row.
func newToken() []byte {
	b := make([]byte, tokenLen)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

// querier is what setup needs: a pool, a connection or a transaction.
type querier interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// setup creates the table and its meta row if they are missing, in one
// transaction under a lock, so that processes starting together do not race on
// CREATE TABLE IF NOT EXISTS. It returns the table's catalog schema and name.
func setup(ctx context.Context, db querier, t tableName, st *statements) (schema, name string, err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return "", "", err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, int32(setupClass), setupLockKey(t)); err != nil {
		return "", "", err
	}
	if _, err := tx.Exec(ctx, st.create); err != nil {
		return "", "", err
	}
	if _, err := tx.Exec(ctx, st.meta, newToken()); err != nil {
		return "", "", err
	}
	if err := tx.QueryRow(ctx, st.resolve).Scan(&schema, &name); err != nil {
		return "", "", err
	}
	if err := tx.Commit(ctx); err != nil {
		return "", "", err
	}
	return schema, name, nil
}
