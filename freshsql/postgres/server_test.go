package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// testDB opens the PostgreSQL server named by FRESH_POSTGRES_URL. It skips the
// test when the server is unreachable, unless CI is set, when it fails.
func testDB(t testing.TB) *sql.DB {
	t.Helper()
	url := os.Getenv("FRESH_POSTGRES_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	db, err := sql.Open("pgx", url)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		if ci := os.Getenv("CI"); ci != "" && ci != "0" && ci != "false" {
			t.Fatalf("PostgreSQL at FRESH_POSTGRES_URL unreachable: %v", err)
		}
		t.Skipf("PostgreSQL at FRESH_POSTGRES_URL unreachable (set FRESH_POSTGRES_URL): %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testSchema creates a schema of a unique name, dropped when the test ends,
// and returns it with a connection whose search_path starts with it.
func testSchema(t testing.TB, db *sql.DB) (string, *sql.Conn) {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("freshpg_%d_%d", os.Getpid(), rand.Uint32())
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("Conn: %v", err)
	}
	exec(t, conn, "CREATE SCHEMA "+name)
	t.Cleanup(func() {
		if _, err := conn.ExecContext(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
		conn.Close()
	})
	exec(t, conn, "SET search_path TO "+name+", public")
	return name, conn
}

func exec(t testing.TB, c *sql.Conn, q string) {
	t.Helper()
	if _, err := c.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
