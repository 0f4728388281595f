package main

import (
	"context"
	"testing"
	"time"
)

func TestSourceVersions(t *testing.T) {
	cats := []string{"a", "b"}
	// Articles 0 and 1 start in category a, published.
	s := newSource(2, cats, 0, func(int) int { return 0 })
	ctx := context.Background()
	aTrue, bTrue, aFalse := scopeKey{"a", true}, scopeKey{"b", true}, scopeKey{"a", false}

	steps := []struct {
		name   string
		id     int
		change func(*article)
		bumped []scopeKey // the scopes whose version becomes the write's
		same   []scopeKey // the scopes whose version does not change
	}{
		{"edit", 0, func(*article) {}, []scopeKey{aTrue}, []scopeKey{bTrue, aFalse}},
		{"move", 0, func(a *article) { a.Category = "b" }, []scopeKey{aTrue, bTrue}, []scopeKey{aFalse}},
		{"unpublish", 1, func(a *article) { a.Published = false }, []scopeKey{aTrue, aFalse}, []scopeKey{bTrue}},
	}
	for i, st := range steps {
		before := map[scopeKey]uint64{}
		for _, k := range st.same {
			before[k] = s.scopeVer[k]
		}
		w, err := s.commit(ctx, st.id, st.change)
		if err != nil {
			t.Fatalf("%s: commit = %v", st.name, err)
		}
		if want := uint64(i + 1); w.new.Version != want {
			t.Errorf("%s: version %d; want %d", st.name, w.new.Version, want)
		}
		for _, k := range st.bumped {
			if got := s.scopeVer[k]; got != w.new.Version {
				t.Errorf("%s: scope %v version %d; want %d", st.name, k, got, w.new.Version)
			}
			if got := s.settledScope[k].Load(); got >= w.new.Version {
				t.Errorf("%s: scope %v settled at %d before settle", st.name, k, got)
			}
		}
		for _, k := range st.same {
			if got := s.scopeVer[k]; got != before[k] {
				t.Errorf("%s: scope %v version %d; want it unchanged at %d", st.name, k, got, before[k])
			}
		}
		if err := s.settle(ctx, w); err != nil {
			t.Fatalf("%s: settle = %v", st.name, err)
		}
		for _, k := range st.bumped {
			if got := s.settledScope[k].Load(); got != w.new.Version {
				t.Errorf("%s: scope %v settled at %d; want %d", st.name, k, got, w.new.Version)
			}
		}
		if got := s.settledRow[st.id].Load(); got != w.new.Version {
			t.Errorf("%s: row %d settled at %d; want %d", st.name, st.id, got, w.new.Version)
		}
	}

	lists := []struct {
		k    scopeKey
		ids  []int
		vers uint64
	}{
		{aTrue, nil, 3},
		{bTrue, []int{0}, 2},
		{aFalse, []int{1}, 3},
	}
	for _, l := range lists {
		rows, v, err := s.list(ctx, l.k)
		if err != nil {
			t.Fatalf("list(%v) = %v", l.k, err)
		}
		var ids []int
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		if len(ids) != len(l.ids) || (len(ids) > 0 && ids[0] != l.ids[0]) || v != l.vers {
			t.Errorf("list(%v) = ids %v version %d; want ids %v version %d", l.k, ids, v, l.ids, l.vers)
		}
	}
	if got := s.loads.Load(); got != uint64(len(lists)) {
		t.Errorf("loads = %d; want %d", got, len(lists))
	}
}

// TestSettleOutOfOrder checks that a write settled after a newer one of the same
// row does not lower the settled version.
func TestSettleOutOfOrder(t *testing.T) {
	s := newSource(1, []string{"a"}, 0, func(int) int { return 0 })
	ctx := context.Background()
	w1, _ := s.commit(ctx, 0, func(*article) {})
	w2, _ := s.commit(ctx, 0, func(*article) {})
	_ = s.settle(ctx, w2)
	_ = s.settle(ctx, w1)
	if got := s.settledRow[0].Load(); got != w2.new.Version {
		t.Errorf("settled row version %d; want %d", got, w2.new.Version)
	}
}

func TestSourceCancel(t *testing.T) {
	s := newSource(1, []string{"a"}, time.Hour, func(int) int { return 0 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.article(ctx, 0); err == nil {
		t.Errorf("article with a cancelled context = nil error; want one")
	}
}
