package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
)

// The fan-out probe of a multi-process run measures how long an invalidation takes
// to reach the other processes: from the moment a writer's Invalidate returned to
// the moment a peer's cache refuses the value it made stale.
//
// The writing process commits a new version of a marker every markerEvery
// (markerSource.commitMarker), invalidates the marker's tag, and records the time at
// which the call returned. Every reading process holds the marker in a cache of its
// own, in memory only (Options.Local), and its hub's Bus is wrapped (observedBus) so
// that right after each message has been applied the probe checks whether the
// marker is still served: the first message after which it is not is the moment the
// process refused the old value, measured without polling. The probe then reads when
// the invalidation of the next version returned, records the difference, and loads
// the marker again.
const (
	markerTag   = "demo-marker"
	markerKey   = "marker"
	markerEvery = 25 * time.Millisecond
	// settleWait bounds the wait for the writer to record the return time of an
	// invalidation that a reader has already applied.
	settleWait = 2 * time.Second
)

// A markerSource is a shared source that also keeps the probe's marker: its
// version, and when the invalidation of each version returned (redisSource,
// fileSource).
type markerSource interface {
	source
	// commitMarker takes the marker's next version.
	commitMarker(ctx context.Context) (uint64, error)
	// settleMarker records that the invalidation of marker version v returned at at.
	settleMarker(ctx context.Context, v uint64, at time.Time) error
	// markerVersion returns the marker's current version.
	markerVersion(ctx context.Context) (uint64, error)
	// markerSettledAt returns when the invalidation of marker version v returned,
	// and false if it has not yet been recorded.
	markerSettledAt(ctx context.Context, v uint64) (time.Time, bool, error)
}

var (
	_ markerSource = (*redisSource)(nil)
	_ markerSource = (*fileSource)(nil)
)

// A probe is a reading process's side of the fan-out probe.
type probe struct {
	src   markerSource
	cache *fresh.Cache[string, uint64] // set before armed is first set

	// armed is set while the probe holds the marker and waits for its refusal. The
	// bus handler (afterMessage) and run both clear it with a compare-and-swap
	// when they see the refusal: whichever clears it owns the observation.
	armed   atomic.Bool
	refused chan time.Time // the refusal seen by afterMessage; buffered, one per arming

	res probeResult // written by run only, read after it returned
}

// probeResult is what a probe measured.
type probeResult struct {
	Latency histogram     `json:"latency"` // refusal minus the writer's return
	Max     time.Duration `json:"max_ns"`
	Samples uint64        `json:"samples"`
	// Early counts the refusals seen before the writer's call had returned
	// (recorded as 0): the peer applied the message before the writer heard
	// Redis's reply.
	Early uint64 `json:"before_return"`
	// Other counts the refusals with no newer marker (a flush after a lost
	// message, a suspension) or whose return time the writer never recorded.
	Other uint64 `json:"other_refusals"`
	// Unseen counts the markers refused before the probe held them: the load
	// overlapped the invalidation, so there is no moment to measure.
	Unseen uint64 `json:"unseen"`
}

func newProbe(src markerSource) *probe {
	return &probe{src: src, refused: make(chan time.Time, 1)}
}

// afterMessage is called by the hub's bus handler right after each message (or
// loss) has been handled. It must not block: it only reads the cache's memory.
func (p *probe) afterMessage() {
	if !p.armed.Load() {
		return
	}
	if _, ok := p.cache.Get(markerKey); ok {
		return
	}
	at := time.Now()
	if p.armed.CompareAndSwap(true, false) {
		p.refused <- at // never blocks: run drains it before arming again
	}
}

// run holds the marker and measures each refusal until ctx is done. An error after
// ctx is done may be ctx's.
func (p *probe) run(ctx context.Context) error {
	for ctx.Err() == nil {
		held, err := p.cache.GetOrLoad(ctx, markerKey, p.load)
		if err != nil {
			return fmt.Errorf("probe: load the marker: %w", err)
		}
		p.armed.Store(true)
		if _, ok := p.cache.Get(markerKey); !ok && p.armed.CompareAndSwap(true, false) {
			p.res.Unseen++
			_ = sleepCtx(ctx, time.Millisecond) // the hub may be suspended: do not spin
			continue
		}
		var at time.Time
		select {
		case at = <-p.refused:
		case <-ctx.Done():
			return nil
		}
		if err := p.observe(ctx, held, at); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
	}
	return nil
}

// load is the marker's loader.
func (p *probe) load(ctx context.Context, _ string) (uint64, error) {
	fresh.Depend(ctx, fresh.Tag(markerTag))
	return p.src.markerVersion(ctx)
}

// observe records the refusal at at of marker version held.
func (p *probe) observe(ctx context.Context, held uint64, at time.Time) error {
	cur, err := p.src.markerVersion(ctx)
	if err != nil {
		return err
	}
	if cur <= held {
		p.res.Other++
		return nil
	}
	// The marker was refused by the first invalidation after held: that of
	// held+1, which the writer commits before it invalidates.
	deadline := time.Now().Add(settleWait)
	for {
		ret, ok, err := p.src.markerSettledAt(ctx, held+1)
		if err != nil {
			return err
		}
		if ok {
			lat := at.Sub(ret)
			if lat < 0 {
				p.res.Early++
				lat = 0
			}
			p.res.Latency.record(lat)
			p.res.Max = max(p.res.Max, lat)
			p.res.Samples++
			return nil
		}
		if time.Now().After(deadline) {
			p.res.Other++
			return nil
		}
		_ = sleepCtx(ctx, time.Millisecond)
	}
}

// writeMarkers is the writing process's side of the probe: every markerEvery until
// ctx is done, it commits the marker's next version, invalidates the marker through
// c, and records when the invalidation returned. It returns how many it wrote.
func writeMarkers(ctx context.Context, src markerSource, c *fresh.Cache[string, uint64]) (n uint64, err error) {
	everyTick(ctx, markerEvery, func(time.Time) bool {
		// Once committed, the marker is invalidated even if the run is ending.
		if err = writeMarker(context.WithoutCancel(ctx), src, c); err != nil {
			return false
		}
		n++
		return true
	})
	return n, err
}

// writeMarker commits the marker's next version, invalidates the marker through c,
// and records when the invalidation returned.
func writeMarker(ctx context.Context, src markerSource, c *fresh.Cache[string, uint64]) error {
	v, err := src.commitMarker(ctx)
	if err != nil {
		return fmt.Errorf("probe: commit the marker: %w", err)
	}
	if err := c.Invalidate(ctx, fresh.Tag(markerTag)); err != nil {
		return fmt.Errorf("probe: invalidate the marker: %w", err)
	}
	if err := src.settleMarker(ctx, v, time.Now()); err != nil {
		return fmt.Errorf("probe: record the marker's invalidation: %w", err)
	}
	return nil
}

// An observedBus is a fresh.Bus whose subscriptions call after once each message
// (or loss) has been handled: when the hub has applied it.
type observedBus struct {
	fresh.Bus
	after func()
}

var _ fresh.Bus = (*observedBus)(nil)

// Subscribe subscribes h, wrapped.
func (b *observedBus) Subscribe(ctx context.Context, h fresh.Handler) (fresh.Subscription, error) {
	return b.Bus.Subscribe(ctx, observedHandler{Handler: h, after: b.after})
}

type observedHandler struct {
	fresh.Handler
	after func()
}

func (h observedHandler) HandleMessage(msg []byte) {
	h.Handler.HandleMessage(msg)
	h.after()
}

func (h observedHandler) HandleLoss(err error) {
	h.Handler.HandleLoss(err)
	h.after()
}
