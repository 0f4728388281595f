//go:build unix

package freshredis

// Fault tests: the coherence run of coherence_test.go (one writer, three readers,
// every read checked against the G1 bound) with a fault injected in the middle.
// Each test asserts that no read fell outside the bound, that the fault showed in
// the hubs' statistics or logs, and that the run recovered by itself. Reads outside
// the bound that a documented limitation explains (procLimitRestoredSnapshot) are
// logged, and fail only under -freshredis.strict. The tests at the end of the file
// reproduce, deterministically, two bugs these tests found and that were fixed:
// an invalidation that skipped the store while the writer's store link was down
// (now the peers are told, KindStoreMissed), and hits that did not check the
// heartbeat proof after a pause (now every hit does).

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/redis/go-redis/v9"
)

// procFaultDuration is the length of a fault test's run.
func procFaultDuration() time.Duration { return procDuration(3500*time.Millisecond, 15*time.Second) }

// TestFaultRedisKill9Restart kills the private server of the Store and the Bus
// with SIGKILL in the middle of the run and starts it again on the same port:
//
//   - volatile: no persistence, restarted 300ms later. The namespace's state is
//     gone: every hub must see a new store epoch and a bus gap. (go-redis retries
//     a failed dial for 500ms by default, so an outage this short may not even take
//     a store out of use.)
//   - snapshot: SAVE 400ms before the kill, restarted 300ms later from the
//     snapshot, with entries and tombstones that lack the invalidations made after
//     it. The Store's monitor must see the new run_id and move the epoch.
//   - snapshot-long: the same with a 1.5s outage, longer than StoreTimeout and
//     MaxStaleness: the hubs must take the store out of use (the writer's
//     invalidations miss it, so it is flushed when it answers again) and the
//     readers must stop serving from memory until their heartbeats come back.
//
// In every case no read may fall outside the bound, and the caches serve from
// memory again afterwards, by themselves. Two known causes of reads outside the
// bound are logged rather than failed (see the top of the file): in the snapshot
// variants, entries restored from the snapshot and read before the monitor moved
// the epoch (procLimitRestoredSnapshot); in snapshot-long, invalidations that
// skipped the writer's store while it was out of use (procBugStoreBypass).
func TestFaultRedisKill9Restart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		persist bool
		outage  time.Duration
	}{
		{"volatile", false, 300 * time.Millisecond},
		{"snapshot", true, 300 * time.Millisecond},
		{"snapshot-long", true, 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.persist {
				args = []string{"--dbfilename", "fresh-proc.rdb"}
			}
			srv := procStartServer(t, args...)
			admin := srv.client()
			var killed, restarted time.Time
			r := procRunCoherence(t, procCoherence{
				Prefix:   "kill9",
				CacheURL: srv.url(),
				Duration: procFaultDuration() + tc.outage,
				Fault: func(r *procRun) {
					if tc.persist {
						r.sleepUntil(800 * time.Millisecond)
						if err := admin.Save(context.Background()).Err(); err != nil {
							t.Fatalf("SAVE: %v", err)
						}
						r.mark("SAVE")
					}
					r.sleepUntil(1200 * time.Millisecond)
					srv.kill()
					killed = r.mark("kill -9")
					time.Sleep(tc.outage)
					srv.start()
					restarted = r.mark("restarted")
				},
				Known: func(r *procRun, v procViolation) string {
					if !tc.persist {
						return ""
					}
					return procRestoredWindow(r, killed, v)
				},
			})
			r.timeline()
			down, suspended := false, 0
			for _, rep := range r.Reports {
				down = down || rep.SawStoreDown
				if rep.SawSuspended {
					suspended++
				}
				if rep.Hub.StoreEpochChanges == 0 {
					t.Errorf("%s saw no new store epoch after the restart (hub stats %+v)", rep.Name, rep.Hub)
				}
				if rep.Hub.Gaps == 0 {
					t.Errorf("%s saw no bus gap after the restart (hub stats %+v)", rep.Name, rep.Hub)
				}
			}
			w := r.Reports[0]
			t.Logf("store taken out of use: %v; hubs suspended: %d of %d; writer: %d writes, %d Invalidate errors %s",
				down, suspended, len(r.Reports), w.Writes, w.InvErrors, w.FirstInvEr)
			if tc.outage > procMaxStaleness {
				if !down {
					t.Errorf("no hub took its store out of use during a %v outage", tc.outage)
				}
				if suspended < len(r.Reports) {
					t.Errorf("%d of %d hubs stopped serving during a %v outage; want all", suspended, len(r.Reports), tc.outage)
				}
			}
			if tc.persist {
				seen := false
				for _, c := range r.Children {
					seen = seen || strings.Contains(c.stderr.String(), "run_id changed")
				}
				if !seen {
					t.Errorf("no Store logged that the run_id changed after the restart from a snapshot")
				}
			}
			r.recovered(restarted)
		})
	}
}

