package sqlc_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/freshcache/fresh/freshsql"
	"github.com/freshcache/fresh/freshsql/compat/internal/testdb"
	"github.com/freshcache/fresh/freshsql/compat/sqlc/pgdb"
)

// pgEnv is a seeded PostgreSQL database and the generated queries over its
// wrapped and unwrapped handles. Author a has the books a1 and a2, author b the
// book b1; a1 has one review.
type pgEnv struct {
	db         *testdb.DB
	q, plain   *pgdb.Queries
	a, b       pgdb.Author
	a1, a2, b1 pgdb.Book
	ctx        context.Context
}

func newPostgresEnv(t *testing.T) *pgEnv {
	t.Helper()
	schema, err := os.ReadFile("postgres/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	db := testdb.Postgres(t, string(schema))
	e := &pgEnv{db: db, q: pgdb.New(db.Wrapped), plain: pgdb.New(db.Plain), ctx: context.Background()}
	e.a = must(e.q.CreateAuthor(e.ctx, pgdb.CreateAuthorParams{Name: "Ann", Bio: sql.NullString{String: "poet", Valid: true}}))(t)
	e.b = must(e.q.CreateAuthor(e.ctx, pgdb.CreateAuthorParams{Name: "Bob"}))(t)
	e.a1 = must(e.q.CreateBook(e.ctx, pgdb.CreateBookParams{AuthorID: e.a.ID, Title: "a1", Year: 2001}))(t)
	e.a2 = must(e.q.CreateBook(e.ctx, pgdb.CreateBookParams{AuthorID: e.a.ID, Title: "a2", Year: 2002}))(t)
	e.b1 = must(e.q.CreateBook(e.ctx, pgdb.CreateBookParams{AuthorID: e.b.ID, Title: "b1", Year: 2001}))(t)
	if err := e.q.CreateReview(e.ctx, pgdb.CreateReviewParams{BookID: e.a1.ID, Stars: 5, Body: "fine"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// read runs one generated read on both databases (see testdb.Read).
func pgRead[T any](t *testing.T, e *pgEnv, name string, fn func(context.Context, *pgdb.Queries) (T, error)) (T, testdb.Delta) {
	t.Helper()
	return testdb.Read(t, e.db, e.q, e.plain, name, fn)
}

// The reads of the PostgreSQL tests, by name.
func (e *pgEnv) booksOf(id int64) func(context.Context, *pgdb.Queries) ([]pgdb.Book, error) {
	return func(ctx context.Context, q *pgdb.Queries) ([]pgdb.Book, error) {
		return q.ListBooksByAuthor(ctx, id)
	}
}

func (e *pgEnv) book(id int64) func(context.Context, *pgdb.Queries) (pgdb.Book, error) {
	return func(ctx context.Context, q *pgdb.Queries) (pgdb.Book, error) { return q.GetBook(ctx, id) }
}

func countBooksPostgres(ctx context.Context, q *pgdb.Queries) (int64, error) {
	return q.CountBooks(ctx)
}

func (e *pgEnv) reviewsOf(id int64) func(context.Context, *pgdb.Queries) ([]pgdb.ListReviewsOfAuthorRow, error) {
	return func(ctx context.Context, q *pgdb.Queries) ([]pgdb.ListReviewsOfAuthorRow, error) {
		return q.ListReviewsOfAuthor(ctx, id)
	}
}

// TestPostgresGeneratedReadsAreCached runs every generated read twice: the first
// is a miss, the second a hit, and both equal the unwrapped database's result.
func TestPostgresGeneratedReadsAreCached(t *testing.T) {
	e := newPostgresEnv(t)
	reads := []struct {
		name string
		run  func() testdb.Delta
	}{
		{"GetAuthor", func() testdb.Delta {
			_, d := pgRead(t, e, "GetAuthor", func(ctx context.Context, q *pgdb.Queries) (pgdb.Author, error) {
				return q.GetAuthor(ctx, e.a.ID)
			})
			return d
		}},
		{"GetBook", func() testdb.Delta { _, d := pgRead(t, e, "GetBook", e.book(e.a2.ID)); return d }},
		{"ListBooksByAuthor", func() testdb.Delta { _, d := pgRead(t, e, "ListBooksByAuthor", e.booksOf(e.a.ID)); return d }},
		{"ListBooksByYear", func() testdb.Delta {
			_, d := pgRead(t, e, "ListBooksByYear", func(ctx context.Context, q *pgdb.Queries) ([]pgdb.Book, error) {
				return q.ListBooksByYear(ctx, 2001)
			})
			return d
		}},
		{"CountBooks", func() testdb.Delta { _, d := pgRead(t, e, "CountBooks", countBooksPostgres); return d }},
		{"ListReviewsOfAuthor", func() testdb.Delta {
			_, d := pgRead(t, e, "ListReviewsOfAuthor", e.reviewsOf(e.a.ID))
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

// TestPostgresGeneratedWritesInvalidate writes through the generated code and
// checks, after each write, that the reads it changes miss and show the change,
// that the reads it leaves alone are still hits, and that every read equals the
// unwrapped database's.
func TestPostgresGeneratedWritesInvalidate(t *testing.T) {
	e := newPostgresEnv(t)
	warm := func() {
		t.Helper()
		for _, id := range []int64{e.a.ID, e.b.ID} {
			pgRead(t, e, "ListBooksByAuthor", e.booksOf(id))
			pgRead(t, e, "ListReviewsOfAuthor", e.reviewsOf(id))
		}
		for _, id := range []int64{e.a1.ID, e.a2.ID, e.b1.ID} {
			pgRead(t, e, "GetBook", e.book(id))
		}
		pgRead(t, e, "CountBooks", countBooksPostgres)
	}
	warm()

	// A book of b: a's list is untouched, b's list and the count change.
	b2 := must(e.q.CreateBook(e.ctx, pgdb.CreateBookParams{AuthorID: e.b.ID, Title: "b2", Year: 2003}))(t)
	_, d := pgRead(t, e, "books of a after a book of b", e.booksOf(e.a.ID))
	testdb.WantHit(t, "books of a after a book of b", d)
	got, d := pgRead(t, e, "books of b after a book of b", e.booksOf(e.b.ID))
	testdb.WantMiss(t, "books of b after a book of b", d)
	if len(got) != 2 || got[1] != b2 {
		t.Errorf("books of b = %+v; want b1 and %+v", got, b2)
	}
	_, d = pgRead(t, e, "count after a book of b", countBooksPostgres)
	testdb.WantMiss(t, "count after a book of b", d)
	warm()

	// A book of a: a's list misses and shows it.
	a3 := must(e.q.CreateBook(e.ctx, pgdb.CreateBookParams{AuthorID: e.a.ID, Title: "a3", Year: 2003}))(t)
	got, d = pgRead(t, e, "books of a after a book of a", e.booksOf(e.a.ID))
	testdb.WantMiss(t, "books of a after a book of a", d)
	if len(got) != 3 || got[2] != a3 {
		t.Errorf("books of a = %+v; want a1, a2 and %+v", got, a3)
	}
	warm()

	// A new title for a1: a1 and a's list change; b1 is untouched.
	if err := e.q.UpdateBookTitle(e.ctx, pgdb.UpdateBookTitleParams{Title: "a1, revised", ID: e.a1.ID}); err != nil {
		t.Fatal(err)
	}
	one, d := pgRead(t, e, "a1 after its new title", e.book(e.a1.ID))
	testdb.WantMiss(t, "a1 after its new title", d)
	if one.Title != "a1, revised" {
		t.Errorf("a1's title = %q; want %q", one.Title, "a1, revised")
	}
	_, d = pgRead(t, e, "b1 after a1's new title", e.book(e.b1.ID))
	testdb.WantHit(t, "b1 after a1's new title", d)
	_, d = pgRead(t, e, "books of a after a1's new title", e.booksOf(e.a.ID))
	testdb.WantMiss(t, "books of a after a1's new title", d)
	_, d = pgRead(t, e, "reviews of a after a1's new title", e.reviewsOf(e.a.ID))
	testdb.WantMiss(t, "reviews of a after a1's new title", d)
	warm()

	// a2 moves to b: both lists change.
	if err := e.q.MoveBook(e.ctx, pgdb.MoveBookParams{AuthorID: e.b.ID, ID: e.a2.ID}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{e.a.ID, e.b.ID} {
		_, d = pgRead(t, e, "books after a2 moved", e.booksOf(id))
		testdb.WantMiss(t, "books after a2 moved", d)
	}
	warm()

	// A review of a3: a's reviews change, b's do not.
	if err := e.q.CreateReview(e.ctx, pgdb.CreateReviewParams{BookID: a3.ID, Stars: 3, Body: "so-so"}); err != nil {
		t.Fatal(err)
	}
	rs, d := pgRead(t, e, "reviews of a after a review", e.reviewsOf(e.a.ID))
	testdb.WantMiss(t, "reviews of a after a review", d)
	if len(rs) != 2 {
		t.Errorf("reviews of a = %+v; want 2", rs)
	}
	warm()

	// b1 is deleted.
	if err := e.q.DeleteBook(e.ctx, e.b1.ID); err != nil {
		t.Fatal(err)
	}
	_, d = pgRead(t, e, "b1 after its delete", e.book(e.b1.ID))
	if d.Hits != 0 {
		t.Errorf("b1 after its delete: got %v; want no hit", d)
	}
	_, d = pgRead(t, e, "books of b after b1's delete", e.booksOf(e.b.ID))
	testdb.WantMiss(t, "books of b after b1's delete", d)
	warm()

	// a is deleted: the foreign keys delete a's books and their reviews.
	if err := e.q.DeleteAuthor(e.ctx, e.a.ID); err != nil {
		t.Fatal(err)
	}
	got, d = pgRead(t, e, "books of a after a's delete", e.booksOf(e.a.ID))
	testdb.WantMiss(t, "books of a after a's delete", d)
	if len(got) != 0 {
		t.Errorf("books of a after a's delete = %+v; want none", got)
	}
	rs, _ = pgRead(t, e, "reviews of a after a's delete", e.reviewsOf(e.a.ID))
	if len(rs) != 0 {
		t.Errorf("reviews of a after a's delete = %+v; want none", rs)
	}
	_, _ = pgRead(t, e, "a3 after a's delete", e.book(a3.ID))
	n, _ := pgRead(t, e, "count after a's delete", countBooksPostgres)
	if n != 2 {
		t.Errorf("count after a's delete = %d; want 2 (a2 and b2)", n)
	}
	if s := e.db.Conn.Stats(); s.UnknownWrites != 0 {
		t.Errorf("Stats().UnknownWrites = %d; want 0", s.UnknownWrites)
	}
	e.db.LogNotCached(t)
}

// TestPostgresGeneratedTransactions runs generated writes in transactions through
// WithTx: their invalidations are applied after Commit, never after Rollback, and
// reads in the transaction see its own writes.
func TestPostgresGeneratedTransactions(t *testing.T) {
	e := newPostgresEnv(t)
	pgRead(t, e, "books of a", e.booksOf(e.a.ID))
	pgRead(t, e, "a1", e.book(e.a1.ID))

	tx, err := e.db.Wrapped.BeginTx(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	qtx := e.q.WithTx(tx)
	a3 := must(qtx.CreateBook(e.ctx, pgdb.CreateBookParams{AuthorID: e.a.ID, Title: "a3", Year: 2003}))(t)
	if err := qtx.UpdateBookTitle(e.ctx, pgdb.UpdateBookTitleParams{Title: "a1, in tx", ID: e.a1.ID}); err != nil {
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
	_, d := pgRead(t, e, "books of a before commit", e.booksOf(e.a.ID))
	testdb.WantHit(t, "books of a before commit", d)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got, d := pgRead(t, e, "books of a after commit", e.booksOf(e.a.ID))
	testdb.WantMiss(t, "books of a after commit", d)
	if len(got) != 3 {
		t.Errorf("books of a after commit = %+v; want 3", got)
	}
	b, d := pgRead(t, e, "a1 after commit", e.book(e.a1.ID))
	testdb.WantMiss(t, "a1 after commit", d)
	if b.Title != "a1, in tx" {
		t.Errorf("a1's title after commit = %q; want %q", b.Title, "a1, in tx")
	}

	// A transaction rolled back invalidates nothing.
	pgRead(t, e, "books of b", e.booksOf(e.b.ID))
	tx, err = e.db.Wrapped.BeginTx(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	qtx = e.q.WithTx(tx)
	if _, err := qtx.CreateBook(e.ctx, pgdb.CreateBookParams{AuthorID: e.b.ID, Title: "b2", Year: 2004}); err != nil {
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
		_, d = pgRead(t, e, c.name, e.booksOf(c.id))
		testdb.WantHit(t, c.name, d)
	}
	e.db.LogNotCached(t)
}
