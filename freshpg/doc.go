// Package freshpg is a fresh.Bus on PostgreSQL, through pgx v5: invalidations go
// into a log table, and NOTIFY wakes the processes that follow it.
//
//	pool, err := pgxpool.New(ctx, "postgres://app@db/shop") // or any *pgxpool.Pool
//	...
//	bus, err := freshpg.New(ctx, pool, freshpg.Options{Table: "fresh_bus"})
//	...
//	hub, err := fresh.NewHub(fresh.HubOptions{Bus: bus})
//
// or, from a URL such as the CLI's --bus flag, with a pool that the bus owns:
//
//	bus, err := freshpg.OpenURL(ctx, "postgresql://app@db/shop?fresh_table=app.fresh_bus", freshpg.Options{})
//
// New never closes the pool it was given; close it after the bus. OpenURL's bus
// closes its own pool. Both create the table when it is missing; subscribers need
// the right to insert into it too (they recreate its meta row after a TRUNCATE).
//
// # The log table
//
// One table, by default fresh_bus in the first schema of the search_path:
//
//	id      bigserial   PRIMARY KEY  -- the order
//	at      timestamptz              -- when the row was written, for retention only
//	kind    smallint                 -- 1: a message; 0: the meta row
//	msg     bytea                    -- the message (the meta row: a random token)
//	trimmed bigint                   -- meta row: every id up to this one was deleted
//
// Row 0, the meta row, is written when the table is created. Its token names this
// incarnation of the table: a TRUNCATE removes it, and a table created again gets
// another one, so subscribers notice either. Its trimmed column is the retention
// watermark.
//
// # Total order
//
// A bigserial id is drawn before its transaction commits, so concurrent
// transactions can commit out of id order: B takes id 6 and commits, a subscriber
// reads "id > 5" and moves on to 6, then A commits id 5, which that subscriber never
// reads. (TestSlowTransactionDelaysNotReorders shows it happening with plain
// INSERTs.) So every publish first takes a transaction-scoped advisory lock,
// pg_advisory_xact_lock keyed by the table's oid, then draws its id, and holds the
// lock until its transaction ends. PostgreSQL makes a committing transaction
// visible before it releases its locks (CommitTransaction in xact.c ends the
// transaction in the proc array, then releases the locks), so the next publisher
// draws its id only after the previous one is visible: id order is commit order. Hence a snapshot that shows id n shows
// every smaller id that will ever commit, and a subscriber that reads "id > last"
// in one statement never skips one. The order is the same for every subscriber (it
// is the id order), and a publish that began after another one returned has a
// greater id: the order that fresh.Bus requires, which freshtest.TestBus and
// TestTotalOrderManyPools check across pools and processes. No clock takes part.
//
// Publish is one statement (lock, insert, pg_notify in a CTE) in its own
// transaction, one round trip: it returns after the commit.
//
// Leave the id sequence as created: with CACHE above 1 each session draws ids from
// a block of its own, out of lock order. With synchronous_commit off, a crash can
// lose a publish that was acknowledged and even read; a subscriber that read it
// reports ErrTableReset (below), and fresh's per-publisher sequence numbers catch
// the rest.
//
// # Cost
//
// The lock serialises the publishers of one table, each holding it from its insert
// to its commit. With Publish that is one statement and one commit: throughput is
// bounded by one commit at a time (about 16,000 publishes a second from four
// goroutines on a private server without fsync, a few hundred on the shared test
// server that waits for the disk at every commit; BenchmarkPublish). With PublishTx
// the lock is held from the PublishTx call to the caller's COMMIT: a slow
// transaction delays every later publisher of the table (they wait; they are never
// reordered), and a transaction that takes other locks after PublishTx can
// deadlock with a publisher waiting for the lock (PostgreSQL detects it and aborts
// one). Call PublishTx last, just before COMMIT.
//
// # Transactional publishing
//
// PublishTx (pgx) and PublishSQLTx (database/sql, for example with pgx's stdlib
// driver) write the message in the caller's transaction: it is published if and
// only if the transaction commits, and since NOTIFY is transactional too and a
// subscriber reads only committed rows, no one hears of it before the commit is
// visible.
//
// # Following
//
// Each subscription has a dedicated connection (made with the pool's
// configuration, outside the pool) and a goroutine. On every (re)connect it
// LISTENs first, then reads the table past its position, then waits for
// notifications: a message committed after the LISTEN wakes it, and one committed
// before is in the table, so nothing falls between the two. A notification's
// payload is the message's id, so a subscriber skips the read when it already has
// it. When no notification comes for Options.PollInterval (default 1 s) it reads
// the table anyway, the safety poll, which bounds the delay of anything a
// notification missed and notices a dead connection or a truncated table while
// nothing is published. An idle follower costs one small query a PollInterval
// (TestIdleFollowerCPU: well under 0.1% of a core).
//
// # Loss
//
// A subscription calls HandleLoss, before delivering anything newer, exactly when
// it cannot prove that it read every message after its position; a lost or killed
// connection alone is no loss, since the table replays what was published
// meanwhile. Each read is one statement, so one snapshot, of the meta row, the row
// at the position, and the messages after it; the errors passed to HandleLoss wrap:
//
//   - ErrTrimmed: retention deleted messages the subscription had not read (the
//     watermark passed its position): it fell more than MaxCount messages or MaxAge
//     behind, through a long outage, a paused process or a blocked handler.
//   - ErrTableReset: the meta row is gone or changed (TRUNCATE, DROP and CREATE,
//     a deleted meta row), or the table went back in time (its newest id is below
//     the position, or the row at the position is gone or another one while the
//     watermark is below it: a restore, a failover to a replica that lacked the
//     newest commits, a reset sequence). The subscription takes the table's newest
//     id as its new position after reporting it.
//   - ErrMalformedRow: a row that this package did not write (another kind, a NULL
//     message). It is skipped, counted in Stats, and later messages follow.
//
// Notifications with a payload no publisher sent are counted and otherwise
// ignored: the table, not the channel, carries the messages, so they are no loss.
//
// Retention is applied by publishers: every MaxCount/10 publishes (at most 1,000)
// or MaxAge/10 (at most a minute), a bus's trimmer goroutine deletes the ids at or
// below the newest row older than MaxAge and those more than MaxCount below the
// newest id, and raises the watermark in the same transaction. It deletes a prefix
// of the ids, never a row in the middle, even when clocks jump. Bus.Trim does the
// same on demand.
//
// # Poolers (pitfall P29)
//
// LISTEN belongs to a session. Behind a proxy that pools by transaction, such as
// PgBouncer with pool_mode=transaction, the session changes under the client
// between statements and notifications are lost without an error. Every listening
// connection therefore checks itself when it connects: if the process id the
// server announced differs from pg_backend_pid(), a proxy is in between, and the
// bus asks whether two of its clients share one backend or one client moves between
// backends, which is pooling by transaction. (SHOW pool_mode does not help: PgBouncer
// passes it to the server, which knows no such setting.) Then the connection
// notifies itself and waits for that notification (Options.ProbeTimeout). By
// default Subscribe refuses with ErrTransactionPooling or ErrListenProbe, and a
// subscription that reconnects into that situation logs an error and retries.
// Options.AllowTransactionPooling accepts it with a warning: the safety poll then
// delivers everything, in order, up to PollInterval late. Publishing works through
// any pooler. A session-pooling proxy is accepted.
//
// # Failures
//
// Publish returns an error when the server cannot be reached (fresh retries). A
// subscription whose connection fails reconnects with backoff (20 ms doubling to
// 2 s) and replays from its position; it logs at Warn when that starts and at
// Info when it reads again. A table dropped under the bus is created again by the
// next publish or read, and subscribers report ErrTableReset.
//
// The server keeps notifications for a listening backend whose client does not
// read them (a stopped process, a handler that blocks) in its notification queue,
// 8 GB by default, shared by the whole server: a follower that stays stopped for a
// very long time while millions of messages are published can fill it, after
// which NOTIFY, and so Publish, fails. Close or kill such followers.
//
// # Latency
//
// From Publish to the handler of four subscriptions on another pool, over
// loopback, on a 2-core machine under load (BenchmarkFanout): a median of 0.3 to
// 0.7 ms on a server without fsync, and of about 2 ms on the shared test server,
// where every commit waits for the disk. The commit is most of it.
package freshpg
