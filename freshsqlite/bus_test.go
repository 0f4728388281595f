package freshsqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
	"go.uber.org/goleak"
)

// TestBus runs the conformance suite on one Bus.
func TestBus(t *testing.T) {
	t.Parallel()
	freshtest.TestBus(t, func(t *testing.T) fresh.Bus { return testBus(t, testPath(t), Options{}) })
}

// TestBusAcrossConnections runs the conformance suite on three buses on one file,
// each with a *sql.DB of its own, as three processes would be: messages reach the
// other buses' subscriptions through the file, woken by file-system events.
func TestBusAcrossConnections(t *testing.T) {
	t.Parallel()
	freshtest.TestBus(t, func(t *testing.T) fresh.Bus { return testSplit(t, 3, Options{}) })
}

// TestBusPolling runs the conformance suite on three buses on one file that do not
// watch the directory, and so poll.
func TestBusPolling(t *testing.T) {
	t.Parallel()
	freshtest.TestBus(t, func(t *testing.T) fresh.Bus {
		return testSplit(t, 3, Options{DisableWatch: true, FallbackPollInterval: 5 * time.Millisecond})
	})
}

// TestCachesOverBus runs caches over buses on one file, each cache with a hub and a
// *sql.DB of its own.
func TestCachesOverBus(t *testing.T) {
	t.Parallel()
	freshtest.TestCachesOverBus(t, func(t *testing.T) fresh.Bus { return testSplit(t, 2, Options{}) })
}

// TestNewRejectsBadOptions checks that New refuses each invalid option with an
// error that names it, and creates nothing.
func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"negative retention", Options{Retention: -time.Second}, "Options.Retention"},
		{"tiny retention", Options{Retention: time.Microsecond}, "Options.Retention"},
		{"negative max rows", Options{MaxRows: -1}, "Options.MaxRows"},
		{"negative trim every", Options{TrimEvery: -1}, "Options.TrimEvery"},
		{"negative poll", Options{PollInterval: -time.Millisecond}, "Options.PollInterval"},
		{"tiny poll", Options{PollInterval: time.Microsecond}, "Options.PollInterval"},
		{"tiny fallback poll", Options{FallbackPollInterval: time.Nanosecond}, "Options.FallbackPollInterval"},
		{"negative busy timeout", Options{BusyTimeout: -1}, "Options.BusyTimeout"},
		{"huge busy timeout", Options{BusyTimeout: 1 << 62}, "Options.BusyTimeout"},
		{"negative max message size", Options{MaxMessageSize: -1}, "Options.MaxMessageSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := testPath(t)
			b, err := New(testCtx(t), testDB(t, path), tt.o)
			if err == nil {
				b.Close()
				t.Fatalf("New(%+v) succeeded; want an error naming %s", tt.o, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "freshsqlite: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New(%+v) = %v; want a freshsqlite error naming %s", tt.o, err, tt.want)
			}
			if _, err := os.Stat(path); err == nil {
				t.Errorf("New with bad options created %s", path)
			}
		})
	}
	t.Run("several at once", func(t *testing.T) {
		_, err := New(testCtx(t), testDB(t, testPath(t)), Options{MaxRows: -1, TrimEvery: -1})
		if err == nil || !strings.Contains(err.Error(), "MaxRows") || !strings.Contains(err.Error(), "TrimEvery") {
			t.Errorf("New = %v; want an error naming MaxRows and TrimEvery", err)
		}
	})
}

// TestNewNilArguments checks that New refuses a nil context or database.
func TestNewNilArguments(t *testing.T) {
	t.Parallel()
	//nolint:staticcheck // SA1012: a nil context is what is being tested
	if _, err := New(nil, testDB(t, testPath(t)), Options{}); err == nil {
		t.Error("New(nil ctx) succeeded")
	}
	if _, err := New(t.Context(), nil, Options{}); err == nil {
		t.Error("New(nil db) succeeded")
	}
}

