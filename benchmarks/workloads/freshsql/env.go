package freshsql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshsql"
	"github.com/freshcache/fresh/freshsql/postgres"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// listRows is how many rows the list query returns: the rows of one scope.
const listRows = 20

// env is the PostgreSQL side of a run: an unwrapped pool, the run's table, and the
// wrapped pools opened on it.
type env struct {
	url     string
	raw     *sql.DB // the unwrapped pool: the direct queries, and the DDL
	table   string  // the run's table, dropped by close
	rows    int
	version string // server_version
	durable string // fsync and synchronous_commit
	closers []func() error
}

// ErrUnreachable is the error of connect when PostgreSQL does not answer.
var ErrUnreachable = errors.New("PostgreSQL unreachable")

// connect opens the unwrapped pool and checks that the server answers.
func connect(ctx context.Context, u string) (*env, error) {
	raw, err := sql.Open("pgx", u)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := raw.PingContext(pctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, redactURL(u), err)
	}
	raw.SetMaxIdleConns(4)
	e := &env{url: u, raw: raw}
	var fsync, syncCommit string
	if err := raw.QueryRowContext(ctx, `SELECT current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit')`).Scan(&e.version, &fsync, &syncCommit); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("reading the server's settings: %w", err)
	}
	e.durable = "fsync " + fsync + ", synchronous_commit " + syncCommit
	return e, nil
}

// createTable creates the run's table, of a name no other run uses, with rows
// rows: id 1..rows, scope (id-1)/listRows, so that every scope holds listRows
// rows, a title and a 100-byte body.
func (e *env) createTable(ctx context.Context, rows int) error {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	e.table = "freshbench_" + hex.EncodeToString(b[:])
	e.rows = rows
	for _, s := range []string{
		`CREATE TABLE ` + e.table + ` (id BIGINT PRIMARY KEY, scope BIGINT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL)`,
		`CREATE INDEX ON ` + e.table + ` (scope)`,
		fmt.Sprintf(`INSERT INTO %s SELECT g, (g - 1) / %d, 'title ' || g, repeat('b', 100) FROM generate_series(1, %d) g`, e.table, listRows, rows),
		`ANALYZE ` + e.table,
	} {
		if _, err := e.raw.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", firstWords(s), err)
		}
	}
	return nil
}

// scopes returns how many scopes the table's seeded rows fill.
func (e *env) scopes() int { return e.rows / listRows }

// open opens a wrapped pool on the server, with a hub and a name of its own,
// closed by close.
func (e *env) open(name string, rowImage bool) (*sql.DB, *freshsql.Connector, error) {
	hub, err := fresh.NewHub(fresh.HubOptions{})
	if err != nil {
		return nil, nil, err
	}
	db, err := freshsql.Open("pgx", e.url, freshsql.Options{
		Analyzer: postgres.New(postgres.Options{}),
		Hub:      hub,
		Name:     name,
		RowImage: rowImage,
	})
	if err != nil {
		_ = hub.Close(context.Background())
		return nil, nil, err
	}
	db.SetMaxIdleConns(4)
	e.closers = append(e.closers, db.Close, func() error { return hub.Close(context.Background()) })
	c, ok := freshsql.Lookup(db)
	if !ok {
		return nil, nil, errors.New("freshsql.Lookup found no Connector")
	}
	return db, c, nil
}

// close closes the wrapped pools, drops the run's table and closes the unwrapped
// pool.
func (e *env) close() error {
	var errs []error
	for _, c := range e.closers {
		errs = append(errs, c())
	}
	if e.table != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := e.raw.ExecContext(ctx, `DROP TABLE IF EXISTS `+e.table); err != nil {
			errs = append(errs, fmt.Errorf("dropping %s: %w", e.table, err))
		}
	}
	errs = append(errs, e.raw.Close())
	return errors.Join(errs...)
}

// redactURL hides the password of a URL.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

func firstWords(s string) string {
	f := strings.Fields(s)
	return strings.Join(f[:min(len(f), 3)], " ")
}
