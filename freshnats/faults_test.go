//go:build unix

package freshnats

// Fault tests against private servers and child processes: the server killed and
// restarted under load, a follower process killed, a follower process stopped
// (SIGSTOP) beyond what the server keeps for it, the multi-process order, and the
// CPU an idle follower burns.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestFaultServerRestart kills the server with SIGKILL while a bus publishes
// continuously, and starts it again on the same port 300 ms later:
//
//   - core: the subscriber reports ErrDisconnected, and never skips a message whose
//     Publish succeeded without a loss report in between;
//   - jetstream-file: the stream survives the restart, and the subscriber loses
//     nothing: every message whose Publish succeeded arrives once, in order, and no
//     loss is reported;
//   - jetstream-memory: the stream does not survive: the subscriber reports
//     ErrStreamGap, and reads the new stream after that.
//
// In every case the bus publishes and delivers again afterwards by itself
// (pitfall P9).
func TestFaultServerRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		js      bool
		storage jetstream.StorageType
		loss    error // nil: no loss allowed
	}{
		{"core", false, 0, ErrDisconnected},
		{"jetstream-file", true, jetstream.FileStorage, nil},
		{"jetstream-memory", true, jetstream.MemoryStorage, ErrStreamGap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := testStartServer(t, tc.js)
			o := Options{Namespace: "restart", JetStream: tc.js, Storage: tc.storage, Logger: testLogger(t), Timeout: time.Second}
			open := func() *Bus {
				b, err := OpenURL(testCtx(t), srv.url(), o)
				if err != nil {
					t.Fatalf("OpenURL: %v", err)
				}
				t.Cleanup(func() { _ = b.Close() })
				return b
			}
			pub, sub := open(), open()
			r := newTestRecorder()
			testSubscribe(t, sub, r)

			var ok sync.Map
			var okCount, errCount int
			stop, done := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
					if err := pub.Publish(ctx, []byte("m"+strconv.Itoa(i))); err == nil {
						ok.Store(i, true)
						okCount++
					} else {
						errCount++
					}
					cancel()
					time.Sleep(500 * time.Microsecond)
				}
			}()
			time.Sleep(300 * time.Millisecond)
			srv.kill()
			killed := time.Now()
			time.Sleep(300 * time.Millisecond)
			srv.start()
			time.Sleep(700 * time.Millisecond)
			close(stop)
			<-done
			events := testPublishUntil(t, pub, r, "after")
			t.Logf("%d publishes succeeded, %d failed; subscriber recovered %v after the kill; %s",
				okCount, errCount, time.Since(killed).Round(time.Millisecond), testSummaryLosses(events))

			published := func(n int) bool { _, found := ok.Load(n); return found }
			testNoSilentGap(t, events, "m", published)
			losses := r.losses()
			if tc.loss == nil {
				if len(losses) > 0 {
					t.Fatalf("losses %v; want none: the stream survived the restart", losses)
				}
				got := map[string]int{}
				for _, e := range events {
					got[string(e.msg)]++
				}
				ok.Range(func(k, _ any) bool {
					if m := "m" + strconv.Itoa(k.(int)); got[m] != 1 {
						t.Errorf("%s was published and arrived %d times; want once", m, got[m])
					}
					return true
				})
				return
			}
			if len(losses) == 0 {
				t.Fatalf("no loss reported across a restart that lost messages; want %v", tc.loss)
			}
			for _, err := range losses {
				if !errors.Is(err, tc.loss) {
					t.Errorf("loss %v; want %v", err, tc.loss)
				}
			}
		})
	}
}

// testSummaryLosses describes the losses among events.
func testSummaryLosses(events []testEvent) string {
	var losses []string
	for _, e := range events {
		if e.loss != nil {
			losses = append(losses, e.loss.Error())
		}
	}
	if len(losses) == 0 {
		return "no loss reported"
	}
	return fmt.Sprintf("%d losses reported: %s", len(losses), strings.Join(losses, "; "))
}

// procMessages returns the "msg" events of a child, and checks that it reported
// no loss.
func procMessages(tb testing.TB, c *procChild, events []procEvent) []string {
	tb.Helper()
	var msgs []string
	for _, e := range events {
		switch e.Type {
		case "loss":
			tb.Errorf("%s reported a loss: %s", c.name, e.Data)
		case "msg":
			msgs = append(msgs, e.Data)
		}
	}
	return msgs
}

