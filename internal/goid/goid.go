// Package goid tells which goroutine is running, for the rare checks that need to
// know (a Close called from inside a handler, a cached read from another goroutine
// than its loader's). It parses the header of runtime.Stack, so it costs a
// microsecond: never call it on a hot path.
package goid

import (
	"bytes"
	"runtime"
)

// Current returns the id of the calling goroutine, or 0 if it cannot tell.
func Current() uint64 {
	var buf [64]byte
	trace := buf[:runtime.Stack(buf[:], false)]
	// A trace begins "goroutine 123 [running]:".
	rest, ok := bytes.CutPrefix(trace, []byte("goroutine "))
	if !ok {
		return 0
	}
	var id uint64
	for _, c := range rest {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
