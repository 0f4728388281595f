package freshpg

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
)

// TestConformance runs fresh's conformance suites on a Bus, and on two Buses of one
// table on two pools (two processes).
func TestConformance(t *testing.T) {
	t.Parallel()
	p1, p2 := testPool(t), testPool(t)
	one := func(t *testing.T) fresh.Bus {
		return testBus(t, p1, Options{Table: testTableName(t, p1)})
	}
	two := func(t *testing.T) fresh.Bus {
		table := testTableName(t, p1)
		return &splitBus{buses: []*Bus{testBus(t, p1, Options{Table: table}), testBus(t, p2, Options{Table: table})}}
	}
	t.Run("Bus", func(t *testing.T) { t.Parallel(); freshtest.TestBus(t, one) })
	t.Run("BusTwoPools", func(t *testing.T) { t.Parallel(); freshtest.TestBus(t, two) })
	t.Run("CachesOverBus", func(t *testing.T) { t.Parallel(); freshtest.TestCachesOverBus(t, one) })
	t.Run("CachesOverBusTwoPools", func(t *testing.T) { t.Parallel(); freshtest.TestCachesOverBus(t, two) })
}

// TestOptionsRejected checks that bad options get a clear error, never a panic,
// before anything is sent to the server.
func TestOptionsRejected(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"table with a space", Options{Table: "my table"}, "Options.Table"},
		{"table with three parts", Options{Table: "a.b.c"}, "more than two parts"},
		{"table with an empty part", Options{Table: "a."}, "empty identifier"},
		{"table unterminated quote", Options{Table: `"abc`}, "unterminated"},
		{"table too long", Options{Table: strings.Repeat("x", 64)}, "64 bytes long"},
		{"table injection", Options{Table: "t; DROP TABLE x"}, "Options.Table"},
		{"channel too long", Options{Channel: strings.Repeat("c", 64)}, "Options.Channel"},
		{"negative MaxAge", Options{MaxAge: -time.Second}, "MaxAge"},
		{"negative MaxCount", Options{MaxCount: -1}, "MaxCount"},
		{"negative MaxMessageSize", Options{MaxMessageSize: -1}, "MaxMessageSize"},
		{"tiny PollInterval", Options{PollInterval: time.Microsecond}, "PollInterval"},
		{"negative ProbeTimeout", Options{ProbeTimeout: -1}, "ProbeTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkOptions(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "freshpg: ") {
				t.Fatalf("checkOptions(%+v) = %v; want an error mentioning %q", tc.o, err, tc.want)
			}
			// New fails the same way, with no pool needed to find out.
			if _, err := OpenURL(context.Background(), "postgres://127.0.0.1:1/x", tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("OpenURL with %+v = %v; want an error mentioning %q", tc.o, err, tc.want)
			}
		})
	}
	if _, err := New(context.Background(), nil, Options{}); err == nil {
		t.Error("New with a nil pool succeeded")
	}
}

// TestParseTableName checks how table names are read and quoted.
func TestParseTableName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, quoted string
	}{
		{"fresh_bus", `"fresh_bus"`},
		{"Fresh_Bus", `"fresh_bus"`},
		{"app.bus", `"app"."bus"`},
		{`"My Schema"."Bus ""x"""`, `"My Schema"."Bus ""x"""`},
		{`"a.b"`, `"a.b"`},
		{"t$1", `"t$1"`},
		{`"it's"`, `"it's"`},
	} {
		got, err := parseTableName(tc.in)
		if err != nil {
			t.Errorf("parseTableName(%q): %v", tc.in, err)
			continue
		}
		if q := got.quoted(); q != tc.quoted {
			t.Errorf("parseTableName(%q).quoted() = %s; want %s", tc.in, q, tc.quoted)
		}
	}
	for _, bad := range []string{"", ".", "a..b", "1abc", "$a", `"a"b`, `""`, "a b", "a-b", "a.b.c", "a\x00", `"a` + "\x00" + `"`, "é"} {
		if got, err := parseTableName(bad); err == nil {
			t.Errorf("parseTableName(%q) = %+v; want an error", bad, got)
		}
	}
}

// FuzzParseTableName checks that parsing never panics, and that what it accepts
// quotes to a name that parses back to itself.
func FuzzParseTableName(f *testing.F) {
	for _, s := range []string{"fresh_bus", "a.b", `"x"".y"."z"`, `"`, "a.", "A$1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tn, err := parseTableName(s)
		if err != nil {
			return
		}
		back, err := parseTableName(tn.quoted())
		if err != nil || back != tn {
			t.Fatalf("parseTableName(%q) = %+v, quoted %s, which parses to %+v, %v", s, tn, tn.quoted(), back, err)
		}
	})
}

// TestDefaultChannel checks the derived channel names, including long ones.
func TestDefaultChannel(t *testing.T) {
	t.Parallel()
	if got := defaultChannel("public", "fresh_bus"); got != "fresh:public.fresh_bus" {
		t.Errorf("defaultChannel = %q", got)
	}
	long1 := defaultChannel(strings.Repeat("s", 63), strings.Repeat("t", 63))
	long2 := defaultChannel(strings.Repeat("s", 63), strings.Repeat("t", 62)+"u")
	if len(long1) > maxIdentLen || long1 == long2 {
		t.Errorf("long channels %q and %q: want distinct, at most %d bytes", long1, long2, maxIdentLen)
	}
	if err := checkChannel(defaultChannel("é", strings.Repeat("é", 31))); err != nil {
		t.Errorf("a derived channel fails its own check: %v", err)
	}
}

