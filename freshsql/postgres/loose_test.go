package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

// looseTypes are column types with whether ReadCatalog lists a column of the
// type as loose; $ stands for the test's prefix of names.
var looseTypes = []struct {
	typ   string
	loose bool
}{
	{"bigint", false}, {"integer", false}, {"smallint", false}, {"boolean", false},
	{"uuid", false}, {"text", false}, {"varchar(5)", false}, {"numeric", false},
	{"$mood", false}, {"$id_dom", false}, {`text COLLATE "C"`, false},
	{"citext", true}, {"$ci_dom", true}, {"$ci_dom2", true}, {"char(3)", true}, {"bpchar", true},
	{"name", true}, {"real", true}, {"double precision", true}, {"numeric(10,2)", true},
	{"$money_dom", true}, {"timestamp", true}, {"timestamptz", true}, {"date", true},
	{"time", true}, {"timetz", true}, {"interval", true}, {"jsonb", true}, {"json", true},
	{"inet", true}, {"cidr", true}, {"bytea", true}, {"money", true}, {"integer[]", true},
	{"text[]", true}, {"int4range", true}, {"text COLLATE $nd", true}, {"$nd_dom", true},
}

// looseSetup creates, in a fresh schema, the types looseTypes names and one
// table t with a column cN of each type, and returns the connection and the
// table's name.
func looseSetup(t *testing.T) (*sql.Conn, string, func(string) string) {
	db := testDB(t)
	_, conn := testSchema(t, db)
	x := fmt.Sprintf("l%d_", rand.Uint32()%1000000)
	r := strings.NewReplacer("$", x)
	exec(t, conn, "CREATE EXTENSION IF NOT EXISTS citext SCHEMA public")
	for _, q := range []string{
		"CREATE TYPE $mood AS ENUM ('sad', 'ok')",
		"CREATE DOMAIN $id_dom AS bigint",
		"CREATE DOMAIN $ci_dom AS citext",
		"CREATE DOMAIN $ci_dom2 AS $ci_dom",
		"CREATE DOMAIN $money_dom AS numeric(10,2)",
		"CREATE COLLATION $nd (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
		"CREATE DOMAIN $nd_dom AS text COLLATE $nd",
	} {
		exec(t, conn, r.Replace(q))
	}
	cols := make([]string, len(looseTypes))
	for i, lt := range looseTypes {
		cols[i] = fmt.Sprintf("c%d %s", i, r.Replace(lt.typ))
	}
	table := x + "t"
	exec(t, conn, "CREATE TABLE "+table+" (id int, "+strings.Join(cols, ", ")+")")
	return conn, table, r.Replace
}