// procRestoredWindow explains a read outside the bound after a restart from a
// snapshot by procLimitRestoredSnapshot when it began between the kill and the
// moment its process saw the new store epoch (its hub's log line, to the
// millisecond, is at or after that moment), and returns "" otherwise.
func procRestoredWindow(r *procRun, killed time.Time, v procViolation) string {
	for _, c := range r.Children {
		if c.cfg.Name != v.Proc {
			continue
		}
		saw, ok := procFirstLog(c, "fresh: the shared store started a new epoch", killed)
		if ok && v.T0 >= killed.UnixNano() && v.T0 <= saw.Add(time.Millisecond).UnixNano() {
			return procLimitRestoredSnapshot
		}
	}
	return ""
}

// procFirstLog returns the time of the earliest line of c's log, at or after
// after, that contains msg.
func procFirstLog(c *procChild, msg string, after time.Time) (time.Time, bool) {
	var first time.Time
	for line := range strings.Lines(c.stderr.String()) {
		if !strings.Contains(line, msg) || !strings.HasPrefix(line, "time=") {
			continue
		}
		stamp, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, stamp)
		if err == nil && !at.Before(after.Truncate(time.Millisecond)) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first, !first.IsZero()
}

// TestFaultClientKillSubscriber kills the connections of the bus subscriptions
// twice during the run: with a StreamBus, the connections whose last command was
// XREAD (CLIENT LIST, CLIENT KILL ID); with a PubSubBus, CLIENT KILL TYPE pubsub.
// A StreamBus subscription reads on from its position, losing nothing; a PubSubBus
// one must report the loss (a gap in every hub). No read may fall outside the
// bound, and the hubs keep serving.
func TestFaultClientKillSubscriber(t *testing.T) {
	for _, bus := range []string{"stream", "pubsub"} {
		t.Run(bus, func(t *testing.T) {
			srv := procStartServer(t)
			admin := srv.client()
			killed := 0
			var last time.Time
			r := procRunCoherence(t, procCoherence{
				Prefix:   "ckill",
				CacheURL: srv.url(),
				Bus:      bus,
				Duration: procDuration(3*time.Second, 15*time.Second),
				Fault: func(r *procRun) {
					for _, at := range []time.Duration{800 * time.Millisecond, 1500 * time.Millisecond} {
						r.sleepUntil(at)
						var n int
						if bus == "pubsub" {
							k, err := admin.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Result()
							if err != nil {
								t.Fatalf("CLIENT KILL TYPE pubsub: %v", err)
							}
							n = int(k)
						} else {
							n = procKillClients(t, admin, func(f map[string]string) bool { return f["cmd"] == "xread" })
						}
						killed += n
						last = r.mark("killed " + strconv.Itoa(n) + " subscriber connections")
					}
				},
			})
			r.timeline()
			if killed == 0 {
				t.Fatalf("no subscriber connection was found to kill")
			}
			for _, rep := range r.Reports {
				switch {
				case bus == "pubsub" && rep.Hub.Gaps == 0:
					t.Errorf("%s: no bus gap reported after its Pub/Sub connection was killed (hub stats %+v)", rep.Name, rep.Hub)
				case bus == "stream" && rep.Hub.Gaps > 0:
					t.Logf("%s: %d bus gaps after its stream connections were killed (a stream subscription should read on without a loss)", rep.Name, rep.Hub.Gaps)
				}
			}
			r.recovered(last)
		})
	}
}

