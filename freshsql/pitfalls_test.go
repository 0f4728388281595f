package freshsql

import (
	"context"
	"hash"
	"testing"
)

// constHash is a hash that collides on everything.
type constHash struct{}

func (constHash) Write(p []byte) (int, error) { return len(p), nil }
func (constHash) Sum(b []byte) []byte         { return append(b, 42) }
func (constHash) Reset()                      {}
func (constHash) Size() int                   { return 1 }
func (constHash) BlockSize() int              { return 1 }

// TestP22ForcedCollisions: with a key hash that maps every read to one key, every
// read still returns its own rows.
func TestP22ForcedCollisions(t *testing.T) {
	newKeyHash = func() hash.Hash { return constHash{} }
	t.Cleanup(func() { newKeyHash = defaultKeyHash })
	db, c := testDB(t, blogAnalyzer(), Options{})
	seed(t, db)
	ctx := Cached(context.Background())
	for range 3 {
		for _, id := range []int{10, 11, 20} {
			rows, _ := readAll(t, ctx, db, qByID, id)
			if len(rows) != 1 || rows[0][0] != int64(id) {
				t.Fatalf("read of article %d returned %v", id, rows)
			}
		}
		if rows, _ := readAll(t, ctx, db, qCount); rows[0][0] != int64(3) {
			t.Fatalf("count returned %v", rows)
		}
	}
	if s := c.Stats(); s.Collisions == 0 {
		t.Errorf("Stats = %+v; want collisions counted", s)
	}
}

// TestP32SameTextSameKey: the key is the SQL text exactly as sent, so the fill
// and the lookup can never normalise differently; two spellings of one query are
// two entries, and a write invalidates both.
func TestP32SameTextSameKey(t *testing.T) {
	a := blogAnalyzer()
	spaced := "SELECT  id, title FROM articles WHERE id = ?"
	a.m[spaced] = a.m[qByID]
	db, c := testDB(t, a, Options{})
	seed(t, db)
	ctx := Cached(context.Background())
	for range 2 {
		readAll(t, ctx, db, qByID, 10)
		readAll(t, ctx, db, spaced, 10)
	}
	if s := c.Stats(); s.Hits != 2 || s.Misses != 2 {
		t.Errorf("Stats = %+v; want 2 misses (one per spelling) and 2 hits", s)
	}
	if _, err := db.Exec(qRetitle, "changed", 10); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{qByID, spaced} {
		if rows, _ := readAll(t, ctx, db, q, 10); rows[0][1] != "changed" {
			t.Errorf("%q after the write: %v", q, rows[0][1])
		}
	}
}
