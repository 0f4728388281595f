package freshpg

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
	"github.com/jackc/pgx/v5"
)

// TestProcessCoherence runs freshtest.ProcessCoherence on the bus: one writer and
// three readers, each an OS process with a Hub on its own Bus over one log table
// of the run's own, every read checked against the G1 bound.
func TestProcessCoherence(t *testing.T) {
	url := testURL()
	testPool(t) // skips (fails in CI) when the server is not reachable
	rep := freshtest.ProcessCoherence{
		NewBus: func(ctx context.Context, env freshtest.CoherenceEnv) (fresh.Bus, func() error, error) {
			b, err := OpenURL(ctx, url, Options{Table: "fresh_" + env.ID})
			if err != nil {
				return nil, nil, err
			}
			return b, b.Close, nil
		},
		Teardown: func(ctx context.Context, env freshtest.CoherenceEnv) error {
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				return err
			}
			defer conn.Close(context.WithoutCancel(ctx))
			_, err = conn.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{"fresh_" + env.ID}.Sanitize())
			return err
		},
		Duration: 4 * time.Second,
	}.Run(t)
	for _, r := range rep.Readers {
		if r.Hub.Gaps > 0 {
			t.Logf("%s: %d bus gaps without a fault", r.Name, r.Hub.Gaps)
		}
	}
}

// TestProcessCoherenceFaults is TestProcessCoherence on a private server with
// faults, every read still checked against the G1 bound: reader1 is stopped
// (SIGSTOP) for three times the table's MaxAge, so that what it missed was
// trimmed; every connection of the run is terminated (the listening ones
// included); another program writes garbage rows; the server is killed and
// started again; reader2 is killed (SIGKILL). The stopped reader must report the
// loss rather than miss it silently, and every reader must notice the rest.
func TestProcessCoherenceFaults(t *testing.T) {
	const maxAge = 300 * time.Millisecond
	var srv *pgServer
	param := ""
	if !freshtest.IsCoherenceChild() {
		srv = startPGServer(t)
		param = srv.url()
	}
	rep := freshtest.ProcessCoherence{
		NewBus: func(ctx context.Context, env freshtest.CoherenceEnv) (fresh.Bus, func() error, error) {
			// The application name marks the run's connections, for the fault that
			// terminates them.
			b, err := OpenURL(ctx, env.Param+"&application_name="+env.ID, Options{Table: "fresh_bus", MaxAge: maxAge})
			if err != nil {
				return nil, nil, err
			}
			return b, b.Close, nil
		},
		Duration: 5 * time.Second,
		Param:    param,
		Fault: func(ctx context.Context, run *freshtest.CoherenceRun) {
			reader1, reader2 := run.Children[1], run.Children[2]
			run.SleepUntil(500 * time.Millisecond)
			if err := reader1.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * maxAge)
			if err := reader1.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}

			run.SleepUntil(1800 * time.Millisecond)
			conn, err := pgx.Connect(ctx, srv.url())
			if err != nil {
				t.Fatal(err)
			}
			var terminated int
			if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name = $1 AND pid <> pg_backend_pid()`, run.Env.ID).Scan(&terminated); err != nil {
				t.Error(err)
			}
			t.Logf("terminated %d connections of the run", terminated)

			run.SleepUntil(2400 * time.Millisecond)
			for _, stmt := range []string{
				`INSERT INTO fresh_bus (kind, msg) VALUES (7, '\x00')`,
				`INSERT INTO fresh_bus (kind, msg) VALUES (0, 'a second meta row?')`,
				`SELECT pg_notify('fresh:public.fresh_bus', 'garbage')`,
			} {
				if _, err := conn.Exec(ctx, stmt); err != nil {
					t.Errorf("%s: %v", stmt, err)
				}
			}
			_ = conn.Close(ctx)

			run.SleepUntil(3 * time.Second)
			srv.kill()
			time.Sleep(300 * time.Millisecond)
			srv.start()

			run.SleepUntil(4 * time.Second)
			reader2.Kill()
		},
	}.Run(t)
	if len(rep.Readers) != 2 {
		t.Fatalf("%d reader reports; want 2 (reader2 was killed)", len(rep.Readers))
	}
	for i, r := range rep.Readers {
		t.Logf("%s: %d gaps, %d dropped, %d received", r.Name, r.Hub.Gaps, r.Hub.Dropped, r.Hub.Received)
		// reader1: its pause, the terminated connections, the garbage, the restart;
		// reader3: all but the pause.
		if want := uint64(3 - i); r.Hub.Gaps < want {
			t.Errorf("%s reported %d gaps; want at least %d", r.Name, r.Hub.Gaps, want)
		}
	}
}
