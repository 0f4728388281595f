package freshtest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

// fakeClock is a settable clock for MemStoreOptions.Clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// tombCount returns how many tombstones (of dependencies and keys) and marks s keeps.
func (s *MemStore) tombCount() (tombs, marks int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tombs) + len(s.deletions), len(s.marks)
}

func (s *MemStore) sizes() (entries, leases int, pruned uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries), len(s.leases), s.pruned
}

// TestMemStoreRetention walks the retention rule step by step on a fake clock.
func TestMemStoreRetention(t *testing.T) {
	const r = 80 * time.Minute
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := NewMemStoreWithOptions(MemStoreOptions{Retention: r, Clock: clock.Now})
	t.Cleanup(func() { s.Close() })

	at0 := position(t, s)        // pos 0
	p1 := invalidate(t, s, "d1") // pos 1, mark (t0, 1)
	clock.Advance(r / 16)
	invalidate(t, s, "d2") // pos 2, no mark: the newest is younger than r/8
	del(t, s, "key2")      // pos 3, no mark
	clock.Advance(r / 8)
	p4 := invalidate(t, s, "d4") // pos 4, mark (t0+3r/16, 4)
	if tombs, marks := s.tombCount(); tombs != 4 || marks != 2 {
		t.Fatalf("after 4 writes: %d tombstones and %d marks; want 4 and 2", tombs, marks)
	}

	// A fill from before any invalidation, of unrelated deps, is still accepted
	// while no mark has aged out.
	clock.Advance(r / 2) // t0 + 11r/16
	wantFill(t, s, "old", "v", []string{"x"}, at0, true)
	wantHit(t, s, "old", "v")

	// The first mark ages out: the watermark becomes 1 and d1's tombstone goes.
	clock.Advance(r/2 - r/16 + time.Nanosecond) // t0 + 9r/8 + 1ns
	if _, _, pruned := s.sizes(); pruned != 0 {
		t.Fatalf("watermark moved before any mark was read as old: %d", pruned)
	}
	position(t, s)
	if _, _, pruned := s.sizes(); pruned != p1.Pos {
		t.Fatalf("watermark after the first mark aged out = %d; want %d", pruned, p1.Pos)
	}
	if tombs, marks := s.tombCount(); tombs != 3 || marks != 1 {
		t.Fatalf("after the first mark aged out: %d tombstones and %d marks; want 3 and 1", tombs, marks)
	}
	// An entry and a fill from below the watermark are refused, whatever their deps.
	wantMiss(t, s, "old")
	wantFill(t, s, "old", "v", []string{"x"}, at0, false)
	// At the watermark, a dropped tombstone reads as the watermark: accepted.
	wantFill(t, s, "k", "v", []string{"d1"}, p1, true)
	// A kept tombstone still refuses.
	wantFill(t, s, "k", "v", []string{"d2"}, p1, false)
	wantFill(t, s, "key2", "v", nil, p1, false)

	// The second mark ages out: d2, key2 and d4 go; the watermark is 4.
	clock.Advance(r / 4)
	position(t, s)
	if tombs, marks := s.tombCount(); tombs != 0 || marks != 0 {
		t.Fatalf("after both marks aged out: %d tombstones and %d marks; want none", tombs, marks)
	}
	if _, _, pruned := s.sizes(); pruned != p4.Pos {
		t.Fatalf("watermark = %d; want %d", pruned, p4.Pos)
	}
	wantFill(t, s, "k", "v", []string{"d2", "d4"}, p4, true)
	wantFill(t, s, "k2", "v", nil, fresh.Position{Epoch: p4.Epoch, Pos: 3}, false)

	// Flush drops the marks and moves the watermark up to the position.
	p5 := invalidate(t, s, "d5")
	if _, marks := s.tombCount(); marks != 1 {
		t.Fatalf("%d marks after a write; want 1", marks)
	}
	if _, err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if tombs, marks := s.tombCount(); tombs != 0 || marks != 0 {
		t.Fatalf("after Flush: %d tombstones and %d marks; want none", tombs, marks)
	}
	if _, _, pruned := s.sizes(); pruned != p5.Pos {
		t.Fatalf("watermark after Flush = %d; want the position %d", pruned, p5.Pos)
	}
}

// TestMemStoreRetentionTTL checks that entries live at most the retention, and what
// Get reports as their TTL.
func TestMemStoreRetentionTTL(t *testing.T) {
	const r = time.Hour
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := NewMemStoreWithOptions(MemStoreOptions{Retention: r, Clock: clock.Now})
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	at := position(t, s)
	for key, ttl := range map[string]time.Duration{"none": 0, "short": time.Minute, "long": 3 * r} {
		if ok, err := s.Fill(ctx, key, []byte("v"), nil, at, ttl); err != nil || !ok {
			t.Fatalf("Fill(%q, ttl %v) = %v, %v", key, ttl, ok, err)
		}
	}
	clock.Advance(time.Second)
	for key, want := range map[string]time.Duration{"none": 0, "short": time.Minute - time.Second, "long": r - time.Second} {
		if e := wantHit(t, s, key, "v"); e.TTL != want {
			t.Errorf("Get(%q).TTL = %v; want %v", key, e.TTL, want)
		}
	}
	clock.Advance(r - time.Second)
	for _, key := range []string{"none", "short", "long"} {
		wantMiss(t, s, key)
	}
}

// TestMemStoreBounded runs a long workload on a fake clock and checks that the
// store's memory (tombstones, marks, entries, leases) stays bounded.
func TestMemStoreBounded(t *testing.T) {
	const (
		r        = time.Hour
		step     = r / 20
		perRound = 50
	)
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := NewMemStoreWithOptions(MemStoreOptions{Retention: r, Clock: clock.Now})
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	// A tombstone lives until the next mark (at most r/8 and a step later) is more
	// than r old; entries and leases at most r, plus r/8 until a sweep. Allow two
	// more steps of slack.
	maxRounds := int((r+r/8+step)/step) + 2
	for round := range 400 {
		for i := range perRound {
			name := fmt.Sprintf("r%d-%d", round, i)
			at := position(t, s)
			if ok, err := s.Fill(ctx, name, []byte("v"), []string{name}, at, 0); err != nil || !ok {
				t.Fatalf("Fill = %v, %v", ok, err)
			}
			if _, _, _, err := s.Lease(ctx, name, time.Minute); err != nil {
				t.Fatal(err)
			}
			invalidate(t, s, name)
			del(t, s, name+"-key")
		}
		tombs, marks := s.tombCount()
		entries, leases, _ := s.sizes()
		if tombs > 2*perRound*maxRounds || marks > 10 || entries > perRound*maxRounds || leases > perRound*maxRounds {
			t.Fatalf("round %d: %d tombstones, %d marks, %d entries, %d leases; want at most %d, 10, %d, %d",
				round, tombs, marks, entries, leases, 2*perRound*maxRounds, perRound*maxRounds, perRound*maxRounds)
		}
		clock.Advance(step)
	}
}
