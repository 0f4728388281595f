package freshtest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
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
// Besides the Store interface's documented behaviour, the suite requires what every
// caller may rely on:
//   - Get returns the dependencies a value was filled with in the order given to
//     Fill, duplicates included (no dependencies read back as nil or empty), and in
//     StoreEntry.At the position the fill began at;
//   - an entry filled with a ttl reports 0 < TTL <= ttl; one filled with a ttl of 0
//     reports 0, or a positive TTL when the store caps every entry's lifetime (by
//     its retention), which the suite cannot bound;
//   - a nil value and an empty value are both read back as an empty, non-nil slice;
//   - values of 1 MiB and any bytes, and keys and dependencies of any bytes
//     (including NUL and the characters a store may use as separators), round-trip;
//   - a key and a dependency spelled alike are independent: Invalidate of "x" does
//     not touch the entry of key "x", and Delete of "x" does not touch an entry that
//     depends on "x";
//   - Delete and Invalidate return a position greater than any earlier one, Flush a
//     position in a new epoch; Delete with no keys is not an error;
//   - a Fill at a position ahead of the store's, or with a negative ttl, is an error;
//     a Fill at a position of another epoch is refused without an error;
//   - one Invalidate of 1000 dependencies, and entries with 1000 dependencies, work.
//
// The suite takes a few seconds: one subtest waits for a real TTL to pass.
func TestStore(t *testing.T, newStore func(t *testing.T) fresh.Store) {
	t.Run("GetMissing", func(t *testing.T) { testStoreGetMissing(t, newStore(t)) })
	t.Run("FillThenGet", func(t *testing.T) { testStoreFillThenGet(t, newStore(t)) })
	t.Run("GetReturnsDepsAndPosition", func(t *testing.T) { testStoreEntryFields(t, newStore(t)) })
	t.Run("DoesNotRetainBuffers", func(t *testing.T) { testStoreDoesNotRetain(t, newStore(t)) })
	t.Run("InvalidateAfterFill", func(t *testing.T) { testStoreInvalidateAfterFill(t, newStore(t)) })
	t.Run("FillRefusedAfterInvalidate", func(t *testing.T) { testStoreFillRefused(t, newStore(t)) })
	t.Run("FillAcceptedAfterUnrelatedInvalidate", func(t *testing.T) { testStoreFillUnrelated(t, newStore(t)) })
	t.Run("Delete", func(t *testing.T) { testStoreDelete(t, newStore(t)) })
	t.Run("KeysAndDepsDoNotCollide", func(t *testing.T) { testStoreKeyDepCollision(t, newStore(t)) })
	t.Run("Flush", func(t *testing.T) { testStoreFlush(t, newStore(t)) })
	t.Run("BadFills", func(t *testing.T) { testStoreBadFills(t, newStore(t)) })
	t.Run("TTL", func(t *testing.T) { testStoreTTL(t, newStore(t)) })
	t.Run("BinaryAndEmptyValues", func(t *testing.T) { testStoreValues(t, newStore(t)) })
	t.Run("LargeValue", func(t *testing.T) { testStoreLargeValue(t, newStore(t)) })
	t.Run("ManyDeps", func(t *testing.T) { testStoreManyDeps(t, newStore(t)) })
	t.Run("InvalidateManyDeps", func(t *testing.T) { testStoreInvalidateMany(t, newStore(t)) })
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

// testStoreEntryFields checks what Get returns besides the value: the dependencies in
// their order, and the position the fill began at (not the store's current one).
func testStoreEntryFields(t *testing.T, s fresh.Store) {
	at := position(t, s)
	invalidate(t, s, "unrelated") // the store moves on; the fill keeps its position
	deps := []string{"z", "a", "m", "a", "", "with\x00nul", "colon:3:x", "k:x", "d:y", "{brace}", "\xff\xfe"}
	wantFill(t, s, "k", "v", deps, at, true)
	e := wantHit(t, s, "k", "v")
	if !slices.Equal(e.Deps, deps) {
		t.Errorf("Get(%q).Deps = %q; want %q (in order, duplicates kept)", "k", e.Deps, deps)
	}
	if e.At != at {
		t.Errorf("Get(%q).At = %+v; want the fill's position %+v", "k", e.At, at)
	}
	if e.TTL < 0 {
		t.Errorf("Get(%q).TTL = %v for a fill without a ttl; want 0 or a positive cap", "k", e.TTL)
	}

	// No dependencies read back as none.
	wantFill(t, s, "none", "v", nil, at, true)
	if e := wantHit(t, s, "none", "v"); len(e.Deps) != 0 {
		t.Errorf("Get(%q).Deps = %q; want none", "none", e.Deps)
	}

	// A later fill replaces the dependencies too.
	now := position(t, s)
	wantFill(t, s, "k", "v2", []string{"only"}, now, true)
	e = wantHit(t, s, "k", "v2")
	if !slices.Equal(e.Deps, []string{"only"}) || e.At != now {
		t.Errorf("after a second fill, Get = deps %q at %+v; want [only] at %+v", e.Deps, e.At, now)
	}
	invalidate(t, s, "z") // a dependency of the replaced fill only
	wantHit(t, s, "k", "v2")
}

// testStoreDoesNotRetain checks that Fill copies the value and the dependencies, and
// that what Get returns belongs to the caller.
func testStoreDoesNotRetain(t *testing.T, s fresh.Store) {
	buf := []byte("value")
	deps := []string{"d1", "d2"}
	if _, err := s.Fill(t.Context(), "k", buf, deps, position(t, s), 0); err != nil {
		t.Fatalf("Fill: %v", err)
	}
	copy(buf, "XXXXX")
	deps[0] = "changed"
	got := wantHit(t, s, "k", "value")
	if !slices.Equal(got.Deps, []string{"d1", "d2"}) {
		t.Fatalf("Get(%q).Deps = %q; want [d1 d2]", "k", got.Deps)
	}
	copy(got.Value, "YYYYY")
	got.Deps[1] = "mutated"
	got = wantHit(t, s, "k", "value")
	if !slices.Equal(got.Deps, []string{"d1", "d2"}) {
		t.Fatalf("Get(%q).Deps = %q after the caller changed a returned slice; want [d1 d2]", "k", got.Deps)
	}
	invalidate(t, s, "d1")
	wantMiss(t, s, "k")
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
	p := del(t, s, "k1", "k2")
	if p.Epoch != at.Epoch || p.Pos <= at.Pos {
		t.Errorf("Delete returned %+v after Position returned %+v; want the same epoch and a greater Pos", p, at)
	}
	if now := position(t, s); now.Epoch != p.Epoch || now.Pos < p.Pos {
		t.Errorf("Position after Delete = %+v; want at least %+v", now, p)
	}
	wantMiss(t, s, "k1")
	wantMiss(t, s, "k2")
	wantHit(t, s, "k3", "v3")

	// Fills of the deleted keys that began before Delete are refused, even one that
	// began just before it...
	wantFill(t, s, "k1", "stale", nil, at, false)
	wantFill(t, s, "k2", "stale", []string{"d"}, at, false)
	before := position(t, s)
	del(t, s, "k3")
	wantFill(t, s, "k3", "stale", nil, before, false)
	wantMiss(t, s, "k1")
	wantMiss(t, s, "k2")
	wantMiss(t, s, "k3")
	// ...those of other keys are not...
	wantFill(t, s, "k4", "v4", nil, before, true)
	// ...and those that began after it are stored.
	after := position(t, s)
	wantFill(t, s, "k1", "fresh", nil, after, true)
	wantHit(t, s, "k1", "fresh")

	// Deleting a missing key is not an error, and still advances the position.
	if p2 := del(t, s, "never-filled"); p2.Epoch != after.Epoch || p2.Pos <= after.Pos {
		t.Errorf("Delete of a missing key returned %+v after %+v; want a greater Pos", p2, after)
	}
	// Delete with no keys is not an error.
	last := position(t, s)
	p3, err := s.Delete(t.Context())
	if err != nil {
		t.Fatalf("Delete with no keys: %v", err)
	}
	if p3.Epoch != last.Epoch || p3.Pos < last.Pos {
		t.Errorf("Delete with no keys returned %+v after %+v; want no smaller position", p3, last)
	}
	wantHit(t, s, "k1", "fresh")
}

// testStoreKeyDepCollision checks that a key's own tombstone (from Delete) and a
// dependency's tombstone (from Invalidate) are kept apart even when spelled alike.
func testStoreKeyDepCollision(t *testing.T, s fresh.Store) {
	at := position(t, s)
	wantFill(t, s, "x", "key x", nil, at, true)
	wantFill(t, s, "y", "depends on x", []string{"x"}, at, true)

	invalidate(t, s, "y") // a dependency named like key "y"
	wantHit(t, s, "y", "depends on x")
	invalidate(t, s, "x") // kills "y" (which depends on x), not key "x"
	wantHit(t, s, "x", "key x")
	wantMiss(t, s, "y")

	at = position(t, s)
	wantFill(t, s, "y", "depends on x", []string{"x"}, at, true)
	del(t, s, "x") // kills key "x", not an entry depending on "x"
	wantMiss(t, s, "x")
	wantHit(t, s, "y", "depends on x")
	// A fill of "z" depending on "x", from before the Delete of key "x", is stored;
	// a fill of key "x" from then is not.
	wantFill(t, s, "z", "depends on x", []string{"x"}, at, true)
	wantFill(t, s, "x", "stale", nil, at, false)
}

func testStoreFlush(t *testing.T, s fresh.Store) {
	before := position(t, s)
	wantFill(t, s, "k1", "v1", nil, before, true)
	wantFill(t, s, "k2", "v2", []string{"d"}, before, true)
	invalidate(t, s, "d")
	before = position(t, s)
	p, err := s.Flush(t.Context())
	if err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if p.Epoch == before.Epoch {
		t.Errorf("Flush returned %+v after %+v; want a new epoch", p, before)
	}
	wantMiss(t, s, "k1")
	wantMiss(t, s, "k2")

	after := position(t, s)
	if after.Epoch != p.Epoch || after.Pos < p.Pos {
		t.Errorf("Position after Flush = %+v; want the epoch Flush returned, %+v", after, p)
	}
	// Fills that began in the old epoch are refused, with or without deps.
	wantFill(t, s, "k1", "stale", nil, before, false)
	wantFill(t, s, "k3", "stale", []string{"d"}, before, false)
	wantMiss(t, s, "k1")
	wantMiss(t, s, "k3")

	wantFill(t, s, "k1", "fresh", []string{"d"}, after, true)
	wantHit(t, s, "k1", "fresh")
	if e := wantHit(t, s, "k1", "fresh"); e.At != after {
		t.Errorf("Get after Flush: At = %+v; want %+v", e.At, after)
	}

	// A second Flush moves on again.
	p2, err := s.Flush(t.Context())
	if err != nil {
		t.Fatalf("second Flush: %v", err)
	}
	if p2.Epoch == p.Epoch || p2.Epoch == before.Epoch {
		t.Errorf("second Flush returned %+v; want an epoch other than %d and %d", p2, p.Epoch, before.Epoch)
	}
	wantMiss(t, s, "k1")
}

// testStoreBadFills checks the fills that are errors and those refused quietly.
func testStoreBadFills(t *testing.T, s fresh.Store) {
	at := position(t, s)
	if _, err := s.Fill(t.Context(), "k", []byte("v"), nil, at, -time.Second); err == nil {
		t.Error("Fill with a negative ttl succeeded; want an error")
	}
	ahead := fresh.Position{Epoch: at.Epoch, Pos: at.Pos + 5}
	if ok, err := s.Fill(t.Context(), "k", []byte("v"), nil, ahead, 0); err == nil || ok {
		t.Errorf("Fill at %+v, ahead of the store's %+v = %v, %v; want false and an error", ahead, at, ok, err)
	}
	far := fresh.Position{Epoch: at.Epoch, Pos: 1 << 62}
	if ok, err := s.Fill(t.Context(), "k", []byte("v"), nil, far, 0); err == nil || ok {
		t.Errorf("Fill at %+v = %v, %v; want false and an error", far, ok, err)
	}
	for _, epoch := range []uint64{at.Epoch + 1, at.Epoch - 1, 0, 1<<64 - 1} {
		if epoch == at.Epoch {
			continue
		}
		other := fresh.Position{Epoch: epoch, Pos: at.Pos}
		if ok, err := s.Fill(t.Context(), "k", []byte("v"), nil, other, 0); err != nil || ok {
			t.Errorf("Fill at another epoch (%+v; the store is at %+v) = %v, %v; want false, nil", other, at, ok, err)
		}
	}
	wantMiss(t, s, "k")
	// The store still works.
	wantFill(t, s, "k", "v", nil, position(t, s), true)
	wantHit(t, s, "k", "v")
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
		e := wantHit(t, s, "short", "v")
		if e.TTL <= 0 || e.TTL > ttl {
			t.Errorf("Get(%q).TTL = %v; want 0 < TTL <= %v", "short", e.TTL, ttl)
		}
	}
	if e := wantHit(t, s, "forever", "v"); e.TTL < 0 {
		t.Errorf("Get(%q).TTL = %v for a fill without a ttl; want 0 (or a positive cap)", "forever", e.TTL)
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
		"zeros":     "\x00\x00\x00",
		"inner":     "a\x00b\x00",
		"binary":    "\xff\xfe\xc3\x28\r\n",
		"empty":     "",
		"":          "the empty key",
		"\x00k\xff": "a binary key",
		"k:{x}":     "separators in the key",
	}
	for k, v := range values {
		wantFill(t, s, k, v, []string{"d"}, at, true)
	}
	for k, v := range values {
		wantHit(t, s, k, v)
	}
	// A nil value is an empty value, and both read back as empty and non-nil.
	stored, err := s.Fill(t.Context(), "nil", nil, nil, at, 0)
	if err != nil || !stored {
		t.Fatalf("Fill of a nil value = %v, %v; want true, nil", stored, err)
	}
	for _, k := range []string{"nil", "empty"} {
		if e := wantHit(t, s, k, ""); e.Value == nil {
			t.Errorf("Get(%q).Value is nil; want an empty, non-nil slice", k)
		}
	}
}

