package sqlc_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/freshcache/fresh/freshsql"
	"github.com/freshcache/fresh/freshsql/compat/internal/testdb"
	"github.com/freshcache/fresh/freshsql/compat/sqlc/sqlitedb"
)

// sqliteEnv is a seeded SQLite database and the generated queries over its
// wrapped and unwrapped handles. Author a has the books a1 and a2, author b the
// book b1; a1 has one review.
type sqliteEnv struct {
	db         *testdb.DB
	q, plain   *sqlitedb.Queries
	a, b       sqlitedb.Author
	a1, a2, b1 sqlitedb.Book
	ctx        context.Context
}

func newSQLiteEnv(t *testing.T) *sqliteEnv {
	t.Helper()
	schema, err := os.ReadFile("sqlite/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	db := testdb.SQLite(t, string(schema))
	e := &sqliteEnv{db: db, q: sqlitedb.New(db.Wrapped), plain: sqlitedb.New(db.Plain), ctx: context.Background()}
	e.a = must(e.q.CreateAuthor(e.ctx, sqlitedb.CreateAuthorParams{Name: "Ann", Bio: sql.NullString{String: "poet", Valid: true}}))(t)
	e.b = must(e.q.CreateAuthor(e.ctx, sqlitedb.CreateAuthorParams{Name: "Bob"}))(t)
	e.a1 = must(e.q.CreateBook(e.ctx, sqlitedb.CreateBookParams{AuthorID: e.a.ID, Title: "a1", Year: 2001}))(t)
	e.a2 = must(e.q.CreateBook(e.ctx, sqlitedb.CreateBookParams{AuthorID: e.a.ID, Title: "a2", Year: 2002}))(t)
	e.b1 = must(e.q.CreateBook(e.ctx, sqlitedb.CreateBookParams{AuthorID: e.b.ID, Title: "b1", Year: 2001}))(t)
	if err := e.q.CreateReview(e.ctx, sqlitedb.CreateReviewParams{BookID: e.a1.ID, Stars: 5, Body: "fine"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// must returns a function that fails the test on err, or returns v.
func must[T any](v T, err error) func(testing.TB) T {
	return func(tb testing.TB) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

// read runs one generated read on both databases (see testdb.Read).
func sqliteRead[T any](t *testing.T, e *sqliteEnv, name string, fn func(context.Context, *sqlitedb.Queries) (T, error)) (T, testdb.Delta) {
	t.Helper()
	return testdb.Read(t, e.db, e.q, e.plain, name, fn)
}

// The reads of the SQLite tests, by name.
func (e *sqliteEnv) booksOf(id int64) func(context.Context, *sqlitedb.Queries) ([]sqlitedb.Book, error) {
	return func(ctx context.Context, q *sqlitedb.Queries) ([]sqlitedb.Book, error) {
		return q.ListBooksByAuthor(ctx, id)
	}
}

func (e *sqliteEnv) book(id int64) func(context.Context, *sqlitedb.Queries) (sqlitedb.Book, error) {
	return func(ctx context.Context, q *sqlitedb.Queries) (sqlitedb.Book, error) { return q.GetBook(ctx, id) }
}

func countBooksSQLite(ctx context.Context, q *sqlitedb.Queries) (int64, error) {
	return q.CountBooks(ctx)
}

func (e *sqliteEnv) reviewsOf(id int64) func(context.Context, *sqlitedb.Queries) ([]sqlitedb.ListReviewsOfAuthorRow, error) {
	return func(ctx context.Context, q *sqlitedb.Queries) ([]sqlitedb.ListReviewsOfAuthorRow, error) {
		return q.ListReviewsOfAuthor(ctx, id)
	}
}

// TestSQLiteGeneratedReadsAreCached runs every generated read twice: the first
// is a miss, the second a hit, and both equal the unwrapped database's result.
func TestSQLiteGeneratedReadsAreCached(t *testing.T) {
	e := newSQLiteEnv(t)
	reads := []struct {
		name string
		run  func() testdb.Delta
	}{
		{"GetAuthor", func() testdb.Delta {
			_, d := sqliteRead(t, e, "GetAuthor", func(ctx context.Context, q *sqlitedb.Queries) (sqlitedb.Author, error) {
				return q.GetAuthor(ctx, e.a.ID)
			})
			return d
		}},
		{"GetBook", func() testdb.Delta { _, d := sqliteRead(t, e, "GetBook", e.book(e.a2.ID)); return d }},
		{"ListBooksByAuthor", func() testdb.Delta { _, d := sqliteRead(t, e, "ListBooksByAuthor", e.booksOf(e.a.ID)); return d }},
		{"ListBooksByIDs", func() testdb.Delta {
			_, d := sqliteRead(t, e, "ListBooksByIDs", func(ctx context.Context, q *sqlitedb.Queries) ([]sqlitedb.Book, error) {
				return q.ListBooksByIDs(ctx, []int64{e.a1.ID, e.b1.ID})
			})
			return d
		}},
		{"ListBooksByYear", func() testdb.Delta {
			_, d := sqliteRead(t, e, "ListBooksByYear", func(ctx context.Context, q *sqlitedb.Queries) ([]sqlitedb.Book, error) {
				return q.ListBooksByYear(ctx, 2001)
			})
			return d
		}},
		{"CountBooks", func() testdb.Delta { _, d := sqliteRead(t, e, "CountBooks", countBooksSQLite); return d }},
		{"ListReviewsOfAuthor", func() testdb.Delta {
			_, d := sqliteRead(t, e, "ListReviewsOfAuthor", e.reviewsOf(e.a.ID))
			return d
		}},
	}
	for _, r := range reads {
		t.Run(r.name, func(t *testing.T) {
			testdb.WantMiss(t, "first read", r.run())
			testdb.WantHit(t, "second read", r.run())
		})
	}
	e.db.LogNotCached(t)
}

// TestSQLiteGeneratedWritesInvalidate writes through the generated code and
// checks, after each write, that the reads it changes miss and show the change,
// that the reads it leaves alone are still hits, and that every read equals the
// unwrapped database's.
func TestSQLiteGeneratedWritesInvalidate(t *testing.T) {
	e := newSQLiteEnv(t)
	warm := func() {
		t.Helper()
		for _, id := range []int64{e.a.ID, e.b.ID} {
			sqliteRead(t, e, "ListBooksByAuthor", e.booksOf(id))
			sqliteRead(t, e, "ListReviewsOfAuthor", e.reviewsOf(id))
		}
		for _, id := range []int64{e.a1.ID, e.a2.ID, e.b1.ID} {
			sqliteRead(t, e, "GetBook", e.book(id))
		}
		sqliteRead(t, e, "CountBooks", countBooksSQLite)
	}
	warm()

	// A book of b: a's list is untouched, b's list and the count change.
	b2 := must(e.q.CreateBook(e.ctx, sqlitedb.CreateBookParams{AuthorID: e.b.ID, Title: "b2", Year: 2003}))(t)
	_, d := sqliteRead(t, e, "books of a after a book of b", e.booksOf(e.a.ID))
	testdb.WantHit(t, "books of a after a book of b", d)
	got, d := sqliteRead(t, e, "books of b after a book of b", e.booksOf(e.b.ID))
	testdb.WantMiss(t, "books of b after a book of b", d)
	if len(got) != 2 || got[1] != b2 {
		t.Errorf("books of b = %+v; want b1 and %+v", got, b2)
	}
	_, d = sqliteRead(t, e, "count after a book of b", countBooksSQLite)
	testdb.WantMiss(t, "count after a book of b", d)
	warm()

	// A book of a: a's list misses and shows it.
	a3 := must(e.q.CreateBook(e.ctx, sqlitedb.CreateBookParams{AuthorID: e.a.ID, Title: "a3", Year: 2003}))(t)
	got, d = sqliteRead(t, e, "books of a after a book of a", e.booksOf(e.a.ID))
	testdb.WantMiss(t, "books of a after a book of a", d)
	if len(got) != 3 || got[2] != a3 {
		t.Errorf("books of a = %+v; want a1, a2 and %+v", got, a3)
	}
	warm()

	// A new title for a1: a1 and a's list change; b1 is untouched.
	if err := e.q.UpdateBookTitle(e.ctx, sqlitedb.UpdateBookTitleParams{Title: "a1, revised", ID: e.a1.ID}); err != nil {
		t.Fatal(err)
	}
	one, d := sqliteRead(t, e, "a1 after its new title", e.book(e.a1.ID))
	testdb.WantMiss(t, "a1 after its new title", d)
	if one.Title != "a1, revised" {
		t.Errorf("a1's title = %q; want %q", one.Title, "a1, revised")
	}
	_, d = sqliteRead(t, e, "b1 after a1's new title", e.book(e.b1.ID))
	testdb.WantHit(t, "b1 after a1's new title", d)
	_, d = sqliteRead(t, e, "books of a after a1's new title", e.booksOf(e.a.ID))
	testdb.WantMiss(t, "books of a after a1's new title", d)
	_, d = sqliteRead(t, e, "reviews of a after a1's new title", e.reviewsOf(e.a.ID))
	testdb.WantMiss(t, "reviews of a after a1's new title", d)
	warm()

	// a2 moves to b: both lists change.
	if err := e.q.MoveBook(e.ctx, sqlitedb.MoveBookParams{AuthorID: e.b.ID, ID: e.a2.ID}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{e.a.ID, e.b.ID} {
		_, d = sqliteRead(t, e, "books after a2 moved", e.booksOf(id))
		testdb.WantMiss(t, "books after a2 moved", d)
	}
	warm()

	// A review of a3: a's reviews change, b's do not.
	if err := e.q.CreateReview(e.ctx, sqlitedb.CreateReviewParams{BookID: a3.ID, Stars: 3, Body: "so-so"}); err != nil {
		t.Fatal(err)
	}
	rs, d := sqliteRead(t, e, "reviews of a after a review", e.reviewsOf(e.a.ID))
	testdb.WantMiss(t, "reviews of a after a review", d)
	if len(rs) != 2 {
		t.Errorf("reviews of a = %+v; want 2", rs)
	}
	warm()

	// b1 is deleted.
	if err := e.q.DeleteBook(e.ctx, e.b1.ID); err != nil {
		t.Fatal(err)
	}
	_, d = sqliteRead(t, e, "b1 after its delete", e.book(e.b1.ID))
	if d.Hits != 0 {
		t.Errorf("b1 after its delete: got %v; want no hit", d)
	}
	_, d = sqliteRead(t, e, "books of b after b1's delete", e.booksOf(e.b.ID))
	testdb.WantMiss(t, "books of b after b1's delete", d)
	warm()

	// a is deleted: the foreign keys delete a's books and their reviews.
	if err := e.q.DeleteAuthor(e.ctx, e.a.ID); err != nil {
		t.Fatal(err)
	}
	got, d = sqliteRead(t, e, "books of a after a's delete", e.booksOf(e.a.ID))
	testdb.WantMiss(t, "books of a after a's delete", d)
	if len(got) != 0 {
		t.Errorf("books of a after a's delete = %+v; want none", got)
	}
	rs, _ = sqliteRead(t, e, "reviews of a after a's delete", e.reviewsOf(e.a.ID))
	if len(rs) != 0 {
		t.Errorf("reviews of a after a's delete = %+v; want none", rs)
	}
	_, _ = sqliteRead(t, e, "a3 after a's delete", e.book(a3.ID))
	n, _ := sqliteRead(t, e, "count after a's delete", countBooksSQLite)
	if n != 2 {
		t.Errorf("count after a's delete = %d; want 2 (a2 and b2)", n)
	}
	if s := e.db.Conn.Stats(); s.UnknownWrites != 0 {
		t.Errorf("Stats().UnknownWrites = %d; want 0", s.UnknownWrites)
	}
	e.db.LogNotCached(t)
}

// TestSQLiteGeneratedTransactions runs generated writes in transactions through
// WithTx: their invalidations are applied after Commit, never after Rollback, and
// reads in the transaction see its own writes.
func TestSQLiteGeneratedTransactions(t *testing.T) {
	e := newSQLiteEnv(t)
	sqliteRead(t, e, "books of a", e.booksOf(e.a.ID))
	sqliteRead(t, e, "a1", e.book(e.a1.ID))

	tx, err := e.db.Wrapped.BeginTx(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	qtx := e.q.WithTx(tx)
	a3 := must(qtx.CreateBook(e.ctx, sqlitedb.CreateBookParams{AuthorID: e.a.ID, Title: "a3", Year: 2003}))(t)
	if err := qtx.UpdateBookTitle(e.ctx, sqlitedb.UpdateBookTitleParams{Title: "a1, in tx", ID: e.a1.ID}); err != nil {
		t.Fatal(err)
	}
	// Inside the transaction, a cached read must see the transaction's writes.
	inTx, err := qtx.ListBooksByAuthor(freshsql.Cached(e.ctx), e.a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(inTx) != 3 || inTx[2] != a3 || inTx[0].Title != "a1, in tx" {
		t.Errorf("books of a in the transaction = %+v; want a1 retitled, a2, a3", inTx)
	}
	// Outside, before Commit, the cached reads stand and equal the database's.
	_, d := sqliteRead(t, e, "books of a before commit", e.booksOf(e.a.ID))
	testdb.WantHit(t, "books of a before commit", d)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got, d := sqliteRead(t, e, "books of a after commit", e.booksOf(e.a.ID))
	testdb.WantMiss(t, "books of a after commit", d)
	if len(got) != 3 {
		t.Errorf("books of a after commit = %+v; want 3", got)
	}
	b, d := sqliteRead(t, e, "a1 after commit", e.book(e.a1.ID))
	testdb.WantMiss(t, "a1 after commit", d)
	if b.Title != "a1, in tx" {
		t.Errorf("a1's title after commit = %q; want %q", b.Title, "a1, in tx")
	}

	// A transaction rolled back invalidates nothing.
	sqliteRead(t, e, "books of b", e.booksOf(e.b.ID))
	tx, err = e.db.Wrapped.BeginTx(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	qtx = e.q.WithTx(tx)
	if _, err := qtx.CreateBook(e.ctx, sqlitedb.CreateBookParams{AuthorID: e.b.ID, Title: "b2", Year: 2004}); err != nil {
		t.Fatal(err)
	}
	if err := qtx.DeleteBook(e.ctx, e.a2.ID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		id   int64
	}{{"books of a after rollback", e.a.ID}, {"books of b after rollback", e.b.ID}} {
		_, d = sqliteRead(t, e, c.name, e.booksOf(c.id))
		testdb.WantHit(t, c.name, d)
	}
	e.db.LogNotCached(t)
}
