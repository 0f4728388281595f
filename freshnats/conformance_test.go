package freshnats

import (
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
)

// TestConformance runs fresh's conformance suites on a bus of each mode, and on two
// buses of one namespace on two connections (two processes).
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, mode := range testModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			nc1, nc2 := testModeConn(t, mode.js), testModeConn(t, mode.js)
			one := func(t *testing.T) fresh.Bus {
				return testBus(t, nc1, Options{Namespace: testNamespace(t, nc1), JetStream: mode.js})
			}
			two := func(t *testing.T) fresh.Bus {
				ns := testNamespace(t, nc1)
				return &testSplit{buses: []fresh.Bus{
					testBus(t, nc1, Options{Namespace: ns, JetStream: mode.js}),
					testBus(t, nc2, Options{Namespace: ns, JetStream: mode.js}),
				}}
			}
			t.Run("Bus", func(t *testing.T) { t.Parallel(); freshtest.TestBus(t, one) })
			if mode.js {
				// Core NATS does not give overlapping publishes from two connections
				// one order at every subscriber connection, which the suite's
				// TotalOrder checks: TestCoreOrderAcrossConnections checks what it
				// does give.
				t.Run("BusTwoConnections", func(t *testing.T) { t.Parallel(); freshtest.TestBus(t, two) })
			}
			t.Run("CachesOverBus", func(t *testing.T) { t.Parallel(); freshtest.TestCachesOverBus(t, one) })
			t.Run("CachesOverBusTwoConnections", func(t *testing.T) { t.Parallel(); freshtest.TestCachesOverBus(t, two) })
		})
	}
}

// longRuns enables the long, randomised variants of some tests.
var longRuns = flag.Bool("freshnats.long", false, "run the long variants of the order tests")

// TestCoreOrderAcrossConnections checks what core mode promises when publishers and
// subscribers are spread over two connections (two processes): every subscriber
// receives every message once, each publisher's in the order published, and a
// message after every message whose Publish returned before its own Publish began.
// It does not require one order of overlapping publishes for every subscriber
// connection, which core NATS does not give (the server hands each message to the
// subscriber connections from the publishing connection's own goroutine, so two
// publishing at once can reach two subscriber connections in opposite orders); it
// reports how often the subscribers' orders differed. With -freshnats.long it runs
// 30 rounds.
func TestCoreOrderAcrossConnections(t *testing.T) {
	t.Parallel()
	nc1, nc2 := testConn(t), testConn(t)
	rounds := 1
	if *longRuns {
		rounds = 30
	}
	differed := 0
	for range rounds {
		ns := testNamespace(t, nil)
		buses := []*Bus{testBus(t, nc1, Options{Namespace: ns}), testBus(t, nc2, Options{Namespace: ns})}
		differed += testOrderRound(t, buses)
	}
	t.Logf("subscribers on different connections received overlapping messages in different orders in %d of %d rounds", differed, rounds)
}

// testOrderRound runs one round of TestCoreOrderAcrossConnections and reports
// whether the subscribers' orders differed.
func testOrderRound(t *testing.T, buses []*Bus) (differed int) {
	const publishers, each, subscribers = 4, 500, 3
	const total = publishers * each
	rs := make([]*testRecorder, subscribers)
	for i := range rs {
		rs[i] = newTestRecorder()
		testSubscribe(t, buses[i%len(buses)], rs[i])
	}
	// As in freshtest: returned lists the messages whose Publish returned, in that
	// order; follows[p][i] is how many had when message i of publisher p began.
	var (
		nReturned atomic.Int64
		returned  = make([][2]int, total)
		follows   [publishers][each]int
	)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for p := range publishers {
		bus := buses[p%len(buses)]
		wg.Go(func() {
			<-start
			for i := range each {
				follows[p][i] = int(nReturned.Load())
				if err := bus.Publish(testCtx(t), fmt.Appendf(nil, "%d:%d", p, i)); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				returned[nReturned.Add(1)-1] = [2]int{p, i}
			}
		})
	}
	close(start)
	wg.Wait()
	var orders [][][2]int
	for s, r := range rs {
		events := r.waitFor(t, "every message", func(events []testEvent) bool { return len(events) >= total })
		pos := map[[2]int]int{}
		var order [][2]int
		next := [publishers]int{}
		for k, e := range events {
			var p, i int
			if e.loss != nil {
				t.Fatalf("subscriber %d: loss on a healthy bus: %v", s, e.loss)
			}
			if _, err := fmt.Sscanf(string(e.msg), "%d:%d", &p, &i); err != nil || p >= publishers || i != next[p] {
				t.Fatalf("subscriber %d received %v in position %d; want message %d of publisher %d next", s, e, k, next[p], p)
			}
			next[p]++
			pos[[2]int{p, i}] = k
			order = append(order, [2]int{p, i})
		}
		// last[n]: the position of the latest-received among the first n returned.
		last := make([]int, total+1)
		last[0] = -1
		for n, m := range returned {
			last[n+1] = max(last[n], pos[m])
		}
		for p := range publishers {
			for i := range each {
				if n := follows[p][i]; last[n] > pos[[2]int{p, i}] {
					t.Fatalf("subscriber %d received message %d of publisher %d in position %d, before a message whose Publish had returned before its Publish began (position %d)",
						s, i, p, pos[[2]int{p, i}], last[n])
				}
			}
		}
		orders = append(orders, order)
	}
	// Subscribers of one bus share its feed, and so one order.
	for s := len(buses); s < subscribers; s++ {
		if !slices.Equal(orders[s], orders[s%len(buses)]) {
			t.Fatalf("subscribers %d and %d, of one bus, received different orders", s%len(buses), s)
		}
	}
	for s := 1; s < subscribers; s++ {
		if !slices.Equal(orders[s], orders[0]) {
			return 1
		}
	}
	return 0
}
