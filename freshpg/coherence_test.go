package freshpg

import (
	"context"
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
