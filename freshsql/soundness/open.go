package soundness

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshsql"
	"github.com/freshcache/fresh/freshsql/sqlite"
	_ "modernc.org/sqlite" // the driver of SQLiteOpener
)

// The dialects of the databases the checker runs on.
var (
	SQLiteDialect = Dialect{
		Name:   "sqlite",
		Upsert: `INSERT INTO {t0} (id, a, b) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET a = excluded.a`,
	}
	PostgresDialect = Dialect{
		Name:     "postgres",
		Upsert:   `INSERT INTO {t0} (id, a, b) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET a = excluded.a`,
		Numbered: true,
	}
	MySQLDialect = Dialect{
		Name:   "mysql",
		Upsert: `INSERT INTO {t0} (id, a, b) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE a = VALUES(a)`,
	}
)

// newHub returns a hub without a bus.
func newHub(tb T) *fresh.Hub {
	hub, err := fresh.NewHub(fresh.HubOptions{})
	if err != nil {
		tb.Fatalf("NewHub: %v", err)
	}
	return hub
}

// closer returns a Close that runs each of fs once, also at tb's cleanup if the
// case ends with a failure before Run closes it.
func closer(tb T, fs ...func()) func() {
	var once sync.Once
	c := func() {
		once.Do(func() {
			for _, f := range fs {
				f()
			}
		})
	}
	tb.Cleanup(c)
	return c
}

// SQLiteOpener returns a Checker.Open for SQLite: every case is a database file
// of its own in dir, wrapped with o (and the SQLite analyser) on a hub of its own.
func SQLiteOpener(dir string, o freshsql.Options) func(tb T, i int, prefix string) Case {
	return func(tb T, i int, prefix string) Case {
		o := o
		o.Analyzer = sqlite.New(sqlite.Options{})
		hub := newHub(tb)
		o.Hub = hub
		path := filepath.Join(dir, "case"+strconv.Itoa(i)+".db")
		db, err := freshsql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)", o)
		if err != nil {
			tb.Fatalf("open: %v", err)
		}
		done := closer(tb, func() { _ = db.Close() }, func() { _ = hub.Close(context.Background()) })
		for _, s := range Schema(prefix) {
			if _, err := db.Exec(s); err != nil {
				tb.Fatalf("%s: %v", s, err)
			}
		}
		c, _ := freshsql.Lookup(db)
		return Case{DB: db, Conn: c, Prefix: prefix, Close: done}
	}
}

// ServerOpener returns a Checker.Open for a database server: every case gets
// tables of its own (created and dropped through raw, an unwrapped pool on the
// same server) and a wrapper of its own on a hub of its own.
func ServerOpener(raw *sql.DB, driverName, dsn string, analyzer func() freshsql.Analyzer, o freshsql.Options) func(tb T, i int, prefix string) Case {
	return func(tb T, i int, prefix string) Case {
		for _, s := range Schema(prefix) {
			if _, err := raw.Exec(s); err != nil {
				tb.Fatalf("%s: %v", s, err)
			}
		}
		drop := func() {
			for _, t := range []string{"t0", "t1"} {
				_, _ = raw.Exec("DROP TABLE IF EXISTS " + prefix + t)
			}
		}
		o := o
		o.Analyzer = analyzer()
		hub := newHub(tb)
		o.Hub = hub
		o.Name = driverName + strconv.Itoa(i)
		db, err := freshsql.Open(driverName, dsn, o)
		if err != nil {
			drop()
			tb.Fatalf("open: %v", err)
		}
		db.SetMaxOpenConns(4)
		done := closer(tb, func() { _ = db.Close() }, func() { _ = hub.Close(context.Background()) }, drop)
		c, _ := freshsql.Lookup(db)
		return Case{DB: db, Conn: c, Prefix: prefix, Close: done}
	}
}