// TestNewRefusesForeignDatabase checks that New refuses a database that holds tables
// of its own, and leaves it as it was (journal mode included).
func TestNewRefusesForeignDatabase(t *testing.T) {
	t.Parallel()
	path := testPath(t)
	db := testDB(t, path)
	if _, err := db.Exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`); err != nil {
		t.Fatal(err)
	}
	_, err := New(testCtx(t), db, Options{})
	if !errors.Is(err, ErrNotEventLog) {
		t.Fatalf("New on a database with a users table = %v; want ErrNotEventLog", err)
	}
	if !strings.Contains(err.Error(), `"users"`) {
		t.Errorf("error %q does not name the table found", err)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "delete" {
		t.Errorf("journal mode after the refusal = %q, %v; want delete (unchanged)", mode, err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name LIKE 'fresh%'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d fresh tables created in a foreign database (%v)", n, err)
	}
}

// TestNewRefusesOtherLogs checks the refusal of a log of a newer format, of a meta
// table that is not the bus's, and of a damaged log.
func TestNewRefusesOtherLogs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup string
		want  error
	}{
		{"newer format", `UPDATE fresh_meta SET value = '2' WHERE key = 'version'`, ErrNewerFormat},
		{"bad version", `UPDATE fresh_meta SET value = 'x' WHERE key = 'version'`, ErrNotEventLog},
		{"bad magic", `UPDATE fresh_meta SET value = 'something else' WHERE key = 'magic'`, ErrNotEventLog},
		{"no magic", `DELETE FROM fresh_meta WHERE key = 'magic'`, ErrNotEventLog},
		{"no log table", `DROP TABLE fresh_log`, ErrNotEventLog},
		{"no id", `DELETE FROM fresh_meta WHERE key = 'id'`, ErrNotEventLog},
		{"log without meta", `DROP TABLE fresh_meta`, ErrNotEventLog},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := testPath(t)
			b, err := New(testCtx(t), testDB(t, path), Options{})
			if err != nil {
				t.Fatal(err)
			}
			b.Close()
			db := testDB(t, path)
			if _, err := db.Exec(tt.setup); err != nil {
				t.Fatal(err)
			}
			if _, err := New(testCtx(t), db, Options{}); !errors.Is(err, tt.want) {
				t.Errorf("New after %s = %v; want %v", tt.setup, err, tt.want)
			}
		})
	}
}

// TestNewRefusesMemory checks that databases that live in memory are refused: no
// other process could open them.
func TestNewRefusesMemory(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		":memory:",
		"file::memory:",
		"file::memory:?cache=shared",
		"file:memdb1?mode=memory&cache=shared",
		"file:/nothere?vfs=memdb",
		"", // a temporary database
	} {
		t.Run(dsn, func(t *testing.T) {
			db, err := sql.Open(driverName, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			b, err := New(testCtx(t), db, Options{})
			if err == nil {
				b.Close()
				t.Fatalf("New on %q succeeded; want ErrNotOnDisk", dsn)
			}
			if !errors.Is(err, ErrNotOnDisk) {
				t.Errorf("New on %q = %v; want ErrNotOnDisk", dsn, err)
			}
		})
	}
}

// TestNewConcurrently opens a new file from many *sql.DB at once: one creates the
// log, and all agree on it.
func TestNewConcurrently(t *testing.T) {
	t.Parallel()
	path := testPath(t)
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		db := testDB(t, path)
		wg.Go(func() {
			b, err := New(testCtx(t), db, Options{})
			if err != nil {
				errs[i] = err
				return
			}
			ids[i] = b.pub.id
			errs[i] = b.Close()
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("New %d: %v", i, err)
		}
		if ids[i] != ids[0] {
			t.Errorf("New %d found log %q; New 0 found %q", i, ids[i], ids[0])
		}
	}
	checkIntegrity(t, path)
}

// checkIntegrity fails the test unless SQLite finds the file sound.
func checkIntegrity(tb testing.TB, path string) {
	tb.Helper()
	db := testDB(tb, path)
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		tb.Errorf("integrity_check of %s = %q, %v", path, res, err)
	}
}

// TestPublishChecks checks Publish's refusals.
func TestPublishChecks(t *testing.T) {
	t.Parallel()
	b := testBus(t, testPath(t), Options{MaxMessageSize: 10})
	if err := b.Publish(t.Context(), make([]byte, 11)); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("Publish of 11 bytes with MaxMessageSize 10 = %v; want ErrMessageTooLarge", err)
	}
	if err := b.Publish(t.Context(), make([]byte, 10)); err != nil {
		t.Errorf("Publish of 10 bytes: %v", err)
	}
	//nolint:staticcheck // SA1012: a nil context is what is being tested
	if err := b.Publish(nil, []byte("x")); err == nil {
		t.Error("Publish(nil ctx) succeeded")
	}
	//nolint:staticcheck // SA1012: a nil context is what is being tested
	if _, err := b.Subscribe(nil, newRecorder()); err == nil {
		t.Error("Subscribe(nil ctx) succeeded")
	}
	if _, err := b.Subscribe(t.Context(), nil); err == nil {
		t.Error("Subscribe(nil handler) succeeded")
	}
	b.Close()
	if err := b.Publish(t.Context(), []byte("x")); !errors.Is(err, ErrBusClosed) {
		t.Errorf("Publish after Close = %v; want ErrBusClosed", err)
	}
	if _, err := b.Subscribe(t.Context(), newRecorder()); !errors.Is(err, ErrBusClosed) {
		t.Errorf("Subscribe after Close = %v; want ErrBusClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseFromHandler closes a subscription, and then the whole bus, from inside
// handlers: neither deadlocks, and no handler runs afterwards.
func TestCloseFromHandler(t *testing.T) {
	t.Parallel()
	b := testBus(t, testPath(t), Options{})
	var sub fresh.Subscription
	r := newRecorder()
	closed := make(chan struct{})
	r.hook = func(msg []byte) {
		if string(msg) == "close" {
			sub.Close()
			sub.Close() // idempotent, even here
			close(closed)
		}
	}
	sub = testSubscribe(t, b, r)
	testPublish(t, b, "close")
	testPublish(t, b, "after")
	<-closed
	time.Sleep(50 * time.Millisecond)
	if got := messages(r.snapshot()); len(got) != 1 || got[0] != "close" {
		t.Errorf("handler received %q; want only the message that closed it", got)
	}

	r2 := newRecorder()
	busClosed := make(chan error, 1)
	r2.hook = func(msg []byte) {
		if string(msg) == "close bus" {
			busClosed <- b.Close()
		}
	}
	testSubscribe(t, b, r2)
	testPublish(t, b, "close bus")
	select {
	case err := <-busClosed:
		if err != nil {
			t.Errorf("Bus.Close from a handler: %v", err)
		}
	case <-time.After(testWait):
		t.Fatal("Bus.Close from a handler did not return")
	}
	if err := b.Publish(t.Context(), []byte("x")); !errors.Is(err, ErrBusClosed) {
		t.Errorf("Publish after Close = %v; want ErrBusClosed", err)
	}
}

// TestCloseStopsHandlerAtOnce checks that no handler call follows the return of
// Close, with a backlog of rows still to deliver.
func TestCloseStopsHandlerAtOnce(t *testing.T) {
	t.Parallel()
	b := testBus(t, testPath(t), Options{})
	var after atomic.Int64
	var closed atomic.Bool
	started := make(chan struct{})
	var once sync.Once
	r := newRecorder()
	r.hook = func([]byte) {
		if closed.Load() {
			after.Add(1)
		}
		once.Do(func() { close(started) })
		time.Sleep(time.Millisecond)
	}
	sub := testSubscribe(t, b, r)
	for i := range 100 {
		testPublish(t, b, fmt.Sprint(i))
	}
	<-started
	sub.Close()
	closed.Store(true)
	time.Sleep(50 * time.Millisecond)
	if n := after.Load(); n > 0 {
		t.Errorf("handler called %d times after Close returned", n)
	}
}

// TestBusDoesNotCloseUsersDB checks that Close leaves the application's *sql.DB
// open, gives back every connection the bus took, and that the bus's settings
// (busy_timeout 0 on the publishing connection, synchronous) do not reach the
// application's connections.
func TestBusDoesNotCloseUsersDB(t *testing.T) {
	t.Parallel()
	db := testDB(t, testPath(t))
	db.SetMaxIdleConns(4)
	b, err := New(testCtx(t), db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	testSubscribe(t, b, newRecorder())
	testPublish(t, b, "x")
	if got := db.Stats().InUse; got != 2 {
		t.Errorf("%d connections in use with one subscription; want 2 (publisher and follower)", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := db.Stats().InUse; got != 0 {
		t.Errorf("%d connections still in use after Close", got)
	}
	if err := db.Ping(); err != nil {
		t.Errorf("the application's database is closed: %v", err)
	}
	var timeout, sync int
	if err := db.QueryRow(`PRAGMA busy_timeout`).Scan(&timeout); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if timeout != 0 || sync != 2 {
		t.Errorf("a pooled connection has busy_timeout %d and synchronous %d; want the defaults 0 and 2", timeout, sync)
	}
}

// TestStats checks the counters.
func TestStats(t *testing.T) {
	t.Parallel()
	b := testBus(t, testPath(t), Options{})
	r := newRecorder()
	testSubscribe(t, b, r)
	for i := range 5 {
		testPublish(t, b, fmt.Sprint(i))
	}
	r.waitMessage(t, "4")
	s := b.Stats()
	if s.Published != 5 || s.Delivered != 5 || s.Losses != 0 || s.Malformed != 0 {
		t.Errorf("Stats = %+v; want 5 published, 5 delivered, no loss", s)
	}
	if s.Checks == 0 || s.Reads == 0 {
		t.Errorf("Stats = %+v; want checks and reads", s)
	}
}

// TestNoGoroutineLeft checks that no goroutine outlives Close: not the
// subscriptions', not the watcher's, not the driver's.
func TestNoGoroutineLeft(t *testing.T) {
	// Not parallel: goleak looks at every goroutine of the process.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	path := testPath(t)
	for _, o := range []Options{{}, {DisableWatch: true}} {
		b, err := OpenURL(t.Context(), "sqlite:"+path, o)
		if err != nil {
			t.Fatal(err)
		}
		other, err := OpenURL(t.Context(), "sqlite:"+path, o)
		if err != nil {
			t.Fatal(err)
		}
		r := newRecorder()
		sub, err := b.Subscribe(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Subscribe(t.Context(), newRecorder()); err != nil {
			t.Fatal(err)
		}
		testPublish(t, other, "hello")
		r.waitMessage(t, "hello")
		sub.Close()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := other.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
