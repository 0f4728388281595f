package soundness

import (
	"flag"
	"testing"
	"time"

	"github.com/freshcache/fresh/freshsql"
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

// cases returns how many cases to run: n, a third of it under the race
// detector, ten times it with -soundness.long.
func cases(n int) int {
	switch {
	case *long:
		return 10 * n
	case raceEnabled:
		return max(1, n/3)
	}
	return n
}

// TestSQLite runs the checker on SQLite in process: every write that changes a
// cached read's result must have invalidated it.
func TestSQLite(t *testing.T) {
	for _, mode := range []struct {
		name     string
		rowImage bool
	}{{"default", false}, {"row-image", true}} {
		t.Run(mode.name, func(t *testing.T) {
			res := Checker{Dialect: SQLiteDialect, Open: SQLiteOpener(t.TempDir(), freshsql.Options{RowImage: mode.rowImage}), Cases: cases(300), Steps: 30, Seed: testSeed(t)}.Run(t)
			t.Logf("%s mode: %v", mode.name, res)
		})
	}
}
