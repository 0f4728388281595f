package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

// Soundness of dependency values against SQLite's =: whenever SQLite says a
// stored value equals a condition's value, their canonical forms
// (fresh.Dep.String) must be equal, unless ReadCatalog lists the column as
// loose or the value is one the wrapper must not use.

// canonical is the canonical form of x as a dependency value, or "" when x
// cannot be one (an infinite float).
func canonical(x any) string {
	d := fresh.Scope("t", fresh.Eq("c", x))
	if d.Err() != nil {
		return ""
	}
	return strings.TrimPrefix(d.String(), "scope:t:c=")
}

// affinityDecls are column definitions of every affinity and of the
// collations SQLite has built in.
var affinityDecls = []string{
	"INTEGER", "REAL", "NUMERIC", "TEXT", "BLOB", "", "STRING", "FLOATING POINT",
	"TEXT COLLATE NOCASE", "TEXT COLLATE RTRIM", "NUMERIC COLLATE NOCASE",
	"ANY", // in a plain table, NUMERIC affinity
}

// equalityCorpus holds the values stored and compared by TestEqualityCorpus.
func equalityCorpus() []any {
	third := 1.0
	third /= 3 // not a constant expression: a float64 at run time
	return []any{
		// Texts.
		"5", "05", "5.0", "5.00", " 5", "5 ", "\t5\n", "+5", "-5", "5.", ".5", "0.5", "-0", "0.0", "-0.0",
		"1e2", "1E2", "100", "100.0", "1.5e0", "1.5", "0x10", "16", "1,5", "5e", "Inf", "NaN",
		"9007199254740992", "9007199254740993", "9007199254740992.0", "9007199254740993.0",
		"9223372036854775807", "9223372036854775808", "9223372036854775809", "-9223372036854775809",
		"18446744073709551615", "18446744073709551617",
		"0.3715814285288183", "0.37158142852881828616", "0.37158142852881826",
		"1e999", "1.0e+20", "1000000000000000.0", "0.33333333333333332", "0.3333333333333333",
		"abc", "ABC", "abc ", "true", "TRUE", "t", "1", "0", "",
		"123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000",
		"2024-01-02 03:04:05", "2024-01-02T03:04:05Z", "2024-01-02 03:04:05 +0000 UTC",
		// Numbers and booleans.
		int64(0), int64(1), int64(5), int64(16), int64(100), int64(-5),
		int64(9007199254740992), int64(9007199254740993), int64(math.MaxInt64), int64(1704164645),
		0.5, 1.5, 5.0, 100.0, 1e20, 1e15, 0.1, third, 9007199254740992.0, 9.223372036854775808e18,
		true, false,
		// Blobs and times.
		[]byte("5"), []byte("abc"), []byte("1e2"),
		time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// openMemory opens a private in-memory database on one connection.
func openMemory(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// matches stores every value of corpus in a column declared decl, and
// returns for each value the indexes of the stored values that c = value
// finds.
func matches(t *testing.T, db *sql.DB, decl string, corpus []any) [][]int {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{"DROP TABLE IF EXISTS t", "CREATE TABLE t (id INTEGER PRIMARY KEY, c " + decl + ")"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i, v := range corpus {
		if _, err := db.ExecContext(ctx, "INSERT INTO t (id, c) VALUES (?, ?)", i, v); err != nil {
			t.Fatalf("insert %#v: %v", v, err)
		}
	}
	out := make([][]int, len(corpus))
	for i, v := range corpus {
		out[i] = ids(t, db, v)
	}
	return out
}

// ids returns the ids of the rows of t whose c = v.
func ids(t *testing.T, db *sql.DB, v any) []int {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT id FROM t WHERE c = ?", v)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEqualityCorpus stores every value of the corpus in a column of every
// affinity and collation, looks each up with =, and checks that every pair
// SQLite finds equal has equal canonical forms, unless ReadCatalog lists the
// column as loose or comparableValue rejects a value of the pair.
func TestEqualityCorpus(t *testing.T) {
	corpus := equalityCorpus()
	db := openMemory(t, "file:equality?mode=memory&cache=private")
	for _, decl := range affinityDecls {
		t.Run(decl, func(t *testing.T) {
			found := matches(t, db, decl, corpus)
			cat, err := New(Options{}).ReadCatalog(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			loose := slices.Contains(cat.LooseColumns["t"], "c")
			var mismatches []string
			for i, v := range corpus {
				for _, j := range found[i] {
					w := corpus[j]
					cv, cw := canonical(v), canonical(w)
					if cv == cw || cv == "" || cw == "" {
						continue
					}
					mismatches = append(mismatches, fmt.Sprintf("%#v = %#v", w, v))
					if !loose && comparableValue(v) && comparableValue(w) {
						t.Errorf("stored %#v (%s) = %#v (%s); canonical forms differ", w, cw, v, cv)
					}
				}
			}
			t.Logf("loose %v; pairs = with different canonical forms: %d", loose, len(mismatches))
		})
	}
}

// equalityCases are pairs SQLite's = finds equal though their canonical forms
// differ: each must be covered by a loose column or by comparableValue.
var equalityCases = []struct {
	decl        string
	stored, cmp any
}{
	// Collations: catalog.
	{"TEXT COLLATE NOCASE", "abc", "ABC"},
	{"TEXT COLLATE RTRIM", "abc", "abc "},
	{"NUMERIC COLLATE NOCASE", "abc", "ABC"},
	// REAL affinity rounds integers beyond 2^53: catalog.
	{"REAL", int64(9007199254740993), int64(9007199254740992)},
	{"DOUBLE PRECISION", "9007199254740993", int64(9007199254740992)},
	// Texts that a numeric affinity converts: comparableValue.
	{"INTEGER", "1e2", int64(100)},
	{"INTEGER", int64(100), "1E2"},
	{"INTEGER", " 5", int64(5)},
	{"INTEGER", "5 ", int64(5)},
	{"INTEGER", "\t5\n", "5"},
	{"INTEGER", "+5", int64(5)},
	{"INTEGER", "5.", int64(5)},
	{"INTEGER", ".5", 0.5},
	{"INTEGER", "1.5e0", 1.5},
	{"INTEGER", "9007199254740993.0", int64(9007199254740992)},
	{"INTEGER", "9223372036854775809", 9.223372036854775808e18}, // stored as 2^63
	{"NUMERIC", "1e2", int64(100)},
	{"NUMERIC", "9007199254740993.0", "9007199254740992"},
	{"NUMERIC", "0.37158142852881828616", 0.37158142852881826},
	{"STRING", "1e2", int64(100)},         // STRING gives NUMERIC affinity
	{"BOOLEAN", "+1", true},               // so does BOOLEAN
	{"FLOATING POINT", "1e2", int64(100)}, // INT in the name: INTEGER affinity
	// A float written to a TEXT column is stored as SQLite prints it.
	{"TEXT", 1e20, "1.0e+20"},
	{"TEXT", 1e-5, "1.0e-05"},
	// modernc.org/sqlite binds a time.Time as time.Time.String.
	{"TEXT", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "2024-01-02 03:04:05 +0000 UTC"},
	{"", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "2024-01-02 03:04:05 +0000 UTC"},
}

func TestEqualityCases(t *testing.T) {
	db := openMemory(t, "file:equalitycases?mode=memory&cache=private")
	ctx := context.Background()
	for _, c := range equalityCases {
		name := fmt.Sprintf("%s/%v=%v", c.decl, c.stored, c.cmp)
		t.Run(name, func(t *testing.T) {
			found := matches(t, db, c.decl, []any{c.stored, c.cmp})
			if !slices.Contains(found[1], 0) {
				t.Fatalf("SQLite's = does not find %#v by %#v", c.stored, c.cmp)
			}
			if a, b := canonical(c.stored), canonical(c.cmp); a == b {
				t.Fatalf("canonical forms are equal (%s); not a case", a)
			}
			cat, err := New(Options{}).ReadCatalog(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			loose := slices.Contains(cat.LooseColumns["t"], "c")
			if !loose && comparableValue(c.stored) && comparableValue(c.cmp) {
				t.Errorf("neither the catalog nor comparableValue covers it")
			}
		})
	}
}

// TestEqualityUnixTime: with _time_integer_format=unix, modernc.org/sqlite
// binds a time.Time as its Unix seconds, which an integer finds.
func TestEqualityUnixTime(t *testing.T) {
	db := openMemory(t, "file:equalityunix?mode=memory&cache=private&_time_integer_format=unix")
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	found := matches(t, db, "INTEGER", []any{at, at.Unix()})
	if !slices.Contains(found[1], 0) {
		t.Fatalf("%d does not find the time %v", at.Unix(), at)
	}
	if canonical(at) == canonical(at.Unix()) {
		t.Fatalf("canonical forms are equal")
	}
	if comparableValue(at) {
		t.Errorf("comparableValue accepts a time.Time")
	}
}

// TestFloatText checks, on random decimal texts of up to 17 significant
// digits, that SQLite reads them as the float strconv.ParseFloat does, the
// premise of the 17 digits of sqliteNumberText.
func TestFloatText(t *testing.T) {
	db := openMemory(t, "file:floattext?mode=memory&cache=private")
	ctx := context.Background()
	n := 20000
	if testing.Short() {
		n = 2000
	}
	seed := uint64(1)
	next := func(k uint64) uint64 { // xorshift: reproducible, no state shared
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return seed % k
	}
	for range n {
		digits := make([]byte, 1+next(16))
		for i := range digits {
			digits[i] = byte('0' + next(10))
		}
		digits[0] = byte('1' + next(9))
		point := int(next(uint64(len(digits) + 1)))
		s := string(digits[:point]) + "." + string(digits[point:]) + "1" // 17 digits at most
		if point == 0 {
			s = "0." + strings.Repeat("0", int(next(300))) + string(digits)
		}
		if sqliteNumberText(s) {
			t.Fatalf("%q: rejected by sqliteNumberText", s)
		}
		var got float64
		if err := db.QueryRowContext(ctx, "SELECT CAST(? AS REAL)", s).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want, _ := strconv.ParseFloat(s, 64); got != want {
			t.Fatalf("%q: SQLite reads %v; strconv %v", s, got, want)
		}
	}
}

func TestSQLiteNumberText(t *testing.T) {
	for s, want := range map[string]bool{
		"5": false, "-5": false, "05": false, "5.0": false, "0.5": false, "-0": false,
		"abc": false, "0x10": false, "5e": false, "Inf": false, "": false, " ": false, "1,5": false,
		"9223372036854775807": false, "9007199254740992.0": false, "12345678901234567": false,
		"0.12345678901234567": false, "1234567890.1234567": false, "0.000000000000000000001": false,
		" 5": true, "5 ": true, "+5": true, "5.": true, ".5": true, "1e2": true, "1E+2": true, "-1e-2": true,
		"9223372036854775808": true, "9007199254740993.0": true, "0.123456789012345678": true,
		"1.0e+20": true, "\v5": true,
	} {
		if got := sqliteNumberText(s); got != want {
			t.Errorf("sqliteNumberText(%q) = %v; want %v", s, got, want)
		}
	}
}
