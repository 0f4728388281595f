package freshsql

import (
	"context"
	"database/sql/driver"
	"errors"
)

// stmt wraps a prepared statement of the inner driver: its reads and writes go
// through the same paths as the connection's.
type stmt struct {
	c  *conn
	s  driver.Stmt
	st *statement
}

var (
	_ driver.Stmt              = (*stmt)(nil)
	_ driver.StmtQueryContext  = (*stmt)(nil)
	_ driver.StmtExecContext   = (*stmt)(nil)
	_ driver.NamedValueChecker = (*stmt)(nil)
)

func (s *stmt) Close() error  { return s.s.Close() }
func (s *stmt) NumInput() int { return s.s.NumInput() }

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.exec(ctx, s.st, args, func(ctx context.Context) (driver.Result, error) {
		if ec, ok := s.s.(driver.StmtExecContext); ok {
			return ec.ExecContext(ctx, args)
		}
		vals, err := positional(args)
		if err != nil {
			return nil, err
		}
		return s.s.Exec(vals) //nolint:staticcheck // the driver has nothing else
	})
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.query(ctx, s.st, args, func(ctx context.Context) (driver.Rows, error) {
		if qc, ok := s.s.(driver.StmtQueryContext); ok {
			return qc.QueryContext(ctx, args)
		}
		vals, err := positional(args)
		if err != nil {
			return nil, err
		}
		return s.s.Query(vals) //nolint:staticcheck // the driver has nothing else
	})
}

func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	if nc, ok := s.s.(driver.NamedValueChecker); ok {
		return nc.CheckNamedValue(nv)
	}
	if cc, ok := s.s.(driver.ColumnConverter); ok { //nolint:staticcheck // still used by drivers
		v, err := cc.ColumnConverter(nv.Ordinal - 1).ConvertValue(nv.Value)
		if err != nil {
			return err
		}
		nv.Value = v
		return nil
	}
	return s.c.CheckNamedValue(nv)
}

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}

func positional(args []driver.NamedValue) ([]driver.Value, error) {
	out := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errors.New("freshsql: the driver does not support named parameters")
		}
		out[i] = a.Value
	}
	return out, nil
}
