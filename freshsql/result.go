package freshsql

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"time"
)

// result is a materialised query result: what the driver's Rows returned, column
// metadata included, so that a replay scans into the same Go types and values as
// the first read. It is immutable once built and shared by every reader.
type result struct {
	// query and args are the read's key, checked on every hit (sameRead).
	query string
	args  []driver.NamedValue
	cols  []string
	types []colType
	rows  [][]driver.Value
	size  int // estimated bytes
}

// colType is what the driver said about one column.
type colType struct {
	dbType           string
	scanType         reflect.Type
	nullable, nullOK bool
	length           int64
	lengthOK         bool
	precision, scale int64
	precisionScaleOK bool
}

var anyType = reflect.TypeFor[any]()

// errTooLarge is returned by materialise when the result grew past the limit; the
// rows read so far and the driver's Rows positioned after them are kept, so that
// the caller can still be given the whole result.
type errTooLarge struct {
	prefix *result
	rest   driver.Rows
}

func (e *errTooLarge) Error() string { return "freshsql: result too large to cache" }

// materialise reads rows to the end and closes them. Values are copied: drivers
// may reuse the buffers behind []byte values.
func materialise(rows driver.Rows, limit int) (*result, error) {
	r := &result{cols: slices.Clone(rows.Columns())}
	r.types = make([]colType, len(r.cols))
	for i := range r.cols {
		r.types[i] = describeColumn(rows, i)
		r.size += len(r.cols[i]) + len(r.types[i].dbType) + 48
	}
	for {
		dest := make([]driver.Value, len(r.cols))
		err := rows.Next(dest)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_ = rows.Close()
			return nil, err
		}
		for i, v := range dest {
			dest[i] = copyValue(v)
			r.size += valueSize(dest[i])
		}
		r.size += 24 + 16*len(dest)
		r.rows = append(r.rows, dest)
		if r.size > limit {
			return nil, &errTooLarge{prefix: r, rest: rows}
		}
	}
	if m, ok := rows.(driver.RowsNextResultSet); ok && m.HasNextResultSet() {
		return nil, &errTooLarge{prefix: r, rest: rows}
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	return r, nil
}

func describeColumn(rows driver.Rows, i int) colType {
	t := colType{scanType: anyType}
	if x, ok := rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		t.dbType = x.ColumnTypeDatabaseTypeName(i)
	}
	if x, ok := rows.(driver.RowsColumnTypeScanType); ok {
		t.scanType = x.ColumnTypeScanType(i)
	}
	if x, ok := rows.(driver.RowsColumnTypeNullable); ok {
		t.nullable, t.nullOK = x.ColumnTypeNullable(i)
	}
	if x, ok := rows.(driver.RowsColumnTypeLength); ok {
		t.length, t.lengthOK = x.ColumnTypeLength(i)
	}
	if x, ok := rows.(driver.RowsColumnTypePrecisionScale); ok {
		t.precision, t.scale, t.precisionScaleOK = x.ColumnTypePrecisionScale(i)
	}
	return t
}

func copyValue(v driver.Value) driver.Value {
	if b, ok := v.([]byte); ok {
		return slices.Clone(b)
	}
	return v
}

func valueSize(v driver.Value) int {
	switch v := v.(type) {
	case []byte:
		return len(v) + 24
	case string:
		return len(v) + 16
	case time.Time:
		return 24
	default:
		return 8
	}
}

// replay is a driver.Rows over a result, optionally followed by the rest of a
// driver's Rows (a result too large to cache, read on as it streams).
type replay struct {
	r    *result
	next int
	rest driver.Rows // nil when the result is complete
}

var (
	_ driver.Rows                           = (*replay)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*replay)(nil)
	_ driver.RowsColumnTypeScanType         = (*replay)(nil)
	_ driver.RowsColumnTypeNullable         = (*replay)(nil)
	_ driver.RowsColumnTypeLength           = (*replay)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*replay)(nil)
	_ driver.RowsNextResultSet              = (*replay)(nil)
)

func (p *replay) Columns() []string { return slices.Clone(p.r.cols) }

func (p *replay) Close() error {
	p.next = len(p.r.rows)
	if p.rest != nil {
		rest := p.rest
		p.rest = nil
		return rest.Close()
	}
	return nil
}

// Next copies the next row into dest. []byte values are copied again, so that a
// caller scanning into sql.RawBytes and writing to it cannot change what others
// read (P23).
func (p *replay) Next(dest []driver.Value) error {
	if p.next < len(p.r.rows) {
		row := p.r.rows[p.next]
		p.next++
		if len(dest) != len(row) {
			return fmt.Errorf("freshsql: Next with %d values for %d columns", len(dest), len(row))
		}
		for i, v := range row {
			dest[i] = copyValue(v)
		}
		return nil
	}
	if p.rest != nil {
		return p.rest.Next(dest)
	}
	return io.EOF
}

func (p *replay) HasNextResultSet() bool {
	if m, ok := p.rest.(driver.RowsNextResultSet); ok && p.next >= len(p.r.rows) {
		return m.HasNextResultSet()
	}
	return false
}

func (p *replay) NextResultSet() error {
	if m, ok := p.rest.(driver.RowsNextResultSet); ok && p.next >= len(p.r.rows) {
		return m.NextResultSet()
	}
	return io.EOF
}

func (p *replay) ColumnTypeDatabaseTypeName(i int) string { return p.r.types[i].dbType }
func (p *replay) ColumnTypeScanType(i int) reflect.Type   { return p.r.types[i].scanType }
func (p *replay) ColumnTypeNullable(i int) (nullable, ok bool) {
	return p.r.types[i].nullable, p.r.types[i].nullOK
}
func (p *replay) ColumnTypeLength(i int) (int64, bool) {
	return p.r.types[i].length, p.r.types[i].lengthOK
}
func (p *replay) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	t := p.r.types[i]
	return t.precision, t.scale, t.precisionScaleOK
}
