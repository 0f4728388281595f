package freshredis

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
	"github.com/redis/go-redis/v9"
)

// TestStreamBusConformance runs fresh's conformance suites on a StreamBus, and on
// two StreamBuses of one namespace on two clients (two processes).
func TestStreamBusConformance(t *testing.T) {
	t.Parallel()
	c1, c2 := busTestClient(t, nil), busTestClient(t, nil)
	one := func(t *testing.T) fresh.Bus {
		return busTestStreamBus(t, c1, StreamBusOptions{Namespace: busTestNamespace(t, c1)})
	}
	two := func(t *testing.T) fresh.Bus {
		ns := busTestNamespace(t, c1)
		return &busTestSplit{buses: []fresh.Bus{
			busTestStreamBus(t, c1, StreamBusOptions{Namespace: ns}),
			busTestStreamBus(t, c2, StreamBusOptions{Namespace: ns}),
		}}
	}
	t.Run("Bus", func(t *testing.T) { t.Parallel(); freshtest.TestBus(t, one) })
	t.Run("BusTwoClients", func(t *testing.T) { t.Parallel(); freshtest.TestBus(t, two) })
	t.Run("CachesOverBus", func(t *testing.T) { t.Parallel(); freshtest.TestCachesOverBus(t, one) })
	t.Run("CachesOverBusTwoClients", func(t *testing.T) { t.Parallel(); freshtest.TestCachesOverBus(t, two) })
}

// TestStreamBusResumesAfterKill kills the subscriber's connections again and again
// while messages are published: every message arrives, in order, and no loss is
// reported, because the subscription reads on from its last entry.
func TestStreamBusResumesAfterKill(t *testing.T) {
	t.Parallel()
	admin := busTestClient(t, nil)
	name := busTestRandomName("fresh-bustest-reader-")
	readerClient := busTestClient(t, func(o *redis.Options) { o.ClientName = name })
	ns := busTestNamespace(t, admin)
	pub := busTestStreamBus(t, admin, StreamBusOptions{Namespace: ns})
	sub := busTestStreamBus(t, readerClient, StreamBusOptions{Namespace: ns})
	ctx := busTestCtx(t)
	r := newBusTestRecorder()
	if _, err := sub.Subscribe(ctx, r); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}

	const total = 2000
	published := make(chan error, 1)
	go func() {
		for i := range total {
			if err := pub.Publish(ctx, []byte(strconv.Itoa(i))); err != nil {
				published <- fmt.Errorf("Publish of message %d: %w", i, err)
				return
			}
			if i%20 == 0 {
				time.Sleep(time.Millisecond) // spread the messages over the kills
			}
		}
		published <- nil
	}()
	killed := 0
	for range 10 {
		time.Sleep(15 * time.Millisecond)
		killed += busTestKillClients(t, admin, name)
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatalf("found no connection named %q to kill", name)
	}
	events := r.waitMessage(t, strconv.Itoa(total-1))
	t.Logf("killed %d connections of the subscriber while %d messages were published", killed, total)
	if len(events) != total {
		t.Fatalf("received %d events; want %d messages: %s", len(events), total, busTestSummary(events))
	}
	for i, e := range events {
		if e.loss != nil || string(e.msg) != strconv.Itoa(i) {
			t.Fatalf("event %d is %v; want message %d", i, e, i)
		}
	}
}

