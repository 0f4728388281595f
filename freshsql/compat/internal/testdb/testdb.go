// Package testdb opens the databases of the compatibility tests: each test gets a
// wrapped *sql.DB, the unwrapped *sql.DB on the same data, and a hub of its own.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshsql"
	"github.com/freshcache/fresh/freshsql/postgres"
	"github.com/freshcache/fresh/freshsql/sqlite"

	// Register the drivers "pgx" and "sqlite".
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// EnvPostgresURL names the variable holding the PostgreSQL server's URL.
const EnvPostgresURL = "FRESH_POSTGRES_URL"

const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// DB is one test's database, opened twice on the same data.
type DB struct {
	// Wrapped is the freshsql database; Conn is its Connector.
	Wrapped *sql.DB
	Conn    *freshsql.Connector
	// Plain is the same database without freshsql: reads of it are the truth
	// every cached read is compared with. Tests never write through it.
	Plain *sql.DB
	// DSN is the data source name both are opened with.
	DSN string
}

// InCI reports whether the tests run in CI, where a missing server is a failure.
func InCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "0" && v != "false"
}

// newHub returns a hub of the test's own, closed at cleanup.
func newHub(tb testing.TB) *fresh.Hub {
	tb.Helper()
	hub, err := fresh.NewHub(fresh.HubOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hub.Close(ctx); err != nil {
			tb.Errorf("closing the hub: %v", err)
		}
	})
	return hub
}

// SQLite opens a database in a temporary file with foreign keys enforced, runs
// schema on it (unwrapped; "" runs nothing), and opens it wrapped with the SQLite
// analyser.
func SQLite(tb testing.TB, schema string) *DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "compat.db")
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
	return open(tb, "sqlite", dsn, sqlite.New(sqlite.Options{}), schema)
}

// Postgres opens a schema of the test's own on the server at FRESH_POSTGRES_URL
// (dropped at cleanup), runs schema in it, and opens it wrapped with the
// PostgreSQL analyser; search_path points both databases at that schema. It
// skips the test when the server is unreachable, or fails it under CI.
func Postgres(tb testing.TB, schema string) *DB {
	tb.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		base = defaultPostgresURL
	}
	admin, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if admin != nil {
			_ = admin.Close()
		}
		if InCI() {
			tb.Fatalf("PostgreSQL at %s (%s) is unreachable under CI: %v", base, EnvPostgresURL, err)
		}
		tb.Skipf("PostgreSQL at %s (%s) is unreachable: %v", base, EnvPostgresURL, err)
	}
	name := uniqueName(tb)
	if _, err := admin.Exec("CREATE SCHEMA " + name); err != nil {
		_ = admin.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		defer func() { _ = admin.Close() }()
		if _, err := admin.Exec("DROP SCHEMA " + name + " CASCADE"); err != nil {
			tb.Errorf("dropping schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return open(tb, "pgx", u.String(), postgres.New(postgres.Options{}), schema)
}

// uniqueName returns a lower-case identifier made of the test's name and random
// hex digits.
func uniqueName(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("compat_")
	for _, r := range strings.ToLower(tb.Name()) {
		if b.Len() >= 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var buf [4]byte
	if _, err := rand.Read(buf[:]); err != nil {
		tb.Fatal(err)
	}
	return b.String() + "_" + hex.EncodeToString(buf[:])
}

func open(tb testing.TB, driverName, dsn string, a freshsql.Analyzer, schema string) *DB {
	tb.Helper()
	plain, err := sql.Open(driverName, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = plain.Close() })
	if schema != "" {
		if _, err := plain.Exec(schema); err != nil {
			tb.Fatalf("schema: %v", err)
		}
	}
	wrapped, err := freshsql.Open(driverName, dsn, freshsql.Options{Analyzer: a, Hub: newHub(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	// Registered after the hub's cleanup, so it runs before it.
	tb.Cleanup(func() { _ = wrapped.Close() })
	c, ok := freshsql.Lookup(wrapped)
	if !ok {
		tb.Fatal("freshsql.Lookup: not a freshsql database")
	}
	return &DB{Wrapped: wrapped, Conn: c, Plain: plain, DSN: dsn}
}

// Delta is what the wrapper counted during one step of a test.
type Delta struct{ Hits, Misses, Bypassed, Writes, UnknownWrites int64 }

func (d Delta) String() string {
	return fmt.Sprintf("%d hits, %d misses, %d bypassed, %d writes (%d unknown)", d.Hits, d.Misses, d.Bypassed, d.Writes, d.UnknownWrites)
}

// Count runs step and returns what the wrapper counted meanwhile.
func (db *DB) Count(step func()) Delta {
	before := db.Conn.Stats()
	step()
	after := db.Conn.Stats()
	return Delta{
		Hits: after.Hits - before.Hits, Misses: after.Misses - before.Misses, Bypassed: after.Bypassed - before.Bypassed,
		Writes: after.Writes - before.Writes, UnknownWrites: after.UnknownWrites - before.UnknownWrites,
	}
}

// LogNotCached logs every SQL text the wrapper saw that it could not cache or
// analyse, with the reason, and returns the reasons by text.
func (db *DB) LogNotCached(tb testing.TB) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for _, r := range db.Conn.Report() {
		if r.Kind == "unknown" || r.Kind == "read" && !r.Cacheable || r.Kind == "read" && r.Bypassed > 0 && r.Hits+r.Misses == 0 {
			tb.Logf("not cached (%s, %d bypassed): %s: %q", r.Kind, r.Bypassed, r.NotCached, r.SQL)
			out[r.SQL] = r.NotCached
		}
	}
	return out
}

// Read runs fn on wrapped under a freshsql.Cached context and then on plain,
// fails the test when the results or errors differ, and returns the wrapped
// result and what the wrapper counted while fn ran on it. wrapped and plain are
// the same accessor (generated queries, an ORM handle) over db.Wrapped and
// db.Plain.
func Read[Q, T any](tb testing.TB, db *DB, wrapped, plain Q, name string, fn func(context.Context, Q) (T, error)) (T, Delta) {
	tb.Helper()
	ctx := freshsql.Cached(context.Background())
	var got T
	var gotErr error
	d := db.Count(func() { got, gotErr = fn(ctx, wrapped) })
	want, wantErr := fn(context.Background(), plain)
	if !errors.Is(gotErr, wantErr) && fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		tb.Errorf("%s: got error %v; want %v (the unwrapped database's)", name, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		tb.Errorf("%s: got %+v; want %+v (the unwrapped database's)", name, got, want)
	}
	return got, d
}

// WantHit fails the test unless every read d counts was a hit.
func WantHit(tb testing.TB, name string, d Delta) {
	tb.Helper()
	if d.Hits == 0 || d.Misses != 0 || d.Bypassed != 0 {
		tb.Errorf("%s: got %v; want hits only", name, d)
	}
}

// WantMiss fails the test unless d counts a miss and no bypassed read: the
// cache was asked and had to read the database.
func WantMiss(tb testing.TB, name string, d Delta) {
	tb.Helper()
	if d.Misses == 0 || d.Bypassed != 0 {
		tb.Errorf("%s: got %v; want a miss", name, d)
	}
}
