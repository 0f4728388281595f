package freshsql

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/freshcache/fresh"
)

// conn wraps one connection of the inner driver. database/sql uses a connection
// from one goroutine at a time, so its fields need no lock.
type conn struct {
	w *wrapper
	c driver.Conn
	// tx is the pending invalidations of the transaction begun with BeginTx or
	// with a BEGIN statement, or nil outside one.
	tx *pending
	// manual reports that tx was begun by a statement (BEGIN, START TRANSACTION)
	// and ends with one (COMMIT, END, ROLLBACK).
	manual bool
	// temp names the temporary tables this connection created: its reads of
	// them bypass the cache (the name may stand for another table elsewhere).
	temp map[string]bool
}

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
)

// pending is what a transaction's writes dirty, applied after it commits.
type pending struct {
	wrote   bool
	changes []fresh.RowChange
	all     bool // a write of unbounded effect: everything of this database
}

func (p *pending) add(changes []fresh.RowChange, all bool) {
	p.wrote = true
	p.all = p.all || all
	if !p.all {
		p.changes = append(p.changes, changes...)
	} else {
		p.changes = nil
	}
}

// apply invalidates what p dirties. It runs after the commit (or after an
// autocommit statement), whatever the outcome: an error from COMMIT may hide a
// commit that happened, and invalidating too much is safe.
func (w *wrapper) apply(ctx context.Context, p *pending) {
	if p == nil || !p.wrote {
		return
	}
	ctx = context.WithoutCancel(ctx)
	var err error
	switch {
	case p.all:
		err = w.o.Hub.Invalidate(ctx, w.dbTag)
	case len(p.changes) > 0:
		err = w.o.Hub.InvalidateRows(ctx, p.changes...)
	default:
		return
	}
	w.stats.invalidations.Add(1)
	// InvalidateRows also reports rows that lack the table's key column, after
	// invalidating everything else; only a failed publish is worth counting.
	if errors.Is(err, fresh.ErrPublish) || errors.Is(err, fresh.ErrClosed) {
		w.stats.invalidateErrors.Add(1)
		w.o.Logger.Warn("freshsql: invalidation after a write did not reach every peer yet", "db", w.o.Name, "err", err)
	}
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var s driver.Stmt
	var err error
	if pc, ok := c.c.(driver.ConnPrepareContext); ok {
		s, err = pc.PrepareContext(ctx, query)
	} else {
		s, err = c.c.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &stmt{c: c, s: s, st: c.w.stmts.get(query)}, nil
}

func (c *conn) Close() error { return c.c.Close() }

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var t driver.Tx
	var err error
	if bc, ok := c.c.(driver.ConnBeginTx); ok {
		t, err = bc.BeginTx(ctx, opts)
	} else {
		if opts.Isolation != driver.IsolationLevel(0) || opts.ReadOnly {
			return nil, errors.New("freshsql: the driver supports neither isolation levels nor read-only transactions")
		}
		t, err = c.c.Begin() //nolint:staticcheck // the driver has nothing else
	}
	if err != nil {
		return nil, err
	}
	c.tx = &pending{}
	return &tx{c: c, t: t}, nil
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	qc, ok := c.c.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip // database/sql prepares; stmt caches
	}
	return c.query(ctx, c.w.stmts.get(query), args, func(ctx context.Context) (driver.Rows, error) {
		return qc.QueryContext(ctx, query, args)
	})
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ec, ok := c.c.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	return c.exec(ctx, c.w.stmts.get(query), args, func(ctx context.Context) (driver.Result, error) {
		return ec.ExecContext(ctx, query, args)
	})
}

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if nc, ok := c.c.(driver.NamedValueChecker); ok {
		return nc.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func (c *conn) Ping(ctx context.Context) error {
	if p, ok := c.c.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *conn) ResetSession(ctx context.Context) error {
	if r, ok := c.c.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *conn) IsValid() bool {
	if v, ok := c.c.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// exec runs a statement that returns no rows.
func (c *conn) exec(ctx context.Context, st *statement, args []driver.NamedValue, run func(context.Context) (driver.Result, error)) (driver.Result, error) {
	if c.w.closed.Load() {
		return nil, ErrClosed
	}
	switch st.kind {
	case "read":
		return run(ctx)
	case "session":
		st.executions.Add(1)
		res, err := run(ctx)
		c.afterSession(ctx, st, err)
		return res, err
	}
	p := c.beforeWrite(ctx, st, normArgs(args))
	if !p.all {
		if res, changes, ok, err := c.execImage(ctx, st, args); ok {
			if err == nil {
				p.changes = changes // exact
			}
			c.afterWrite(ctx, p)
			return res, err
		}
	}
	res, err := run(ctx)
	if errors.Is(err, driver.ErrSkip) {
		return res, err // database/sql runs it again through a statement
	}
	c.afterWrite(ctx, p)
	return res, err
}

// beforeWrite works out what a write dirties, and counts it.
func (c *conn) beforeWrite(ctx context.Context, st *statement, args []driver.NamedValue) *pending {
	st.executions.Add(1)
	c.w.stats.writes.Add(1)
	p := &pending{wrote: true}
	cat := c.w.catalog(ctx)
	if cat == nil || len(c.temp) > 0 {
		// No catalog, or a connection with temporary objects (a temporary
		// trigger acts on this connection's writes, and no catalog read on
		// another connection sees it): effects unbounded.
		p.all = true
	} else {
		changes, all, schema := c.w.changes(st, args, cat)
		p.changes, p.all = changes, all
		if schema {
			c.w.catStale.Store(true)
		}
	}
	var writes []Write
	if st.analysis != nil {
		writes = st.analysis.Writes
	}
	for _, wr := range writes {
		if wr.Temporary && wr.Table != "" {
			if c.temp == nil {
				c.temp = map[string]bool{}
			}
			c.temp[wr.Table] = true
		}
	}
	if p.all {
		c.w.stats.unknownWrites.Add(1)
		if st.kind == "unknown" && !st.logged.Swap(true) {
			c.w.o.Logger.Warn("freshsql: a write of unknown effect invalidates every cached result of the database",
				"db", c.w.o.Name, "sql", st.sql, "why", st.why)
		}
	}
	if c.tx != nil {
		c.tx.wrote = true
	}
	return p
}

// afterWrite applies a write's invalidations now (autocommit), or keeps them for
// the commit of the transaction.
func (c *conn) afterWrite(ctx context.Context, p *pending) {
	if c.tx != nil {
		c.tx.add(p.changes, p.all)
		return
	}
	c.w.apply(ctx, p)
}

// afterSession follows transactions begun and ended by statements: BEGIN starts
// collecting invalidations as BeginTx does, COMMIT applies them (even when it
// fails: the commit may have happened), ROLLBACK drops them.
func (c *conn) afterSession(ctx context.Context, st *statement, err error) {
	switch st.txControl {
	case txBegin:
		if c.tx == nil && err == nil {
			c.tx, c.manual = &pending{}, true
		}
	case txCommit:
		if c.manual {
			p := c.tx
			c.tx, c.manual = nil, false
			c.w.apply(ctx, p)
		}
	case txRollback:
		if c.manual && err == nil {
			c.tx, c.manual = nil, false
		}
	}
}

// query runs a statement that returns rows: a read, cached when it may be, or a
// write with RETURNING.
func (c *conn) query(ctx context.Context, st *statement, args []driver.NamedValue, run func(context.Context) (driver.Rows, error)) (driver.Rows, error) {
	if c.w.closed.Load() {
		return nil, ErrClosed
	}
	switch st.kind {
	case "session":
		st.executions.Add(1)
		rows, err := run(ctx)
		c.afterSession(ctx, st, err)
		return rows, err
	case "write", "unknown":
		p := c.beforeWrite(ctx, st, normArgs(args))
		rows, err := run(ctx)
		if errors.Is(err, driver.ErrSkip) {
			return rows, err
		}
		if err != nil {
			c.afterWrite(ctx, p)
			return nil, err
		}
		// An autocommit write has committed once its rows are read and closed.
		return &writeRows{Rows: rows, done: func() { c.afterWrite(ctx, p) }}, nil
	}
	cfg, ttl, ok := c.cacheable(ctx, st)
	if !ok {
		c.bypass(st)
		return run(ctx)
	}
	nargs := normArgs(args)
	key, err := c.w.key(st, nargs)
	if err != nil {
		st.uncacheableArgs.Add(1)
		c.bypass(st)
		return run(ctx)
	}
	cat := c.w.catalog(ctx)
	if cat == nil || c.shadowed(st, cat) {
		c.bypass(st)
		return run(ctx)
	}
	opts := c.w.loadOpts
	if ttl > 0 {
		opts = append(slices.Clip(opts), fresh.TTL(ttl))
	}

	// The loader runs inline (fresh.Inline): in this goroutine, on this
	// connection, before GetOrLoad returns, with a context that carries the
	// fill and this call's cancellation. Its dependencies are declared inside
	// it, so that a hit never computes them; they are fenced from the fill's
	// start all the same (G0).
	ran := false
	var mine *errTooLarge
	loader := func(lctx context.Context, _ string) (*result, error) {
		ran = true
		deps, err := c.w.readDeps(st, nargs, cat)
		if err != nil {
			deps = c.w.tableDeps(st, cat)
		}
		fresh.Depend(lctx, deps...)
		if cfg != nil {
			fresh.Depend(lctx, cfg.deps...)
		}
		rows, err := run(lctx)
		if err != nil {
			return nil, err
		}
		if testHookLoaded != nil {
			testHookLoaded(st.sql)
		}
		r, err := materialise(rows, c.w.o.MaxResultBytes)
		if r != nil {
			r.query, r.args = st.sql, keyArgs(nargs)
		}
		var tl *errTooLarge
		if errors.As(err, &tl) {
			mine = tl
		}
		return r, err
	}
	r, err := c.w.cache.GetOrLoad(ctx, key, loader, opts...)
	if err == nil && !r.sameRead(st.sql, nargs) {
		// Another read's result under the same hash (P22): never served.
		c.w.stats.collisions.Add(1)
		c.bypass(st)
		return run(ctx)
	}
	switch {
	case err == nil && ran:
		c.miss(st)
		return &replay{r: r}, nil
	case err == nil:
		c.hit(st)
		return &replay{r: r}, nil
	}
	var tl *errTooLarge
	if errors.As(err, &tl) {
		st.tooLarge.Add(1)
		c.w.stats.tooLarge.Add(1)
		if ran && tl == mine {
			return &replay{r: tl.prefix, rest: tl.rest}, nil
		}
		return run(ctx) // another caller's load: its rows are not ours to read
	}
	if !ran && ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// The load this call joined was cancelled by its own caller.
		c.bypass(st)
		return run(ctx)
	}
	return nil, err
}

// coversAll reports whether every table of tables is in rule.
func coversAll(rule, tables []string) bool {
	for _, t := range tables {
		if !slices.Contains(rule, t) {
			return false
		}
	}
	return len(tables) > 0
}

// shadowed reports whether a read names a temporary table of this connection or
// a view the catalog says cannot be cached.
func (c *conn) shadowed(st *statement, cat *Catalog) bool {
	for _, t := range st.tables {
		if c.temp[t] || cat.UncacheableViews[t] != "" {
			return true
		}
	}
	return false
}

// cacheable reports whether a read may use the cache, with its call options and
// TTL.
func (c *conn) cacheable(ctx context.Context, st *statement) (*callConfig, time.Duration, bool) {
	// Inside a transaction, reads bypass the cache: a result read there may come
	// from a snapshot older than an invalidation already applied (so it must not
	// be stored), a cached result may be newer than the transaction's snapshot
	// (REPEATABLE READ, SERIALIZABLE, SQLite's read transactions), and a
	// transaction that wrote must read its own writes (G4).
	if st.why != "" || c.tx != nil {
		return nil, 0, false
	}
	cfg := callOf(ctx)
	if cfg != nil {
		if !cfg.cache {
			return nil, 0, false
		}
		return cfg, cfg.ttl, true
	}
	for _, r := range c.w.o.Rules {
		if coversAll(r.Tables, st.tables) {
			return nil, r.TTL, true
		}
	}
	return nil, 0, false
}

func (c *conn) hit(st *statement)    { st.hits.Add(1); c.w.stats.hits.Add(1) }
func (c *conn) miss(st *statement)   { st.misses.Add(1); c.w.stats.misses.Add(1) }
func (c *conn) bypass(st *statement) { st.bypassed.Add(1); c.w.stats.bypassed.Add(1) }

// testHookLoaded, when set by a test, runs in a loader after its query ran and
// before its rows are read.
var testHookLoaded func(sql string)

// writeRows calls done once the rows of a write with RETURNING are closed. It
// passes the column metadata of the driver's rows through.
type writeRows struct {
	driver.Rows
	done func()
	once sync.Once
}

func (r *writeRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(r.done)
	return err
}

func (r *writeRows) ColumnTypeDatabaseTypeName(i int) string { return describeColumn(r.Rows, i).dbType }
func (r *writeRows) ColumnTypeScanType(i int) reflect.Type   { return describeColumn(r.Rows, i).scanType }
func (r *writeRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	t := describeColumn(r.Rows, i)
	return t.nullable, t.nullOK
}
func (r *writeRows) ColumnTypeLength(i int) (int64, bool) {
	t := describeColumn(r.Rows, i)
	return t.length, t.lengthOK
}
func (r *writeRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	t := describeColumn(r.Rows, i)
	return t.precision, t.scale, t.precisionScaleOK
}
func (r *writeRows) HasNextResultSet() bool {
	m, ok := r.Rows.(driver.RowsNextResultSet)
	return ok && m.HasNextResultSet()
}
func (r *writeRows) NextResultSet() error {
	if m, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return m.NextResultSet()
	}
	return io.EOF
}
