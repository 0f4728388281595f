package fresh

import (
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh/internal/counter"
)

// Stats is a snapshot of a cache's counters.
type Stats struct {
	Hits         uint64 // reads served from the cache
	Misses       uint64 // reads that found no usable entry
	Loads        uint64 // loader calls that returned (including errors)
	LoadErrors   uint64 // loader calls that failed (ErrNotFound is not a failure)
	Fenced       uint64 // loads and Sets refused because an invalidation overtook them (G0)
	StaleServed  uint64 // values served by StaleIfError after a failed reload
	Refreshes    uint64 // background reloads started by RefreshAfter
	Evictions    uint64 // entries evicted for size
	Expirations  uint64 // entries expired
	Entries      int    // entries currently held (including invalid ones not yet reclaimed)
	Records      int    // interned dependency records
	Position     uint64 // the tracker's position
	Epoch        uint64 // how many times the cache was flushed or suspended as a whole
	Suspended    bool   // serving nothing: the bus cannot prove the cache is up to date (G1)
	Published    uint64 // bus messages published
	PublishFails uint64 // bus publish attempts that failed (each is retried)
	Received     uint64 // bus messages applied
	Dropped      uint64 // bus messages dropped as malformed or of an unknown version
	Gaps         uint64 // losses of bus continuity detected (each flushes the cache)
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

// counters are the cache's own statistics.
type counters struct {
	hits, misses *counter.Counter // on the read path: striped
	loads, loadErrors, fenced, staleServed, refreshes, evictions,
	expirations, published, publishFails, received, dropped, gaps atomic.Uint64
}

func newCounters() counters {
	return counters{hits: counter.New(), misses: counter.New()}
}
