package freshsql

import "sync/atomic"

// Stats counts what a wrapped database did.
type Stats struct {
	Hits     int64 // reads served from the cache
	Misses   int64 // cacheable reads that ran (their result cached unless fenced)
	Bypassed int64 // reads that ran without the cache (not asked for, in a transaction, not cacheable)
	TooLarge int64 // reads whose result was over MaxResultBytes
	// Writes counts statements that wrote, and UnknownWrites those among them
	// whose effects could not be bounded (each invalidated every cached result of
	// this database).
	Writes        int64
	UnknownWrites int64
	// Invalidations counts the invalidations applied after commits (one per
	// committed transaction or autocommit write); InvalidateErrors those that
	// failed to reach the bus (the local invalidation was done; the hub retries).
	Invalidations    int64
	InvalidateErrors int64
	CatalogReads     int64 // reads of the database's catalog
	CatalogErrors    int64 // failed ones
	// Collisions counts cached results found under a read's key hash that were
	// another read's (never served; with SHA-256, expect 0).
	Collisions int64
}

type counters struct {
	hits, misses, bypassed, tooLarge atomic.Int64
	writes, unknownWrites            atomic.Int64
	invalidations, invalidateErrors  atomic.Int64
	catalogReads, catalogErrors      atomic.Int64
	collisions                       atomic.Int64
}

// Stats returns the counters.
func (c *Connector) Stats() Stats {
	s := &c.w.stats
	return Stats{
		Hits: s.hits.Load(), Misses: s.misses.Load(), Bypassed: s.bypassed.Load(), TooLarge: s.tooLarge.Load(),
		Writes: s.writes.Load(), UnknownWrites: s.unknownWrites.Load(),
		Invalidations: s.invalidations.Load(), InvalidateErrors: s.invalidateErrors.Load(),
		CatalogReads: s.catalogReads.Load(), CatalogErrors: s.catalogErrors.Load(),
		Collisions: s.collisions.Load(),
	}
}