func TestReadCatalogLooseColumns(t *testing.T) {
	conn, table, _ := looseSetup(t)
	cat, err := New(Options{}).ReadCatalog(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, lt := range looseTypes {
		if lt.loose {
			want = append(want, fmt.Sprintf("c%d", i))
		}
	}
	slices.Sort(want)
	if got := cat.LooseColumns[table]; !slices.Equal(got, want) {
		t.Errorf("LooseColumns[%s] = %v; want %v", table, got, want)
	}
}

// canonical is the canonical form of x as a dependency value, or "" when x
// cannot be one.
func canonical(x any) string {
	d := fresh.Scope("t", fresh.Eq("c", x))
	if d.Err() != nil {
		return ""
	}
	return strings.TrimPrefix(d.String(), "scope:t:c=")
}

// pgEqual reports whether, in a column of type typ, the value stored is
// found by c = cmp (both bound as parameters), and false with the error when
// the column does not take one of them.
func pgEqual(t *testing.T, conn *sql.Conn, table string, col int, stored, cmp any) (bool, error) {
	ctx := context.Background()
	c := fmt.Sprintf("c%d", col)
	exec(t, conn, "DELETE FROM "+table)
	if _, err := conn.ExecContext(ctx, "INSERT INTO "+table+" (id, "+c+") VALUES (1, $1)", stored); err != nil {
		return false, err
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE "+c+" = $1", cmp).Scan(&n); err != nil {
		return false, err
	}
	return n == 1, nil
}

// equalityCases are pairs that PostgreSQL's = finds equal though their
// canonical forms differ: each must be covered by a loose column or by
// comparableValue.
var equalityCases = []struct {
	typ         string
	stored, cmp any
}{
	{"citext", "abc", "ABC"},
	{"$ci_dom2", "abc", "ABC"},
	{"text COLLATE $nd", "abc", "ABC"},
	{"char(3)", "a", "a  "},
	{"bpchar", "a", "a "},
	{"name", strings.Repeat("x", 64), strings.Repeat("x", 63)},
	{"real", 0.10000000001, 0.1},
	{"double precision", int64(9007199254740993), int64(9007199254740992)},
	{"numeric(10,2)", 1.005, 1.01},
	{"$money_dom", "1.005", "1.01"},
	{"timestamptz", time.Date(2024, 1, 2, 3, 4, 5, 400, time.UTC), time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
	{"timestamptz", "2024-01-02 03:04:05 Europe/Paris", time.Date(2024, 1, 2, 2, 4, 5, 0, time.UTC)},
	{"timestamp", time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600)), time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
	{"date", time.Date(2024, 1, 2, 15, 0, 0, 0, time.UTC), "2024-01-02"},
	{"time", "03:04:05", "03:04:05.000"},
	{"interval", "1 day", "24 hours"},
	{"jsonb", `{"a":1,"b":2}`, `{"b": 2, "a": 1.0}`},
	{"inet", "10.0.0.1/32", "10.0.0.1"},
	{"cidr", "10.0.0.0/8", "10/8"},
	{"bytea", []byte("A"), `\x41`},
	{"integer[]", "{1,2}", "{ 1 , 2 }"},
	// Safe types, texts in another spelling: comparableValue.
	{"integer", int64(5), " 5"},
	{"integer", int64(5), "+5"},
	{"bigint", "05 ", int64(5)},
	{"numeric", int64(100), "1e2"},
	{"numeric", 0.5, ".5"},
	{"numeric", int64(5), "5."},
	{"numeric", "NaN", "nan"},
	{"boolean", true, "yes"},
	{"boolean", true, "T"},
	{"boolean", false, "of"},
	{"boolean", true, " true"},
	{"uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "{a0eebc999c0b4ef8bb6d6bb9bd380a11}"},
	{"uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11"},
	{"varchar(5)", "abcde  ", "abcde"},
	{"bigint", 1.5, int64(1)}, // pgx truncates a float64 bound to an integer
	{"integer", 0.1, 0.5},
	{"$mood", "ok", "ok"}, // not a case: checked below to be equal
}

func TestEqualityCases(t *testing.T) {
	conn, table, rep := looseSetup(t)
	cat, err := New(Options{}).ReadCatalog(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range equalityCases {
		col := slices.IndexFunc(looseTypes, func(lt struct {
			typ   string
			loose bool
		}) bool {
			return lt.typ == c.typ
		})
		if col < 0 {
			t.Fatalf("type %s is not in looseTypes", c.typ)
		}
		eq, err := pgEqual(t, conn, table, col, c.stored, c.cmp)
		if err != nil || !eq {
			t.Errorf("%s: %#v = %#v: got %v, %v; want true", rep(c.typ), c.stored, c.cmp, eq, err)
			continue
		}
		if canonical(c.stored) == canonical(c.cmp) {
			if c.typ != "$mood" {
				t.Errorf("%s: %#v = %#v: canonical forms are equal; not a case", c.typ, c.stored, c.cmp)
			}
			continue
		}
		loose := slices.Contains(cat.LooseColumns[table], fmt.Sprintf("c%d", col))
		if !loose && comparableValue(c.stored) && comparableValue(c.cmp) {
			t.Errorf("%s: %#v = %#v: neither the catalog nor comparableValue covers it", c.typ, c.stored, c.cmp)
		}
	}
}

// equalityCorpus holds the values stored and compared by
// TestEqualityCorpus in the columns of safe types.
var equalityCorpus = []any{
	"5", "05", "5.0", " 5", "5 ", "+5", "-5", "5.", ".5", "0.5", "-0", "1e2", "100", "100.0", "1.5",
	"9223372036854775807", "9223372036854775808", "0.37158142852881828616", "0.3715814285288183",
	"NaN", "nan", "Infinity", "abc", "ABC", "abc ", "abc   ", "ok", "true", "TRUE", "t", "T", "tr", "yes",
	"on", "of", "1", "0", "f", "no", "",
	"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
	"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "a0eebc999c0b4ef8bb6d6bb9bd380a11",
	"2024-01-02 03:04:05", "2024-01-02T03:04:05Z",
	int64(0), int64(1), int64(5), int64(100), int64(-5), int64(9007199254740993), int64(9223372036854775807),
	0.5, 1.5, 5.0, 100.0, 1e20, 0.1, 0.3715814285288183, true, false,
	[]byte("5"), []byte(" 5"), []byte("abc"),
	time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600)),
}

// TestEqualityCorpus stores every value of the corpus in a column of every
// safe type (one the catalog does not list as loose), looks each up with =,
// and checks that every pair PostgreSQL finds equal has equal canonical
// forms unless comparableValue rejects a value of the pair.
func TestEqualityCorpus(t *testing.T) {
	conn, table, rep := looseSetup(t)
	ctx := context.Background()
	for col, lt := range looseTypes {
		if lt.loose {
			continue
		}
		c := fmt.Sprintf("c%d", col)
		exec(t, conn, "DELETE FROM "+table)
		for i, v := range equalityCorpus {
			// A value the type refuses is not stored.
			_, _ = conn.ExecContext(ctx, "INSERT INTO "+table+" (id, "+c+") VALUES ($1, $2)", i, v)
		}
		pairs := 0
		for _, v := range equalityCorpus {
			for _, i := range pgIDs(t, conn, "SELECT id FROM "+table+" WHERE "+c+" = $1", v) {
				w := equalityCorpus[i]
				cv, cw := canonical(v), canonical(w)
				if cv == cw || cv == "" || cw == "" {
					continue
				}
				pairs++
				if comparableValue(v) && comparableValue(w) {
					t.Errorf("%s: stored %#v (%s) = %#v (%s); canonical forms differ", rep(lt.typ), w, cw, v, cv)
				}
			}
		}
		t.Logf("%s: pairs = with different canonical forms: %d", rep(lt.typ), pairs)
	}
}

// pgIDs runs a query of ids, and returns none when the server refuses the
// argument (an input the column's type does not read).
func pgIDs(t *testing.T, conn *sql.Conn, query string, arg any) []int {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), query, arg)
	if err != nil {
		return nil
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
	if rows.Err() != nil {
		return nil
	}
	return out
}

func TestPGOtherSpelling(t *testing.T) {
	for s, want := range map[string]bool{
		"5": false, "-5": false, "05": false, "5.0": false, "abc": false, "": false, "t": false, "f": false,
		"TRUE": false, "False": false, "1": false, "0": false, "ok": false, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11": false,
		"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11": false, "2024-01-02": false, "e": false,
		" 5": true, "5 ": true, "abc ": true, "+5": true, "1e2": true, "5.": true, ".5": true, "1_000": true,
		"0x1F": true, "NaN": true, "-Infinity": true, "inf": true, "T": true, "yes": true, "on": true, "of": true,
		"n": true, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}": true, "a0eebc999c0b4ef8bb6d6bb9bd380a11": true,
	} {
		if got := pgOtherSpelling(s); got != want {
			t.Errorf("pgOtherSpelling(%q) = %v; want %v", s, got, want)
		}
	}
}
