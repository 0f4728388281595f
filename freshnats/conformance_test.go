package freshnats

import (
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
			// Core NATS may hand overlapping publishes from two connections to two
			// subscriber connections in opposite orders (the suite logs it), which
			// the Bus contract allows.
			t.Run("BusTwoConnections", func(t *testing.T) { t.Parallel(); freshtest.TestBus(t, two) })
			t.Run("CachesOverBus", func(t *testing.T) { t.Parallel(); freshtest.TestCachesOverBus(t, one) })
			t.Run("CachesOverBusTwoConnections", func(t *testing.T) { t.Parallel(); freshtest.TestCachesOverBus(t, two) })
		})
	}
}