// procKillClients kills, through admin, every connection whose CLIENT LIST fields
// match, and returns how many it killed.
func procKillClients(tb testing.TB, admin *redis.Client, match func(fields map[string]string) bool) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		tb.Fatalf("CLIENT LIST: %v", err)
	}
	killed := 0
	for line := range strings.Lines(list) {
		fields := make(map[string]string)
		for f := range strings.FieldsSeq(line) {
			k, v, _ := strings.Cut(f, "=")
			fields[k] = v
		}
		if fields["id"] == "" || !match(fields) {
			continue
		}
		n, err := admin.ClientKillByFilter(ctx, "ID", fields["id"]).Result()
		if err != nil {
			tb.Fatalf("CLIENT KILL ID %s: %v", fields["id"], err)
		}
		killed += int(n)
	}
	return killed
}

// TestFaultSIGSTOPReader stops a reader process (SIGSTOP) for 1.5s, three times
// MaxStaleness, while the writer publishes fast on a stream bounded to about 50
// entries, so that the stream is trimmed past the reader's position; then it lets
// it go on (SIGCONT). The reader must report the loss (a gap: HandleLoss flushed
// its hub), must have stopped serving from memory (its heartbeats stopped coming
// back), and no read of it may fall outside the bound, its first reads after
// SIGCONT included.
//
// The reads in flight when the process stopped straddle the pause: each is judged
// at the time it began (t0 is taken before the read), which is the G1 definition:
// a read that began at t0 must not return a value whose superseding invalidation
// returned before t0 - MaxStaleness. A value the reader had when it stopped may
// therefore be returned to a read that began before the stop; a read that begins
// after SIGCONT must not be served it.
func TestFaultSIGSTOPReader(t *testing.T) {
	var woke time.Time
	r := procRunCoherence(t, procCoherence{
		Prefix:   "stop",
		MaxLen:   50,
		Duration: procDuration(4*time.Second, 15*time.Second),
		Fault: func(r *procRun) {
			c := r.Children[1]
			r.sleepUntil(time.Second)
			c.signal(syscall.SIGSTOP)
			r.mark("SIGSTOP " + c.cfg.Name)
			time.Sleep(1500 * time.Millisecond)
			c.signal(syscall.SIGCONT)
			woke = r.mark("SIGCONT " + c.cfg.Name)
		},
		Known: func(r *procRun, v procViolation) string {
			// A read of the stopped reader that began after SIGCONT and before its
			// hub logged its suspension (to the millisecond, at or after it).
			c := r.Children[1]
			suspended, ok := procFirstLog(c, "no heartbeat back from the bus; serving nothing", woke.Add(-time.Millisecond))
			// Fixed (every hit checks the heartbeat proof): such reads now fail.
			_, _ = suspended, ok
			return ""
		},
	})
	r.timeline()
	rep := r.Reports[1]
	t.Logf("%s: hub stats %+v", rep.Name, rep.Hub)
	if rep.Hub.Gaps == 0 {
		t.Errorf("%s reported no bus gap after a pause longer than the stream keeps", rep.Name)
	}
	r.recovered(woke)
}

// TestFaultFlushAll runs FLUSHALL on the private server of the Store and the Bus in
// the middle of the run. Every hub must see the store's new epoch and a bus gap (the
// stream is gone), no read may fall outside the bound, and the caches recover.
func TestFaultFlushAll(t *testing.T) {
	srv := procStartServer(t)
	admin := srv.client()
	var flushed time.Time
	r := procRunCoherence(t, procCoherence{
		Prefix:   "flushall",
		CacheURL: srv.url(),
		Duration: procDuration(3*time.Second, 15*time.Second),
		Fault: func(r *procRun) {
			r.sleepUntil(1200 * time.Millisecond)
			if err := admin.FlushAll(context.Background()).Err(); err != nil {
				t.Fatalf("FLUSHALL: %v", err)
			}
			flushed = r.mark("FLUSHALL")
		},
	})
	r.timeline()
	for _, rep := range r.Reports {
		if rep.Hub.StoreEpochChanges == 0 {
			t.Errorf("%s saw no new store epoch after FLUSHALL (hub stats %+v)", rep.Name, rep.Hub)
		}
		if rep.Hub.Gaps == 0 {
			t.Errorf("%s saw no bus gap after FLUSHALL (hub stats %+v)", rep.Name, rep.Hub)
		}
	}
	r.recovered(flushed)
}