// busTestPaused subscribes to bus a recorder whose handler blocks on the message
// "pause" until release is closed. It publishes "pause" and returns once the handler
// holds it.
func busTestPaused(t *testing.T, bus fresh.Bus) (r *busTestRecorder, release chan struct{}) {
	t.Helper()
	ctx := busTestCtx(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	r = newBusTestRecorder()
	r.hook = func(msg []byte) {
		if string(msg) == "pause" {
			once.Do(func() { close(entered) })
			<-release
		}
	}
	if _, err := bus.Subscribe(ctx, r); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	if err := bus.Publish(ctx, []byte("pause")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	select {
	case <-entered:
	case <-time.After(busTestWait):
		t.Fatal("the handler did not receive \"pause\"")
	}
	return r, release
}

// busTestPublish publishes each message on bus, failing the test on error.
func busTestPublish(t *testing.T, bus fresh.Bus, msgs ...string) {
	t.Helper()
	ctx := busTestCtx(t)
	for _, m := range msgs {
		if err := bus.Publish(ctx, []byte(m)); err != nil {
			t.Fatalf("Publish(%q): %v", m, err)
		}
	}
}

// busTestExpect checks that events are exactly want, where a want of "LOSS" stands
// for a loss wrapping lossErr.
func busTestExpect(t *testing.T, events []busTestEvent, lossErr error, want ...string) {
	t.Helper()
	ok := len(events) == len(want)
	for i := 0; ok && i < len(want); i++ {
		if want[i] == "LOSS" {
			ok = errors.Is(events[i].loss, lossErr)
		} else {
			ok = events[i].loss == nil && string(events[i].msg) == want[i]
		}
	}
	if !ok {
		t.Fatalf("the handler received %s; want %v", busTestSummary(events), want)
	}
}

// TestStreamBusTrimmedReportsLoss pauses a subscriber, removes the entries it has
// not read yet (and the one it read last), and checks that it reports the loss
// before the next message.
func TestStreamBusTrimmedReportsLoss(t *testing.T) {
	t.Parallel()
	c := busTestClient(t, nil)
	for _, tc := range []struct {
		name   string
		remove func(t *testing.T, key string)
	}{
		{"XTRIM MAXLEN 0", func(t *testing.T, key string) {
			if err := c.XTrimMaxLen(busTestCtx(t), key, 0).Err(); err != nil {
				t.Fatalf("XTRIM: %v", err)
			}
		}},
		{"DEL", func(t *testing.T, key string) {
			if err := c.Del(busTestCtx(t), key).Err(); err != nil {
				t.Fatalf("DEL: %v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bus := busTestStreamBus(t, c, StreamBusOptions{Namespace: busTestNamespace(t, c)})
			r, release := busTestPaused(t, bus)
			busTestPublish(t, bus, "lost 1", "lost 2", "lost 3")
			tc.remove(t, bus.Stream())
			// A stream made again by XADD within the millisecond of "pause" would
			// reuse its ids; TestStreamBusReusedID tests that.
			time.Sleep(2 * time.Millisecond)
			busTestPublish(t, bus, "after")
			close(release)
			events := r.waitMessage(t, "after")
			busTestExpect(t, events, ErrStreamGap, "pause", "LOSS", "after")
			t.Logf("loss reported: %v", events[1].loss)
		})
	}
}

// TestStreamBusFellBehindReportsLoss: a subscriber that falls more than MaxLen
// messages behind reports the loss, then receives the rest in order.
func TestStreamBusFellBehindReportsLoss(t *testing.T) {
	t.Parallel()
	c := busTestClient(t, nil)
	bus := busTestStreamBus(t, c, StreamBusOptions{Namespace: busTestNamespace(t, c), MaxLen: 10})
	r, release := busTestPaused(t, bus)
	const total = 1000
	for i := range total {
		busTestPublish(t, bus, strconv.Itoa(i))
	}
	n, err := c.XLen(busTestCtx(t), bus.Stream()).Result()
	if err != nil || n >= total {
		t.Fatalf("XLEN = %d, %v; want the stream trimmed", n, err)
	}
	close(release)
	events := r.waitMessage(t, strconv.Itoa(total-1))
	if len(events) < 3 || string(events[0].msg) != "pause" || !errors.Is(events[1].loss, ErrStreamGap) {
		t.Fatalf("the handler received %s; want pause, a loss, then messages", busTestSummary(events))
	}
	rest := events[2:]
	first, err := strconv.Atoi(string(rest[0].msg))
	if err != nil || first == 0 || len(rest) != total-first {
		t.Fatalf("after the loss the handler received %s; want the messages that were kept, up to %d", busTestSummary(rest), total-1)
	}
	for i, e := range rest {
		if e.loss != nil || string(e.msg) != strconv.Itoa(first+i) {
			t.Fatalf("after the loss the handler received %s; want %d to %d in order", busTestSummary(rest), first, total-1)
		}
	}
	t.Logf("%d messages kept of %d (MaxLen 10, approximate trimming); loss: %v", len(rest), total, events[1].loss)
}

// TestStreamBusDeletedWhileIdle: a subscriber that has read everything notices
// that the stream was deleted (as by FLUSHALL) within about one Block, reports the
// loss, and receives what is published afterwards.
func TestStreamBusDeletedWhileIdle(t *testing.T) {
	t.Parallel()
	c := busTestClient(t, nil)
	bus := busTestStreamBus(t, c, StreamBusOptions{Namespace: busTestNamespace(t, c), Block: 100 * time.Millisecond})
	r := newBusTestRecorder()
	if _, err := bus.Subscribe(busTestCtx(t), r); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	busTestPublish(t, bus, "before")
	r.waitMessage(t, "before")
	if err := c.Del(busTestCtx(t), bus.Stream()).Err(); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	start := time.Now()
	r.waitFor(t, "a loss", func(events []busTestEvent) bool { return len(events) > 1 })
	t.Logf("loss reported %v after DEL", time.Since(start))
	busTestPublish(t, bus, "after")
	busTestExpect(t, r.waitMessage(t, "after"), ErrStreamGap, "before", "LOSS", "after")
}

// TestStreamBusReusedID deletes the stream and fills it again with an entry that
// has the id of the subscriber's position but other contents, as XADD does when the
// stream is made again within the same millisecond: the subscriber is not fooled,
// and reports the loss.
func TestStreamBusReusedID(t *testing.T) {
	t.Parallel()
	c := busTestClient(t, nil)
	bus := busTestStreamBus(t, c, StreamBusOptions{Namespace: busTestNamespace(t, c), Block: 100 * time.Millisecond})
	r := newBusTestRecorder()
	if _, err := bus.Subscribe(busTestCtx(t), r); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	busTestPublish(t, bus, "before")
	r.waitMessage(t, "before")
	ctx := busTestCtx(t)
	last, err := c.XRevRangeN(ctx, bus.Stream(), "+", "-", 1).Result()
	if err != nil || len(last) != 1 {
		t.Fatalf("XREVRANGE: %v, %v", last, err)
	}
	pipe := c.TxPipeline()
	pipe.Del(ctx, bus.Stream())
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: bus.Stream(), ID: last[0].ID, Values: []any{"msg", "impostor"}})
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("DEL and XADD %s: %v", last[0].ID, err)
	}
	busTestPublish(t, bus, "after")
	busTestExpect(t, r.waitMessage(t, "after"), ErrStreamGap, "before", "LOSS", "after")
}

// TestStreamBusReplacedKey: while the bus's key holds a string, Publish fails and
// the subscriber retries without panicking or reporting anything; once the key is
// a stream again, the subscriber reports the loss and receives what follows.
func TestStreamBusReplacedKey(t *testing.T) {
	t.Parallel()
	c := busTestClient(t, nil)
	bus := busTestStreamBus(t, c, StreamBusOptions{Namespace: busTestNamespace(t, c), Block: 100 * time.Millisecond})
	r := newBusTestRecorder()
	if _, err := bus.Subscribe(busTestCtx(t), r); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	busTestPublish(t, bus, "before")
	r.waitMessage(t, "before")
	ctx := busTestCtx(t)
	if err := c.Set(ctx, bus.Stream(), "not a stream", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if err := bus.Publish(ctx, []byte("refused")); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("Publish to a string key = %v; want WRONGTYPE", err)
	}
	time.Sleep(500 * time.Millisecond) // the subscriber fails and retries meanwhile
	if err := c.Del(ctx, bus.Stream()).Err(); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	busTestPublish(t, bus, "after")
	busTestExpect(t, r.waitMessage(t, "after"), ErrStreamGap, "before", "LOSS", "after")
}

// TestStreamBusMalformedEntries: entries that this package did not write are
// reported as losses, never delivered and never a panic, and delivery goes on.
func TestStreamBusMalformedEntries(t *testing.T) {
	t.Parallel()
	c := busTestClient(t, nil)
	bus := busTestStreamBus(t, c, StreamBusOptions{Namespace: busTestNamespace(t, c)})
	r := newBusTestRecorder()
	if _, err := bus.Subscribe(busTestCtx(t), r); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	ctx := busTestCtx(t)
	add := func(values ...any) {
		t.Helper()
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: bus.Stream(), Values: values}).Err(); err != nil {
			t.Fatalf("XADD %q: %v", values, err)
		}
	}
	busTestPublish(t, bus, "first")
	add("other", "x")                             // another field name
	add("msg", "a", "extra", "b")                 // more fields
	add("\xff\x00junk", []byte{0, 1, 2, 0xfe})    // binary junk
	add("msg", []byte("\xff\xfe binary message")) // a message, whatever its bytes
	add("anchor", "")                             // an anchor: skipped silently
	busTestPublish(t, bus, "last")
	busTestExpect(t, r.waitMessage(t, "last"), ErrMalformedEntry,
		"first", "LOSS", "LOSS", "LOSS", "\xff\xfe binary message", "last")
}

