package sqlite

import (
	"os"
	"testing"
)

func TestTry(t *testing.T) {
	q := os.Getenv("Q")
	if q == "" {
		t.Skip()
	}
	a, err := New(Options{}).Analyze(q)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\n%+v", render(a), a)
}
