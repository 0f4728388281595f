package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync"
	"sync/atomic"

	msqlite "modernc.org/sqlite"
)

// The SQL demo opens freshsql on a driver that wraps modernc.org/sqlite's and
// tells whether a read ran a query: a cached read whose context carries a
// loadMark is a hit when the driver never saw a query under it. freshsql runs
// its loads with the caller's context values (without its cancellation), so the
// mark reaches the driver.

// A loadMark records that a query ran under a context that carries it.
type loadMark struct{ ran atomic.Bool }

type loadMarkKey struct{}

func withLoadMark(ctx context.Context, m *loadMark) context.Context {
	return context.WithValue(ctx, loadMarkKey{}, m)
}

func markRan(ctx context.Context) {
	if m, _ := ctx.Value(loadMarkKey{}).(*loadMark); m != nil {
		m.ran.Store(true)
	}
}

const markingDriverName = "fresh-demo-sqlite"

var registerMarking sync.Once

// countingDriverName registers the marking driver, once, and returns its name.
func countingDriverName() string {
	registerMarking.Do(func() { sql.Register(markingDriverName, markingDriver{inner: &msqlite.Driver{}}) })
	return markingDriverName
}

type markingDriver struct{ inner driver.Driver }

func (d markingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &markingConn{c: c}, nil
}

// markingConn passes everything to the inner connection, marking the queries.
type markingConn struct{ c driver.Conn }

var (
	_ driver.ConnBeginTx        = (*markingConn)(nil)
	_ driver.ConnPrepareContext = (*markingConn)(nil)
	_ driver.QueryerContext     = (*markingConn)(nil)
	_ driver.ExecerContext      = (*markingConn)(nil)
	_ driver.NamedValueChecker  = (*markingConn)(nil)
	_ driver.Pinger             = (*markingConn)(nil)
	_ driver.SessionResetter    = (*markingConn)(nil)
	_ driver.Validator          = (*markingConn)(nil)
)

func (c *markingConn) Prepare(query string) (driver.Stmt, error) { return c.c.Prepare(query) }
func (c *markingConn) Close() error                              { return c.c.Close() }

func (c *markingConn) Begin() (driver.Tx, error) {
	return c.c.Begin() //nolint:staticcheck // passed through for drivers that call it
}

func (c *markingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if bc, ok := c.c.(driver.ConnBeginTx); ok {
		return bc.BeginTx(ctx, opts)
	}
	return c.c.Begin() //nolint:staticcheck // the inner driver has nothing else
}

func (c *markingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if pc, ok := c.c.(driver.ConnPrepareContext); ok {
		return pc.PrepareContext(ctx, query)
	}
	return c.c.Prepare(query)
}

func (c *markingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	qc, ok := c.c.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	markRan(ctx)
	return qc.QueryContext(ctx, query, args)
}

func (c *markingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ec, ok := c.c.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	return ec.ExecContext(ctx, query, args)
}

func (c *markingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if nc, ok := c.c.(driver.NamedValueChecker); ok {
		return nc.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func (c *markingConn) Ping(ctx context.Context) error {
	if p, ok := c.c.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *markingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.c.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *markingConn) IsValid() bool {
	if v, ok := c.c.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}