// TestCrashBetweenCommitAndInvalidate is pitfall P8: a writer process commits a new
// version and is killed (SIGKILL) before it calls Invalidate. Nothing tells the
// other processes, so they serve the old version until its TTL runs out (the
// documented cost: without an invalidation, a value lives until its TTL). The
// readers read one item with fresh.TTL(1s); the crash writer first makes a normal
// write, waits 150ms for the readers to load that version (with a fresh TTL), then
// commits again and hangs until the parent kills it. The staleness observed, from
// just before the lost commit to the last read that returned an older version, must
// be at most the TTL plus a small slack, and every reader's last read must return
// the committed version.
func TestCrashBetweenCommitAndInvalidate(t *testing.T) {
	const (
		ttl   = time.Second
		slack = 250 * time.Millisecond
	)
	var committed procCommitted
	r := procRunCoherence(t, procCoherence{
		Prefix:   "crash",
		Items:    1,
		TTL:      ttl,
		Duration: 3200 * time.Millisecond,
		Tune: func(cfg *procConfig) {
			cfg.Nested = false
			if cfg.Index == 0 {
				cfg.Role, cfg.Name = procRoleCrashWriter, "crashwriter"
			}
		},
		Fault: func(r *procRun) {
			w := r.Children[0]
			committed = procDecode[procCommitted](t, w.next("committed", time.Minute))
			r.kill(w)
			r.mark("committed version " + strconv.FormatInt(committed.Version, 10) + " and SIGKILL")
		},
	})
	var last int64
	var stale int64
	for _, rep := range r.readers() {
		last = max(last, rep.LastStaleUninvT0)
		stale += rep.StaleUninv
		if got := rep.Last[committed.Item]; got != committed.Version {
			t.Errorf("%s: the last read of item %d returned version %d; want %d (the TTL ran out)", rep.Name, committed.Item, got, committed.Version)
		}
	}
	if stale == 0 || last < committed.Before {
		t.Fatalf("no read returned the version before the lost commit: the documented cost was not observed")
	}
	staleness := time.Duration(last - committed.Before)
	t.Logf("the old version was served for %v after the commit whose invalidation was lost (%d reads); TTL %v", staleness.Round(time.Millisecond), stale, ttl)
	if staleness > ttl+slack {
		t.Errorf("the old version was served %v after the commit; want at most the TTL %v + %v", staleness, ttl, slack)
	}
}

// procCommitted is the crash writer's report of its last commit.
type procCommitted struct {
	Item    int   `json:"item"`
	Version int64 `json:"version"`
	Before  int64 `json:"before"` // unix ns taken just before the HINCRBY
}

// crashWriter makes one normal write of item 0, waits for the readers to cache the
// new version, commits once more and then hangs, reporting the commit, until the
// parent kills it: the invalidation of the last commit never happens.
func (n *procNode) crashWriter(ctx context.Context) error {
	n.out.emit("ready", nil)
	start, err := n.await(ctx, "start")
	if err != nil {
		return err
	}
	time.Sleep(time.Until(start.Add(700 * time.Millisecond)))
	v, err := n.src.HIncrBy(ctx, procSrcKey(n.cfg.Namespace), "0", 1).Result()
	if err != nil {
		return err
	}
	ierr := n.items.Invalidate(ctx, fresh.Entity("items", 0))
	returned := time.Now().UnixNano()
	if err := n.src.HSet(ctx, procInvKey(n.cfg.Namespace), procInvField(0, v), returned).Err(); err != nil {
		return err
	}
	if ierr != nil {
		return ierr
	}
	time.Sleep(150 * time.Millisecond) // the readers load the new version, with a fresh TTL
	before := time.Now().UnixNano()
	v, err = n.src.HIncrBy(ctx, procSrcKey(n.cfg.Namespace), "0", 1).Result()
	if err != nil {
		return err
	}
	n.out.emit("committed", procCommitted{Item: 0, Version: v, Before: before})
	time.Sleep(time.Until(time.Unix(0, n.cfg.Deadline)))
	return errors.New("the crash writer was not killed")
}

