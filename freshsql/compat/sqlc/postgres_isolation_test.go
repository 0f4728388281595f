package sqlc_test

import (
	"database/sql"
	"testing"

	"github.com/freshcache/fresh/freshsql"
	"github.com/freshcache/fresh/freshsql/compat/sqlc/pgdb"
)

// TestPostgresRepeatableReadSeesItsSnapshot: in a REPEATABLE READ transaction,
// a read under a Cached context must return what the transaction's snapshot
// holds, as the same read without the cache does, even when another connection
// has committed a change since the snapshot was taken and the cache was filled
// again with the newer rows.
func TestPostgresRepeatableReadSeesItsSnapshot(t *testing.T) {
	e := newPostgresEnv(t)
	cached := freshsql.Cached(e.ctx)
	if _, err := e.q.ListBooksByAuthor(cached, e.a.ID); err != nil {
		t.Fatal(err)
	}
	tx, err := e.db.Wrapped.BeginTx(e.ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	qtx := e.q.WithTx(tx)
	// The snapshot is taken by the transaction's first statement.
	if _, err := qtx.CountBooks(e.ctx); err != nil {
		t.Fatal(err)
	}
	// Another connection adds a book of a and reads a's books again: the cache
	// now holds three books.
	if _, err := e.q.CreateBook(e.ctx, pgdb.CreateBookParams{AuthorID: e.a.ID, Title: "a3", Year: 2003}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.q.ListBooksByAuthor(cached, e.a.ID); err != nil || len(got) != 3 {
		t.Fatalf("books of a after the commit = %+v, %v; want 3 books", got, err)
	}
	want, err := qtx.ListBooksByAuthor(freshsql.NoCache(e.ctx), e.a.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := qtx.ListBooksByAuthor(cached, e.a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("books of a in the transaction, cached: got %+v; want %+v (its snapshot)", got, want)
	}
}
