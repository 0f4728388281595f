package freshsqlite

import (
	"database/sql"
	"testing"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
	_ "github.com/ncruces/go-sqlite3/driver" // the second driver, registered as "sqlite3"
)

// ncrucesBus returns a Bus on the file at path through github.com/ncruces/go-sqlite3,
// a second driver, and closes it when the test ends.
func ncrucesBus(tb testing.TB, path string, o Options) *Bus {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	b, err := New(testCtx(tb), db, o)
	if err != nil {
		tb.Fatalf("New over ncruces: %v", err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// TestBusOtherDriver runs the conformance suite on buses that use two drivers on
// one file: each Publish and Subscribe takes turns between a bus over
// github.com/ncruces/go-sqlite3 and one over modernc.org/sqlite, so messages cross
// from one driver to the other.
func TestBusOtherDriver(t *testing.T) {
	t.Parallel()
	freshtest.TestBus(t, func(t *testing.T) fresh.Bus {
		path := testPath(t)
		return &split{buses: []*Bus{ncrucesBus(t, path, Options{}), testBus(t, path, Options{})}}
	})
}
