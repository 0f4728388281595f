// Package gorm_test runs GORM over a freshsql-wrapped *sql.DB, with the SQLite
// and PostgreSQL dialectors, and checks that its reads are cached, equal the
// unwrapped database's, and are never stale after its writes.
package gorm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/freshcache/fresh/freshsql"
	"github.com/freshcache/fresh/freshsql/compat/internal/testdb"
	gormpostgres "gorm.io/driver/postgres"
	gormsqlite "gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Author uses gorm.Model: timestamps and soft deletes.
type Author struct {
	gorm.Model
	Name  string
	Books []Book
}

// Book belongs to an Author and has Reviews.
type Book struct {
	ID       uint
	AuthorID uint
	Author   *Author
	Title    string
	Year     int
	Reviews  []Review
}

// Review belongs to a Book.
type Review struct {
	ID     uint
	BookID uint
	Stars  int
	Body   string
}

func TestGORMSQLite(t *testing.T) {
	db := testdb.SQLite(t, "")
	runScenario(t, db, func(c gorm.ConnPool) gorm.Dialector { return gormsqlite.New(gormsqlite.Config{Conn: c}) })
}

func TestGORMPostgres(t *testing.T) {
	db := testdb.Postgres(t, "")
	runScenario(t, db, func(c gorm.ConnPool) gorm.Dialector { return gormpostgres.New(gormpostgres.Config{Conn: c}) })
}

// scenario is GORM opened twice on one database: g on the wrapped *sql.DB, plain
// on the unwrapped one.
type scenario struct {
	t        *testing.T
	db       *testdb.DB
	g, plain *gorm.DB
}

