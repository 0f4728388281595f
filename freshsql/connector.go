package freshsql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
)

// Connector is a driver.Connector whose connections cache query results and
// invalidate them when writes commit. Open a *sql.DB on it with sql.OpenDB (or use
// OpenDB or Open); its Stats and Report say what it did.
type Connector struct{ w *wrapper }

var (
	_ driver.Connector = (*Connector)(nil)
	_ io.Closer        = (*Connector)(nil)
)

// wrapper is the state one wrapped database shares between its connections.
type wrapper struct {
	o       Options
	dialect string
	inner   driver.Connector
	cache   *fresh.Cache[string, *result]
	stmts   statements
	dbTag   fresh.Dep
	schemes sync.Map // table+cols → struct{}: registered in the hub
	cols    tableCols

	// raw is a pool on the inner connector for catalog queries.
	raw      *sql.DB
	catMu    sync.Mutex
	cat      atomic.Pointer[Catalog] // nil until read
	catStale atomic.Bool             // a schema change since it was read
	catRetry atomic.Int64            // UnixNano before which a failed read is not retried

	closed atomic.Bool
	stats  counters
	// loadOpts are the options of every load: the loader runs in the caller's
	// goroutine, on the caller's connection.
	loadOpts []fresh.Option
}

// key returns the cache key of a read of st with args.
func (w *wrapper) key(st *statement, args []driver.NamedValue) (string, error) {
	st.keyOnce.Do(func() { st.prefix = keyPrefix(w.o.Name, w.dialect, st.sql) })
	return cacheKey(w.o.Name, w.dialect, st.sql, st.prefix, args)
}

// NewConnector wraps inner. It fails on invalid options, or when the hub already
// has a cache of the same name (Options.Name must differ between databases).
func NewConnector(inner driver.Connector, o Options) (*Connector, error) {
	if inner == nil {
		return nil, errors.New("freshsql: nil driver.Connector")
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	w := &wrapper{o: o, dialect: o.Analyzer.Dialect(), inner: inner}
	w.stmts = statements{a: o.Analyzer, max: maxStatements}
	w.loadOpts = []fresh.Option{fresh.Inline()}
	w.dbTag = fresh.Tag("freshsql:" + o.Name)
	if err := w.dbTag.Err(); err != nil {
		return nil, fmt.Errorf("freshsql: Options.Name: %w", err)
	}
	cache, err := fresh.New(fresh.Options[string, *result]{
		Hub:     o.Hub,
		Name:    "freshsql:" + o.Name,
		MaxCost: o.MaxBytes,
		Cost:    func(_ string, r *result) uint32 { return uint32(min(r.size, math.MaxUint32)) },
		TTL:     o.TTL,
		Local:   true,
		Logger:  o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("freshsql: %w", err)
	}
	w.cache = cache
	w.raw = sql.OpenDB(rawConnector{inner})
	w.raw.SetMaxOpenConns(2)
	w.raw.SetConnMaxIdleTime(time.Minute)
	return &Connector{w: w}, nil
}

// OpenDB wraps inner and opens a *sql.DB on it.
func OpenDB(inner driver.Connector, o Options) (*sql.DB, error) {
	c, err := NewConnector(inner, o)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// Open opens a *sql.DB on the registered driver driverName with the data source
// name dsn, as sql.Open does, wrapped. Options.Name defaults to the dialect and a
// hash of dsn.
func Open(driverName, dsn string, o Options) (*sql.DB, error) {
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("freshsql: %w", err)
	}
	d := db.Driver()
	_ = db.Close()
	var inner driver.Connector
	if dc, ok := d.(driver.DriverContext); ok {
		if inner, err = dc.OpenConnector(dsn); err != nil {
			return nil, fmt.Errorf("freshsql: %w", err)
		}
	} else {
		inner = dsnConnector{d: d, dsn: dsn}
	}
	if o.Name == "" && o.Analyzer != nil {
		sum := sha256.Sum256([]byte(dsn))
		o.Name = o.Analyzer.Dialect() + ":" + hex.EncodeToString(sum[:8])
	}
	return OpenDB(inner, o)
}

// Lookup returns the Connector behind a *sql.DB opened by this package.
func Lookup(db *sql.DB) (*Connector, bool) {
	d, ok := db.Driver().(wrappedDriver)
	if !ok {
		return nil, false
	}
	return d.c, true
}

// Connect opens a connection of the inner connector and wraps it.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.w.closed.Load() {
		return nil, ErrClosed
	}
	ic, err := c.w.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{w: c.w, c: ic}, nil
}

