package memory

import (
	"context"
	"os"
	"testing"

	"github.com/freshcache/fresh/benchmarks/caches"
)

// TestMain hands over to Child when Run started this test binary as a child.
func TestMain(m *testing.M) {
	if IsChild() {
		Child()
		return
	}
	os.Exit(m.Run())
}

func TestRunShort(t *testing.T) {
	s, err := Run(context.Background(), Options{
		Short:  true,
		Sizes:  []int{2000},
		Caches: []string{caches.Fresh, Fresh2Tags, Fresh2Entities},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tables) != 2 {
		t.Fatalf("got %d tables; want 2", len(s.Tables))
	}
	// fresh, fresh-2tags, fresh-2entities, then otter and xsync.Map added.
	if got := len(s.Tables[0].Rows); got != 5 {
		t.Errorf("per-entry table has %d rows; want 5", got)
	}
	if got := len(s.Tables[1].Rows); got != 3 {
		t.Errorf("target table has %d rows; want 3", got)
	}
}

func TestChild(t *testing.T) {
	for _, name := range []string{caches.Fresh, Fresh2Entities, caches.Xsync} {
		r, err := child(name + "/5000")
		if err != nil {
			t.Fatal(err)
		}
		// An entry of uint64 key and value takes at least 16 bytes anywhere.
		if r.Held != 5000 || r.PerEntry < 16 {
			t.Errorf("%s: held %d, %.1f B/entry; want 5000 and at least 16 B", name, r.Held, r.PerEntry)
		}
	}
	for _, bad := range []string{"fresh", "fresh/x", "nope/10"} {
		if _, err := child(bad); err == nil {
			t.Errorf("child(%q): got no error", bad)
		}
	}
}