func openGORM(t *testing.T, dial gorm.Dialector) *gorm.DB {
	t.Helper()
	g, err := gorm.Open(dial, &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// read runs one GORM read on both databases (see testdb.Read).
func read[T any](s *scenario, name string, fn func(*gorm.DB) (T, error)) (T, testdb.Delta) {
	s.t.Helper()
	return testdb.Read(s.t, s.db, s.g, s.plain, name, func(ctx context.Context, g *gorm.DB) (T, error) {
		return fn(g.WithContext(ctx))
	})
}

// The reads of the scenario.

func authorByID(id uint) func(*gorm.DB) (Author, error) {
	return func(g *gorm.DB) (Author, error) {
		var a Author
		err := g.First(&a, id).Error
		return a, err
	}
}

func authorWithBooks(id uint) func(*gorm.DB) (Author, error) {
	return func(g *gorm.DB) (Author, error) {
		var a Author
		err := g.Preload("Books", func(g *gorm.DB) *gorm.DB { return g.Order("books.id") }).First(&a, id).Error
		return a, err
	}
}

func booksOf(id uint) func(*gorm.DB) ([]Book, error) {
	return func(g *gorm.DB) ([]Book, error) {
		var bs []Book
		err := g.Where("author_id = ?", id).Order("id").Find(&bs).Error
		return bs, err
	}
}

func bookByID(id uint) func(*gorm.DB) (Book, error) {
	return func(g *gorm.DB) (Book, error) {
		var b Book
		err := g.First(&b, id).Error
		return b, err
	}
}

func booksOfYearWithAuthor(year int) func(*gorm.DB) ([]Book, error) {
	return func(g *gorm.DB) ([]Book, error) {
		var bs []Book
		err := g.Joins("Author").Where("books.year = ?", year).Order("books.id").Find(&bs).Error
		return bs, err
	}
}

func countBooksOf(id uint) func(*gorm.DB) (int64, error) {
	return func(g *gorm.DB) (int64, error) {
		var n int64
		err := g.Model(&Book{}).Where("author_id = ?", id).Count(&n).Error
		return n, err
	}
}

func reviewsOfBooks(ids ...uint) func(*gorm.DB) ([]Review, error) {
	return func(g *gorm.DB) ([]Review, error) {
		var rs []Review
		err := g.Where("book_id IN ?", ids).Order("id").Find(&rs).Error
		return rs, err
	}
}

// everything reads every view of the scenario on both databases and compares
// them: after any write, no read through the cache may be stale.
func (s *scenario) everything(when string, a, b Author, books []uint) {
	s.t.Helper()
	for _, id := range []uint{a.ID, b.ID} {
		read(s, when+": author", authorByID(id))
		read(s, when+": author with books", authorWithBooks(id))
		read(s, when+": books of author", booksOf(id))
		read(s, when+": count", countBooksOf(id))
	}
	for _, id := range books {
		read(s, when+": book", bookByID(id))
	}
	read(s, when+": books of 2001 with author", booksOfYearWithAuthor(2001))
	read(s, when+": reviews", reviewsOfBooks(books...))
}

func runScenario(t *testing.T, db *testdb.DB, dial func(gorm.ConnPool) gorm.Dialector) {
	s := &scenario{t: t, db: db, g: openGORM(t, dial(db.Wrapped)), plain: openGORM(t, dial(db.Plain))}
	ctx := context.Background()
	if err := s.g.WithContext(ctx).AutoMigrate(&Author{}, &Book{}, &Review{}); err != nil {
		t.Fatal(err)
	}
	// Writes go through the wrapped database under a Cached context, as an
	// application that caches every read would have it.
	w := func() *gorm.DB { return s.g.WithContext(freshsql.Cached(ctx)) }

	a := Author{Name: "Ann", Books: []Book{{Title: "a1", Year: 2001}, {Title: "a2", Year: 2002}}}
	b := Author{Name: "Bob", Books: []Book{{Title: "b1", Year: 2001}}}
	if err := w().Create(&a).Error; err != nil {
		t.Fatal(err)
	}
	if err := w().Create(&b).Error; err != nil {
		t.Fatal(err)
	}
	if err := w().Create(&Review{BookID: a.Books[0].ID, Stars: 5, Body: "fine"}).Error; err != nil {
		t.Fatal(err)
	}
	books := []uint{a.Books[0].ID, a.Books[1].ID, b.Books[0].ID}

	// Every read: a miss, then a hit, equal to the unwrapped database's.
	for _, r := range []struct {
		name string
		run  func() testdb.Delta
	}{
		{"First", func() testdb.Delta { _, d := read(s, "First", authorByID(a.ID)); return d }},
		{"Find with Where", func() testdb.Delta { _, d := read(s, "Find with Where", booksOf(a.ID)); return d }},
		{"Preload", func() testdb.Delta { _, d := read(s, "Preload", authorWithBooks(a.ID)); return d }},
		{"Joins", func() testdb.Delta { _, d := read(s, "Joins", booksOfYearWithAuthor(2001)); return d }},
		{"Count", func() testdb.Delta { _, d := read(s, "Count", countBooksOf(a.ID)); return d }},
		{"Find with IN", func() testdb.Delta { _, d := read(s, "Find with IN", reviewsOfBooks(books...)); return d }},
	} {
		t.Run(r.name, func(t *testing.T) {
			testdb.WantMiss(t, "first read", r.run())
			testdb.WantHit(t, "second read", r.run())
		})
	}
	s.everything("after the first reads", a, b, books)

	// Create: a book of b leaves a's books cached; one of a does not.
	bookB := Book{AuthorID: b.ID, Title: "b2", Year: 2003}
	if err := w().Create(&bookB).Error; err != nil {
		t.Fatal(err)
	}
	books = append(books, bookB.ID)
	_, d := read(s, "books of a after a book of b", booksOf(a.ID))
	testdb.WantHit(t, "books of a after a book of b", d)
	got, d := read(s, "books of b after a book of b", booksOf(b.ID))
	testdb.WantMiss(t, "books of b after a book of b", d)
	if len(got) != 2 {
		t.Errorf("books of b = %+v; want 2", got)
	}
	bookA := Book{AuthorID: a.ID, Title: "a3", Year: 2001}
	if err := w().Create(&bookA).Error; err != nil {
		t.Fatal(err)
	}
	books = append(books, bookA.ID)
	got, d = read(s, "books of a after a book of a", booksOf(a.ID))
	testdb.WantMiss(t, "books of a after a book of a", d)
	if len(got) != 3 {
		t.Errorf("books of a = %+v; want 3", got)
	}
	s.everything("after Create", a, b, books)

	// Updates by primary key, and by a condition.
	if err := w().Model(&Book{ID: a.Books[0].ID}).Updates(Book{Title: "a1, revised"}).Error; err != nil {
		t.Fatal(err)
	}
	one, d := read(s, "a1 after Updates", bookByID(a.Books[0].ID))
	testdb.WantMiss(t, "a1 after Updates", d)
	if one.Title != "a1, revised" {
		t.Errorf("a1's title = %q; want %q", one.Title, "a1, revised")
	}
	s.everything("after Updates by key", a, b, books)
	if err := w().Model(&Book{}).Where("author_id = ? AND year = ?", b.ID, 2003).Update("year", 2001).Error; err != nil {
		t.Fatal(err)
	}
	bs, _ := read(s, "books of 2001 after Update", booksOfYearWithAuthor(2001))
	if len(bs) != 4 {
		t.Errorf("books of 2001 = %+v; want 4", bs)
	}
	s.everything("after Update with Where", a, b, books)

	// Save writes every column; an expression assigns a value the wrapper cannot
	// know; an upsert may change an existing row.
	saved, _ := read(s, "a3 before Save", bookByID(bookA.ID))
	saved.Title, saved.Year = "a3, saved", 2002
	if err := w().Save(&saved).Error; err != nil {
		t.Fatal(err)
	}
	if one, _ := read(s, "a3 after Save", bookByID(bookA.ID)); one.Title != "a3, saved" {
		t.Errorf("a3's title after Save = %q; want %q", one.Title, "a3, saved")
	}
	s.everything("after Save", a, b, books)
	if err := w().Model(&Book{}).Where("author_id = ?", a.ID).Update("year", gorm.Expr("year + ?", 1)).Error; err != nil {
		t.Fatal(err)
	}
	s.everything("after an Update with an expression", a, b, books)
	upsert := Book{ID: bookB.ID, AuthorID: a.ID, Title: "b2, taken by a", Year: 2001}
	if err := w().Clauses(clause.OnConflict{UpdateAll: true}).Create(&upsert).Error; err != nil {
		t.Fatal(err)
	}
	got, _ = read(s, "books of a after an upsert", booksOf(a.ID))
	if len(got) != 4 {
		t.Errorf("books of a after an upsert = %+v; want 4", got)
	}
	s.everything("after an upsert", a, b, books)

	// Delete a book; soft-delete an author.
	if err := w().Delete(&Book{}, a.Books[1].ID).Error; err != nil {
		t.Fatal(err)
	}
	if _, d := read(s, "a2 after Delete", bookByID(a.Books[1].ID)); d.Hits != 0 {
		t.Errorf("a2 after Delete: got %v; want no hit", d)
	}
	s.everything("after Delete", a, b, books)
	if err := w().Delete(&Author{}, b.ID).Error; err != nil {
		t.Fatal(err)
	}
	s.everything("after a soft delete", a, b, books)

	// A transaction that fails rolls back: nothing is invalidated.
	read(s, "books of a before the transaction", booksOf(a.ID))
	errRollback := errors.New("roll back")
	err := w().Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&Book{AuthorID: a.ID, Title: "never", Year: 2001}).Error; err != nil {
			return err
		}
		if err := tx.Model(&Book{ID: a.Books[0].ID}).Update("title", "never").Error; err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Transaction: got %v; want %v", err, errRollback)
	}
	_, d = read(s, "books of a after a rollback", booksOf(a.ID))
	testdb.WantHit(t, "books of a after a rollback", d)
	s.everything("after a rollback", a, b, books)

	// One that commits invalidates after the commit.
	err = w().Transaction(func(tx *gorm.DB) error {
		return tx.Create(&Book{AuthorID: a.ID, Title: "a4", Year: 2004}).Error
	})
	if err != nil {
		t.Fatal(err)
	}
	got, d = read(s, "books of a after a commit", booksOf(a.ID))
	testdb.WantMiss(t, "books of a after a commit", d)
	if len(got) != 4 {
		t.Errorf("books of a after a commit = %+v; want a1, a3, b2, a4", got)
	}
	s.everything("after a commit", a, b, books)

	t.Logf("stats: %+v", db.Conn.Stats())
	db.LogNotCached(t)
}