// TestFaultKillFollower runs two follower processes, kills one with SIGKILL while
// this process publishes, and checks that the publisher and the other follower do
// not notice: every Publish succeeds, and the survivor receives every message in
// order with no loss.
func TestFaultKillFollower(t *testing.T) {
	t.Parallel()
	for _, mode := range testModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			nc := testModeConn(t, mode.js)
			ns := testNamespace(t, nc)
			pub := testBus(t, nc, Options{Namespace: ns, JetStream: mode.js})
			victim := procStart(t, procConfig{Name: "victim", URL: testURL(), Namespace: ns, JetStream: mode.js})
			survivor := procStart(t, procConfig{Name: "survivor", URL: testURL(), Namespace: ns, JetStream: mode.js})
			victim.waitEvent("ready", "", testWait)
			survivor.waitEvent("ready", "", testWait)

			const total = 400
			for i := range total {
				if i == total/2 {
					victim.waitEvent("msg", "m10", testWait)
					victim.signal(syscall.SIGKILL)
				}
				testPublish(t, pub, "m"+strconv.Itoa(i))
			}
			events := survivor.waitEvent("msg", "m"+strconv.Itoa(total-1), testWait)
			msgs := procMessages(t, survivor, events)
			for i, m := range msgs {
				if m != "m"+strconv.Itoa(i) {
					t.Fatalf("the survivor received %q in position %d; want m%d", m, i, i)
				}
			}
		})
	}
}

// TestFaultPauseFollower stops a follower process (SIGSTOP) while more is published
// than the server keeps for it, and lets it go on (SIGCONT): it must report the
// loss before anything newer (pitfall P9: SIGSTOP beyond the retention window).
//
//   - jetstream: the stream keeps 20 messages (MaxMsgs); 1,000 are published while
//     the follower is stopped. On wake it reports ErrStreamGap.
//   - core: a private server that drops a client whose output backs up beyond 1 MiB
//     for 250 ms (max_pending, write_deadline): 40 MiB are published while the
//     follower is stopped, the server cuts it off as a slow consumer, and on wake it
//     reports ErrDisconnected.
func TestFaultPauseFollower(t *testing.T) {
	t.Parallel()
	for _, mode := range testModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			var srv *testServer
			if mode.js {
				srv = testStartServer(t, true)
			} else {
				conf := filepath.Join(t.TempDir(), "nats.conf")
				if err := os.WriteFile(conf, []byte("max_pending: 1048576\nwrite_deadline: \"250ms\"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				srv = testStartServer(t, false, "-c", conf)
			}
			o := Options{Namespace: "pause", JetStream: mode.js, Logger: testLogger(t)}
			if mode.js {
				o.MaxMsgs = 20
			}
			pub, err := OpenURL(testCtx(t), srv.url(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = pub.Close() })
			f := procStart(t, procConfig{Name: "follower", URL: srv.url(), Namespace: "pause", JetStream: mode.js, MaxMsgs: o.MaxMsgs})
			f.waitEvent("ready", "", testWait)
			testPublish(t, pub, "before")
			f.waitEvent("msg", "before", testWait)

			f.signal(syscall.SIGSTOP)
			n, pad := 1000, ""
			if !mode.js {
				n, pad = 4000, strings.Repeat("x", 10<<10)
			}
			start := time.Now()
			for i := range n {
				testPublish(t, pub, "m"+strconv.Itoa(i)+pad)
			}
			// Let the server notice the stalled client.
			time.Sleep(500 * time.Millisecond)
			t.Logf("published %d messages in %v while the follower was stopped", n, time.Since(start).Round(time.Millisecond))
			f.signal(syscall.SIGCONT)

			// Publish "after" until the follower has it.
			deadline := time.Now().Add(testWait)
			var events []procEvent
			for {
				testPublish(t, pub, "after")
				if evs := f.snapshot(); slices.ContainsFunc(evs, func(e procEvent) bool { return e.Data == "after" }) {
					events = f.waitEvent("msg", "after", testWait)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the follower never received \"after\"\n%s", f.logs())
				}
				time.Sleep(50 * time.Millisecond)
			}
			var recv []testEvent
			var losses []string
			for _, e := range events {
				switch e.Type {
				case "loss":
					recv = append(recv, testEvent{loss: errors.New(e.Data)})
					losses = append(losses, e.Data)
				case "msg":
					recv = append(recv, testEvent{msg: []byte(strings.TrimSuffix(e.Data, pad))})
				}
			}
			testNoSilentGap(t, recv, "m", nil)
			if len(losses) == 0 {
				t.Fatalf("the follower woke up without reporting a loss; received %s", testSummary(recv))
			}
			want := "stream continuity lost"
			if !mode.js {
				want = "connection to the server lost"
			}
			for _, l := range losses {
				if !strings.Contains(l, want) {
					t.Errorf("loss %q; want one about %q", l, want)
				}
			}
			t.Logf("follower: %d messages, %s", len(recv)-len(losses), strings.Join(losses, "; "))
		})
	}
}