func testStoreLargeValue(t *testing.T, s fresh.Store) {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>8)
	}
	wantFill(t, s, "big", string(big), []string{"d"}, position(t, s), true)
	wantHit(t, s, "big", string(big))
	invalidate(t, s, "d")
	wantMiss(t, s, "big")
}

func testStoreManyDeps(t *testing.T, s fresh.Store) {
	deps := make([]string, 1000)
	for i := range deps {
		deps[i] = fmt.Sprintf("dep-%04d", i)
	}
	wantFill(t, s, "k", "v", deps, position(t, s), true)
	if e := wantHit(t, s, "k", "v"); !slices.Equal(e.Deps, deps) {
		t.Errorf("Get(%q) returned %d deps; want the %d given, in order", "k", len(e.Deps), len(deps))
	}
	invalidate(t, s, deps[577])
	wantMiss(t, s, "k")

	wantFill(t, s, "k", "v2", deps, position(t, s), true)
	wantHit(t, s, "k", "v2")
	invalidate(t, s, "unrelated")
	wantHit(t, s, "k", "v2")
	invalidate(t, s, deps[999])
	wantMiss(t, s, "k")

	// A fill that began before an invalidation of its last dep is refused.
	at := position(t, s)
	invalidate(t, s, deps[len(deps)-1])
	wantFill(t, s, "k", "stale", deps, at, false)
}

