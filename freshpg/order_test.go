package freshpg

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx"
)

// tableOrder returns the messages of the table in id order.
func tableOrder(t *testing.T, pool *pgxpool.Pool, b *Bus) []string {
	t.Helper()
	rows, err := pool.Query(testCtx(t), "SELECT msg FROM "+b.table.quoted()+" WHERE id > 0 ORDER BY id")
	if err != nil {
		t.Fatalf("reading the table: %v", err)
	}
	msgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var m []byte
		err := r.Scan(&m)
		return string(m), err
	})
	if err != nil {
		t.Fatalf("reading the table: %v", err)
	}
	return msgs
}

// TestTotalOrderManyPools has many publishers on several pools (each its own bus,
// as separate processes would have) publish at once, some through PublishTx, while
// followers on several of those buses record what they receive. Each follower must
// receive exactly the table's messages in id order: had an id become visible before
// a smaller one that committed later, a follower reading past the larger id would
// have skipped the smaller one for good.
func TestTotalOrderManyPools(t *testing.T) {
	t.Parallel()
	const pools, perPool, perPublisher = 4, 4, 120
	first := testPool(t)
	table := testTableName(t, first)
	buses := make([]*Bus, pools)
	for i := range buses {
		p := first
		if i > 0 {
			p = testPool(t)
		}
		buses[i] = testBus(t, p, Options{Table: table})
	}
	recs := make([]*recorder, 3)
	for i := range recs {
		recs[i] = newRecorder()
		subscribe(t, buses[i], recs[i])
	}
	ctx := testCtx(t)
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, pools*perPool)
	for p, b := range buses {
		for g := range perPool {
			wg.Go(func() {
				<-start
				for i := range perPublisher {
					msg := []byte(fmt.Sprintf("%d/%d/%d", p, g, i))
					var err error
					if g == 0 && i%3 == 0 {
						// Through the caller's transaction, with another statement
						// before it, as an application would.
						err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
							if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
								return err
							}
							return b.PublishTx(ctx, tx, msg)
						})
					} else {
						err = b.Publish(ctx, msg)
					}
					if err != nil {
						errs <- fmt.Errorf("publisher %d/%d, message %d: %w", p, g, i, err)
						return
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := tableOrder(t, first, buses[0])
	if len(want) != pools*perPool*perPublisher {
		t.Fatalf("the table holds %d messages; want %d", len(want), pools*perPool*perPublisher)
	}
	for i, r := range recs {
		ev := r.waitUntil(t, "every message", func(ev []event) bool { return len(ev) >= len(want) || losses(ev) > 0 })
		if len(ev) != len(want) {
			t.Fatalf("follower %d: %s; want %d messages", i, summary(ev), len(want))
		}
		for k, e := range ev {
			if e.loss != nil || string(e.msg) != want[k] {
				t.Fatalf("follower %d: event %d is %v; the table's message %d is %q", i, k, e, k, want[k])
			}
		}
	}
}

// TestSlowTransactionDelaysNotReorders holds a transaction that published through
// PublishTx open, and checks that later publishers wait for it rather than overtake
// it: they are delayed, and every follower receives its message first. It first
// shows, with plain INSERTs that skip the lock, what the lock prevents: a row whose
// id was drawn first but that committed last is never delivered.
func TestSlowTransactionDelaysNotReorders(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	b := testBus(t, pool, Options{Table: testTableName(t, pool), PollInterval: 10 * time.Millisecond})
	r := newRecorder()
	subscribe(t, b, r)
	ctx := testCtx(t)
	q := b.table.quoted()

	// Without the lock: A draws its id, B draws the next one and commits, the
	// follower reads B, then A commits, behind the follower's position.
	txA, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	execSQL(t, pool, "SELECT 1") // another connection of the pool for B
	if _, err := txA.Exec(ctx, "INSERT INTO "+q+" (kind, msg) VALUES (1, 'unlocked A')"); err != nil {
		t.Fatal(err)
	}
	execSQL(t, pool, "INSERT INTO "+q+" (kind, msg) VALUES (1, 'unlocked B')")
	r.waitMessage(t, "unlocked B")
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	publish(t, b, "locked 0")
	expectEvents(t, r.waitMessage(t, "locked 0"), nil, "unlocked B", "locked 0")
	t.Log("without the publish lock, a row that committed after a larger id was skipped: the hazard the lock prevents")

	// With the lock: the slow transaction publishes first and holds the lock.
	slow, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PublishTx(ctx, slow, []byte("slow")); err != nil {
		t.Fatal(err)
	}
	const hold = 400 * time.Millisecond
	type result struct {
		msg string
		at  time.Time
		err error
	}
	results := make(chan result, 2)
	for _, m := range []string{"later 1", "later 2"} {
		go func() {
			err := b.Publish(ctx, []byte(m))
			results <- result{m, time.Now(), err}
		}()
	}
	time.Sleep(hold)
	select {
	case res := <-results:
		t.Fatalf("Publish(%q) returned (%v) while an earlier publishing transaction held the lock", res.msg, res.err)
	default:
	}
	committed := time.Now()
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		res := <-results
		if res.err != nil {
			t.Fatalf("Publish(%q): %v", res.msg, res.err)
		}
		if res.at.Before(committed) {
			t.Errorf("Publish(%q) returned before the slow transaction's COMMIT", res.msg)
		}
	}
	ev := r.waitUntil(t, "all messages", func(ev []event) bool { return len(ev) >= 5 })
	if len(ev) != 5 || string(ev[2].msg) != "slow" || losses(ev) > 0 {
		t.Fatalf("got %s; want unlocked B, locked 0, slow, then the two later messages", summary(ev))
	}
	if ev[2].at.Before(committed) {
		t.Errorf("the follower received the slow transaction's message before its COMMIT was sent")
	}
	// The table holds "unlocked A" too, which was never delivered.
	if want := tableOrder(t, pool, b); fmt.Sprint(want[3:]) != fmt.Sprint([]string{"slow", string(ev[3].msg), string(ev[4].msg)}) {
		t.Errorf("table order %q differs from delivery order %s", want, summary(ev))
	}
}

// TestPublishTx checks that a message published in a transaction is delivered if
// and only if the transaction commits, and not before its COMMIT was sent, for pgx
// transactions and for database/sql ones.
func TestPublishTx(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	db, err := sql.Open("pgx", testURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	type txn struct {
		publish  func(msg []byte) error
		commit   func() error
		rollback func() error
	}
	kinds := []struct {
		name  string
		begin func(t *testing.T, b *Bus) txn
	}{
		{"pgx", func(t *testing.T, b *Bus) txn {
			tx, err := pool.Begin(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			ctx := testCtx(t)
			return txn{
				func(msg []byte) error { return b.PublishTx(ctx, tx, msg) },
				func() error { return tx.Commit(ctx) },
				func() error { return tx.Rollback(ctx) },
			}
		}},
		{"database/sql", func(t *testing.T, b *Bus) txn {
			tx, err := db.BeginTx(testCtx(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := testCtx(t)
			return txn{
				func(msg []byte) error { return b.PublishSQLTx(ctx, tx, msg) },
				tx.Commit,
				tx.Rollback,
			}
		}},
	}
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			b := testBus(t, pool, Options{Table: testTableName(t, pool), PollInterval: 10 * time.Millisecond})
			r := newRecorder()
			subscribe(t, b, r)

			// Rolled back: never delivered.
			tx := kind.begin(t, b)
			if err := tx.publish([]byte("rolled back")); err != nil {
				t.Fatalf("publish: %v", err)
			}
			if err := tx.rollback(); err != nil {
				t.Fatalf("rollback: %v", err)
			}

			// Committed: delivered, and not before COMMIT was sent, although the
			// follower reads the table every 10 ms meanwhile.
			tx = kind.begin(t, b)
			if err := tx.publish([]byte("committed")); err != nil {
				t.Fatalf("publish: %v", err)
			}
			time.Sleep(300 * time.Millisecond)
			if ev := r.snapshot(); len(ev) > 0 {
				t.Fatalf("before COMMIT the follower received %s", summary(ev))
			}
			committing := time.Now()
			if err := tx.commit(); err != nil {
				t.Fatalf("commit: %v", err)
			}
			publish(t, b, "after")
			ev := r.waitMessage(t, "after")
			expectEvents(t, ev, nil, "committed", "after")
			if ev[0].at.Before(committing) {
				t.Errorf("the follower received the message at %v, before COMMIT was sent at %v", ev[0].at, committing)
			}
		})
	}
}

// TestPublishTxOrderWithPublish interleaves transactional and plain publishes from
// one goroutine: each is ordered after the previous one's commit.
func TestPublishTxOrderWithPublish(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	b := testBus(t, pool, Options{Table: testTableName(t, pool)})
	r := newRecorder()
	subscribe(t, b, r)
	ctx := testCtx(t)
	var want []string
	for i := range 30 {
		m := strconv.Itoa(i)
		want = append(want, m)
		if i%2 == 0 {
			publish(t, b, m)
			continue
		}
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return b.PublishTx(ctx, tx, []byte(m)) }); err != nil {
			t.Fatal(err)
		}
	}
	expectEvents(t, r.waitMessage(t, "29"), nil, want...)
}

// TestSubscribeDuringPublishing subscribes while publishers run: each new
// subscription receives a suffix of the table's order, every message after its
// first, with nothing missing.
func TestSubscribeDuringPublishing(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	b := testBus(t, pool, Options{Table: testTableName(t, pool)})
	ctx, cancel := context.WithCancel(testCtx(t))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				_ = b.Publish(ctx, []byte(fmt.Sprintf("%d/%d", g, i)))
			}
		})
	}
	var recs []*recorder
	for range 5 {
		time.Sleep(30 * time.Millisecond)
		r := newRecorder()
		subscribe(t, b, r)
		recs = append(recs, r)
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	wg.Wait()
	publish(t, b, "end")
	want := tableOrder(t, pool, b)
	for i, r := range recs {
		ev := r.waitMessage(t, "end")
		if losses(ev) > 0 || len(ev) > len(want) {
			t.Fatalf("subscriber %d: %s", i, summary(ev))
		}
		tail := want[len(want)-len(ev):]
		for k, e := range ev {
			if string(e.msg) != tail[k] {
				t.Fatalf("subscriber %d: event %d is %v; want %q", i, k, e, tail[k])
			}
		}
	}
}
