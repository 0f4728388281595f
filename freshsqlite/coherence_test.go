package freshsqlite

import (
	"context"
	"path/filepath"
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
		Duration: 4 * time.Second,
	}.Run(t)
	for _, r := range rep.Readers {
		if r.Hub.Gaps > 0 {
			t.Logf("%s: %d bus gaps without a fault", r.Name, r.Hub.Gaps)
		}
	}
}
