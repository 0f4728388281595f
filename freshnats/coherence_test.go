package freshnats

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
)

// TestProcessCoherence runs freshtest.ProcessCoherence on a core-NATS bus: one
// writer and three readers, each an OS process with a Hub on its own Bus on a
// namespace of the run's own, every read checked against the G1 bound.
func TestProcessCoherence(t *testing.T) {
	url := testURL()
	testConn(t) // skips (fails in CI) when the server does not answer
	rep := freshtest.ProcessCoherence{
		NewBus: func(ctx context.Context, env freshtest.CoherenceEnv) (fresh.Bus, func() error, error) {
			b, err := OpenURL(ctx, url, Options{Namespace: env.ID})
			if err != nil {
				return nil, nil, err
			}
			return b, b.Close, nil
		},
		Duration: 4 * time.Second,
	}.Run(t)
	for _, r := range rep.Readers {
		if r.Hub.Gaps > 0 {
			t.Logf("%s: %d bus gaps without a fault", r.Name, r.Hub.Gaps)
		}
	}
}

// TestProcessCoherenceFaults is TestProcessCoherence on a private core-NATS server
// with faults, every read still checked against the G1 bound: reader1 is stopped
// (SIGSTOP) for longer than the bound and resumed; a stranger publishes garbage on
// the bus's subject; the server is killed and started again; reader2 is killed
// (SIGKILL). Every reader must report the restart as a loss.
func TestProcessCoherenceFaults(t *testing.T) {
	var srv *testServer
	param := ""
	if !freshtest.IsCoherenceChild() {
		srv = testStartServer(t, false)
		param = srv.url()
	}
	rep := freshtest.ProcessCoherence{
		NewBus: func(ctx context.Context, env freshtest.CoherenceEnv) (fresh.Bus, func() error, error) {
			b, err := OpenURL(ctx, env.Param, Options{Namespace: env.ID})
			if err != nil {
				return nil, nil, err
			}
			return b, b.Close, nil
		},
		Duration: 4 * time.Second,
		Param:    param,
		Fault: func(ctx context.Context, run *freshtest.CoherenceRun) {
			reader1, reader2 := run.Children[1], run.Children[2]
			run.SleepUntil(500 * time.Millisecond)
			if err := reader1.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
			if err := reader1.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}

			run.SleepUntil(1800 * time.Millisecond)
			nc := testConnTo(t, srv.url())
			subject := "fresh.v1." + run.Env.ID + ".bus"
			for _, g := range [][]byte{nil, []byte("garbage"), {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1}} {
				testRaw(t, nc, subject, g)
			}
			nc.Close()

			run.SleepUntil(2400 * time.Millisecond)
			srv.kill()
			time.Sleep(300 * time.Millisecond)
			srv.start()

			run.SleepUntil(3200 * time.Millisecond)
			reader2.Kill()
		},
	}.Run(t)
	if len(rep.Readers) != 2 {
		t.Fatalf("%d reader reports; want 2 (reader2 was killed)", len(rep.Readers))
	}
	for _, r := range rep.Readers {
		t.Logf("%s: %d gaps, %d dropped, %d received", r.Name, r.Hub.Gaps, r.Hub.Dropped, r.Hub.Received)
		// The garbage and the restart.
		if r.Hub.Gaps < 2 {
			t.Errorf("%s reported %d gaps; want at least 2", r.Name, r.Hub.Gaps)
		}
	}
}