// TestStreamBusSubscribeAnchors: Subscribe on a missing or emptied stream appends
// an anchor, so that its position is an entry it can check; the first message
// after it arrives with no loss.
func TestStreamBusSubscribeAnchors(t *testing.T) {
	t.Parallel()
	c := busTestClient(t, nil)
	ctx := busTestCtx(t)
	bus := busTestStreamBus(t, c, StreamBusOptions{Namespace: busTestNamespace(t, c)})

	r1 := newBusTestRecorder()
	if _, err := bus.Subscribe(ctx, r1); err != nil {
		t.Fatalf("Subscribe to a missing stream: %v", err)
	}
	if n, err := c.XLen(ctx, bus.Stream()).Result(); err != nil || n != 1 {
		t.Fatalf("XLEN after Subscribe to a missing stream = %d, %v; want 1 (the anchor)", n, err)
	}
	busTestPublish(t, bus, "one")
	busTestExpect(t, r1.waitMessage(t, "one"), nil, "one")

	if err := c.XTrimMaxLen(ctx, bus.Stream(), 0).Err(); err != nil {
		t.Fatalf("XTRIM: %v", err)
	}
	r2 := newBusTestRecorder()
	if _, err := bus.Subscribe(ctx, r2); err != nil {
		t.Fatalf("Subscribe to an empty stream: %v", err)
	}
	busTestPublish(t, bus, "two")
	busTestExpect(t, r2.waitMessage(t, "two"), nil, "two")
	// r1 saw its position trimmed away while it was idle: a loss, then "two".
	busTestExpect(t, r1.waitMessage(t, "two"), ErrStreamGap, "one", "LOSS", "two")
}

