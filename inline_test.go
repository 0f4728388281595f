package fresh

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/freshcache/fresh/internal/goid"
)

// TestInlineRunsInTheCaller: with Inline, the loader runs in the calling
// goroutine; a concurrent call joins it; an invalidation during the load fences
// it (G0) as for any load; cancelling the caller cancels the loader.
func TestInlineRunsInTheCaller(t *testing.T) {
	c := testCache[string, int](t, Options[string, int]{})
	ctx := context.Background()
	caller := goid.Current()
	started, release := make(chan struct{}), make(chan struct{})
	loads := 0
	loader := func(ctx context.Context, _ string) (int, error) {
		loads++
		if goid.Current() != caller {
			t.Errorf("the loader ran in goroutine %d; want the caller's, %d", goid.Current(), caller)
		}
		Depend(ctx, Tag("t"))
		close(started)
		<-release
		return 1, nil
	}
	joined := make(chan int, 1)
	go func() {
		<-started
		v, err := c.GetOrLoad(ctx, "k", func(context.Context, string) (int, error) {
			t.Error("the second call ran its own loader; want it to join")
			return 2, nil
		})
		if err != nil {
			t.Error(err)
		}
		joined <- v
	}()
	go func() {
		<-started
		time.Sleep(20 * time.Millisecond) // let the second call join first
		if err := c.Invalidate(ctx, Tag("t")); err != nil {
			t.Error(err)
		}
		close(release)
	}()
	v, err := c.GetOrLoad(ctx, "k", loader, Inline())
	if err != nil || v != 1 {
		t.Fatalf("GetOrLoad = %d, %v; want 1", v, err)
	}
	if got := <-joined; got != 1 {
		t.Errorf("the joining call got %d; want 1", got)
	}
	if _, ok := c.Get("k"); ok {
		t.Error("the value loaded across an invalidation of its dependency was stored")
	}
	if s := c.Stats(); s.Fenced != 1 {
		t.Errorf("Stats.Fenced = %d; want 1", s.Fenced)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.GetOrLoad(cctx, "c", func(ctx context.Context, _ string) (int, error) {
		return 0, ctx.Err()
	}, Inline())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("GetOrLoad with a cancelled context = %v; want context.Canceled", err)
	}
}
