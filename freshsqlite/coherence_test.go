package freshsqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
)

// TestProcessCoherence runs freshtest.ProcessCoherence on the bus: one writer and
// three readers, each an OS process with a Hub on its own Bus over one database
// file in the run's shared directory, every read checked against the G1 bound.
func TestProcessCoherence(t *testing.T) {
	rep := freshtest.ProcessCoherence{
		NewBus: func(ctx context.Context, env freshtest.CoherenceEnv) (fresh.Bus, func() error, error) {
			b, err := OpenURL(ctx, "sqlite:"+filepath.Join(env.Dir, "bus.db"), Options{})
			if err != nil {
				return nil, nil, err
			}
			return b, b.Close, nil
		},
		Duration: 3 * time.Second,
	}.Run(t)
	for _, r := range rep.Readers {
		if r.Hub.Gaps > 0 {
			t.Logf("%s: %d bus gaps without a fault", r.Name, r.Hub.Gaps)
		}
	}
}

// TestProcessCoherenceFaults is TestProcessCoherence with faults, every read still
// checked against the G1 bound: reader1 is stopped (SIGSTOP) for three times the
// log's retention and resumed, so that what it missed was trimmed; another program
// writes garbage rows into the log; reader2 is killed (SIGKILL). The stopped reader
// must report the loss (a gap, which flushes it) rather than miss it silently.
func TestProcessCoherenceFaults(t *testing.T) {
	const retention = 300 * time.Millisecond
	opts := Options{Retention: retention, TrimEvery: 8}
	rep := freshtest.ProcessCoherence{
		NewBus: func(ctx context.Context, env freshtest.CoherenceEnv) (fresh.Bus, func() error, error) {
			b, err := OpenURL(ctx, "sqlite:"+filepath.Join(env.Dir, "bus.db"), opts)
			if err != nil {
				return nil, nil, err
			}
			return b, b.Close, nil
		},
		Duration: 4 * time.Second,
		Fault: func(ctx context.Context, run *freshtest.CoherenceRun) {
			reader1, reader2 := run.Children[1], run.Children[2]
			run.SleepUntil(500 * time.Millisecond)
			if err := reader1.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * retention)
			if err := reader1.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}

			run.SleepUntil(2 * time.Second)
			db, err := sql.Open(driverName, "file:"+filepath.Join(run.Env.Dir, "bus.db")+"?_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, stmt := range []string{
				`INSERT INTO fresh_log (at, msg) VALUES (0, NULL)`,
				`INSERT INTO fresh_log (at, msg) VALUES (0, 'text')`,
				`INSERT INTO fresh_log (at, msg) VALUES (0, x'00ff00ff')`, // a row, not a message fresh sent
			} {
				if _, err := db.ExecContext(ctx, stmt); err != nil {
					t.Errorf("%s: %v", stmt, err)
				}
			}

			run.SleepUntil(3 * time.Second)
			reader2.Kill()
		},
	}.Run(t)
	if len(rep.Readers) != 2 {
		t.Fatalf("%d reader reports; want 2 (reader2 was killed)", len(rep.Readers))
	}
	if r := rep.Readers[0]; r.Hub.Gaps == 0 {
		t.Errorf("%s was stopped beyond the retention and reported no gap: %+v", r.Name, r.Hub)
	}
	for _, r := range rep.Readers {
		if r.Hub.Gaps == 0 && r.Hub.Dropped == 0 {
			t.Errorf("%s neither reported the garbage rows as a loss nor dropped them: %+v", r.Name, r.Hub)
		}
	}
}
