package fresh

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is returned by a loader to say that the value does not exist. The
	// cache stores the negative result (for Options.NegativeTTL, with the dependencies
	// the loader declared) and returns ErrNotFound to the callers of GetOrLoad, so a
	// cached negative result is told apart from a cached zero value.
	ErrNotFound = errors.New("fresh: not found")
	// ErrClosed is returned by calls on a closed Cache.
	ErrClosed = errors.New("fresh: closed")
	// ErrTooLarge is returned when a value's cost exceeds Options.MaxCost.
	ErrTooLarge = errors.New("fresh: value too large")
	// ErrInvalidKey is returned when a key cannot be encoded for the bus or a pattern.
	ErrInvalidKey = errors.New("fresh: invalid key")
	// ErrLoaderExited is returned to the callers of a load whose loader ended its
	// goroutine without returning (runtime.Goexit, as t.FailNow does).
	ErrLoaderExited = errors.New("fresh: loader exited without returning")
	// ErrLoadCycle is returned when a loader reads, directly or through the loaders
	// it starts, the key it is loading: waiting for itself would never end.
	ErrLoadCycle = errors.New("fresh: loader reads the key it is loading")
	// ErrLoaderContext fails a load, in a hub with Strict set, whose loader read a
	// cached value with a context other than its own: the value's dependencies would
	// have been lost.
	ErrLoaderContext = errors.New("fresh: cached read inside a loader without the loader's context")
	// ErrPublish wraps errors from the Bus: the local tier is invalidated, but other
	// processes may not have heard of it yet (fresh keeps retrying in the background).
	ErrPublish = errors.New("fresh: publish")
)

// A PanicError is what a loader's panic becomes: every caller waiting for the load
// panics with it, and it carries the original value and the loader's stack.
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string {
	return fmt.Sprintf("fresh: loader panicked: %v\n\n%s", p.Value, p.Stack)
}

// Unwrap returns the panic value when it is an error.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}
