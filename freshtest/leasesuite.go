package freshtest

import (
	"sync"
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

// TestLeaser runs the conformance suite for a Leaser. newLeaser returns an empty,
// isolated leaser (for a shared server, one under a key prefix of its own) and
// registers its cleanup with t.Cleanup. Every subtest calls newLeaser once, with its
// own t.
//
// Besides the Leaser interface's documented behaviour, the suite requires that a ttl
// of zero or less, and a Release with an empty token, are errors; that every grant
// has a token of its own; that a refused Lease reports 0 < wait <= ttl of the held
// lease; and that leases of different keys are independent.
//
// The suite takes about a second: two subtests wait for a real lease to lapse.
func TestLeaser(t *testing.T, newLeaser func(t *testing.T) fresh.Leaser) {
	t.Run("OneOfManyGranted", func(t *testing.T) { testLeaseOneOfMany(t, newLeaser(t)) })
	t.Run("KeysIndependent", func(t *testing.T) { testLeaseKeys(t, newLeaser(t)) })
	t.Run("ReleaseWrongToken", func(t *testing.T) { testLeaseWrongToken(t, newLeaser(t)) })
	t.Run("ReleaseFrees", func(t *testing.T) { testLeaseRelease(t, newLeaser(t)) })
	t.Run("Lapses", func(t *testing.T) { testLeaseLapses(t, newLeaser(t)) })
	t.Run("LateReleaseLeavesNewHolder", func(t *testing.T) { testLeaseLateRelease(t, newLeaser(t)) })
	t.Run("BadInput", func(t *testing.T) { testLeaseBadInput(t, newLeaser(t)) })
}

const leaseLong = 30 * time.Second // outlives any subtest

func testLeaseOneOfMany(t *testing.T, l fresh.Leaser) {
	const n = 16
	type result struct {
		token   string
		granted bool
		wait    time.Duration
		err     error
	}
	results := make([]result, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Go(func() {
			start.Wait()
			var r result
			r.token, r.granted, r.wait, r.err = l.Lease(t.Context(), "k", leaseLong)
			results[i] = r
		})
	}
	start.Done()
	done.Wait()
	granted := 0
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("Lease %d: %v", i, r.err)
		case r.granted:
			granted++
			if r.token == "" {
				t.Errorf("Lease %d granted with an empty token", i)
			}
		default:
			if r.token != "" {
				t.Errorf("Lease %d refused with token %q; want none", i, r.token)
			}
			if r.wait <= 0 || r.wait > leaseLong {
				t.Errorf("Lease %d refused with wait %v; want 0 < wait <= %v", i, r.wait, leaseLong)
			}
		}
	}
	if granted != 1 {
		t.Errorf("%d of %d concurrent Lease calls granted; want exactly 1", granted, n)
	}
}

func testLeaseKeys(t *testing.T, l fresh.Leaser) {
	a := wantLease(t, l, "a", leaseLong, true)
	b := wantLease(t, l, "b", leaseLong, true)
	if a == b {
		t.Errorf("two grants share the token %q", a)
	}
	wantLease(t, l, "a", leaseLong, false)
	wantRelease(t, l, "b", a) // a's token does not hold b
	wantLease(t, l, "b", leaseLong, false)
	wantRelease(t, l, "a", a)
	wantLease(t, l, "a", leaseLong, true)
	wantLease(t, l, "b", leaseLong, false)
}

func testLeaseWrongToken(t *testing.T, l fresh.Leaser) {
	tok := wantLease(t, l, "k", leaseLong, true)
	wantRelease(t, l, "k", "not-the-token")
	wantRelease(t, l, "k", tok+"0")
	wantLease(t, l, "k", leaseLong, false)
	wantRelease(t, l, "k", tok)
	wantLease(t, l, "k", leaseLong, true)
}

func testLeaseRelease(t *testing.T, l fresh.Leaser) {
	first := wantLease(t, l, "k", leaseLong, true)
	wantRelease(t, l, "k", first)
	second := wantLease(t, l, "k", leaseLong, true)
	if second == first {
		t.Errorf("a second grant reused the token %q", first)
	}
	// Releasing twice, or a key never leased, does nothing and is no error.
	wantRelease(t, l, "k", first)
	wantRelease(t, l, "never", first)
	wantLease(t, l, "k", leaseLong, false)
}

func testLeaseLapses(t *testing.T, l fresh.Leaser) {
	const ttl = 300 * time.Millisecond
	start := time.Now()
	wantLease(t, l, "k", ttl, true)
	for {
		_, granted, wait, err := l.Lease(t.Context(), "k", leaseLong)
		if err != nil {
			t.Fatalf("Lease: %v", err)
		}
		if granted {
			break
		}
		if wait <= 0 || wait > ttl {
			t.Fatalf("Lease refused with wait %v; want 0 < wait <= %v", wait, ttl)
		}
		if time.Since(start) > ttl+waitTimeout {
			t.Fatalf("a lease of %v still held after %v", ttl, time.Since(start))
		}
		time.Sleep(min(wait, 50*time.Millisecond))
	}
	if elapsed := time.Since(start); elapsed < ttl-50*time.Millisecond {
		t.Errorf("a lease of %v lapsed after %v", ttl, elapsed)
	}
}

func testLeaseLateRelease(t *testing.T, l fresh.Leaser) {
	const ttl = 200 * time.Millisecond
	old := wantLease(t, l, "k", ttl, true)
	time.Sleep(ttl + 100*time.Millisecond)
	holder := wantLease(t, l, "k", leaseLong, true)
	wantRelease(t, l, "k", old) // the lapsed holder must not free the new one's lease
	wantLease(t, l, "k", leaseLong, false)
	wantRelease(t, l, "k", holder)
	wantLease(t, l, "k", leaseLong, true)
}

func testLeaseBadInput(t *testing.T, l fresh.Leaser) {
	for _, ttl := range []time.Duration{0, -time.Second} {
		if _, granted, _, err := l.Lease(t.Context(), "k", ttl); err == nil || granted {
			t.Errorf("Lease with ttl %v = granted %v, error %v; want an error", ttl, granted, err)
		}
	}
	if err := l.Release(t.Context(), "k", ""); err == nil {
		t.Error("Release with an empty token succeeded; want an error")
	}
	wantLease(t, l, "k", leaseLong, true) // the bad calls took nothing
}

// wantLease calls Lease and checks whether it was granted; it returns the token.
func wantLease(t *testing.T, l fresh.Leaser, key string, ttl time.Duration, want bool) string {
	t.Helper()
	token, granted, wait, err := l.Lease(t.Context(), key, ttl)
	if err != nil {
		t.Fatalf("Lease(%q, %v): %v", key, ttl, err)
	}
	if granted != want {
		t.Fatalf("Lease(%q, %v) granted = %v (wait %v); want %v", key, ttl, granted, wait, want)
	}
	if granted && token == "" {
		t.Fatalf("Lease(%q, %v) granted with an empty token", key, ttl)
	}
	if !granted && (token != "" || wait <= 0) {
		t.Fatalf("Lease(%q, %v) refused with token %q and wait %v; want no token and a positive wait", key, ttl, token, wait)
	}
	return token
}

func wantRelease(t *testing.T, l fresh.Leaser, key, token string) {
	t.Helper()
	if err := l.Release(t.Context(), key, token); err != nil {
		t.Fatalf("Release(%q, %q): %v", key, token, err)
	}
}
