package freshredis

import (
	"strings"
	"testing"
	"time"
)

// TestMonitorRestartWithoutPersistence restarts a private server that keeps
// nothing: the namespace's state is gone, and the epoch must move.
func TestMonitorRestartWithoutPersistence(t *testing.T) {
	srv := storeTestStartServer(t)
	testMonitorRestart(t, srv, false)
}

// TestMonitorRestartWithPersistence saves a snapshot, changes the state after it,
// kills the server (no shutdown save) and restarts it, so that the snapshot's meta,
// tombstones and entries come back without the later tombstones. The monitor must
// see the new run_id and start a new epoch.
func TestMonitorRestartWithPersistence(t *testing.T) {
	srv := storeTestStartServer(t, "--dbfilename", "fresh-test.rdb")
	testMonitorRestart(t, srv, true)
}

func testMonitorRestart(t *testing.T, srv *storeTestServer, persist bool) {
	client := srv.Client()
	log, buf := storeTestLogger()
	epochs := make(chan [2]uint64, 10)
	s := storeTestNew(t, client, StoreOptions{
		CheckInterval: 50 * time.Millisecond,
		Logger:        log,
		OnEpochChange: func(prev, next uint64) { epochs <- [2]uint64{prev, next} },
	})
	ctx := t.Context()
	at := storeTestPosition(t, s)
	storeTestFill(t, s, "k", "v", []string{"d"}, at, true)
	runID := func() string {
		info, err := client.InfoMap(ctx, "server").Result()
		if err != nil {
			t.Fatal(err)
		}
		return info["Server"]["run_id"]
	}
	before := runID()
	if persist {
		if err := client.Save(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// After the snapshot: an invalidation the snapshot lacks.
	storeTestInvalidate(t, s, "d")
	storeTestMiss(t, s, "k")

	srv.Restart()
	after := runID()
	if after == before {
		t.Fatalf("run_id %s unchanged by a restart", after)
	}
	if persist {
		// The snapshot restored the entry that the lost invalidation had killed
		// (the monitor does not touch entries), and the meta with the old epoch
		// and run_id, which the log checked below shows.
		if n := client.Exists(ctx, s.keys.entry("k")).Val(); n != 1 {
			t.Fatalf("the snapshot did not restore the entry")
		}
	}
	var change [2]uint64
	select {
	case change = <-epochs:
	case <-time.After(10 * time.Second):
		t.Fatalf("the monitor did not move the epoch within 10s of the restart\nlog:\n%s\nserver:\n%s", buf, srv.Output())
	}
	if change[0] != at.Epoch || change[1] <= at.Epoch {
		t.Errorf("OnEpochChange(%d, %d); want (%d, a greater epoch)", change[0], change[1], at.Epoch)
	}
	now := storeTestPosition(t, s)
	if now.Epoch == at.Epoch {
		t.Fatalf("epoch %d unchanged after the restart", now.Epoch)
	}
	storeTestMiss(t, s, "k")
	storeTestFill(t, s, "k", "stale", []string{"d"}, at, false)
	storeTestFill(t, s, "k", "fresh", []string{"d"}, now, true)
	storeTestGet(t, s, "k", "fresh")
	if meta := client.HGetAll(ctx, s.keys.meta).Val(); meta["runid"] != after {
		t.Errorf("meta after the new epoch: %v; want run_id %s", meta, after)
	}
	if got := s.Stats().EpochChanges; got != 1 {
		t.Errorf("Stats().EpochChanges = %d; want 1", got)
	}
	// One new epoch, however many checks follow.
	time.Sleep(300 * time.Millisecond)
	if p := storeTestPosition(t, s); p.Epoch != now.Epoch {
		t.Errorf("epoch moved again, to %d, without a restart", p.Epoch)
	}
	// With a snapshot, the meta came back and the run_id check moved the epoch;
	// without one, the meta was missing and the first script started a new epoch.
	var bumps, resets int
	for line := range strings.Lines(buf.String()) {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "run_id changed") {
			bumps++
		}
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "missing or unreadable") {
			resets++
		}
	}
	if persist && (bumps != 1 || resets != 0) || !persist && (bumps != 0 || resets != 1) {
		t.Errorf("%d run_id warnings and %d lost-state warnings logged; want %d and %d:\n%s",
			bumps, resets, map[bool]int{true: 1}[persist], map[bool]int{false: 1}[persist], buf)
	}
}

// TestMonitorSurvivesOutage stops the server for a while: the monitor logs once,
// counts its failures, and recovers.
func TestMonitorSurvivesOutage(t *testing.T) {
	srv := storeTestStartServer(t)
	log, buf := storeTestLogger()
	s := storeTestNew(t, srv.Client(), StoreOptions{CheckInterval: 20 * time.Millisecond, Logger: log})
	srv.Kill()
	storeTestWait(t, 10*time.Second, "monitor failures", func() bool { return s.Stats().Errors >= 3 })
	srv.Start()
	storeTestWait(t, 10*time.Second, "the monitor to recover", func() bool {
		return strings.Contains(buf.String(), "checks succeed again")
	})
	if n := strings.Count(buf.String(), "check failed"); n != 1 {
		t.Errorf("%d failure warnings logged; want 1:\n%s", n, buf)
	}
	storeTestPosition(t, s)
}

// TestMaxmemoryPolicyWarning starts servers with an allkeys-* eviction policy and
// with noeviction: NewStore warns about the first only.
func TestMaxmemoryPolicyWarning(t *testing.T) {
	for _, tt := range []struct {
		policy string
		warn   bool
	}{
		{"allkeys-lru", true},
		{"allkeys-lfu", true},
		{"allkeys-random", true},
		{"volatile-lru", false},
		{"noeviction", false},
	} {
		t.Run(tt.policy, func(t *testing.T) {
			srv := storeTestStartServer(t, "--maxmemory", "100mb", "--maxmemory-policy", tt.policy)
			log, buf := storeTestLogger()
			storeTestNew(t, srv.Client(), StoreOptions{Logger: log})
			warned := strings.Contains(buf.String(), "level=WARN") && strings.Contains(buf.String(), "maxmemory-policy="+tt.policy)
			if warned != tt.warn {
				t.Errorf("warned = %v; want %v. Log:\n%s", warned, tt.warn, buf)
			}
		})
	}
}

// TestMaxmemoryPolicyUnreadable checks that a server where CONFIG is disabled is
// no obstacle.
func TestMaxmemoryPolicyUnreadable(t *testing.T) {
	srv := storeTestStartServer(t, "--rename-command", "CONFIG", "")
	log, buf := storeTestLogger()
	s := storeTestNew(t, srv.Client(), StoreOptions{Logger: log})
	storeTestPosition(t, s)
	if !strings.Contains(buf.String(), "could not read maxmemory-policy") {
		t.Errorf("no debug line about the unreadable setting:\n%s", buf)
	}
}
