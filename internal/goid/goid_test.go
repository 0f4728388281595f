package goid

import "testing"

func TestCurrent(t *testing.T) {
	a := Current()
	if a == 0 {
		t.Fatal("Current() = 0 on a goroutine")
	}
	if b := Current(); b != a {
		t.Fatalf("Current() changed on one goroutine: %d, then %d", a, b)
	}
	other := make(chan uint64)
	go func() { other <- Current() }()
	if b := <-other; b == a || b == 0 {
		t.Fatalf("another goroutine's id = %d; this one's %d", b, a)
	}
}
