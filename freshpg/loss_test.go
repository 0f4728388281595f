package freshpg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// terminate ends the backend of sub's listening connection from another
// connection, as an administrator or a failing network would, and reports whether
// there was one.
func terminate(t *testing.T, pool *pgxpool.Pool, sub *subscription) bool {
	t.Helper()
	pid := sub.backendPID()
	if pid == 0 {
		return false
	}
	var ok bool
	if err := pool.QueryRow(testCtx(t), "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil {
		t.Fatalf("pg_terminate_backend(%d): %v", pid, err)
	}
	return ok
}

// pausedSubscriber subscribes a recorder whose handler blocks on the message
// "pause" until release is closed, publishes "pause", and returns once the handler
// holds it.
func pausedSubscriber(t *testing.T, b *Bus) (r *recorder, sub *subscription, release chan struct{}) {
	t.Helper()
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	r = newRecorder()
	r.hook = func(msg []byte) {
		if string(msg) == "pause" {
			once.Do(func() { close(entered) })
			<-release
		}
	}
	sub = subscribe(t, b, r)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	publish(t, b, "pause")
	select {
	case <-entered:
	case <-time.After(testWait):
		t.Fatal(`the handler did not receive "pause"`)
	}
	return r, sub, release
}

// TestListenerKilledReplays terminates the listening connection's backend again
// and again while messages are published (P29: a LISTEN connection killed
// mid-stream): the subscription reconnects and replays from the table, so every
// message arrives, in order, and no loss is reported.
func TestListenerKilledReplays(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	table := testTableName(t, pool)
	pub := testBus(t, pool, Options{Table: table})
	sb := testBus(t, testPool(t), Options{Table: table})
	r := newRecorder()
	sub := subscribe(t, sb, r)

	const total = 1500
	ctx := testCtx(t)
	published := make(chan error, 1)
	go func() {
		for i := range total {
			if err := pub.Publish(ctx, []byte(strconv.Itoa(i))); err != nil {
				published <- fmt.Errorf("Publish of message %d: %w", i, err)
				return
			}
			if i%50 == 0 {
				time.Sleep(2 * time.Millisecond) // spread the messages over the kills
			}
		}
		published <- nil
	}()
	killed := 0
	for range 8 {
		time.Sleep(40 * time.Millisecond)
		if terminate(t, pool, sub) {
			killed++
		}
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("found no listening backend to terminate")
	}
	ev := r.waitMessage(t, strconv.Itoa(total-1))
	t.Logf("terminated the listener's backend %d times while %d messages were published; %d reconnects", killed, total, sb.Stats().Reconnects)
	if len(ev) != total {
		t.Fatalf("received %s; want %d messages", summary(ev), total)
	}
	for i, e := range ev {
		if e.loss != nil || string(e.msg) != strconv.Itoa(i) {
			t.Fatalf("event %d is %v; want message %d", i, e, i)
		}
	}
	if sb.Stats().Reconnects == 0 {
		t.Error("Stats.Reconnects is 0 after the listener was terminated")
	}
}

