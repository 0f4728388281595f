package freshsqlite

// Tests of the pitfalls (../shared/research/pitfalls.md) that concern a bus over a
// SQLite file, in one process: P28 (data_version), P9 (a subscriber paused beyond
// retention), P12 (clocks), and the rows and files that others may tamper with. The
// multi-process versions are in process_test.go.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// dataVersion returns PRAGMA data_version on c.
func dataVersion(tb testing.TB, c *sql.Conn) int64 {
	tb.Helper()
	var v int64
	if err := c.QueryRowContext(tb.Context(), `PRAGMA data_version`).Scan(&v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// driverConn returns the driver's connection behind c, to tell connections apart.
func driverConn(tb testing.TB, c *sql.Conn) any {
	tb.Helper()
	var dc any
	if err := c.Raw(func(x any) error { dc = x; return nil }); err != nil {
		tb.Fatal(err)
	}
	return dc
}

// TestP28WriterOnOwnConnection: PRAGMA data_version does not change on the
// connection that committed. The test shows that on SQLite, then checks that a
// subscription never reads on its bus's publishing connection: with no file-system
// events and no poll, a message published on the same bus arrives, which it does
// only because the follower's data_version changed.
func TestP28WriterOnOwnConnection(t *testing.T) {
	t.Parallel()
	path := testPath(t)
	b := testBus(t, path, Options{DisableWatch: true, PollInterval: time.Hour, FallbackPollInterval: time.Hour})

	// The pitfall itself.
	db := testDB(t, path)
	writer, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	other, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	w0, o0 := dataVersion(t, writer), dataVersion(t, other)
	if _, err := writer.ExecContext(t.Context(), `INSERT INTO fresh_log (at, msg) VALUES (0, x'00')`); err != nil {
		t.Fatal(err)
	}
	if w1, o1 := dataVersion(t, writer), dataVersion(t, other); w1 != w0 || o1 == o0 {
		t.Fatalf("data_version went %d→%d on the writing connection and %d→%d on another; SQLite no longer behaves as this bus assumes", w0, w1, o0, o1)
	}

	r := newRecorder()
	sub := testSubscribe(t, b, r).(*subscription)
	b.pubSem <- struct{}{}
	pub := driverConn(t, b.pub.conn)
	<-b.pubSem
	if driverConn(t, sub.f.conn) == pub {
		t.Fatal("the subscription reads on the bus's publishing connection")
	}
	for i := range 20 {
		testPublish(t, b, fmt.Sprint(i))
		r.waitMessage(t, fmt.Sprint(i))
	}
	if errs := r.losses(); len(errs) > 0 {
		t.Errorf("losses: %v", errs)
	}
}

// TestP28PoolRecycled: pools that close their connections after each use must not
// re-baseline the follower's data_version. Every connection of both pools lives for
// a millisecond, and the subscription polls (no file-system events): it keeps its
// one pinned connection, and misses nothing.
func TestP28PoolRecycled(t *testing.T) {
	t.Parallel()
	path := testPath(t)
	recycling := func() *sql.DB {
		db := testDB(t, path)
		db.SetConnMaxLifetime(time.Millisecond)
		db.SetMaxIdleConns(0)
		return db
	}
	o := Options{DisableWatch: true, FallbackPollInterval: 5 * time.Millisecond}
	follower, err := New(testCtx(t), recycling(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	r := newRecorder()
	sub := testSubscribe(t, follower, r).(*subscription)
	pinned := driverConn(t, sub.f.conn)

	// An application writing rows through a recycling pool, and a bus on one.
	app := recycling()
	publisher, err := New(testCtx(t), recycling(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer publisher.Close()
	var want []string
	for i := range 60 {
		msg := fmt.Sprint("m", i)
		if i%2 == 0 {
			testPublish(t, publisher, msg)
		} else if _, err := app.Exec(`INSERT INTO fresh_log (at, msg) VALUES (0, ?)`, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		want = append(want, msg)
		time.Sleep(time.Millisecond)
	}
	events := r.waitMessage(t, "m59")
	if got := messages(events); !slices.Equal(got, want) {
		t.Errorf("received %q; want %q", got, want)
	}
	if errs := r.losses(); len(errs) > 0 {
		t.Errorf("losses: %v", errs)
	}
	if driverConn(t, sub.f.conn) != pinned {
		t.Error("the subscription's connection changed")
	}
}

// TestP28WALWithoutCheckpoint: in WAL mode a commit writes only the -wal file; the
// database file is not touched until a checkpoint. With checkpoints off and the
// safety-net poll an hour away, a subscription learns of every commit from the
// file-system events of the -wal file.
func TestP28WALWithoutCheckpoint(t *testing.T) {
	t.Parallel()
	path := testPath(t)
	follower := testBus(t, path, Options{PollInterval: time.Hour})
	publisher := testBus(t, path, Options{PollInterval: time.Hour})
	for _, b := range []*Bus{follower, publisher} {
		b.pubSem <- struct{}{}
		if _, err := b.pub.conn.ExecContext(t.Context(), `PRAGMA wal_autocheckpoint = 0`); err != nil {
			t.Fatal(err)
		}
		<-b.pubSem
	}
	r := newRecorder()
	testSubscribe(t, follower, r)
	if follower.Stats().Checks == 0 {
		time.Sleep(10 * time.Millisecond) // let the first check run
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	walBefore, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		msg := fmt.Sprint("m", i)
		start := time.Now()
		testPublish(t, publisher, msg)
		r.waitMessage(t, msg)
		if d := time.Since(start); d > time.Second {
			t.Errorf("message %d took %v to arrive", i, d)
		}
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	walAfter, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the database file changed (size %d→%d, mtime %v→%v): a checkpoint ran, so the test proves nothing",
			before.Size(), after.Size(), before.ModTime(), after.ModTime())
	}
	if walAfter.Size() <= walBefore.Size() && !walAfter.ModTime().After(walBefore.ModTime()) {
		t.Errorf("the -wal file did not change")
	}
	if follower.Stats().Notifications == 0 {
		t.Error("no file-system notification counted")
	}
}

// blockingRecorder returns a recorder whose handler blocks on the message block
// until release is closed, and a channel closed when it blocks.
func blockingRecorder(block string) (r *recorder, blocked, release chan struct{}) {
	r = newRecorder()
	blocked, release = make(chan struct{}), make(chan struct{})
	r.hook = func(msg []byte) {
		if string(msg) == block {
			close(blocked)
			<-release
		}
	}
	return r, blocked, release
}

// TestP9PausedBeyondRetention: a subscriber whose handler is blocked while the log
// is trimmed past its position receives HandleLoss before anything newer.
func TestP9PausedBeyondRetention(t *testing.T) {
	t.Parallel()
	b := testBus(t, testPath(t), Options{MaxRows: 10, TrimEvery: 1})
	r, blocked, release := blockingRecorder("first")
	testSubscribe(t, b, r)
	testPublish(t, b, "first")
	<-blocked
	for i := range 50 {
		testPublish(t, b, fmt.Sprint("m", i))
	}
	close(release)
	events := r.waitMessage(t, "m49")
	checkLossThenTail(t, events, "first", ErrGap, "m", 50)
}

// checkLossThenTail checks that events are the message first, a loss wrapping want,
// and then a tail of the messages prefix0 ... prefix<n-1>, in order.
func checkLossThenTail(t *testing.T, events []event, first string, want error, prefix string, n int) {
	t.Helper()
	if len(events) < 3 || string(events[0].msg) != first || !errors.Is(events[1].loss, want) {
		t.Fatalf("received %s; want %s, a loss (%v), then the newest messages", summary(events), first, want)
	}
	tail := messages(events[2:])
	for i, m := range tail {
		if w := fmt.Sprint(prefix, n-len(tail)+i); m != w {
			t.Fatalf("after the loss, received %q; want a tail of %s0..%s%d in order", tail, prefix, prefix, n-1)
		}
	}
	for _, e := range events[2:] {
		if e.loss != nil {
			t.Fatalf("received %s; want one loss", summary(events))
		}
	}
}

// TestRetentionByTime: rows older than Retention by the publisher's clock are
// trimmed, and a subscriber that had not read them receives HandleLoss.
func TestRetentionByTime(t *testing.T) {
	t.Parallel()
	b := testBus(t, testPath(t), Options{Retention: time.Minute, TrimEvery: 1})
	var skew atomic.Int64
	b.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	r, blocked, release := blockingRecorder("first")
	testSubscribe(t, b, r)
	testPublish(t, b, "first")
	<-blocked
	for i := range 5 {
		testPublish(t, b, fmt.Sprint("old", i))
	}
	skew.Store(int64(2 * time.Minute))
	testPublish(t, b, "new0")
	close(release)
	events := r.waitMessage(t, "new0")
	checkLossThenTail(t, events, "first", ErrGap, "new", 1)
	if n := b.Stats().Trimmed; n < 5 {
		t.Errorf("Stats().Trimmed = %d; want at least 5", n)
	}
}

// TestP12ClockSkew: the order of the messages never depends on a clock. Publishers
// whose clocks are five minutes ahead and behind, and one whose clock stands still,
// take turns; a subscriber receives their messages in the order they were
// published, with no loss.
func TestP12ClockSkew(t *testing.T) {
	t.Parallel()
	path := testPath(t)
	o := Options{Retention: time.Hour, TrimEvery: 1}
	ahead, behind, frozen := testBus(t, path, o), testBus(t, path, o), testBus(t, path, o)
	ahead.now = func() time.Time { return time.Now().Add(5 * time.Minute) }
	behind.now = func() time.Time { return time.Now().Add(-5 * time.Minute) }
	still := time.Now()
	frozen.now = func() time.Time { return still }
	follower := testBus(t, path, o)
	r := newRecorder()
	testSubscribe(t, follower, r)
	var want []string
	for i := range 60 {
		msg := fmt.Sprint("m", i)
		testPublish(t, []*Bus{ahead, behind, frozen}[i%3], msg)
		want = append(want, msg)
	}
	events := r.waitMessage(t, "m59")
	if got := messages(events); !slices.Equal(got, want) {
		t.Errorf("received %q; want %q", got, want)
	}
	if errs := r.losses(); len(errs) > 0 {
		t.Errorf("losses: %v", errs)
	}
}

// TestGarbageRows: rows that another program wrote into the log, with a NULL, text
// or number where the message belongs, are each reported as a loss (and counted),
// never delivered and never a panic; the messages around them are delivered.
func TestGarbageRows(t *testing.T) {
	t.Parallel()
	path := testPath(t)
	b := testBus(t, path, Options{})
	r := newRecorder()
	testSubscribe(t, b, r)
	testPublish(t, b, "before")
	db := testDB(t, path)
	for _, stmt := range []string{
		`INSERT INTO fresh_log (at, msg) VALUES (0, NULL)`,
		`INSERT INTO fresh_log (at, msg) VALUES (0, 'text')`,
		`INSERT INTO fresh_log (at, msg) VALUES (0, 42)`,
		`INSERT INTO fresh_log (at, msg) VALUES ('not a time', 1.5)`,
		`INSERT INTO fresh_log (at, msg) VALUES (NULL, x'6f6b')`, // a message, whatever its at
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	testPublish(t, b, "after")
	events := r.waitMessage(t, "after")
	var kinds []string
	for _, e := range events {
		switch {
		case e.loss == nil:
			kinds = append(kinds, string(e.msg))
		case errors.Is(e.loss, ErrMalformedRow):
			kinds = append(kinds, "malformed")
		default:
			kinds = append(kinds, "other loss: "+e.loss.Error())
		}
	}
	want := []string{"before", "malformed", "malformed", "malformed", "malformed", "ok", "after"}
	if !slices.Equal(kinds, want) {
		t.Errorf("received %q; want %q", kinds, want)
	}
	if s := b.Stats(); s.Malformed != 4 || s.Losses != 4 {
		t.Errorf("Stats = %+v; want 4 malformed rows and 4 losses", s)
	}
}

// TestRowsDeletedInTheMiddle: a row deleted from the middle of the log leaves a gap
// in the sequence numbers, which the subscriber reports before the next row.
func TestRowsDeletedInTheMiddle(t *testing.T) {
	t.Parallel()
	path := testPath(t)
	b := testBus(t, path, Options{})
	r := newRecorder()
	testSubscribe(t, b, r)
	db := testDB(t, path)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"a", "b", "c"} {
		if _, err := tx.Exec(`INSERT INTO fresh_log (at, msg) VALUES (0, ?)`, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Exec(`DELETE FROM fresh_log WHERE msg = x'62'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	events := r.waitMessage(t, "c")
	if len(events) != 3 || string(events[0].msg) != "a" || !errors.Is(events[1].loss, ErrGap) || string(events[2].msg) != "c" {
		t.Errorf("received %s; want a, a gap, c", summary(events))
	}
}

// TestLogReplacedInPlace: a log emptied and reset, or dropped and created again, in
// the same file is noticed by the safety-net check, reported as a loss, and then
// followed from its new end.
func TestLogReplacedInPlace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		stmts []string
	}{
		{"reset", []string{`DELETE FROM fresh_log`, `UPDATE sqlite_sequence SET seq = 0 WHERE name = 'fresh_log'`}},
		{"recreated", []string{`DROP TABLE fresh_log`, `DROP TABLE fresh_meta`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := testPath(t)
			o := Options{PollInterval: 20 * time.Millisecond}
			b := testBus(t, path, o)
			r := newRecorder()
			testSubscribe(t, b, r)
			for i := range 5 {
				testPublish(t, b, fmt.Sprint(i))
			}
			r.waitMessage(t, "4")
			db := testDB(t, path)
			for _, stmt := range tt.stmts {
				if _, err := db.Exec(stmt); err != nil {
					t.Fatal(err)
				}
			}
			other := testBus(t, path, o) // recreates the log if it was dropped
			r.waitFor(t, "a loss", func(events []event) bool { return len(r.losses()) > 0 })
			if errs := r.losses(); !errors.Is(errs[0], ErrLogReplaced) {
				t.Errorf("loss %v; want ErrLogReplaced", errs[0])
			}
			testPublish(t, other, "after")
			r.waitMessage(t, "after")
		})
	}
}

// TestFileReplaced: the database file deleted and created anew (by a process that
// opened the path afterwards) is noticed: the subscription reports the loss and
// follows the new file, and the bus's Publish writes to the new file.
func TestFileReplaced(t *testing.T) {
	t.Parallel()
	path := testPath(t)
	o := Options{PollInterval: 20 * time.Millisecond}
	b := testBus(t, path, o)
	r := newRecorder()
	testSubscribe(t, b, r)
	testPublish(t, b, "old")
	r.waitMessage(t, "old")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	other := testBus(t, path, o)
	r2 := newRecorder()
	testSubscribe(t, other, r2)
	r.waitFor(t, "a loss", func(events []event) bool { return len(r.losses()) > 0 })
	if errs := r.losses(); !errors.Is(errs[0], ErrLogReplaced) {
		t.Errorf("loss %v; want ErrLogReplaced", errs[0])
	}
	testPublish(t, other, "new")
	r.waitMessage(t, "new")
	testPublish(t, b, "from the old bus")
	r2.waitMessage(t, "from the old bus")
	r.waitMessage(t, "from the old bus")
}

// TestTrimBounds checks the trimming: the log keeps about MaxRows rows, never loses
// its newest row, and a trim deletes at most maxTrimBatch rows.
func TestTrimBounds(t *testing.T) {
	t.Parallel()
	count := func(t *testing.T, db *sql.DB) (n, newest int64) {
		t.Helper()
		if err := db.QueryRow(`SELECT count(*), coalesce(max(seq), 0) FROM fresh_log`).Scan(&n, &newest); err != nil {
			t.Fatal(err)
		}
		return n, newest
	}
	t.Run("by count", func(t *testing.T) {
		path := testPath(t)
		b := testBus(t, path, Options{MaxRows: 10, TrimEvery: 5})
		for i := range 100 {
			testPublish(t, b, fmt.Sprint(i))
		}
		n, newest := count(t, testDB(t, path))
		if n < 10 || n > 15 || newest != 100 {
			t.Errorf("%d rows, newest %d; want 10 to 15 rows, newest 100", n, newest)
		}
	})
	t.Run("keeps the newest", func(t *testing.T) {
		path := testPath(t)
		b := testBus(t, path, Options{Retention: time.Minute, TrimEvery: 1})
		for i := range 9 {
			testPublish(t, b, fmt.Sprint(i))
		}
		b.now = func() time.Time { return time.Now().Add(time.Hour) } // the clock steps forward
		testPublish(t, b, "9")
		if n, newest := count(t, testDB(t, path)); n != 1 || newest != 10 {
			t.Errorf("%d rows, newest %d; want only the newest, 10", n, newest)
		}
	})
	t.Run("batch", func(t *testing.T) {
		path := testPath(t)
		b := testBus(t, path, Options{TrimEvery: 1})
		db := testDB(t, path)
		_, err := db.Exec(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 12000)
			INSERT INTO fresh_log (at, msg) SELECT 0, x'00' FROM c`)
		if err != nil {
			t.Fatal(err)
		}
		testPublish(t, b, "one")
		if n, _ := count(t, db); n != 12001-maxTrimBatch {
			t.Errorf("%d rows after one trim; want %d", n, 12001-maxTrimBatch)
		}
		testPublish(t, b, "two") // a trim that stopped at its bound goes on at the next Publish
		testPublish(t, b, "three")
		if n, _ := count(t, db); n != 3 {
			t.Errorf("%d rows after three trims; want 3 (one, two and three, which are recent)", n)
		}
	})
}

// TestPublishWaitsForAnotherWriter: while another connection holds the write lock,
// Publish waits for it (retrying, within BusyTimeout) rather than failing; with a
// short BusyTimeout it fails with SQLite's busy error; and a context that ends
// first ends the wait.
func TestPublishWaitsForAnotherWriter(t *testing.T) {
	t.Parallel()
	path := testPath(t)
	b := testBus(t, path, Options{BusyTimeout: 5 * time.Second})
	short := testBus(t, path, Options{BusyTimeout: 50 * time.Millisecond})
	lock := func() func() {
		c, err := testDB(t, path).Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(t.Context(), `BEGIN IMMEDIATE`); err != nil {
			t.Fatal(err)
		}
		return func() {
			if _, err := c.ExecContext(context.Background(), `COMMIT`); err != nil {
				t.Error(err)
			}
			c.Close()
		}
	}

	unlock := lock()
	errc := make(chan error, 1)
	go func() { errc <- b.Publish(testCtx(t), []byte("waited")) }()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("Publish returned %v while another connection held the lock", err)
	default:
	}
	unlock()
	if err := <-errc; err != nil {
		t.Errorf("Publish after the lock was released: %v", err)
	}

	unlock = lock()
	defer unlock()
	if err := short.Publish(testCtx(t), []byte("x")); err == nil || !isBusy(err) {
		t.Errorf("Publish with BusyTimeout 50ms behind a held lock = %v; want a busy error", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := b.Publish(ctx, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish with a 50ms deadline behind a held lock = %v; want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Publish with a 50ms deadline took %v", d)
	}
}

// TestSharedCache: in SQLite's shared-cache mode the connections of a process share
// one pager, and a commit by one of them need not change another's data_version.
// Buses in one process on a shared cache still deliver every message: the
// safety-net check reads whatever data_version says.
func TestSharedCache(t *testing.T) {
	t.Parallel()
	path := testPath(t)
	open := func() *Bus {
		db, err := sql.Open(driverName, "file:"+path+"?cache=shared")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		b, err := New(testCtx(t), db, Options{PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	a, b := open(), open()
	r := newRecorder()
	testSubscribe(t, a, r)
	for i := range 10 {
		testPublish(t, b, fmt.Sprint(i))
	}
	events := r.waitMessage(t, "9")
	if got := messages(events); len(got) != 10 {
		t.Errorf("received %q; want 0..9", got)
	}
	if errs := r.losses(); len(errs) > 0 {
		t.Errorf("losses: %v", errs)
	}
}