func TestParseStreamID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want streamID
		ok   bool
	}{
		{"0-0", streamID{0, 0}, true},
		{"1526985054069-0", streamID{1526985054069, 0}, true},
		{"18446744073709551615-18446744073709551615", streamID{1<<64 - 1, 1<<64 - 1}, true},
		{"", streamID{}, false},
		{"5", streamID{}, false},
		{"5-", streamID{}, false},
		{"-5", streamID{}, false},
		{"+5-1", streamID{}, false},
		{"5-1-2", streamID{}, false},
		{"18446744073709551616-0", streamID{}, false},
		{"a-b", streamID{}, false},
		{" 1-2", streamID{}, false},
	} {
		got, err := parseStreamID(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseStreamID(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("parseStreamID(%q).String() = %q", tc.in, got.String())
		}
	}
	ids := []streamID{{0, 0}, {0, 1}, {1, 0}, {1, 5}, {2, 0}}
	for i := range ids {
		for j := range ids {
			if got, want := ids[i].less(ids[j]), i < j; got != want {
				t.Errorf("%v.less(%v) = %v; want %v", ids[i], ids[j], got, want)
			}
			a, b := streamRef{ids[i], uint64(i)}, streamRef{ids[j], uint64(j)}
			if got, want := laterStreamRef(a, b).digest, uint64(max(i, j)); got != want {
				t.Errorf("laterStreamRef(%v, %v) has digest %v; want %v", a, b, got, want)
			}
		}
	}
}

