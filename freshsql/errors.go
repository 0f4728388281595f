package freshsql

import (
	"errors"
	"fmt"
)

var errNilAnalysis = errors.New("freshsql: the analyser returned no analysis and no error")

// ErrClosed is returned by a wrapped database's statements after its Connector was
// closed.
var ErrClosed = errors.New("freshsql: closed")

// panicError is an analyser panic turned into an error.
type panicError struct{ v any }

func (e panicError) Error() string { return fmt.Sprintf("panic: %v", e.v) }
