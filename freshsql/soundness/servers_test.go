package soundness

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/freshcache/fresh/freshsql"
	"github.com/freshcache/fresh/freshsql/mysql"
	"github.com/freshcache/fresh/freshsql/postgres"
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// unavailable skips the test, or fails it when CI is set.
func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if v := os.Getenv("CI"); v != "" && v != "0" && v != "false" {
		tb.Fatalf("CI is set, so this cannot be skipped: "+format, args...)
	}
	tb.Skipf(format, args...)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// serverOpen opens a raw pool on the server (skipping the test, or failing it
// under CI, when the server does not answer) and returns ServerOpener on it.
func serverOpen(tb testing.TB, driverName, dsn string, a func() freshsql.Analyzer, o freshsql.Options) func(tb T, i int, prefix string) Case {
	raw, err := sql.Open(driverName, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = raw.Close() })
	if err := raw.PingContext(context.Background()); err != nil {
		unavailable(tb, "%s at %s: %v", driverName, dsn, err)
	}
	return ServerOpener(raw, driverName, dsn, a, o)
}

func pgDSN() string {
	return env("FRESH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
}

func mysqlDSN() string { return env("FRESH_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/test") }

// TestPostgres runs the checker on PostgreSQL, fewer cases than on SQLite.
func TestPostgres(t *testing.T) {
	for _, mode := range []struct {
		name     string
		rowImage bool
	}{{"default", false}, {"row-image", true}} {
		t.Run(mode.name, func(t *testing.T) {
			open := serverOpen(t, "pgx", pgDSN(), func() freshsql.Analyzer { return postgres.New(postgres.Options{}) }, freshsql.Options{RowImage: mode.rowImage})
			res := Checker{Dialect: PostgresDialect, Open: open, Cases: cases(15), Steps: 30, Seed: testSeed(t)}.Run(t)
			t.Logf("%s mode: %v", mode.name, res)
		})
	}
}

// TestMariaDB runs the checker on MariaDB (or MySQL), fewer cases than on SQLite.
func TestMariaDB(t *testing.T) {
	open := serverOpen(t, "mysql", mysqlDSN(), func() freshsql.Analyzer { return mysql.New(mysql.Options{}) }, freshsql.Options{})
	res := Checker{Dialect: MySQLDialect, Open: open, Cases: cases(15), Steps: 30, Seed: testSeed(t)}.Run(t)
	t.Logf("default mode: %v", res)
}
