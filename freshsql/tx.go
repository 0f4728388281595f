package freshsql

import (
	"context"
	"database/sql/driver"
)

// tx wraps a transaction of the inner driver: the invalidations of its writes are
// applied after Commit returns, whatever it returns (an error from COMMIT can hide
// a commit that happened), and dropped by Rollback.
type tx struct {
	c *conn
	t driver.Tx
}

func (t *tx) Commit() error {
	err := t.t.Commit()
	p := t.c.tx
	t.c.tx = nil
	t.c.w.apply(context.Background(), p)
	return err
}

func (t *tx) Rollback() error {
	t.c.tx = nil
	return t.t.Rollback()
}
