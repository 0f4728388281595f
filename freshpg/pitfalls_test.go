package freshpg

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"
)

// TestPitfallP21NoLeak checks that no goroutine outlives Close: of the buses (one
// on a pool the test owns, one that OpenURL opened), their subscriptions, their
// trimmers, and a subscription that was reconnecting. It does not run in parallel,
// so that other tests' goroutines do not count.
func TestPitfallP21NoLeak(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	pool, err := pgxpool.New(ctx, testURL())
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		skipOrFail(t, "PostgreSQL at %s is not reachable: %v", testURL(), err)
	}
	table := fmt.Sprintf("freshpg_test_leak_%x", rand.Uint64())
	b, err := New(ctx, pool, Options{Table: table, MaxCount: 5, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	owned, err := OpenURL(ctx, testURL(), Options{Table: table, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := newRecorder(), newRecorder()
	s1, err := b.Subscribe(ctx, r1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owned.Subscribe(ctx, r2); err != nil { // closed by the bus's Close
		t.Fatal(err)
	}
	for i := range 20 {
		if err := b.Publish(ctx, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	r1.waitMessage(t, "19")
	r2.waitMessage(t, "19")
	terminate(t, pool, s1.(*subscription)) // leave it reconnecting
	s1.Close()
	s1.Close()
	b.Close()
	owned.Close()
	if _, err := pool.Exec(ctx, "DROP TABLE "+table); err != nil {
		t.Error(err)
	}
	pool.Close()
	goleak.VerifyNone(t, ignore)
}

// TestPitfallP12NoClock checks that the order owes nothing to clocks: messages
// published in one transaction (one now()) arrive in the order published, and a
// clock that jumped back, leaving later rows with older times, makes retention
// delete a prefix of the ids, never a row in the middle.
func TestPitfallP12NoClock(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	b := testBus(t, pool, Options{Table: testTableName(t, pool), MaxAge: time.Hour})
	r := newRecorder()
	subscribe(t, b, r)
	ctx := testCtx(t)
	var want []string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for i := range 50 {
			want = append(want, strconv.Itoa(i))
			if err := b.PublishTx(ctx, tx, []byte(strconv.Itoa(i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	expectEvents(t, r.waitMessage(t, "49"), nil, want...)

	// The clock jumped back by a day between message 19 and message 20, and forward
	// again at message 30: rows 21 to 30 look older than rows 1 to 20.
	q := b.table.quoted()
	execSQL(t, pool, "UPDATE "+q+" SET at = at - interval '1 day' WHERE id BETWEEN 21 AND 30")
	execSQL(t, pool, "UPDATE "+q+" SET at = at - interval '2 hours' WHERE id BETWEEN 1 AND 5")
	if _, err := b.Trim(ctx); err != nil {
		t.Fatal(err)
	}
	var lo, hi, n int64
	if err := pool.QueryRow(ctx, "SELECT min(id), max(id), count(*) FROM "+q+" WHERE id > 0").Scan(&lo, &hi, &n); err != nil {
		t.Fatal(err)
	}
	if lo != 31 || hi != 50 || n != hi-lo+1 {
		t.Fatalf("after the trim the table holds %d rows, ids %d to %d; want the contiguous ids 31 to 50", n, lo, hi)
	}
	// The subscriber had read them all: no loss.
	publish(t, b, "after")
	expectEvents(t, r.waitMessage(t, "after")[50:], nil, "after")
}