// TestListenerKilledPastRetention terminates the listening connection while its
// handler is blocked, and publishes until retention deletes messages it has not
// read: the replay cannot prove continuity, so the subscription reports the loss,
// then delivers what the table still holds.
func TestListenerKilledPastRetention(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	b := testBus(t, pool, Options{Table: testTableName(t, pool), MaxCount: 20})
	r, sub, release := pausedSubscriber(t, b)
	if !terminate(t, pool, sub) {
		t.Fatal("no listening backend to terminate")
	}
	for i := range 100 {
		publish(t, b, strconv.Itoa(i))
	}
	if _, err := b.Trim(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	close(release)
	ev := r.waitMessage(t, "99")
	if len(ev) < 3 || string(ev[0].msg) != "pause" || !errors.Is(ev[1].loss, ErrTrimmed) || losses(ev) != 1 {
		t.Fatalf("got %s; want pause, a loss wrapping ErrTrimmed, then the newest messages", summary(ev))
	}
	// What follows the loss is a contiguous run up to the newest message.
	first, _ := strconv.Atoi(string(ev[2].msg))
	for k, e := range ev[2:] {
		if string(e.msg) != strconv.Itoa(first+k) {
			t.Fatalf("after the loss, event %d is %v; want message %d (all: %s)", k, e, first+k, summary(ev))
		}
	}
	t.Logf("loss: %v", ev[1].loss)
}

// TestPausedFollowerBeyondRetention blocks a follower's handler while publishers
// go past retention, by count and by age: on waking it reports the loss before
// anything newer.
func TestPausedFollowerBeyondRetention(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	for _, tc := range []struct {
		name string
		o    Options
		run  func(b *Bus, steady *recorder)
	}{
		{"by count", Options{MaxCount: 10}, func(b *Bus, steady *recorder) {
			for i := range 50 {
				publish(t, b, strconv.Itoa(i))
				if i%5 == 4 {
					// Paced by the steady follower: it never falls MaxCount
					// behind, however the machine schedules it.
					steady.waitMessage(t, strconv.Itoa(i))
				}
			}
		}},
		{"by age", Options{MaxAge: 100 * time.Millisecond}, func(b *Bus, steady *recorder) {
			for i := range 5 {
				publish(t, b, strconv.Itoa(i))
				steady.waitMessage(t, strconv.Itoa(i)) // read before it is old enough to trim
				time.Sleep(60 * time.Millisecond)
			}
			time.Sleep(150 * time.Millisecond)
			publish(t, b, "49") // its publish trims the others, which are old by now
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.o.Table = testTableName(t, pool)
			b := testBus(t, pool, tc.o)
			r, _, release := pausedSubscriber(t, b)
			// A follower that keeps up loses nothing.
			steady := newRecorder()
			subscribe(t, b, steady)
			tc.run(b, steady)
			if _, err := b.Trim(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			close(release)
			ev := r.waitMessage(t, "49")
			if len(ev) < 3 || !errors.Is(ev[1].loss, ErrTrimmed) || losses(ev) != 1 {
				t.Fatalf("got %s; want pause, a loss wrapping ErrTrimmed, then the newest messages", summary(ev))
			}
			if ev := steady.waitMessage(t, "49"); losses(ev) > 0 {
				t.Fatalf("the follower that kept up got %s", summary(ev))
			}
		})
	}
}

// TestTableReset truncates, drops, and rewinds the table under a subscriber: each
// time it reports the loss, then delivers what is published afterwards.
func TestTableReset(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	for _, tc := range []struct {
		name  string
		reset func(t *testing.T, b *Bus)
	}{
		{"truncate", func(t *testing.T, b *Bus) { execSQL(t, pool, "TRUNCATE "+b.table.quoted()) }},
		{"truncate restart identity", func(t *testing.T, b *Bus) { execSQL(t, pool, "TRUNCATE "+b.table.quoted()+" RESTART IDENTITY") }},
		{"drop", func(t *testing.T, b *Bus) { execSQL(t, pool, "DROP TABLE "+b.table.quoted()) }},
		{"meta row deleted", func(t *testing.T, b *Bus) { execSQL(t, pool, "DELETE FROM "+b.table.quoted()+" WHERE id = 0") }},
		{"went back in time", func(t *testing.T, b *Bus) {
			// As a restore would leave it: the newest rows gone, ids reused.
			execSQL(t, pool, "DELETE FROM "+b.table.quoted()+" WHERE id > 1")
			execSQL(t, pool, "SELECT setval(pg_get_serial_sequence($1, 'id'), 1)", b.table.quoted())
		}},
		{"ids reused past the position", func(t *testing.T, b *Bus) {
			// The same, and new rows take the old ids and more before the
			// subscriber looks again: only the changed row at its position tells.
			q := b.table.quoted()
			execSQL(t, pool, `DO $$ BEGIN
				DELETE FROM `+q+` WHERE id > 1;
				PERFORM setval(pg_get_serial_sequence('`+q+`', 'id'), 1);
				INSERT INTO `+q+` (kind, msg) VALUES (1, 'x'), (1, 'y'), (1, 'z');
			END $$`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := testBus(t, pool, Options{Table: testTableName(t, pool), PollInterval: 20 * time.Millisecond})
			r := newRecorder()
			subscribe(t, b, r)
			publish(t, b, "a", "b", "c")
			r.waitMessage(t, "c")
			tc.reset(t, b)
			// Give the idle subscriber's safety poll time to see the reset alone.
			time.Sleep(150 * time.Millisecond)
			publish(t, b, "after")
			ev := r.waitMessage(t, "after")
			ev = ev[3:]
			if len(ev) < 2 || !errors.Is(ev[0].loss, ErrTableReset) || string(ev[len(ev)-1].msg) != "after" || losses(ev) != 1 {
				t.Fatalf("after the reset got %s; want a loss wrapping ErrTableReset, then \"after\"", summary(ev))
			}
			t.Logf("loss: %v", ev[0].loss)
			publish(t, b, "later")
			expectEvents(t, r.waitMessage(t, "later")[3+len(ev):], nil, "later")
		})
	}
}

// TestMalformedRows writes rows that this package did not write: each is reported
// as a loss and counted, and later messages are still delivered. Notifications
// that no publisher sent are counted, and are no loss.
func TestMalformedRows(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	b := testBus(t, pool, Options{Table: testTableName(t, pool)})
	r := newRecorder()
	subscribe(t, b, r)
	q := b.table.quoted()
	publish(t, b, "before")
	execSQL(t, pool, "INSERT INTO "+q+" (kind, msg) VALUES (7, '\\x00')")
	execSQL(t, pool, "ALTER TABLE "+q+" ALTER COLUMN msg DROP NOT NULL")
	execSQL(t, pool, "INSERT INTO "+q+" (kind, msg) VALUES (1, NULL)")
	execSQL(t, pool, "INSERT INTO "+q+" (kind, msg) VALUES (0, 'a second meta row?')")
	for _, payload := range []string{"garbage", "", "-5", "99999999999999999999", "probe:someone else", "\x01\x02"} {
		execSQL(t, pool, "SELECT pg_notify($1, $2)", b.Channel(), payload)
	}
	publish(t, b, "after")
	ev := r.waitMessage(t, "after")
	expectEvents(t, ev, ErrMalformedRow, "before", "LOSS", "LOSS", "LOSS", "after")
	s := b.Stats()
	if s.MalformedRows != 3 {
		t.Errorf("Stats.MalformedRows = %d; want 3", s.MalformedRows)
	}
	// "garbage", "", "-5", the overflowing number and the control bytes; not the
	// other subscriber's self-test.
	time.Sleep(50 * time.Millisecond)
	if s := b.Stats(); s.GarbageNotifications != 5 {
		t.Errorf("Stats.GarbageNotifications = %d; want 5", s.GarbageNotifications)
	}
	for _, e := range ev {
		if e.loss != nil {
			t.Logf("loss: %v", e.loss)
			break
		}
	}
}

// TestRetention checks that publishers trim the table by count and by age, on
// their own, and that a subscriber that keeps up sees no loss.
func TestRetention(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	count := func(b *Bus) int {
		var n int
		if err := pool.QueryRow(testCtx(t), "SELECT count(*) FROM "+b.table.quoted()+" WHERE id > 0").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitCount := func(b *Bus, what string, cond func(int) bool) {
		t.Helper()
		for deadline := time.Now().Add(testWait); ; time.Sleep(10 * time.Millisecond) {
			n := count(b)
			if cond(n) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the table holds %d messages; want %s", n, what)
			}
		}
	}

	b := testBus(t, pool, Options{Table: testTableName(t, pool), MaxCount: 50})
	r := newRecorder()
	subscribe(t, b, r)
	for i := range 300 {
		publish(t, b, strconv.Itoa(i))
		if i%10 == 9 {
			r.waitMessage(t, strconv.Itoa(i)) // the subscriber keeps up, however it is scheduled
		}
	}
	waitCount(b, "at most 55", func(n int) bool { return n <= 55 })
	if ev := r.waitMessage(t, "299"); len(ev) != 300 || losses(ev) > 0 {
		t.Fatalf("the subscriber got %s; want 300 messages", summary(ev))
	}
	if b.Stats().Trims == 0 {
		t.Error("Stats.Trims is 0")
	}

	b = testBus(t, pool, Options{Table: testTableName(t, pool), MaxAge: 200 * time.Millisecond})
	publish(t, b, "old 1", "old 2")
	time.Sleep(300 * time.Millisecond)
	publish(t, b, "new")
	waitCount(b, "1 (the old ones trimmed)", func(n int) bool { return n == 1 })
	if got := tableOrder(t, pool, b); len(got) != 1 || got[0] != "new" {
		t.Fatalf("table holds %q; want only \"new\"", got)
	}
}

// TestSubscribeRecreatesMissingMeta subscribes to a table whose meta row was
// deleted while no one listened: Subscribe recreates it and works.
func TestSubscribeRecreatesMissingMeta(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	b := testBus(t, pool, Options{Table: testTableName(t, pool)})
	execSQL(t, pool, "DELETE FROM "+b.table.quoted()+" WHERE id = 0")
	r := newRecorder()
	subscribe(t, b, r)
	publish(t, b, "x")
	expectEvents(t, r.waitMessage(t, "x"), nil, "x")

	execSQL(t, pool, "DROP TABLE "+b.table.quoted())
	r2 := newRecorder()
	sub, err := b.Subscribe(context.Background(), r2)
	if err != nil {
		t.Fatalf("Subscribe to a dropped table: %v", err)
	}
	defer sub.Close()
	publish(t, b, "y")
	r2.waitMessage(t, "y")
}
