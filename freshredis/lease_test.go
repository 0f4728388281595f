package freshredis

import (
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
)

func TestLeaserConformance(t *testing.T) {
	client := storeTestClient(t)
	freshtest.TestLeaser(t, func(t *testing.T) fresh.Leaser {
		return storeTestNew(t, client, StoreOptions{})
	})
}

// TestLeaseForeignData checks leases over lease keys the Store did not write.
func TestLeaseForeignData(t *testing.T) {
	client := storeTestClient(t)
	s := storeTestNew(t, client, StoreOptions{})
	ctx := t.Context()

	// A lease string without an expiry is given the ttl, so it lapses.
	if err := client.Set(ctx, s.keys.lease("stuck"), "someone", 0).Err(); err != nil {
		t.Fatal(err)
	}
	const ttl = 200 * time.Millisecond
	_, granted, wait, err := s.Lease(ctx, "stuck", ttl)
	if err != nil || granted || wait <= 0 || wait > ttl {
		t.Fatalf("Lease over a lease without expiry = granted %v, wait %v, %v; want refused with 0 < wait <= %v", granted, wait, err, ttl)
	}
	storeTestWait(t, 5*time.Second, "the foreign lease to lapse", func() bool {
		_, granted, _, err := s.Lease(ctx, "stuck", time.Minute)
		return err == nil && granted
	})

	// A lease key of another type blocks until it is given an expiry and lapses;
	// Release over it is no error and changes nothing.
	if err := client.RPush(ctx, s.keys.lease("list"), "x").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, "list", "x"); err != nil {
		t.Fatalf("Release over a list: %v", err)
	}
	if _, granted, _, err := s.Lease(ctx, "list", ttl); err != nil || granted {
		t.Fatalf("Lease over a list = %v, %v; want refused", granted, err)
	}
	storeTestWait(t, 5*time.Second, "the foreign key to lapse", func() bool {
		_, granted, _, err := s.Lease(ctx, "list", time.Minute)
		return err == nil && granted
	})
}

// TestLeaseSubMillisecond checks that a ttl below a millisecond is rounded up, not
// sent as PX 0 (an error in Redis).
func TestLeaseSubMillisecond(t *testing.T) {
	s := storeTestNew(t, storeTestClient(t), StoreOptions{})
	tok, granted, _, err := s.Lease(t.Context(), "k", time.Microsecond)
	if err != nil || !granted || tok == "" {
		t.Fatalf("Lease with a 1µs ttl = %q, %v, %v; want granted", tok, granted, err)
	}
}
