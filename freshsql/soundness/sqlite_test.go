package soundness

import (
	"context"
	"flag"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshsql"
	"github.com/freshcache/fresh/freshsql/sqlite"
	_ "modernc.org/sqlite"
)

var (
	long = flag.Bool("soundness.long", false, "run ten times as many cases")
	seed = flag.Uint64("soundness.seed", 0, "the seed (default: from the clock, logged)")
)

func testSeed(t *testing.T) uint64 {
	s := *seed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -soundness.seed=%d)", s, s)
	return s
}

func cases(n int) int {
	if *long {
		return 10 * n
	}
	return n
}

func newHub(tb testing.TB) *fresh.Hub {
	hub, err := fresh.NewHub(fresh.HubOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = hub.Close(context.Background()) })
	return hub
}

func sqliteOpen(tb testing.TB, o freshsql.Options) func(tb testing.TB, i int, prefix string) Case {
	dir := tb.TempDir()
	return func(tb testing.TB, i int, prefix string) Case {
		o := o
		o.Analyzer = sqlite.New(sqlite.Options{})
		o.Hub = newHub(tb)
		path := filepath.Join(dir, "case"+strconv.Itoa(i)+".db")
		db, err := freshsql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)", o)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = db.Close() })
		for _, s := range Schema(prefix) {
			if _, err := db.Exec(s); err != nil {
				tb.Fatal(err)
			}
		}
		c, _ := freshsql.Lookup(db)
		return Case{DB: db, Conn: c, Prefix: prefix}
	}
}

var sqliteDialect = Dialect{
	Name:   "sqlite",
	Upsert: `INSERT INTO {t0} (id, a, b) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET a = excluded.a`,
}

// TestSQLite runs the checker on SQLite in process: every write that changes a
// cached read's result must have invalidated it.
func TestSQLite(t *testing.T) {
	for _, mode := range []struct {
		name     string
		rowImage bool
	}{{"default", false}, {"row-image", true}} {
		t.Run(mode.name, func(t *testing.T) {
			res := Checker{Dialect: sqliteDialect, Open: sqliteOpen(t, freshsql.Options{RowImage: mode.rowImage}), Cases: cases(300), Steps: 30, Seed: testSeed(t)}.Run(t)
			t.Logf("%s mode: %v", mode.name, res)
		})
	}
}
