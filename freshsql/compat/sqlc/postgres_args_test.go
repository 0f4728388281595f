package sqlc_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/freshcache/fresh/freshsql/compat/internal/testdb"
	"github.com/freshcache/fresh/freshsql/compat/sqlc/pgdb"
)

// year is a named integer type, as an application may bind.
type year int32

// TestPostgresDriverArgumentTypes: pgx's database/sql driver accepts every Go
// value as it is (its CheckNamedValue converts nothing), so the wrapper sees the
// int32 of sqlc's integer columns, Go ints, named types and sql.Null* values. A
// read with any of them is cached, under the same key as the int64 it stands
// for, and a write binding them invalidates the scopes it changes.
func TestPostgresDriverArgumentTypes(t *testing.T) {
	e := newPostgresEnv(t)
	const q = `SELECT id, title FROM books WHERE year = $1 ORDER BY id`
	type row struct {
		ID    int64
		Title string
	}
	byYear := func(arg any) func(context.Context, *sql.DB) ([]row, error) {
		return func(ctx context.Context, db *sql.DB) ([]row, error) {
			rows, err := db.QueryContext(ctx, q, arg)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.ID, &r.Title); err != nil {
					return nil, err
				}
				out = append(out, r)
			}
			return out, rows.Err()
		}
	}
	for i, c := range []struct {
		name string
		arg  any
	}{
		{"int64", int64(2001)},
		{"int", 2001},
		{"int32", int32(2001)},
		{"int16", int16(2001)},
		{"uint", uint(2001)},
		{"named int32", year(2001)},
		{"pointer", new(int32(2001))},
		{"sql.NullInt32", sql.NullInt32{Int32: 2001, Valid: true}},
		{"sql.NullInt64", sql.NullInt64{Int64: 2001, Valid: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, d := testdb.Read(t, e.db, e.db.Wrapped, e.db.Plain, "read", byYear(c.arg))
			if i == 0 {
				testdb.WantMiss(t, "first read", d)
			} else {
				testdb.WantHit(t, "read with the same value as the first", d)
			}
			if len(got) != 2 {
				t.Errorf("books of 2001 = %+v; want a1 and b1", got)
			}
		})
	}

	// A write whose new value is an int32 dirties the scope of that value.
	pgRead(t, e, "books of 2005", func(ctx context.Context, q *pgdb.Queries) ([]pgdb.Book, error) { return q.ListBooksByYear(ctx, 2005) })
	if _, err := e.db.Wrapped.ExecContext(e.ctx, `UPDATE books SET year = $1 WHERE id = $2`, int32(2005), e.a1.ID); err != nil {
		t.Fatal(err)
	}
	got, d := pgRead(t, e, "books of 2005 after a1 moved there", func(ctx context.Context, q *pgdb.Queries) ([]pgdb.Book, error) {
		return q.ListBooksByYear(ctx, 2005)
	})
	testdb.WantMiss(t, "books of 2005 after a1 moved there", d)
	if len(got) != 1 || got[0].ID != e.a1.ID {
		t.Errorf("books of 2005 = %+v; want a1", got)
	}
	for i, arg := range []any{int32(2001), uint(2001), sql.NullInt64{Int64: 2001, Valid: true}} {
		rows, d := testdb.Read(t, e.db, e.db.Wrapped, e.db.Plain, "books of 2001 after a1 left", byYear(arg))
		if i == 0 {
			testdb.WantMiss(t, "books of 2001 after a1 left", d)
		}
		if len(rows) != 1 {
			t.Errorf("books of 2001 with %T = %+v; want b1", arg, rows)
		}
	}
	e.db.LogNotCached(t)
}
