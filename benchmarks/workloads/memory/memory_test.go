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
		Caches: []string{caches.Fresh, Fresh2Tags, Fresh1Entity, Fresh2Entities},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tables) != 2 {
		t.Fatalf("got %d tables; want 2", len(s.Tables))
	}
	// fresh, fresh-2tags, fresh-1entity, fresh-2entities, then otter and xsync.Map
	// added.
	if got := len(s.Tables[0].Rows); got != 6 {
		t.Errorf("per-entry table has %d rows; want 6", got)
	}
	if got := len(s.Tables[1].Rows); got != 4 {
		t.Fatalf("target table has %d rows; want 4", got)
	}
	// The allowed bytes of each configuration, in the order of Caches.
	for i, want := range []string{"32 (32 + 16 × 0 deps)", "64 (32 + 16 × 2 deps)", "48 (48 × 1 unique)", "96 (48 × 2 unique)"} {
		if got := s.Tables[1].Rows[i][6]; got != want {
			t.Errorf("target row %d (%s): allowed %q; want %q", i, s.Tables[1].Rows[i][0], got, want)
		}
	}
}

func TestChild(t *testing.T) {
	for _, name := range []string{caches.Fresh, Fresh1Entity, Fresh2Entities, caches.Xsync} {
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
