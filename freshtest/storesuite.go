package freshtest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

// TestStore runs the conformance suite for a Store. newStore returns an empty,
// isolated store (for a shared server, one under a key prefix of its own) and
// registers its cleanup with t.Cleanup. Every subtest calls newStore once, with its
// own t.
//
// The suite takes a few seconds: one subtest waits for a real TTL to pass.
func TestStore(t *testing.T, newStore func(t *testing.T) fresh.Store) {
	t.Run("GetMissing", func(t *testing.T) { testStoreGetMissing(t, newStore(t)) })
	t.Run("FillThenGet", func(t *testing.T) { testStoreFillThenGet(t, newStore(t)) })
	t.Run("DoesNotRetainBuffers", func(t *testing.T) { testStoreDoesNotRetain(t, newStore(t)) })
	t.Run("InvalidateAfterFill", func(t *testing.T) { testStoreInvalidateAfterFill(t, newStore(t)) })
	t.Run("FillRefusedAfterInvalidate", func(t *testing.T) { testStoreFillRefused(t, newStore(t)) })
	t.Run("FillAcceptedAfterUnrelatedInvalidate", func(t *testing.T) { testStoreFillUnrelated(t, newStore(t)) })
	t.Run("Delete", func(t *testing.T) { testStoreDelete(t, newStore(t)) })
	t.Run("Flush", func(t *testing.T) { testStoreFlush(t, newStore(t)) })
	t.Run("TTL", func(t *testing.T) { testStoreTTL(t, newStore(t)) })
	t.Run("BinaryAndEmptyValues", func(t *testing.T) { testStoreValues(t, newStore(t)) })
	t.Run("ManyDeps", func(t *testing.T) { testStoreManyDeps(t, newStore(t)) })
	t.Run("ConcurrentInvalidateAndFill", func(t *testing.T) { testStoreRace(t, newStore(t)) })
	t.Run("PositionMonotonic", func(t *testing.T) { testStorePositionMonotonic(t, newStore(t)) })
}

func testStoreGetMissing(t *testing.T, s fresh.Store) {
	wantMiss(t, s, "missing")
}

func testStoreFillThenGet(t *testing.T, s fresh.Store) {
	at := position(t, s)
	wantFill(t, s, "k", "v", nil, at, true)
	wantHit(t, s, "k", "v")
	wantMiss(t, s, "other")

	// A later fill replaces the value.
	wantFill(t, s, "k", "v2", []string{"d"}, position(t, s), true)
	wantHit(t, s, "k", "v2")
}

// testStoreDoesNotRetain checks that Fill copies the value and that the slice Get
// returns belongs to the caller.
func testStoreDoesNotRetain(t *testing.T, s fresh.Store) {
	buf := []byte("value")
	if _, err := s.Fill(t.Context(), "k", buf, []string{"d"}, position(t, s), 0); err != nil {
		t.Fatalf("Fill: %v", err)
	}
	copy(buf, "XXXXX")
	got := wantHit(t, s, "k", "value")
	copy(got, "YYYYY")
	wantHit(t, s, "k", "value")
}

func testStoreInvalidateAfterFill(t *testing.T, s fresh.Store) {
	at := position(t, s)
	wantFill(t, s, "k1", "v1", []string{"dep-a"}, at, true)
	wantFill(t, s, "k2", "v2", []string{"dep-b"}, at, true)
	wantFill(t, s, "k3", "v3", []string{"dep-b", "dep-a"}, at, true)
	invalidate(t, s, "dep-a")
	wantMiss(t, s, "k1")
	wantHit(t, s, "k2", "v2")
	wantMiss(t, s, "k3")
}

// testStoreFillRefused is G0's fence: a fill whose position precedes an invalidation
// of one of its dependencies must not be stored.
func testStoreFillRefused(t *testing.T, s fresh.Store) {
	at := position(t, s)
	invalidate(t, s, "dep")
	wantFill(t, s, "k", "stale", []string{"other", "dep"}, at, false)
	wantMiss(t, s, "k")

	// A fill that began after the invalidation is stored.
	wantFill(t, s, "k", "fresh", []string{"other", "dep"}, position(t, s), true)
	wantHit(t, s, "k", "fresh")
}

func testStoreFillUnrelated(t *testing.T, s fresh.Store) {
	at := position(t, s)
	invalidate(t, s, "unrelated")
	wantFill(t, s, "k", "v", []string{"dep"}, at, true)
	wantHit(t, s, "k", "v")
}

