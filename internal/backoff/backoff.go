// Package backoff paces the retries of a background loop (a bus subscription that
// lost its connection): the pause doubles from First to Longest, with ±25 % jitter
// so that many subscribers do not retry in step.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// The bounds of the pause before a retry.
const (
	First   = 20 * time.Millisecond
	Longest = 2 * time.Second
)

// A Retry counts consecutive failures. Its zero value is ready to use; it is not
// safe for concurrent use (one loop owns it).
type Retry struct {
	failures int
}

// Failed counts a failure and reports whether it is the first of a run, the one
// worth logging.
func (r *Retry) Failed() (first bool) {
	r.failures++
	return r.failures == 1
}

// Recovered resets the count and reports whether there had been failures.
func (r *Retry) Recovered() bool {
	had := r.failures > 0
	r.failures = 0
	return had
}

// Sleep pauses before the next attempt. It returns false if ctx ended first.
func (r *Retry) Sleep(ctx context.Context) bool {
	d := Longest
	if n := r.failures - 1; n >= 0 && n < 8 {
		d = min(First<<n, Longest)
	}
	d = d*3/4 + rand.N(d/2+1) // ±25 %
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