// procWaitFor polls cond every millisecond until it holds, failing the test after
// 5s.
func procWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// procKnownBug fails the test: it reproduced a bug that was found by these tests and
// fixed (the store bypass, and hits not checking the heartbeat proof).
func procKnownBug(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Errorf("regression of a fixed bug: "+format, args...)
}

// procBlipStore is a Store whose calls all fail while fail is set: a blip of one
// process's connection to the shared store.
type procBlipStore struct {
	*Store
	fail atomic.Bool
}

var errProcBlip = errors.New("injected failure of the shared store")

func (s *procBlipStore) Position(ctx context.Context) (fresh.Position, error) {
	if s.fail.Load() {
		return fresh.Position{}, errProcBlip
	}
	return s.Store.Position(ctx)
}

func (s *procBlipStore) Get(ctx context.Context, key string) (fresh.StoreEntry, bool, error) {
	if s.fail.Load() {
		return fresh.StoreEntry{}, false, errProcBlip
	}
	return s.Store.Get(ctx, key)
}

func (s *procBlipStore) Fill(ctx context.Context, key string, value []byte, deps []string, at fresh.Position, ttl time.Duration) (bool, error) {
	if s.fail.Load() {
		return false, errProcBlip
	}
	return s.Store.Fill(ctx, key, value, deps, at, ttl)
}

func (s *procBlipStore) Invalidate(ctx context.Context, deps []string) (fresh.Position, error) {
	if s.fail.Load() {
		return fresh.Position{}, errProcBlip
	}
	return s.Store.Invalidate(ctx, deps)
}

func (s *procBlipStore) Delete(ctx context.Context, keys ...string) (fresh.Position, error) {
	if s.fail.Load() {
		return fresh.Position{}, errProcBlip
	}
	return s.Store.Delete(ctx, keys...)
}

func (s *procBlipStore) Flush(ctx context.Context) (fresh.Position, error) {
	if s.fail.Load() {
		return fresh.Position{}, errProcBlip
	}
	return s.Store.Flush(ctx)
}

