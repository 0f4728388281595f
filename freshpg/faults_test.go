package freshpg

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestServerRestartUnderLoad kills the server with SIGKILL (the postmaster and
// every backend) while a publisher publishes without pause and two followers on
// another pool follow, then starts it again. Publish fails during the outage (fresh
// retries); the followers reconnect and either replay without loss (the table
// survived: every acknowledged message arrives, once, in order) or report the loss
// before anything newer.
func TestServerRestartUnderLoad(t *testing.T) {
	t.Parallel()
	srv := startPGServer(t)
	pubPool := testPoolURL(t, srv.url())
	subPool := testPoolURL(t, srv.url())
	table := "restart_bus"
	pub := testBus(t, pubPool, Options{Table: table})
	sb := testBus(t, subPool, Options{Table: table, PollInterval: 50 * time.Millisecond})
	recs := []*recorder{newRecorder(), newRecorder()}
	for _, r := range recs {
		subscribe(t, sb, r)
	}

	var (
		acked     sync.Map // message number → struct{}: Publish returned nil
		failures  atomic.Int64
		down      atomic.Bool
		downFails atomic.Int64 // failures while the server was down
		stop      = make(chan struct{})
		next      atomic.Int64
		wg        sync.WaitGroup
	)
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			i := next.Add(1) - 1
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := pub.Publish(ctx, []byte(strconv.FormatInt(i, 10)))
			cancel()
			if err != nil {
				failures.Add(1)
				if down.Load() {
					downFails.Add(1)
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			acked.Store(i, struct{}{})
		}
	})
	time.Sleep(300 * time.Millisecond)
	down.Store(true)
	srv.kill()
	// While the server is down, Subscribe fails promptly with an error.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if _, err := sb.Subscribe(ctx, newRecorder()); err == nil {
		t.Error("Subscribe succeeded while the server was down")
	} else {
		t.Logf("Subscribe while down: %v", err)
	}
	cancel()
	time.Sleep(300 * time.Millisecond)
	down.Store(false)
	srv.start()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	publish(t, pub, "end")

	if downFails.Load() == 0 {
		t.Error("no Publish failed while the server was down")
	}
	nAcked := 0
	acked.Range(func(any, any) bool { nAcked++; return true })
	for i, r := range recs {
		ev := r.waitMessage(t, "end")
		t.Logf("follower %d: %d events, %d losses; %d messages acknowledged, %d publishes failed (%d while down)",
			i, len(ev), losses(ev), nAcked, failures.Load(), downFails.Load())
		seen := make(map[int64]bool)
		last := int64(-1)
		lost := false
		for _, e := range ev[:len(ev)-1] {
			if e.loss != nil {
				lost = true
				continue
			}
			n, err := strconv.ParseInt(string(e.msg), 10, 64)
			if err != nil {
				t.Fatalf("follower %d received %v", i, e)
			}
			if n <= last {
				t.Fatalf("follower %d received message %d after %d", i, n, last)
			}
			last = n
			seen[n] = true
		}
		if lost {
			continue // reported: the follower's caches are flushed
		}
		acked.Range(func(k, _ any) bool {
			if n := k.(int64); !seen[n] {
				t.Errorf("follower %d never received acknowledged message %d and reported no loss", i, n)
				return false
			}
			return true
		})
	}
}

// TestPitfallP29TransactionPooler subscribes through PgBouncer in transaction
// pooling mode, where LISTEN silently stops working: Subscribe refuses with
// ErrTransactionPooling, unless AllowTransactionPooling is set, in which case the
// subscription relies on its safety poll and still receives every message.
func TestPitfallP29TransactionPooler(t *testing.T) {
	t.Parallel()
	bouncer := startPgBouncer(t, "transaction")
	pool := testPoolURL(t, bouncer.url())
	direct := testPool(t)
	table := testTableName(t, direct)

	b := testBus(t, pool, Options{Table: table})
	_, err := b.Subscribe(testCtx(t), newRecorder())
	if !errors.Is(err, ErrTransactionPooling) {
		t.Fatalf("Subscribe through a transaction pooler = %v; want ErrTransactionPooling", err)
	}
	t.Logf("refused: %v", err)

	allowed := testBus(t, pool, Options{Table: table, AllowTransactionPooling: true, PollInterval: 50 * time.Millisecond})
	r := newRecorder()
	subscribe(t, allowed, r)
	// Publishing works through the pooler, and directly.
	publish(t, allowed, "through the pooler")
	publish(t, testBus(t, direct, Options{Table: table}), "direct")
	expectEvents(t, r.waitMessage(t, "direct"), nil, "through the pooler", "direct")
}

// TestPitfallP29SessionPooler subscribes through PgBouncer in session pooling mode,
// where LISTEN works: the proxy is noticed, but the subscription is accepted, and
// notifications wake it without waiting for the safety poll.
func TestPitfallP29SessionPooler(t *testing.T) {
	t.Parallel()
	bouncer := startPgBouncer(t, "session")
	pool := testPoolURL(t, bouncer.url())
	b := testBus(t, pool, Options{Table: testTableName(t, testPool(t)), PollInterval: time.Hour})
	r := newRecorder()
	subscribe(t, b, r)
	publish(t, b, "one", "two")
	expectEvents(t, r.waitMessage(t, "two"), nil, "one", "two")
}

// TestListenProbeFails runs the self-test on a connection that did not LISTEN, as
// one behind a proxy that drops notifications would look: it fails with
// ErrListenProbe after ProbeTimeout.
func TestListenProbeFails(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	b := testBus(t, pool, Options{Table: testTableName(t, pool), ProbeTimeout: 200 * time.Millisecond})
	conn, err := pgx.ConnectConfig(testCtx(t), pool.Config().ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	start := time.Now()
	if err := b.probe(testCtx(t), conn); !errors.Is(err, ErrListenProbe) {
		t.Fatalf("self-test without LISTEN = %v; want ErrListenProbe", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Errorf("the self-test failed after %v; want about ProbeTimeout (200ms)", d)
	}
}
