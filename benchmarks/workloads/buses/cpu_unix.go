//go:build unix

package buses

import (
	"syscall"
	"time"
)

// processCPU returns the time and the CPU time (user and system) this process has
// used so far, from getrusage(RUSAGE_SELF).
func processCPU() (time.Time, time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return time.Time{}, 0, err
	}
	return time.Now(), time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