// TestOpenURL checks the URLs OpenURL accepts and refuses.
func TestOpenURL(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	for _, tc := range []struct{ url, want string }{
		{"mysql://root@127.0.0.1/test", "not postgres://"},
		{"redis://127.0.0.1:6379", "not postgres://"},
		{"127.0.0.1:5432", "no scheme"},
		{"postgres://u:secret@[::1/x", "malformed URL"},
		{"postgres://127.0.0.1/x?fresh_table=a&fresh_table=b", "once"},
		{"postgres://127.0.0.1/x?fresh_table=", "once"},
		{"postgres://127.0.0.1/x?fresh_table=a%20b", "Options.Table"},
		{"postgres://127.0.0.1/x?sslmode=bogus", "sslmode"},
		{"postgres://u:secret@127.0.0.1:1/x?connect_timeout=2", "freshpg: "},
	} {
		_, err := OpenURL(ctx, tc.url, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "freshpg: ") {
			t.Errorf("OpenURL(%q) = %v; want an error mentioning %q", tc.url, err, tc.want)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("OpenURL(%q) error shows the password: %v", tc.url, err)
		}
	}
	if _, err := OpenURL(ctx, "postgres://127.0.0.1/x?fresh_table=a", Options{Table: "b"}); err == nil || !strings.Contains(err.Error(), "disagrees") {
		t.Errorf("OpenURL with two tables = %v; want a disagreement", err)
	}

	// Both schemes work against the real server.
	testPool(t) // skips when the server is missing
	for _, scheme := range []string{"postgres", "postgresql", "PostgreSQL"} {
		_, rest, _ := strings.Cut(testURL(), "://")
		u := scheme + "://" + rest
		table := fmt.Sprintf("freshpg_test_url_%s_%x", strings.ToLower(scheme), rand.Uint64())
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		b, err := OpenURL(ctx, u+sep+"fresh_table="+table, Options{})
		if err != nil {
			t.Fatalf("OpenURL(%s URL): %v", scheme, err)
		}
		r := newRecorder()
		sub, err := b.Subscribe(ctx, r)
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		publish(t, b, "via "+scheme)
		r.waitMessage(t, "via "+scheme)
		sub.Close()
		if b.Table() != "public."+table {
			t.Errorf("Table() = %q; want public.%s", b.Table(), table)
		}
		if _, err := b.pool.Exec(ctx, "DROP TABLE "+table); err != nil {
			t.Errorf("DROP TABLE: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := b.Publish(ctx, []byte("x")); !errors.Is(err, ErrBusClosed) {
			t.Errorf("Publish after Close = %v; want ErrBusClosed", err)
		}
	}
}

// TestUnreachableServer checks that a bus on a server that does not answer fails
// with a clear error, promptly.
func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := OpenURL(ctx, "postgres://postgres@127.0.0.1:1/test?connect_timeout=2", Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "freshpg: ") {
		t.Fatalf("OpenURL on a closed port = %v; want a freshpg error", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("OpenURL took %v to fail", d)
	}
	t.Logf("error: %v", err)
}

// TestPublishChecks checks Publish's own refusals.
func TestPublishChecks(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	b := testBus(t, pool, Options{Table: testTableName(t, pool), MaxMessageSize: 10})
	ctx := testCtx(t)
	if err := b.Publish(ctx, make([]byte, 11)); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("Publish of 11 bytes = %v; want ErrMessageTooLarge", err)
	}
	//nolint:staticcheck // a nil context is what is tested
	if err := b.Publish(nil, []byte("x")); err == nil {
		t.Error("Publish with a nil context succeeded")
	}
	if _, err := b.Subscribe(ctx, nil); err == nil {
		t.Error("Subscribe with a nil handler succeeded")
	}
	if err := b.PublishTx(ctx, nil, []byte("x")); err == nil {
		t.Error("PublishTx with a nil transaction succeeded")
	}
	if err := b.PublishSQLTx(ctx, nil, []byte("x")); err == nil {
		t.Error("PublishSQLTx with a nil transaction succeeded")
	}
	// An empty message and a nil one are both an empty message.
	r := newRecorder()
	subscribe(t, b, r)
	for _, m := range [][]byte{nil, {}} {
		if err := b.Publish(ctx, m); err != nil {
			t.Fatalf("Publish(%v): %v", m, err)
		}
	}
	publish(t, b, "end")
	expectEvents(t, r.waitMessage(t, "end"), nil, "", "", "end")
}

// TestCloseFromHandler closes the subscription, then the bus, from inside a
// handler: neither deadlocks, and the handler is not called again.
func TestCloseFromHandler(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	for _, whole := range []bool{false, true} {
		b := testBus(t, pool, Options{Table: testTableName(t, pool)})
		r := newRecorder()
		var sub fresh.Subscription
		ready := make(chan struct{})
		r.hook = func(msg []byte) {
			<-ready
			if string(msg) == "close" {
				if whole {
					b.Close()
				} else {
					sub.Close()
				}
			}
		}
		sub = subscribe(t, b, r)
		close(ready)
		publish(t, b, "close", "after 1")
		r.waitMessage(t, "close")
		if !whole {
			publish(t, b, "after 2")
		}
		time.Sleep(200 * time.Millisecond)
		expectEvents(t, r.snapshot(), nil, "close")
	}
}

// TestStats checks the counters after a few publishes and deliveries.
func TestStats(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	b := testBus(t, pool, Options{Table: testTableName(t, pool)})
	r := newRecorder()
	subscribe(t, b, r)
	for i := range 5 {
		publish(t, b, strconv.Itoa(i))
	}
	r.waitMessage(t, "4")
	s := b.Stats()
	if s.Published != 5 || s.Delivered != 5 || s.Losses != 0 || s.Polls == 0 {
		t.Errorf("Stats = %+v; want 5 published, 5 delivered, no loss, some polls", s)
	}
}
