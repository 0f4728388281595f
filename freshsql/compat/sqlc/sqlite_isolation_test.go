package sqlc_test

import (
	"testing"

	"github.com/freshcache/fresh/freshsql"
	"github.com/freshcache/fresh/freshsql/compat/sqlc/sqlitedb"
)

// TestSQLiteTransactionSeesItsSnapshot: a SQLite transaction reads from the
// snapshot its first read took (WAL mode), so a read under a Cached context in it
// must return what that snapshot holds, as the same read without the cache does,
// even after another connection committed a change and the cache was filled
// again with the newer rows.
func TestSQLiteTransactionSeesItsSnapshot(t *testing.T) {
	e := newSQLiteEnv(t)
	cached := freshsql.Cached(e.ctx)
	if _, err := e.q.ListBooksByAuthor(cached, e.a.ID); err != nil {
		t.Fatal(err)
	}
	tx, err := e.db.Wrapped.BeginTx(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	qtx := e.q.WithTx(tx)
	// The snapshot is taken by the transaction's first read.
	if _, err := qtx.CountBooks(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.q.CreateBook(e.ctx, sqlitedb.CreateBookParams{AuthorID: e.a.ID, Title: "a3", Year: 2003}); err != nil {
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
