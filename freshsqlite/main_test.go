package freshsqlite

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine is left once every test has ended: every
// bus, subscription and child process a test started must be closed by then.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
