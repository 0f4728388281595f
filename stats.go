package fresh

import (
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh/internal/counter"
)

// Stats is a snapshot of one cache's counters. The hub's own counters (positions,
// records, the bus) are in HubStats.
type Stats struct {
	Hits        uint64 // reads served from the cache
	Misses      uint64 // reads that found no usable entry
	Loads       uint64 // loader calls that returned (including errors)
	LoadErrors  uint64 // loader calls that failed (ErrNotFound is not a failure)
	Fenced      uint64 // loads and Sets refused because an invalidation overtook them (G0)
	Abandoned   uint64 // loads whose callers all left before they finished (never stored)
	StaleServed uint64 // values served by StaleIfError after a failed reload
	Refreshes   uint64 // background reloads started by RefreshAfter
	Evictions   uint64 // entries evicted for size
	Expirations uint64 // entries expired

	StoreHits    uint64 // in-process misses served from the hub's Store
	StoreMisses  uint64 // in-process misses that the Store could not serve (loaded)
	StoreFills   uint64 // values stored in the Store
	StoreFenced  uint64 // fills the Store refused: an invalidation overtook them there
	StoreForeign uint64 // Store values unreadable here (another type, codec or version, or garbage): misses
	LeaseWaits   uint64 // loads that waited for another process's load of the same key
	Entries      int    // entries currently held (including invalid ones not yet reclaimed)
}

// HubStats is a snapshot of a hub's counters.
type HubStats struct {
	Caches       int    // caches registered
	Slots        int    // the size of the tombstone table (HubOptions.DependencySlots)
	Position     uint64 // the hub's position
	Epoch        uint64 // how many times the hub was flushed or suspended as a whole
	Suspended    bool   // serving nothing: the bus cannot prove the caches are up to date (G1)
	Published    uint64 // bus messages published
	PublishFails uint64 // bus publish attempts that failed (each is retried)
	Pending      int    // bus messages queued for retry
	Received     uint64 // bus messages applied
	Dropped      uint64 // bus messages dropped as malformed, of an unknown version, or forged
	Gaps         uint64 // losses of bus continuity detected (each flushes the hub)

	StoreDown         bool   // the Store is bypassed until it answers again
	StoreErrors       uint64 // Store calls that failed or timed out
	StoreEpochChanges uint64 // new epochs of the Store seen (each flushes the hub)
}

// HitRatio returns Hits/(Hits+Misses), or 0 before any read.
func (s Stats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// An Event is something a Recorder is told about.
type Event uint8

// The events a Recorder receives.
const (
	EventHit Event = iota + 1
	EventMiss
	EventFenced
	EventStaleServed
	EventRefresh
	EventEviction
	EventExpiration
	EventPublishFail
	EventDropped
	EventGap
)

var eventNames = [...]string{"", "hit", "miss", "fenced", "stale_served", "refresh", "eviction", "expiration", "publish_fail", "dropped", "gap"}

func (e Event) String() string {
	if int(e) < len(eventNames) && e > 0 {
		return eventNames[e]
	}
	return "unknown"
}

// A Recorder receives cache events as they happen, for metrics. Its methods are called
// on the cache's hot paths and from background goroutines: they must be fast, safe for
// concurrent use, and must not call the cache.
type Recorder interface {
	Record(ev Event)
	RecordLoad(d time.Duration, err error)
}

// counters are a cache's own statistics.
type counters struct {
	hits, misses *counter.Counter // on the read path: striped
	loads, loadErrors, fenced, abandoned, staleServed, refreshes, evictions,
	expirations atomic.Uint64
	storeHits, storeMisses, storeFills, storeFenced, storeForeign, leaseWaits atomic.Uint64
}

// hubCounters are a hub's own statistics.
type hubCounters struct {
	published, publishFails, received, dropped, gaps atomic.Uint64
}

// newCounters returns a cache's counters; without hit statistics, hits and misses
// are nil and read as 0.
func newCounters(hitStats bool) counters {
	if !hitStats {
		return counters{}
	}
	return counters{hits: counter.New(), misses: counter.New()}
}