// TestFaultStoreBlipStaleRefill is the deterministic reproduction of
// procBugStoreBypass, with two hubs standing for two processes (each with its own
// Store and StreamBus on one namespace of the shared server). The reader caches
// version 1 of item 0, in its L1 and in the store. One call of the writer's store
// fails (a blip: the store is fine again at once), which takes the writer's store
// out of use until its probe, a second later, flushes it. Then the writer commits
// version 2 and calls Invalidate(Entity("items", 0)), which returns nil; the reader
// applies the bus message. A read in the reader must now return version 2 (G0: the
// reader applied the invalidation; G1; doc.go: "a process that hears of a write and
// misses cannot refill itself from a store entry the write killed"). With the bug,
// the writer's Invalidate skipped the store, and the reader, missing in L1, is
// served version 1 from the store.
func TestFaultStoreBlipStaleRefill(t *testing.T) {
	_, shared := procShared(t)
	ns := "blip-" + procRandomHex(6)
	procCleanKeys(t, shared, ns)
	ctx := t.Context()
	open := func(name string) (*fresh.Hub, *fresh.Cache[int, int64], *procBlipStore) {
		log := slog.New(slog.NewTextHandler(procTestLog{t}, nil)).With("hub", name)
		s, err := NewStore(shared, StoreOptions{Namespace: ns, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		bus, err := NewStreamBus(shared, StreamBusOptions{Namespace: ns, Block: 100 * time.Millisecond, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bus.Close() })
		bs := &procBlipStore{Store: s}
		hub, err := fresh.NewHub(fresh.HubOptions{Store: bs, Bus: bus, MaxStaleness: procMaxStaleness, Heartbeat: procHeartbeat, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { hub.Close(context.Background()) })
		items, err := fresh.New(fresh.Options[int, int64]{Hub: hub, Name: "items"})
		if err != nil {
			t.Fatal(err)
		}
		return hub, items, bs
	}
	writer, wItems, wStore := open("writer")
	reader, rItems, _ := open("reader")
	var version atomic.Int64
	version.Store(1)
	load := func(ctx context.Context, id int) (int64, error) {
		fresh.Depend(ctx, fresh.Entity("items", id))
		return version.Load(), nil
	}
	if got, err := rItems.GetOrLoad(ctx, 0, load); err != nil || got != 1 {
		t.Fatalf("first read: %d, %v; want 1", got, err)
	}
	procWaitFor(t, "the reader's fill of the store", func() bool { return rItems.Stats().StoreFills == 1 })

	blip := time.Now()
	wStore.fail.Store(true)
	wItems.Invalidate(ctx, fresh.Entity("items", 1)) // misses the store: dirty
	wStore.fail.Store(false)
	if !writer.Stats().StoreDown {
		t.Fatalf("a failed store invalidation did not take the writer's store out of use")
	}

	version.Store(2) // the commit
	if err := wItems.Invalidate(ctx, fresh.Entity("items", 0)); err != nil {
		t.Fatalf("Invalidate: %v", err)
	}
	// Both invalidations, each after the notice that it missed the store.
	procWaitFor(t, "the reader's receipt of the writer's messages", func() bool { return reader.Stats().Received >= writer.Stats().Published })
	got, err := rItems.GetOrLoad(ctx, 0, load)
	elapsed := time.Since(blip)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("writer %+v; reader %+v; reader's items %+v", writer.Stats(), reader.Stats(), rItems.Stats())
	if got == 2 {
		return
	}
	// How long does it last? The writer's probe flushes the store within a
	// second; the reader's L1 entry, filled from the store, is flushed only when
	// the reader next meets the store's new epoch, which a reader that only hits
	// never does.
	procWaitFor(t, "the writer's probe", func() bool { return !writer.Stats().StoreDown })
	time.Sleep(procMaxStaleness)
	later, err := rItems.GetOrLoad(ctx, 0, load)
	if err != nil {
		t.Fatal(err)
	}
	procKnownBug(t, "the reader read version %d of item 0 %v after the blip, after the writer's Invalidate returned nil and the reader applied it; want version 2 (the writer's store was out of use, so its Invalidate skipped the store, and the reader refilled from the store entry it should have killed). %v after the blip, with the store flushed by the writer's probe, the reader still reads version %d (from its L1)",
		got, elapsed.Round(time.Millisecond), time.Since(blip).Round(time.Millisecond), later)
}

// procSpin is the spinner's report: the reads it made right after a pause.
type procSpin struct {
	Version   int64 `json:"version"`    // the version it had cached
	Wake      int64 `json:"wake"`       // unix ns of the first read after the pause
	Pause     int64 `json:"pause"`      // how long the pause it saw lasted (ns)
	Reads     int   `json:"reads"`      // reads in the 100ms after the pause
	Stale     int   `json:"stale"`      // of which served the cached version
	LastStale int64 `json:"last_stale"` // unix ns at which the last of those began
	Refused   int64 `json:"refused"`    // unix ns at which the earliest read that found nothing servable began
}

// spinner caches item 0, then reads it with Get in a tight loop on every P, so
// that, as in a busy server, no P is idle to run the hub's timers at once. When a
// goroutine sees two of its reads more than 200ms apart, the process was paused:
// the reads of the next 100ms, each judged at the time it began, after the pause,
// are recorded and reported.
func (n *procNode) spinner(ctx context.Context) error {
	v, err := n.items.GetOrLoad(ctx, 0, n.loadItem)
	if err != nil {
		return err
	}
	n.out.emit("ready", nil)
	var (
		wake, pause, lastStale, refused atomic.Int64
		reads, stale                    atomic.Int64
	)
	deadline := time.Unix(0, n.cfg.Deadline).Add(-time.Second)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			prev := time.Now()
			for {
				t0 := time.Now()
				if t0.Sub(prev) > 200*time.Millisecond && wake.CompareAndSwap(0, t0.UnixNano()) {
					pause.Store(int64(t0.Sub(prev)))
				}
				got, ok := n.items.Get(0)
				if w := wake.Load(); w != 0 && t0.UnixNano() >= w {
					reads.Add(1)
					switch {
					case ok && got == v:
						stale.Add(1)
						procMaxStoreInt(&lastStale, t0.UnixNano())
					case !ok:
						procMinStoreInt(&refused, t0.UnixNano())
					}
					if t0.Sub(time.Unix(0, w)) > 100*time.Millisecond {
						return
					}
				}
				if t0.After(deadline) {
					return
				}
				prev = t0
			}
		})
	}
	wg.Wait()
	if wake.Load() == 0 {
		return errors.New("the spinner saw no pause")
	}
	n.out.emit("report", procSpin{
		Version: v, Wake: wake.Load(), Pause: pause.Load(), Reads: int(reads.Load()), Stale: int(stale.Load()),
		LastStale: lastStale.Load(), Refused: refused.Load(),
	})
	return nil
}

