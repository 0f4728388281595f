package freshnats

import (
	"context"
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