// testStoreInvalidateMany invalidates 1000 dependencies in one call.
func testStoreInvalidateMany(t *testing.T, s fresh.Store) {
	deps := make([]string, 1000)
	for i := range deps {
		deps[i] = fmt.Sprintf("many-%04d", i)
	}
	at := position(t, s)
	for i := range 10 { // key i depends on deps i*100 .. i*100+99
		wantFill(t, s, fmt.Sprintf("k%d", i), "v", deps[i*100:(i+1)*100], at, true)
	}
	wantFill(t, s, "unrelated", "v", []string{"other"}, at, true)
	p := invalidate(t, s, deps...)
	if p.Epoch != at.Epoch || p.Pos <= at.Pos {
		t.Errorf("Invalidate returned %+v after %+v; want a greater Pos", p, at)
	}
	for i := range 10 {
		wantMiss(t, s, fmt.Sprintf("k%d", i))
	}
	wantHit(t, s, "unrelated", "v")
	for _, i := range []int{0, 1, 499, 998, 999} { // each dep refuses the old fill
		wantFill(t, s, "k", "stale", []string{"other", deps[i]}, at, false)
	}
	wantFill(t, s, "k", "fresh", deps, p, true)
	wantHit(t, s, "k", "fresh")
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
				e, ok, err := s.Get(ctx, key)
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				if !ok {
					continue
				}
				if len(e.Value) != 8 {
					t.Errorf("Get returned %x; want 8 bytes", e.Value)
					return
				}
				if v := binary.BigEndian.Uint64(e.Value); v < floor {
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
	if e, ok, err := s.Get(ctx, key); err != nil {
		t.Fatalf("Get: %v", err)
	} else if ok && (len(e.Value) != 8 || binary.BigEndian.Uint64(e.Value) != final) {
		t.Fatalf("after all writes, Get served %x; want version %d or a miss", e.Value, final)
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
	p4 := del(t, s, "k")
	if p4.Epoch != p3.Epoch || p4.Pos <= p3.Pos {
		t.Errorf("Delete returned %+v after Position returned %+v; want the same epoch and a greater Pos", p4, p3)
	}
	last := p4
	for i := range 20 {
		var p fresh.Position
		switch i % 3 {
		case 0:
			p = position(t, s)
		case 1:
			p = invalidate(t, s, fmt.Sprint("m", i))
		default:
			p = del(t, s, fmt.Sprint("m", i))
		}
		if p.Epoch != last.Epoch || p.Pos < last.Pos || (i%3 != 0 && p.Pos == last.Pos) {
			t.Fatalf("step %d: position %+v after %+v; want the same epoch, and greater after a write", i, p, last)
		}
		last = p
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
		t.Fatalf("Invalidate(%s): %v", abbrev(deps), err)
	}
	return p
}

func del(t *testing.T, s fresh.Store, keys ...string) fresh.Position {
	t.Helper()
	p, err := s.Delete(t.Context(), keys...)
	if err != nil {
		t.Fatalf("Delete(%q): %v", keys, err)
	}
	return p
}

func wantFill(t *testing.T, s fresh.Store, key, value string, deps []string, at fresh.Position, want bool) {
	t.Helper()
	stored, err := s.Fill(t.Context(), key, []byte(value), deps, at, 0)
	if err != nil {
		t.Fatalf("Fill(%q, deps %s, at %+v): %v", key, abbrev(deps), at, err)
	}
	if stored != want {
		t.Fatalf("Fill(%q, deps %s, at %+v) stored = %v; want %v", key, abbrev(deps), at, stored, want)
	}
}

func wantHit(t *testing.T, s fresh.Store, key, want string) fresh.StoreEntry {
	t.Helper()
	e, ok, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !ok {
		t.Fatalf("Get(%q) missed; want %s", key, abbrev([]string{want}))
	}
	if !bytes.Equal(e.Value, []byte(want)) {
		t.Fatalf("Get(%q) = %s; want %s", key, abbrev([]string{string(e.Value)}), abbrev([]string{want}))
	}
	return e
}

func wantMiss(t *testing.T, s fresh.Store, key string) {
	t.Helper()
	e, ok, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if ok {
		t.Fatalf("Get(%q) = %s; want a miss", key, abbrev([]string{string(e.Value)}))
	}
}

// abbrev quotes ss for a message, shortening long lists and long strings.
func abbrev(ss []string) string {
	const maxItems, maxLen = 8, 64
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range ss {
		if i == maxItems {
			fmt.Fprintf(&b, " ... (%d in all)", len(ss))
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		if len(s) > maxLen {
			fmt.Fprintf(&b, "%q...(%d bytes)", s[:maxLen], len(s))
		} else {
			fmt.Fprintf(&b, "%q", s)
		}
	}
	b.WriteByte(']')
	return b.String()
}