// TestFaultPausedProcessServesStale is the reproduction of procBugPausedWatchdog.
// A child process caches item 0 and reads it in a tight loop. The test stops it
// (SIGSTOP), commits a new version and invalidates it through a hub of its own on
// the same namespace, waits twice MaxStaleness, and lets the child go on
// (SIGCONT). Every read that begins after the pause began more than MaxStaleness
// after the Invalidate returned: G1 says none may be served the old version. The
// child's hub cannot have applied the invalidation while it was stopped; its last
// heartbeat came back more than MaxStaleness ago, so it must serve nothing until
// it has caught up. With the bug, the reads that win the race against the hub's
// watchdog after SIGCONT are served the old version.
func TestFaultPausedProcessServesStale(t *testing.T) {
	srcURL, shared := procShared(t)
	ns := "pause-" + procRandomHex(6)
	procCleanKeys(t, shared, ns)
	ctx := t.Context()
	if err := shared.HSet(ctx, procSrcKey(ns), "0", 1).Err(); err != nil {
		t.Fatal(err)
	}
	child := procStart(t, procConfig{
		Role: procRoleSpinner, Name: "spinner", SrcURL: srcURL, CacheURL: srcURL, Namespace: ns, Items: 1,
		MaxStaleness: procMaxStaleness, Heartbeat: procHeartbeat, Block: 100 * time.Millisecond,
		CheckInterval: 100 * time.Millisecond, Duration: 10 * time.Second,
	})
	child.next("ready", time.Minute)

	log := slog.New(slog.NewTextHandler(procTestLog{t}, nil))
	store, err := NewStore(shared, StoreOptions{Namespace: ns, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	bus, err := NewStreamBus(shared, StreamBusOptions{Namespace: ns, Block: 100 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	hub, err := fresh.NewHub(fresh.HubOptions{Store: store, Bus: bus, MaxStaleness: procMaxStaleness, Heartbeat: procHeartbeat, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close(context.Background()) })

	time.Sleep(200 * time.Millisecond)
	child.signal(syscall.SIGSTOP)
	if err := shared.HIncrBy(ctx, procSrcKey(ns), "0", 1).Err(); err != nil {
		t.Fatal(err)
	}
	if err := hub.Invalidate(ctx, fresh.Entity("items", 0)); err != nil {
		t.Fatal(err)
	}
	invalidated := time.Now()
	time.Sleep(2 * procMaxStaleness)
	child.signal(syscall.SIGCONT)
	rep := procDecode[procSpin](t, child.next("report", time.Minute))
	child.wait(30 * time.Second)
	if rep.Wake == 0 || rep.Wake < invalidated.Add(procMaxStaleness).UnixNano() {
		t.Fatalf("the spinner's first read after the pause began at %v, not more than %v after the Invalidate returned (at %v)",
			time.Unix(0, rep.Wake), procMaxStaleness, invalidated)
	}
	t.Logf("after a pause of %v: %d reads in 100ms, %d served version %d; the first read refused %v after the pause",
		time.Duration(rep.Pause).Round(time.Millisecond), rep.Reads, rep.Stale, rep.Version, time.Duration(rep.Refused-rep.Wake))
	if rep.Stale > 0 {
		procKnownBug(t, "%d reads that began after the process resumed, %v to %v after the Invalidate of version %d returned, were served version %d from memory; want none (G1, bound %v)",
			rep.Stale, time.Duration(rep.Wake-invalidated.UnixNano()).Round(time.Millisecond),
			time.Duration(rep.LastStale-invalidated.UnixNano()).Round(time.Millisecond), rep.Version+1, rep.Version, procMaxStaleness)
	}
}