func FuzzParseStreamID(f *testing.F) {
	for _, s := range []string{"0-0", "1526985054069-7", "5", "-", "1-2-3", "99999999999999999999-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseStreamID(s)
		if err != nil {
			return
		}
		back, err := parseStreamID(id.String())
		if err != nil || back != id {
			t.Fatalf("parseStreamID(%q) = %v, whose String %q parses as %v, %v", s, id, id.String(), back, err)
		}
		if id.less(id) {
			t.Fatalf("%v is less than itself", id)
		}
	})
}

func TestDecodeStreamEntry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		values  map[string]any
		payload string
		anchor  bool
		ok      bool
	}{
		{"message", map[string]any{"msg": "hello"}, "hello", false, true},
		{"empty message", map[string]any{"msg": ""}, "", false, true},
		{"anchor", map[string]any{"anchor": ""}, "", true, true},
		{"anchor with a value", map[string]any{"anchor": "x"}, "", true, true},
		{"no field", map[string]any{}, "", false, false},
		{"nil map", nil, "", false, false},
		{"other field", map[string]any{"m": "hello"}, "", false, false},
		{"two fields", map[string]any{"msg": "a", "x": "b"}, "", false, false},
		{"message and anchor", map[string]any{"msg": "a", "anchor": ""}, "", false, false},
		{"not a string", map[string]any{"msg": int64(5)}, "", false, false},
		{"nil value", map[string]any{"msg": nil}, "", false, false},
	} {
		payload, anchor, err := decodeStreamEntry(tc.values)
		if payload != tc.payload || anchor != tc.anchor || (err == nil) != tc.ok {
			t.Errorf("%s: decodeStreamEntry(%v) = %q, %v, %v; want %q, %v, ok %v",
				tc.name, tc.values, payload, anchor, err, tc.payload, tc.anchor, tc.ok)
		}
	}
	many := make(map[string]any)
	for i := range 100 {
		many[strings.Repeat("f", 100)+strconv.Itoa(i)] = "v"
	}
	if _, _, err := decodeStreamEntry(many); err == nil || len(err.Error()) > 600 {
		t.Errorf("decodeStreamEntry of 100 long fields: error %q; want a short one", err)
	}
}

func FuzzDecodeStreamEntry(f *testing.F) {
	f.Add("msg", "hello", "", "")
	f.Add("anchor", "", "", "")
	f.Add("msg", "a", "b", "c")
	f.Add("\xff", "\x00", "msg", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		values := map[string]any{k1: v1}
		if k2 != "" {
			values[k2] = v2
		}
		payload, anchor, err := decodeStreamEntry(maps.Clone(values))
		switch {
		case len(values) == 1 && k1 == streamFieldMsg:
			if err != nil || anchor || payload != v1 {
				t.Fatalf("decodeStreamEntry(%q) = %q, %v, %v; want the message", values, payload, anchor, err)
			}
		case len(values) == 1 && k1 == streamFieldAnchor:
			if err != nil || !anchor {
				t.Fatalf("decodeStreamEntry(%q) = %q, %v, %v; want an anchor", values, payload, anchor, err)
			}
		default:
			if err == nil {
				t.Fatalf("decodeStreamEntry(%q) = %q, %v, nil; want an error", values, payload, anchor)
			}
		}
	})
}
