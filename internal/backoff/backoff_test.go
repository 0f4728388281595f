package backoff

import (
	"context"
	"testing"
	"time"
)

func TestRetry(t *testing.T) {
	var r Retry
	if r.Recovered() {
		t.Fatal("Recovered before any failure")
	}
	if !r.Failed() || r.Failed() {
		t.Fatal("Failed must report the first failure of a run only")
	}
	start := time.Now()
	if !r.Sleep(context.Background()) {
		t.Fatal("Sleep returned false with a live context")
	}
	// Second failure: 40ms ±25 %.
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("slept %v after 2 failures; want about 40ms", d)
	}
	if !r.Recovered() || r.Recovered() {
		t.Fatal("Recovered must report a run of failures once")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.Failed()
	if r.Sleep(ctx) {
		t.Fatal("Sleep returned true with a cancelled context")
	}
}
