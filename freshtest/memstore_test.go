package freshtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
)

func TestMemStore(t *testing.T) {
	freshtest.TestStore(t, func(t *testing.T) fresh.Store {
		s := freshtest.NewMemStore()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestMemStoreLeaser(t *testing.T) {
	freshtest.TestLeaser(t, func(t *testing.T) fresh.Leaser {
		s := freshtest.NewMemStore()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestMemStoreWithOptions runs the suite on a store with a short retention and a
// clock of its own, to check that the options leave the semantics alone.
func TestMemStoreWithOptions(t *testing.T) {
	freshtest.TestStore(t, func(t *testing.T) fresh.Store {
		s := freshtest.NewMemStoreWithOptions(freshtest.MemStoreOptions{
			Retention: time.Minute,
			Clock:     func() time.Time { return time.Now().Add(time.Hour) },
		})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestMemStoreZeroValue(t *testing.T) {
	var s freshtest.MemStore
	ctx := t.Context()
	if _, err := s.Invalidate(ctx, []string{"d"}); err != nil {
		t.Fatalf("Invalidate on the zero MemStore: %v", err)
	}
	at, err := s.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if at.Epoch == 0 || at.Pos != 1 {
		t.Errorf("Position after one Invalidate = %+v; want a non-zero epoch and Pos 1", at)
	}
	if ok, err := s.Fill(ctx, "k", []byte("v"), []string{"d"}, at, 0); err != nil || !ok {
		t.Errorf("Fill = %v, %v; want true, nil", ok, err)
	}
	if _, granted, _, err := s.Lease(ctx, "k", time.Second); err != nil || !granted {
		t.Errorf("Lease on the zero MemStore = %v, %v; want granted", granted, err)
	}
}

func TestMemStoreBadInput(t *testing.T) {
	s := freshtest.NewMemStore()
	ctx := t.Context()
	at, err := s.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fill(ctx, "k", nil, nil, at, -1); err == nil {
		t.Error("Fill with a negative ttl succeeded; want an error")
	}
	ahead := fresh.Position{Epoch: at.Epoch, Pos: at.Pos + 5}
	if ok, err := s.Fill(ctx, "k", nil, nil, ahead, 0); err == nil || ok {
		t.Errorf("Fill at a position ahead of the store = %v, %v; want false and an error", ok, err)
	}
	other := fresh.Position{Epoch: at.Epoch + 1, Pos: at.Pos}
	if ok, err := s.Fill(ctx, "k", nil, nil, other, 0); err != nil || ok {
		t.Errorf("Fill at another epoch = %v, %v; want false, nil", ok, err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Position(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Position with a cancelled context: error %v; want %v", err, context.Canceled)
	}
	var nilCtx context.Context // a nil context must be an error, not a panic
	if _, _, err := s.Get(nilCtx, "k"); err == nil {
		t.Error("Get with a nil context succeeded; want an error")
	}
}

func TestMemStoreClosed(t *testing.T) {
	s := freshtest.NewMemStore()
	ctx := t.Context()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Position(ctx); err == nil {
		t.Error("Position after Close succeeded; want an error")
	}
	if _, _, err := s.Get(ctx, "k"); err == nil {
		t.Error("Get after Close succeeded; want an error")
	}
	if _, err := s.Fill(ctx, "k", nil, nil, fresh.Position{Epoch: 1}, 0); err == nil {
		t.Error("Fill after Close succeeded; want an error")
	}
	if _, err := s.Invalidate(ctx, []string{"d"}); err == nil {
		t.Error("Invalidate after Close succeeded; want an error")
	}
	if _, err := s.Delete(ctx, "k"); err == nil {
		t.Error("Delete after Close succeeded; want an error")
	}
	if _, err := s.Flush(ctx); err == nil {
		t.Error("Flush after Close succeeded; want an error")
	}
	if _, _, _, err := s.Lease(ctx, "k", time.Second); err == nil {
		t.Error("Lease after Close succeeded; want an error")
	}
	if err := s.Release(ctx, "k", "token"); err == nil {
		t.Error("Release after Close succeeded; want an error")
	}
}