// TestMultiProcessOrder has three follower processes publish 200 messages each at
// once while they all receive. In JetStream mode every process receives the same
// 600 messages in the same order. In core mode every process receives every
// message, each publisher's in order; the order of overlapping publishes from
// different processes may differ between processes (see the package
// documentation), and the test reports how often it did.
func TestMultiProcessOrder(t *testing.T) {
	t.Parallel()
	for _, mode := range testModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			nc := testModeConn(t, mode.js)
			ns := testNamespace(t, nc)
			const procs, each = 3, 200
			var cs []*procChild
			for i := range procs {
				c := procStart(t, procConfig{Name: "p" + strconv.Itoa(i), URL: testURL(), Namespace: ns, JetStream: mode.js})
				cs = append(cs, c)
			}
			for _, c := range cs {
				c.waitEvent("ready", "", testWait)
			}
			for _, c := range cs {
				c.send("publish " + strconv.Itoa(each))
			}
			var seqs [][]string
			for _, c := range cs {
				events := c.waitFor(fmt.Sprintf("%d messages", procs*each), testWait, func(events []procEvent) bool {
					n := 0
					for _, e := range events {
						if e.Type == "msg" {
							n++
						}
					}
					return n >= procs*each
				})
				msgs := procMessages(t, c, events)
				next := map[string]int{}
				for _, m := range msgs {
					name, num, _ := strings.Cut(m, "-")
					if num != strconv.Itoa(next[name]) {
						t.Fatalf("%s received %s; want %s-%d next", c.name, m, name, next[name])
					}
					next[name]++
				}
				seqs = append(seqs, msgs)
			}
			differ := 0
			for i := 1; i < procs; i++ {
				for k := range seqs[0] {
					if seqs[i][k] != seqs[0][k] {
						differ++
						if mode.js {
							t.Fatalf("%s received %s in position %d, where %s received %s: JetStream mode promises one order",
								cs[i].name, seqs[i][k], k, cs[0].name, seqs[0][k])
						}
					}
				}
			}
			t.Logf("%d of %d positions differed between processes", differ, (procs-1)*procs*each)
		})
	}
}

// TestIdleFollowerCPU measures the CPU time a follower process burns over 5 s while
// subscribed and idle, in each mode, and asserts that it is small: under 2% of one
// core, a generous bound for what should be a few wake-ups (JetStream mode's pull
// heartbeats come once a second).
func TestIdleFollowerCPU(t *testing.T) {
	t.Parallel()
	const idle = 5 * time.Second
	for _, mode := range testModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			nc := testModeConn(t, mode.js)
			ns := testNamespace(t, nc)
			c := procStart(t, procConfig{Name: "idle", URL: testURL(), Namespace: ns, JetStream: mode.js, Quiet: true})
			ready := c.waitEvent("ready", "", testWait)
			pid, _ := strconv.Atoi(ready[len(ready)-1].Data)
			time.Sleep(200 * time.Millisecond) // let start-up work settle
			before := procCPUTime(t, pid)
			time.Sleep(idle)
			used := procCPUTime(t, pid) - before
			share := float64(used) / float64(idle) * 100
			t.Logf("idle follower (%s): %v of CPU in %v = %.3f%% of one core", mode.name, used, idle, share)
			if share >= 2 {
				t.Errorf("an idle follower used %.2f%% of a core; want under 2%%", share)
			}
			for _, e := range c.snapshot() {
				if e.Type == "loss" {
					t.Errorf("the idle follower reported a loss: %s", e.Data)
				}
			}
		})
	}
}
