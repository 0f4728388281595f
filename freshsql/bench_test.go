package freshsql

import (
	"context"
	"database/sql"
	"testing"
)

// BenchmarkHit is a cached point read through database/sql on SQLite.
func BenchmarkHit(b *testing.B) {
	db, _ := testDB(b, blogAnalyzer(), Options{})
	seed(b, db)
	ctx := Cached(context.Background())
	var id int64
	var title string
	if err := db.QueryRowContext(ctx, qByID, 10).Scan(&id, &title); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := db.QueryRowContext(ctx, qByID, 10).Scan(&id, &title); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUncached is the same read with the cache turned off.
func BenchmarkUncached(b *testing.B) {
	db, _ := testDB(b, blogAnalyzer(), Options{})
	seed(b, db)
	ctx := NoCache(context.Background())
	var id int64
	var title string
	b.ReportAllocs()
	for b.Loop() {
		if err := db.QueryRowContext(ctx, qByID, 10).Scan(&id, &title); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMiss is a cacheable read that misses each time: every iteration
// reads another id (absent, so the result is empty and cached as such).
func BenchmarkMiss(b *testing.B) {
	db, _ := testDB(b, blogAnalyzer(), Options{})
	seed(b, db)
	ctx := Cached(context.Background())
	b.ReportAllocs()
	i := int64(1_000_000)
	for b.Loop() {
		i++
		readEmpty(b, ctx, db, i)
	}
}

// BenchmarkMissUncached is BenchmarkMiss with the cache turned off.
func BenchmarkMissUncached(b *testing.B) {
	db, _ := testDB(b, blogAnalyzer(), Options{})
	seed(b, db)
	ctx := NoCache(context.Background())
	b.ReportAllocs()
	i := int64(1_000_000)
	for b.Loop() {
		i++
		readEmpty(b, ctx, db, i)
	}
}

// readEmpty reads the article id, which does not exist.
func readEmpty(b *testing.B, ctx context.Context, db *sql.DB, id int64) { //nolint:revive // b first
	rows, err := db.QueryContext(ctx, qByID, id)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
}
