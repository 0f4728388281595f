package freshpg

// Opening a listening connection, and the checks that LISTEN works on it (pitfall
// P29: LISTEN behind a transaction-pooling proxy loses notifications silently).
//
// A proxy between the bus and PostgreSQL shows itself by the process id it hands
// the client at startup (BackendKeyData, which pgx keeps as PgConn.PID): PgBouncer
// and its kin make one up, so it differs from pg_backend_pid(). A proxy pooling by
// session is harmless: the client keeps its server connection, and LISTEN holds.
// One pooling by transaction hands the server connection to other clients between
// transactions, and the LISTEN with it. (PgBouncer passes SHOW to the server, so
// "SHOW pool_mode" does not reveal it: the server answers that it knows no such
// setting.) The check: after the listening connection ran a statement, another
// connection of the pool asks for its backend; then, while that other connection
// holds a transaction open, the listening connection asks again. Two clients on one
// backend, or one client moved to another backend, is pooling by transaction. A
// pooler that hands out its most recently used server connection first
// (PgBouncer's default) fails the first question at once.
//
// Whatever the proxy, the connection then tests itself: it LISTENs, notifies its own
// channel with a token, and waits for that notification. This catches a proxy that
// drops notifications without pooling by transaction.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// listen opens a dedicated connection with the pool's configuration, checks it and
// LISTENs on the bus's channel. It returns the connection and its backend pid.
func (b *Bus) listen(ctx context.Context) (_ *pgx.Conn, pid int32, err error) {
	cfg := b.pool.Config() // a copy
	ctx, cancel := context.WithTimeout(ctx, queryTimeout+b.o.ProbeTimeout)
	defer cancel()
	if cfg.BeforeConnect != nil {
		if err := cfg.BeforeConnect(ctx, cfg.ConnConfig); err != nil {
			return nil, 0, fmt.Errorf("BeforeConnect: %w", err)
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			defer cancel()
			_ = conn.Close(cctx)
		}
	}()
	if cfg.AfterConnect != nil {
		if err := cfg.AfterConnect(ctx, conn); err != nil {
			return nil, 0, fmt.Errorf("AfterConnect: %w", err)
		}
	}
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		return nil, 0, err
	}
	if uint32(pid) != conn.PgConn().PID() {
		pooled, why, err := b.poolsByTransaction(ctx, conn, pid)
		if err != nil {
			return nil, 0, fmt.Errorf("checking the proxy in front of PostgreSQL: %w", err)
		}
		if pooled {
			err := fmt.Errorf("%w (%s); LISTEN does not survive there: connect the bus to PostgreSQL directly or through a session-pooling proxy", ErrTransactionPooling, why)
			if !b.o.AllowTransactionPooling {
				return nil, 0, err
			}
			b.log.Warn("freshpg: listening through a transaction-pooling proxy; relying on the safety poll alone",
				"table", b.name, "poll_interval", b.o.PollInterval, "err", err)
		}
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{b.channel}.Sanitize()); err != nil {
		return nil, 0, fmt.Errorf("LISTEN: %w", err)
	}
	if err := b.probe(ctx, conn); err != nil {
		if !b.o.AllowTransactionPooling || !errors.Is(err, ErrListenProbe) {
			return nil, 0, err
		}
		b.log.Warn("freshpg: LISTEN failed its self-test; relying on the safety poll alone",
			"table", b.name, "poll_interval", b.o.PollInterval, "err", err)
	}
	return conn, pid, nil
}

// poolsByTransaction reports whether the proxy in front of the listening
// connection conn, whose backend is pid, pools by transaction, and why.
func (b *Bus) poolsByTransaction(ctx context.Context, conn *pgx.Conn, pid int32) (bool, string, error) {
	var other int32
	if err := b.pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&other); err != nil {
		return false, "", err
	}
	if other == pid {
		return true, fmt.Sprintf("another client was served by the listening connection's backend %d", pid), nil
	}
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return false, "", err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&other); err != nil {
		return false, "", err
	}
	var again int32
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&again); err != nil {
		return false, "", err
	}
	if again != pid {
		return true, fmt.Sprintf("the listening connection moved from backend %d to backend %d between two statements", pid, again), nil
	}
	return false, "", nil
}

// probe notifies conn's own channel with a random token and waits for it, at most
// ProbeTimeout. Other notifications that arrive meanwhile are dropped: the
// subscription reads the table after connecting anyway.
func (b *Bus) probe(ctx context.Context, conn *pgx.Conn) error {
	payload := probePrefix + hex.EncodeToString(newToken())
	if _, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", b.channel, payload); err != nil {
		return fmt.Errorf("NOTIFY of the self-test: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, b.o.ProbeTimeout)
	defer cancel()
	for {
		n, err := conn.WaitForNotification(pctx)
		if err != nil {
			if pgconn.Timeout(err) && ctx.Err() == nil && !conn.IsClosed() {
				return fmt.Errorf("%w: the connection did not receive its own notification within %v (is a proxy dropping notifications?)", ErrListenProbe, b.o.ProbeTimeout)
			}
			return fmt.Errorf("waiting for the self-test notification: %w", err)
		}
		if n != nil && n.Payload == payload {
			return nil
		}
	}
}