// Driver returns a driver whose Open opens wrapped connections of the inner
// connector's driver.
func (c *Connector) Driver() driver.Driver { return wrappedDriver{c} }

// CacheStats returns the statistics of the cache that holds the query results.
func (c *Connector) CacheStats() fresh.Stats { return c.w.cache.Stats() }

// Flush drops every cached result of this database, here and in the processes
// that share the hub's bus.
func (c *Connector) Flush(ctx context.Context) error { return c.w.o.Hub.Invalidate(ctx, c.w.dbTag) }

// Name returns the database's name (Options.Name).
func (c *Connector) Name() string { return c.w.o.Name }

// Report returns what happened to each SQL text: cached or not and why, hits,
// misses, bypasses, executions; the busiest first. It covers the texts still in
// the analysis memo (the 10,000 most recent distinct texts, give or take).
func (c *Connector) Report() []StatementReport { return c.w.stmts.report() }

// Close closes the cache and the catalog pool, and the inner connector if it is an
// io.Closer. sql.DB.Close calls it.
func (c *Connector) Close() error {
	if c.w.closed.Swap(true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := []error{c.w.cache.Close(ctx), c.w.raw.Close()}
	if cl, ok := c.w.inner.(io.Closer); ok {
		errs = append(errs, cl.Close())
	}
	return errors.Join(errs...)
}

// wrappedDriver is what Connector.Driver returns.
type wrappedDriver struct{ c *Connector }

func (d wrappedDriver) Open(name string) (driver.Conn, error) {
	ic, err := d.c.w.inner.Driver().Open(name)
	if err != nil {
		return nil, err
	}
	return &conn{w: d.c.w, c: ic}, nil
}

// dsnConnector is a driver.Connector for a driver without OpenConnector.
type dsnConnector struct {
	d   driver.Driver
	dsn string
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.d }

// rawConnector hides the inner connector's Close from the catalog pool: the
// Connector closes it once.
type rawConnector struct{ c driver.Connector }

func (r rawConnector) Connect(ctx context.Context) (driver.Conn, error) { return r.c.Connect(ctx) }
func (r rawConnector) Driver() driver.Driver                            { return r.c.Driver() }

// catalog returns what the database's catalog says, reading it the first time and
// after a schema change; nil when it cannot be read (then nothing is cached, and
// every write invalidates everything).
func (w *wrapper) catalog(ctx context.Context) *Catalog {
	if c := w.cat.Load(); c != nil && !w.catStale.Load() {
		return c
	}
	cr, ok := w.o.Analyzer.(CatalogReader)
	if !ok {
		c := &Catalog{}
		w.cat.Store(c)
		return c
	}
	if time.Now().UnixNano() < w.catRetry.Load() {
		return nil
	}
	w.catMu.Lock()
	defer w.catMu.Unlock()
	if c := w.cat.Load(); c != nil && !w.catStale.Load() {
		return c
	}
	stale := w.catStale.Swap(false)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	c, err := cr.ReadCatalog(ctx, w.raw)
	if err == nil && c == nil {
		err = errors.New("no catalog")
	}
	w.stats.catalogReads.Add(1)
	if err != nil {
		if stale {
			w.catStale.Store(true)
		}
		w.stats.catalogErrors.Add(1)
		w.catRetry.Store(time.Now().Add(time.Second).UnixNano())
		w.o.Logger.Warn("freshsql: reading the catalog failed; caching nothing until it can be read", "db", w.o.Name, "err", err)
		return nil
	}
	w.cat.Store(c)
	return c
}

// Contains reports whether a result of the read of query with args is cached and
// current, without running or loading anything: for tests and tools that need
// to know what a write evicted. The arguments are converted as the driver's
// default conversion would (ints to int64 and so on); a read whose arguments a
// driver converts differently may be reported absent.
func (c *Connector) Contains(query string, args ...any) bool {
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		if na, ok := a.(sql.NamedArg); ok {
			named[i].Name, named[i].Value = na.Name, na.Value
		}
	}
	named = normArgs(named)
	key, err := cacheKey(c.w.o.Name, c.w.dialect, query, nil, named)
	if err != nil {
		return false
	}
	r, ok := c.w.cache.Get(key)
	return ok && r.sameRead(query, named)
}
