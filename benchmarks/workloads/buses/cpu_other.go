//go:build !unix

package buses

import (
	"errors"
	"time"
)

// processCPU is not available off Unix: the idle column says so.
func processCPU() (time.Time, time.Duration, error) {
	return time.Time{}, 0, errors.New("getrusage is not available on this system")
}
