package core

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

// invalidateLimit is the core issue's bound on Invalidate.
const invalidateLimit = time.Microsecond

// Hot is the tag the Invalidate benchmark invalidates.
var Hot = fresh.Tag("hot")

// NewInvalidateCache returns a fresh cache in which n entries depend on the tag
// Hot, for Invalidate.
func NewInvalidateCache(n int) (*fresh.Cache[uint64, uint64], error) {
	ctx := context.Background()
	hub, err := fresh.NewHub(fresh.HubOptions{})
	if err != nil {
		return nil, err
	}
	c, err := fresh.New(fresh.Options[uint64, uint64]{Hub: hub, MaxEntries: 2 * n})
	if err != nil {
		return nil, err
	}
	for k := range n {
		if err := c.Set(ctx, uint64(k), uint64(k), fresh.DependsOn(Hot)); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Invalidate is the body of the Invalidate benchmark: it invalidates Hot in c.
func Invalidate(b *testing.B, c *fresh.Cache[uint64, uint64]) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Invalidate(ctx, Hot); err != nil {
			b.Fatal(err)
		}
	}
}

// invalidations measures Invalidate for each number of dependents of o, the cases
// taking turns.
func invalidations(ctx context.Context, o Options) (_ []result, err error) {
	var fs []func(*testing.B)
	var cs []*fresh.Cache[uint64, uint64]
	defer func() {
		for _, c := range cs {
			err = errors.Join(err, c.Close(context.Background()))
		}
	}()
	for _, n := range o.Dependents {
		c, err := NewInvalidateCache(n)
		if err != nil {
			return nil, fmt.Errorf("core: invalidate: %w", err)
		}
		cs = append(cs, c)
		fs = append(fs, func(b *testing.B) { Invalidate(b, c) })
	}
	rs, err := interleaved(ctx, o, fs)
	if err != nil {
		return nil, fmt.Errorf("core: invalidate: %w", err)
	}
	return rs, nil
}