func testStoreDelete(t *testing.T, s fresh.Store) {
	at := position(t, s)
	wantFill(t, s, "k1", "v1", nil, at, true)
	wantFill(t, s, "k2", "v2", []string{"d"}, at, true)
	wantFill(t, s, "k3", "v3", nil, at, true)
	if err := s.Delete(t.Context(), "k1", "k2"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMiss(t, s, "k1")
	wantMiss(t, s, "k2")
	wantHit(t, s, "k3", "v3")

	// Fills of the deleted keys that began before Delete are refused...
	wantFill(t, s, "k1", "stale", nil, at, false)
	wantFill(t, s, "k2", "stale", []string{"d"}, at, false)
	wantMiss(t, s, "k1")
	wantMiss(t, s, "k2")
	// ...and those that began after it are stored.
	after := position(t, s)
	wantFill(t, s, "k1", "fresh", nil, after, true)
	wantHit(t, s, "k1", "fresh")

	// Deleting a missing key is not an error.
	if err := s.Delete(t.Context(), "never-filled"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
}

func testStoreFlush(t *testing.T, s fresh.Store) {
	before := position(t, s)
	wantFill(t, s, "k1", "v1", nil, before, true)
	wantFill(t, s, "k2", "v2", []string{"d"}, before, true)
	if err := s.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	wantMiss(t, s, "k1")
	wantMiss(t, s, "k2")

	after := position(t, s)
	if after.Epoch == before.Epoch {
		t.Errorf("epoch after Flush = %d; want a new epoch", after.Epoch)
	}
	// Fills that began in the old epoch are refused, with or without deps.
	wantFill(t, s, "k1", "stale", nil, before, false)
	wantFill(t, s, "k3", "stale", []string{"d"}, before, false)
	wantMiss(t, s, "k1")
	wantMiss(t, s, "k3")

	wantFill(t, s, "k1", "fresh", []string{"d"}, after, true)
	wantHit(t, s, "k1", "fresh")
}

// testStoreTTL fills with a short TTL and polls until the entry expires. It runs on
// real time, as network stores expire entries on their own clocks.
func testStoreTTL(t *testing.T, s fresh.Store) {
	const ttl = 1500 * time.Millisecond
	start := time.Now()
	at := position(t, s)
	stored, err := s.Fill(t.Context(), "short", []byte("v"), []string{"d"}, at, ttl)
	if err != nil || !stored {
		t.Fatalf("Fill with TTL %v = %v, %v; want true, nil", ttl, stored, err)
	}
	wantFill(t, s, "forever", "v", []string{"d"}, at, true)
	if time.Since(start) < ttl/2 {
		wantHit(t, s, "short", "v")
	}

	deadline := start.Add(ttl + waitTimeout)
	for {
		_, ok, err := s.Get(t.Context(), "short")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry with TTL %v still served after %v", ttl, time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Allow a little for clocks that tick coarsely.
	if elapsed := time.Since(start); elapsed < ttl-100*time.Millisecond {
		t.Errorf("entry with TTL %v expired after %v", ttl, elapsed)
	}
	wantHit(t, s, "forever", "v")
}

func testStoreValues(t *testing.T, s fresh.Store) {
	at := position(t, s)
	values := map[string]string{
		"zeros":  "\x00\x00\x00",
		"inner":  "a\x00b\x00",
		"binary": "\xff\xfe\xc3\x28\r\n",
		"empty":  "",
	}
	for k, v := range values {
		wantFill(t, s, k, v, []string{"d"}, at, true)
	}
	for k, v := range values {
		wantHit(t, s, k, v)
	}
	// A nil value is an empty value.
	stored, err := s.Fill(t.Context(), "nil", nil, nil, at, 0)
	if err != nil || !stored {
		t.Fatalf("Fill of a nil value = %v, %v; want true, nil", stored, err)
	}
	wantHit(t, s, "nil", "")
}

func testStoreManyDeps(t *testing.T, s fresh.Store) {
	deps := make([]string, 100)
	for i := range deps {
		deps[i] = fmt.Sprintf("dep-%03d", i)
	}
	wantFill(t, s, "k", "v", deps, position(t, s), true)
	wantHit(t, s, "k", "v")
	invalidate(t, s, deps[57])
	wantMiss(t, s, "k")

	wantFill(t, s, "k", "v2", deps, position(t, s), true)
	wantHit(t, s, "k", "v2")
	invalidate(t, s, "unrelated")
	wantHit(t, s, "k", "v2")
	invalidate(t, s, deps[99])
	wantMiss(t, s, "k")

	// A fill that began before an invalidation of its last dep is refused.
	at := position(t, s)
	invalidate(t, s, deps[len(deps)-1])
	wantFill(t, s, "k", "stale", deps, at, false)
}

// testStoreRace is a model of the race the position mechanism exists for. A counter
// stands for a database row: writers change it and then invalidate its dep; fillers
// read the position, then the counter, and fill its value; readers check that a hit
// is never older than the newest write whose invalidation had returned before the
// Get began. When everything has settled, a hit must hold the last write.
func testStoreRace(t *testing.T, s fresh.Store) {
	const (
		workers = 6
		rounds  = 40
		key     = "row"
		dep     = "e:rows:1"
	)
	var (
		db      atomic.Uint64 // the row's version
		applied atomic.Uint64 // highest version whose Invalidate has returned
		stored  atomic.Int64
		settled atomic.Bool // writers and fillers are done
	)
	ctx := t.Context()
	var wg, readers sync.WaitGroup
	for range workers {
		readers.Go(func() {
			// Read at least rounds times, and on until the others are done.
			for i := 0; i < rounds || !settled.Load(); i++ {
				floor := applied.Load()
				val, ok, err := s.Get(ctx, key)
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				if !ok {
					continue
				}
				if len(val) != 8 {
					t.Errorf("Get returned %x; want 8 bytes", val)
					return
				}
				if v := binary.BigEndian.Uint64(val); v < floor {
					t.Errorf("Get served version %d after the invalidation of version %d had returned", v, floor)
					return
				}
			}
		})
		wg.Go(func() { // writer
			for range rounds {
				v := db.Add(1)
				if _, err := s.Invalidate(ctx, []string{dep}); err != nil {
					t.Errorf("Invalidate: %v", err)
					return
				}
				for {
					a := applied.Load()
					if a >= v || applied.CompareAndSwap(a, v) {
						break
					}
				}
			}
		})
		wg.Go(func() { // filler
			for range rounds {
				at, err := s.Position(ctx)
				if err != nil {
					t.Errorf("Position: %v", err)
					return
				}
				v := db.Load()
				ok, err := s.Fill(ctx, key, binary.BigEndian.AppendUint64(nil, v), []string{dep}, at, 0)
				if err != nil {
					t.Errorf("Fill: %v", err)
					return
				}
				if ok {
					stored.Add(1)
				}
			}
		})
	}
	wg.Wait()
	settled.Store(true)
	readers.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d of %d racing fills stored", stored.Load(), workers*rounds)

	final := db.Load()
	if val, ok, err := s.Get(ctx, key); err != nil {
		t.Fatalf("Get: %v", err)
	} else if ok && (len(val) != 8 || binary.BigEndian.Uint64(val) != final) {
		t.Fatalf("after all writes, Get served %x; want version %d or a miss", val, final)
	}
	// The store is not stuck refusing: a fill that begins now is stored.
	want := string(binary.BigEndian.AppendUint64(nil, final))
	wantFill(t, s, key, want, []string{dep}, position(t, s), true)
	wantHit(t, s, key, want)
}

func testStorePositionMonotonic(t *testing.T, s fresh.Store) {
	p0 := position(t, s)
	p1 := invalidate(t, s, "d1")
	if p1.Epoch != p0.Epoch || p1.Pos <= p0.Pos {
		t.Errorf("Invalidate returned %+v after Position returned %+v; want the same epoch and a greater Pos", p1, p0)
	}
	p2 := invalidate(t, s, "d1", "d2")
	if p2.Epoch != p1.Epoch || p2.Pos <= p1.Pos {
		t.Errorf("second Invalidate returned %+v after %+v; want the same epoch and a greater Pos", p2, p1)
	}
	p3 := position(t, s)
	if p3.Epoch != p2.Epoch || p3.Pos < p2.Pos {
		t.Errorf("Position returned %+v after Invalidate returned %+v; want the same epoch and no smaller Pos", p3, p2)
	}
}

func position(t *testing.T, s fresh.Store) fresh.Position {
	t.Helper()
	p, err := s.Position(t.Context())
	if err != nil {
		t.Fatalf("Position: %v", err)
	}
	return p
}

func invalidate(t *testing.T, s fresh.Store, deps ...string) fresh.Position {
	t.Helper()
	p, err := s.Invalidate(t.Context(), deps)
	if err != nil {
		t.Fatalf("Invalidate(%q): %v", deps, err)
	}
	return p
}

func wantFill(t *testing.T, s fresh.Store, key, value string, deps []string, at fresh.Position, want bool) {
	t.Helper()
	stored, err := s.Fill(t.Context(), key, []byte(value), deps, at, 0)
	if err != nil {
		t.Fatalf("Fill(%q, deps %q, at %+v): %v", key, deps, at, err)
	}
	if stored != want {
		t.Fatalf("Fill(%q, deps %q, at %+v) stored = %v; want %v", key, deps, at, stored, want)
	}
}

func wantHit(t *testing.T, s fresh.Store, key, want string) []byte {
	t.Helper()
	got, ok, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !ok {
		t.Fatalf("Get(%q) missed; want %q", key, want)
	}
	if !bytes.Equal(got, []byte(want)) {
		t.Fatalf("Get(%q) = %q; want %q", key, got, want)
	}
	return got
}

func wantMiss(t *testing.T, s fresh.Store, key string) {
	t.Helper()
	got, ok, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if ok {
		t.Fatalf("Get(%q) = %q; want a miss", key, got)
	}
}
