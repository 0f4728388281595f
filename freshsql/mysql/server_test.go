package mysql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The server tests talk to a real MySQL or MariaDB. FRESH_MYSQL_DSN names it
// (default root@tcp(127.0.0.1:3306)/test). When it is unreachable they skip,
// unless CI is set, where a skip would hide a failure.

const defaultDSN = "root@tcp(127.0.0.1:3306)/test"

func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "0" && v != "false"
}

// serverConfig returns the configuration of the test server, or skips.
func serverConfig(t *testing.T) *mysql.Config {
	t.Helper()
	dsn := os.Getenv("FRESH_MYSQL_DSN")
	if dsn == "" {
		dsn = defaultDSN
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("FRESH_MYSQL_DSN: %v", err)
	}
	cfg.Timeout = 5 * time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
		db.Close()
	}
	if err != nil {
		if inCI() {
			t.Fatalf("MySQL server unreachable at FRESH_MYSQL_DSN (CI is set): %v", err)
		}
		t.Skipf("MySQL server unreachable at FRESH_MYSQL_DSN: %v", err)
	}
	return cfg
}

// uniqueName returns a name no other test run uses.
func uniqueName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// scratchDatabase creates a database of a unique name, dropped after the
// test, and returns a pool whose connections use it.
func scratchDatabase(t *testing.T) (*sql.DB, string) {
	t.Helper()
	cfg := serverConfig(t)
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := uniqueName(t, "fresh_mysql_")
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE `"+name+"`"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	scfg := cfg.Clone()
	scfg.DBName = name
	scfg.InterpolateParams = true
	scfg.MultiStatements = false
	db, err := sql.Open("mysql", scfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, name
}

func execAll(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
