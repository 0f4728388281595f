package freshsqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestPublishCancellationsUnderContention attacks the group commit: goroutines
// publish with deadlines of a few milliseconds while another connection takes the
// write lock on and off, so that leaders give up with others' messages in hand. No
// Publish hangs; every message whose Publish succeeded is delivered exactly once;
// one whose Publish failed is never delivered; each goroutine's messages arrive in
// its order; and the follower sees no loss.
func TestPublishCancellationsUnderContention(t *testing.T) {
	t.Parallel()
	const goroutines, each = 6, 40
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	path := testPath(t)
	b := testBus(t, path, Options{})
	r := newRecorder()
	testSubscribe(t, testBus(t, path, Options{}), r)

	stop := make(chan struct{})
	var lockers sync.WaitGroup
	lockers.Go(func() {
		rng := rand.New(rand.NewPCG(seed, 1))
		c, err := testDB(t, path).Conn(context.Background())
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
				continue // busy: a publisher holds it
			}
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
			if _, err := c.ExecContext(context.Background(), `COMMIT`); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		}
	})

	ok := make([][]bool, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		ok[g] = make([]bool, each)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(g)+2))
			for k := range each {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(2500))*time.Microsecond)
				ok[g][k] = b.Publish(ctx, fmt.Appendf(nil, "g%d-%d", g, k)) == nil
				cancel()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * testWait):
		t.Fatal("Publish calls did not all return")
	}
	close(stop)
	lockers.Wait()
	testPublish(t, b, "end")
	events := r.waitMessage(t, "end")

	seen := make([][]int, goroutines)
	for g := range seen {
		seen[g] = make([]int, each)
	}
	last := make([]int, goroutines)
	for g := range last {
		last[g] = -1
	}
	for _, e := range events {
		if e.loss != nil {
			t.Fatalf("loss: %v", e.loss)
		}
		var g, k int
		if string(e.msg) == "end" {
			continue
		}
		if _, err := fmt.Sscanf(string(e.msg), "g%d-%d", &g, &k); err != nil || g >= goroutines || k >= each {
			t.Fatalf("received %q", e.msg)
		}
		seen[g][k]++
		if k <= last[g] {
			t.Errorf("received g%d-%d after g%d-%d", g, k, g, last[g])
		}
		last[g] = k
	}
	succeeded := 0
	for g := range goroutines {
		for k := range each {
			switch {
			case ok[g][k] && seen[g][k] != 1:
				t.Errorf("g%d-%d: Publish succeeded and the message was delivered %d times; want once", g, k, seen[g][k])
			case !ok[g][k] && seen[g][k] != 0:
				t.Errorf("g%d-%d: Publish failed and the message was delivered %d times; want never", g, k, seen[g][k])
			case ok[g][k]:
				succeeded++
			}
		}
	}
	t.Logf("%d of %d Publish calls succeeded", succeeded, goroutines*each)
}
