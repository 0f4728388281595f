package freshsql

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/freshcache/fresh"
)

// The row-image mode (Options.RowImage): an UPDATE or a DELETE of a table whose
// scopes are cached runs with " RETURNING <scope columns>" inserted where the
// analyser says it may be (Write.ReturnAt), so that the rows it changed are known
// exactly, in the same statement: a DELETE returns the rows as they were, an
// UPDATE as they are now. Their old values are the new ones for every column the
// UPDATE does not assign, and for an assigned column pinned by the WHERE clause to
// one value; an assigned column pinned by nothing is left out of the old row,
// which dirties every scope over it. A write that changed no row dirties nothing.

// tableCols records the scope columns of each table the wrapper registered.
type tableCols struct {
	mu sync.Mutex
	m  map[string][]string
}

func (t *tableCols) add(table string, cols []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[string][]string)
	}
	for _, c := range cols {
		if !slices.Contains(t.m[table], c) {
			t.m[table] = append(t.m[table], c)
		}
	}
	slices.Sort(t.m[table])
}

func (t *tableCols) get(table string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.m[table])
}

// imageSQL returns the statement with its RETURNING clause and the columns it
// returns, or ok false when the row-image mode does not apply.
func (w *wrapper) imageSQL(st *statement) (query string, cols []string, ok bool) {
	if !w.o.RowImage || st.kind != "write" || len(st.analysis.Writes) != 1 {
		return "", nil, false
	}
	wr := st.analysis.Writes[0]
	if wr.Op != OpUpdate && wr.Op != OpDelete || wr.ReturnAt <= 0 || wr.ReturnAt > len(st.sql) {
		return "", nil, false
	}
	cols = w.cols.get(wr.Table)
	if len(cols) == 0 {
		return "", nil, false
	}
	var b strings.Builder
	b.WriteString(st.sql[:wr.ReturnAt])
	b.WriteString(" RETURNING ")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(w.quote(c))
	}
	b.WriteString(st.sql[wr.ReturnAt:])
	return b.String(), cols, true
}

// quote quotes an identifier for the dialect.
func (w *wrapper) quote(name string) string {
	if w.dialect == "mysql" {
		return "`" + strings.ReplaceAll(name, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// imageChanges turns the rows a write returned into row changes.
func (w *wrapper) imageChanges(st *statement, cols []string, rows [][]driver.Value, args []driver.NamedValue, cat *Catalog) []fresh.RowChange {
	wr := st.analysis.Writes[0]
	// pinned[c] is the one value the WHERE clause gives column c, if any.
	pinned := map[string]any{}
	for _, c := range strict(wr.Table, wr.Where, cat) {
		if vals, ok := w.condValues(c, args); ok && len(vals) == 1 {
			pinned[c.Column] = vals[0]
		}
	}
	assigned := map[string]bool{}
	for _, a := range wr.Set {
		assigned[a.Column] = true
	}
	out := make([]fresh.RowChange, 0, len(rows))
	for _, vals := range rows {
		row := fresh.Row{}
		for i, c := range cols {
			if i < len(vals) && vals[i] != nil && w.rowValue(vals[i]) && !loose(wr.Table, c, cat) {
				row[c] = vals[i]
			}
		}
		if wr.Op == OpDelete {
			out = append(out, fresh.RowChange{Table: wr.Table, Old: row})
			continue
		}
		old := fresh.Row{}
		for c, v := range row {
			if !assigned[c] {
				old[c] = v
			}
		}
		for c := range assigned {
			if v, ok := pinned[c]; ok {
				old[c] = v
			}
		}
		out = append(out, fresh.RowChange{Table: wr.Table, Old: old, New: row})
	}
	return out
}

// imageResult is the driver.Result of a write run with RETURNING.
type imageResult int64

func (r imageResult) LastInsertId() (int64, error) {
	return 0, errors.New("freshsql: LastInsertId is not available for an UPDATE or DELETE")
}
func (r imageResult) RowsAffected() (int64, error) { return int64(r), nil }

// execImage runs st in the row-image mode through the inner connection and
// returns its result and the exact row changes; ok is false when the mode does
// not apply (then nothing was run).
func (c *conn) execImage(ctx context.Context, st *statement, args []driver.NamedValue) (res driver.Result, changes []fresh.RowChange, ok bool, err error) {
	q, cols, ok := c.w.imageSQL(st)
	if !ok {
		return nil, nil, false, nil
	}
	rows, err := c.rawQuery(ctx, q, args)
	if err != nil {
		if c.tx == nil {
			// A failed statement changed nothing; the RETURNING clause may be
			// what failed (a view or a virtual table as the target). Run the
			// statement as written.
			return nil, nil, false, nil
		}
		return nil, nil, true, err
	}
	var got [][]driver.Value
	for {
		dest := make([]driver.Value, len(rows.Columns()))
		err := rows.Next(dest)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_ = rows.Close()
			return nil, nil, true, err
		}
		for i := range dest {
			dest[i] = copyValue(dest[i])
		}
		got = append(got, dest)
	}
	return imageResult(len(got)), c.w.imageChanges(st, cols, got, normArgs(args), c.w.catalog(ctx)), true, rows.Close()
}

// rawQuery runs a query on the inner connection, preparing it when the driver
// has no QueryerContext.
func (c *conn) rawQuery(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if qc, ok := c.c.(driver.QueryerContext); ok {
		rows, err := qc.QueryContext(ctx, query, args)
		if !errors.Is(err, driver.ErrSkip) {
			return rows, err
		}
	}
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
	var rows driver.Rows
	if qc, ok := s.(driver.StmtQueryContext); ok {
		rows, err = qc.QueryContext(ctx, args)
	} else {
		var vals []driver.Value
		if vals, err = positional(args); err == nil {
			rows, err = s.Query(vals) //nolint:staticcheck // the driver has nothing else
		}
	}
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return &stmtRows{Rows: rows, s: s}, nil
}

// stmtRows closes its statement with the rows.
type stmtRows struct {
	driver.Rows
	s driver.Stmt
}

func (r *stmtRows) Close() error { return errors.Join(r.Rows.Close(), r.s.Close()) }
